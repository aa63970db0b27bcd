//! Timing tests of the engine with a controlled clock: every `now` is
//! chosen by the test.

use super::*;
use crate::dispatch::NotificationKind;
use crate::model::Matcher;
use crate::route::Escalation;
use crate::rule::{Condition, FrequencyPer};
use crate::signal::{
    ChannelHealth, IssueSignal, MonitorCause, MonitorState, MonitorStateChanged, ReleaseSignal,
    SystemSignal,
};
use crate::silence::SilenceKind;
use chrono::Duration;

fn t(s: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap()
}

fn issue(project_id: i64, issue_id: i64, at: i64, new_issue: bool) -> Signal {
    Signal::Issue(IssueSignal {
        project_id,
        project: format!("p{project_id}"),
        issue_id,
        at: t(at),
        new_issue,
        regression: false,
        environment: Some("production".into()),
        level: "error".into(),
        release: None,
        tags: vec![],
        title: format!("KeyError: 'user_{issue_id}'"),
        culprit: "verify in bot.handlers".into(),
        exception_value: Some(format!("'user_{issue_id}'")),
        top_frame: Some("bot/handlers.py:42 in verify".into()),
        more: 0,
    })
}

/// Ticks every second over `[from, to]` and returns `(second, notification)`.
fn run(e: &mut Engine, from: i64, to: i64) -> Vec<(i64, Notification)> {
    let mut out = Vec::new();
    for s in from..=to {
        for n in e.tick(t(s)).notifications {
            out.push((s, n));
        }
    }
    out
}

fn engine_with(rules: Vec<Rule>) -> Engine {
    let mut e = Engine::new(Route::default_tree());
    e.set_rules(rules, t(0));
    e
}

fn new_issue_rule(sev: Severity) -> Rule {
    Rule::new(1, "New issue", Condition::NewIssue, sev)
}

#[test]
fn a_burst_of_new_issues_becomes_one_message_after_group_wait() {
    let mut e = engine_with(vec![new_issue_rule(Severity::High)]);
    e.observe(&issue(1, 10, 0, true));
    e.observe(&issue(1, 11, 5, true));
    e.observe(&issue(1, 12, 10, true));
    let mut sent = run(&mut e, 0, 11);
    // Another project is another group, with its own group_wait.
    e.observe(&issue(2, 20, 12, true));
    sent.extend(run(&mut e, 12, 100));
    let times: Vec<i64> = sent.iter().map(|(s, _)| *s).collect();
    assert_eq!(
        times,
        vec![30, 42],
        "group_wait is 30 s from each group's first alert"
    );
    let (_, first) = &sent[0];
    assert_eq!(first.kind, NotificationKind::Firing);
    assert_eq!(first.receivers, vec!["telegram"]);
    assert_eq!(first.firing.len(), 3);
    assert_eq!(first.project_id, Some(1));
    assert_eq!(first.firing[0].labels["alertname"], "New issue");
    assert_eq!(first.firing[0].labels["severity"], "high");
    assert_eq!(first.firing[0].labels["environment"], "production");
    assert_eq!(
        first.firing[0].annotations["frame"],
        "bot/handlers.py:42 in verify"
    );
    assert_eq!(first.firing[0].annotations["exception"], "'user_10'");
    assert_eq!(
        first.firing[0].subject,
        Subject::Issue {
            project_id: 1,
            issue_id: 10
        }
    );
    assert_ne!(sent[0].1.id, sent[1].1.id);
}

#[test]
fn additions_wait_for_group_interval_and_reminders_for_repeat_interval() {
    let mut e = engine_with(vec![new_issue_rule(Severity::High)]);
    e.observe(&issue(1, 10, 0, true));
    assert_eq!(run(&mut e, 0, 30).len(), 1);
    // A new issue at 60 s waits for the next group_interval flush (30 + 300).
    e.observe(&issue(1, 11, 60, true));
    let sent = run(&mut e, 31, 400);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, 330);
    assert_eq!(sent[0].1.kind, NotificationKind::Firing);
    assert_eq!(sent[0].1.firing.len(), 2);
    // More events of a known issue change nothing.
    e.observe(&issue(1, 10, 401, false));
    assert!(run(&mut e, 401, 900).is_empty());
    // Reminder after 4 h (at the first flush at or after 330 + 4 h).
    let sent = run(&mut e, 901, 330 + 4 * 3600 + 300);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, 330 + 4 * 3600);
    assert_eq!(sent[0].1.kind, NotificationKind::Reminder);
}

