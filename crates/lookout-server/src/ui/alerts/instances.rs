//! `/alerts`: the alert instances the viewer may read (firing, pending,
//! recently resolved), filtered by state, project and severity, with the
//! silence that mutes each one, and Acknowledge / Resolve for those who
//! may act on them.

use super::access::{self, Reach};
use super::{AlertsTab, alerts_nav, engine_status, severity_badge, state_badge};
use crate::state::AppState;
use crate::ui::common::*;
use crate::ui::session::Viewer;
use crate::ui::{layout, relative_time};
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use chrono::{DateTime, Utc};
use lookout_alert::{Alert, Silence, SilenceKind, Subject};
use lookout_storage::{AlertInstanceQuery, AlertInstanceRow, SilenceRow};
use maud::{Markup, html};
use serde::Deserialize;

const NOTICES: &[(&str, &str)] = &[
    (
        "acked",
        "Alert acknowledged: no more reminders or escalation.",
    ),
    ("resolved", "Alert resolved."),
];

/// How many alerts the page shows at most.
const LIMIT: usize = 500;

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
    /// A confirmation to show.
    done: Option<String>,
}

/// A stored silence as the engine reads it (unparsable ones mute nothing).
pub fn silence_of(row: &SilenceRow) -> Option<Silence> {
    let matchers = row
        .matchers
        .iter()
        .map(|m| m.parse())
        .collect::<Result<Vec<_>, _>>()
        .ok()?;
    Some(Silence {
        id: row.id,
        kind: if row.kind == "maintenance" {
            SilenceKind::Maintenance
        } else {
            SilenceKind::Silence
        },
        matchers,
        starts_at: row.starts_at,
        ends_at: row.ends_at,
        created_by: row.created_by.clone(),
        comment: row.comment.clone(),
    })
}

/// The first silence muting an alert with `labels` now.
pub fn muted_by<'a>(
    silences: &'a [Silence],
    labels: &lookout_alert::Labels,
    now: DateTime<Utc>,
) -> Option<&'a Silence> {
    silences.iter().find(|s| s.mutes(labels, now))
}

/// Where an alert's subject lives in the UI.
pub fn subject_link(a: &Alert) -> Option<(String, String)> {
    match &a.subject {
        Subject::Issue { issue_id, .. } => Some((
            format!("/issues/{issue_id}"),
            a.annotations
                .get("title")
                .cloned()
                .unwrap_or_else(|| format!("issue {issue_id}")),
        )),
        Subject::Monitor { monitor_id, .. } => Some((
            format!("/monitors/{monitor_id}"),
            a.labels
                .get("monitor")
                .map(|m| format!("monitor {m}"))
                .unwrap_or_else(|| format!("monitor {monitor_id}")),
        )),
        Subject::Project { project_id } => Some((
            format!("/projects/{project_id}/issues"),
            "all errors of the project".into(),
        )),
        Subject::Install => {
            if let Some(c) = a.labels.get("channel") {
                Some(("/alerts/channels".into(), format!("channel {c}")))
            } else if a.key.fingerprint == "backup" {
                Some(("/admin/backups".into(), "backups".into()))
            } else {
                None
            }
        }
    }
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
    let reach = Reach::of(&state, &viewer)
        .await
        .map_err(|e| error_page(&viewer, e))?;
    let project_filter: Option<i64> = f.project.parse().ok();
    let projects = match project_filter {
        Some(p) => Some(if reach.role(p).is_some() {
            vec![p]
        } else {
            vec![]
        }),
        None if reach.admin => None,
        None => Some(reach.projects.keys().copied().collect()),
    };
    let store = state.store();
    let mut rows = store
        .list_alert_instances(AlertInstanceQuery {
            states: states_of(&f.state),
            projects,
            include_install: reach.admin && project_filter.is_none(),
            limit: LIMIT,
            ..Default::default()
        })
        .await
        .map_err(server_error)?;
    rows.retain(|r| reach.reads_alert(r) && (f.severity.is_empty() || r.severity == f.severity));
    let now = Utc::now();
    let silences: Vec<Silence> = store
        .list_silences(now)
        .await
        .map_err(server_error)?
        .iter()
        .filter_map(silence_of)
        .collect();
    let alerts: Vec<(AlertInstanceRow, Option<Alert>)> = rows
        .into_iter()
        .map(|r| {
            let a = serde_json::from_value::<Alert>(r.body.clone()).ok();
            (r, a)
        })
        .collect();
    // Firing first, then pending, then resolved; newest first within.
    let mut alerts = alerts;
    alerts.sort_by_key(|(r, _)| {
        let rank = match r.state.as_str() {
            "firing" => 0,
            "pending" => 1,
            _ => 2,
        };
        (
            rank,
            std::cmp::Reverse(r.starts_at.unwrap_or(r.active_since)),
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
                    @for (r, a) in &alerts {
                        (alert_row(&reach, r, a.as_ref(), &silences, now, csrf))
                    }
                }
            }
        }
    };
    Ok(html_page(
        StatusCode::OK,
        layout("Alerts", Some(&viewer), body),
    ))
}

