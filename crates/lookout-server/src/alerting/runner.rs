//! The engine's runner: owns the pure [`Engine`], feeds it signals (from
//! ingest through a bounded channel, from the system-events table through
//! a durable cursor, from the outbox worker's channel health), ticks it
//! with the injected clock, and writes what it decides: notifications to
//! the outbox first, then the alerts' new states.
//!
//! Why that order: a crash between the two writes leaves a notification
//! queued for an alert whose state was not saved, which is sent once; the
//! other order could save a firing alert whose notification was never
//! queued, and a restart (which counts restored firing alerts as
//! notified) would then never send it.

use super::channels::ChannelConfig;
use super::control::{Command, ControlError};
use super::monitor_feed;
use super::outbox::LOG_CHANNEL;
use super::outbox::OutboxWorker;
use lookout_alert::render::RenderContext;
use lookout_alert::{
    Alert, AlertChange, AlertState, ChannelHealth, Clock, Condition, Engine, InhibitRule,
    IssueSignal, Route, Rule, Severity, Signal, Silence, SilenceKind, SystemSignal,
};
use lookout_metrics::{Counter, Histogram};
use lookout_storage::{AlertInstanceQuery, AlertInstanceRow, NewOutboxItem, Store};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use tokio::sync::{mpsc, watch};

/// The cursor over the system-events table.
const SYSTEM_CURSOR: &str = "system_events";

/// The cursor over the monitors' state changes.
const MONITOR_CURSOR: &str = "monitor_events";

/// How often monitors' certificate readings are fed to the engine (when a
/// rule watches certificates).
const CERTIFICATES_EVERY: chrono::Duration = chrono::Duration::seconds(60);

/// The id of the built-in "channel keeps failing" rule.
pub const CHANNEL_FAILING_RULE: i64 = -1;

/// How many signals may wait for the engine before new ones are dropped
/// (and counted): ingest never waits on alerting.
pub const SIGNAL_QUEUE: usize = 10_000;

/// The ingest side's handle: offers signals without ever waiting.
#[derive(Debug, Clone)]
pub struct AlertSink {
    tx: mpsc::Sender<Signal>,
    dropped: Counter,
    /// When the oldest drop not yet covered by a scan happened (ms; 0 =
    /// none): tells the runner to scan storage for what it missed.
    missed_since_ms: Arc<AtomicI64>,
    /// Whether a rule is about error events (set by the runner).
    wanted: Arc<AtomicBool>,
    /// Issue signals that did not fit the queue, as counts.
    overflow: Arc<Overflow>,
    /// Rings the runner for a signal that may fire at once (a new issue,
    /// a regression), so it does not wait for the next tick.
    wake: Arc<tokio::sync::Notify>,
}

/// Issue signals that did not fit the queue, kept as counts per issue and
/// second (with the first such signal as a sample), so frequency and spike
/// rules still count them. Bounded: past `OVERFLOW_KEYS` keys, signals are
/// only counted in `lookout_alert_signals_dropped_total`, and the runner
/// falls back to scanning storage for new and regressed issues.
#[derive(Debug, Default)]
struct Overflow {
    counts: parking_lot::Mutex<HashMap<OverflowKey, (IssueSignal, u64)>>,
    truncated: AtomicBool,
}

/// Project, issue, second.
type OverflowKey = (i64, i64, i64);

/// Most (issue, second) keys the overflow keeps between two rounds.
const OVERFLOW_KEYS: usize = 10_000;

impl Overflow {
    fn add(&self, s: IssueSignal) {
        let key = (s.project_id, s.issue_id, s.at.timestamp());
        let mut m = self.counts.lock();
        if let Some(e) = m.get_mut(&key) {
            // Concurrent requests may offer the creating event second.
            e.0.new_issue |= s.new_issue;
            e.0.regression |= s.regression;
            e.1 += 1;
        } else if m.len() < OVERFLOW_KEYS {
            m.insert(key, (s, 1));
        } else {
            self.truncated.store(true, Ordering::Relaxed);
        }
    }

