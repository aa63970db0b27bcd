//! Project settings: name, DSN keys and setup snippets, inbound filters,
//! rate limit and retention, members, and deletion.
//!
//! Everyone who can read the project sees the page (the DSN is what they
//! need to set an app up); members and administrators change the settings
//! and keys; only administrators manage members and delete the project.

use super::common::*;
use super::session::Viewer;
use super::{ProjectTab, layout, project_nav, relative_time};
use crate::access::Role;
use crate::state::AppState;
use crate::ui::posted::Posted;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use lookout_model::settings::{InboundFilters, ProjectSettings};
use lookout_model::{Project, ProjectKey, ProjectRole};
use maud::{Markup, html};
use serde::Deserialize;

const NOTICES: &[(&str, &str)] = &[
    ("renamed", "Project renamed."),
    ("key-created", "New DSN key created."),
    (
        "key-revoked",
        "Key revoked. SDKs using it are refused within 10 seconds.",
    ),
    (
        "key-rotated",
        "Key rotated: the old key is revoked; update your apps to the new DSN.",
    ),
    ("settings-saved", "Settings saved."),
    ("member-saved", "Member saved."),
    ("member-removed", "Member removed."),
];

/// Setup snippets for the SDKs our users run, with the DSN filled in.
pub fn snippets(dsn: &str) -> [(&'static str, &'static str, String); 3] {
    [
        (
            "python",
            "Python",
            format!(
                "pip install sentry-sdk\n\nimport sentry_sdk\nsentry_sdk.init(\n    dsn=\"{dsn}\",\n    release=\"my-app@1.0.0\",\n    environment=\"production\",\n)"
            ),
        ),
        (
            "javascript",
            "JavaScript",
            format!(
                "npm install @sentry/node   # or @sentry/browser\n\nimport * as Sentry from \"@sentry/node\";\nSentry.init({{\n  dsn: \"{dsn}\",\n  release: \"my-app@1.0.0\",\n  environment: \"production\",\n}});"
            ),
        ),
        (
            "rust",
            "Rust",
            format!(
                "# Cargo.toml: sentry = \"0.34\"\n\nlet _guard = sentry::init((\n    \"{dsn}\",\n    sentry::ClientOptions {{\n        release: sentry::release_name!(),\n        environment: Some(\"production\".into()),\n        ..Default::default()\n    }},\n));"
            ),
        ),
    ]
}

fn lines(v: &[String]) -> String {
    v.join("\n")
}

