//! Conformance checks for alerting (issue #6): rules (and rules as code),
//! alert instances, silences, channels, the notification outbox with its
//! delivery log, circuit breakers and cursors.

use super::new_project;
use crate::{
    AlertInstanceQuery, AlertInstanceRow, AlertSource, AttemptOutcome, BreakerRow, DeliveryQuery,
    NewAlertRule, NewChannel, NewOutboxItem, NewSilence, OutboxState, Severity, StorageError,
    Store, SystemEvent,
};
use chrono::{DateTime, Duration, Utc};
use serde_json::json;

/// Runs the alerting checks.
pub async fn run_all(store: &dyn Store) {
    rules_round_trip_and_config_rules_sync_by_name(store).await;
    alert_instances_upsert_by_identity_and_filter(store).await;
    silences_validate_expire_and_list(store).await;
    channels_are_unique_by_name(store).await;
    the_outbox_claims_once_and_records_every_attempt(store).await;
    a_crash_mid_send_leaves_the_item_to_retry_with_its_key(store).await;
    breakers_cursors_and_system_events_round_trip(store).await;
}

fn t0() -> DateTime<Utc> {
    // Whole milliseconds: what every backend can store.
    DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).unwrap()
}

fn rule(name: &str, source: AlertSource, projects: Vec<i64>) -> NewAlertRule {
    NewAlertRule {
        name: name.into(),
        enabled: true,
        source,
        projects,
        spec: json!({"name": name, "severity": "high", "condition": {"kind": "new_issue"}}),
        created_by: None,
    }
}

async fn rules_round_trip_and_config_rules_sync_by_name(store: &dyn Store) {
    let now = t0();
    let api = store
        .create_alert_rule(rule("alerts api rule", AlertSource::Api, vec![3, 4]), now)
        .await
        .unwrap();
    assert_eq!(api.projects, vec![3, 4]);
    assert_eq!(api.spec["condition"]["kind"], "new_issue");
    assert_eq!(api.created_at, now);
    let mut changed = rule("alerts api rule renamed", AlertSource::Api, vec![]);
    changed.enabled = false;
    let later = now + Duration::seconds(5);
    let up = store
        .update_alert_rule(api.id, changed, later)
        .await
        .unwrap();
    assert_eq!(up.name, "alerts api rule renamed");
    assert!(!up.enabled);
    assert!(up.projects.is_empty());
    assert_eq!((up.created_at, up.updated_at), (now, later));
    assert!(matches!(
        store
            .update_alert_rule(i64::MAX, rule("x", AlertSource::Api, vec![]), now)
            .await,
        Err(StorageError::NotFound(_))
    ));
    assert!(matches!(
        store
            .create_alert_rule(rule("  ", AlertSource::Api, vec![]), now)
            .await,
        Err(StorageError::InvalidInput(_))
    ));

    // Rules as code: synchronised by name; API rules are left alone.
    let first = store
        .sync_config_alert_rules(
            vec![
                rule("cfg errors", AlertSource::Api, vec![]),
                rule("cfg backups", AlertSource::Api, vec![]),
            ],
            now,
        )
        .await
        .unwrap();
    assert!(first.iter().all(|r| r.source == AlertSource::Config));
    let second = store
        .sync_config_alert_rules(
            vec![
                rule("cfg backups", AlertSource::Config, vec![1]),
                rule("cfg spike", AlertSource::Config, vec![]),
            ],
            later,
        )
        .await
        .unwrap();
    assert_eq!(second[0].id, first[1].id, "same name keeps its id");
    assert_eq!(second[0].projects, vec![1]);
    let all = store.list_alert_rules().await.unwrap();
    let names: Vec<&str> = all.iter().map(|r| r.name.as_str()).collect();
    assert!(names.contains(&"alerts api rule renamed"));
    assert!(!names.contains(&"cfg errors"), "dropped from the config");
    assert!(names.contains(&"cfg spike"));
    assert_eq!(
        store.get_alert_rule(second[1].id).await.unwrap().unwrap(),
        second[1]
    );
    assert!(store.delete_alert_rule(api.id).await.unwrap());
    assert!(!store.delete_alert_rule(api.id).await.unwrap());
    assert!(store.get_alert_rule(api.id).await.unwrap().is_none());
}

