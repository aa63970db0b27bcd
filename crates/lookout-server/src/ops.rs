//! Operations inside `serve` (issue #7): scheduled backups, the periodic
//! full integrity check, the disk guard, per-signal retention and storage
//! usage, and the state `/health`, `/ready` and `/metrics` report about
//! them.
//!
//! Outcomes that an operator must hear about (a backup failed, the store
//! is damaged, the disk guard tripped or cleared) are recorded as durable
//! system events through the `Store` (`system_events`), which the alerting
//! engine reads after a cursor. The one exception is damage found while
//! serving: the store is fenced at once and nothing more is written to it;
//! the damage lives in memory (`/health`), the log, and the alert engine,
//! which sees the fence and sends that alert without the outbox.

use crate::disk;
use crate::state::AppState;
use chrono::{DateTime, Utc};
use lookout_backup::s3::{S3Copies, S3Settings};
use lookout_backup::{BackupError, CreateOptions, Encrypt, Keys, Manifest, Policy, Trigger};
use lookout_config::{BackupEncrypt, Config};
use lookout_storage::{Severity, Signal, SystemEvent};
use parking_lot::Mutex;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// What the last backup made by this server did.
#[derive(Debug, Clone, Default)]
pub struct BackupStatus {
    /// When the last attempt ended.
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// Whether it succeeded.
    pub last_ok: Option<bool>,
    /// Why it failed.
    pub last_error: Option<String>,
    /// How long the last successful backup took.
    pub last_duration: Option<Duration>,
    /// When the newest successful backup was taken (this server's or any
    /// listed in the backup dir).
    pub last_success_at: Option<DateTime<Utc>>,
}

/// Operational state shared by the handlers and the background tasks.
#[derive(Debug, Default)]
pub struct Ops {
    backup: Mutex<BackupStatus>,
    /// Serialises backups: one at a time per server.
    backup_running: tokio::sync::Mutex<()>,
    succeeded: AtomicU64,
    failed: AtomicU64,
    disk: Mutex<Option<(Instant, u64)>>,
    usage: Mutex<lookout_storage::StorageUsage>,
}

/// How long a disk free-space reading is reused.
const DISK_CACHE: Duration = Duration::from_millis(500);

impl Ops {
    /// The backup status.
    pub fn backup_status(&self) -> BackupStatus {
        self.backup.lock().clone()
    }

    /// Disk usage per signal and project as last measured (empty before the
    /// first measurement).
    pub fn storage_usage(&self) -> lookout_storage::StorageUsage {
        self.usage.lock().clone()
    }

    /// Records a new measurement.
    pub fn set_storage_usage(&self, u: lookout_storage::StorageUsage) {
        *self.usage.lock() = u;
    }

    /// Free bytes on the data dir's file system, re-read at most twice a
    /// second.
    pub fn free_bytes(&self, data_dir: &Path) -> Option<u64> {
        let mut cached = self.disk.lock();
        if let Some((at, free)) = *cached
            && at.elapsed() < DISK_CACHE
        {
            return Some(free);
        }
        let free = disk::free_bytes(data_dir)?;
        *cached = Some((Instant::now(), free));
        Some(free)
    }
}

impl AppState {
    /// The configured backup directory.
    pub fn backup_dir(&self) -> PathBuf {
        self.config().backup_dir()
    }

    /// When the disk guard refuses writes: the free bytes and the
    /// watermark.
    pub fn disk_low(&self) -> Option<(u64, u64)> {
        let min = self.config().disk.min_free_bytes;
        let free = self.ops().free_bytes(&self.config().data_dir)?;
        (free < min).then_some((free, min))
    }
}

/// Records a system event; failures are logged, never fatal.
pub async fn record_event(
    state: &AppState,
    kind: &str,
    severity: Severity,
    message: String,
    details: Option<serde_json::Value>,
) {
    let event = SystemEvent {
        id: 0,
        at: Utc::now(),
        kind: kind.to_string(),
        severity,
        message,
        details,
    };
    if let Err(e) = state.store().record_system_event(event).await {
        tracing::warn!(error = %e, kind, "cannot record a system event");
    }
}

/// The retention policy from the configuration.
pub fn policy(state: &AppState) -> Policy {
    let b = &state.config().backup;
    Policy {
        hourly: b.keep_hourly,
        daily: b.keep_daily,
        weekly: b.keep_weekly,
    }
}

