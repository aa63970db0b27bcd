//! One module per group of subcommands.

pub mod admin;
pub mod backup;
pub mod serve;

use crate::exit::Exit;
use lookout_config::Config;
use lookout_storage::Store;
use lookout_storage::sqlite::{SqliteOptions, SqliteStore};
use std::sync::Arc;

/// Opens the configured store. `migrate` applies pending migrations.
pub async fn open_store(cfg: &Config, migrate: bool) -> Result<Arc<dyn Store>, Exit> {
    Ok(try_open_store(cfg, migrate).await??)
}

/// Like [`open_store`], but hands back the storage error itself, so that
/// `serve --auto-recover` can tell damage from other failures.
pub async fn try_open_store(
    cfg: &Config,
    migrate: bool,
) -> Result<Result<Arc<dyn Store>, lookout_storage::StorageError>, Exit> {
    if !cfg.storage.url.is_empty() && !cfg.storage.url.starts_with("sqlite:") {
        return Err(Exit::Usage(format!(
            "storage.url `{}`: only the embedded SQLite backend is available in this version",
            lookout_config::redact_url_password(&cfg.storage.url)
        )));
    }
    let opts = SqliteOptions {
        data_dir: cfg.data_dir.clone(),
        fsync_every_commit: cfg.storage.durability == lookout_config::Durability::Full,
        busy_timeout: std::time::Duration::from_millis(cfg.storage.busy_timeout_ms),
        max_batch: cfg.storage.max_batch,
        queue_capacity: cfg.ingest.queue_capacity,
        migrate,
    };
    let store = tokio::task::spawn_blocking(move || SqliteStore::open(opts))
        .await
        .map_err(|e| Exit::Failure(format!("opening storage failed: {e}")))?;
    Ok(store.map(|s| Arc::new(s) as Arc<dyn Store>))
}
