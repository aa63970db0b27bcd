//! Notification channels: list, read, create, change, delete, send a test.

use super::*;

/// A channel to create, or the new settings of one.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelInput {
    /// The name (creation only; on update it must match or be absent).
    #[serde(default)]
    pub name: Option<String>,
    /// Used or not (default true).
    #[serde(default)]
    pub enabled: Option<bool>,
    /// The settings (`lookout_alert::channel::ChannelConfig` as JSON,
    /// with `kind`). On update, a secret given as `***` keeps the stored
    /// one.
    pub config: Value,
}

/// A channel's circuit breaker as the engine holds it.
#[derive(Debug, Clone, Serialize)]
pub struct BreakerView {
    /// `closed`, `half_open` or `open`.
    pub state: String,
    /// Consecutive failures.
    pub failures: u32,
    /// When it opened.
    pub opened_at: Option<DateTime<Utc>>,
}

/// A channel with its settings redacted.
#[derive(Debug, Clone, Serialize)]
pub struct ChannelView {
    /// Unique name (routes name it).
    pub name: String,
    /// `telegram`, `email`, `slack`, `discord`, `webhook`.
    pub kind: String,
    /// Used or not.
    pub enabled: bool,
    /// `api` or `config` (`lookout.toml`: read-only).
    pub source: AlertSource,
    /// Whether it may be changed here.
    pub editable: bool,
    /// Settings, secrets shown as `***`.
    pub config: Value,
    /// The circuit breaker (absent when alerting is not running or the
    /// channel never sent).
    pub breaker: Option<BreakerView>,
    /// The latest delivery attempt.
    pub last_delivery: Option<DeliveryView>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// Checks a channel name: `[a-z0-9_-]{1,40}`, not `log`.
pub fn validate_channel_name(name: &str) -> Result<(), ApiError> {
    if name.is_empty() || name.len() > 40 {
        return Err(bad("name", "1 to 40 characters of a-z, 0-9, `_` and `-`"));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
    {
        return Err(bad("name", "only a-z, 0-9, `_` and `-`"));
    }
    if name == "log" {
        return Err(bad("name", "`log` is the built-in log channel"));
    }
    Ok(())
}

/// Parses and validates channel settings; a 400 names the field.
pub fn parse_channel_config(config: Value) -> Result<ChannelConfig, ApiError> {
    if !config.is_object() {
        return Err(bad("config", "must be an object with a `kind`"));
    }
    let cfg: ChannelConfig =
        deserialize_naming_the_field(config).map_err(|(field, msg)| match field {
            Some(f) => bad(&format!("config.{f}"), msg),
            None => bad("config", msg),
        })?;
    cfg.validate().map_err(|e| bad("config", e))?;
    Ok(cfg)
}

pub(super) fn breaker_view(state: &AppState, name: &str) -> Option<BreakerView> {
    let w = state.alerts().worker()?;
    w.breaker_states()
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, b)| BreakerView {
            state: b.state.as_str().into(),
            failures: b.failures,
            opened_at: b.opened_at,
        })
}