    /// Takes what was kept: one signal per key standing for its count,
    /// and whether some were lost beyond the bound.
    fn drain(&self) -> (Vec<IssueSignal>, bool) {
        let m = std::mem::take(&mut *self.counts.lock());
        let truncated = self.truncated.swap(false, Ordering::Relaxed);
        let mut v: Vec<IssueSignal> = m
            .into_values()
            .map(|(mut s, n)| {
                s.more = n - 1;
                s
            })
            .collect();
        v.sort_by_key(|s| s.at);
        (v, truncated)
    }
}

/// The condition kinds that consume error events.
const ISSUE_KINDS: [&str; 5] = [
    "new_issue",
    "regression",
    "issue_frequency",
    "error_rate_spike",
    "new_issue_after_release",
];

impl AlertSink {
    /// Offers a signal; when the queue is full it is dropped and counted in
    /// `lookout_alert_signals_dropped_total`. Returns whether it was queued.
    pub fn offer(&self, s: Signal) -> bool {
        let urgent = matches!(&s, Signal::Issue(i) if i.new_issue || i.regression);
        match self.tx.try_send(s) {
            Ok(()) => {
                if urgent {
                    self.wake.notify_one();
                }
                true
            }
            Err(e) => {
                self.dropped.inc();
                let s = e.into_inner();
                if let Signal::Issue(i) = &s {
                    self.overflow.add(i.clone());
                }
                let at = s.at().timestamp_millis().max(1);
                let _ = self.missed_since_ms.compare_exchange(
                    0,
                    at,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                );
                false
            }
        }
    }
}

impl lookout_ingest::EventObserver for AlertSink {
    fn interested(&self) -> bool {
        self.wanted.load(Ordering::Relaxed)
    }

    fn stored(&self, project_id: i64, events: Vec<lookout_ingest::EventFacts>) {
        use lookout_model::errors::Transition;
        for f in events {
            self.offer(Signal::Issue(IssueSignal {
                project_id,
                project: String::new(),
                issue_id: f.result.issue_id,
                at: chrono::DateTime::from_timestamp_millis(f.received_ms).unwrap_or_default(),
                new_issue: f.result.new_issue,
                regression: f.result.transition == Transition::Regressed,
                environment: f.environment,
                level: f.level,
                release: f.release,
                tags: f.tags,
                title: f.title,
                top_frame: f
                    .top_frame
                    .or_else(|| (!f.culprit.is_empty()).then(|| f.culprit.clone())),
                culprit: f.culprit,
                exception_value: f.exception_value,
                more: 0,
            }));
        }
    }
}

/// Converts a stored rule's JSON into a [`Rule`] with the row's id.
pub fn rule_from_row(row: &lookout_storage::AlertRuleRow) -> Result<Rule, String> {
    let mut r: Rule = serde_json::from_value(row.spec.clone()).map_err(|e| e.to_string())?;
    r.id = row.id;
    r.enabled = row.enabled && r.enabled;
    r.validate()?;
    Ok(r)
}

/// The stored row of an alert.
pub fn alert_row(a: &Alert, now: chrono::DateTime<chrono::Utc>) -> AlertInstanceRow {
    AlertInstanceRow {
        id: 0,
        rule_id: a.key.rule_id,
        fingerprint: a.key.fingerprint.clone(),
        state: a.state.as_str().into(),
        severity: a.severity.as_str().into(),
        project_id: a.subject.project_id(),
        active_since: a.active_since,
        starts_at: a.starts_at,
        ends_at: a.ends_at,
        acked_by: a.acknowledged.as_ref().map(|(by, _)| by.clone()),
        acked_at: a.acknowledged.as_ref().map(|(_, at)| *at),
        resolved_by: a.resolved_by.clone(),
        updated_at: now,
        body: serde_json::to_value(a).unwrap_or_default(),
    }
}

