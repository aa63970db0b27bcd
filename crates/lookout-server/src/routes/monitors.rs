//! Monitors over HTTP (issue #5): the JSON API under `/api/v1/monitors`
//! and `/api/v1/status-pages`, the heartbeat push URLs `/ping/{token}`
//! (`/start`, `/fail`), and Sentry's HTTP check-in form
//! `/api/{project_id}/cron/{slug}/{public_key}/`.
//!
//! Handlers parse, ask `Access`, and hand off to the monitoring engine or
//! the ingest pipeline. [`save_monitor`] is shared with the UI so both
//! apply the same validation and the same private-address rule.

use crate::access::Access;
use crate::auth::ApiAuth;
use crate::error::ApiError;
use crate::monitoring::{Monitoring, Ping, new_ping_token, rejection_reason};
use crate::state::AppState;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, Utc};
use lookout_ingest::{Endpoint, Submission};
use lookout_model::Project;
use lookout_monitor::{Kind, MonitorSpec, SpecError};
use lookout_storage::{MonitorRecord, NewMonitor, NewStatusPage, StatusPageMonitor};
use serde::Deserialize;
use serde_json::{Map, Value, json};

/// Why a monitor could not be saved.
#[derive(Debug)]
pub enum SaveError {
    /// The definition is invalid: each field with position and reason.
    Invalid(SpecError),
    /// Refused for another reason (access, conflict, storage).
    Api(ApiError),
}

impl From<ApiError> for SaveError {
    fn from(e: ApiError) -> Self {
        SaveError::Api(e)
    }
}

impl IntoResponse for SaveError {
    fn into_response(self) -> Response {
        match self {
            SaveError::Invalid(e) => (
                StatusCode::BAD_REQUEST,
                Json(json!({"detail": format!("invalid monitor: {e}"), "errors": e.0})),
            )
                .into_response(),
            SaveError::Api(e) => e.into_response(),
        }
    }
}

fn invalid(field: &str, reason: String) -> SaveError {
    SaveError::Invalid(SpecError(vec![lookout_monitor::FieldError {
        field: field.into(),
        position: None,
        reason,
    }]))
}

/// What a form or an API body says a monitor should be.
#[derive(Debug, Clone)]
pub struct MonitorInput {
    /// Display name.
    pub name: String,
    /// Slug for a new monitor (default: from the name).
    pub slug: Option<String>,
    /// The definition.
    pub spec: MonitorSpec,
    /// `ui` or `api`.
    pub source: &'static str,
}

