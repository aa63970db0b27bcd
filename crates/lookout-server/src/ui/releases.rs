//! The releases page (`GET /projects/{id}/releases`): each release with its
//! date, new issues, events, crash-free sessions and deploys.
//!
//! Event and new-issue counts are the release's counters, kept by ingest
//! (no count over the events table); the new issues' titles come from one
//! query over `issues(project_id, first_release)`.

use super::common::*;
use super::session::{Viewer, urlencode};
use super::{ProjectTab, layout, project_nav, relative_time};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use lookout_model::errors::{Issue, Release};
use maud::{Markup, html};

/// New issues named per release (the count links to all of them).
const NEW_ISSUES_SHOWN: usize = 3;

/// Crash-free rate as text: "99.5 %", or `None` without sessions.
pub fn crash_free_text(rate: Option<f64>) -> Option<String> {
    rate.map(|r| format!("{:.1} %", r * 100.0))
}

fn empty_state(dsn: &str) -> Markup {
    html! {
        div.empty-state #no-releases {
            p { "No releases yet. A release appears when an event or session names one, or when you create it with " code { "sentry-cli" } " (using a Lookout API token from " code { "lookout token create" } "):" }
            pre { "export SENTRY_URL=<this server's URL> SENTRY_AUTH_TOKEN=<token> SENTRY_ORG=lookout SENTRY_PROJECT=<project slug>\nsentry-cli releases new my-app@1.0.0\nsentry-cli releases finalize my-app@1.0.0\nsentry-cli releases deploys my-app@1.0.0 new -e production" }
            p { "and tag events with it in the SDK:" }
            pre { "sentry_sdk.init(dsn=\"" (dsn) "\", release=\"my-app@1.0.0\")" }
        }
    }
}

fn release_row(project_id: i64, r: &Release, new: &[Issue]) -> Markup {
    let issues_link = format!(
        "/projects/{project_id}/issues?status=all&first_release={}",
        urlencode(&r.version)
    );
    html! {
        tr.release {
            td {
                code.release-version { (r.version) }
                br;
                span.muted {
                    @if let Some(d) = r.date_released { "released " (relative_time(d)) }
                    @else { "created " (relative_time(r.created_at)) }
                }
            }
            td.release-new-issues {
                @if r.new_issues == 0 {
                    span.muted { "none" }
                } @else {
                    a.new-issues-count href=(issues_link) { (r.new_issues) " new" }
                    ul.compact {
                        @for i in new {
                            li { a.issue-link href={ "/issues/" (i.id) } { (i.title) } }
                        }
                    }
                }
            }
            td.release-events { (r.event_count) }
            td.release-crash-free {
                @match crash_free_text(r.sessions.crash_free_rate) {
                    Some(t) => { (t) br; span.muted { (r.sessions.total) " sessions" } }
                    None => { span.muted { "no session data" } }
                }
            }
            td.optional.release-deploys {
                @if r.deploys.is_empty() {
                    span.muted { "not deployed" }
                } @else {
                    ul.compact {
                        @for d in r.deploys.iter().take(5) {
                            li.deploy { span.deploy-env { (d.environment) } " " (relative_time(d.date_finished)) }
                        }
                    }
                }
            }
        }
    }
}

/// `GET /projects/{id}/releases`.
pub async fn releases(State(state): State<AppState>, viewer: Viewer, Path(id): Path<i64>) -> Page {
    let (project, _role) = viewer
        .access()
        .read_project(&state, id)
        .await
        .map_err(|e| error_page(&viewer, e))?;
    let list = state
        .store()
        .list_releases(id)
        .await
        .map_err(server_error)?;
    let versions: Vec<String> = list
        .iter()
        .filter(|r| r.new_issues > 0)
        .map(|r| r.version.clone())
        .collect();
    let new_issues = state
        .store()
        .release_new_issues(id, versions, NEW_ISSUES_SHOWN)
        .await
        .map_err(server_error)?;
    let new_of = |v: &str| -> &[Issue] {
        new_issues
            .iter()
            .find(|(version, _)| version == v)
            .map(|(_, i)| i.as_slice())
            .unwrap_or(&[])
    };
    let dsn = super::overview::project_dsn(&state, id)
        .await
        .map_err(server_error)?;
    let body = html! {
        (project_nav(&project, ProjectTab::Releases))
        @if list.is_empty() {
            (empty_state(&dsn))
        } @else {
            table #releases {
                thead { tr {
                    th { "Release" } th { "New issues" } th { "Events" } th { "Crash-free" } th.optional { "Deploys" }
                } }
                tbody {
                    @for r in &list { (release_row(id, r, new_of(&r.version))) }
                }
            }
            p.muted { "Newest first (at most 200). Events and new issues count from the first event that named the release." }
        }
    };
    Ok(html_page(
        StatusCode::OK,
        layout(&format!("Releases · {}", project.name), Some(&viewer), body),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crash_free_reads_as_a_percentage_or_nothing() {
        assert_eq!(crash_free_text(Some(0.9)).as_deref(), Some("90.0 %"));
        assert_eq!(crash_free_text(Some(1.0)).as_deref(), Some("100.0 %"));
        assert_eq!(crash_free_text(Some(0.99949)).as_deref(), Some("99.9 %"));
        assert_eq!(crash_free_text(None), None);
    }
}
