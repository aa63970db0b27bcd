//! The JSON API under `/api/v1`, authenticated with API tokens. Documented
//! in `docs/openapi.json`, served at `/api/v1/openapi.json`.

use crate::auth::ApiAuth;
use crate::error::ApiError;
use crate::state::AppState;
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use lookout_model::errors::{IssueStatus, Outcome, StatusChange, parse_event_id};
use lookout_model::settings::ProjectSettings;
use lookout_storage::{IssueQuery, IssueSort};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;

type ApiResult = Result<Json<Value>, ApiError>;

/// `GET /api/v1/openapi.json`: the API description.
pub async fn openapi(_auth: ApiAuth) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        include_str!("../../../../docs/openapi.json"),
    )
        .into_response()
}

/// `GET /api/v1/projects`: every project with its DSNs.
pub async fn list_projects(State(state): State<AppState>, auth: ApiAuth) -> ApiResult {
    let public_url = state.config().public_url();
    let mut items = Vec::new();
    for (p, role) in auth.access.projects(&state).await? {
        let keys = state.store().project_keys(p.id).await?;
        let dsns: Vec<String> = keys
            .iter()
            .filter(|k| k.revoked_at.is_none())
            .map(|k| k.dsn(&public_url))
            .collect();
        items.push(json!({
            "id": p.id, "slug": p.slug, "name": p.name,
            "created_at": p.created_at, "dsn": dsns.first(), "dsns": dsns,
            "role": role.as_str(),
        }));
    }
    Ok(Json(json!({ "items": items })))
}

/// `GET /api/v1/me`: who the token acts for and what it may do.
pub async fn me(State(state): State<AppState>, auth: ApiAuth) -> ApiResult {
    let projects: Vec<Value> = auth
        .access
        .projects(&state)
        .await?
        .into_iter()
        .map(|(p, role)| json!({"id": p.id, "slug": p.slug, "role": role.as_str()}))
        .collect();
    Ok(Json(json!({
        "user": auth.access.user.as_ref().map(|u| json!({"id": u.id, "email": u.email, "is_admin": u.is_admin})),
        "is_admin": auth.access.is_admin(),
        "token": {"id": auth.token.id, "name": auth.token.name, "scope": auth.token.scope.as_str()},
        "projects": projects,
    })))
}