fn instance(rule_id: i64, fp: &str, state: &str, project: Option<i64>) -> AlertInstanceRow {
    let at = t0();
    AlertInstanceRow {
        id: 0,
        rule_id,
        fingerprint: fp.into(),
        state: state.into(),
        severity: "high".into(),
        project_id: project,
        active_since: at - Duration::minutes(10),
        starts_at: Some(at - Duration::minutes(9)),
        ends_at: None,
        acked_by: None,
        acked_at: None,
        resolved_by: None,
        updated_at: at,
        body: json!({"fp": fp}),
    }
}

async fn alert_instances_upsert_by_identity_and_filter(store: &dyn Store) {
    let p1 = new_project(store, "alerts instances 1").await;
    let p2 = new_project(store, "alerts instances 2").await;
    let r = store
        .create_alert_rule(
            rule("alerts instances rule", AlertSource::Api, vec![]),
            t0(),
        )
        .await
        .unwrap();
    let a = instance(r.id, "project=1,issue=1", "firing", Some(p1));
    let b = instance(r.id, "project=2", "pending", Some(p2));
    let c = instance(r.id, "backup", "firing", None);
    store
        .save_alert_instances(vec![a.clone(), b.clone(), c.clone()], vec![])
        .await
        .unwrap();
    // The same identity updates the row.
    let mut a2 = a.clone();
    a2.acked_by = Some("ann@example.com".into());
    a2.acked_at = Some(a.updated_at);
    store.save_alert_instances(vec![a2], vec![]).await.unwrap();
    let q =
        |states: Vec<&str>, projects: Option<Vec<i64>>, include_install: bool| AlertInstanceQuery {
            states: states.into_iter().map(String::from).collect(),
            projects,
            include_install,
            limit: 50,
            ..Default::default()
        };
    let mine = |rows: Vec<AlertInstanceRow>| -> Vec<String> {
        let mut v: Vec<String> = rows
            .into_iter()
            .filter(|x| x.rule_id == r.id)
            .map(|x| x.fingerprint)
            .collect();
        v.sort();
        v
    };
    let all = store
        .list_alert_instances(q(vec![], None, true))
        .await
        .unwrap();
    assert_eq!(
        mine(all.clone()),
        vec!["backup", "project=1,issue=1", "project=2"]
    );
    let row = all
        .iter()
        .find(|x| x.fingerprint == "project=1,issue=1")
        .unwrap();
    assert_eq!(row.acked_by.as_deref(), Some("ann@example.com"));
    assert_eq!(row.body["fp"], "project=1,issue=1");
    assert_eq!(row.active_since, a.active_since);
    assert_eq!(
        store.get_alert_instance(row.id).await.unwrap().as_ref(),
        Some(row)
    );
    // A notification names its alerts by identity; a pruned one falls
    // back to the latest instance of that rule and fingerprint.
    let found = |since| store.find_alert_instance(r.id, "project=1,issue=1".into(), since);
    assert_eq!(found(a.active_since).await.unwrap().as_ref(), Some(row));
    assert_eq!(
        found(a.active_since - Duration::hours(1))
            .await
            .unwrap()
            .map(|x| x.id),
        Some(row.id)
    );
    assert!(
        store
            .find_alert_instance(r.id, "no such".into(), a.active_since)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        mine(
            store
                .list_alert_instances(q(vec!["firing"], Some(vec![p1]), false))
                .await
                .unwrap()
        ),
        vec!["project=1,issue=1"]
    );
    assert_eq!(
        mine(
            store
                .list_alert_instances(q(vec![], Some(vec![]), false))
                .await
                .unwrap()
        ),
        Vec::<String>::new()
    );
    assert_eq!(
        mine(
            store
                .list_alert_instances(q(vec![], None, false))
                .await
                .unwrap()
        ),
        vec!["project=1,issue=1", "project=2"],
        "install-wide alerts only when asked for"
    );
    // By rule, and paged by (updated_at, id): all three rows share one
    // updated_at, so the id breaks the tie.
    let other = store
        .create_alert_rule(
            rule("alerts instances other", AlertSource::Api, vec![]),
            t0(),
        )
        .await
        .unwrap();
    let by_rule = |rule_id, before, limit| AlertInstanceQuery {
        rule_id: Some(rule_id),
        before,
        limit,
        include_install: true,
        ..Default::default()
    };
    assert!(
        store
            .list_alert_instances(by_rule(other.id, None, 10))
            .await
            .unwrap()
            .is_empty()
    );
    let all = store
        .list_alert_instances(by_rule(r.id, None, 10))
        .await
        .unwrap();
    assert_eq!(all.len(), 3);
    let page1 = store
        .list_alert_instances(by_rule(r.id, None, 2))
        .await
        .unwrap();
    let last = page1.last().unwrap();
    let page2 = store
        .list_alert_instances(by_rule(r.id, Some((last.updated_at, last.id)), 2))
        .await
        .unwrap();
    let mut seen: Vec<i64> = page1.iter().chain(page2.iter()).map(|x| x.id).collect();
    assert_eq!(seen.len(), 3, "pages neither overlap nor skip");
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 3);
    store.delete_alert_rule(other.id).await.unwrap();
    // Discarding a pending instance removes it; resolved history stays.
    let mut resolved = a.clone();
    resolved.state = "resolved".into();
    resolved.ends_at = Some(t0() - Duration::days(40));
    store
        .save_alert_instances(
            vec![resolved],
            vec![
                (r.id, "project=2".into()),
                (r.id, "project=1,issue=1".into()),
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        mine(
            store
                .list_alert_instances(q(vec![], None, true))
                .await
                .unwrap()
        ),
        vec!["backup", "project=1,issue=1"]
    );
    assert!(
        store
            .prune_alert_instances(t0() - Duration::days(30), 100)
            .await
            .unwrap()
            >= 1
    );
    assert_eq!(
        mine(
            store
                .list_alert_instances(q(vec![], None, true))
                .await
                .unwrap()
        ),
        vec!["backup"]
    );
    // Deleting a project drops its alerts; deleting a rule drops the rest.
    store
        .save_alert_instances(
            vec![instance(r.id, "project=2", "firing", Some(p2))],
            vec![],
        )
        .await
        .unwrap();
    assert!(store.delete_project(p2).await.unwrap());
    assert_eq!(
        mine(
            store
                .list_alert_instances(q(vec![], None, true))
                .await
                .unwrap()
        ),
        vec!["backup"]
    );
    store.delete_alert_rule(r.id).await.unwrap();
    assert!(
        mine(
            store
                .list_alert_instances(q(vec![], None, true))
                .await
                .unwrap()
        )
        .is_empty()
    );
}

