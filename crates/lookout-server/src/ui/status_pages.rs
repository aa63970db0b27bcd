//! Public status pages (issue #5) and their editor.
//!
//! `/status/{slug}` needs no login. It shows each selected monitor under
//! its public display name only (never its URL, host or failure cause),
//! its current status, 90 daily uptime bars and the incidents of the last
//! 30 days, plus an optional manual notice. The rendered page is kept in
//! memory for `[monitoring] status_page_cache_secs`, so a busy page costs a
//! map lookup per request.
//!
//! The editor (`/admin/status-pages`) is for administrators, because a page
//! may show monitors of any project.

use super::common::*;
use super::session::Viewer;
use super::{layout, relative_time};
use crate::state::AppState;
use crate::ui::posted::Posted;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{Duration, NaiveDate, Utc};
use lookout_storage::{MonitorDay, NewStatusPage, StatusPage, StatusPageMonitor};
use maud::{DOCTYPE, Markup, html};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;

const NOTICES: &[(&str, &str)] = &[
    ("created", "Status page created."),
    ("saved", "Status page saved."),
    ("deleted", "Status page deleted."),
];

fn day_class(d: Option<&MonitorDay>) -> (&'static str, String) {
    match d {
        None => ("none", "no data".into()),
        Some(d) if d.count == 0 => ("none", "no data".into()),
        Some(d) => {
            let up = 100.0 * (d.count - d.failures) as f64 / d.count as f64;
            let class = if d.failures == 0 && d.degraded == 0 {
                "up"
            } else if d.failures == 0 {
                "degraded"
            } else if up >= 99.0 {
                "partial"
            } else {
                "down"
            };
            (
                class,
                format!("{up:.2}% up ({} of {} checks failed)", d.failures, d.count),
            )
        }
    }
}

/// 90 daily bars, oldest left; colours come from classes in app.css.
pub fn uptime_bars(days: &[MonitorDay], today: NaiveDate) -> Markup {
    let by_day: HashMap<NaiveDate, &MonitorDay> = days.iter().map(|d| (d.day, d)).collect();
    html! {
        svg.uptime-bars viewBox="0 0 450 34" preserveAspectRatio="none" role="img" aria-label="uptime over the last 90 days" {
            @for i in 0..90i64 {
                @let day = today - Duration::days(89 - i);
                @let (class, text) = day_class(by_day.get(&day).copied());
                rect class=(class) x=(i * 5) y="0" width="4" height="34" { title { (day.format("%Y-%m-%d")) ": " (text) } }
            }
        }
    }
}

fn public_status(s: &str) -> (&'static str, &'static str) {
    match s {
        "up" => ("up", "Operational"),
        "degraded" => ("degraded", "Degraded"),
        "down" => ("down", "Down"),
        "paused" => ("paused", "Paused"),
        _ => ("pending", "Pending"),
    }
}

async fn render(
    state: &AppState,
    page: &StatusPage,
) -> Result<String, lookout_storage::StorageError> {
    let store = state.store();
    let now = Utc::now();
    let today = now.date_naive();
    let mut rows = Vec::new();
    let mut incidents = Vec::new();
    for pm in &page.monitors {
        let Some(m) = store.get_monitor(pm.monitor_id).await? else {
            continue;
        };
        let status = state
            .monitoring()
            .live_status(m.id)
            .unwrap_or(m.state.status.clone());
        let days = store.monitor_daily(m.id, now - Duration::days(90)).await?;
        let up = store.monitor_uptime(m.id, now).await?;
        for i in store.monitor_incidents(m.id, 20).await? {
            if i.started_at > now - Duration::days(30) {
                incidents.push((pm.display_name.clone(), i));
            }
        }
        rows.push((pm.display_name.clone(), status, days, up.d90));
    }
    incidents.sort_by_key(|b| std::cmp::Reverse(b.1.started_at));
    incidents.truncate(30);
    let any = |s: &str| rows.iter().any(|r| r.1 == s);
    let (overall_class, overall) = if any("down") {
        ("down", "Some systems are down")
    } else if any("degraded") {
        ("degraded", "Some systems are degraded")
    } else {
        ("up", "All systems operational")
    };
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light dark";
                title { (page.title) }
                link rel="stylesheet" href="/static/app.css";
            }
            body.status-page {
                main {
                    h1 #status-title { (page.title) }
                    @if !page.description.is_empty() { p.muted { (page.description) } }
                    @if let Some(n) = &page.notice { p.notice #status-notice role="status" { (n) } }
                    p class={ "overall mon-" (overall_class) } #overall { (overall) }
                    @for (name, status, days, d90) in &rows {
                        @let (class, word) = public_status(status);
                        section.status-monitor data-status=(class) {
                            h2 { span.status-name { (name) } " " span class={ "badge mon-" (class) } { (word) } }
                            (uptime_bars(days, today))
                            p.muted { "90 days ago" span.right { @match d90 { Some(p) => { (format!("{p:.2}")) "% uptime" } None => { "no data yet" } } } }
                        }
                    }
                    section #status-incidents {
                        h2 { "Incidents (last 30 days)" }
                        @if incidents.is_empty() { p.muted { "No incidents." } }
                        @for (name, i) in &incidents {
                            @let (class, word) = public_status(&i.status);
                            div.status-incident {
                                span class={ "badge mon-" (class) } { (word) } " " strong { (name) } " "
                                span.muted {
                                    "from " (i.started_at.format("%Y-%m-%d %H:%M UTC"))
                                    @match i.ended_at {
                                        Some(e) => { " to " (e.format("%Y-%m-%d %H:%M UTC")) " (" ((e - i.started_at).num_minutes()) " min)" }
                                        None => { " — ongoing" }
                                    }
                                }
                            }
                        }
                    }
                    p.muted { "Updated " (now.format("%Y-%m-%d %H:%M:%S UTC")) " · Powered by Lookout" }
                }
            }
        }
    };
    Ok(markup.into_string())
}

