//! The conformance suite: behaviour every [`Store`] backend must show.
//!
//! A backend's tests call [`run_all`] on a fresh, migrated store. The
//! SQLite backend runs it in its unit tests; the PostgreSQL backend will run
//! it when a test database URL is set. Each check panics with a message
//! naming the rule that was broken.
//!
//! Every check creates its own projects and assumes nothing about the rest
//! of the store, so the checks can run in any order on one shared store.
//! Times are fixed (around [`T0`]) so hour buckets and orderings are exact;
//! event ids are random UUIDs.

pub mod access;
pub mod alerts;
pub mod monitors;
pub mod overview;
pub mod telegram;

use crate::{
    IssueQuery, IssueSort, NewApiToken, NewDeploy, NewProject, NewUser, ReleaseUpdate,
    RetentionReport, StorageError, Store,
};
use chrono::{DateTime, Utc};
use lookout_model::TokenScope;
use lookout_model::errors::{
    CheckInRow, Commit, EventResult, Feedback, IngestBatch, Issue, IssueStatus, LogRow,
    NewAttachment, NewEvent, NewSpan, NewTransaction, Outcome, SessionUpdate, StatusChange,
    TagSummary, TagValueCount, TransactionRow, Transition, event_id_hex,
};
use lookout_model::settings::{InboundFilters, ProjectSettings};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Runs every check against `store`, which must be freshly migrated and
/// empty.
pub async fn run_all(store: &dyn Store) {
    sessions_live_until_they_expire_or_end(store).await;
    migrations_are_current(store).await;
    probe_write_succeeds(store).await;
    projects_get_unique_slugs_and_a_key(store).await;
    users_are_unique_case_insensitively(store).await;
    tokens_authenticate_by_hash_only(store).await;

    events_with_one_grouping_hash_form_one_issue(store).await;
    duplicate_event_ids_are_stored_and_counted_once(store).await;
    resolved_issues_regress_on_the_next_event(store).await;
    resolved_in_next_release_waits_for_a_newer_release(store).await;
    ignored_issues_reopen_after_their_limit(store).await;
    issue_lists_filter_sort_and_page(store).await;
    issue_events_page_newest_first_and_keep_their_json(store).await;
    releases_track_events_commits_deploys_and_sessions(store).await;
    transactions_are_listed_with_their_spans(store).await;
    check_ins_and_logs_round_trip(store).await;
    attachments_keep_their_bytes(store).await;
    feedback_joins_its_issue_through_the_event_id(store).await;
    outcomes_are_summed_per_hour_outcome_and_category(store).await;
    settings_default_and_round_trip(store).await;
    retention_deletes_old_data_within_budget(store).await;
    retention_budget_caps_age_and_count_together(store).await;
    dictionaries_round_trip_and_payloads_decompress(store).await;
    a_failing_envelope_does_not_sink_concurrent_ones(store).await;

    access::run_all(store).await;
    system_events_round_trip_and_expire(store).await;
    overview::run_all(store).await;
    monitors::run_all(store).await;
    alerts::run_all(store).await;
    telegram::run_all(store).await;
}

async fn system_events_round_trip_and_expire(store: &dyn Store) {
    use crate::{Severity, Signal, SystemEvent};
    let old = chrono::Utc::now() - chrono::Duration::days(400);
    for (at, kind) in [
        (old, "backup.failed"),
        (chrono::Utc::now(), "backup.succeeded"),
    ] {
        store
            .record_system_event(SystemEvent {
                id: 0,
                at,
                kind: kind.into(),
                severity: Severity::High,
                message: format!("{kind} for the test"),
                details: Some(serde_json::json!({"name": "b1"})),
            })
            .await
            .expect("record_system_event");
    }
    let list = store.list_system_events(10).await.expect("list");
    assert!(list.len() >= 2);
    assert_eq!(list[0].kind, "backup.succeeded", "newest first");
    assert_eq!(list[0].details, Some(serde_json::json!({"name": "b1"})));
    let cutoff = (chrono::Utc::now() - chrono::Duration::days(300)).timestamp_millis();
    let n = store
        .enforce_signal_retention(Signal::SystemEvents, cutoff, 100)
        .await
        .expect("retention");
    assert_eq!(n, 1);
    assert!(
        store
            .list_system_events(10)
            .await
            .unwrap()
            .iter()
            .all(|e| e.kind != "backup.failed")
    );
    let usage = store.storage_usage().await.expect("usage");
    assert!(usage.by_signal.iter().any(|(s, b)| s == "events" && *b > 0));
    assert!(store.integrity_check().await.expect("check").is_empty());
}

async fn migrations_are_current(store: &dyn Store) {
    let st = store.migration_status().await.expect("migration_status");
    assert_eq!(st.current, st.latest, "a fresh store is fully migrated");
    assert!(st.pending.is_empty());
    let hist = store.migration_history().await.expect("history");
    assert_eq!(
        hist.last().map(|m| m.version),
        Some(st.latest),
        "history lists the latest version"
    );
}

async fn probe_write_succeeds(store: &dyn Store) {
    store.probe_write().await.expect("probe_write");
    store
        .probe_write()
        .await
        .expect("probe_write is repeatable");
}

async fn projects_get_unique_slugs_and_a_key(store: &dyn Store) {
    let (a, ka) = store
        .create_project(NewProject {
            name: "Shop Bot".into(),
        })
        .await
        .expect("create project");
    let (b, _) = store
        .create_project(NewProject {
            name: "shop bot".into(),
        })
        .await
        .expect("create second project");
    assert_eq!(a.slug, "shop-bot");
    assert_eq!(b.slug, "shop-bot-2", "slugs are made unique");
    assert_eq!(ka.project_id, a.id);
    assert_eq!(ka.public_key.len(), 32);
    assert!(ka.public_key.chars().all(|c| c.is_ascii_hexdigit()));
    let found = store
        .find_project_key(&ka.public_key)
        .await
        .unwrap()
        .expect("key found");
    assert_eq!(found, ka);
    assert!(store.find_project_key("nope").await.unwrap().is_none());
    let keys = store.project_keys(a.id).await.unwrap();
    assert_eq!(keys, vec![ka]);
    let listed = store.list_projects().await.unwrap();
    assert!(listed.iter().any(|p| p.id == a.id) && listed.iter().any(|p| p.id == b.id));
    assert_eq!(store.get_project(a.id).await.unwrap(), Some(a));
    assert_eq!(store.get_project(-1).await.unwrap(), None);
    assert!(
        store
            .create_project(NewProject { name: "  ".into() })
            .await
            .is_err(),
        "blank names are refused"
    );
}

async fn users_are_unique_case_insensitively(store: &dyn Store) {
    let u = store
        .create_user(NewUser {
            email: "Ada@example.com".into(),
            password_hash: "$argon2id$fake".into(),
            is_admin: true,
        })
        .await
        .expect("create user");
    assert!(u.is_admin);
    let dup = store
        .create_user(NewUser {
            email: "ada@EXAMPLE.com".into(),
            password_hash: "x".into(),
            is_admin: false,
        })
        .await;
    assert!(
        matches!(dup, Err(StorageError::Conflict(_))),
        "duplicate e-mail is a Conflict, got {dup:?}"
    );
    let (found, hash) = store
        .find_user_by_email("ada@example.com")
        .await
        .unwrap()
        .expect("found by e-mail regardless of case");
    assert_eq!(found.id, u.id);
    assert_eq!(hash, "$argon2id$fake");
}

async fn tokens_authenticate_by_hash_only(store: &dyn Store) {
    let t = store
        .create_api_token(NewApiToken {
            user_id: None,
            name: "ci".into(),
            scope: TokenScope::ReadWrite,
            token_hash: "a".repeat(64),
            prefix: "lkt_abcd".into(),
        })
        .await
        .expect("create token");
    assert_eq!(t.scope, TokenScope::ReadWrite);
    let now = Utc::now();
    let ok = store
        .authenticate_api_token(&"a".repeat(64), now)
        .await
        .unwrap();
    assert_eq!(ok.map(|x| x.id), Some(t.id));
    let bad = store
        .authenticate_api_token(&"b".repeat(64), now)
        .await
        .unwrap();
    assert!(bad.is_none(), "an unknown hash authenticates nothing");
}

// ---------------------------------------------------------------------------
// Error tracking: helpers.

const SEC: i64 = 1_000;
const MIN: i64 = 60 * SEC;
const HOUR: i64 = 60 * MIN;
const DAY: i64 = 24 * HOUR;
/// An hour number (hours since the epoch): 2025-06-15T01:00Z.
const H0: i64 = 486_111;
/// The start of hour [`H0`] in ms; every fixed time in the suite is near it.
const T0: i64 = H0 * HOUR;

fn at(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).expect("a valid time")
}

fn s(v: &str) -> Option<String> {
    Some(v.to_string())
}

/// A 32-hex grouping hash derived from a readable name.
fn gh(name: &str) -> String {
    hex::encode(&Sha256::digest(name.as_bytes())[..16])
}

fn new_id() -> [u8; 16] {
    *uuid::Uuid::new_v4().as_bytes()
}

/// zstd without a dictionary (dict_id 0), as ingest stores payloads.
fn zjson(v: &Value) -> Vec<u8> {
    let bytes = serde_json::to_vec(v).expect("serialise JSON");
    crate::codec::compress(&bytes, None)
        .expect("compress payload")
        .1
}

/// Sorted, deduplicated tags, as ingest hands them over.
fn tags(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut t: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    t.sort();
    t.dedup();
    t
}

/// The JSON payload [`new_event`] stores for an event.
fn event_json(event_id: &[u8; 16], name: &str) -> Value {
    json!({
        "event_id": event_id_hex(event_id),
        "level": "error",
        "platform": "python",
        "exception": {"values": [{"type": "ValueError", "value": name}]},
    })
}

/// An error event of fingerprint `name` at `ts`, with a fresh event id.
fn new_event(name: &str, ts: i64) -> NewEvent {
    let event_id = new_id();
    NewEvent {
        event_id,
        grouping_hash: gh(name),
        grouping_version: "conformance:1".into(),
        title: format!("ValueError: {name}"),
        culprit: format!("handle in app.{name}"),
        level: "error".into(),
        exception_type: s("ValueError"),
        platform: s("python"),
        timestamp_ms: ts,
        release: None,
        environment: None,
        user_key: None,
        trace_id: None,
        tags: Vec::new(),
        dict_id: 0,
        payload: zjson(&event_json(&event_id, name)),
    }
}

fn batch(project_id: i64, received_ms: i64) -> IngestBatch {
    IngestBatch {
        project_id,
        received_ms,
        ..Default::default()
    }
}

async fn new_project(store: &dyn Store, name: &str) -> i64 {
    store
        .create_project(NewProject { name: name.into() })
        .await
        .expect("create project")
        .0
        .id
}