#[test]
fn acknowledgement_stops_reminders() {
    let mut e = engine_with(vec![new_issue_rule(Severity::High)]);
    e.observe(&issue(1, 10, 0, true));
    assert_eq!(run(&mut e, 0, 30).len(), 1);
    let key = AlertKey {
        rule_id: 1,
        fingerprint: "project=1,issue=10".into(),
    };
    let a = e.acknowledge(&key, "ann@example.com", t(100)).unwrap();
    assert_eq!(a.acknowledged, Some(("ann@example.com".into(), t(100))));
    let out = e.tick(t(101));
    assert!(matches!(&out.changes[..], [AlertChange::Upsert(a)] if a.acknowledged.is_some()));
    assert!(
        run(&mut e, 102, 10 * 3600).is_empty(),
        "no reminders once acknowledged"
    );
}

#[test]
fn resolution_is_notified_only_with_send_resolved() {
    for send_resolved in [true, false] {
        let mut routes = Route::default_tree();
        routes.routes[1].send_resolved = Some(send_resolved);
        let mut e = Engine::new(routes);
        e.set_rules(vec![new_issue_rule(Severity::High)], t(0));
        e.observe(&issue(1, 10, 0, true));
        assert_eq!(run(&mut e, 0, 30).len(), 1);
        e.observe(&Signal::IssueResolved {
            project_id: 1,
            issue_id: 10,
            at: t(40),
        });
        let sent = run(&mut e, 31, 1000);
        if send_resolved {
            assert_eq!(sent.len(), 1);
            assert_eq!(sent[0].0, 330);
            assert_eq!(sent[0].1.kind, NotificationKind::Resolved);
            assert!(sent[0].1.firing.is_empty());
            assert_eq!(sent[0].1.resolved[0].ends_at, Some(t(40)));
        } else {
            assert!(sent.is_empty());
        }
        assert_eq!(e.alerts().count(), 0);
    }
}

#[test]
fn an_alert_resolved_before_group_wait_sends_nothing() {
    let mut e = engine_with(vec![new_issue_rule(Severity::High)]);
    e.observe(&issue(1, 10, 0, true));
    let key = AlertKey {
        rule_id: 1,
        fingerprint: "project=1,issue=10".into(),
    };
    let a = e.resolve(&key, "ann@example.com", t(10)).unwrap();
    assert_eq!(a.resolved_by.as_deref(), Some("ann@example.com"));
    assert!(run(&mut e, 0, 1000).is_empty());
}

#[test]
fn frequency_goes_pending_then_firing_then_resolves() {
    let mut rule = Rule::new(
        7,
        "Errors > 10 in 5 min",
        Condition::IssueFrequency {
            threshold: 10,
            window: Duration::minutes(5),
            per: FrequencyPer::Project,
        },
        Severity::Critical,
    );
    rule.for_duration = Duration::minutes(1);
    let mut e = engine_with(vec![rule]);
    for i in 0..10 {
        e.observe(&issue(1, 10, i, false));
    }
    let out = e.tick(t(10));
    assert!(out.changes.is_empty(), "10 events is not more than 10");
    e.observe(&issue(1, 11, 11, false));
    let out = e.tick(t(12));
    let [AlertChange::Upsert(a)] = &out.changes[..] else {
        panic!("{:?}", out.changes)
    };
    assert_eq!(a.state, AlertState::Pending);
    assert_eq!(a.count, 11);
    assert_eq!(a.subject, Subject::Project { project_id: 1 });
    // Firing after the for-duration; notified group_wait later, to
    // Telegram and e-mail (critical).
    let sent = run(&mut e, 13, 200);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, 72 + 30);
    assert_eq!(sent[0].1.receivers, vec!["telegram", "email"]);
    assert_eq!(sent[0].1.firing[0].starts_at, Some(t(72)));
    // The events age out of the 5-minute window: resolved.
    let sent = run(&mut e, 201, 800);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].1.kind, NotificationKind::Resolved);
    let ended = sent[0].1.resolved[0].ends_at.unwrap();
    assert!(ended >= t(300) && ended <= t(310), "{ended}");
}

