//! [`IngestError`]: every way a submission can be refused. The server maps
//! each to its HTTP status; each is counted under its [`reason`](IngestError::reason).

use lookout_storage::StorageError;

/// Why a submission was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IngestError {
    /// No credentials (401).
    #[error("{0}")]
    Unauthorized(String),
    /// Credentials that do not grant this (403).
    #[error("{0}")]
    Forbidden(String),
    /// Over a size limit (413).
    #[error("{0}")]
    TooLarge(String),
    /// Malformed input (400).
    #[error("{0}")]
    Invalid(String),
    /// A `Content-Encoding` we do not speak (415).
    #[error("{0}")]
    UnsupportedEncoding(String),
    /// Over the project's quota (429).
    #[error("project quota of {limit} events per minute exceeded; retry in {retry_after} s")]
    RateLimited {
        /// The quota.
        limit: u32,
        /// Seconds until the window resets.
        retry_after: u64,
    },
    /// The queue is full (503).
    #[error("server is overloaded: the ingest queue is full; retry later")]
    Overloaded,
    /// The data dir's file system is below the free-space watermark (507).
    #[error("{0}")]
    InsufficientStorage(String),
    /// Shutting down (503).
    #[error("server is shutting down; retry later")]
    ShuttingDown,
    /// Storage failed (500).
    #[error("storage failed: {0}")]
    Storage(StorageError),
}

impl IngestError {
    /// The label used in `lookout_ingest_rejected_total{reason}`.
    pub fn reason(&self) -> &'static str {
        match self {
            IngestError::Unauthorized(_) => "unauthorized",
            IngestError::Forbidden(_) => "forbidden",
            IngestError::TooLarge(_) => "too_large",
            IngestError::Invalid(_) => "invalid",
            IngestError::UnsupportedEncoding(_) => "invalid",
            IngestError::RateLimited { .. } => "rate_limited",
            IngestError::Overloaded => "overloaded",
            IngestError::ShuttingDown => "overloaded",
            IngestError::InsufficientStorage(_) => "disk_full",
            IngestError::Storage(_) => "internal",
        }
    }
}

impl From<StorageError> for IngestError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::Overloaded => IngestError::Overloaded,
            StorageError::Closed => IngestError::ShuttingDown,
            other => IngestError::Storage(other),
        }
    }
}
