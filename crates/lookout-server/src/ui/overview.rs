//! The project overview (`GET /projects/{id}`): a list of panels.
//!
//! Each panel is one function that turns data into a [`Panel`]; the page
//! renders them in order in a responsive grid. The uptime, alert and
//! metrics pages add their panels by writing one such function and adding
//! it to the list in [`overview`] (fetching their own data there).

use super::charts::{fill_hours, hourly_bars};
use super::common::*;
use super::session::Viewer;
use super::{ProjectTab, layout, project_nav, relative_time};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use lookout_model::Project;
use lookout_storage::ProjectOverview;
use lookout_storage::overview::OVERVIEW_HOURS;
use maud::{Markup, html};

/// How many top issues the overview shows.
pub const TOP_ISSUES: usize = 5;

/// One box of the overview.
#[derive(Debug)]
pub struct Panel {
    /// The element id (tests and links find the panel by it).
    pub id: &'static str,
    /// Its heading.
    pub title: String,
    /// Spans the whole width (charts) instead of one grid column.
    pub wide: bool,
    /// Its content, empty state included.
    pub body: Markup,
}

fn render_panel(p: &Panel) -> Markup {
    html! {
        section.panel.wide[p.wide] id=(p.id) {
            h2 { (p.title) }
            (p.body)
        }
    }
}

/// The project's first active DSN, or an empty string.
pub async fn project_dsn(
    state: &AppState,
    project_id: i64,
) -> Result<String, lookout_storage::StorageError> {
    let keys = state.store().project_keys(project_id).await?;
    Ok(keys
        .iter()
        .find(|k| k.revoked_at.is_none())
        .map(|k| k.dsn(&state.config().public_url()))
        .unwrap_or_default())
}

/// What to do when a project has no events yet.
pub fn first_event_help(dsn: &str) -> Markup {
    html! {
        p { "No events yet. Point a Sentry SDK at this project's DSN, for example in Python:" }
        pre { "import sentry_sdk\nsentry_sdk.init(dsn=\"" (dsn) "\", release=\"my-app@1.0.0\", environment=\"production\")\n\n1 / 0  # sends a first event" }
    }
}

fn hour_label(hour: i64) -> String {
    DateTime::<Utc>::from_timestamp(hour * 3600, 0)
        .map(|t| t.format("%a %H:00 UTC").to_string())
        .unwrap_or_default()
}

