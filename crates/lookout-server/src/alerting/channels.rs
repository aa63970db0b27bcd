//! Notification channels: their configuration (stored as JSON in the
//! `alert_channels` table, or declared in `lookout.toml`) and one send
//! function per kind. A send never retries by itself: it classifies the
//! outcome (sent, retry later, failed for good) and the outbox worker
//! decides. Every base URL is configurable, which is what lets the tests
//! point the channels at loopback emulators.

use crate::mail;
use lookout_alert::Notification;
use lookout_alert::delivery::ChatRateLimiter;
use lookout_alert::render::{self, RenderContext};
use lookout_config::SmtpConfig;
use parking_lot::Mutex;
use serde_json::{Value, json};
use std::time::Duration;

pub use lookout_alert::channel::{ChannelConfig, TELEGRAM_API, WebhookFormat};

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq)]
pub enum SendOutcome {
    /// Delivered.
    Sent,
    /// A temporary failure: try again (no sooner than `after`, when the
    /// server said so).
    Retry {
        /// What went wrong.
        error: String,
        /// The server's `retry_after` / `Retry-After`.
        after: Option<Duration>,
    },
    /// A permanent failure (bad token, unknown chat, rejected payload).
    Failed {
        /// What went wrong.
        error: String,
    },
}

/// Sends notifications. One per server; cheap to share.
#[derive(Debug)]
pub struct Senders {
    http: reqwest::Client,
    smtp: SmtpConfig,
    telegram_slots: Mutex<ChatRateLimiter>,
}

/// Longest a single request may take; a hanging endpoint is a failure.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);

impl Senders {
    /// Senders using `smtp` for e-mail.
    pub fn new(smtp: SmtpConfig) -> Senders {
        Senders::with_timeout(smtp, SEND_TIMEOUT)
    }

