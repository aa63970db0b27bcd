//! [`AppState`]: what every handler can reach.

use lookout_config::Config;
use lookout_ingest::Ingestor;
use lookout_storage::Store;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// Shared, cheaply cloned server state.
#[derive(Debug, Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Arc<dyn Store>,
    ingestor: Arc<Ingestor>,
    config: Config,
    started: Instant,
    shutting_down: AtomicBool,
    login_limiter: crate::ui::session::LoginLimiter,
    ops: crate::ops::Ops,
    monitoring: Arc<crate::monitoring::Monitoring>,
    alerts: crate::alerting::control::AlertControl,
}

impl AppState {
    /// Builds the state around an opened store.
    pub fn new(store: Arc<dyn Store>, config: Config) -> Self {
        let ingest = &config.ingest;
        let settings = lookout_ingest::IngestSettings {
            max_body_bytes: ingest.max_body_bytes,
            max_envelope_bytes: ingest.max_envelope_bytes,
            limits: lookout_protocol::Limits {
                max_event_bytes: ingest.max_event_bytes,
                max_attachment_bytes: ingest.max_attachment_bytes,
                ..Default::default()
            },
            events_per_minute: ingest.events_per_minute,
            scrub_keys: ingest.scrub_keys.clone(),
        };
        let ingestor = Arc::new(Ingestor::new(store.clone(), settings));
        let monitoring = Arc::new(crate::monitoring::Monitoring::new(
            store.clone(),
            config.monitoring.clone(),
            Arc::new(lookout_monitor::SystemClock),
        ));
        AppState {
            inner: Arc::new(Inner {
                store,
                ingestor,
                config,
                started: Instant::now(),
                shutting_down: AtomicBool::new(false),
                login_limiter: Default::default(),
                ops: Default::default(),
                monitoring,
                alerts: Default::default(),
            }),
        }
    }
    /// The storage layer.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }
    /// The ingest pipeline.
    pub fn ingestor(&self) -> &Arc<Ingestor> {
        &self.inner.ingestor
    }
    /// The effective configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }
    /// Failed-login bookkeeping.
    pub fn login_limiter(&self) -> &crate::ui::session::LoginLimiter {
        &self.inner.login_limiter
    }
    /// Backups, integrity, disk guard and usage state.
    pub fn ops(&self) -> &crate::ops::Ops {
        &self.inner.ops
    }
    /// The monitoring engine (issue #5).
    pub fn monitoring(&self) -> &Arc<crate::monitoring::Monitoring> {
        &self.inner.monitoring
    }
    /// The alert engine's control handle (issue #6).
    pub fn alerts(&self) -> &crate::alerting::control::AlertControl {
        &self.inner.alerts
    }

    /// Seconds since the server started.
    pub fn uptime_seconds(&self) -> f64 {
        self.inner.started.elapsed().as_secs_f64()
    }
    /// Marks the server as draining: `/ready` answers 503 from now on.
    pub fn begin_shutdown(&self) {
        self.inner.shutting_down.store(true, Ordering::SeqCst);
    }
    /// Whether shutdown has begun.
    pub fn is_shutting_down(&self) -> bool {
        self.inner.shutting_down.load(Ordering::SeqCst)
    }
}
