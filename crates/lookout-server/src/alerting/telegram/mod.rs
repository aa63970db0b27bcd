//! Telegram as a channel people act from (issue #6): the receiving side
//! of the bot. One long-poll loop per distinct bot of the configured
//! Telegram channels reads `getUpdates` and handles two things:
//!
//! - **`/link CODE`** (or `/start CODE`, what the `t.me/<bot>?start=CODE`
//!   deep link sends): the one-time code made on the account page links
//!   the sending Telegram account (`from.id`) to that Lookout user.
//! - **Button presses** (`callback_query`): `<ack|res|sil1h>:<reference>`,
//!   where the reference is the outbox row of the notification. The press
//!   acts as the Lookout user linked to the *pressing* Telegram account,
//!   never as the chat, and is checked with the same [`Access`] rules as
//!   the UI: acknowledging and silencing need membership of the alert's
//!   project (administrators for install alerts), resolving needs write
//!   access to the issue and goes the UI's way (`set_issue_status`, then
//!   `issue_status_changed`). Every press is answered
//!   (`answerCallbackQuery`); a press that did something edits the
//!   message to say who did what, and drops the buttons that no longer
//!   apply.
//!
//! Where each bot's `getUpdates` stands (its `offset`) is stored after
//! every update, so a restart does not replay presses or links. The bot
//! token is a secret: it is in no log line and no error.

use super::outbox::OutboxWorker;
use crate::access::{Access, Role};
use crate::state::AppState;
use chrono::{DateTime, Utc};
use lookout_alert::render::{self, ButtonAction};
use lookout_alert::{Alert, MatchOp, Matcher, Notification, Subject};
use lookout_metrics::{Counter, CounterVec};
use lookout_model::User;
use lookout_model::errors::{IssueStatus, StatusChange};
use lookout_storage::NewSilence;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

mod codes;
mod edits;
mod rights;
mod updates;

pub use codes::*;
pub use edits::*;
pub use rights::*;
pub use updates::*;

/// How often the set of bots is read again from the channels.
pub const RESCAN: Duration = Duration::from_secs(30);
/// How long a link code stays valid.
pub const CODE_TTL: chrono::Duration = chrono::Duration::minutes(10);
/// The longest wait between failed polls.
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// At most this many silences per press (one per alert).
const MAX_SILENCES: usize = 20;
/// What a refused press tells an unlinked Telegram user.
pub const NOT_LINKED: &str = "Not linked: open Lookout → Account → Telegram";

/// A bot: where its API is and its token. Its `Debug` hides the token.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Bot {
    /// The Bot API's base URL.
    pub api_base_url: String,
    /// The token (a secret).
    pub token: String,
}

impl fmt::Debug for Bot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bot")
            .field("api_base_url", &self.api_base_url)
            .field("id", &self.id())
            .finish()
    }
}

impl Bot {
    /// The bot's public numeric id: the token's part before `:`.
    pub fn id(&self) -> &str {
        self.token.split(':').next().unwrap_or("")
    }

    fn url(&self, method: &str) -> String {
        format!(
            "{}/bot{}/{method}",
            self.api_base_url.trim_end_matches('/'),
            self.token
        )
    }

    fn cursor(&self) -> String {
        format!("telegram:{}", self.id())
    }

    /// `text` with the token taken out.
    fn redact(&self, text: &str) -> String {
        if self.token.is_empty() {
            text.to_string()
        } else {
            text.replace(&self.token, "***")
        }
    }
}

/// The distinct bots of the enabled Telegram channels.
pub fn bots_of(channels: &[lookout_storage::ChannelRow]) -> BTreeSet<Bot> {
    channels
        .iter()
        .filter(|c| c.enabled && c.kind == "telegram")
        .filter_map(|c| {
            match serde_json::from_value::<super::channels::ChannelConfig>(c.config.clone()) {
                Ok(super::channels::ChannelConfig::Telegram {
                    bot_token,
                    api_base_url,
                    ..
                }) if !bot_token.trim().is_empty() => Some(Bot {
                    api_base_url,
                    token: bot_token.trim().to_string(),
                }),
                _ => None,
            }
        })
        .collect()
}

// --- metrics -------------------------------------------------------------

#[derive(Debug, Clone)]
struct Metrics {
    presses: CounterVec,
    links: CounterVec,
    poll_errors: Counter,
}