pub(super) async fn channel_view(
    state: &AppState,
    row: ChannelRow,
) -> Result<ChannelView, ApiError> {
    let config = match serde_json::from_value::<ChannelConfig>(row.config.clone()) {
        Ok(c) => c.redacted(),
        Err(_) => serde_json::json!({ "kind": row.kind, "error": "unreadable settings" }),
    };
    let last = state
        .store()
        .query_deliveries(DeliveryQuery {
            channel: Some(row.name.clone()),
            limit: 1,
            ..Default::default()
        })
        .await?;
    Ok(ChannelView {
        breaker: breaker_view(state, &row.name),
        last_delivery: last.into_iter().next().map(DeliveryView::from),
        editable: row.source == AlertSource::Api,
        name: row.name,
        kind: row.kind,
        enabled: row.enabled,
        source: row.source,
        config,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

pub(super) async fn find_channel(state: &AppState, name: &str) -> Result<ChannelRow, ApiError> {
    state
        .store()
        .list_channels()
        .await?
        .into_iter()
        .find(|c| c.name == name)
        .ok_or_else(|| ApiError::NotFound(format!("channel {name:?} not found")))
}

pub(super) fn require_admin_read(access: &Access) -> Result<(), ApiError> {
    if !access.is_admin() {
        return Err(ApiError::Forbidden(
            "only administrators may see channels and the delivery log".into(),
        ));
    }
    Ok(())
}

/// Every channel, by name (administrators only).
pub async fn list_channels(
    state: &AppState,
    access: &Access,
) -> Result<Vec<ChannelView>, ApiError> {
    require_admin_read(access)?;
    let mut out = Vec::new();
    for row in state.store().list_channels().await? {
        out.push(channel_view(state, row).await?);
    }
    Ok(out)
}

/// One channel (administrators only).
pub async fn get_channel(
    state: &AppState,
    access: &Access,
    name: &str,
) -> Result<ChannelView, ApiError> {
    require_admin_read(access)?;
    let row = find_channel(state, name).await?;
    channel_view(state, row).await
}

/// Creates a channel (administrators only; 409 when the name is taken).
pub async fn create_channel(
    state: &AppState,
    access: &Access,
    input: ChannelInput,
) -> Result<ChannelView, ApiError> {
    access.require_admin()?;
    let name = input
        .name
        .as_deref()
        .map(str::trim)
        .ok_or_else(|| bad("name", "a channel needs a name"))?
        .to_string();
    validate_channel_name(&name)?;
    let cfg = parse_channel_config(input.config)?;
    if state
        .store()
        .list_channels()
        .await?
        .iter()
        .any(|c| c.name == name)
    {
        return Err(ApiError::Conflict(format!(
            "a channel named {name:?} exists"
        )));
    }
    let row = state
        .store()
        .upsert_channel(
            NewChannel {
                name,
                kind: cfg.kind().into(),
                enabled: input.enabled.unwrap_or(true),
                source: AlertSource::Api,
                config: serde_json::to_value(&cfg)
                    .map_err(|e| ApiError::Internal(e.to_string()))?,
            },
            Utc::now(),
        )
        .await?;
    state.alerts().reload().await;
    channel_view(state, row).await
}

/// Secrets given back as `***` (as GET shows them) keep the stored value.
pub(super) fn keep_redacted_secrets(new: &mut Value, old: &Value) {
    let (Some(n), Some(o)) = (new.as_object_mut(), old.as_object()) else {
        return;
    };
    if n.get("kind") != o.get("kind") {
        return;
    }
    for k in ["bot_token", "webhook_url", "secret"] {
        if n.get(k).and_then(Value::as_str) == Some("***")
            && let Some(v) = o.get(k)
        {
            n.insert(k.into(), v.clone());
        }
    }
}

/// Replaces a channel's settings (administrators only; not one declared
/// in `lookout.toml`).
pub async fn update_channel(
    state: &AppState,
    access: &Access,
    name: &str,
    input: ChannelInput,
) -> Result<ChannelView, ApiError> {
    access.require_admin()?;
    let old = find_channel(state, name).await?;
    if old.source == AlertSource::Config {
        return Err(ApiError::Conflict(format!(
            "channel {name:?} is {CONFIG_READ_ONLY}"
        )));
    }
    if let Some(n) = input.name.as_deref()
        && n.trim() != name
    {
        return Err(bad("name", "a channel cannot be renamed; create a new one"));
    }
    let mut config = input.config;
    keep_redacted_secrets(&mut config, &old.config);
    let cfg = parse_channel_config(config)?;
    let row = state
        .store()
        .upsert_channel(
            NewChannel {
                name: name.to_string(),
                kind: cfg.kind().into(),
                enabled: input.enabled.unwrap_or(old.enabled),
                source: AlertSource::Api,
                config: serde_json::to_value(&cfg)
                    .map_err(|e| ApiError::Internal(e.to_string()))?,
            },
            Utc::now(),
        )
        .await?;
    state.alerts().reload().await;
    channel_view(state, row).await
}

/// Deletes a channel (administrators only; not one declared in
/// `lookout.toml`). Routes naming it skip it from then on.
pub async fn delete_channel(state: &AppState, access: &Access, name: &str) -> Result<(), ApiError> {
    access.require_admin()?;
    let old = find_channel(state, name).await?;
    if old.source == AlertSource::Config {
        return Err(ApiError::Conflict(format!(
            "channel {name:?} is {CONFIG_READ_ONLY}"
        )));
    }
    if !state.store().delete_channel(name).await? {
        return Err(ApiError::NotFound(format!("channel {name:?} not found")));
    }
    state.alerts().reload().await;
    Ok(())
}

/// How a test message went.
#[derive(Debug, Clone, Serialize)]
pub struct TestOutcome {
    /// Whether it was delivered.
    pub sent: bool,
    /// `sent`, `retry` (a temporary failure) or `failed`.
    pub outcome: &'static str,
    /// What went wrong (secrets masked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl From<SendOutcome> for TestOutcome {
    fn from(o: SendOutcome) -> Self {
        match o {
            SendOutcome::Sent => TestOutcome {
                sent: true,
                outcome: "sent",
                error: None,
            },
            SendOutcome::Retry { error, .. } => TestOutcome {
                sent: false,
                outcome: "retry",
                error: Some(error),
            },
            SendOutcome::Failed { error } => TestOutcome {
                sent: false,
                outcome: "failed",
                error: Some(error),
            },
        }
    }
}

/// Sends a test message through a stored channel, now (administrators
/// only). Config-declared channels may be tested too.
pub async fn test_channel(
    state: &AppState,
    access: &Access,
    name: &str,
) -> Result<TestOutcome, ApiError> {
    access.require_admin()?;
    let row = find_channel(state, name).await?;
    let cfg: ChannelConfig = serde_json::from_value(row.config).map_err(|e| {
        ApiError::Conflict(format!("channel {name:?} has unreadable settings: {e}"))
    })?;
    Ok(send_test(state, name, &cfg).await)
}

/// Sends a test message through settings not stored yet (the UI's "test
/// before saving"); secrets given as `***` are taken from the stored
/// channel of that name, if any.
pub async fn test_channel_config(
    state: &AppState,
    access: &Access,
    name: &str,
    mut config: Value,
) -> Result<TestOutcome, ApiError> {
    access.require_admin()?;
    if let Ok(old) = find_channel(state, name).await {
        keep_redacted_secrets(&mut config, &old.config);
    }
    let cfg = parse_channel_config(config)?;
    Ok(send_test(state, name, &cfg).await)
}

pub(super) async fn send_test(state: &AppState, name: &str, cfg: &ChannelConfig) -> TestOutcome {
    let c = state.config();
    state
        .alerts()
        .send_test(name, cfg, &c.smtp, &c.public_url())
        .await
        .into()
}
