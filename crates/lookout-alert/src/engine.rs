//! The engine: rules turn signals into alert instances with a life cycle
//! (pending → firing → resolved); each tick hands the instances to the
//! [`Dispatcher`]. Everything here takes `now` from the caller.

use crate::dispatch::{Dispatcher, Notification};
use crate::model::{Labels, Severity};
use crate::route::Route;
use crate::rule::{AlertSpec, ConditionClass, Observation, ReleaseLog, Rule, Subject};
use crate::signal::Signal;
use crate::silence::{InhibitRule, Silence};
use crate::window::BucketCounter;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

/// Identifies an alert: its rule and a fingerprint within the rule.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AlertKey {
    /// The rule.
    pub rule_id: i64,
    /// E.g. `project=3,issue=17`.
    pub fingerprint: String,
}

impl fmt::Display for AlertKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.rule_id, self.fingerprint)
    }
}

/// Where an alert stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    /// The condition holds, the for-duration has not passed.
    Pending,
    /// Notifying.
    Firing,
    /// Over.
    Resolved,
}

impl AlertState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
            AlertState::Resolved => "resolved",
        }
    }
}

/// One alert instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Identity.
    pub key: AlertKey,
    /// The rule's name.
    pub rule_name: String,
    /// The rule's severity.
    pub severity: Severity,
    /// State.
    pub state: AlertState,
    /// `alertname`, `severity`, `rule_id`, `project_id`, … and the rule's.
    pub labels: Labels,
    /// `title`, `exception`, `frame`, `cause`, … and the rule's.
    pub annotations: Labels,
    /// What it is about.
    pub subject: Subject,
    /// When the condition started to hold.
    pub active_since: DateTime<Utc>,
    /// When it started firing.
    pub starts_at: Option<DateTime<Utc>>,
    /// When it resolved.
    pub ends_at: Option<DateTime<Utc>>,
    /// The latest matching signal.
    pub last_seen: DateTime<Utc>,
    /// Matching events seen while active (trigger kinds), or the latest
    /// windowed count.
    pub count: u64,
    /// Who acknowledged it, and when.
    pub acknowledged: Option<(String, DateTime<Utc>)>,
    /// Who resolved it by hand, if someone did.
    pub resolved_by: Option<String>,
}

impl Alert {
    /// Whether it fires and nobody has acknowledged it.
    pub fn needs_attention(&self) -> bool {
        self.state == AlertState::Firing && self.acknowledged.is_none()
    }
}

/// A change to persist (the runner writes these to storage).
#[derive(Debug, Clone, PartialEq)]
pub enum AlertChange {
    /// Created, changed state, acknowledged or counted: store it.
    Upsert(Box<Alert>),
    /// A pending alert whose condition stopped holding: forget it.
    Discard(AlertKey),
}

/// What a tick produced.
#[derive(Debug, Default)]
pub struct TickOutput {
    /// Alert changes since the previous tick, in order.
    pub changes: Vec<AlertChange>,
    /// Notifications due now.
    pub notifications: Vec<Notification>,
}

#[derive(Debug)]
struct RuleState {
    rule: Rule,
    /// When the engine started watching (a spike needs a full baseline).
    since: DateTime<Utc>,
    counters: HashMap<String, (BucketCounter, AlertSpec)>,
}

/// The alerting engine. Pure: no I/O, no wall clock.
#[derive(Debug)]
pub struct Engine {
    rules: BTreeMap<i64, RuleState>,
    alerts: BTreeMap<AlertKey, Alert>,
    releases: ReleaseLog,
    silences: Vec<Silence>,
    inhibit: Vec<InhibitRule>,
    dispatcher: Dispatcher,
    changes: Vec<AlertChange>,
}

impl Engine {
    /// An engine with a routing tree and no rules.
    pub fn new(routes: Route) -> Engine {
        Engine {
            rules: BTreeMap::new(),
            alerts: BTreeMap::new(),
            releases: ReleaseLog::default(),
            silences: Vec::new(),
            inhibit: Vec::new(),
            dispatcher: Dispatcher::new(routes),
            changes: Vec::new(),
        }
    }