fn parse_lines(s: &str) -> Vec<String> {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

fn key_row(
    viewer: &Viewer,
    p: &Project,
    k: &ProjectKey,
    public_url: &str,
    can_edit: bool,
) -> Markup {
    let csrf = &viewer.session.csrf_token;
    html! {
        tr.key-row {
            td.key-label { (k.label) }
            td { code.dsn { (k.dsn(public_url)) } }
            td.optional { (relative_time(k.created_at)) }
            td {
                @match k.revoked_at {
                    Some(t) => { span.badge.ignored { "revoked" } " " (relative_time(t)) }
                    None => {
                        span.badge.resolved { "active" }
                        @if can_edit {
                            form.inline method="post" action={ "/projects/" (p.id) "/keys/" (k.id) "/rotate" } {
                                input type="hidden" name="csrf_token" value=(csrf);
                                button.secondary.rotate-key type="submit" { "Rotate" }
                            }
                            form.inline method="post" action={ "/projects/" (p.id) "/keys/" (k.id) "/revoke" } {
                                input type="hidden" name="csrf_token" value=(csrf);
                                button.secondary.revoke-key type="submit" { "Revoke" }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `GET /projects/{id}/settings`.
pub async fn settings_page(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Query(done): Query<Done>,
) -> Page {
    let err = |e| error_page(&viewer, e);
    let (project, role) = viewer
        .access()
        .read_project(&state, id)
        .await
        .map_err(err)?;
    let store = state.store();
    let keys = store.project_keys(id).await.map_err(server_error)?;
    let settings = store.project_settings(id).await.map_err(server_error)?;
    let members = store.project_members(id).await.map_err(server_error)?;
    let users = if role == Role::Admin {
        store.list_users().await.map_err(server_error)?
    } else {
        vec![]
    };
    let public_url = state.config().public_url();
    let dsn = keys
        .iter()
        .find(|k| k.revoked_at.is_none())
        .map(|k| k.dsn(&public_url));
    let can_edit = role >= Role::Member;
    let is_admin = role == Role::Admin;
    let csrf = &viewer.session.csrf_token;
    let f = &settings.filters;
    let body = html! {
        (project_nav(&project, ProjectTab::Settings))
        (notice(done.done.as_deref(), NOTICES))
        @if !can_edit { p #read-only .muted { "You have read-only access to this project." } }

        section #general {
            h2 { "General" }
            p { "Slug: " code { (project.slug) } " · created " (relative_time(project.created_at)) }
            @if can_edit {
                form #rename .filters method="post" action={ "/projects/" (id) "/rename" } {
                    input type="hidden" name="csrf_token" value=(csrf);
                    label for="project-name-input" { "Name" }
                    input #project-name-input type="text" name="name" value=(project.name) required maxlength="100";
                    button type="submit" { "Rename" }
                }
            }
        }

        section #keys {
            h2 { "DSN keys" }
            p.muted { "SDKs authenticate with a key's DSN. Several keys let you rotate without downtime: create a new key, move your apps to it, then revoke the old one. Rotate does both at once." }
            table #key-table {
                thead { tr { th { "Label" } th { "DSN" } th.optional { "Created" } th { "State" } } }
                tbody { @for k in &keys { (key_row(&viewer, &project, k, &public_url, can_edit)) } }
            }
            @if can_edit {
                form #new-key .filters method="post" action={ "/projects/" (id) "/keys" } {
                    input type="hidden" name="csrf_token" value=(csrf);
                    input type="text" name="label" maxlength="100" placeholder="Label, e.g. Backend";
                    button type="submit" { "Create key" }
                }
            }
        }

        section #snippets {
            h2 { "Set up your app" }
            @match &dsn {
                Some(dsn) => {
                    @for (slug, name, code) in snippets(dsn) {
                        details.snippet id={ "snippet-" (slug) } open[slug == "python"] {
                            summary { (name) }
                            pre { code { (code) } }
                        }
                    }
                }
                None => { div.empty-state { "This project has no active key. Create one above to get a DSN." } }
            }
        }

        section #ingest-settings {
            h2 { "Inbound filters, rate limit and retention" }
            form #settings-form method="post" action={ "/projects/" (id) "/settings" } {
                input type="hidden" name="csrf_token" value=(csrf);
                fieldset disabled[!can_edit] {
                    div.field {
                        label for="events_per_minute" { "Events per minute (empty: the server default)" }
                        input #events_per_minute type="number" min="1" name="events_per_minute" value=[settings.events_per_minute];
                    }
                    div.field {
                        label for="retention_days" { "Keep events for (days)" }
                        input #retention_days type="number" min="1" max="3650" required name="retention_days" value=(settings.retention_days);
                    }
                    div.field {
                        label for="max_events" { "Keep at most (events)" }
                        input #max_events type="number" min="1" required name="max_events" value=(settings.max_events);
                    }
                    div.field {
                        label for="exception_types" { "Drop these exception types (one per line)" }
                        textarea #exception_types name="exception_types" rows="3" { (lines(&f.exception_types)) }
                    }
                    div.field {
                        label for="message_patterns" { "Drop messages matching (one pattern per line, * = anything)" }
                        textarea #message_patterns name="message_patterns" rows="3" { (lines(&f.message_patterns)) }
                    }
                    div.field {
                        label for="releases" { "Drop these releases (one per line, * = anything)" }
                        textarea #releases name="releases" rows="2" { (lines(&f.releases)) }
                    }
                    div.field {
                        label for="environments" { "Drop these environments (one per line)" }
                        textarea #environments name="environments" rows="2" { (lines(&f.environments)) }
                    }
                    div.field {
                        label for="allowed_origins" { "Browser origins allowed to send (one per line, * = any)" }
                        textarea #allowed_origins name="allowed_origins" rows="2" { (lines(&settings.allowed_origins)) }
                    }
                    div.field {
                        label for="scrub_keys" { "Extra keys to scrub (one per line)" }
                        textarea #scrub_keys name="scrub_keys" rows="2" { (lines(&settings.scrub_keys)) }
                    }
                    @if can_edit { button type="submit" { "Save settings" } }
                }
            }
        }

        section #members {
            h2 { "Members" }
            p.muted { "Administrators see every project. Members triage and configure this project; viewers only read it." }
            @if members.is_empty() {
                div.empty-state { "No members yet. " @if is_admin { "Add a user below, or invite someone from " a href="/admin/users" { "Users" } "." } }
            } @else {
                table #member-table {
                    thead { tr { th { "User" } th { "Role" } } }
                    tbody {
                        @for m in &members {
                            tr.member-row {
                                td.member-email { (m.email) }
                                td {
                                    @if is_admin {
                                        form.inline method="post" action={ "/projects/" (id) "/members" } {
                                            input type="hidden" name="csrf_token" value=(csrf);
                                            input type="hidden" name="user_id" value=(m.user_id);
                                            select name="role" aria-label="role" {
                                                @for r in ["member", "viewer"] { option value=(r) selected[r == m.role.as_str()] { (r) } }
                                                option value="remove" { "remove" }
                                            }
                                            button.secondary type="submit" { "Save" }
                                        }
                                    } @else { (m.role.as_str()) }
                                }
                            }
                        }
                    }
                }
            }
            @if is_admin {
                @let candidates: Vec<_> = users.iter().filter(|u| !u.is_admin && !members.iter().any(|m| m.user_id == u.id)).collect();
                @if !candidates.is_empty() {
                    form #add-member .filters method="post" action={ "/projects/" (id) "/members" } {
                        input type="hidden" name="csrf_token" value=(csrf);
                        select name="user_id" aria-label="user" {
                            @for u in &candidates { option value=(u.id) { (u.email) } }
                        }
                        select name="role" aria-label="role" {
                            option value="member" { "member" }
                            option value="viewer" { "viewer" }
                        }
                        button type="submit" { "Add member" }
                    }
                }
            }
        }

        @if is_admin {
            section #danger .card {
                h2 { "Delete project" }
                p { "Deletes the project with all its issues, events, releases and keys. This cannot be undone (backups aside)." }
                form #delete-project .filters method="post" action={ "/projects/" (id) "/delete" } {
                    input type="hidden" name="csrf_token" value=(csrf);
                    label for="confirm-slug" { "Type " code { (project.slug) } " to confirm" }
                    input #confirm-slug type="text" name="confirm" required autocomplete="off";
                    button.danger type="submit" { "Delete project" }
                }
            }
        }
    };
    Ok(html_page(
        StatusCode::OK,
        layout(&format!("{} settings", project.name), Some(&viewer), body),
    ))
}