fn plural(n: i64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Events per hour, last 24 hours and last 7 days.
fn events_panel(ov: &ProjectOverview, dsn: &str) -> Panel {
    let first = ov.now_hour - OVERVIEW_HOURS + 1;
    let week = fill_hours(
        ov.hourly_events.iter().copied(),
        first,
        OVERVIEW_HOURS as usize,
    );
    let day = &week[week.len() - 24..];
    let (day_total, week_total): (i64, i64) = (day.iter().sum(), week.iter().sum());
    let label = |start: i64| {
        move |i: usize, v: i64| {
            format!(
                "{}: {}",
                hour_label(start + i as i64),
                plural(v, "event", "events")
            )
        }
    };
    Panel {
        id: "events",
        title: "Events".into(),
        wide: true,
        body: html! {
            @if week_total == 0 {
                div.empty-state { (first_event_help(dsn)) }
            } @else {
                div.charts {
                    figure {
                        figcaption { "Last 24 hours: " strong #events-24h { (day_total) } " · per hour" }
                        (hourly_bars("chart-24h", day, "events per hour, last 24 hours", label(ov.now_hour - 23)))
                    }
                    figure {
                        figcaption { "Last 7 days: " strong #events-7d { (week_total) } " · per hour" }
                        (hourly_bars("chart-7d", &week, "events per hour, last 7 days", label(first)))
                    }
                }
                p.muted.small { "Accepted error events, by the hour they arrived." }
            }
        },
    }
}

/// New, unresolved and regressed issues.
fn issues_panel(project: &Project, ov: &ProjectOverview) -> Panel {
    let list = format!("/projects/{}/issues", project.id);
    Panel {
        id: "issue-counts",
        title: "Issues".into(),
        wide: false,
        body: html! {
            dl.stats {
                div { dt { "New in 24 h" } dd { a #stat-new href={ (list) "?sort=first_seen&status=all" } { (ov.new_issues_24h) } } }
                div { dt { "Unresolved" } dd { a #stat-unresolved href=(list) { (ov.unresolved) } } }
                div { dt { "Regressions" } dd #stat-regressions .bad[ov.regressions > 0] { (ov.regressions) } }
            }
            @if ov.unresolved == 0 {
                p.muted { "Nothing to triage. New errors appear here as they arrive." }
            }
        },
    }
}

/// Crash-free sessions of the latest release.
fn release_health_panel(project: &Project, ov: &ProjectOverview) -> Panel {
    let releases = format!("/projects/{}/releases", project.id);
    Panel {
        id: "release-health",
        title: "Release health".into(),
        wide: false,
        body: html! {
            @match &ov.latest_release {
                None => {
                    div.empty-state {
                        p { "No releases yet. Set " code { "release=\"my-app@1.0.0\"" } " in " code { "sentry_sdk.init" } " (or create one with " code { "sentry-cli releases new" } "); the SDK then also sends sessions, and this panel shows how many of them crashed." }
                    }
                }
                Some(r) => {
                    p { "Latest release " a href=(releases) { code #latest-release { (r.version) } } }
                    @match r.sessions.crash_free_rate {
                        Some(rate) => {
                            p.big { strong #crash-free { (format!("{:.1}", rate * 100.0)) " %" } " crash-free sessions" }
                            p.muted { (plural(r.sessions.total, "session", "sessions")) ", " (r.sessions.crashed) " crashed, " (r.sessions.errored) " with errors" }
                        }
                        None => {
                            p #crash-free .muted { "no session data" }
                            p.muted { "Sessions arrive from SDKs that set a " code { "release" } "; the Python SDK tracks them by default (" code { "auto_session_tracking" } ") and sends them as the program runs and exits." }
                        }
                    }
                }
            }
        },
    }
}

/// The unresolved issues with the most events in the last 24 hours.
fn top_issues_panel(project: &Project, ov: &ProjectOverview) -> Panel {
    Panel {
        id: "top-issues",
        title: "Top issues, last 24 hours".into(),
        wide: true,
        body: html! {
            @if ov.top_issues.is_empty() {
                p.muted { "No unresolved issue had events in the last 24 hours. The busiest ones show here as errors arrive; older issues are on the " a href={ "/projects/" (project.id) "/issues" } { "Issues" } " tab." }
            } @else {
                table {
                    thead { tr { th { "Issue" } th { "Events (24 h)" } th.optional { "Last seen" } } }
                    tbody {
                        @for t in &ov.top_issues {
                            tr.top-issue {
                                td {
                                    a.issue-link.issue-title href={ "/issues/" (t.issue.id) } { (t.issue.title) }
                                    @if t.issue.is_regression { " " span.badge.regression { "regression" } }
                                    br;
                                    span.muted { (t.issue.culprit) }
                                }
                                td.top-count { (t.events_24h) }
                                td.optional { (relative_time(t.issue.last_seen)) }
                            }
                        }
                    }
                }
            }
        },
    }
}

/// `GET /projects/{id}`: the overview.
pub async fn overview(State(state): State<AppState>, viewer: Viewer, Path(id): Path<i64>) -> Page {
    let (project, _role) = viewer
        .access()
        .read_project(&state, id)
        .await
        .map_err(|e| error_page(&viewer, e))?;
    let ov = state
        .store()
        .project_overview(id, Utc::now(), TOP_ISSUES)
        .await
        .map_err(server_error)?;
    let dsn = project_dsn(&state, id).await.map_err(server_error)?;
    let alerts = super::alerts::instances::overview_panel(&state, &viewer, id)
        .await
        .map_err(|e| error_page(&viewer, e))?;
    // The overview's panels, in page order. Add a panel here.
    let panels = [
        events_panel(&ov, &dsn),
        issues_panel(&project, &ov),
        alerts,
        release_health_panel(&project, &ov),
        top_issues_panel(&project, &ov),
    ];
    let body = html! {
        (project_nav(&project, ProjectTab::Overview))
        p.muted { "DSN: " code #dsn { (dsn) } }
        div.panels {
            @for p in &panels { (render_panel(p)) }
        }
    };
    Ok(html_page(
        StatusCode::OK,
        layout(&project.name, Some(&viewer), body),
    ))
}
