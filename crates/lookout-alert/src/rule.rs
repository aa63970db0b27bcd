//! Rules: a condition over a signal, a scope, a for-duration, a severity,
//! labels and annotations. Each condition kind is one [`Condition`]
//! variant; adding a kind (metrics, logs, latency) means one variant here,
//! one arm in [`Condition::observe`] and, for a state kind, one arm in
//! [`Condition::evaluate_window`] or a new [`Signal`].

use crate::duration::{serde_dur, serde_opt_dur};
use crate::model::{Labels, Matcher, Severity};
use crate::signal::{IssueSignal, MonitorCause, MonitorState, Signal};
use crate::window::BucketCounter;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// An alert rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Id (storage's row id; rules from `lookout.toml` get theirs when
    /// they are synchronised into storage).
    #[serde(default)]
    pub id: i64,
    /// Name, shown in every message; the `alertname` label.
    pub name: String,
    /// Disabled rules are kept but never evaluated.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// What to watch.
    pub condition: Condition,
    /// Which events count.
    #[serde(default)]
    pub scope: Scope,
    /// How long a state condition must hold before the alert fires
    /// (pending until then). Ignored by trigger conditions.
    #[serde(default = "zero", rename = "for", with = "serde_dur")]
    pub for_duration: Duration,
    /// Trigger alerts (new issue, regression, backup failed…) resolve by
    /// themselves after this long without a new matching event; `None`
    /// keeps them firing until resolved by hand (or by their issue).
    #[serde(
        default = "default_resolve_after",
        with = "serde_opt_dur",
        skip_serializing_if = "Option::is_none"
    )]
    pub resolve_after: Option<Duration>,
    /// How urgent.
    pub severity: Severity,
    /// Extra labels, for routing and silences.
    #[serde(default)]
    pub labels: Labels,
    /// Extra annotations (`summary`, `runbook_url`…), carried in messages.
    #[serde(default)]
    pub annotations: Labels,
}

fn yes() -> bool {
    true
}
fn zero() -> Duration {
    Duration::zero()
}
fn default_resolve_after() -> Option<Duration> {
    Some(Duration::hours(24))
}

impl Rule {
    /// A rule with default scope, no for-duration and no extra labels.
    pub fn new(id: i64, name: &str, condition: Condition, severity: Severity) -> Rule {
        Rule {
            id,
            name: name.into(),
            enabled: true,
            condition,
            scope: Scope::default(),
            for_duration: Duration::zero(),
            resolve_after: default_resolve_after(),
            severity,
            labels: Labels::new(),
            annotations: Labels::new(),
        }
    }

    /// Checks what serde cannot: positive windows and thresholds.
    pub fn validate(&self) -> Result<(), String> {
        if self.name.trim().is_empty() {
            return Err("a rule needs a name".into());
        }
        if self.for_duration < Duration::zero() {
            return Err("`for` must not be negative".into());
        }
        match &self.condition {
            Condition::IssueFrequency { window, .. } if *window <= Duration::zero() => {
                Err("`window` must be positive".into())
            }
            Condition::ErrorRateSpike {
                window,
                baseline,
                factor,
                ..
            } => {
                if *window <= Duration::zero() || *baseline <= *window {
                    Err("a spike needs a positive `window` and a longer `baseline`".into())
                } else if factor.is_nan() || *factor <= 1.0 {
                    Err("`factor` must be greater than 1".into())
                } else {
                    Ok(())
                }
            }
            Condition::NewIssueAfterRelease { within } if *within <= Duration::zero() => {
                Err("`within` must be positive".into())
            }
            _ => Ok(()),
        }
    }
}

/// Whether a frequency counts per project or per issue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum FrequencyPer {
    /// All matching events of a project together.
    #[default]
    Project,
    /// Each issue on its own.
    Issue,
}

