//! Rendering notifications for each channel: Telegram HTML (escaped,
//! within 4096 characters, with inline buttons), e-mail (subject, text and
//! HTML), Slack and Discord webhooks, a generic JSON webhook (Lookout's own
//! shape or Alertmanager's), and the HMAC-SHA256 signature of a webhook
//! body. Pure: the senders call these and do the I/O.
//!
//! Every message carries what fired, the severity, project and
//! environment, when it started, counts, a link to the Lookout page, the
//! top in-app frame and exception value for errors, and the cause for
//! monitors and install alerts.

use crate::dispatch::{Notification, NotificationKind};
use crate::engine::{Alert, AlertState};
use crate::model::Severity;
use crate::rule::Subject;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Telegram's limit on a message's text.
pub const TELEGRAM_MAX: usize = 4096;

/// What rendering needs besides the notification.
#[derive(Debug, Clone, Default)]
pub struct RenderContext {
    /// Lookout's external URL, e.g. `https://lookout.example.com`.
    pub public_url: String,
    /// Project names by id, for projects the labels do not name.
    pub project_names: BTreeMap<i64, String>,
}

impl RenderContext {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.public_url.trim_end_matches('/'))
    }

    /// The Lookout page of an alert's subject.
    pub fn link(&self, a: &Alert) -> String {
        match &a.subject {
            Subject::Issue { issue_id, .. } => self.url(&format!("/issues/{issue_id}")),
            Subject::Project { project_id } => self.url(&format!("/projects/{project_id}/issues")),
            Subject::Monitor {
                project_id,
                monitor_id,
            } => self.url(&format!("/projects/{project_id}/monitors/{monitor_id}")),
            Subject::Install => {
                if a.labels.get("kind").is_some_and(|k| k == "backup_failed") {
                    self.url("/admin/backups")
                } else {
                    self.url("/alerts")
                }
            }
        }
    }

    /// The page of a notification as a whole.
    pub fn group_link(&self, n: &Notification) -> String {
        match n.project_id {
            Some(p) => self.url(&format!("/alerts?project={p}")),
            None => self.url("/alerts"),
        }
    }

    fn project(&self, n: &Notification) -> Option<String> {
        let p = n.project_id?;
        let from_labels = n
            .firing
            .iter()
            .chain(&n.resolved)
            .find_map(|a| a.labels.get("project").cloned());
        Some(
            from_labels
                .or_else(|| self.project_names.get(&p).cloned())
                .unwrap_or_else(|| format!("project {p}")),
        )
    }
}

/// Escapes text for Telegram's HTML parse mode (and any HTML body):
/// `&`, `<`, `>` and `"`.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

/// Shortens `s` to at most `max` characters, ending with `…` when cut.
/// Cuts the raw text, before escaping, so no entity or tag is split.
pub fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The length Telegram counts: UTF-16 code units.
fn tg_len(s: &str) -> usize {
    s.encode_utf16().count()
}

fn icon(n: &Notification) -> &'static str {
    match n.kind {
        NotificationKind::Resolved => "✅",
        NotificationKind::Escalation => "⏫",
        NotificationKind::Reminder => "🔁",
        NotificationKind::Firing => match n.severity {
            Severity::Critical => "🔴",
            Severity::High => "🟠",
            Severity::Medium => "🟡",
            Severity::Low => "🔵",
        },
    }
}

fn status_word(n: &Notification) -> &'static str {
    match n.kind {
        NotificationKind::Firing => "FIRING",
        NotificationKind::Reminder => "STILL FIRING",
        NotificationKind::Resolved => "RESOLVED",
        NotificationKind::Escalation => "ESCALATED",
    }
}

fn fmt_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn environments(n: &Notification) -> Vec<String> {
    let mut envs: Vec<String> = n
        .firing
        .iter()
        .chain(&n.resolved)
        .filter_map(|a| a.labels.get("environment").cloned())
        .collect();
    envs.sort();
    envs.dedup();
    envs
}

