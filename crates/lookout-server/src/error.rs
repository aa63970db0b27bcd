//! [`ApiError`]: every failure a handler can return, mapped to a status code
//! and a JSON body `{"detail": "..."}`. Internal causes are logged once here
//! and never sent to the client.

use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use lookout_storage::StorageError;

/// A handler failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// 400: the request is malformed; the message says how.
    #[error("{0}")]
    BadRequest(String),
    /// 401: no credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: credentials that do not grant this.
    #[error("{0}")]
    Forbidden(String),
    /// 404.
    #[error("{0}")]
    NotFound(String),
    /// 409.
    #[error("{0}")]
    Conflict(String),
    /// 413: the body or an item is over a limit.
    #[error("{0}")]
    TooLarge(String),
    /// 415.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 507: the data dir's file system is below the free-space watermark.
    #[error("{0}")]
    InsufficientStorage(String),
    /// 429 with `Retry-After` (seconds) and extra headers.
    #[error("{message}")]
    RateLimited {
        /// Explanation.
        message: String,
        /// Seconds until the client may retry.
        retry_after: u64,
        /// Additional headers (e.g. `X-Sentry-Rate-Limits`).
        headers: Vec<(HeaderName, String)>,
    },
    /// 503 with `Retry-After`: overloaded or shutting down.
    #[error("{message}")]
    Unavailable {
        /// Explanation.
        message: String,
        /// Seconds until the client may retry.
        retry_after: u64,
    },
    /// 500: logged with its cause; the client sees a generic message.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    /// The HTTP status for this error.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::InsufficientStorage(_) => StatusCode::INSUFFICIENT_STORAGE,
            ApiError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::Overloaded => ApiError::Unavailable {
                message: "server is overloaded: the write queue is full; retry later".into(),
                retry_after: 1,
            },
            StorageError::Closed => ApiError::Unavailable {
                message: "server is shutting down".into(),
                retry_after: 5,
            },
            StorageError::Conflict(m) => ApiError::Conflict(m),
            StorageError::InvalidInput(m) => ApiError::BadRequest(m),
            StorageError::NotFound(m) => ApiError::NotFound(format!("{m} not found")),
            StorageError::Fenced(reason) => ApiError::Unavailable {
                message: format!("storage refuses writes: {reason}"),
                retry_after: 60,
            },
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let detail = match &self {
            ApiError::Internal(cause) => {
                tracing::error!(cause = %cause, "internal error answering a request");
                "internal server error".to_string()
            }
            other => other.to_string(),
        };
        let mut resp =
            (status, axum::Json(serde_json::json!({ "detail": detail }))).into_response();
        let h = resp.headers_mut();
        match self {
            ApiError::RateLimited {
                retry_after,
                headers,
                ..
            } => {
                h.insert("retry-after", HeaderValue::from(retry_after));
                for (k, v) in headers {
                    if let Ok(v) = HeaderValue::from_str(&v) {
                        h.insert(k, v);
                    }
                }
            }
            ApiError::Unavailable { retry_after, .. } => {
                h.insert("retry-after", HeaderValue::from(retry_after));
            }
            _ => {}
        }
        resp
    }
}