async fn ingest_events(
    store: &dyn Store,
    project_id: i64,
    received_ms: i64,
    events: Vec<NewEvent>,
) -> Vec<EventResult> {
    let ids: Vec<String> = events.iter().map(|e| event_id_hex(&e.event_id)).collect();
    let r = store
        .ingest(IngestBatch {
            events,
            ..batch(project_id, received_ms)
        })
        .await
        .expect("ingest");
    let got: Vec<&str> = r.iter().map(|x| x.event_id.as_str()).collect();
    assert_eq!(
        got, ids,
        "ingest returns one result per event, in order, naming the event id in hex"
    );
    r
}

async fn ingest_one(
    store: &dyn Store,
    project_id: i64,
    received_ms: i64,
    e: NewEvent,
) -> EventResult {
    ingest_events(store, project_id, received_ms, vec![e])
        .await
        .remove(0)
}

async fn issue(store: &dyn Store, id: i64) -> Issue {
    store
        .get_issue(id)
        .await
        .expect("get_issue")
        .unwrap_or_else(|| panic!("issue {id} exists"))
}

fn status(status: IssueStatus) -> StatusChange {
    StatusChange {
        status,
        ignore_count: None,
        ignore_until: None,
    }
}

fn query(limit: usize) -> IssueQuery {
    IssueQuery {
        limit,
        ..Default::default()
    }
}

/// Follows `next_cursor` until the last page; returns every item in order.
async fn all_pages(store: &dyn Store, project_id: i64, q: IssueQuery) -> Vec<Issue> {
    let mut out = Vec::new();
    let mut cursor = None;
    for _ in 0..1000 {
        let page = store
            .list_issues(
                project_id,
                IssueQuery {
                    cursor: cursor.take(),
                    ..q.clone()
                },
            )
            .await
            .expect("list_issues");
        assert!(
            page.items.len() <= q.limit,
            "a page holds at most `limit` issues ({} > {})",
            page.items.len(),
            q.limit
        );
        out.extend(page.items);
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return out,
        }
    }
    panic!("issue paging never ends");
}

fn ids(issues: &[Issue]) -> Vec<i64> {
    issues.iter().map(|i| i.id).collect()
}

fn sorted(mut v: Vec<i64>) -> Vec<i64> {
    v.sort_unstable();
    v
}

fn by_key(mut t: Vec<TagSummary>) -> Vec<TagSummary> {
    t.sort_by(|a, b| a.key.cmp(&b.key));
    t
}

fn tag(key: &str, total: i64, top: &[(&str, i64)]) -> TagSummary {
    TagSummary {
        key: key.into(),
        total,
        top: top
            .iter()
            .map(|(v, n)| TagValueCount {
                value: v.to_string(),
                count: *n,
            })
            .collect(),
    }
}

// ---------------------------------------------------------------------------
// Error tracking: checks.

async fn events_with_one_grouping_hash_form_one_issue(store: &dyn Store) {
    let p = new_project(store, "conformance grouping").await;
    let e1 = NewEvent {
        level: "warning".into(),
        title: "KeyError: 'a'".into(),
        user_key: s("user:1"),
        release: s("1.0"),
        environment: s("production"),
        tags: tags(&[
            ("browser", "Firefox"),
            ("environment", "production"),
            ("release", "1.0"),
        ]),
        ..new_event("grouping", T0 + 10 * MIN)
    };
    let e2 = NewEvent {
        level: "error".into(),
        title: "KeyError: 'b'".into(),
        user_key: s("user:1"),
        release: s("1.0"),
        environment: s("production"),
        tags: tags(&[
            ("browser", "Chrome"),
            ("environment", "production"),
            ("release", "1.0"),
        ]),
        ..new_event("grouping", T0 + 20 * MIN)
    };
    let r = ingest_events(store, p, T0 + 21 * MIN, vec![e1.clone(), e2.clone()]).await;
    assert!(
        r[0].new_issue,
        "the first event of a grouping hash creates an issue"
    );
    assert!(
        !r[1].new_issue,
        "a later event with the same grouping hash joins the issue (same envelope)"
    );
    assert_eq!(
        r[1].issue_id, r[0].issue_id,
        "events with the same grouping hash share one issue"
    );
    assert!(
        !r[0].duplicate && !r[1].duplicate,
        "new event ids are not duplicates"
    );
    assert_eq!(
        (r[0].transition, r[1].transition),
        (Transition::None, Transition::None),
        "events on an unresolved issue cause no transition"
    );
    let id = r[0].issue_id;
    let i = issue(store, id).await;
    assert_eq!(i.project_id, p, "the issue belongs to the event's project");
    assert_eq!(i.count, 2, "count is the number of events");
    assert_eq!(
        i.user_count, 1,
        "two events of the same user count one user"
    );
    assert_eq!(
        i.first_seen,
        at(e1.timestamp_ms),
        "first_seen is the first event's time"
    );
    assert_eq!(
        i.last_seen,
        at(e2.timestamp_ms),
        "last_seen is the latest event's time"
    );
    assert_eq!(i.level, "error", "level is the latest event's level");
    assert_eq!(
        i.title, "KeyError: 'b'",
        "title is the latest event's title"
    );
    assert_eq!(
        i.status,
        IssueStatus::Unresolved,
        "a new issue is unresolved"
    );
    assert_eq!(i.grouping_hash, gh("grouping"));
    assert_eq!(i.grouping_version, "conformance:1");
    assert_eq!(i.exception_type.as_deref(), Some("ValueError"));
    assert_eq!(i.platform.as_deref(), Some("python"));
    assert_eq!(i.culprit, "handle in app.grouping");
    assert_eq!(i.first_release.as_deref(), Some("1.0"));
    assert_eq!(i.last_release.as_deref(), Some("1.0"));
    assert!(!i.is_regression && i.regression_count == 0);

    let e3 = NewEvent {
        level: "fatal".into(),
        title: "KeyError: 'c'".into(),
        user_key: s("user:2"),
        release: s("1.1"),
        environment: s("staging"),
        tags: tags(&[
            ("browser", "Firefox"),
            ("environment", "staging"),
            ("release", "1.1"),
        ]),
        ..new_event("grouping", T0 + 70 * MIN)
    };
    let r3 = ingest_one(store, p, T0 + 71 * MIN, e3.clone()).await;
    assert_eq!(r3.issue_id, id, "a later envelope joins the same issue");
    assert!(!r3.new_issue, "new_issue is true only for the first event");
    let i = issue(store, id).await;
    assert_eq!(i.count, 3);
    assert_eq!(i.user_count, 2, "another user makes two distinct users");
    assert_eq!(i.level, "fatal", "level follows the latest event");
    assert_eq!(i.title, "KeyError: 'c'", "title follows the latest event");
    assert_eq!(
        i.last_release.as_deref(),
        Some("1.1"),
        "last_release follows the latest event"
    );
    assert_eq!(
        i.first_release.as_deref(),
        Some("1.0"),
        "first_release stays"
    );

    let e4 = NewEvent {
        title: "KeyError: 'd'".into(),
        release: s("1.0"),
        environment: s("production"),
        tags: tags(&[
            ("browser", "Firefox"),
            ("environment", "production"),
            ("release", "1.0"),
        ]),
        ..new_event("grouping", T0 + 75 * MIN)
    };
    let r4 = ingest_one(store, p, T0 + 76 * MIN, e4.clone()).await;
    assert!(!r4.new_issue && r4.issue_id == id);
    let i = issue(store, id).await;
    assert_eq!(i.count, 4);
    assert_eq!(i.user_count, 2, "an event without a user adds no user");
    assert_eq!(i.first_seen, at(e1.timestamp_ms));
    assert_eq!(i.last_seen, at(e4.timestamp_ms));
    assert_eq!(
        (i.level.as_str(), i.title.as_str()),
        ("error", "KeyError: 'd'")
    );

    // A user already counted by an earlier envelope is not counted again.
    let e5 = NewEvent {
        user_key: s("user:2"),
        ..new_event("grouping", T0 + 77 * MIN)
    };
    ingest_one(store, p, T0 + 78 * MIN, e5).await;
    let i = issue(store, id).await;
    assert_eq!(i.count, 5);
    assert_eq!(
        i.user_count, 2,
        "user_count counts distinct users across envelopes"
    );

    let t = by_key(store.issue_tags(id, 10).await.expect("issue_tags"));
    assert_eq!(
        t,
        vec![
            tag("browser", 4, &[("Firefox", 3), ("Chrome", 1)]),
            tag("environment", 4, &[("production", 3), ("staging", 1)]),
            tag("release", 4, &[("1.0", 3), ("1.1", 1)]),
        ],
        "issue_tags counts each value per event, most frequent first, total over all values"
    );
    let t = by_key(store.issue_tags(id, 1).await.expect("issue_tags"));
    assert_eq!(
        t,
        vec![
            tag("browser", 4, &[("Firefox", 3)]),
            tag("environment", 4, &[("production", 3)]),
            tag("release", 4, &[("1.0", 3)]),
        ],
        "top_n limits the values listed, not the total"
    );

    assert_eq!(
        store.issue_hourly(id, H0 - 5).await.expect("issue_hourly"),
        vec![(H0, 2), (H0 + 1, 3)],
        "issue_hourly counts events per hour (hours since the epoch), oldest first"
    );
    assert_eq!(
        store.issue_hourly(id, H0 + 1).await.expect("issue_hourly"),
        vec![(H0 + 1, 3)],
        "issue_hourly starts at since_hour"
    );

    let other = ingest_one(
        store,
        p,
        T0 + 80 * MIN,
        new_event("grouping-other", T0 + 80 * MIN),
    )
    .await;
    assert!(
        other.new_issue,
        "a different grouping hash creates a second issue"
    );
    assert_ne!(other.issue_id, id);
    assert_eq!(
        issue(store, id).await.count,
        5,
        "the first issue is not counted"
    );
    assert_eq!(issue(store, other.issue_id).await.count, 1);
    let listed = store.list_issues(p, query(10)).await.expect("list_issues");
    assert_eq!(sorted(ids(&listed.items)), sorted(vec![id, other.issue_id]));

    // The same grouping hash in another project is another issue.
    let q = new_project(store, "conformance grouping elsewhere").await;
    let r = ingest_one(store, q, T0, new_event("grouping", T0)).await;
    assert!(
        r.new_issue,
        "issues are per project: the same hash elsewhere is a new issue"
    );
    assert_ne!(r.issue_id, id);
    assert_eq!(issue(store, id).await.count, 5);

    assert!(
        store.get_issue(-1).await.expect("get_issue").is_none(),
        "unknown issue: None"
    );
}