/// What a rule watches. Serialised with a `kind` tag, e.g.
/// `{ kind = "issue_frequency", threshold = 10, window = "5m" }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Condition {
    /// An event created a new issue.
    NewIssue,
    /// A resolved issue came back.
    Regression,
    /// More than `threshold` events in `window`.
    IssueFrequency {
        /// Fires when the count is greater than this.
        threshold: u64,
        /// How far back to count.
        #[serde(with = "serde_dur")]
        window: Duration,
        /// Per project or per issue.
        #[serde(default)]
        per: FrequencyPer,
    },
    /// The project's error rate over `window` is more than `factor` times
    /// its rate over the `baseline` before it.
    ErrorRateSpike {
        /// The recent window.
        #[serde(with = "serde_dur")]
        window: Duration,
        /// The baseline that precedes it.
        #[serde(with = "serde_dur")]
        baseline: Duration,
        /// How many times the baseline rate counts as a spike.
        factor: f64,
        /// Fewer events than this in `window` never count as a spike.
        #[serde(default = "default_min_events")]
        min_events: u64,
    },
    /// A new issue appeared within `within` after a release or deploy.
    NewIssueAfterRelease {
        /// How long after the release.
        #[serde(with = "serde_dur")]
        within: Duration,
    },
    /// A monitor went down.
    MonitorDown,
    /// A monitor is degraded.
    MonitorDegraded,
    /// A monitor recovered (a one-off notice).
    MonitorRecovered,
    /// A heartbeat (cron check-in) did not arrive.
    HeartbeatMissed,
    /// A TLS certificate expires within `days`.
    TlsExpiring {
        /// Days left at most.
        days: i64,
    },
    /// A backup failed (the `backup.failed` system event); resolves on the
    /// next `backup.succeeded`.
    BackupFailed,
    /// The store is damaged (`integrity.failed`, from the periodic or
    /// start-up integrity check); resolves on `integrity.ok`.
    StorageDamaged,
    /// The data dir's free space fell under the disk guard's watermark
    /// (`disk.low`: ingest answers 507); resolves on `disk.ok`.
    DiskLow,
    /// A notification channel keeps failing. Lookout adds this rule itself;
    /// its alerts are never routed to the failing channel.
    ChannelFailing,
}

fn default_min_events() -> u64 {
    10
}

/// How a condition behaves over time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConditionClass {
    /// One event fires the alert at once.
    Trigger,
    /// Re-evaluated on every tick over a sliding window.
    Windowed,
    /// True or false until the next signal says otherwise.
    State,
}