#[test]
fn a_short_burst_within_the_for_duration_never_fires() {
    let mut rule = Rule::new(
        7,
        "burst",
        Condition::IssueFrequency {
            threshold: 2,
            window: Duration::seconds(60),
            per: FrequencyPer::Issue,
        },
        Severity::High,
    );
    rule.for_duration = Duration::minutes(5);
    let mut e = engine_with(vec![rule]);
    for i in 0..5 {
        e.observe(&issue(1, 10, i, false));
    }
    let out = e.tick(t(5));
    assert!(matches!(&out.changes[..], [AlertChange::Upsert(a)] if a.state == AlertState::Pending));
    let mut discarded = false;
    for s in 6..600 {
        let out = e.tick(t(s));
        assert!(out.notifications.is_empty());
        discarded |= out
            .changes
            .iter()
            .any(|c| matches!(c, AlertChange::Discard(_)));
    }
    assert!(discarded);
    assert_eq!(e.alerts().count(), 0);
}

#[test]
fn frequency_per_issue_keeps_issues_apart() {
    let rule = Rule::new(
        7,
        "per issue",
        Condition::IssueFrequency {
            threshold: 2,
            window: Duration::minutes(1),
            per: FrequencyPer::Issue,
        },
        Severity::High,
    );
    let mut e = engine_with(vec![rule]);
    for i in 0..3 {
        e.observe(&issue(1, 10, i, false));
        e.observe(&issue(1, 11, i, false));
    }
    e.observe(&issue(1, 12, 3, false));
    e.tick(t(4));
    let mut fps: Vec<_> = e.alerts().map(|a| a.key.fingerprint.clone()).collect();
    fps.sort();
    assert_eq!(fps, vec!["project=1,issue=10", "project=1,issue=11"]);
}

#[test]
fn spike_needs_a_baseline_and_compares_rates() {
    let rule = Rule::new(
        3,
        "spike",
        Condition::ErrorRateSpike {
            window: Duration::minutes(5),
            baseline: Duration::minutes(60),
            factor: 3.0,
            min_events: 10,
        },
        Severity::High,
    );
    let mut e = engine_with(vec![rule]);
    // A steady 1 event/min for an hour: no spike.
    for m in 0..65 {
        e.observe(&issue(1, 10, m * 60, false));
    }
    for s in (0..=65 * 60).step_by(30) {
        e.tick(t(s));
    }
    assert_eq!(e.alerts().count(), 0);
    // 20 events in the next minute: far over 3× the baseline rate.
    for i in 0..20 {
        e.observe(&issue(1, 10, 65 * 60 + i, false));
    }
    e.tick(t(65 * 60 + 30));
    let a: Vec<_> = e.alerts().collect();
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].state, AlertState::Firing);

    // A burst before a full baseline was watched does not count.
    let rule = Rule::new(
        3,
        "spike",
        Condition::ErrorRateSpike {
            window: Duration::minutes(5),
            baseline: Duration::minutes(60),
            factor: 3.0,
            min_events: 10,
        },
        Severity::High,
    );
    let mut e = engine_with(vec![rule]);
    for i in 0..50 {
        e.observe(&issue(1, 10, 60 + i, false));
    }
    e.tick(t(120));
    assert_eq!(e.alerts().count(), 0);
}

