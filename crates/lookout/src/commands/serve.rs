//! `lookout serve`.

use crate::exit::Exit;
use lookout_config::Config;
use lookout_server::AppState;
use lookout_storage::StorageError;
use std::io::Write;
use std::time::{Duration, Instant};

/// Runs the server until SIGTERM or SIGINT, then shuts down gracefully.
pub async fn run(cfg: Config, auto_recover: bool) -> Result<(), Exit> {
    let started = Instant::now();
    // Held until exit: `backup restore` refuses this data dir meanwhile.
    let _lock = lookout_backup::DataDirLock::acquire(&cfg.data_dir).map_err(|e| match e {
        lookout_backup::BackupError::Locked { pid, .. } => Exit::Failure(format!(
            "another Lookout process{} is using the data dir {}: stop it first",
            pid.map(|p| format!(" (pid {p})")).unwrap_or_default(),
            cfg.data_dir.display()
        )),
        other => Exit::Failure(other.to_string()),
    })?;
    // Misconfigured backup encryption fails now, not at the first
    // scheduled backup. (A missing identity file is only a warning: it is
    // best kept off this machine until a restore needs it.)
    lookout_server::ops::backup_encryption(&cfg)
        .map_err(|e| Exit::Usage(format!("backup encryption: {e}")))?;
    lookout_server::ops::s3_copies(&cfg)
        .map_err(|e| Exit::Usage(format!("backup copies to object storage: {e}")))?;
    if let Err(e) = lookout_server::ops::backup_keys(&cfg) {
        tracing::warn!(error = %e, "backup keys for verification and recovery cannot be read");
    }
    let mut recovered = None;
    let store = match super::try_open_store(&cfg, true).await? {
        Ok(s) => s,
        Err(e @ StorageError::Corrupt { .. }) if auto_recover => {
            let reason = e.to_string();
            let c = cfg.clone();
            let r = tokio::task::spawn_blocking(move || recover(&c, &reason))
                .await
                .map_err(|e| Exit::Failure(format!("recovery failed: {e}")))??;
            recovered = Some((e.to_string(), r));
            super::open_store(&cfg, true).await?
        }
        Err(e @ StorageError::Corrupt { .. }) => {
            return Err(Exit::Failure(format!(
                "{e}\nLookout did not start. Run `lookout backup list` and `lookout backup restore NAME --into {}`, or start with `lookout serve --auto-recover` to restore the newest verified backup automatically.",
                cfg.data_dir.display()
            )));
        }
        Err(e) => return Err(e.into()),
    };
    if let Some((reason, (name, aside))) = &recovered {
        for (kind, message) in [
            (
                "integrity.failed",
                format!("the database was found damaged at start: {reason}"),
            ),
            (
                "recovery.restored",
                format!(
                    "restored backup {name} automatically; the damaged files are in {}; data written after the backup was taken is lost",
                    aside.display()
                ),
            ),
        ] {
            let ev = lookout_storage::SystemEvent {
                id: 0,
                at: chrono::Utc::now(),
                kind: kind.into(),
                severity: lookout_storage::Severity::Critical,
                message,
                details: Some(serde_json::json!({"backup": name, "aside": aside})),
            };
            if let Err(e) = store.record_system_event(ev).await {
                tracing::warn!(error = %e, "cannot record the recovery event");
            }
        }
    }
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .map_err(|e| Exit::Failure(format!("cannot listen on {}: {e}", cfg.listen)))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Exit::Failure(format!("cannot read the bound address: {e}")))?;
    let mut cfg = cfg;
    if cfg.listen.port() == 0 {
        // Port 0 picks a free port; links and DSNs must use the real one.
        cfg.listen = addr;
    }
    let state = AppState::new(store.clone(), cfg.clone());
    lookout_server::register_metrics(&state);
    let (bg_stop, bg_rx) = tokio::sync::watch::channel(false);
    let alerting = lookout_server::alerting::spawn(&state, bg_rx.clone()).await;
    lookout_server::spawn_background(&state, bg_rx);
    // A project deletion cut short by a stop finishes now, in the
    // background (the project is already hidden).
    let purge = store.clone();
    tokio::spawn(async move {
        match purge.resume_project_deletions().await {
            Ok(ids) if !ids.is_empty() => {
                tracing::warn!(projects = ?ids, "finished deleting projects a stop had cut short")
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "resuming project deletions failed"),
        }
    });
    let timeout = Duration::from_secs(cfg.shutdown_timeout_secs);
    tracing::info!(
        listen = %addr,
        data_dir = %cfg.data_dir.display(),
        startup_ms = started.elapsed().as_millis() as u64,
        "Lookout is serving"
    );
    // Handlers go in before the banner: a supervisor may signal as soon as
    // it sees the address.
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())
        .map_err(|e| Exit::Failure(format!("cannot install SIGTERM handler: {e}")))?;
    let mut int = signal(SignalKind::interrupt())
        .map_err(|e| Exit::Failure(format!("cannot install SIGINT handler: {e}")))?;
    print_banner(&cfg, addr);

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(lookout_server::serve(listener, state.clone(), async move {
        let _ = stop_rx.await;
    }));
    let signal = tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    };
    tracing::info!(signal, "shutting down");
    let deadline = Instant::now() + timeout;
    let _ = stop_tx.send(());
    let clean = match tokio::time::timeout(timeout, server).await {
        Ok(Ok(Ok(()))) => true,
        Ok(Ok(Err(e))) => {
            tracing::error!(error = %e, "server stopped with an error");
            false
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "server task failed");
            false
        }
        Err(_) => {
            tracing::warn!(
                ?timeout,
                "in-flight requests did not finish in time; abandoning them"
            );
            false
        }
    };
    let _ = bg_stop.send(true);
    // Notifications in flight finish and are recorded before storage
    // closes (so a normal restart never sends one twice); if one hangs,
    // it is put back to be retried with its idempotency key.
    let send_grace = lookout_server::alerting::channels::SEND_TIMEOUT + Duration::from_secs(2);
    if tokio::time::timeout(send_grace, alerting).await.is_err() {
        tracing::warn!("a notification send did not finish in time; it will be retried");
        let _ = store.release_outbox_sending(chrono::Utc::now()).await;
    }
    if let Err(e) = state.ingestor().flush_outcomes().await {
        tracing::warn!(error = %e, "cannot record the last ingest outcomes");
    }
    // Commit whatever writes are queued before exiting.
    let left = deadline.saturating_duration_since(Instant::now()) + Duration::from_secs(1);
    match tokio::time::timeout(left, store.close()).await {
        Ok(Ok(())) => tracing::info!("storage flushed and closed"),
        Ok(Err(e)) => return Err(Exit::Failure(format!("closing storage failed: {e}"))),
        Err(_) => return Err(Exit::Failure("storage did not flush in time".into())),
    }
    if clean {
        tracing::info!("shutdown complete");
        Ok(())
    } else {
        Err(Exit::Failure("shutdown was not clean; see the log".into()))
    }
}

