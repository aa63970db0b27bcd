//! Per-project compression dictionaries: which one to compress with, and
//! training the first one in the background once a project has enough
//! events (see `lookout_storage::codec`).

use lookout_storage::Store;
use lookout_storage::codec::{self, Dict, DictCache};
use parking_lot::Mutex;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// Tracks each project's current dictionary and when to train one.
#[derive(Debug, Default)]
pub struct Dictionaries {
    cache: DictCache,
    /// Events stored without a dictionary, per project (since start).
    plain: Mutex<HashMap<i64, u64>>,
    training: Mutex<HashSet<i64>>,
}

/// How many payloads a dictionary is trained on.
const SAMPLES: usize = 500;

impl Dictionaries {
    /// The dictionary to compress the project's next payloads with.
    pub async fn current(&self, store: &dyn Store, project_id: i64) -> Option<Arc<Dict>> {
        if let Some(d) = self.cache.current(project_id) {
            return d;
        }
        let loaded = match store.current_dict(project_id).await {
            Ok(Some((id, bytes))) => {
                let d = Arc::new(Dict::new(id, &bytes));
                Some(d)
            }
            Ok(None) => {
                let n = store
                    .count_events_with_dict(project_id, 0)
                    .await
                    .unwrap_or(0);
                self.plain.lock().insert(project_id, n);
                None
            }
            Err(e) => {
                tracing::warn!(error = %e, project_id, "cannot load compression dictionary");
                return None;
            }
        };
        self.cache.set_current(project_id, loaded.clone());
        loaded
    }

    /// Notes `n` events stored without a dictionary; starts training when
    /// the project has enough.
    pub fn note_plain(self: &Arc<Self>, store: Arc<dyn Store>, project_id: i64, n: u64) {
        if n == 0 {
            return;
        }
        let total = {
            let mut p = self.plain.lock();
            let e = p.entry(project_id).or_default();
            *e += n;
            *e
        };
        if total < codec::TRAIN_AFTER_EVENTS || !self.training.lock().insert(project_id) {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            match this.train(&*store, project_id).await {
                Ok(id) => {
                    tracing::info!(project_id, dict_id = id, "trained a compression dictionary")
                }
                Err(e) => tracing::warn!(error = %e, project_id, "dictionary training failed"),
            }
            this.plain.lock().insert(project_id, 0);
            this.training.lock().remove(&project_id);
        });
    }

    async fn train(&self, store: &dyn Store, project_id: i64) -> lookout_storage::Result<i64> {
        let samples = store.sample_event_payloads(project_id, SAMPLES).await?;
        let dict = tokio::task::spawn_blocking(move || codec::train(&samples))
            .await
            .map_err(|e| lookout_storage::StorageError::Backend(e.to_string()))??;
        let id = store.store_dict(project_id, dict.clone()).await?;
        self.cache
            .set_current(project_id, Some(Arc::new(Dict::new(id, &dict))));
        Ok(id)
    }
}