fn alert_row(
    reach: &Reach,
    r: &AlertInstanceRow,
    a: Option<&Alert>,
    silences: &[Silence],
    now: DateTime<Utc>,
    csrf: &str,
) -> Markup {
    let rule_name = a.map(|a| a.rule_name.as_str()).unwrap_or("(unknown rule)");
    let muted = a
        .filter(|_| r.state != "resolved")
        .and_then(|a| muted_by(silences, &a.labels, now));
    let link = a.and_then(subject_link);
    let detail = a.and_then(|a| {
        a.annotations
            .get("exception")
            .or_else(|| a.annotations.get("cause"))
            .cloned()
    });
    let can_act = reach.acts_on_alert(r) && r.state != "resolved";
    html! {
        tr.alert-row id={ "alert-" (r.id) } data-state=(r.state) {
            td { (state_badge(&r.state)) }
            td { (severity_badge(&r.severity)) }
            td {
                strong.alert-rule { (rule_name) }
                @if let Some(p) = r.project_id {
                    " · " a.alert-project href={ "/projects/" (p) } { (reach.project_name(p).unwrap_or("(project)")) }
                }
                @if let Some((href, text)) = &link {
                    br; a.alert-subject href=(href) { (text) }
                }
                @if let Some(d) = &detail { br; span.muted.alert-detail { (d) } }
                @if let Some(by) = &r.acked_by { br; span.badge.acked { "acknowledged by " (by) } }
                @if let Some(by) = &r.resolved_by { br; span.muted.resolved-by { "resolved by " (by) } }
                @if let Some(s) = muted {
                    br;
                    a.badge.muted-by href={ "/alerts/silences#silence-" (s.id) } title=(s.comment) {
                        "muted by "
                        @if s.kind == SilenceKind::Maintenance { "maintenance" } @else { "silence" }
                        " #" (s.id)
                    }
                }
            }
            td.optional {
                @if let Some(t) = r.starts_at { (relative_time(t)) } @else { (relative_time(r.active_since)) " (pending)" }
                @if let Some(t) = r.ends_at { br; span.muted { "ended " (relative_time(t)) } }
            }
            td.optional.alert-count { (a.map(|a| a.count).unwrap_or(0)) }
            td.alert-actions {
                @if can_act {
                    @if r.acked_by.is_none() && r.state == "firing" {
                        form.inline method="post" action={ "/alerts/" (r.id) "/ack" } {
                            input type="hidden" name="csrf_token" value=(csrf);
                            button.secondary.ack-alert type="submit" { "Acknowledge" }
                        }
                        " "
                    }
                    form.inline method="post" action={ "/alerts/" (r.id) "/resolve" } {
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
    viewer: Viewer,
    Path(id): Path<i64>,
    Form(f): Form<CsrfForm>,
) -> Page {
    if !csrf_ok(&viewer, &f.csrf_token) {
        return Err(forbidden_csrf());
    }
    let err = |e| error_page(&viewer, e);
    let reach = Reach::of(&state, &viewer).await.map_err(err)?;
    access::acknowledge(&state, &viewer, &reach, id)
        .await
        .map_err(err)?;
    Ok(Redirect::to("/alerts?done=acked").into_response())
}

/// `POST /alerts/{id}/resolve`.
pub async fn resolve(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Form(f): Form<CsrfForm>,
) -> Page {
    if !csrf_ok(&viewer, &f.csrf_token) {
        return Err(forbidden_csrf());
    }
    let err = |e| error_page(&viewer, e);
    let reach = Reach::of(&state, &viewer).await.map_err(err)?;
    access::resolve(&state, &viewer, &reach, id)
        .await
        .map_err(err)?;
    Ok(Redirect::to("/alerts?done=resolved").into_response())
}
