//! The viewer's projects and roles, for choosing what to offer on a page
//! (buttons, checkboxes, selects). It decides nothing: every action is
//! checked again by the alerting service layer.

use crate::access::Role;
use crate::error::ApiError;
use crate::state::AppState;
use crate::ui::session::Viewer;
use lookout_model::Project;
use std::collections::BTreeMap;

/// Administrator, or the role per readable project.
#[derive(Debug, Clone)]
pub struct Reach {
    /// Administrators may do everything.
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

    /// Whether the viewer is a member (or administrator) of a project.
    pub fn member_of(&self, project_id: i64) -> bool {
        self.role(project_id).is_some_and(|r| r >= Role::Member)
    }

    /// A project's name, if readable.
    pub fn project_name(&self, project_id: i64) -> Option<&str> {
        self.projects.get(&project_id).map(|(p, _)| p.name.as_str())
    }

    /// The projects the viewer is a member of, by id.
    pub fn member_projects(&self) -> impl Iterator<Item = (&i64, &Project)> {
        self.projects
            .iter()
            .filter(|(_, (_, r))| *r >= Role::Member)
            .map(|(id, (p, _))| (id, p))
    }
}
