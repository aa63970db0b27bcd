//! A short-lived cache of DSN keys and project settings, so ingest does not
//! read the database on every request. Entries live `TTL`; a revoked key or
//! a settings change therefore takes effect within that time.

use lookout_model::ProjectKey;
use lookout_model::settings::ProjectSettings;
use lookout_storage::{Result, Store};
use parking_lot::RwLock;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a cached key or settings entry is trusted.
pub const TTL: Duration = Duration::from_secs(10);

/// Cached keys (including unknown ones, to blunt key-guessing floods) and
/// settings.
#[derive(Debug, Default)]
pub struct ProjectCache {
    keys: RwLock<HashMap<String, (Instant, Option<ProjectKey>)>>,
    settings: RwLock<HashMap<i64, (Instant, Arc<ProjectSettings>)>>,
}

/// Most entries kept before the key cache is cleared (bounds memory under
/// a flood of random keys).
const MAX_KEYS: usize = 10_000;

impl ProjectCache {
    /// The key with this public part, if any.
    pub async fn key(&self, store: &dyn Store, public_key: &str) -> Result<Option<ProjectKey>> {
        if let Some((at, k)) = self.keys.read().get(public_key)
            && at.elapsed() < TTL
        {
            return Ok(k.clone());
        }
        let k = store.find_project_key(public_key).await?;
        let mut w = self.keys.write();
        if w.len() >= MAX_KEYS {
            w.clear();
        }
        w.insert(public_key.to_string(), (Instant::now(), k.clone()));
        Ok(k)
    }

    /// The project's settings.
    pub async fn settings(
        &self,
        store: &dyn Store,
        project_id: i64,
    ) -> Result<Arc<ProjectSettings>> {
        if let Some((at, s)) = self.settings.read().get(&project_id)
            && at.elapsed() < TTL
        {
            return Ok(s.clone());
        }
        let s = Arc::new(store.project_settings(project_id).await?);
        self.settings
            .write()
            .insert(project_id, (Instant::now(), s.clone()));
        Ok(s)
    }

    /// Forgets a project's cached settings (after an update in this process).
    pub fn invalidate_settings(&self, project_id: i64) {
        self.settings.write().remove(&project_id);
    }

    /// Forgets every cached key (after a key is revoked in this process).
    pub fn invalidate_keys(&self) {
        self.keys.write().clear();
    }
}