/// A stored silence as the engine reads it (`None` when a matcher no
/// longer parses).
pub fn silence_from_row(row: &lookout_storage::SilenceRow) -> Option<Silence> {
    let matchers = row
        .matchers
        .iter()
        .map(|m| m.parse())
        .collect::<Result<Vec<_>, _>>()
        .ok()?;
    Some(Silence {
        id: row.id,
        kind: if row.kind == "maintenance" {
            SilenceKind::Maintenance
        } else {
            SilenceKind::Silence
        },
        matchers,
        starts_at: row.starts_at,
        ends_at: row.ends_at,
        created_by: row.created_by.clone(),
        comment: row.comment.clone(),
    })
}

/// Owns the engine. One per server.
#[derive(Debug)]
pub struct AlertRunner {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    engine: Engine,
    worker: Arc<OutboxWorker>,
    signals: mpsc::Receiver<Signal>,
    health: mpsc::Receiver<ChannelHealth>,
    system_cursor: i64,
    public_url: String,
    projects: BTreeMap<i64, String>,
    channels: HashSet<String>,
    releases_read_at: Option<chrono::DateTime<chrono::Utc>>,
    missed_since_ms: Arc<AtomicI64>,
    wanted: Arc<AtomicBool>,
    overflow: Arc<Overflow>,
    wake: Arc<tokio::sync::Notify>,
    commands: Option<mpsc::Receiver<Command>>,
    monitor_cursor: i64,
    /// Monitor kinds by id (a heartbeat's lapse is a missed heartbeat).
    monitor_kinds: HashMap<i64, String>,
    certificates_read_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Whether the engine was told that the store is fenced (damaged).
    damage_seen: bool,
    /// Whether a rule names a project slug that no project has (yet).
    slugs_pending: bool,
    metrics: RunnerMetrics,
}

/// What a round of evaluation costs, on `/metrics`.
#[derive(Debug, Clone)]
struct RunnerMetrics {
    /// Wall time of one [`AlertRunner::step`] (signals in, evaluation,
    /// outbox and alert writes).
    eval_seconds: Histogram,
    /// Signals fed to the engine.
    signals: Counter,
}

impl RunnerMetrics {
    fn new() -> RunnerMetrics {
        let r = lookout_metrics::global();
        RunnerMetrics {
            eval_seconds: r
                .histogram_vec(
                    "lookout_alert_eval_seconds",
                    "Time of one round of alert evaluation: queued signals, rules, grouping, and writing its outcome.",
                    &[],
                    &[
                        0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                        0.25, 0.5, 1.0, 2.5,
                    ],
                )
                .with(&[]),
            signals: r.counter(
                "lookout_alert_signals_evaluated",
                "Signals (events, system events, channel health) fed to the alert engine.",
            ),
        }
    }
}

/// The soonest a round follows the previous one when a new issue or a
/// regression rings for it (otherwise rounds come every tick).
pub const EARLIEST_ROUND: std::time::Duration = std::time::Duration::from_millis(50);

/// How often releases and deploys are re-read for "new issue after a
/// release" rules.
const RELEASES_EVERY: chrono::Duration = chrono::Duration::seconds(30);