#[test]
fn new_issue_after_release_only_within_the_window_and_environment() {
    let rule = Rule::new(
        4,
        "new after release",
        Condition::NewIssueAfterRelease {
            within: Duration::hours(2),
        },
        Severity::High,
    );
    let mut e = engine_with(vec![rule]);
    e.observe(&issue(1, 9, 10, true));
    e.observe(&Signal::Release(ReleaseSignal {
        project_id: 1,
        version: "1.4.0".into(),
        environment: Some("production".into()),
        at: t(100),
    }));
    e.observe(&Signal::Release(ReleaseSignal {
        project_id: 1,
        version: "1.5.0-rc".into(),
        environment: Some("staging".into()),
        at: t(200),
    }));
    e.observe(&issue(1, 10, 3600, true));
    e.observe(&issue(1, 11, 100 + 2 * 3600 + 1, true));
    let alerts: Vec<_> = e.alerts().collect();
    assert_eq!(
        alerts.len(),
        1,
        "before the release and after 2 h do not count"
    );
    assert_eq!(alerts[0].labels["release"], "1.4.0");
    assert!(alerts[0].annotations["after_release"].starts_with("1.4.0"));
}

#[test]
fn backup_failed_fires_and_the_next_success_resolves() {
    let rule = Rule::new(
        5,
        "Backup failed",
        Condition::BackupFailed,
        Severity::Critical,
    );
    let mut e = engine_with(vec![rule]);
    e.observe(&Signal::System(SystemSignal {
        kind: "backup.failed".into(),
        message: "disk full".into(),
        at: t(0),
    }));
    let sent = run(&mut e, 0, 40);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].1.firing[0].annotations["cause"], "disk full");
    assert_eq!(sent[0].1.firing[0].subject, Subject::Install);
    assert_eq!(sent[0].1.project_id, None);
    e.observe(&Signal::System(SystemSignal {
        kind: "backup.succeeded".into(),
        message: "ok".into(),
        at: t(50),
    }));
    let sent = run(&mut e, 41, 400);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].1.kind, NotificationKind::Resolved);
}

#[test]
fn storage_damage_and_low_disk_hold_until_their_all_clear() {
    let damaged = Rule::new(
        6,
        "Storage damaged",
        Condition::StorageDamaged,
        Severity::Critical,
    );
    let disk = Rule::new(7, "Disk low", Condition::DiskLow, Severity::High);
    let mut e = engine_with(vec![damaged, disk]);
    let sys = |kind: &str, message: &str, at: i64| {
        Signal::System(SystemSignal {
            kind: kind.into(),
            message: message.into(),
            at: t(at),
        })
    };
    // An all-clear with nothing active, and unrelated events, do nothing.
    e.observe(&sys("disk.ok", "fine", 0));
    e.observe(&sys("backup.failed", "x", 0));
    assert_eq!(e.alerts().count(), 0);
    e.observe(&sys("disk.low", "900 MB free, below 1 GB", 1));
    e.observe(&sys("integrity.failed", "page 7: btree damaged", 1));
    let firing: Vec<(&str, &str)> = e
        .alerts()
        .filter(|a| a.state == AlertState::Firing)
        .map(|a| (a.rule_name.as_str(), a.annotations["cause"].as_str()))
        .collect();
    assert_eq!(firing.len(), 2, "{firing:?}");
    assert!(firing.contains(&("Disk low", "900 MB free, below 1 GB")));
    assert!(firing.contains(&("Storage damaged", "page 7: btree damaged")));
    e.observe(&sys("disk.ok", "5 GB free", 10));
    let states: Vec<(&str, AlertState)> = e
        .alerts()
        .map(|a| (a.rule_name.as_str(), a.state))
        .collect();
    assert!(
        states.contains(&("Disk low", AlertState::Resolved)),
        "{states:?}"
    );
    assert!(
        states.contains(&("Storage damaged", AlertState::Firing)),
        "{states:?}"
    );
}

