//! Error tracking: issues and their life cycle, events, releases, and the
//! records an ingested envelope turns into.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where an issue stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "snake_case")]
pub enum IssueStatus {
    /// Open (the default).
    Unresolved,
    /// Fixed; any new event reopens it as a regression.
    Resolved,
    /// Fixed in the next release; only an event from a newer release than
    /// the one current at resolve time reopens it.
    ResolvedInNextRelease,
    /// Hidden until a count, a time, or forever.
    Ignored,
}

impl IssueStatus {
    /// The stored and API name.
    pub fn as_str(self) -> &'static str {
        match self {
            IssueStatus::Unresolved => "unresolved",
            IssueStatus::Resolved => "resolved",
            IssueStatus::ResolvedInNextRelease => "resolved_in_next_release",
            IssueStatus::Ignored => "ignored",
        }
    }
    /// Parses the stored and API name.
    pub fn parse(s: &str) -> Option<IssueStatus> {
        Some(match s {
            "unresolved" => IssueStatus::Unresolved,
            "resolved" => IssueStatus::Resolved,
            "resolved_in_next_release" => IssueStatus::ResolvedInNextRelease,
            "ignored" => IssueStatus::Ignored,
            _ => return None,
        })
    }
}

/// The mutable life-cycle part of an issue, and the rules for how an
/// incoming event changes it. Pure: storage loads it, applies events, and
/// writes it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueLifecycle {
    /// Current status.
    pub status: IssueStatus,
    /// For `ResolvedInNextRelease`: the release current when resolved.
    pub status_release: Option<String>,
    /// For `Ignored`: reopen once `event_count` exceeds this.
    pub ignore_until_count: Option<i64>,
    /// For `Ignored`: reopen on an event after this time (ms).
    pub ignore_until_time: Option<i64>,
    /// Whether the issue came back after being resolved.
    pub is_regression: bool,
    /// How many times it came back.
    pub regression_count: i64,
    /// Events seen so far.
    pub event_count: i64,
}

/// What an event did to an issue's life cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transition {
    /// Nothing changed.
    None,
    /// A resolved issue came back.
    Regressed,
    /// An ignored issue passed its limit and is unresolved again.
    Unignored,
}

/// How the release of an incoming event compares with the release an issue
/// was resolved in. Decided by storage from release creation order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReleaseOrder {
    /// The event has no release, or the same one.
    SameOrUnknown,
    /// The event's release is older.
    Older,
    /// The event's release is newer.
    Newer,
}

impl IssueLifecycle {
    /// Applies one new (non-duplicate) event at `at_ms`. `release_order`
    /// compares the event's release with `status_release`.
    pub fn apply_event(&mut self, at_ms: i64, release_order: ReleaseOrder) -> Transition {
        self.event_count += 1;
        match self.status {
            IssueStatus::Unresolved => Transition::None,
            IssueStatus::Resolved => {
                self.regress();
                Transition::Regressed
            }
            IssueStatus::ResolvedInNextRelease => {
                if release_order == ReleaseOrder::Newer {
                    self.regress();
                    Transition::Regressed
                } else {
                    Transition::None
                }
            }
            IssueStatus::Ignored => {
                let by_count = self
                    .ignore_until_count
                    .is_some_and(|limit| self.event_count > limit);
                let by_time = self.ignore_until_time.is_some_and(|t| at_ms > t);
                if by_count || by_time {
                    self.status = IssueStatus::Unresolved;
                    self.ignore_until_count = None;
                    self.ignore_until_time = None;
                    Transition::Unignored
                } else {
                    Transition::None
                }
            }
        }
    }

    fn regress(&mut self) {
        self.status = IssueStatus::Unresolved;
        self.status_release = None;
        self.is_regression = true;
        self.regression_count += 1;
    }
}

/// A status change requested through the API or UI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusChange {
    /// The new status.
    pub status: IssueStatus,
    /// For `Ignored`: reopen after this many more events.
    pub ignore_count: Option<i64>,
    /// For `Ignored`: reopen on events after this time.
    pub ignore_until: Option<DateTime<Utc>>,
}

