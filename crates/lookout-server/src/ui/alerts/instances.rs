//! `/alerts`: the alert instances the viewer may read (firing, pending,
//! recently resolved), filtered by state, project and severity, with the
//! silence that mutes each one, and Acknowledge / Resolve for those who
//! may act on them.

use super::reach::Reach;
use super::{AlertsTab, alerts_nav, engine_status, fail, severity_badge, state_badge};
use crate::alerting::service::{self, AlertFilter, AlertView, SilenceView};
use crate::state::AppState;
use crate::ui::common::*;
use crate::ui::posted::Posted;
use crate::ui::session::{Viewer, urlencode};
use crate::ui::{layout, relative_time};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use maud::{Markup, html};
use serde::Deserialize;
use std::collections::HashMap;

const NOTICES: &[(&str, &str)] = &[
    (
        "acked",
        "Alert acknowledged: no more reminders or escalation.",
    ),
    ("resolved", "Alert resolved."),
];

/// How many alerts a page shows.
const LIMIT: usize = 200;

/// The page's filters, all optional.
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub struct Filters {
    /// `active` (firing and pending, the default), `firing`, `pending`,
    /// `resolved` or `all`.
    state: String,
    /// A project id.
    project: String,
    /// A severity.
    severity: String,
    /// The next page's cursor.
    cursor: String,
    /// A confirmation to show.
    done: Option<String>,
}

/// Where an alert's subject lives in the UI, from its labels.
pub fn subject_link(a: &AlertView) -> Option<(String, String)> {
    let label = |k: &str| a.labels.get(k).filter(|v| !v.is_empty());
    if let Some(issue) = label("issue_id") {
        let title = a
            .annotations
            .get("title")
            .cloned()
            .unwrap_or_else(|| format!("issue {issue}"));
        return Some((format!("/issues/{issue}"), title));
    }
    if let Some(m) = label("monitor_id") {
        let name = label("monitor").cloned().unwrap_or_else(|| m.clone());
        return Some((format!("/monitors/{m}"), format!("monitor {name}")));
    }
    if let Some(c) = label("channel") {
        return Some(("/alerts/channels".into(), format!("channel {c}")));
    }
    if a.fingerprint == "backup" {
        return Some(("/admin/backups".into(), "backups".into()));
    }
    a.project_id.map(|p| {
        (
            format!("/projects/{p}/issues"),
            "the project's errors".into(),
        )
    })
}

fn states_of(filter: &str) -> Vec<String> {
    match filter {
        "firing" | "pending" | "resolved" => vec![filter.to_string()],
        "all" => vec![],
        _ => vec!["firing".into(), "pending".into()],
    }
}

/// `GET /alerts`.
pub async fn list(State(state): State<AppState>, viewer: Viewer, Query(f): Query<Filters>) -> Page {
    let access = viewer.access();
    let reach = Reach::of(&state, &viewer)
        .await
        .map_err(|e| fail(&viewer, e))?;
    let project_filter: Option<i64> = f.project.parse().ok();
    let page = service::list_alerts(
        &state,
        &access,
        AlertFilter {
            states: states_of(&f.state),
            project_id: project_filter,
            limit: Some(LIMIT),
            cursor: (!f.cursor.is_empty()).then(|| f.cursor.clone()),
            ..Default::default()
        },
    )
    .await
    .map_err(|e| fail(&viewer, e))?;
    let silences: HashMap<i64, SilenceView> = service::list_silences(&state, &access, Some(true))
        .await
        .map_err(|e| fail(&viewer, e))?
        .into_iter()
        .map(|s| (s.id, s))
        .collect();
    let mut alerts: Vec<AlertView> = page
        .items
        .into_iter()
        .filter(|a| f.severity.is_empty() || a.severity == f.severity)
        .collect();
    // Firing first, then pending, then resolved; newest first within.
    alerts.sort_by_key(|a| {
        let rank = match a.state.as_str() {
            "firing" => 0,
            "pending" => 1,
            _ => 2,
        };
        (
            rank,
            std::cmp::Reverse(a.starts_at.unwrap_or(a.active_since)),
        )
    });
    let older = page.next_cursor.map(|c| {
        format!(
            "/alerts?state={}&project={}&severity={}&cursor={}",
            urlencode(&f.state),
            urlencode(&f.project),
            urlencode(&f.severity),
            urlencode(&c)
        )
    });
    let csrf = &viewer.session.csrf_token;
    let state_opts = [
        ("active", "Firing and pending"),
        ("firing", "Firing"),
        ("pending", "Pending"),
        ("resolved", "Resolved"),
        ("all", "All"),
    ];
    let body = html! {
        (alerts_nav(&viewer, AlertsTab::Alerts))
        (notice(f.done.as_deref(), NOTICES))
        (engine_status(&state))
        form.filters #alert-filters method="get" action="/alerts" {
            label.visually-hidden for="f-state" { "State" }
            select #f-state name="state" {
                @for (v, l) in state_opts { option value=(v) selected[f.state == v || (f.state.is_empty() && v == "active")] { (l) } }
            }
            label.visually-hidden for="f-project" { "Project" }
            select #f-project name="project" {
                option value="" { "All projects" }
                @for (id, (p, _)) in &reach.projects { option value=(id) selected[project_filter == Some(*id)] { (p.name) } }
            }
            label.visually-hidden for="f-severity" { "Severity" }
            select #f-severity name="severity" {
                option value="" { "Any severity" }
                @for s in lookout_alert::Severity::ALL { option value=(s.as_str()) selected[f.severity == s.as_str()] { (s.as_str()) } }
            }
            button.secondary type="submit" { "Filter" }
        }
        @if alerts.is_empty() {
            div.empty-state #no-alerts {
                p { "No alerts here." }
                p.muted { "Alerts appear when a rule's condition holds: " a href="/alerts/rules" { "see the rules" } "." }
            }
        } @else {
            table #alerts {
                thead { tr { th { "State" } th { "Severity" } th { "Alert" } th.optional { "Started" } th.optional { "Count" } th { "" } } }
                tbody {
                    @for a in &alerts {
                        (alert_row(&reach, a, &silences, csrf))
                    }
                }
            }
        }
        @if let Some(href) = older { nav.pager { a #older href=(href) { "Older alerts →" } } }
    };
    Ok(html_page(
        StatusCode::OK,
        layout("Alerts", Some(&viewer), body),
    ))
}