/// What backups are encrypted with, from `[backup] encrypt`: `None` for
/// `"none"`. Reads the passphrase file each time (a changed passphrase
/// applies to the next backup); errors name the setting or file, never a
/// secret.
pub fn backup_encryption(cfg: &Config) -> Result<Option<Encrypt>, BackupError> {
    let b = &cfg.backup;
    match b.encrypt {
        BackupEncrypt::None => Ok(None),
        BackupEncrypt::Passphrase if b.passphrase_file.as_os_str().is_empty() => Err(
            BackupError::Key("backup.encrypt = \"passphrase\" needs backup.passphrase_file".into()),
        ),
        BackupEncrypt::Passphrase => Ok(Some(Encrypt::Passphrase(
            lookout_backup::crypto::passphrase_file(&b.passphrase_file)?,
        ))),
        BackupEncrypt::Key if b.recipients.is_empty() => Err(BackupError::Key(
            "backup.encrypt = \"key\" needs backup.recipients (age1… public keys)".into(),
        )),
        BackupEncrypt::Key => Encrypt::recipients(&b.recipients).map(Some),
    }
}

/// The copies in object storage that `[backup.s3]` configures; `None`
/// when it names no bucket. Reads the secret key file each time, so a
/// rotated key is used from the next backup on.
pub fn s3_copies(cfg: &Config) -> Result<Option<S3Copies>, BackupError> {
    let c = &cfg.backup.s3;
    if !c.enabled() {
        return Ok(None);
    }
    let secret_access_key = if c.secret_access_key_file.as_os_str().is_empty() {
        String::new()
    } else {
        read_secret_line(&c.secret_access_key_file)?
    };
    S3Copies::new(&S3Settings {
        bucket: c.bucket.clone(),
        endpoint: c.endpoint.clone(),
        region: c.region.clone(),
        prefix: c.prefix.clone(),
        access_key_id: c.access_key_id.clone(),
        secret_access_key,
        allow_http: c.allow_http,
        virtual_hosted_style: c.virtual_hosted_style,
    })
    .map(Some)
}

/// The first line of a small secret file. Errors name the file and
/// never its content.
fn read_secret_line(path: &Path) -> Result<String, BackupError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        BackupError::Key(format!(
            "backup.s3.secret_access_key_file {}: {e}",
            path.display()
        ))
    })?;
    let line = text.lines().next().unwrap_or("").trim().to_string();
    if line.is_empty() {
        return Err(BackupError::Key(format!(
            "backup.s3.secret_access_key_file {} is empty",
            path.display()
        )));
    }
    Ok(line)
}

/// The keys `[backup]` names for decrypting (`passphrase_file`,
/// `identity_file`); none when neither is set.
pub fn backup_keys(cfg: &Config) -> Result<Keys, BackupError> {
    let b = &cfg.backup;
    let mut keys = Keys::none();
    if !b.passphrase_file.as_os_str().is_empty() {
        keys = keys.with_passphrase(lookout_backup::crypto::passphrase_file(&b.passphrase_file)?);
    }
    if !b.identity_file.as_os_str().is_empty() {
        keys = keys.with_identities(lookout_backup::crypto::identity_file(&b.identity_file)?);
    }
    Ok(keys)
}

/// Why a backup could not be made.
#[derive(Debug, thiserror::Error)]
pub enum BackupRunError {
    /// Another backup is running in this server.
    #[error("a backup is already running")]
    Busy,
    /// The backup failed.
    #[error("{0}")]
    Failed(String),
}