/// Validates and stores a new or changed monitor, applying the
/// private-address rule, and loads it into the engine.
pub async fn save_monitor(
    state: &AppState,
    access: &Access,
    project: &Project,
    existing: Option<&MonitorRecord>,
    input: MonitorInput,
) -> Result<MonitorRecord, SaveError> {
    let MonitorInput {
        name,
        slug,
        mut spec,
        source,
    } = input;
    let name = name.trim();
    let mon = state.monitoring();
    if let Err(e) = spec.compile() {
        mon.count_rejection(rejection_reason(&e));
        return Err(SaveError::Invalid(e));
    }
    if name.trim().is_empty() {
        mon.count_rejection("other");
        return Err(invalid("name", "the name is empty".into()));
    }
    if let Some(m) = existing
        && m.source == "config"
    {
        return Err(SaveError::Api(ApiError::Conflict(
            "this monitor is declared in lookout.toml; change it there".into(),
        )));
    }
    // Checked now, to answer the person saving, and at every connection
    // (`public_only`), against rebinding and redirects.
    spec.public_only = !access.is_admin() && !mon.settings().allow_private_targets;
    if spec.public_only
        && let Some((host, port)) = spec.target_host()
        && let Some((ip, why)) = lookout_monitor::ssrf::first_private(&host, port).await
    {
        mon.count_rejection("private_target");
        return Err(SaveError::Api(ApiError::Forbidden(format!(
            "only administrators may monitor loopback, private or link-local addresses: {host} resolves to {ip} ({why})"
        ))));
    }
    let spec_json = serde_json::to_value(&spec).map_err(|e| ApiError::Internal(e.to_string()))?;
    let store = state.store();
    let rec = match existing {
        Some(m) => {
            let rec = store
                .update_monitor(m.id, name.to_string(), spec.kind.as_str().into(), spec_json)
                .await
                .map_err(ApiError::from)?;
            if spec.kind == Kind::Heartbeat && rec.ping_token.is_none() {
                // Gained a push URL: upsert keeps the rest and sets the token.
                store
                    .upsert_monitor(NewMonitor {
                        project_id: rec.project_id,
                        slug: rec.slug.clone(),
                        name: rec.name.clone(),
                        kind: rec.kind.clone(),
                        spec: rec.spec.clone(),
                        source: rec.source.clone(),
                        ping_token: Some(new_ping_token()),
                    })
                    .await
                    .map_err(ApiError::from)?
                    .0
            } else {
                rec
            }
        }
        None => {
            let slug = match slug.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
                Some(s) => s.to_string(),
                None => lookout_model::slugify(name),
            };
            store
                .create_monitor(NewMonitor {
                    project_id: project.id,
                    slug,
                    name: name.to_string(),
                    kind: spec.kind.as_str().into(),
                    spec: spec_json,
                    source: source.into(),
                    ping_token: (spec.kind == Kind::Heartbeat).then(new_ping_token),
                })
                .await
                .map_err(|e| match e {
                    lookout_storage::StorageError::InvalidInput(m) => invalid("slug", m),
                    other => SaveError::Api(other.into()),
                })?
        }
    };
    mon.upsert(rec.clone());
    Ok(rec)
}

/// Loads a monitor the caller may read (404 otherwise).
pub async fn read_monitor(
    state: &AppState,
    access: &Access,
    id: i64,
) -> Result<(MonitorRecord, Project, crate::access::Role), ApiError> {
    let not_found = || ApiError::NotFound(format!("monitor {id} not found"));
    let m = state.store().get_monitor(id).await?.ok_or_else(not_found)?;
    let (p, role) = access
        .read_project(state, m.project_id)
        .await
        .map_err(|e| match e {
            ApiError::NotFound(_) => not_found(),
            other => other,
        })?;
    Ok((m, p, role))
}

/// Loads a monitor the caller may change (members and administrators).
pub async fn write_monitor(
    state: &AppState,
    access: &Access,
    id: i64,
) -> Result<(MonitorRecord, Project), ApiError> {
    let (m, _, _) = read_monitor(state, access, id).await?;
    let p = access.write_project(state, m.project_id).await?;
    Ok((m, p))
}

/// A JSON body split into the monitor's project, name, slug and definition.
struct ParsedBody {
    project_id: Option<i64>,
    name: Option<String>,
    slug: Option<String>,
    spec: MonitorSpec,
}

