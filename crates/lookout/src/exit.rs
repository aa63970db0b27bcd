//! How the binary fails: a message and an exit code.

use std::fmt;

/// A failure that ends the process.
#[derive(Debug)]
pub enum Exit {
    /// Configuration or usage is wrong (exit code 2).
    Usage(String),
    /// The command could not do its work (exit code 1).
    Failure(String),
}

impl Exit {
    /// The process exit code.
    pub fn code(&self) -> i32 {
        match self {
            Exit::Usage(_) => 2,
            Exit::Failure(_) => 1,
        }
    }
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Exit::Usage(m) | Exit::Failure(m) => f.write_str(m),
        }
    }
}

impl From<lookout_storage::StorageError> for Exit {
    fn from(e: lookout_storage::StorageError) -> Self {
        Exit::Failure(e.to_string())
    }
}

impl From<lookout_config::ConfigError> for Exit {
    fn from(e: lookout_config::ConfigError) -> Self {
        Exit::Usage(e.to_string())
    }
}

impl From<lookout_backup::BackupError> for Exit {
    fn from(e: lookout_backup::BackupError) -> Self {
        match e {
            lookout_backup::BackupError::InvalidName(_) => Exit::Usage(e.to_string()),
            other => Exit::Failure(other.to_string()),
        }
    }
}