fn back(id: i64, done: &str) -> Response {
    Redirect::to(&format!("/projects/{id}/settings?done={done}")).into_response()
}

/// The rename form.
#[derive(Debug, Deserialize)]
pub struct RenameForm {
    #[serde(default)]
    csrf_token: String,
    name: String,
}

/// `POST /projects/{id}/rename` (members).
pub async fn rename(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted { viewer, form: f }: Posted<RenameForm>,
) -> Response {
    if let Err(e) = viewer.access().write_project(&state, id).await {
        return error_page(&viewer, e);
    }
    match state.store().rename_project(id, &f.name).await {
        Ok(_) => back(id, "renamed"),
        Err(e) => error_page(&viewer, e.into()),
    }
}

/// The new-key form.
#[derive(Debug, Deserialize)]
pub struct KeyForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    label: String,
}

/// `POST /projects/{id}/keys` (members).
pub async fn create_key(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted { viewer, form: f }: Posted<KeyForm>,
) -> Response {
    if let Err(e) = viewer.access().write_project(&state, id).await {
        return error_page(&viewer, e);
    }
    match state.store().create_project_key(id, &f.label).await {
        Ok(_) => {
            // A key tried before it existed is cached as unknown.
            state.ingestor().projects().invalidate_keys();
            back(id, "key-created")
        }
        Err(e) => error_page(&viewer, e.into()),
    }
}

