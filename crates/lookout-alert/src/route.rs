//! The routing tree, as in Alertmanager: a route matches on labels
//! (severity, project, anything); its children are tried in order and the
//! first that matches takes the alert unless it says `continue = true`;
//! when no child matches, the route itself does. Settings (timings,
//! `send_resolved`) are inherited down the tree.

use crate::duration::{serde_dur, serde_opt_dur};
use crate::model::{Labels, Matcher, Severity, matches_all};
use chrono::Duration;
use serde::{Deserialize, Serialize};

/// One node of the routing tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Route {
    /// A name for the UI and logs (optional).
    pub name: String,
    /// All must match (ignored on the root, which takes everything).
    pub matchers: Vec<Matcher>,
    /// Channel names that get the notifications (`log` is built in).
    pub receivers: Vec<String>,
    /// Whether later siblings are still tried after this one matched.
    #[serde(rename = "continue")]
    pub continue_matching: bool,
    /// Wait this long before the first notification of a new group.
    #[serde(with = "serde_opt_dur", skip_serializing_if = "Option::is_none")]
    pub group_wait: Option<Duration>,
    /// Wait this long between notifications about a changed group.
    #[serde(with = "serde_opt_dur", skip_serializing_if = "Option::is_none")]
    pub group_interval: Option<Duration>,
    /// Remind this often while unacknowledged alerts keep firing.
    #[serde(with = "serde_opt_dur", skip_serializing_if = "Option::is_none")]
    pub repeat_interval: Option<Duration>,
    /// Whether to notify when the alerts resolve.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub send_resolved: Option<bool>,
    /// Where unacknowledged alerts go after a while.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub escalation: Option<Escalation>,
    /// Child routes, tried in order.
    pub routes: Vec<Route>,
}

/// Escalation: an alert of one of `severities` that nobody acknowledged
/// within `after` of firing is sent once more, to `receivers`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Escalation {
    /// How long nobody reacted.
    #[serde(with = "serde_dur")]
    pub after: Duration,
    /// The channels of the next line.
    pub receivers: Vec<String>,
    /// Which severities escalate (default: critical).
    #[serde(default = "critical_only")]
    pub severities: Vec<Severity>,
}

fn critical_only() -> Vec<Severity> {
    vec![Severity::Critical]
}

/// The timing of a route after inheritance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteSettings {
    /// Alertmanager's default: 30 s.
    pub group_wait: Duration,
    /// Alertmanager's default: 5 min.
    pub group_interval: Duration,
    /// Alertmanager's default: 4 h.
    pub repeat_interval: Duration,
    /// Default: true.
    pub send_resolved: bool,
}

impl Default for RouteSettings {
    fn default() -> Self {
        RouteSettings {
            group_wait: Duration::seconds(30),
            group_interval: Duration::minutes(5),
            repeat_interval: Duration::hours(4),
            send_resolved: true,
        }
    }
}

/// Where an alert goes: one matched route with its inherited settings.
#[derive(Debug, Clone, PartialEq)]
pub struct RoutedTo {
    /// The route's position, e.g. `0.1` (root `0`, its second child);
    /// part of the group key.
    pub path: String,
    /// The route's name.
    pub name: String,
    /// Its channels.
    pub receivers: Vec<String>,
    /// Its timings.
    pub settings: RouteSettings,
    /// Its escalation, if any.
    pub escalation: Option<Escalation>,
}

impl Route {
    /// The default tree, from the users' practice: critical → Telegram and
    /// e-mail, high → Telegram, medium and low → the log only.
    pub fn default_tree() -> Route {
        Route {
            name: "default".into(),
            receivers: vec!["log".into()],
            routes: vec![
                Route {
                    name: "critical".into(),
                    matchers: vec![Matcher::eq("severity", "critical")],
                    receivers: vec!["telegram".into(), "email".into()],
                    ..Route::default()
                },
                Route {
                    name: "high".into(),
                    matchers: vec![Matcher::eq("severity", "high")],
                    receivers: vec!["telegram".into()],
                    ..Route::default()
                },
            ],
            ..Route::default()
        }
    }

    /// Every receiver named anywhere in the tree (to check against the
    /// configured channels).
    pub fn receivers_named(&self) -> Vec<String> {
        let mut out = self.receivers.clone();
        if let Some(e) = &self.escalation {
            out.extend(e.receivers.iter().cloned());
        }
        for r in &self.routes {
            out.extend(r.receivers_named());
        }
        out.sort();
        out.dedup();
        out
    }

