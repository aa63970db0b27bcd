//! [`AlertControl`]: how handlers (UI pages, the JSON API, Telegram
//! buttons) act on the running engine without owning it.
//!
//! The engine lives in one task (the runner); everything else sends it
//! [`Command`]s through a bounded channel and, where an answer is needed,
//! waits on a oneshot. Reads (alert lists, rules, the delivery log) go to
//! storage directly: the runner writes every change there.

use super::channels::{ChannelConfig, SendOutcome};
use super::outbox::OutboxWorker;
use lookout_storage::AlertInstanceRow;
use std::sync::{Arc, OnceLock};
use tokio::sync::{mpsc, oneshot};

/// How many commands may wait for the runner.
const QUEUE: usize = 256;

/// Why a command could not be carried out.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ControlError {
    /// `[alerts] enabled = false`, or the engine has not started (yet).
    #[error(
        "alerting is not running ([alerts] enabled = false, or it failed to start: see the log)"
    )]
    NotRunning,
    /// No alert with that id.
    #[error("no alert {0}")]
    NoSuchAlert(i64),
    /// The alert is already resolved.
    #[error("alert {0} is already resolved")]
    AlreadyResolved(i64),
    /// No channel with that name.
    #[error("no channel named {0:?}")]
    NoSuchChannel(String),
    /// Storage failed.
    #[error("storage: {0}")]
    Storage(String),
}

/// What the runner is asked to do.
#[derive(Debug)]
pub enum Command {
    /// Rules, silences or channels changed in storage: read them again.
    Reload,
    /// An issue was resolved by a person: its issue alerts resolve.
    IssueResolved {
        /// Project.
        project_id: i64,
        /// Issue.
        issue_id: i64,
    },
    /// Acknowledge an alert (stops reminders and escalation).
    Acknowledge {
        /// The alert instance's row id.
        alert_id: i64,
        /// Who (a user's e-mail, or `telegram:<name>`).
        by: String,
        /// The alert as stored afterwards.
        reply: oneshot::Sender<Result<AlertInstanceRow, ControlError>>,
    },
    /// Resolve an alert by hand.
    Resolve {
        /// The alert instance's row id.
        alert_id: i64,
        /// Who.
        by: String,
        /// The alert as stored afterwards.
        reply: oneshot::Sender<Result<AlertInstanceRow, ControlError>>,
    },
}

/// The handle every handler reaches through `AppState::alerts()`. Cheap
/// to clone; inert until alerting starts.
#[derive(Debug, Clone, Default)]
pub struct AlertControl {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    tx: OnceLock<mpsc::Sender<Command>>,
    worker: OnceLock<Arc<OutboxWorker>>,
    /// Telegram bots being polled: public bot id → username (from getMe).
    telegram_bots: parking_lot::RwLock<std::collections::BTreeMap<String, Option<String>>>,
}

impl AlertControl {
    /// Connects the handle to a runner; returns the runner's receiver.
    /// Called once, by `alerting::spawn`.
    pub fn connect(&self, worker: Arc<OutboxWorker>) -> mpsc::Receiver<Command> {
        let (tx, rx) = mpsc::channel(QUEUE);
        let _ = self.inner.tx.set(tx);
        let _ = self.inner.worker.set(worker);
        rx
    }

    /// Whether the engine runs.
    pub fn is_running(&self) -> bool {
        self.inner.tx.get().is_some_and(|t| !t.is_closed())
    }

    /// The outbox worker (circuit breaker states for the UI), when running.
    pub fn worker(&self) -> Option<&Arc<OutboxWorker>> {
        self.inner.worker.get()
    }

    /// Records the username of a polled Telegram bot (from `getMe`), or
    /// forgets the bot (`None`: it is no longer polled).
    pub fn set_telegram_bot(&self, bot_id: &str, username: Option<String>) {
        let mut bots = self.inner.telegram_bots.write();
        match username {
            Some(u) => {
                bots.insert(bot_id.to_string(), Some(u));
            }
            None => {
                bots.remove(bot_id);
            }
        }
    }

    /// The usernames of the Telegram bots being polled (for the
    /// `t.me/<bot>?start=CODE` link on the account page).
    pub fn telegram_usernames(&self) -> Vec<String> {
        self.inner
            .telegram_bots
            .read()
            .values()
            .flatten()
            .cloned()
            .collect()
    }

    async fn send(&self, c: Command) -> Result<(), ControlError> {
        let tx = self.inner.tx.get().ok_or(ControlError::NotRunning)?;
        tx.send(c).await.map_err(|_| ControlError::NotRunning)
    }

    /// Rules, silences or channels changed: the engine re-reads them.
    /// (A no-op when alerting is off: storage already holds the change.)
    pub async fn reload(&self) {
        let _ = self.send(Command::Reload).await;
    }

    /// An issue was resolved by a person.
    pub async fn issue_resolved(&self, project_id: i64, issue_id: i64) {
        let _ = self
            .send(Command::IssueResolved {
                project_id,
                issue_id,
            })
            .await;
    }

    /// An issue's status changed: when it is no longer open (resolved,
    /// resolved in the next release, ignored) its issue alerts resolve.
    pub async fn issue_status_changed(&self, issue: &lookout_model::errors::Issue) {
        if issue.status != lookout_model::errors::IssueStatus::Unresolved {
            self.issue_resolved(issue.project_id, issue.id).await;
        }
    }

    /// Acknowledges an alert.
    pub async fn acknowledge(
        &self,
        alert_id: i64,
        by: &str,
    ) -> Result<AlertInstanceRow, ControlError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Acknowledge {
            alert_id,
            by: by.to_string(),
            reply,
        })
        .await?;
        rx.await.map_err(|_| ControlError::NotRunning)?
    }

    /// Resolves an alert by hand.
    pub async fn resolve(&self, alert_id: i64, by: &str) -> Result<AlertInstanceRow, ControlError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Resolve {
            alert_id,
            by: by.to_string(),
            reply,
        })
        .await?;
        rx.await.map_err(|_| ControlError::NotRunning)?
    }

    /// Sends a test message through a channel configuration, now, outside
    /// the outbox (nothing is retried; the outcome is the answer). Works
    /// whether or not the engine runs; uses the running worker's senders
    /// (and so Telegram's per-chat pacing) when there is one.
    pub async fn send_test(
        &self,
        name: &str,
        cfg: &ChannelConfig,
        smtp: &lookout_config::SmtpConfig,
        public_url: &str,
    ) -> SendOutcome {
        let (n, ctx) = super::test_message::build(name, public_url);
        let key = n.idempotency_key(name);
        match self.inner.worker.get() {
            Some(w) => w.senders().send(cfg, &n, &ctx, &key, "test").await,
            None => {
                super::channels::Senders::new(smtp.clone())
                    .send(cfg, &n, &ctx, &key, "test")
                    .await
            }
        }
    }
}