fn started(n: &Notification) -> Option<DateTime<Utc>> {
    n.firing
        .iter()
        .chain(&n.resolved)
        .filter_map(|a| a.starts_at)
        .min()
}

/// The one-line title: `[FIRING:2] New issue · shop-bot (critical)`.
pub fn title(n: &Notification, ctx: &RenderContext) -> String {
    let count = if n.kind == NotificationKind::Resolved {
        n.resolved.len()
    } else {
        n.firing.len()
    };
    let mut s = format!("[{}:{}] {}", status_word(n), count, n.rule_name);
    if let Some(p) = ctx.project(n) {
        s.push_str(" · ");
        s.push_str(&p);
    }
    s.push_str(&format!(" ({})", n.severity));
    s
}

/// The plain facts of one alert, as (label, value) lines, raw (unescaped)
/// and clipped.
fn alert_lines(a: &Alert) -> (String, Vec<String>) {
    let ann = |k: &str| a.annotations.get(k).map(String::as_str);
    let headline = match &a.subject {
        Subject::Issue { .. } => ann("title").unwrap_or(&a.rule_name).to_string(),
        Subject::Monitor { .. } => a
            .labels
            .get("monitor")
            .cloned()
            .unwrap_or_else(|| a.rule_name.clone()),
        Subject::Project { .. } | Subject::Install => a
            .labels
            .get("channel")
            .map(|c| format!("channel {c}"))
            .unwrap_or_else(|| a.rule_name.clone()),
    };
    let mut lines = Vec::new();
    if let Some(f) = ann("frame") {
        lines.push(format!("at {}", clip(f, 200)));
    }
    if let Some(e) = ann("exception") {
        lines.push(clip(e, 300));
    }
    if let Some(c) = ann("cause") {
        lines.push(clip(c, 300));
    }
    if let Some(r) = ann("after_release") {
        lines.push(format!("after release {}", clip(r, 100)));
    }
    if let Some(s) = ann("summary") {
        lines.push(clip(s, 300));
    }
    let what = match a.labels.get("kind").map(String::as_str) {
        Some("issue_frequency" | "error_rate_spike") => format!("{} events in the window", a.count),
        _ if matches!(a.subject, Subject::Issue { .. }) => format!(
            "{} matching event{}",
            a.count,
            if a.count == 1 { "" } else { "s" }
        ),
        _ => String::new(),
    };
    let mut when = match (a.state, a.starts_at, a.ends_at) {
        (AlertState::Resolved, _, Some(end)) => format!("resolved {}", fmt_time(end)),
        (_, Some(start), _) => format!("since {}", fmt_time(start)),
        _ => String::new(),
    };
    if !what.is_empty() {
        when = if when.is_empty() {
            what
        } else {
            format!("{what}, {when}")
        };
    }
    if let Some((by, _)) = &a.acknowledged {
        when.push_str(&format!(" · acknowledged by {}", clip(by, 80)));
    }
    if let Some(by) = &a.resolved_by {
        when.push_str(&format!(" · resolved by {}", clip(by, 80)));
    }
    if !when.is_empty() {
        lines.push(when);
    }
    (clip(&headline, 300), lines)
}

fn header_facts(n: &Notification, ctx: &RenderContext) -> Vec<(String, String)> {
    let mut facts = Vec::new();
    if let Some(p) = ctx.project(n) {
        facts.push(("Project".to_string(), p));
    }
    let envs = environments(n);
    if !envs.is_empty() {
        facts.push(("Environment".into(), envs.join(", ")));
    }
    facts.push(("Severity".into(), n.severity.to_string()));
    if let Some(s) = started(n) {
        facts.push(("Started".into(), fmt_time(s)));
    }
    let mut counts = format!("{} firing", n.firing.len());
    if !n.resolved.is_empty() {
        counts.push_str(&format!(", {} resolved", n.resolved.len()));
    }
    facts.push(("Alerts".into(), counts));
    facts
}

fn listed(n: &Notification) -> Vec<&Alert> {
    n.firing.iter().chain(&n.resolved).collect()
}