/// Splits a JSON body into the monitor's name, slug and definition.
fn parse_body(
    mut body: Map<String, Value>,
    base: Option<&MonitorRecord>,
) -> Result<ParsedBody, SaveError> {
    let project_id = body.remove("project_id").and_then(|v| v.as_i64());
    let name = body
        .remove("name")
        .and_then(|v| v.as_str().map(String::from));
    let slug = body
        .remove("slug")
        .and_then(|v| v.as_str().map(String::from));
    // An update merges the given fields into the stored definition.
    let mut merged = match base.map(|b| b.spec.clone()) {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    for (k, v) in body {
        merged.insert(k, v);
    }
    if !merged.contains_key("kind") {
        return Err(invalid(
            "kind",
            "the kind is missing: http, health, tcp, dns or heartbeat".into(),
        ));
    }
    let spec: MonitorSpec = serde_json::from_value(Value::Object(merged))
        .map_err(|e| invalid("body", e.to_string()))?;
    Ok(ParsedBody {
        project_id,
        name,
        slug,
        spec,
    })
}

fn monitor_json(state: &AppState, m: &MonitorRecord) -> Value {
    let mut v = Monitoring::describe(m, &state.config().public_url());
    if let Some(s) = state.monitoring().live_status(m.id) {
        v["state"]["status"] = json!(s);
    }
    v
}

/// Query of the monitor list.
#[derive(Debug, Deserialize)]
pub struct ListParams {
    project_id: Option<i64>,
}

/// `GET /api/v1/monitors`: the caller's monitors (optionally of one project).
pub async fn list(
    State(state): State<AppState>,
    auth: ApiAuth,
    Query(q): Query<ListParams>,
) -> Result<Json<Value>, ApiError> {
    let mut items = Vec::new();
    let projects = match q.project_id {
        Some(id) => vec![auth.access.read_project(&state, id).await?.0],
        None => auth
            .access
            .projects(&state)
            .await?
            .into_iter()
            .map(|(p, _)| p)
            .collect(),
    };
    for p in projects {
        for m in state.store().list_monitors(Some(p.id)).await? {
            items.push(monitor_json(&state, &m));
        }
    }
    Ok(Json(json!({ "items": items })))
}

/// `POST /api/v1/monitors`: creates a monitor.
pub async fn create(
    State(state): State<AppState>,
    auth: ApiAuth,
    body: Result<Json<Map<String, Value>>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, SaveError> {
    let Json(body) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let b = parse_body(body, None)?;
    let project_id = b
        .project_id
        .ok_or_else(|| invalid("project_id", "project_id is required".into()))?;
    let project = auth.access.write_project(&state, project_id).await?;
    let name = b.name.unwrap_or_else(|| b.slug.clone().unwrap_or_default());
    let input = MonitorInput {
        name,
        slug: b.slug,
        spec: b.spec,
        source: "api",
    };
    let m = save_monitor(&state, &auth.access, &project, None, input).await?;
    Ok((StatusCode::CREATED, Json(monitor_json(&state, &m))).into_response())
}

/// `GET /api/v1/monitors/{id}`: the monitor with its uptime.
pub async fn get(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    let (m, _, _) = read_monitor(&state, &auth.access, id).await?;
    let mut v = monitor_json(&state, &m);
    v["uptime"] = serde_json::to_value(state.store().monitor_uptime(id, Utc::now()).await?)
        .unwrap_or_default();
    Ok(Json(v))
}

/// `PATCH /api/v1/monitors/{id}`: changes fields of a monitor.
pub async fn update(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(id): Path<i64>,
    body: Result<Json<Map<String, Value>>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, SaveError> {
    let Json(body) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let (m, p) = write_monitor(&state, &auth.access, id).await?;
    let b = parse_body(body, Some(&m))?;
    let input = MonitorInput {
        name: b.name.unwrap_or_else(|| m.name.clone()),
        slug: None,
        spec: b.spec,
        source: "api",
    };
    let m = save_monitor(&state, &auth.access, &p, Some(&m), input).await?;
    Ok(Json(monitor_json(&state, &m)))
}

/// `DELETE /api/v1/monitors/{id}`.
pub async fn delete(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    let (m, _) = write_monitor(&state, &auth.access, id).await?;
    if m.source == "config" {
        return Err(ApiError::Conflict(
            "this monitor is declared in lookout.toml; remove it there".into(),
        ));
    }
    state.store().delete_monitor(id).await?;
    state.monitoring().remove(id);
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/monitors/{id}/pause`.
pub async fn pause(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    write_monitor(&state, &auth.access, id).await?;
    let m = state.monitoring().set_paused(id, true).await?;
    Ok(Json(monitor_json(&state, &m)))
}

/// `POST /api/v1/monitors/{id}/resume`.
pub async fn resume(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    write_monitor(&state, &auth.access, id).await?;
    let m = state.monitoring().set_paused(id, false).await?;
    Ok(Json(monitor_json(&state, &m)))
}

/// Query of the results.
#[derive(Debug, Deserialize)]
pub struct ResultsParams {
    since: Option<DateTime<Utc>>,
    limit: Option<usize>,
}

/// `GET /api/v1/monitors/{id}/results`: raw results (newest first) and
/// hourly aggregates.
pub async fn results(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(id): Path<i64>,
    Query(q): Query<ResultsParams>,
) -> Result<Json<Value>, ApiError> {
    read_monitor(&state, &auth.access, id).await?;
    let since = q.since.unwrap_or_else(|| Utc::now() - Duration::hours(24));
    let items = state
        .store()
        .monitor_results(id, since, q.limit.unwrap_or(500).clamp(1, 5000))
        .await?;
    let hourly = state.store().monitor_hourly(id, since).await?;
    Ok(Json(json!({ "items": items, "hourly": hourly })))
}

/// `GET /api/v1/monitors/{id}/incidents`: newest first, with durations.
pub async fn incidents(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    read_monitor(&state, &auth.access, id).await?;
    let items: Vec<Value> = state
        .store()
        .monitor_incidents(id, 200)
        .await?
        .into_iter()
        .map(|i| {
            let end = i.ended_at.unwrap_or_else(Utc::now);
            let mut v = serde_json::to_value(&i).unwrap_or_default();
            v["duration_secs"] = json!((end - i.started_at).num_seconds());
            v
        })
        .collect();
    Ok(Json(json!({ "items": items })))
}

/// Query of the event feed.
#[derive(Debug, Deserialize)]
pub struct EventsParams {
    after: Option<i64>,
    limit: Option<usize>,
}

/// `GET /api/v1/monitor-events?after=ID`: state changes in id order (the
/// durable feed the alert engine consumes), of monitors the caller may read.
pub async fn events(
    State(state): State<AppState>,
    auth: ApiAuth,
    Query(q): Query<EventsParams>,
) -> Result<Json<Value>, ApiError> {
    let readable: std::collections::HashSet<i64> = auth
        .access
        .projects(&state)
        .await?
        .into_iter()
        .map(|(p, _)| p.id)
        .collect();
    let items: Vec<_> = state
        .store()
        .monitor_events_after(q.after.unwrap_or(0), q.limit.unwrap_or(100).clamp(1, 1000))
        .await?
        .into_iter()
        .filter(|e| readable.contains(&e.project_id))
        .collect();
    Ok(Json(json!({ "items": items })))
}

// --- heartbeats ------------------------------------------------------------

async fn ping_with(state: &AppState, token: &str, ping: Ping, body: &[u8]) -> Response {
    match state.monitoring().ping_token(token, ping, body).await {
        Ok(Some(_)) => (
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "OK\n",
        )
            .into_response(),
        Ok(None) => ApiError::NotFound("unknown ping token".into()).into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// `GET|POST /ping/{token}`: the job ran.
pub async fn ping(
    State(state): State<AppState>,
    Path(token): Path<String>,
    body: Bytes,
) -> Response {
    ping_with(&state, &token, Ping::Success, &body).await
}

/// `GET|POST /ping/{token}/start`: the job started.
pub async fn ping_start(
    State(state): State<AppState>,
    Path(token): Path<String>,
    body: Bytes,
) -> Response {
    ping_with(&state, &token, Ping::Start, &body).await
}

/// `GET|POST /ping/{token}/fail`: the job failed.
pub async fn ping_fail(
    State(state): State<AppState>,
    Path(token): Path<String>,
    body: Bytes,
) -> Response {
    ping_with(&state, &token, Ping::Fail, &body).await
}

/// `GET|POST /api/{project_id}/cron/{slug}/{public_key}/?status=…`:
/// Sentry's HTTP check-in form. Turned into a `check_in` envelope item and
/// sent through the ingest pipeline (same key check, quota and durability).
pub async fn cron_checkin(
    State(state): State<AppState>,
    Path((project_id, slug, public_key)): Path<(String, String, String)>,
    Query(params): Query<std::collections::HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let get = |k: &str| params.get(k).cloned();
    let mut item = if body.is_empty() {
        Map::new()
    } else {
        match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Object(m)) => m,
            _ => {
                return ApiError::BadRequest("the body must be a JSON object".into())
                    .into_response();
            }
        }
    };
    let check_in_id = get("check_in_id")
        .or_else(|| {
            item.get("check_in_id")
                .and_then(Value::as_str)
                .map(String::from)
        })
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    item.insert("check_in_id".into(), json!(check_in_id));
    item.insert("monitor_slug".into(), json!(slug));
    if let Some(s) = get("status") {
        item.insert("status".into(), json!(s));
    }
    if !item.contains_key("status") {
        item.insert("status".into(), json!("ok"));
    }
    if let Some(e) = get("environment") {
        item.insert("environment".into(), json!(e));
    }
    if let Some(d) = get("duration").and_then(|d| d.parse::<f64>().ok()) {
        item.insert("duration".into(), json!(d));
    }
    let payload = Value::Object(item).to_string();
    let envelope = format!(
        "{{}}\n{{\"type\":\"check_in\",\"length\":{}}}\n{payload}\n",
        payload.len()
    );
    let key_query = format!("sentry_key={public_key}");
    let sub = Submission {
        project_id: &project_id,
        endpoint: Endpoint::Envelope,
        auth_header: None,
        authorization: None,
        query: Some(&key_query),
        content_encoding: None,
        origin: headers.get("origin").and_then(|v| v.to_str().ok()),
        body: Bytes::from(envelope),
    };
    match state.ingestor().submit(sub).await {
        Ok(_) => (StatusCode::ACCEPTED, Json(json!({"id": check_in_id}))).into_response(),
        Err(e) => crate::routes::ingest::ingest_error(e).into_response(),
    }
}

// --- status pages (administrators) ----------------------------------------

/// Body of a status page.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusPageBody {
    slug: String,
    title: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    notice: Option<String>,
    #[serde(default)]
    monitors: Vec<StatusPageMonitor>,
}

impl From<StatusPageBody> for NewStatusPage {
    fn from(b: StatusPageBody) -> Self {
        NewStatusPage {
            slug: b.slug,
            title: b.title,
            description: b.description,
            notice: b.notice.filter(|n| !n.trim().is_empty()),
            monitors: b.monitors,
        }
    }
}

/// `GET /api/v1/status-pages`.
pub async fn list_pages(
    State(state): State<AppState>,
    auth: ApiAuth,
) -> Result<Json<Value>, ApiError> {
    auth.access.require_admin()?;
    Ok(Json(
        json!({ "items": state.store().list_status_pages().await? }),
    ))
}

/// `POST /api/v1/status-pages`.
pub async fn create_page(
    State(state): State<AppState>,
    auth: ApiAuth,
    body: Result<Json<StatusPageBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    auth.access.require_admin()?;
    let Json(b) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let p = state.store().create_status_page(b.into()).await?;
    state.monitoring().page_cache.lock().clear();
    Ok((
        StatusCode::CREATED,
        Json(serde_json::to_value(p).unwrap_or_default()),
    )
        .into_response())
}

/// `PUT /api/v1/status-pages/{id}`.
pub async fn update_page(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(id): Path<i64>,
    body: Result<Json<StatusPageBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    auth.access.require_admin()?;
    let Json(b) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let p = state.store().update_status_page(id, b.into()).await?;
    state.monitoring().page_cache.lock().clear();
    Ok(Json(serde_json::to_value(p).unwrap_or_default()))
}

/// `DELETE /api/v1/status-pages/{id}`.
pub async fn delete_page(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    auth.access.require_admin()?;
    if !state.store().delete_status_page(id).await? {
        return Err(ApiError::NotFound(format!("status page {id} not found")));
    }
    state.monitoring().page_cache.lock().clear();
    Ok(StatusCode::NO_CONTENT)
}
