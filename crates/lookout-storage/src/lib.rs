//! Lookout's storage layer: the [`Store`] trait, its error type, the
//! conformance suite every backend must pass, and the embedded SQLite
//! backend.
//!
//! Only this crate knows SQL. Ingest, alerting and the server talk to a
//! `dyn Store`; a PostgreSQL backend for multi-node installs implements the
//! same trait with its own `migrations/postgres/` and must pass
//! [`conformance`].
//!
//! Writes are *group-committed*: each backend may batch concurrent writes
//! into one transaction, but a write's future resolves only after the
//! commit that contains it is durable. That is what lets ingest answer 200
//! only for data that a `kill -9` cannot lose.

pub mod codec;
pub mod conformance;
mod error;
pub mod overview;
pub mod sqlite;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use lookout_model::errors::{
    AttachmentMeta, CheckInRow, Commit, Deploy, EventResult, EventSummaryRow, Feedback,
    IngestBatch, Issue, IssueStatus, LogRow, Outcome, OutcomeCount, Release, StatusChange,
    StoredEvent, TagSummary, TransactionRow,
};
use lookout_model::settings::ProjectSettings;
use lookout_model::{
    ApiToken, AppliedMigration, Invitation, Membership, MigrationStatus, Project, ProjectKey,
    ProjectRole, TokenScope, User, WebSession,
};
use std::time::Duration;

pub use error::StorageError;
pub use overview::{FilterValues, ProjectOverview, ReleaseHealth, TopIssue};

/// Result alias for storage calls.
pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// A new project to create.
#[derive(Debug, Clone)]
pub struct NewProject {
    /// Display name; the slug is derived from it and made unique.
    pub name: String,
}

/// A new user to create. The password is already hashed (argon2id PHC
/// string); storage never sees a plain password.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Login e-mail.
    pub email: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Administrator of the whole install.
    pub is_admin: bool,
}

/// A new API token. Only the SHA-256 of the secret is stored.
#[derive(Debug, Clone)]
pub struct NewApiToken {
    /// Owner, or `None` for an install-wide token.
    pub user_id: Option<i64>,
    /// Name to recognise it by.
    pub name: String,
    /// What it may do.
    pub scope: TokenScope,
    /// Lowercase hex SHA-256 of the secret.
    pub token_hash: String,
    /// First characters of the secret, for display.
    pub prefix: String,
}

/// A new invitation. Only the SHA-256 of the link's secret is stored.
#[derive(Debug, Clone)]
pub struct NewInvitation {
    /// Who is invited.
    pub email: String,
    /// Whether the account will administer the install.
    pub is_admin: bool,
    /// Projects the account joins, with the role in each.
    pub projects: Vec<(i64, ProjectRole)>,
    /// The administrator who sends it.
    pub invited_by: Option<i64>,
    /// Lowercase hex SHA-256 of the link's secret.
    pub token_hash: String,
    /// When the link stops working.
    pub expires_at: DateTime<Utc>,
}

/// How to sort an issue list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IssueSort {
    /// Most recently seen first (default).
    #[default]
    LastSeen,
    /// Newest issues first.
    FirstSeen,
    /// Most events first.
    Events,
    /// Most users first.
    Users,
}

/// Filters and paging for an issue list.
#[derive(Debug, Clone, Default)]
pub struct IssueQuery {
    /// Only these statuses; empty = any.
    pub statuses: Vec<IssueStatus>,
    /// Only this level.
    pub level: Option<String>,
    /// `key:value` tag terms that must all match (environment, release, …).
    pub tags: Vec<(String, String)>,
    /// Words that must all appear in the title or culprit.
    pub text: Vec<String>,
    /// Only issues first seen in this release.
    pub first_release: Option<String>,
    /// Sort order.
    pub sort: IssueSort,
    /// At most this many items.
    pub limit: usize,
    /// Opaque cursor from a previous page.
    pub cursor: Option<String>,
}

/// One page of results.
#[derive(Debug, Clone)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Cursor for the next page, when there is one.
    pub next_cursor: Option<String>,
}

/// A release created or updated through the release API.
#[derive(Debug, Clone, Default)]
pub struct ReleaseUpdate {
    /// VCS ref.
    pub git_ref: Option<String>,
    /// URL.
    pub url: Option<String>,
    /// When it was released (finalize).
    pub date_released: Option<DateTime<Utc>>,
    /// Commits to attach (replaces the list when `Some`).
    pub commits: Option<Vec<Commit>>,
}

/// A deploy to record.
#[derive(Debug, Clone)]
pub struct NewDeploy {
    /// Environment.
    pub environment: String,
    /// Name.
    pub name: Option<String>,
    /// URL.
    pub url: Option<String>,
    /// Start.
    pub date_started: Option<DateTime<Utc>>,
    /// Finish (default now).
    pub date_finished: DateTime<Utc>,
}

/// What a retention pass removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionReport {
    /// Events deleted.
    pub events: u64,
    /// Issues deleted because none of their events remain.
    pub issues: u64,
    /// Other rows (transactions, check-ins, logs, attachments) deleted.
    pub other: u64,
}

// --- operations: system events, per-signal retention, fencing (issue #7) ---

/// How serious a [`SystemEvent`] is. The alerting engine routes on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Needs a human now (corruption, recovery).
    Critical,
    /// Something failed (a backup).
    High,
    /// Worth a look.
    Medium,
    /// For the record (a backup succeeded).
    Low,
}

impl Severity {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
        }
    }
    /// Parses a stored name; unknown names read as `medium`.
    pub fn parse(s: &str) -> Severity {
        match s {
            "critical" => Severity::Critical,
            "high" => Severity::High,
            "low" => Severity::Low,
            _ => Severity::Medium,
        }
    }
}

/// Something that happened to the install itself (a backup, an integrity
/// check, a recovery, the disk guard), recorded durably; the alerting
/// engine reads these after a cursor.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SystemEvent {
    /// Row id (0 for a new event).
    pub id: i64,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// Dotted kind, e.g. `backup.succeeded`, `backup.failed`,
    /// `integrity.failed`, `recovery.restored`.
    pub kind: String,
    /// How serious.
    pub severity: Severity,
    /// One line for humans; never contains secrets.
    pub message: String,
    /// Structured details (JSON), if any.
    pub details: Option<serde_json::Value>,
}

