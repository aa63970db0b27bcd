//! Alert instances: list (paged, filtered), read, acknowledge, resolve; which silences mute each.

use super::*;

/// Which alerts to list.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AlertFilter {
    /// Only these states (`pending`, `firing`, `resolved`); empty: any.
    #[serde(default)]
    pub states: Vec<String>,
    /// Only alerts of this project.
    #[serde(default)]
    pub project_id: Option<i64>,
    /// Only alerts of this rule.
    #[serde(default)]
    pub rule_id: Option<i64>,
    /// Page size (default 50, at most 500).
    #[serde(default)]
    pub limit: Option<usize>,
    /// `next_cursor` of the previous page.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// An alert instance as the API and the UI show it.
#[derive(Debug, Clone, Serialize)]
pub struct AlertView {
    /// Row id.
    pub id: i64,
    /// The rule.
    pub rule_id: i64,
    /// The rule's name.
    pub rule_name: String,
    /// Identity within the rule (`project=3,issue=17`).
    pub fingerprint: String,
    /// `pending`, `firing` or `resolved`.
    pub state: String,
    /// `critical`, `high`, `medium` or `low`.
    pub severity: String,
    /// The project, when it has one.
    pub project_id: Option<i64>,
    /// When the condition began to hold.
    pub active_since: DateTime<Utc>,
    /// When it began firing.
    pub starts_at: Option<DateTime<Utc>>,
    /// When it resolved.
    pub ends_at: Option<DateTime<Utc>>,
    /// Who acknowledged it.
    pub acked_by: Option<String>,
    /// When.
    pub acked_at: Option<DateTime<Utc>>,
    /// Who resolved it by hand.
    pub resolved_by: Option<String>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
    /// Matching events seen, or the latest windowed count.
    pub count: u64,
    /// Labels (route and silence on these).
    pub labels: BTreeMap<String, String>,
    /// Annotations (`title`, `exception`, `summary`, …).
    pub annotations: BTreeMap<String, String>,
    /// The silences in force now that mute it (empty: it is notified).
    pub silenced_by: Vec<i64>,
}