/// An issue: events grouped by fingerprint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Issue {
    /// Numeric id.
    pub id: i64,
    /// Its project.
    pub project_id: i64,
    /// `Type: value`, or the message.
    pub title: String,
    /// `function in module` of the top in-app frame.
    pub culprit: String,
    /// Level of the latest event.
    pub level: String,
    /// Status.
    pub status: IssueStatus,
    /// Events seen.
    pub count: i64,
    /// Distinct users affected.
    pub user_count: i64,
    /// First event.
    pub first_seen: DateTime<Utc>,
    /// Latest event.
    pub last_seen: DateTime<Utc>,
    /// Came back after being resolved.
    pub is_regression: bool,
    /// Times it came back.
    pub regression_count: i64,
    /// Release of the first event.
    pub first_release: Option<String>,
    /// Release of the latest event.
    pub last_release: Option<String>,
    /// The grouping hash.
    pub grouping_hash: String,
    /// The grouping algorithm version that produced the hash.
    pub grouping_version: String,
    /// Exception type, when the issue is an exception.
    pub exception_type: Option<String>,
    /// Platform (`python`, `javascript`, …).
    pub platform: Option<String>,
    /// For `resolved_in_next_release`: the release current at resolve time.
    pub status_release: Option<String>,
    /// For `ignored`: reopens after this total count.
    pub ignore_until_count: Option<i64>,
    /// For `ignored`: reopens after this time.
    pub ignore_until: Option<DateTime<Utc>>,
}

/// Top values of one tag on an issue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagSummary {
    /// Tag key.
    pub key: String,
    /// Events carrying the tag.
    pub total: i64,
    /// Most frequent values first.
    pub top: Vec<TagValueCount>,
}

/// One value of a tag and how often it was seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagValueCount {
    /// The value.
    pub value: String,
    /// Events with it.
    pub count: i64,
}

/// A stored event's index fields (the payload is fetched separately).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventSummaryRow {
    /// 32 lowercase hex characters.
    pub event_id: String,
    /// Its project.
    pub project_id: i64,
    /// Its issue.
    pub issue_id: i64,
    /// When it happened (as sent).
    pub timestamp: DateTime<Utc>,
    /// When Lookout received it.
    pub received_at: DateTime<Utc>,
    /// Level.
    pub level: String,
    /// Release.
    pub release: Option<String>,
    /// Environment.
    pub environment: Option<String>,
    /// Title at the time.
    pub title: String,
}

/// An event with its full JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredEvent {
    /// Index fields.
    #[serde(flatten)]
    pub summary: EventSummaryRow,
    /// The event as sent by the SDK (scrubbed).
    pub event: serde_json::Value,
}

/// A release of a project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Release {
    /// Numeric id.
    pub id: i64,
    /// Its project.
    pub project_id: i64,
    /// The version string.
    pub version: String,
    /// When Lookout first heard of it.
    pub created_at: DateTime<Utc>,
    /// First event from it.
    pub first_seen: Option<DateTime<Utc>>,
    /// Latest event from it.
    pub last_seen: Option<DateTime<Utc>>,
    /// Set by `sentry-cli releases finalize`.
    pub date_released: Option<DateTime<Utc>>,
    /// Error events from it.
    pub event_count: i64,
    /// Issues first seen in it.
    pub new_issues: i64,
    /// Session counts for release health.
    pub sessions: SessionTotals,
    /// Deploys, newest first.
    pub deploys: Vec<Deploy>,
    /// Commits associated with it.
    pub commit_count: i64,
    /// VCS ref, when given.
    pub git_ref: Option<String>,
    /// A URL, when given.
    pub url: Option<String>,
}

/// Release-health counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct SessionTotals {
    /// Sessions started.
    pub total: i64,
    /// Sessions that saw a handled error.
    pub errored: i64,
    /// Sessions that crashed.
    pub crashed: i64,
    /// Sessions that ended abnormally.
    pub abnormal: i64,
    /// `1 - crashed/total`, or `None` without sessions.
    pub crash_free_rate: Option<f64>,
}