    /// Replaces the rules. Unchanged rules keep their counters; alerts of
    /// removed or disabled rules resolve.
    pub fn set_rules(&mut self, rules: Vec<Rule>, now: DateTime<Utc>) {
        let mut next = BTreeMap::new();
        for rule in rules.into_iter().filter(|r| r.enabled) {
            let state = match self.rules.remove(&rule.id) {
                Some(old)
                    if old.rule.condition == rule.condition && old.rule.scope == rule.scope =>
                {
                    RuleState { rule, ..old }
                }
                _ => RuleState {
                    rule,
                    since: now,
                    counters: HashMap::new(),
                },
            };
            next.insert(state.rule.id, state);
        }
        self.rules = next;
        let gone: Vec<AlertKey> = self
            .alerts
            .keys()
            .filter(|k| !self.rules.contains_key(&k.rule_id))
            .cloned()
            .collect();
        for key in gone {
            self.end(&key, now, None);
        }
    }

    /// Replaces the silences and maintenance windows.
    pub fn set_silences(&mut self, silences: Vec<Silence>) {
        self.silences = silences;
    }

    /// Replaces the inhibition rules.
    pub fn set_inhibit_rules(&mut self, rules: Vec<InhibitRule>) {
        self.inhibit = rules;
    }

    /// Replaces the routing tree (groups already open keep their route).
    pub fn set_routes(&mut self, routes: Route) {
        self.dispatcher.set_routes(routes);
    }

    /// Puts back alerts loaded from storage after a restart. Firing ones
    /// count as already notified at `now`: a restart does not repeat their
    /// message (what the outbox had not sent yet, it still sends).
    pub fn restore(&mut self, alerts: Vec<Alert>, now: DateTime<Utc>) {
        self.dispatcher.seed(now, alerts.iter());
        for a in alerts {
            if a.state != AlertState::Resolved {
                self.alerts.insert(a.key.clone(), a);
            }
        }
    }

    /// Whether an enabled rule uses a condition of `kind` (so that the
    /// runner feeds only the signals someone listens to).
    pub fn has_condition(&self, kind: &str) -> bool {
        self.rules
            .values()
            .any(|st| st.rule.condition.kind() == kind)
    }

    /// The live (pending and firing) alerts.
    pub fn alerts(&self) -> impl Iterator<Item = &Alert> {
        self.alerts.values()
    }

    /// Whether an alert is muted at `now` (silence, maintenance or
    /// inhibition), and by which silence if one.
    pub fn muted_by(&self, key: &AlertKey, now: DateTime<Utc>) -> Option<Option<i64>> {
        let a = self.alerts.get(key)?;
        if let Some(s) = self.silences.iter().find(|s| s.mutes(&a.labels, now)) {
            return Some(Some(s.id));
        }
        let firing = self
            .alerts
            .values()
            .filter(|o| o.state == AlertState::Firing && o.key != a.key)
            .map(|o| &o.labels);
        self.inhibit
            .iter()
            .any(|r| r.inhibits(&a.labels, firing.clone()))
            .then_some(None)
    }

    /// Feeds one signal to every rule.
    pub fn observe(&mut self, signal: &Signal) {
        if let Signal::Release(r) = signal {
            self.releases.record(r);
            return;
        }
        let at = signal.at();
        let mut effects = Vec::new();
        for st in self.rules.values_mut() {
            // An event for a key already being counted only counts: the
            // alert's labels were built when its counter began.
            if let Signal::Issue(i) = signal
                && st.rule.condition.class() == ConditionClass::Windowed
            {
                let Some(key) = st.rule.condition.count_key(&st.rule.scope, signal) else {
                    continue;
                };
                if let Some(entry) = st.counters.get_mut(&key) {
                    entry.0.add(at, 1 + i.more);
                    continue;
                }
            }
            if let Some(obs) = st
                .rule
                .condition
                .observe(&st.rule.scope, signal, &self.releases)
            {
                effects.push((st.rule.id, obs));
            }
        }
        for (rule_id, obs) in effects {
            match obs {
                Observation::Fire(spec) => self.fire(rule_id, spec, at),
                Observation::Count(spec) => {
                    let Some(st) = self.rules.get_mut(&rule_id) else {
                        continue;
                    };
                    let bucket = st.rule.condition.bucket_secs();
                    let entry = st
                        .counters
                        .entry(spec.fingerprint.clone())
                        .or_insert_with(|| (BucketCounter::new(bucket), spec.clone()));
                    let more = match signal {
                        Signal::Issue(i) => i.more,
                        _ => 0,
                    };
                    entry.0.add(at, 1 + more);
                    entry.1 = spec;
                }
                Observation::Level(spec, active) => self.level(rule_id, spec, active, at, None),
                Observation::Resolve(fp) => {
                    let key = AlertKey {
                        rule_id,
                        fingerprint: fp,
                    };
                    self.end(&key, at, None);
                }
            }
        }
    }

