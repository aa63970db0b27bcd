//! The monitoring engine (issue #5): owns every monitor's live state,
//! runs active checks on a jittered schedule with bounded concurrency,
//! evaluates heartbeats against the injected clock, turns pings and Sentry
//! check-ins into observations, and records every result through the
//! `Store`.
//!
//! **State changes are events.** Each one is written durably with the
//! check that caused it (`Store::record_check` → the `monitor_events`
//! table, read back in id order with `Store::monitor_events_after`) and,
//! once durable, published on [`Monitoring::subscribe`] (a
//! `tokio::sync::broadcast` channel). A consumer that lags or restarts
//! catches up from the table by id; the channel is only the fast path.
//!
//! Writes for one monitor are serialised by its own async mutex, so a
//! ping and a lapse never write out of order; different monitors write
//! concurrently and share the storage writer's group commits.

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use lookout_config::{MonitorDecl, MonitoringConfig};
use lookout_metrics::{Counter, CounterVec, HistogramVec, LATENCY_BUCKETS};
use lookout_model::errors::CheckInRow;
use lookout_monitor::heartbeat::{self, PingTimes};
use lookout_monitor::schedule::{DueQueue, first_due, next_due};
use lookout_monitor::{
    CheckOutcome, Clock, Compiled, Kind, Machine, MonitorSpec, Observation, Prober, Status,
};
use lookout_storage::{
    CheckRecord, MonitorEvent, MonitorRecord, MonitorResult, MonitorState, NewMonitor, StateChange,
    Store,
};
use parking_lot::Mutex;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, Semaphore, broadcast};

/// The cursor name for the check-in feed.
const CHECK_IN_CURSOR: &str = "check_ins";

/// What a heartbeat ping says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ping {
    /// The job finished well (`/ping/{token}`, check-in `ok`).
    Success,
    /// The job started (`/start`, check-in `in_progress`).
    Start,
    /// The job failed (`/fail`, check-in `error`).
    Fail,
}

struct Live {
    record: MonitorRecord,
    compiled: Option<Arc<Compiled>>,
    state: Arc<tokio::sync::Mutex<LiveState>>,
}

#[derive(Debug, Clone)]
struct LiveState {
    machine: Machine,
    stored: MonitorState,
    /// The heartbeat lapse already recorded (by its deadline).
    lapse_recorded: Option<DateTime<Utc>>,
}

struct Metrics {
    checks: CounterVec,
    duration: HistogramVec,
    changes: CounterVec,
    rejected: CounterVec,
    pings: CounterVec,
    dropped_events: Counter,
}

impl Metrics {
    fn new() -> Metrics {
        let r = lookout_metrics::global();
        Metrics {
            checks: r.counter_vec(
                "lookout_monitor_checks",
                "Monitor checks run, by kind and result (up, degraded, down).",
                &["kind", "result"],
            ),
            duration: r.histogram_vec(
                "lookout_monitor_check_duration_seconds",
                "Time one active check took.",
                &["kind"],
                LATENCY_BUCKETS,
            ),
            changes: r.counter_vec(
                "lookout_monitor_state_changes",
                "Monitor state changes, by new state.",
                &["to"],
            ),
            rejected: r.counter_vec(
                "lookout_monitor_definitions_rejected",
                "Monitor definitions refused at creation or update, by reason.",
                &["reason"],
            ),
            pings: r.counter_vec(
                "lookout_monitor_pings",
                "Heartbeat pings and check-ins received, by kind.",
                &["kind"],
            ),
            dropped_events: r.counter(
                "lookout_monitor_events_unsent",
                "State-change events recorded while nobody listened on the channel.",
            ),
        }
    }
}

/// The engine. Cheap to share (`Arc`).
pub struct Monitoring {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    settings: MonitoringConfig,
    prober: Prober,
    live: Mutex<HashMap<i64, Arc<Live>>>,
    queue: Mutex<DueQueue>,
    wake: Notify,
    events: broadcast::Sender<MonitorEvent>,
    permits: Arc<Semaphore>,
    metrics: Metrics,
    /// Rendered public status pages: slug → (rendered at, body).
    pub(crate) page_cache: Mutex<HashMap<String, (std::time::Instant, Arc<String>)>>,
}

impl std::fmt::Debug for Monitoring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Monitoring")
            .field("monitors", &self.live.lock().len())
            .finish_non_exhaustive()
    }
}

/// Turns a definition error into the reason label counted in metrics.
pub fn rejection_reason(e: &lookout_monitor::SpecError) -> &'static str {
    let f = e.0.first().map(|f| f.field.as_str()).unwrap_or("");
    match f {
        "url" => "url",
        "cron" => "cron",
        "timezone" => "timezone",
        f if f.starts_with("conditions") => "condition",
        _ => "other",
    }
}