impl Metrics {
    fn get() -> Metrics {
        let r = lookout_metrics::global();
        Metrics {
            presses: r.counter_vec(
                "lookout_telegram_button_presses",
                "Telegram button presses by action and outcome (done, not_linked, forbidden, unknown, expired, failed).",
                &["action", "outcome"],
            ),
            links: r.counter_vec(
                "lookout_telegram_link_attempts",
                "Telegram /link commands by outcome (linked, bad_code, failed).",
                &["outcome"],
            ),
            poll_errors: r.counter(
                "lookout_telegram_poll_errors",
                "Failed Telegram getUpdates calls.",
            ),
        }
    }
}

// --- the pollers ---------------------------------------------------------

/// Starts the pollers: one per distinct bot, re-read from the channels
/// every [`RESCAN`]. The task ends once `shutdown` turned true and every
/// poller stopped.
pub fn spawn(
    state: AppState,
    worker: Arc<OutboxWorker>,
    poll_timeout: Duration,
    mut shutdown: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut running: HashMap<Bot, (watch::Sender<bool>, tokio::task::JoinHandle<()>)> =
            HashMap::new();
        loop {
            if *shutdown.borrow() {
                break;
            }
            match state.store().list_channels().await {
                Ok(rows) => {
                    let want = bots_of(&rows);
                    let gone: Vec<Bot> = running
                        .keys()
                        .filter(|b| !want.contains(*b))
                        .cloned()
                        .collect();
                    for b in gone {
                        if let Some((stop, task)) = running.remove(&b) {
                            let _ = stop.send(true);
                            let _ = task.await;
                            state.alerts().set_telegram_bot(b.id(), None);
                        }
                    }
                    for b in want {
                        if running.contains_key(&b) {
                            continue;
                        }
                        let (stop, rx) = watch::channel(false);
                        let poller =
                            Poller::new(state.clone(), worker.clone(), b.clone(), poll_timeout);
                        let task = tokio::spawn(poller.run(rx));
                        running.insert(b, (stop, task));
                    }
                }
                Err(e) => tracing::warn!(error = %e, "telegram: cannot read the channels"),
            }
            tokio::select! {
                _ = tokio::time::sleep(RESCAN) => {}
                _ = shutdown.changed() => {}
            }
        }
        for (_, (stop, task)) in running {
            let _ = stop.send(true);
            let _ = task.await;
        }
        tracing::info!("telegram pollers stopped");
    })
}

/// One bot's long-poll loop and its handlers.
#[derive(Debug)]
pub struct Poller {
    state: AppState,
    worker: Arc<OutboxWorker>,
    bot: Bot,
    poll_timeout: Duration,
    http: reqwest::Client,
    metrics: Metrics,
}

/// Why a `getUpdates` call failed.
#[derive(Debug)]
struct PollError {
    message: String,
    retry_after: Option<Duration>,
}

impl Poller {
    /// A poller of `bot`, waiting up to `poll_timeout` per call.
    pub fn new(
        state: AppState,
        worker: Arc<OutboxWorker>,
        bot: Bot,
        poll_timeout: Duration,
    ) -> Poller {
        let http = reqwest::Client::builder()
            .timeout(poll_timeout + Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(5))
            .user_agent(concat!("Lookout/", env!("CARGO_PKG_VERSION")))
            // The Mozilla roots compiled in; not also the system's (a
            // feature object_store turns on for the whole build).
            .tls_built_in_native_certs(false)
            .build()
            .unwrap_or_default();
        Poller {
            state,
            worker,
            bot,
            poll_timeout,
            http,
            metrics: Metrics::get(),
        }
    }

