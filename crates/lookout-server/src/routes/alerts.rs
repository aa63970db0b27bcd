//! Alerting over HTTP (issue #6): the JSON API under `/api/v1/alert-rules`,
//! `/api/v1/silences`, `/api/v1/alerts`, `/api/v1/channels` and
//! `/api/v1/deliveries`.
//!
//! Handlers parse the request and hand off to
//! [`crate::alerting::service`], which applies the access rules, validates,
//! writes storage and tells the engine. The web UI calls the same
//! functions.

use crate::alerting::service::{
    self as svc, AlertFilter, ChannelInput, DeliveryFilter, SilenceInput,
};
use crate::auth::ApiAuth;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

/// The alerting routes, merged into the main router.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/alert-rules", get(list_rules).post(create_rule))
        .route(
            "/api/v1/alert-rules/{id}",
            get(get_rule).put(update_rule).delete(delete_rule),
        )
        .route("/api/v1/silences", get(list_silences).post(create_silence))
        .route(
            "/api/v1/silences/{id}",
            get(get_silence).delete(expire_silence),
        )
        .route("/api/v1/alerts", get(list_alerts))
        .route("/api/v1/alerts/{id}", get(get_alert))
        .route("/api/v1/alerts/{id}/ack", post(ack_alert))
        .route("/api/v1/alerts/{id}/resolve", post(resolve_alert))
        .route("/api/v1/channels", get(list_channels).post(create_channel))
        .route(
            "/api/v1/channels/{name}",
            get(get_channel).put(update_channel).delete(delete_channel),
        )
        .route("/api/v1/channels/{name}/test", post(test_channel))
        .route("/api/v1/deliveries", get(list_deliveries))
}

