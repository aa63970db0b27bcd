//! Alerting in the UI (issue #6): alert instances (`/alerts`) with
//! acknowledge and resolve, rules (`/alerts/rules`), silences and
//! maintenance windows (`/alerts/silences`), and for administrators the
//! notification channels (`/alerts/channels`, with "Send test") and the
//! delivery log (`/alerts/deliveries`).
//!
//! Every read, write and access decision goes through the alerting
//! service layer (`crate::alerting::service`), which the JSON API uses
//! too; the pages only parse forms, call it, and render. `Reach` (the
//! viewer's projects and roles) decides nothing: it only chooses which
//! buttons and checkboxes to offer.
//!
//! Everything an alert carries (titles, exception values, labels) came
//! from events and is rendered escaped, like every other page.

pub mod channels;
pub mod deliveries;
mod forms;
pub mod instances;
mod reach;
pub mod rules;
pub mod silences;

use super::common::{error_page, html_page};
use super::layout;
use super::session::Viewer;
use crate::error::ApiError;
use crate::state::AppState;
use axum::Router;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use maud::{Markup, html};

/// The alerting pages' routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/alerts", get(instances::list))
        .route("/alerts/{id}/ack", post(instances::acknowledge))
        .route("/alerts/{id}/resolve", post(instances::resolve))
        .route("/alerts/rules", get(rules::list).post(rules::create))
        .route("/alerts/rules/new", get(rules::new_form))
        .route(
            "/alerts/rules/{id}",
            get(rules::edit_form).post(rules::edit),
        )
        .route("/alerts/rules/{id}/delete", post(rules::delete))
        .route(
            "/alerts/silences",
            get(silences::list).post(silences::create),
        )
        .route("/alerts/silences/{id}/expire", post(silences::expire))
        .route(
            "/alerts/channels",
            get(channels::list).post(channels::create),
        )
        .route("/alerts/channels/new", get(channels::new_form))
        .route(
            "/alerts/channels/{name}",
            get(channels::edit_form).post(channels::edit),
        )
        .route("/alerts/channels/{name}/delete", post(channels::delete))
        .route("/alerts/channels/{name}/test", post(channels::send_test))
        .route("/alerts/deliveries", get(deliveries::list))
}

/// Which alerting page is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertsTab {
    /// `/alerts`.
    Alerts,
    /// `/alerts/rules`.
    Rules,
    /// `/alerts/silences`.
    Silences,
    /// `/alerts/channels` (administrators).
    Channels,
    /// `/alerts/deliveries` (administrators).
    Deliveries,
}

/// The heading and tab bar of the alerting pages; channels and the
/// delivery log only for administrators.
pub fn alerts_nav(viewer: &Viewer, active: AlertsTab) -> Markup {
    let mut tabs = vec![
        (AlertsTab::Alerts, "Alerts", "/alerts"),
        (AlertsTab::Rules, "Rules", "/alerts/rules"),
        (AlertsTab::Silences, "Silences", "/alerts/silences"),
    ];
    if viewer.user.is_admin {
        tabs.push((AlertsTab::Channels, "Channels", "/alerts/channels"));
        tabs.push((AlertsTab::Deliveries, "Delivery log", "/alerts/deliveries"));
    }
    html! {
        h1 { "Alerts" }
        nav.tabs aria-label="alerting" {
            @for (tab, label, path) in tabs {
                @if tab == active {
                    a.active aria-current="page" href=(path) { (label) }
                } @else {
                    a href=(path) { (label) }
                }
            }
        }
    }
}

/// A severity badge.
pub fn severity_badge(severity: &str) -> Markup {
    html! { span class={ "badge sev-" (severity) } { (severity) } }
}

/// An alert state badge (`firing`, `pending`, `resolved`).
pub fn state_badge(state: &str) -> Markup {
    html! { span class={ "badge alert-" (state) } { (state) } }
}

/// The alerting engine's status, shown when it is off.
pub fn engine_status(state: &AppState) -> Markup {
    html! {
        @if !state.alerts().is_running() {
            p.error #alerting-off { "Alerting is not running ([alerts] enabled = false, or it failed to start: see the log). Changes are saved and take effect when it runs." }
        }
    }
}

/// The page for a refused or failed service call: a conflict (declared
/// in lookout.toml, already resolved) is a 409 and "alerting is not
/// running" a 503, each saying why.
pub fn fail(viewer: &Viewer, e: ApiError) -> Response {
    match e {
        ApiError::Conflict(m) => html_page(
            StatusCode::CONFLICT,
            layout(
                "Cannot do that",
                Some(viewer),
                html! { h1 { "Cannot do that" } p.error #conflict { (m) } },
            ),
        ),
        ApiError::Unavailable { message, .. } => html_page(
            StatusCode::SERVICE_UNAVAILABLE,
            layout(
                "Not now",
                Some(viewer),
                html! { h1 { "Not now" } p.error #unavailable { (message) } },
            ),
        ),
        e => error_page(viewer, e),
    }
}

/// The form field a service error names (`` `condition.window`: … ``
/// → `window`), if it is one of `fields`.
pub fn field_of(message: &str, fields: &[&str]) -> Option<String> {
    message
        .split('`')
        .skip(1)
        .step_by(2)
        .map(|w| {
            let last = w.rsplit('.').next().unwrap_or(w);
            last.split('[').next().unwrap_or(last)
        })
        .find(|w| fields.contains(w))
        .map(String::from)
}
