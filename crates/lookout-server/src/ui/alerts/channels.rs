//! `/alerts/channels` (administrators): the notification channels with
//! their settings (secrets redacted), circuit breaker and last delivery;
//! the form per kind to create, edit and delete one; and "Send test",
//! whose outcome (sent, or the error) is shown on the page.

use super::forms::*;
use super::{AlertsTab, alerts_nav, engine_status, fail};
use crate::alerting::service::{self, ChannelInput, ChannelView, TestOutcome};
use crate::error::ApiError;
use crate::state::AppState;
use crate::ui::common::*;
use crate::ui::posted::Posted;
use crate::ui::session::Viewer;
use crate::ui::{layout, relative_time};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use lookout_alert::channel::{ChannelConfig, TELEGRAM_API, WebhookFormat};
use lookout_storage::AlertSource;
use maud::{Markup, html};

const NOTICES: &[(&str, &str)] = &[
    (
        "created",
        "Channel created. Routes that name it use it from now on.",
    ),
    ("saved", "Channel saved."),
    ("deleted", "Channel deleted."),
];

/// The kinds, with the fields each one takes.
const KINDS: &[(&str, &str, &[&str])] = &[
    (
        "telegram",
        "Telegram",
        &["bot_token", "chat_id", "message_thread_id", "api_base_url"],
    ),
    ("email", "E-mail", &["to"]),
    ("slack", "Slack", &["webhook_url"]),
    ("discord", "Discord", &["webhook_url"]),
    ("webhook", "Webhook", &["url", "secret", "format"]),
];

/// The channel form's fields, as typed.
#[derive(Debug, Clone, Default)]
pub struct ChannelForm {
    name: String,
    kind: String,
    enabled: bool,
    bot_token: String,
    chat_id: String,
    message_thread_id: String,
    api_base_url: String,
    to: String,
    webhook_url: String,
    url: String,
    secret: String,
    format: String,
}

impl ChannelForm {
    fn blank() -> ChannelForm {
        ChannelForm {
            kind: "telegram".into(),
            enabled: true,
            api_base_url: TELEGRAM_API.into(),
            format: "lookout".into(),
            ..Default::default()
        }
    }

    fn from_pairs(p: &Pairs) -> ChannelForm {
        ChannelForm {
            name: p.get("name"),
            kind: p.get("kind"),
            enabled: p.on("enabled"),
            bot_token: p.get("bot_token"),
            chat_id: p.get("chat_id"),
            message_thread_id: p.get("message_thread_id"),
            api_base_url: p.get("api_base_url"),
            to: p.get("to"),
            webhook_url: p.get("webhook_url"),
            url: p.get("url"),
            secret: p.get("secret"),
            format: p.get("format"),
        }
    }

    /// The form for an existing channel, secrets left empty.
    fn from_view(row: &ChannelView, cfg: Option<&ChannelConfig>) -> ChannelForm {
        let mut f = ChannelForm {
            name: row.name.clone(),
            kind: row.kind.clone(),
            enabled: row.enabled,
            ..ChannelForm::blank()
        };
        match cfg {
            Some(ChannelConfig::Telegram {
                chat_id,
                message_thread_id,
                api_base_url,
                ..
            }) => {
                f.chat_id = chat_id.clone();
                f.message_thread_id = message_thread_id.map(|t| t.to_string()).unwrap_or_default();
                f.api_base_url = api_base_url.clone();
            }
            Some(ChannelConfig::Email { to }) => f.to = to.join("\n"),
            Some(ChannelConfig::Webhook { url, format, .. }) => {
                f.url = url.clone();
                f.format = match format {
                    WebhookFormat::Alertmanager => "alertmanager".into(),
                    WebhookFormat::Lookout => "lookout".into(),
                };
            }
            _ => {}
        }
        f
    }

