//! The issues list and the issue page.

use super::issue_list;
use super::session::Viewer;
use super::{ProjectTab, layout, project_nav, relative_time};
use crate::routes::api::IssueListParams;
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use lookout_model::errors::{Issue, IssueStatus, StatusChange};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::Value;

use super::common::*;
use crate::access::Role;
use crate::ui::posted::Posted;

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
    let (project, role) = viewer
        .access()
        .read_project(&state, id)
        .await
        .map_err(|e| error_page(&viewer, e))?;
    let params = params.drop_empty();
    let filters = params.filters();
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
    let values = state
        .store()
        .filter_values(id)
        .await
        .map_err(server_error)?;
    let ids: Vec<i64> = page.items.iter().map(|i| i.id).collect();
    let trends = issue_list::trends(&state, &ids)
        .await
        .map_err(server_error)?;
    let dsn = super::overview::project_dsn(&state, id)
        .await
        .map_err(server_error)?;
    let can_triage = role >= Role::Member;
    let qs = issue_list::query_string(&filters);
    let body = html! {
        (project_nav(&project, ProjectTab::Issues))
        p.muted { "DSN: " code #dsn { (dsn) } }
        (issue_list::filter_form(&filters, &values))
        @if page.items.is_empty() {
            div.empty-state {
                @if filters.is_empty() {
                    p { "No unresolved issues. Send a test event with the Python SDK:" }
                    pre { (python_snippet(&dsn)) }
                } @else {
                    p { "No issues match these filters. " a href={ "/projects/" (id) "/issues?status=all" } { "Show all issues" } "." }
                }
            }
        } @else {
            form #bulk method="post" action={ "/projects/" (id) "/issues/bulk" } {
                @if can_triage { (issue_list::bulk_controls(&viewer, &filters)) }
                table #issues {
                    thead { tr {
                        @if can_triage { th.select { span.visually-hidden { "Select" } } }
                        th { "Issue" } th.optional { "24 h" } th { "Events" } th.optional { "Users" } th.optional { "Last seen" } th { "Status" }
                    } }
                    tbody {
                        @for i in &page.items { (issue_row(i, can_triage, issue_list::trend_cell(&trends, i.id))) }
                    }
                }
            }
            @if let Some(c) = &page.next_cursor {
                p { a #next-page href={ "?" (qs) @if !qs.is_empty() { "&" } "cursor=" (c) } { "Older issues →" } }
            }
        }
    };
    Ok(html_page(
        StatusCode::OK,
        layout(&project.name, Some(&viewer), body),
    ))
}