/// Makes one backup now (scheduled or requested through the API): the
/// snapshot, the copy to `backup.copy_to`, and for scheduled backups the
/// retention policy. Updates the status and metrics and records a system
/// event either way.
pub async fn run_backup(state: &AppState, trigger: Trigger) -> Result<Manifest, BackupRunError> {
    let Ok(_running) = state.ops().backup_running.try_lock() else {
        return Err(BackupRunError::Busy);
    };
    let started = Instant::now();
    let result = make_backup(state, trigger).await;
    let ops = state.ops();
    let now = Utc::now();
    match &result {
        Ok(m) => {
            ops.succeeded.fetch_add(1, Ordering::Relaxed);
            {
                let mut st = ops.backup.lock();
                st.last_attempt_at = Some(now);
                st.last_ok = Some(true);
                st.last_error = None;
                st.last_duration = Some(started.elapsed());
                st.last_success_at = Some(m.created_at);
            }
            tracing::info!(backup = %m.name, bytes = m.size(), duration_ms = started.elapsed().as_millis() as u64, "backup made");
            record_event(
                state,
                "backup.succeeded",
                Severity::Low,
                format!("backup {} made ({} bytes)", m.name, m.size()),
                Some(serde_json::json!({"name": m.name, "bytes": m.size(), "duration_ms": m.duration_ms, "trigger": trigger})),
            )
            .await;
        }
        Err(e) => {
            ops.failed.fetch_add(1, Ordering::Relaxed);
            {
                let mut st = ops.backup.lock();
                st.last_attempt_at = Some(now);
                st.last_ok = Some(false);
                st.last_error = Some(e.to_string());
            }
            tracing::error!(error = %e, "backup failed");
            record_event(
                state,
                "backup.failed",
                Severity::High,
                format!("backup failed: {e}"),
                Some(serde_json::json!({"trigger": trigger})),
            )
            .await;
        }
    }
    result
}

async fn make_backup(state: &AppState, trigger: Trigger) -> Result<Manifest, BackupRunError> {
    if let Some((free, min)) = state.disk_low() {
        return Err(BackupRunError::Failed(format!(
            "skipped: {free} bytes free on the data dir's file system, below disk.min_free_bytes ({min})"
        )));
    }
    if let Some(reason) = state.store().fenced() {
        return Err(BackupRunError::Failed(format!(
            "skipped: the store is damaged ({reason})"
        )));
    }
    let db = state
        .config()
        .data_dir
        .join(lookout_storage::sqlite::DB_FILE);
    let dir = state.backup_dir();
    let copy_to = state.config().backup.copy_to.clone();
    let policy = policy(state);
    let cfg = state.config().clone();
    let runtime = tokio::runtime::Handle::current();
    let (tx, rx) = tokio::sync::oneshot::channel();
    // A thread of its own (not the blocking pool's): it gives way to
    // ingest for CPU and disk, for good, so it must end with the backup.
    let spawned = std::thread::Builder::new()
        .name("lookout-backup".into())
        .spawn(move || {
            if !lookout_backup::priority::lower_current_thread() {
                tracing::debug!("could not lower the backup thread's priority");
            }
            let _ = tx.send(backup_on_this_thread(
                &db, &dir, &copy_to, &policy, &cfg, trigger, &runtime,
            ));
        });
    if let Err(e) = spawned {
        return Err(BackupRunError::Failed(format!(
            "cannot start the backup thread: {e}"
        )));
    }
    rx.await
        .map_err(|_| BackupRunError::Failed("the backup thread ended without an answer".into()))?
}

/// The blocking part of a backup: create, copy (to `copy_to` and object
/// storage, whose requests run on `runtime`), prune.
fn backup_on_this_thread(
    db: &Path,
    dir: &Path,
    copy_to: &Path,
    policy: &Policy,
    cfg: &Config,
    trigger: Trigger,
    runtime: &tokio::runtime::Handle,
) -> Result<Manifest, BackupRunError> {
    {
        let encrypt = backup_encryption(cfg).map_err(|e| BackupRunError::Failed(e.to_string()))?;
        let m = lookout_backup::create(
            db,
            dir,
            CreateOptions {
                name: None,
                trigger,
                progress: &lookout_backup::progress::NoProgress,
                encrypt: encrypt.as_ref(),
                before_commit: None,
                max_write_bytes_per_sec: u64::from(cfg.backup.max_write_mib_per_sec) << 20,
            },
        )
        .map_err(|e| BackupRunError::Failed(e.to_string()))?;
        if !copy_to.as_os_str().is_empty() {
            lookout_backup::copy_to(dir, &m.name, copy_to).map_err(|e| {
                BackupRunError::Failed(format!(
                    "backup {} made, but copying it to {} failed: {e}",
                    m.name,
                    copy_to.display()
                ))
            })?;
        }
        let s3 = s3_copies(cfg).map_err(|e| {
            BackupRunError::Failed(format!(
                "backup {} made, but it cannot be copied to object storage: {e}",
                m.name
            ))
        })?;
        if let Some(s3) = &s3 {
            runtime.block_on(s3.push(dir, &m.name)).map_err(|e| {
                BackupRunError::Failed(format!(
                    "backup {} made, but copying it to {} failed: {e}",
                    m.name,
                    s3.label()
                ))
            })?;
            tracing::info!(backup = %m.name, to = %s3.label(), "backup copied to object storage");
        }
        if trigger == Trigger::Scheduled {
            if let Some(s3) = s3.as_ref().filter(|_| cfg.backup.s3.prune) {
                match runtime.block_on(s3.prune(policy, false)) {
                    Ok(removed) if !removed.is_empty() => {
                        tracing::info!(to = %s3.label(), ?removed, "pruned old backup copies")
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "pruning backup copies failed"),
                }
            }
            for d in [&dir, &copy_to] {
                if d.as_os_str().is_empty() {
                    continue;
                }
                match lookout_backup::prune(d, policy, false) {
                    Ok(removed) if !removed.is_empty() => {
                        tracing::info!(dir = %d.display(), ?removed, "pruned old backups")
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, dir = %d.display(), "pruning backups failed")
                    }
                }
            }
        }
        Ok(m)
    }
}

