//! Alerting's I/O side (issue #6): notification channels (Telegram,
//! e-mail, Slack, Discord, webhooks, the log) and the outbox worker that
//! delivers what the engine decided. The decisions themselves (rules,
//! grouping, routing, backoff, circuit breaking) are pure and live in
//! `lookout-alert`; this module sends, records and retries.

pub mod channels;
pub mod control;
pub mod monitor_feed;
pub mod outbox;
pub mod runner;
pub mod service;
pub mod telegram;
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

/// Starts alerting for `serve`: the outbox worker, the engine, fed by
/// ingest (the observer is set on the ingestor here), and the Telegram
/// pollers that act on button presses and `/link`. The returned task
/// ends once `shutdown` turned true and the sends in flight are finished
/// and recorded; `serve` waits for it before closing storage.
///
/// The rules and channels of `lookout.toml` (and the default rules) are
/// stored before this returns, so the first request already sees them.
pub async fn spawn(
    state: &AppState,
    shutdown: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let state = state.clone();
    let cfg = state.config().alerts.clone();
    if !cfg.enabled {
        tracing::info!("alerting is off ([alerts] enabled = false)");
        return tokio::spawn(async {});
    }
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let store = state.store().clone();
    if let Err(e) = sync_config(&*store, &cfg, clock.now()).await {
        tracing::error!(error = %e, "alerting not started: cannot store [alerts] from the configuration");
        return tokio::spawn(async {});
    }
    if cfg.default_rules
        && let Err(e) = seed_default_rules(&*store, clock.now()).await
    {
        tracing::warn!(error = %e, "cannot store the default alert rules");
    }
    tokio::spawn(async move {
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
        let telegram = telegram::spawn(
            state.clone(),
            worker.clone(),
            cfg.telegram_poll_timeout(),
            shutdown.clone(),
        );
        worker.run(shutdown).await;
        let _ = engine.await;
        let _ = telegram.await;
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
    // Rules name projects by id or slug; the row keeps the ids (for access
    // checks) and the spec keeps what the file says, so a slug whose
    // project is made later applies to it then (the runner resolves it).
    let by_slug: std::collections::HashMap<String, i64> = store
        .list_projects()
        .await?
        .into_iter()
        .map(|p| (p.slug, p.id))
        .collect();
    let rules = cfg
        .rules
        .iter()
        .map(|r| {
            let mut scope = r.scope.clone();
            let unknown = scope.resolve_slugs(|s| by_slug.get(s).copied());
            if !unknown.is_empty() {
                tracing::warn!(rule = %r.name, ?unknown, "an alert rule in lookout.toml names projects that do not exist (yet); it applies to them once they do");
            }
            NewAlertRule {
                name: r.name.trim().to_string(),
                enabled: r.enabled,
                source: AlertSource::Config,
                projects: scope.project_ids(),
                spec: serde_json::to_value(r).unwrap_or_default(),
                created_by: None,
            }
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

/// The cursor that records that the default rules were stored once.
const DEFAULTS_SEEDED: &str = "default_rules_seeded";

/// The install-health rules every Lookout starts with: an operator hears
/// of a failed backup, a damaged store or a full disk without writing a
/// rule first. Stored once, at the first start of a data dir, as ordinary
/// rules (edit, disable or delete them like any other); a rule of the same
/// name (from `lookout.toml`, say) is left as it is.
pub fn default_rules() -> Vec<lookout_alert::Rule> {
    use lookout_alert::{Condition, Rule, Severity};
    let mut v = vec![
        Rule::new(
            0,
            "Backup failed",
            Condition::BackupFailed,
            Severity::Critical,
        ),
        Rule::new(
            0,
            "Storage damaged",
            Condition::StorageDamaged,
            Severity::Critical,
        ),
        Rule::new(0, "Disk space low", Condition::DiskLow, Severity::High),
    ];
    for r in &mut v {
        r.annotations.insert(
            "summary".into(),
            "Lookout's own health: see docs/operations.md".into(),
        );
    }
    v
}

/// Stores [`default_rules`] once per data dir.
pub async fn seed_default_rules(
    store: &dyn Store,
    now: chrono::DateTime<chrono::Utc>,
) -> lookout_storage::Result<usize> {
    if store.alert_cursor(DEFAULTS_SEEDED).await? != 0 {
        return Ok(0);
    }
    let taken: std::collections::HashSet<String> = store
        .list_alert_rules()
        .await?
        .into_iter()
        .map(|r| r.name)
        .collect();
    let mut n = 0;
    for r in default_rules() {
        if taken.contains(&r.name) {
            continue;
        }
        store
            .create_alert_rule(
                NewAlertRule {
                    name: r.name.clone(),
                    enabled: true,
                    source: AlertSource::Api,
                    projects: Vec::new(),
                    spec: serde_json::to_value(&r).unwrap_or_default(),
                    created_by: None,
                },
                now,
            )
            .await?;
        n += 1;
    }
    store.set_alert_cursor(DEFAULTS_SEEDED, 1).await?;
    Ok(n)
}

#[cfg(test)]
mod seed_tests {
    use super::*;
    use lookout_storage::sqlite::{SqliteOptions, SqliteStore};

    #[tokio::test]
    async fn default_rules_are_stored_once_and_stay_deleted_when_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(SqliteOptions::new(dir.path())).unwrap();
        let now = chrono::Utc::now();
        // A rule of the same name from lookout.toml stays as it is.
        let mut mine = lookout_alert::Rule::new(
            0,
            "Disk space low",
            lookout_alert::Condition::DiskLow,
            lookout_alert::Severity::Critical,
        );
        mine.labels.insert("team".into(), "ops".into());
        store
            .sync_config_alert_rules(
                vec![NewAlertRule {
                    name: mine.name.clone(),
                    enabled: true,
                    source: AlertSource::Config,
                    projects: vec![],
                    spec: serde_json::to_value(&mine).unwrap(),
                    created_by: None,
                }],
                now,
            )
            .await
            .unwrap();
        assert_eq!(seed_default_rules(&store, now).await.unwrap(), 2);
        let rules = store.list_alert_rules().await.unwrap();
        let mut names: Vec<(&str, AlertSource)> =
            rules.iter().map(|r| (r.name.as_str(), r.source)).collect();
        names.sort_by_key(|n| n.0);
        assert_eq!(
            names,
            vec![
                ("Backup failed", AlertSource::Api),
                ("Disk space low", AlertSource::Config),
                ("Storage damaged", AlertSource::Api),
            ]
        );
        for r in &rules {
            runner::rule_from_row(r).expect("a valid rule");
        }
        // Deleted by the user: not stored again at the next start.
        let backup = rules.iter().find(|r| r.name == "Backup failed").unwrap();
        assert!(store.delete_alert_rule(backup.id).await.unwrap());
        assert_eq!(seed_default_rules(&store, now).await.unwrap(), 0);
        assert_eq!(store.list_alert_rules().await.unwrap().len(), 2);
    }
}
