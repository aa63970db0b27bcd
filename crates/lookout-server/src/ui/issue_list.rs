//! The issue list's parts beyond the table: the filter and sort form, the
//! links that keep the filters, the 24-hour trend of each row, and the
//! bulk resolve/ignore action (`POST /projects/{id}/issues/bulk`).

use super::charts::{fill_hours, sparkline};
use super::common::*;
use super::session::{Viewer, urlencode};
use crate::routes::pages_api::bulk_set_status;
use crate::state::AppState;
use crate::ui::posted::{Pairs, Posted};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use lookout_model::errors::IssueStatus;
use lookout_storage::FilterValues;
use maud::{Markup, html};
use std::collections::HashMap;

/// The list's filter parameters, in the order links carry them.
pub const FILTER_KEYS: [&str; 7] = [
    "status",
    "query",
    "level",
    "environment",
    "release",
    "first_release",
    "sort",
];

const LEVELS: [&str; 5] = ["fatal", "error", "warning", "info", "debug"];
const STATUSES: [&str; 5] = [
    "unresolved",
    "resolved",
    "resolved_in_next_release",
    "ignored",
    "all",
];
const SORTS: [(&str, &str); 4] = [
    ("last_seen", "Last seen"),
    ("first_seen", "First seen"),
    ("events", "Most events"),
    ("users", "Most users"),
];