/// The newest valid backup's time in the backup dir.
fn newest_backup(dir: &Path) -> Option<DateTime<Utc>> {
    lookout_backup::list(dir)
        .ok()?
        .first()
        .map(|l| l.manifest.created_at)
}

/// Registers the operations metrics.
pub fn register_metrics(state: &AppState) {
    let r = lookout_metrics::global();
    let s = state.clone();
    r.counter_fn(
        "lookout_backups",
        "Backups attempted by this server, by result.",
        &["result"],
        move || {
            vec![
                (
                    vec!["success".into()],
                    s.ops().succeeded.load(Ordering::Relaxed) as f64,
                ),
                (
                    vec!["failure".into()],
                    s.ops().failed.load(Ordering::Relaxed) as f64,
                ),
            ]
        },
    );
    let s = state.clone();
    r.gauge_fn(
        "lookout_backup_last_success_timestamp_seconds",
        "Unix time of the newest successful backup (0: none).",
        &[],
        move || {
            let t = s.ops().backup.lock().last_success_at;
            vec![(vec![], t.map(|t| t.timestamp() as f64).unwrap_or(0.0))]
        },
    );
    let s = state.clone();
    r.gauge_fn(
        "lookout_backup_last_duration_seconds",
        "How long the last successful backup made by this server took.",
        &[],
        move || {
            let d = s.ops().backup.lock().last_duration;
            vec![(vec![], d.map(|d| d.as_secs_f64()).unwrap_or(0.0))]
        },
    );
    let s = state.clone();
    r.gauge_fn(
        "lookout_storage_bytes",
        "Bytes the store uses per signal (tables and indexes; refreshed every retention pass).",
        &["signal"],
        move || {
            s.ops()
                .usage
                .lock()
                .by_signal
                .iter()
                .map(|(k, v)| (vec![k.clone()], *v as f64))
                .collect()
        },
    );
    let s = state.clone();
    r.gauge_fn(
        "lookout_project_storage_bytes",
        "Bytes of stored payloads (events, transactions, attachments) per project.",
        &["project_id"],
        move || {
            s.ops()
                .usage
                .lock()
                .by_project
                .iter()
                .map(|(k, v)| (vec![k.to_string()], *v as f64))
                .collect()
        },
    );
    let s = state.clone();
    r.gauge_fn(
        "lookout_disk_free_bytes",
        "Free bytes on the data dir's file system.",
        &[],
        move || {
            s.ops()
                .free_bytes(&s.config().data_dir)
                .map(|f| vec![(vec![], f as f64)])
                .unwrap_or_default()
        },
    );
}

/// Sleeps `d` unless `stop` fires first; `false` when stopping.
async fn sleep_or_stop(d: Duration, stop: &mut tokio::sync::watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => true,
        _ = stop.changed() => false,
    }
}

