//! Who may see and change what in alerting, as the pages need it.
//!
//! INTERIM: a thin adapter over storage and `state.alerts()` that follows
//! the alerting access rules (docs/alerts.md, "Who may do what"); it is
//! to be replaced by the alerting service layer
//! (`crate::alerting::service`) once that lands, so that the API and the
//! UI share one implementation of the rules.

use crate::access::Role;
use crate::error::ApiError;
use crate::state::AppState;
use crate::ui::session::Viewer;
use chrono::Utc;
use lookout_alert::Rule;
use lookout_model::Project;
use lookout_storage::{
    AlertInstanceRow, AlertRuleRow, AlertSource, ChannelRow, NewAlertRule, NewChannel, NewSilence,
    SilenceRow,
};
use std::collections::BTreeMap;

/// The viewer's reach: administrator, or their role per readable project.
#[derive(Debug, Clone)]
pub struct Reach {
    /// Administrators read and change everything.
    pub admin: bool,
    /// Readable projects, by id, with the viewer's role.
    pub projects: BTreeMap<i64, (Project, Role)>,
}

impl Reach {
    /// What `viewer` may reach.
    pub async fn of(state: &AppState, viewer: &Viewer) -> Result<Reach, ApiError> {
        let access = viewer.access();
        let projects = access
            .projects(state)
            .await?
            .into_iter()
            .map(|(p, r)| (p.id, (p, r)))
            .collect();
        Ok(Reach {
            admin: access.is_admin(),
            projects,
        })
    }

    /// The viewer's role in a project, if they may read it.
    pub fn role(&self, project_id: i64) -> Option<Role> {
        self.projects.get(&project_id).map(|(_, r)| *r)
    }

    /// A project's name, if readable.
    pub fn project_name(&self, project_id: i64) -> Option<&str> {
        self.projects.get(&project_id).map(|(p, _)| p.name.as_str())
    }

    /// Whether an alert instance is visible.
    pub fn reads_alert(&self, a: &AlertInstanceRow) -> bool {
        match a.project_id {
            Some(p) => self.role(p).is_some(),
            None => self.admin,
        }
    }

    /// Whether the viewer may acknowledge or resolve a (visible) alert.
    pub fn acts_on_alert(&self, a: &AlertInstanceRow) -> bool {
        match a.project_id {
            Some(p) => self.role(p).is_some_and(|r| r >= Role::Member),
            None => self.admin,
        }
    }

    /// Whether a rule is visible: all its projects readable, or
    /// install-wide.
    pub fn reads_rule(&self, r: &AlertRuleRow) -> bool {
        self.admin || r.projects.iter().all(|p| self.role(*p).is_some())
    }