    /// The routes an alert with `labels` goes to (at least one: the root).
    pub fn route(&self, labels: &Labels) -> Vec<RoutedTo> {
        let mut out = Vec::new();
        let base = self.apply(RouteSettings::default());
        self.walk(labels, "0".into(), base, self.escalation.clone(), &mut out);
        if out.is_empty() {
            out.push(self.routed("0".into(), base, self.escalation.clone()));
        }
        out
    }

    fn apply(&self, mut s: RouteSettings) -> RouteSettings {
        if let Some(v) = self.group_wait {
            s.group_wait = v;
        }
        if let Some(v) = self.group_interval {
            s.group_interval = v;
        }
        if let Some(v) = self.repeat_interval {
            s.repeat_interval = v;
        }
        if let Some(v) = self.send_resolved {
            s.send_resolved = v;
        }
        s
    }

    fn routed(&self, path: String, settings: RouteSettings, esc: Option<Escalation>) -> RoutedTo {
        RoutedTo {
            path,
            name: self.name.clone(),
            receivers: self.receivers.clone(),
            settings,
            escalation: esc,
        }
    }

    /// Depth first; returns whether this node (or a descendant) matched.
    fn walk(
        &self,
        labels: &Labels,
        path: String,
        settings: RouteSettings,
        esc: Option<Escalation>,
        out: &mut Vec<RoutedTo>,
    ) -> bool {
        let mut matched_child = false;
        for (i, child) in self.routes.iter().enumerate() {
            if !matches_all(&child.matchers, labels) {
                continue;
            }
            let child_settings = child.apply(settings);
            let child_esc = child.escalation.clone().or_else(|| esc.clone());
            let child_path = format!("{path}.{i}");
            if !child.walk(
                labels,
                child_path.clone(),
                child_settings,
                child_esc.clone(),
                out,
            ) {
                out.push(child.routed(child_path, child_settings, child_esc));
            }
            matched_child = true;
            if !child.continue_matching {
                break;
            }
        }
        matched_child
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn receivers(r: &Route, l: &[(&str, &str)]) -> Vec<Vec<String>> {
        r.route(&labels(l))
            .into_iter()
            .map(|t| t.receivers)
            .collect()
    }

    #[test]
    fn default_tree_follows_the_seeds() {
        let r = Route::default_tree();
        assert_eq!(
            receivers(&r, &[("severity", "critical")]),
            vec![vec!["telegram", "email"]]
        );
        assert_eq!(
            receivers(&r, &[("severity", "high")]),
            vec![vec!["telegram"]]
        );
        assert_eq!(receivers(&r, &[("severity", "medium")]), vec![vec!["log"]]);
        assert_eq!(receivers(&r, &[("severity", "low")]), vec![vec!["log"]]);
        assert_eq!(r.receivers_named(), vec!["email", "log", "telegram"]);
    }

    #[test]
    fn continue_sends_to_several_routes_and_settings_inherit() {
        let r: Route = toml::from_str(
            r#"
            receivers = ["log"]
            group_wait = "10s"
            [[routes]]
            matchers = ["project_id=1"]
            receivers = ["slack-shop"]
            continue = true
            repeat_interval = "1h"
            [[routes.routes]]
            matchers = ["severity=critical"]
            receivers = ["pager"]
            [[routes]]
            matchers = ['severity=~"critical|high"']
            receivers = ["telegram"]
            [[routes]]
            matchers = ["severity=low"]
            receivers = ["never-because-previous-did-not-continue"]
            "#,
        )
        .unwrap();
        let to = r.route(&labels(&[("project_id", "1"), ("severity", "critical")]));
        let names: Vec<_> = to.iter().map(|t| t.receivers.clone()).collect();
        assert_eq!(names, vec![vec!["pager"], vec!["telegram"]]);
        assert_eq!(to[0].path, "0.0.0");
        assert_eq!(to[0].settings.group_wait, Duration::seconds(10));
        assert_eq!(to[0].settings.repeat_interval, Duration::hours(1));
        assert_eq!(to[1].settings.repeat_interval, Duration::hours(4));
        // A child that does not match leaves its parent to take the alert.
        let to = r.route(&labels(&[("project_id", "1"), ("severity", "medium")]));
        let names: Vec<_> = to.iter().map(|t| t.receivers.clone()).collect();
        assert_eq!(names, vec![vec!["slack-shop"]]);
        // Nothing matches: the root.
        let to = r.route(&labels(&[("project_id", "2"), ("severity", "medium")]));
        assert_eq!(to[0].receivers, vec!["log"]);
        assert_eq!(to[0].path, "0");
    }

    #[test]
    fn unknown_route_keys_are_refused() {
        assert!(toml::from_str::<Route>("recievers = [\"x\"]").is_err());
    }
}