impl Condition {
    /// The kind's name (the `kind` tag).
    pub fn kind(&self) -> &'static str {
        match self {
            Condition::NewIssue => "new_issue",
            Condition::Regression => "regression",
            Condition::IssueFrequency { .. } => "issue_frequency",
            Condition::ErrorRateSpike { .. } => "error_rate_spike",
            Condition::NewIssueAfterRelease { .. } => "new_issue_after_release",
            Condition::MonitorDown => "monitor_down",
            Condition::MonitorDegraded => "monitor_degraded",
            Condition::MonitorRecovered => "monitor_recovered",
            Condition::HeartbeatMissed => "heartbeat_missed",
            Condition::TlsExpiring { .. } => "tls_expiring",
            Condition::BackupFailed => "backup_failed",
            Condition::StorageDamaged => "storage_damaged",
            Condition::DiskLow => "disk_low",
            Condition::ChannelFailing => "channel_failing",
        }
    }

    /// How it behaves over time.
    pub fn class(&self) -> ConditionClass {
        match self {
            Condition::NewIssue
            | Condition::Regression
            | Condition::NewIssueAfterRelease { .. }
            | Condition::MonitorRecovered
            | Condition::BackupFailed => ConditionClass::Trigger,
            Condition::IssueFrequency { .. } | Condition::ErrorRateSpike { .. } => {
                ConditionClass::Windowed
            }
            Condition::MonitorDown
            | Condition::MonitorDegraded
            | Condition::HeartbeatMissed
            | Condition::TlsExpiring { .. }
            | Condition::StorageDamaged
            | Condition::DiskLow
            | Condition::ChannelFailing => ConditionClass::State,
        }
    }

    /// For a windowed condition: the key of the counter a signal counts
    /// under, when the scope admits it. Cheap (no labels are built), so
    /// that counting an event for a key already counted costs a lookup.
    pub(crate) fn count_key(&self, scope: &Scope, signal: &Signal) -> Option<String> {
        match (self, signal) {
            (Condition::IssueFrequency { per, .. }, Signal::Issue(s)) if scope.admits_issue(s) => {
                Some(issue_fingerprint(
                    s.project_id,
                    (*per == FrequencyPer::Issue).then_some(s.issue_id),
                ))
            }
            (Condition::ErrorRateSpike { .. }, Signal::Issue(s)) if scope.admits_issue(s) => {
                Some(issue_fingerprint(s.project_id, None))
            }
            _ => None,
        }
    }

    /// What one signal means for this condition, given the rule's scope.
    pub(crate) fn observe(
        &self,
        scope: &Scope,
        signal: &Signal,
        releases: &ReleaseLog,
    ) -> Option<Observation> {
        match (self, signal) {
            (Condition::NewIssue, Signal::Issue(s)) if s.new_issue && scope.admits_issue(s) => {
                Some(Observation::Fire(issue_spec(s, true)))
            }
            (Condition::Regression, Signal::Issue(s)) if s.regression && scope.admits_issue(s) => {
                Some(Observation::Fire(issue_spec(s, true)))
            }
            (Condition::NewIssueAfterRelease { within }, Signal::Issue(s))
                if s.new_issue && scope.admits_issue(s) =>
            {
                let (version, at) =
                    releases.latest(s.project_id, s.environment.as_deref(), s.at)?;
                if s.at - at > *within {
                    return None;
                }
                let mut spec = issue_spec(s, true);
                spec.labels.insert("release".into(), version.clone());
                spec.annotations.insert(
                    "after_release".into(),
                    format!("{version} (released {})", at.format("%Y-%m-%d %H:%M UTC")),
                );
                Some(Observation::Fire(spec))
            }
            (Condition::IssueFrequency { per, .. }, Signal::Issue(s)) if scope.admits_issue(s) => {
                Some(Observation::Count(issue_spec(
                    s,
                    *per == FrequencyPer::Issue,
                )))
            }
            (Condition::ErrorRateSpike { .. }, Signal::Issue(s)) if scope.admits_issue(s) => {
                Some(Observation::Count(issue_spec(s, false)))
            }
            (
                _,
                Signal::IssueResolved {
                    project_id,
                    issue_id,
                    ..
                },
            ) if matches!(self.class(), ConditionClass::Trigger) => Some(Observation::Resolve(
                issue_fingerprint(*project_id, Some(*issue_id)),
            )),
            (Condition::BackupFailed, Signal::System(s)) => match s.kind.as_str() {
                "backup.failed" => {
                    let mut spec = AlertSpec::new("backup".into(), Subject::Install);
                    spec.annotations.insert("cause".into(), s.message.clone());
                    Some(Observation::Fire(spec))
                }
                "backup.succeeded" => Some(Observation::Resolve("backup".into())),
                _ => None,
            },
            (Condition::StorageDamaged | Condition::DiskLow, Signal::System(s)) => {
                let (subject, on, off) = match self {
                    Condition::StorageDamaged => ("storage", "integrity.failed", "integrity.ok"),
                    _ => ("disk", "disk.low", "disk.ok"),
                };
                let active = if s.kind == on {
                    true
                } else if s.kind == off {
                    false
                } else {
                    return None;
                };
                let mut spec = AlertSpec::new(subject.into(), Subject::Install);
                spec.annotations.insert("cause".into(), s.message.clone());
                Some(Observation::Level(spec, active))
            }
            (
                Condition::MonitorDown
                | Condition::MonitorDegraded
                | Condition::HeartbeatMissed
                | Condition::TlsExpiring { .. }
                | Condition::MonitorRecovered,
                Signal::Monitor(m),
            ) if scope.admits_project(m.project_id) => {
                let mut spec = AlertSpec::new(
                    format!("project={},monitor={}", m.project_id, m.monitor_id),
                    Subject::Monitor {
                        project_id: m.project_id,
                        monitor_id: m.monitor_id,
                    },
                );
                spec.labels
                    .insert("project_id".into(), m.project_id.to_string());
                spec.labels
                    .insert("monitor_id".into(), m.monitor_id.to_string());
                spec.labels.insert("monitor".into(), m.name.clone());
                spec.annotations.insert("cause".into(), m.cause.describe());
                let active = match self {
                    Condition::MonitorDown => m.to == MonitorState::Down,
                    Condition::MonitorDegraded => m.to == MonitorState::Degraded,
                    Condition::HeartbeatMissed => {
                        m.to == MonitorState::Down
                            && matches!(m.cause, MonitorCause::HeartbeatMissed { .. })
                    }
                    // Only certificate readings speak about certificates:
                    // a monitor going down and up again neither raises nor
                    // clears a certificate alert.
                    Condition::TlsExpiring { days } => match m.cause {
                        MonitorCause::TlsExpiring { days_left, .. } => days_left <= *days,
                        _ => return None,
                    },
                    Condition::MonitorRecovered => {
                        if m.to == MonitorState::Up
                            && matches!(m.from, MonitorState::Down | MonitorState::Degraded)
                        {
                            return Some(Observation::Fire(spec));
                        }
                        return None;
                    }
                    _ => unreachable!("outer match lists the monitor kinds"),
                };
                Some(Observation::Level(spec, active))
            }
            (Condition::ChannelFailing, Signal::Channel(c)) => {
                let mut spec = AlertSpec::new(format!("channel={}", c.channel), Subject::Install);
                spec.labels.insert("channel".into(), c.channel.clone());
                if let Some(e) = &c.error {
                    spec.annotations.insert("cause".into(), e.clone());
                }
                Some(Observation::Level(spec, c.failing))
            }
            _ => None,
        }
    }

    /// For a windowed condition: whether it holds at `now` for one key's
    /// counter, and the value to show. `since` is when counting began
    /// (a spike needs a full baseline first).
    pub(crate) fn evaluate_window(
        &self,
        counter: &BucketCounter,
        now: DateTime<Utc>,
        since: DateTime<Utc>,
    ) -> (bool, f64) {
        // The bucket holding `now` belongs to the recent window.
        let end = now + Duration::seconds(counter.bucket_secs());
        match self {
            Condition::IssueFrequency {
                threshold, window, ..
            } => {
                let n = counter.count(now - *window, end);
                (n > *threshold, n as f64)
            }
            Condition::ErrorRateSpike {
                window,
                baseline,
                factor,
                min_events,
            } => {
                let recent_from = now - *window;
                let recent = counter.count(recent_from, end);
                let base = counter.count(recent_from - *baseline, recent_from);
                let warmed_up = now - since >= *window + *baseline;
                let recent_rate = recent as f64 / window.num_seconds() as f64;
                let base_rate = base as f64 / baseline.num_seconds() as f64;
                let ratio = if base_rate > 0.0 {
                    recent_rate / base_rate
                } else {
                    f64::INFINITY
                };
                (
                    warmed_up && recent >= *min_events && ratio > *factor,
                    recent as f64,
                )
            }
            _ => (false, 0.0),
        }
    }

    /// How far back a windowed condition looks (what its counters keep).
    pub(crate) fn lookback(&self) -> Duration {
        match self {
            Condition::IssueFrequency { window, .. } => *window,
            Condition::ErrorRateSpike {
                window, baseline, ..
            } => *window + *baseline,
            _ => Duration::zero(),
        }
    }

    /// The bucket width of a windowed condition's counters.
    pub(crate) fn bucket_secs(&self) -> i64 {
        match self {
            Condition::IssueFrequency { window, .. } => {
                crate::window::bucket_for(window.num_seconds())
            }
            Condition::ErrorRateSpike { window, .. } => {
                crate::window::bucket_for(window.num_seconds())
            }
            _ => 60,
        }
    }
}

