//! The JSON twins of the overview page and the issue list's bulk action:
//! `GET /api/v1/projects/{id}/overview` and
//! `POST /api/v1/projects/{id}/issues/bulk`. Documented in
//! `docs/openapi.json`.

use crate::access::Access;
use crate::auth::ApiAuth;
use crate::error::ApiError;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use lookout_model::errors::{IssueStatus, StatusChange};
use lookout_storage::overview::OVERVIEW_HOURS;
use serde::Deserialize;
use serde_json::{Value, json};

/// Most issues one bulk change takes (a page of the list holds at most 100).
pub const MAX_BULK: usize = 100;

/// `GET /api/v1/projects/{id}/overview`: what the overview page shows.
pub async fn overview(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    auth.access.read_project(&state, id).await?;
    let ov = state
        .store()
        .project_overview(id, Utc::now(), crate::ui::overview::TOP_ISSUES)
        .await?;
    let first = ov.now_hour - OVERVIEW_HOURS + 1;
    let week = crate::ui::charts::fill_hours(
        ov.hourly_events.iter().copied(),
        first,
        OVERVIEW_HOURS as usize,
    );
    let hourly: Vec<Value> = week
        .iter()
        .enumerate()
        .map(|(i, c)| {
            json!({
                "hour": DateTime::<Utc>::from_timestamp((first + i as i64) * 3600, 0),
                "count": c,
            })
        })
        .collect();
    let top: Vec<Value> = ov
        .top_issues
        .iter()
        .map(|t| {
            let mut v = serde_json::to_value(&t.issue).unwrap_or_default();
            v["events_24h"] = json!(t.events_24h);
            v
        })
        .collect();
    Ok(Json(json!({
        "events_24h": week[week.len() - 24..].iter().sum::<i64>(),
        "events_7d": week.iter().sum::<i64>(),
        "hourly": hourly,
        "new_issues_24h": ov.new_issues_24h,
        "unresolved": ov.unresolved,
        "regressions": ov.regressions,
        "latest_release": ov.latest_release,
        "top_issues": top,
    })))
}

/// Body of `POST /api/v1/projects/{id}/issues/bulk`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkChange {
    ids: Vec<i64>,
    status: String,
}

/// Checks that the caller may triage every issue and that each belongs to
/// project `project_id` (otherwise 404 naming it, as if it did not exist),
/// then changes them all in one transaction.
pub async fn bulk_set_status(
    state: &AppState,
    access: &Access,
    project_id: i64,
    ids: Vec<i64>,
    status: IssueStatus,
) -> Result<Vec<lookout_model::errors::Issue>, ApiError> {
    if ids.len() > MAX_BULK {
        return Err(ApiError::BadRequest(format!(
            "at most {MAX_BULK} issues at once"
        )));
    }
    access.read_project(state, project_id).await?;
    for &id in &ids {
        let issue = access.write_issue(state, id).await?;
        if issue.project_id != project_id {
            return Err(ApiError::NotFound(format!(
                "issue {id} not found in project {project_id}"
            )));
        }
    }
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let issues = state
        .store()
        .set_issues_status(
            ids,
            StatusChange {
                status,
                ignore_count: None,
                ignore_until: None,
            },
        )
        .await?;
    for i in &issues {
        state.alerts().issue_status_changed(i).await;
    }
    Ok(issues)
}

/// `POST /api/v1/projects/{id}/issues/bulk`: `{"ids": [..], "status": ..}`
/// changes the status of several issues at once, all or none.
pub async fn bulk(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(id): Path<i64>,
    body: Result<Json<BulkChange>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(b) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let status = IssueStatus::parse(&b.status).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "unknown status `{}`: use unresolved, resolved, resolved_in_next_release or ignored",
            b.status
        ))
    })?;
    let items = bulk_set_status(&state, &auth.access, id, b.ids, status).await?;
    Ok(Json(json!({ "items": items })))
}