/// Starts the scheduled backups, the periodic integrity check and the
/// per-signal retention and usage refresh. They end when `shutdown` fires.
pub fn spawn(state: &AppState, shutdown: tokio::sync::watch::Receiver<bool>) {
    // Seed the status from the backup dir, so /health knows the newest
    // backup from before this start.
    let dir = state.backup_dir();
    state.ops().backup.lock().last_success_at = newest_backup(&dir);

    if state.config().backup.enabled {
        let s = state.clone();
        let mut stop = shutdown.clone();
        tokio::spawn(async move {
            let interval = Duration::from_secs(s.config().backup.interval_secs.max(1));
            let tick = interval.min(Duration::from_secs(60));
            // The first check waits one tick: a server that is started and
            // stopped at once (tests, restarts) does not back up each time.
            while sleep_or_stop(tick, &mut stop).await {
                let dir = s.backup_dir();
                let newest = tokio::task::spawn_blocking(move || newest_backup(&dir))
                    .await
                    .ok()
                    .flatten();
                let due = newest.is_none_or(|t| {
                    (Utc::now() - t).to_std().unwrap_or_default() + Duration::from_secs(1)
                        >= interval
                });
                if due {
                    let _ = run_backup(&s, Trigger::Scheduled).await;
                }
            }
        });
    }

    // The disk guard's transitions become system events (and so alerts).
    let s = state.clone();
    let mut stop = shutdown.clone();
    tokio::spawn(async move {
        let mut was_low = false;
        loop {
            let low = s.disk_low();
            if low.is_some() != was_low {
                was_low = low.is_some();
                let (kind, severity, message) = match low {
                    Some((free, min)) => (
                        "disk.low",
                        Severity::High,
                        format!(
                            "{free} bytes free on the data dir's file system, below disk.min_free_bytes ({min}): ingest answers 507 until space returns"
                        ),
                    ),
                    None => (
                        "disk.ok",
                        Severity::Low,
                        "free space is back above disk.min_free_bytes: ingest accepts data again"
                            .to_string(),
                    ),
                };
                record_event(&s, kind, severity, message, None).await;
            }
            if !sleep_or_stop(DISK_WATCH, &mut stop).await {
                break;
            }
        }
    });

    let every = state.config().integrity.check_interval_secs;
    if every > 0 {
        let s = state.clone();
        let mut stop = shutdown.clone();
        tokio::spawn(async move {
            while sleep_or_stop(Duration::from_secs(every), &mut stop).await {
                if s.store().fenced().is_some() {
                    continue;
                }
                run_integrity_check(&s).await;
            }
        });
    }

    let s = state.clone();
    let mut stop = shutdown;
    tokio::spawn(async move {
        // Usage first (cheap on small stores), then every retention period.
        let mut first = true;
        loop {
            if !first && !sleep_or_stop(crate::retention::INTERVAL, &mut stop).await {
                break;
            }
            first = false;
            enforce_signal_retention(&s).await;
            match s.store().storage_usage().await {
                Ok(u) => *s.ops().usage.lock() = u,
                Err(e) => tracing::warn!(error = %e, "cannot measure storage usage"),
            }
        }
    });
}

/// How often the disk guard's state is looked at for its events.
const DISK_WATCH: Duration = Duration::from_secs(2);

/// Runs the full integrity check; on damage, fences the store (no more
/// writes), so `/health` and `/ready` report it.
pub async fn run_integrity_check(state: &AppState) -> Vec<String> {
    let started = Instant::now();
    match state.store().integrity_check().await {
        Ok(problems) if problems.is_empty() => {
            tracing::info!(
                duration_ms = started.elapsed().as_millis() as u64,
                "integrity check ok"
            );
            // After damage was reported (at start, before an automatic
            // restore), a clean check is the all-clear.
            let latest = state.store().list_system_events(200).await.ok();
            let damaged = latest
                .iter()
                .flatten()
                .find(|e| e.kind.starts_with("integrity."))
                .is_some_and(|e| e.kind == "integrity.failed");
            if damaged {
                record_event(
                    state,
                    "integrity.ok",
                    Severity::Low,
                    "the integrity check passes again".into(),
                    None,
                )
                .await;
            }
            problems
        }
        Ok(problems) => {
            let reason = format!("integrity check failed: {}", problems.join("; "));
            tracing::error!(%reason, "THE DATABASE IS DAMAGED: writes stop now; restore a backup or restart with --auto-recover");
            state.store().fence(reason);
            problems
        }
        Err(e) => {
            let reason = format!("integrity check could not run: {e}");
            if matches!(e, lookout_storage::StorageError::Corrupt { .. }) {
                tracing::error!(%reason, "THE DATABASE IS DAMAGED: writes stop now");
                state.store().fence(reason.clone());
            } else {
                tracing::warn!(%reason, "integrity check did not complete");
            }
            vec![reason]
        }
    }
}