/// A project in a rule's scope: its id, or its slug (`"shop"`), as
/// `lookout.toml` and the API may name it. Slugs are resolved to ids
/// ([`Scope::resolve_slugs`]); one that names no project admits nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ProjectRef {
    /// A project id.
    Id(i64),
    /// A project slug.
    Slug(String),
}

impl From<i64> for ProjectRef {
    fn from(id: i64) -> Self {
        ProjectRef::Id(id)
    }
}

/// Which events a rule looks at. Empty lists admit everything.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Scope {
    /// Projects, by id or slug.
    pub projects: Vec<ProjectRef>,
    /// Environments (`production`…).
    pub environments: Vec<String>,
    /// Levels (`error`, `fatal`…).
    pub levels: Vec<String>,
    /// Matchers over the event's tags (`browser=~"Chrome.*"`).
    pub tags: Vec<Matcher>,
}

impl Scope {
    /// Whether a project is in scope. A slug not resolved to an id admits
    /// nothing: a scope never widens because a project is missing.
    pub fn admits_project(&self, project_id: i64) -> bool {
        self.projects.is_empty() || self.projects.contains(&ProjectRef::Id(project_id))
    }

    /// The project ids named (slugs not yet resolved are left out).
    pub fn project_ids(&self) -> Vec<i64> {
        self.projects
            .iter()
            .filter_map(|p| match p {
                ProjectRef::Id(id) => Some(*id),
                ProjectRef::Slug(_) => None,
            })
            .collect()
    }

