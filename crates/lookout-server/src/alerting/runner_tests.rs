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

/// A store in a temporary directory (kept while the first value lives), a
/// clock set to `at`, and the channel emulator.
async fn bed(
    at: DateTime<Utc>,
) -> (
    tempfile::TempDir,
    Arc<dyn Store>,
    Arc<ManualClock>,
    Emulator,
) {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(SqliteOptions::new(dir.path())).unwrap());
    (
        dir,
        store,
        Arc::new(ManualClock::new(at)),
        Emulator::start().await,
    )
}

/// A new project named `name`.
async fn project(store: &Arc<dyn Store>, name: &str) -> lookout_model::Project {
    store
        .create_project(lookout_storage::NewProject { name: name.into() })
        .await
        .unwrap()
        .0
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
    let (_dir, store, clock, emu) = bed(t(0)).await;
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
    let (_dir, store, clock, emu) = bed(t(0)).await;
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

/// A new issue does not wait for the next tick: with rounds an hour apart,
/// its alert is stored within seconds of the signal.
#[tokio::test]
async fn a_new_issue_starts_a_round_without_waiting_for_the_tick() {
    let (_dir, store, clock, emu) = bed(t(0)).await;
    rule(
        &store,
        serde_json::json!({"name": "New issue", "severity": "high",
                           "condition": {"kind": "new_issue"}}),
    )
    .await;
    let (r, sink, _worker) = runner(&store, &clock, &emu).await;
    let (stop, shutdown) = watch::channel(false);
    let task = tokio::spawn(r.run(std::time::Duration::from_secs(3600), shutdown));
    let stored = || async {
        store
            .list_alert_instances(AlertInstanceQuery {
                states: vec!["firing".into(), "pending".into()],
                include_install: true,
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap()
            .len()
    };
    let signal = |new_issue: bool| {
        Signal::Issue(IssueSignal {
            project_id: 1,
            project: "shop".into(),
            issue_id: 7,
            at: t(0),
            new_issue,
            level: "error".into(),
            title: "KeyError".into(),
            ..Default::default()
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(200)).await; // the first round
    assert!(sink.offer(signal(true)));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while stored().await == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "no alert within 5 s of a new issue, with rounds an hour apart"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    stop.send(true).unwrap();
    task.await.unwrap();
}

/// A rule (as `lookout.toml` writes it) may name a project by slug before
/// the project exists: it then admits nothing, and once the project is
/// made and its first event arrives, the rule applies to it.
#[tokio::test]
async fn a_rule_naming_a_slug_applies_once_the_project_exists() {
    let (_dir, store, clock, emu) = bed(t(0)).await;
    let other = project(&store, "blog").await;
    rule(
        &store,
        serde_json::json!({"name": "New in later", "severity": "high",
                           "condition": {"kind": "new_issue"},
                           "scope": {"projects": ["later"]}}),
    )
    .await;
    let (mut r, sink, _worker) = runner(&store, &clock, &emu).await;
    let new_issue = |project_id: i64, issue_id: i64| {
        Signal::Issue(IssueSignal {
            project_id,
            issue_id,
            at: t(0),
            new_issue: true,
            level: "error".into(),
            title: "KeyError".into(),
            ..Default::default()
        })
    };
    assert!(sink.offer(new_issue(other.id, 1)));
    r.step().await.unwrap();
    assert!(
        r.engine.alerts().next().is_none(),
        "an unresolved slug admitted blog"
    );
    let later = project(&store, "later").await;
    assert_eq!(later.slug, "later");
    assert!(sink.offer(new_issue(later.id, 2)));
    r.step().await.unwrap();
    let alerts: Vec<_> = r.engine.alerts().collect();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].subject.project_id(), Some(later.id));
}

#[tokio::test]
async fn new_issues_soon_after_a_release_fire_and_later_ones_do_not() {
    let (_dir, store, clock, emu) = bed(t(0)).await;
    let p = project(&store, "shop").await;
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
    let (_dir, store, clock, emu) = bed(Utc::now()).await;
    let p = project(&store, "shop").await;
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
    // ...and the overflow's counts too (distinct issues of another
    // project), so a storage scan is the only way left...
    for i in 0..(OVERFLOW_KEYS as i64 + 1) {
        assert!(!sink.offer(other(SIGNAL_QUEUE as i64 + i)));
    }
    // ...when the signal of a real new issue is dropped.
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

/// A monitor's recorded state change (as the monitoring engine writes it).
async fn monitor_change(
    store: &Arc<dyn Store>,
    monitor_id: i64,
    at: DateTime<Utc>,
    from: &str,
    to: &str,
    cause: &str,
) {
    let mut state = lookout_storage::MonitorState::pending(at);
    state.status = to.into();
    store
        .record_check(lookout_storage::CheckRecord {
            monitor_id,
            at,
            result: None,
            state,
            change: Some(lookout_storage::StateChange {
                from: from.into(),
                to: to.into(),
                cause: cause.into(),
            }),
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn monitor_changes_and_certificate_readings_fire_and_resolve_monitor_rules() {
    let (_dir, store, clock, emu) = bed(t(0)).await;
    let shop = project(&store, "shop").await;
    let new = |slug: &str, kind: &str| lookout_storage::NewMonitor {
        project_id: shop.id,
        slug: slug.into(),
        name: format!("{slug} job"),
        kind: kind.into(),
        spec: serde_json::json!({"kind": kind, "url": "https://shop.example/"}),
        source: "api".into(),
        ping_token: None,
    };
    let nightly = store
        .create_monitor(new("nightly", "heartbeat"))
        .await
        .unwrap();
    let site = store.create_monitor(new("site", "http")).await.unwrap();
    // A change recorded before alerting first started is history.
    monitor_change(&store, site.id, t(-50), "pending", "down", "HTTP 500").await;
    for (name, kind) in [
        (
            "Heartbeat missed",
            serde_json::json!({"kind": "heartbeat_missed"}),
        ),
        ("Monitor down", serde_json::json!({"kind": "monitor_down"})),
        (
            "Certificate",
            serde_json::json!({"kind": "tls_expiring", "days": 14}),
        ),
    ] {
        rule(
            &store,
            serde_json::json!({"name": name, "severity": "high", "condition": kind}),
        )
        .await;
    }
    let (mut r, _sink, worker) = runner(&store, &clock, &emu).await;
    r.step().await.unwrap();
    assert!(r.firing().is_empty(), "old changes are not news");

    // The job's ping is missed; the job itself reporting failure is not a
    // missed heartbeat, but the site going down is "down".
    clock.set(t(1));
    monitor_change(
        &store,
        nightly.id,
        t(1),
        "up",
        "down",
        "missed ping: expected by 2023-11-14 22:13:00 UTC (every 5 min, grace 1 min); last ping …",
    )
    .await;
    monitor_change(&store, site.id, t(1), "down", "up", "HTTP 200").await;
    monitor_change(
        &store,
        site.id,
        t(2),
        "up",
        "down",
        "HTTP status 502, expected 2xx",
    )
    .await;
    // The site's last check saw a certificate that expires in 5 days.
    let mut state = store.get_monitor(site.id).await.unwrap().unwrap().state;
    state.last_details = Some(serde_json::json!({
        "certificate_expires_at": (t(2) + Duration::days(5) + Duration::hours(1)).to_rfc3339()
    }));
    store
        .record_check(lookout_storage::CheckRecord {
            monitor_id: site.id,
            at: t(2),
            result: None,
            state,
            change: None,
        })
        .await
        .unwrap();
    clock.set(t(2));
    r.step().await.unwrap();
    let firing = |r: &AlertRunner| {
        let mut v: Vec<(String, String)> = r
            .firing()
            .iter()
            .map(|a| (a.rule_name.clone(), a.annotations["cause"].clone()))
            .collect();
        v.sort();
        v
    };
    // "Monitor down" speaks of every monitor, the job's too.
    let now = firing(&r);
    assert_eq!(now.len(), 3, "{now:?}");
    assert_eq!(now[0].0, "Heartbeat missed");
    assert!(
        now[0].1.starts_with("missed ping: expected by"),
        "{}",
        now[0].1
    );
    assert_eq!(
        now[1],
        (
            "Monitor down".to_string(),
            "HTTP status 502, expected 2xx".to_string()
        )
    );
    assert_eq!(now[2].0, "Monitor down");
    assert!(now[2].1.starts_with("missed ping"), "{}", now[2].1);
    clock.set(t(12));
    r.step().await.unwrap();
    worker.run_once().await.unwrap();
    let bodies: Vec<serde_json::Value> = emu.requests().iter().map(|q| q.json()).collect();
    assert_eq!(bodies.len(), 2, "one message per rule's group");
    let down = bodies.iter().find(|b| b["rule"] == "Monitor down").unwrap();
    let monitors: Vec<&str> = down["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["labels"]["monitor"].as_str().unwrap())
        .collect();
    assert!(monitors.contains(&"site job"), "{down}");
    // Certificate readings are taken once a minute (the first at t=0).
    clock.set(t(61));
    r.step().await.unwrap();
    let now = firing(&r);
    assert_eq!(now.len(), 4, "{now:?}");
    assert_eq!(now[0].0, "Certificate");
    assert!(now[0].1.contains("expires in 5 days"), "{}", now[0].1);

    // The site recovers: "down" resolves; the certificate alert stays
    // until a reading shows a renewed certificate.
    monitor_change(&store, site.id, t(80), "down", "up", "HTTP 200").await;
    clock.set(t(80));
    r.step().await.unwrap();
    let names: Vec<String> = firing(&r).into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        vec!["Certificate", "Heartbeat missed", "Monitor down"]
    );
    let mut state = store.get_monitor(site.id).await.unwrap().unwrap().state;
    state.last_details = Some(serde_json::json!({
        "certificate_expires_at": (t(80) + Duration::days(80)).to_rfc3339()
    }));
    store
        .record_check(lookout_storage::CheckRecord {
            monitor_id: site.id,
            at: t(85),
            result: None,
            state,
            change: None,
        })
        .await
        .unwrap();
    clock.set(t(100));
    r.step().await.unwrap();
    assert_eq!(firing(&r).len(), 3, "not read again before a minute");
    clock.set(t(121));
    r.step().await.unwrap();
    let names: Vec<String> = firing(&r).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, vec!["Heartbeat missed", "Monitor down"]);
}

#[tokio::test]
async fn commands_acknowledge_and_resolve_by_row_id() {
    let (_dir, store, clock, emu) = bed(t(0)).await;
    rule(
        &store,
        serde_json::json!({"name": "Backup failed", "severity": "critical",
                           "condition": {"kind": "backup_failed"}}),
    )
    .await;
    let (mut r, _sink, _worker) = runner(&store, &clock, &emu).await;
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
    r.step().await.unwrap();
    let row = store
        .list_alert_instances(AlertInstanceQuery {
            states: vec!["firing".into()],
            projects: None,
            include_install: true,
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap()
        .remove(0);
    let (tx, rx) = tokio::sync::oneshot::channel();
    r.handle(Command::Acknowledge {
        alert_id: row.id,
        by: "ann@example.com".into(),
        reply: tx,
    })
    .await;
    let acked = rx.await.unwrap().unwrap();
    assert_eq!(acked.acked_by.as_deref(), Some("ann@example.com"));
    assert_eq!(acked.state, "firing");
    let (tx, rx) = tokio::sync::oneshot::channel();
    r.handle(Command::Resolve {
        alert_id: row.id,
        by: "bob@example.com".into(),
        reply: tx,
    })
    .await;
    let resolved = rx.await.unwrap().unwrap();
    assert_eq!(resolved.state, "resolved");
    assert_eq!(resolved.resolved_by.as_deref(), Some("bob@example.com"));
    let (tx, rx) = tokio::sync::oneshot::channel();
    r.handle(Command::Resolve {
        alert_id: row.id,
        by: "bob@example.com".into(),
        reply: tx,
    })
    .await;
    assert_eq!(
        rx.await.unwrap(),
        Err(ControlError::AlreadyResolved(row.id))
    );
    let (tx, rx) = tokio::sync::oneshot::channel();
    r.handle(Command::Acknowledge {
        alert_id: 999,
        by: "x".into(),
        reply: tx,
    })
    .await;
    assert_eq!(rx.await.unwrap(), Err(ControlError::NoSuchAlert(999)));
}

#[tokio::test]
async fn damage_found_while_serving_is_sent_without_the_outbox() {
    let (_dir, store, clock, emu) = bed(t(0)).await;
    rule(
        &store,
        serde_json::json!({"name": "Storage damaged", "severity": "critical",
                           "condition": {"kind": "storage_damaged"}}),
    )
    .await;
    let (mut r, _sink, _worker) = runner(&store, &clock, &emu).await;
    r.step().await.unwrap();
    store.fence("integrity check failed: page 12 is never used".into());
    clock.set(t(1));
    assert_eq!(r.step().await.unwrap(), 0, "group_wait first");
    clock.set(t(11));
    assert_eq!(r.step().await.unwrap(), 1);
    let reqs = emu.requests();
    assert_eq!(reqs.len(), 1, "sent at once, by the runner itself");
    let body = reqs[0].json();
    assert_eq!(body["rule"], "Storage damaged");
    assert_eq!(
        body["alerts"][0]["annotations"]["cause"],
        "integrity check failed: page 12 is never used"
    );
    // Told once: later rounds send nothing more.
    clock.set(t(100));
    r.step().await.unwrap();
    assert_eq!(emu.requests().len(), 1);
}

#[tokio::test]
async fn frequency_rules_count_events_whose_signals_did_not_fit_the_queue() {
    let (_dir, store, clock, emu) = bed(t(0)).await;
    let p = project(&store, "shop").await;
    rule(
        &store,
        serde_json::json!({"name": "Burst", "severity": "high",
                           "condition": {"kind": "issue_frequency", "threshold": 10, "window": "5m"},
                           "scope": {"projects": [p.id], "environments": ["production"]}}),
    )
    .await;
    let (mut r, sink, _worker) = runner(&store, &clock, &emu).await;
    let signal = |project_id: i64, issue_id: i64, env: &str| {
        Signal::Issue(IssueSignal {
            project_id,
            issue_id,
            at: clock.now(),
            environment: Some(env.into()),
            title: "TimeoutError: db".into(),
            ..Default::default()
        })
    };
    for i in 0..SIGNAL_QUEUE as i64 {
        assert!(sink.offer(signal(999, i, "production")));
    }
    // 12 events of one issue, and 30 of staging, none fit the queue.
    for _ in 0..12 {
        assert!(!sink.offer(signal(p.id, 5, "production")));
    }
    for _ in 0..30 {
        assert!(!sink.offer(signal(p.id, 6, "staging")));
    }
    r.step().await.unwrap();
    let firing = r.firing();
    assert_eq!(
        firing.len(),
        1,
        "the 12 dropped events count; staging is out of scope"
    );
    assert_eq!(firing[0].rule_name, "Burst");
    assert_eq!(firing[0].count, 12);
}