    /// The configuration, or its problems by field. `old` (the stored
    /// settings, redacted) supplies the secrets left empty when editing:
    /// as `***`, which the service replaces with the stored secret.
    pub fn to_config(&self, old: Option<&ChannelConfig>) -> Result<ChannelConfig, FieldErrors> {
        let mut errs = FieldErrors::new();
        let keep = |typed: &str, field: &str, errs: &mut FieldErrors| -> String {
            let t = typed.trim();
            if !t.is_empty() {
                return t.to_string();
            }
            let kept = match (old, field) {
                (Some(ChannelConfig::Telegram { bot_token, .. }), "bot_token") => {
                    Some(bot_token.clone())
                }
                (
                    Some(
                        ChannelConfig::Slack { webhook_url }
                        | ChannelConfig::Discord { webhook_url },
                    ),
                    "webhook_url",
                ) => Some(webhook_url.clone()),
                _ => None,
            };
            kept.unwrap_or_else(|| {
                errs.push((field.into(), "required".into()));
                String::new()
            })
        };
        let url_check = |v: &str, field: &str, errs: &mut FieldErrors| {
            if !(v.is_empty() || v.starts_with("http://") || v.starts_with("https://")) {
                errs.push((field.into(), "must be an http:// or https:// URL".into()));
            }
        };
        let cfg = match self.kind.as_str() {
            "telegram" => {
                let bot_token = keep(&self.bot_token, "bot_token", &mut errs);
                let chat_id = self.chat_id.trim().to_string();
                if chat_id.is_empty() {
                    errs.push((
                        "chat_id".into(),
                        "required: a number (negative for groups) or @channel".into(),
                    ));
                }
                let message_thread_id = match self.message_thread_id.trim() {
                    "" => None,
                    t => match t.parse::<i64>() {
                        Ok(n) => Some(n),
                        Err(_) => {
                            errs.push((
                                "message_thread_id".into(),
                                format!("`{t}` is not a number"),
                            ));
                            None
                        }
                    },
                };
                let api_base_url = match self.api_base_url.trim() {
                    "" => TELEGRAM_API.to_string(),
                    u => u.to_string(),
                };
                url_check(&api_base_url, "api_base_url", &mut errs);
                ChannelConfig::Telegram {
                    bot_token,
                    chat_id,
                    message_thread_id,
                    api_base_url,
                }
            }
            "email" => {
                let to = items(&self.to);
                if to.is_empty() {
                    errs.push(("to".into(), "at least one address".into()));
                }
                for a in &to {
                    if !a.contains('@') || a.contains(char::is_whitespace) {
                        errs.push(("to".into(), format!("`{a}` is not an e-mail address")));
                    }
                }
                ChannelConfig::Email { to }
            }
            "slack" | "discord" => {
                let webhook_url = keep(&self.webhook_url, "webhook_url", &mut errs);
                url_check(&webhook_url, "webhook_url", &mut errs);
                if self.kind == "slack" {
                    ChannelConfig::Slack { webhook_url }
                } else {
                    ChannelConfig::Discord { webhook_url }
                }
            }
            "webhook" => {
                let url = self.url.trim().to_string();
                if url.is_empty() {
                    errs.push(("url".into(), "required".into()));
                }
                url_check(&url, "url", &mut errs);
                let secret = match (self.secret.trim(), old) {
                    ("", Some(ChannelConfig::Webhook { secret, .. })) => secret.clone(),
                    ("", _) => None,
                    (s, _) => Some(s.to_string()),
                };
                let format = match self.format.as_str() {
                    "alertmanager" => WebhookFormat::Alertmanager,
                    "" | "lookout" => WebhookFormat::Lookout,
                    other => {
                        errs.push(("format".into(), format!("unknown format `{other}`")));
                        WebhookFormat::Lookout
                    }
                };
                ChannelConfig::Webhook {
                    url,
                    secret,
                    format,
                }
            }
            other => {
                errs.push(("kind".into(), format!("unknown kind `{other}`")));
                return Err(errs);
            }
        };
        if errs.is_empty()
            && let Err(e) = cfg.validate()
        {
            errs.push(("kind".into(), e));
        }
        if errs.is_empty() { Ok(cfg) } else { Err(errs) }
    }
}

