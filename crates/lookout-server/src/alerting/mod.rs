//! Alerting's I/O side (issue #6): notification channels (Telegram,
//! e-mail, Slack, Discord, webhooks, the log) and the outbox worker that
//! delivers what the engine decided. The decisions themselves (rules,
//! grouping, routing, backoff, circuit breaking) are pure and live in
//! `lookout-alert`; this module sends, records and retries.

pub mod channels;
pub mod control;
pub mod outbox;
pub mod runner;
pub mod service;
pub mod test_message;

#[cfg(test)]
pub(crate) mod emulator;

use crate::state::AppState;
use lookout_alert::delivery::{BreakerPolicy, RetryPolicy};
use lookout_alert::render::RenderContext;
use lookout_alert::{Clock, SystemClock};
use lookout_config::AlertsConfig;
use lookout_storage::{AlertSource, NewAlertRule, NewChannel, Store};
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
        let cfg = state.config().alerts.clone();
        if !cfg.enabled {
            tracing::info!("alerting is off ([alerts] enabled = false)");
            return;
        }
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let store = state.store().clone();
        if let Err(e) = sync_config(&*store, &cfg, clock.now()).await {
            tracing::error!(error = %e, "alerting not started: cannot store [alerts] from the configuration");
            return;
        }
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
            cfg.routes(),
            cfg.inhibit.clone(),
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
        let commands = state.alerts().connect(worker.clone());
        let engine = tokio::spawn(runner.with_commands(commands).run(TICK, shutdown.clone()));
        worker.run(shutdown).await;
        let _ = engine.await;
    })
}

/// Writes the rules and channels of `[alerts]` into storage, replacing the
/// ones an earlier configuration declared (rules keep their ids by name);
/// rules and channels made in the UI or API are left alone.
pub async fn sync_config(
    store: &dyn Store,
    cfg: &AlertsConfig,
    now: chrono::DateTime<chrono::Utc>,
) -> lookout_storage::Result<()> {
    let rules = cfg
        .rules
        .iter()
        .map(|r| NewAlertRule {
            name: r.name.trim().to_string(),
            enabled: r.enabled,
            source: AlertSource::Config,
            projects: r.scope.projects.clone(),
            spec: serde_json::to_value(r).unwrap_or_default(),
            created_by: None,
        })
        .collect();
    store.sync_config_alert_rules(rules, now).await?;
    for (name, c) in &cfg.channels {
        store
            .upsert_channel(
                NewChannel {
                    name: name.clone(),
                    kind: c.kind().into(),
                    enabled: true,
                    source: AlertSource::Config,
                    config: serde_json::to_value(c).unwrap_or_default(),
                },
                now,
            )
            .await?;
    }
    for row in store.list_channels().await? {
        if row.source == AlertSource::Config && !cfg.channels.contains_key(&row.name) {
            store.delete_channel(&row.name).await?;
        }
    }
    Ok(())
}
