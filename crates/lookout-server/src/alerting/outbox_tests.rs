//! The outbox worker against a real SQLite store and a loopback emulator,
//! with a controlled clock.

use super::*;
use crate::alerting::channels::tests::sample_notification;
use crate::alerting::emulator::{Emulator, Reply};
use lookout_alert::ManualClock;
use lookout_config::SmtpConfig;
use lookout_storage::sqlite::{SqliteOptions, SqliteStore};
use lookout_storage::{NewOutboxItem, OutboxState};
use std::time::Duration as StdDuration;

struct Setup {
    _dir: tempfile::TempDir,
    store: Arc<dyn Store>,
    clock: Arc<ManualClock>,
    emu: Emulator,
    health: mpsc::Receiver<ChannelHealth>,
    worker: Arc<OutboxWorker>,
}

fn t(s: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap()
}

async fn setup(breaker: BreakerPolicy) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(SqliteOptions::new(dir.path())).unwrap());
    let clock = Arc::new(ManualClock::new(t(0)));
    let emu = Emulator::start().await;
    let (tx, health) = mpsc::channel(16);
    let worker = Arc::new(worker_for(&store, &clock, &emu, breaker, Some(tx)));
    Setup {
        _dir: dir,
        store,
        clock,
        emu,
        health,
        worker,
    }
}

fn worker_for(
    store: &Arc<dyn Store>,
    clock: &Arc<ManualClock>,
    emu: &Emulator,
    breaker: BreakerPolicy,
    health: Option<mpsc::Sender<ChannelHealth>>,
) -> OutboxWorker {
    let w = OutboxWorker::new(
        store.clone(),
        Arc::new(Senders::with_timeout(
            SmtpConfig::default(),
            StdDuration::from_millis(500),
        )),
        clock.clone(),
        RenderContext {
            public_url: "http://lookout.test".into(),
            ..RenderContext::default()
        },
        RetryPolicy::default(),
        breaker,
        health,
    );
    w.set_channels(HashMap::from([(
        "hook".to_string(),
        ChannelConfig::Webhook {
            url: format!("{}/hook", emu.base),
            secret: None,
            format: Default::default(),
        },
    )]));
    w
}

async fn enqueue(s: &Setup, key: &str, channel: &str) {
    let n = sample_notification();
    s.store
        .enqueue_outbox(
            vec![NewOutboxItem {
                idempotency_key: key.into(),
                channel: channel.into(),
                payload: serde_json::to_value(&n).unwrap(),
                not_before: s.clock.now(),
            }],
            s.clock.now(),
        )
        .await
        .unwrap();
}

async fn state_of(s: &Setup, key: &str) -> OutboxItem {
    s.store
        .list_outbox(None, 100)
        .await
        .unwrap()
        .into_iter()
        .find(|i| i.idempotency_key == key)
        .unwrap()
}

#[tokio::test]
async fn sends_retries_with_backoff_then_delivers() {
    let s = setup(BreakerPolicy::default()).await;
    s.emu.script([Reply::Status(500, "oops".into(), vec![])]);
    enqueue(&s, "n1/hook", "hook").await;
    enqueue(&s, "n1/log", "log").await;
    assert_eq!(s.worker.run_once().await.unwrap(), 2);
    let it = state_of(&s, "n1/hook").await;
    assert_eq!((it.state, it.attempts), (OutboxState::Pending, 1));
    assert_eq!(it.last_error.as_deref(), Some("HTTP 500: oops"));
    // Full jitter under a 2 s ceiling for the first retry.
    assert!(it.next_attempt_at >= t(0) && it.next_attempt_at <= t(2));
    assert_eq!(state_of(&s, "n1/log").await.state, OutboxState::Sent);
    // Not due yet at t(0) unless the jitter was 0; at t(2) surely.
    s.clock.set(t(2));
    s.worker.run_once().await.unwrap();
    let it = state_of(&s, "n1/hook").await;
    assert_eq!((it.state, it.attempts), (OutboxState::Sent, 2));
    let reqs = s.emu.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].headers["idempotency-key"], "n1/hook");
    assert_eq!(reqs[1].headers["idempotency-key"], "n1/hook");
    let log = s.store.list_deliveries(Some(it.id), 10).await.unwrap();
    let outcomes: Vec<&str> = log.iter().map(|l| l.outcome.as_str()).collect();
    assert_eq!(outcomes, vec!["sent", "retry"]);
}

#[tokio::test]
async fn a_hanging_endpoint_times_out_and_is_retried() {
    let s = setup(BreakerPolicy::default()).await;
    s.emu.script([Reply::Hang]);
    enqueue(&s, "n2/hook", "hook").await;
    s.worker.run_once().await.unwrap();
    let it = state_of(&s, "n2/hook").await;
    assert_eq!(it.state, OutboxState::Pending);
    assert!(
        it.last_error.as_deref().unwrap().starts_with("timed out"),
        "{:?}",
        it.last_error
    );
}

