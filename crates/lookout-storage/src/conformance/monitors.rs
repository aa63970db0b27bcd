//! Conformance checks for monitors and status pages (issue #5):
//! definitions and upserts, atomic check records with incidents and
//! events, history roll-up and uptime, the check-in feed and its cursor,
//! and status pages.

use super::{DAY, HOUR, MIN, T0, at, batch, new_project};
use crate::{
    CheckRecord, MonitorResult, MonitorState, NewMonitor, NewStatusPage, StateChange,
    StatusPageMonitor, StorageError, Store,
};
use lookout_model::errors::{CheckInRow, IngestBatch};
use serde_json::json;

/// Runs the monitor checks.
pub async fn run_all(store: &dyn Store) {
    monitors_are_created_upserted_updated_and_deleted(store).await;
    checks_write_state_incidents_and_events_atomically(store).await;
    history_rolls_up_hourly_and_uptime_stays_the_same(store).await;
    check_ins_are_fed_in_order_with_a_cursor(store).await;
    status_pages_round_trip(store).await;
}

fn new_monitor(project_id: i64, slug: &str) -> NewMonitor {
    NewMonitor {
        project_id,
        slug: slug.into(),
        name: format!("Monitor {slug}"),
        kind: "http".into(),
        spec: json!({"kind": "http", "url": "http://127.0.0.1:9/"}),
        source: "api".into(),
        ping_token: None,
    }
}

fn result(ms: i64, status: &str, latency: f64) -> MonitorResult {
    MonitorResult {
        at: at(ms),
        status: status.into(),
        latency_ms: Some(latency),
        message: format!("{status} at {ms}"),
    }
}

async fn record(store: &dyn Store, id: i64, ms: i64, status: &str, latency: f64) {
    let mut state = MonitorState::pending(at(ms));
    state.status = "up".into();
    state.last_check_at = Some(at(ms));
    store
        .record_check(CheckRecord {
            monitor_id: id,
            at: at(ms),
            result: Some(result(ms, status, latency)),
            state,
            change: None,
        })
        .await
        .expect("record_check");
}

async fn monitors_are_created_upserted_updated_and_deleted(store: &dyn Store) {
    let p = new_project(store, "conformance monitors").await;
    let other = new_project(store, "conformance monitors other").await;
    let m = store
        .create_monitor(new_monitor(p, "api"))
        .await
        .expect("create_monitor");
    assert_eq!(m.slug, "api");
    assert_eq!(m.state.status, "pending", "a new monitor is pending");
    assert_eq!(m.spec["url"], "http://127.0.0.1:9/", "the spec round-trips");
    assert!(
        matches!(
            store.create_monitor(new_monitor(p, "api")).await,
            Err(StorageError::Conflict(_))
        ),
        "a duplicate slug in a project is a conflict"
    );
    store
        .create_monitor(new_monitor(other, "api"))
        .await
        .expect("the same slug in another project is fine");
    assert!(
        matches!(
            store.create_monitor(new_monitor(p, "bad slug!")).await,
            Err(StorageError::InvalidInput(_))
        ),
        "slugs are checked"
    );

    // Upsert keeps the id, the state and the token; changes the definition.
    let mut hb = new_monitor(p, "nightly");
    hb.kind = "heartbeat".into();
    hb.ping_token = Some("tok-nightly".into());
    hb.source = "sentry".into();
    let (created, was_new) = store.upsert_monitor(hb.clone()).await.expect("upsert");
    assert!(was_new);
    let mut state = MonitorState::pending(at(T0));
    state.status = "up".into();
    state.last_ping_at = Some(at(T0));
    state.last_output = Some("backup done".into());
    store
        .record_check(CheckRecord {
            monitor_id: created.id,
            at: at(T0),
            result: None,
            state: state.clone(),
            change: None,
        })
        .await
        .expect("record state");
    hb.name = "Nightly backup".into();
    hb.ping_token = Some("another".into());
    let (again, was_new) = store.upsert_monitor(hb).await.expect("upsert again");
    assert!(!was_new);
    assert_eq!(again.id, created.id, "upsert updates in place");
    assert_eq!(again.name, "Nightly backup");
    assert_eq!(
        again.ping_token.as_deref(),
        Some("tok-nightly"),
        "upsert keeps the token"
    );
    assert_eq!(again.state, state, "upsert keeps the state");
    assert_eq!(
        store
            .find_monitor_by_token("tok-nightly")
            .await
            .unwrap()
            .map(|m| m.id),
        Some(created.id)
    );
    assert_eq!(store.find_monitor_by_token("nope").await.unwrap(), None);
    assert_eq!(
        store
            .find_monitor(p, "nightly")
            .await
            .unwrap()
            .map(|m| m.id),
        Some(created.id)
    );
    assert_eq!(
        store.find_monitor(other, "nightly").await.unwrap(),
        None,
        "slugs are per project"
    );

    let ids: Vec<i64> = store
        .list_monitors(Some(p))
        .await
        .unwrap()
        .iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(ids, vec![m.id, created.id], "a project's monitors by id");
    assert!(
        store.list_monitors(None).await.unwrap().len() >= 3,
        "None lists every project's"
    );

    let u = store
        .update_monitor(m.id, "Renamed".into(), "tcp".into(), json!({"kind": "tcp"}))
        .await
        .expect("update");
    assert_eq!((u.name.as_str(), u.kind.as_str()), ("Renamed", "tcp"));
    assert!(store.set_monitor_paused(m.id, true).await.unwrap().paused);
    assert!(!store.set_monitor_paused(m.id, false).await.unwrap().paused);
    assert!(matches!(
        store.set_monitor_paused(-1, true).await,
        Err(StorageError::NotFound(_))
    ));
    assert!(store.delete_monitor(m.id).await.unwrap());
    assert!(
        !store.delete_monitor(m.id).await.unwrap(),
        "deleting twice says false"
    );
    assert_eq!(store.get_monitor(m.id).await.unwrap(), None);
}