fn monitor(at: i64, from: MonitorState, to: MonitorState, cause: MonitorCause) -> Signal {
    Signal::Monitor(MonitorStateChanged {
        project_id: 1,
        monitor_id: 3,
        name: "api /health".into(),
        from,
        to,
        cause,
        at: t(at),
    })
}

#[test]
fn monitor_kinds_follow_state_changes() {
    let mut down = Rule::new(1, "down", Condition::MonitorDown, Severity::Critical);
    down.for_duration = Duration::seconds(60);
    let recovered = Rule::new(2, "recovered", Condition::MonitorRecovered, Severity::Low);
    let hb = Rule::new(3, "heartbeat", Condition::HeartbeatMissed, Severity::High);
    let tls = Rule::new(
        4,
        "tls",
        Condition::TlsExpiring { days: 14 },
        Severity::Medium,
    );
    let mut e = engine_with(vec![down, recovered, hb, tls]);
    e.observe(&monitor(
        0,
        MonitorState::Up,
        MonitorState::Down,
        MonitorCause::Status {
            actual: 503,
            expected: "2xx".into(),
        },
    ));
    e.tick(t(30));
    let a: Vec<_> = e.alerts().collect();
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].state, AlertState::Pending);
    assert_eq!(a[0].annotations["cause"], "HTTP status 503, expected 2xx");
    assert_eq!(a[0].labels["monitor"], "api /health");
    e.tick(t(60));
    assert_eq!(e.alerts().next().unwrap().state, AlertState::Firing);
    e.observe(&monitor(
        100,
        MonitorState::Down,
        MonitorState::Up,
        MonitorCause::Recovered,
    ));
    let kinds: Vec<(String, AlertState)> =
        e.alerts().map(|a| (a.rule_name.clone(), a.state)).collect();
    assert_eq!(
        kinds,
        vec![
            ("down".to_string(), AlertState::Resolved),
            ("recovered".to_string(), AlertState::Firing)
        ]
    );
    e.tick(t(101));
    e.observe(&monitor(
        200,
        MonitorState::Up,
        MonitorState::Down,
        MonitorCause::HeartbeatMissed {
            expected_at: t(190),
            detail: None,
        },
    ));
    // Another monitor of the project: its certificate expires soon.
    e.observe(&Signal::Monitor(MonitorStateChanged {
        monitor_id: 4,
        ..match monitor(
            201,
            MonitorState::Up,
            MonitorState::Degraded,
            MonitorCause::TlsExpiring {
                expires_at: t(10 * 86_400),
                days_left: 10,
            },
        ) {
            Signal::Monitor(m) => m,
            _ => unreachable!(),
        }
    }));
    let names: Vec<&str> = e
        .alerts()
        .filter(|a| a.state != AlertState::Resolved)
        .map(|a| a.rule_name.as_str())
        .collect();
    assert!(
        names.contains(&"heartbeat") && names.contains(&"tls"),
        "{names:?}"
    );
    let tls_state = |e: &Engine| {
        e.alerts()
            .find(|a| a.rule_name == "tls")
            .map(|a| a.state)
            .unwrap()
    };
    // That monitor goes down and up for another reason: the certificate
    // alert is untouched.
    let other = |at, from, to, cause| match monitor(at, from, to, cause) {
        Signal::Monitor(m) => Signal::Monitor(MonitorStateChanged { monitor_id: 4, ..m }),
        _ => unreachable!(),
    };
    e.observe(&other(
        210,
        MonitorState::Degraded,
        MonitorState::Down,
        MonitorCause::Timeout { after_ms: 5000 },
    ));
    e.observe(&other(
        220,
        MonitorState::Down,
        MonitorState::Up,
        MonitorCause::Recovered,
    ));
    e.tick(t(221));
    assert_eq!(tls_state(&e), AlertState::Firing);
    // A renewed certificate (a reading with many days left) resolves it.
    e.observe(&other(
        300,
        MonitorState::Up,
        MonitorState::Up,
        MonitorCause::TlsExpiring {
            expires_at: t(90 * 86_400),
            days_left: 90,
        },
    ));
    assert_eq!(tls_state(&e), AlertState::Resolved);
}

