//! Authorization: who may read or change what.
//!
//! Every page and API handler turns its credential (a browser session or an
//! API token) into an [`Access`] and asks it for the object it is about to
//! touch: [`Access::read_project`], [`Access::write_project`],
//! [`Access::read_issue`], … . Those calls load the object *and* check the
//! caller's rights in one step, so a handler cannot fetch an object without
//! the check.
//!
//! The model:
//! - an **administrator** may do everything, in every project;
//! - any other user has a [`ProjectRole`] per project they belong to:
//!   a **member** reads, triages and configures that project, a **viewer**
//!   only reads it; projects they do not belong to do not exist for them
//!   (404, so ids cannot be probed);
//! - an API token acts for its owner, capped by its scope (a read token
//!   never writes); an install-wide token made with `lookout token create`
//!   (no owner) acts as an administrator, because whoever runs the CLI
//!   already controls the data directory.

use crate::error::ApiError;
use crate::state::AppState;
use lookout_model::errors::Issue;
use lookout_model::{Project, ProjectRole, User};

/// A caller's effective rights in one project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Reads.
    Viewer,
    /// Reads, triages, configures.
    Member,
    /// Everything, including deleting the project and managing members.
    Admin,
}

impl From<ProjectRole> for Role {
    fn from(r: ProjectRole) -> Self {
        match r {
            ProjectRole::Viewer => Role::Viewer,
            ProjectRole::Member => Role::Member,
        }
    }
}

impl Role {
    /// Display name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Member => "member",
            Role::Admin => "admin",
        }
    }
}

/// Who is asking and what their credential allows.
#[derive(Debug, Clone)]
pub struct Access {
    /// The user; `None` for an install-wide API token.
    pub user: Option<User>,
    /// Whether the credential may change anything (a session may; a token
    /// only with the read-write scope).
    pub can_write: bool,
}

impl Access {
    /// Access of a logged-in browser user.
    pub fn session(user: User) -> Access {
        Access {
            user: Some(user),
            can_write: true,
        }
    }

    /// Whether the caller administers the install.
    pub fn is_admin(&self) -> bool {
        self.user.as_ref().is_none_or(|u| u.is_admin)
    }

    /// The caller's id, if a user.
    pub fn user_id(&self) -> Option<i64> {
        self.user.as_ref().map(|u| u.id)
    }

    /// The caller's role in a project, `None` when they may not see it.
    pub async fn role(&self, state: &AppState, project_id: i64) -> Result<Option<Role>, ApiError> {
        match &self.user {
            _ if self.is_admin() => Ok(Some(Role::Admin)),
            Some(u) => Ok(state
                .store()
                .project_role(project_id, u.id)
                .await?
                .map(Role::from)),
            None => Ok(None),
        }
    }

    /// Refuses unless the caller administers the install.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        if !self.is_admin() {
            return Err(ApiError::Forbidden(
                "only administrators may do this".into(),
            ));
        }
        self.require_write()
    }

    fn require_write(&self) -> Result<(), ApiError> {
        if !self.can_write {
            return Err(ApiError::Forbidden(
                "this token is read-only; this request needs a read-write token".into(),
            ));
        }
        Ok(())
    }

    /// The project, if the caller may read it (otherwise 404).
    pub async fn read_project(
        &self,
        state: &AppState,
        id: i64,
    ) -> Result<(Project, Role), ApiError> {
        let not_found = || ApiError::NotFound(format!("project {id} not found"));
        let role = self.role(state, id).await?.ok_or_else(not_found)?;
        let p = state.store().get_project(id).await?.ok_or_else(not_found)?;
        Ok((p, role))
    }

    /// The project, if the caller may change it: members and administrators.
    pub async fn write_project(&self, state: &AppState, id: i64) -> Result<Project, ApiError> {
        self.at_least(state, id, Role::Member).await
    }

    /// The project, if the caller administers it (delete, members).
    pub async fn admin_project(&self, state: &AppState, id: i64) -> Result<Project, ApiError> {
        self.at_least(state, id, Role::Admin).await
    }

    async fn at_least(&self, state: &AppState, id: i64, need: Role) -> Result<Project, ApiError> {
        let (p, role) = self.read_project(state, id).await?;
        if role < need {
            return Err(ApiError::Forbidden(format!(
                "your role in project {} is {}; this needs {}",
                p.slug,
                role.as_str(),
                need.as_str()
            )));
        }
        self.require_write()?;
        Ok(p)
    }

    /// The issue, if the caller may read its project (otherwise 404).
    pub async fn read_issue(&self, state: &AppState, id: i64) -> Result<(Issue, Role), ApiError> {
        let not_found = || ApiError::NotFound(format!("issue {id} not found"));
        let issue = state.store().get_issue(id).await?.ok_or_else(not_found)?;
        let role = self
            .role(state, issue.project_id)
            .await?
            .ok_or_else(not_found)?;
        Ok((issue, role))
    }

    /// The issue, if the caller may triage it.
    pub async fn write_issue(&self, state: &AppState, id: i64) -> Result<Issue, ApiError> {
        let (issue, role) = self.read_issue(state, id).await?;
        if role < Role::Member {
            return Err(ApiError::Forbidden(
                "viewers cannot change issues; ask an administrator for the member role".into(),
            ));
        }
        self.require_write()?;
        Ok(issue)
    }

    /// The projects the caller may read, by id, with the role in each.
    pub async fn projects(&self, state: &AppState) -> Result<Vec<(Project, Role)>, ApiError> {
        let all = state.store().list_projects().await?;
        if self.is_admin() {
            return Ok(all.into_iter().map(|p| (p, Role::Admin)).collect());
        }
        let Some(uid) = self.user_id() else {
            return Ok(vec![]);
        };
        let mine = state.store().user_memberships(uid).await?;
        Ok(all
            .into_iter()
            .filter_map(|p| {
                mine.iter()
                    .find(|m| m.project_id == p.id)
                    .map(|m| (p, Role::from(m.role)))
            })
            .collect())
    }
}