/// The stored settings as the service shows them (secrets as `***`).
fn config_of(view: &ChannelView) -> Option<ChannelConfig> {
    serde_json::from_value(view.config.clone()).ok()
}

/// The redacted settings as `key: value` pairs.
fn settings_markup(view: &ChannelView) -> Markup {
    html! {
        @if let Some(o) = view.config.as_object().filter(|o| !o.contains_key("error")) {
            ul.compact.channel-settings {
                @for (k, v) in o.iter().filter(|(k, _)| *k != "kind") {
                    li { code { (k) } ": " (match v { serde_json::Value::String(s) => s.clone(), v => v.to_string() }) }
                }
            }
        } @else {
            span.error { "settings unreadable" }
        }
    }
}

async fn render_list(
    state: &AppState,
    viewer: &Viewer,
    done: Option<&str>,
    test: Option<(&str, &TestOutcome)>,
) -> Result<Markup, Response> {
    let rows = service::list_channels(state, &viewer.access())
        .await
        .map_err(|e| fail(viewer, e))?;
    // Without a breaker the channel has not failed since start-up.
    let idle = if state.alerts().is_running() {
        "closed"
    } else {
        "unknown"
    };
    let csrf = &viewer.session.csrf_token;
    Ok(html! {
        (alerts_nav(viewer, AlertsTab::Channels))
        (notice(done, NOTICES))
        (engine_status(state))
        @if let Some((name, t)) = test {
            @if t.sent {
                p.notice #test-outcome data-outcome="sent" role="status" { "Test message to " (name) ": sent." }
            } @else {
                p.error #test-outcome data-outcome=(t.outcome) role="alert" {
                    "Test message to " (name) " failed"
                    @if t.outcome == "retry" { " (a temporary failure)" }
                    ": " (t.error.as_deref().unwrap_or("unknown error"))
                }
            }
        }
        div.actions { a.button #new-channel href="/alerts/channels/new" { "New channel" } }
        p.muted { "Routes name channels; " code { "log" } " is built in. Secrets are never shown. Channels can also be declared in lookout.toml ([alerts.channels.NAME])." }
        @if rows.is_empty() {
            div.empty-state #no-channels { p { "No channels yet. Without one, notifications go to the log." } }
        } @else {
            table #channels {
                thead { tr { th { "Channel" } th.optional { "Settings" } th { "Circuit" } th.optional { "Last delivery" } th { "" } } }
                tbody {
                    @for row in &rows {
                        @let breaker = row.breaker.as_ref().map(|b| b.state.as_str()).unwrap_or(idle);
                        tr.channel-row id={ "channel-" (row.name) } {
                            td {
                                a.channel-name href={ "/alerts/channels/" (row.name) } { (row.name) }
                                " " span.badge { (row.kind) }
                                @if !row.enabled { " " span.badge.muted { "disabled" } }
                                @if row.source == AlertSource::Config { " " span.badge.config { "lookout.toml" } }
                            }
                            td.optional { (settings_markup(row)) }
                            td { span class={ "badge circuit-" (breaker) } { (breaker.replace('_', "-")) } }
                            td.optional.last-delivery {
                                @if let Some(d) = &row.last_delivery {
                                    span class={ "badge outcome-" (d.outcome) } { (d.outcome) } " " (relative_time(d.at))
                                    @if let Some(e) = &d.error { br; span.muted { (e) } }
                                } @else { span.muted { "none yet" } }
                            }
                            td {
                                form.inline method="post" action={ "/alerts/channels/" (row.name) "/test" } {
                                    input type="hidden" name="csrf_token" value=(csrf);
                                    button.secondary.test-channel type="submit" { "Send test" }
                                }
                            }
                        }
                    }
                }
            }
        }
    })
}

