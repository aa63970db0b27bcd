//! The Bot API's update types, as far as Lookout reads them, and the bot
//! commands it understands.

use super::*;

/// One update from `getUpdates`.
#[derive(Debug, Clone, Deserialize)]
pub struct Update {
    /// Its sequence number.
    pub update_id: i64,
    /// A message (for `/link`).
    #[serde(default)]
    pub message: Option<Message>,
    /// A button press.
    #[serde(default)]
    pub callback_query: Option<CallbackQuery>,
}

/// A Telegram user.
#[derive(Debug, Clone, Deserialize)]
pub struct TgUser {
    /// The user's numeric id.
    pub id: i64,
    /// `username`, without the `@`.
    #[serde(default)]
    pub username: Option<String>,
    /// First name.
    #[serde(default)]
    pub first_name: String,
}

impl TgUser {
    /// `@username`, else the first name, else the id.
    pub fn display_name(&self) -> String {
        match &self.username {
            Some(u) if !u.is_empty() => format!("@{u}"),
            _ if !self.first_name.is_empty() => self.first_name.clone(),
            _ => self.id.to_string(),
        }
    }
}

/// A chat.
#[derive(Debug, Clone, Deserialize)]
pub struct Chat {
    /// Its id (negative for groups).
    pub id: i64,
}

/// A message.
#[derive(Debug, Clone, Deserialize)]
pub struct Message {
    /// Its id within the chat.
    pub message_id: i64,
    /// The chat.
    pub chat: Chat,
    /// The forum topic.
    #[serde(default)]
    pub message_thread_id: Option<i64>,
    /// The sender.
    #[serde(default)]
    pub from: Option<TgUser>,
    /// The text, entities stripped.
    #[serde(default)]
    pub text: Option<String>,
    /// The inline keyboard.
    #[serde(default)]
    pub reply_markup: Option<Value>,
}

/// A button press.
#[derive(Debug, Clone, Deserialize)]
pub struct CallbackQuery {
    /// What `answerCallbackQuery` needs.
    pub id: String,
    /// Who pressed.
    pub from: TgUser,
    /// The message the button is on.
    #[serde(default)]
    pub message: Option<Message>,
    /// The button's `callback_data`.
    #[serde(default)]
    pub data: Option<String>,
}

// --- pure decisions ------------------------------------------------------

/// A command the bot understands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BotCommand {
    /// `/link CODE` or `/start CODE`.
    Link(String),
    /// `/link` or `/start` without a code: say how to link.
    Help,
}

/// Parses a message text: `/link CODE`, `/start CODE`, also addressed as
/// `/link@botname CODE`. Anything else is not for us (`None`).
pub fn parse_command(text: &str) -> Option<BotCommand> {
    let mut words = text.split_whitespace();
    let cmd = words.next()?;
    let cmd = cmd.split_once('@').map_or(cmd, |(c, _)| c);
    if !matches!(cmd, "/link" | "/start") {
        return None;
    }
    match words.next() {
        Some(code) => Some(BotCommand::Link(normalize_code(code))),
        None => Some(BotCommand::Help),
    }
}