#[test]
fn silences_and_maintenance_mute_and_expire() {
    let mut e = engine_with(vec![new_issue_rule(Severity::High)]);
    e.set_silences(vec![Silence {
        id: 9,
        kind: SilenceKind::Silence,
        matchers: vec!["alertname=New issue".parse::<Matcher>().unwrap()],
        starts_at: t(0),
        ends_at: t(600),
        created_by: "ann@example.com".into(),
        comment: "known".into(),
    }]);
    e.observe(&issue(1, 10, 0, true));
    assert!(run(&mut e, 0, 599).is_empty());
    let key = AlertKey {
        rule_id: 1,
        fingerprint: "project=1,issue=10".into(),
    };
    assert_eq!(e.muted_by(&key, t(10)), Some(Some(9)));
    // The silence ends: the still-firing alert is notified after group_wait.
    let sent = run(&mut e, 600, 700);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, 630);

    let mut e = engine_with(vec![new_issue_rule(Severity::High)]);
    e.set_silences(vec![Silence::maintenance(
        1,
        1,
        None,
        t(0),
        t(3600),
        "ops",
        "db migration",
    )]);
    e.observe(&issue(1, 10, 0, true));
    e.observe(&issue(2, 20, 0, true));
    let sent = run(&mut e, 0, 100);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].1.project_id, Some(2));
}

#[test]
fn inhibition_mutes_targets_while_the_source_fires() {
    let mut e = engine_with(vec![
        Rule::new(1, "MonitorDown", Condition::MonitorDown, Severity::Critical),
        new_issue_rule(Severity::High),
    ]);
    e.set_inhibit_rules(vec![InhibitRule {
        source: vec!["alertname=MonitorDown".parse().unwrap()],
        target: vec!["severity=high".parse().unwrap()],
        equal: vec!["project_id".into()],
    }]);
    // Rule ids must differ: the new-issue rule is 1 too, so give it 2.
    let mut r = new_issue_rule(Severity::High);
    r.id = 2;
    e.set_rules(
        vec![
            Rule::new(1, "MonitorDown", Condition::MonitorDown, Severity::Critical),
            r,
        ],
        t(0),
    );
    e.observe(&monitor(
        0,
        MonitorState::Up,
        MonitorState::Down,
        MonitorCause::Timeout { after_ms: 10_000 },
    ));
    e.observe(&issue(1, 10, 1, true));
    let sent = run(&mut e, 0, 100);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].1.rule_name, "MonitorDown");
}

#[test]
fn unacknowledged_critical_alerts_escalate_once() {
    let mut routes = Route::default_tree();
    routes.routes[0].escalation = Some(Escalation {
        after: Duration::minutes(15),
        receivers: vec!["phone".into()],
        severities: vec![Severity::Critical],
    });
    let mut e = Engine::new(routes);
    e.set_rules(vec![new_issue_rule(Severity::Critical)], t(0));
    e.observe(&issue(1, 10, 0, true));
    e.observe(&issue(1, 11, 0, true));
    // Acknowledge one of the two.
    run(&mut e, 0, 60);
    e.acknowledge(
        &AlertKey {
            rule_id: 1,
            fingerprint: "project=1,issue=11".into(),
        },
        "bob",
        t(61),
    );
    let sent: Vec<_> = run(&mut e, 61, 3600)
        .into_iter()
        .filter(|(_, n)| n.kind == NotificationKind::Escalation)
        .collect();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, 900);
    assert_eq!(sent[0].1.receivers, vec!["phone"]);
    assert_eq!(sent[0].1.firing.len(), 1);
    assert_eq!(sent[0].1.firing[0].key.fingerprint, "project=1,issue=10");
}