async fn checks_write_state_incidents_and_events_atomically(store: &dyn Store) {
    let p = new_project(store, "conformance monitor incidents").await;
    let m = store.create_monitor(new_monitor(p, "web")).await.unwrap();
    let before = store
        .monitor_events_after(0, 100_000)
        .await
        .unwrap()
        .last()
        .map(|e| e.id)
        .unwrap_or(0);
    let change = |from: &str, to: &str, cause: &str| StateChange {
        from: from.into(),
        to: to.into(),
        cause: cause.into(),
    };
    let mut state = MonitorState::pending(at(T0));
    state.status = "down".into();
    state.failures = 3;
    state.last_message = Some("HTTP 503".into());
    state.last_details = Some(json!({"status_code": 503}));
    let ev = store
        .record_check(CheckRecord {
            monitor_id: m.id,
            at: at(T0),
            result: Some(result(T0, "down", 12.0)),
            state: state.clone(),
            change: Some(change("up", "down", "HTTP 503 Service Unavailable")),
        })
        .await
        .unwrap()
        .expect("a state change returns its event");
    assert_eq!((ev.from.as_str(), ev.to.as_str()), ("up", "down"));
    assert_eq!(ev.monitor_name, "Monitor web");
    assert_eq!(ev.project_id, p);
    let got = store.get_monitor(m.id).await.unwrap().unwrap();
    assert_eq!(got.state, state, "the state is stored as given");
    let inc = store.monitor_incidents(m.id, 10).await.unwrap();
    assert_eq!(inc.len(), 1);
    assert_eq!(inc[0].ended_at, None, "the incident is open");
    assert_eq!(inc[0].cause, "HTTP 503 Service Unavailable");
    assert_eq!(ev.incident_id, Some(inc[0].id));

    // down → degraded closes the down incident and opens a degraded one.
    state.status = "degraded".into();
    store
        .record_check(CheckRecord {
            monitor_id: m.id,
            at: at(T0 + MIN),
            result: None,
            state: state.clone(),
            change: Some(change("down", "degraded", "redis failing")),
        })
        .await
        .unwrap();
    // degraded → up closes it.
    state.status = "up".into();
    let ev3 = store
        .record_check(CheckRecord {
            monitor_id: m.id,
            at: at(T0 + 3 * MIN),
            result: Some(result(T0 + 3 * MIN, "up", 5.0)),
            state,
            change: Some(change("degraded", "up", "HTTP 200")),
        })
        .await
        .unwrap()
        .unwrap();
    let inc = store.monitor_incidents(m.id, 10).await.unwrap();
    assert_eq!(inc.len(), 2, "two incidents: down, then degraded");
    assert_eq!(inc[0].status, "degraded", "newest first");
    assert_eq!(inc[0].started_at, at(T0 + MIN));
    assert_eq!(inc[0].ended_at, Some(at(T0 + 3 * MIN)));
    assert_eq!(inc[1].ended_at, Some(at(T0 + MIN)));
    assert_eq!(
        ev3.incident_id,
        Some(inc[0].id),
        "a recovery names the incident it closed"
    );
    let events = store.monitor_events_after(before, 100).await.unwrap();
    let mine: Vec<(String, String)> = events
        .iter()
        .filter(|e| e.monitor_id == m.id)
        .map(|e| (e.from.clone(), e.to.clone()))
        .collect();
    assert_eq!(
        mine,
        vec![
            ("up".into(), "down".into()),
            ("down".into(), "degraded".into()),
            ("degraded".into(), "up".into())
        ]
    );
    assert!(
        events.windows(2).all(|w| w[0].id < w[1].id),
        "events come in id order"
    );
    let rs = store.monitor_results(m.id, at(0), 10).await.unwrap();
    assert_eq!(rs.len(), 2, "a check without a result row writes none");
    assert_eq!(rs[0].status, "up", "results newest first");
    assert!(
        store
            .record_check(CheckRecord {
                monitor_id: -5,
                at: at(T0),
                result: None,
                state: MonitorState::pending(at(T0)),
                change: None
            })
            .await
            .is_err()
    );
    // Deleting the monitor keeps its events for the alert engine.
    store.delete_monitor(m.id).await.unwrap();
    assert_eq!(
        store
            .monitor_events_after(before, 100)
            .await
            .unwrap()
            .iter()
            .filter(|e| e.monitor_id == m.id)
            .count(),
        3
    );
}