fn state_of(machine: &Machine, stored: &MonitorState) -> MonitorState {
    MonitorState {
        status: machine.status.as_str().to_string(),
        failures: machine.failures,
        degraded: machine.degraded,
        successes: machine.successes,
        ..stored.clone()
    }
}

fn machine_of(record: &MonitorRecord, c: Option<&Compiled>) -> Machine {
    let (f, s) = c
        .map(|c| (c.spec.failures_needed(), c.spec.successes_needed()))
        .unwrap_or((3, 2));
    let mut m = Machine::new(f, s);
    m.status = if record.paused {
        Status::Paused
    } else {
        Status::parse(&record.state.status)
    };
    m.failures = record.state.failures;
    m.degraded = record.state.degraded;
    m.successes = record.state.successes;
    m
}

/// Converts a Sentry `monitor_config` into a heartbeat definition.
pub fn spec_from_sentry(cfg: &Value) -> Result<MonitorSpec, String> {
    let mut s = MonitorSpec::new(Kind::Heartbeat);
    let schedule = cfg
        .get("schedule")
        .ok_or("monitor_config has no schedule")?;
    match schedule.get("type").and_then(Value::as_str) {
        Some("crontab") => {
            let v = schedule
                .get("value")
                .and_then(Value::as_str)
                .ok_or("crontab schedule has no value")?;
            s.cron = Some(v.to_string());
        }
        Some("interval") => {
            let v = schedule
                .get("value")
                .and_then(Value::as_u64)
                .ok_or("interval schedule has no value")?;
            let unit = match schedule
                .get("unit")
                .and_then(Value::as_str)
                .unwrap_or("minute")
            {
                "minute" => 60,
                "hour" => 3600,
                "day" => 86_400,
                "week" => 7 * 86_400,
                "month" => 30 * 86_400,
                "year" => 365 * 86_400,
                other => return Err(format!("unknown interval unit `{other}`")),
            };
            s.interval_secs = u32::try_from(v.saturating_mul(unit)).unwrap_or(u32::MAX);
        }
        other => return Err(format!("unknown schedule type {other:?}")),
    }
    if let Some(m) = cfg.get("checkin_margin").and_then(Value::as_u64) {
        s.grace_secs = Some((m * 60).min(u32::MAX as u64) as u32);
    }
    if let Some(m) = cfg.get("max_runtime").and_then(Value::as_u64) {
        s.max_runtime_secs = Some((m * 60).min(u32::MAX as u64) as u32);
    }
    if let Some(tz) = cfg.get("timezone").and_then(Value::as_str) {
        s.timezone = Some(tz.to_string());
    }
    if let Some(n) = cfg.get("failure_issue_threshold").and_then(Value::as_u64) {
        s.failure_threshold = Some(n.clamp(1, 100) as u32);
    }
    if let Some(n) = cfg.get("recovery_threshold").and_then(Value::as_u64) {
        s.success_threshold = Some(n.clamp(1, 100) as u32);
    }
    s.compile().map_err(|e| e.to_string())?;
    Ok(s)
}

/// A new random push-URL secret.
pub fn new_ping_token() -> String {
    let mut b = [0u8; 18];
    rand::fill(&mut b);
    hex::encode(b)
}

impl Monitoring {
    /// Builds the engine (nothing runs until [`Monitoring::spawn`]).
    pub fn new(store: Arc<dyn Store>, settings: MonitoringConfig, clock: Arc<dyn Clock>) -> Self {
        // Building the client fails only when the TLS backend cannot start,
        // which the compiled-in rustls + ring never does.
        let prober = Prober::new(settings.max_body_bytes).expect("the rustls HTTP client builds");
        let (events, _) = broadcast::channel(1024);
        Monitoring {
            store,
            clock,
            permits: Arc::new(Semaphore::new(settings.max_concurrent_checks.max(1))),
            settings,
            prober,
            live: Mutex::new(HashMap::new()),
            queue: Mutex::new(DueQueue::default()),
            wake: Notify::new(),
            events,
            metrics: Metrics::new(),
            page_cache: Mutex::new(HashMap::new()),
        }
    }

    /// The settings.
    pub fn settings(&self) -> &MonitoringConfig {
        &self.settings
    }

    /// The clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// State changes as they are recorded (after they are durable).
    pub fn subscribe(&self) -> broadcast::Receiver<MonitorEvent> {
        self.events.subscribe()
    }

    /// Counts a refused definition.
    pub fn count_rejection(&self, reason: &str) {
        self.metrics.rejected.with(&[reason]).inc();
    }