/// Query parameters of the issue list.
#[derive(Debug, Deserialize)]
pub struct IssueListParams {
    status: Option<String>,
    level: Option<String>,
    environment: Option<String>,
    release: Option<String>,
    first_release: Option<String>,
    query: Option<String>,
    sort: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

impl IssueListParams {
    /// The free-text query as typed.
    pub fn query_text(&self) -> &str {
        self.query.as_deref().unwrap_or("")
    }
    /// The status filter as given (default `unresolved`).
    pub fn status_text(&self) -> &str {
        self.status.as_deref().unwrap_or("unresolved")
    }
    /// The same parameters with empty values treated as absent (a form's
    /// "any" option sends `level=`).
    pub fn drop_empty(self) -> Self {
        let some = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
        IssueListParams {
            status: self.status,
            level: some(self.level),
            environment: some(self.environment),
            release: some(self.release),
            first_release: some(self.first_release),
            query: some(self.query),
            sort: some(self.sort),
            limit: self.limit,
            cursor: some(self.cursor),
        }
    }
    /// The filters and sort order that are set, by parameter name, to echo
    /// them into forms and links (without the cursor and limit).
    pub fn filters(&self) -> Vec<(&'static str, String)> {
        [
            ("status", &self.status),
            ("query", &self.query),
            ("level", &self.level),
            ("environment", &self.environment),
            ("release", &self.release),
            ("first_release", &self.first_release),
            ("sort", &self.sort),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.clone().map(|v| (k, v)))
        .collect()
    }
}

/// Turns the API parameters into a storage query. `query` holds free words
/// and `key:value` terms; `is:<status>` and `level:` are understood too.
pub fn issue_query(p: IssueListParams) -> Result<IssueQuery, ApiError> {
    let mut q = IssueQuery {
        limit: p.limit.unwrap_or(25).clamp(1, 100),
        cursor: p.cursor,
        level: p.level,
        ..Default::default()
    };
    let mut status = p.status;
    for term in p.query.as_deref().unwrap_or("").split_whitespace() {
        match term.split_once(':') {
            Some(("is", s)) => status = Some(s.to_string()),
            Some(("level", l)) => q.level = Some(l.to_string()),
            Some(("first_release", r)) => q.first_release = Some(r.to_string()),
            Some((k, v)) if !k.is_empty() && !v.is_empty() => q
                .tags
                .push((k.to_string(), v.trim_matches('"').to_string())),
            _ => q.text.push(term.to_string()),
        }
    }
    if let Some(e) = p.environment {
        q.tags.push(("environment".into(), e));
    }
    if let Some(r) = p.release {
        q.tags.push(("release".into(), r));
    }
    if let Some(r) = p.first_release {
        q.first_release = Some(r);
    }
    q.statuses = match status.as_deref().unwrap_or("unresolved") {
        "all" | "" => vec![],
        list => list
            .split(',')
            .map(|s| {
                IssueStatus::parse(s.trim()).ok_or_else(|| {
                    ApiError::BadRequest(format!(
                        "unknown status `{s}`: use unresolved, resolved, resolved_in_next_release, ignored or all"
                    ))
                })
            })
            .collect::<Result<_, _>>()?,
    };
    q.sort = match p.sort.as_deref().unwrap_or("last_seen") {
        "last_seen" | "date" => IssueSort::LastSeen,
        "first_seen" | "new" => IssueSort::FirstSeen,
        "events" | "freq" => IssueSort::Events,
        "users" | "user" => IssueSort::Users,
        other => {
            return Err(ApiError::BadRequest(format!(
                "unknown sort `{other}`: use last_seen, first_seen, events or users"
            )));
        }
    };
    Ok(q)
}

/// `GET /api/v1/projects/{id}/issues`.
pub async fn list_issues(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(id): Path<i64>,
    Query(params): Query<IssueListParams>,
) -> ApiResult {
    auth.access.read_project(&state, id).await?;
    let page = state
        .store()
        .list_issues(id, issue_query(params.drop_empty())?)
        .await?;
    Ok(Json(
        json!({ "items": page.items, "next_cursor": page.next_cursor }),
    ))
}

/// `GET /api/v1/issues/{id}`: the issue with tags and hourly counts.
pub async fn get_issue(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(id): Path<i64>,
) -> ApiResult {
    let (issue, _) = auth.access.read_issue(&state, id).await?;
    let tags = state.store().issue_tags(id, 10).await?;
    let since = Utc::now().timestamp().div_euclid(3600) - 24 * 14;
    let hourly: Vec<Value> = state
        .store()
        .issue_hourly(id, since)
        .await?
        .into_iter()
        .map(|(h, c)| json!({"hour": DateTime::from_timestamp(h * 3600, 0), "count": c}))
        .collect();
    let mut v = serde_json::to_value(&issue).map_err(|e| ApiError::Internal(e.to_string()))?;
    v["tags"] = serde_json::to_value(tags).unwrap_or_default();
    v["hourly"] = Value::Array(hourly);
    Ok(Json(v))
}

/// Body of `PATCH /api/v1/issues/{id}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuePatch {
    status: String,
    ignore_count: Option<i64>,
    ignore_until: Option<DateTime<Utc>>,
}

