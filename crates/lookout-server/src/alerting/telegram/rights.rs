//! Who may press which button, and what a silence from Telegram matches.

use super::*;

/// Why a press is refused before anything is done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The user may not see (all of) the alerts.
    Unseen,
    /// The user sees them but may not do this; the text says why.
    Forbidden(String),
}

impl Refusal {
    /// The answer shown to the presser.
    pub fn text(&self) -> String {
        match self {
            Refusal::Unseen => "You may not see this alert".into(),
            Refusal::Forbidden(s) => s.clone(),
        }
    }
}

/// Whether a user with these rights may press `action` on alerts about
/// `subjects`. `role` is the user's role in a project (`None`: they may
/// not see it; administrators are `Admin` everywhere). The rules are the
/// UI's: members act on their projects' alerts, administrators on all,
/// install alerts (backups, channels) are administrators' only; resolving
/// needs at least one issue alert.
pub fn authorize(
    action: ButtonAction,
    subjects: &[Subject],
    is_admin: bool,
    role: &dyn Fn(i64) -> Option<Role>,
) -> Result<(), Refusal> {
    if action == ButtonAction::Resolve
        && !subjects.iter().any(|s| matches!(s, Subject::Issue { .. }))
    {
        return Err(Refusal::Forbidden(
            "Nothing to resolve: these alerts are not about issues".into(),
        ));
    }
    for s in subjects {
        if action == ButtonAction::Resolve && !matches!(s, Subject::Issue { .. }) {
            continue;
        }
        match s.project_id() {
            None if is_admin => {}
            None => {
                return Err(Refusal::Forbidden(
                    "Only administrators may act on install alerts".into(),
                ));
            }
            Some(p) => match role(p) {
                None => return Err(Refusal::Unseen),
                Some(r) if r >= Role::Member => {}
                Some(r) => {
                    return Err(Refusal::Forbidden(match action {
                        ButtonAction::Resolve => {
                            format!("You may not resolve this issue (you are a {})", r.as_str())
                        }
                        ButtonAction::Acknowledge => {
                            format!(
                                "You may not acknowledge this alert (you are a {})",
                                r.as_str()
                            )
                        }
                        ButtonAction::Silence1h => {
                            format!("You may not silence this alert (you are a {})", r.as_str())
                        }
                    }));
                }
            },
        }
    }
    Ok(())
}

/// The matchers of the silence "Silence 1 h" makes for one alert: its
/// rule's name and whichever of its project, issue, monitor and channel
/// labels it has.
pub fn silence_matchers(a: &Alert) -> Vec<String> {
    let mut out = Vec::new();
    let name = a
        .labels
        .get("alertname")
        .cloned()
        .unwrap_or_else(|| a.rule_name.clone());
    for (k, v) in std::iter::once(("alertname", name)).chain(
        ["project_id", "issue_id", "monitor_id", "channel"]
            .into_iter()
            .filter_map(|k| a.labels.get(k).map(|v| (k, v.clone()))),
    ) {
        if let Ok(m) = Matcher::new(k, MatchOp::Eq, &v) {
            out.push(m.to_string());
        }
    }
    out
}