/// A deploy of a release to an environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deploy {
    /// Numeric id.
    pub id: i64,
    /// Environment.
    pub environment: String,
    /// Optional name.
    pub name: Option<String>,
    /// Optional URL.
    pub url: Option<String>,
    /// When it started.
    pub date_started: Option<DateTime<Utc>>,
    /// When it finished.
    pub date_finished: DateTime<Utc>,
}

/// A commit attached to a release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commit {
    /// The commit hash.
    pub id: String,
    /// Repository name.
    pub repository: Option<String>,
    /// Message.
    pub message: Option<String>,
    /// Author name.
    pub author_name: Option<String>,
    /// Author e-mail.
    pub author_email: Option<String>,
    /// Timestamp as given.
    pub timestamp: Option<String>,
}

/// A stored transaction (performance event).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransactionRow {
    /// 32 hex.
    pub event_id: String,
    /// Trace id.
    pub trace_id: Option<String>,
    /// Transaction name.
    pub transaction: String,
    /// Operation.
    pub op: Option<String>,
    /// Status.
    pub status: Option<String>,
    /// Start time.
    pub start: DateTime<Utc>,
    /// Duration.
    pub duration_ms: f64,
    /// Release.
    pub release: Option<String>,
    /// Environment.
    pub environment: Option<String>,
    /// Number of spans.
    pub span_count: i64,
}

/// A cron check-in as received.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckInRow {
    /// The SDK's check-in id.
    pub check_in_id: String,
    /// Monitor slug.
    pub monitor_slug: String,
    /// `in_progress`, `ok` or `error`.
    pub status: String,
    /// Duration in seconds, when finished.
    pub duration: Option<f64>,
    /// Environment.
    pub environment: Option<String>,
    /// Release.
    pub release: Option<String>,
    /// The monitor configuration sent with it.
    pub monitor_config: Option<serde_json::Value>,
    /// When it was received.
    pub received_at: DateTime<Utc>,
}

/// A log record from a `log` envelope item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogRow {
    /// Time.
    pub timestamp: DateTime<Utc>,
    /// Level.
    pub level: Option<String>,
    /// Message.
    pub body: String,
    /// Trace id.
    pub trace_id: Option<String>,
    /// Attributes.
    pub attributes: Option<serde_json::Value>,
}

/// User feedback about an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Feedback {
    /// The event it is about (32 hex), if any.
    pub event_id: Option<String>,
    /// Name given.
    pub name: Option<String>,
    /// E-mail given.
    pub email: Option<String>,
    /// What they wrote.
    pub comments: String,
    /// When it arrived.
    pub received_at: DateTime<Utc>,
}

/// Attachment metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentMeta {
    /// Numeric id.
    pub id: i64,
    /// Event it belongs to (32 hex).
    pub event_id: String,
    /// File name.
    pub filename: String,
    /// MIME type.
    pub content_type: Option<String>,
    /// Sentry attachment type.
    pub attachment_type: Option<String>,
    /// Size in bytes.
    pub size: i64,
}

/// Ingest outcomes counted per project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Stored.
    Accepted,
    /// Dropped by an inbound filter.
    Filtered,
    /// Over the project's quota.
    RateLimited,
    /// Malformed.
    Invalid,
    /// Over a size limit.
    TooLarge,
    /// Refused because the server was overloaded.
    Overloaded,
    /// Dropped by the SDK itself (from client reports).
    ClientDiscard,
}

impl Outcome {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Accepted => "accepted",
            Outcome::Filtered => "filtered",
            Outcome::RateLimited => "rate_limited",
            Outcome::Invalid => "invalid",
            Outcome::TooLarge => "too_large",
            Outcome::Overloaded => "overloaded",
            Outcome::ClientDiscard => "client_discard",
        }
    }
    /// Every outcome.
    pub const ALL: [Outcome; 7] = [
        Outcome::Accepted,
        Outcome::Filtered,
        Outcome::RateLimited,
        Outcome::Invalid,
        Outcome::TooLarge,
        Outcome::Overloaded,
        Outcome::ClientDiscard,
    ];
}