/// Telegram HTML: at most [`TELEGRAM_MAX`] UTF-16 units. Alerts that do
/// not fit are summed up in a last line rather than cut mid-way.
pub fn telegram_html(n: &Notification, ctx: &RenderContext) -> String {
    let mut head = format!("{} <b>{}</b>\n", icon(n), escape_html(&title(n, ctx)));
    for (k, v) in header_facts(n, ctx) {
        head.push_str(&format!(
            "{}: {}\n",
            escape_html(&k),
            escape_html(&clip(&v, 200))
        ));
    }
    let footer = format!(
        "\n<a href=\"{}\">Open in Lookout</a>",
        escape_html(&ctx.group_link(n))
    );
    let alerts = listed(n);
    let mut body = String::new();
    let mut shown = 0;
    for a in &alerts {
        let (headline, lines) = alert_lines(a);
        let mut item = format!(
            "\n• <a href=\"{}\">{}</a>",
            escape_html(&ctx.link(a)),
            escape_html(&headline)
        );
        if a.state == AlertState::Resolved && n.kind != NotificationKind::Resolved {
            item.push_str(" ✅");
        }
        item.push('\n');
        for (i, l) in lines.iter().enumerate() {
            if i == 0 && a.annotations.contains_key("frame") {
                item.push_str(&format!("  <code>{}</code>\n", escape_html(l)));
            } else {
                item.push_str(&format!("  {}\n", escape_html(l)));
            }
        }
        let more = format!("\n… and {} more\n", alerts.len() - shown);
        if tg_len(&head) + tg_len(&body) + tg_len(&item) + tg_len(&more) + tg_len(&footer)
            > TELEGRAM_MAX
        {
            break;
        }
        body.push_str(&item);
        shown += 1;
    }
    if shown < alerts.len() {
        body.push_str(&format!("\n… and {} more\n", alerts.len() - shown));
    }
    let out = format!("{head}{body}{footer}");
    debug_assert!(tg_len(&out) <= TELEGRAM_MAX);
    out
}

/// What a Telegram button does; its `callback_data` is
/// `<action>:<reference>` and stays within Telegram's 64 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ButtonAction {
    /// Acknowledge the notification's alerts.
    Acknowledge,
    /// Resolve the issues of the notification's alerts.
    Resolve,
    /// Silence the notification's alerts for an hour.
    Silence1h,
}

impl ButtonAction {
    /// The `callback_data` prefix.
    pub fn code(self) -> &'static str {
        match self {
            ButtonAction::Acknowledge => "ack",
            ButtonAction::Resolve => "res",
            ButtonAction::Silence1h => "sil1h",
        }
    }

    /// Parses `callback_data` into an action and its reference.
    pub fn parse(data: &str) -> Option<(ButtonAction, &str)> {
        let (code, reference) = data.split_once(':')?;
        let action = match code {
            "ack" => ButtonAction::Acknowledge,
            "res" => ButtonAction::Resolve,
            "sil1h" => ButtonAction::Silence1h,
            _ => return None,
        };
        (!reference.is_empty()).then_some((action, reference))
    }
}

/// The inline keyboard of a Telegram message. `reference` identifies the
/// notification (the outbox row); resolving is offered only for issue
/// alerts, and nothing for a resolved notification.
pub fn telegram_keyboard(n: &Notification, reference: &str) -> Option<Value> {
    if n.kind == NotificationKind::Resolved || n.firing.is_empty() {
        return None;
    }
    let button = |label: &str, action: ButtonAction| json!({"text": label, "callback_data": format!("{}:{reference}", action.code())});
    let mut row = vec![button("Acknowledge", ButtonAction::Acknowledge)];
    if n.firing
        .iter()
        .any(|a| matches!(a.subject, Subject::Issue { .. }))
    {
        row.push(button("Resolve", ButtonAction::Resolve));
    }
    row.push(button("Silence 1 h", ButtonAction::Silence1h));
    Some(json!({ "inline_keyboard": [row] }))
}