    /// Whether the viewer may create, change or delete a rule scoped to
    /// `projects`: administrators always; others only for a non-empty
    /// scope of projects they are members of.
    pub fn writes_rule_scope(&self, projects: &[i64]) -> Result<(), ApiError> {
        if self.admin {
            return Ok(());
        }
        if projects.is_empty() {
            return Err(ApiError::Forbidden(
                "only administrators may change install-wide rules (a rule without projects); pick the projects it is about".into(),
            ));
        }
        for p in projects {
            match self.role(*p) {
                None => return Err(ApiError::NotFound(format!("project {p} not found"))),
                Some(Role::Viewer) => {
                    return Err(ApiError::Forbidden(format!(
                        "changing rules of project {p} needs the member role there"
                    )));
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// Whether a silence is visible: global, or of a readable project.
    pub fn reads_silence(&self, s: &SilenceRow) -> bool {
        match s.project_id {
            Some(p) => self.admin || self.role(p).is_some(),
            None => true,
        }
    }

    /// Whether the viewer may create or expire a silence about
    /// `project_id` (`None`: a global silence, administrators only).
    pub fn writes_silence(&self, project_id: Option<i64>) -> Result<(), ApiError> {
        if self.admin {
            return Ok(());
        }
        match project_id {
            None => Err(ApiError::Forbidden(
                "only administrators may create or expire silences that are not about one project (add a matcher project_id=<id>)".into(),
            )),
            Some(p) => match self.role(p) {
                None => Err(ApiError::NotFound(format!("project {p} not found"))),
                Some(Role::Viewer) => Err(ApiError::Forbidden(format!(
                    "silencing alerts of project {p} needs the member role there"
                ))),
                Some(_) => Ok(()),
            },
        }
    }
}

/// The project a silence is about: its equality matcher `project_id=<id>`.
pub fn silence_project(matchers: &[lookout_alert::Matcher]) -> Option<i64> {
    matchers
        .iter()
        .find(|m| m.name == "project_id" && m.op == lookout_alert::MatchOp::Eq)
        .and_then(|m| m.value.parse().ok())
}

fn declared_in_config() -> ApiError {
    ApiError::Conflict("declared in lookout.toml; change it there".into())
}

/// A rule the viewer may read (404 otherwise).
pub async fn read_rule(state: &AppState, reach: &Reach, id: i64) -> Result<AlertRuleRow, ApiError> {
    let not_found = || ApiError::NotFound(format!("alert rule {id} not found"));
    let row = state
        .store()
        .get_alert_rule(id)
        .await?
        .ok_or_else(not_found)?;
    if !reach.reads_rule(&row) {
        return Err(not_found());
    }
    Ok(row)
}

/// Creates a rule (validated by the caller) and reloads the engine.
pub async fn create_rule(
    state: &AppState,
    viewer: &Viewer,
    reach: &Reach,
    rule: Rule,
) -> Result<AlertRuleRow, ApiError> {
    reach.writes_rule_scope(&rule.scope.projects)?;
    rule.validate().map_err(ApiError::BadRequest)?;
    let row = state
        .store()
        .create_alert_rule(new_rule(viewer, &rule), Utc::now())
        .await?;
    state.alerts().reload().await;
    Ok(row)
}

/// Replaces a rule and reloads the engine.
pub async fn update_rule(
    state: &AppState,
    viewer: &Viewer,
    reach: &Reach,
    id: i64,
    rule: Rule,
) -> Result<AlertRuleRow, ApiError> {
    let old = read_rule(state, reach, id).await?;
    if old.source == AlertSource::Config {
        return Err(declared_in_config());
    }
    reach.writes_rule_scope(&old.projects)?;
    reach.writes_rule_scope(&rule.scope.projects)?;
    rule.validate().map_err(ApiError::BadRequest)?;
    let mut new = new_rule(viewer, &rule);
    new.created_by = old.created_by;
    let row = state.store().update_alert_rule(id, new, Utc::now()).await?;
    state.alerts().reload().await;
    Ok(row)
}

/// Deletes a rule (and its alerts) and reloads the engine.
pub async fn delete_rule(state: &AppState, reach: &Reach, id: i64) -> Result<(), ApiError> {
    let old = read_rule(state, reach, id).await?;
    if old.source == AlertSource::Config {
        return Err(declared_in_config());
    }
    reach.writes_rule_scope(&old.projects)?;
    state.store().delete_alert_rule(id).await?;
    state.alerts().reload().await;
    Ok(())
}

fn new_rule(viewer: &Viewer, rule: &Rule) -> NewAlertRule {
    NewAlertRule {
        name: rule.name.trim().to_string(),
        enabled: rule.enabled,
        source: AlertSource::Api,
        projects: rule.scope.projects.clone(),
        spec: serde_json::to_value(rule).unwrap_or_default(),
        created_by: Some(viewer.user.id),
    }
}

/// An alert the viewer may act on: 404 when unreadable, 403 when only
/// readable.
async fn actionable_alert(state: &AppState, reach: &Reach, id: i64) -> Result<(), ApiError> {
    let not_found = || ApiError::NotFound(format!("alert {id} not found"));
    let row = state
        .store()
        .get_alert_instance(id)
        .await?
        .ok_or_else(not_found)?;
    if !reach.reads_alert(&row) {
        return Err(not_found());
    }
    if !reach.acts_on_alert(&row) {
        return Err(ApiError::Forbidden(
            "acknowledging or resolving alerts needs the member role in their project".into(),
        ));
    }
    Ok(())
}

fn control_error(e: crate::alerting::control::ControlError) -> ApiError {
    use crate::alerting::control::ControlError as C;
    match e {
        C::NoSuchAlert(id) => ApiError::NotFound(format!("alert {id} not found")),
        C::AlreadyResolved(id) => ApiError::Conflict(format!("alert {id} is already resolved")),
        C::NotRunning => ApiError::Conflict(e.to_string()),
        e => ApiError::Internal(e.to_string()),
    }
}

/// Acknowledges an alert.
pub async fn acknowledge(
    state: &AppState,
    viewer: &Viewer,
    reach: &Reach,
    id: i64,
) -> Result<(), ApiError> {
    actionable_alert(state, reach, id).await?;
    state
        .alerts()
        .acknowledge(id, &viewer.user.email)
        .await
        .map(|_| ())
        .map_err(control_error)
}

/// Resolves an alert by hand.
pub async fn resolve(
    state: &AppState,
    viewer: &Viewer,
    reach: &Reach,
    id: i64,
) -> Result<(), ApiError> {
    actionable_alert(state, reach, id).await?;
    state
        .alerts()
        .resolve(id, &viewer.user.email)
        .await
        .map(|_| ())
        .map_err(control_error)
}

/// Creates a silence (validated by the caller) and reloads the engine.
pub async fn create_silence(
    state: &AppState,
    reach: &Reach,
    silence: lookout_alert::Silence,
) -> Result<SilenceRow, ApiError> {
    silence.validate().map_err(ApiError::BadRequest)?;
    let project_id = silence_project(&silence.matchers);
    reach.writes_silence(project_id)?;
    let row = state
        .store()
        .create_silence(
            NewSilence {
                kind: match silence.kind {
                    lookout_alert::SilenceKind::Maintenance => "maintenance".into(),
                    lookout_alert::SilenceKind::Silence => "silence".into(),
                },
                matchers: silence.matchers.iter().map(|m| m.to_string()).collect(),
                project_id,
                starts_at: silence.starts_at,
                ends_at: silence.ends_at,
                created_by: silence.created_by.clone(),
                comment: silence.comment.clone(),
            },
            Utc::now(),
        )
        .await?;
    state.alerts().reload().await;
    Ok(row)
}

/// Ends a silence now and reloads the engine.
pub async fn expire_silence(state: &AppState, reach: &Reach, id: i64) -> Result<(), ApiError> {
    let not_found = || ApiError::NotFound(format!("silence {id} not found"));
    let row = state.store().get_silence(id).await?.ok_or_else(not_found)?;
    if !reach.reads_silence(&row) {
        return Err(not_found());
    }
    reach.writes_silence(row.project_id)?;
    state.store().expire_silence(id, Utc::now()).await?;
    state.alerts().reload().await;
    Ok(())
}

/// A channel by name (administrators only).
pub async fn read_channel(
    state: &AppState,
    viewer: &Viewer,
    name: &str,
) -> Result<ChannelRow, ApiError> {
    viewer.access().require_admin()?;
    state
        .store()
        .list_channels()
        .await?
        .into_iter()
        .find(|c| c.name == name)
        .ok_or_else(|| ApiError::NotFound(format!("channel {name:?} not found")))
}

/// Creates or replaces a channel (administrators only) and reloads.
pub async fn save_channel(
    state: &AppState,
    viewer: &Viewer,
    name: &str,
    enabled: bool,
    config: &lookout_alert::channel::ChannelConfig,
) -> Result<ChannelRow, ApiError> {
    viewer.access().require_admin()?;
    if let Some(old) = state
        .store()
        .list_channels()
        .await?
        .into_iter()
        .find(|c| c.name == name)
        && old.source == AlertSource::Config
    {
        return Err(declared_in_config());
    }
    config.validate().map_err(ApiError::BadRequest)?;
    let row = state
        .store()
        .upsert_channel(
            NewChannel {
                name: name.to_string(),
                kind: config.kind().into(),
                enabled,
                source: AlertSource::Api,
                config: serde_json::to_value(config).unwrap_or_default(),
            },
            Utc::now(),
        )
        .await?;
    state.alerts().reload().await;
    Ok(row)
}

/// Deletes a channel (administrators only) and reloads.
pub async fn delete_channel(state: &AppState, viewer: &Viewer, name: &str) -> Result<(), ApiError> {
    let old = read_channel(state, viewer, name).await?;
    if old.source == AlertSource::Config {
        return Err(declared_in_config());
    }
    state.store().delete_channel(name).await?;
    state.alerts().reload().await;
    Ok(())
}