/// `GET /alerts/channels`.
pub async fn list(State(state): State<AppState>, viewer: Viewer, Query(done): Query<Done>) -> Page {
    let body = render_list(&state, &viewer, done.done.as_deref(), None).await?;
    Ok(html_page(
        StatusCode::OK,
        layout("Channels", Some(&viewer), body),
    ))
}

fn form_page(
    viewer: &Viewer,
    f: &ChannelForm,
    errs: &FieldErrors,
    problem: Option<&str>,
    existing: Option<&ChannelView>,
) -> Markup {
    let csrf = &viewer.session.csrf_token;
    let read_only = existing.is_some_and(|r| !r.editable);
    let action = match existing {
        Some(r) => format!("/alerts/channels/{}", r.name),
        None => "/alerts/channels".into(),
    };
    let secret_hint = |base: &'static str| -> String {
        if existing.is_some() {
            format!("{base}; leave empty to keep the current one")
        } else {
            base.to_string()
        }
    };
    let t = |name: &str, label: &str, value: &str, hint: &str| {
        text_field(
            name,
            label,
            value,
            hint,
            errs,
            &super::forms::kinds_with(KINDS, name),
            read_only,
        )
    };
    html! {
        (alerts_nav(viewer, AlertsTab::Channels))
        h2 { @match existing { Some(r) => { "Channel: " (r.name) }, None => "New channel" } }
        @if read_only {
            p.notice #declared-in-config { "This channel is declared in lookout.toml; change it there. It is shown read-only." }
        }
        @if let Some(p) = problem { p.error #form-problem { (p) } }
        (error_summary("The channel", errs))
        form #channel-form .stack method="post" action=(action) {
            input type="hidden" name="csrf_token" value=(csrf);
            @if existing.is_none() {
                (text_field("name", "Name", &f.name, "routes name it, e.g. telegram or ops-email", errs, "", false))
            }
            div.field {
                label for="f-kind" { "Kind" }
                select #f-kind name="kind" disabled[read_only] {
                    @for (k, l, _) in KINDS { option value=(k) selected[f.kind == *k] { (l) } }
                }
                (field_errors(errs, "kind"))
            }
            fieldset #channel-settings {
                legend { "Settings (only the chosen kind's are used)" }
                (t("bot_token", "Bot token", "", &secret_hint("Telegram: from @BotFather")))
                (t("chat_id", "Chat id", &f.chat_id, "Telegram: a number (negative for groups) or @channel"))
                (t("message_thread_id", "Forum topic id", &f.message_thread_id, "Telegram: optional"))
                (t("api_base_url", "Bot API base URL", &f.api_base_url, "Telegram: default https://api.telegram.org"))
                div.field data-kinds=(super::forms::kinds_with(KINDS, "to")) {
                    label for="f-to" { "To" }
                    textarea #f-to name="to" rows="2" disabled[read_only] { (f.to) }
                    span.muted { "E-mail: addresses, one per line or comma-separated; uses the [smtp] server" }
                    (field_errors(errs, "to"))
                }
                (t("webhook_url", "Webhook URL", "", &secret_hint("Slack, Discord: the incoming webhook URL (a secret)")))
                (t("url", "URL", &f.url, "Webhook: where to POST"))
                (t("secret", "Signing secret", "", &secret_hint("Webhook: optional; signs the body (X-Lookout-Signature-256)")))
                div.field data-kinds=(super::forms::kinds_with(KINDS, "format")) {
                    label for="f-format" { "Format" }
                    select #f-format name="format" disabled[read_only] {
                        option value="lookout" selected[f.format != "alertmanager"] { "Lookout JSON" }
                        option value="alertmanager" selected[f.format == "alertmanager"] { "Alertmanager webhook (v4)" }
                    }
                    (field_errors(errs, "format"))
                }
            }
            label.check { input #f-enabled type="checkbox" name="enabled" checked[f.enabled] disabled[read_only]; " Enabled" }
            @if !read_only { div.actions { button #save-channel type="submit" { "Save" } } }
        }
        @if let Some(r) = existing && !read_only {
            form #delete-channel-form method="post" action={ "/alerts/channels/" (r.name) "/delete" } {
                input type="hidden" name="csrf_token" value=(csrf);
                button.danger #delete-channel type="submit" { "Delete this channel" }
            }
        }
    }
}

