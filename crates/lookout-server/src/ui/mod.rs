//! The web UI: server-rendered HTML (maud, compile-checked and escaped by
//! default), one small stylesheet embedded in the binary, no CDN and no
//! inline scripts. Every page needs a session except setup and login.
//!
//! Everything that came from an event is rendered through maud's escaping
//! (`(value)`), never `PreEscaped`.

pub mod account;
pub mod admin;
pub mod alerts;
pub mod attachments;
pub mod backups;
pub mod charts;
pub mod common;
pub mod issue_list;
pub mod issues;
pub mod login;
pub mod monitors;
pub mod overview;
pub mod posted;
pub mod projects;
pub mod releases;
pub mod session;
pub mod settings;
pub mod status_pages;

use crate::state::AppState;
use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use maud::{DOCTYPE, Markup, html};

/// The stylesheet, served at `/static/app.css`.
pub const APP_CSS: &str = include_str!("../../assets/app.css");
/// The one script (progressive enhancement only), served at `/static/app.js`.
pub const APP_JS: &str = include_str!("../../assets/app.js");

/// The UI's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(common::home))
        .route("/setup", get(login::setup_form).post(login::setup_submit))
        .route("/login", get(login::login_form).post(login::login_submit))
        .route("/logout", post(login::logout))
        .route(
            "/projects",
            get(projects::projects).post(projects::create_project),
        )
        .route("/projects/{id}", get(overview::overview))
        .route("/projects/{id}/releases", get(releases::releases))
        .route("/projects/{id}/issues/bulk", post(issue_list::bulk))
        .route(
            "/issues/{id}/events/{event_id}/attachments/{aid}",
            get(attachments::download),
        )
        .route("/projects/{id}/issues", get(issues::issues))
        .route(
            "/projects/{id}/settings",
            get(settings::settings_page).post(settings::save_settings),
        )
        .route("/projects/{id}/rename", post(settings::rename))
        .route("/projects/{id}/keys", post(settings::create_key))
        .route(
            "/projects/{id}/keys/{key}/revoke",
            post(settings::revoke_key),
        )
        .route(
            "/projects/{id}/keys/{key}/rotate",
            post(settings::rotate_key),
        )
        .route("/projects/{id}/members", post(settings::set_member))
        .route("/projects/{id}/delete", post(settings::delete))
        .route("/account", get(account::account))
        .route("/account/password", post(account::change_password))
        .route("/account/tokens", post(account::create_token))
        .route("/account/tokens/{id}/revoke", post(account::revoke_token))
        .route("/account/telegram/link", post(account::telegram_link_code))
        .route(
            "/account/telegram/{telegram_user_id}/unlink",
            post(account::telegram_unlink),
        )
        .route("/admin/users", get(admin::users))
        .route("/admin/backups", get(backups::page).post(backups::create))
        .route("/admin/backups/{name}/verify", post(backups::verify))
        .route("/admin/backups/{name}/download", get(backups::download))
        .route("/admin/users/{id}/admin", post(admin::set_admin))
        .route("/admin/users/{id}/delete", post(admin::delete_user))
        .route("/admin/invitations", post(admin::invite))
        .route(
            "/admin/invitations/{id}/revoke",
            post(admin::revoke_invitation),
        )
        .route(
            "/invite/{secret}",
            get(admin::accept_form).post(admin::accept),
        )
        .route("/issues/{id}", get(issues::issue))
        .route("/issues/{id}/status", post(issues::issue_status))
        .route("/issues/{id}/latest.json", get(issues::latest_event_json))
        // --- monitors and status pages (issue #5) ---
        .route(
            "/projects/{id}/monitors",
            get(monitors::list).post(monitors::create),
        )
        .route("/projects/{id}/monitors/new", get(monitors::new_form))
        .route("/monitors/validate", post(monitors::validate))
        .route("/monitors/{id}", get(monitors::detail))
        .route(
            "/monitors/{id}/edit",
            get(monitors::edit_form).post(monitors::edit),
        )
        .route("/monitors/{id}/pause", post(monitors::pause))
        .route("/monitors/{id}/delete", post(monitors::delete))
        .route("/status/{slug}", get(status_pages::public))
        .route(
            "/admin/status-pages",
            get(status_pages::admin_list).post(status_pages::admin_create),
        )
        .route(
            "/admin/status-pages/{id}",
            get(status_pages::admin_edit_form).post(status_pages::admin_edit),
        )
        .route(
            "/admin/status-pages/{id}/delete",
            post(status_pages::admin_delete),
        )
        .merge(alerts::routes())
        .route("/static/app.css", get(stylesheet))
        .route("/static/app.js", get(script))
        .route("/favicon.ico", get(favicon))
        .layer(axum::middleware::from_fn(security_headers))
}