async fn silences_validate_expire_and_list(store: &dyn Store) {
    let now = t0();
    let new = NewSilence {
        kind: "silence".into(),
        matchers: vec![
            "alertname=Alerts silence".into(),
            r#"env=~"prod|staging""#.into(),
        ],
        project_id: Some(1),
        starts_at: now,
        ends_at: now + Duration::hours(1),
        created_by: "ann@example.com".into(),
        comment: "deploying".into(),
    };
    let s = store.create_silence(new.clone(), now).await.unwrap();
    assert_eq!(s.matchers, new.matchers);
    assert_eq!((s.starts_at, s.ends_at), (new.starts_at, new.ends_at));
    assert_eq!(store.get_silence(s.id).await.unwrap().as_ref(), Some(&s));
    let mut bad = new.clone();
    bad.matchers.clear();
    assert!(matches!(
        store.create_silence(bad, now).await,
        Err(StorageError::InvalidInput(_))
    ));
    let mut bad = new.clone();
    bad.ends_at = bad.starts_at;
    assert!(matches!(
        store.create_silence(bad, now).await,
        Err(StorageError::InvalidInput(_))
    ));
    assert!(
        store
            .list_silences(now)
            .await
            .unwrap()
            .iter()
            .any(|x| x.id == s.id)
    );
    let ended = store
        .expire_silence(s.id, now + Duration::minutes(5))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ended.ends_at, now + Duration::minutes(5));
    // Expiring again does not move the end later.
    let again = store
        .expire_silence(s.id, now + Duration::minutes(30))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.ends_at, now + Duration::minutes(5));
    assert!(
        !store
            .list_silences(now + Duration::minutes(6))
            .await
            .unwrap()
            .iter()
            .any(|x| x.id == s.id)
    );
    assert!(store.expire_silence(i64::MAX, now).await.unwrap().is_none());
    // Retention deletes silences that ended before the cutoff, and only those.
    let later = store
        .create_silence(
            NewSilence {
                ends_at: now + Duration::days(2),
                ..new.clone()
            },
            now,
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .prune_silences(now + Duration::minutes(4), 100)
            .await
            .unwrap(),
        0,
        "the silence ended at +5 min is not yet past a +4 min cutoff"
    );
    assert_eq!(
        store
            .prune_silences(now + Duration::days(1), 100)
            .await
            .unwrap(),
        1
    );
    assert!(store.get_silence(s.id).await.unwrap().is_none());
    assert!(store.get_silence(later.id).await.unwrap().is_some());
}