    /// Replaces each slug that `lookup` knows by its project's id, and
    /// removes repeats. Returns the slugs it could not resolve (they stay,
    /// and admit nothing).
    pub fn resolve_slugs(&mut self, lookup: impl Fn(&str) -> Option<i64>) -> Vec<String> {
        let mut unknown = Vec::new();
        let mut out: Vec<ProjectRef> = Vec::with_capacity(self.projects.len());
        for p in self.projects.drain(..) {
            let p = match p {
                ProjectRef::Slug(s) => match lookup(s.trim()) {
                    Some(id) => ProjectRef::Id(id),
                    None => {
                        unknown.push(s.clone());
                        ProjectRef::Slug(s)
                    }
                },
                id => id,
            };
            if !out.contains(&p) {
                out.push(p);
            }
        }
        self.projects = out;
        unknown
    }

    /// Whether an error event is in scope.
    pub fn admits_issue(&self, s: &IssueSignal) -> bool {
        if !self.admits_project(s.project_id) {
            return false;
        }
        if !self.environments.is_empty()
            && !s
                .environment
                .as_ref()
                .is_some_and(|e| self.environments.contains(e))
        {
            return false;
        }
        if !self.levels.is_empty() && !self.levels.contains(&s.level) {
            return false;
        }
        if self.tags.is_empty() {
            return true;
        }
        let tags: Labels = s.tags.iter().cloned().collect();
        self.tags.iter().all(|m| m.matches(&tags))
    }
}

/// What an alert is about, for links and buttons.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Subject {
    /// An issue (the message offers "Resolve").
    Issue {
        /// Project.
        project_id: i64,
        /// Issue.
        issue_id: i64,
    },
    /// A whole project (frequency, spike).
    Project {
        /// Project.
        project_id: i64,
    },
    /// A monitor.
    Monitor {
        /// Project.
        project_id: i64,
        /// Monitor.
        monitor_id: i64,
    },
    /// The install itself (backups, channels).
    Install,
}

impl Subject {
    /// The project, when there is one.
    pub fn project_id(&self) -> Option<i64> {
        match self {
            Subject::Issue { project_id, .. }
            | Subject::Project { project_id }
            | Subject::Monitor { project_id, .. } => Some(*project_id),
            Subject::Install => None,
        }
    }
}

/// The identity and context of an alert a signal speaks about.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AlertSpec {
    /// Stable within a rule: `project=3,issue=17`.
    pub fingerprint: String,
    pub subject: Subject,
    pub labels: Labels,
    pub annotations: Labels,
}

