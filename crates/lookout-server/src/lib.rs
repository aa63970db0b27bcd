//! Lookout's HTTP server: the axum router, shared state, error-to-response
//! mapping, telemetry middleware, and the handlers.
//!
//! Only this crate knows HTTP wire types. Handlers parse and validate the
//! request, call the storage layer or the ingest pipeline, and map the
//! result to a response; they contain no SQL.

pub mod auth;
mod disk;
pub mod error;
pub mod routes;
pub mod state;
pub mod telemetry;

use axum::Router;
use axum::routing::get;
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
        .route("/api/v1/projects", get(routes::api::list_projects))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            telemetry::track,
        ))
        .with_state(state)
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
