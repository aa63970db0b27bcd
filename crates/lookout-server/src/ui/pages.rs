//! Page handlers and their views. Handlers check the session and CSRF
//! token, call the storage layer, and render; views escape everything.

use super::session::{
    CSRF_COOKIE, SESSION_COOKIE, SESSION_DAYS, Viewer, cookie, random_secret, safe_next, set_cookie,
};
use super::{layout, relative_time};
use crate::auth::{hash_password, token_hash, verify_password};
use crate::routes::api::IssueListParams;
use crate::state::AppState;
use axum::Form;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use lookout_model::WebSession;
use lookout_model::errors::{Issue, IssueStatus, StatusChange};
use lookout_storage::{NewProject, NewUser};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::Value;
use std::net::SocketAddr;

type Page = Result<Response, Response>;

fn html_page(status: StatusCode, markup: Markup) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        markup.into_string(),
    )
        .into_response()
}

fn server_error(e: impl std::fmt::Display) -> Response {
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

fn not_found(what: &str) -> Response {
    html_page(
        StatusCode::NOT_FOUND,
        layout("Not found", None, html! { h1 { (what) " not found" } }),
    )
}

fn forbidden_csrf() -> Response {
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
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Whether the form carries the session's CSRF token.
fn csrf_ok(viewer: &Viewer, token: &str) -> bool {
    same(&viewer.session.csrf_token, token)
}

/// `GET /`: to the projects, or to setup on first run.
pub async fn home(viewer: Result<Viewer, super::session::LoginRedirect>) -> Response {
    match viewer {
        Ok(_) => Redirect::to("/projects").into_response(),
        Err(r) => r.into_response(),
    }
}

// ---------------------------------------------------------------------------
// First run and login.

fn anon_csrf(state: &AppState, headers: &HeaderMap) -> (String, Option<String>) {
    match cookie(headers, CSRF_COOKIE) {
        Some(t) if t.len() == 48 => (t.to_string(), None),
        _ => {
            let t = random_secret();
            let c = set_cookie(state, CSRF_COOKIE, &t, 3600);
            (t, Some(c))
        }
    }
}

fn with_cookie(mut resp: Response, cookie: Option<String>) -> Response {
    if let Some(c) = cookie
        && let Ok(v) = c.parse()
    {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

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
    } else if f.password.chars().count() < 10 {
        Some("The password needs at least 10 characters.")
    } else if f.password != f.password_confirm {
        Some("The two passwords differ.")
    } else {
        None
    };
    if let Some(e) = error {
        return html_page(StatusCode::BAD_REQUEST, setup_view(&f.csrf_token, Some(e)));
    }
    let pw = f.password.clone();
    let hash = match tokio::task::spawn_blocking(move || hash_password(&pw)).await {
        Ok(Ok(h)) => h,
        Ok(Err(e)) => return server_error(e),
        Err(e) => return server_error(e),
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

async fn start_session(state: &AppState, user_id: i64, next: &str) -> Response {
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
    viewer: Viewer,
    Form(f): Form<CsrfForm>,
) -> Response {
    if !csrf_ok(&viewer, &f.csrf_token) {
        return forbidden_csrf();
    }
    if let Err(e) = state.store().delete_session(&viewer.session.id_hash).await {
        return server_error(e);
    }
    let c = set_cookie(&state, SESSION_COOKIE, "", 0);
    with_cookie(Redirect::to("/login").into_response(), Some(c))
}

// ---------------------------------------------------------------------------
// Projects.

/// `GET /projects`.
pub async fn projects(State(state): State<AppState>, viewer: Viewer) -> Page {
    let projects = state.store().list_projects().await.map_err(server_error)?;
    let public_url = state.config().public_url();
    let mut rows = Vec::new();
    for p in projects {
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
        @if rows.is_empty() {
            div.empty-state { "No projects yet. Create one below, then point your Sentry SDK at its DSN." }
        } @else {
            table #projects {
                thead { tr { th { "Project" } th.optional { "DSN" } } }
                tbody {
                    @for (p, dsn) in &rows {
                        tr {
                            td { a.project-link href={ "/projects/" (p.id) "/issues" } { (p.name) } }
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
    viewer: Viewer,
    Form(f): Form<NewProjectForm>,
) -> Response {
    if !csrf_ok(&viewer, &f.csrf_token) {
        return forbidden_csrf();
    }
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
        Ok((p, _)) => Redirect::to(&format!("/projects/{}/issues", p.id)).into_response(),
        Err(e) => server_error(e),
    }
}

// ---------------------------------------------------------------------------
// Issues.

fn status_badge(status: IssueStatus) -> Markup {
    html! { span .badge .(status.as_str()) .issue-status { (status.as_str()) } }
}

fn python_snippet(dsn: &str) -> String {
    format!(
        "import sentry_sdk\nsentry_sdk.init(dsn=\"{dsn}\", release=\"my-app@1.0.0\", environment=\"production\")\n\n1 / 0  # sends a first event"
    )
}

/// `GET /projects/{id}/issues`.
pub async fn issues(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Query(params): Query<IssueListParams>,
) -> Page {
    let project = state
        .store()
        .get_project(id)
        .await
        .map_err(server_error)?
        .ok_or_else(|| not_found("Project"))?;
    let query_text = params.query_text().to_string();
    let status = params.status_text().to_string();
    let q = crate::routes::api::issue_query(params).map_err(|e| {
        html_page(
            StatusCode::BAD_REQUEST,
            layout(
                "Bad filter",
                Some(&viewer),
                html! { h1 { "Bad filter" } p.error { (e.to_string()) } },
            ),
        )
    })?;
    let page = state
        .store()
        .list_issues(id, q)
        .await
        .map_err(server_error)?;
    let keys = state.store().project_keys(id).await.map_err(server_error)?;
    let dsn = keys
        .iter()
        .find(|k| k.revoked_at.is_none())
        .map(|k| k.dsn(&state.config().public_url()))
        .unwrap_or_default();
    let body = html! {
        h1 { (project.name) }
        p.muted { "DSN: " code #dsn { (dsn) } }
        form #issue-filters .filters method="get" {
            input type="search" name="query" value=(query_text) placeholder="Search: free text or key:value (release:1.0, environment:production)";
            select name="status" {
                @for s in ["unresolved", "resolved", "resolved_in_next_release", "ignored", "all"] {
                    option value=(s) selected[s == status] { (s.replace('_', " ")) }
                }
            }
            button type="submit" { "Filter" }
        }
        @if page.items.is_empty() {
            div.empty-state {
                p { "No issues match. Send a test event with the Python SDK:" }
                pre { (python_snippet(&dsn)) }
            }
        } @else {
            table #issues {
                thead { tr { th { "Issue" } th { "Events" } th.optional { "Users" } th.optional { "Last seen" } th { "Status" } } }
                tbody {
                    @for i in &page.items { (issue_row(i)) }
                }
            }
            @if let Some(c) = &page.next_cursor {
                p { a href={ "?status=" (status) "&query=" (super::session::urlencode(&query_text)) "&cursor=" (c) } { "Older issues →" } }
            }
        }
    };
    Ok(html_page(
        StatusCode::OK,
        layout(&project.name, Some(&viewer), body),
    ))
}

fn issue_row(i: &Issue) -> Markup {
    html! {
        tr.issue-row {
            td {
                a.issue-link.issue-title href={ "/issues/" (i.id) } { (i.title) }
                @if i.is_regression { " " span.badge.regression { "regression" } }
                br;
                span.muted { (i.culprit) }
            }
            td.issue-count { (i.count) }
            td.optional { (i.user_count) }
            td.optional { (relative_time(i.last_seen)) }
            td { (status_badge(i.status)) }
        }
    }
}

/// A server-rendered SVG bar chart of hourly counts, bucketed by day.
fn bar_chart(hourly: &[(i64, i64)]) -> Markup {
    let today = chrono::Utc::now().timestamp().div_euclid(86_400);
    let mut days = [0i64; 14];
    for (hour, count) in hourly {
        let age = today - hour.div_euclid(24);
        if (0..14).contains(&age) {
            days[13 - age as usize] += count;
        }
    }
    let max = days.iter().copied().max().unwrap_or(0).max(1);
    html! {
        svg.chart viewBox="0 0 280 60" role="img" aria-label="events per day" {
            @for (i, d) in days.iter().enumerate() {
                @let h = (d * 56 / max).max(if *d > 0 { 2 } else { 0 });
                rect x=(i * 20 + 2) y=(58 - h) width="16" height=(h) { title { (d) " events" } }
            }
        }
    }
}

fn str_at<'a>(v: &'a Value, ptr: &str) -> Option<&'a str> {
    v.pointer(ptr).and_then(Value::as_str)
}

fn display_value(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn render_frames(frames: &[Value]) -> Markup {
    html! {
        // Most recent call first.
        @for f in frames.iter().rev() {
            @let in_app = f.get("in_app").and_then(Value::as_bool).unwrap_or(false);
            @let function = f.get("function").and_then(Value::as_str).unwrap_or("?");
            @let module = f.get("module").and_then(Value::as_str)
                .or_else(|| f.get("filename").and_then(Value::as_str)).unwrap_or("");
            details .frame .in-app[in_app] open[in_app] {
                summary {
                    span.frame-function { (function) }
                    " in "
                    @if f.get("module").and_then(Value::as_str).is_some() {
                        span.frame-module { (module) }
                    } @else {
                        span.frame-filename { (module) }
                    }
                    @if let Some(l) = f.get("lineno").and_then(Value::as_i64) { span.muted { " line " (l) } }
                }
                @let pre = f.get("pre_context").and_then(Value::as_array);
                @let post = f.get("post_context").and_then(Value::as_array);
                @if let Some(line) = f.get("context_line").and_then(Value::as_str) {
                    pre.ctx {
                        @for l in pre.into_iter().flatten() { code.context-line { (display_value(l)) } }
                        code.context-line.current { (line) }
                        @for l in post.into_iter().flatten() { code.context-line { (display_value(l)) } }
                    }
                }
                @if let Some(vars) = f.get("vars").and_then(Value::as_object) {
                    table.vars {
                        @for (k, v) in vars {
                            tr { td.var-name { (k) } td.var-value { (display_value(v)) } }
                        }
                    }
                }
            }
        }
    }
}

fn render_event(ev: &Value) -> Markup {
    let exceptions: Vec<&Value> = ev
        .pointer("/exception/values")
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    html! {
        @if !exceptions.is_empty() {
            section #exception {
                h2 { "Exception" }
                // Outermost exception first, then what caused it.
                @for (n, ex) in exceptions.iter().rev().enumerate() {
                    div.card {
                        @if n > 0 { p.muted { "Caused by" } }
                        p { strong { (str_at(ex, "/type").unwrap_or("Error")) } ": " (str_at(ex, "/value").unwrap_or("")) }
                        @if let Some(frames) = ex.pointer("/stacktrace/frames").and_then(Value::as_array) {
                            (render_frames(frames))
                        }
                    }
                }
            }
        } @else if let Some(m) = str_at(ev, "/logentry/formatted").or_else(|| str_at(ev, "/logentry/message")).or_else(|| str_at(ev, "/message")) {
            section #message { h2 { "Message" } pre { (m) } }
        }
        @if let Some(crumbs) = ev.pointer("/breadcrumbs/values").and_then(Value::as_array) {
            section #breadcrumbs {
                h2 { "Breadcrumbs" }
                table {
                    @for b in crumbs.iter().rev().take(100) {
                        tr.breadcrumb {
                            td.optional.muted { (b.get("timestamp").map(display_value).unwrap_or_default()) }
                            td { (str_at(b, "/category").unwrap_or("")) }
                            td { (str_at(b, "/message").map(str::to_string).unwrap_or_else(|| b.get("data").map(display_value).unwrap_or_default())) }
                            td.muted { (str_at(b, "/level").unwrap_or("")) }
                        }
                    }
                }
            }
        }
        @if let Some(user) = ev.get("user").and_then(Value::as_object) {
            section #event-user {
                h2 { "User" }
                table { @for (k, v) in user { tr { td.muted { (k) } td { (display_value(v)) } } } }
            }
        }
        @if let Some(req) = ev.get("request").and_then(Value::as_object) {
            section #request {
                h2 { "Request" }
                table { @for (k, v) in req { tr { td.muted { (k) } td { (display_value(v)) } } } }
            }
        }
        @if let Some(ctx) = ev.get("contexts").and_then(Value::as_object) {
            section #contexts {
                h2 { "Contexts" }
                @for (name, c) in ctx {
                    h3.muted { (name) }
                    @if let Some(obj) = c.as_object() {
                        table { @for (k, v) in obj { tr { td.muted { (k) } td { (display_value(v)) } } } }
                    }
                }
            }
        }
        @if let Some(sdk) = ev.get("sdk") {
            p.muted { "SDK: " (str_at(sdk, "/name").unwrap_or("?")) " " (str_at(sdk, "/version").unwrap_or("")) }
        }
    }
}

/// `GET /issues/{id}`: the issue with its latest event.
/// `?event=` on the issue page: which event to show.
#[derive(Debug, Deserialize)]
pub struct EventParam {
    event: Option<String>,
}

/// How many of an issue's newest events the newer/older links walk.
const NAVIGABLE_EVENTS: usize = 200;

/// `GET /issues/{id}`: the issue with its latest event (or `?event=`).
pub async fn issue(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Query(q): Query<EventParam>,
) -> Page {
    let store = state.store();
    let issue = store
        .get_issue(id)
        .await
        .map_err(server_error)?
        .ok_or_else(|| not_found("Issue"))?;
    let tags = store.issue_tags(id, 5).await.map_err(server_error)?;
    // Newest first; the links step through this list.
    let recent = store
        .issue_events(id, NAVIGABLE_EVENTS, None)
        .await
        .map_err(server_error)?
        .items;
    let pos = match q.event.as_deref() {
        Some(wanted) => Some(
            recent
                .iter()
                .position(|e| e.event_id == wanted.to_ascii_lowercase())
                .ok_or_else(|| not_found("Event"))?,
        ),
        None => (!recent.is_empty()).then_some(0),
    };
    let newer = pos
        .and_then(|p| p.checked_sub(1))
        .map(|p| recent[p].event_id.clone());
    let older = pos
        .and_then(|p| recent.get(p + 1))
        .map(|e| e.event_id.clone());
    let latest = match pos.and_then(|p| lookout_model::errors::parse_event_id(&recent[p].event_id))
    {
        Some(eid) => store.get_event(eid).await.map_err(server_error)?,
        None => None,
    };
    let feedback = store.issue_feedback(id).await.map_err(server_error)?;
    let since = chrono::Utc::now().timestamp().div_euclid(3600) - 24 * 14;
    let hourly = store.issue_hourly(id, since).await.map_err(server_error)?;
    let body = html! {
        p { a href={ "/projects/" (issue.project_id) "/issues" } { "← Issues" } }
        h1 #issue-title { (issue.title) }
        p #issue-culprit .muted { (issue.culprit) }
        p {
            span #issue-status .badge .(issue.status.as_str()) { (issue.status.as_str()) }
            @if issue.is_regression { " " span #regression-badge .badge.regression { "regression" } }
            " · " span #issue-count { (issue.count) } (if issue.count == 1 { " event · " } else { " events · " }) (issue.user_count) (if issue.user_count == 1 { " user" } else { " users" }) " · first seen " (relative_time(issue.first_seen)) " · last seen " (relative_time(issue.last_seen))
        }
        form #issue-actions .actions method="post" action={ "/issues/" (issue.id) "/status" } {
            input type="hidden" name="csrf_token" value=(viewer.session.csrf_token);
            button name="status" value="resolved" type="submit" { "Resolve" }
            button.secondary name="status" value="resolved_in_next_release" type="submit" { "Resolve in next release" }
            button.secondary name="status" value="ignored" type="submit" { "Ignore" }
            button.secondary name="status" value="unresolved" type="submit" { "Reopen" }
        }
        @match &latest {
            Some(ev) => {
                h2 {
                    @if newer.is_none() { "Latest event " } @else { "Event " }
                    span #event-id .muted { (ev.summary.event_id) }
                }
                p.actions {
                    @if let Some(n) = &newer { a #newer-event href={ "/issues/" (issue.id) "?event=" (n) } { "← Newer event" } }
                    @if let Some(o) = &older { a #older-event href={ "/issues/" (issue.id) "?event=" (o) } { "Older event →" } }
                    a #raw-json href={ "/issues/" (issue.id) "/latest.json" } { "Download raw JSON (latest)" }
                }
                (render_event(&ev.event))
            }
            None => { div.empty-state { "The events of this issue are gone (retention)." } }
        }
        @if !hourly.is_empty() {
            section #events-chart {
                h2 { "Events, last 14 days" }
                (bar_chart(&hourly))
            }
        }
        @if !tags.is_empty() {
            section #tags {
                h2 { "Tags" }
                @for t in &tags {
                    div.tag-breakdown {
                        h3.tag-key { (t.key) }
                        @for v in &t.top {
                            @let pct = if t.total > 0 { v.count * 100 / t.total } else { 0 };
                            div.tag {
                                span.tag-value { (v.value) }
                                // SVG, not a style attribute: the CSP allows no inline styles.
                                svg.bar viewBox="0 0 100 6" preserveAspectRatio="none" { rect width=(pct) height="6" {} }
                                span.muted { (pct) "% (" (v.count) ")" }
                            }
                        }
                    }
                }
            }
        }
        @if !feedback.is_empty() {
            section #feedback {
                h2 { "User feedback" }
                @for f in &feedback {
                    div.card { p { (f.comments) } p.muted { (f.name.as_deref().unwrap_or("anonymous")) " " (f.email.as_deref().unwrap_or("")) } }
                }
            }
        }
    };
    Ok(html_page(
        StatusCode::OK,
        layout(&issue.title, Some(&viewer), body),
    ))
}