/// A kind of data with its own retention period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Signal {
    /// Performance transactions (and their spans).
    Transactions,
    /// Cron check-ins (the results of heartbeat checks).
    CheckIns,
    /// Log records.
    Logs,
    /// System events.
    SystemEvents,
}

impl Signal {
    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Transactions => "transactions",
            Signal::CheckIns => "check_ins",
            Signal::Logs => "logs",
            Signal::SystemEvents => "system_events",
        }
    }
}

/// Bytes on disk for one signal (tables and their indexes), and per project
/// where the data belongs to a project.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StorageUsage {
    /// `(signal, bytes)`; signals: events, issues, transactions, check_ins,
    /// logs, attachments, releases, system_events, other.
    pub by_signal: Vec<(String, u64)>,
    /// `(project_id, bytes)`: stored event payloads and attachments.
    pub by_project: Vec<(i64, u64)>,
}

// --- monitors and status pages (issue #5) ---------------------------------

/// A monitor's current state as stored (the state machine's counters, the
/// last check, and for heartbeats the last pings).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MonitorState {
    /// `pending`, `up`, `degraded`, `down` or `paused`.
    pub status: String,
    /// Since when.
    pub since: DateTime<Utc>,
    /// Consecutive failed checks.
    pub failures: u32,
    /// Consecutive degraded checks.
    pub degraded: u32,
    /// Consecutive good checks.
    pub successes: u32,
    /// The last check.
    pub last_check_at: Option<DateTime<Utc>>,
    /// Its response time.
    pub last_latency_ms: Option<f64>,
    /// Its result or cause in words.
    pub last_message: Option<String>,
    /// Its details (status code, conditions, health sub-checks…).
    pub last_details: Option<serde_json::Value>,
    /// Heartbeats: the last finished ping.
    pub last_ping_at: Option<DateTime<Utc>>,
    /// Heartbeats: the last start.
    pub last_start_at: Option<DateTime<Utc>>,
    /// Heartbeats: the body of the last ping (capped by the caller).
    pub last_output: Option<String>,
}

impl MonitorState {
    /// The state of a new monitor.
    pub fn pending(at: DateTime<Utc>) -> MonitorState {
        MonitorState {
            status: "pending".into(),
            since: at,
            failures: 0,
            degraded: 0,
            successes: 0,
            last_check_at: None,
            last_latency_ms: None,
            last_message: None,
            last_details: None,
            last_ping_at: None,
            last_start_at: None,
            last_output: None,
        }
    }
}

/// A stored monitor.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MonitorRecord {
    /// Id.
    pub id: i64,
    /// Owning project.
    pub project_id: i64,
    /// Unique within the project (Sentry's `monitor_slug`).
    pub slug: String,
    /// Display name.
    pub name: String,
    /// `http`, `health`, `tcp`, `dns` or `heartbeat`.
    pub kind: String,
    /// The definition (JSON owned by `lookout-monitor`).
    pub spec: serde_json::Value,
    /// Who made it: `ui`, `api`, `config` or `sentry`.
    pub source: String,
    /// Paused by a user.
    pub paused: bool,
    /// Heartbeats: the secret of the push URL.
    pub ping_token: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed (definition).
    pub updated_at: DateTime<Utc>,
    /// Current state.
    pub state: MonitorState,
}

/// A monitor to create or upsert.
#[derive(Debug, Clone)]
pub struct NewMonitor {
    /// Owning project.
    pub project_id: i64,
    /// Unique within the project.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// Kind.
    pub kind: String,
    /// Definition.
    pub spec: serde_json::Value,
    /// `ui`, `api`, `config` or `sentry`.
    pub source: String,
    /// Heartbeats: the push URL secret (kept on upsert when set before).
    pub ping_token: Option<String>,
}

/// One check result.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MonitorResult {
    /// When.
    pub at: DateTime<Utc>,
    /// `up`, `degraded` or `down`.
    pub status: String,
    /// Response time.
    pub latency_ms: Option<f64>,
    /// Result or cause in words.
    pub message: String,
}

/// A change of a monitor's state with its cause.
#[derive(Debug, Clone, PartialEq)]
pub struct StateChange {
    /// Before.
    pub from: String,
    /// After.
    pub to: String,
    /// Why, in words.
    pub cause: String,
}

/// Everything one check (or ping) changes, written atomically: the raw
/// result, the new state, and on a state change the incident and the
/// durable event.
#[derive(Debug, Clone)]
pub struct CheckRecord {
    /// The monitor.
    pub monitor_id: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// The result row to keep (`None`: only the state changes, e.g. a
    /// `/start` ping).
    pub result: Option<MonitorResult>,
    /// The state after it.
    pub state: MonitorState,
    /// The state change, if any.
    pub change: Option<StateChange>,
}

/// A recorded state change: what the alert engine (issue #6) consumes.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MonitorEvent {
    /// Increasing id; consumers remember the last one they handled.
    pub id: i64,
    /// The monitor.
    pub monitor_id: i64,
    /// Its project.
    pub project_id: i64,
    /// Its name at the time.
    pub monitor_name: String,
    /// When.
    pub at: DateTime<Utc>,
    /// Before.
    pub from: String,
    /// After.
    pub to: String,
    /// Why, in words.
    pub cause: String,
    /// The incident it opened (down, degraded) or closed.
    pub incident_id: Option<i64>,
}

/// A period in which a monitor was down or degraded.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MonitorIncident {
    /// Id.
    pub id: i64,
    /// The monitor.
    pub monitor_id: i64,
    /// `down` or `degraded`.
    pub status: String,
    /// Start.
    pub started_at: DateTime<Utc>,
    /// End; `None` while open.
    pub ended_at: Option<DateTime<Utc>>,
    /// The cause in words.
    pub cause: String,
}

/// Hourly aggregate of a monitor's results.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MonitorHour {
    /// Start of the hour.
    pub hour: DateTime<Utc>,
    /// Checks.
    pub count: u64,
    /// Failed checks.
    pub failures: u64,
    /// Degraded checks.
    pub degraded: u64,
    /// Response-time percentiles (ms).
    pub p50: Option<f64>,
    /// 95th percentile.
    pub p95: Option<f64>,
    /// 99th percentile.
    pub p99: Option<f64>,
}

/// One UTC day of checks, for uptime bars.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MonitorDay {
    /// The day (`YYYY-MM-DD`).
    pub day: chrono::NaiveDate,
    /// Checks.
    pub count: u64,
    /// Failed checks.
    pub failures: u64,
    /// Degraded checks.
    pub degraded: u64,
}