impl AlertRunner {
    /// Loads rules, silences and live alerts from storage. `health` is the
    /// outbox worker's channel-health receiver.
    pub async fn load(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        worker: Arc<OutboxWorker>,
        health: mpsc::Receiver<ChannelHealth>,
        routes: Route,
        inhibit: Vec<InhibitRule>,
        public_url: String,
    ) -> lookout_storage::Result<(AlertRunner, AlertSink)> {
        let (tx, signals) = mpsc::channel(SIGNAL_QUEUE);
        let missed_since_ms = Arc::new(AtomicI64::new(0));
        let wanted = Arc::new(AtomicBool::new(false));
        let overflow = Arc::new(Overflow::default());
        let wake = Arc::new(tokio::sync::Notify::new());
        let sink = AlertSink {
            tx,
            dropped: lookout_metrics::global().counter(
                "lookout_alert_signals_dropped",
                "Signals dropped because the alerting queue was full.",
            ),
            missed_since_ms: missed_since_ms.clone(),
            wanted: wanted.clone(),
            overflow: overflow.clone(),
            wake: wake.clone(),
        };
        let mut engine = Engine::new(routes);
        engine.set_inhibit_rules(inhibit);
        let mut runner = AlertRunner {
            store,
            clock,
            engine,
            worker,
            signals,
            health,
            system_cursor: 0,
            public_url,
            projects: BTreeMap::new(),
            channels: HashSet::new(),
            releases_read_at: None,
            missed_since_ms,
            wanted,
            overflow,
            wake,
            commands: None,
            monitor_cursor: 0,
            monitor_kinds: HashMap::new(),
            certificates_read_at: None,
            damage_seen: false,
            slugs_pending: false,
            metrics: RunnerMetrics::new(),
        };
        runner.reload().await?;
        let now = runner.clock.now();
        let live = runner
            .store
            .list_alert_instances(AlertInstanceQuery {
                states: vec!["pending".into(), "firing".into()],
                projects: None,
                include_install: true,
                limit: 100_000,
                ..Default::default()
            })
            .await?;
        let alerts: Vec<Alert> = live
            .into_iter()
            .filter_map(|r| serde_json::from_value(r.body).ok())
            .collect();
        runner.engine.restore(alerts, now);
        // At the very first start, history is not news: begin at the end.
        let mut cursor = runner.store.alert_cursor(SYSTEM_CURSOR).await?;
        if cursor == 0 {
            cursor = runner
                .store
                .list_system_events(1)
                .await?
                .first()
                .map(|e| e.id)
                .unwrap_or(0);
            runner.store.set_alert_cursor(SYSTEM_CURSOR, cursor).await?;
        }
        runner.system_cursor = cursor;
        let mut cursor = runner.store.alert_cursor(MONITOR_CURSOR).await?;
        if cursor == 0 {
            // Likewise for monitors: their past changes are not news.
            loop {
                let page = runner.store.monitor_events_after(cursor, 1000).await?;
                match page.last() {
                    Some(e) => cursor = e.id,
                    None => break,
                }
            }
            runner
                .store
                .set_alert_cursor(MONITOR_CURSOR, cursor)
                .await?;
        }
        runner.monitor_cursor = cursor;
        Ok((runner, sink))
    }

    /// Re-reads rules, silences, channels and project names (after the
    /// API or UI changed them).
    pub async fn reload(&mut self) -> lookout_storage::Result<()> {
        let now = self.clock.now();
        let mut channels = HashMap::new();
        for row in self.store.list_channels().await? {
            if !row.enabled {
                continue;
            }
            match serde_json::from_value::<ChannelConfig>(row.config.clone()) {
                Ok(c) => {
                    channels.insert(row.name.clone(), c);
                }
                Err(e) => tracing::warn!(channel = %row.name, error = %e, "channel skipped"),
            }
        }
        self.channels = channels.keys().cloned().collect();
        self.worker.set_channels(channels);
        self.reload_projects().await?;
        let mut rules = Vec::new();
        for row in self.store.list_alert_rules().await? {
            match rule_from_row(&row) {
                Ok(r) => rules.push(r),
                Err(e) => tracing::warn!(rule = row.id, error = %e, "alert rule skipped"),
            }
        }
        // Rules from lookout.toml may name projects by slug: resolved here,
        // against the projects as they are now, and again when one appears.
        let by_slug: HashMap<&str, i64> = self
            .projects
            .iter()
            .map(|(id, s)| (s.as_str(), *id))
            .collect();
        self.slugs_pending = false;
        for r in &mut rules {
            if !r
                .scope
                .resolve_slugs(|s| by_slug.get(s).copied())
                .is_empty()
            {
                self.slugs_pending = true;
            }
        }
        rules.push(Rule::new(
            CHANNEL_FAILING_RULE,
            "Notification channel failing",
            Condition::ChannelFailing,
            Severity::Critical,
        ));
        self.engine.set_rules(rules, now);
        self.wanted.store(
            ISSUE_KINDS.iter().any(|k| self.engine.has_condition(k)),
            Ordering::Relaxed,
        );
        let silences = self
            .store
            .list_silences(now)
            .await?
            .iter()
            .filter_map(silence_from_row)
            .collect();
        self.engine.set_silences(silences);
        Ok(())
    }

