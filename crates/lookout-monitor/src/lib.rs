//! Uptime, health-check and heartbeat monitoring (issue #5), without SQL
//! and without an HTTP server: the server crate stores results through the
//! `Store` and serves pages; this crate decides.
//!
//! - [`spec`]: monitor definitions (HTTP, health, TCP, DNS, heartbeat) and
//!   their validation, with the field, position and reason of each error;
//! - [`condition`]: the Gatus-style condition language
//!   (`[STATUS] == 200`, `[BODY].status == "healthy"`, …);
//! - [`health`]: the health-JSON interpreter (failing sub-check ⇒
//!   degraded);
//! - [`probe`]: the check runners, bounded by a timeout and a body cap;
//! - [`state`]: the up/down/degraded/paused state machine with failure and
//!   success thresholds;
//! - [`heartbeat`]: missed pings, overrunning runs, cron schedules;
//! - [`schedule`]: cron parsing with a time zone, the jittered due queue;
//! - [`clock`]: the injected clock, so tests drive time without sleeping;
//! - [`ssrf`]: which targets are loopback, private or link-local;
//! - [`cert`]: a certificate's expiry, read from its DER.
//!
//! Nothing here reads the wall clock except [`clock::SystemClock`].

pub mod cert;
pub mod clock;
pub mod condition;
pub mod health;
pub mod heartbeat;
pub mod probe;
pub mod schedule;
pub mod spec;
pub mod ssrf;
pub mod state;

pub use clock::{Clock, ManualClock, SystemClock};
pub use probe::{CheckOutcome, Prober, USER_AGENT};
pub use spec::{Compiled, FieldError, Kind, MonitorSpec, SpecError};
pub use state::{Machine, Observation, Status, Transition};