#[tokio::test]
async fn permanent_errors_and_unknown_channels_fail_at_once() {
    let s = setup(BreakerPolicy::default()).await;
    s.emu.script([Reply::Status(404, "gone".into(), vec![])]);
    enqueue(&s, "n3/hook", "hook").await;
    enqueue(&s, "n3/nowhere", "nowhere").await;
    s.worker.run_once().await.unwrap();
    let it = state_of(&s, "n3/hook").await;
    assert_eq!((it.state, it.attempts), (OutboxState::Failed, 1));
    let it = state_of(&s, "n3/nowhere").await;
    assert_eq!(it.state, OutboxState::Failed);
    assert_eq!(it.last_error.as_deref(), Some("no channel named `nowhere`"));
}

#[tokio::test]
async fn the_breaker_opens_defers_probes_and_closes() {
    let mut s = setup(BreakerPolicy {
        failure_threshold: 2,
        open_for: chrono::Duration::seconds(60),
    })
    .await;
    s.emu.script([
        Reply::Status(502, "bad gateway".into(), vec![]),
        Reply::Status(502, "bad gateway".into(), vec![]),
    ]);
    enqueue(&s, "a/hook", "hook").await;
    enqueue(&s, "b/hook", "hook").await;
    s.worker.run_once().await.unwrap();
    let h = s.health.try_recv().expect("channel failing");
    assert!(h.failing);
    assert_eq!(h.channel, "hook");
    assert_eq!(h.error.as_deref(), Some("HTTP 502: bad gateway"));
    assert_eq!(s.worker.breaker_states()[0].1.state, BreakerState::Open);
    let saved = s.store.list_breakers().await.unwrap();
    assert_eq!(saved[0].state, "open");
    let metrics = lookout_metrics::global().render(lookout_metrics::Format::Prometheus);
    assert!(metrics.contains("lookout_alert_channel_circuit_state{channel=\"hook\"} 2"));

    // While open: rows are deferred without a request or a spent attempt.
    s.clock.set(t(30));
    enqueue(&s, "c/hook", "hook").await;
    s.worker.run_once().await.unwrap();
    assert_eq!(s.emu.requests().len(), 2);
    let c = state_of(&s, "c/hook").await;
    assert_eq!((c.state, c.attempts), (OutboxState::Pending, 0));
    assert_eq!(c.next_attempt_at, t(60));

    // After a minute one probe goes out; it succeeds and the breaker closes.
    s.clock.set(t(60));
    s.worker.run_once().await.unwrap();
    let sent = s
        .store
        .list_outbox(Some(OutboxState::Sent), 10)
        .await
        .unwrap();
    assert!(!sent.is_empty());
    let h = s.health.try_recv().expect("channel recovered");
    assert!(!h.failing);
    // Whatever was deferred goes now.
    s.clock.set(t(600));
    s.worker.run_once().await.unwrap();
    s.worker.run_once().await.unwrap();
    assert_eq!(
        s.store
            .list_outbox(Some(OutboxState::Sent), 10)
            .await
            .unwrap()
            .len(),
        3
    );
}

#[tokio::test]
async fn a_crash_mid_send_is_retried_with_the_same_key_after_restart() {
    let s = setup(BreakerPolicy::default()).await;
    enqueue(&s, "crash/hook", "hook").await;
    // A worker claims the row and dies before it can record anything.
    let claimed = s.store.claim_outbox(s.clock.now(), 10).await.unwrap();
    assert_eq!(claimed[0].state, OutboxState::Sending);
    // The next start.
    let w2 = worker_for(&s.store, &s.clock, &s.emu, BreakerPolicy::default(), None);
    assert_eq!(w2.recover().await.unwrap(), 1);
    w2.run_once().await.unwrap();
    let it = state_of(&s, "crash/hook").await;
    assert_eq!((it.state, it.attempts), (OutboxState::Sent, 2));
    assert_eq!(s.emu.requests()[0].headers["idempotency-key"], "crash/hook");
}

#[tokio::test]
async fn shutdown_finishes_the_send_in_flight() {
    let s = setup(BreakerPolicy::default()).await;
    enqueue(&s, "stop/hook", "hook").await;
    let (tx, rx) = watch::channel(false);
    let task = tokio::spawn(s.worker.clone().run(rx));
    for _ in 0..100 {
        if state_of(&s, "stop/hook").await.state == OutboxState::Sent {
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(20)).await;
    }
    tx.send(true).unwrap();
    tokio::time::timeout(StdDuration::from_secs(5), task)
        .await
        .expect("stops promptly")
        .unwrap();
    assert_eq!(state_of(&s, "stop/hook").await.state, OutboxState::Sent);
    assert!(
        s.store
            .list_outbox(Some(OutboxState::Sending), 10)
            .await
            .unwrap()
            .is_empty()
    );
}
