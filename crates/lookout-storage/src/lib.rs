//! Lookout's storage layer: the [`Store`] trait, its error type, the
//! conformance suite every backend must pass, and the embedded SQLite
//! backend.
//!
//! Only this crate knows SQL. Ingest, alerting and the server talk to a
//! `dyn Store`; a PostgreSQL backend for multi-node installs implements the
//! same trait with its own `migrations/postgres/` and must pass
//! [`conformance`].
//!
//! Writes are *group-committed*: each backend may batch concurrent writes
//! into one transaction, but a write's future resolves only after the
//! commit that contains it is durable. That is what lets ingest answer 200
//! only for data that a `kill -9` cannot lose.

pub mod conformance;
mod error;
pub mod sqlite;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use lookout_model::{
    ApiToken, AppliedMigration, MigrationStatus, Project, ProjectKey, TokenScope, User,
};
use std::time::Duration;

pub use error::StorageError;

/// Result alias for storage calls.
pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// A new project to create.
#[derive(Debug, Clone)]
pub struct NewProject {
    /// Display name; the slug is derived from it and made unique.
    pub name: String,
}

/// A new user to create. The password is already hashed (argon2id PHC
/// string); storage never sees a plain password.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Login e-mail.
    pub email: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Administrator of the whole install.
    pub is_admin: bool,
}

/// A new API token. Only the SHA-256 of the secret is stored.
#[derive(Debug, Clone)]
pub struct NewApiToken {
    /// Owner, or `None` for an install-wide token.
    pub user_id: Option<i64>,
    /// Name to recognise it by.
    pub name: String,
    /// What it may do.
    pub scope: TokenScope,
    /// Lowercase hex SHA-256 of the secret.
    pub token_hash: String,
    /// First characters of the secret, for display.
    pub prefix: String,
}

/// Everything Lookout stores. Implemented by each backend.
///
/// Methods are async; backends that block (SQLite) run the work on their
/// own threads, never on the async executor.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    /// The backend's name, e.g. `sqlite`.
    fn backend(&self) -> &'static str;

    /// Performs a small real write and returns how long it took. Used by
    /// readiness and health checks.
    async fn probe_write(&self) -> Result<Duration>;

    /// Where the schema stands.
    async fn migration_status(&self) -> Result<MigrationStatus>;
    /// The applied migrations, oldest first.
    async fn migration_history(&self) -> Result<Vec<AppliedMigration>>;
    /// Applies pending migrations up to `to` (default: the latest).
    /// Returns the versions applied.
    async fn migrate_up(&self, to: Option<u32>) -> Result<Vec<u32>>;
    /// Reverts applied migrations down to `to` (default: one step).
    /// Returns the versions reverted.
    async fn migrate_down(&self, to: Option<u32>) -> Result<Vec<u32>>;

    /// Creates a project with one default DSN key.
    async fn create_project(&self, new: NewProject) -> Result<(Project, ProjectKey)>;
    /// All projects, by id.
    async fn list_projects(&self) -> Result<Vec<Project>>;
    /// One project.
    async fn get_project(&self, id: i64) -> Result<Option<Project>>;
    /// The keys of a project, including revoked ones.
    async fn project_keys(&self, project_id: i64) -> Result<Vec<ProjectKey>>;
    /// Looks up a DSN key by its public part (revoked keys included, so the
    /// caller can tell "revoked" from "unknown").
    async fn find_project_key(&self, public_key: &str) -> Result<Option<ProjectKey>>;

    /// Creates a user. A duplicate e-mail is [`StorageError::Conflict`].
    async fn create_user(&self, new: NewUser) -> Result<User>;
    /// Looks a user up by e-mail, with its password hash.
    async fn find_user_by_email(&self, email: &str) -> Result<Option<(User, String)>>;

    /// Stores a new API token.
    async fn create_api_token(&self, new: NewApiToken) -> Result<ApiToken>;
    /// Finds a live (not revoked) token by the SHA-256 of its secret, and
    /// records its use at `now`.
    async fn authenticate_api_token(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<ApiToken>>;

    /// Writes that are queued but not yet committed.
    fn write_queue_depth(&self) -> usize;

    /// Stops accepting writes, commits what is queued, and closes.
    async fn close(&self) -> Result<()>;
}