/// A small SVG icon (browsers ask for one on every first visit).
async fn favicon() -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><circle cx="8" cy="8" r="6" fill="none" stroke="#2b59c3" stroke-width="2"/><circle cx="8" cy="8" r="2" fill="#2b59c3"/></svg>"##,
    )
        .into_response()
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        APP_CSS,
    )
        .into_response()
}

async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        APP_JS,
    )
        .into_response()
}

/// Strict headers on every UI response: no framing, no sniffing, scripts
/// only from this origin (there are none inline), no referrer leaks.
async fn security_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// The page frame. `viewer` is `None` on the setup and login pages.
pub fn layout(title: &str, viewer: Option<&session::Viewer>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light dark";
                title { (title) " · Lookout" }
                link rel="stylesheet" href="/static/app.css";
                script src="/static/app.js" defer {}
            }
            body {
                header.top {
                    a.brand href="/projects" { "Lookout" }
                    @if let Some(v) = viewer {
                        nav #main-nav {
                            a href="/projects" { "Projects" }
                            " "
                            a #nav-alerts href="/alerts" { "Alerts" }
                            " "
                            a #nav-account href="/account" { "Account" }
                            @if v.user.is_admin {
                                " " a #nav-users href="/admin/users" { "Users" }
                                " " a #nav-backups href="/admin/backups" { "Backups" }
                            }
                        }
                        form #logout method="post" action="/logout" {
                            span.muted { (v.user.email) " " }
                            input type="hidden" name="csrf_token" value=(v.session.csrf_token);
                            button.secondary type="submit" { "Log out" }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

/// The tabs of a project's pages. Each project page starts with this, so
/// a new page (monitors, alerts, …) adds one entry here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProjectTab {
    /// `/projects/{id}`.
    Overview,
    /// `/projects/{id}/issues`.
    Issues,
    /// `/projects/{id}/releases`.
    Releases,
    /// `/projects/{id}/monitors`.
    Monitors,
    /// `/projects/{id}/settings`.
    Settings,
}

/// The project's name and its tab bar.
pub fn project_nav(project: &lookout_model::Project, active: ProjectTab) -> Markup {
    let tabs = [
        (ProjectTab::Overview, "Overview", ""),
        (ProjectTab::Issues, "Issues", "/issues"),
        (ProjectTab::Releases, "Releases", "/releases"),
        (ProjectTab::Monitors, "Monitors", "/monitors"),
        (ProjectTab::Settings, "Settings", "/settings"),
    ];
    html! {
        p.crumb { a href="/projects" { "Projects" } " / " }
        h1 #project-name { (project.name) }
        nav.tabs aria-label="project" {
            @for (tab, label, path) in tabs {
                @if tab == active {
                    a.active aria-current="page" href={ "/projects/" (project.id) (path) } { (label) }
                } @else {
                    a href={ "/projects/" (project.id) (path) } { (label) }
                }
            }
        }
    }
}

/// Renders a time as "5 min ago" with the absolute UTC time on hover.
pub fn relative_time(t: chrono::DateTime<chrono::Utc>) -> Markup {
    let secs = (chrono::Utc::now() - t).num_seconds();
    let text = match secs {
        s if s < 0 => "just now".to_string(),
        s if s < 60 => format!("{s} s ago"),
        s if s < 3600 => format!("{} min ago", s / 60),
        s if s < 86_400 => format!("{} h ago", s / 3600),
        s => format!("{} d ago", s / 86_400),
    };
    html! { time datetime=(t.to_rfc3339()) title=(t.format("%Y-%m-%d %H:%M:%S UTC")) { (text) } }
}