impl AlertSpec {
    fn new(fingerprint: String, subject: Subject) -> Self {
        AlertSpec {
            fingerprint,
            subject,
            labels: Labels::new(),
            annotations: Labels::new(),
        }
    }
}

/// What a signal means for a rule.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Observation {
    /// Fire (or refresh) a trigger alert.
    Fire(AlertSpec),
    /// Count one event towards a windowed condition.
    Count(AlertSpec),
    /// A state condition is now true or false.
    Level(AlertSpec, bool),
    /// Resolve the trigger alert with this fingerprint.
    Resolve(String),
}

fn issue_fingerprint(project_id: i64, issue_id: Option<i64>) -> String {
    match issue_id {
        Some(i) => format!("project={project_id},issue={i}"),
        None => format!("project={project_id}"),
    }
}

fn issue_spec(s: &IssueSignal, per_issue: bool) -> AlertSpec {
    let subject = if per_issue {
        Subject::Issue {
            project_id: s.project_id,
            issue_id: s.issue_id,
        }
    } else {
        Subject::Project {
            project_id: s.project_id,
        }
    };
    let mut spec = AlertSpec::new(
        issue_fingerprint(s.project_id, per_issue.then_some(s.issue_id)),
        subject,
    );
    spec.labels
        .insert("project_id".into(), s.project_id.to_string());
    if per_issue {
        spec.labels
            .insert("issue_id".into(), s.issue_id.to_string());
        spec.annotations.insert("title".into(), s.title.clone());
        if !s.culprit.is_empty() {
            spec.annotations.insert("culprit".into(), s.culprit.clone());
        }
        if let Some(v) = &s.exception_value {
            spec.annotations.insert("exception".into(), v.clone());
        }
        if let Some(f) = &s.top_frame {
            spec.annotations.insert("frame".into(), f.clone());
        }
        spec.labels.insert("level".into(), s.level.clone());
    }
    if let Some(e) = &s.environment {
        spec.labels.insert("environment".into(), e.clone());
    }
    spec
}

/// `(environment, version, at)` of a release or deploy.
type ReleaseEntry = (Option<String>, String, DateTime<Utc>);

/// The latest release and deploy times per project (and environment), for
/// "new issue after a release".
#[derive(Debug, Clone, Default)]
pub(crate) struct ReleaseLog {
    /// project → releases, newest last; one per environment.
    by_project: HashMap<i64, Vec<ReleaseEntry>>,
}

impl ReleaseLog {
    pub(crate) fn record(&mut self, s: &crate::signal::ReleaseSignal) {
        let list = self.by_project.entry(s.project_id).or_default();
        // The newest per environment wins, whatever order they arrive in.
        if list
            .iter()
            .any(|(env, _, at)| env == &s.environment && *at > s.at)
        {
            return;
        }
        list.retain(|(env, _, _)| env != &s.environment);
        list.push((s.environment.clone(), s.version.clone(), s.at));
        list.sort_by_key(|(_, _, at)| *at);
    }