async fn duplicate_event_ids_are_stored_and_counted_once(store: &dyn Store) {
    let p = new_project(store, "conformance duplicates").await;
    let x = NewEvent {
        user_key: s("user:1"),
        release: s("1.0"),
        tags: tags(&[("environment", "production")]),
        ..new_event("dup", T0 + MIN)
    };
    let r = ingest_events(store, p, T0 + MIN, vec![x.clone(), x.clone()]).await;
    assert!(!r[0].duplicate, "the first copy is stored");
    assert!(
        r[1].duplicate,
        "the same event_id twice in one envelope is a duplicate"
    );
    assert_eq!(
        r[1].issue_id, r[0].issue_id,
        "a duplicate names the stored event's issue"
    );
    assert!(!r[1].new_issue, "a duplicate never creates an issue");
    assert_eq!(
        r[1].transition,
        Transition::None,
        "a duplicate causes no transition"
    );
    let id = r[0].issue_id;
    assert_eq!(
        issue(store, id).await.count,
        1,
        "a duplicate is not counted"
    );

    // Across envelopes, even when it now claims another grouping hash.
    let again = NewEvent {
        grouping_hash: gh("dup-elsewhere"),
        timestamp_ms: T0 + 30 * MIN,
        ..x.clone()
    };
    let y = new_event("dup", T0 + 2 * MIN);
    let r = ingest_events(store, p, T0 + 30 * MIN, vec![again, y.clone()]).await;
    assert!(
        r[0].duplicate,
        "an event_id stored by an earlier envelope is a duplicate"
    );
    assert_eq!(r[0].issue_id, id);
    assert!(!r[1].duplicate && r[1].issue_id == id);
    let i = issue(store, id).await;
    assert_eq!(i.count, 2, "duplicates leave the count unchanged");
    assert_eq!(i.user_count, 1);
    assert_eq!(
        i.last_seen,
        at(T0 + 2 * MIN),
        "a duplicate does not move last_seen"
    );
    let all = store.list_issues(p, query(10)).await.expect("list_issues");
    assert_eq!(
        ids(&all.items),
        vec![id],
        "a duplicate creates no issue, whatever its hash"
    );
    let events = store
        .issue_events(id, 10, None)
        .await
        .expect("issue_events");
    assert_eq!(events.items.len(), 2, "a duplicate is stored once");
    assert_eq!(
        by_key(store.issue_tags(id, 10).await.expect("issue_tags")),
        vec![tag("environment", 1, &[("production", 1)])],
        "a duplicate's tags are not counted"
    );
    assert_eq!(
        store.issue_hourly(id, H0).await.expect("issue_hourly"),
        vec![(H0, 2)],
        "a duplicate is not counted per hour"
    );
    let rel = store
        .get_release(p, "1.0")
        .await
        .expect("get_release")
        .expect("release 1.0");
    assert_eq!(
        rel.event_count, 1,
        "a duplicate is not counted for its release"
    );

    let r = ingest_one(store, p, T0 + 40 * MIN, x.clone()).await;
    assert!(r.duplicate, "resending an envelope is harmless");
    assert_eq!(issue(store, id).await.count, 2);
}

async fn resolved_issues_regress_on_the_next_event(store: &dyn Store) {
    let p = new_project(store, "conformance regression").await;
    let id = ingest_one(store, p, T0, new_event("regress", T0))
        .await
        .issue_id;
    let i = store
        .set_issue_status(id, status(IssueStatus::Resolved))
        .await
        .expect("set_issue_status");
    assert_eq!(
        i.status,
        IssueStatus::Resolved,
        "set_issue_status returns the updated issue"
    );
    assert_eq!(
        issue(store, id).await.status,
        IssueStatus::Resolved,
        "the status is stored"
    );

    let r = ingest_one(store, p, T0 + MIN, new_event("regress", T0 + MIN)).await;
    assert_eq!(
        r.transition,
        Transition::Regressed,
        "an event on a resolved issue regresses it"
    );
    let i = issue(store, id).await;
    assert_eq!(
        i.status,
        IssueStatus::Unresolved,
        "a regression reopens the issue"
    );
    assert!(i.is_regression, "a regressed issue is flagged");
    assert_eq!(i.regression_count, 1);
    assert_eq!(i.count, 2, "the regressing event is counted");

    let r = ingest_one(store, p, T0 + 2 * MIN, new_event("regress", T0 + 2 * MIN)).await;
    assert_eq!(
        r.transition,
        Transition::None,
        "only the first event after resolving regresses"
    );
    assert_eq!(issue(store, id).await.regression_count, 1);

    let i = store
        .set_issue_status(id, status(IssueStatus::Resolved))
        .await
        .expect("resolve again");
    assert!(!i.is_regression, "resolving clears the regression flag");
    assert_eq!(
        i.regression_count, 1,
        "resolving keeps the regression count"
    );
    let r = ingest_events(
        store,
        p,
        T0 + 3 * MIN,
        vec![
            new_event("regress", T0 + 3 * MIN),
            new_event("regress", T0 + 3 * MIN),
        ],
    )
    .await;
    assert_eq!(
        (r[0].transition, r[1].transition),
        (Transition::Regressed, Transition::None),
        "in one envelope only the first event regresses"
    );
    let i = issue(store, id).await;
    assert!(i.is_regression && i.status == IssueStatus::Unresolved);
    assert_eq!(i.regression_count, 2, "each regression is counted");
    assert_eq!(i.count, 5);

    let err = store
        .set_issue_status(-1, status(IssueStatus::Resolved))
        .await;
    assert!(
        matches!(err, Err(StorageError::NotFound(_))),
        "changing the status of an unknown issue is NotFound, got {err:?}"
    );
}

async fn resolved_in_next_release_waits_for_a_newer_release(store: &dyn Store) {
    let p = new_project(store, "conformance next release").await;
    // 0.9 is known before 1.0, so it is the older release.
    let (_, created) = store
        .upsert_release(p, "0.9", ReleaseUpdate::default())
        .await
        .expect("upsert_release");
    assert!(created);
    let ev = |release: Option<&str>, ts: i64| NewEvent {
        release: release.map(str::to_string),
        ..new_event("next-release", ts)
    };
    let id = ingest_one(store, p, T0, ev(Some("1.0"), T0)).await.issue_id;
    let i = store
        .set_issue_status(id, status(IssueStatus::ResolvedInNextRelease))
        .await
        .expect("set_issue_status");
    assert_eq!(i.status, IssueStatus::ResolvedInNextRelease);
    assert_eq!(
        i.status_release.as_deref(),
        Some("1.0"),
        "the release current at resolve time is the issue's latest release"
    );

    for (k, release, why) in [
        (
            1,
            Some("1.0"),
            "an event from the same release keeps it resolved",
        ),
        (
            2,
            Some("0.9"),
            "an event from an older release keeps it resolved",
        ),
        (3, None, "an event without a release keeps it resolved"),
    ] {
        let r = ingest_one(store, p, T0 + k * MIN, ev(release, T0 + k * MIN)).await;
        assert_eq!(r.transition, Transition::None, "{why}");
        let i = issue(store, id).await;
        assert_eq!(i.status, IssueStatus::ResolvedInNextRelease, "{why}");
        assert_eq!(i.count, 1 + k, "{why}: the event is still counted");
    }

    let r = ingest_one(store, p, T0 + 10 * MIN, ev(Some("2.0"), T0 + 10 * MIN)).await;
    assert_eq!(
        r.transition,
        Transition::Regressed,
        "an event from a release created later regresses the issue"
    );
    let i = issue(store, id).await;
    assert_eq!(i.status, IssueStatus::Unresolved);
    assert!(i.is_regression);
    assert_eq!(i.regression_count, 1);
    assert_eq!(
        i.status_release, None,
        "a regression clears the resolve release"
    );

    // An issue whose events carry no release: the project's newest release
    // (2.0) is the one current at resolve time.
    let other = ingest_one(
        store,
        p,
        T0 + 11 * MIN,
        new_event("no-release", T0 + 11 * MIN),
    )
    .await
    .issue_id;
    let i = store
        .set_issue_status(other, status(IssueStatus::ResolvedInNextRelease))
        .await
        .expect("set_issue_status");
    assert_eq!(
        i.status_release.as_deref(),
        Some("2.0"),
        "without a release of its own, the project's newest release is current"
    );
    let r = ingest_one(
        store,
        p,
        T0 + 12 * MIN,
        NewEvent {
            release: s("2.0"),
            ..new_event("no-release", T0 + 12 * MIN)
        },
    )
    .await;
    assert_eq!(
        r.transition,
        Transition::None,
        "the current release keeps it resolved"
    );
    let r = ingest_one(
        store,
        p,
        T0 + 13 * MIN,
        NewEvent {
            release: s("3.0"),
            ..new_event("no-release", T0 + 13 * MIN)
        },
    )
    .await;
    assert_eq!(
        r.transition,
        Transition::Regressed,
        "a newer release regresses it"
    );
}

