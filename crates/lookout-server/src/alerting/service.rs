//! Managing alerting: what the JSON API (`routes::alerts`) and the web UI
//! both call to list, create, change and delete alert rules, silences,
//! channels, to acknowledge and resolve alerts, to send test messages and
//! to read the delivery log.
//!
//! Every function takes the caller's [`Access`] and applies the alerting
//! access rules in one place:
//! - alerts are readable when their project is; install-wide alerts
//!   (backups, channels) only by administrators; acknowledging and
//!   resolving needs the member role (administrators for install alerts);
//! - rules: administrators read and write all; others read install-wide
//!   rules and rules whose projects they can all read, and change only
//!   rules scoped to projects they are members of;
//! - silences: a silence with a `project_id=<id>` matcher belongs to that
//!   project (readable by its readers, changed by its members); others
//!   are global (administrators change them, everyone reads them);
//! - channels and the delivery log: administrators only; secrets are
//!   redacted;
//! - rules and channels declared in `lookout.toml` are read-only (409).
//!
//! Unreadable objects answer 404 so that ids cannot be probed. After a
//! change in storage the running engine is told to reload.
//!
//! Nothing here knows HTTP beyond [`ApiError`]; nothing here knows SQL.

use super::channels::SendOutcome;
use crate::access::Access;
use crate::error::ApiError;
use crate::state::AppState;
use chrono::{DateTime, Duration, Utc};
use lookout_alert::channel::ChannelConfig;
use lookout_alert::{MatchOp, Matcher, Rule, Silence};
use lookout_storage::{
    AlertInstanceQuery, AlertInstanceRow, AlertRuleRow, AlertSource, ChannelRow, DeliveryAttempt,
    DeliveryQuery, NewAlertRule, NewChannel, NewSilence, OutboxItem, OutboxState, SilenceRow,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};

/// Page size when none is asked for.
pub const DEFAULT_LIMIT: usize = 50;
/// The largest page.
pub const MAX_LIMIT: usize = 500;

/// The answer to a change of a rule or channel declared in `lookout.toml`.
pub const CONFIG_READ_ONLY: &str = "declared in lookout.toml; change it there";

/// One page of a list, and the cursor of the next (absent on the last).
#[derive(Debug, Clone, Serialize)]
pub struct Page<T> {
    /// The items, newest first.
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page (`null` on the last).
    pub next_cursor: Option<String>,
}

fn page_limit(limit: Option<usize>) -> usize {
    limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT)
}

fn bad(field: &str, reason: impl std::fmt::Display) -> ApiError {
    ApiError::BadRequest(format!("`{field}`: {reason}"))
}

/// Who the caller is, as recorded on silences, acknowledgements and
/// resolutions: the user's e-mail, or `api-token` for an install-wide
/// token.
pub fn actor(access: &Access) -> String {
    match &access.user {
        Some(u) => u.email.clone(),
        None => "api-token".into(),
    }
}

// --- rules ---------------------------------------------------------------

