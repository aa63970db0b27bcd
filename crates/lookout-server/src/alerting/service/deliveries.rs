//! The delivery log and the outbox.

use super::*;

/// One delivery attempt.
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryView {
    /// Id (page with `cursor`).
    pub id: i64,
    /// The outbox row.
    pub outbox_id: i64,
    /// When the attempt ended.
    pub at: DateTime<Utc>,
    /// Channel name.
    pub channel: String,
    /// Attempt number (1 = first).
    pub attempt: u32,
    /// `sent`, `retry`, `failed` or `deferred`.
    pub outcome: String,
    /// The error (secrets masked by the senders).
    pub error: Option<String>,
    /// How long it took.
    pub duration_ms: i64,
}

impl From<DeliveryAttempt> for DeliveryView {
    fn from(d: DeliveryAttempt) -> Self {
        DeliveryView {
            id: d.id,
            outbox_id: d.outbox_id,
            at: d.at,
            channel: d.channel,
            attempt: d.attempt,
            outcome: d.outcome,
            error: d.error,
            duration_ms: d.duration_ms,
        }
    }
}

/// Which delivery attempts to list.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct DeliveryFilter {
    /// Only this channel.
    #[serde(default)]
    pub channel: Option<String>,
    /// Only this outcome: `sent`, `retry`, `failed`, `deferred`.
    #[serde(default)]
    pub outcome: Option<String>,
    /// Page size (default 50, at most 500).
    #[serde(default)]
    pub limit: Option<usize>,
    /// `next_cursor` of the previous page.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// The delivery log, newest first (administrators only).
pub async fn list_deliveries(
    state: &AppState,
    access: &Access,
    filter: DeliveryFilter,
) -> Result<Page<DeliveryView>, ApiError> {
    require_admin_read(access)?;
    let outcome = match filter.outcome.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(o @ ("sent" | "retry" | "failed" | "deferred")) => Some(o.to_string()),
        Some(other) => {
            return Err(bad(
                "outcome",
                format!("{other:?} is not `sent`, `retry`, `failed` or `deferred`"),
            ));
        }
    };
    let before_id = match filter.cursor.as_deref() {
        None | Some("") => None,
        Some(c) => Some(
            c.parse::<i64>()
                .map_err(|_| bad("cursor", "not a cursor this server gave out"))?,
        ),
    };
    let limit = page_limit(filter.limit);
    let rows = state
        .store()
        .query_deliveries(DeliveryQuery {
            channel: filter.channel.filter(|c| !c.trim().is_empty()),
            outcome,
            before_id,
            limit: limit + 1,
        })
        .await?;
    let more = rows.len() > limit;
    let items: Vec<DeliveryView> = rows.into_iter().take(limit).map(Into::into).collect();
    let next_cursor = if more {
        items.last().map(|d| d.id.to_string())
    } else {
        None
    };
    Ok(Page { items, next_cursor })
}

/// An outbox row, without its payload.
#[derive(Debug, Clone, Serialize)]
pub struct OutboxView {
    /// Id.
    pub id: i64,
    /// Idempotency key.
    pub idempotency_key: String,
    /// Channel name.
    pub channel: String,
    /// `pending`, `sending`, `sent` or `failed`.
    pub state: OutboxState,
    /// Attempts so far.
    pub attempts: u32,
    /// Next attempt at (pending).
    pub next_attempt_at: DateTime<Utc>,
    /// Enqueued.
    pub created_at: DateTime<Utc>,
    /// Delivered at.
    pub sent_at: Option<DateTime<Utc>>,
    /// The last error.
    pub last_error: Option<String>,
    /// The rule the notification is about.
    pub summary: Option<String>,
}

impl From<OutboxItem> for OutboxView {
    fn from(i: OutboxItem) -> Self {
        let summary = i
            .payload
            .get("rule_name")
            .and_then(Value::as_str)
            .map(str::to_string);
        OutboxView {
            id: i.id,
            idempotency_key: i.idempotency_key,
            channel: i.channel,
            state: i.state,
            attempts: i.attempts,
            next_attempt_at: i.next_attempt_at,
            created_at: i.created_at,
            sent_at: i.sent_at,
            last_error: i.last_error,
            summary,
        }
    }
}

/// The outbox, newest first, optionally of one state and one channel
/// (administrators only).
pub async fn list_outbox(
    state: &AppState,
    access: &Access,
    outbox_state: Option<&str>,
    channel: Option<&str>,
    limit: Option<usize>,
) -> Result<Vec<OutboxView>, ApiError> {
    require_admin_read(access)?;
    let s = match outbox_state.map(str::trim) {
        None | Some("") => None,
        Some(x) => Some(OutboxState::parse(x).ok_or_else(|| {
            bad(
                "state",
                format!("{x:?} is not `pending`, `sending`, `sent` or `failed`"),
            )
        })?),
    };
    let limit = page_limit(limit);
    // Filtering by channel happens here: the outbox is pruned, small.
    let fetch = if channel.is_some() {
        MAX_LIMIT * 4
    } else {
        limit
    };
    Ok(state
        .store()
        .list_outbox(s, fetch)
        .await?
        .into_iter()
        .filter(|i| channel.is_none_or(|c| i.channel == c))
        .take(limit)
        .map(Into::into)
        .collect())
}

/// Outbox counts per state (administrators only).
pub async fn outbox_counts(
    state: &AppState,
    access: &Access,
) -> Result<Vec<(OutboxState, u64)>, ApiError> {
    require_admin_read(access)?;
    Ok(state.store().outbox_counts().await?)
}

/// The names of the channels, plus `log`, for forms that pick receivers
/// (administrators only).
pub async fn channel_names(state: &AppState, access: &Access) -> Result<Vec<String>, ApiError> {
    require_admin_read(access)?;
    let mut names: Vec<String> = state
        .store()
        .list_channels()
        .await?
        .into_iter()
        .map(|c| c.name)
        .collect();
    names.push("log".into());
    let mut seen = HashSet::new();
    names.retain(|n| seen.insert(n.clone()));
    names.sort();
    Ok(names)
}