fn alert_row(
    reach: &Reach,
    a: &AlertView,
    silences: &HashMap<i64, SilenceView>,
    csrf: &str,
) -> Markup {
    let rule_name = if a.rule_name.is_empty() {
        "(unknown rule)"
    } else {
        a.rule_name.as_str()
    };
    let link = subject_link(a);
    let detail = a
        .annotations
        .get("exception")
        .or_else(|| a.annotations.get("cause"));
    // Only which buttons to offer; the service decides.
    let may_act = match a.project_id {
        Some(p) => reach.member_of(p),
        None => reach.admin,
    };
    let can_act = may_act && a.state != "resolved";
    html! {
        tr.alert-row id={ "alert-" (a.id) } data-state=(a.state) {
            td { (state_badge(&a.state)) }
            td { (severity_badge(&a.severity)) }
            td {
                strong.alert-rule { (rule_name) }
                @if let Some(p) = a.project_id {
                    " · " a.alert-project href={ "/projects/" (p) } { (reach.project_name(p).unwrap_or("(project)")) }
                }
                @if let Some((href, text)) = &link {
                    br; a.alert-subject href=(href) { (text) }
                }
                @if let Some(d) = detail { br; span.muted.alert-detail { (d) } }
                @if let Some(by) = &a.acked_by { br; span.badge.acked { "acknowledged by " (by) } }
                @if let Some(by) = &a.resolved_by { br; span.muted.resolved-by { "resolved by " (by) } }
                @for id in &a.silenced_by {
                    @let s = silences.get(id);
                    br;
                    a.badge.muted-by href={ "/alerts/silences#silence-" (id) } title=[s.map(|s| s.comment.as_str())] {
                        "muted by "
                        @if s.is_some_and(|s| s.kind == "maintenance") { "maintenance" } @else { "silence" }
                        " #" (id)
                    }
                }
            }
            td.optional {
                @if let Some(t) = a.starts_at { (relative_time(t)) } @else { (relative_time(a.active_since)) " (pending)" }
                @if let Some(t) = a.ends_at { br; span.muted { "ended " (relative_time(t)) } }
            }
            td.optional.alert-count { (a.count) }
            td.alert-actions {
                @if can_act {
                    @if a.acked_by.is_none() && a.state == "firing" {
                        form.inline method="post" action={ "/alerts/" (a.id) "/ack" } {
                            input type="hidden" name="csrf_token" value=(csrf);
                            button.secondary.ack-alert type="submit" { "Acknowledge" }
                        }
                        " "
                    }
                    form.inline method="post" action={ "/alerts/" (a.id) "/resolve" } {
                        input type="hidden" name="csrf_token" value=(csrf);
                        button.secondary.resolve-alert type="submit" { "Resolve" }
                    }
                }
            }
        }
    }
}

/// `POST /alerts/{id}/ack`.
pub async fn acknowledge(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted { viewer, form: _ }: Posted<CsrfForm>,
) -> Page {
    service::acknowledge_alert(&state, &viewer.access(), id)
        .await
        .map_err(|e| fail(&viewer, e))?;
    Ok(Redirect::to("/alerts?done=acked").into_response())
}

/// `POST /alerts/{id}/resolve`.
pub async fn resolve(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted { viewer, form: _ }: Posted<CsrfForm>,
) -> Page {
    service::resolve_alert(&state, &viewer.access(), id)
        .await
        .map_err(|e| fail(&viewer, e))?;
    Ok(Redirect::to("/alerts?done=resolved").into_response())
}

/// How many alerts the overview panel lists.
const PANEL_ALERTS: usize = 5;

/// The project overview's alerts panel: what fires or is pending now.
pub async fn overview_panel(
    state: &AppState,
    viewer: &Viewer,
    project_id: i64,
) -> Result<crate::ui::overview::Panel, crate::error::ApiError> {
    let page = service::list_alerts(
        state,
        &viewer.access(),
        AlertFilter {
            states: vec!["firing".into(), "pending".into()],
            project_id: Some(project_id),
            limit: Some(service::MAX_LIMIT),
            ..Default::default()
        },
    )
    .await?;
    let firing = page.items.iter().filter(|a| a.state == "firing").count();
    let pending = page.items.len() - firing;
    let body = html! {
        @if page.items.is_empty() {
            p.muted #no-project-alerts { "Nothing firing. " a href="/alerts/rules" { "Rules" } " decide what alerts." }
        } @else {
            p.big { (firing) " firing" @if pending > 0 { ", " (pending) " pending" } }
            ul.compact {
                @for a in page.items.iter().take(PANEL_ALERTS) {
                    li.panel-alert {
                        (severity_badge(&a.severity)) " " (a.rule_name)
                        @if let Some((href, text)) = subject_link(a) { ": " a href=(href) { (text) } }
                        @if !a.silenced_by.is_empty() { " " span.muted { "(muted)" } }
                    }
                }
            }
            p { a href={ "/alerts?project=" (project_id) } { "All alerts of this project" } }
        }
    };
    Ok(crate::ui::overview::Panel {
        id: "alerts-panel",
        title: "Alerts".into(),
        wide: false,
        body,
    })
}