/// `GET /status/{slug}`: the public page, from the cache when fresh.
pub async fn public(State(state): State<AppState>, Path(slug): Path<String>) -> Response {
    let ttl =
        std::time::Duration::from_secs(state.monitoring().settings().status_page_cache_secs as u64);
    let cached = state
        .monitoring()
        .page_cache
        .lock()
        .get(&slug)
        .filter(|(at, _)| at.elapsed() < ttl)
        .map(|(_, body)| body.clone());
    let body = match cached {
        Some(b) => b,
        None => {
            let page = match state.store().find_status_page(&slug).await {
                Ok(Some(p)) => p,
                Ok(None) => return not_found("Status page"),
                Err(e) => return server_error(e),
            };
            let rendered = match render(&state, &page).await {
                Ok(r) => Arc::new(r),
                Err(e) => return server_error(e),
            };
            let mut cache = state.monitoring().page_cache.lock();
            if cache.len() > 1000 {
                cache.clear();
            }
            cache.insert(slug, (std::time::Instant::now(), rendered.clone()));
            rendered
        }
    };
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=5"),
        ],
        body.as_str().to_owned(),
    )
        .into_response()
}

/// The editor's form.
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub struct PageForm {
    csrf_token: String,
    slug: String,
    title: String,
    description: String,
    notice: String,
    /// One `monitor-id Display name` per line.
    monitors: String,
}