    /// The newest release at or before `at` that applies to `env`.
    fn latest(
        &self,
        project_id: i64,
        env: Option<&str>,
        at: DateTime<Utc>,
    ) -> Option<(&String, DateTime<Utc>)> {
        self.by_project
            .get(&project_id)?
            .iter()
            .rev()
            .filter(|(e, _, t)| *t <= at && (e.is_none() || e.as_deref() == env))
            .map(|(_, v, t)| (v, *t))
            .next()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_read_from_toml_with_defaults() {
        let r: Rule = toml::from_str(
            r#"
            name = "Errors burst"
            severity = "high"
            for = "1m"
            condition = { kind = "issue_frequency", threshold = 10, window = "5m" }
            scope = { projects = [1], environments = ["production"], tags = ['browser=~"Chrome.*"'] }
            labels = { team = "bots" }
            "#,
        )
        .unwrap();
        assert_eq!(r.for_duration, Duration::minutes(1));
        assert_eq!(
            r.condition,
            Condition::IssueFrequency {
                threshold: 10,
                window: Duration::minutes(5),
                per: FrequencyPer::Project
            }
        );
        assert!(r.enabled);
        assert_eq!(r.resolve_after, Some(Duration::hours(24)));
        assert_eq!(r.scope.tags[0].to_string(), r#"browser=~"Chrome.*""#);
        r.validate().unwrap();
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<Rule>(&json).unwrap(), r);
    }

    #[test]
    fn unknown_keys_and_kinds_are_refused() {
        let bad = toml::from_str::<Rule>(
            r#"name = "x"
            severity = "high"
            condition = { kind = "new_issue" }
            sevrity = "low""#,
        );
        assert!(bad.is_err());
        let bad = toml::from_str::<Rule>(
            r#"name = "x"
            severity = "high"
            condition = { kind = "p95_latency" }"#,
        );
        assert!(bad.is_err());
    }

    #[test]
    fn validation_catches_nonsense() {
        let mut r = Rule::new(
            1,
            "spike",
            Condition::ErrorRateSpike {
                window: Duration::minutes(5),
                baseline: Duration::minutes(1),
                factor: 3.0,
                min_events: 5,
            },
            Severity::High,
        );
        assert!(r.validate().is_err());
        r.condition = Condition::ErrorRateSpike {
            window: Duration::minutes(5),
            baseline: Duration::hours(1),
            factor: 0.5,
            min_events: 5,
        };
        assert!(r.validate().is_err());
        r.name = " ".into();
        assert!(r.validate().is_err());
    }

    #[test]
    fn scopes_name_projects_by_id_or_slug_and_unknown_slugs_admit_nothing() {
        let mut scope: Scope = toml::from_str(r#"projects = [1, "shop", "gone", "shop"]"#).unwrap();
        assert_eq!(
            scope.projects,
            vec![
                ProjectRef::Id(1),
                ProjectRef::Slug("shop".into()),
                ProjectRef::Slug("gone".into()),
                ProjectRef::Slug("shop".into())
            ]
        );
        assert!(scope.admits_project(1) && !scope.admits_project(7));
        let unknown = scope.resolve_slugs(|s| (s == "shop").then_some(7));
        assert_eq!(unknown, vec!["gone".to_string()]);
        assert_eq!(scope.project_ids(), vec![1, 7]);
        assert!(scope.admits_project(7) && !scope.admits_project(8));
        // Only an unknown slug: nothing is admitted, not everything.
        let mut only: Scope = toml::from_str(r#"projects = ["gone"]"#).unwrap();
        assert_eq!(only.resolve_slugs(|_| None), vec!["gone".to_string()]);
        assert!(!only.admits_project(1) && only.project_ids().is_empty());
        // JSON (the API) reads the same way.
        let j: Scope = serde_json::from_value(serde_json::json!({"projects": [3, "api"]})).unwrap();
        assert_eq!(
            j.projects,
            vec![ProjectRef::Id(3), ProjectRef::Slug("api".into())]
        );
    }

    #[test]
    fn scope_filters_environment_level_and_tags() {
        let scope: Scope = toml::from_str(
            r#"projects = [1]
            environments = ["production"]
            levels = ["error", "fatal"]
            tags = ["handler=verify"]"#,
        )
        .unwrap();
        let mut s = IssueSignal {
            project_id: 1,
            environment: Some("production".into()),
            level: "error".into(),
            tags: vec![("handler".into(), "verify".into())],
            ..Default::default()
        };
        assert!(scope.admits_issue(&s));
        s.level = "warning".into();
        assert!(!scope.admits_issue(&s));
        s.level = "fatal".into();
        s.environment = None;
        assert!(!scope.admits_issue(&s));
        s.environment = Some("production".into());
        s.tags.clear();
        assert!(!scope.admits_issue(&s));
        s.tags.push(("handler".into(), "verify".into()));
        s.project_id = 2;
        assert!(!scope.admits_issue(&s));
    }
}