pub(super) fn string_map(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .map(|o| {
            o.iter()
                .map(|(k, v)| {
                    let s = v
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string());
                    (k.clone(), s)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The silences in force now, as the engine reads them.
pub(super) async fn active_silences(state: &AppState) -> Result<Vec<Silence>, ApiError> {
    let now = Utc::now();
    Ok(state
        .store()
        .list_silences(now)
        .await?
        .iter()
        .filter_map(crate::alerting::runner::silence_from_row)
        .filter(|s| s.is_active(now))
        .collect())
}

pub(super) fn alert_view(row: AlertInstanceRow, silences: &[Silence]) -> AlertView {
    let labels = string_map(row.body.get("labels"));
    let now = Utc::now();
    let silenced_by = if row.state == "resolved" {
        Vec::new()
    } else {
        silences
            .iter()
            .filter(|s| s.mutes(&labels, now))
            .map(|s| s.id)
            .collect()
    };
    AlertView {
        rule_name: row
            .body
            .get("rule_name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        count: row.body.get("count").and_then(Value::as_u64).unwrap_or(0),
        annotations: string_map(row.body.get("annotations")),
        labels,
        silenced_by,
        id: row.id,
        rule_id: row.rule_id,
        fingerprint: row.fingerprint,
        state: row.state,
        severity: row.severity,
        project_id: row.project_id,
        active_since: row.active_since,
        starts_at: row.starts_at,
        ends_at: row.ends_at,
        acked_by: row.acked_by,
        acked_at: row.acked_at,
        resolved_by: row.resolved_by,
        updated_at: row.updated_at,
    }
}

pub(super) fn alert_cursor(row: &AlertInstanceRow) -> String {
    format!("{}.{}", row.updated_at.timestamp_millis(), row.id)
}

pub(super) fn parse_alert_cursor(c: &str) -> Result<(DateTime<Utc>, i64), ApiError> {
    let invalid = || bad("cursor", "not a cursor this server gave out");
    let (ms, id) = c.split_once('.').ok_or_else(invalid)?;
    let ms: i64 = ms.parse().map_err(|_| invalid())?;
    let id: i64 = id.parse().map_err(|_| invalid())?;
    let at = DateTime::<Utc>::from_timestamp_millis(ms).ok_or_else(invalid)?;
    Ok((at, id))
}

/// Alerts the caller may read, most recently changed first.
pub async fn list_alerts(
    state: &AppState,
    access: &Access,
    filter: AlertFilter,
) -> Result<Page<AlertView>, ApiError> {
    let mut states = Vec::new();
    for s in filter.states.iter().flat_map(|s| s.split(',')) {
        let s = s.trim();
        match s {
            "" => {}
            "pending" | "firing" | "resolved" => states.push(s.to_string()),
            other => {
                return Err(bad(
                    "state",
                    format!("{other:?} is not `pending`, `firing` or `resolved`"),
                ));
            }
        }
    }
    let (projects, include_install) = match filter.project_id {
        Some(id) => {
            access.read_project(state, id).await?;
            (Some(vec![id]), false)
        }
        None if access.is_admin() => (None, true),
        None => (
            Some(
                access
                    .projects(state)
                    .await?
                    .into_iter()
                    .map(|(p, _)| p.id)
                    .collect(),
            ),
            false,
        ),
    };
    let limit = page_limit(filter.limit);
    let before = filter
        .cursor
        .as_deref()
        .filter(|c| !c.is_empty())
        .map(parse_alert_cursor)
        .transpose()?;
    let rows = state
        .store()
        .list_alert_instances(AlertInstanceQuery {
            states,
            projects,
            include_install,
            rule_id: filter.rule_id,
            before,
            limit: limit + 1,
        })
        .await?;
    let silences = active_silences(state).await?;
    let more = rows.len() > limit;
    let rows: Vec<_> = rows.into_iter().take(limit).collect();
    let next_cursor = if more {
        rows.last().map(alert_cursor)
    } else {
        None
    };
    Ok(Page {
        items: rows.into_iter().map(|r| alert_view(r, &silences)).collect(),
        next_cursor,
    })
}

pub(super) async fn read_alert_row(
    state: &AppState,
    access: &Access,
    id: i64,
) -> Result<AlertInstanceRow, ApiError> {
    let not_found = || ApiError::NotFound(format!("alert {id} not found"));
    let row = state
        .store()
        .get_alert_instance(id)
        .await?
        .ok_or_else(not_found)?;
    let readable = match row.project_id {
        Some(p) => access.role(state, p).await?.is_some(),
        None => access.is_admin(),
    };
    if !readable {
        return Err(not_found());
    }
    Ok(row)
}

/// One alert (404 when the caller may not read it).
pub async fn get_alert(state: &AppState, access: &Access, id: i64) -> Result<AlertView, ApiError> {
    let row = read_alert_row(state, access, id).await?;
    Ok(alert_view(row, &active_silences(state).await?))
}

pub(super) fn control_error(e: crate::alerting::control::ControlError) -> ApiError {
    use crate::alerting::control::ControlError as C;
    match e {
        C::NotRunning => ApiError::Unavailable {
            message: C::NotRunning.to_string(),
            retry_after: 5,
        },
        C::NoSuchAlert(id) => ApiError::NotFound(format!("alert {id} not found")),
        C::AlreadyResolved(id) => ApiError::Conflict(format!("alert {id} is already resolved")),
        C::NoSuchChannel(n) => ApiError::NotFound(format!("channel {n:?} not found")),
        C::Storage(m) => ApiError::Internal(m),
    }
}

pub(super) async fn act_on_alert(
    state: &AppState,
    access: &Access,
    id: i64,
    ack: bool,
) -> Result<AlertView, ApiError> {
    let row = read_alert_row(state, access, id).await?;
    match row.project_id {
        Some(p) => {
            access.write_project(state, p).await?;
        }
        None => access.require_admin()?,
    }
    if row.state == "resolved" {
        return Err(ApiError::Conflict(format!(
            "alert {id} is already resolved"
        )));
    }
    let by = actor(access);
    let row = if ack {
        state.alerts().acknowledge(id, &by).await
    } else {
        state.alerts().resolve(id, &by).await
    }
    .map_err(control_error)?;
    Ok(alert_view(row, &active_silences(state).await?))
}

/// Acknowledges an alert: stops its reminders and escalation.
pub async fn acknowledge_alert(
    state: &AppState,
    access: &Access,
    id: i64,
) -> Result<AlertView, ApiError> {
    act_on_alert(state, access, id, true).await
}

/// Resolves an alert by hand (409 when it is already resolved).
pub async fn resolve_alert(
    state: &AppState,
    access: &Access,
    id: i64,
) -> Result<AlertView, ApiError> {
    act_on_alert(state, access, id, false).await
}
