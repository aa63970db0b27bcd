//! Notification channel settings, by kind: pure data shared by the
//! configuration (`[alerts.channels.<name>]`), storage (as JSON) and the
//! senders in `lookout-server`.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Telegram's public API.
pub const TELEGRAM_API: &str = "https://api.telegram.org";

fn telegram_api() -> String {
    TELEGRAM_API.into()
}

/// The body a webhook gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum WebhookFormat {
    /// Lookout's own JSON.
    #[default]
    Lookout,
    /// Alertmanager's webhook JSON (version 4).
    Alertmanager,
}

/// A channel's settings, by kind.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ChannelConfig {
    /// A Telegram bot writing to a chat (or a forum topic of it).
    Telegram {
        /// The bot's token from @BotFather (a secret).
        bot_token: String,
        /// The chat: a number (groups are negative) or `@channelname`.
        chat_id: String,
        /// The forum topic, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message_thread_id: Option<i64>,
        /// The Bot API's base URL.
        #[serde(default = "telegram_api")]
        api_base_url: String,
    },
    /// E-mail through the `[smtp]` server.
    Email {
        /// Recipients.
        to: Vec<String>,
    },
    /// A Slack incoming webhook.
    Slack {
        /// The webhook URL (a secret).
        webhook_url: String,
    },
    /// A Discord webhook.
    Discord {
        /// The webhook URL (a secret).
        webhook_url: String,
    },
    /// Any HTTP endpoint, with an optional HMAC-SHA256 signature.
    Webhook {
        /// Where to POST.
        url: String,
        /// Signs the body: `X-Lookout-Signature-256: sha256=<hex>`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        secret: Option<String>,
        /// Lookout's JSON or Alertmanager's.
        #[serde(default)]
        format: WebhookFormat,
    },
}

impl std::fmt::Debug for ChannelConfig {
    // Tokens and webhook URLs are secrets: never print them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ChannelConfig::{}", self.kind())
    }
}

impl ChannelConfig {
    /// The kind's name.
    pub fn kind(&self) -> &'static str {
        match self {
            ChannelConfig::Telegram { .. } => "telegram",
            ChannelConfig::Email { .. } => "email",
            ChannelConfig::Slack { .. } => "slack",
            ChannelConfig::Discord { .. } => "discord",
            ChannelConfig::Webhook { .. } => "webhook",
        }
    }

    /// Checks what serde cannot.
    pub fn validate(&self) -> Result<(), String> {
        let url_ok = |u: &str| u.starts_with("http://") || u.starts_with("https://");
        match self {
            ChannelConfig::Telegram {
                bot_token,
                chat_id,
                api_base_url,
                ..
            } => {
                if bot_token.trim().is_empty() || chat_id.trim().is_empty() {
                    return Err("a Telegram channel needs `bot_token` and `chat_id`".into());
                }
                if !url_ok(api_base_url) {
                    return Err("`api_base_url` must be an http(s) URL".into());
                }
            }
            ChannelConfig::Email { to } => {
                if to.is_empty() {
                    return Err("an e-mail channel needs at least one address in `to`".into());
                }
            }
            ChannelConfig::Slack { webhook_url } | ChannelConfig::Discord { webhook_url } => {
                if !url_ok(webhook_url) {
                    return Err("`webhook_url` must be an http(s) URL".into());
                }
            }
            ChannelConfig::Webhook { url, .. } => {
                if !url_ok(url) {
                    return Err("`url` must be an http(s) URL".into());
                }
            }
        }
        Ok(())
    }

    /// The settings with secrets masked, for the API and the UI.
    pub fn redacted(&self) -> Value {
        let mut v = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Some(o) = v.as_object_mut() {
            for k in ["bot_token", "webhook_url", "secret"] {
                if let Some(x) = o.get_mut(k)
                    && x.is_string()
                {
                    *x = json!("***");
                }
            }
        }
        v
    }
}
