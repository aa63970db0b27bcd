//! [`AppState`]: what every handler can reach.

use lookout_config::Config;
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
    config: Config,
    started: Instant,
    shutting_down: AtomicBool,
}

impl AppState {
    /// Builds the state around an opened store.
    pub fn new(store: Arc<dyn Store>, config: Config) -> Self {
        AppState {
            inner: Arc::new(Inner {
                store,
                config,
                started: Instant::now(),
                shutting_down: AtomicBool::new(false),
            }),
        }
    }
    /// The storage layer.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }
    /// The effective configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
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
