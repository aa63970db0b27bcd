//! Outgoing e-mail over SMTP (lettre on tokio with rustls): invitations
//! now, alert notifications later. Every message has a plain-text and an
//! HTML part; everything interpolated into the HTML is escaped.

use crate::state::AppState;
use crate::ui::admin::MailOutcome;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use lookout_config::{SmtpConfig, SmtpTls};
use lookout_model::Invitation;
use maud::html;
use std::time::Duration;

/// Why an e-mail could not be sent.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// An address (sender or recipient) does not parse.
    #[error("invalid address `{0}`")]
    Address(String),
    /// The message could not be built.
    #[error("cannot build the message: {0}")]
    Build(String),
    /// The SMTP server could not be reached or refused the message.
    #[error("SMTP: {0}")]
    Smtp(String),
}

fn transport(cfg: &SmtpConfig) -> Result<AsyncSmtpTransport<Tokio1Executor>, MailError> {
    let host = cfg.host.trim();
    let builder = match cfg.tls {
        SmtpTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)
            .map_err(|e| MailError::Smtp(e.to_string()))?,
        SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(host)
            .map_err(|e| MailError::Smtp(e.to_string()))?,
        SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
    };
    let mut builder = builder
        .port(cfg.port)
        .timeout(Some(Duration::from_secs(cfg.timeout_secs.max(1))));
    if !cfg.username.is_empty() {
        builder = builder.credentials(Credentials::new(cfg.username.clone(), cfg.password.clone()));
    }
    Ok(builder.build())
}

/// Sends one message with a text and an HTML body.
pub async fn send(
    cfg: &SmtpConfig,
    to: &str,
    subject: &str,
    text: String,
    html: String,
) -> Result<(), MailError> {
    let from: Mailbox = cfg
        .from
        .parse()
        .map_err(|_| MailError::Address(cfg.from.clone()))?;
    let to_box: Mailbox = to.parse().map_err(|_| MailError::Address(to.to_string()))?;
    let msg = Message::builder()
        .from(from)
        .to(to_box)
        .subject(subject)
        .multipart(MultiPart::alternative_plain_html(text, html))
        .map_err(|e| MailError::Build(e.to_string()))?;
    transport(cfg)?
        .send(msg)
        .await
        .map_err(|e| MailError::Smtp(e.to_string()))?;
    Ok(())
}

/// E-mails an invitation link, when SMTP is configured. Never fails the
/// invitation itself: the link is shown to the administrator either way.
pub async fn send_invitation(
    state: &AppState,
    inv: &Invitation,
    invited_by: &str,
    link: &str,
) -> MailOutcome {
    let cfg = &state.config().smtp;
    if !cfg.enabled() {
        return MailOutcome::NotConfigured;
    }
    let subject = "You are invited to Lookout";
    let text = format!(
        "{invited_by} invited you to Lookout, where your team watches its apps' errors.\n\nCreate your account (the link works once, for 7 days):\n{link}\n"
    );
    let body = html! {
        p { (invited_by) " invited you to Lookout, where your team watches its apps' errors." }
        p { a href=(link) { "Create your account" } }
        p { "The link works once, for 7 days: " (link) }
    }
    .into_string();
    match send(cfg, &inv.email, subject, text, body).await {
        Ok(()) => {
            tracing::info!(to = %inv.email, "invitation e-mailed");
            MailOutcome::Sent
        }
        Err(e) => {
            tracing::warn!(to = %inv.email, error = %e, "cannot e-mail invitation");
            MailOutcome::Failed(e.to_string())
        }
    }
}
