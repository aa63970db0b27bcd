//! Alert rules: list, read, create, change, delete; validation that names the field.

use super::*;

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
pub(super) const RULE_VIEW_KEYS: [&str; 6] = [
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
pub(super) fn deserialize_naming_the_field<T: serde::de::DeserializeOwned>(
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

pub(super) async fn rule_readable(
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
pub(super) async fn rule_writable(
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

pub(super) async fn may_edit_rule(state: &AppState, access: &Access, row: &AlertRuleRow) -> bool {
    row.source == AlertSource::Api
        && access.can_write
        && rule_writable(state, access, &row.projects).await.is_ok()
}

pub(super) async fn rule_view(state: &AppState, access: &Access, row: AlertRuleRow) -> RuleView {
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

pub(super) async fn read_rule_row(
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

/// Replaces the project slugs of a rule's scope by ids (rules made through
/// the API and UI are stored with ids, so renaming a project keeps them).
/// A slug the caller cannot read is as unknown as one nobody has: 400.
pub(super) async fn resolve_projects(
    state: &AppState,
    access: &Access,
    rule: &mut Rule,
) -> Result<(), ApiError> {
    if !rule
        .scope
        .projects
        .iter()
        .any(|p| matches!(p, lookout_alert::ProjectRef::Slug(_)))
    {
        return Ok(());
    }
    let by_slug: std::collections::HashMap<String, i64> = access
        .projects(state)
        .await?
        .into_iter()
        .map(|(p, _)| (p.slug, p.id))
        .collect();
    match rule
        .scope
        .resolve_slugs(|s| by_slug.get(s).copied())
        .first()
    {
        Some(slug) => Err(bad(
            "scope.projects",
            format!("there is no project with the slug `{slug}`"),
        )),
        None => Ok(()),
    }
}

pub(super) async fn check_projects_exist(
    state: &AppState,
    projects: &[i64],
) -> Result<(), ApiError> {
    for p in projects {
        if state.store().get_project(*p).await?.is_none() {
            return Err(bad("scope.projects", format!("there is no project {p}")));
        }
    }
    Ok(())
}

pub(super) fn new_rule(rule: &Rule, access: &Access) -> Result<NewAlertRule, ApiError> {
    let mut stored = rule.clone();
    stored.id = 0;
    Ok(NewAlertRule {
        name: rule.name.trim().to_string(),
        enabled: rule.enabled,
        source: AlertSource::Api,
        projects: rule.scope.project_ids(),
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
    let mut rule = parse_rule(spec)?;
    resolve_projects(state, access, &mut rule).await?;
    rule_writable(state, access, &rule.scope.project_ids()).await?;
    check_projects_exist(state, &rule.scope.project_ids()).await?;
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
    let mut rule = parse_rule(spec)?;
    resolve_projects(state, access, &mut rule).await?;
    rule_writable(state, access, &rule.scope.project_ids()).await?;
    check_projects_exist(state, &rule.scope.project_ids()).await?;
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
