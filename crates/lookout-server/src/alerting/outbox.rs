//! The outbox worker: claims due notifications, sends them through their
//! channel, and records each attempt.
//!
//! Delivery guarantees, and what they rest on:
//! - **Nothing is lost.** The engine's notifications are committed to the
//!   outbox (one row per channel) before anything is sent; a row leaves
//!   only as `sent` or, after its attempts or age are used up, `failed`.
//! - **Never twice on a normal restart.** A row is marked `sending`
//!   durably before its request; a graceful shutdown stops claiming and
//!   waits for the requests in flight (each is bounded by
//!   [`SEND_TIMEOUT`](super::channels::SEND_TIMEOUT)) to finish and be
//!   recorded. After a crash (`kill -9`, power loss) a `sending` row is
//!   retried with the same idempotency key: webhooks get it as
//!   `Idempotency-Key` and can drop the duplicate; Telegram, Slack,
//!   Discord and e-mail have no such key, so a crash in the middle of a
//!   send may deliver that one message twice (at least once, never lost).
//! - **Retries** use exponential backoff with full jitter, capped in
//!   attempts and age; a `retry_after` from the server wins when longer.
//! - **A circuit breaker per channel** opens after repeated failures,
//!   defers that channel's rows without spending their attempts, and lets
//!   one probe through later. Opening and closing are reported as
//!   [`ChannelHealth`] signals, which the engine turns into an alert
//!   routed to the *other* channels.

use super::channels::{ChannelConfig, SendOutcome, Senders};
use chrono::{DateTime, Utc};
use lookout_alert::delivery::{
    BreakerPolicy, BreakerState, BreakerTransition, CircuitBreaker, RetryDecision, RetryPolicy,
};
use lookout_alert::render::{self, RenderContext};
use lookout_alert::{ChannelHealth, Clock, Notification};
use lookout_metrics::{CounterVec, GaugeVec};
use lookout_storage::{AttemptOutcome, BreakerRow, OutboxItem, Store};
use parking_lot::{Mutex, RwLock};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{Notify, mpsc, watch};

/// The built-in channel that writes notifications to Lookout's own log.
pub const LOG_CHANNEL: &str = "log";

/// How many rows one pass claims (and sends concurrently).
const BATCH: usize = 16;

#[derive(Debug, Clone)]
struct Metrics {
    attempts: CounterVec,
    breaker: GaugeVec,
}

impl Metrics {
    fn get() -> Metrics {
        let r = lookout_metrics::global();
        Metrics {
            attempts: r.counter_vec(
                "lookout_alert_delivery_attempts",
                "Notification delivery attempts by channel and outcome (sent, retry, failed, deferred).",
                &["channel", "outcome"],
            ),
            breaker: r.gauge_vec(
                "lookout_alert_channel_circuit_state",
                "Circuit breaker per channel: 0 closed, 1 half-open, 2 open.",
                &["channel"],
            ),
        }
    }
}

/// Delivers the outbox. One per server.
#[derive(Debug)]
pub struct OutboxWorker {
    store: Arc<dyn Store>,
    senders: Arc<Senders>,
    clock: Arc<dyn Clock>,
    ctx: RwLock<RenderContext>,
    channels: RwLock<HashMap<String, ChannelConfig>>,
    retry: RetryPolicy,
    breaker_policy: BreakerPolicy,
    breakers: Mutex<HashMap<String, CircuitBreaker>>,
    health: Option<mpsc::Sender<ChannelHealth>>,
    wake: Notify,
    metrics: Metrics,
}

impl OutboxWorker {
    /// A worker over `store`. `health` receives channel failing/recovered
    /// signals for the engine (dropped when full: the next change sends
    /// again).
    pub fn new(
        store: Arc<dyn Store>,
        senders: Arc<Senders>,
        clock: Arc<dyn Clock>,
        ctx: RenderContext,
        retry: RetryPolicy,
        breaker_policy: BreakerPolicy,
        health: Option<mpsc::Sender<ChannelHealth>>,
    ) -> OutboxWorker {
        OutboxWorker {
            store,
            senders,
            clock,
            ctx: RwLock::new(ctx),
            channels: RwLock::new(HashMap::new()),
            retry,
            breaker_policy,
            breakers: Mutex::new(HashMap::new()),
            health,
            wake: Notify::new(),
            metrics: Metrics::get(),
        }
    }

    /// Replaces the channels (by name).
    pub fn set_channels(&self, channels: HashMap<String, ChannelConfig>) {
        *self.channels.write() = channels;
    }

    /// Replaces the rendering context (public URL, project names).
    pub fn set_context(&self, ctx: RenderContext) {
        *self.ctx.write() = ctx;
    }

    /// The rendering context in force (Telegram edits render with it).
    pub fn context(&self) -> RenderContext {
        self.ctx.read().clone()
    }