async fn ignored_issues_reopen_after_their_limit(store: &dyn Store) {
    let p = new_project(store, "conformance ignore").await;

    // Until N more events.
    let id = ingest_one(store, p, T0, new_event("ignore-count", T0))
        .await
        .issue_id;
    let i = store
        .set_issue_status(
            id,
            StatusChange {
                status: IssueStatus::Ignored,
                ignore_count: Some(2),
                ignore_until: None,
            },
        )
        .await
        .expect("ignore");
    assert_eq!(i.status, IssueStatus::Ignored);
    assert_eq!(
        i.ignore_until_count,
        Some(3),
        "ignore_until_count is the current count plus ignore_count"
    );
    for k in 1..=2 {
        let r = ingest_one(
            store,
            p,
            T0 + k * MIN,
            new_event("ignore-count", T0 + k * MIN),
        )
        .await;
        assert_eq!(
            r.transition,
            Transition::None,
            "the {k}th of 2 allowed events keeps it ignored"
        );
        assert_eq!(issue(store, id).await.status, IssueStatus::Ignored);
    }
    let r = ingest_one(
        store,
        p,
        T0 + 3 * MIN,
        new_event("ignore-count", T0 + 3 * MIN),
    )
    .await;
    assert_eq!(
        r.transition,
        Transition::Unignored,
        "the event past the limit unignores it"
    );
    let i = issue(store, id).await;
    assert_eq!(
        i.status,
        IssueStatus::Unresolved,
        "an unignored issue is unresolved"
    );
    assert!(!i.is_regression, "unignoring is not a regression");
    assert_eq!(i.ignore_until_count, None, "unignoring clears the limit");
    assert_eq!(i.count, 4);

    // Forever.
    let forever = ingest_one(store, p, T0, new_event("ignore-forever", T0))
        .await
        .issue_id;
    store
        .set_issue_status(forever, status(IssueStatus::Ignored))
        .await
        .expect("ignore forever");
    let r = ingest_events(
        store,
        p,
        T0 + MIN,
        (0..5)
            .map(|k| new_event("ignore-forever", T0 + k * SEC))
            .collect(),
    )
    .await;
    assert!(
        r.iter().all(|x| x.transition == Transition::None),
        "an issue ignored without a limit stays ignored"
    );
    let i = issue(store, forever).await;
    assert_eq!(i.status, IssueStatus::Ignored);
    assert_eq!(i.count, 6, "events of an ignored issue are counted");

    // Until a time.
    let timed = ingest_one(store, p, T0, new_event("ignore-time", T0))
        .await
        .issue_id;
    let i = store
        .set_issue_status(
            timed,
            StatusChange {
                status: IssueStatus::Ignored,
                ignore_count: None,
                ignore_until: Some(at(T0 + HOUR)),
            },
        )
        .await
        .expect("ignore until");
    assert_eq!(
        i.ignore_until,
        Some(at(T0 + HOUR)),
        "ignore_until is stored"
    );
    let r = ingest_one(
        store,
        p,
        T0 + 30 * MIN,
        new_event("ignore-time", T0 + 30 * MIN),
    )
    .await;
    assert_eq!(
        r.transition,
        Transition::None,
        "an event before ignore_until keeps it ignored"
    );
    let r = ingest_one(
        store,
        p,
        T0 + 2 * HOUR,
        new_event("ignore-time", T0 + 2 * HOUR),
    )
    .await;
    assert_eq!(
        r.transition,
        Transition::Unignored,
        "an event after ignore_until unignores it"
    );
    assert_eq!(issue(store, timed).await.status, IssueStatus::Unresolved);

    // Unresolving by hand clears any limits.
    let i = store
        .set_issue_status(
            forever,
            StatusChange {
                status: IssueStatus::Ignored,
                ignore_count: Some(10),
                ignore_until: Some(at(T0 + DAY)),
            },
        )
        .await
        .expect("ignore with limits");
    assert!(i.ignore_until_count.is_some() && i.ignore_until.is_some());
    let i = store
        .set_issue_status(forever, status(IssueStatus::Unresolved))
        .await
        .expect("unresolve");
    assert_eq!(i.status, IssueStatus::Unresolved);
    assert_eq!(
        (i.ignore_until_count, i.ignore_until),
        (None, None),
        "unresolving clears ignore limits"
    );
}

/// name, title, level, environment, release, and events as (minute, user).
type PlannedIssue = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static [(i64, Option<&'static str>)],
);

async fn issue_lists_filter_sort_and_page(store: &dyn Store) {
    let p = new_project(store, "conformance issue list").await;
    let plan: [PlannedIssue; 5] = [
        (
            "list-1",
            "ValueError: bad input",
            "error",
            "production",
            "1.0",
            &[(1, Some("u1")), (50, Some("u1"))],
        ),
        (
            "list-2",
            "TimeoutError: read timed out",
            "warning",
            "staging",
            "1.0",
            &[
                (2, Some("u1")),
                (4, Some("u2")),
                (6, Some("u3")),
                (10, Some("u3")),
            ],
        ),
        (
            "list-3",
            "KeyError: 'user_id'",
            "error",
            "production",
            "2.0",
            &[(40, None)],
        ),
        (
            "list-4",
            "ZeroDivisionError: division by zero",
            "error",
            "production",
            "2.0",
            &[(4, Some("u1")), (8, Some("u2")), (30, Some("u2"))],
        ),
        (
            "list-5",
            "ValueError: bad date",
            "error",
            "production",
            "2.0",
            &[(5, Some("u9")), (20, Some("u9"))],
        ),
    ];
    let mut id = Vec::new();
    for (name, title, level, env, release, events) in plan {
        let evs: Vec<NewEvent> = events
            .iter()
            .map(|(m, user)| NewEvent {
                title: title.into(),
                level: level.into(),
                environment: s(env),
                release: s(release),
                user_key: user.map(str::to_string),
                tags: tags(&[("environment", env), ("release", release)]),
                ..new_event(name, T0 + m * MIN)
            })
            .collect();
        let r = ingest_events(store, p, T0 + HOUR, evs).await;
        id.push(r[0].issue_id);
    }
    let [i1, i2, i3, i4, i5] = [id[0], id[1], id[2], id[3], id[4]];
    store
        .set_issue_status(i3, status(IssueStatus::Resolved))
        .await
        .expect("resolve");
    store
        .set_issue_status(i4, status(IssueStatus::Ignored))
        .await
        .expect("ignore");

    let list =
        |q: IssueQuery| async move { store.list_issues(p, q).await.expect("list_issues").items };

    // Sort orders (one big page), then the same through small pages.
    let by = |sort| IssueQuery { sort, ..query(100) };
    let last_seen = list(by(IssueSort::LastSeen)).await;
    assert_eq!(
        ids(&last_seen),
        vec![i1, i3, i4, i5, i2],
        "LastSeen: most recently seen first"
    );
    assert_eq!(
        ids(&list(query(100)).await),
        ids(&last_seen),
        "the default sort is LastSeen"
    );
    let first_seen = list(by(IssueSort::FirstSeen)).await;
    assert_eq!(
        ids(&first_seen),
        vec![i3, i5, i4, i2, i1],
        "FirstSeen: newest issues first"
    );
    let events = list(by(IssueSort::Events)).await;
    assert_eq!(
        events.iter().map(|i| i.count).collect::<Vec<_>>(),
        vec![4, 3, 2, 2, 1],
        "Events: most events first"
    );
    assert_eq!((events[0].id, events[1].id, events[4].id), (i2, i4, i3));
    assert_eq!(
        sorted(vec![events[2].id, events[3].id]),
        sorted(vec![i1, i5])
    );
    let users = list(by(IssueSort::Users)).await;
    assert_eq!(
        users.iter().map(|i| i.user_count).collect::<Vec<_>>(),
        vec![3, 2, 1, 1, 0],
        "Users: most distinct users first"
    );
    assert_eq!((users[0].id, users[1].id, users[4].id), (i2, i4, i3));
    for (sort, full) in [
        (IssueSort::LastSeen, &last_seen),
        (IssueSort::FirstSeen, &first_seen),
        (IssueSort::Events, &events),
        (IssueSort::Users, &users),
    ] {
        for limit in [1, 2, 3] {
            let paged = all_pages(
                store,
                p,
                IssueQuery {
                    sort,
                    ..query(limit)
                },
            )
            .await;
            assert_eq!(
                ids(&paged),
                ids(full),
                "{sort:?} with limit {limit}: cursor paging returns every issue exactly once, in order"
            );
        }
    }
    let first = store.list_issues(p, query(2)).await.expect("list_issues");
    assert_eq!(first.items.len(), 2, "limit caps the page");
    assert!(
        first.next_cursor.is_some(),
        "a cursor is given while more issues remain"
    );
    let whole = store.list_issues(p, query(5)).await.expect("list_issues");
    assert_eq!(whole.items.len(), 5);
    assert!(
        whole.next_cursor.is_none(),
        "no cursor after the last issue"
    );

    // Filters.
    let set = |issues: Vec<Issue>| sorted(ids(&issues));
    let st = |statuses: Vec<IssueStatus>| IssueQuery {
        statuses,
        ..query(100)
    };
    assert_eq!(
        set(list(st(vec![IssueStatus::Unresolved])).await),
        sorted(vec![i1, i2, i5]),
        "status filter"
    );
    assert_eq!(
        set(list(st(vec![IssueStatus::Resolved, IssueStatus::Ignored])).await),
        sorted(vec![i3, i4]),
        "several statuses match any of them"
    );
    assert!(
        list(st(vec![IssueStatus::ResolvedInNextRelease]))
            .await
            .is_empty()
    );
    let lv = |level: &str| IssueQuery {
        level: s(level),
        ..query(100)
    };
    assert_eq!(ids(&list(lv("warning")).await), vec![i2], "level filter");
    assert!(list(lv("fatal")).await.is_empty());
    let tg = |pairs: &[(&str, &str)]| IssueQuery {
        tags: pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..query(100)
    };
    assert_eq!(
        ids(&list(tg(&[("environment", "staging")])).await),
        vec![i2],
        "environment tag filter"
    );
    assert_eq!(
        set(list(tg(&[("release", "1.0")])).await),
        sorted(vec![i1, i2]),
        "release tag filter"
    );
    assert_eq!(
        ids(&list(tg(&[("environment", "production"), ("release", "1.0")])).await),
        vec![i1],
        "all tag terms must match"
    );
    assert!(list(tg(&[("environment", "nowhere")])).await.is_empty());
    let tx = |words: &[&str]| IssueQuery {
        text: words.iter().map(|w| w.to_string()).collect(),
        ..query(100)
    };
    assert_eq!(
        set(list(tx(&["ValueError"])).await),
        sorted(vec![i1, i5]),
        "text matches the title"
    );
    assert_eq!(
        ids(&list(tx(&["valueerror", "DATE"])).await),
        vec![i5],
        "every word must appear, ignoring ASCII case"
    );
    assert_eq!(
        ids(&list(tx(&["app.list-4"])).await),
        vec![i4],
        "text matches the culprit too"
    );
    assert_eq!(
        ids(&list(tx(&["_"])).await),
        vec![i3],
        "`_` in text is literal, not a wildcard"
    );
    assert!(
        list(tx(&["%"])).await.is_empty(),
        "`%` in text is literal, not a wildcard"
    );
    assert!(list(tx(&["nothing-like-this"])).await.is_empty());

    // Filters combine with sorting and paging.
    let combined = all_pages(
        store,
        p,
        IssueQuery {
            statuses: vec![IssueStatus::Unresolved],
            tags: vec![("environment".into(), "production".into())],
            sort: IssueSort::Events,
            ..query(1)
        },
    )
    .await;
    assert_eq!(
        sorted(ids(&combined)),
        sorted(vec![i1, i5]),
        "filters apply on every page"
    );

    let bad = store
        .list_issues(
            p,
            IssueQuery {
                cursor: s("not a cursor"),
                ..query(10)
            },
        )
        .await;
    assert!(
        matches!(bad, Err(StorageError::InvalidInput(_))),
        "an invalid cursor is InvalidInput, got {bad:?}"
    );
}

async fn issue_events_page_newest_first_and_keep_their_json(store: &dyn Store) {
    let p = new_project(store, "conformance issue events").await;
    let mut events = Vec::new();
    let mut issue_id = 0;
    for k in 0..5i64 {
        let mut e = NewEvent {
            level: if k == 2 { "warning" } else { "error" }.into(),
            release: Some(format!("1.{k}")),
            environment: s("production"),
            title: format!("ValueError: number {k}"),
            ..new_event("issue-events", T0 + k * MIN)
        };
        let body = json!({
            "event_id": event_id_hex(&e.event_id),
            "message": format!("number {k} – ünïcödé ✓"),
            "extra": {"k": k, "ratio": 0.25, "list": [1, "two", null, true], "nested": {"a": []}},
        });
        e.payload = zjson(&body);
        let r = ingest_one(store, p, T0 + k * MIN + 500, e.clone()).await;
        issue_id = r.issue_id;
        events.push((e, body));
    }
    let hex = |k: usize| event_id_hex(&events[k].0.event_id);
    let mut pages = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .issue_events(issue_id, 2, cursor.take())
            .await
            .expect("issue_events");
        assert!(page.items.len() <= 2, "a page holds at most `limit` events");
        pages.push(
            page.items
                .iter()
                .map(|e| e.event_id.clone())
                .collect::<Vec<_>>(),
        );
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
        assert!(pages.len() < 10, "event paging never ends");
    }
    assert_eq!(
        pages.concat(),
        vec![hex(4), hex(3), hex(2), hex(1), hex(0)],
        "issue_events lists every event once, newest first, across pages"
    );
    assert_eq!(pages[0].len(), 2);

    let (e2, body2) = &events[2];
    let page = store
        .issue_events(issue_id, 10, None)
        .await
        .expect("issue_events");
    let row = page
        .items
        .iter()
        .find(|r| r.event_id == hex(2))
        .expect("event 2 listed")
        .clone();
    assert_eq!(row.project_id, p);
    assert_eq!(row.issue_id, issue_id);
    assert_eq!(
        row.timestamp,
        at(T0 + 2 * MIN),
        "timestamp is the event's own time"
    );
    assert_eq!(
        row.received_at,
        at(T0 + 2 * MIN + 500),
        "received_at is the envelope's time"
    );
    assert_eq!(row.level, "warning");
    assert_eq!(row.release.as_deref(), Some("1.2"));
    assert_eq!(row.environment.as_deref(), Some("production"));
    assert_eq!(row.title, "ValueError: number 2");

    let stored = store
        .get_event(p, e2.event_id)
        .await
        .expect("get_event")
        .expect("the event is found by id");
    assert_eq!(
        stored.summary, row,
        "get_event has the same index fields as the list"
    );
    assert_eq!(
        &stored.event, body2,
        "get_event returns the JSON that was ingested"
    );
    assert!(
        store
            .get_event(p, new_id())
            .await
            .expect("get_event")
            .is_none(),
        "an unknown event id is None"
    );
    let bad = store.issue_events(issue_id, 2, s("not a cursor")).await;
    assert!(
        matches!(bad, Err(StorageError::InvalidInput(_))),
        "an invalid event cursor is InvalidInput, got {bad:?}"
    );
    let none = store
        .issue_events(-1, 10, None)
        .await
        .expect("issue_events");
    assert!(
        none.items.is_empty() && none.next_cursor.is_none(),
        "an unknown issue has no events"
    );
}

