//! Alerting's I/O side (issue #6): notification channels (Telegram,
//! e-mail, Slack, Discord, webhooks, the log) and the outbox worker that
//! delivers what the engine decided. The decisions themselves (rules,
//! grouping, routing, backoff, circuit breaking) are pure and live in
//! `lookout-alert`; this module sends, records and retries.

pub mod channels;
pub mod outbox;
pub mod runner;

#[cfg(test)]
pub(crate) mod emulator;

use crate::state::AppState;
use lookout_alert::delivery::{BreakerPolicy, RetryPolicy};
use lookout_alert::render::RenderContext;
use lookout_alert::{Clock, Route, SystemClock};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// How often the engine ticks (and the resolution of every timing).
pub const TICK: Duration = Duration::from_secs(1);

/// Starts alerting for `serve`: the outbox worker and the engine, fed by
/// ingest (the observer is set on the ingestor here). The returned task
/// ends once `shutdown` turned true and the sends in flight are finished
/// and recorded; `serve` waits for it before closing storage.
pub fn spawn(state: &AppState, shutdown: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
    let state = state.clone();
    tokio::spawn(async move {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let store = state.store().clone();
        let public_url = state.config().public_url();
        let (health_tx, health_rx) = mpsc::channel(64);
        let worker = Arc::new(outbox::OutboxWorker::new(
            store.clone(),
            Arc::new(channels::Senders::new(state.config().smtp.clone())),
            clock.clone(),
            RenderContext {
                public_url: public_url.clone(),
                ..RenderContext::default()
            },
            RetryPolicy::default(),
            BreakerPolicy::default(),
            Some(health_tx),
        ));
        if let Err(e) = worker.recover().await {
            tracing::error!(error = %e, "alerting not started: cannot read the outbox");
            return;
        }
        let loaded = runner::AlertRunner::load(
            store,
            clock,
            worker.clone(),
            health_rx,
            Route::default_tree(),
            Vec::new(),
            public_url,
        )
        .await;
        let (runner, sink) = match loaded {
            Ok(x) => x,
            Err(e) => {
                tracing::error!(error = %e, "alerting not started: cannot load rules");
                return;
            }
        };
        state.ingestor().set_observer(Arc::new(sink));
        let engine = tokio::spawn(runner.run(TICK, shutdown.clone()));
        worker.run(shutdown).await;
        let _ = engine.await;
    })
}