    /// A signal named a project this runner did not know: re-reads the
    /// projects, and the rules too when one names a slug not resolved yet
    /// (it may be this project's).
    async fn project_appeared(&mut self) -> lookout_storage::Result<()> {
        if self.slugs_pending {
            self.reload().await
        } else {
            self.reload_projects().await
        }
    }

    async fn reload_projects(&mut self) -> lookout_storage::Result<()> {
        self.projects = self
            .store
            .list_projects()
            .await?
            .into_iter()
            .map(|p| (p.id, p.slug))
            .collect();
        self.releases_read_at = None;
        self.worker.set_context(RenderContext {
            public_url: self.public_url.clone(),
            project_names: self.projects.clone(),
        });
        Ok(())
    }

    /// Read access to the engine (alert list, mute state).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Feeds the latest releases and deploys of every project to the
    /// engine, when a rule needs them and `RELEASES_EVERY` has passed.
    async fn refresh_releases(&mut self) -> lookout_storage::Result<()> {
        let now = self.clock.now();
        if !self.engine.has_condition("new_issue_after_release")
            || self
                .releases_read_at
                .is_some_and(|t| now - t < RELEASES_EVERY)
        {
            return Ok(());
        }
        self.releases_read_at = Some(now);
        let ids: Vec<i64> = self.projects.keys().copied().collect();
        for project_id in ids {
            // Newest first; a few are enough to know the latest per
            // environment.
            let releases = self.store.list_releases(project_id).await?;
            for r in releases.iter().take(5).rev() {
                self.engine
                    .observe(&Signal::Release(lookout_alert::ReleaseSignal {
                        project_id,
                        version: r.version.clone(),
                        environment: None,
                        at: r.date_released.unwrap_or(r.created_at),
                    }));
                for d in r.deploys.iter().rev() {
                    self.engine
                        .observe(&Signal::Release(lookout_alert::ReleaseSignal {
                            project_id,
                            version: r.version.clone(),
                            environment: Some(d.environment.clone()),
                            at: d.date_finished,
                        }));
                }
            }
        }
        Ok(())
    }

    /// Feeds monitors' recorded state changes (in id order, after the
    /// durable cursor) and, every `CERTIFICATES_EVERY` when a rule watches
    /// certificates, their certificate readings.
    async fn feed_monitors(&mut self) -> lookout_storage::Result<()> {
        let events = self
            .store
            .monitor_events_after(self.monitor_cursor, 1000)
            .await?;
        let mut cursor = self.monitor_cursor;
        for e in events {
            cursor = cursor.max(e.id);
            if !self.projects.contains_key(&e.project_id) {
                // A project made since the last read: messages name it.
                self.project_appeared().await?;
            }
            if !self.monitor_kinds.contains_key(&e.monitor_id) {
                self.monitor_kinds = self
                    .store
                    .list_monitors(None)
                    .await?
                    .into_iter()
                    .map(|m| (m.id, m.kind))
                    .collect();
            }
            let kind = self
                .monitor_kinds
                .get(&e.monitor_id)
                .map(String::as_str)
                .unwrap_or("");
            let signal = monitor_feed::signal_of(&e, kind);
            self.engine.observe(&Signal::Monitor(signal));
        }
        if cursor != self.monitor_cursor {
            self.store.set_alert_cursor(MONITOR_CURSOR, cursor).await?;
            self.monitor_cursor = cursor;
        }
        let now = self.clock.now();
        if self.engine.has_condition("tls_expiring")
            && self
                .certificates_read_at
                .is_none_or(|t| now - t >= CERTIFICATES_EVERY)
        {
            self.certificates_read_at = Some(now);
            for m in self.store.list_monitors(None).await? {
                if let Some(r) = monitor_feed::certificate_reading(&m, now) {
                    self.engine.observe(&Signal::Monitor(r));
                }
            }
        }
        Ok(())
    }

