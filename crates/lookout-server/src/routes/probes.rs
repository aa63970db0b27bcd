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
    let (db_ok, db_json) = match db {
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
            let ok = free >= DISK_MIN_FREE_BYTES;
            (
                ok,
                json!({ "healthy": ok, "free_bytes": free, "min_free_bytes": DISK_MIN_FREE_BYTES }),
            )
        }
        None => (
            false,
            json!({ "healthy": false, "error": "cannot stat data dir" }),
        ),
    };
    let depth = state.store().write_queue_depth();
    let capacity = state.config().ingest.queue_capacity.max(1);
    let queue_ok = depth * 10 < capacity * 8;
    let status = if !db_ok {
        "unhealthy"
    } else if !disk_ok || !queue_ok || state.is_shutting_down() {
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
        }
    });
    let code = if status == "unhealthy" {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    (code, Json(body)).into_response()
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
