//! Sentry ingest endpoints: `POST /api/{project_id}/envelope/` and the
//! legacy `/store/`, plus CORS preflight for browser SDKs. The handler only
//! reads the request; admission and processing live in `lookout_ingest`.

use crate::error::ApiError;
use crate::state::AppState;
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use lookout_ingest::{Endpoint, IngestError, Submission};
use serde_json::json;

fn header_str<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// Maps an ingest refusal to its HTTP form.
pub fn ingest_error(e: IngestError) -> ApiError {
    match e {
        IngestError::Unauthorized(m) => ApiError::Unauthorized(m),
        IngestError::Forbidden(m) => ApiError::Forbidden(m),
        IngestError::TooLarge(m) => ApiError::TooLarge(m),
        IngestError::Invalid(m) => ApiError::BadRequest(m),
        IngestError::UnsupportedEncoding(m) => ApiError::UnsupportedMediaType(m),
        e @ IngestError::RateLimited { retry_after, .. } => ApiError::RateLimited {
            message: e.to_string(),
            retry_after,
            headers: vec![(
                HeaderName::from_static("x-sentry-rate-limits"),
                format!("{retry_after}::project:quota_exceeded"),
            )],
        },
        e @ IngestError::Overloaded => ApiError::Unavailable {
            message: e.to_string(),
            retry_after: 1,
        },
        e @ IngestError::ShuttingDown => ApiError::Unavailable {
            message: e.to_string(),
            retry_after: 5,
        },
        IngestError::InsufficientStorage(m) => ApiError::InsufficientStorage(m),
        IngestError::Storage(lookout_storage::StorageError::Fenced(reason)) => {
            ApiError::Unavailable {
                message: format!("storage refuses writes: {reason}"),
                retry_after: 60,
            }
        }
        IngestError::Storage(e) => {
            // Nothing was acknowledged. SDKs drop a 500 but retry a 503,
            // so a storage failure asks them to come back.
            tracing::error!(error = %e, "storage failed while ingesting; answering 503");
            ApiError::Unavailable {
                message: "storage failed; retry later".into(),
                retry_after: 10,
            }
        }
        other => ApiError::Internal(other.to_string()),
    }
}

async fn handle(
    state: AppState,
    endpoint: Endpoint,
    project_id: String,
    query: Option<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let limit = state.config().ingest.max_body_bytes;
    let origin = header_str(&headers, "origin").map(str::to_string);
    // The disk guard: refuse before reading the body, while space is short.
    if let Some((free, min)) = state.disk_low() {
        let err = IngestError::InsufficientStorage(format!(
            "insufficient storage: {free} bytes free on the server's data volume, below its {min}-byte watermark; retry later"
        ));
        state.ingestor().count_rejection(&err);
        let mut r = ingest_error(err).into_response();
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
        return with_cors(r, origin.as_deref());
    }
    let bytes = match axum::body::to_bytes(body, limit).await {
        Ok(b) => b,
        Err(e) => {
            let too_large = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>())
                || e.to_string().contains("length limit");
            let err = if too_large {
                IngestError::TooLarge(format!("request body exceeds the limit of {limit} bytes"))
            } else {
                IngestError::Invalid(format!("cannot read the request body: {e}"))
            };
            // Counted like every other rejection.
            state.ingestor().count_rejection(&err);
            return with_cors(ingest_error(err).into_response(), origin.as_deref());
        }
    };
    let sub = Submission {
        project_id: &project_id,
        endpoint,
        auth_header: header_str(&headers, "x-sentry-auth"),
        authorization: header_str(&headers, "authorization"),
        query: query.as_deref(),
        content_encoding: header_str(&headers, "content-encoding"),
        origin: origin.as_deref(),
        body: bytes,
    };
    let resp = match state.ingestor().submit(sub).await {
        Ok(a) => (StatusCode::OK, Json(json!({ "id": a.id }))).into_response(),
        Err(e) => {
            let detail = match &e {
                IngestError::Storage(_) => "internal server error".to_string(),
                other => other.to_string(),
            };
            let mut r = ingest_error(e).into_response();
            // SDKs log this header when a submission is refused.
            if let Ok(v) = HeaderValue::from_str(&detail) {
                r.headers_mut().insert("x-sentry-error", v);
            }
            r
        }
    };
    with_cors(resp, origin.as_deref())
}