async fn history_rolls_up_hourly_and_uptime_stays_the_same(store: &dyn Store) {
    let p = new_project(store, "conformance monitor history").await;
    let m = store.create_monitor(new_monitor(p, "hist")).await.unwrap();
    let now = T0 + 2 * DAY;
    // 100 checks in the hour two days ago (10 down), 10 in the last hour (all up).
    let old_hour = T0;
    for i in 0..100 {
        let status = if i < 10 { "down" } else { "up" };
        record(
            store,
            m.id,
            old_hour + i * 30 * 1000,
            status,
            (i + 1) as f64,
        )
        .await;
    }
    for i in 0..10 {
        record(store, m.id, now - HOUR + i * MIN, "up", 7.0).await;
    }
    let up = store.monitor_uptime(m.id, at(now)).await.unwrap();
    assert_eq!(up.h24, Some(100.0), "the last 24 h had no failure");
    let want = 100.0 * 100.0 / 110.0;
    assert!(
        (up.d7.unwrap() - want).abs() < 1e-9,
        "7 d: 100 of 110 good, got {:?}",
        up.d7
    );
    let hours = store.monitor_hourly(m.id, at(T0)).await.unwrap();
    assert_eq!(hours[0].hour, at(old_hour));
    assert_eq!((hours[0].count, hours[0].failures), (100, 10));
    assert_eq!(hours[0].p50, Some(50.0));
    assert_eq!(hours[0].p95, Some(95.0));
    assert_eq!(hours[0].p99, Some(99.0));

    // Roll up everything older than a day: the old hour leaves the raw table.
    let rolled = store
        .compact_monitor_history(at(now - DAY), at(now - 90 * DAY), 1000)
        .await
        .unwrap();
    assert!(rolled >= 100, "the old hour was rolled up ({rolled})");
    assert_eq!(
        store
            .monitor_results(m.id, at(0), 1000)
            .await
            .unwrap()
            .len(),
        10,
        "raw rows are kept only for the recent hour"
    );
    let after = store.monitor_uptime(m.id, at(now)).await.unwrap();
    assert_eq!(after, up, "uptime is the same from aggregates");
    let hours = store.monitor_hourly(m.id, at(T0)).await.unwrap();
    assert_eq!(
        (hours[0].count, hours[0].failures, hours[0].p95),
        (100, 10, Some(95.0)),
        "aggregates keep counts and percentiles"
    );
    let days = store.monitor_daily(m.id, at(T0 - DAY)).await.unwrap();
    assert_eq!(days.iter().map(|d| d.count).sum::<u64>(), 110);
    assert_eq!(days[0].failures, 10);
    // History older than the horizon goes.
    store
        .compact_monitor_history(at(now), at(now - HOUR / 2), 1000)
        .await
        .unwrap();
    assert!(
        store
            .monitor_hourly(m.id, at(0))
            .await
            .unwrap()
            .iter()
            .all(|h| h.hour >= at(now - HOUR)),
        "old aggregates are deleted"
    );
    assert_eq!(
        store.monitor_uptime(MISSING, at(now)).await.unwrap().h24,
        None,
        "no checks: no uptime"
    );
}