    /// After signals were dropped (a full queue): replays the overflow's
    /// counts (each dropped event counts, with its issue's first dropped
    /// signal as the sample for scopes and flags). Only when the overflow
    /// itself was full does it also scan storage for the issues created or
    /// regressed since the first drop, so new-issue and regression rules
    /// miss nothing (those signals carry the issue's facts only:
    /// environment and tag scopes do not match them, and events past the
    /// overflow's bound are not counted for frequency rules).
    async fn scan_missed(&mut self) -> lookout_storage::Result<()> {
        let since_ms = self.missed_since_ms.swap(0, Ordering::AcqRel);
        if since_ms == 0 {
            return Ok(());
        }
        // First what the overflow kept: each dropped event, counted.
        let (replay, truncated) = self.overflow.drain();
        for mut i in replay {
            if !self.projects.contains_key(&i.project_id) {
                self.project_appeared().await?;
            }
            if let Some(slug) = self.projects.get(&i.project_id) {
                i.project = slug.clone();
            }
            self.engine.observe(&Signal::Issue(i));
        }
        if !truncated {
            return Ok(());
        }
        // A little earlier: the event's own time may precede its drop.
        let since = chrono::DateTime::from_timestamp_millis(since_ms - 5_000).unwrap_or_default();
        tracing::warn!(%since, "alert signals were dropped; scanning storage for new and regressed issues");
        let ids: Vec<i64> = self.projects.keys().copied().collect();
        for project_id in ids {
            let slug = self.projects.get(&project_id).cloned().unwrap_or_default();
            for sort in [
                lookout_storage::IssueSort::FirstSeen,
                lookout_storage::IssueSort::LastSeen,
            ] {
                let page = self
                    .store
                    .list_issues(
                        project_id,
                        lookout_storage::IssueQuery {
                            sort,
                            limit: 500,
                            ..Default::default()
                        },
                    )
                    .await?;
                for i in page.items {
                    let is_new = i.first_seen >= since;
                    let regressed = i.is_regression && i.last_seen >= since;
                    let wanted = match sort {
                        lookout_storage::IssueSort::FirstSeen => is_new,
                        _ => regressed && !is_new,
                    };
                    if !wanted {
                        continue;
                    }
                    let exception_value = i
                        .title
                        .split_once(": ")
                        .map(|(_, v)| v.to_string())
                        .filter(|v| !v.is_empty());
                    self.engine.observe(&Signal::Issue(IssueSignal {
                        project_id,
                        project: slug.clone(),
                        issue_id: i.id,
                        at: if is_new { i.first_seen } else { i.last_seen },
                        new_issue: is_new,
                        regression: !is_new,
                        environment: None,
                        level: i.level.clone(),
                        release: i.last_release.clone(),
                        tags: Vec::new(),
                        title: i.title.clone(),
                        top_frame: (!i.culprit.is_empty()).then(|| i.culprit.clone()),
                        culprit: i.culprit.clone(),
                        exception_value,
                        more: 0,
                    }));
                }
            }
        }
        Ok(())
    }

    /// One round: takes queued signals and new system events, ticks, and
    /// writes the outcome. Returns how many notifications were queued.
    pub async fn step(&mut self) -> lookout_storage::Result<usize> {
        let started = std::time::Instant::now();
        let r = self.evaluate().await;
        self.metrics
            .eval_seconds
            .observe(started.elapsed().as_secs_f64());
        r
    }

