//! What the engine consumes: things that happened, each with its own time.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One thing that happened, handed to [`crate::Engine::observe`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Signal {
    /// An error event was stored (from ingest's `EventResult`).
    Issue(IssueSignal),
    /// An issue was resolved (by a person, the API or a Telegram button):
    /// its issue alerts resolve.
    IssueResolved {
        /// Project.
        project_id: i64,
        /// Issue.
        issue_id: i64,
        /// When.
        at: DateTime<Utc>,
    },
    /// A release was created or deployed.
    Release(ReleaseSignal),
    /// A system event (backups, integrity checks…).
    System(SystemSignal),
    /// A monitor changed state (issue #5 feeds these).
    Monitor(MonitorStateChanged),
    /// A notification channel started or stopped failing.
    Channel(ChannelHealth),
}

impl Signal {
    /// When it happened.
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            Signal::Issue(s) => s.at,
            Signal::IssueResolved { at, .. } => *at,
            Signal::Release(s) => s.at,
            Signal::System(s) => s.at,
            Signal::Monitor(s) => s.at,
            Signal::Channel(s) => s.at,
        }
    }
}

/// An error event that joined an issue.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct IssueSignal {
    /// Project id.
    pub project_id: i64,
    /// Project slug (for labels and messages).
    pub project: String,
    /// Issue id.
    pub issue_id: i64,
    /// When the event was received.
    pub at: DateTime<Utc>,
    /// The event created the issue.
    pub new_issue: bool,
    /// The event brought a resolved issue back.
    pub regression: bool,
    /// `environment` of the event.
    pub environment: Option<String>,
    /// Level (`error`, `warning`, `fatal`…).
    pub level: String,
    /// Release of the event.
    pub release: Option<String>,
    /// The event's tags.
    pub tags: Vec<(String, String)>,
    /// The issue's title (`Type: value` or the message).
    pub title: String,
    /// `function in module` of the top in-app frame.
    pub culprit: String,
    /// The exception value, when there is one.
    pub exception_value: Option<String>,
    /// The top in-app frame, e.g. `app/handlers.py:42 in verify`.
    pub top_frame: Option<String>,
    /// Further events of the same issue and second this signal stands for
    /// (0 normally; more when signals that did not fit the queue are
    /// replayed as counts).
    #[serde(default)]
    pub more: u64,
}

/// A release was created or a deploy recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReleaseSignal {
    /// Project id.
    pub project_id: i64,
    /// Version.
    pub version: String,
    /// The deploy's environment; `None` for a release without a deploy,
    /// which counts for every environment.
    pub environment: Option<String>,
    /// When it was released or deployed.
    pub at: DateTime<Utc>,
}

/// A system event, as `lookout-storage` records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SystemSignal {
    /// Dotted kind: `backup.failed`, `backup.succeeded`, …
    pub kind: String,
    /// One line for humans.
    pub message: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// The health of a monitor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MonitorState {
    /// Not checked yet.
    Unknown,
    /// Healthy.
    Up,
    /// Working, but something is off (slow, certificate expiring…).
    Degraded,
    /// Failing.
    Down,
}

/// Why a monitor changed state, with the actual value where there is one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MonitorCause {
    /// The HTTP status was not the expected one.
    Status {
        /// What came back.
        actual: u16,
        /// What was expected, e.g. `2xx`.
        expected: String,
    },
    /// No answer within the timeout.
    Timeout {
        /// The timeout, in milliseconds.
        after_ms: u64,
    },
    /// A condition such as `[BODY].status == UP` failed.
    Condition {
        /// The condition.
        condition: String,
        /// The value it saw.
        actual: String,
    },
    /// A heartbeat (cron check-in) did not arrive in time.
    HeartbeatMissed {
        /// When it was due.
        expected_at: DateTime<Utc>,
        /// The monitor's own account (schedule, grace, last ping), when
        /// it gave one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
    },
    /// The TLS certificate expires soon.
    TlsExpiring {
        /// When it expires.
        expires_at: DateTime<Utc>,
        /// Whole days left.
        days_left: i64,
    },
    /// Connection or DNS error.
    Error {
        /// What went wrong.
        message: String,
    },
    /// Checks pass again.
    Recovered,
}

impl MonitorCause {
    /// One line for a message.
    pub fn describe(&self) -> String {
        match self {
            MonitorCause::Status { actual, expected } => {
                format!("HTTP status {actual}, expected {expected}")
            }
            MonitorCause::Timeout { after_ms } => format!("no answer within {after_ms} ms"),
            MonitorCause::Condition { condition, actual } => {
                format!("condition `{condition}` failed (actual: {actual})")
            }
            MonitorCause::HeartbeatMissed {
                detail: Some(d), ..
            } => d.clone(),
            MonitorCause::HeartbeatMissed { expected_at, .. } => {
                format!(
                    "heartbeat missed (expected by {})",
                    expected_at.format("%Y-%m-%d %H:%M:%S UTC")
                )
            }
            MonitorCause::TlsExpiring {
                expires_at,
                days_left,
            } => format!(
                "TLS certificate expires in {days_left} days ({})",
                expires_at.format("%Y-%m-%d")
            ),
            MonitorCause::Error { message } => message.clone(),
            MonitorCause::Recovered => "checks pass again".into(),
        }
    }
}

/// A monitor's state changed. Issue #5 (uptime monitors) emits these.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonitorStateChanged {
    /// Project id.
    pub project_id: i64,
    /// Monitor id.
    pub monitor_id: i64,
    /// Monitor name.
    pub name: String,
    /// Previous state.
    pub from: MonitorState,
    /// New state.
    pub to: MonitorState,
    /// Why.
    pub cause: MonitorCause,
    /// When.
    pub at: DateTime<Utc>,
}

/// A notification channel's health, from the outbox worker: a channel
/// that keeps failing raises an alert through the *other* channels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelHealth {
    /// The channel's name.
    pub channel: String,
    /// Whether it is failing now (its circuit breaker is open).
    pub failing: bool,
    /// The last error.
    pub error: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
}