/// The plain-text rendering (e-mail's text part, the log channel).
pub fn plain_text(n: &Notification, ctx: &RenderContext) -> String {
    let mut s = format!("{}\n", title(n, ctx));
    for (k, v) in header_facts(n, ctx) {
        s.push_str(&format!("{k}: {v}\n"));
    }
    for a in listed(n) {
        let (headline, lines) = alert_lines(a);
        s.push_str(&format!("\n- {headline}\n"));
        for l in lines {
            s.push_str(&format!("  {l}\n"));
        }
        s.push_str(&format!("  {}\n", ctx.link(a)));
    }
    s.push_str(&format!("\nOpen in Lookout: {}\n", ctx.group_link(n)));
    s
}

/// E-mail: `(subject, text, html)`.
pub fn email(n: &Notification, ctx: &RenderContext) -> (String, String, String) {
    let subject = title(n, ctx);
    let text = plain_text(n, ctx);
    let mut html = format!(
        "<!doctype html><html><body><h2>{} {}</h2><table>",
        icon(n),
        escape_html(&subject)
    );
    for (k, v) in header_facts(n, ctx) {
        html.push_str(&format!(
            "<tr><th align=\"left\">{}</th><td>{}</td></tr>",
            escape_html(&k),
            escape_html(&v)
        ));
    }
    html.push_str("</table><ul>");
    for a in listed(n) {
        let (headline, lines) = alert_lines(a);
        html.push_str(&format!(
            "<li><a href=\"{}\"><b>{}</b></a>",
            escape_html(&ctx.link(a)),
            escape_html(&headline)
        ));
        for l in lines {
            html.push_str(&format!("<br>{}", escape_html(&l)));
        }
        html.push_str("</li>");
    }
    html.push_str(&format!(
        "</ul><p><a href=\"{}\">Open in Lookout</a></p></body></html>",
        escape_html(&ctx.group_link(n))
    ));
    (subject, text, html)
}