/// A monitor id that does not exist.
pub const MISSING: i64 = -42;

async fn check_ins_are_fed_in_order_with_a_cursor(store: &dyn Store) {
    let p = new_project(store, "conformance check-in feed").await;
    let start = store.last_check_in_id().await.unwrap();
    for (i, status) in ["in_progress", "ok", "error"].iter().enumerate() {
        store
            .ingest(IngestBatch {
                check_ins: vec![CheckInRow {
                    check_in_id: format!("c{i}"),
                    monitor_slug: "feed".into(),
                    status: status.to_string(),
                    duration: None,
                    environment: None,
                    release: None,
                    monitor_config: (i == 0).then(
                        || json!({"schedule": {"type": "interval", "value": 5, "unit": "minute"}}),
                    ),
                    received_at: at(T0 + i as i64 * MIN),
                }],
                ..batch(p, T0)
            })
            .await
            .unwrap();
    }
    let feed = store.check_ins_after(start, 10).await.unwrap();
    let statuses: Vec<&str> = feed.iter().map(|(_, _, c)| c.status.as_str()).collect();
    assert_eq!(statuses, ["in_progress", "ok", "error"], "oldest first");
    assert!(
        feed.iter().all(|(_, pid, _)| *pid == p),
        "with their project"
    );
    assert_eq!(
        feed[0].2.monitor_config.as_ref().unwrap()["schedule"]["value"],
        5
    );
    assert_eq!(
        store.check_ins_after(feed[0].0, 1).await.unwrap()[0]
            .2
            .status,
        "ok",
        "after an id, with a limit"
    );
    assert_eq!(store.last_check_in_id().await.unwrap(), feed[2].0);
    assert_eq!(store.monitor_cursor("conformance").await.unwrap(), None);
    store
        .set_monitor_cursor("conformance", feed[1].0)
        .await
        .unwrap();
    store
        .set_monitor_cursor("conformance", feed[2].0)
        .await
        .unwrap();
    assert_eq!(
        store.monitor_cursor("conformance").await.unwrap(),
        Some(feed[2].0)
    );
}

async fn status_pages_round_trip(store: &dyn Store) {
    let p = new_project(store, "conformance status pages").await;
    let a = store.create_monitor(new_monitor(p, "a")).await.unwrap();
    let b = store.create_monitor(new_monitor(p, "b")).await.unwrap();
    let page = NewStatusPage {
        slug: "acme".into(),
        title: "Acme status".into(),
        description: "Our services".into(),
        notice: Some("Maintenance tonight".into()),
        monitors: vec![
            StatusPageMonitor {
                monitor_id: b.id,
                display_name: "Website".into(),
            },
            StatusPageMonitor {
                monitor_id: a.id,
                display_name: "API".into(),
            },
        ],
    };
    let created = store
        .create_status_page(page.clone())
        .await
        .expect("create page");
    assert_eq!(
        created.monitors, page.monitors,
        "monitors keep their order and names"
    );
    assert!(matches!(
        store.create_status_page(page.clone()).await,
        Err(StorageError::Conflict(_))
    ));
    assert!(matches!(
        store
            .create_status_page(NewStatusPage {
                slug: "Bad Slug".into(),
                ..page.clone()
            })
            .await,
        Err(StorageError::InvalidInput(_))
    ));
    let found = store
        .find_status_page("acme")
        .await
        .unwrap()
        .expect("by slug");
    assert_eq!(found, created);
    let updated = store
        .update_status_page(
            created.id,
            NewStatusPage {
                notice: None,
                monitors: vec![page.monitors[1].clone()],
                ..page.clone()
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.notice, None);
    assert_eq!(updated.monitors.len(), 1);
    store.delete_monitor(a.id).await.unwrap();
    assert!(
        store
            .find_status_page("acme")
            .await
            .unwrap()
            .unwrap()
            .monitors
            .is_empty(),
        "a deleted monitor leaves its pages"
    );
    assert!(
        store
            .list_status_pages()
            .await
            .unwrap()
            .iter()
            .any(|p| p.slug == "acme")
    );
    assert!(store.delete_status_page(created.id).await.unwrap());
    assert_eq!(store.find_status_page("acme").await.unwrap(), None);
}