    /// Monitors known to the engine.
    pub fn len(&self) -> usize {
        self.live.lock().len()
    }

    /// Whether no monitor is known.
    pub fn is_empty(&self) -> bool {
        self.live.lock().is_empty()
    }

    /// Loads (or reloads) one monitor after it was created or changed, and
    /// schedules it.
    pub fn upsert(&self, record: MonitorRecord) {
        let compiled = serde_json::from_value::<MonitorSpec>(record.spec.clone())
            .ok()
            .and_then(|s| s.compile().ok())
            .map(Arc::new);
        if compiled.is_none() {
            tracing::warn!(
                monitor = record.id,
                "stored monitor definition does not compile; not scheduled"
            );
        }
        let id = record.id;
        let mut live = self.live.lock();
        let state = match live.get(&id) {
            // Keep the live counters; take the new thresholds.
            Some(old) => {
                let st = old.state.clone();
                if let Ok(mut g) = st.try_lock() {
                    let mut m = machine_of(&record, compiled.as_deref());
                    m.status = if record.paused {
                        Status::Paused
                    } else {
                        g.machine.status
                    };
                    m.failures = g.machine.failures;
                    m.degraded = g.machine.degraded;
                    m.successes = g.machine.successes;
                    g.machine = m;
                }
                st
            }
            None => Arc::new(tokio::sync::Mutex::new(LiveState {
                machine: machine_of(&record, compiled.as_deref()),
                stored: record.state.clone(),
                lapse_recorded: None,
            })),
        };
        let active = compiled.as_ref().is_some_and(|c| c.spec.kind.is_active()) && !record.paused;
        let interval_ms = compiled
            .as_ref()
            .map(|c| c.spec.interval_secs as i64 * 1000)
            .unwrap_or(60_000);
        live.insert(
            id,
            Arc::new(Live {
                record,
                compiled,
                state,
            }),
        );
        drop(live);
        let mut q = self.queue.lock();
        if active && self.settings.enabled {
            q.insert(
                id,
                first_due(id, interval_ms, self.now().timestamp_millis()),
            );
        } else {
            q.remove(id);
        }
        drop(q);
        self.wake.notify_one();
    }

    /// Forgets a deleted monitor.
    pub fn remove(&self, id: i64) {
        self.live.lock().remove(&id);
        self.queue.lock().remove(id);
    }

    fn get(&self, id: i64) -> Option<Arc<Live>> {
        self.live.lock().get(&id).cloned()
    }

    /// Loads every stored monitor.
    pub async fn load_all(&self) -> lookout_storage::Result<usize> {
        let all = self.store.list_monitors(None).await?;
        let n = all.len();
        for m in all {
            self.upsert(m);
        }
        Ok(n)
    }

    /// Applies one observation (or only a state update) to a monitor and
    /// records it. Returns the state-change event, if any.
    async fn apply(
        &self,
        id: i64,
        at: DateTime<Utc>,
        observation: Option<(Observation, String)>,
        latency_ms: Option<f64>,
        details: Option<Value>,
        update: impl FnOnce(&mut MonitorState),
    ) -> Option<MonitorEvent> {
        let live = self.get(id)?;
        let mut g = live.state.lock().await;
        let mut next = g.clone();
        update(&mut next.stored);
        let mut change = None;
        let mut result = None;
        if let Some((obs, message)) = &observation {
            let before = next.machine.status;
            if let Some(t) = next.machine.observe(*obs) {
                next.stored.since = at;
                change = Some(StateChange {
                    from: t.from.as_str().into(),
                    to: t.to.as_str().into(),
                    cause: message.clone(),
                });
            }
            if before != Status::Paused {
                result = Some(MonitorResult {
                    at,
                    status: obs.as_str().into(),
                    latency_ms,
                    message: message.clone(),
                });
                next.stored.last_check_at = Some(at);
                next.stored.last_latency_ms = latency_ms;
                next.stored.last_message = Some(message.clone());
                if details.is_some() {
                    next.stored.last_details = details;
                }
            }
        }
        next.stored = state_of(&next.machine, &next.stored);
        let rec = CheckRecord {
            monitor_id: id,
            at,
            result,
            state: next.stored.clone(),
            change,
        };
        match self.store.record_check(rec).await {
            Ok(ev) => {
                *g = next;
                drop(g);
                if let Some(e) = &ev {
                    self.publish(e.clone());
                }
                ev
            }
            Err(lookout_storage::StorageError::NotFound(_)) => {
                // Deleted underneath (with its project): stop checking it,
                // rather than warn at every interval until a restart.
                drop(g);
                self.remove(id);
                tracing::info!(
                    monitor = id,
                    "the monitor is no longer stored; stopped checking it"
                );
                None
            }
            Err(e) => {
                tracing::warn!(monitor = id, error = %e, "cannot record a monitor check");
                None
            }
        }
    }