async fn releases_track_events_commits_deploys_and_sessions(store: &dyn Store) {
    let p = new_project(store, "conformance releases").await;
    let rel = |name: &str, release: Option<&str>, ts: i64| NewEvent {
        release: release.map(str::to_string),
        ..new_event(name, ts)
    };
    ingest_events(
        store,
        p,
        T0 + 10 * MIN,
        vec![
            rel("rel-a", Some("1.0"), T0 + 5 * MIN),
            rel("rel-b", Some("1.0"), T0 + MIN),
            rel("rel-a", Some("1.0"), T0 + 9 * MIN),
            rel("rel-c", None, T0 + 9 * MIN),
        ],
    )
    .await;
    ingest_one(
        store,
        p,
        T0 + 20 * MIN,
        rel("rel-a", Some("2.0"), T0 + 20 * MIN),
    )
    .await;
    let r1 = store
        .get_release(p, "1.0")
        .await
        .expect("get_release")
        .expect("1.0 created by events");
    assert_eq!(r1.project_id, p);
    assert_eq!(r1.version, "1.0");
    assert_eq!(r1.event_count, 3, "event_count counts the release's events");
    assert_eq!(
        r1.new_issues, 2,
        "new_issues counts issues first seen in the release"
    );
    assert_eq!(
        r1.first_seen,
        Some(at(T0 + MIN)),
        "first_seen is the earliest event"
    );
    assert_eq!(
        r1.last_seen,
        Some(at(T0 + 9 * MIN)),
        "last_seen is the latest event"
    );
    assert_eq!(r1.sessions.total, 0);
    assert_eq!(
        r1.sessions.crash_free_rate, None,
        "no sessions: no crash-free rate"
    );
    let r2 = store
        .get_release(p, "2.0")
        .await
        .expect("get_release")
        .expect("2.0");
    assert_eq!(
        (r2.event_count, r2.new_issues),
        (1, 0),
        "an old issue in a new release is not new"
    );
    let listed = store.list_releases(p).await.expect("list_releases");
    assert_eq!(
        listed
            .iter()
            .map(|r| r.version.as_str())
            .collect::<Vec<_>>(),
        vec!["2.0", "1.0"],
        "list_releases: newest first; events without a release create none"
    );
    assert!(
        store
            .get_release(p, "9.9")
            .await
            .expect("get_release")
            .is_none()
    );

    // The release API.
    let commit = |id: &str| Commit {
        id: id.into(),
        repository: s("acme/shop"),
        message: Some(format!("commit {id}")),
        author_name: s("Ada"),
        author_email: s("ada@example.com"),
        timestamp: s("2025-06-14T12:00:00Z"),
    };
    let (r3, created) = store
        .upsert_release(
            p,
            "3.0",
            ReleaseUpdate {
                git_ref: s("abc123"),
                url: s("https://example.com/3.0"),
                date_released: None,
                commits: Some(vec![commit("c1"), commit("c2")]),
            },
        )
        .await
        .expect("upsert_release");
    assert!(created, "upsert_release reports a new release as created");
    assert_eq!(r3.version, "3.0");
    assert_eq!(r3.commit_count, 2);
    assert_eq!(r3.git_ref.as_deref(), Some("abc123"));
    assert_eq!(r3.url.as_deref(), Some("https://example.com/3.0"));
    assert_eq!(r3.event_count, 0);
    let (r3, created) = store
        .upsert_release(
            p,
            "3.0",
            ReleaseUpdate {
                commits: Some(vec![commit("c3")]),
                ..Default::default()
            },
        )
        .await
        .expect("upsert_release");
    assert!(
        !created,
        "upsert_release of a known version is not a creation"
    );
    assert_eq!(r3.commit_count, 1, "commits replace the release's list");
    assert_eq!(
        r3.git_ref.as_deref(),
        Some("abc123"),
        "fields not given are kept"
    );
    let (r3, _) = store
        .upsert_release(
            p,
            "3.0",
            ReleaseUpdate {
                date_released: Some(at(T0 + HOUR)),
                ..Default::default()
            },
        )
        .await
        .expect("finalize");
    assert_eq!(
        r3.date_released,
        Some(at(T0 + HOUR)),
        "date_released is stored"
    );
    assert_eq!(r3.commit_count, 1, "commits: None keeps the list");
    let (r1b, created) = store
        .upsert_release(p, "1.0", ReleaseUpdate::default())
        .await
        .expect("upsert existing");
    assert!(!created, "a release created by events is not created again");
    assert_eq!(r1b.event_count, 3, "upserting keeps the event counts");
    assert_eq!(r1b.id, r1.id);

    let d1 = store
        .add_deploy(
            p,
            "3.0",
            NewDeploy {
                environment: "production".into(),
                name: s("deploy one"),
                url: s("https://ci.example.com/1"),
                date_started: Some(at(T0 + HOUR)),
                date_finished: at(T0 + HOUR + 5 * MIN),
            },
        )
        .await
        .expect("add_deploy");
    assert_eq!(d1.environment, "production");
    assert_eq!(d1.name.as_deref(), Some("deploy one"));
    assert_eq!(d1.url.as_deref(), Some("https://ci.example.com/1"));
    assert_eq!(d1.date_started, Some(at(T0 + HOUR)));
    assert_eq!(d1.date_finished, at(T0 + HOUR + 5 * MIN));
    let d2 = store
        .add_deploy(
            p,
            "3.0",
            NewDeploy {
                environment: "staging".into(),
                name: None,
                url: None,
                date_started: None,
                date_finished: at(T0 + 2 * HOUR),
            },
        )
        .await
        .expect("add_deploy");
    let r3 = store
        .get_release(p, "3.0")
        .await
        .expect("get_release")
        .expect("3.0");
    assert_eq!(
        r3.deploys,
        vec![d2, d1],
        "a release lists its deploys, newest first"
    );
    let d4 = store
        .add_deploy(
            p,
            "4.0",
            NewDeploy {
                environment: "production".into(),
                name: None,
                url: None,
                date_started: None,
                date_finished: at(T0 + 3 * HOUR),
            },
        )
        .await
        .expect("add_deploy to an unknown release");
    let r4 = store
        .get_release(p, "4.0")
        .await
        .expect("get_release")
        .expect("add_deploy creates the release");
    assert_eq!(r4.deploys, vec![d4]);

    // Release health.
    let session = |release: &str, env: &str, started: i64, t: [i64; 4]| SessionUpdate {
        release: release.into(),
        environment: env.into(),
        started_ms: started,
        total: t[0],
        errored: t[1],
        crashed: t[2],
        abnormal: t[3],
    };
    store
        .ingest(IngestBatch {
            sessions: vec![
                session("1.0", "production", T0, [10, 2, 1, 0]),
                session("1.0", "staging", T0 + 2 * HOUR, [5, 1, 0, 1]),
                session("5.0", "production", T0, [4, 0, 0, 0]),
            ],
            ..batch(p, T0 + 2 * HOUR)
        })
        .await
        .expect("ingest sessions");
    store
        .ingest(IngestBatch {
            sessions: vec![session("1.0", "production", T0 + MIN, [5, 0, 2, 0])],
            ..batch(p, T0 + 2 * HOUR)
        })
        .await
        .expect("ingest sessions");
    let r1 = store
        .get_release(p, "1.0")
        .await
        .expect("get_release")
        .expect("1.0");
    let sess = r1.sessions;
    assert_eq!(
        (sess.total, sess.errored, sess.crashed, sess.abnormal),
        (20, 3, 3, 1),
        "session totals add up over envelopes, hours and environments"
    );
    let rate = sess
        .crash_free_rate
        .expect("a crash-free rate with sessions");
    assert!(
        (rate - 0.85).abs() < 1e-9,
        "crash_free_rate is 1 - crashed/total, got {rate}"
    );
    assert_eq!(r1.event_count, 3, "sessions are not events");
    let r5 = store
        .get_release(p, "5.0")
        .await
        .expect("get_release")
        .expect("a session creates its release");
    assert_eq!(r5.sessions.total, 4);
    assert_eq!(r5.sessions.crash_free_rate, Some(1.0));
    assert_eq!(r5.event_count, 0);
    let all = store.list_releases(p).await.expect("list_releases");
    assert_eq!(
        all.iter().map(|r| r.version.as_str()).collect::<Vec<_>>(),
        vec!["5.0", "4.0", "3.0", "2.0", "1.0"],
        "list_releases: newest first"
    );
    let listed_r1 = all.iter().find(|r| r.version == "1.0").expect("1.0 listed");
    assert_eq!(listed_r1, &r1, "list_releases and get_release agree");
}

