//! The service layer's rules without a server.

use super::*;
use serde_json::json;

fn detail(e: ApiError) -> (u16, String) {
    (e.status().as_u16(), e.to_string())
}

#[test]
fn rule_errors_name_the_field() {
    let cases = [
        (
            json!({"severity": "high", "condition": {"kind": "new_issue"}}),
            "name",
        ),
        (
            json!({"name": " ", "severity": "high", "condition": {"kind": "new_issue"}}),
            "name",
        ),
        (
            json!({"name": "x", "condition": {"kind": "new_issue"}}),
            "severity",
        ),
        (
            json!({"name": "x", "severity": "loud", "condition": {"kind": "new_issue"}}),
            "severity",
        ),
        (
            json!({"name": "x", "severity": "high", "condition": {"kind": "what"}}),
            "condition",
        ),
        (
            json!({"name": "x", "severity": "high", "condition": {"kind": "new_issue"}, "extra": 1}),
            "extra",
        ),
        (
            json!({"name": "x", "severity": "high",
                   "condition": {"kind": "error_rate_spike", "window": "5m", "baseline": "1h", "factor": 0.5}}),
            "factor",
        ),
        (
            json!({"name": "x", "severity": "high", "condition": {"kind": "new_issue"}, "scope": {"projects": "all"}}),
            "scope",
        ),
        (json!([1, 2]), "JSON object"),
        (
            json!({"name": "x", "severity": "high",
                   "condition": {"kind": "issue_frequency", "threshold": "ten", "window": "5m"}}),
            "`condition.threshold`",
        ),
        (
            json!({"name": "x", "severity": "high",
                   "condition": {"kind": "issue_frequency", "threshold": 3, "window": "soon"}}),
            "`condition.window`",
        ),
    ];
    for (body, field) in cases {
        let (code, msg) = detail(parse_rule(body.clone()).unwrap_err());
        assert_eq!(code, 400, "{body}");
        assert!(msg.contains(field), "{body} -> {msg}");
    }
}

#[test]
fn a_rule_read_back_parses_again() {
    let r = parse_rule(json!({
        "name": "Burst", "severity": "high", "for": "1m",
        "condition": {"kind": "issue_frequency", "threshold": 3, "window": "5m"},
        "id": 7, "source": "api", "editable": true, "created_by": null,
        "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"
    }))
    .unwrap();
    assert_eq!(r.name, "Burst");
    assert_eq!(r.id, 0, "the id comes from the path, never the body");
    let again = parse_rule(serde_json::to_value(&r).unwrap()).unwrap();
    assert_eq!(again, r);
}

#[test]
fn channel_names_and_settings_are_checked() {
    for ok in ["ops", "ops-email", "team_1", &"a".repeat(40)] {
        assert!(validate_channel_name(ok).is_ok(), "{ok}");
    }
    for bad in ["", "Ops", "a b", "log", "ops.email", &"a".repeat(41), "é"] {
        let (code, msg) = detail(validate_channel_name(bad).unwrap_err());
        assert_eq!(code, 400);
        assert!(msg.contains("`name`"), "{bad}: {msg}");
    }
    let (_, msg) =
        detail(parse_channel_config(json!({"kind": "webhook", "url": "ftp://x"})).unwrap_err());
    assert!(msg.contains("url"), "{msg}");
    let (_, msg) = detail(parse_channel_config(json!({"kind": "email", "to": 3})).unwrap_err());
    assert!(msg.contains("config.to"), "{msg}");
    let (_, msg) = detail(parse_channel_config(json!("webhook")).unwrap_err());
    assert!(msg.contains("config"), "{msg}");
    assert!(parse_channel_config(json!({"kind": "slack", "webhook_url": "https://h"})).is_ok());
}

#[test]
fn redacted_secrets_sent_back_keep_the_stored_ones() {
    let old = json!({"kind": "webhook", "url": "https://a", "secret": "s3cret"});
    let mut new = json!({"kind": "webhook", "url": "https://b", "secret": "***"});
    keep_redacted_secrets(&mut new, &old);
    assert_eq!(new["secret"], "s3cret");
    assert_eq!(new["url"], "https://b");
    // A new secret replaces the old one; a different kind takes nothing.
    let mut new = json!({"kind": "webhook", "url": "https://b", "secret": "fresh"});
    keep_redacted_secrets(&mut new, &old);
    assert_eq!(new["secret"], "fresh");
    let mut new = json!({"kind": "slack", "webhook_url": "***"});
    keep_redacted_secrets(
        &mut new,
        &json!({"kind": "discord", "webhook_url": "https://d"}),
    );
    assert_eq!(new["webhook_url"], "***");
}

#[test]
fn a_silence_belongs_to_the_project_of_its_project_id_matcher() {
    let m = |v: &[&str]| -> Vec<Matcher> { v.iter().map(|s| s.parse().unwrap()).collect() };
    assert_eq!(
        silence_project(&m(&["project_id=3", "severity=high"])).unwrap(),
        Some(3)
    );
    assert_eq!(silence_project(&m(&["severity=high"])).unwrap(), None);
    // Only equality makes it the project's.
    assert_eq!(silence_project(&m(&["project_id=~\"3|4\""])).unwrap(), None);
    assert_eq!(silence_project(&m(&["project_id!=3"])).unwrap(), None);
    assert!(silence_project(&m(&["project_id=shop"])).is_err());
    assert!(silence_project(&m(&["project_id=3", "project_id=4"])).is_err());
}

#[test]
fn alert_cursors_round_trip_and_refuse_garbage() {
    let at = DateTime::<Utc>::from_timestamp_millis(1_700_000_000_123).unwrap();
    let row = AlertInstanceRow {
        id: 42,
        rule_id: 1,
        fingerprint: "backup".into(),
        state: "firing".into(),
        severity: "high".into(),
        project_id: None,
        active_since: at,
        starts_at: Some(at),
        ends_at: None,
        acked_by: None,
        acked_at: None,
        resolved_by: None,
        updated_at: at,
        body: json!({"labels": {"alertname": "B", "project_id": "3"}, "rule_name": "B", "count": 2}),
    };
    assert_eq!(parse_alert_cursor(&alert_cursor(&row)).unwrap(), (at, 42));
    for bad in ["", "x", "1.2.3", "abc.1", "1.x"] {
        assert_eq!(parse_alert_cursor(bad).unwrap_err().status().as_u16(), 400);
    }
    // The view reads labels from the body and lists the silences
    // muting it now.
    let now = Utc::now();
    let s = Silence {
        id: 9,
        kind: lookout_alert::SilenceKind::Silence,
        matchers: vec!["project_id=3".parse().unwrap()],
        starts_at: now - Duration::minutes(1),
        ends_at: now + Duration::hours(1),
        created_by: "a".into(),
        comment: String::new(),
    };
    let v = alert_view(row.clone(), std::slice::from_ref(&s));
    assert_eq!((v.rule_name.as_str(), v.count), ("B", 2));
    assert_eq!(v.silenced_by, vec![9]);
    let mut resolved = row;
    resolved.state = "resolved".into();
    assert!(alert_view(resolved, &[s]).silenced_by.is_empty());
}

#[test]
fn control_errors_map_to_statuses() {
    use crate::alerting::control::ControlError as C;
    let code = |e| control_error(e).status().as_u16();
    assert_eq!(code(C::NotRunning), 503);
    assert_eq!(code(C::NoSuchAlert(1)), 404);
    assert_eq!(code(C::AlreadyResolved(1)), 409);
    assert_eq!(code(C::Storage("x".into())), 500);
}
