//! The slice of Sentry's web API (`/api/0/…`) that `sentry-cli releases`
//! calls, so CI pipelines can register releases, commits and deploys with
//! the real `sentry-cli`. Authenticated with Lookout API tokens.
//!
//! Lookout has no organisations: any `{org}` slug is accepted. Releases are
//! per project, as everywhere in Lookout; an org-level release call applies
//! to every project that has a release with that version (or to the
//! projects named in the body). Wire details: `docs/dev/sentry-cli-protocol.md`.

use crate::access::Access;
use crate::auth::ApiAuth;
use crate::error::ApiError;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use lookout_model::Project;
use lookout_model::errors::{Commit, Release};
use lookout_storage::{NewDeploy, ReleaseUpdate};
use serde::Deserialize;
use serde_json::{Value, json};

fn not_found() -> ApiError {
    ApiError::NotFound("The requested resource does not exist".into())
}

fn validate_version(v: &str) -> Result<(), ApiError> {
    if v.trim().is_empty() || v.len() > 250 || v.contains('/') || v == "." || v == ".." {
        return Err(ApiError::BadRequest(format!(
            "invalid release version `{v}`: it must be 1-250 characters without `/`"
        )));
    }
    Ok(())
}

fn release_json(p: &Project, r: &Release) -> Value {
    json!({
        "id": r.id,
        "version": r.version,
        "shortVersion": r.version,
        "ref": r.git_ref,
        "url": r.url,
        "status": "open",
        "dateCreated": r.created_at,
        "dateReleased": r.date_released,
        "firstEvent": r.first_seen,
        "lastEvent": r.last_seen,
        "newGroups": r.new_issues,
        "commitCount": r.commit_count,
        "lastCommit": null,
        "deployCount": r.deploys.len(),
        "lastDeploy": r.deploys.first().map(deploy_json),
        "authors": [],
        "owner": null,
        "data": {},
        "projects": [{"id": p.id, "slug": p.slug, "name": p.name}],
    })
}

fn deploy_json(d: &lookout_model::errors::Deploy) -> Value {
    json!({
        "id": d.id.to_string(),
        "environment": d.environment,
        "name": d.name,
        "url": d.url,
        "dateStarted": d.date_started,
        "dateFinished": d.date_finished,
    })
}

/// Projects named by slug or numeric id that the caller may read; a
/// project they may not read is reported like an unknown one.
async fn resolve_projects(
    state: &AppState,
    access: &Access,
    names: &[Value],
) -> Result<Vec<Project>, ApiError> {
    let mut out = Vec::new();
    for n in names {
        let found = match n {
            Value::String(s) => match s.parse::<i64>() {
                Ok(id) => state.store().get_project(id).await?,
                Err(_) => state.store().find_project_by_slug(s).await?,
            },
            Value::Number(id) => match id.as_i64() {
                Some(id) => state.store().get_project(id).await?,
                None => None,
            },
            _ => None,
        };
        let found = match found {
            Some(p) if access.role(state, p.id).await?.is_some() => Some(p),
            _ => None,
        };
        match found {
            Some(p) => out.push(p),
            None => {
                return Err(ApiError::BadRequest(format!(
                    "Invalid project slugs: {n} is not a Lookout project"
                )));
            }
        }
    }
    Ok(out)
}

/// Every project that has release `version`, with the release.
async fn releases_named(
    state: &AppState,
    access: &Access,
    version: &str,
) -> Result<Vec<(Project, Release)>, ApiError> {
    let mut out = Vec::new();
    for (p, _) in access.projects(state).await? {
        if let Some(r) = state.store().get_release(p.id, version).await? {
            out.push((p, r));
        }
    }
    Ok(out)
}

/// `GET /api/0/`: token check used by `sentry-cli info`.
pub async fn root(auth: ApiAuth) -> Json<Value> {
    let scopes = match auth.token.scope {
        lookout_model::TokenScope::Read => vec!["project:read", "org:read"],
        lookout_model::TokenScope::ReadWrite => {
            vec!["project:read", "project:releases", "org:read"]
        }
    };
    Json(json!({"version": "0", "auth": {"scopes": scopes}, "user": null}))
}