    fn publish(&self, e: MonitorEvent) {
        self.metrics.changes.with(&[&e.to]).inc();
        tracing::info!(monitor = e.monitor_id, from = %e.from, to = %e.to, cause = %e.cause, "monitor state changed");
        if self.events.send(e).is_err() {
            self.metrics.dropped_events.inc();
        }
    }

    /// Pauses or resumes a monitor, recording the state change.
    pub async fn set_paused(
        &self,
        id: i64,
        paused: bool,
    ) -> lookout_storage::Result<MonitorRecord> {
        let rec = self.store.set_monitor_paused(id, paused).await?;
        let now = self.now();
        if let Some(live) = self.get(id) {
            let mut g = live.state.lock().await;
            if let Some(t) = g.machine.set_paused(paused) {
                g.stored.since = now;
                g.stored = state_of(&g.machine, &g.stored);
                let change = StateChange {
                    from: t.from.as_str().into(),
                    to: t.to.as_str().into(),
                    cause: if paused {
                        "paused by a user".into()
                    } else {
                        "resumed by a user".into()
                    },
                };
                let ev = self
                    .store
                    .record_check(CheckRecord {
                        monitor_id: id,
                        at: now,
                        result: None,
                        state: g.stored.clone(),
                        change: Some(change),
                    })
                    .await?;
                drop(g);
                if let Some(e) = ev {
                    self.publish(e);
                }
            }
        }
        let fresh = self.store.get_monitor(id).await?.unwrap_or(rec);
        self.upsert(fresh.clone());
        Ok(fresh)
    }

    /// Records a heartbeat ping. `None` when the token is unknown.
    pub async fn ping_token(
        &self,
        token: &str,
        ping: Ping,
        body: &[u8],
    ) -> lookout_storage::Result<Option<i64>> {
        let Some(m) = self.store.find_monitor_by_token(token).await? else {
            return Ok(None);
        };
        if self.get(m.id).is_none() {
            self.upsert(m.clone());
        }
        let output = (!body.is_empty()).then(|| self.cap_output(body));
        self.ping(m.id, ping, self.now(), output, None).await;
        Ok(Some(m.id))
    }

    fn cap_output(&self, body: &[u8]) -> String {
        let cap = self.settings.max_output_bytes.min(body.len());
        let mut s = String::from_utf8_lossy(&body[..cap]).into_owned();
        if body.len() > cap {
            s.push_str("\n… (truncated)");
        }
        s
    }

    async fn ping(
        &self,
        id: i64,
        ping: Ping,
        at: DateTime<Utc>,
        output: Option<String>,
        duration: Option<f64>,
    ) {
        let kind = match ping {
            Ping::Success => "success",
            Ping::Start => "start",
            Ping::Fail => "fail",
        };
        self.metrics.pings.with(&[kind]).inc();
        let dur = duration
            .map(|d| format!(" after {d:.1} s"))
            .unwrap_or_default();
        let observation = match ping {
            Ping::Start => None,
            Ping::Success => Some((Observation::Up, format!("ping received{dur}"))),
            Ping::Fail => {
                let first = output
                    .as_deref()
                    .and_then(|o| o.lines().find(|l| !l.trim().is_empty()))
                    .map(|l| format!(": {}", l.chars().take(200).collect::<String>()))
                    .unwrap_or_default();
                Some((Observation::Down, format!("failure reported{dur}{first}")))
            }
        };
        self.apply(
            id,
            at,
            observation,
            duration.map(|d| d * 1000.0),
            None,
            move |s| {
                match ping {
                    Ping::Start => s.last_start_at = Some(at),
                    Ping::Success | Ping::Fail => s.last_ping_at = Some(at),
                }
                if let Some(o) = output {
                    s.last_output = Some(o);
                }
            },
        )
        .await;
    }