async fn channels_are_unique_by_name(store: &dyn Store) {
    let now = t0();
    let ch = |kind: &str, url: &str| NewChannel {
        name: "alerts-hook".into(),
        kind: kind.into(),
        enabled: true,
        source: AlertSource::Api,
        config: json!({"url": url}),
    };
    let a = store
        .upsert_channel(ch("webhook", "http://a"), now)
        .await
        .unwrap();
    let b = store
        .upsert_channel(ch("slack", "http://b"), now + Duration::seconds(1))
        .await
        .unwrap();
    assert_eq!(a.id, b.id);
    assert_eq!(b.kind, "slack");
    assert_eq!(b.config["url"], "http://b");
    assert_eq!(b.created_at, now);
    let listed = store.list_channels().await.unwrap();
    assert_eq!(listed.iter().filter(|c| c.name == "alerts-hook").count(), 1);
    let mut bad = ch("webhook", "x");
    bad.name = "log".into();
    assert!(matches!(
        store.upsert_channel(bad, now).await,
        Err(StorageError::InvalidInput(_))
    ));
    let mut bad = ch("webhook", "x");
    bad.name = "no spaces".into();
    assert!(store.upsert_channel(bad, now).await.is_err());
    assert!(store.delete_channel("alerts-hook").await.unwrap());
    assert!(!store.delete_channel("alerts-hook").await.unwrap());
}

fn item(key: &str, channel: &str, not_before: DateTime<Utc>) -> NewOutboxItem {
    NewOutboxItem {
        idempotency_key: key.into(),
        channel: channel.into(),
        payload: json!({"kind": "firing", "key": key}),
        not_before,
    }
}