/// `POST /projects/{id}/keys/{key}/revoke` (members).
pub async fn revoke_key(
    State(state): State<AppState>,
    Path((id, key)): Path<(i64, i64)>,
    Posted { viewer, .. }: Posted<CsrfForm>,
) -> Response {
    key_change(state, viewer, id, key, false).await
}

/// `POST /projects/{id}/keys/{key}/rotate` (members): a new key with the
/// same label, and the old one revoked.
pub async fn rotate_key(
    State(state): State<AppState>,
    Path((id, key)): Path<(i64, i64)>,
    Posted { viewer, .. }: Posted<CsrfForm>,
) -> Response {
    key_change(state, viewer, id, key, true).await
}

async fn key_change(state: AppState, viewer: Viewer, id: i64, key: i64, rotate: bool) -> Response {
    if let Err(e) = viewer.access().write_project(&state, id).await {
        return error_page(&viewer, e);
    }
    let store = state.store();
    let old = match store.project_keys(id).await {
        Ok(keys) => keys.into_iter().find(|k| k.id == key),
        Err(e) => return server_error(e),
    };
    let Some(old) = old else {
        return error_page(
            &viewer,
            crate::ApiError::NotFound(format!("key {key} not found in this project")),
        );
    };
    if rotate && let Err(e) = store.create_project_key(id, &old.label).await {
        return server_error(e);
    }
    if let Err(e) = store.revoke_project_key(id, key).await {
        return server_error(e);
    }
    state.ingestor().projects().invalidate_keys();
    back(id, if rotate { "key-rotated" } else { "key-revoked" })
}

/// The settings form: one line per list entry.
#[derive(Debug, Deserialize)]
pub struct SettingsForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    events_per_minute: String,
    retention_days: String,
    max_events: String,
    #[serde(default)]
    exception_types: String,
    #[serde(default)]
    message_patterns: String,
    #[serde(default)]
    releases: String,
    #[serde(default)]
    environments: String,
    #[serde(default)]
    allowed_origins: String,
    #[serde(default)]
    scrub_keys: String,
}

impl SettingsForm {
    fn to_settings(&self) -> Result<ProjectSettings, String> {
        let number = |name: &str, v: &str| -> Result<u64, String> {
            v.trim()
                .parse::<u64>()
                .map_err(|_| format!("{name} must be a whole number, not `{}`", v.trim()))
        };
        let epm = match self.events_per_minute.trim() {
            "" => None,
            v => Some(
                u32::try_from(number("events per minute", v)?)
                    .map_err(|_| "events per minute is too large".to_string())?,
            ),
        };
        if epm == Some(0) {
            return Err(
                "events per minute must be at least 1 (leave it empty for the default)".into(),
            );
        }
        let s = ProjectSettings {
            events_per_minute: epm,
            retention_days: u32::try_from(number("retention days", &self.retention_days)?)
                .map_err(|_| "retention days is too large".to_string())?,
            max_events: number("max events", &self.max_events)?,
            allowed_origins: parse_lines(&self.allowed_origins),
            filters: InboundFilters {
                exception_types: parse_lines(&self.exception_types),
                message_patterns: parse_lines(&self.message_patterns),
                releases: parse_lines(&self.releases),
                environments: parse_lines(&self.environments),
            },
            scrub_keys: parse_lines(&self.scrub_keys),
        };
        s.validate()?;
        Ok(s)
    }
}

/// `POST /projects/{id}/settings` (members).
pub async fn save_settings(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted { viewer, form: f }: Posted<SettingsForm>,
) -> Response {
    if let Err(e) = viewer.access().write_project(&state, id).await {
        return error_page(&viewer, e);
    }
    let s = match f.to_settings() {
        Ok(s) => s,
        Err(m) => return error_page(&viewer, crate::ApiError::BadRequest(m)),
    };
    if let Err(e) = state.store().set_project_settings(id, s).await {
        return server_error(e);
    }
    state.ingestor().projects().invalidate_settings(id);
    back(id, "settings-saved")
}

