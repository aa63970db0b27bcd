//! Silences, maintenance windows and inhibition: the ways an alert keeps
//! firing (and stays visible) without notifying anyone.

use crate::model::{Labels, Matcher, matches_all};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A silence or a maintenance window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SilenceKind {
    /// Made by a person for some alerts.
    #[default]
    Silence,
    /// Planned work on a project or monitor.
    Maintenance,
}

/// Mutes the alerts whose labels match every matcher, between `starts_at`
/// and `ends_at`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Silence {
    /// Id.
    pub id: i64,
    /// Silence or maintenance window.
    #[serde(default)]
    pub kind: SilenceKind,
    /// All must match; never empty.
    pub matchers: Vec<Matcher>,
    /// From.
    pub starts_at: DateTime<Utc>,
    /// Until (exclusive).
    pub ends_at: DateTime<Utc>,
    /// Who made it.
    pub created_by: String,
    /// Why.
    #[serde(default)]
    pub comment: String,
}

impl Silence {
    /// A maintenance window for a project, or one monitor of it.
    pub fn maintenance(
        id: i64,
        project_id: i64,
        monitor_id: Option<i64>,
        starts_at: DateTime<Utc>,
        ends_at: DateTime<Utc>,
        created_by: &str,
        comment: &str,
    ) -> Silence {
        let mut matchers = vec![Matcher::eq("project_id", &project_id.to_string())];
        if let Some(m) = monitor_id {
            matchers.push(Matcher::eq("monitor_id", &m.to_string()));
        }
        Silence {
            id,
            kind: SilenceKind::Maintenance,
            matchers,
            starts_at,
            ends_at,
            created_by: created_by.into(),
            comment: comment.into(),
        }
    }

    /// Refuses silences that would mute everything or never act.
    pub fn validate(&self) -> Result<(), String> {
        if self.matchers.is_empty() {
            return Err("a silence needs at least one matcher".into());
        }
        if self.ends_at <= self.starts_at {
            return Err("a silence must end after it starts".into());
        }
        Ok(())
    }

    /// Whether it is in force at `now`.
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.starts_at <= now && now < self.ends_at
    }

    /// Whether it mutes an alert with `labels` at `now`.
    pub fn mutes(&self, labels: &Labels, now: DateTime<Utc>) -> bool {
        self.is_active(now) && !self.matchers.is_empty() && matches_all(&self.matchers, labels)
    }
}

/// While an alert matching `source` fires, alerts matching `target` that
/// share the values of the `equal` labels are muted (e.g. "monitor down"
/// inhibits the error-frequency alerts of the same project).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InhibitRule {
    /// Matchers of the inhibiting alert.
    pub source: Vec<Matcher>,
    /// Matchers of the inhibited alerts.
    pub target: Vec<Matcher>,
    /// Labels that must be equal on both.
    #[serde(default)]
    pub equal: Vec<String>,
}

impl InhibitRule {
    /// Whether `target` is inhibited by one of `firing` (never by itself).
    pub fn inhibits<'a>(
        &self,
        target: &Labels,
        mut firing: impl Iterator<Item = &'a Labels>,
    ) -> bool {
        if !matches_all(&self.target, target) {
            return false;
        }
        firing.any(|src| {
            !std::ptr::eq(src, target)
                && matches_all(&self.source, src)
                && self.equal.iter().all(|l| src.get(l) == target.get(l))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn silences_act_only_in_their_window() {
        let t0 = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let s = Silence {
            id: 1,
            kind: SilenceKind::Silence,
            matchers: vec!["alertname=Errors".parse().unwrap()],
            starts_at: t0,
            ends_at: t0 + Duration::hours(1),
            created_by: "ann@example.com".into(),
            comment: "deploying".into(),
        };
        s.validate().unwrap();
        let l = labels(&[("alertname", "Errors")]);
        assert!(!s.mutes(&l, t0 - Duration::seconds(1)));
        assert!(s.mutes(&l, t0));
        assert!(!s.mutes(&l, t0 + Duration::hours(1)));
        assert!(!s.mutes(&labels(&[("alertname", "Other")]), t0));
    }

    #[test]
    fn maintenance_mutes_a_project_or_one_monitor() {
        let t0 = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let w = Silence::maintenance(2, 7, Some(3), t0, t0 + Duration::hours(2), "ops", "db");
        assert!(w.mutes(&labels(&[("project_id", "7"), ("monitor_id", "3")]), t0));
        assert!(!w.mutes(&labels(&[("project_id", "7"), ("monitor_id", "4")]), t0));
        let whole = Silence::maintenance(3, 7, None, t0, t0 + Duration::hours(2), "ops", "");
        assert!(whole.mutes(&labels(&[("project_id", "7"), ("issue_id", "1")]), t0));
    }

    #[test]
    fn empty_or_backwards_silences_are_refused() {
        let t0 = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let mut s = Silence::maintenance(1, 1, None, t0, t0, "x", "");
        assert!(s.validate().is_err());
        s.ends_at = t0 + Duration::minutes(1);
        s.matchers.clear();
        assert!(s.validate().is_err());
        assert!(!s.mutes(&Labels::new(), t0));
    }

    #[test]
    fn inhibition_needs_equal_labels() {
        let rule = InhibitRule {
            source: vec!["alertname=MonitorDown".parse().unwrap()],
            target: vec!["severity=~high|medium".parse().unwrap()],
            equal: vec!["project_id".into()],
        };
        let down = labels(&[("alertname", "MonitorDown"), ("project_id", "1")]);
        let errs1 = labels(&[("severity", "high"), ("project_id", "1")]);
        let errs2 = labels(&[("severity", "high"), ("project_id", "2")]);
        assert!(rule.inhibits(&errs1, [&down].into_iter()));
        assert!(!rule.inhibits(&errs2, [&down].into_iter()));
        assert!(!rule.inhibits(&errs1, std::iter::empty()));
    }
}