fn body<T>(b: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    b.map(|Json(v)| v)
        .map_err(|e| ApiError::BadRequest(e.body_text()))
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<Json<Value>, ApiError> {
    serde_json::to_value(v)
        .map(Json)
        .map_err(|e| ApiError::Internal(e.to_string()))
}

fn created<T: serde::Serialize>(v: &T) -> Result<Response, ApiError> {
    Ok((StatusCode::CREATED, to_json(v)?).into_response())
}

// --- rules ---------------------------------------------------------------

/// `GET /api/v1/alert-rules`: the rules the caller may read.
pub async fn list_rules(
    State(state): State<AppState>,
    auth: ApiAuth,
) -> Result<Json<Value>, ApiError> {
    let items = svc::list_rules(&state, &auth.access).await?;
    Ok(Json(json!({ "items": items })))
}

/// `POST /api/v1/alert-rules`: creates a rule.
pub async fn create_rule(
    State(state): State<AppState>,
    auth: ApiAuth,
    b: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    let r = svc::create_rule(&state, &auth.access, body(b)?).await?;
    created(&r)
}

/// `GET /api/v1/alert-rules/{id}`.
pub async fn get_rule(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    to_json(&svc::get_rule(&state, &auth.access, id).await?)
}

/// `PUT /api/v1/alert-rules/{id}`: replaces a rule.
pub async fn update_rule(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(id): Path<i64>,
    b: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    to_json(&svc::update_rule(&state, &auth.access, id, body(b)?).await?)
}

/// `DELETE /api/v1/alert-rules/{id}`.
pub async fn delete_rule(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    svc::delete_rule(&state, &auth.access, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// --- silences ------------------------------------------------------------

/// Query of `GET /api/v1/silences`.
#[derive(Debug, Deserialize)]
pub struct SilenceParams {
    active: Option<bool>,
}

/// `GET /api/v1/silences`: silences the caller may read.
pub async fn list_silences(
    State(state): State<AppState>,
    auth: ApiAuth,
    Query(q): Query<SilenceParams>,
) -> Result<Json<Value>, ApiError> {
    let items = svc::list_silences(&state, &auth.access, q.active).await?;
    Ok(Json(json!({ "items": items })))
}

/// `POST /api/v1/silences`: creates a silence or maintenance window.
pub async fn create_silence(
    State(state): State<AppState>,
    auth: ApiAuth,
    b: Result<Json<SilenceInput>, JsonRejection>,
) -> Result<Response, ApiError> {
    let s = svc::create_silence(&state, &auth.access, body(b)?).await?;
    created(&s)
}

/// `GET /api/v1/silences/{id}`.
pub async fn get_silence(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    to_json(&svc::get_silence(&state, &auth.access, id).await?)
}

/// `DELETE /api/v1/silences/{id}`: ends the silence now; answers it.
pub async fn expire_silence(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    to_json(&svc::expire_silence(&state, &auth.access, id).await?)
}

// --- alerts --------------------------------------------------------------

/// Query of `GET /api/v1/alerts`.
#[derive(Debug, Deserialize)]
pub struct AlertParams {
    /// One state or several, comma-separated.
    state: Option<String>,
    project_id: Option<i64>,
    rule_id: Option<i64>,
    limit: Option<usize>,
    cursor: Option<String>,
}

/// `GET /api/v1/alerts`: alerts the caller may read, most recently
/// changed first, paged.
pub async fn list_alerts(
    State(state): State<AppState>,
    auth: ApiAuth,
    Query(q): Query<AlertParams>,
) -> Result<Json<Value>, ApiError> {
    let filter = AlertFilter {
        states: q.state.into_iter().collect(),
        project_id: q.project_id,
        rule_id: q.rule_id,
        limit: q.limit,
        cursor: q.cursor,
    };
    to_json(&svc::list_alerts(&state, &auth.access, filter).await?)
}

/// `GET /api/v1/alerts/{id}`.
pub async fn get_alert(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    to_json(&svc::get_alert(&state, &auth.access, id).await?)
}

/// `POST /api/v1/alerts/{id}/ack`.
pub async fn ack_alert(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    to_json(&svc::acknowledge_alert(&state, &auth.access, id).await?)
}

/// `POST /api/v1/alerts/{id}/resolve`.
pub async fn resolve_alert(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    to_json(&svc::resolve_alert(&state, &auth.access, id).await?)
}

// --- channels ------------------------------------------------------------

/// `GET /api/v1/channels` (administrators).
pub async fn list_channels(
    State(state): State<AppState>,
    auth: ApiAuth,
) -> Result<Json<Value>, ApiError> {
    let items = svc::list_channels(&state, &auth.access).await?;
    Ok(Json(json!({ "items": items })))
}

/// `POST /api/v1/channels` (administrators).
pub async fn create_channel(
    State(state): State<AppState>,
    auth: ApiAuth,
    b: Result<Json<ChannelInput>, JsonRejection>,
) -> Result<Response, ApiError> {
    let c = svc::create_channel(&state, &auth.access, body(b)?).await?;
    created(&c)
}

/// `GET /api/v1/channels/{name}` (administrators).
pub async fn get_channel(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    to_json(&svc::get_channel(&state, &auth.access, &name).await?)
}

/// `PUT /api/v1/channels/{name}` (administrators).
pub async fn update_channel(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(name): Path<String>,
    b: Result<Json<ChannelInput>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    to_json(&svc::update_channel(&state, &auth.access, &name, body(b)?).await?)
}

/// `DELETE /api/v1/channels/{name}` (administrators).
pub async fn delete_channel(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    svc::delete_channel(&state, &auth.access, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/channels/{name}/test`: sends a test message now and
/// answers how it went (200 either way: `sent`, or the error).
pub async fn test_channel(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    to_json(&svc::test_channel(&state, &auth.access, &name).await?)
}

// --- the delivery log ----------------------------------------------------

/// `GET /api/v1/deliveries` (administrators): `?channel=`, `?outcome=`,
/// `?limit=`, `?cursor=`.
pub async fn list_deliveries(
    State(state): State<AppState>,
    auth: ApiAuth,
    Query(q): Query<DeliveryFilter>,
) -> Result<Json<Value>, ApiError> {
    to_json(&svc::list_deliveries(&state, &auth.access, q).await?)
}