/// Slack's escaping for `mrkdwn` text: `&`, `<`, `>`.
pub fn escape_slack(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A Slack incoming-webhook body.
pub fn slack(n: &Notification, ctx: &RenderContext) -> Value {
    let mut text = format!("{} *{}*\n", icon(n), escape_slack(&title(n, ctx)));
    for (k, v) in header_facts(n, ctx) {
        text.push_str(&format!("{k}: {}\n", escape_slack(&v)));
    }
    for a in listed(n).into_iter().take(20) {
        let (headline, lines) = alert_lines(a);
        text.push_str(&format!(
            "• <{}|{}>\n",
            ctx.link(a),
            escape_slack(&headline).replace('|', "¦")
        ));
        for l in lines {
            text.push_str(&format!("    {}\n", escape_slack(&l)));
        }
    }
    text.push_str(&format!("<{}|Open in Lookout>", ctx.group_link(n)));
    json!({ "text": clip(&text, 39_000) })
}

fn discord_color(n: &Notification) -> u32 {
    match (n.kind, n.severity) {
        (NotificationKind::Resolved, _) => 0x2e_a0_43,
        (_, Severity::Critical) => 0xd0_1c_1c,
        (_, Severity::High) => 0xf0_8c_00,
        (_, Severity::Medium) => 0xe0_c0_00,
        (_, Severity::Low) => 0x3b_82_f6,
    }
}

/// A Discord webhook body: one embed; mentions are disabled, so an
/// exception message saying `@everyone` pings nobody.
pub fn discord(n: &Notification, ctx: &RenderContext) -> Value {
    let mut desc = String::new();
    for (k, v) in header_facts(n, ctx) {
        desc.push_str(&format!("**{k}:** {v}\n"));
    }
    for a in listed(n) {
        let (headline, lines) = alert_lines(a);
        let mut item = format!(
            "\n[{}]({})\n",
            headline.replace(['[', ']'], ""),
            ctx.link(a)
        );
        for l in lines {
            item.push_str(&format!("{l}\n"));
        }
        if desc.chars().count() + item.chars().count() > 3900 {
            desc.push_str("\n…");
            break;
        }
        desc.push_str(&item);
    }
    json!({
        "username": "Lookout",
        "allowed_mentions": { "parse": [] },
        "embeds": [{
            "title": clip(&title(n, ctx), 256),
            "url": ctx.group_link(n),
            "description": desc,
            "color": discord_color(n),
            "timestamp": n.at.to_rfc3339(),
        }]
    })
}

fn alert_json(a: &Alert, ctx: &RenderContext) -> Value {
    json!({
        "status": if a.state == AlertState::Resolved { "resolved" } else { "firing" },
        "labels": a.labels,
        "annotations": a.annotations,
        "startsAt": a.starts_at.map(|t| t.to_rfc3339()),
        "endsAt": a.ends_at.map(|t| t.to_rfc3339()),
        "generatorURL": ctx.link(a),
        "fingerprint": format!("{}/{}", a.key.rule_id, a.key.fingerprint),
    })
}

/// Lookout's own webhook body.
pub fn webhook(n: &Notification, ctx: &RenderContext, idempotency_key: &str) -> Value {
    json!({
        "id": idempotency_key,
        "kind": n.kind.as_str(),
        "title": title(n, ctx),
        "rule": n.rule_name,
        "severity": n.severity,
        "project_id": n.project_id,
        "project": ctx.project(n),
        "url": ctx.group_link(n),
        "at": n.at.to_rfc3339(),
        "text": plain_text(n, ctx),
        "alerts": listed(n).into_iter().map(|a| alert_json(a, ctx)).collect::<Vec<_>>(),
    })
}

fn common(maps: Vec<&BTreeMap<String, String>>) -> BTreeMap<String, String> {
    let Some(first) = maps.first() else {
        return BTreeMap::new();
    };
    first
        .iter()
        .filter(|(k, v)| maps.iter().all(|m| m.get(*k) == Some(*v)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// An Alertmanager-compatible webhook body (version 4), for receivers
/// written for Alertmanager.
pub fn alertmanager(n: &Notification, ctx: &RenderContext, receiver: &str) -> Value {
    let alerts = listed(n);
    let labels: Vec<_> = alerts.iter().map(|a| &a.labels).collect();
    let annotations: Vec<_> = alerts.iter().map(|a| &a.annotations).collect();
    let mut group_labels = BTreeMap::new();
    for k in ["alertname", "project_id"] {
        if let Some(v) = alerts.first().and_then(|a| a.labels.get(k)) {
            group_labels.insert(k.to_string(), v.clone());
        }
    }
    json!({
        "version": "4",
        "groupKey": n.group,
        "truncatedAlerts": 0,
        "status": if n.firing.is_empty() { "resolved" } else { "firing" },
        "receiver": receiver,
        "groupLabels": group_labels,
        "commonLabels": common(labels),
        "commonAnnotations": common(annotations),
        "externalURL": ctx.public_url.trim_end_matches('/'),
        "alerts": alerts.into_iter().map(|a| alert_json(a, ctx)).collect::<Vec<_>>(),
    })
}

/// HMAC-SHA256 (RFC 2104) of `body` with `secret`, lowercase hex; sent as
/// `X-Lookout-Signature-256: sha256=<hex>`.
pub fn hmac_sha256_hex(secret: &[u8], body: &[u8]) -> String {
    const BLOCK: usize = 64;
    let mut key = [0u8; BLOCK];
    if secret.len() > BLOCK {
        key[..32].copy_from_slice(&Sha256::digest(secret));
    } else {
        key[..secret.len()].copy_from_slice(secret);
    }
    let mut inner = Sha256::new();
    inner.update(key.map(|b| b ^ 0x36));
    inner.update(body);
    let mut outer = Sha256::new();
    outer.update(key.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    hex::encode(outer.finalize())
}

#[cfg(test)]
#[path = "render_tests.rs"]
mod tests;