fn page(status: StatusCode, viewer: &Viewer, title: &str, body: Markup) -> Response {
    html_page(status, layout(title, Some(viewer), body))
}

/// `GET /alerts/channels/new`.
pub async fn new_form(State(state): State<AppState>, viewer: Viewer) -> Page {
    // Channels are the service's to guard: ask it for something small.
    service::channel_names(&state, &viewer.access())
        .await
        .map_err(|e| fail(&viewer, e))?;
    Ok(page(
        StatusCode::OK,
        &viewer,
        "New channel",
        form_page(
            &viewer,
            &ChannelForm::blank(),
            &FieldErrors::new(),
            None,
            None,
        ),
    ))
}

/// `GET /alerts/channels/{name}`.
pub async fn edit_form(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(name): Path<String>,
) -> Page {
    let row = service::get_channel(&state, &viewer.access(), &name)
        .await
        .map_err(|e| fail(&viewer, e))?;
    let f = ChannelForm::from_view(&row, config_of(&row).as_ref());
    Ok(page(
        StatusCode::OK,
        &viewer,
        &row.name,
        form_page(&viewer, &f, &FieldErrors::new(), None, Some(&row)),
    ))
}

/// The form's fields (a service error names one of them).
const FIELDS: [&str; 12] = [
    "name",
    "kind",
    "bot_token",
    "chat_id",
    "message_thread_id",
    "api_base_url",
    "to",
    "webhook_url",
    "url",
    "secret",
    "format",
    "enabled",
];

async fn save(
    state: &AppState,
    viewer: &Viewer,
    existing: Option<&ChannelView>,
    f: ChannelForm,
) -> Response {
    let again = |errs: &FieldErrors, problem: Option<&str>, status: StatusCode| {
        page(
            status,
            viewer,
            "Channel",
            form_page(viewer, &f, errs, problem, existing),
        )
    };
    let mut errs = FieldErrors::new();
    let name = match existing {
        Some(r) => r.name.clone(),
        None => {
            let n = f.name.trim().to_string();
            if let Err(e) = service::validate_channel_name(&n) {
                errs.push(("name".into(), e.to_string()));
            }
            n
        }
    };
    let old = existing.and_then(config_of);
    let cfg = match f.to_config(old.as_ref()) {
        Ok(c) if errs.is_empty() => c,
        Ok(_) => return again(&errs, None, StatusCode::BAD_REQUEST),
        Err(e) => {
            errs.extend(e);
            return again(&errs, None, StatusCode::BAD_REQUEST);
        }
    };
    let input = ChannelInput {
        name: Some(name.clone()),
        enabled: Some(f.enabled),
        config: serde_json::to_value(&cfg).unwrap_or_default(),
    };
    let access = viewer.access();
    let saved = match existing {
        Some(_) => service::update_channel(state, &access, &name, input).await,
        None => service::create_channel(state, &access, input).await,
    };
    match saved {
        Ok(_) => Redirect::to(&format!(
            "/alerts/channels?done={}",
            if existing.is_some() {
                "saved"
            } else {
                "created"
            }
        ))
        .into_response(),
        Err(ApiError::BadRequest(m)) => {
            let field = super::field_of(&m, &FIELDS).unwrap_or_else(|| "kind".into());
            again(&vec![(field, m)], None, StatusCode::BAD_REQUEST)
        }
        Err(ApiError::Conflict(m)) if existing.is_none() => {
            again(&vec![("name".into(), m)], None, StatusCode::CONFLICT)
        }
        Err(e @ (ApiError::Conflict(_) | ApiError::Forbidden(_) | ApiError::NotFound(_))) => {
            again(&FieldErrors::new(), Some(&e.to_string()), e.status())
        }
        Err(e) => fail(viewer, e),
    }
}

