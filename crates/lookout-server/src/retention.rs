//! Retention: deletes each project's events past its maximum age or count,
//! in small batches so ingest never waits long, then returns free pages to
//! the file system.

use crate::state::AppState;
use std::time::Duration;

/// How often retention runs.
pub const INTERVAL: Duration = Duration::from_secs(300);

/// Rows deleted per statement; each batch is its own short write.
pub const BUDGET: usize = 2000;

/// One pass over every project. Errors are logged, never fatal.
pub async fn run_once(state: &AppState) {
    let store = state.store();
    let projects = match store.list_projects().await {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e, "retention: cannot list projects");
            return;
        }
    };
    let mut deleted = 0u64;
    for p in projects {
        let settings = match store.project_settings(p.id).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, project_id = p.id, "retention: cannot read settings");
                continue;
            }
        };
        let cutoff =
            chrono::Utc::now().timestamp_millis() - i64::from(settings.retention_days) * 86_400_000;
        // Bounded: at most 50 batches per project per pass.
        for _ in 0..50 {
            match store
                .enforce_retention(p.id, cutoff, settings.max_events, BUDGET)
                .await
            {
                Ok(r) => {
                    deleted += r.events + r.issues + r.other;
                    if r.events < BUDGET as u64 && r.other < BUDGET as u64 {
                        break;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, project_id = p.id, "retention pass failed");
                    break;
                }
            }
        }
    }
    if deleted > 0 {
        match store.reclaim_space(10_000).await {
            Ok(pages) => tracing::info!(deleted, pages_freed = pages, "retention pass done"),
            Err(e) => tracing::warn!(error = %e, "retention: cannot reclaim space"),
        }
    }
}
