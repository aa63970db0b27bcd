//! Managing alerting: what the JSON API (`routes::alerts`) and the web UI
//! both call to list, create, change and delete alert rules, silences,
//! channels, to acknowledge and resolve alerts, to send test messages and
//! to read the delivery log.
//!
//! Every function takes the caller's [`Access`] and applies the alerting
//! access rules in one place:
//! - alerts are readable when their project is; install-wide alerts
//!   (backups, channels) only by administrators; acknowledging and
//!   resolving needs the member role (administrators for install alerts);
//! - rules: administrators read and write all; others read install-wide
//!   rules and rules whose projects they can all read, and change only
//!   rules scoped to projects they are members of;
//! - silences: a silence with a `project_id=<id>` matcher belongs to that
//!   project (readable by its readers, changed by its members); others
//!   are global (administrators change them, everyone reads them);
//! - channels and the delivery log: administrators only; secrets are
//!   redacted;
//! - rules and channels declared in `lookout.toml` are read-only (409).
//!
//! Unreadable objects answer 404 so that ids cannot be probed. After a
//! change in storage the running engine is told to reload.
//!
//! Nothing here knows HTTP beyond [`ApiError`]; nothing here knows SQL.

use crate::access::Access;
use crate::alerting::channels::SendOutcome;
use crate::error::ApiError;
use crate::state::AppState;
use chrono::{DateTime, Duration, Utc};
use lookout_alert::channel::ChannelConfig;
use lookout_alert::{MatchOp, Matcher, Rule, Silence};
use lookout_storage::{
    AlertInstanceQuery, AlertInstanceRow, AlertRuleRow, AlertSource, ChannelRow, DeliveryAttempt,
    DeliveryQuery, NewAlertRule, NewChannel, NewSilence, OutboxItem, OutboxState, SilenceRow,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};

/// Page size when none is asked for.
pub const DEFAULT_LIMIT: usize = 50;
/// The largest page.
pub const MAX_LIMIT: usize = 500;

/// The answer to a change of a rule or channel declared in `lookout.toml`.
pub const CONFIG_READ_ONLY: &str = "declared in lookout.toml; change it there";

/// One page of a list, and the cursor of the next (absent on the last).
#[derive(Debug, Clone, Serialize)]
pub struct Page<T> {
    /// The items, newest first.
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page (`null` on the last).
    pub next_cursor: Option<String>,
}

pub(super) fn page_limit(limit: Option<usize>) -> usize {
    limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT)
}

pub(super) fn bad(field: &str, reason: impl std::fmt::Display) -> ApiError {
    ApiError::BadRequest(format!("`{field}`: {reason}"))
}

/// Who the caller is, as recorded on silences, acknowledgements and
/// resolutions: the user's e-mail, or `api-token` for an install-wide
/// token.
pub fn actor(access: &Access) -> String {
    match &access.user {
        Some(u) => u.email.clone(),
        None => "api-token".into(),
    }
}

mod alerts;
mod channels;
mod deliveries;
mod rules;
mod silences;

pub use alerts::*;
pub use channels::*;
pub use deliveries::*;
pub use rules::*;
pub use silences::*;

#[cfg(test)]
mod tests;
