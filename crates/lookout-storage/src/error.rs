use std::path::PathBuf;

/// Why a storage call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The database file is damaged. It is left untouched.
    #[error(
        "database {path} is corrupt ({detail}); it was not modified. Restore it from a backup: `lookout backup restore`, or start with `lookout serve --auto-recover` (see docs/operations.md)"
    )]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// What the integrity check said.
        detail: String,
    },
    /// The database was written by a newer Lookout.
    #[error(
        "database schema version {found} is newer than this Lookout supports ({supported}); upgrade Lookout or restore a backup made by this version"
    )]
    SchemaTooNew {
        /// The version in the database.
        found: u32,
        /// The latest version this binary knows.
        supported: u32,
    },
    /// Pending migrations must be applied first.
    #[error(
        "database schema is at version {current}, but {latest} is needed: run `lookout migrate up`"
    )]
    SchemaBehind {
        /// The applied version.
        current: u32,
        /// The version this binary needs.
        latest: u32,
    },
    /// The data directory or database cannot be created or written.
    #[error("cannot write to {path}: {reason}")]
    NotWritable {
        /// The path that failed.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The write queue is full; retry later.
    #[error("storage is overloaded: the write queue is full")]
    Overloaded,
    /// A uniqueness rule was violated.
    #[error("{0}")]
    Conflict(String),
    /// A referenced object does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// A migration request makes no sense (e.g. down past zero).
    #[error("{0}")]
    InvalidMigration(String),
    /// A caller-supplied value is malformed (e.g. a pagination cursor).
    #[error("{0}")]
    InvalidInput(String),
    /// Writes are refused because the store was found damaged.
    #[error("storage refuses writes: {0}")]
    Fenced(String),
    /// The store is closed.
    #[error("storage is shut down")]
    Closed,
    /// Any other backend failure.
    #[error("storage backend error: {0}")]
    Backend(String),
}

impl From<rusqlite::Error> for StorageError {
    fn from(e: rusqlite::Error) -> Self {
        if let rusqlite::Error::SqliteFailure(f, msg) = &e {
            match f.code {
                rusqlite::ErrorCode::ConstraintViolation => {
                    return StorageError::Conflict(
                        msg.clone().unwrap_or_else(|| "constraint violated".into()),
                    );
                }
                rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase => {
                    return StorageError::Corrupt {
                        path: PathBuf::new(),
                        detail: e.to_string(),
                    };
                }
                _ => {}
            }
        }
        StorageError::Backend(e.to_string())
    }
}