/// The member form: a role, or `remove`.
#[derive(Debug, Deserialize)]
pub struct MemberForm {
    #[serde(default)]
    csrf_token: String,
    user_id: i64,
    role: String,
}

/// `POST /projects/{id}/members` (administrators).
pub async fn set_member(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted { viewer, form: f }: Posted<MemberForm>,
) -> Response {
    if let Err(e) = viewer.access().admin_project(&state, id).await {
        return error_page(&viewer, e);
    }
    let role = match f.role.as_str() {
        "remove" => None,
        r => match ProjectRole::parse(r) {
            Some(r) => Some(r),
            None => {
                return error_page(
                    &viewer,
                    crate::ApiError::BadRequest(format!(
                        "unknown role `{r}`: use member or viewer"
                    )),
                );
            }
        },
    };
    match state.store().set_project_role(id, f.user_id, role).await {
        Ok(()) => back(
            id,
            if role.is_some() {
                "member-saved"
            } else {
                "member-removed"
            },
        ),
        Err(e) => error_page(&viewer, e.into()),
    }
}

/// The delete form: the slug, typed.
#[derive(Debug, Deserialize)]
pub struct DeleteForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    confirm: String,
}

/// `POST /projects/{id}/delete` (administrators; the slug must be typed).
pub async fn delete(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted { viewer, form: f }: Posted<DeleteForm>,
) -> Response {
    let project = match viewer.access().admin_project(&state, id).await {
        Ok(p) => p,
        Err(e) => return error_page(&viewer, e),
    };
    if f.confirm.trim() != project.slug {
        return error_page(
            &viewer,
            crate::ApiError::BadRequest(format!(
                "to delete the project, type its slug `{}` exactly",
                project.slug
            )),
        );
    }
    // On a task of its own: a big project takes a while, and a browser
    // that gives up must not leave it half deleted.
    let st = state.clone();
    let deleted = tokio::spawn(async move {
        let r = st.store().delete_project(id).await;
        st.ingestor().projects().invalidate_keys();
        r
    })
    .await
    .unwrap_or_else(|e| {
        Err(lookout_storage::StorageError::Backend(format!(
            "the deletion task failed: {e}"
        )))
    });
    match deleted {
        Ok(_) => {
            tracing::warn!(project = %project.slug, by = %viewer.user.email, "project deleted");
            Redirect::to("/projects?done=project-deleted").into_response()
        }
        Err(e) => server_error(e),
    }
}

crate::ui::posted::csrf_token_field!(DeleteForm, KeyForm, MemberForm, RenameForm, SettingsForm);

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> SettingsForm {
        SettingsForm {
            csrf_token: String::new(),
            events_per_minute: "".into(),
            retention_days: "30".into(),
            max_events: "1000".into(),
            exception_types: "KeyboardInterrupt\n\n  SystemExit  \n".into(),
            message_patterns: String::new(),
            releases: String::new(),
            environments: "staging".into(),
            allowed_origins: "*".into(),
            scrub_keys: String::new(),
        }
    }

    #[test]
    fn the_settings_form_becomes_settings() {
        let s = form().to_settings().unwrap();
        assert_eq!(s.events_per_minute, None);
        assert_eq!(s.retention_days, 30);
        assert_eq!(
            s.filters.exception_types,
            vec!["KeyboardInterrupt".to_string(), "SystemExit".to_string()]
        );
        assert_eq!(s.filters.environments, vec!["staging".to_string()]);
    }

    #[test]
    fn bad_settings_are_named() {
        let mut f = form();
        f.retention_days = "soon".into();
        assert!(f.to_settings().unwrap_err().contains("retention days"));
        let mut f = form();
        f.events_per_minute = "0".into();
        assert!(f.to_settings().unwrap_err().contains("events per minute"));
        let mut f = form();
        f.allowed_origins = "example.com".into();
        assert!(f.to_settings().unwrap_err().contains("allowed_origins"));
        let mut f = form();
        f.retention_days = "0".into();
        assert!(f.to_settings().is_err());
    }

    #[test]
    fn snippets_carry_the_dsn() {
        for (_, _, code) in snippets("http://k@h:1/7") {
            assert!(code.contains("http://k@h:1/7"), "{code}");
        }
    }
}
