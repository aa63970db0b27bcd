//! How a message changes after a press: the line that says who did what,
//! and the buttons that remain.

use super::*;

/// The line a press that did something appends to the message.
pub fn done_line(action: ButtonAction, by: &str, at: DateTime<Utc>) -> String {
    let when = at.format("%H:%M UTC");
    match action {
        ButtonAction::Acknowledge => format!("👀 Acknowledged by {by} at {when}"),
        ButtonAction::Resolve => format!("✅ Resolved by {by} at {when}"),
        ButtonAction::Silence1h => format!("🔕 Silenced for 1 h by {by} at {when}"),
    }
}

pub(super) fn is_done_line(line: &str) -> bool {
    [
        "👀 Acknowledged by ",
        "✅ Resolved by ",
        "🔕 Silenced for 1 h by ",
    ]
    .iter()
    .any(|p| line.starts_with(p))
}

/// The edited message: the notification as first rendered, the lines of
/// earlier presses (read back from the message's plain text) and the new
/// one, all escaped, within Telegram's 4,096 characters (the body gives
/// way to the title when it would not fit).
pub fn edited_text(original_html: &str, title: &str, current_plain: &str, line: &str) -> String {
    let mut lines: Vec<String> = current_plain
        .lines()
        .filter(|l| is_done_line(l))
        .map(render::escape_html)
        .collect();
    lines.push(render::escape_html(line));
    let tail = lines.join("\n");
    let full = format!("{}\n\n{tail}", original_html.trim_end());
    if full.encode_utf16().count() <= 4096 {
        return full;
    }
    let short = format!("<b>{}</b>\n\n{tail}", render::escape_html(title));
    if short.encode_utf16().count() <= 4096 {
        short
    } else {
        render::escape_html(&render::clip(line, 4000))
    }
}

/// The keyboard after a press: the pressed button goes (all of them after
/// "Resolve"). `None` when nothing is left.
pub fn reduced_keyboard(markup: Option<&Value>, action: ButtonAction) -> Option<Value> {
    if action == ButtonAction::Resolve {
        return None;
    }
    let prefix = format!("{}:", action.code());
    let rows = markup?.get("inline_keyboard")?.as_array()?;
    let kept: Vec<Value> = rows
        .iter()
        .filter_map(|row| {
            let buttons: Vec<Value> = row
                .as_array()?
                .iter()
                .filter(|b| {
                    !b["callback_data"]
                        .as_str()
                        .is_some_and(|d| d.starts_with(&prefix))
                })
                .cloned()
                .collect();
            (!buttons.is_empty()).then_some(Value::Array(buttons))
        })
        .collect();
    (!kept.is_empty()).then(|| json!({ "inline_keyboard": kept }))
}