/// Uptime percentages over the usual windows; `None` without checks.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct UptimeSummary {
    /// Last 24 hours.
    pub h24: Option<f64>,
    /// Last 7 days.
    pub d7: Option<f64>,
    /// Last 30 days.
    pub d30: Option<f64>,
    /// Last 90 days.
    pub d90: Option<f64>,
}

/// A monitor shown on a status page, under a public name.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StatusPageMonitor {
    /// The monitor.
    pub monitor_id: i64,
    /// The name shown to the public.
    pub display_name: String,
}

/// A public status page.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StatusPage {
    /// Id.
    pub id: i64,
    /// URL slug (`/status/{slug}`).
    pub slug: String,
    /// Title.
    pub title: String,
    /// Text under the title.
    pub description: String,
    /// A manual notice ("maintenance tonight"), if any.
    pub notice: Option<String>,
    /// Monitors shown, in order.
    pub monitors: Vec<StatusPageMonitor>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// A status page to create or the new content of one.
#[derive(Debug, Clone)]
pub struct NewStatusPage {
    /// URL slug.
    pub slug: String,
    /// Title.
    pub title: String,
    /// Text under the title.
    pub description: String,
    /// Manual notice.
    pub notice: Option<String>,
    /// Monitors shown, in order.
    pub monitors: Vec<StatusPageMonitor>,
}

// --- alerting (issue #6) ----------------------------------------------
//
// Storage keeps rules, silences, channels and alert bodies as JSON specs
// that `lookout-alert` reads and writes; it only keys, filters and orders
// them, so the alerting model can grow without migrations.

/// Where an alert rule or channel came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertSource {
    /// Made in the UI or the API.
    Api,
    /// Declared in `lookout.toml`; replaced at every start.
    Config,
}

impl AlertSource {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertSource::Api => "api",
            AlertSource::Config => "config",
        }
    }
    /// Parses a stored name (unknown reads as `api`).
    pub fn parse(s: &str) -> AlertSource {
        if s == "config" {
            AlertSource::Config
        } else {
            AlertSource::Api
        }
    }
}

/// A rule to create or replace.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAlertRule {
    /// Display name.
    pub name: String,
    /// Evaluated or not.
    pub enabled: bool,
    /// Where it came from.
    pub source: AlertSource,
    /// The projects it is scoped to (empty: every project).
    pub projects: Vec<i64>,
    /// The rule as JSON (`lookout_alert::Rule`).
    pub spec: serde_json::Value,
    /// Who made it.
    pub created_by: Option<i64>,
}

/// A stored alert rule.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRuleRow {
    /// Id.
    pub id: i64,
    /// Display name.
    pub name: String,
    /// Evaluated or not.
    pub enabled: bool,
    /// Where it came from.
    pub source: AlertSource,
    /// The projects it is scoped to (empty: every project).
    pub projects: Vec<i64>,
    /// The rule as JSON.
    pub spec: serde_json::Value,
    /// Who made it.
    pub created_by: Option<i64>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// An alert instance as stored: one row per (rule, fingerprint, start of
/// activity), updated through its life.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertInstanceRow {
    /// Row id (0 when writing).
    pub id: i64,
    /// The rule.
    pub rule_id: i64,
    /// Identity within the rule.
    pub fingerprint: String,
    /// `pending`, `firing` or `resolved`.
    pub state: String,
    /// `critical`, `high`, `medium` or `low`.
    pub severity: String,
    /// The project, when it has one.
    pub project_id: Option<i64>,
    /// When the condition began to hold (part of the identity).
    pub active_since: DateTime<Utc>,
    /// When it began firing.
    pub starts_at: Option<DateTime<Utc>>,
    /// When it resolved.
    pub ends_at: Option<DateTime<Utc>>,
    /// Who acknowledged it.
    pub acked_by: Option<String>,
    /// When.
    pub acked_at: Option<DateTime<Utc>>,
    /// Who resolved it by hand.
    pub resolved_by: Option<String>,
    /// Last written.
    pub updated_at: DateTime<Utc>,
    /// The whole alert as JSON (`lookout_alert::Alert`).
    pub body: serde_json::Value,
}

/// Which alert instances to list.
#[derive(Debug, Clone, Default)]
pub struct AlertInstanceQuery {
    /// Only these states; empty = any.
    pub states: Vec<String>,
    /// Only alerts of these projects (`Some(vec![])` = none; install-wide
    /// alerts have no project and are listed only when `include_install`).
    pub projects: Option<Vec<i64>>,
    /// Include alerts without a project (backups, channels).
    pub include_install: bool,
    /// Only alerts of this rule.
    pub rule_id: Option<i64>,
    /// Keyset paging: only alerts listed after this one, given as its
    /// `(updated_at, id)` (the order is `updated_at` then `id`, newest
    /// first).
    pub before: Option<(DateTime<Utc>, i64)>,
    /// At most this many, most recently updated first.
    pub limit: usize,
}

/// A silence or maintenance window to create.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSilence {
    /// `silence` or `maintenance`.
    pub kind: String,
    /// Matchers as written (`severity=critical`, …); never empty.
    pub matchers: Vec<String>,
    /// The project it is about, when it is about one (access checks).
    pub project_id: Option<i64>,
    /// From.
    pub starts_at: DateTime<Utc>,
    /// Until.
    pub ends_at: DateTime<Utc>,
    /// Who made it (e-mail, or `telegram:<user>`).
    pub created_by: String,
    /// Why.
    pub comment: String,
}

/// A stored silence.
#[derive(Debug, Clone, PartialEq)]
pub struct SilenceRow {
    /// Id.
    pub id: i64,
    /// `silence` or `maintenance`.
    pub kind: String,
    /// Matchers as written.
    pub matchers: Vec<String>,
    /// The project it is about.
    pub project_id: Option<i64>,
    /// From.
    pub starts_at: DateTime<Utc>,
    /// Until.
    pub ends_at: DateTime<Utc>,
    /// Who made it.
    pub created_by: String,
    /// Why.
    pub comment: String,
    /// Created.
    pub created_at: DateTime<Utc>,
}

/// A notification channel to create or replace (by name).
#[derive(Debug, Clone, PartialEq)]
pub struct NewChannel {
    /// Unique name, used by routes (`telegram`, `ops-email`…).
    pub name: String,
    /// `telegram`, `email`, `slack`, `discord`, `webhook`.
    pub kind: String,
    /// Used or not.
    pub enabled: bool,
    /// Where it came from.
    pub source: AlertSource,
    /// Kind-specific settings as JSON (may hold secrets: never log it).
    pub config: serde_json::Value,
}