    async fn evaluate(&mut self) -> lookout_storage::Result<usize> {
        if let Some(reason) = self.store.fenced() {
            return Ok(self.step_fenced(reason).await);
        }
        self.refresh_releases().await?;
        let mut observed = 0u64;
        while let Ok(mut s) = self.signals.try_recv() {
            if let Signal::Issue(i) = &mut s {
                if !self.projects.contains_key(&i.project_id) {
                    self.project_appeared().await?;
                }
                if let Some(slug) = self.projects.get(&i.project_id) {
                    i.project = slug.clone();
                }
            }
            self.engine.observe(&s);
            observed += 1;
        }
        self.scan_missed().await?;
        while let Ok(h) = self.health.try_recv() {
            self.engine.observe(&Signal::Channel(h));
            observed += 1;
        }
        let events = self
            .store
            .system_events_after(self.system_cursor, 1000)
            .await?;
        let mut cursor = self.system_cursor;
        for e in events {
            observed += 1;
            cursor = cursor.max(e.id);
            self.engine.observe(&Signal::System(SystemSignal {
                kind: e.kind,
                message: e.message,
                at: e.at,
            }));
        }
        self.feed_monitors().await?;
        self.metrics.signals.inc_by(observed);
        let now = self.clock.now();
        let out = self.engine.tick(now);
        let mut items = Vec::new();
        for n in &out.notifications {
            let payload = serde_json::to_value(n).unwrap_or_default();
            for r in self.receivers_of(n) {
                items.push(NewOutboxItem {
                    idempotency_key: n.idempotency_key(&r),
                    channel: r,
                    payload: payload.clone(),
                    not_before: now,
                });
            }
        }
        if !items.is_empty() {
            self.store.enqueue_outbox(items, now).await?;
            self.worker.wake();
        }
        let mut upserts = Vec::new();
        let mut discards = Vec::new();
        for c in out.changes {
            match c {
                AlertChange::Upsert(a) => upserts.push(alert_row(&a, now)),
                AlertChange::Discard(k) => discards.push((k.rule_id, k.fingerprint)),
            }
        }
        if !upserts.is_empty() || !discards.is_empty() {
            self.store.save_alert_instances(upserts, discards).await?;
        }
        if cursor != self.system_cursor {
            self.store.set_alert_cursor(SYSTEM_CURSOR, cursor).await?;
            self.system_cursor = cursor;
        }
        Ok(out.notifications.len())
    }

    /// A round while the store is fenced (found damaged while serving):
    /// nothing can be written, so the engine hears of the damage in memory
    /// and its notifications are sent once, directly, without the outbox.
    async fn step_fenced(&mut self, reason: String) -> usize {
        let now = self.clock.now();
        if !self.damage_seen {
            self.damage_seen = true;
            self.engine.observe(&Signal::System(SystemSignal {
                kind: "integrity.failed".into(),
                message: reason,
                at: now,
            }));
        }
        let out = self.engine.tick(now);
        for n in &out.notifications {
            for r in self.receivers_of(n) {
                self.worker.send_unrecorded(&r, n).await;
            }
        }
        out.notifications.len()
    }

    /// The channels a notification goes to. Routes may name channels that
    /// are not set up (the default tree names `telegram` and `email`):
    /// those are skipped, and a notification left with none goes to the
    /// log.
    fn receivers_of(&self, n: &lookout_alert::Notification) -> Vec<String> {
        let mut v: Vec<String> = n
            .receivers
            .iter()
            .filter(|r| r.as_str() == LOG_CHANNEL || self.channels.contains(*r))
            .cloned()
            .collect();
        if v.is_empty() {
            v.push(LOG_CHANNEL.to_string());
        }
        v
    }

    /// Takes commands from an [`super::control::AlertControl`].
    pub fn with_commands(mut self, commands: mpsc::Receiver<Command>) -> AlertRunner {
        self.commands = Some(commands);
        self
    }

