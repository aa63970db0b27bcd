//! Integration tests: each drives the real `lookout` binary.

mod harness;

mod alerts;
mod alerts_api;
mod backup;
mod backup_crypto;
mod bad_input;
mod cli;
mod ingest;
mod lifecycle;
mod migrations;
mod probes;