/// Body of the release create call.
#[derive(Debug, Deserialize)]
pub struct CreateRelease {
    version: String,
    #[serde(default)]
    projects: Vec<Value>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default, rename = "ref")]
    git_ref: Option<String>,
    #[serde(default, rename = "dateReleased")]
    date_released: Option<DateTime<Utc>>,
}

fn json_body<T>(
    body: Result<Json<T>, axum::extract::rejection::JsonRejection>,
) -> Result<T, ApiError> {
    body.map(|Json(b)| b)
        .map_err(|e| ApiError::BadRequest(e.body_text()))
}

/// `POST /api/0/organizations/{org}/releases/`: create, or 208 when it
/// already exists (sentry-cli treats 409 as failure).
pub async fn create_release(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(_org): Path<String>,
    body: Result<Json<CreateRelease>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let b = json_body(body)?;
    validate_version(&b.version)?;
    if b.projects.is_empty() {
        return Err(ApiError::BadRequest(
            "projects: name at least one project (sentry-cli: --project or SENTRY_PROJECT)".into(),
        ));
    }
    let projects = resolve_projects(&state, &auth.access, &b.projects).await?;
    for p in &projects {
        auth.access.write_project(&state, p.id).await?;
    }
    let mut first = None;
    let mut any_created = false;
    for p in &projects {
        let existing = state.store().get_release(p.id, &b.version).await?;
        let update = if existing.is_some() {
            // Like Sentry: an existing release keeps its fields.
            ReleaseUpdate::default()
        } else {
            ReleaseUpdate {
                git_ref: b.git_ref.clone(),
                url: b.url.clone(),
                date_released: b.date_released,
                commits: None,
            }
        };
        let (r, created) = state
            .store()
            .upsert_release(p.id, &b.version, update)
            .await?;
        any_created |= created;
        first.get_or_insert((p.clone(), r));
    }
    let (p, r) = first.ok_or_else(not_found)?;
    let status = if any_created {
        StatusCode::CREATED
    } else {
        StatusCode::ALREADY_REPORTED
    };
    Ok((status, Json(release_json(&p, &r))).into_response())
}

/// `GET /api/0/organizations/{org}/repos/`: Lookout has no repository
/// integrations, which makes `set-commits --auto` upload local git history.
pub async fn list_repos(_auth: ApiAuth, Path(_org): Path<String>) -> Json<Value> {
    Json(json!([]))
}

/// `GET …/releases/{version}/previous-with-commits/`: always `{}`, so
/// `set-commits` never fails on a shallow clone (each release gets up to
/// the last 20 commits).
pub async fn previous_with_commits(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path((_org, version)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    if releases_named(&state, &auth.access, &version)
        .await?
        .is_empty()
    {
        return Err(not_found());
    }
    Ok(Json(json!({})))
}

/// Body of the release update call.
#[derive(Debug, Deserialize)]
pub struct UpdateRelease {
    #[serde(default)]
    projects: Vec<Value>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default, rename = "ref")]
    git_ref: Option<String>,
    #[serde(default, rename = "dateReleased")]
    date_released: Option<DateTime<Utc>>,
    #[serde(default)]
    commits: Option<Vec<CommitIn>>,
}

/// A commit as sentry-cli uploads it.
#[derive(Debug, Deserialize)]
pub struct CommitIn {
    id: String,
    #[serde(default)]
    repository: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    author_name: Option<String>,
    #[serde(default)]
    author_email: Option<String>,
    #[serde(default)]
    timestamp: Option<String>,
}