impl PageForm {
    fn parse(&self) -> Result<NewStatusPage, String> {
        let mut monitors = Vec::new();
        for line in self
            .monitors
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
        {
            let (id, name) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
            let id: i64 = id
                .trim_start_matches('#')
                .parse()
                .map_err(|_| format!("`{line}`: start the line with the monitor's id"))?;
            let name = name.trim();
            if name.is_empty() {
                return Err(format!("`{line}`: give a display name after the id"));
            }
            monitors.push(StatusPageMonitor {
                monitor_id: id,
                display_name: name.to_string(),
            });
        }
        Ok(NewStatusPage {
            slug: self.slug.trim().to_string(),
            title: self.title.trim().to_string(),
            description: self.description.trim().to_string(),
            notice: Some(self.notice.trim().to_string()).filter(|n| !n.is_empty()),
            monitors,
        })
    }
    fn of(p: &StatusPage) -> PageForm {
        PageForm {
            csrf_token: String::new(),
            slug: p.slug.clone(),
            title: p.title.clone(),
            description: p.description.clone(),
            notice: p.notice.clone().unwrap_or_default(),
            monitors: p
                .monitors
                .iter()
                .map(|m| format!("{} {}", m.monitor_id, m.display_name))
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }
}

async fn editor(
    state: &AppState,
    viewer: &Viewer,
    action: &str,
    f: &PageForm,
    problem: Option<&str>,
) -> Result<Markup, Response> {
    let projects = state.store().list_projects().await.map_err(server_error)?;
    let monitors = state
        .store()
        .list_monitors(None)
        .await
        .map_err(server_error)?;
    let csrf = &viewer.session.csrf_token;
    Ok(html! {
        @if let Some(p) = problem { p.error #form-problem { (p) } }
        form #status-page-form method="post" action=(action) {
            input type="hidden" name="csrf_token" value=(csrf);
            div.field { label for="slug" { "Slug (the page is /status/slug)" } input #slug name="slug" value=(f.slug) required; }
            div.field { label for="title" { "Title" } input #title name="title" value=(f.title) required; }
            div.field { label for="description" { "Description" } input #description name="description" value=(f.description); }
            div.field { label for="notice" { "Notice (e.g. maintenance tonight; empty: none)" } textarea #notice name="notice" rows="2" { (f.notice) } }
            div.field {
                label for="monitors" { "Monitors: one per line, the id then the public name" }
                textarea #monitors name="monitors" rows="5" placeholder="12 Website\n13 API" { (f.monitors) }
            }
            button #save-status-page type="submit" { "Save" }
        }
        details.snippet {
            summary { "Monitor ids" }
            table {
                @for m in &monitors {
                    tr { td { (m.id) } td { (m.name) } td.muted { (projects.iter().find(|p| p.id == m.project_id).map(|p| p.name.as_str()).unwrap_or("")) } }
                }
            }
        }
    })
}

/// `GET /admin/status-pages`.
pub async fn admin_list(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(done): Query<Done>,
) -> Page {
    viewer
        .access()
        .require_admin()
        .map_err(|e| error_page(&viewer, e))?;
    let pages = state
        .store()
        .list_status_pages()
        .await
        .map_err(server_error)?;
    let form = editor(
        &state,
        &viewer,
        "/admin/status-pages",
        &PageForm::default(),
        None,
    )
    .await?;
    let body = html! {
        h1 { "Status pages" }
        (notice(done.done.as_deref(), NOTICES))
        @if pages.is_empty() { p.muted { "No status page yet." } } @else {
            table #status-pages {
                @for p in &pages {
                    tr {
                        td { a href={ "/admin/status-pages/" (p.id) } { (p.title) } }
                        td { a href={ "/status/" (p.slug) } { "/status/" (p.slug) } }
                        td { (p.monitors.len()) " monitors" }
                        td { (relative_time(p.updated_at)) }
                    }
                }
            }
        }
        h2 { "New status page" }
        (form)
    };
    Ok(html_page(
        StatusCode::OK,
        layout("Status pages", Some(&viewer), body),
    ))
}

/// `POST /admin/status-pages`.
pub async fn admin_create(
    State(state): State<AppState>,
    Posted { viewer, form: f }: Posted<PageForm>,
) -> Page {
    save_page(&state, &viewer, &f, None).await
}

/// Creates (`id` = `None`) or changes a status page from its form: to the
/// page's editor when saved, or the form again with the reason (400).
async fn save_page(state: &AppState, viewer: &Viewer, f: &PageForm, id: Option<i64>) -> Page {
    viewer
        .access()
        .require_admin()
        .map_err(|e| error_page(viewer, e))?;
    let saved = match f.parse() {
        Ok(new) => match id {
            Some(id) => state.store().update_status_page(id, new).await,
            None => state.store().create_status_page(new).await,
        }
        .map_err(|e| crate::error::ApiError::from(e).to_string()),
        Err(m) => Err(m),
    };
    match saved {
        Ok(p) => {
            state.monitoring().page_cache.lock().clear();
            let done = if id.is_some() { "saved" } else { "created" };
            Ok(Redirect::to(&format!("/admin/status-pages/{}?done={done}", p.id)).into_response())
        }
        Err(m) => {
            let (action, title, heading) = match id {
                Some(id) => (
                    format!("/admin/status-pages/{id}"),
                    "Status page",
                    "Edit status page",
                ),
                None => (
                    "/admin/status-pages".to_string(),
                    "Status pages",
                    "New status page",
                ),
            };
            let form = editor(state, viewer, &action, f, Some(&m)).await?;
            Ok(html_page(
                StatusCode::BAD_REQUEST,
                layout(title, Some(viewer), html! { h1 { (heading) } (form) }),
            ))
        }
    }
}

/// `GET /admin/status-pages/{id}`.
pub async fn admin_edit_form(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Query(done): Query<Done>,
) -> Page {
    viewer
        .access()
        .require_admin()
        .map_err(|e| error_page(&viewer, e))?;
    let pages = state
        .store()
        .list_status_pages()
        .await
        .map_err(server_error)?;
    let Some(p) = pages.into_iter().find(|p| p.id == id) else {
        return Err(not_found("Status page"));
    };
    let action = format!("/admin/status-pages/{id}");
    let form = editor(&state, &viewer, &action, &PageForm::of(&p), None).await?;
    let csrf = &viewer.session.csrf_token;
    let body = html! {
        p.crumb { a href="/admin/status-pages" { "Status pages" } " / " }
        h1 { (p.title) }
        (notice(done.done.as_deref(), NOTICES))
        p { "Public at " a #public-link href={ "/status/" (p.slug) } { "/status/" (p.slug) } }
        (form)
        form.inline method="post" action={ "/admin/status-pages/" (id) "/delete" } {
            input type="hidden" name="csrf_token" value=(csrf);
            button.danger #delete-status-page type="submit" { "Delete this page" }
        }
    };
    Ok(html_page(
        StatusCode::OK,
        layout(&p.title, Some(&viewer), body),
    ))
}

/// `POST /admin/status-pages/{id}`.
pub async fn admin_edit(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted { viewer, form: f }: Posted<PageForm>,
) -> Page {
    save_page(&state, &viewer, &f, Some(id)).await
}

/// `POST /admin/status-pages/{id}/delete`.
pub async fn admin_delete(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted { viewer, form: _ }: Posted<CsrfForm>,
) -> Page {
    viewer
        .access()
        .require_admin()
        .map_err(|e| error_page(&viewer, e))?;
    state
        .store()
        .delete_status_page(id)
        .await
        .map_err(server_error)?;
    state.monitoring().page_cache.lock().clear();
    Ok(Redirect::to("/admin/status-pages?done=deleted").into_response())
}

crate::ui::posted::csrf_token_field!(PageForm);