/// `PATCH /api/v1/issues/{id}`: change the status.
pub async fn patch_issue(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(id): Path<i64>,
    body: Result<Json<IssuePatch>, axum::extract::rejection::JsonRejection>,
) -> ApiResult {
    let Json(p) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let status = IssueStatus::parse(&p.status).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "unknown status `{}`: use unresolved, resolved, resolved_in_next_release or ignored",
            p.status
        ))
    })?;
    if p.ignore_count.is_some_and(|n| n < 1) {
        return Err(ApiError::BadRequest(
            "ignore_count must be at least 1".into(),
        ));
    }
    auth.access.write_issue(&state, id).await?;
    let issue = state
        .store()
        .set_issue_status(
            id,
            StatusChange {
                status,
                ignore_count: p.ignore_count,
                ignore_until: p.ignore_until,
            },
        )
        .await?;
    state.alerts().issue_status_changed(&issue).await;
    Ok(Json(serde_json::to_value(issue).unwrap_or_default()))
}

/// Paging parameters.
#[derive(Debug, Deserialize)]
pub struct PageParams {
    limit: Option<usize>,
    cursor: Option<String>,
}

/// `GET /api/v1/issues/{id}/events`: newest first.
pub async fn issue_events(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(id): Path<i64>,
    Query(p): Query<PageParams>,
) -> ApiResult {
    auth.access.read_issue(&state, id).await?;
    let page = state
        .store()
        .issue_events(id, p.limit.unwrap_or(50).clamp(1, 200), p.cursor)
        .await?;
    Ok(Json(
        json!({ "items": page.items, "next_cursor": page.next_cursor }),
    ))
}

/// `GET /api/v1/issues/{id}/feedback`.
pub async fn issue_feedback(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(id): Path<i64>,
) -> ApiResult {
    auth.access.read_issue(&state, id).await?;
    let items = state.store().issue_feedback(id).await?;
    Ok(Json(json!({ "items": items })))
}

fn event_id(s: &str) -> Result<[u8; 16], ApiError> {
    parse_event_id(s).ok_or_else(|| ApiError::BadRequest(format!("`{s}` is not an event id")))
}

async fn event_json(
    state: &AppState,
    project_id: i64,
    id: [u8; 16],
) -> Result<Option<Value>, ApiError> {
    let Some(ev) = state.store().get_event(project_id, id).await? else {
        return Ok(None);
    };
    let attachments = state.store().event_attachments(project_id, id).await?;
    let mut v = serde_json::to_value(&ev).map_err(|e| ApiError::Internal(e.to_string()))?;
    v["attachments"] = serde_json::to_value(attachments).unwrap_or_default();
    Ok(Some(v))
}

/// `GET /api/v1/projects/{id}/events/{event_id}`: the full stored event.
pub async fn get_project_event(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path((pid, eid)): Path<(i64, String)>,
) -> ApiResult {
    let id = event_id(&eid)?;
    auth.access.read_project(&state, pid).await?;
    event_json(&state, pid, id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("event {eid} not found in project {pid}")))
}

/// `GET /api/v1/events/{event_id}`: the event with this id in the first
/// project (by id) the caller may read that has it. Event ids are unique
/// per project only; prefer the project-scoped route.
pub async fn get_event(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(eid): Path<String>,
) -> ApiResult {
    let id = event_id(&eid)?;
    for (p, _) in auth.access.projects(&state).await? {
        if let Some(v) = event_json(&state, p.id, id).await? {
            return Ok(Json(v));
        }
    }
    Err(ApiError::NotFound(format!("event {eid} not found")))
}

/// `GET /api/v1/projects/{id}/events/{event_id}/attachments/{aid}`: download.
pub async fn download_attachment(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path((pid, eid, aid)): Path<(i64, String, i64)>,
) -> Result<Response, ApiError> {
    let id = event_id(&eid)?;
    auth.access.read_project(&state, pid).await?;
    let (meta, _, data) = state
        .store()
        .attachment(aid)
        .await?
        .filter(|(m, project, _)| *project == pid && parse_event_id(&m.event_id) == Some(id))
        .ok_or_else(|| ApiError::NotFound(format!("attachment {aid} not found")))?;
    Ok(attachment_response(meta, data))
}

