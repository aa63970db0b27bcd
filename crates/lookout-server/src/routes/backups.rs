//! `/api/v1/backups`: list, create now, verify, download. Administrators
//! only (see [`require_admin`]). The web UI builds on these.

use crate::auth::ApiAuth;
use crate::error::ApiError;
use crate::ops::{BackupRunError, run_backup};
use crate::state::AppState;
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use lookout_backup::{BackupError, Listed, Trigger};
use serde_json::{Value, json};

/// Allows install-wide tokens (no owner, made with `lookout token create`)
/// and tokens of administrators; refuses the rest. (Read tokens are
/// already refused on POST by the extractor.)
pub async fn require_admin(_state: &AppState, auth: &ApiAuth) -> Result<(), ApiError> {
    if auth.access.is_admin() {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "backups need an administrator's token or an install-wide token".into(),
        ))
    }
}

fn backup_error(e: BackupError) -> ApiError {
    match e {
        BackupError::NotFound { name, .. } => {
            ApiError::NotFound(format!("no backup named `{name}`"))
        }
        e @ BackupError::InvalidName(_) => ApiError::BadRequest(e.to_string()),
        e @ (BackupError::WrongKey { .. } | BackupError::KeyRequired { .. }) => {
            ApiError::Conflict(e.to_string())
        }
        other => ApiError::Internal(other.to_string()),
    }
}

fn item(l: &Listed) -> Value {
    let mut row = l.manifest.summary();
    row.insert(
        "verification".into(),
        json!({
            "state": l.state(),
            "at": l.verification.as_ref().map(|v| v.at),
            "problems": l.verification.as_ref().map(|v| v.problems.clone()).unwrap_or_default(),
        }),
    );
    Value::Object(row)
}

/// Every valid backup, newest first (the API and the admin page).
pub async fn listed(state: &AppState) -> Result<Vec<Listed>, ApiError> {
    let dir = state.backup_dir();
    tokio::task::spawn_blocking(move || lookout_backup::list(&dir))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(backup_error)
}

/// Verifies a backup now, with the keys `[backup]` names (an encrypted
/// backup without one is checked by its hashes only).
pub async fn verify_now(
    state: &AppState,
    name: &str,
) -> Result<lookout_backup::VerifyReport, ApiError> {
    let dir = state.backup_dir();
    let n = name.to_string();
    let cfg = state.config().clone();
    tokio::task::spawn_blocking(move || {
        let keys = crate::ops::backup_keys(&cfg)?;
        lookout_backup::verify_with(&dir, &n, &keys, &lookout_backup::progress::NoProgress)
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?
    .map_err(backup_error)
}

/// Makes a backup now (409 while another one runs).
pub async fn create_now(state: &AppState) -> Result<lookout_backup::Manifest, ApiError> {
    match run_backup(state, Trigger::Api).await {
        Ok(m) => Ok(m),
        Err(BackupRunError::Busy) => Err(ApiError::Conflict(
            "a backup is already running; retry when it has finished".into(),
        )),
        Err(BackupRunError::Failed(m)) => Err(ApiError::Internal(m)),
    }
}

/// `GET /api/v1/backups`: every valid backup, newest first.
pub async fn list(State(state): State<AppState>, auth: ApiAuth) -> Result<Json<Value>, ApiError> {
    require_admin(&state, &auth).await?;
    let items = listed(&state).await?;
    let st = state.ops().backup_status();
    Ok(Json(json!({
        "items": items.iter().map(item).collect::<Vec<_>>(),
        "last_attempt": {
            "at": st.last_attempt_at,
            "ok": st.last_ok,
            "error": st.last_error,
        },
    })))
}

/// `POST /api/v1/backups`: makes a backup now and answers 201 with it
/// once it is complete; 409 while another backup runs.
pub async fn create(State(state): State<AppState>, auth: ApiAuth) -> Result<Response, ApiError> {
    require_admin(&state, &auth).await?;
    let listed = Listed {
        manifest: create_now(&state).await?,
        verification: None,
    };
    Ok((StatusCode::CREATED, Json(item(&listed))).into_response())
}

/// `POST /api/v1/backups/{name}/verify`: verifies now; 200 with
/// `{"ok", "problems", "schema_version", "tables"}` whatever the outcome.
pub async fn verify(
    State(state): State<AppState>,
    Path(name): Path<String>,
    auth: ApiAuth,
) -> Result<Json<Value>, ApiError> {
    require_admin(&state, &auth).await?;
    let r = verify_now(&state, &name).await?;
    Ok(Json(json!({
        "name": name,
        "ok": r.ok(),
        "problems": r.problems,
        "encryption": r.encryption,
        "content_checked": r.content_checked,
        "schema_version": r.schema_version,
        "tables": r.tables.iter().map(|(t, n)| json!({"table": t, "rows": n})).collect::<Vec<_>>(),
    })))
}

/// `GET /api/v1/backups/{name}/download`: the compressed snapshot
/// (`<name>.db.zst`, or `<name>.db.zst.age` when encrypted), streamed; `X-Lookout-Sha256` carries its hash from
/// the manifest.
pub async fn download(
    State(state): State<AppState>,
    Path(name): Path<String>,
    auth: ApiAuth,
) -> Result<Response, ApiError> {
    require_admin(&state, &auth).await?;
    file_response(&state, &name).await
}

/// A backup's compressed snapshot as a streamed download.
pub async fn file_response(state: &AppState, name: &str) -> Result<Response, ApiError> {
    let dir = state.backup_dir();
    let m = lookout_backup::manifest(&dir, name).map_err(backup_error)?;
    let entry = m
        .files
        .first()
        .ok_or_else(|| ApiError::Internal(format!("backup {name} lists no file")))?;
    let path = dir.join(&entry.name);
    let file = tokio::fs::File::open(&path)
        .await
        .map_err(|e| ApiError::Internal(format!("{}: {e}", path.display())))?;
    let stream = futures_util::stream::unfold(file, |mut f| async move {
        use tokio::io::AsyncReadExt;
        let mut buf = vec![0u8; 256 * 1024];
        match f.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(bytes::Bytes::from(buf)), f))
            }
            Err(e) => Some((Err(e), f)),
        }
    });
    let mut resp = Body::from_stream(stream).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(if m.encryption.is_some() {
            "application/octet-stream"
        } else {
            "application/zstd"
        }),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(entry.size));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{}\"", entry.name)) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    if let Ok(v) = HeaderValue::from_str(&entry.sha256) {
        h.insert("x-lookout-sha256", v);
    }
    Ok(resp)
}

/// Query of the system event list.
#[derive(Debug, serde::Deserialize)]
pub struct EventParams {
    limit: Option<usize>,
}

/// `GET /api/v1/system-events?limit=N`: the newest system events (backup
/// results, integrity failures, recoveries), newest first.
pub async fn system_events(
    State(state): State<AppState>,
    axum::extract::Query(q): axum::extract::Query<EventParams>,
    auth: ApiAuth,
) -> Result<Json<Value>, ApiError> {
    require_admin(&state, &auth).await?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let items = state.store().list_system_events(limit).await?;
    Ok(Json(json!({ "items": items })))
}
