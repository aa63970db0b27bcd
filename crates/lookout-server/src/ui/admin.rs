//! Administration of users and invitations, and accepting an invitation.
//!
//! An invitation is a link with a random secret (only its SHA-256 is
//! stored) that lets one person create an account with a given e-mail,
//! administrator flag and project roles. It works once, for
//! [`INVITATION_DAYS`] days, and is e-mailed when SMTP is configured.

use super::common::*;
use super::login::start_session;
use super::session::{CSRF_COOKIE, Viewer, cookie, random_secret};
use super::{layout, relative_time};
use crate::auth::token_hash;
use crate::state::AppState;
use crate::ui::posted::{Pairs, Posted};
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use lookout_model::{Invitation, Project, ProjectRole};
use lookout_storage::NewInvitation;
use maud::{Markup, html};
use serde::Deserialize;
use std::collections::HashMap;

/// How long an invitation link works.
pub const INVITATION_DAYS: i64 = 7;

const NOTICES: &[(&str, &str)] = &[
    ("admin-changed", "Administrator rights changed."),
    ("user-deleted", "User deleted."),
    ("invitation-revoked", "Invitation revoked."),
];

/// The refusal page for a non-administrator, if the viewer is one.
fn refuse_unless_admin(viewer: &Viewer) -> Option<Response> {
    viewer
        .access()
        .require_admin()
        .err()
        .map(|e| error_page(viewer, e))
}

fn project_names(projects: &[Project], ids: &[(i64, ProjectRole)]) -> Markup {
    html! {
        @for (i, (pid, role)) in ids.iter().enumerate() {
            @if i > 0 { ", " }
            (projects.iter().find(|p| p.id == *pid).map(|p| p.name.as_str()).unwrap_or("?")) " (" (role.as_str()) ")"
        }
    }
}

/// `GET /admin/users`.
pub async fn users(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(done): Query<Done>,
) -> Page {
    if let Some(r) = refuse_unless_admin(&viewer) {
        return Err(r);
    }
    let store = state.store();
    let users = store.list_users().await.map_err(server_error)?;
    let projects = store.list_projects().await.map_err(server_error)?;
    let invitations = store
        .pending_invitations(chrono::Utc::now())
        .await
        .map_err(server_error)?;
    let mut memberships: HashMap<i64, Vec<(i64, ProjectRole)>> = HashMap::new();
    for u in users.iter().filter(|u| !u.is_admin) {
        let m = store.user_memberships(u.id).await.map_err(server_error)?;
        memberships.insert(
            u.id,
            m.into_iter().map(|m| (m.project_id, m.role)).collect(),
        );
    }
    let csrf = &viewer.session.csrf_token;
    let body = html! {
        h1 { "Users" }
        (notice(done.done.as_deref(), NOTICES))
        table #user-table {
            thead { tr { th { "E-mail" } th { "Access" } th.optional { "Joined" } th { "" } } }
            tbody {
                @for u in &users {
                    tr.user-row {
                        td.user-email { (u.email) }
                        td.user-access {
                            @if u.is_admin { span.badge.resolved { "admin" } " every project" }
                            @else {
                                @match memberships.get(&u.id) {
                                    Some(m) if !m.is_empty() => { (project_names(&projects, m)) }
                                    _ => { span.muted { "no projects" } }
                                }
                            }
                        }
                        td.optional { (relative_time(u.created_at)) }
                        td {
                            @if u.id != viewer.user.id {
                                form.inline method="post" action={ "/admin/users/" (u.id) "/admin" } {
                                    input type="hidden" name="csrf_token" value=(csrf);
                                    input type="hidden" name="is_admin" value=(if u.is_admin { "false" } else { "true" });
                                    button.secondary.toggle-admin type="submit" { (if u.is_admin { "Remove admin" } else { "Make admin" }) }
                                }
                                form.inline method="post" action={ "/admin/users/" (u.id) "/delete" } {
                                    input type="hidden" name="csrf_token" value=(csrf);
                                    button.danger.delete-user type="submit" { "Delete" }
                                }
                            } @else { span.muted { "you" } }
                        }
                    }
                }
            }
        }
        p.muted { "Project roles are set on each project's Settings page." }

        h2 { "Invitations" }
        @if invitations.is_empty() {
            div.empty-state { "No pending invitations. Invite someone below: they get a link to set their password." }
        } @else {
            table #invitation-table {
                thead { tr { th { "E-mail" } th { "Access" } th.optional { "Expires" } th { "" } } }
                tbody {
                    @for i in &invitations {
                        tr.invitation-row {
                            td { (i.email) }
                            td { @if i.is_admin { "admin" } @else { (project_names(&projects, &i.projects)) } }
                            td.optional { (relative_time_future(i.expires_at)) }
                            td {
                                form.inline method="post" action={ "/admin/invitations/" (i.id) "/revoke" } {
                                    input type="hidden" name="csrf_token" value=(csrf);
                                    button.secondary type="submit" { "Revoke" }
                                }
                            }
                        }
                    }
                }
            }
        }
        h3 { "Invite someone" }
        form #invite-form method="post" action="/admin/invitations" {
            input type="hidden" name="csrf_token" value=(csrf);
            div.field { label for="invite-email" { "E-mail" } input #invite-email type="email" name="email" required maxlength="254"; }
            div.field { label { input #invite-admin type="checkbox" name="is_admin" value="true"; " Administrator (every project, users, settings)" } }
            @if !projects.is_empty() {
                fieldset {
                    legend { "Projects (for non-administrators)" }
                    @for p in &projects {
                        div.field.project-role {
                            label for={ "role-" (p.id) } { (p.name) }
                            select id={ "role-" (p.id) } name={ "project_" (p.id) } {
                                option value="" { "no access" }
                                option value="viewer" { "viewer" }
                                option value="member" { "member" }
                            }
                        }
                    }
                }
            }
            button type="submit" { "Create invitation" }
        }
    };
    Ok(html_page(
        StatusCode::OK,
        layout("Users", Some(&viewer), body),
    ))
}