/// `POST /alerts/channels`.
pub async fn create(
    State(state): State<AppState>,
    Posted {
        viewer,
        form: pairs,
    }: Posted<Pairs>,
) -> Page {
    // Refused before the form is even read when the viewer may not.
    service::channel_names(&state, &viewer.access())
        .await
        .map_err(|e| fail(&viewer, e))?;
    Ok(save(&state, &viewer, None, ChannelForm::from_pairs(&pairs)).await)
}

/// `POST /alerts/channels/{name}`.
pub async fn edit(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Posted {
        viewer,
        form: pairs,
    }: Posted<Pairs>,
) -> Page {
    let row = service::get_channel(&state, &viewer.access(), &name)
        .await
        .map_err(|e| fail(&viewer, e))?;
    Ok(save(&state, &viewer, Some(&row), ChannelForm::from_pairs(&pairs)).await)
}

/// `POST /alerts/channels/{name}/delete`.
pub async fn delete(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Posted { viewer, form: _ }: Posted<CsrfForm>,
) -> Page {
    service::delete_channel(&state, &viewer.access(), &name)
        .await
        .map_err(|e| fail(&viewer, e))?;
    Ok(Redirect::to("/alerts/channels?done=deleted").into_response())
}

/// `POST /alerts/channels/{name}/test`: sends a test message now and
/// shows the outcome on the channels page.
pub async fn send_test(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Posted { viewer, form: _ }: Posted<CsrfForm>,
) -> Page {
    let outcome = service::test_channel(&state, &viewer.access(), &name)
        .await
        .map_err(|e| fail(&viewer, e))?;
    let body = render_list(&state, &viewer, None, Some((&name, &outcome))).await?;
    Ok(html_page(
        StatusCode::OK,
        layout("Channels", Some(&viewer), body),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(kind: &str) -> ChannelForm {
        ChannelForm {
            name: "x".into(),
            kind: kind.into(),
            ..ChannelForm::blank()
        }
    }

    #[test]
    fn telegram_needs_its_fields_and_keeps_the_token_on_edit() {
        let errs = form("telegram").to_config(None).unwrap_err();
        let fields: Vec<&str> = errs.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(fields, ["bot_token", "chat_id"]);
        let old = ChannelConfig::Telegram {
            bot_token: "123:SECRET".into(),
            chat_id: "-1".into(),
            message_thread_id: None,
            api_base_url: TELEGRAM_API.into(),
        };
        let view = ChannelView {
            name: "tg".into(),
            kind: "telegram".into(),
            enabled: true,
            source: AlertSource::Api,
            editable: true,
            config: old.redacted(),
            breaker: None,
            last_delivery: None,
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
        };
        let shown = config_of(&view).unwrap();
        let mut f = ChannelForm::from_view(&view, Some(&shown));
        assert!(
            f.bot_token.is_empty(),
            "secrets are not put back into the form"
        );
        f.message_thread_id = "7".into();
        match f.to_config(Some(&shown)).unwrap() {
            ChannelConfig::Telegram {
                bot_token,
                message_thread_id,
                ..
            } => {
                assert_eq!(
                    bot_token, "***",
                    "kept: the service puts the stored one back"
                );
                assert_eq!(message_thread_id, Some(7));
            }
            c => panic!("{c:?}"),
        }
    }

    #[test]
    fn webhook_and_email_problems() {
        let mut f = form("webhook");
        f.url = "ftp://x".into();
        assert_eq!(f.to_config(None).unwrap_err()[0].0, "url");
        f.url = "http://127.0.0.1:9/hook".into();
        f.secret = "s3".into();
        f.format = "alertmanager".into();
        assert!(matches!(
            f.to_config(None).unwrap(),
            ChannelConfig::Webhook {
                secret: Some(_),
                format: WebhookFormat::Alertmanager,
                ..
            }
        ));
        let mut f = form("email");
        f.to = "ops@example.com, not an address".into();
        assert_eq!(f.to_config(None).unwrap_err()[0].0, "to");
    }
}
