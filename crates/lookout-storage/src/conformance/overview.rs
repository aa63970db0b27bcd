//! Conformance checks for what the overview, releases and issue-list pages
//! read: the project overview, hourly counts of many issues, filter values,
//! bulk status changes and each release's new issues.

use super::{
    DAY, H0, HOUR, MIN, T0, batch, ingest_events, ingest_one, issue, new_event, new_project,
    status, tags,
};
use crate::{ReleaseUpdate, StorageError, Store};
use chrono::{DateTime, Utc};
use lookout_model::errors::{IngestBatch, IssueStatus, NewEvent, Outcome, SessionUpdate};

/// Runs the overview checks.
pub async fn run_all(store: &dyn Store) {
    overview_counts_events_issues_and_release_health(store).await;
    issues_hourly_reads_many_issues_at_once(store).await;
    filter_values_list_environments_and_releases(store).await;
    bulk_status_changes_are_all_or_none(store).await;
    release_new_issues_are_grouped_by_release(store).await;
}

fn at(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).expect("a valid time")
}

fn event(name: &str, ts: i64, release: Option<&str>) -> NewEvent {
    NewEvent {
        release: release.map(str::to_string),
        ..new_event(name, ts)
    }
}

/// An envelope with events and the accepted/other outcomes ingest would
/// have counted for it.
async fn envelope(
    store: &dyn Store,
    p: i64,
    received: i64,
    events: Vec<NewEvent>,
    outcomes: &[(Outcome, &str, i64)],
) -> Vec<i64> {
    let r = store
        .ingest(IngestBatch {
            events,
            outcomes: outcomes
                .iter()
                .map(|(o, c, q)| (*o, c.to_string(), *q))
                .collect(),
            ..batch(p, received)
        })
        .await
        .expect("ingest");
    r.into_iter().map(|e| e.issue_id).collect()
}

