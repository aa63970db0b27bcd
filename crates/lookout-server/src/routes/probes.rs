//! Self-observability: `/live`, `/ready`, `/health` and `/metrics`.

use crate::disk;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use lookout_metrics::Format;
use serde_json::json;
use std::time::Duration;

/// How long a storage probe may take before it counts as failed.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Free space below which the disk check reports unhealthy.
pub const DISK_MIN_FREE_BYTES: u64 = 100 * 1024 * 1024;

/// `GET /live`: 200 while the process serves HTTP.
pub async fn live() -> Json<serde_json::Value> {
    Json(json!({ "status": "alive" }))
}

/// `GET /ready`: 200 only when storage takes writes and the schema is
/// current; 503 with a JSON reason otherwise.
pub async fn ready(State(state): State<AppState>) -> Response {
    let not_ready = |reason: String| {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "not_ready", "reason": reason })),
        )
            .into_response()
    };
    if state.is_shutting_down() {
        return not_ready("shutting down".into());
    }
    if let Some(reason) = state.store().fenced() {
        return not_ready(format!("storage is damaged and refuses writes: {reason}"));
    }
    match tokio::time::timeout(PROBE_TIMEOUT, state.store().migration_status()).await {
        Ok(Ok(st)) if st.current == st.latest => {}
        Ok(Ok(st)) => {
            return not_ready(format!(
                "schema at version {} but {} is required: run `lookout migrate up`",
                st.current, st.latest
            ));
        }
        Ok(Err(e)) => return not_ready(format!("storage unreadable: {e}")),
        Err(_) => return not_ready("storage did not answer in time".into()),
    }
    match tokio::time::timeout(PROBE_TIMEOUT, state.store().probe_write()).await {
        Ok(Ok(_)) => Json(json!({ "status": "ready" })).into_response(),
        Ok(Err(e)) => not_ready(format!("storage does not accept writes: {e}")),
        Err(_) => not_ready("storage write did not complete in time".into()),
    }
}

/// `GET /health`: overall status with per-check details; 503 when
/// unhealthy.
pub async fn health(State(state): State<AppState>) -> Response {
    let db = tokio::time::timeout(PROBE_TIMEOUT, state.store().probe_write()).await;
    let fenced = state.store().fenced();
    let (db_ok, db_json) = match db {
        _ if fenced.is_some() => (
            false,
            json!({ "healthy": false, "error": fenced.clone(), "backend": state.store().backend() }),
        ),
        Ok(Ok(d)) => (
            true,
            json!({ "healthy": true, "latency_ms": round2(d.as_secs_f64() * 1000.0),
                    "backend": state.store().backend() }),
        ),
        Ok(Err(e)) => (
            false,
            json!({ "healthy": false, "error": e.to_string(), "backend": state.store().backend() }),
        ),
        Err(_) => (
            false,
            json!({ "healthy": false, "error": "timed out", "backend": state.store().backend() }),
        ),
    };
    let data_dir = &state.config().data_dir;
    let (disk_ok, disk_json) = match disk::free_bytes(data_dir) {
        Some(free) => {
            let min = state.config().disk.min_free_bytes;
            let ok = free >= min;
            let mut j = json!({ "healthy": ok, "free_bytes": free, "min_free_bytes": min });
            if !ok {
                j["error"] = json!("below the watermark: ingest answers 507 until space is freed");
            }
            (ok, j)
        }
        None => (
            false,
            json!({ "healthy": false, "error": "cannot stat data dir" }),
        ),
    };
    let depth = state.store().write_queue_depth();
    let capacity = state.config().ingest.queue_capacity.max(1);
    let queue_ok = depth * 10 < capacity * 8;
    let (backup_ok, backup_json) = backup_check(&state);
    let status = if !db_ok {
        "unhealthy"
    } else if !disk_ok || !queue_ok || !backup_ok || state.is_shutting_down() {
        "degraded"
    } else {
        "healthy"
    };
    let body = json!({
        "status": status,
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": state.uptime_seconds().floor() as u64,
        "checks": {
            "database": db_json,
            "disk": disk_json,
            "write_queue": { "healthy": queue_ok, "depth": depth, "capacity": capacity },
            "backup": backup_json,
        }
    });
    let code = if status == "unhealthy" {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    (code, Json(body)).into_response()
}

/// The backup check: unhealthy when the last attempt failed, or when
/// scheduled backups are on and the newest is older than two intervals
/// (once the server has run that long).
fn backup_check(state: &AppState) -> (bool, serde_json::Value) {
    let st = state.ops().backup_status();
    let cfg = &state.config().backup;
    let age = st
        .last_success_at
        .map(|t| (chrono::Utc::now() - t).num_seconds().max(0) as u64);
    let limit = cfg.interval_secs.saturating_mul(2);
    let stale =
        cfg.enabled && state.uptime_seconds() as u64 > limit && age.is_none_or(|a| a > limit);
    let failed = st.last_ok == Some(false);
    let ok = !stale && !failed;
    let mut j = json!({
        "healthy": ok,
        "scheduled": cfg.enabled,
        "last_success_at": st.last_success_at,
        "last_success_age_seconds": age,
        "last_result": st.last_ok.map(|o| if o { "success" } else { "failure" }),
        "last_duration_seconds": st.last_duration.map(|d| round2(d.as_secs_f64())),
    });
    if let Some(e) = st.last_error {
        j["error"] = json!(e);
    } else if stale {
        j["error"] = json!("no backup within two backup intervals");
    }
    (ok, j)
}

/// `GET /metrics`: Prometheus text 0.0.4, or OpenMetrics 1.0 when the
/// `Accept` header asks for it.
pub async fn metrics(headers: HeaderMap) -> Response {
    let format = Format::from_accept(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()));
    let body = lookout_metrics::global().render(format);
    ([(header::CONTENT_TYPE, format.content_type())], body).into_response()
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}
