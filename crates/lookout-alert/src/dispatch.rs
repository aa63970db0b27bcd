//! Grouping and timing, with Alertmanager's semantics: alerts are grouped
//! per route, rule and project; a new group waits `group_wait` before its
//! first notification (so a burst becomes one message); after that the
//! group is looked at every `group_interval` and notified when alerts were
//! added (or resolved, with `send_resolved`); while unacknowledged alerts
//! keep firing, a reminder goes out every `repeat_interval`. Silenced and
//! inhibited alerts are left out. Escalation sends an unacknowledged alert
//! once more to the next line after its delay.

use crate::engine::{Alert, AlertKey, AlertState};
use crate::model::Severity;
use crate::route::{Route, RoutedTo};
use crate::silence::{InhibitRule, Silence};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Why a notification is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NotificationKind {
    /// New alerts fire in the group (the first message, or an update).
    Firing,
    /// Nothing changed, alerts still fire unacknowledged.
    Reminder,
    /// Every alert of the group resolved.
    Resolved,
    /// Nobody acknowledged a critical alert: the next line hears of it.
    Escalation,
}

impl NotificationKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationKind::Firing => "firing",
            NotificationKind::Reminder => "reminder",
            NotificationKind::Resolved => "resolved",
            NotificationKind::Escalation => "escalation",
        }
    }
}

/// One message to send, to each of `receivers`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// The group: `route/rule/project`.
    pub group: String,
    /// Unique per group and message; with the receiver it makes the
    /// outbox's idempotency key.
    pub id: String,
    /// Why.
    pub kind: NotificationKind,
    /// Channel names.
    pub receivers: Vec<String>,
    /// Alerts firing (acknowledged ones included, marked).
    pub firing: Vec<Alert>,
    /// Alerts that resolved since the last message.
    pub resolved: Vec<Alert>,
    /// The highest severity among them.
    pub severity: Severity,
    /// The rule's name.
    pub rule_name: String,
    /// The project, when the rule's alerts have one.
    pub project_id: Option<i64>,
    /// When it was decided.
    pub at: DateTime<Utc>,
}

impl Notification {
    /// The outbox's idempotency key for one receiver.
    pub fn idempotency_key(&self, receiver: &str) -> String {
        format!("{}/{}", self.id, receiver)
    }
}

#[derive(Debug)]
struct Group {
    route: RoutedTo,
    project_id: Option<i64>,
    created: DateTime<Utc>,
    next_flush: DateTime<Utc>,
    last_sent: Option<DateTime<Utc>>,
    sent_firing: BTreeSet<AlertKey>,
    escalated: BTreeSet<AlertKey>,
    alerts: BTreeMap<AlertKey, Alert>,
    seq: u64,
}

/// Groups alerts and decides when to notify. Owned by the [`crate::Engine`].
#[derive(Debug)]
pub struct Dispatcher {
    routes: Route,
    groups: BTreeMap<String, Group>,
}

impl Dispatcher {
    /// A dispatcher over a routing tree.
    pub fn new(routes: Route) -> Self {
        Dispatcher {
            routes,
            groups: BTreeMap::new(),
        }
    }

    pub(crate) fn set_routes(&mut self, routes: Route) {
        self.routes = routes;
    }

    /// After a restart: treats `alerts` (firing, loaded from storage) as
    /// already notified at `now`, so that a restart does not repeat the
    /// first message; reminders resume one `repeat_interval` later.
    pub(crate) fn seed<'a>(&mut self, now: DateTime<Utc>, alerts: impl Iterator<Item = &'a Alert>) {
        for a in alerts.filter(|a| a.state == AlertState::Firing) {
            for route in self.routes.route(&a.labels) {
                let g = self.group_for(a, route, now);
                g.sent_firing.insert(a.key.clone());
                g.last_sent = Some(now);
                g.next_flush = now + g.route.settings.group_interval;
                g.alerts.insert(a.key.clone(), a.clone());
            }
        }
    }

    fn group_for(&mut self, a: &Alert, route: RoutedTo, now: DateTime<Utc>) -> &mut Group {
        let project_id = a.subject.project_id();
        let key = format!(
            "{}/{}/{}",
            route.path,
            a.key.rule_id,
            project_id
                .map(|p| p.to_string())
                .unwrap_or_else(|| "-".into())
        );
        self.groups.entry(key).or_insert_with(|| Group {
            next_flush: now + route.settings.group_wait,
            route,
            project_id,
            created: now,
            last_sent: None,
            sent_firing: BTreeSet::new(),
            escalated: BTreeSet::new(),
            alerts: BTreeMap::new(),
            seq: 0,
        })
    }

    /// Takes the current alerts and returns the notifications due at `now`.
    pub fn tick<'a>(
        &mut self,
        now: DateTime<Utc>,
        alerts: impl Iterator<Item = &'a Alert> + Clone,
        silences: &[Silence],
        inhibit: &[InhibitRule],
    ) -> Vec<Notification> {
        let firing_labels: Vec<&crate::model::Labels> = alerts
            .clone()
            .filter(|a| a.state == AlertState::Firing)
            .map(|a| &a.labels)
            .collect();
        let mut muted = BTreeSet::new();
        for a in alerts.clone() {
            let silenced = silences.iter().any(|s| s.mutes(&a.labels, now));
            let inhibited = a.state == AlertState::Firing
                && inhibit.iter().any(|r| {
                    r.inhibits(
                        &a.labels,
                        firing_labels.iter().copied().filter(|l| *l != &a.labels),
                    )
                });
            if silenced || inhibited {
                muted.insert(a.key.clone());
            }
        }
        // Muted alerts leave their groups quietly (no "resolved" for them).
        for g in self.groups.values_mut() {
            g.alerts.retain(|k, _| !muted.contains(k));
            g.sent_firing.retain(|k| !muted.contains(k));
        }
        for a in alerts {
            if a.state == AlertState::Pending || muted.contains(&a.key) {
                continue;
            }
            for route in self.routes.route(&a.labels) {
                let g = self.group_for(a, route, now);
                // A resolved alert nobody heard of firing needs no message.
                if a.state == AlertState::Resolved && !g.sent_firing.contains(&a.key) {
                    g.alerts.remove(&a.key);
                    continue;
                }
                g.alerts.insert(a.key.clone(), a.clone());
            }
        }
        let mut out = Vec::new();
        for (gkey, g) in self.groups.iter_mut() {
            if let Some(n) = escalate(gkey, g, now) {
                out.push(n);
            }
            if now >= g.next_flush {
                if let Some(n) = flush(gkey, g, now) {
                    out.push(n);
                }
                g.next_flush = now + g.route.settings.group_interval;
            }
        }
        self.groups.retain(|_, g| !g.alerts.is_empty());
        out
    }
}