fn relative_time_future(t: chrono::DateTime<chrono::Utc>) -> Markup {
    let secs = (t - chrono::Utc::now()).num_seconds().max(0);
    let text = match secs {
        s if s < 3600 => format!("in {} min", s / 60),
        s if s < 86_400 => format!("in {} h", s / 3600),
        s => format!("in {} d", s / 86_400),
    };
    html! { time datetime=(t.to_rfc3339()) title=(t.format("%Y-%m-%d %H:%M:%S UTC")) { (text) } }
}

/// `POST /admin/invitations`: the fields, plus `project_<id>` = role.
pub async fn invite(
    State(state): State<AppState>,
    Posted { viewer, form: f }: Posted<Pairs>,
) -> Response {
    if let Some(r) = refuse_unless_admin(&viewer) {
        return r;
    }
    let bad = |m: String| error_page(&viewer, crate::ApiError::BadRequest(m));
    let email = f.get("email").trim().to_string();
    if !email.contains('@') || email.len() > 254 || email.chars().any(char::is_whitespace) {
        return bad("Enter the e-mail address of the person to invite.".into());
    }
    let is_admin = f.get("is_admin") == "true";
    let mut projects = Vec::new();
    for (k, v) in &f.0 {
        let Some(pid) = k.strip_prefix("project_") else {
            continue;
        };
        let Ok(pid) = pid.parse::<i64>() else {
            return bad(format!("`{k}` is not a project field"));
        };
        match v.as_str() {
            "" => {}
            r => match ProjectRole::parse(r) {
                Some(role) if !is_admin => projects.push((pid, role)),
                Some(_) => {}
                None => return bad(format!("unknown role `{r}`: use member or viewer")),
            },
        }
    }
    projects.sort();
    projects.dedup_by_key(|p| p.0);
    let secret = random_secret();
    let inv = state
        .store()
        .create_invitation(NewInvitation {
            email: email.clone(),
            is_admin,
            projects,
            invited_by: Some(viewer.user.id),
            token_hash: token_hash(&secret),
            expires_at: chrono::Utc::now() + chrono::Duration::days(INVITATION_DAYS),
        })
        .await;
    let inv = match inv {
        Ok(i) => i,
        Err(e) => return error_page(&viewer, e.into()),
    };
    let link = format!(
        "{}/invite/{secret}",
        state.config().public_url().trim_end_matches('/')
    );
    let mailed = crate::mail::send_invitation(&state, &inv, &viewer.user.email, &link).await;
    let body = html! {
        h1 { "Invitation created" }
        div.card #invitation-created role="status" {
            p { "Send this link to " strong { (inv.email) } ". It works once, for " (INVITATION_DAYS) " days." }
            pre { code #invitation-link { (link) } }
            @match &mailed {
                MailOutcome::Sent => { p #invitation-mailed { "It was also e-mailed to them." } }
                MailOutcome::NotConfigured => { p.muted { "SMTP is not configured, so it was not e-mailed; copy the link." } }
                MailOutcome::Failed(why) => { p.error #invitation-mail-failed { "E-mailing it failed (" (why) "); copy the link instead." } }
            }
        }
        p { a href="/admin/users" { "← Users" } }
    };
    html_page(
        StatusCode::CREATED,
        layout("Invitation", Some(&viewer), body),
    )
}

/// What happened to an invitation e-mail.
#[derive(Debug)]
pub enum MailOutcome {
    /// The SMTP server accepted it.
    Sent,
    /// No SMTP server is configured.
    NotConfigured,
    /// Sending failed; why.
    Failed(String),
}

/// `POST /admin/invitations/{id}/revoke`.
pub async fn revoke_invitation(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted { viewer, form: _ }: Posted<CsrfForm>,
) -> Response {
    if let Some(r) = refuse_unless_admin(&viewer) {
        return r;
    }
    match state.store().revoke_invitation(id).await {
        Ok(_) => Redirect::to("/admin/users?done=invitation-revoked").into_response(),
        Err(e) => server_error(e),
    }
}

/// The administrator toggle.
#[derive(Debug, Deserialize)]
pub struct AdminForm {
    #[serde(default)]
    csrf_token: String,
    is_admin: bool,
}

/// `POST /admin/users/{id}/admin`.
pub async fn set_admin(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted { viewer, form: f }: Posted<AdminForm>,
) -> Response {
    if let Some(r) = refuse_unless_admin(&viewer) {
        return r;
    }
    match state.store().set_user_admin(id, f.is_admin).await {
        Ok(_) => Redirect::to("/admin/users?done=admin-changed").into_response(),
        Err(e) => error_page(&viewer, e.into()),
    }
}

/// `POST /admin/users/{id}/delete` (not oneself, not the last admin).
pub async fn delete_user(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted { viewer, form: _ }: Posted<CsrfForm>,
) -> Response {
    if let Some(r) = refuse_unless_admin(&viewer) {
        return r;
    }
    if id == viewer.user.id {
        return error_page(
            &viewer,
            crate::ApiError::BadRequest("you cannot delete your own account".into()),
        );
    }
    match state.store().delete_user(id).await {
        Ok(true) => Redirect::to("/admin/users?done=user-deleted").into_response(),
        Ok(false) => error_page(&viewer, crate::ApiError::NotFound(format!("user {id}"))),
        Err(e) => error_page(&viewer, e.into()),
    }
}

fn accept_view(inv: &Invitation, csrf: &str, error: Option<&str>) -> Markup {
    layout(
        "Join Lookout",
        None,
        html! {
            div.narrow {
                h1 { "Join Lookout" }
                p { "You were invited as " strong #invited-email { (inv.email) } "." @if inv.is_admin { " You will be an administrator." } }
                @if let Some(e) = error { p.error role="alert" { (e) } }
                form #accept-form method="post" {
                    input type="hidden" name="csrf_token" value=(csrf);
                    div.field { label for="password" { "Choose a password (at least 10 characters)" } input #password type="password" name="password" required minlength="10" autocomplete="new-password"; }
                    div.field { label for="password_confirm" { "Password again" } input #password_confirm type="password" name="password_confirm" required minlength="10" autocomplete="new-password"; }
                    button type="submit" { "Create my account" }
                }
            }
        },
    )
}

fn invalid_invitation() -> Response {
    html_page(
        StatusCode::NOT_FOUND,
        layout(
            "Invitation",
            None,
            html! { h1 { "This invitation does not work" } p #invitation-invalid { "The link is wrong, was already used, was revoked, or has expired. Ask an administrator for a new one." } },
        ),
    )
}

/// `GET /invite/{secret}`: the accept form (no login needed).
pub async fn accept_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(secret): Path<String>,
) -> Response {
    let inv = match state
        .store()
        .find_invitation(&token_hash(&secret), chrono::Utc::now())
        .await
    {
        Ok(Some(i)) => i,
        Ok(None) => return invalid_invitation(),
        Err(e) => return server_error(e),
    };
    let (csrf, set) = anon_csrf(&state, &headers);
    with_cookie(
        html_page(StatusCode::OK, accept_view(&inv, &csrf, None)),
        set,
    )
}

/// The accept form.
#[derive(Debug, Deserialize)]
pub struct AcceptForm {
    #[serde(default)]
    csrf_token: String,
    password: String,
    password_confirm: String,
}

/// `POST /invite/{secret}`: creates the account and logs it in.
pub async fn accept(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(secret): Path<String>,
    Form(f): Form<AcceptForm>,
) -> Response {
    let expected = cookie(&headers, CSRF_COOKIE).unwrap_or("");
    if expected.is_empty() || !same(expected, &f.csrf_token) {
        return forbidden_csrf();
    }
    let hash = token_hash(&secret);
    let now = chrono::Utc::now();
    let inv = match state.store().find_invitation(&hash, now).await {
        Ok(Some(i)) => i,
        Ok(None) => return invalid_invitation(),
        Err(e) => return server_error(e),
    };
    if let Some(p) = password_problem(&f.password, &f.password_confirm) {
        return html_page(
            StatusCode::BAD_REQUEST,
            accept_view(&inv, &f.csrf_token, Some(p)),
        );
    }
    let password_hash = match hash_in_background(&f.password).await {
        Ok(h) => h,
        Err(r) => return r,
    };
    match state
        .store()
        .accept_invitation(&hash, password_hash, now)
        .await
    {
        Ok(user) => {
            tracing::info!(user = %user.email, "invitation accepted");
            start_session(&state, user.id, "/projects").await
        }
        Err(lookout_storage::StorageError::NotFound(_)) => invalid_invitation(),
        Err(lookout_storage::StorageError::Conflict(m)) => html_page(
            StatusCode::CONFLICT,
            accept_view(&inv, &f.csrf_token, Some(&m)),
        ),
        Err(e) => server_error(e),
    }
}

crate::ui::posted::csrf_token_field!(AdminForm);