fn new_transaction(name: &str, start: i64, duration_ms: f64, spans: usize) -> NewTransaction {
    let event_id = new_id();
    let trace = hex::encode(new_id());
    NewTransaction {
        event_id,
        row: TransactionRow {
            event_id: event_id_hex(&event_id),
            trace_id: Some(trace),
            transaction: name.into(),
            op: s("http.server"),
            status: s("ok"),
            start: at(start),
            duration_ms,
            release: s("1.0"),
            environment: s("production"),
            span_count: spans as i64,
        },
        spans: (0..spans)
            .map(|k| NewSpan {
                span_id: format!("{:016x}", k + 1),
                parent_span_id: (k > 0).then(|| format!("{:016x}", 1)),
                op: s("db.query"),
                description: Some(format!("SELECT {k}")),
                status: s("ok"),
                start_ms: start + k as i64,
                duration_ms: 1.5,
            })
            .collect(),
        payload: zjson(&json!({"type": "transaction", "transaction": name})),
    }
}

async fn transactions_are_listed_with_their_spans(store: &dyn Store) {
    let p = new_project(store, "conformance transactions").await;
    let t1 = new_transaction("GET /orders", T0, 123.25, 2);
    let t2 = new_transaction("GET /health", T0 + SEC, 0.5, 0);
    let t3 = new_transaction("POST /checkout", T0 + 2 * SEC, 480.0, 3);
    store
        .ingest(IngestBatch {
            transactions: vec![t1.clone()],
            ..batch(p, T0 + SEC)
        })
        .await
        .expect("ingest transaction");
    let r = store
        .ingest(IngestBatch {
            transactions: vec![t2.clone(), t3.clone()],
            ..batch(p, T0 + 3 * SEC)
        })
        .await
        .expect("ingest transactions");
    assert!(
        r.is_empty(),
        "an envelope without error events has no event results"
    );
    let listed = store
        .list_transactions(p, 10)
        .await
        .expect("list_transactions");
    assert_eq!(
        listed,
        vec![t3.row.clone(), t2.row.clone(), t1.row.clone()],
        "list_transactions returns the stored rows (span_count, duration, start…), newest first"
    );
    assert_eq!(
        store
            .list_transactions(p, 2)
            .await
            .expect("list_transactions"),
        vec![t3.row.clone(), t2.row.clone()],
        "list_transactions honours limit"
    );
    store
        .ingest(IngestBatch {
            transactions: vec![t1.clone()],
            ..batch(p, T0 + 4 * SEC)
        })
        .await
        .expect("ingest a duplicate transaction");
    assert_eq!(
        store
            .list_transactions(p, 10)
            .await
            .expect("list_transactions")
            .len(),
        3,
        "a transaction's event_id is stored once"
    );
    let other = new_project(store, "conformance transactions elsewhere").await;
    assert!(
        store
            .list_transactions(other, 10)
            .await
            .expect("list_transactions")
            .is_empty(),
        "transactions are per project"
    );
}

async fn check_ins_and_logs_round_trip(store: &dyn Store) {
    let p = new_project(store, "conformance check-ins").await;
    let config = json!({
        "schedule": {"type": "crontab", "value": "0 3 * * *"},
        "checkin_margin": 5,
        "max_runtime": 30,
        "timezone": "Europe/Berlin",
    });
    let c1 = CheckInRow {
        check_in_id: hex::encode(new_id()),
        monitor_slug: "nightly-backup".into(),
        status: "in_progress".into(),
        duration: None,
        environment: s("production"),
        release: s("1.0"),
        monitor_config: Some(config.clone()),
        received_at: at(T0),
    };
    let c2 = CheckInRow {
        status: "ok".into(),
        duration: Some(12.5),
        monitor_config: None,
        received_at: at(T0 + MIN),
        ..c1.clone()
    };
    store
        .ingest(IngestBatch {
            check_ins: vec![c1.clone()],
            ..batch(p, T0)
        })
        .await
        .expect("ingest check-in");
    store
        .ingest(IngestBatch {
            check_ins: vec![c2.clone()],
            ..batch(p, T0 + MIN)
        })
        .await
        .expect("ingest check-in");
    assert_eq!(
        store.list_check_ins(p, 10).await.expect("list_check_ins"),
        vec![c2.clone(), c1.clone()],
        "list_check_ins returns check-ins as sent (monitor_config round trip), newest first"
    );
    assert_eq!(
        store.list_check_ins(p, 1).await.expect("list_check_ins"),
        vec![c2],
        "list_check_ins honours limit"
    );

    let l1 = LogRow {
        timestamp: at(T0 + SEC),
        level: s("error"),
        body: "payment failed".into(),
        trace_id: Some(hex::encode(new_id())),
        attributes: Some(json!({"order": {"value": 42, "type": "integer"}})),
    };
    let l2 = LogRow {
        timestamp: at(T0 + 2 * SEC),
        level: s("info"),
        body: "retrying".into(),
        trace_id: None,
        attributes: None,
    };
    store
        .ingest(IngestBatch {
            logs: vec![l1.clone()],
            ..batch(p, T0 + SEC)
        })
        .await
        .expect("ingest log");
    store
        .ingest(IngestBatch {
            logs: vec![l2.clone()],
            ..batch(p, T0 + 2 * SEC)
        })
        .await
        .expect("ingest log");
    assert_eq!(
        store.list_logs(p, 10).await.expect("list_logs"),
        vec![l2.clone(), l1.clone()],
        "list_logs returns records as sent (attributes round trip), newest first"
    );
    assert_eq!(store.list_logs(p, 1).await.expect("list_logs"), vec![l2]);
    let other = new_project(store, "conformance check-ins elsewhere").await;
    assert!(
        store
            .list_check_ins(other, 10)
            .await
            .expect("list_check_ins")
            .is_empty()
    );
    assert!(
        store
            .list_logs(other, 10)
            .await
            .expect("list_logs")
            .is_empty()
    );
}

async fn attachments_keep_their_bytes(store: &dyn Store) {
    let p = new_project(store, "conformance attachments").await;
    let e = new_event("attachments", T0);
    let text = b"hello, attachment".to_vec();
    let binary: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
    store
        .ingest(IngestBatch {
            events: vec![e.clone()],
            attachments: vec![
                NewAttachment {
                    event_id: e.event_id,
                    filename: "notes.txt".into(),
                    content_type: s("text/plain"),
                    attachment_type: s("event.attachment"),
                    data: text.clone(),
                },
                NewAttachment {
                    event_id: e.event_id,
                    filename: "crash.dmp".into(),
                    content_type: None,
                    attachment_type: s("event.minidump"),
                    data: binary.clone(),
                },
            ],
            ..batch(p, T0)
        })
        .await
        .expect("ingest attachments");
    let mut metas = store
        .event_attachments(p, e.event_id)
        .await
        .expect("event_attachments");
    metas.sort_by(|a, b| a.filename.cmp(&b.filename));
    assert_eq!(metas.len(), 2, "an event lists its attachments");
    assert_eq!(metas[0].filename, "crash.dmp");
    assert_eq!(metas[0].size, 1000, "size is the byte length");
    assert_eq!(metas[0].content_type, None);
    assert_eq!(metas[0].attachment_type.as_deref(), Some("event.minidump"));
    assert_eq!(metas[1].filename, "notes.txt");
    assert_eq!(metas[1].size, text.len() as i64);
    assert_eq!(metas[1].content_type.as_deref(), Some("text/plain"));
    for m in &metas {
        assert_eq!(
            m.event_id,
            event_id_hex(&e.event_id),
            "attachments name their event in hex"
        );
    }
    assert_ne!(metas[0].id, metas[1].id);
    for (meta, bytes) in [(&metas[0], &binary), (&metas[1], &text)] {
        let (m, project_id, data) = store
            .attachment(meta.id)
            .await
            .expect("attachment")
            .expect("attachment found by id");
        assert_eq!(&m, meta, "attachment() has the same metadata");
        assert_eq!(project_id, p, "attachment() names its project");
        assert_eq!(&data, bytes, "attachment bytes round trip exactly");
    }
    assert!(
        store.attachment(-1).await.expect("attachment").is_none(),
        "unknown attachment: None"
    );
    assert!(
        store
            .event_attachments(p, new_id())
            .await
            .expect("event_attachments")
            .is_empty(),
        "an event without attachments lists none"
    );
}

async fn feedback_joins_its_issue_through_the_event_id(store: &dyn Store) {
    let p = new_project(store, "conformance feedback").await;
    let e1 = new_event("feedback", T0);
    let id = ingest_one(store, p, T0, e1.clone()).await.issue_id;
    let fb = |comments: &str, received: i64| Feedback {
        event_id: None,
        name: s("Ada"),
        email: s("ada@example.com"),
        comments: comments.into(),
        received_at: at(received),
    };
    store
        .ingest(IngestBatch {
            feedback: vec![
                (Some(e1.event_id), fb("it broke after login", T0 + MIN)),
                (None, fb("general praise", T0 + MIN)),
                (Some(new_id()), fb("about some other event", T0 + MIN)),
            ],
            ..batch(p, T0 + MIN)
        })
        .await
        .expect("ingest feedback");
    // Feedback may arrive before the event it is about.
    let e2 = new_event("feedback", T0 + 3 * MIN);
    store
        .ingest(IngestBatch {
            feedback: vec![(
                Some(e2.event_id),
                Feedback {
                    name: None,
                    email: None,
                    ..fb("sent before the event", T0 + 2 * MIN)
                },
            )],
            ..batch(p, T0 + 2 * MIN)
        })
        .await
        .expect("ingest early feedback");
    ingest_one(store, p, T0 + 3 * MIN, e2.clone()).await;
    let mut got = store.issue_feedback(id).await.expect("issue_feedback");
    got.sort_by(|a, b| a.comments.cmp(&b.comments));
    assert_eq!(
        got,
        vec![
            Feedback {
                event_id: Some(event_id_hex(&e1.event_id)),
                ..fb("it broke after login", T0 + MIN)
            },
            Feedback {
                event_id: Some(event_id_hex(&e2.event_id)),
                name: None,
                email: None,
                ..fb("sent before the event", T0 + 2 * MIN)
            },
        ],
        "issue_feedback lists feedback about the issue's events (whenever it arrived), naming the event"
    );
    let other = ingest_one(store, p, T0, new_event("feedback-other", T0))
        .await
        .issue_id;
    assert!(
        store
            .issue_feedback(other)
            .await
            .expect("issue_feedback")
            .is_empty(),
        "feedback about other events does not show"
    );
}

