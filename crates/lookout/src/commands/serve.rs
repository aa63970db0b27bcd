//! `lookout serve`.

use crate::exit::Exit;
use lookout_config::Config;
use lookout_server::AppState;
use std::io::Write;
use std::time::{Duration, Instant};

/// Runs the server until SIGTERM or SIGINT, then shuts down gracefully.
pub async fn run(cfg: Config) -> Result<(), Exit> {
    let started = Instant::now();
    let store = super::open_store(&cfg, true).await?;
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
    lookout_server::spawn_background(&state, bg_rx);
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