async fn overview_counts_events_issues_and_release_health(store: &dyn Store) {
    let p = new_project(store, "conformance overview").await;
    let now = at(T0 + 30 * MIN);

    let empty = store
        .project_overview(p, now, 5)
        .await
        .expect("project_overview");
    assert_eq!(empty.now_hour, H0, "now_hour is the hour holding now");
    assert!(
        empty.hourly_events.is_empty() && empty.top_issues.is_empty(),
        "a project without data has no events and no top issues"
    );
    assert_eq!(
        (empty.new_issues_24h, empty.unresolved, empty.regressions),
        (0, 0, 0)
    );
    assert_eq!(empty.latest_release, None, "no release, no release health");

    let acc = |q| (Outcome::Accepted, "error", q);
    // 8 days ago: outside the 7-day window.
    let ancient = envelope(
        store,
        p,
        T0 - 8 * DAY,
        vec![event("ov-ancient", T0 - 8 * DAY, None)],
        &[acc(4)],
    )
    .await[0];
    store
        .set_issue_status(ancient, status(IssueStatus::Ignored))
        .await
        .expect("ignore");
    // 2 days ago; other outcomes and categories do not count as events.
    let old = envelope(
        store,
        p,
        T0 - 2 * DAY,
        vec![event("ov-old", T0 - 2 * DAY, Some("1.0"))],
        &[
            acc(1),
            (Outcome::Accepted, "transaction", 5),
            (Outcome::Filtered, "error", 2),
        ],
    )
    .await[0];
    let d = envelope(
        store,
        p,
        T0 - 25 * HOUR,
        vec![event("ov-d", T0 - 25 * HOUR, None)],
        &[acc(1)],
    )
    .await[0];
    let c = envelope(
        store,
        p,
        T0 - 23 * HOUR,
        vec![event("ov-c", T0 - 23 * HOUR, None)],
        &[acc(1)],
    )
    .await[0];
    store
        .set_issue_status(old, status(IssueStatus::Resolved))
        .await
        .expect("resolve");
    let ids = envelope(
        store,
        p,
        T0 + 5 * MIN,
        vec![
            event("ov-a", T0 + MIN, None),
            event("ov-a", T0 + 2 * MIN, None),
            event("ov-a", T0 + 3 * MIN, None),
            event("ov-b", T0 + 3 * MIN, None),
            event("ov-old", T0 + 2 * MIN, None),
            event("ov-old", T0 + 4 * MIN, None),
        ],
        &[acc(6)],
    )
    .await;
    let (a, b) = (ids[0], ids[3]);
    assert_eq!(ids[4], old, "ov-old's new events join its issue");
    store
        .set_issue_status(b, status(IssueStatus::Resolved))
        .await
        .expect("resolve");
    // After `now`: not counted.
    envelope(store, p, T0 + HOUR + MIN, vec![], &[acc(9)]).await;
    // Another project's data never shows.
    let q = new_project(store, "conformance overview other").await;
    envelope(
        store,
        q,
        T0 + MIN,
        vec![event("ov-a", T0 + MIN, Some("9.0"))],
        &[acc(100)],
    )
    .await;

    let ov = store
        .project_overview(p, now, 5)
        .await
        .expect("project_overview");
    assert_eq!(
        ov.hourly_events,
        vec![(H0 - 48, 1), (H0 - 25, 1), (H0 - 23, 1), (H0, 6)],
        "hourly_events: accepted error outcomes per hour of the last 7 days, up to now"
    );
    assert_eq!(
        ov.new_issues_24h, 3,
        "ov-a, ov-b and ov-c were first seen in the last 24 hours"
    );
    assert_eq!(
        ov.unresolved, 4,
        "ov-a, ov-c, ov-d and the regressed ov-old are unresolved (ov-b is resolved, ov-ancient ignored)"
    );
    assert_eq!(ov.regressions, 1, "ov-old came back after being resolved");
    let top: Vec<(i64, i64)> = ov
        .top_issues
        .iter()
        .map(|t| (t.issue.id, t.events_24h))
        .collect();
    assert_eq!(
        top,
        vec![(a, 3), (old, 2), (c, 1)],
        "top issues: unresolved, by events in the last 24 hourly buckets (ov-d is older, ov-b resolved)"
    );
    assert!(!top.iter().any(|(id, _)| *id == d || *id == b));
    let top2 = store.project_overview(p, now, 2).await.expect("overview");
    assert_eq!(top2.top_issues.len(), 2, "top_n caps the top issues");
    assert_eq!(
        ov.latest_release.as_ref().map(|r| r.version.as_str()),
        Some("1.0")
    );
    assert_eq!(
        ov.latest_release
            .as_ref()
            .and_then(|r| r.sessions.crash_free_rate),
        None,
        "a release without sessions has no crash-free rate"
    );

    // Sessions of a newer release: it becomes the latest.
    let session = |release: &str, total: i64, crashed: i64| SessionUpdate {
        release: release.into(),
        environment: "production".into(),
        started_ms: T0,
        total,
        errored: crashed,
        crashed,
        abnormal: 0,
    };
    store
        .ingest(IngestBatch {
            sessions: vec![
                session("2.0", 8, 1),
                session("2.0", 2, 0),
                session("1.0", 5, 5),
            ],
            ..batch(p, T0 + 6 * MIN)
        })
        .await
        .expect("ingest sessions");
    let ov = store.project_overview(p, now, 5).await.expect("overview");
    let health = ov.latest_release.expect("a latest release");
    assert_eq!(health.version, "2.0", "the newest release is the latest");
    assert_eq!(
        (health.sessions.total, health.sessions.crashed),
        (10, 1),
        "session totals of the latest release only"
    );
    assert_eq!(
        health.sessions.crash_free_rate,
        Some(0.9),
        "crash-free = 1 - crashed/total"
    );
    store
        .upsert_release(p, "3.0", ReleaseUpdate::default())
        .await
        .expect("upsert_release");
    let ov = store.project_overview(p, now, 5).await.expect("overview");
    assert_eq!(
        ov.latest_release.map(|r| (r.version, r.sessions.total)),
        Some(("3.0".to_string(), 0)),
        "a release made through the API is the latest even before it has sessions"
    );
}

async fn issues_hourly_reads_many_issues_at_once(store: &dyn Store) {
    let p = new_project(store, "conformance issues hourly").await;
    let ids = envelope(
        store,
        p,
        T0 + 2 * HOUR,
        vec![
            event("ih-a", T0 + MIN, None),
            event("ih-a", T0 + 2 * MIN, None),
            event("ih-a", T0 + HOUR, None),
            event("ih-a", T0 - 3 * HOUR, None),
            event("ih-b", T0 + HOUR + MIN, None),
            event("ih-c", T0 - 10 * HOUR, None),
        ],
        &[],
    )
    .await;
    let (a, b, c) = (ids[0], ids[4], ids[5]);
    assert!(a < b && b < c);
    let rows = store
        .issues_hourly(vec![c, a, b], H0 - 1)
        .await
        .expect("issues_hourly");
    assert_eq!(
        rows,
        vec![(a, H0, 2), (a, H0 + 1, 1), (b, H0 + 1, 1)],
        "(issue, hour, count) since the given hour, by issue then hour; issues without hours there have no rows"
    );
    assert_eq!(
        store
            .issues_hourly(vec![], H0)
            .await
            .expect("issues_hourly"),
        vec![],
        "no ids, no rows"
    );
}