#[test]
fn a_failing_channel_alerts_through_the_others() {
    let rule = Rule::new(
        -1,
        "Channel failing",
        Condition::ChannelFailing,
        Severity::Critical,
    );
    let mut e = engine_with(vec![rule]);
    e.observe(&Signal::Channel(ChannelHealth {
        channel: "telegram".into(),
        failing: true,
        error: Some("HTTP 502".into()),
        at: t(0),
    }));
    let sent = run(&mut e, 0, 40);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].1.receivers, vec!["email"]);
    assert_eq!(sent[0].1.firing[0].annotations["cause"], "HTTP 502");
    e.observe(&Signal::Channel(ChannelHealth {
        channel: "telegram".into(),
        failing: false,
        error: None,
        at: t(100),
    }));
    let sent = run(&mut e, 41, 400);
    assert_eq!(sent[0].1.kind, NotificationKind::Resolved);
}

#[test]
fn trigger_alerts_age_out_after_resolve_after() {
    let mut rule = new_issue_rule(Severity::Medium);
    rule.resolve_after = Some(Duration::hours(1));
    let mut e = engine_with(vec![rule]);
    e.observe(&issue(1, 10, 0, true));
    let sent = run(&mut e, 0, 40);
    assert_eq!(sent[0].1.receivers, vec!["log"], "medium goes to the log");
    e.observe(&Signal::Issue(IssueSignal {
        regression: false,
        ..match issue(1, 10, 1800, false) {
            Signal::Issue(s) => s,
            _ => unreachable!(),
        }
    }));
    // No new *matching* event (not a new issue): ages out an hour after 0.
    for s in (41..=3700).step_by(10) {
        e.tick(t(s));
    }
    assert_eq!(e.alerts().count(), 0);
}

#[test]
fn a_restart_does_not_repeat_the_first_message() {
    let mut e = engine_with(vec![new_issue_rule(Severity::High)]);
    e.observe(&issue(1, 10, 0, true));
    assert_eq!(run(&mut e, 0, 30).len(), 1);
    let saved: Vec<Alert> = e.alerts().cloned().collect();

    let mut e2 = engine_with(vec![new_issue_rule(Severity::High)]);
    e2.restore(saved, t(1000));
    let sent = run(&mut e2, 1000, 1000 + 4 * 3600 + 300);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].1.kind, NotificationKind::Reminder);
    assert_eq!(sent[0].0, 1000 + 4 * 3600);
}

#[test]
fn removing_a_rule_resolves_its_alerts() {
    let mut e = engine_with(vec![new_issue_rule(Severity::High)]);
    e.observe(&issue(1, 10, 0, true));
    run(&mut e, 0, 30);
    e.set_rules(vec![], t(40));
    let sent = run(&mut e, 40, 400);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].1.kind, NotificationKind::Resolved);
}

#[test]
fn scope_and_disabled_rules_are_respected() {
    let mut r = new_issue_rule(Severity::High);
    r.scope.projects = vec![2.into()];
    let mut off = new_issue_rule(Severity::High);
    off.id = 2;
    off.enabled = false;
    let mut e = engine_with(vec![r, off]);
    e.observe(&issue(1, 10, 0, true));
    assert_eq!(e.alerts().count(), 0);
    e.observe(&issue(2, 10, 0, true));
    assert_eq!(e.alerts().count(), 1);
}

#[test]
fn evaluation_work_does_not_grow_with_past_events() {
    // 100k events over a day: a 5-minute frequency rule keeps only the
    // buckets of its window.
    let rule = Rule::new(
        7,
        "freq",
        Condition::IssueFrequency {
            threshold: 1_000_000,
            window: Duration::minutes(5),
            per: FrequencyPer::Project,
        },
        Severity::High,
    );
    let mut e = engine_with(vec![rule]);
    for i in 0..100_000i64 {
        e.observe(&issue(1, 10, i * 86_400 / 100_000, false));
        if i % 1000 == 0 {
            e.tick(t(i * 86_400 / 100_000));
        }
    }
    e.tick(t(86_399));
    let st = &e.rules[&7];
    let (counter, _) = &st.counters["project=1"];
    assert!(
        counter.count(t(0), t(200_000)) < 400,
        "only the window's buckets remain"
    );
}