async fn the_outbox_claims_once_and_records_every_attempt(store: &dyn Store) {
    let now = t0();
    let added = store
        .enqueue_outbox(
            vec![
                item("alerts-a/telegram", "alerts-telegram", now),
                item("alerts-a/email", "alerts-email", now),
                item(
                    "alerts-b/telegram",
                    "alerts-telegram",
                    now + Duration::minutes(1),
                ),
            ],
            now,
        )
        .await
        .unwrap();
    assert_eq!(added, 3);
    // The same keys again: nothing added.
    let again = store
        .enqueue_outbox(vec![item("alerts-a/telegram", "alerts-telegram", now)], now)
        .await
        .unwrap();
    assert_eq!(again, 0);

    let stored = store.list_outbox(None, 10).await.unwrap();
    let first = stored
        .iter()
        .find(|x| x.idempotency_key == "alerts-a/telegram")
        .unwrap();
    assert_eq!(
        store.get_outbox_item(first.id).await.unwrap().as_ref(),
        Some(first)
    );
    assert!(store.get_outbox_item(i64::MAX).await.unwrap().is_none());
    assert!(store.outbox_next_due().await.unwrap().unwrap() <= now);
    let claimed = store.claim_outbox(now, 10).await.unwrap();
    assert_eq!(
        store.outbox_next_due().await.unwrap(),
        Some(now + Duration::minutes(1)),
        "claimed rows are not pending"
    );
    let mine: Vec<_> = claimed
        .iter()
        .filter(|i| i.idempotency_key.starts_with("alerts-"))
        .collect();
    assert_eq!(mine.len(), 2, "only what is due");
    assert!(
        mine.iter()
            .all(|i| i.state == OutboxState::Sending && i.attempts == 1)
    );
    assert_eq!(mine[0].payload["kind"], "firing");
    assert!(
        store
            .claim_outbox(now, 10)
            .await
            .unwrap()
            .iter()
            .all(|i| !i.idempotency_key.starts_with("alerts-a")),
        "an item in flight is not claimed twice"
    );
    let tg = mine
        .iter()
        .find(|i| i.channel == "alerts-telegram")
        .unwrap()
        .id;
    let em = mine
        .iter()
        .find(|i| i.channel == "alerts-email")
        .unwrap()
        .id;

    // Telegram answers 429: retry later; then it goes through.
    let retry_at = now + Duration::seconds(30);
    let r = store
        .finish_outbox_attempt(
            tg,
            AttemptOutcome::Retry {
                next_attempt_at: retry_at,
                error: "HTTP 429: retry after 30 s".into(),
            },
            120,
            now,
        )
        .await
        .unwrap();
    assert_eq!(r.state, OutboxState::Pending);
    assert_eq!(r.next_attempt_at, retry_at);
    assert_eq!(r.last_error.as_deref(), Some("HTTP 429: retry after 30 s"));
    assert!(
        store
            .finish_outbox_attempt(tg, AttemptOutcome::Sent, 1, now)
            .await
            .is_err(),
        "only an item in flight can finish"
    );
    let later = store.claim_outbox(retry_at, 10).await.unwrap();
    let again = later.iter().find(|i| i.id == tg).expect("due again");
    assert_eq!(again.attempts, 2);
    let sent = store
        .finish_outbox_attempt(tg, AttemptOutcome::Sent, 80, retry_at)
        .await
        .unwrap();
    assert_eq!(sent.state, OutboxState::Sent);
    assert_eq!(sent.sent_at, Some(retry_at));

    // E-mail: deferred by an open breaker (no attempt counted), then failed.
    let d = store
        .finish_outbox_attempt(
            em,
            AttemptOutcome::Deferred {
                next_attempt_at: now + Duration::seconds(10),
                reason: "circuit open".into(),
            },
            0,
            now,
        )
        .await
        .unwrap();
    assert_eq!((d.state, d.attempts), (OutboxState::Pending, 0));
    store
        .claim_outbox(now + Duration::seconds(10), 10)
        .await
        .unwrap();
    let f = store
        .finish_outbox_attempt(
            em,
            AttemptOutcome::Failed {
                error: "550 mailbox unavailable".into(),
            },
            15,
            now + Duration::seconds(10),
        )
        .await
        .unwrap();
    assert_eq!((f.state, f.attempts), (OutboxState::Failed, 1));

    // The delivery log has every attempt, newest first.
    let log = store.list_deliveries(Some(tg), 10).await.unwrap();
    let outcomes: Vec<(&str, u32)> = log
        .iter()
        .map(|l| (l.outcome.as_str(), l.attempt))
        .collect();
    assert_eq!(outcomes, vec![("sent", 2), ("retry", 1)]);
    assert_eq!(log[1].error.as_deref(), Some("HTTP 429: retry after 30 s"));
    assert_eq!(log[1].duration_ms, 120);
    assert_eq!(log[0].channel, "alerts-telegram");
    let log = store.list_deliveries(Some(em), 10).await.unwrap();
    let outcomes: Vec<&str> = log.iter().map(|l| l.outcome.as_str()).collect();
    assert_eq!(outcomes, vec!["failed", "deferred"]);
    // Filtered by channel and outcome, newest first, paged by id.
    let q = |channel: Option<&str>, outcome: Option<&str>, before_id, limit| DeliveryQuery {
        channel: channel.map(String::from),
        outcome: outcome.map(String::from),
        before_id,
        limit,
    };
    let tg_log = store
        .query_deliveries(q(Some("alerts-telegram"), None, None, 10))
        .await
        .unwrap();
    assert!(tg_log.iter().all(|l| l.channel == "alerts-telegram"));
    assert!(tg_log.windows(2).all(|w| w[0].id > w[1].id));
    assert!(tg_log.iter().any(|l| l.outbox_id == tg));
    let retries = store
        .query_deliveries(q(Some("alerts-telegram"), Some("retry"), None, 10))
        .await
        .unwrap();
    assert!(!retries.is_empty() && retries.iter().all(|l| l.outcome == "retry"));
    let first = store
        .query_deliveries(q(Some("alerts-telegram"), None, None, 1))
        .await
        .unwrap();
    let rest = store
        .query_deliveries(q(Some("alerts-telegram"), None, Some(first[0].id), 10))
        .await
        .unwrap();
    assert_eq!(first.len() + rest.len(), tg_log.len());
    assert!(rest.iter().all(|l| l.id < first[0].id));

    let counts = store.outbox_counts().await.unwrap();
    assert!(
        counts
            .iter()
            .any(|(s, n)| *s == OutboxState::Sent && *n >= 1)
    );
    assert!(
        counts
            .iter()
            .any(|(s, n)| *s == OutboxState::Failed && *n >= 1)
    );
    let failed = store
        .list_outbox(Some(OutboxState::Failed), 10)
        .await
        .unwrap();
    assert!(failed.iter().any(|i| i.id == em));

    // Pruning removes finished items and their log, not pending ones.
    let pruned = store
        .prune_outbox(now + Duration::days(1), 100)
        .await
        .unwrap();
    assert!(pruned >= 2);
    assert!(
        store
            .list_deliveries(Some(tg), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .list_outbox(Some(OutboxState::Pending), 100)
            .await
            .unwrap()
            .iter()
            .any(|i| i.idempotency_key == "alerts-b/telegram")
    );
}

async fn a_crash_mid_send_leaves_the_item_to_retry_with_its_key(store: &dyn Store) {
    let now = t0() + Duration::days(2);
    store
        .enqueue_outbox(
            vec![item("alerts-crash/webhook", "alerts-webhook", now)],
            now,
        )
        .await
        .unwrap();
    let claimed = store.claim_outbox(now, 100).await.unwrap();
    let it = claimed
        .iter()
        .find(|i| i.idempotency_key == "alerts-crash/webhook")
        .unwrap();
    // The process dies here. At the next start:
    let later = now + Duration::seconds(3);
    assert!(store.release_outbox_sending(later).await.unwrap() >= 1);
    let again = store.claim_outbox(later, 100).await.unwrap();
    let again = again.iter().find(|i| i.id == it.id).unwrap();
    assert_eq!(again.idempotency_key, "alerts-crash/webhook");
    assert_eq!(again.attempts, 2);
    store
        .finish_outbox_attempt(it.id, AttemptOutcome::Sent, 5, later)
        .await
        .unwrap();
}

async fn breakers_cursors_and_system_events_round_trip(store: &dyn Store) {
    let now = t0();
    let b = BreakerRow {
        channel: "alerts-breaker".into(),
        state: "open".into(),
        failures: 5,
        opened_at: Some(now),
        updated_at: now,
    };
    store.save_breaker(b.clone()).await.unwrap();
    let mut closed = b.clone();
    closed.state = "closed".into();
    closed.failures = 0;
    closed.opened_at = None;
    store.save_breaker(closed.clone()).await.unwrap();
    let all = store.list_breakers().await.unwrap();
    assert_eq!(
        all.iter().find(|x| x.channel == "alerts-breaker"),
        Some(&closed)
    );

    assert_eq!(store.alert_cursor("alerts-test").await.unwrap(), 0);
    store.set_alert_cursor("alerts-test", 41).await.unwrap();
    store.set_alert_cursor("alerts-test", 42).await.unwrap();
    assert_eq!(store.alert_cursor("alerts-test").await.unwrap(), 42);

    let before = store
        .list_system_events(1)
        .await
        .unwrap()
        .first()
        .map(|e| e.id)
        .unwrap_or(0);
    let mut ids = Vec::new();
    for kind in ["backup.failed", "backup.succeeded"] {
        ids.push(
            store
                .record_system_event(SystemEvent {
                    id: 0,
                    at: now,
                    kind: kind.into(),
                    severity: Severity::High,
                    message: "alerts conformance".into(),
                    details: None,
                })
                .await
                .unwrap(),
        );
    }
    let after = store.system_events_after(before, 100).await.unwrap();
    let seen: Vec<i64> = after.iter().map(|e| e.id).collect();
    assert!(seen.ends_with(&ids), "{seen:?} {ids:?}");
    assert_eq!(after.last().unwrap().kind, "backup.succeeded");
    let rest = store.system_events_after(ids[0], 100).await.unwrap();
    assert_eq!(rest.len(), 1);
}