/// Counts of one hour bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutcomeCount {
    /// Start of the hour.
    pub bucket: DateTime<Utc>,
    /// The outcome.
    pub outcome: Outcome,
    /// Category (`error`, `transaction`, … or a client-discard reason).
    pub category: String,
    /// How many.
    pub quantity: i64,
}

// ---------------------------------------------------------------------------
// What ingest hands to storage.

/// One processed error event, ready to store.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// 16 bytes.
    pub event_id: [u8; 16],
    /// Grouping hash (32 hex).
    pub grouping_hash: String,
    /// Grouping algorithm version.
    pub grouping_version: String,
    /// Title.
    pub title: String,
    /// Culprit.
    pub culprit: String,
    /// Level.
    pub level: String,
    /// Exception type.
    pub exception_type: Option<String>,
    /// Platform.
    pub platform: Option<String>,
    /// When it happened (ms).
    pub timestamp_ms: i64,
    /// Release.
    pub release: Option<String>,
    /// Environment.
    pub environment: Option<String>,
    /// Distinct-user key.
    pub user_key: Option<String>,
    /// Trace id.
    pub trace_id: Option<String>,
    /// Tags (sorted, deduplicated).
    pub tags: Vec<(String, String)>,
    /// Dictionary the payload is compressed with (0 = none).
    pub dict_id: i64,
    /// zstd-compressed JSON.
    pub payload: Vec<u8>,
}

/// A transaction with its spans.
#[derive(Debug, Clone)]
pub struct NewTransaction {
    /// 16 bytes.
    pub event_id: [u8; 16],
    /// Index fields.
    pub row: TransactionRow,
    /// Spans: id, parent, op, description, status, start ms, duration ms.
    pub spans: Vec<NewSpan>,
    /// zstd-compressed JSON.
    pub payload: Vec<u8>,
}

/// One span of a transaction.
#[derive(Debug, Clone)]
pub struct NewSpan {
    /// Span id.
    pub span_id: String,
    /// Parent span id.
    pub parent_span_id: Option<String>,
    /// Operation.
    pub op: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Status.
    pub status: Option<String>,
    /// Start (ms).
    pub start_ms: i64,
    /// Duration.
    pub duration_ms: f64,
}

/// An attachment to store.
#[derive(Debug, Clone)]
pub struct NewAttachment {
    /// Event it belongs to.
    pub event_id: [u8; 16],
    /// File name.
    pub filename: String,
    /// MIME type.
    pub content_type: Option<String>,
    /// Sentry attachment type.
    pub attachment_type: Option<String>,
    /// The bytes.
    pub data: Vec<u8>,
}

/// A session update (release health).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionUpdate {
    /// Release.
    pub release: String,
    /// Environment (`production` when absent).
    pub environment: String,
    /// Start time (ms) — decides the hour bucket.
    pub started_ms: i64,
    /// New sessions started.
    pub total: i64,
    /// Sessions marked errored.
    pub errored: i64,
    /// Sessions crashed.
    pub crashed: i64,
    /// Sessions ended abnormally.
    pub abnormal: i64,
}

/// Everything one envelope produced, written atomically.
#[derive(Debug, Clone, Default)]
pub struct IngestBatch {
    /// The project.
    pub project_id: i64,
    /// When it arrived (ms).
    pub received_ms: i64,
    /// Error events.
    pub events: Vec<NewEvent>,
    /// Transactions.
    pub transactions: Vec<NewTransaction>,
    /// Attachments.
    pub attachments: Vec<NewAttachment>,
    /// Session updates.
    pub sessions: Vec<SessionUpdate>,
    /// Check-ins.
    pub check_ins: Vec<CheckInRow>,
    /// Log records.
    pub logs: Vec<LogRow>,
    /// Feedback (event id as 16 bytes when known).
    pub feedback: Vec<(Option<[u8; 16]>, Feedback)>,
    /// Outcome counts to add (outcome, category, quantity).
    pub outcomes: Vec<(Outcome, String, i64)>,
}