    /// Acknowledges a firing alert: no more reminders or escalation.
    pub fn acknowledge(&mut self, key: &AlertKey, by: &str, now: DateTime<Utc>) -> Option<Alert> {
        let a = self.alerts.get_mut(key)?;
        if a.acknowledged.is_none() {
            a.acknowledged = Some((by.to_string(), now));
            self.changes.push(AlertChange::Upsert(Box::new(a.clone())));
        }
        Some(a.clone())
    }

    /// Resolves an alert by hand. A state condition that still holds
    /// fires again (after its for-duration) on the next signal or tick.
    pub fn resolve(&mut self, key: &AlertKey, by: &str, now: DateTime<Utc>) -> Option<Alert> {
        self.end(key, now, Some(by))
    }

    /// Re-evaluates windowed and pending alerts, ages trigger alerts out,
    /// and asks the dispatcher what to send.
    pub fn tick(&mut self, now: DateTime<Utc>) -> TickOutput {
        // Windowed conditions: one evaluation per rule and counted key; only
        // keys that hold, or that have an alert to update, go further.
        let mut alerted: HashMap<i64, HashSet<&str>> = HashMap::new();
        for k in self.alerts.keys() {
            alerted
                .entry(k.rule_id)
                .or_default()
                .insert(k.fingerprint.as_str());
        }
        let mut levels = Vec::new();
        for st in self.rules.values_mut() {
            if st.rule.condition.class() != ConditionClass::Windowed {
                continue;
            }
            let keep_from = now
                - st.rule.condition.lookback()
                - chrono::Duration::seconds(st.rule.condition.bucket_secs());
            let cond = &st.rule.condition;
            let since = st.since;
            let rule_id = st.rule.id;
            let with_alert = alerted.get(&rule_id);
            st.counters.retain(|key, (counter, spec)| {
                let (active, value) = cond.evaluate_window(counter, now, since);
                if active || with_alert.is_some_and(|s| s.contains(key.as_str())) {
                    levels.push((rule_id, spec.clone(), active, value));
                }
                counter.prune(keep_from);
                !counter.is_empty()
            });
        }
        drop(alerted);
        for (rule_id, spec, active, value) in levels {
            self.level(rule_id, spec, active, now, Some(value as u64));
        }
        // Keys whose counters emptied: their alerts are no longer active.
        let stale: Vec<AlertKey> = self
            .alerts
            .keys()
            .filter(|k| {
                self.rules.get(&k.rule_id).is_some_and(|st| {
                    st.rule.condition.class() == ConditionClass::Windowed
                        && !st.counters.contains_key(&k.fingerprint)
                })
            })
            .cloned()
            .collect();
        for key in stale {
            self.deactivate(&key, now);
        }
        // For-durations and trigger ageing.
        let keys: Vec<AlertKey> = self.alerts.keys().cloned().collect();
        for key in keys {
            let Some(st) = self.rules.get(&key.rule_id) else {
                continue;
            };
            let (for_d, class, resolve_after) = (
                st.rule.for_duration,
                st.rule.condition.class(),
                st.rule.resolve_after,
            );
            let Some(a) = self.alerts.get_mut(&key) else {
                continue;
            };
            if a.state == AlertState::Pending && now - a.active_since >= for_d {
                a.state = AlertState::Firing;
                a.starts_at = Some(now);
                self.changes.push(AlertChange::Upsert(Box::new(a.clone())));
            } else if class == ConditionClass::Trigger
                && a.state == AlertState::Firing
                && resolve_after.is_some_and(|d| now - a.last_seen >= d)
            {
                self.end(&key, now, None);
            }
        }
        let notifications =
            self.dispatcher
                .tick(now, self.alerts.values(), &self.silences, &self.inhibit);
        self.alerts.retain(|_, a| a.state != AlertState::Resolved);
        TickOutput {
            changes: std::mem::take(&mut self.changes),
            notifications,
        }
    }

