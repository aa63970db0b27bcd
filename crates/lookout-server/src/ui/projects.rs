//! The projects list and project administration.

use super::layout;
use super::session::Viewer;
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use lookout_storage::NewProject;
use maud::html;
use serde::Deserialize;

use super::common::*;
use crate::ui::posted::Posted;

// ---------------------------------------------------------------------------
// Projects.

/// `GET /projects`.
pub async fn projects(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(done): Query<Done>,
) -> Page {
    let projects = viewer
        .access()
        .projects(&state)
        .await
        .map_err(|e| error_page(&viewer, e))?;
    let public_url = state.config().public_url();
    let mut rows = Vec::new();
    for (p, _) in projects {
        let keys = state
            .store()
            .project_keys(p.id)
            .await
            .map_err(server_error)?;
        let dsn = keys
            .iter()
            .find(|k| k.revoked_at.is_none())
            .map(|k| k.dsn(&public_url));
        rows.push((p, dsn));
    }
    let body = html! {
        h1 { "Projects" }
        (notice(done.done.as_deref(), &[("project-deleted", "Project deleted.")]))
        @if rows.is_empty() {
            div.empty-state { "No projects yet. Create one below, then point your Sentry SDK at its DSN." }
        } @else {
            table #projects {
                thead { tr { th { "Project" } th.optional { "DSN" } } }
                tbody {
                    @for (p, dsn) in &rows {
                        tr {
                            td { a.project-link href={ "/projects/" (p.id) } { (p.name) } }
                            td.optional { code { (dsn.as_deref().unwrap_or("no active key")) } }
                        }
                    }
                }
            }
        }
        @if viewer.user.is_admin {
            h2 { "New project" }
            form #new-project .filters method="post" action="/projects" {
                input type="hidden" name="csrf_token" value=(viewer.session.csrf_token);
                input type="text" name="name" required maxlength="100" placeholder="Project name";
                button type="submit" { "Create project" }
            }
        }
    };
    Ok(html_page(
        StatusCode::OK,
        layout("Projects", Some(&viewer), body),
    ))
}

/// The new-project form.
#[derive(Debug, Deserialize)]
pub struct NewProjectForm {
    name: String,
    #[serde(default)]
    csrf_token: String,
}

/// `POST /projects` (admins).
pub async fn create_project(
    State(state): State<AppState>,
    Posted { viewer, form: f }: Posted<NewProjectForm>,
) -> Response {
    if !viewer.user.is_admin {
        return html_page(
            StatusCode::FORBIDDEN,
            layout(
                "Forbidden",
                Some(&viewer),
                html! { h1 { "Only administrators create projects" } },
            ),
        );
    }
    let name = f.name.trim();
    if name.is_empty() || name.len() > 100 {
        return Redirect::to("/projects").into_response();
    }
    match state
        .store()
        .create_project(NewProject { name: name.into() })
        .await
    {
        Ok((p, _)) => Redirect::to(&format!("/projects/{}", p.id)).into_response(),
        Err(e) => server_error(e),
    }
}

crate::ui::posted::csrf_token_field!(NewProjectForm);