/// The filters that are set, as `key=value&…` (URL-encoded).
pub fn query_string(filters: &[(&str, String)]) -> String {
    filters
        .iter()
        .filter(|(k, v)| FILTER_KEYS.contains(k) && !v.is_empty())
        .map(|(k, v)| format!("{k}={}", urlencode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn value<'a>(filters: &'a [(&str, String)], key: &str) -> &'a str {
    filters
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

fn select(name: &str, any: &str, current: &str, options: &[(String, String)]) -> Markup {
    html! {
        select name=(name) aria-label=(name) {
            option value="" selected[current.is_empty()] { (any) }
            @for (v, label) in options {
                option value=(v) selected[v == current] { (label) }
            }
            // A value from a link that is not (or no longer) offered stays selected.
            @if !current.is_empty() && !options.iter().any(|(v, _)| v == current) {
                option value=(current) selected { (current) }
            }
        }
    }
}

/// The filter form: search, status, level, environment, release, sort.
pub fn filter_form(filters: &[(&str, String)], values: &FilterValues) -> Markup {
    let status = match value(filters, "status") {
        "" => "unresolved",
        s => s,
    };
    let pairs = |xs: &[String]| -> Vec<(String, String)> {
        xs.iter().map(|x| (x.clone(), x.clone())).collect()
    };
    let levels: Vec<String> = LEVELS.iter().map(|s| s.to_string()).collect();
    let sorts: Vec<(String, String)> = SORTS
        .iter()
        .map(|(v, l)| (v.to_string(), l.to_string()))
        .collect();
    let sort = match value(filters, "sort") {
        "" => "last_seen",
        s => s,
    };
    html! {
        form #issue-filters .filters method="get" {
            input type="search" name="query" value=(value(filters, "query")) placeholder="Search: free text or key:value (release:1.0, environment:production)";
            select name="status" aria-label="status" {
                @for s in STATUSES {
                    option value=(s) selected[s == status] { (s.replace('_', " ")) }
                }
            }
            (select("level", "any level", value(filters, "level"), &pairs(&levels)))
            (select("environment", "any environment", value(filters, "environment"), &pairs(&values.environments)))
            (select("release", "any release", value(filters, "release"), &pairs(&values.releases)))
            @if !value(filters, "first_release").is_empty() {
                input type="hidden" name="first_release" value=(value(filters, "first_release"));
            }
            select name="sort" aria-label="sort" {
                @for (v, l) in &sorts {
                    option value=(v) selected[v == sort] { (l) }
                }
            }
            button type="submit" { "Filter" }
        }
    }
}

/// Each issue's hourly counts over the last 24 hours (oldest first), read
/// in one query for the whole page.
pub async fn trends(
    state: &AppState,
    issue_ids: &[i64],
) -> Result<HashMap<i64, Vec<i64>>, lookout_storage::StorageError> {
    let now_hour = chrono::Utc::now().timestamp().div_euclid(3600);
    let first = now_hour - 23;
    let rows = state
        .store()
        .issues_hourly(issue_ids.to_vec(), first)
        .await?;
    let mut by_issue: HashMap<i64, Vec<(i64, i64)>> = HashMap::new();
    for (issue, hour, count) in rows {
        by_issue.entry(issue).or_default().push((hour, count));
    }
    Ok(issue_ids
        .iter()
        .map(|id| {
            let rows = by_issue.remove(id).unwrap_or_default();
            (*id, fill_hours(rows, first, 24))
        })
        .collect())
}

/// The trend cell of one row.
pub fn trend_cell(trends: &HashMap<i64, Vec<i64>>, issue_id: i64) -> Markup {
    match trends.get(&issue_id) {
        Some(v) => sparkline(v),
        None => sparkline(&[0; 24]),
    }
}

/// The bulk action's hidden fields and buttons (members and admins only).
pub fn bulk_controls(viewer: &Viewer, filters: &[(&str, String)]) -> Markup {
    html! {
        input type="hidden" name="csrf_token" value=(viewer.session.csrf_token);
        @for (k, v) in filters {
            @if FILTER_KEYS.contains(k) { input type="hidden" name=(k) value=(v); }
        }
        div.actions.bulk-actions {
            span.muted { "With the selected issues:" }
            button #bulk-resolve name="set_status" value="resolved" type="submit" { "Resolve" }
            button.secondary #bulk-ignore name="set_status" value="ignored" type="submit" { "Ignore" }
        }
    }
}

fn bad_request(viewer: &Viewer, what: &str) -> Response {
    html_page(
        StatusCode::BAD_REQUEST,
        super::layout(
            "Bad request",
            Some(viewer),
            html! { h1 { "Cannot do that" } p.error { (what) } },
        ),
    )
}

/// `POST /projects/{id}/issues/bulk`: `ids` (repeated), `set_status`
/// (`resolved` or `ignored`, or any other status), the CSRF token, and the
/// list's filters to return to.
pub async fn bulk(
    State(state): State<AppState>,
    Path(project_id): Path<i64>,
    Posted {
        viewer,
        form: Pairs(fields),
    }: Posted<Pairs>,
) -> Response {
    let get = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    };
    let Some(status) = IssueStatus::parse(get("set_status")) else {
        return bad_request(&viewer, "Choose resolve or ignore.");
    };
    let ids: Result<Vec<i64>, _> = fields
        .iter()
        .filter(|(k, _)| k == "ids")
        .map(|(_, v)| v.parse::<i64>())
        .collect();
    let Ok(ids) = ids else {
        return bad_request(&viewer, "An issue id is not a number.");
    };
    if let Err(e) = bulk_set_status(&state, &viewer.access(), project_id, ids, status).await {
        return error_page(&viewer, e);
    }
    let filters: Vec<(&str, String)> = FILTER_KEYS
        .iter()
        .map(|k| (*k, get(k).to_string()))
        .collect();
    let qs = query_string(&filters);
    let back = if qs.is_empty() {
        format!("/projects/{project_id}/issues")
    } else {
        format!("/projects/{project_id}/issues?{qs}")
    };
    Redirect::to(&back).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_keep_known_filters_encoded_and_drop_the_rest() {
        let f = vec![
            ("status", "all".to_string()),
            ("query", "a&b c".to_string()),
            ("level", String::new()),
            ("cursor", "9.1".to_string()),
            ("release", "shop@1.0".to_string()),
        ];
        assert_eq!(
            query_string(&f),
            "status=all&query=a%26b%20c&release=shop%401.0"
        );
    }

    #[test]
    fn empty_selects_mean_any_and_only_set_filters_are_echoed() {
        let p: crate::routes::api::IssueListParams = serde_json::from_value(serde_json::json!({
            "level": "", "environment": "production", "release": " ", "sort": "events",
            "cursor": "", "limit": 5
        }))
        .unwrap();
        let p = p.drop_empty();
        assert_eq!(
            p.filters(),
            vec![
                ("environment", "production".to_string()),
                ("sort", "events".to_string())
            ]
        );
        let q = crate::routes::api::issue_query(p).unwrap();
        assert_eq!(q.level, None, "`level=` filters nothing");
        assert_eq!(q.cursor, None);
        assert_eq!(
            q.tags,
            vec![("environment".to_string(), "production".to_string())]
        );
    }

    #[test]
    fn a_value_not_offered_stays_selected() {
        let html = select(
            "release",
            "any",
            "old@1",
            &[("new@2".into(), "new@2".into())],
        )
        .into_string();
        assert!(
            html.contains(r#"<option value="old@1" selected>old@1</option>"#),
            "{html}"
        );
        assert!(!html.contains(r#"<option value="" selected>"#));
    }
}
