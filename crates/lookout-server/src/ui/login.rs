//! First-run setup, login and logout.

use super::layout;
use super::session::{
    CSRF_COOKIE, SESSION_COOKIE, SESSION_DAYS, cookie, random_secret, safe_next, set_cookie,
};
use crate::auth::{hash_password, token_hash, verify_password};
use crate::state::AppState;
use axum::Form;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use lookout_model::WebSession;
use lookout_storage::NewUser;
use maud::{Markup, html};
use serde::Deserialize;
use std::net::SocketAddr;

use super::common::*;
use crate::ui::posted::Posted;

// ---------------------------------------------------------------------------
// First run and login.

fn setup_view(csrf: &str, error: Option<&str>) -> Markup {
    layout(
        "Set up",
        None,
        html! {
            h1 { "Welcome to Lookout" }
            p.muted { "Create the first administrator account." }
            @if let Some(e) = error { p.error { (e) } }
            form #setup .stack method="post" action="/setup" {
                input type="hidden" name="csrf_token" value=(csrf);
                label for="email" { "E-mail" }
                input #email type="email" name="email" required autocomplete="username";
                label for="password" { "Password (at least 10 characters)" }
                input #password type="password" name="password" required minlength="10" autocomplete="new-password";
                label for="password_confirm" { "Password again" }
                input #password_confirm type="password" name="password_confirm" required minlength="10" autocomplete="new-password";
                p { button type="submit" { "Create administrator" } }
            }
        },
    )
}

/// `GET /setup`.
pub async fn setup_form(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if state.store().count_users().await.unwrap_or(1) > 0 {
        return Redirect::to("/login").into_response();
    }
    let (csrf, c) = anon_csrf(&state, &headers);
    with_cookie(html_page(StatusCode::OK, setup_view(&csrf, None)), c)
}

/// The setup form.
#[derive(Debug, Deserialize)]
pub struct SetupForm {
    email: String,
    password: String,
    password_confirm: String,
    #[serde(default)]
    csrf_token: String,
}

/// `POST /setup`: creates the first administrator and logs them in.
pub async fn setup_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<SetupForm>,
) -> Response {
    let expected = cookie(&headers, CSRF_COOKIE).unwrap_or("");
    if expected.is_empty() || !same(expected, &f.csrf_token) {
        return forbidden_csrf();
    }
    let email = f.email.trim().to_string();
    let error = if !email.contains('@') {
        Some("Enter an e-mail address.")
    } else {
        password_problem(&f.password, &f.password_confirm)
    };
    if let Some(e) = error {
        return html_page(StatusCode::BAD_REQUEST, setup_view(&f.csrf_token, Some(e)));
    }
    let hash = match hash_in_background(&f.password).await {
        Ok(h) => h,
        Err(r) => return r,
    };
    match state
        .store()
        .create_first_admin(NewUser {
            email,
            password_hash: hash,
            is_admin: true,
        })
        .await
    {
        Ok(Some(user)) => start_session(&state, user.id, "/projects").await,
        Ok(None) => Redirect::to("/login").into_response(),
        Err(e) => server_error(e),
    }
}

/// Starts a browser session for `user_id` and redirects to `next`.
pub(crate) async fn start_session(state: &AppState, user_id: i64, next: &str) -> Response {
    let secret = random_secret();
    let session = WebSession {
        id_hash: token_hash(&secret),
        user_id,
        csrf_token: random_secret(),
        expires_at: chrono::Utc::now() + chrono::Duration::days(SESSION_DAYS),
    };
    if let Err(e) = state.store().create_session(session).await {
        return server_error(e);
    }
    let c = set_cookie(state, SESSION_COOKIE, &secret, SESSION_DAYS * 86_400);
    with_cookie(Redirect::to(next).into_response(), Some(c))
}

fn login_view(csrf: &str, next: &str, error: Option<&str>) -> Markup {
    layout(
        "Log in",
        None,
        html! {
            h1 { "Log in" }
            @if let Some(e) = error { p.error { (e) } }
            form #login .stack method="post" action={ "/login?next=" (super::session::urlencode(next)) } {
                input type="hidden" name="csrf_token" value=(csrf);
                label for="email" { "E-mail" }
                input #email type="email" name="email" required autocomplete="username";
                label for="password" { "Password" }
                input #password type="password" name="password" required autocomplete="current-password";
                p { button type="submit" { "Log in" } }
            }
        },
    )
}

/// `?next=` of the login page.
#[derive(Debug, Deserialize)]
pub struct NextParam {
    next: Option<String>,
}

/// `GET /login`.
pub async fn login_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<NextParam>,
) -> Response {
    if state.store().count_users().await.unwrap_or(1) == 0 {
        return Redirect::to("/setup").into_response();
    }
    let (csrf, c) = anon_csrf(&state, &headers);
    let next = safe_next(q.next.as_deref());
    with_cookie(html_page(StatusCode::OK, login_view(&csrf, &next, None)), c)
}

/// The login form.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    email: String,
    password: String,
    #[serde(default)]
    csrf_token: String,
}

/// `POST /login`: argon2id check, rate-limited per IP and per account.
pub async fn login_submit(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(q): Query<NextParam>,
    Form(f): Form<LoginForm>,
) -> Response {
    let expected = cookie(&headers, CSRF_COOKIE).unwrap_or("");
    if expected.is_empty() || !same(expected, &f.csrf_token) {
        return forbidden_csrf();
    }
    let next = safe_next(q.next.as_deref());
    let email = f.email.trim().to_lowercase();
    let keys = vec![format!("ip:{}", peer.ip()), format!("account:{email}")];
    let limiter = state.login_limiter();
    if let Some(wait) = limiter.blocked(&keys) {
        let msg = format!(
            "Too many failed logins. Try again in {} minute(s).",
            wait.div_ceil(60)
        );
        return html_page(
            StatusCode::TOO_MANY_REQUESTS,
            login_view(&f.csrf_token, &next, Some(&msg)),
        );
    }
    let found = match state.store().find_user_by_email(&email).await {
        Ok(u) => u,
        Err(e) => return server_error(e),
    };
    let pw = f.password.clone();
    // Verify against a dummy hash when the account does not exist, so the
    // answer takes as long either way.
    let (user, hash) = match found {
        Some((u, h)) => (Some(u), h),
        None => (None, dummy_hash().to_string()),
    };
    let ok = tokio::task::spawn_blocking(move || verify_password(&pw, &hash))
        .await
        .unwrap_or(false);
    match (ok, user) {
        (true, Some(u)) => {
            limiter.succeed(&keys[1..]);
            start_session(&state, u.id, &next).await
        }
        _ => {
            limiter.fail(&keys);
            html_page(
                StatusCode::UNAUTHORIZED,
                login_view(&f.csrf_token, &next, Some("Invalid email or password.")),
            )
        }
    }
}

fn dummy_hash() -> &'static str {
    static H: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    H.get_or_init(|| hash_password("lookout-dummy-password").unwrap_or_default())
}

/// A form with only the CSRF token.
#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf_token: String,
}

/// `POST /logout`: ends the session server-side.
pub async fn logout(
    State(state): State<AppState>,
    Posted { viewer, form: _ }: Posted<CsrfForm>,
) -> Response {
    if let Err(e) = state.store().delete_session(&viewer.session.id_hash).await {
        return server_error(e);
    }
    let c = set_cookie(&state, SESSION_COOKIE, "", 0);
    with_cookie(Redirect::to("/login").into_response(), Some(c))
}

crate::ui::posted::csrf_token_field!(CsrfForm);
