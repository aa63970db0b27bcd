//! The runner end to end inside the process: a system event or an ingest
//! signal becomes an outbox row and a request to the emulator, with a
//! controlled clock; a restart neither repeats nor loses it.

use super::*;
use crate::alerting::channels::{ChannelConfig, Senders};
use crate::alerting::emulator::Emulator;
use chrono::{DateTime, Duration, Utc};
use lookout_alert::delivery::{BreakerPolicy, RetryPolicy};
use lookout_alert::render::RenderContext;
use lookout_alert::{IssueSignal, ManualClock};
use lookout_config::SmtpConfig;
use lookout_storage::sqlite::{SqliteOptions, SqliteStore};
use lookout_storage::{AlertSource, NewAlertRule, OutboxState, SystemEvent};

fn t(s: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap()
}

fn routes() -> Route {
    let mut r = Route::default_tree();
    r.receivers = vec!["hook".into()];
    r.routes.clear();
    r.group_wait = Some(Duration::seconds(10));
    r
}

async fn runner(
    store: &Arc<dyn Store>,
    clock: &Arc<ManualClock>,
    emu: &Emulator,
) -> (AlertRunner, AlertSink, Arc<OutboxWorker>) {
    let (htx, hrx) = mpsc::channel(16);
    let worker = Arc::new(OutboxWorker::new(
        store.clone(),
        Arc::new(Senders::new(SmtpConfig::default())),
        clock.clone(),
        RenderContext {
            public_url: "http://lookout.test".into(),
            ..RenderContext::default()
        },
        RetryPolicy::default(),
        BreakerPolicy::default(),
        Some(htx),
    ));
    let hook = ChannelConfig::Webhook {
        url: format!("{}/hook", emu.base),
        secret: None,
        format: Default::default(),
    };
    store
        .upsert_channel(
            lookout_storage::NewChannel {
                name: "hook".into(),
                kind: hook.kind().into(),
                enabled: true,
                source: AlertSource::Api,
                config: serde_json::to_value(&hook).unwrap(),
            },
            t(0),
        )
        .await
        .unwrap();
    worker.recover().await.unwrap();
    let (r, sink) = AlertRunner::load(
        store.clone(),
        clock.clone(),
        worker.clone(),
        hrx,
        routes(),
        vec![],
        "http://lookout.test".into(),
    )
    .await
    .unwrap();
    (r, sink, worker)
}

async fn rule(store: &Arc<dyn Store>, spec: serde_json::Value) {
    store
        .create_alert_rule(
            NewAlertRule {
                name: spec["name"].as_str().unwrap().into(),
                enabled: true,
                source: AlertSource::Api,
                projects: vec![],
                spec,
                created_by: None,
            },
            t(0),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn a_failed_backup_is_notified_once_across_a_restart_and_resolves() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(SqliteOptions::new(dir.path())).unwrap());
    let clock = Arc::new(ManualClock::new(t(0)));
    let emu = Emulator::start().await;
    rule(
        &store,
        serde_json::json!({"name": "Backup failed", "severity": "critical",
                           "condition": {"kind": "backup_failed"}}),
    )
    .await;
    // An old event from before alerting existed is not news.
    store
        .record_system_event(SystemEvent {
            id: 0,
            at: t(-100),
            kind: "backup.failed".into(),
            severity: lookout_storage::Severity::High,
            message: "ancient".into(),
            details: None,
        })
        .await
        .unwrap();
    let (mut r, _sink, worker) = runner(&store, &clock, &emu).await;
    r.step().await.unwrap();
    assert!(r.firing().is_empty());

    store
        .record_system_event(SystemEvent {
            id: 0,
            at: t(1),
            kind: "backup.failed".into(),
            severity: lookout_storage::Severity::High,
            message: "disk full".into(),
            details: None,
        })
        .await
        .unwrap();
    clock.set(t(1));
    assert_eq!(r.step().await.unwrap(), 0, "group_wait first");
    assert_eq!(r.firing().len(), 1);
    clock.set(t(11));
    assert_eq!(r.step().await.unwrap(), 1);
    worker.run_once().await.unwrap();
    let reqs = emu.requests();
    assert_eq!(reqs.len(), 1);
    let body = reqs[0].json();
    assert_eq!(body["kind"], "firing");
    assert_eq!(body["rule"], "Backup failed");
    assert_eq!(body["alerts"][0]["annotations"]["cause"], "disk full");
    assert_eq!(body["url"], "http://lookout.test/alerts");

    // Restart: the firing alert is restored and counts as notified.
    drop(r);
    clock.set(t(20));
    let (mut r2, _sink, worker2) = runner(&store, &clock, &emu).await;
    assert_eq!(r2.firing().len(), 1);
    clock.set(t(400));
    assert_eq!(r2.step().await.unwrap(), 0);
    worker2.run_once().await.unwrap();
    assert_eq!(emu.requests().len(), 1, "no repeat after a restart");

    // The next successful backup resolves it.
    store
        .record_system_event(SystemEvent {
            id: 0,
            at: t(401),
            kind: "backup.succeeded".into(),
            severity: lookout_storage::Severity::Low,
            message: "ok".into(),
            details: None,
        })
        .await
        .unwrap();
    clock.set(t(401));
    r2.step().await.unwrap();
    // The group was last looked at t(400): its next flush is 300 s later.
    clock.set(t(700));
    assert_eq!(r2.step().await.unwrap(), 1);
    worker2.run_once().await.unwrap();
    let reqs = emu.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[1].json()["kind"], "resolved");
    let stored = store
        .list_alert_instances(AlertInstanceQuery {
            states: vec!["resolved".into()],
            projects: None,
            include_install: true,
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].ends_at, Some(t(401)));
    assert!(
        store
            .list_outbox(Some(OutboxState::Pending), 10)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn ingest_signals_fire_rules_and_a_full_queue_drops_without_waiting() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(SqliteOptions::new(dir.path())).unwrap());
    let clock = Arc::new(ManualClock::new(t(0)));
    let emu = Emulator::start().await;
    rule(
        &store,
        serde_json::json!({"name": "New issue", "severity": "high",
                           "condition": {"kind": "new_issue"}}),
    )
    .await;
    let (mut r, sink, worker) = runner(&store, &clock, &emu).await;
    let signal = |i: i64| {
        Signal::Issue(IssueSignal {
            project_id: 1,
            project: "shop".into(),
            issue_id: i,
            at: t(0),
            new_issue: true,
            level: "error".into(),
            title: format!("KeyError {i}"),
            ..Default::default()
        })
    };
    assert!(sink.offer(signal(1)));
    r.step().await.unwrap();
    clock.set(t(10));
    assert_eq!(r.step().await.unwrap(), 1);
    worker.run_once().await.unwrap();
    assert_eq!(
        emu.requests()[0].json()["alerts"][0]["annotations"]["title"],
        "KeyError 1"
    );
    // Fill the queue: the extra offers return at once, counted as dropped.
    for i in 0..SIGNAL_QUEUE as i64 {
        sink.offer(signal(100 + i));
    }
    assert!(!sink.offer(signal(99_999)));
    let metrics = lookout_metrics::global().render(lookout_metrics::Format::Prometheus);
    assert!(metrics.contains("lookout_alert_signals_dropped_total"));
}