/// `GET /api/v1/events/{event_id}/attachments/{aid}`: download, for callers
/// that know only the event id.
pub async fn download_attachment_unscoped(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path((eid, aid)): Path<(String, i64)>,
) -> Result<Response, ApiError> {
    let id = event_id(&eid)?;
    let not_found = || ApiError::NotFound(format!("attachment {aid} not found"));
    let (meta, pid, data) = state
        .store()
        .attachment(aid)
        .await?
        .filter(|(m, _, _)| parse_event_id(&m.event_id) == Some(id))
        .ok_or_else(not_found)?;
    auth.access.role(&state, pid).await?.ok_or_else(not_found)?;
    Ok(attachment_response(meta, data))
}

/// An attachment as a download: always `application/octet-stream` with a
/// sanitised file name, never rendered (the bytes came from a client).
pub fn attachment_response(meta: lookout_model::errors::AttachmentMeta, data: Vec<u8>) -> Response {
    let mut r = Response::new(Body::from(data));
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    let safe: String = meta
        .filename
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{safe}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    r
}

/// `GET /api/v1/projects/{id}/releases`.
pub async fn list_releases(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(id): Path<i64>,
) -> ApiResult {
    auth.access.read_project(&state, id).await?;
    let items = state.store().list_releases(id).await?;
    Ok(Json(json!({ "items": items })))
}

/// Query of the stats endpoint.
#[derive(Debug, Deserialize)]
pub struct StatsParams {
    /// Hours to look back (default 24, at most 90 days).
    hours: Option<i64>,
}

/// `GET /api/v1/projects/{id}/stats`: outcome counts per hour and totals.
pub async fn project_stats(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(id): Path<i64>,
    Query(p): Query<StatsParams>,
) -> ApiResult {
    auth.access.read_project(&state, id).await?;
    // Rejections are tallied in memory; make them visible now.
    state.ingestor().flush_outcomes().await?;
    let hours = p.hours.unwrap_or(24).clamp(1, 24 * 90);
    let since = Utc::now().timestamp_millis() - hours * 3_600_000;
    let rows = state.store().project_outcomes(id, since).await?;
    let mut totals: BTreeMap<&str, i64> = Outcome::ALL.iter().map(|o| (o.as_str(), 0)).collect();
    let mut series: BTreeMap<DateTime<Utc>, BTreeMap<&str, i64>> = BTreeMap::new();
    let mut discards: BTreeMap<String, i64> = BTreeMap::new();
    for r in &rows {
        *totals.entry(r.outcome.as_str()).or_default() += r.quantity;
        *series
            .entry(r.bucket)
            .or_default()
            .entry(r.outcome.as_str())
            .or_default() += r.quantity;
        if r.outcome == Outcome::ClientDiscard {
            *discards.entry(r.category.clone()).or_default() += r.quantity;
        }
    }
    let series: Vec<Value> = series
        .into_iter()
        .map(|(bucket, m)| {
            let mut v = json!({ "bucket": bucket });
            for o in Outcome::ALL {
                v[o.as_str()] = json!(m.get(o.as_str()).copied().unwrap_or(0));
            }
            v
        })
        .collect();
    let discards: Vec<Value> = discards
        .into_iter()
        .map(|(k, q)| {
            let (reason, category) = k.split_once(':').unwrap_or((&k, ""));
            json!({"reason": reason, "category": category, "quantity": q})
        })
        .collect();
    Ok(Json(json!({
        "interval": "hour", "hours": hours, "totals": totals, "series": series,
        "client_discards": discards,
    })))
}

/// `GET /api/v1/projects/{id}/settings`.
pub async fn get_settings(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(id): Path<i64>,
) -> ApiResult {
    auth.access.read_project(&state, id).await?;
    let s = state.store().project_settings(id).await?;
    Ok(Json(serde_json::to_value(s).unwrap_or_default()))
}

