//! `/alerts/deliveries` (administrators): the delivery log, every attempt
//! with its time, channel, notification, attempt number, outcome, error
//! and duration; filtered by channel and outcome, 50 to a page.
//!
//! The log is read newest first up to `WINDOW` rows (the outbox prunes
//! old rows), filtered and paged here.

use super::{AlertsTab, alerts_nav, engine_status};
use crate::state::AppState;
use crate::ui::common::*;
use crate::ui::session::{Viewer, urlencode};
use crate::ui::{layout, relative_time};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use lookout_storage::DeliveryAttempt;
use maud::html;
use serde::Deserialize;
use std::collections::HashMap;

/// Rows per page.
const PAGE: usize = 50;
/// How many of the newest attempts the page looks through.
const WINDOW: usize = 5000;
/// The outcomes an attempt can have.
const OUTCOMES: [&str; 4] = ["sent", "retry", "failed", "deferred"];

/// The filters and page.
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub struct Filters {
    channel: String,
    outcome: String,
    page: String,
}

/// What a notification was about, from its outbox payload.
fn summary(payload: &serde_json::Value) -> String {
    let rule = payload["rule_name"].as_str().unwrap_or("?");
    let kind = payload["kind"].as_str().unwrap_or("");
    let firing = payload["firing"].as_array().map(|a| a.len()).unwrap_or(0);
    let resolved = payload["resolved"].as_array().map(|a| a.len()).unwrap_or(0);
    format!("{rule} · {kind} ({firing} firing, {resolved} resolved)")
}

/// `GET /alerts/deliveries`.
pub async fn list(State(state): State<AppState>, viewer: Viewer, Query(f): Query<Filters>) -> Page {
    viewer
        .access()
        .require_admin()
        .map_err(|e| error_page(&viewer, e))?;
    let store = state.store();
    let page: usize = f.page.parse().unwrap_or(1).max(1);
    let all = store
        .list_deliveries(None, WINDOW)
        .await
        .map_err(server_error)?;
    let mut channels: Vec<String> = all.iter().map(|d| d.channel.clone()).collect();
    channels.sort();
    channels.dedup();
    let matching: Vec<&DeliveryAttempt> = all
        .iter()
        .filter(|d| f.channel.is_empty() || d.channel == f.channel)
        .filter(|d| f.outcome.is_empty() || d.outcome == f.outcome)
        .collect();
    let shown: Vec<&DeliveryAttempt> = matching
        .iter()
        .skip((page - 1) * PAGE)
        .take(PAGE)
        .copied()
        .collect();
    let more = matching.len() > page * PAGE;
    let notifications: HashMap<i64, String> = store
        .list_outbox(None, WINDOW)
        .await
        .map_err(server_error)?
        .into_iter()
        .map(|o| (o.id, summary(&o.payload)))
        .collect();
    let link = |p: usize| {
        format!(
            "/alerts/deliveries?channel={}&outcome={}&page={p}",
            urlencode(&f.channel),
            urlencode(&f.outcome)
        )
    };
    let body = html! {
        (alerts_nav(&viewer, AlertsTab::Deliveries))
        (engine_status(&state))
        form.filters #delivery-filters method="get" action="/alerts/deliveries" {
            label.visually-hidden for="f-channel" { "Channel" }
            select #f-channel name="channel" {
                option value="" { "Every channel" }
                @for c in &channels { option value=(c) selected[f.channel == *c] { (c) } }
            }
            label.visually-hidden for="f-outcome" { "Outcome" }
            select #f-outcome name="outcome" {
                option value="" { "Any outcome" }
                @for o in OUTCOMES { option value=(o) selected[f.outcome == o] { (o) } }
            }
            button.secondary type="submit" { "Filter" }
        }
        @if shown.is_empty() {
            div.empty-state #no-deliveries { p { "No delivery attempts" @if page > 1 { " on this page" } "." } }
        } @else {
            table #deliveries {
                thead { tr { th { "Time" } th { "Channel" } th.optional { "Notification" } th.optional { "Attempt" } th { "Outcome" } th.optional { "Duration" } } }
                tbody {
                    @for d in &shown {
                        tr.delivery-row data-outcome=(d.outcome) {
                            td { (relative_time(d.at)) }
                            td.delivery-channel { (d.channel) }
                            td.optional { (notifications.get(&d.outbox_id).cloned().unwrap_or_else(|| format!("#{}", d.outbox_id))) }
                            td.optional { (d.attempt) }
                            td {
                                span class={ "badge outcome-" (d.outcome) } { (d.outcome) }
                                @if let Some(e) = &d.error { br; span.muted.delivery-error { (e) } }
                            }
                            td.optional { (d.duration_ms) " ms" }
                        }
                    }
                }
            }
        }
        nav.pager {
            @if page > 1 { a #newer href=(link(page - 1)) { "← Newer" } " " }
            @if more { a #older href=(link(page + 1)) { "Older →" } }
        }
    };
    Ok(html_page(
        StatusCode::OK,
        layout("Delivery log", Some(&viewer), body),
    ))
}
