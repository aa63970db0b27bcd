//! The JSON API under `/api/v1`, authenticated with API tokens.

use crate::auth::ApiAuth;
use crate::error::ApiError;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

/// `GET /api/v1/projects`: every project with its DSNs.
pub async fn list_projects(
    State(state): State<AppState>,
    _auth: ApiAuth,
) -> Result<Json<Value>, ApiError> {
    let public_url = state.config().public_url();
    let mut items = Vec::new();
    for p in state.store().list_projects().await? {
        let keys = state.store().project_keys(p.id).await?;
        let dsns: Vec<String> = keys
            .iter()
            .filter(|k| k.revoked_at.is_none())
            .map(|k| k.dsn(&public_url))
            .collect();
        items.push(json!({
            "id": p.id, "slug": p.slug, "name": p.name,
            "created_at": p.created_at, "dsn": dsns.first(), "dsns": dsns,
        }));
    }
    Ok(Json(json!({ "items": items })))
}