    /// Turns one stored Sentry check-in into monitor state: its
    /// `monitor_config` creates or updates the monitor, its status is a
    /// ping.
    pub async fn check_in(&self, project_id: i64, c: &CheckInRow) -> lookout_storage::Result<()> {
        let existing = self.store.find_monitor(project_id, &c.monitor_slug).await?;
        let mut id = existing.as_ref().map(|m| m.id);
        if let Some(cfg) = &c.monitor_config {
            // Config-managed monitors and non-heartbeat monitors that happen to
            // share the slug are not redefined by a check-in.
            let managed = existing
                .as_ref()
                .is_some_and(|m| m.source == "config" || m.kind != Kind::Heartbeat.as_str());
            match spec_from_sentry(cfg) {
                Ok(spec) if !managed => {
                    let (rec, _) = self
                        .store
                        .upsert_monitor(NewMonitor {
                            project_id,
                            slug: c.monitor_slug.clone(),
                            name: existing
                                .as_ref()
                                .map(|m| m.name.clone())
                                .unwrap_or_else(|| c.monitor_slug.clone()),
                            kind: Kind::Heartbeat.as_str().into(),
                            spec: serde_json::to_value(&spec).unwrap_or_default(),
                            source: existing
                                .as_ref()
                                .map(|m| m.source.clone())
                                .unwrap_or_else(|| "sentry".into()),
                            ping_token: Some(new_ping_token()),
                        })
                        .await?;
                    id = Some(rec.id);
                    self.upsert(rec);
                }
                Ok(_) => {}
                Err(e) => {
                    self.count_rejection("monitor_config");
                    tracing::info!(slug = %c.monitor_slug, error = %e, "check-in monitor_config refused");
                }
            }
        }
        let Some(id) = id else {
            tracing::debug!(slug = %c.monitor_slug, "check-in for an unknown monitor without monitor_config");
            return Ok(());
        };
        if self.get(id).is_none()
            && let Some(rec) = self.store.get_monitor(id).await?
        {
            self.upsert(rec);
        }
        let ping = match c.status.as_str() {
            "in_progress" => Ping::Start,
            "error" => Ping::Fail,
            _ => Ping::Success,
        };
        let output = c
            .environment
            .as_ref()
            .map(|e| format!("Sentry check-in {} ({e})", c.check_in_id));
        self.ping(id, ping, c.received_at, output, c.duration).await;
        Ok(())
    }

    /// Creates or updates the monitors declared in the configuration.
    /// Returns an error naming the first declaration that is invalid.
    pub async fn sync_config(&self, decls: &[MonitorDecl]) -> Result<usize, String> {
        let mut n = 0;
        let mut declared = Vec::new();
        for (i, d) in decls.iter().enumerate() {
            let at = format!(
                "[[monitors]] #{} (project {}, slug {})",
                i + 1,
                d.project,
                d.slug
            );
            let spec_json = serde_json::to_value(&d.spec).map_err(|e| format!("{at}: {e}"))?;
            let spec: MonitorSpec =
                serde_json::from_value(spec_json).map_err(|e| format!("{at}: {e}"))?;
            spec.compile().map_err(|e| format!("{at}: {e}"))?;
            let project = self
                .store
                .find_project_by_slug(&d.project)
                .await
                .map_err(|e| format!("{at}: {e}"))?
                .ok_or_else(|| format!("{at}: no project with slug `{}`", d.project))?;
            let (rec, _) = self
                .store
                .upsert_monitor(NewMonitor {
                    project_id: project.id,
                    slug: d.slug.clone(),
                    name: d.name.clone().unwrap_or_else(|| d.slug.clone()),
                    kind: spec.kind.as_str().into(),
                    spec: serde_json::to_value(&spec).unwrap_or_default(),
                    source: "config".into(),
                    ping_token: (spec.kind == Kind::Heartbeat).then(new_ping_token),
                })
                .await
                .map_err(|e| format!("{at}: {e}"))?;
            declared.push((project.id, d.slug.clone()));
            self.upsert(rec);
            n += 1;
        }
        // No longer declared: an ordinary monitor again (editable, deletable).
        let all = self
            .store
            .list_monitors(None)
            .await
            .map_err(|e| e.to_string())?;
        for m in all.into_iter().filter(|m| m.source == "config") {
            if !declared.contains(&(m.project_id, m.slug.clone())) {
                tracing::info!(monitor = m.id, slug = %m.slug, "monitor no longer in the configuration; it stays, editable in the UI");
                self.store
                    .upsert_monitor(NewMonitor {
                        project_id: m.project_id,
                        slug: m.slug,
                        name: m.name,
                        kind: m.kind,
                        spec: m.spec,
                        source: "ui".into(),
                        ping_token: m.ping_token,
                    })
                    .await
                    .map_err(|e| e.to_string())?;
            }
        }
        Ok(n)
    }