fn issue_row(i: &Issue, selectable: bool, trend: Markup) -> Markup {
    html! {
        tr.issue-row {
            @if selectable {
                td.select { input type="checkbox" name="ids" value=(i.id) aria-label={ "select issue " (i.id) }; }
            }
            td {
                a.issue-link.issue-title href={ "/issues/" (i.id) } { (i.title) }
                @if i.is_regression { " " span.badge.regression { "regression" } }
                br;
                span.muted { (i.culprit) }
                " " span.badge.level { (i.level) }
            }
            td.optional.trend { (trend) }
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
    let (issue, role) = viewer
        .access()
        .read_issue(&state, id)
        .await
        .map_err(|e| error_page(&viewer, e))?;
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
    let shown = pos.and_then(|p| lookout_model::errors::parse_event_id(&recent[p].event_id));
    let latest = match shown {
        Some(eid) => store
            .get_event(issue.project_id, eid)
            .await
            .map_err(server_error)?,
        None => None,
    };
    let attachments = match shown {
        Some(eid) if latest.is_some() => store
            .event_attachments(issue.project_id, eid)
            .await
            .map_err(server_error)?,
        _ => Vec::new(),
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
        @if role >= Role::Member {
            form #issue-actions .actions method="post" action={ "/issues/" (issue.id) "/status" } {
                input type="hidden" name="csrf_token" value=(viewer.session.csrf_token);
                button name="status" value="resolved" type="submit" { "Resolve" }
                button.secondary name="status" value="resolved_in_next_release" type="submit" { "Resolve in next release" }
                button.secondary name="status" value="unresolved" type="submit" { "Reopen" }
                span.ignore-group {
                    select #ignore-for name="ignore" aria-label="ignore for" {
                        @for (value, label) in IGNORE_OPTIONS { option value=(value) { (label) } }
                    }
                    button.secondary name="status" value="ignored" type="submit" { "Ignore" }
                }
            }
        } @else {
            p #read-only .muted { "You have read-only access to this project." }
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
                    a #raw-json href={ "/issues/" (issue.id) "/latest.json?event=" (ev.summary.event_id) } { "Download raw JSON" }
                }
                (render_event(&ev.event))
                (super::attachments::section(issue.id, &ev.summary.event_id, &attachments))
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
    /// With `ignored`: one of [`IGNORE_OPTIONS`] (default: forever).
    #[serde(default)]
    ignore: Option<String>,
    #[serde(default)]
    csrf_token: String,
}

/// How long "Ignore" lasts: until a time, until more events, or forever.
/// A regression past the limit reopens the issue (see the issue life cycle
/// in docs/api.md).
pub const IGNORE_OPTIONS: [(&str, &str); 7] = [
    ("forever", "forever"),
    ("1h", "for 1 hour"),
    ("24h", "for 24 hours"),
    ("7d", "for 7 days"),
    ("10", "until 10 more events"),
    ("100", "until 100 more events"),
    ("1000", "until 1,000 more events"),
];

/// The ignore limit an option stands for: `(count, until)`.
pub fn ignore_limit(
    option: Option<&str>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(Option<i64>, Option<chrono::DateTime<chrono::Utc>>), String> {
    let hours = |h: i64| Ok((None, Some(now + chrono::Duration::hours(h))));
    match option.unwrap_or("forever") {
        "forever" | "" => Ok((None, None)),
        "1h" => hours(1),
        "24h" => hours(24),
        "7d" => hours(24 * 7),
        n => match n.parse::<i64>() {
            Ok(n) if n >= 1 => Ok((Some(n), None)),
            _ => Err(format!(
                "unknown ignore option `{n}`: use forever, 1h, 24h, 7d or a number of events"
            )),
        },
    }
}

/// `POST /issues/{id}/status`.
pub async fn issue_status(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted { viewer, form: f }: Posted<StatusForm>,
) -> Response {
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
    if let Err(e) = viewer.access().write_issue(&state, id).await {
        return error_page(&viewer, e);
    }
    let (ignore_count, ignore_until) = if status == IssueStatus::Ignored {
        match ignore_limit(f.ignore.as_deref(), chrono::Utc::now()) {
            Ok(l) => l,
            Err(m) => return error_page(&viewer, crate::ApiError::BadRequest(m)),
        }
    } else {
        (None, None)
    };
    match state
        .store()
        .set_issue_status(
            id,
            StatusChange {
                status,
                ignore_count,
                ignore_until,
            },
        )
        .await
    {
        Ok(issue) => {
            state.alerts().issue_status_changed(&issue).await;
            Redirect::to(&format!("/issues/{id}")).into_response()
        }
        Err(lookout_storage::StorageError::NotFound(_)) => not_found("Issue"),
        Err(e) => server_error(e),
    }
}

/// `GET /issues/{id}/latest.json[?event=ID]`: the latest (or the given)
/// event of the issue as a download.
pub async fn latest_event_json(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Query(q): Query<EventParam>,
) -> Page {
    let (issue, _) = viewer
        .access()
        .read_issue(&state, id)
        .await
        .map_err(|e| error_page(&viewer, e))?;
    let wanted = match q.event.as_deref() {
        Some(e) => e.to_ascii_lowercase(),
        None => {
            let events = state
                .store()
                .issue_events(id, 1, None)
                .await
                .map_err(server_error)?;
            events
                .items
                .first()
                .ok_or_else(|| not_found("Event"))?
                .event_id
                .clone()
        }
    };
    let eid = lookout_model::errors::parse_event_id(&wanted).ok_or_else(|| not_found("Event"))?;
    let ev = state
        .store()
        .get_event(issue.project_id, eid)
        .await
        .map_err(server_error)?
        .filter(|ev| ev.summary.issue_id == id)
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

crate::ui::posted::csrf_token_field!(StatusForm);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignore_options_become_limits() {
        let now = chrono::Utc::now();
        assert_eq!(ignore_limit(None, now).unwrap(), (None, None));
        assert_eq!(ignore_limit(Some("100"), now).unwrap(), (Some(100), None));
        assert_eq!(
            ignore_limit(Some("24h"), now).unwrap(),
            (None, Some(now + chrono::Duration::hours(24)))
        );
        for (value, _) in IGNORE_OPTIONS {
            assert!(ignore_limit(Some(value), now).is_ok(), "{value}");
        }
        assert!(ignore_limit(Some("0"), now).is_err());
        assert!(ignore_limit(Some("soon"), now).is_err());
    }
}