/// `PUT /api/v1/projects/{id}/settings`: fields present replace the stored
/// ones; absent fields keep their values.
pub async fn put_settings(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(id): Path<i64>,
    body: Result<Json<Value>, axum::extract::rejection::JsonRejection>,
) -> ApiResult {
    let Json(patch) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    if !patch.is_object() {
        return Err(ApiError::BadRequest(
            "settings must be a JSON object".into(),
        ));
    }
    auth.access.write_project(&state, id).await?;
    let current = state.store().project_settings(id).await?;
    let mut merged = serde_json::to_value(&current).unwrap_or_default();
    merge_json(&mut merged, patch);
    let s: ProjectSettings = serde_json::from_value(merged)
        .map_err(|e| ApiError::BadRequest(format!("invalid settings: {e}")))?;
    s.validate().map_err(ApiError::BadRequest)?;
    state.store().set_project_settings(id, s.clone()).await?;
    state.ingestor().projects().invalidate_settings(id);
    Ok(Json(serde_json::to_value(s).unwrap_or_default()))
}

fn merge_json(base: &mut Value, patch: Value) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, v) in p {
                match b.get_mut(&k) {
                    Some(existing) if existing.is_object() && v.is_object() => {
                        merge_json(existing, v)
                    }
                    _ => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, p) => *b = p,
    }
}

/// `limit` only.
#[derive(Debug, Deserialize)]
pub struct LimitParams {
    limit: Option<usize>,
}

impl LimitParams {
    fn get(&self, default: usize, max: usize) -> usize {
        self.limit.unwrap_or(default).clamp(1, max)
    }
}

/// `GET /api/v1/projects/{id}/transactions`.
pub async fn list_transactions(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(id): Path<i64>,
    Query(p): Query<LimitParams>,
) -> ApiResult {
    auth.access.read_project(&state, id).await?;
    let items = state.store().list_transactions(id, p.get(50, 500)).await?;
    Ok(Json(json!({ "items": items })))
}

/// `GET /api/v1/projects/{id}/check-ins`.
pub async fn list_check_ins(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(id): Path<i64>,
    Query(p): Query<LimitParams>,
) -> ApiResult {
    auth.access.read_project(&state, id).await?;
    let items = state.store().list_check_ins(id, p.get(50, 500)).await?;
    Ok(Json(json!({ "items": items })))
}

/// `GET /api/v1/projects/{id}/logs`.
pub async fn list_logs(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(id): Path<i64>,
    Query(p): Query<LimitParams>,
) -> ApiResult {
    auth.access.read_project(&state, id).await?;
    let items = state.store().list_logs(id, p.get(100, 1000)).await?;
    Ok(Json(json!({ "items": items })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(query: &str) -> IssueListParams {
        IssueListParams {
            status: None,
            level: None,
            environment: Some("production".into()),
            release: None,
            first_release: None,
            query: Some(query.into()),
            sort: Some("events".into()),
            limit: Some(1000),
            cursor: None,
        }
    }

    #[test]
    fn query_terms_become_filters() {
        let q = issue_query(params("KeyError is:resolved release:shop@1.0 level:error")).unwrap();
        assert_eq!(q.statuses, vec![IssueStatus::Resolved]);
        assert_eq!(q.level.as_deref(), Some("error"));
        assert_eq!(q.text, vec!["KeyError".to_string()]);
        assert!(q.tags.contains(&("release".into(), "shop@1.0".into())));
        assert!(
            q.tags
                .contains(&("environment".into(), "production".into()))
        );
        assert_eq!(q.sort, IssueSort::Events);
        assert_eq!(q.limit, 100, "limit is capped");
        let q = issue_query(params("is:all")).unwrap();
        assert!(q.statuses.is_empty());
        assert!(issue_query(params("is:bogus")).is_err());
    }

    #[test]
    fn settings_merge_keeps_absent_fields() {
        let mut base = json!({"a": 1, "f": {"x": [1], "y": [2]}});
        merge_json(&mut base, json!({"f": {"x": []}, "b": 2}));
        assert_eq!(base, json!({"a": 1, "b": 2, "f": {"x": [], "y": [2]}}));
    }
}
