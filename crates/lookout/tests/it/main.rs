//! Integration tests: each drives the real `lookout` binary.

mod harness;

mod bad_input;
mod cli;
mod lifecycle;
mod migrations;
mod probes;