async fn outcomes_are_summed_per_hour_outcome_and_category(store: &dyn Store) {
    let p = new_project(store, "conformance outcomes").await;
    let outcomes = |received: i64, rows: Vec<(Outcome, &str, i64)>| IngestBatch {
        outcomes: rows
            .into_iter()
            .map(|(o, c, q)| (o, c.to_string(), q))
            .collect(),
        ..batch(p, received)
    };
    for b in [
        outcomes(
            T0 + 5 * MIN,
            vec![
                (Outcome::Accepted, "error", 3),
                (Outcome::Filtered, "error", 1),
            ],
        ),
        outcomes(
            T0 + 10 * MIN,
            vec![
                (Outcome::Accepted, "error", 2),
                (Outcome::Accepted, "transaction", 1),
            ],
        ),
        outcomes(T0 + HOUR + MIN, vec![(Outcome::Accepted, "error", 1)]),
    ] {
        store.ingest(b).await.expect("ingest outcomes");
    }
    store
        .add_outcomes(vec![
            (p, H0, Outcome::RateLimited, "error".into(), 4),
            (p, H0, Outcome::RateLimited, "error".into(), 1),
            (p, H0, Outcome::Accepted, "error".into(), 10),
            (
                p,
                H0 + 1,
                Outcome::ClientDiscard,
                "queue_overflow".into(),
                7,
            ),
        ])
        .await
        .expect("add_outcomes");
    store
        .add_outcomes(Vec::new())
        .await
        .expect("add_outcomes with no rows");
    let other = new_project(store, "conformance outcomes elsewhere").await;
    store
        .add_outcomes(vec![(other, H0, Outcome::Accepted, "error".into(), 100)])
        .await
        .expect("add_outcomes elsewhere");

    let rows = |v: Vec<lookout_model::errors::OutcomeCount>| {
        let mut r: Vec<(DateTime<Utc>, Outcome, String, i64)> = v
            .into_iter()
            .map(|o| (o.bucket, o.outcome, o.category, o.quantity))
            .collect();
        r.sort();
        r
    };
    let h0 = at(T0);
    let h1 = at(T0 + HOUR);
    let mut want = vec![
        (h0, Outcome::Accepted, "error".to_string(), 15),
        (h0, Outcome::Accepted, "transaction".to_string(), 1),
        (h0, Outcome::Filtered, "error".to_string(), 1),
        (h0, Outcome::RateLimited, "error".to_string(), 5),
        (h1, Outcome::Accepted, "error".to_string(), 1),
        (h1, Outcome::ClientDiscard, "queue_overflow".to_string(), 7),
    ];
    want.sort();
    assert_eq!(
        rows(
            store
                .project_outcomes(p, T0 - DAY)
                .await
                .expect("project_outcomes")
        ),
        want,
        "envelope outcomes (at their received hour) and add_outcomes add up per hour, outcome and category"
    );
    assert_eq!(
        rows(
            store
                .project_outcomes(p, T0 + HOUR)
                .await
                .expect("project_outcomes")
        ),
        want.into_iter().filter(|r| r.0 == h1).collect::<Vec<_>>(),
        "project_outcomes starts at the hour of since_ms"
    );
}

async fn settings_default_and_round_trip(store: &dyn Store) {
    let p = new_project(store, "conformance settings").await;
    assert_eq!(
        store.project_settings(p).await.expect("project_settings"),
        ProjectSettings::default(),
        "a project without settings has the defaults"
    );
    let custom = ProjectSettings {
        events_per_minute: Some(120),
        retention_days: 30,
        max_events: 5000,
        allowed_origins: vec!["https://app.example.com".into()],
        filters: InboundFilters {
            exception_types: vec!["KeyboardInterrupt".into()],
            message_patterns: vec!["*timeout*".into()],
            releases: vec!["1.*".into()],
            environments: vec!["dev".into()],
        },
        scrub_keys: vec!["session_token".into()],
    };
    store
        .set_project_settings(p, custom.clone())
        .await
        .expect("set_project_settings");
    assert_eq!(
        store.project_settings(p).await.expect("project_settings"),
        custom,
        "settings round trip"
    );
    let replaced = ProjectSettings {
        events_per_minute: None,
        max_events: u64::MAX,
        ..ProjectSettings::default()
    };
    store
        .set_project_settings(p, replaced.clone())
        .await
        .expect("set_project_settings again");
    assert_eq!(
        store.project_settings(p).await.expect("project_settings"),
        replaced,
        "setting again replaces the settings (u64 values round trip)"
    );
    let other = new_project(store, "conformance settings elsewhere").await;
    assert_eq!(
        store
            .project_settings(other)
            .await
            .expect("project_settings"),
        ProjectSettings::default(),
        "settings are per project"
    );
    let err = store.set_project_settings(-1, custom).await;
    assert!(
        matches!(err, Err(StorageError::NotFound(_))),
        "settings for a nonexistent project are NotFound, got {err:?}"
    );
}

/// Calls `enforce_retention` until it reports nothing, checking the budget
/// on every call; returns the summed report.
async fn retention_until_done(
    store: &dyn Store,
    project_id: i64,
    older_than_ms: i64,
    max_events: u64,
    budget: usize,
) -> RetentionReport {
    let mut sum = RetentionReport::default();
    for _ in 0..100 {
        let r = store
            .enforce_retention(project_id, older_than_ms, max_events, budget)
            .await
            .expect("enforce_retention");
        let b = budget as u64;
        assert!(
            r.events <= b && r.issues <= b && r.other <= b,
            "one enforce_retention call deletes at most `budget` ({budget}) events, issues and other rows, got {r:?}"
        );
        if r == RetentionReport::default() {
            return sum;
        }
        sum.events += r.events;
        sum.issues += r.issues;
        sum.other += r.other;
    }
    panic!("enforce_retention never finishes");
}

async fn retention_deletes_old_data_within_budget(store: &dyn Store) {
    let p = new_project(store, "conformance retention").await;
    let old = T0 - 400 * DAY;
    let cutoff = T0 - 30 * DAY;

    let old_events = vec![
        new_event("ret-old", old),
        new_event("ret-old", old + MIN),
        new_event("ret-old", old + 2 * MIN),
        new_event("ret-mix", old + 3 * MIN),
    ];
    let old_check_in = CheckInRow {
        check_in_id: "old".into(),
        monitor_slug: "cron".into(),
        status: "ok".into(),
        duration: None,
        environment: None,
        release: None,
        monitor_config: None,
        received_at: at(old),
    };
    let old_log = LogRow {
        timestamp: at(old),
        level: s("info"),
        body: "old".into(),
        trace_id: None,
        attributes: None,
    };
    let attachment = |e: &NewEvent| NewAttachment {
        event_id: e.event_id,
        filename: "a.txt".into(),
        content_type: None,
        attachment_type: None,
        data: b"x".to_vec(),
    };
    let old_results = store
        .ingest(IngestBatch {
            events: old_events.clone(),
            transactions: vec![
                new_transaction("old", old, 1.0, 1),
                new_transaction("old", old, 1.0, 0),
            ],
            check_ins: vec![old_check_in.clone(), old_check_in.clone()],
            logs: vec![old_log.clone(), old_log.clone()],
            attachments: vec![attachment(&old_events[0])],
            ..batch(p, old)
        })
        .await
        .expect("ingest old data");
    let old_issue = old_results[0].issue_id;
    let mix_issue = old_results[3].issue_id;
    let old_attachment = store
        .event_attachments(p, old_events[0].event_id)
        .await
        .expect("event_attachments")[0]
        .id;

    let mix_new = new_event("ret-mix", T0);
    let new_tx = new_transaction("new", T0, 1.0, 0);
    let new_check_in = CheckInRow {
        check_in_id: "new".into(),
        received_at: at(T0),
        ..old_check_in.clone()
    };
    let new_log = LogRow {
        timestamp: at(T0),
        body: "new".into(),
        ..old_log.clone()
    };
    store
        .ingest(IngestBatch {
            events: vec![mix_new.clone()],
            transactions: vec![new_tx.clone()],
            check_ins: vec![new_check_in.clone()],
            logs: vec![new_log.clone()],
            attachments: vec![attachment(&mix_new)],
            feedback: vec![(
                Some(mix_new.event_id),
                Feedback {
                    event_id: None,
                    name: None,
                    email: None,
                    comments: "recent".into(),
                    received_at: at(T0),
                },
            )],
            ..batch(p, T0)
        })
        .await
        .expect("ingest new data");
    let new1 = new_event("ret-new", T0 + SEC);
    let new2 = new_event("ret-new", T0 + 2 * SEC);
    let new_issue = ingest_one(store, p, T0 + SEC, new1.clone()).await.issue_id;
    ingest_one(store, p, T0 + 2 * SEC, new2.clone()).await;

    // By age, in budget-sized steps. A max_events beyond i64 means "no limit".
    let sum = retention_until_done(store, p, cutoff, u64::MAX, 3).await;
    assert_eq!(
        sum.events, 4,
        "every event received before the cutoff is deleted"
    );
    assert_eq!(
        sum.issues, 1,
        "only the issue left without events and last seen before the cutoff is deleted"
    );
    assert_eq!(
        sum.other, 7,
        "old transactions, check-ins, logs and attachments are deleted"
    );
    for e in &old_events {
        assert!(
            store
                .get_event(p, e.event_id)
                .await
                .expect("get_event")
                .is_none(),
            "old events are gone"
        );
    }
    for e in [&mix_new, &new1, &new2] {
        assert!(
            store
                .get_event(p, e.event_id)
                .await
                .expect("get_event")
                .is_some(),
            "events after the cutoff stay"
        );
    }
    assert!(
        store
            .get_issue(old_issue)
            .await
            .expect("get_issue")
            .is_none(),
        "an issue with no events left, last seen before the cutoff, is deleted"
    );
    assert!(
        store
            .get_issue(mix_issue)
            .await
            .expect("get_issue")
            .is_some(),
        "an issue with a recent event stays"
    );
    assert!(
        store
            .get_issue(new_issue)
            .await
            .expect("get_issue")
            .is_some()
    );
    assert_eq!(
        store
            .list_transactions(p, 10)
            .await
            .expect("list_transactions"),
        vec![new_tx.row.clone()],
        "old transactions are deleted"
    );
    assert_eq!(
        store.list_check_ins(p, 10).await.expect("list_check_ins"),
        vec![new_check_in],
        "old check-ins are deleted"
    );
    assert_eq!(
        store.list_logs(p, 10).await.expect("list_logs"),
        vec![new_log],
        "old logs are deleted"
    );
    assert!(
        store
            .attachment(old_attachment)
            .await
            .expect("attachment")
            .is_none(),
        "old attachments are deleted"
    );
    assert_eq!(
        store
            .event_attachments(p, mix_new.event_id)
            .await
            .expect("event_attachments")
            .len(),
        1,
        "recent attachments stay"
    );
    assert_eq!(
        store
            .issue_feedback(mix_issue)
            .await
            .expect("issue_feedback")
            .len(),
        1,
        "recent feedback stays"
    );

    // By count: only the newest max_events remain.
    let sum = retention_until_done(store, p, cutoff, 2, 100).await;
    assert_eq!(
        sum,
        RetentionReport {
            events: 1,
            issues: 0,
            other: 0
        },
        "max_events deletes just the oldest events beyond it"
    );
    assert!(
        store
            .get_event(p, mix_new.event_id)
            .await
            .expect("get_event")
            .is_none(),
        "the oldest event beyond max_events is deleted"
    );
    assert!(
        store
            .get_event(p, new1.event_id)
            .await
            .expect("get_event")
            .is_some(),
        "the newest max_events events stay"
    );
    assert!(
        store
            .get_event(p, new2.event_id)
            .await
            .expect("get_event")
            .is_some(),
        "the newest max_events events stay"
    );
    assert!(
        store
            .get_issue(mix_issue)
            .await
            .expect("get_issue")
            .is_some(),
        "an issue without events but last seen after the cutoff stays"
    );
    assert_eq!(
        store
            .list_transactions(p, 10)
            .await
            .expect("list_transactions")
            .len(),
        1,
        "max_events only counts events"
    );

    store.reclaim_space(1000).await.expect("reclaim_space");
}

