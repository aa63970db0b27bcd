//! `/alerts/deliveries` (administrators): the delivery log, every attempt
//! with its time, channel, notification, attempt number, outcome, error
//! and duration; filtered by channel and outcome, 50 to a page (keyset
//! paging through the service's cursor).

use super::{AlertsTab, alerts_nav, engine_status, fail};
use crate::alerting::service::{self, DeliveryFilter};
use crate::state::AppState;
use crate::ui::common::*;
use crate::ui::session::{Viewer, urlencode};
use crate::ui::{layout, relative_time};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use maud::html;
use serde::Deserialize;
use std::collections::HashMap;

/// Rows per page.
const PAGE: usize = 50;
/// The outcomes an attempt can have.
const OUTCOMES: [&str; 4] = ["sent", "retry", "failed", "deferred"];

/// The filters and the page's cursor.
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub struct Filters {
    channel: String,
    outcome: String,
    cursor: String,
}

/// `GET /alerts/deliveries`.
pub async fn list(State(state): State<AppState>, viewer: Viewer, Query(f): Query<Filters>) -> Page {
    let access = viewer.access();
    let err = |e| fail(&viewer, e);
    let some = |s: &str| (!s.is_empty()).then(|| s.to_string());
    let page = service::list_deliveries(
        &state,
        &access,
        DeliveryFilter {
            channel: some(&f.channel),
            outcome: some(&f.outcome),
            limit: Some(PAGE),
            cursor: some(&f.cursor),
        },
    )
    .await
    .map_err(err)?;
    let channels = service::channel_names(&state, &access).await.map_err(err)?;
    // What each notification was about (the outbox is pruned, so small).
    let notifications: HashMap<i64, String> =
        service::list_outbox(&state, &access, None, None, Some(service::MAX_LIMIT))
            .await
            .map_err(err)?
            .into_iter()
            .filter_map(|o| o.summary.map(|s| (o.id, s)))
            .collect();
    let link = |cursor: Option<&str>| {
        let mut href = format!(
            "/alerts/deliveries?channel={}&outcome={}",
            urlencode(&f.channel),
            urlencode(&f.outcome)
        );
        if let Some(c) = cursor {
            href.push_str("&cursor=");
            href.push_str(&urlencode(c));
        }
        href
    };
    let shown = &page.items;
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
            div.empty-state #no-deliveries { p { "No delivery attempts." } }
        } @else {
            table #deliveries {
                thead { tr { th { "Time" } th { "Channel" } th.optional { "Notification" } th.optional { "Attempt" } th { "Outcome" } th.optional { "Duration" } } }
                tbody {
                    @for d in shown {
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
            @if !f.cursor.is_empty() { a #newest href=(link(None)) { "← Newest" } " " }
            @if let Some(c) = &page.next_cursor { a #older href=(link(Some(c))) { "Older →" } }
        }
    };
    Ok(html_page(
        StatusCode::OK,
        layout("Delivery log", Some(&viewer), body),
    ))
}
