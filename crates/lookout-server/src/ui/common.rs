//! What every page handler shares: the HTML response, error pages, and
//! CSRF checks.

use super::layout;
use super::session::{CSRF_COOKIE, Viewer, cookie, random_secret, set_cookie};
use crate::error::ApiError;
use crate::state::AppState;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};

/// A page handler's result: the page, or an error page.
pub type Page = Result<Response, Response>;

pub fn html_page(status: StatusCode, markup: Markup) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        markup.into_string(),
    )
        .into_response()
}

pub fn server_error(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "page failed");
    html_page(
        StatusCode::INTERNAL_SERVER_ERROR,
        layout(
            "Error",
            None,
            html! { h1 { "Something went wrong" } p { "The error was logged." } },
        ),
    )
}

pub fn not_found(what: &str) -> Response {
    html_page(
        StatusCode::NOT_FOUND,
        layout("Not found", None, html! { h1 { (what) " not found" } }),
    )
}

pub fn forbidden_csrf() -> Response {
    html_page(
        StatusCode::FORBIDDEN,
        layout(
            "Forbidden",
            None,
            html! { h1 { "Form expired" } p { "The form's security token was missing or stale. Go back, reload the page and try again." } },
        ),
    )
}

/// Constant-time comparison for tokens.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Whether the form carries the session's CSRF token.
pub fn csrf_ok(viewer: &Viewer, token: &str) -> bool {
    same(&viewer.session.csrf_token, token)
}

/// `GET /`: to the projects, or to setup on first run.
pub async fn home(viewer: Result<Viewer, super::session::LoginRedirect>) -> Response {
    match viewer {
        Ok(_) => Redirect::to("/projects").into_response(),
        Err(r) => r.into_response(),
    }
}

/// The anonymous CSRF token for forms shown before login (setup, login,
/// invitation), and the cookie to set when it is new.
pub fn anon_csrf(state: &AppState, headers: &HeaderMap) -> (String, Option<String>) {
    match cookie(headers, CSRF_COOKIE) {
        Some(t) if t.len() == 48 => (t.to_string(), None),
        _ => {
            let t = random_secret();
            let c = set_cookie(state, CSRF_COOKIE, &t, 3600);
            (t, Some(c))
        }
    }
}

pub fn with_cookie(mut resp: Response, cookie: Option<String>) -> Response {
    if let Some(c) = cookie
        && let Ok(v) = c.parse()
    {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

/// The error page for a failed access check or storage call: 404 and 403
/// say what was refused; anything else is logged as a server error.
pub fn error_page(viewer: &Viewer, e: ApiError) -> Response {
    match e {
        ApiError::NotFound(m) => html_page(
            StatusCode::NOT_FOUND,
            layout(
                "Not found",
                Some(viewer),
                html! { h1 { "Not found" } p { (m) } },
            ),
        ),
        ApiError::Forbidden(m) => html_page(
            StatusCode::FORBIDDEN,
            layout(
                "Forbidden",
                Some(viewer),
                html! { h1 { "Not allowed" } p #forbidden-reason { (m) } },
            ),
        ),
        ApiError::BadRequest(m) | ApiError::Conflict(m) => html_page(
            StatusCode::BAD_REQUEST,
            layout(
                "Cannot do that",
                Some(viewer),
                html! { h1 { "Cannot do that" } p.error { (m) } },
            ),
        ),
        e => server_error(e),
    }
}

/// Why a new password cannot be used, if it cannot.
pub fn password_problem(password: &str, confirm: &str) -> Option<&'static str> {
    if password.chars().count() < 10 {
        Some("The password needs at least 10 characters.")
    } else if password.len() > 1024 {
        Some("The password is too long (at most 1024 bytes).")
    } else if password != confirm {
        Some("The two passwords differ.")
    } else {
        None
    }
}

/// Hashes a password with argon2id off the async executor (it takes tens
/// of milliseconds and 19 MiB on purpose).
pub async fn hash_in_background(password: &str) -> Result<String, Response> {
    let pw = password.to_string();
    match tokio::task::spawn_blocking(move || crate::auth::hash_password(&pw)).await {
        Ok(Ok(h)) => Ok(h),
        Ok(Err(e)) => Err(server_error(e)),
        Err(e) => Err(server_error(e)),
    }
}

/// Checks a password against a stored hash off the async executor.
pub async fn verify_in_background(password: &str, hash: String) -> bool {
    let pw = password.to_string();
    tokio::task::spawn_blocking(move || crate::auth::verify_password(&pw, &hash))
        .await
        .unwrap_or(false)
}

/// A short confirmation shown after a form, chosen by a fixed key in the
/// query string so no user input is ever reflected.
pub fn notice(key: Option<&str>, messages: &[(&str, &str)]) -> Markup {
    let text = key.and_then(|k| messages.iter().find(|(m, _)| *m == k).map(|(_, t)| *t));
    html! {
        @if let Some(t) = text { p.notice role="status" { (t) } }
    }
}

/// `?done=` on a page: which confirmation to show.
#[derive(Debug, serde::Deserialize, Default)]
pub struct Done {
    /// The key of the confirmation.
    pub done: Option<String>,
}

/// A form that carries only the CSRF token.
#[derive(Debug, serde::Deserialize)]
pub struct CsrfForm {
    /// The session's CSRF token.
    #[serde(default)]
    pub csrf_token: String,
}

crate::ui::posted::csrf_token_field!(CsrfForm);
