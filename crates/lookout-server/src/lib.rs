//! Lookout's HTTP server: the axum router, shared state, error-to-response
//! mapping, telemetry middleware, and the handlers.
//!
//! Only this crate knows HTTP wire types. Handlers parse and validate the
//! request, call the storage layer or the ingest pipeline, and map the
//! result to a response; they contain no SQL.

pub mod access;
pub mod alerting;
pub mod auth;
mod disk;
pub mod error;
pub mod mail;
pub mod monitoring;
pub mod ops;
pub mod retention;
pub mod routes;
pub mod state;
pub mod telemetry;
pub mod ui;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use std::future::Future;
use std::net::SocketAddr;

pub use error::ApiError;
pub use state::AppState;

/// Builds the router with every route and middleware.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/live", get(routes::probes::live))
        .route("/ready", get(routes::probes::ready))
        .route("/health", get(routes::probes::health))
        .route("/metrics", get(routes::probes::metrics))
        .route(
            "/api/{project_id}/envelope/",
            post(routes::ingest::envelope).options(routes::ingest::preflight),
        )
        .route(
            "/api/{project_id}/store/",
            post(routes::ingest::store).options(routes::ingest::preflight),
        )
        .route("/api/0/", get(routes::sentry_api::root))
        .route(
            "/api/0/organizations/{org}/releases/",
            post(routes::sentry_api::create_release),
        )
        .route(
            "/api/0/organizations/{org}/repos/",
            get(routes::sentry_api::list_repos),
        )
        .route(
            "/api/0/organizations/{org}/releases/{version}/",
            get(routes::sentry_api::get_release).put(routes::sentry_api::update_release),
        )
        .route(
            "/api/0/organizations/{org}/releases/{version}/previous-with-commits/",
            get(routes::sentry_api::previous_with_commits),
        )
        .route(
            "/api/0/organizations/{org}/releases/{version}/deploys/",
            post(routes::sentry_api::create_deploy).get(routes::sentry_api::list_deploys),
        )
        .route(
            "/api/0/projects/{org}/{project}/releases/",
            get(routes::sentry_api::project_releases),
        )
        .route("/api/v1/openapi.json", get(routes::api::openapi))
        .route("/api/v1/me", get(routes::api::me))
        .route("/api/v1/projects", get(routes::api::list_projects))
        .route(
            "/api/v1/projects/{id}/issues",
            get(routes::api::list_issues),
        )
        .route(
            "/api/v1/projects/{id}/releases",
            get(routes::api::list_releases),
        )
        .route(
            "/api/v1/projects/{id}/overview",
            get(routes::pages_api::overview),
        )
        .route(
            "/api/v1/projects/{id}/issues/bulk",
            post(routes::pages_api::bulk),
        )
        .route(
            "/api/v1/projects/{id}/stats",
            get(routes::api::project_stats),
        )
        .route(
            "/api/v1/projects/{id}/settings",
            get(routes::api::get_settings).put(routes::api::put_settings),
        )
        .route(
            "/api/v1/projects/{id}/transactions",
            get(routes::api::list_transactions),
        )
        .route(
            "/api/v1/projects/{id}/check-ins",
            get(routes::api::list_check_ins),
        )
        .route("/api/v1/projects/{id}/logs", get(routes::api::list_logs))
        .route(
            "/api/v1/issues/{id}",
            get(routes::api::get_issue).patch(routes::api::patch_issue),
        )
        .route("/api/v1/issues/{id}/events", get(routes::api::issue_events))
        .route(
            "/api/v1/issues/{id}/feedback",
            get(routes::api::issue_feedback),
        )
        .route("/api/v1/events/{event_id}", get(routes::api::get_event))
        .route(
            "/api/v1/events/{event_id}/attachments/{id}",
            get(routes::api::download_attachment_unscoped),
        )
        .route(
            "/api/v1/projects/{id}/events/{event_id}",
            get(routes::api::get_project_event),
        )
        .route(
            "/api/v1/projects/{id}/events/{event_id}/attachments/{aid}",
            get(routes::api::download_attachment),
        )
        .route(
            "/api/v1/backups",
            get(routes::backups::list).post(routes::backups::create),
        )
        .route("/api/v1/system-events", get(routes::backups::system_events))
        .route(
            "/api/v1/backups/{name}/verify",
            post(routes::backups::verify),
        )
        .route(
            "/api/v1/backups/{name}/download",
            get(routes::backups::download),
        )
        // --- monitors and status pages (issue #5) ---
        .route(
            "/api/{project_id}/cron/{slug}/{public_key}/",
            get(routes::monitors::cron_checkin).post(routes::monitors::cron_checkin),
        )
        .route(
            "/ping/{token}",
            get(routes::monitors::ping).post(routes::monitors::ping),
        )
        .route(
            "/ping/{token}/start",
            get(routes::monitors::ping_start).post(routes::monitors::ping_start),
        )
        .route(
            "/ping/{token}/fail",
            get(routes::monitors::ping_fail).post(routes::monitors::ping_fail),
        )
        .route(
            "/api/v1/monitors",
            get(routes::monitors::list).post(routes::monitors::create),
        )
        .route(
            "/api/v1/monitors/{id}",
            get(routes::monitors::get)
                .patch(routes::monitors::update)
                .delete(routes::monitors::delete),
        )
        .route("/api/v1/monitors/{id}/pause", post(routes::monitors::pause))
        .route(
            "/api/v1/monitors/{id}/resume",
            post(routes::monitors::resume),
        )
        .route(
            "/api/v1/monitors/{id}/results",
            get(routes::monitors::results),
        )
        .route(
            "/api/v1/monitors/{id}/incidents",
            get(routes::monitors::incidents),
        )
        .route("/api/v1/monitor-events", get(routes::monitors::events))
        .route(
            "/api/v1/status-pages",
            get(routes::monitors::list_pages).post(routes::monitors::create_page),
        )
        .route(
            "/api/v1/status-pages/{id}",
            axum::routing::put(routes::monitors::update_page).delete(routes::monitors::delete_page),
        )
        // --- alerting (issue #6) ---
        .merge(routes::alerts::routes())
        .merge(ui::routes())
        .fallback(not_found)
        .layer(axum::middleware::from_fn(json_rejections))
        .layer(DefaultBodyLimit::max(1024 * 1024))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            telemetry::track,
        ))
        .with_state(state)
}