/// A stored channel.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelRow {
    /// Id.
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// Kind.
    pub kind: String,
    /// Used or not.
    pub enabled: bool,
    /// Where it came from.
    pub source: AlertSource,
    /// Settings as JSON.
    pub config: serde_json::Value,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// Where an outbox row stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutboxState {
    /// Waiting for its `next_attempt_at`.
    Pending,
    /// Claimed by a sender: the request may be in flight.
    Sending,
    /// Delivered.
    Sent,
    /// Given up (attempts or age used up).
    Failed,
}

impl OutboxState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxState::Pending => "pending",
            OutboxState::Sending => "sending",
            OutboxState::Sent => "sent",
            OutboxState::Failed => "failed",
        }
    }
    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<OutboxState> {
        Some(match s {
            "pending" => OutboxState::Pending,
            "sending" => OutboxState::Sending,
            "sent" => OutboxState::Sent,
            "failed" => OutboxState::Failed,
            _ => return None,
        })
    }
}

/// A notification for one channel, to put in the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct NewOutboxItem {
    /// Unique; a second item with the same key is ignored. Sent along
    /// with the request where the channel supports it.
    pub idempotency_key: String,
    /// The channel's name.
    pub channel: String,
    /// The notification as JSON.
    pub payload: serde_json::Value,
    /// First attempt at.
    pub not_before: DateTime<Utc>,
}

/// An outbox row.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxItem {
    /// Id.
    pub id: i64,
    /// Idempotency key.
    pub idempotency_key: String,
    /// Channel name.
    pub channel: String,
    /// State.
    pub state: OutboxState,
    /// Attempts started so far.
    pub attempts: u32,
    /// Next attempt at (pending), or when it was claimed (sending).
    pub next_attempt_at: DateTime<Utc>,
    /// Enqueued.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
    /// Delivered at.
    pub sent_at: Option<DateTime<Utc>>,
    /// The last error.
    pub last_error: Option<String>,
    /// The notification as JSON.
    pub payload: serde_json::Value,
}

/// How an attempt ended, recorded with [`Store::finish_outbox_attempt`].
#[derive(Debug, Clone, PartialEq)]
pub enum AttemptOutcome {
    /// Delivered.
    Sent,
    /// Failed; try again at this time.
    Retry {
        /// When.
        next_attempt_at: DateTime<Utc>,
        /// Why it failed.
        error: String,
    },
    /// Failed for good.
    Failed {
        /// Why.
        error: String,
    },
    /// Not attempted (circuit open): back to pending without counting an
    /// attempt.
    Deferred {
        /// When to look again.
        next_attempt_at: DateTime<Utc>,
        /// Why.
        reason: String,
    },
}

/// One line of the delivery log.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryAttempt {
    /// Id.
    pub id: i64,
    /// The outbox row.
    pub outbox_id: i64,
    /// When the attempt ended.
    pub at: DateTime<Utc>,
    /// Channel name.
    pub channel: String,
    /// Attempt number (1 = first).
    pub attempt: u32,
    /// `sent`, `retry`, `failed` or `deferred`.
    pub outcome: String,
    /// The error, if any.
    pub error: Option<String>,
    /// How long the attempt took.
    pub duration_ms: i64,
}

/// Which lines of the delivery log to list (newest first).
#[derive(Debug, Clone, Default)]
pub struct DeliveryQuery {
    /// Only attempts of this channel.
    pub channel: Option<String>,
    /// Only attempts with this outcome (`sent`, `retry`, `failed`,
    /// `deferred`).
    pub outcome: Option<String>,
    /// Keyset paging: only lines with a smaller id.
    pub before_id: Option<i64>,
    /// At most this many.
    pub limit: usize,
}

/// A channel's circuit breaker, persisted across restarts.
#[derive(Debug, Clone, PartialEq)]
pub struct BreakerRow {
    /// Channel name.
    pub channel: String,
    /// `closed`, `open` or `half_open`.
    pub state: String,
    /// Consecutive failures.
    pub failures: u32,
    /// When it opened.
    pub opened_at: Option<DateTime<Utc>>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// A Telegram account linked to a Lookout user: button presses from it
/// act as that user.
#[derive(Debug, Clone, PartialEq)]
pub struct TelegramLink {
    /// Telegram's numeric user id (`from.id`).
    pub telegram_user_id: i64,
    /// The Lookout user.
    pub user_id: i64,
    /// `@username` or first name, as Telegram gave it when linking.
    pub display_name: String,
    /// Linked at.
    pub created_at: DateTime<Utc>,
}

/// Everything Lookout stores. Implemented by each backend.
///
/// Methods are async; backends that block (SQLite) run the work on their
/// own threads, never on the async executor.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    /// The backend's name, e.g. `sqlite`.
    fn backend(&self) -> &'static str;

    /// Performs a small real write and returns how long it took. Used by
    /// readiness and health checks.
    async fn probe_write(&self) -> Result<Duration>;

    /// Where the schema stands.
    async fn migration_status(&self) -> Result<MigrationStatus>;
    /// The applied migrations, oldest first.
    async fn migration_history(&self) -> Result<Vec<AppliedMigration>>;
    /// Applies pending migrations up to `to` (default: the latest).
    /// Returns the versions applied.
    async fn migrate_up(&self, to: Option<u32>) -> Result<Vec<u32>>;
    /// Reverts applied migrations down to `to` (default: one step).
    /// Returns the versions reverted.
    async fn migrate_down(&self, to: Option<u32>) -> Result<Vec<u32>>;

    /// Creates a project with one default DSN key.
    async fn create_project(&self, new: NewProject) -> Result<(Project, ProjectKey)>;
    /// All projects, by id.
    async fn list_projects(&self) -> Result<Vec<Project>>;
    /// One project.
    async fn get_project(&self, id: i64) -> Result<Option<Project>>;
    /// The keys of a project, including revoked ones.
    async fn project_keys(&self, project_id: i64) -> Result<Vec<ProjectKey>>;
    /// Looks up a DSN key by its public part (revoked keys included, so the
    /// caller can tell "revoked" from "unknown").
    async fn find_project_key(&self, public_key: &str) -> Result<Option<ProjectKey>>;

