//! Alerting for Lookout (issue #6): rules, their evaluation, the alert life
//! cycle, Alertmanager-style grouping, silences, inhibition, escalation and
//! the routing tree, plus the pure parts of delivery (backoff and circuit
//! breaker).
//!
//! This crate knows no SQL and no HTTP server types, and **never reads the
//! wall clock**: every function that depends on time takes `now`, and the
//! long-running side takes a [`Clock`]. That is what lets the tests drive
//! `group_wait`, `repeat_interval` or a for-duration minute by minute.
//!
//! The path of a signal:
//! 1. something happens: an event creates or regresses an issue, a backup
//!    fails, a monitor changes state; the caller turns it into a
//!    [`Signal`] and hands it to [`Engine::observe`];
//! 2. each [`Rule`] whose scope matches updates its state: a *trigger*
//!    condition (new issue, regression, backup failed…) fires an alert at
//!    once, a *state* condition (frequency, spike, monitor down…) is
//!    re-evaluated on every [`Engine::tick`] and goes pending, then firing
//!    after its for-duration, then resolved;
//! 3. on each tick the [`Dispatcher`] drops silenced and inhibited alerts,
//!    routes the rest through the [`Route`] tree, groups them per route,
//!    rule and project, and decides with `group_wait`, `group_interval` and
//!    `repeat_interval` which [`Notification`]s are due;
//! 4. the caller puts each notification, once per receiver, into the
//!    persistent outbox before anything is sent.
//!
//! New signals (metrics, logs, latency) plug in as a new [`Condition`]
//! variant with one match arm in `rule.rs` and, if needed, a new [`Signal`].

pub mod channel;
mod clock;
pub mod delivery;
mod dispatch;
mod duration;
mod engine;
mod model;
pub mod render;
mod route;
mod rule;
mod signal;
mod silence;
mod window;

pub use clock::{Clock, ManualClock, SystemClock};
pub use dispatch::{Dispatcher, Notification, NotificationKind};
pub use duration::{format_duration, parse_duration};
pub use engine::{Alert, AlertChange, AlertKey, AlertState, Engine, TickOutput};
pub use model::{Labels, MatchOp, Matcher, MatcherError, Severity, matches_all};
pub use route::{Escalation, Route, RouteSettings, RoutedTo};
pub use rule::{Condition, ConditionClass, FrequencyPer, ProjectRef, Rule, Scope, Subject};
pub use signal::{
    ChannelHealth, IssueSignal, MonitorCause, MonitorState, MonitorStateChanged, ReleaseSignal,
    Signal, SystemSignal,
};
pub use silence::{InhibitRule, Silence, SilenceKind};
