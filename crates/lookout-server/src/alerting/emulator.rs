//! A loopback HTTP server for tests that records every request and
//! answers as told: success, an error status with a body and headers, or
//! never (a hanging endpoint). It speaks just enough of the Telegram Bot
//! API (`ok`/`result`) and plain webhooks.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::sync::Arc;

/// One recorded request.
#[derive(Debug, Clone)]
pub(crate) struct Recorded {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Recorded {
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// How to answer.
#[derive(Debug, Clone)]
pub(crate) enum Reply {
    /// 200 with `{"ok":true,"result":{"message_id":1}}`.
    Ok,
    /// This status, body and headers.
    Status(u16, String, Vec<(String, String)>),
    /// Never answer.
    Hang,
}

#[derive(Debug, Default)]
struct Inner {
    requests: Vec<Recorded>,
    /// Replies to use in order; when empty, `Reply::Ok`.
    script: VecDeque<Reply>,
}

/// A running emulator.
#[derive(Debug, Clone)]
pub(crate) struct Emulator {
    pub base: String,
    inner: Arc<Mutex<Inner>>,
}

impl Emulator {
    pub(crate) async fn start() -> Emulator {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let app = Router::new().fallback(handle).with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Emulator {
            base: format!("http://{addr}"),
            inner,
        }
    }

    /// Answers the next requests with these replies, in order.
    pub(crate) fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.inner.lock().script.extend(replies);
    }

    pub(crate) fn requests(&self) -> Vec<Recorded> {
        self.inner.lock().requests.clone()
    }
}

async fn handle(
    State(inner): State<Arc<Mutex<Inner>>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let reply = {
        let mut g = inner.lock();
        g.requests.push(Recorded {
            path: uri.path().to_string(),
            headers,
            body,
        });
        g.script.pop_front().unwrap_or(Reply::Ok)
    };
    match reply {
        Reply::Ok => (
            StatusCode::OK,
            [("content-type", "application/json")],
            r#"{"ok":true,"result":{"message_id":1}}"#,
        )
            .into_response(),
        Reply::Status(code, body, headers) => {
            let mut resp = (StatusCode::from_u16(code).unwrap(), body).into_response();
            for (k, v) in headers {
                resp.headers_mut().insert(
                    axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    v.parse().unwrap(),
                );
            }
            resp
        }
        Reply::Hang => {
            std::future::pending::<()>().await;
            unreachable!()
        }
    }
}
