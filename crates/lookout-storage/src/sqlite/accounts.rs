//! Accounts and access: users, project membership, invitations, API
//! tokens, and project/key administration. Free functions over a
//! connection; `mod.rs` runs them on the writer or a reader.

use super::migrations::ms_to_time;
use super::{KEY_COLS, TOKEN_COLS, now_ms, random_hex, row_key, row_project, row_token, row_user};
use crate::{NewInvitation, Result, StorageError};
use lookout_model::{ApiToken, Invitation, Membership, Project, ProjectKey, ProjectRole, User};
use rusqlite::{Connection, OptionalExtension, Row, params};

const USER_COLS: &str = "id, email, is_admin, created_at";

fn user(c: &Connection, id: i64) -> Result<Option<User>> {
    Ok(c.query_row(
        &format!("SELECT {USER_COLS} FROM users WHERE id = ?1"),
        [id],
        row_user,
    )
    .optional()?)
}

fn admin_count(c: &Connection) -> Result<i64> {
    Ok(
        c.query_row("SELECT COUNT(*) FROM users WHERE is_admin = 1", [], |r| {
            r.get(0)
        })?,
    )
}

pub(crate) fn rename_project(c: &Connection, id: i64, name: &str) -> Result<Project> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(StorageError::Conflict(
            "project name must be 1 to 100 characters".into(),
        ));
    }
    let n = c.execute(
        "UPDATE projects SET name = ?1 WHERE id = ?2",
        params![name, id],
    )?;
    if n == 0 {
        return Err(StorageError::NotFound(format!("project {id}")));
    }
    Ok(c.query_row(
        "SELECT id, slug, name, created_at FROM projects WHERE id = ?1",
        [id],
        row_project,
    )?)
}

/// The tables that can hold millions of a project's rows, which
/// [`delete_project_rows`] empties in batches before the project goes.
pub(crate) const BULKY_PROJECT_TABLES: [&str; 6] = [
    "events",
    "transactions",
    "logs",
    "check_ins",
    "attachments",
    "user_feedback",
];

/// Deletes at most `limit` of a project's rows from `table` (one of
/// [`BULKY_PROJECT_TABLES`]); returns how many went.
pub(crate) fn delete_project_rows(
    c: &Connection,
    table: &str,
    project_id: i64,
    limit: usize,
) -> Result<usize> {
    if !BULKY_PROJECT_TABLES.contains(&table) {
        return Err(StorageError::InvalidInput(format!(
            "{table} is not a project data table"
        )));
    }
    Ok(c.execute(
        &format!(
            "DELETE FROM {table} WHERE rowid IN
               (SELECT rowid FROM {table} WHERE project_id = ?1 LIMIT ?2)"
        ),
        params![project_id, i64::try_from(limit).unwrap_or(i64::MAX)],
    )?)
}

pub(crate) fn delete_project(c: &Connection, id: i64) -> Result<bool> {
    // Tables keyed by project without a foreign key (hot ingest paths skip
    // the FK check) are cleared by hand; the rest cascade from `projects`.
    for table in ["project_outcomes", "release_sessions", "alert_instances"] {
        c.execute(&format!("DELETE FROM {table} WHERE project_id = ?1"), [id])?;
    }
    c.execute("DELETE FROM events WHERE project_id = ?1", [id])?;
    Ok(c.execute("DELETE FROM projects WHERE id = ?1", [id])? > 0)
}

pub(crate) fn create_project_key(
    c: &Connection,
    project_id: i64,
    label: &str,
) -> Result<ProjectKey> {
    let label = label.trim();
    let label = if label.is_empty() { "Key" } else { label };
    if label.chars().count() > 100 {
        return Err(StorageError::Conflict(
            "key label must be at most 100 characters".into(),
        ));
    }
    let exists = c
        .query_row(
            "SELECT 1 FROM projects WHERE id = ?1 AND deleting = 0",
            [project_id],
            |_| Ok(()),
        )
        .optional()?;
    if exists.is_none() {
        return Err(StorageError::NotFound(format!("project {project_id}")));
    }
    c.execute(
        "INSERT INTO project_keys (project_id, public_key, label, created_at)
         VALUES (?1, ?2, ?3, ?4)",
        params![project_id, random_hex(16), label, now_ms()],
    )?;
    let id = c.last_insert_rowid();
    Ok(c.query_row(
        &format!("SELECT {KEY_COLS} FROM project_keys WHERE id = ?1"),
        [id],
        row_key,
    )?)
}