/// `PUT /api/0/organizations/{org}/releases/{version}/`: commits
/// (replacing the list), `dateReleased` (finalize), `url`, `ref`.
pub async fn update_release(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path((_org, version)): Path<(String, String)>,
    body: Result<Json<UpdateRelease>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let b = json_body(body)?;
    validate_version(&version)?;
    let mut targets: Vec<Project> = releases_named(&state, &auth.access, &version)
        .await?
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    // Projects named in the body are attached too (idempotently).
    for p in resolve_projects(&state, &auth.access, &b.projects)
        .await
        .unwrap_or_default()
    {
        if !targets.iter().any(|t| t.id == p.id) {
            targets.push(p);
        }
    }
    if targets.is_empty() {
        return Err(not_found());
    }
    for p in &targets {
        auth.access.write_project(&state, p.id).await?;
    }
    let commits: Option<Vec<Commit>> = b.commits.map(|cs| {
        cs.into_iter()
            .filter(|c| !c.id.is_empty())
            .take(10_000)
            .map(|c| Commit {
                id: c.id,
                repository: c.repository,
                message: c.message.map(|m| m.chars().take(10_000).collect()),
                author_name: c.author_name,
                author_email: c.author_email,
                timestamp: c.timestamp,
            })
            .collect()
    });
    let mut first = None;
    for p in targets {
        let (r, _) = state
            .store()
            .upsert_release(
                p.id,
                &version,
                ReleaseUpdate {
                    git_ref: b.git_ref.clone(),
                    url: b.url.clone(),
                    date_released: b.date_released,
                    commits: commits.clone(),
                },
            )
            .await?;
        first.get_or_insert((p, r));
    }
    let (p, r) = first.ok_or_else(not_found)?;
    Ok(Json(release_json(&p, &r)))
}

/// `GET /api/0/organizations/{org}/releases/{version}/`.
pub async fn get_release(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path((_org, version)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let (p, r) = releases_named(&state, &auth.access, &version)
        .await?
        .into_iter()
        .next()
        .ok_or_else(not_found)?;
    Ok(Json(release_json(&p, &r)))
}

/// Body of the deploy create call.
#[derive(Debug, Deserialize)]
pub struct CreateDeploy {
    environment: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default, rename = "dateStarted")]
    date_started: Option<DateTime<Utc>>,
    #[serde(default, rename = "dateFinished")]
    date_finished: Option<DateTime<Utc>>,
}

/// `POST /api/0/organizations/{org}/releases/{version}/deploys/`.
pub async fn create_deploy(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path((_org, version)): Path<(String, String)>,
    body: Result<Json<CreateDeploy>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let b = json_body(body)?;
    if b.environment.trim().is_empty() || b.environment.len() > 64 {
        return Err(ApiError::BadRequest(
            "environment must be 1-64 characters".into(),
        ));
    }
    let targets = releases_named(&state, &auth.access, &version).await?;
    if targets.is_empty() {
        return Err(not_found());
    }
    for (p, _) in &targets {
        auth.access.write_project(&state, p.id).await?;
    }
    let mut first = None;
    for (p, _) in targets {
        let d = state
            .store()
            .add_deploy(
                p.id,
                &version,
                NewDeploy {
                    environment: b.environment.clone(),
                    name: b.name.clone(),
                    url: b.url.clone(),
                    date_started: b.date_started,
                    date_finished: b.date_finished.unwrap_or_else(Utc::now),
                },
            )
            .await?;
        first.get_or_insert(d);
    }
    let d = first.ok_or_else(not_found)?;
    Ok((StatusCode::CREATED, Json(deploy_json(&d))).into_response())
}

/// `GET /api/0/organizations/{org}/releases/{version}/deploys/`.
pub async fn list_deploys(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path((_org, version)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let (_, r) = releases_named(&state, &auth.access, &version)
        .await?
        .into_iter()
        .next()
        .ok_or_else(not_found)?;
    Ok(Json(Value::Array(
        r.deploys.iter().map(deploy_json).collect(),
    )))
}

/// `GET /api/0/projects/{org}/{project}/releases/`.
pub async fn project_releases(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path((_org, project)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let p = resolve_projects(&state, &auth.access, &[Value::String(project)])
        .await
        .map_err(|_| not_found())?
        .into_iter()
        .next()
        .ok_or_else(not_found)?;
    let items: Vec<Value> = state
        .store()
        .list_releases(p.id)
        .await?
        .iter()
        .map(|r| release_json(&p, r))
        .collect();
    Ok(Json(Value::Array(items)))
}