fn notification(
    gkey: &str,
    g: &mut Group,
    kind: NotificationKind,
    receivers: Vec<String>,
    firing: Vec<Alert>,
    resolved: Vec<Alert>,
    now: DateTime<Utc>,
) -> Notification {
    g.seq += 1;
    let severity = firing
        .iter()
        .chain(&resolved)
        .map(|a| a.severity)
        .max()
        .unwrap_or(Severity::Low);
    let rule_name = firing
        .iter()
        .chain(&resolved)
        .map(|a| a.rule_name.clone())
        .next()
        .unwrap_or_default();
    // A failing channel's own alert never goes to that channel.
    let failing: BTreeSet<&str> = firing
        .iter()
        .chain(&resolved)
        .filter(|a| a.labels.get("kind").is_some_and(|k| k == "channel_failing"))
        .filter_map(|a| a.labels.get("channel").map(String::as_str))
        .collect();
    let mut receivers: Vec<String> = receivers
        .into_iter()
        .filter(|r| !failing.contains(r.as_str()))
        .collect();
    if receivers.is_empty() {
        receivers.push("log".into());
    }
    Notification {
        group: gkey.to_string(),
        id: format!(
            "{gkey}@{}#{}{}",
            g.created.timestamp_millis(),
            g.seq,
            if kind == NotificationKind::Escalation {
                "e"
            } else {
                ""
            }
        ),
        kind,
        receivers,
        firing,
        resolved,
        severity,
        rule_name,
        project_id: g.project_id,
        at: now,
    }
}

fn flush(gkey: &str, g: &mut Group, now: DateTime<Utc>) -> Option<Notification> {
    let s = g.route.settings;
    let firing: Vec<Alert> = g
        .alerts
        .values()
        .filter(|a| a.state == AlertState::Firing)
        .cloned()
        .collect();
    let resolved: Vec<Alert> = g
        .alerts
        .values()
        .filter(|a| a.state == AlertState::Resolved && g.sent_firing.contains(&a.key))
        .cloned()
        .collect();
    let added = firing.iter().any(|a| !g.sent_firing.contains(&a.key));
    let resolved_news = s.send_resolved && !resolved.is_empty();
    let reminder = g.last_sent.is_some_and(|t| now - t >= s.repeat_interval)
        && firing.iter().any(Alert::needs_attention);
    // Resolved alerts leave the group whatever happens.
    let gone: Vec<AlertKey> = resolved.iter().map(|a| a.key.clone()).collect();
    g.alerts.retain(|_, a| a.state != AlertState::Resolved);
    for k in &gone {
        g.sent_firing.remove(k);
        g.escalated.remove(k);
    }
    let kind = if added || (resolved_news && !firing.is_empty()) {
        NotificationKind::Firing
    } else if resolved_news {
        NotificationKind::Resolved
    } else if reminder {
        NotificationKind::Reminder
    } else {
        return None;
    };
    g.last_sent = Some(now);
    g.sent_firing = firing.iter().map(|a| a.key.clone()).collect();
    let resolved = if s.send_resolved {
        resolved
    } else {
        Vec::new()
    };
    let receivers = g.route.receivers.clone();
    Some(notification(
        gkey, g, kind, receivers, firing, resolved, now,
    ))
}

fn escalate(gkey: &str, g: &mut Group, now: DateTime<Utc>) -> Option<Notification> {
    let esc = g.route.escalation.clone()?;
    let due: Vec<Alert> = g
        .alerts
        .values()
        .filter(|a| {
            a.needs_attention()
                && esc.severities.contains(&a.severity)
                && !g.escalated.contains(&a.key)
                && a.starts_at.is_some_and(|t| now - t >= esc.after)
        })
        .cloned()
        .collect();
    if due.is_empty() {
        return None;
    }
    g.escalated.extend(due.iter().map(|a| a.key.clone()));
    Some(notification(
        gkey,
        g,
        NotificationKind::Escalation,
        esc.receivers,
        due,
        Vec::new(),
        now,
    ))
}