    /// The senders (a channel's "send test" shares their pacing).
    pub fn senders(&self) -> &Arc<Senders> {
        &self.senders
    }

    /// Something was enqueued: look now rather than at the next poll.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// The breakers' states, by channel (for the UI).
    pub fn breaker_states(&self) -> Vec<(String, CircuitBreaker)> {
        let mut v: Vec<_> = self
            .breakers
            .lock()
            .iter()
            .map(|(k, b)| (k.clone(), *b))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// At start-up: loads the breakers and puts back rows a crash left
    /// `sending`. Returns how many were put back.
    pub async fn recover(&self) -> lookout_storage::Result<u64> {
        let rows = self.store.list_breakers().await?;
        {
            let mut b = self.breakers.lock();
            for r in rows {
                let state = match r.state.as_str() {
                    "open" => BreakerState::Open,
                    "half_open" => BreakerState::Open, // its probe died with the process
                    _ => BreakerState::Closed,
                };
                self.metrics
                    .breaker
                    .with(&[&r.channel])
                    .set(state.gauge() as f64);
                b.insert(
                    r.channel,
                    CircuitBreaker {
                        state,
                        failures: r.failures,
                        opened_at: r.opened_at,
                    },
                );
            }
        }
        let n = self.store.release_outbox_sending(self.clock.now()).await?;
        if n > 0 {
            tracing::warn!(
                count = n,
                "notifications were in flight when Lookout stopped; sending them again"
            );
        }
        Ok(n)
    }

    /// Runs until `shutdown` turns true, then finishes the sends in flight
    /// and returns.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        loop {
            if *shutdown.borrow() {
                break;
            }
            let n = match self.run_once().await {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(error = %e, "outbox pass failed");
                    0
                }
            };
            if n == BATCH {
                continue;
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(std::time::Duration::from_millis(500)) => {}
                _ = shutdown.changed() => {}
            }
        }
        tracing::info!("outbox worker stopped");
    }

    /// One pass: claims due rows and sends them concurrently. Returns how
    /// many were claimed.
    pub async fn run_once(&self) -> lookout_storage::Result<usize> {
        let now = self.clock.now();
        // A read first: an idle outbox costs no write (and no fsync).
        match self.store.outbox_next_due().await? {
            Some(due) if due <= now => {}
            _ => return Ok(0),
        }
        let items = self.store.claim_outbox(now, BATCH).await?;
        let n = items.len();
        let sends = items.into_iter().map(|it| self.deliver(it));
        for r in futures_util::future::join_all(sends).await {
            if let Err(e) = r {
                tracing::warn!(error = %e, "cannot record a delivery attempt");
            }
        }
        Ok(n)
    }

    /// Sends a notification once, now, without the outbox: only for when
    /// the store refuses writes (it is damaged and fenced), so the one
    /// message that says so cannot be queued durably. Best effort: no
    /// retry, no delivery log; the outcome is logged.
    pub async fn send_unrecorded(&self, channel: &str, n: &Notification) {
        let ctx = self.ctx.read().clone();
        if channel == LOG_CHANNEL {
            let text = render::plain_text(n, &ctx);
            tracing::error!(target: "lookout::alerts", rule = %n.rule_name, "{text}");
            return;
        }
        let cfg = self.channels.read().get(channel).cloned();
        let Some(cfg) = cfg else {
            return;
        };
        let key = n.idempotency_key(channel);
        let outcome = self.senders.send(&cfg, n, &ctx, &key, "unrecorded").await;
        match outcome {
            SendOutcome::Sent => {
                tracing::warn!(%channel, rule = %n.rule_name, "sent without the outbox (the store is fenced)")
            }
            SendOutcome::Retry { error, .. } | SendOutcome::Failed { error } => {
                tracing::error!(%channel, rule = %n.rule_name, %error, "could not send (the store is fenced, so it is not retried)")
            }
        }
    }

    async fn deliver(&self, it: OutboxItem) -> lookout_storage::Result<()> {
        let started = Instant::now();
        let now = self.clock.now();
        let notification: Option<Notification> = serde_json::from_value(it.payload.clone()).ok();
        let Some(n) = notification else {
            return self
                .finish(
                    &it,
                    AttemptOutcome::Failed {
                        error: "unreadable notification payload".into(),
                    },
                    started,
                )
                .await;
        };
        if it.channel == LOG_CHANNEL {
            let text = render::plain_text(&n, &self.ctx.read());
            tracing::info!(
                target: "lookout::alerts",
                rule = %n.rule_name,
                severity = %n.severity,
                kind = n.kind.as_str(),
                "{text}"
            );
            return self.finish(&it, AttemptOutcome::Sent, started).await;
        }
        let cfg = self.channels.read().get(&it.channel).cloned();
        let Some(cfg) = cfg else {
            return self
                .finish(
                    &it,
                    AttemptOutcome::Failed {
                        error: format!("no channel named `{}`", it.channel),
                    },
                    started,
                )
                .await;
        };
        let allowed = self
            .breakers
            .lock()
            .entry(it.channel.clone())
            .or_default()
            .try_acquire(&self.breaker_policy, now);
        if !allowed {
            let probe = self
                .breakers
                .lock()
                .get(&it.channel)
                .and_then(|b| b.probe_at(&self.breaker_policy))
                .unwrap_or(now + self.breaker_policy.open_for);
            return self
                .finish(
                    &it,
                    AttemptOutcome::Deferred {
                        next_attempt_at: probe.max(now),
                        reason: "circuit open: the channel keeps failing".into(),
                    },
                    started,
                )
                .await;
        }
        let ctx = self.ctx.read().clone();
        let outcome = self
            .senders
            .send(&cfg, &n, &ctx, &it.idempotency_key, &it.id.to_string())
            .await;
        let now = self.clock.now();
        let (transition, record) = match outcome {
            SendOutcome::Sent => (self.breaker_success(&it.channel), AttemptOutcome::Sent),
            SendOutcome::Retry { error, after } => {
                let t = self.breaker_failure(&it.channel, now);
                let after = after.and_then(|d| chrono::Duration::from_std(d).ok());
                let unit: f64 = rand::random();
                match self
                    .retry
                    .after_failure(it.attempts, it.created_at, now, unit, after)
                {
                    RetryDecision::RetryAt(at) => (
                        t,
                        AttemptOutcome::Retry {
                            next_attempt_at: at,
                            error,
                        },
                    ),
                    RetryDecision::GiveUp => (
                        t,
                        AttemptOutcome::Failed {
                            error: format!("{error} (giving up after {} attempts)", it.attempts),
                        },
                    ),
                }
            }
            SendOutcome::Failed { error } => (
                self.breaker_failure(&it.channel, now),
                AttemptOutcome::Failed { error },
            ),
        };
        let error = match &record {
            AttemptOutcome::Retry { error, .. } | AttemptOutcome::Failed { error } => {
                Some(error.clone())
            }
            _ => None,
        };
        self.finish(&it, record, started).await?;
        self.after_breaker_change(&it.channel, transition, error, now)
            .await;
        Ok(())
    }

    async fn finish(
        &self,
        it: &OutboxItem,
        outcome: AttemptOutcome,
        started: Instant,
    ) -> lookout_storage::Result<()> {
        let label = match &outcome {
            AttemptOutcome::Sent => "sent",
            AttemptOutcome::Retry { .. } => "retry",
            AttemptOutcome::Failed { .. } => "failed",
            AttemptOutcome::Deferred { .. } => "deferred",
        };
        self.metrics.attempts.with(&[&it.channel, label]).inc();
        if let AttemptOutcome::Failed { error } = &outcome {
            tracing::warn!(channel = %it.channel, key = %it.idempotency_key, %error, "notification failed");
        }
        let ms = started.elapsed().as_millis().min(i64::MAX as u128) as i64;
        self.store
            .finish_outbox_attempt(it.id, outcome, ms, self.clock.now())
            .await
            .map(|_| ())
    }

    fn breaker_success(&self, channel: &str) -> BreakerTransition {
        self.breakers
            .lock()
            .entry(channel.to_string())
            .or_default()
            .on_success()
    }

    fn breaker_failure(&self, channel: &str, now: DateTime<Utc>) -> BreakerTransition {
        self.breakers
            .lock()
            .entry(channel.to_string())
            .or_default()
            .on_failure(&self.breaker_policy, now)
    }

    async fn after_breaker_change(
        &self,
        channel: &str,
        t: BreakerTransition,
        error: Option<String>,
        now: DateTime<Utc>,
    ) {
        let b = self
            .breakers
            .lock()
            .get(channel)
            .copied()
            .unwrap_or_default();
        self.metrics
            .breaker
            .with(&[channel])
            .set(b.state.gauge() as f64);
        let _ = self
            .store
            .save_breaker(BreakerRow {
                channel: channel.to_string(),
                state: b.state.as_str().into(),
                failures: b.failures,
                opened_at: b.opened_at,
                updated_at: now,
            })
            .await;
        let failing = match t {
            BreakerTransition::None => return,
            BreakerTransition::Opened => true,
            BreakerTransition::Closed => false,
        };
        if failing {
            tracing::error!(%channel, error = ?error, "channel keeps failing: circuit open");
        } else {
            tracing::info!(%channel, "channel works again: circuit closed");
        }
        if let Some(tx) = &self.health {
            let _ = tx.try_send(ChannelHealth {
                channel: channel.to_string(),
                failing,
                error,
                at: now,
            });
        }
    }
}

#[cfg(test)]
#[path = "outbox_tests.rs"]
mod tests;