/// What happened to one event of an [`IngestBatch`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventResult {
    /// 32 hex.
    pub event_id: String,
    /// The issue it joined.
    pub issue_id: i64,
    /// Already stored before: nothing was counted.
    pub duplicate: bool,
    /// It created its issue.
    pub new_issue: bool,
    /// Life-cycle change it caused.
    pub transition: Transition,
}

/// Converts 16 bytes to 32 lowercase hex characters.
pub fn event_id_hex(id: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(32);
    for b in id {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 15) as usize] as char);
    }
    s
}

/// Parses an event id (32 hex, or a dashed UUID) into 16 bytes.
pub fn parse_event_id(s: &str) -> Option<[u8; 16]> {
    let mut out = [0u8; 16];
    let mut n = 0;
    let mut hi: Option<u8> = None;
    for c in s.bytes() {
        if c == b'-' {
            continue;
        }
        let v = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => return None,
        };
        match hi.take() {
            None => hi = Some(v),
            Some(h) => {
                if n == 16 {
                    return None;
                }
                out[n] = (h << 4) | v;
                n += 1;
            }
        }
    }
    (n == 16 && hi.is_none()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lc(status: IssueStatus) -> IssueLifecycle {
        IssueLifecycle {
            status,
            status_release: Some("1.0".into()),
            ignore_until_count: None,
            ignore_until_time: None,
            is_regression: false,
            regression_count: 0,
            event_count: 5,
        }
    }

    #[test]
    fn resolved_regresses_on_any_event() {
        let mut l = lc(IssueStatus::Resolved);
        assert_eq!(
            l.apply_event(0, ReleaseOrder::SameOrUnknown),
            Transition::Regressed
        );
        assert_eq!(l.status, IssueStatus::Unresolved);
        assert!(l.is_regression);
        assert_eq!(l.regression_count, 1);
        assert_eq!(l.event_count, 6);
    }

    #[test]
    fn resolved_in_next_release_needs_a_newer_release() {
        let mut l = lc(IssueStatus::ResolvedInNextRelease);
        assert_eq!(
            l.apply_event(0, ReleaseOrder::SameOrUnknown),
            Transition::None
        );
        assert_eq!(l.apply_event(0, ReleaseOrder::Older), Transition::None);
        assert_eq!(l.status, IssueStatus::ResolvedInNextRelease);
        assert_eq!(l.apply_event(0, ReleaseOrder::Newer), Transition::Regressed);
        assert_eq!(l.status, IssueStatus::Unresolved);
    }

    #[test]
    fn ignored_until_count_and_time() {
        let mut l = lc(IssueStatus::Ignored);
        l.ignore_until_count = Some(7); // 2 more events allowed
        assert_eq!(
            l.apply_event(0, ReleaseOrder::SameOrUnknown),
            Transition::None
        );
        assert_eq!(
            l.apply_event(0, ReleaseOrder::SameOrUnknown),
            Transition::None
        );
        assert_eq!(
            l.apply_event(0, ReleaseOrder::SameOrUnknown),
            Transition::Unignored
        );
        assert_eq!(l.status, IssueStatus::Unresolved);
        assert!(!l.is_regression);

        let mut l = lc(IssueStatus::Ignored);
        l.ignore_until_time = Some(1000);
        assert_eq!(
            l.apply_event(999, ReleaseOrder::SameOrUnknown),
            Transition::None
        );
        assert_eq!(
            l.apply_event(1001, ReleaseOrder::SameOrUnknown),
            Transition::Unignored
        );

        let mut l = lc(IssueStatus::Ignored); // forever
        for _ in 0..100 {
            assert_eq!(
                l.apply_event(i64::MAX, ReleaseOrder::Newer),
                Transition::None
            );
        }
    }

    #[test]
    fn event_ids_round_trip() {
        let id = parse_event_id("4896a11f-1962-4a2b-9c8d-46e6805006e0").unwrap();
        assert_eq!(event_id_hex(&id), "4896a11f19624a2b9c8d46e6805006e0");
        assert!(parse_event_id("xyz").is_none());
        assert!(parse_event_id("4896a11f19624a2b9c8d46e6805006e").is_none());
        assert!(parse_event_id("4896a11f19624a2b9c8d46e6805006e000").is_none());
    }
}
