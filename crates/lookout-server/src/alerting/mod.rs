//! Alerting's I/O side (issue #6): notification channels (Telegram,
//! e-mail, Slack, Discord, webhooks, the log) and the outbox worker that
//! delivers what the engine decided. The decisions themselves (rules,
//! grouping, routing, backoff, circuit breaking) are pure and live in
//! `lookout-alert`; this module sends, records and retries.

pub mod channels;
pub mod outbox;
pub mod runner;

#[cfg(test)]
pub(crate) mod emulator;