async fn filter_values_list_environments_and_releases(store: &dyn Store) {
    let p = new_project(store, "conformance filter values").await;
    let env_event = |name: &str, env: &str, release: &str| NewEvent {
        environment: Some(env.into()),
        release: Some(release.into()),
        tags: tags(&[("environment", env), ("release", release)]),
        ..new_event(name, T0)
    };
    assert_eq!(
        store.filter_values(p).await.expect("filter_values"),
        crate::FilterValues::default()
    );
    ingest_events(
        store,
        p,
        T0,
        vec![
            env_event("fv-a", "staging", "1.0"),
            env_event("fv-b", "production", "1.0"),
        ],
    )
    .await;
    ingest_one(store, p, T0 + MIN, env_event("fv-a", "production", "2.0")).await;
    let q = new_project(store, "conformance filter values other").await;
    ingest_one(store, q, T0, env_event("fv-a", "elsewhere", "7.0")).await;
    let v = store.filter_values(p).await.expect("filter_values");
    assert_eq!(
        v.environments,
        vec!["production".to_string(), "staging".to_string()],
        "environments of the project's issues, sorted and distinct"
    );
    assert_eq!(
        v.releases,
        vec!["2.0".to_string(), "1.0".to_string()],
        "the project's releases, newest first"
    );
}

async fn bulk_status_changes_are_all_or_none(store: &dyn Store) {
    let p = new_project(store, "conformance bulk status").await;
    let ids = envelope(
        store,
        p,
        T0,
        vec![
            event("bulk-a", T0, None),
            event("bulk-b", T0, None),
            event("bulk-c", T0, None),
        ],
        &[],
    )
    .await;
    let changed = store
        .set_issues_status(vec![ids[1], ids[0]], status(IssueStatus::Resolved))
        .await
        .expect("set_issues_status");
    assert_eq!(
        changed.iter().map(|i| (i.id, i.status)).collect::<Vec<_>>(),
        vec![
            (ids[1], IssueStatus::Resolved),
            (ids[0], IssueStatus::Resolved)
        ],
        "every issue changed, returned in the order given"
    );
    assert_eq!(issue(store, ids[0]).await.status, IssueStatus::Resolved);
    let err = store
        .set_issues_status(vec![ids[2], i64::MAX - 7], status(IssueStatus::Ignored))
        .await
        .expect_err("an unknown id fails the call");
    assert!(
        matches!(err, StorageError::NotFound(_)),
        "an unknown id is NotFound, got {err:?}"
    );
    assert_eq!(
        issue(store, ids[2]).await.status,
        IssueStatus::Unresolved,
        "a failed bulk change changes nothing"
    );
    assert!(
        store
            .set_issues_status(vec![], status(IssueStatus::Ignored))
            .await
            .expect("empty")
            .is_empty()
    );
}

async fn release_new_issues_are_grouped_by_release(store: &dyn Store) {
    let p = new_project(store, "conformance release new issues").await;
    let ids = envelope(
        store,
        p,
        T0,
        vec![
            event("rn-x", T0, Some("1.0")),
            event("rn-y", T0, Some("1.0")),
            event("rn-z", T0, Some("1.0")),
            event("rn-x", T0 + MIN, Some("1.0")),
            event("rn-x", T0 + MIN, Some("1.0")),
            event("rn-z", T0 + MIN, Some("1.0")),
        ],
        &[],
    )
    .await;
    let (x, z) = (ids[0], ids[2]);
    let later = envelope(
        store,
        p,
        T0 + HOUR,
        vec![
            event("rn-w", T0 + HOUR, Some("2.0")),
            event("rn-x", T0 + HOUR, Some("2.0")),
        ],
        &[],
    )
    .await;
    let w = later[0];
    let q = new_project(store, "conformance release new issues other").await;
    ingest_one(store, q, T0, event("rn-q", T0, Some("1.0"))).await;

    let got = store
        .release_new_issues(p, vec!["2.0".into(), "1.0".into(), "3.0".into()], 2)
        .await
        .expect("release_new_issues");
    let got: Vec<(String, Vec<i64>)> = got
        .into_iter()
        .map(|(v, issues)| (v, issues.iter().map(|i| i.id).collect()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("2.0".to_string(), vec![w]),
            ("1.0".to_string(), vec![x, z]),
            ("3.0".to_string(), vec![]),
        ],
        "per version in the order asked: issues first seen in it, most events first, at most per_release; \
         an old issue seen again in a new release is not new there"
    );
}