/// A stored alert rule: the rule as written (`lookout_alert::Rule`, with
/// `id` set to the row's) and where it came from.
#[derive(Debug, Clone, Serialize)]
pub struct RuleView {
    /// The rule; `id` is the stored id and `enabled` the stored flag.
    #[serde(flatten)]
    pub rule: Rule,
    /// `api` (made in the UI or the API) or `config` (`lookout.toml`).
    pub source: AlertSource,
    /// Whether the caller may change or delete it.
    pub editable: bool,
    /// The user who made it.
    pub created_by: Option<i64>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// Keys of a [`RuleView`] that are not part of the rule: a body read back
/// from GET may carry them and is accepted as it is.
const RULE_VIEW_KEYS: [&str; 6] = [
    "id",
    "source",
    "editable",
    "created_by",
    "created_at",
    "updated_at",
];

/// Parses and validates a rule body (`lookout_alert::Rule` as JSON); a
/// 400 names the field at fault.
pub fn parse_rule(spec: Value) -> Result<Rule, ApiError> {
    let Value::Object(mut o) = spec else {
        return Err(ApiError::BadRequest(
            "a rule is a JSON object: {\"name\", \"severity\", \"condition\": {\"kind\"}, …}"
                .into(),
        ));
    };
    for k in RULE_VIEW_KEYS {
        o.remove(k);
    }
    match o.get("name") {
        Some(Value::String(n)) if !n.trim().is_empty() => {}
        Some(Value::String(_)) | None => return Err(bad("name", "a rule needs a name")),
        Some(_) => return Err(bad("name", "must be a string")),
    }
    let rule: Rule = deserialize_naming_the_field(Value::Object(o)).map_err(|(field, msg)| {
        match field {
            Some(f) => bad(&f, msg),
            // serde names missing and unknown fields in its message.
            None => ApiError::BadRequest(format!("invalid rule: {msg}")),
        }
    })?;
    if let Err(reason) = rule.validate() {
        return Err(ApiError::BadRequest(format!("invalid rule: {reason}")));
    }
    if rule.name.chars().count() > 200 {
        return Err(bad("name", "at most 200 characters"));
    }
    Ok(rule)
}

/// Deserializes `v`; on failure answers the dotted path of the field at
/// fault (when it can be told) and serde's message.
///
/// serde loses the path inside internally tagged enums (a rule's
/// `condition`, a channel's settings): there the field is found by taking
/// each key out in turn and seeing which one serde then misses.
fn deserialize_naming_the_field<T: serde::de::DeserializeOwned>(
    v: Value,
) -> Result<T, (Option<String>, String)> {
    let e = match serde_path_to_error::deserialize::<_, T>(v.clone()) {
        Ok(t) => return Ok(t),
        Err(e) => e,
    };
    let path = e.path().to_string();
    let msg = e.into_inner().to_string();
    let at = (path != "." && !path.is_empty()).then_some(path);
    if msg.contains("field `") {
        return Err((at, msg));
    }
    let segments: Vec<&str> = at
        .as_deref()
        .map(|p| p.split('.').collect())
        .unwrap_or_default();
    let Some(Value::Object(obj)) = segments.iter().try_fold(&v, |cur, s| cur.get(*s)) else {
        return Err((at, msg));
    };
    for key in obj.keys().filter(|k| *k != "kind") {
        let mut probe = v.clone();
        let Some(Value::Object(o)) = segments
            .iter()
            .try_fold(&mut probe, |cur, s| cur.get_mut(*s))
        else {
            continue;
        };
        o.remove(key);
        let culprit = match serde_json::from_value::<T>(probe) {
            Ok(_) => true,
            Err(e2) => e2.to_string().contains(&format!("missing field `{key}`")),
        };
        if culprit {
            let field = match &at {
                Some(p) => format!("{p}.{key}"),
                None => key.clone(),
            };
            return Err((Some(field), msg));
        }
    }
    Err((at, msg))
}

async fn rule_readable(
    state: &AppState,
    access: &Access,
    projects: &[i64],
) -> Result<bool, ApiError> {
    if access.is_admin() {
        return Ok(true);
    }
    for p in projects {
        if access.role(state, *p).await?.is_none() {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Refuses unless the caller may change a rule scoped to `projects`.
async fn rule_writable(
    state: &AppState,
    access: &Access,
    projects: &[i64],
) -> Result<(), ApiError> {
    if access.is_admin() {
        return access.require_admin();
    }
    if projects.is_empty() {
        return Err(ApiError::Forbidden(
            "only administrators may change install-wide rules (rules without `scope.projects`)"
                .into(),
        ));
    }
    for p in projects {
        access.write_project(state, *p).await?;
    }
    Ok(())
}

async fn may_edit_rule(state: &AppState, access: &Access, row: &AlertRuleRow) -> bool {
    row.source == AlertSource::Api
        && access.can_write
        && rule_writable(state, access, &row.projects).await.is_ok()
}

async fn rule_view(state: &AppState, access: &Access, row: AlertRuleRow) -> RuleView {
    let editable = may_edit_rule(state, access, &row).await;
    let mut rule = serde_json::from_value::<Rule>(row.spec.clone()).unwrap_or_else(|_| {
        // A stored spec this version cannot read: show what storage knows.
        Rule::new(
            row.id,
            &row.name,
            lookout_alert::Condition::NewIssue,
            lookout_alert::Severity::Low,
        )
    });
    rule.id = row.id;
    rule.enabled = row.enabled;
    RuleView {
        rule,
        source: row.source,
        editable,
        created_by: row.created_by,
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

/// The rules the caller may read, by id.
pub async fn list_rules(state: &AppState, access: &Access) -> Result<Vec<RuleView>, ApiError> {
    let mut out = Vec::new();
    for row in state.store().list_alert_rules().await? {
        if rule_readable(state, access, &row.projects).await? {
            out.push(rule_view(state, access, row).await);
        }
    }
    Ok(out)
}

async fn read_rule_row(
    state: &AppState,
    access: &Access,
    id: i64,
) -> Result<AlertRuleRow, ApiError> {
    let not_found = || ApiError::NotFound(format!("alert rule {id} not found"));
    let row = state
        .store()
        .get_alert_rule(id)
        .await?
        .ok_or_else(not_found)?;
    if !rule_readable(state, access, &row.projects).await? {
        return Err(not_found());
    }
    Ok(row)
}

/// One rule (404 when the caller may not read it).
pub async fn get_rule(state: &AppState, access: &Access, id: i64) -> Result<RuleView, ApiError> {
    let row = read_rule_row(state, access, id).await?;
    Ok(rule_view(state, access, row).await)
}

async fn check_projects_exist(state: &AppState, projects: &[i64]) -> Result<(), ApiError> {
    for p in projects {
        if state.store().get_project(*p).await?.is_none() {
            return Err(bad("scope.projects", format!("there is no project {p}")));
        }
    }
    Ok(())
}

fn new_rule(rule: &Rule, access: &Access) -> Result<NewAlertRule, ApiError> {
    let mut stored = rule.clone();
    stored.id = 0;
    Ok(NewAlertRule {
        name: rule.name.trim().to_string(),
        enabled: rule.enabled,
        source: AlertSource::Api,
        projects: rule.scope.projects.clone(),
        spec: serde_json::to_value(&stored).map_err(|e| ApiError::Internal(e.to_string()))?,
        created_by: access.user_id(),
    })
}

/// Creates a rule from its JSON (`lookout_alert::Rule`).
pub async fn create_rule(
    state: &AppState,
    access: &Access,
    spec: Value,
) -> Result<RuleView, ApiError> {
    let rule = parse_rule(spec)?;
    rule_writable(state, access, &rule.scope.projects).await?;
    check_projects_exist(state, &rule.scope.projects).await?;
    let row = state
        .store()
        .create_alert_rule(new_rule(&rule, access)?, Utc::now())
        .await?;
    state.alerts().reload().await;
    Ok(rule_view(state, access, row).await)
}

/// Replaces a rule (not one declared in `lookout.toml`: 409). The caller
/// must be allowed both the old and the new scope.
pub async fn update_rule(
    state: &AppState,
    access: &Access,
    id: i64,
    spec: Value,
) -> Result<RuleView, ApiError> {
    let old = read_rule_row(state, access, id).await?;
    if old.source == AlertSource::Config {
        return Err(ApiError::Conflict(format!(
            "rule {id} is {CONFIG_READ_ONLY}"
        )));
    }
    rule_writable(state, access, &old.projects).await?;
    let rule = parse_rule(spec)?;
    rule_writable(state, access, &rule.scope.projects).await?;
    check_projects_exist(state, &rule.scope.projects).await?;
    let mut new = new_rule(&rule, access)?;
    new.created_by = old.created_by;
    let row = state.store().update_alert_rule(id, new, Utc::now()).await?;
    state.alerts().reload().await;
    Ok(rule_view(state, access, row).await)
}

/// Deletes a rule and its alerts (not one declared in `lookout.toml`).
pub async fn delete_rule(state: &AppState, access: &Access, id: i64) -> Result<(), ApiError> {
    let old = read_rule_row(state, access, id).await?;
    if old.source == AlertSource::Config {
        return Err(ApiError::Conflict(format!(
            "rule {id} is {CONFIG_READ_ONLY}"
        )));
    }
    rule_writable(state, access, &old.projects).await?;
    if !state.store().delete_alert_rule(id).await? {
        return Err(ApiError::NotFound(format!("alert rule {id} not found")));
    }
    state.alerts().reload().await;
    Ok(())
}

// --- silences ------------------------------------------------------------

/// A silence or maintenance window to create.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SilenceInput {
    /// `silence` (default) or `maintenance`.
    #[serde(default)]
    pub kind: Option<String>,
    /// Matchers as in Alertmanager (`project_id=3`, `severity=~"high|critical"`).
    pub matchers: Vec<String>,
    /// From (default: now).
    #[serde(default)]
    pub starts_at: Option<DateTime<Utc>>,
    /// Until; or give `duration`.
    #[serde(default)]
    pub ends_at: Option<DateTime<Utc>>,
    /// How long from `starts_at` (`1h`, `30m`, `2d`), instead of `ends_at`.
    #[serde(default)]
    pub duration: Option<String>,
    /// Why.
    #[serde(default)]
    pub comment: String,
}

/// A stored silence, with whether it is in force now.
#[derive(Debug, Clone, Serialize)]
pub struct SilenceView {
    /// Id.
    pub id: i64,
    /// `silence` or `maintenance`.
    pub kind: String,
    /// Matchers as written.
    pub matchers: Vec<String>,
    /// The project it belongs to (from its `project_id=` matcher).
    pub project_id: Option<i64>,
    /// From.
    pub starts_at: DateTime<Utc>,
    /// Until.
    pub ends_at: DateTime<Utc>,
    /// Who made it.
    pub created_by: String,
    /// Why.
    pub comment: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// `active`, `pending` (starts later) or `expired`.
    pub status: &'static str,
    /// Whether the caller may expire it.
    pub editable: bool,
}

fn silence_status(row: &SilenceRow, now: DateTime<Utc>) -> &'static str {
    if now < row.starts_at {
        "pending"
    } else if now < row.ends_at {
        "active"
    } else {
        "expired"
    }
}

async fn silence_readable(
    state: &AppState,
    access: &Access,
    row: &SilenceRow,
) -> Result<bool, ApiError> {
    match row.project_id {
        Some(p) => Ok(access.role(state, p).await?.is_some()),
        None => Ok(true),
    }
}

async fn silence_writable(
    state: &AppState,
    access: &Access,
    project_id: Option<i64>,
) -> Result<(), ApiError> {
    match project_id {
        Some(p) => access.write_project(state, p).await.map(|_| ()),
        None => access.require_admin().map_err(|e| match e {
            ApiError::Forbidden(_) if !access.is_admin() => ApiError::Forbidden(
                "only administrators may silence alerts of every project; add a `project_id=<id>` matcher"
                    .into(),
            ),
            other => other,
        }),
    }
}

async fn silence_view(
    state: &AppState,
    access: &Access,
    row: SilenceRow,
    now: DateTime<Utc>,
) -> SilenceView {
    let editable = access.can_write
        && silence_status(&row, now) != "expired"
        && silence_writable(state, access, row.project_id)
            .await
            .is_ok();
    SilenceView {
        status: silence_status(&row, now),
        editable,
        id: row.id,
        kind: row.kind,
        matchers: row.matchers,
        project_id: row.project_id,
        starts_at: row.starts_at,
        ends_at: row.ends_at,
        created_by: row.created_by,
        comment: row.comment,
        created_at: row.created_at,
    }
}

/// The project a silence belongs to: the value of its `project_id=<id>`
/// matcher. A 400 when that value is not an id.
pub fn silence_project(matchers: &[Matcher]) -> Result<Option<i64>, ApiError> {
    let mut found = None;
    for m in matchers {
        if m.name == "project_id" && m.op == MatchOp::Eq {
            let id: i64 = m.value.parse().map_err(|_| {
                bad(
                    "matchers",
                    format!("project_id must be a project id, not {:?}", m.value),
                )
            })?;
            if found.is_some_and(|f| f != id) {
                return Err(bad(
                    "matchers",
                    "two different project_id matchers never match",
                ));
            }
            found = Some(id);
        }
    }
    Ok(found)
}

/// Silences the caller may read, newest start first; `active` keeps
/// only those in force now (`Some(true)`) or not (`Some(false)`).
pub async fn list_silences(
    state: &AppState,
    access: &Access,
    active: Option<bool>,
) -> Result<Vec<SilenceView>, ApiError> {
    let now = Utc::now();
    // Silences in force end after now: only those need reading then.
    let since = match active {
        Some(true) => now,
        _ => DateTime::<Utc>::UNIX_EPOCH,
    };
    let mut out = Vec::new();
    let mut rows = state.store().list_silences(since).await?;
    rows.reverse();
    for row in rows {
        let in_force = silence_status(&row, now) == "active";
        if active.is_some_and(|a| a != in_force) {
            continue;
        }
        if silence_readable(state, access, &row).await? {
            out.push(silence_view(state, access, row, now).await);
        }
        if out.len() >= MAX_LIMIT {
            break;
        }
    }
    Ok(out)
}

async fn read_silence_row(
    state: &AppState,
    access: &Access,
    id: i64,
) -> Result<SilenceRow, ApiError> {
    let not_found = || ApiError::NotFound(format!("silence {id} not found"));
    let row = state.store().get_silence(id).await?.ok_or_else(not_found)?;
    if !silence_readable(state, access, &row).await? {
        return Err(not_found());
    }
    Ok(row)
}

/// One silence.
pub async fn get_silence(
    state: &AppState,
    access: &Access,
    id: i64,
) -> Result<SilenceView, ApiError> {
    let row = read_silence_row(state, access, id).await?;
    Ok(silence_view(state, access, row, Utc::now()).await)
}

/// Creates a silence or maintenance window; the creator is the caller.
pub async fn create_silence(
    state: &AppState,
    access: &Access,
    input: SilenceInput,
) -> Result<SilenceView, ApiError> {
    let now = Utc::now();
    let kind = match input.kind.as_deref().map(str::trim) {
        None | Some("") | Some("silence") => "silence",
        Some("maintenance") => "maintenance",
        Some(other) => {
            return Err(bad(
                "kind",
                format!("{other:?} is not `silence` or `maintenance`"),
            ));
        }
    };
    if input.matchers.is_empty() {
        return Err(bad("matchers", "a silence needs at least one matcher"));
    }
    if input.matchers.len() > 50 {
        return Err(bad("matchers", "at most 50 matchers"));
    }
    let matchers = input
        .matchers
        .iter()
        .map(|m| m.parse::<Matcher>().map_err(|e| bad("matchers", e)))
        .collect::<Result<Vec<_>, _>>()?;
    let project_id = silence_project(&matchers)?;
    let starts_at = input.starts_at.unwrap_or(now);
    let ends_at = match (input.ends_at, input.duration.as_deref()) {
        (Some(_), Some(_)) => {
            return Err(bad("duration", "give `ends_at` or `duration`, not both"));
        }
        (Some(e), None) => e,
        (None, Some(d)) => {
            let d = lookout_alert::parse_duration(d).map_err(|e| bad("duration", e))?;
            if d <= Duration::zero() {
                return Err(bad("duration", "must be positive"));
            }
            starts_at
                .checked_add_signed(d)
                .ok_or_else(|| bad("duration", "too long"))?
        }
        (None, None) => return Err(bad("ends_at", "give `ends_at` or `duration`")),
    };
    if ends_at <= starts_at {
        return Err(bad("ends_at", "must be after `starts_at`"));
    }
    if ends_at <= now {
        return Err(bad(
            "ends_at",
            "is in the past: the silence would never act",
        ));
    }
    if input.comment.chars().count() > 2000 {
        return Err(bad("comment", "at most 2000 characters"));
    }
    if let Some(p) = project_id
        && access.is_admin()
        && state.store().get_project(p).await?.is_none()
    {
        return Err(bad("matchers", format!("there is no project {p}")));
    }
    silence_writable(state, access, project_id).await?;
    let row = state
        .store()
        .create_silence(
            NewSilence {
                kind: kind.into(),
                matchers: matchers.iter().map(ToString::to_string).collect(),
                project_id,
                starts_at,
                ends_at,
                created_by: actor(access),
                comment: input.comment.trim().to_string(),
            },
            now,
        )
        .await?;
    state.alerts().reload().await;
    Ok(silence_view(state, access, row, Utc::now()).await)
}

/// Ends a silence now (already ended ones are answered as they are).
pub async fn expire_silence(
    state: &AppState,
    access: &Access,
    id: i64,
) -> Result<SilenceView, ApiError> {
    let row = read_silence_row(state, access, id).await?;
    silence_writable(state, access, row.project_id).await?;
    let now = Utc::now();
    let row = state
        .store()
        .expire_silence(id, now)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("silence {id} not found")))?;
    state.alerts().reload().await;
    Ok(silence_view(state, access, row, now).await)
}

// --- alerts --------------------------------------------------------------

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

fn string_map(v: Option<&Value>) -> BTreeMap<String, String> {
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
async fn active_silences(state: &AppState) -> Result<Vec<Silence>, ApiError> {
    let now = Utc::now();
    Ok(state
        .store()
        .list_silences(now)
        .await?
        .iter()
        .filter_map(super::runner::silence_from_row)
        .filter(|s| s.is_active(now))
        .collect())
}

fn alert_view(row: AlertInstanceRow, silences: &[Silence]) -> AlertView {
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

fn alert_cursor(row: &AlertInstanceRow) -> String {
    format!("{}.{}", row.updated_at.timestamp_millis(), row.id)
}

fn parse_alert_cursor(c: &str) -> Result<(DateTime<Utc>, i64), ApiError> {
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

async fn read_alert_row(
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

fn control_error(e: super::control::ControlError) -> ApiError {
    use super::control::ControlError as C;
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

async fn act_on_alert(
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

// --- channels ------------------------------------------------------------

/// A channel to create, or the new settings of one.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelInput {
    /// The name (creation only; on update it must match or be absent).
    #[serde(default)]
    pub name: Option<String>,
    /// Used or not (default true).
    #[serde(default)]
    pub enabled: Option<bool>,
    /// The settings (`lookout_alert::channel::ChannelConfig` as JSON,
    /// with `kind`). On update, a secret given as `***` keeps the stored
    /// one.
    pub config: Value,
}

/// A channel's circuit breaker as the engine holds it.
#[derive(Debug, Clone, Serialize)]
pub struct BreakerView {
    /// `closed`, `half_open` or `open`.
    pub state: String,
    /// Consecutive failures.
    pub failures: u32,
    /// When it opened.
    pub opened_at: Option<DateTime<Utc>>,
}

/// A channel with its settings redacted.
#[derive(Debug, Clone, Serialize)]
pub struct ChannelView {
    /// Unique name (routes name it).
    pub name: String,
    /// `telegram`, `email`, `slack`, `discord`, `webhook`.
    pub kind: String,
    /// Used or not.
    pub enabled: bool,
    /// `api` or `config` (`lookout.toml`: read-only).
    pub source: AlertSource,
    /// Whether it may be changed here.
    pub editable: bool,
    /// Settings, secrets shown as `***`.
    pub config: Value,
    /// The circuit breaker (absent when alerting is not running or the
    /// channel never sent).
    pub breaker: Option<BreakerView>,
    /// The latest delivery attempt.
    pub last_delivery: Option<DeliveryView>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// Checks a channel name: `[a-z0-9_-]{1,40}`, not `log`.
pub fn validate_channel_name(name: &str) -> Result<(), ApiError> {
    if name.is_empty() || name.len() > 40 {
        return Err(bad("name", "1 to 40 characters of a-z, 0-9, `_` and `-`"));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
    {
        return Err(bad("name", "only a-z, 0-9, `_` and `-`"));
    }
    if name == "log" {
        return Err(bad("name", "`log` is the built-in log channel"));
    }
    Ok(())
}

/// Parses and validates channel settings; a 400 names the field.
pub fn parse_channel_config(config: Value) -> Result<ChannelConfig, ApiError> {
    if !config.is_object() {
        return Err(bad("config", "must be an object with a `kind`"));
    }
    let cfg: ChannelConfig =
        deserialize_naming_the_field(config).map_err(|(field, msg)| match field {
            Some(f) => bad(&format!("config.{f}"), msg),
            None => bad("config", msg),
        })?;
    cfg.validate().map_err(|e| bad("config", e))?;
    Ok(cfg)
}

fn breaker_view(state: &AppState, name: &str) -> Option<BreakerView> {
    let w = state.alerts().worker()?;
    w.breaker_states()
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, b)| BreakerView {
            state: b.state.as_str().into(),
            failures: b.failures,
            opened_at: b.opened_at,
        })
}

async fn channel_view(state: &AppState, row: ChannelRow) -> Result<ChannelView, ApiError> {
    let config = match serde_json::from_value::<ChannelConfig>(row.config.clone()) {
        Ok(c) => c.redacted(),
        Err(_) => serde_json::json!({ "kind": row.kind, "error": "unreadable settings" }),
    };
    let last = state
        .store()
        .query_deliveries(DeliveryQuery {
            channel: Some(row.name.clone()),
            limit: 1,
            ..Default::default()
        })
        .await?;
    Ok(ChannelView {
        breaker: breaker_view(state, &row.name),
        last_delivery: last.into_iter().next().map(DeliveryView::from),
        editable: row.source == AlertSource::Api,
        name: row.name,
        kind: row.kind,
        enabled: row.enabled,
        source: row.source,
        config,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

async fn find_channel(state: &AppState, name: &str) -> Result<ChannelRow, ApiError> {
    state
        .store()
        .list_channels()
        .await?
        .into_iter()
        .find(|c| c.name == name)
        .ok_or_else(|| ApiError::NotFound(format!("channel {name:?} not found")))
}

fn require_admin_read(access: &Access) -> Result<(), ApiError> {
    if !access.is_admin() {
        return Err(ApiError::Forbidden(
            "only administrators may see channels and the delivery log".into(),
        ));
    }
    Ok(())
}

/// Every channel, by name (administrators only).
pub async fn list_channels(
    state: &AppState,
    access: &Access,
) -> Result<Vec<ChannelView>, ApiError> {
    require_admin_read(access)?;
    let mut out = Vec::new();
    for row in state.store().list_channels().await? {
        out.push(channel_view(state, row).await?);
    }
    Ok(out)
}

/// One channel (administrators only).
pub async fn get_channel(
    state: &AppState,
    access: &Access,
    name: &str,
) -> Result<ChannelView, ApiError> {
    require_admin_read(access)?;
    let row = find_channel(state, name).await?;
    channel_view(state, row).await
}

/// Creates a channel (administrators only; 409 when the name is taken).
pub async fn create_channel(
    state: &AppState,
    access: &Access,
    input: ChannelInput,
) -> Result<ChannelView, ApiError> {
    access.require_admin()?;
    let name = input
        .name
        .as_deref()
        .map(str::trim)
        .ok_or_else(|| bad("name", "a channel needs a name"))?
        .to_string();
    validate_channel_name(&name)?;
    let cfg = parse_channel_config(input.config)?;
    if state
        .store()
        .list_channels()
        .await?
        .iter()
        .any(|c| c.name == name)
    {
        return Err(ApiError::Conflict(format!(
            "a channel named {name:?} exists"
        )));
    }
    let row = state
        .store()
        .upsert_channel(
            NewChannel {
                name,
                kind: cfg.kind().into(),
                enabled: input.enabled.unwrap_or(true),
                source: AlertSource::Api,
                config: serde_json::to_value(&cfg)
                    .map_err(|e| ApiError::Internal(e.to_string()))?,
            },
            Utc::now(),
        )
        .await?;
    state.alerts().reload().await;
    channel_view(state, row).await
}

/// Secrets given back as `***` (as GET shows them) keep the stored value.
fn keep_redacted_secrets(new: &mut Value, old: &Value) {
    let (Some(n), Some(o)) = (new.as_object_mut(), old.as_object()) else {
        return;
    };
    if n.get("kind") != o.get("kind") {
        return;
    }
    for k in ["bot_token", "webhook_url", "secret"] {
        if n.get(k).and_then(Value::as_str) == Some("***")
            && let Some(v) = o.get(k)
        {
            n.insert(k.into(), v.clone());
        }
    }
}

/// Replaces a channel's settings (administrators only; not one declared
/// in `lookout.toml`).
pub async fn update_channel(
    state: &AppState,
    access: &Access,
    name: &str,
    input: ChannelInput,
) -> Result<ChannelView, ApiError> {
    access.require_admin()?;
    let old = find_channel(state, name).await?;
    if old.source == AlertSource::Config {
        return Err(ApiError::Conflict(format!(
            "channel {name:?} is {CONFIG_READ_ONLY}"
        )));
    }
    if let Some(n) = input.name.as_deref()
        && n.trim() != name
    {
        return Err(bad("name", "a channel cannot be renamed; create a new one"));
    }
    let mut config = input.config;
    keep_redacted_secrets(&mut config, &old.config);
    let cfg = parse_channel_config(config)?;
    let row = state
        .store()
        .upsert_channel(
            NewChannel {
                name: name.to_string(),
                kind: cfg.kind().into(),
                enabled: input.enabled.unwrap_or(old.enabled),
                source: AlertSource::Api,
                config: serde_json::to_value(&cfg)
                    .map_err(|e| ApiError::Internal(e.to_string()))?,
            },
            Utc::now(),
        )
        .await?;
    state.alerts().reload().await;
    channel_view(state, row).await
}

/// Deletes a channel (administrators only; not one declared in
/// `lookout.toml`). Routes naming it skip it from then on.
pub async fn delete_channel(state: &AppState, access: &Access, name: &str) -> Result<(), ApiError> {
    access.require_admin()?;
    let old = find_channel(state, name).await?;
    if old.source == AlertSource::Config {
        return Err(ApiError::Conflict(format!(
            "channel {name:?} is {CONFIG_READ_ONLY}"
        )));
    }
    if !state.store().delete_channel(name).await? {
        return Err(ApiError::NotFound(format!("channel {name:?} not found")));
    }
    state.alerts().reload().await;
    Ok(())
}

/// How a test message went.
#[derive(Debug, Clone, Serialize)]
pub struct TestOutcome {
    /// Whether it was delivered.
    pub sent: bool,
    /// `sent`, `retry` (a temporary failure) or `failed`.
    pub outcome: &'static str,
    /// What went wrong (secrets masked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl From<SendOutcome> for TestOutcome {
    fn from(o: SendOutcome) -> Self {
        match o {
            SendOutcome::Sent => TestOutcome {
                sent: true,
                outcome: "sent",
                error: None,
            },
            SendOutcome::Retry { error, .. } => TestOutcome {
                sent: false,
                outcome: "retry",
                error: Some(error),
            },
            SendOutcome::Failed { error } => TestOutcome {
                sent: false,
                outcome: "failed",
                error: Some(error),
            },
        }
    }
}

/// Sends a test message through a stored channel, now (administrators
/// only). Config-declared channels may be tested too.
pub async fn test_channel(
    state: &AppState,
    access: &Access,
    name: &str,
) -> Result<TestOutcome, ApiError> {
    access.require_admin()?;
    let row = find_channel(state, name).await?;
    let cfg: ChannelConfig = serde_json::from_value(row.config).map_err(|e| {
        ApiError::Conflict(format!("channel {name:?} has unreadable settings: {e}"))
    })?;
    Ok(send_test(state, name, &cfg).await)
}

/// Sends a test message through settings not stored yet (the UI's "test
/// before saving"); secrets given as `***` are taken from the stored
/// channel of that name, if any.
pub async fn test_channel_config(
    state: &AppState,
    access: &Access,
    name: &str,
    mut config: Value,
) -> Result<TestOutcome, ApiError> {
    access.require_admin()?;
    if let Ok(old) = find_channel(state, name).await {
        keep_redacted_secrets(&mut config, &old.config);
    }
    let cfg = parse_channel_config(config)?;
    Ok(send_test(state, name, &cfg).await)
}

async fn send_test(state: &AppState, name: &str, cfg: &ChannelConfig) -> TestOutcome {
    let c = state.config();
    state
        .alerts()
        .send_test(name, cfg, &c.smtp, &c.public_url())
        .await
        .into()
}

// --- the delivery log and the outbox ---------------------------------------

/// One delivery attempt.
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryView {
    /// Id (page with `cursor`).
    pub id: i64,
    /// The outbox row.
    pub outbox_id: i64,
    /// When the attempt ended.
    pub at: DateTime<Utc>,
    /// Channel name.
    pub channel: String,
    /// Attempt number (1 = first).
    pub attempt: u32,
    /// `sent`, `retry`, `failed` or `deferred`.
    pub outcome: String,
    /// The error (secrets masked by the senders).
    pub error: Option<String>,
    /// How long it took.
    pub duration_ms: i64,
}

impl From<DeliveryAttempt> for DeliveryView {
    fn from(d: DeliveryAttempt) -> Self {
        DeliveryView {
            id: d.id,
            outbox_id: d.outbox_id,
            at: d.at,
            channel: d.channel,
            attempt: d.attempt,
            outcome: d.outcome,
            error: d.error,
            duration_ms: d.duration_ms,
        }
    }
}

/// Which delivery attempts to list.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct DeliveryFilter {
    /// Only this channel.
    #[serde(default)]
    pub channel: Option<String>,
    /// Only this outcome: `sent`, `retry`, `failed`, `deferred`.
    #[serde(default)]
    pub outcome: Option<String>,
    /// Page size (default 50, at most 500).
    #[serde(default)]
    pub limit: Option<usize>,
    /// `next_cursor` of the previous page.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// The delivery log, newest first (administrators only).
pub async fn list_deliveries(
    state: &AppState,
    access: &Access,
    filter: DeliveryFilter,
) -> Result<Page<DeliveryView>, ApiError> {
    require_admin_read(access)?;
    let outcome = match filter.outcome.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(o @ ("sent" | "retry" | "failed" | "deferred")) => Some(o.to_string()),
        Some(other) => {
            return Err(bad(
                "outcome",
                format!("{other:?} is not `sent`, `retry`, `failed` or `deferred`"),
            ));
        }
    };
    let before_id = match filter.cursor.as_deref() {
        None | Some("") => None,
        Some(c) => Some(
            c.parse::<i64>()
                .map_err(|_| bad("cursor", "not a cursor this server gave out"))?,
        ),
    };
    let limit = page_limit(filter.limit);
    let rows = state
        .store()
        .query_deliveries(DeliveryQuery {
            channel: filter.channel.filter(|c| !c.trim().is_empty()),
            outcome,
            before_id,
            limit: limit + 1,
        })
        .await?;
    let more = rows.len() > limit;
    let items: Vec<DeliveryView> = rows.into_iter().take(limit).map(Into::into).collect();
    let next_cursor = if more {
        items.last().map(|d| d.id.to_string())
    } else {
        None
    };
    Ok(Page { items, next_cursor })
}

/// An outbox row, without its payload.
#[derive(Debug, Clone, Serialize)]
pub struct OutboxView {
    /// Id.
    pub id: i64,
    /// Idempotency key.
    pub idempotency_key: String,
    /// Channel name.
    pub channel: String,
    /// `pending`, `sending`, `sent` or `failed`.
    pub state: OutboxState,
    /// Attempts so far.
    pub attempts: u32,
    /// Next attempt at (pending).
    pub next_attempt_at: DateTime<Utc>,
    /// Enqueued.
    pub created_at: DateTime<Utc>,
    /// Delivered at.
    pub sent_at: Option<DateTime<Utc>>,
    /// The last error.
    pub last_error: Option<String>,
    /// The rule the notification is about.
    pub summary: Option<String>,
}

impl From<OutboxItem> for OutboxView {
    fn from(i: OutboxItem) -> Self {
        let summary = i
            .payload
            .get("rule_name")
            .and_then(Value::as_str)
            .map(str::to_string);
        OutboxView {
            id: i.id,
            idempotency_key: i.idempotency_key,
            channel: i.channel,
            state: i.state,
            attempts: i.attempts,
            next_attempt_at: i.next_attempt_at,
            created_at: i.created_at,
            sent_at: i.sent_at,
            last_error: i.last_error,
            summary,
        }
    }
}

/// The outbox, newest first, optionally of one state and one channel
/// (administrators only).
pub async fn list_outbox(
    state: &AppState,
    access: &Access,
    outbox_state: Option<&str>,
    channel: Option<&str>,
    limit: Option<usize>,
) -> Result<Vec<OutboxView>, ApiError> {
    require_admin_read(access)?;
    let s = match outbox_state.map(str::trim) {
        None | Some("") => None,
        Some(x) => Some(OutboxState::parse(x).ok_or_else(|| {
            bad(
                "state",
                format!("{x:?} is not `pending`, `sending`, `sent` or `failed`"),
            )
        })?),
    };
    let limit = page_limit(limit);
    // Filtering by channel happens here: the outbox is pruned, small.
    let fetch = if channel.is_some() {
        MAX_LIMIT * 4
    } else {
        limit
    };
    Ok(state
        .store()
        .list_outbox(s, fetch)
        .await?
        .into_iter()
        .filter(|i| channel.is_none_or(|c| i.channel == c))
        .take(limit)
        .map(Into::into)
        .collect())
}

/// Outbox counts per state (administrators only).
pub async fn outbox_counts(
    state: &AppState,
    access: &Access,
) -> Result<Vec<(OutboxState, u64)>, ApiError> {
    require_admin_read(access)?;
    Ok(state.store().outbox_counts().await?)
}

/// The names of the channels, plus `log`, for forms that pick receivers
/// (administrators only).
pub async fn channel_names(state: &AppState, access: &Access) -> Result<Vec<String>, ApiError> {
    require_admin_read(access)?;
    let mut names: Vec<String> = state
        .store()
        .list_channels()
        .await?
        .into_iter()
        .map(|c| c.name)
        .collect();
    names.push("log".into());
    let mut seen = HashSet::new();
    names.retain(|n| seen.insert(n.clone()));
    names.sort();
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn detail(e: ApiError) -> (u16, String) {
        (e.status().as_u16(), e.to_string())
    }

    #[test]
    fn rule_errors_name_the_field() {
        let cases = [
            (
                json!({"severity": "high", "condition": {"kind": "new_issue"}}),
                "name",
            ),
            (
                json!({"name": " ", "severity": "high", "condition": {"kind": "new_issue"}}),
                "name",
            ),
            (
                json!({"name": "x", "condition": {"kind": "new_issue"}}),
                "severity",
            ),
            (
                json!({"name": "x", "severity": "loud", "condition": {"kind": "new_issue"}}),
                "severity",
            ),
            (
                json!({"name": "x", "severity": "high", "condition": {"kind": "what"}}),
                "condition",
            ),
            (
                json!({"name": "x", "severity": "high", "condition": {"kind": "new_issue"}, "extra": 1}),
                "extra",
            ),
            (
                json!({"name": "x", "severity": "high",
                       "condition": {"kind": "error_rate_spike", "window": "5m", "baseline": "1h", "factor": 0.5}}),
                "factor",
            ),
            (
                json!({"name": "x", "severity": "high", "condition": {"kind": "new_issue"}, "scope": {"projects": "all"}}),
                "scope",
            ),
            (json!([1, 2]), "JSON object"),
            (
                json!({"name": "x", "severity": "high",
                       "condition": {"kind": "issue_frequency", "threshold": "ten", "window": "5m"}}),
                "`condition.threshold`",
            ),
            (
                json!({"name": "x", "severity": "high",
                       "condition": {"kind": "issue_frequency", "threshold": 3, "window": "soon"}}),
                "`condition.window`",
            ),
        ];
        for (body, field) in cases {
            let (code, msg) = detail(parse_rule(body.clone()).unwrap_err());
            assert_eq!(code, 400, "{body}");
            assert!(msg.contains(field), "{body} -> {msg}");
        }
    }

    #[test]
    fn a_rule_read_back_parses_again() {
        let r = parse_rule(json!({
            "name": "Burst", "severity": "high", "for": "1m",
            "condition": {"kind": "issue_frequency", "threshold": 3, "window": "5m"},
            "id": 7, "source": "api", "editable": true, "created_by": null,
            "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"
        }))
        .unwrap();
        assert_eq!(r.name, "Burst");
        assert_eq!(r.id, 0, "the id comes from the path, never the body");
        let again = parse_rule(serde_json::to_value(&r).unwrap()).unwrap();
        assert_eq!(again, r);
    }

    #[test]
    fn channel_names_and_settings_are_checked() {
        for ok in ["ops", "ops-email", "team_1", &"a".repeat(40)] {
            assert!(validate_channel_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Ops", "a b", "log", "ops.email", &"a".repeat(41), "é"] {
            let (code, msg) = detail(validate_channel_name(bad).unwrap_err());
            assert_eq!(code, 400);
            assert!(msg.contains("`name`"), "{bad}: {msg}");
        }
        let (_, msg) =
            detail(parse_channel_config(json!({"kind": "webhook", "url": "ftp://x"})).unwrap_err());
        assert!(msg.contains("url"), "{msg}");
        let (_, msg) = detail(parse_channel_config(json!({"kind": "email", "to": 3})).unwrap_err());
        assert!(msg.contains("config.to"), "{msg}");
        let (_, msg) = detail(parse_channel_config(json!("webhook")).unwrap_err());
        assert!(msg.contains("config"), "{msg}");
        assert!(parse_channel_config(json!({"kind": "slack", "webhook_url": "https://h"})).is_ok());
    }

    #[test]
    fn redacted_secrets_sent_back_keep_the_stored_ones() {
        let old = json!({"kind": "webhook", "url": "https://a", "secret": "s3cret"});
        let mut new = json!({"kind": "webhook", "url": "https://b", "secret": "***"});
        keep_redacted_secrets(&mut new, &old);
        assert_eq!(new["secret"], "s3cret");
        assert_eq!(new["url"], "https://b");
        // A new secret replaces the old one; a different kind takes nothing.
        let mut new = json!({"kind": "webhook", "url": "https://b", "secret": "fresh"});
        keep_redacted_secrets(&mut new, &old);
        assert_eq!(new["secret"], "fresh");
        let mut new = json!({"kind": "slack", "webhook_url": "***"});
        keep_redacted_secrets(
            &mut new,
            &json!({"kind": "discord", "webhook_url": "https://d"}),
        );
        assert_eq!(new["webhook_url"], "***");
    }

    #[test]
    fn a_silence_belongs_to_the_project_of_its_project_id_matcher() {
        let m = |v: &[&str]| -> Vec<Matcher> { v.iter().map(|s| s.parse().unwrap()).collect() };
        assert_eq!(
            silence_project(&m(&["project_id=3", "severity=high"])).unwrap(),
            Some(3)
        );
        assert_eq!(silence_project(&m(&["severity=high"])).unwrap(), None);
        // Only equality makes it the project's.
        assert_eq!(silence_project(&m(&["project_id=~\"3|4\""])).unwrap(), None);
        assert_eq!(silence_project(&m(&["project_id!=3"])).unwrap(), None);
        assert!(silence_project(&m(&["project_id=shop"])).is_err());
        assert!(silence_project(&m(&["project_id=3", "project_id=4"])).is_err());
    }

    #[test]
    fn alert_cursors_round_trip_and_refuse_garbage() {
        let at = DateTime::<Utc>::from_timestamp_millis(1_700_000_000_123).unwrap();
        let row = AlertInstanceRow {
            id: 42,
            rule_id: 1,
            fingerprint: "backup".into(),
            state: "firing".into(),
            severity: "high".into(),
            project_id: None,
            active_since: at,
            starts_at: Some(at),
            ends_at: None,
            acked_by: None,
            acked_at: None,
            resolved_by: None,
            updated_at: at,
            body: json!({"labels": {"alertname": "B", "project_id": "3"}, "rule_name": "B", "count": 2}),
        };
        assert_eq!(parse_alert_cursor(&alert_cursor(&row)).unwrap(), (at, 42));
        for bad in ["", "x", "1.2.3", "abc.1", "1.x"] {
            assert_eq!(parse_alert_cursor(bad).unwrap_err().status().as_u16(), 400);
        }
        // The view reads labels from the body and lists the silences
        // muting it now.
        let now = Utc::now();
        let s = Silence {
            id: 9,
            kind: lookout_alert::SilenceKind::Silence,
            matchers: vec!["project_id=3".parse().unwrap()],
            starts_at: now - Duration::minutes(1),
            ends_at: now + Duration::hours(1),
            created_by: "a".into(),
            comment: String::new(),
        };
        let v = alert_view(row.clone(), std::slice::from_ref(&s));
        assert_eq!((v.rule_name.as_str(), v.count), ("B", 2));
        assert_eq!(v.silenced_by, vec![9]);
        let mut resolved = row;
        resolved.state = "resolved".into();
        assert!(alert_view(resolved, &[s]).silenced_by.is_empty());
    }

    #[test]
    fn control_errors_map_to_statuses() {
        use crate::alerting::control::ControlError as C;
        let code = |e| control_error(e).status().as_u16();
        assert_eq!(code(C::NotRunning), 503);
        assert_eq!(code(C::NoSuchAlert(1)), 404);
        assert_eq!(code(C::AlreadyResolved(1)), 409);
        assert_eq!(code(C::Storage("x".into())), 500);
    }
}