    /// Polls until `stop` turns true.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let bot_id = self.bot.id().to_string();
        tracing::info!(bot = %bot_id, "telegram: polling for button presses and /link");
        let mut failures: u32 = 0;
        let mut known_name = false;
        loop {
            if *stop.borrow() {
                break;
            }
            if !known_name {
                known_name = self.learn_username().await;
            }
            let offset = match self.state.store().alert_cursor(&self.bot.cursor()).await {
                Ok(o) => o,
                Err(e) => {
                    tracing::warn!(bot = %bot_id, error = %e, "telegram: cannot read the update offset");
                    0
                }
            };
            let polled = tokio::select! {
                r = self.get_updates(offset) => r,
                _ = stop.changed() => break,
            };
            match polled {
                Ok(updates) => {
                    failures = 0;
                    for u in updates {
                        self.handle(u, offset).await;
                    }
                }
                Err(e) => {
                    self.metrics.poll_errors.inc();
                    failures = failures.saturating_add(1);
                    let exp = Duration::from_secs(1u64 << failures.min(6).saturating_sub(1));
                    let jittered = exp.mul_f64(0.5 + rand::random::<f64>() / 2.0);
                    let wait = e
                        .retry_after
                        .unwrap_or_default()
                        .max(jittered)
                        .min(MAX_BACKOFF);
                    tracing::warn!(
                        bot = %bot_id,
                        error = %e.message,
                        retry_in_s = wait.as_secs_f64(),
                        "telegram: getUpdates failed"
                    );
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = stop.changed() => break,
                    }
                }
            }
        }
        tracing::info!(bot = %bot_id, "telegram: polling stopped");
    }

    /// Asks `getMe` for the bot's username (for the deep link on the
    /// account page). Returns whether it is known now.
    async fn learn_username(&self) -> bool {
        let r = self
            .call_raw(&self.bot.url("getMe"), &json!({}), Duration::from_secs(10))
            .await;
        match r {
            Ok(v) => {
                let name = v["username"].as_str().map(str::to_string);
                self.state.alerts().set_telegram_bot(self.bot.id(), name);
                true
            }
            Err(_) => false,
        }
    }

    async fn call_raw(
        &self,
        url: &str,
        body: &Value,
        timeout: Duration,
    ) -> Result<Value, PollError> {
        let resp = self
            .http
            .post(url)
            .timeout(timeout)
            .header("content-type", "application/json")
            .body(serde_json::to_vec(body).unwrap_or_default())
            .send()
            .await
            .map_err(|e| PollError {
                message: self.bot.redact(&e.to_string()),
                retry_after: None,
            })?;
        let status = resp.status().as_u16();
        let v: Value = resp
            .bytes()
            .await
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or(Value::Null);
        if (200..300).contains(&status) && v["ok"] == json!(true) {
            return Ok(v["result"].clone());
        }
        let desc = self
            .bot
            .redact(v["description"].as_str().unwrap_or("no description"));
        let hint = if status == 409 {
            " (a webhook is set for this bot, or another process polls it: getUpdates and webhooks exclude each other)"
        } else {
            ""
        };
        Err(PollError {
            message: format!("HTTP {status}: {desc}{hint}"),
            retry_after: v["parameters"]["retry_after"]
                .as_u64()
                .map(Duration::from_secs),
        })
    }

    async fn get_updates(&self, offset: i64) -> Result<Vec<Value>, PollError> {
        let mut body = json!({
            "timeout": self.poll_timeout.as_secs(),
            "allowed_updates": ["message", "callback_query"],
        });
        if offset > 0 {
            body["offset"] = json!(offset);
        }
        let v = self
            .call_raw(
                &self.bot.url("getUpdates"),
                &body,
                self.poll_timeout + Duration::from_secs(10),
            )
            .await?;
        match v {
            Value::Array(a) => Ok(a),
            _ => Err(PollError {
                message: "getUpdates answered without a list of updates".into(),
                retry_after: None,
            }),
        }
    }

    /// Handles one update, then stores the offset past it.
    async fn handle(&self, raw: Value, offset: i64) {
        let Some(id) = raw["update_id"].as_i64() else {
            return;
        };
        if id < offset {
            return;
        }
        match serde_json::from_value::<Update>(raw) {
            Ok(u) => {
                if let Some(q) = u.callback_query {
                    self.on_press(q).await;
                } else if let Some(m) = u.message {
                    self.on_message(m).await;
                }
            }
            Err(e) => {
                tracing::debug!(update = id, error = %e, "telegram: unreadable update skipped")
            }
        }
        if let Err(e) = self
            .state
            .store()
            .set_alert_cursor(&self.bot.cursor(), id + 1)
            .await
        {
            tracing::warn!(bot = %self.bot.id(), error = %e, "telegram: cannot store the update offset");
        }
    }

    /// A Bot API call through the senders (and so the per-chat pacing;
    /// `chat` empty for calls not bound to a chat).
    async fn call(&self, chat: &str, method: &str, body: &Value) {
        let (outcome, _) = self
            .worker
            .senders()
            .telegram(&self.bot.api_base_url, &self.bot.token, chat, method, body)
            .await;
        if outcome != super::channels::SendOutcome::Sent {
            tracing::warn!(bot = %self.bot.id(), method, outcome = ?outcome, "telegram: call failed");
        }
    }

    async fn reply(&self, m: &Message, text: &str) {
        let mut body = json!({"chat_id": m.chat.id, "text": text});
        if let Some(t) = m.message_thread_id {
            body["message_thread_id"] = json!(t);
        }
        self.call(&m.chat.id.to_string(), "sendMessage", &body)
            .await;
    }

    async fn on_message(&self, m: Message) {
        let (Some(text), Some(from)) = (m.text.as_deref(), m.from.as_ref()) else {
            return;
        };
        let Some(cmd) = parse_command(text) else {
            return;
        };
        let code = match cmd {
            BotCommand::Help => {
                self.reply(
                    &m,
                    "To link your Telegram account, open Lookout → Account → Telegram, press \"Link Telegram\" and send the /link command it shows.",
                )
                .await;
                return;
            }
            BotCommand::Link(code) => code,
        };
        let consumed = self
            .state
            .store()
            .consume_telegram_link_code(code_hash(&code), from.id, from.display_name(), Utc::now())
            .await;
        match consumed {
            Ok(Some(user)) => {
                self.metrics.links.with(&["linked"]).inc();
                tracing::info!(user = %user.email, telegram_user = from.id, "telegram account linked");
                self.reply(
                    &m,
                    &format!(
                        "Linked to {}. Buttons you press on Lookout's messages now act as this account.",
                        user.email
                    ),
                )
                .await;
            }
            Ok(None) => {
                self.metrics.links.with(&["bad_code"]).inc();
                self.reply(
                    &m,
                    "This code is unknown, used or expired. Create a new one in Lookout → Account → Telegram.",
                )
                .await;
            }
            Err(e) => {
                self.metrics.links.with(&["failed"]).inc();
                tracing::warn!(error = %e, "telegram: cannot link");
                self.reply(
                    &m,
                    "Lookout could not link this account right now; try again.",
                )
                .await;
            }
        }
    }

    async fn on_press(&self, q: CallbackQuery) {
        let parsed = q.data.as_deref().and_then(ButtonAction::parse);
        let action_label = parsed.map_or("unknown", |(a, _)| a.code());
        let outcome = match parsed {
            None => Pressed::refused("unknown", "This button is not Lookout's"),
            Some((action, reference)) => self.press(action, reference, &q).await,
        };
        self.metrics
            .presses
            .with(&[action_label, outcome.metric])
            .inc();
        self.call(
            "",
            "answerCallbackQuery",
            &json!({"callback_query_id": q.id, "text": outcome.answer}),
        )
        .await;
        if let (Some(edit), Some(m)) = (outcome.edit, q.message.as_ref()) {
            let mut body = json!({
                "chat_id": m.chat.id,
                "message_id": m.message_id,
                "text": edit.text,
                "parse_mode": "HTML",
                "link_preview_options": {"is_disabled": true},
            });
            if let Some(kb) = edit.keyboard {
                body["reply_markup"] = kb;
            }
            self.call(&m.chat.id.to_string(), "editMessageText", &body)
                .await;
        }
    }

    async fn press(&self, action: ButtonAction, reference: &str, q: &CallbackQuery) -> Pressed {
        let store = self.state.store();
        let user = match store.telegram_linked_user(q.from.id).await {
            Ok(Some(u)) => u,
            Ok(None) => return Pressed::refused("not_linked", NOT_LINKED),
            Err(e) => return Pressed::failed(e),
        };
        let item = match reference.parse::<i64>() {
            Ok(id) => match store.get_outbox_item(id).await {
                Ok(i) => i,
                Err(e) => return Pressed::failed(e),
            },
            Err(_) => None,
        };
        let Some(n) = item.and_then(|i| serde_json::from_value::<Notification>(i.payload).ok())
        else {
            return Pressed::refused(
                "expired",
                "This message is too old to act on: open the alert in Lookout",
            );
        };
        if n.firing.is_empty() {
            return Pressed::refused("expired", "Nothing is firing in this message any more");
        }
        let access = Access::session(user.clone());
        let mut roles: BTreeMap<i64, Option<Role>> = BTreeMap::new();
        for p in n.firing.iter().filter_map(|a| a.subject.project_id()) {
            if let std::collections::btree_map::Entry::Vacant(e) = roles.entry(p) {
                match access.role(&self.state, p).await {
                    Ok(r) => {
                        e.insert(r);
                    }
                    Err(e) => return Pressed::failed(e),
                }
            }
        }
        let subjects: Vec<Subject> = n.firing.iter().map(|a| a.subject.clone()).collect();
        if let Err(r) = authorize(action, &subjects, access.is_admin(), &|p| {
            roles.get(&p).copied().flatten()
        }) {
            return Pressed::refused("forbidden", &r.text());
        }
        let now = Utc::now();
        let done = match action {
            ButtonAction::Acknowledge => self.acknowledge(&n, &user).await,
            ButtonAction::Resolve => self.resolve(&n, &access).await,
            ButtonAction::Silence1h => self.silence(&n, &user, now).await,
        };
        match done {
            Ok(answer) => {
                let ctx = self.worker.context();
                let text = edited_text(
                    &render::telegram_html(&n, &ctx),
                    &render::title(&n, &ctx),
                    q.message
                        .as_ref()
                        .and_then(|m| m.text.as_deref())
                        .unwrap_or(""),
                    &done_line(action, &user.email, now),
                );
                let keyboard = reduced_keyboard(
                    q.message.as_ref().and_then(|m| m.reply_markup.as_ref()),
                    action,
                );
                Pressed {
                    metric: "done",
                    answer,
                    edit: Some(Edit { text, keyboard }),
                }
            }
            Err(p) => p,
        }
    }

    async fn acknowledge(&self, n: &Notification, user: &User) -> Result<String, Pressed> {
        let mut acked = 0;
        for a in &n.firing {
            let row = self
                .state
                .store()
                .find_alert_instance(a.key.rule_id, a.key.fingerprint.clone(), a.active_since)
                .await
                .map_err(Pressed::failed)?;
            let Some(row) = row else { continue };
            match self.state.alerts().acknowledge(row.id, &user.email).await {
                Ok(_) => acked += 1,
                Err(super::control::ControlError::AlreadyResolved(_))
                | Err(super::control::ControlError::NoSuchAlert(_)) => {}
                Err(e) => return Err(Pressed::refused("failed", &e.to_string())),
            }
        }
        if acked == 0 {
            return Err(Pressed::refused(
                "expired",
                "Already resolved: nothing to acknowledge",
            ));
        }
        Ok("Acknowledged".into())
    }

    async fn resolve(&self, n: &Notification, access: &Access) -> Result<String, Pressed> {
        let issues: BTreeSet<i64> = n
            .firing
            .iter()
            .filter_map(|a| match a.subject {
                Subject::Issue { issue_id, .. } => Some(issue_id),
                _ => None,
            })
            .collect();
        for id in &issues {
            // The UI's path: load and check, set the status, tell alerting.
            if let Err(e) = access.write_issue(&self.state, *id).await {
                return Err(match e {
                    crate::ApiError::NotFound(_) => {
                        Pressed::refused("expired", "This issue no longer exists")
                    }
                    crate::ApiError::Forbidden(_) => {
                        Pressed::refused("forbidden", "You may not resolve this issue")
                    }
                    e => Pressed::failed(e),
                });
            }
            let issue = self
                .state
                .store()
                .set_issue_status(
                    *id,
                    StatusChange {
                        status: IssueStatus::Resolved,
                        ignore_count: None,
                        ignore_until: None,
                    },
                )
                .await
                .map_err(Pressed::failed)?;
            self.state.alerts().issue_status_changed(&issue).await;
        }
        Ok(if issues.len() == 1 {
            "Resolved".into()
        } else {
            format!("Resolved {} issues", issues.len())
        })
    }

    async fn silence(
        &self,
        n: &Notification,
        user: &User,
        now: DateTime<Utc>,
    ) -> Result<String, Pressed> {
        let mut seen = BTreeSet::new();
        for a in n.firing.iter().take(MAX_SILENCES) {
            let matchers = silence_matchers(a);
            if !seen.insert(matchers.clone()) {
                continue;
            }
            self.state
                .store()
                .create_silence(
                    NewSilence {
                        kind: "silence".into(),
                        matchers,
                        project_id: a.subject.project_id(),
                        starts_at: now,
                        ends_at: now + chrono::Duration::hours(1),
                        created_by: user.email.clone(),
                        comment: "from Telegram".into(),
                    },
                    now,
                )
                .await
                .map_err(Pressed::failed)?;
        }
        self.state.alerts().reload().await;
        Ok("Silenced for 1 h".into())
    }
}

/// How a press ended.
#[derive(Debug)]
struct Pressed {
    /// The metric's outcome label.
    metric: &'static str,
    /// `answerCallbackQuery`'s text.
    answer: String,
    /// The message edit, when something was done.
    edit: Option<Edit>,
}

#[derive(Debug)]
struct Edit {
    text: String,
    keyboard: Option<Value>,
}

impl Pressed {
    fn refused(metric: &'static str, answer: &str) -> Pressed {
        Pressed {
            metric,
            answer: answer.to_string(),
            edit: None,
        }
    }

    fn failed(e: impl fmt::Display) -> Pressed {
        tracing::warn!(error = %e, "telegram: a button press failed");
        Pressed::refused("failed", "Lookout could not do this right now; try again")
    }
}

#[cfg(test)]
mod tests;