/// Prunes the notification log, resolved alerts and ended silences past
/// their retention (silences share the alerts' `alerts_days`),
/// in budgeted batches. Returns how many rows went.
async fn prune_alerting(state: &AppState, notifications_days: u32, alerts_days: u32) -> u64 {
    let now = Utc::now();
    let mut deleted = 0;
    let store = state.store();
    let budget = crate::retention::BUDGET;
    let notifications = now - chrono::Duration::days(i64::from(notifications_days));
    let alerts = now - chrono::Duration::days(i64::from(alerts_days));
    for which in ["notifications", "alerts", "silences"] {
        for _ in 0..50 {
            let r = match which {
                "notifications" => store.prune_outbox(notifications, budget).await,
                "alerts" => store.prune_alert_instances(alerts, budget).await,
                _ => store.prune_silences(alerts, budget).await,
            };
            match r {
                Ok(n) => {
                    deleted += n;
                    if n < budget as u64 {
                        break;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, signal = which, "retention failed");
                    break;
                }
            }
        }
    }
    deleted
}

/// Deletes each signal's rows past its server-wide retention, in budgeted
/// batches (each a short write of its own).
pub async fn enforce_signal_retention(state: &AppState) {
    let r = &state.config().retention;
    let now = Utc::now().timestamp_millis();
    let mut deleted = 0;
    for (signal, days) in [
        (Signal::Transactions, r.transactions_days),
        (Signal::CheckIns, r.check_ins_days),
        (Signal::Logs, r.logs_days),
        (Signal::SystemEvents, r.system_events_days),
    ] {
        let cutoff = now - i64::from(days) * 86_400_000;
        for _ in 0..50 {
            match state
                .store()
                .enforce_signal_retention(signal, cutoff, crate::retention::BUDGET)
                .await
            {
                Ok(n) => {
                    deleted += n;
                    if n < crate::retention::BUDGET as u64 {
                        break;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, signal = signal.as_str(), "retention failed");
                    break;
                }
            }
        }
    }
    deleted += prune_alerting(state, r.notifications_days, r.alerts_days).await;
    if deleted > 0 {
        match state.store().reclaim_space(10_000).await {
            Ok(pages) => tracing::info!(deleted, pages_freed = pages, "signal retention done"),
            Err(e) => tracing::warn!(error = %e, "retention: cannot reclaim space"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lookout_storage::sqlite::{SqliteOptions, SqliteStore};
    use lookout_storage::{AttemptOutcome, NewOutboxItem, OutboxState, Store};
    use std::sync::Arc;

    #[tokio::test]
    async fn retention_prunes_the_notification_log_but_never_what_is_still_to_send() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::open(SqliteOptions::new(dir.path())).unwrap());
        let mut cfg = Config {
            data_dir: dir.path().to_path_buf(),
            ..Default::default()
        };
        cfg.retention.notifications_days = 0;
        let state = AppState::new(store.clone(), cfg);
        let then = Utc::now() - chrono::Duration::minutes(5);
        let item = |key: &str| NewOutboxItem {
            idempotency_key: key.into(),
            channel: "hook".into(),
            payload: serde_json::json!({}),
            not_before: then,
        };
        store
            .enqueue_outbox(vec![item("sent"), item("waiting")], then)
            .await
            .unwrap();
        let claimed = store.claim_outbox(then, 1).await.unwrap();
        store
            .finish_outbox_attempt(claimed[0].id, AttemptOutcome::Sent, 3, then)
            .await
            .unwrap();
        enforce_signal_retention(&state).await;
        assert!(
            store
                .list_outbox(Some(OutboxState::Sent), 10)
                .await
                .unwrap()
                .is_empty(),
            "a sent notification past retention is pruned"
        );
        assert_eq!(
            store
                .list_outbox(Some(OutboxState::Pending), 10)
                .await
                .unwrap()
                .len(),
            1,
            "a notification still to send is kept"
        );
    }
}