async fn retention_budget_caps_age_and_count_together(store: &dyn Store) {
    let p = new_project(store, "conformance retention budget").await;
    let old = T0 - 400 * DAY;
    let cutoff = T0 - 30 * DAY;
    let mut old_ids = Vec::new();
    for k in 0..4 {
        let e = new_event("budget-old", old + k * MIN);
        old_ids.push(e.event_id);
        ingest_one(store, p, old + k * MIN, e).await;
    }
    let mut new_ids = Vec::new();
    for k in 0..3 {
        let e = new_event("budget-new", T0 + k * MIN);
        new_ids.push(e.event_id);
        ingest_one(store, p, T0 + k * MIN, e).await;
    }
    let sum = retention_until_done(store, p, cutoff, 1, 2).await;
    assert_eq!(
        sum.events, 6,
        "age and count together leave only the newest event"
    );
    assert_eq!(
        sum.issues, 1,
        "the old issue goes; the recent one stays without most events"
    );
    for id in old_ids.iter().chain(&new_ids[..2]) {
        assert!(store.get_event(p, *id).await.expect("get_event").is_none());
    }
    assert!(
        store
            .get_event(p, new_ids[2])
            .await
            .expect("get_event")
            .is_some(),
        "the newest event stays"
    );
    store.reclaim_space(1000).await.expect("reclaim_space");
}

async fn dictionaries_round_trip_and_payloads_decompress(store: &dyn Store) {
    let p = new_project(store, "conformance dictionaries").await;
    assert!(
        store.current_dict(p).await.expect("current_dict").is_none(),
        "no dictionary at first"
    );
    // Any bytes make a raw-content zstd dictionary.
    let raw1 = br#"{"event_id":"","level":"error","platform":"python","exception":{"values":[{"type":"ValueError","value":""}]}}"#.repeat(8);
    let raw2 = br#"{"level":"error","platform":"python","sdk":{"name":"sentry.python","version":"2.0"},"exception":{"values":[]}}"#.repeat(8);
    let id1 = store.store_dict(p, raw1.clone()).await.expect("store_dict");
    assert_eq!(
        store.current_dict(p).await.expect("current_dict"),
        Some((id1, raw1.clone())),
        "a stored dictionary is current"
    );
    let id2 = store.store_dict(p, raw2.clone()).await.expect("store_dict");
    assert_ne!(id1, id2, "each dictionary gets its own id");
    assert_eq!(
        store.current_dict(p).await.expect("current_dict"),
        Some((id2, raw2.clone())),
        "the newest dictionary is current"
    );
    let other = new_project(store, "conformance dictionaries elsewhere").await;
    assert!(
        store
            .current_dict(other)
            .await
            .expect("current_dict")
            .is_none(),
        "dictionaries are per project"
    );

    let plain1 = new_event("dict", T0);
    let plain2 = new_event("dict", T0 + SEC);
    let mut dicted = new_event("dict", T0 + 2 * SEC);
    let body = event_json(&dicted.event_id, "dict");
    let dict = crate::codec::Dict::new(id2, &raw2);
    let (dict_id, bytes) =
        crate::codec::compress(&serde_json::to_vec(&body).expect("json"), Some(&dict))
            .expect("compress with dictionary");
    assert_eq!(dict_id, id2);
    dicted.dict_id = dict_id;
    dicted.payload = bytes;
    ingest_events(store, p, T0, vec![plain1.clone(), plain2.clone()]).await;
    ingest_one(store, p, T0 + 2 * SEC, dicted.clone()).await;

    assert_eq!(
        store
            .count_events_with_dict(p, 0)
            .await
            .expect("count_events_with_dict"),
        2,
        "events without a dictionary count under 0"
    );
    assert_eq!(
        store
            .count_events_with_dict(p, id2)
            .await
            .expect("count_events_with_dict"),
        1
    );
    assert_eq!(
        store
            .count_events_with_dict(p, id1)
            .await
            .expect("count_events_with_dict"),
        0
    );
    assert_eq!(
        store
            .count_events_with_dict(other, 0)
            .await
            .expect("count_events_with_dict"),
        0,
        "counts are per project"
    );

    let json_of =
        |e: &NewEvent| serde_json::to_vec(&event_json(&e.event_id, "dict")).expect("json");
    let mut got = store
        .sample_event_payloads(p, 10)
        .await
        .expect("sample_event_payloads");
    got.sort();
    let mut want = vec![json_of(&plain1), json_of(&plain2), json_of(&dicted)];
    want.sort();
    assert_eq!(
        got, want,
        "sample_event_payloads returns the decompressed payloads, dictionary or not"
    );
    assert_eq!(
        store
            .sample_event_payloads(p, 1)
            .await
            .expect("sample_event_payloads"),
        vec![json_of(&dicted)],
        "sample_event_payloads honours limit and prefers recent events"
    );
    let stored = store
        .get_event(p, dicted.event_id)
        .await
        .expect("get_event")
        .expect("event");
    assert_eq!(
        stored.event, body,
        "an event compressed with a dictionary reads back"
    );
}

async fn a_failing_envelope_does_not_sink_concurrent_ones(store: &dyn Store) {
    let p = new_project(store, "conformance isolation").await;
    let missing = -1;
    assert!(
        store
            .get_project(missing)
            .await
            .expect("get_project")
            .is_none()
    );
    let good = |ts: i64| new_event("isolation", ts);
    let (g1, g2, g3) = (good(T0), good(T0 + MIN), good(T0 + 2 * MIN));
    let bad_event = new_event("isolation", T0);
    let bad = IngestBatch {
        events: vec![bad_event.clone()],
        logs: vec![LogRow {
            timestamp: at(T0),
            level: None,
            body: "from nowhere".into(),
            trace_id: None,
            attributes: None,
        }],
        ..batch(missing, T0)
    };
    let one = |e: &NewEvent| IngestBatch {
        events: vec![e.clone()],
        ..batch(p, T0 + 3 * MIN)
    };
    let (r1, rb1, r2, rb2, r3) = tokio::join!(
        store.ingest(one(&g1)),
        store.ingest(bad.clone()),
        store.ingest(one(&g2)),
        store.ingest(IngestBatch {
            events: vec![new_event("isolation", T0)],
            ..batch(missing, T0)
        }),
        store.ingest(one(&g3)),
    );
    assert!(
        rb1.is_err() && rb2.is_err(),
        "an envelope for a project that does not exist is refused"
    );
    let results: Vec<EventResult> = [r1, r2, r3]
        .into_iter()
        .map(|r| {
            r.expect("envelopes sent alongside a failing one are stored")
                .remove(0)
        })
        .collect();
    let issue_id = results[0].issue_id;
    assert!(
        results
            .iter()
            .all(|r| r.issue_id == issue_id && !r.duplicate),
        "all good events join one issue"
    );
    assert_eq!(
        results.iter().filter(|r| r.new_issue).count(),
        1,
        "exactly one of the concurrent envelopes created the issue"
    );
    assert_eq!(
        issue(store, issue_id).await.count,
        3,
        "every good event is counted once"
    );
    for e in [&g1, &g2, &g3] {
        assert!(
            store
                .get_event(p, e.event_id)
                .await
                .expect("get_event")
                .is_some(),
            "good events are stored"
        );
    }
    assert!(
        store
            .get_event(p, bad_event.event_id)
            .await
            .expect("get_event")
            .is_none(),
        "nothing of a failed envelope is stored"
    );
    assert_eq!(
        store
            .list_issues(p, query(10))
            .await
            .expect("list_issues")
            .items
            .len(),
        1
    );
}

async fn sessions_live_until_they_expire_or_end(store: &dyn Store) {
    use lookout_model::WebSession;
    let first = store
        .create_first_admin(NewUser {
            email: "first@example.com".into(),
            password_hash: "$argon2id$x".into(),
            is_admin: true,
        })
        .await
        .expect("first admin");
    let first = first.expect("no user existed, so setup creates the admin");
    assert!(first.is_admin);
    assert!(store.count_users().await.unwrap() >= 1);
    let again = store
        .create_first_admin(NewUser {
            email: "second@example.com".into(),
            password_hash: "x".into(),
            is_admin: true,
        })
        .await
        .unwrap();
    assert!(again.is_none(), "setup is closed once a user exists");
    assert_eq!(store.get_user(first.id).await.unwrap(), Some(first.clone()));
    let now = Utc::now();
    let s = WebSession {
        id_hash: "s".repeat(64),
        user_id: first.id,
        csrf_token: "csrf".into(),
        expires_at: now + chrono::Duration::hours(1),
    };
    store.create_session(s.clone()).await.unwrap();
    let (found, user) = store
        .find_session(&s.id_hash, now)
        .await
        .unwrap()
        .expect("live session found");
    assert_eq!(found.csrf_token, "csrf");
    assert_eq!(user.id, first.id);
    assert!(
        store
            .find_session(&s.id_hash, now + chrono::Duration::hours(2))
            .await
            .unwrap()
            .is_none(),
        "expired sessions are not found"
    );
    store.delete_session(&s.id_hash).await.unwrap();
    assert!(store.find_session(&s.id_hash, now).await.unwrap().is_none());
}