/// The status form.
#[derive(Debug, Deserialize)]
pub struct StatusForm {
    status: String,
    #[serde(default)]
    csrf_token: String,
}

/// `POST /issues/{id}/status`.
pub async fn issue_status(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Form(f): Form<StatusForm>,
) -> Response {
    if !csrf_ok(&viewer, &f.csrf_token) {
        return forbidden_csrf();
    }
    let Some(status) = IssueStatus::parse(&f.status) else {
        return html_page(
            StatusCode::BAD_REQUEST,
            layout(
                "Bad request",
                Some(&viewer),
                html! { h1 { "Unknown status" } },
            ),
        );
    };
    match state
        .store()
        .set_issue_status(
            id,
            StatusChange {
                status,
                ignore_count: None,
                ignore_until: None,
            },
        )
        .await
    {
        Ok(_) => Redirect::to(&format!("/issues/{id}")).into_response(),
        Err(lookout_storage::StorageError::NotFound(_)) => not_found("Issue"),
        Err(e) => server_error(e),
    }
}

/// `GET /issues/{id}/latest.json`: the latest event as a download.
pub async fn latest_event_json(
    State(state): State<AppState>,
    _viewer: Viewer,
    Path(id): Path<i64>,
) -> Page {
    let events = state
        .store()
        .issue_events(id, 1, None)
        .await
        .map_err(server_error)?;
    let e = events.items.first().ok_or_else(|| not_found("Event"))?;
    let eid =
        lookout_model::errors::parse_event_id(&e.event_id).ok_or_else(|| not_found("Event"))?;
    let ev = state
        .store()
        .get_event(eid)
        .await
        .map_err(server_error)?
        .ok_or_else(|| not_found("Event"))?;
    let body = serde_json::to_string_pretty(&ev.event).unwrap_or_default();
    Ok((
        [
            (header::CONTENT_TYPE, "application/json".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"event-{}.json\"",
                    ev.summary.event_id
                ),
            ),
        ],
        body,
    )
        .into_response())
}