    /// Creates a user. A duplicate e-mail is [`StorageError::Conflict`].
    async fn create_user(&self, new: NewUser) -> Result<User>;
    /// Looks a user up by e-mail, with its password hash.
    async fn find_user_by_email(&self, email: &str) -> Result<Option<(User, String)>>;

    /// How many users exist (0 means first-run setup is open).
    async fn count_users(&self) -> Result<u64>;
    /// One user.
    async fn get_user(&self, id: i64) -> Result<Option<User>>;
    /// Creates the first administrator, only if no user exists yet
    /// (atomically: two concurrent setups cannot both succeed).
    async fn create_first_admin(&self, new: NewUser) -> Result<Option<User>>;
    /// Stores a browser session.
    async fn create_session(&self, s: WebSession) -> Result<()>;
    /// A live session and its user.
    async fn find_session(
        &self,
        id_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(WebSession, User)>>;
    /// Ends a session.
    async fn delete_session(&self, id_hash: &str) -> Result<()>;

    /// Stores a new API token.
    async fn create_api_token(&self, new: NewApiToken) -> Result<ApiToken>;
    /// Finds a live (not revoked) token by the SHA-256 of its secret, and
    /// records its use at `now`.
    async fn authenticate_api_token(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<ApiToken>>;

    // --- access ----------------------------------------------------------

    /// Renames a project (the slug stays, so DSNs and links keep working).
    async fn rename_project(&self, id: i64, name: &str) -> Result<Project>;
    /// Deletes a project and everything stored for it. `false` when there
    /// was no such project.
    async fn delete_project(&self, id: i64) -> Result<bool>;
    /// Finishes the deletions a stopped server left half done (projects
    /// marked as being deleted); returns their ids.
    async fn resume_project_deletions(&self) -> Result<Vec<i64>>;
    /// Adds a DSN key to a project.
    async fn create_project_key(&self, project_id: i64, label: &str) -> Result<ProjectKey>;
    /// Revokes a key of a project (idempotent). `None` when the project has
    /// no such key.
    async fn revoke_project_key(&self, project_id: i64, key_id: i64) -> Result<Option<ProjectKey>>;

    /// Every user, by id.
    async fn list_users(&self) -> Result<Vec<User>>;
    /// Replaces a user's password hash and ends every session of the user
    /// except `keep_session` (the one that made the change).
    async fn set_password(
        &self,
        user_id: i64,
        password_hash: String,
        keep_session: Option<String>,
    ) -> Result<()>;
    /// Makes a user an administrator or not. Refuses
    /// ([`StorageError::Conflict`]) to demote the last administrator.
    async fn set_user_admin(&self, user_id: i64, is_admin: bool) -> Result<User>;
    /// Deletes a user with their sessions, tokens and memberships. Refuses
    /// to delete the last administrator. `false` when there was no such user.
    async fn delete_user(&self, user_id: i64) -> Result<bool>;
    /// The password hash of a user (to check the current password).
    async fn user_password_hash(&self, user_id: i64) -> Result<Option<String>>;

    /// A non-admin user's role in a project, if they are a member.
    async fn project_role(&self, project_id: i64, user_id: i64) -> Result<Option<ProjectRole>>;
    /// The projects a user is a member of, with the role in each.
    async fn user_memberships(&self, user_id: i64) -> Result<Vec<Membership>>;
    /// The members of a project.
    async fn project_members(&self, project_id: i64) -> Result<Vec<Membership>>;
    /// Sets (or with `None` removes) a user's role in a project.
    async fn set_project_role(
        &self,
        project_id: i64,
        user_id: i64,
        role: Option<ProjectRole>,
    ) -> Result<()>;

    /// Stores an invitation. Refuses ([`StorageError::Conflict`]) when a user
    /// with that e-mail exists.
    async fn create_invitation(&self, new: NewInvitation) -> Result<Invitation>;
    /// Invitations not yet accepted, revoked or expired at `now`.
    async fn pending_invitations(&self, now: DateTime<Utc>) -> Result<Vec<Invitation>>;
    /// A usable invitation by the SHA-256 of its secret.
    async fn find_invitation(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Invitation>>;
    /// Accepts an invitation atomically: creates the user with its
    /// memberships and marks the invitation used. [`StorageError::NotFound`]
    /// when it is unknown, used, revoked or expired;
    /// [`StorageError::Conflict`] when the e-mail is taken meanwhile.
    async fn accept_invitation(
        &self,
        token_hash: &str,
        password_hash: String,
        now: DateTime<Utc>,
    ) -> Result<User>;
    /// Revokes a pending invitation. `false` when there was none.
    async fn revoke_invitation(&self, id: i64) -> Result<bool>;

    /// A user's API tokens (`None`: the install-wide ones), newest first,
    /// revoked ones included.
    async fn list_api_tokens(&self, user_id: Option<i64>) -> Result<Vec<ApiToken>>;
    /// Revokes a token of `user_id` (`None`: an install-wide token).
    /// `false` when that owner has no such live token.
    async fn revoke_api_token(&self, id: i64, user_id: Option<i64>) -> Result<bool>;

    // --- error tracking -------------------------------------------------

    /// Stores everything one envelope produced, atomically, and answers
    /// only once it is durable. Fails fast with
    /// [`StorageError::Overloaded`] when the ingest queue is full.
    async fn ingest(&self, batch: IngestBatch) -> Result<Vec<EventResult>>;
    /// Adds outcome counts (rejections tallied in memory) at hour `hour`.
    async fn add_outcomes(&self, rows: Vec<(i64, i64, Outcome, String, i64)>) -> Result<()>;
    /// A project's settings (defaults when never set).
    async fn project_settings(&self, project_id: i64) -> Result<ProjectSettings>;
    /// Replaces a project's settings.
    async fn set_project_settings(&self, project_id: i64, s: ProjectSettings) -> Result<()>;
    /// Looks a project up by slug.
    async fn find_project_by_slug(&self, slug: &str) -> Result<Option<Project>>;

    /// The project's current compression dictionary `(id, bytes)`.
    async fn current_dict(&self, project_id: i64) -> Result<Option<(i64, Vec<u8>)>>;
    /// Events stored with dictionary `dict_id` (0 = none) for the project.
    async fn count_events_with_dict(&self, project_id: i64, dict_id: i64) -> Result<u64>;
    /// Up to `limit` recent uncompressed event payloads, for training.
    async fn sample_event_payloads(&self, project_id: i64, limit: usize) -> Result<Vec<Vec<u8>>>;
    /// Stores a trained dictionary; returns its id.
    async fn store_dict(&self, project_id: i64, dict: Vec<u8>) -> Result<i64>;

    /// Lists a project's issues.
    async fn list_issues(&self, project_id: i64, q: IssueQuery) -> Result<Page<Issue>>;
    /// One issue.
    async fn get_issue(&self, issue_id: i64) -> Result<Option<Issue>>;
    /// Tag breakdown of an issue: each key with its `top_n` values.
    async fn issue_tags(&self, issue_id: i64, top_n: usize) -> Result<Vec<TagSummary>>;
    /// Event counts per hour for an issue since `since_hour`.
    async fn issue_hourly(&self, issue_id: i64, since_hour: i64) -> Result<Vec<(i64, i64)>>;
    /// Changes an issue's status.
    async fn set_issue_status(&self, issue_id: i64, change: StatusChange) -> Result<Issue>;
    /// An issue's events, newest first.
    async fn issue_events(
        &self,
        issue_id: i64,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<Page<EventSummaryRow>>;
    /// One event of a project with its full JSON.
    async fn get_event(&self, project_id: i64, event_id: [u8; 16]) -> Result<Option<StoredEvent>>;
    /// Feedback about any event of an issue.
    async fn issue_feedback(&self, issue_id: i64) -> Result<Vec<Feedback>>;
    /// Attachments of an event of a project.
    async fn event_attachments(
        &self,
        project_id: i64,
        event_id: [u8; 16],
    ) -> Result<Vec<AttachmentMeta>>;
    /// One attachment with its bytes.
    async fn attachment(&self, id: i64) -> Result<Option<(AttachmentMeta, i64, Vec<u8>)>>;

    /// A project's releases, newest first.
    async fn list_releases(&self, project_id: i64) -> Result<Vec<Release>>;
    /// One release.
    async fn get_release(&self, project_id: i64, version: &str) -> Result<Option<Release>>;
    /// Creates or updates a release; `true` when it was created.
    async fn upsert_release(
        &self,
        project_id: i64,
        version: &str,
        update: ReleaseUpdate,
    ) -> Result<(Release, bool)>;
    /// Records a deploy of a release (created if missing).
    async fn add_deploy(&self, project_id: i64, version: &str, d: NewDeploy) -> Result<Deploy>;

    /// Outcome counts per hour since `since_ms`.
    async fn project_outcomes(&self, project_id: i64, since_ms: i64) -> Result<Vec<OutcomeCount>>;
    /// Recent transactions.
    async fn list_transactions(&self, project_id: i64, limit: usize)
    -> Result<Vec<TransactionRow>>;
    /// Recent check-ins.
    async fn list_check_ins(&self, project_id: i64, limit: usize) -> Result<Vec<CheckInRow>>;
    /// Recent log records.
    async fn list_logs(&self, project_id: i64, limit: usize) -> Result<Vec<LogRow>>;

    // --- overview, releases page and issue list (web UI, issue #4) -----

    /// The project's overview at `now`: events per hour over 7 days, issue
    /// counts, top issues of the last 24 hours and the latest release's
    /// health. See [`ProjectOverview`] for each number's definition.
    async fn project_overview(
        &self,
        project_id: i64,
        now: DateTime<Utc>,
        top_n: usize,
    ) -> Result<ProjectOverview>;
    /// Hourly event counts of several issues since `since_hour`, as
    /// `(issue_id, hour, count)` ordered by issue and hour. Ids of other
    /// projects are the caller's business: check access first.
    async fn issues_hourly(
        &self,
        issue_ids: Vec<i64>,
        since_hour: i64,
    ) -> Result<Vec<(i64, i64, i64)>>;
    /// The environments and releases the issue list offers as filters.
    async fn filter_values(&self, project_id: i64) -> Result<FilterValues>;
    /// Changes the status of several issues in one transaction: all or
    /// none ([`StorageError::NotFound`] when one is missing). Returns them
    /// in the order given.
    async fn set_issues_status(
        &self,
        issue_ids: Vec<i64>,
        change: StatusChange,
    ) -> Result<Vec<Issue>>;
    /// For each of `versions`, up to `per_release` issues first seen in it
    /// (most events first), grouped by version in the order given.
    async fn release_new_issues(
        &self,
        project_id: i64,
        versions: Vec<String>,
        per_release: usize,
    ) -> Result<Vec<(String, Vec<Issue>)>>;

    /// Deletes a project's data older than `older_than_ms`, and its oldest
    /// events beyond `max_events`. Each call deletes at most `budget` events,
    /// `budget` issues and `budget` other rows, so ingest never waits long;
    /// a report that reaches `budget` means more work is left.
    async fn enforce_retention(
        &self,
        project_id: i64,
        older_than_ms: i64,
        max_events: u64,
        budget: usize,
    ) -> Result<RetentionReport>;
    /// Returns free pages to the file system (bounded work per call).
    async fn reclaim_space(&self, max_pages: u32) -> Result<u64>;
    /// Bytes used by the database files.
    fn disk_usage(&self) -> u64;

    /// Writes that are queued but not yet committed.
    fn write_queue_depth(&self) -> usize;

    /// Stops accepting writes, commits what is queued, and closes.
    async fn close(&self) -> Result<()>;

    // --- operations (issue #7) ------------------------------------------

    /// Records a system event durably.
    async fn record_system_event(&self, event: SystemEvent) -> Result<i64>;
    /// The newest system events, newest first.
    async fn list_system_events(&self, limit: usize) -> Result<Vec<SystemEvent>>;
    /// Deletes up to `budget` rows of `signal` older than `older_than_ms`,
    /// across all projects. Returns the rows deleted.
    async fn enforce_signal_retention(
        &self,
        signal: Signal,
        older_than_ms: i64,
        budget: usize,
    ) -> Result<u64>;
    /// Bytes used per signal and per project (may scan the whole store:
    /// call it from background work, not per request).
    async fn storage_usage(&self) -> Result<StorageUsage>;
    /// Runs the backend's full integrity check; an empty list means
    /// healthy, otherwise the problems found.
    async fn integrity_check(&self) -> Result<Vec<String>>;
    /// Refuses every later write with [`StorageError::Fenced`]: called when
    /// the store is found damaged, so that nothing writes to it further.
    fn fence(&self, reason: String);
    /// Why writes are refused, when they are.
    fn fenced(&self) -> Option<String>;

    // --- monitors and status pages (issue #5) -----------------------------

    /// Creates a monitor; a duplicate slug in the project is
    /// [`StorageError::Conflict`].
    async fn create_monitor(&self, new: NewMonitor) -> Result<MonitorRecord>;
    /// Creates or updates (name, kind, spec, source) the monitor with this
    /// project and slug; keeps its state and ping token. `true` when created.
    async fn upsert_monitor(&self, new: NewMonitor) -> Result<(MonitorRecord, bool)>;
    /// Changes a monitor's name, kind and spec.
    async fn update_monitor(
        &self,
        id: i64,
        name: String,
        kind: String,
        spec: serde_json::Value,
    ) -> Result<MonitorRecord>;
    /// Sets the paused flag (the state change is recorded by `record_check`).
    async fn set_monitor_paused(&self, id: i64, paused: bool) -> Result<MonitorRecord>;
    /// Deletes a monitor with its results and incidents (its events stay).
    async fn delete_monitor(&self, id: i64) -> Result<bool>;
    /// One monitor.
    async fn get_monitor(&self, id: i64) -> Result<Option<MonitorRecord>>;
    /// A monitor by project and slug.
    async fn find_monitor(&self, project_id: i64, slug: &str) -> Result<Option<MonitorRecord>>;
    /// A monitor by its push URL secret.
    async fn find_monitor_by_token(&self, token: &str) -> Result<Option<MonitorRecord>>;
    /// A project's monitors (`None`: every monitor), by id.
    async fn list_monitors(&self, project_id: Option<i64>) -> Result<Vec<MonitorRecord>>;
    /// Writes one check atomically (result, state, incident, event).
    /// Returns the event when the state changed.
    async fn record_check(&self, record: CheckRecord) -> Result<Option<MonitorEvent>>;
    /// Raw results since `since`, newest first.
    async fn monitor_results(
        &self,
        monitor_id: i64,
        since: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<MonitorResult>>;
    /// Hourly aggregates since `since` (rolled-up hours and, computed on
    /// the fly, the hours still raw), oldest first.
    async fn monitor_hourly(
        &self,
        monitor_id: i64,
        since: DateTime<Utc>,
    ) -> Result<Vec<MonitorHour>>;
    /// Incidents, newest first.
    async fn monitor_incidents(
        &self,
        monitor_id: i64,
        limit: usize,
    ) -> Result<Vec<MonitorIncident>>;
    /// Uptime over 24 h, 7 d, 30 d and 90 d before `now`.
    async fn monitor_uptime(&self, monitor_id: i64, now: DateTime<Utc>) -> Result<UptimeSummary>;
    /// Checks per UTC day since `since`, oldest first (days without checks
    /// are absent).
    async fn monitor_daily(&self, monitor_id: i64, since: DateTime<Utc>)
    -> Result<Vec<MonitorDay>>;
    /// State changes with an id above `after_id`, oldest first.
    async fn monitor_events_after(&self, after_id: i64, limit: usize) -> Result<Vec<MonitorEvent>>;
    /// Rolls raw results of whole hours before `raw_before` into hourly
    /// aggregates, and deletes aggregates, closed incidents and events
    /// older than `history_before`. At most `budget` monitor-hours per call;
    /// returns the raw rows rolled up.
    async fn compact_monitor_history(
        &self,
        raw_before: DateTime<Utc>,
        history_before: DateTime<Utc>,
        budget: usize,
    ) -> Result<u64>;
    /// Stored check-ins with a row id above `after_id`, oldest first, as
    /// `(row id, project id, check-in)`.
    async fn check_ins_after(
        &self,
        after_id: i64,
        limit: usize,
    ) -> Result<Vec<(i64, i64, CheckInRow)>>;
    /// The highest check-in row id (0 when none).
    async fn last_check_in_id(&self) -> Result<i64>;
    /// A named cursor of a background reader (0 when never set).
    async fn monitor_cursor(&self, name: &str) -> Result<Option<i64>>;
    /// Sets a named cursor.
    async fn set_monitor_cursor(&self, name: &str, value: i64) -> Result<()>;

    /// Creates a status page; a duplicate slug is a conflict.
    async fn create_status_page(&self, new: NewStatusPage) -> Result<StatusPage>;
    /// Replaces a status page's content.
    async fn update_status_page(&self, id: i64, new: NewStatusPage) -> Result<StatusPage>;
    /// Deletes a status page.
    async fn delete_status_page(&self, id: i64) -> Result<bool>;
    /// Every status page, by slug.
    async fn list_status_pages(&self) -> Result<Vec<StatusPage>>;
    /// A status page by slug.
    async fn find_status_page(&self, slug: &str) -> Result<Option<StatusPage>>;

    // --- alerting (issue #6) --------------------------------------------

    /// Creates an alert rule.
    async fn create_alert_rule(
        &self,
        new: NewAlertRule,
        now: DateTime<Utc>,
    ) -> Result<AlertRuleRow>;
    /// Replaces an alert rule. [`StorageError::NotFound`] when missing.
    async fn update_alert_rule(
        &self,
        id: i64,
        new: NewAlertRule,
        now: DateTime<Utc>,
    ) -> Result<AlertRuleRow>;
    /// Deletes an alert rule and its alert instances. `false` when missing.
    async fn delete_alert_rule(&self, id: i64) -> Result<bool>;
    /// One alert rule.
    async fn get_alert_rule(&self, id: i64) -> Result<Option<AlertRuleRow>>;
    /// Every alert rule, by id.
    async fn list_alert_rules(&self) -> Result<Vec<AlertRuleRow>>;
    /// Replaces every rule whose source is `config` with `rules` in one
    /// transaction, keeping the ids of rules whose name is unchanged.
    async fn sync_config_alert_rules(
        &self,
        rules: Vec<NewAlertRule>,
        now: DateTime<Utc>,
    ) -> Result<Vec<AlertRuleRow>>;

    /// Writes alert instances (insert or update by rule, fingerprint and
    /// `active_since`) and removes discarded pending ones
    /// (`(rule_id, fingerprint)` of instances not resolved), in one
    /// transaction.
    async fn save_alert_instances(
        &self,
        upserts: Vec<AlertInstanceRow>,
        discards: Vec<(i64, String)>,
    ) -> Result<()>;
    /// Alert instances, most recently updated first.
    async fn list_alert_instances(&self, q: AlertInstanceQuery) -> Result<Vec<AlertInstanceRow>>;
    /// One alert instance.
    async fn get_alert_instance(&self, id: i64) -> Result<Option<AlertInstanceRow>>;
    /// The alert instance a notification named: by rule, fingerprint and
    /// `active_since`; when that one was pruned, the latest instance of the
    /// same rule and fingerprint.
    async fn find_alert_instance(
        &self,
        rule_id: i64,
        fingerprint: String,
        active_since: DateTime<Utc>,
    ) -> Result<Option<AlertInstanceRow>>;
    /// Deletes resolved instances that ended before `before` (at most
    /// `budget`). Returns how many.
    async fn prune_alert_instances(&self, before: DateTime<Utc>, budget: usize) -> Result<u64>;
    /// Deletes silences and maintenance windows that ended before
    /// `before` (at most `budget`). Returns how many.
    async fn prune_silences(&self, before: DateTime<Utc>, budget: usize) -> Result<u64>;

    /// Creates a silence or maintenance window.
    async fn create_silence(&self, new: NewSilence, now: DateTime<Utc>) -> Result<SilenceRow>;
    /// Ends a silence at `now` (if it ends later). `None` when missing.
    async fn expire_silence(&self, id: i64, now: DateTime<Utc>) -> Result<Option<SilenceRow>>;
    /// One silence.
    async fn get_silence(&self, id: i64) -> Result<Option<SilenceRow>>;
    /// Silences that end after `ends_after`, by start.
    async fn list_silences(&self, ends_after: DateTime<Utc>) -> Result<Vec<SilenceRow>>;

    /// Creates or replaces a channel by name.
    async fn upsert_channel(&self, new: NewChannel, now: DateTime<Utc>) -> Result<ChannelRow>;
    /// Deletes a channel by name. `false` when missing.
    async fn delete_channel(&self, name: &str) -> Result<bool>;
    /// Every channel, by name.
    async fn list_channels(&self) -> Result<Vec<ChannelRow>>;

    /// Puts notifications into the outbox, durably, in one transaction.
    /// Items whose idempotency key is already there are skipped. Returns
    /// how many were added.
    async fn enqueue_outbox(&self, items: Vec<NewOutboxItem>, now: DateTime<Utc>) -> Result<u64>;
    /// When the earliest pending item is due, if any (a read: lets the
    /// worker skip claiming, a write, when nothing is due).
    async fn outbox_next_due(&self) -> Result<Option<DateTime<Utc>>>;
    /// Claims up to `limit` pending items due at `now`, oldest due first:
    /// marks them `sending` and counts the attempt, durably, before the
    /// caller sends anything.
    async fn claim_outbox(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<OutboxItem>>;
    /// Records how the attempt on a `sending` item ended, and its line in
    /// the delivery log, in one transaction.
    /// [`StorageError::NotFound`] when the item is not `sending`.
    async fn finish_outbox_attempt(
        &self,
        id: i64,
        outcome: AttemptOutcome,
        duration_ms: i64,
        now: DateTime<Utc>,
    ) -> Result<OutboxItem>;
    /// Puts every `sending` item back to `pending`, due at `now`, keeping
    /// its idempotency key: called at start-up (after a crash the request
    /// may or may not have left) and by a graceful shutdown for sends it
    /// abandons. Returns how many.
    async fn release_outbox_sending(&self, now: DateTime<Utc>) -> Result<u64>;
    /// Outbox items, newest first; `state` filters.
    async fn list_outbox(
        &self,
        state: Option<OutboxState>,
        limit: usize,
    ) -> Result<Vec<OutboxItem>>;
    /// One outbox item (a Telegram button names its notification by it).
    async fn get_outbox_item(&self, id: i64) -> Result<Option<OutboxItem>>;
    /// Outbox counts per state.
    async fn outbox_counts(&self) -> Result<Vec<(OutboxState, u64)>>;
    /// The delivery log, newest first; of one outbox item when given.
    async fn list_deliveries(
        &self,
        outbox_id: Option<i64>,
        limit: usize,
    ) -> Result<Vec<DeliveryAttempt>>;
    /// The delivery log filtered by channel and outcome, newest (highest
    /// id) first.
    async fn query_deliveries(&self, q: DeliveryQuery) -> Result<Vec<DeliveryAttempt>>;
    /// Deletes sent and failed items (and their log) created before
    /// `before`, at most `budget`. Returns how many.
    async fn prune_outbox(&self, before: DateTime<Utc>, budget: usize) -> Result<u64>;

    /// Saves a channel's circuit breaker.
    async fn save_breaker(&self, b: BreakerRow) -> Result<()>;
    /// Every saved circuit breaker, by channel.
    async fn list_breakers(&self) -> Result<Vec<BreakerRow>>;

    // --- Telegram linking (issue #6) -------------------------------------

    /// Stores a one-time link code (its SHA-256) for a user, valid until
    /// `expires_at`; drops expired codes and all but the user's newest few.
    async fn create_telegram_link_code(
        &self,
        user_id: i64,
        code_hash: String,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<()>;
    /// Uses a link code: deletes it (whether or not it expired) and, when
    /// it was valid, links the Telegram account to its user (replacing an
    /// earlier link of that Telegram account). Returns the user; `None`
    /// for an unknown or expired code.
    async fn consume_telegram_link_code(
        &self,
        code_hash: String,
        telegram_user_id: i64,
        display_name: String,
        now: DateTime<Utc>,
    ) -> Result<Option<lookout_model::User>>;
    /// The Telegram accounts linked to a user, oldest first.
    async fn list_telegram_links(&self, user_id: i64) -> Result<Vec<TelegramLink>>;
    /// Unlinks one of the user's Telegram accounts. `false` when it was
    /// not linked to this user.
    async fn delete_telegram_link(&self, user_id: i64, telegram_user_id: i64) -> Result<bool>;
    /// The Lookout user a Telegram account is linked to.
    async fn telegram_linked_user(
        &self,
        telegram_user_id: i64,
    ) -> Result<Option<lookout_model::User>>;

    /// A named cursor of the alerting engine (0 when never set).
    async fn alert_cursor(&self, name: &str) -> Result<i64>;
    /// Sets a named cursor.
    async fn set_alert_cursor(&self, name: &str, value: i64) -> Result<()>;
    /// System events with an id greater than `after_id`, oldest first.
    async fn system_events_after(&self, after_id: i64, limit: usize) -> Result<Vec<SystemEvent>>;
}