#[tokio::test]
async fn new_issues_soon_after_a_release_fire_and_later_ones_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(SqliteOptions::new(dir.path())).unwrap());
    let clock = Arc::new(ManualClock::new(t(0)));
    let emu = Emulator::start().await;
    let (p, _) = store
        .create_project(lookout_storage::NewProject {
            name: "shop".into(),
        })
        .await
        .unwrap();
    store
        .upsert_release(
            p.id,
            "shop@2.0",
            lookout_storage::ReleaseUpdate {
                date_released: Some(t(0)),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    rule(
        &store,
        serde_json::json!({"name": "New after release", "severity": "high",
                           "condition": {"kind": "new_issue_after_release", "within": "2h"}}),
    )
    .await;
    let (mut r, sink, _worker) = runner(&store, &clock, &emu).await;
    let issue = |id: i64, at: i64| {
        Signal::Issue(IssueSignal {
            project_id: p.id,
            issue_id: id,
            at: t(at),
            new_issue: true,
            level: "error".into(),
            title: format!("E{id}"),
            ..Default::default()
        })
    };
    clock.set(t(600));
    sink.offer(issue(1, 600));
    r.step().await.unwrap();
    assert_eq!(r.firing().len(), 1);
    assert_eq!(r.firing()[0].labels["release"], "shop@2.0");
    assert_eq!(r.firing()[0].labels["project_id"], p.id.to_string());
    clock.set(t(3 * 3600));
    sink.offer(issue(2, 3 * 3600));
    r.step().await.unwrap();
    assert_eq!(
        r.firing().len(),
        1,
        "three hours after the release: not news"
    );
}

#[tokio::test]
async fn issues_whose_signals_were_dropped_are_found_by_a_scan() {
    use lookout_model::errors::{IngestBatch, NewEvent};
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(SqliteOptions::new(dir.path())).unwrap());
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let emu = Emulator::start().await;
    let (p, _) = store
        .create_project(lookout_storage::NewProject {
            name: "shop".into(),
        })
        .await
        .unwrap();
    rule(
        &store,
        serde_json::json!({"name": "New issue", "severity": "high",
                           "condition": {"kind": "new_issue"},
                           "scope": {"projects": [p.id]}}),
    )
    .await;
    let (mut r, sink, _worker) = runner(&store, &clock, &emu).await;
    // The queue fills up with other projects' signals...
    let other = |i: i64| {
        Signal::Issue(IssueSignal {
            project_id: 999,
            issue_id: i,
            at: clock.now(),
            new_issue: true,
            ..Default::default()
        })
    };
    for i in 0..SIGNAL_QUEUE as i64 {
        assert!(sink.offer(other(i)));
    }
    // ...so the signal of a real new issue is dropped.
    let now_ms = clock.now().timestamp_millis();
    let results = store
        .ingest(IngestBatch {
            project_id: p.id,
            received_ms: now_ms,
            events: vec![NewEvent {
                event_id: [7; 16],
                grouping_hash: "a".repeat(32),
                grouping_version: "test".into(),
                title: "KeyError: 'dropped'".into(),
                culprit: "verify in bot".into(),
                level: "error".into(),
                exception_type: Some("KeyError".into()),
                platform: Some("python".into()),
                timestamp_ms: now_ms,
                release: None,
                environment: Some("production".into()),
                user_key: None,
                trace_id: None,
                tags: vec![],
                dict_id: 0,
                payload: b"{}".to_vec(),
            }],
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(results[0].new_issue);
    assert!(!sink.offer(Signal::Issue(IssueSignal {
        project_id: p.id,
        issue_id: results[0].issue_id,
        at: clock.now(),
        new_issue: true,
        ..Default::default()
    })));
    r.step().await.unwrap();
    let firing = r.firing();
    assert_eq!(firing.len(), 1);
    assert_eq!(firing[0].annotations["title"], "KeyError: 'dropped'");
    assert_eq!(
        firing[0].labels["issue_id"],
        results[0].issue_id.to_string()
    );
}