    /// The same with another request timeout (tests use a short one).
    pub fn with_timeout(smtp: SmtpConfig, timeout: Duration) -> Senders {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(5))
            .user_agent(concat!("Lookout/", env!("CARGO_PKG_VERSION")))
            // The Mozilla roots compiled in; not also the system's (a
            // feature object_store turns on for the whole build).
            .tls_built_in_native_certs(false)
            .build()
            .unwrap_or_default();
        Senders {
            http,
            smtp,
            telegram_slots: Mutex::new(ChatRateLimiter::default()),
        }
    }

    /// Sends `n` through one channel. `key` is the outbox idempotency key
    /// (sent as `Idempotency-Key` where the receiver can use it);
    /// `reference` identifies the notification in Telegram buttons.
    pub async fn send(
        &self,
        cfg: &ChannelConfig,
        n: &Notification,
        ctx: &RenderContext,
        key: &str,
        reference: &str,
    ) -> SendOutcome {
        match cfg {
            ChannelConfig::Telegram {
                bot_token,
                chat_id,
                message_thread_id,
                api_base_url,
            } => {
                let mut body = json!({
                    "chat_id": chat_value(chat_id),
                    "text": render::telegram_html(n, ctx),
                    "parse_mode": "HTML",
                    "link_preview_options": {"is_disabled": true},
                });
                if let Some(t) = message_thread_id {
                    body["message_thread_id"] = json!(t);
                }
                if let Some(kb) = render::telegram_keyboard(n, reference) {
                    body["reply_markup"] = kb;
                }
                self.telegram(api_base_url, bot_token, chat_id, "sendMessage", &body)
                    .await
                    .0
            }
            ChannelConfig::Email { to } => {
                if !self.smtp.enabled() {
                    return SendOutcome::Failed {
                        error: "e-mail is not configured ([smtp] host is empty)".into(),
                    };
                }
                let (subject, text, html) = render::email(n, ctx);
                for addr in to {
                    if let Err(e) =
                        mail::send(&self.smtp, addr, &subject, text.clone(), html.clone()).await
                    {
                        return match e {
                            mail::MailError::Smtp(_) => SendOutcome::Retry {
                                error: e.to_string(),
                                after: None,
                            },
                            _ => SendOutcome::Failed {
                                error: e.to_string(),
                            },
                        };
                    }
                }
                SendOutcome::Sent
            }
            ChannelConfig::Slack { webhook_url } => {
                self.post_json(webhook_url, &render::slack(n, ctx), key, None)
                    .await
            }
            ChannelConfig::Discord { webhook_url } => {
                self.post_json(webhook_url, &render::discord(n, ctx), key, None)
                    .await
            }
            ChannelConfig::Webhook {
                url,
                secret,
                format,
            } => {
                let body = match format {
                    WebhookFormat::Lookout => render::webhook(n, ctx, key),
                    WebhookFormat::Alertmanager => render::alertmanager(n, ctx, "lookout"),
                };
                self.post_json(url, &body, key, secret.as_deref()).await
            }
        }
    }

    /// Calls a Bot API method, honouring the chat's rate limits, and
    /// returns the outcome and the `result` on success. An empty
    /// `chat_id` is a call bound to no chat (`answerCallbackQuery`): it
    /// is not paced.
    pub async fn telegram(
        &self,
        base: &str,
        token: &str,
        chat_id: &str,
        method: &str,
        body: &Value,
    ) -> (SendOutcome, Option<Value>) {
        if !chat_id.is_empty() {
            let now = chrono::Utc::now();
            let at = self.telegram_slots.lock().reserve(chat_id, now);
            if let Ok(wait) = (at - now).to_std() {
                tokio::time::sleep(wait).await;
            }
        }
        let url = format!("{}/bot{token}/{method}", base.trim_end_matches('/'));
        let req = self
            .http
            .post(&url)
            .header("content-type", "application/json")
            .body(serde_json::to_vec(body).unwrap_or_default());
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => return (network_error(&e, token), None),
        };
        let status = resp.status();
        let v: Value = match resp.bytes().await {
            Ok(b) => serde_json::from_slice(&b).unwrap_or(Value::Null),
            Err(e) => return (network_error(&e, token), None),
        };
        if status.is_success() && v["ok"] == json!(true) {
            return (SendOutcome::Sent, Some(v["result"].clone()));
        }
        let desc = v["description"]
            .as_str()
            .unwrap_or("no description")
            .to_string();
        let error = format!("Telegram {method}: HTTP {}: {desc}", status.as_u16());
        if status.as_u16() == 429 {
            let secs = v["parameters"]["retry_after"].as_u64().unwrap_or(1);
            self.telegram_slots.lock().block(
                chat_id,
                chrono::Utc::now() + chrono::Duration::seconds(secs as i64),
            );
            return (
                SendOutcome::Retry {
                    error,
                    after: Some(Duration::from_secs(secs)),
                },
                None,
            );
        }
        (classify(status.as_u16(), error, None), None)
    }

    async fn post_json(
        &self,
        url: &str,
        body: &Value,
        key: &str,
        secret: Option<&str>,
    ) -> SendOutcome {
        let bytes = serde_json::to_vec(body).unwrap_or_default();
        let mut req = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .header("idempotency-key", key);
        if let Some(s) = secret {
            req = req.header(
                "x-lookout-signature-256",
                format!("sha256={}", render::hmac_sha256_hex(s.as_bytes(), &bytes)),
            );
        }
        let resp = match req.body(bytes).send().await {
            Ok(r) => r,
            Err(e) => return network_error(&e, url),
        };
        let status = resp.status().as_u16();
        if (200..300).contains(&status) {
            return SendOutcome::Sent;
        }
        let header_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok());
        let text = resp.text().await.unwrap_or_default();
        // Discord puts a float `retry_after` in its JSON body.
        let body_after = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v["retry_after"].as_f64());
        let after = header_after
            .or(body_after)
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(|s| Duration::from_secs_f64(s.min(3600.0)));
        let error = format!(
            "HTTP {status}: {}",
            render::clip(text.trim(), 200).replace(['\n', '\r'], " ")
        );
        classify(status, error, after)
    }
}

fn chat_value(chat_id: &str) -> Value {
    chat_id
        .trim()
        .parse::<i64>()
        .map(Value::from)
        .unwrap_or_else(|_| Value::from(chat_id.trim()))
}

/// 429 and 5xx are worth retrying; other 4xx are not (a bad token or URL
/// will not fix itself), except 408 (timeout).
fn classify(status: u16, error: String, after: Option<Duration>) -> SendOutcome {
    if status == 429 || status == 408 || status >= 500 {
        SendOutcome::Retry { error, after }
    } else {
        SendOutcome::Failed { error }
    }
}

/// A transport error, with the secret (token or webhook URL) taken out of
/// reqwest's message, which includes the URL.
fn network_error(e: &reqwest::Error, secret: &str) -> SendOutcome {
    let msg = e.to_string().replace(secret, "***");
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    SendOutcome::Retry {
        error: format!("{what}: {msg}"),
        after: None,
    }
}

#[cfg(test)]
#[path = "channels_tests.rs"]
pub(crate) mod tests;