    fn base_alert(&self, rule: &Rule, spec: AlertSpec, at: DateTime<Utc>) -> Alert {
        let mut labels = rule.labels.clone();
        labels.extend(spec.labels);
        labels.insert("alertname".into(), rule.name.clone());
        labels.insert("severity".into(), rule.severity.as_str().into());
        labels.insert("rule_id".into(), rule.id.to_string());
        labels.insert("kind".into(), rule.condition.kind().into());
        let mut annotations = rule.annotations.clone();
        annotations.extend(spec.annotations);
        Alert {
            key: AlertKey {
                rule_id: rule.id,
                fingerprint: spec.fingerprint,
            },
            rule_name: rule.name.clone(),
            severity: rule.severity,
            state: AlertState::Pending,
            labels,
            annotations,
            subject: spec.subject,
            active_since: at,
            starts_at: None,
            ends_at: None,
            last_seen: at,
            count: 0,
            acknowledged: None,
            resolved_by: None,
        }
    }

    fn fire(&mut self, rule_id: i64, spec: AlertSpec, at: DateTime<Utc>) {
        let Some(st) = self.rules.get(&rule_id) else {
            return;
        };
        let key = AlertKey {
            rule_id,
            fingerprint: spec.fingerprint.clone(),
        };
        if let Some(a) = self.alerts.get_mut(&key)
            && a.state != AlertState::Resolved
        {
            a.count += 1;
            a.last_seen = a.last_seen.max(at);
            self.changes.push(AlertChange::Upsert(Box::new(a.clone())));
            return;
        }
        let mut a = self.base_alert(&st.rule, spec, at);
        a.state = AlertState::Firing;
        a.starts_at = Some(at);
        a.count = 1;
        self.changes.push(AlertChange::Upsert(Box::new(a.clone())));
        self.alerts.insert(key, a);
    }

    fn level(
        &mut self,
        rule_id: i64,
        spec: AlertSpec,
        active: bool,
        at: DateTime<Utc>,
        value: Option<u64>,
    ) {
        let Some(st) = self.rules.get(&rule_id) else {
            return;
        };
        let key = AlertKey {
            rule_id,
            fingerprint: spec.fingerprint.clone(),
        };
        if !active {
            self.deactivate(&key, at);
            return;
        }
        let for_d = st.rule.for_duration;
        match self.alerts.get_mut(&key) {
            Some(a) if a.state != AlertState::Resolved => {
                a.last_seen = at;
                let mut changed = false;
                if let Some(v) = value
                    && v != a.count
                {
                    a.count = v;
                    changed = true;
                }
                if a.state == AlertState::Pending && at - a.active_since >= for_d {
                    a.state = AlertState::Firing;
                    a.starts_at = Some(at);
                    changed = true;
                }
                if changed {
                    self.changes.push(AlertChange::Upsert(Box::new(a.clone())));
                }
            }
            _ => {
                let mut a = self.base_alert(&st.rule, spec, at);
                a.count = value.unwrap_or(1);
                if for_d <= chrono::Duration::zero() {
                    a.state = AlertState::Firing;
                    a.starts_at = Some(at);
                }
                self.changes.push(AlertChange::Upsert(Box::new(a.clone())));
                self.alerts.insert(key, a);
            }
        }
    }

    /// The condition stopped holding: pending alerts vanish, firing ones
    /// resolve.
    fn deactivate(&mut self, key: &AlertKey, at: DateTime<Utc>) {
        match self.alerts.get(key).map(|a| a.state) {
            Some(AlertState::Pending) => {
                self.alerts.remove(key);
                self.changes.push(AlertChange::Discard(key.clone()));
            }
            Some(AlertState::Firing) => {
                self.end(key, at, None);
            }
            _ => {}
        }
    }

    fn end(&mut self, key: &AlertKey, at: DateTime<Utc>, by: Option<&str>) -> Option<Alert> {
        let a = self.alerts.get_mut(key)?;
        match a.state {
            AlertState::Resolved => return Some(a.clone()),
            AlertState::Pending => {
                let a = self.alerts.remove(key)?;
                self.changes.push(AlertChange::Discard(key.clone()));
                return Some(a);
            }
            AlertState::Firing => {}
        }
        a.state = AlertState::Resolved;
        a.ends_at = Some(at);
        a.resolved_by = by.map(str::to_string);
        self.changes.push(AlertChange::Upsert(Box::new(a.clone())));
        Some(a.clone())
    }
}

#[cfg(test)]
#[path = "engine_tests.rs"]
mod tests;