pub(crate) fn revoke_project_key(
    c: &Connection,
    project_id: i64,
    key_id: i64,
) -> Result<Option<ProjectKey>> {
    c.execute(
        "UPDATE project_keys SET revoked_at = ?1
         WHERE id = ?2 AND project_id = ?3 AND revoked_at IS NULL",
        params![now_ms(), key_id, project_id],
    )?;
    Ok(c.query_row(
        &format!("SELECT {KEY_COLS} FROM project_keys WHERE id = ?1 AND project_id = ?2"),
        params![key_id, project_id],
        row_key,
    )
    .optional()?)
}

pub(crate) fn list_users(c: &Connection) -> Result<Vec<User>> {
    let mut s = c.prepare_cached(&format!("SELECT {USER_COLS} FROM users ORDER BY id"))?;
    let rows = s.query_map([], row_user)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(crate) fn set_password(
    c: &Connection,
    user_id: i64,
    hash: &str,
    keep_session: Option<&str>,
) -> Result<()> {
    let n = c.execute(
        "UPDATE users SET password_hash = ?1 WHERE id = ?2",
        params![hash, user_id],
    )?;
    if n == 0 {
        return Err(StorageError::NotFound(format!("user {user_id}")));
    }
    c.execute(
        "DELETE FROM sessions WHERE user_id = ?1 AND id_hash IS NOT ?2",
        params![user_id, keep_session],
    )?;
    Ok(())
}

pub(crate) fn set_user_admin(c: &Connection, user_id: i64, is_admin: bool) -> Result<User> {
    let current =
        user(c, user_id)?.ok_or_else(|| StorageError::NotFound(format!("user {user_id}")))?;
    if current.is_admin && !is_admin && admin_count(c)? <= 1 {
        return Err(StorageError::Conflict(
            "this is the last administrator; make someone else an administrator first".into(),
        ));
    }
    c.execute(
        "UPDATE users SET is_admin = ?1 WHERE id = ?2",
        params![is_admin, user_id],
    )?;
    user(c, user_id)?.ok_or_else(|| StorageError::NotFound(format!("user {user_id}")))
}

pub(crate) fn delete_user(c: &Connection, user_id: i64) -> Result<bool> {
    let Some(current) = user(c, user_id)? else {
        return Ok(false);
    };
    if current.is_admin && admin_count(c)? <= 1 {
        return Err(StorageError::Conflict(
            "this is the last administrator and cannot be deleted".into(),
        ));
    }
    // Sessions, tokens and memberships cascade.
    Ok(c.execute("DELETE FROM users WHERE id = ?1", [user_id])? > 0)
}

pub(crate) fn user_password_hash(c: &Connection, user_id: i64) -> Result<Option<String>> {
    Ok(c.query_row(
        "SELECT password_hash FROM users WHERE id = ?1",
        [user_id],
        |r| r.get(0),
    )
    .optional()?)
}

fn row_membership(r: &Row<'_>) -> rusqlite::Result<Membership> {
    let role: String = r.get(3)?;
    Ok(Membership {
        project_id: r.get(0)?,
        user_id: r.get(1)?,
        email: r.get(2)?,
        // An unknown stored role grants the least.
        role: ProjectRole::parse(&role).unwrap_or(ProjectRole::Viewer),
    })
}

pub(crate) fn project_role(
    c: &Connection,
    project_id: i64,
    user_id: i64,
) -> Result<Option<ProjectRole>> {
    let role: Option<String> = c
        .prepare_cached("SELECT role FROM project_members WHERE project_id = ?1 AND user_id = ?2")?
        .query_row(params![project_id, user_id], |r| r.get(0))
        .optional()?;
    Ok(role.map(|r| ProjectRole::parse(&r).unwrap_or(ProjectRole::Viewer)))
}

pub(crate) fn user_memberships(c: &Connection, user_id: i64) -> Result<Vec<Membership>> {
    let mut s = c.prepare_cached(
        "SELECT m.project_id, m.user_id, u.email, m.role
         FROM project_members m JOIN users u ON u.id = m.user_id
         WHERE m.user_id = ?1 ORDER BY m.project_id",
    )?;
    let rows = s.query_map([user_id], row_membership)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(crate) fn project_members(c: &Connection, project_id: i64) -> Result<Vec<Membership>> {
    let mut s = c.prepare_cached(
        "SELECT m.project_id, m.user_id, u.email, m.role
         FROM project_members m JOIN users u ON u.id = m.user_id
         WHERE m.project_id = ?1 ORDER BY u.email",
    )?;
    let rows = s.query_map([project_id], row_membership)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(crate) fn set_project_role(
    c: &Connection,
    project_id: i64,
    user_id: i64,
    role: Option<ProjectRole>,
) -> Result<()> {
    match role {
        None => {
            c.execute(
                "DELETE FROM project_members WHERE project_id = ?1 AND user_id = ?2",
                params![project_id, user_id],
            )?;
        }
        Some(role) => {
            if user(c, user_id)?.is_none() {
                return Err(StorageError::NotFound(format!("user {user_id}")));
            }
            let project = c
                .query_row(
                    "SELECT 1 FROM projects WHERE id = ?1 AND deleting = 0",
                    [project_id],
                    |_| Ok(()),
                )
                .optional()?;
            if project.is_none() {
                return Err(StorageError::NotFound(format!("project {project_id}")));
            }
            c.execute(
                "INSERT INTO project_members (project_id, user_id, role) VALUES (?1, ?2, ?3)
                 ON CONFLICT (project_id, user_id) DO UPDATE SET role = excluded.role",
                params![project_id, user_id, role.as_str()],
            )?;
        }
    }
    Ok(())
}

const INVITE_COLS: &str =
    "id, email, is_admin, invited_by, created_at, expires_at, accepted_at, token_hash";

fn invitation_row(c: &Connection, r: &Row<'_>) -> rusqlite::Result<Invitation> {
    let id: i64 = r.get(0)?;
    let mut s = c.prepare_cached(
        "SELECT project_id, role FROM invitation_projects WHERE invitation_id = ?1 ORDER BY project_id",
    )?;
    let projects = s
        .query_map([id], |p| {
            let role: String = p.get(1)?;
            Ok((
                p.get::<_, i64>(0)?,
                ProjectRole::parse(&role).unwrap_or(ProjectRole::Viewer),
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Invitation {
        id,
        email: r.get(1)?,
        is_admin: r.get(2)?,
        projects,
        invited_by: r.get(3)?,
        created_at: ms_to_time(r.get(4)?),
        expires_at: ms_to_time(r.get(5)?),
        accepted_at: r.get::<_, Option<i64>>(6)?.map(ms_to_time),
    })
}

fn email_taken(c: &Connection, email: &str) -> Result<bool> {
    Ok(
        c.query_row("SELECT 1 FROM users WHERE email = ?1", [email], |_| Ok(()))
            .optional()?
            .is_some(),
    )
}

pub(crate) fn create_invitation(c: &Connection, new: &NewInvitation) -> Result<Invitation> {
    if email_taken(c, &new.email)? {
        return Err(StorageError::Conflict(format!(
            "a user with e-mail {} already exists",
            new.email
        )));
    }
    // A new invitation to the same address replaces the pending one.
    c.execute(
        "UPDATE invitations SET revoked_at = ?1
         WHERE email = ?2 AND accepted_at IS NULL AND revoked_at IS NULL",
        params![now_ms(), new.email],
    )?;
    c.execute(
        "INSERT INTO invitations (token_hash, email, is_admin, invited_by, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            new.token_hash,
            new.email,
            new.is_admin,
            new.invited_by,
            now_ms(),
            new.expires_at.timestamp_millis()
        ],
    )?;
    let id = c.last_insert_rowid();
    for (project_id, role) in &new.projects {
        c.execute(
            "INSERT INTO invitation_projects (invitation_id, project_id, role) VALUES (?1, ?2, ?3)
             ON CONFLICT DO UPDATE SET role = excluded.role",
            params![id, project_id, role.as_str()],
        )
        .map_err(|e| match e {
            rusqlite::Error::SqliteFailure(f, _)
                if f.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                StorageError::NotFound(format!("project {project_id}"))
            }
            e => e.into(),
        })?;
    }
    Ok(c.query_row(
        &format!("SELECT {INVITE_COLS} FROM invitations WHERE id = ?1"),
        [id],
        |r| invitation_row(c, r),
    )?)
}

pub(crate) fn pending_invitations(c: &Connection, now_ms: i64) -> Result<Vec<Invitation>> {
    let mut s = c.prepare_cached(&format!(
        "SELECT {INVITE_COLS} FROM invitations
         WHERE accepted_at IS NULL AND revoked_at IS NULL AND expires_at > ?1
         ORDER BY id DESC"
    ))?;
    let rows = s.query_map([now_ms], |r| invitation_row(c, r))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(crate) fn find_invitation(
    c: &Connection,
    token_hash: &str,
    now_ms: i64,
) -> Result<Option<Invitation>> {
    Ok(c.query_row(
        &format!(
            "SELECT {INVITE_COLS} FROM invitations
             WHERE token_hash = ?1 AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > ?2"
        ),
        params![token_hash, now_ms],
        |r| invitation_row(c, r),
    )
    .optional()?)
}

pub(crate) fn accept_invitation(
    c: &Connection,
    token_hash: &str,
    password_hash: &str,
    now_ms: i64,
) -> Result<User> {
    let inv = find_invitation(c, token_hash, now_ms)?.ok_or_else(|| {
        StorageError::NotFound("invitation (unknown, already used, revoked or expired)".into())
    })?;
    if email_taken(c, &inv.email)? {
        return Err(StorageError::Conflict(format!(
            "a user with e-mail {} already exists",
            inv.email
        )));
    }
    c.execute(
        "INSERT INTO users (email, password_hash, is_admin, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![inv.email, password_hash, inv.is_admin, now_ms],
    )?;
    let uid = c.last_insert_rowid();
    for (project_id, role) in &inv.projects {
        c.execute(
            "INSERT OR IGNORE INTO project_members (project_id, user_id, role) VALUES (?1, ?2, ?3)",
            params![project_id, uid, role.as_str()],
        )?;
    }
    c.execute(
        "UPDATE invitations SET accepted_at = ?1 WHERE id = ?2",
        params![now_ms, inv.id],
    )?;
    user(c, uid)?.ok_or_else(|| StorageError::NotFound(format!("user {uid}")))
}

pub(crate) fn revoke_invitation(c: &Connection, id: i64) -> Result<bool> {
    Ok(c.execute(
        "UPDATE invitations SET revoked_at = ?1
         WHERE id = ?2 AND accepted_at IS NULL AND revoked_at IS NULL",
        params![now_ms(), id],
    )? > 0)
}

pub(crate) fn list_api_tokens(c: &Connection, user_id: Option<i64>) -> Result<Vec<ApiToken>> {
    let mut s = c.prepare_cached(&format!(
        "SELECT {TOKEN_COLS} FROM api_tokens WHERE user_id IS ?1 ORDER BY id DESC"
    ))?;
    let rows = s.query_map([user_id], row_token)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(crate) fn revoke_api_token(c: &Connection, id: i64, user_id: Option<i64>) -> Result<bool> {
    Ok(c.execute(
        "UPDATE api_tokens SET revoked_at = ?1
         WHERE id = ?2 AND user_id IS ?3 AND revoked_at IS NULL",
        params![now_ms(), id, user_id],
    )? > 0)
}