fn print_banner(cfg: &Config, addr: std::net::SocketAddr) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "Lookout listening on http://{addr}");
    let _ = writeln!(out, "  public URL: {}", cfg.public_url());
    let _ = writeln!(out, "  data dir:   {}", cfg.data_dir.display());
    let _ = writeln!(out, "Next steps (in another terminal):");
    let _ = writeln!(
        out,
        "  lookout project create --name my-app     # prints the DSN for sentry_sdk.init(dsn=...)"
    );
    let _ = writeln!(
        out,
        "  lookout user create --email you@example.com --admin --password-stdin"
    );
    let _ = writeln!(
        out,
        "  lookout token create --name ci           # for the JSON API and sentry-cli"
    );
    let _ = out.flush();
}

/// Automatic recovery: finds the newest backup that passes verification,
/// moves the damaged database files aside into `corrupt-<time>/` and
/// restores the backup in their place. Loud on purpose.
fn recover(cfg: &Config, reason: &str) -> Result<(String, std::path::PathBuf), Exit> {
    let dir = cfg.backup_dir();
    tracing::error!(reason, backups = %dir.display(), "THE DATABASE IS DAMAGED; --auto-recover: looking for the newest backup that passes verification");
    let refuse = |e: lookout_backup::BackupError| {
        Exit::Failure(format!(
            "{reason}\n--auto-recover: {e}. Lookout did not start and nothing was changed"
        ))
    };
    let keys = lookout_server::ops::backup_keys(cfg).map_err(refuse)?;
    let Some((m, _)) = lookout_backup::latest_verified(&dir, &keys).map_err(refuse)? else {
        return Err(Exit::Failure(format!(
            "{reason}\n--auto-recover found no backup in {} that passes verification; Lookout did not start and nothing was changed",
            dir.display()
        )));
    };
    let r = lookout_backup::restore_locked(
        &dir,
        &m,
        &cfg.data_dir,
        "corrupt",
        &keys,
        &lookout_backup::progress::NoProgress,
    )?;
    let aside = r.replaced.unwrap_or_default();
    tracing::error!(
        backup = %m.name,
        backup_created_at = %m.created_at,
        damaged_files = %aside.display(),
        "AUTO-RECOVERY: restored the newest verified backup; data written after it was taken is lost; the damaged files were kept"
    );
    eprintln!(
        "AUTO-RECOVERY: the database was damaged; restored backup {} (taken {}); damaged files kept in {}",
        m.name,
        m.created_at.to_rfc3339(),
        aside.display()
    );
    Ok((m.name, aside))
}