    /// Runs one active check now and records it.
    async fn run_check(self: &Arc<Self>, id: i64, due_ms: i64) {
        let Some(live) = self.get(id) else { return };
        let Some(c) = live.compiled.clone() else {
            return;
        };
        let started = std::time::Instant::now();
        let outcome: CheckOutcome = self.prober.run(&c, self.now()).await;
        self.metrics
            .duration
            .with(&[c.spec.kind.as_str()])
            .observe(started.elapsed().as_secs_f64());
        self.metrics
            .checks
            .with(&[c.spec.kind.as_str(), outcome.observation.as_str()])
            .inc();
        let at = self.now();
        self.apply(
            id,
            at,
            Some((outcome.observation, outcome.message.clone())),
            outcome.latency_ms,
            Some(outcome.details.clone()),
            |_| {},
        )
        .await;
        // Reschedule: sooner while a failure or a recovery is unconfirmed.
        let Some(live) = self.get(id) else { return };
        if live.record.paused || !self.settings.enabled {
            return;
        }
        let m = live.state.lock().await.machine;
        let confirming = (m.failures > 0 && m.status != Status::Down)
            || (m.successes > 0 && matches!(m.status, Status::Down | Status::Degraded))
            || (m.degraded > 0 && m.status == Status::Up);
        let now_ms = self.now().timestamp_millis();
        let next = if confirming {
            now_ms + c.spec.retry_secs() as i64 * 1000
        } else {
            next_due(due_ms, c.spec.interval_secs as i64 * 1000, now_ms)
        };
        let mut q = self.queue.lock();
        if q.due_of(id).is_none() {
            q.insert(id, next);
        }
        drop(q);
        self.wake.notify_one();
    }

    /// Evaluates every heartbeat monitor at the clock's now and records
    /// lapses (once per deadline).
    pub async fn evaluate_heartbeats(&self) {
        let now = self.now();
        let hbs: Vec<Arc<Live>> = self
            .live
            .lock()
            .values()
            .filter(|l| {
                !l.record.paused
                    && l.compiled
                        .as_ref()
                        .is_some_and(|c| c.spec.kind == Kind::Heartbeat)
            })
            .cloned()
            .collect();
        for l in hbs {
            let Some(c) = &l.compiled else { continue };
            let (times, recorded) = {
                let g = l.state.lock().await;
                if g.machine.status == Status::Paused {
                    continue;
                }
                // After a recorded lapse the schedule restarts at the
                // missed time, so every missed period counts once.
                let grace = ChronoDuration::seconds(
                    c.spec.grace_secs.unwrap_or(heartbeat::DEFAULT_GRACE_SECS) as i64,
                );
                let mut since = g.stored.since.max(l.record.created_at);
                if let Some(d) = g.lapse_recorded {
                    since = since.max(d - grace);
                }
                (
                    PingTimes {
                        since: Some(since),
                        last_ping: g.stored.last_ping_at,
                        last_start: g.stored.last_start_at,
                    },
                    g.lapse_recorded,
                )
            };
            if let Some(lapse) = heartbeat::evaluate(c, &times, now)
                && recorded != Some(lapse.deadline)
            {
                let deadline = lapse.deadline;
                self.apply(
                    l.record.id,
                    now,
                    Some((Observation::Down, lapse.cause)),
                    None,
                    None,
                    |_| {},
                )
                .await;
                if let Some(l) = self.get(l.record.id) {
                    l.state.lock().await.lapse_recorded = Some(deadline);
                }
            }
        }
    }

    /// Reads new check-ins from storage and applies them.
    pub async fn drain_check_ins(&self) -> lookout_storage::Result<usize> {
        let mut cursor = match self.store.monitor_cursor(CHECK_IN_CURSOR).await? {
            Some(c) => c,
            None => {
                // First run: start at the check-ins stored so far.
                let last = self.store.last_check_in_id().await?;
                self.store.set_monitor_cursor(CHECK_IN_CURSOR, last).await?;
                last
            }
        };
        let mut n = 0;
        loop {
            let batch = self.store.check_ins_after(cursor, 500).await?;
            if batch.is_empty() {
                break;
            }
            for (row_id, project_id, c) in &batch {
                if let Err(e) = self.check_in(*project_id, c).await {
                    tracing::warn!(error = %e, "cannot apply a check-in");
                }
                cursor = *row_id;
                n += 1;
            }
            self.store
                .set_monitor_cursor(CHECK_IN_CURSOR, cursor)
                .await?;
            if batch.len() < 500 {
                break;
            }
        }
        Ok(n)
    }

