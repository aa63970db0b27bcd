//! Lookout's domain types: projects, keys, users, tokens, migrations.
//!
//! This crate does no I/O and knows nothing of HTTP or SQL: it is the
//! vocabulary the storage layer, the ingest pipeline and the server share.
//! Times are UTC `chrono::DateTime`s; ids are `i64` (SQLite rowids now,
//! PostgreSQL `BIGINT` later).

pub mod errors;
pub mod settings;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A project: one application that sends events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Project {
    /// Numeric id; also the Sentry project id in DSNs.
    pub id: i64,
    /// URL-safe unique name.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// A DSN key of a project. SDKs authenticate ingest with `public_key`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectKey {
    /// Numeric id.
    pub id: i64,
    /// The project the key belongs to.
    pub project_id: i64,
    /// 32 lowercase hex characters.
    pub public_key: String,
    /// A label, e.g. "Default".
    pub label: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl ProjectKey {
    /// Renders the DSN for this key under `public_url`
    /// (`http://host[:port][/prefix]`).
    pub fn dsn(&self, public_url: &str) -> String {
        let (scheme, rest) = public_url.split_once("://").unwrap_or(("http", public_url));
        let rest = rest.trim_end_matches('/');
        format!("{scheme}://{}@{rest}/{}", self.public_key, self.project_id)
    }
}

/// A person who can log in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Numeric id.
    pub id: i64,
    /// Login name; unique, case-insensitive.
    pub email: String,
    /// Whether the user administers the whole install.
    pub is_admin: bool,
    /// When the account was created.
    pub created_at: DateTime<Utc>,
}

/// What an API token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TokenScope {
    /// GET requests only.
    Read,
    /// Everything the owner may do.
    ReadWrite,
}

impl TokenScope {
    /// The stored and displayed name.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenScope::Read => "read",
            TokenScope::ReadWrite => "read-write",
        }
    }
    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<TokenScope> {
        match s {
            "read" => Some(TokenScope::Read),
            "read-write" => Some(TokenScope::ReadWrite),
            _ => None,
        }
    }
}

/// An API token (the secret itself is never stored, only its SHA-256).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiToken {
    /// Numeric id.
    pub id: i64,
    /// The owner; `None` for install-wide tokens made with the CLI.
    pub user_id: Option<i64>,
    /// A name to recognise it by.
    pub name: String,
    /// What it may do.
    pub scope: TokenScope,
    /// The first characters of the secret, for display.
    pub prefix: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last authenticated a request.
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A logged-in browser session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebSession {
    /// SHA-256 of the cookie secret.
    pub id_hash: String,
    /// Whose session it is.
    pub user_id: i64,
    /// The token forms must carry.
    pub csrf_token: String,
    /// When it ends.
    pub expires_at: DateTime<Utc>,
}

/// A non-admin user's role in one project. Administrators have every
/// right in every project without a membership row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProjectRole {
    /// Reads everything in the project; changes nothing.
    Viewer,
    /// Reads, triages issues and configures the project.
    Member,
}

impl ProjectRole {
    /// The stored and displayed name.
    pub fn as_str(self) -> &'static str {
        match self {
            ProjectRole::Viewer => "viewer",
            ProjectRole::Member => "member",
        }
    }
    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<ProjectRole> {
        match s {
            "viewer" => Some(ProjectRole::Viewer),
            "member" => Some(ProjectRole::Member),
            _ => None,
        }
    }
}

/// A user's membership in a project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    /// The project.
    pub project_id: i64,
    /// The user.
    pub user_id: i64,
    /// The user's e-mail, for display.
    pub email: String,
    /// What the user may do there.
    pub role: ProjectRole,
}

/// An invitation to create an account. Only the SHA-256 of the link's
/// secret is stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invitation {
    /// Numeric id.
    pub id: i64,
    /// Who is invited; the account is created with this e-mail.
    pub email: String,
    /// Whether the new account administers the install.
    pub is_admin: bool,
    /// Projects the new account joins, with the role in each.
    pub projects: Vec<(i64, ProjectRole)>,
    /// The administrator who sent it.
    pub invited_by: Option<i64>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When the link stops working.
    pub expires_at: DateTime<Utc>,
    /// When it was used, if it was.
    pub accepted_at: Option<DateTime<Utc>>,
}

/// One applied schema migration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedMigration {
    /// Version number, starting at 1.
    pub version: u32,
    /// Short name.
    pub name: String,
    /// When it was applied.
    pub applied_at: DateTime<Utc>,
}

/// Where the schema stands relative to this binary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MigrationStatus {
    /// The highest applied version (0 = empty database).
    pub current: u32,
    /// The highest version this binary knows.
    pub latest: u32,
    /// Known versions not yet applied.
    pub pending: Vec<u32>,
}

/// Turns a display name into a slug: lowercase ASCII letters, digits and
/// single dashes, at most 50 characters; "project" when nothing is left.
pub fn slugify(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
        if out.len() >= 50 {
            break;
        }
    }
    let out = out.trim_end_matches('-').to_string();
    if out.is_empty() {
        "project".into()
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugify_examples() {
        assert_eq!(slugify("Shop Bot (prod)"), "shop-bot-prod");
        assert_eq!(slugify("  ---  "), "project");
        assert_eq!(slugify("Ünïcode ok"), "n-code-ok");
    }

    #[test]
    fn dsn_renders_with_port_and_prefix() {
        let k = ProjectKey {
            id: 1,
            project_id: 42,
            public_key: "abc".into(),
            label: "Default".into(),
            created_at: Utc::now(),
            revoked_at: None,
        };
        assert_eq!(
            k.dsn("http://127.0.0.1:8686"),
            "http://abc@127.0.0.1:8686/42"
        );
        assert_eq!(
            k.dsn("https://x.io/lookout/"),
            "https://abc@x.io/lookout/42"
        );
    }
}