fn with_cors(mut resp: Response, origin: Option<&str>) -> Response {
    if let Some(o) = origin.and_then(|o| HeaderValue::from_str(o).ok()) {
        let h = resp.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o);
        h.insert(header::VARY, HeaderValue::from_static("Origin"));
        h.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("x-sentry-error, x-sentry-rate-limits, retry-after"),
        );
    }
    resp
}

/// `POST /api/{project_id}/envelope/`.
pub async fn envelope(
    State(state): State<AppState>,
    Path(project_id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    handle(state, Endpoint::Envelope, project_id, query, headers, body).await
}

/// `POST /api/{project_id}/store/` (legacy single-event endpoint).
pub async fn store(
    State(state): State<AppState>,
    Path(project_id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    handle(state, Endpoint::Store, project_id, query, headers, body).await
}

/// `OPTIONS /api/{project_id}/envelope/` and `/store/`: CORS preflight.
/// The origin must be allowed by the project's settings.
pub async fn preflight(
    State(state): State<AppState>,
    Path(project_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some(origin) = header_str(&headers, "origin") else {
        return StatusCode::NO_CONTENT.into_response();
    };
    let allowed = match project_id.parse::<i64>() {
        Ok(id) => state.ingestor().origin_allowed(id, origin).await,
        Err(_) => false,
    };
    if !allowed {
        return ApiError::Forbidden(format!("origin {origin} is not allowed for this project"))
            .into_response();
    }
    let mut r = StatusCode::OK.into_response();
    let h = r.headers_mut();
    if let Ok(o) = HeaderValue::from_str(origin) {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o);
    }
    h.insert(header::VARY, HeaderValue::from_static("Origin"));
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("POST, OPTIONS"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static(
            "content-type, content-encoding, x-sentry-auth, authentication, authorization, sentry-trace, baggage",
        ),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("3600"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_map_to_sentry_statuses_and_headers() {
        let r = ingest_error(IngestError::Overloaded).into_response();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.headers()["retry-after"], "1");
        let r = ingest_error(IngestError::RateLimited {
            limit: 10,
            retry_after: 42,
        })
        .into_response();
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()["retry-after"], "42");
        assert_eq!(
            r.headers()["x-sentry-rate-limits"],
            "42::project:quota_exceeded"
        );
        for (e, code) in [
            (IngestError::Unauthorized("x".into()), 401),
            (IngestError::Forbidden("x".into()), 403),
            (IngestError::TooLarge("x".into()), 413),
            (IngestError::Invalid("x".into()), 400),
            (IngestError::UnsupportedEncoding("x".into()), 415),
            (IngestError::ShuttingDown, 503),
        ] {
            assert_eq!(ingest_error(e).into_response().status().as_u16(), code);
        }
    }

    /// Nothing was acknowledged when storage fails, so the SDK is asked to
    /// come back (503 with Retry-After), never told 500 (which SDKs drop);
    /// the cause stays in the log, not the answer.
    #[test]
    fn storage_failures_ask_the_sdk_to_retry() {
        use lookout_storage::StorageError;
        let r = ingest_error(IngestError::Storage(StorageError::Backend(
            "disk I/O error at /var/lib/lookout/lookout.db".into(),
        )))
        .into_response();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.headers()["retry-after"], "10");
        let r = ingest_error(IngestError::Storage(StorageError::Fenced(
            "integrity check failed".into(),
        )))
        .into_response();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.headers()["retry-after"], "60");
        let e = ingest_error(IngestError::Storage(StorageError::Backend(
            "disk I/O error at /var/lib/lookout/lookout.db".into(),
        )));
        assert!(!e.to_string().contains("/var/lib"), "{e}");
    }
}