    /// Carries out one command, then persists what it changed.
    pub async fn handle(&mut self, c: Command) {
        match c {
            Command::Reload => {
                if let Err(e) = self.reload().await {
                    tracing::warn!(error = %e, "cannot reload alert rules");
                }
            }
            Command::IssueResolved {
                project_id,
                issue_id,
            } => {
                self.engine.observe(&Signal::IssueResolved {
                    project_id,
                    issue_id,
                    at: self.clock.now(),
                });
            }
            Command::Acknowledge {
                alert_id,
                by,
                reply,
            } => {
                let r = self.act(alert_id, &by, true).await;
                let _ = reply.send(r);
                return;
            }
            Command::Resolve {
                alert_id,
                by,
                reply,
            } => {
                let r = self.act(alert_id, &by, false).await;
                let _ = reply.send(r);
                return;
            }
        }
        if let Err(e) = self.step().await {
            tracing::warn!(error = %e, "alert evaluation failed");
        }
    }

    /// Acknowledges (`ack`) or resolves an alert by its row id and returns
    /// the stored row afterwards.
    async fn act(
        &mut self,
        alert_id: i64,
        by: &str,
        ack: bool,
    ) -> Result<AlertInstanceRow, ControlError> {
        let storage = |e: lookout_storage::StorageError| ControlError::Storage(e.to_string());
        let row = self
            .store
            .get_alert_instance(alert_id)
            .await
            .map_err(storage)?
            .ok_or(ControlError::NoSuchAlert(alert_id))?;
        let key = lookout_alert::AlertKey {
            rule_id: row.rule_id,
            fingerprint: row.fingerprint.clone(),
        };
        let now = self.clock.now();
        let live = if ack {
            self.engine.acknowledge(&key, by, now)
        } else {
            self.engine.resolve(&key, by, now)
        };
        if live.is_none() {
            return Err(ControlError::AlreadyResolved(alert_id));
        }
        self.step().await.map_err(storage)?;
        self.store
            .get_alert_instance(alert_id)
            .await
            .map_err(storage)?
            .ok_or(ControlError::NoSuchAlert(alert_id))
    }

    /// Ticks every `period` until `shutdown` turns true, carrying out
    /// commands as they come. A new issue or a regression starts a round
    /// early, [`EARLIEST_ROUND`] after the last one began at the soonest,
    /// so a burst of them is one round, not one each.
    pub async fn run(mut self, period: std::time::Duration, mut shutdown: watch::Receiver<bool>) {
        let mut commands = self.commands.take();
        let wake = self.wake.clone();
        loop {
            if *shutdown.borrow() {
                break;
            }
            let began = tokio::time::Instant::now();
            if let Err(e) = self.step().await {
                tracing::warn!(error = %e, "alert evaluation failed");
            }
            let sleep = tokio::time::sleep_until(began + period);
            tokio::pin!(sleep);
            loop {
                tokio::select! {
                    _ = &mut sleep => break,
                    _ = shutdown.changed() => break,
                    _ = wake.notified() => {
                        let earliest = began + EARLIEST_ROUND.min(period);
                        if sleep.deadline() > earliest {
                            sleep.as_mut().reset(earliest);
                        }
                    }
                    c = recv(&mut commands) => match c {
                        Some(c) => self.handle(c).await,
                        None => commands = None,
                    },
                }
            }
        }
        tracing::info!("alert engine stopped");
    }

    /// Firing alerts (for tests and the UI).
    pub fn firing(&self) -> Vec<&Alert> {
        self.engine
            .alerts()
            .filter(|a| a.state == AlertState::Firing)
            .collect()
    }
}

/// The next command, or never when there is no command channel.
async fn recv(c: &mut Option<mpsc::Receiver<Command>>) -> Option<Command> {
    match c {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
#[path = "runner_tests.rs"]
mod tests;