/// axum's own extractor rejections (a malformed path or query value, a
/// wrong JSON content type) answer in plain text; every client error here
/// answers `{"detail": …}`, so rewrite them.
async fn json_rejections(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::http::header::CONTENT_TYPE;
    let resp = next.run(req).await;
    let plain = resp
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/plain"));
    if !resp.status().is_client_error() || !plain {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let mut out = axum::response::IntoResponse::into_response((
        parts.status,
        axum::Json(serde_json::json!({ "detail": text })),
    ));
    for (k, v) in parts.headers.iter() {
        if k != CONTENT_TYPE && k != axum::http::header::CONTENT_LENGTH {
            out.headers_mut().insert(k.clone(), v.clone());
        }
    }
    out
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::NotFound(format!("no route for {}", uri.path()))
}

/// Registers the server's own metric families on the global registry:
/// build info, uptime, process statistics and queue depths.
pub fn register_metrics(state: &AppState) {
    let r = lookout_metrics::global();
    telemetry::register();
    lookout_metrics::register_process_metrics(r);
    let backend = state.store().backend().to_string();
    r.gauge_fn(
        "lookout_build_info",
        "Build information; the value is always 1.",
        &["version", "storage_backend"],
        move || {
            vec![(
                vec![env!("CARGO_PKG_VERSION").to_string(), backend.clone()],
                1.0,
            )]
        },
    );
    let s = state.clone();
    r.gauge_fn(
        "lookout_uptime_seconds",
        "Seconds since the server started.",
        &[],
        move || vec![(vec![], s.uptime_seconds())],
    );
    ops::register_metrics(state);
    let s = state.clone();
    r.gauge_fn(
        "lookout_queue_depth",
        "Items waiting in an internal queue.",
        &["queue"],
        move || {
            vec![(
                vec!["storage_writer".into()],
                s.store().write_queue_depth() as f64,
            )]
        },
    );
}

/// Starts the server's background work: flushing tallied ingest outcomes
/// and enforcing retention. The tasks end when `shutdown` fires.
pub fn spawn_background(state: &AppState, shutdown: tokio::sync::watch::Receiver<bool>) {
    ops::spawn(state, shutdown.clone());
    state
        .monitoring()
        .spawn(state.config().monitors.clone(), shutdown.clone());
    let s = state.clone();
    let mut stop = shutdown.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(10));
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.changed() => break,
            }
            if let Err(e) = s.ingestor().flush_outcomes().await {
                tracing::warn!(error = %e, "cannot record ingest outcomes");
            }
        }
        let _ = s.ingestor().flush_outcomes().await;
    });
    let s = state.clone();
    let mut stop = shutdown;
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(retention::INTERVAL);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.changed() => break,
            }
            retention::run_once(&s).await;
        }
    });
}

/// Serves `router(state)` on `listener` until `shutdown` resolves, then
/// stops accepting, lets in-flight requests finish, and returns.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(state.clone());
    let drain_state = state.clone();
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown.await;
        drain_state.begin_shutdown();
        tracing::info!("shutdown requested: no new connections; finishing in-flight requests");
    })
    .await
}