    /// Rolls up and prunes history.
    pub async fn compact(&self) {
        let now = self.now();
        let raw_before = now - ChronoDuration::hours(self.settings.raw_retention_hours as i64);
        let history_before = now - ChronoDuration::days(self.settings.history_days.max(90) as i64);
        loop {
            match self
                .store
                .compact_monitor_history(raw_before, history_before, 500)
                .await
            {
                Ok(n) if n > 0 => continue,
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot compact monitor history");
                    break;
                }
            }
        }
    }

    async fn scheduler(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        loop {
            let now_ms = self.now().timestamp_millis();
            let due = self.queue.lock().pop_due(now_ms);
            for (id, due_ms) in due {
                let permit = tokio::select! {
                    p = self.permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
                    _ = stop.changed() => return,
                };
                let me = self.clone();
                tokio::spawn(async move {
                    me.run_check(id, due_ms).await;
                    drop(permit);
                });
            }
            let wait = self
                .queue
                .lock()
                .next_due()
                .map(|d| (d - self.now().timestamp_millis()).clamp(10, 1000))
                .unwrap_or(1000);
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(wait as u64)) => {}
                _ = self.wake.notified() => {}
                _ = stop.changed() => return,
            }
        }
    }

    /// Starts the engine's tasks: load monitors (and the configured ones),
    /// the check scheduler, heartbeat evaluation and the check-in feed
    /// (every second), and history compaction (every 10 minutes).
    pub fn spawn(
        self: &Arc<Self>,
        decls: Vec<MonitorDecl>,
        shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        let me = self.clone();
        let stop = shutdown.clone();
        tokio::spawn(async move {
            match me.sync_config(&decls).await {
                Ok(n) if n > 0 => {
                    tracing::info!(monitors = n, "monitors from the configuration are in place")
                }
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "a monitor in the configuration is invalid"),
            }
            if let Err(e) = me.load_all().await {
                tracing::error!(error = %e, "cannot load monitors");
            }
            let sched = me.clone();
            tokio::spawn(sched.scheduler(stop.clone()));
            let mut stop = stop;
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut last_compact = std::time::Instant::now() - Duration::from_secs(3600);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stop.changed() => break,
                }
                if let Err(e) = me.drain_check_ins().await {
                    tracing::warn!(error = %e, "cannot read check-ins");
                }
                me.evaluate_heartbeats().await;
                if last_compact.elapsed() > Duration::from_secs(600) {
                    last_compact = std::time::Instant::now();
                    me.compact().await;
                }
            }
        });
    }

    /// Looks up the live copy of a monitor (for pages: status without a
    /// database read).
    pub fn live_status(&self, id: i64) -> Option<String> {
        self.get(id).map(|l| {
            l.state
                .try_lock()
                .map(|g| g.machine.status.as_str().to_string())
                .unwrap_or_else(|_| l.record.state.status.clone())
        })
    }

    /// JSON describing a check for API answers.
    pub fn describe(record: &MonitorRecord, public_url: &str) -> Value {
        let mut v = serde_json::to_value(record).unwrap_or_default();
        if let Some(t) = &record.ping_token {
            v["ping_url"] = json!(format!("{public_url}/ping/{t}"));
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lookout_monitor::ManualClock;
    use lookout_storage::sqlite::{SqliteOptions, SqliteStore};

    #[test]
    fn sentry_monitor_config_becomes_a_heartbeat() {
        let s = spec_from_sentry(&json!({
            "schedule": {"type": "interval", "value": 2, "unit": "hour"},
            "checkin_margin": 5, "max_runtime": 30, "timezone": "Europe/Berlin",
            "failure_issue_threshold": 2
        }))
        .unwrap();
        assert_eq!(s.kind, Kind::Heartbeat);
        assert_eq!(s.interval_secs, 7200);
        assert_eq!(s.grace_secs, Some(300));
        assert_eq!(s.max_runtime_secs, Some(1800));
        assert_eq!(s.failures_needed(), 2);
        let s = spec_from_sentry(&json!({"schedule": {"type": "crontab", "value": "0 3 * * *"}}))
            .unwrap();
        assert_eq!(s.cron.as_deref(), Some("0 3 * * *"));
        assert!(
            spec_from_sentry(&json!({"schedule": {"type": "crontab", "value": "0 99 * * *"}}))
                .is_err()
        );
        assert!(
            spec_from_sentry(
                &json!({"schedule": {"type": "interval", "value": 1, "unit": "fortnight"}})
            )
            .is_err()
        );
        assert!(spec_from_sentry(&json!({})).is_err());
    }

    /// The engine with a manual clock over a fresh store holding one
    /// project and one heartbeat monitor (pinged at `/ping/tok`), loaded.
    struct HeartbeatBed {
        _dir: tempfile::TempDir,
        store: Arc<dyn Store>,
        clock: Arc<ManualClock>,
        mon: Monitoring,
        project_id: i64,
        id: i64,
    }

    async fn heartbeat_bed(spec: &MonitorSpec) -> HeartbeatBed {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::open(SqliteOptions::new(dir.path())).unwrap());
        let (p, _) = store
            .create_project(lookout_storage::NewProject {
                name: "cron".into(),
            })
            .await
            .unwrap();
        let clock = Arc::new(ManualClock::new(Utc::now()));
        let mon = Monitoring::new(store.clone(), MonitoringConfig::default(), clock.clone());
        let rec = store
            .create_monitor(NewMonitor {
                project_id: p.id,
                slug: "backup".into(),
                name: "Backup".into(),
                kind: "heartbeat".into(),
                spec: serde_json::to_value(spec).unwrap(),
                source: "api".into(),
                ping_token: Some("tok".into()),
            })
            .await
            .unwrap();
        let id = rec.id;
        mon.upsert(rec);
        HeartbeatBed {
            _dir: dir,
            store,
            clock,
            mon,
            project_id: p.id,
            id,
        }
    }

    /// A monitor deleted with its project is forgotten by the engine at its
    /// next check instead of being checked (and warned about) forever.
    #[tokio::test]
    async fn a_monitor_deleted_with_its_project_is_forgotten() {
        let mut spec = MonitorSpec::new(Kind::Heartbeat);
        spec.interval_secs = 60;
        let HeartbeatBed {
            _dir,
            store,
            clock,
            mon,
            project_id,
            id,
        } = heartbeat_bed(&spec).await;
        assert!(mon.get(id).is_some());
        assert!(store.delete_project(project_id).await.unwrap());
        clock.advance(chrono::Duration::hours(1));
        mon.evaluate_heartbeats().await;
        assert!(
            mon.get(id).is_none(),
            "the engine still holds the deleted monitor"
        );
        store.close().await.unwrap();
    }

    /// The engine with a manual clock: a heartbeat that is never pinged,
    /// pinged on time, then late, without sleeping.
    #[tokio::test]
    async fn heartbeats_follow_the_injected_clock() {
        let mut spec = MonitorSpec::new(Kind::Heartbeat);
        spec.interval_secs = 300;
        spec.grace_secs = Some(60);
        let HeartbeatBed {
            _dir,
            store,
            clock,
            mon,
            id,
            ..
        } = heartbeat_bed(&spec).await;
        let mut events = mon.subscribe();
        let status = |store: Arc<dyn Store>| async move {
            store.get_monitor(id).await.unwrap().unwrap().state.status
        };

        // Never pinged: fine until interval + grace, then down.
        clock.advance(chrono::Duration::seconds(359));
        mon.evaluate_heartbeats().await;
        assert_eq!(status(store.clone()).await, "pending");
        assert!(events.try_recv().is_err(), "no state change yet");
        clock.advance(chrono::Duration::seconds(2));
        mon.evaluate_heartbeats().await;
        let e = events.try_recv().expect("down is published");
        assert_eq!((e.from.as_str(), e.to.as_str()), ("pending", "down"));
        assert!(e.cause.contains("no ping ever received"), "{}", e.cause);
        mon.evaluate_heartbeats().await;
        assert!(events.try_recv().is_err(), "a lapse is recorded once");

        // On time: pings every 5 minutes keep it up.
        assert_eq!(
            mon.ping_token("tok", Ping::Success, b"12 GB")
                .await
                .unwrap(),
            Some(id)
        );
        assert_eq!(events.try_recv().unwrap().to, "up");
        for _ in 0..3 {
            clock.advance(chrono::Duration::seconds(300));
            mon.evaluate_heartbeats().await;
            mon.ping_token("tok", Ping::Success, b"").await.unwrap();
        }
        assert!(events.try_recv().is_err(), "stayed up");
        assert_eq!(status(store.clone()).await, "up");

        // Late: 6 min 1 s after the last ping.
        clock.advance(chrono::Duration::seconds(361));
        mon.evaluate_heartbeats().await;
        let e = events.try_recv().expect("late is published");
        assert_eq!(e.to, "down");
        assert!(
            e.cause.contains("missed ping") && e.cause.contains("every 5 min"),
            "{}",
            e.cause
        );
        let inc = store.monitor_incidents(id, 10).await.unwrap();
        assert_eq!(inc.len(), 2);
        assert_eq!(inc[0].ended_at, None);
        assert!(
            inc[1].ended_at.is_some(),
            "the first incident closed at the ping"
        );
        // Durable too: the same events are in the table.
        let logged = store.monitor_events_after(0, 10).await.unwrap();
        assert_eq!(
            logged.iter().map(|e| e.to.as_str()).collect::<Vec<_>>(),
            ["down", "up", "down"]
        );
        store.close().await.unwrap();
    }
}
