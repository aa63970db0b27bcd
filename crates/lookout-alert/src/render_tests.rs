//! Exact message content for each channel.

use super::*;
use crate::engine::AlertKey;
use crate::model::Labels;

fn t(s: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap()
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn issue_alert(issue_id: i64, title: &str) -> Alert {
    Alert {
        key: AlertKey {
            rule_id: 1,
            fingerprint: format!("project=3,issue={issue_id}"),
        },
        rule_name: "New issue".into(),
        severity: Severity::Critical,
        state: AlertState::Firing,
        labels: labels(&[
            ("alertname", "New issue"),
            ("severity", "critical"),
            ("project", "shop-bot"),
            ("project_id", "3"),
            ("issue_id", &issue_id.to_string()),
            ("environment", "production"),
            ("kind", "new_issue"),
        ]),
        annotations: labels(&[
            ("title", title),
            ("exception", "'user_42'"),
            ("frame", "bot/handlers.py:42 in verify"),
        ]),
        subject: Subject::Issue {
            project_id: 3,
            issue_id,
        },
        active_since: t(0),
        starts_at: Some(t(0)),
        ends_at: None,
        last_seen: t(0),
        count: 1,
        acknowledged: None,
        resolved_by: None,
    }
}

fn notification(firing: Vec<Alert>) -> Notification {
    Notification {
        group: "0.0/1/3".into(),
        id: "0.0/1/3@1700000000000#1".into(),
        kind: NotificationKind::Firing,
        receivers: vec!["telegram".into()],
        severity: Severity::Critical,
        rule_name: "New issue".into(),
        project_id: Some(3),
        at: t(30),
        firing,
        resolved: vec![],
    }
}

fn ctx() -> RenderContext {
    RenderContext {
        public_url: "https://lookout.example.com/".into(),
        project_names: BTreeMap::new(),
    }
}

#[test]
fn telegram_message_is_exact_and_escaped() {
    let n = notification(vec![issue_alert(17, "KeyError: <user> & 'friends'")]);
    assert_eq!(
        telegram_html(&n, &ctx()),
        "🔴 <b>[FIRING:1] New issue · shop-bot (critical)</b>\n\
         Project: shop-bot\n\
         Environment: production\n\
         Severity: critical\n\
         Started: 2023-11-14 22:13:20 UTC\n\
         Alerts: 1 firing\n\
         \n\
         • <a href=\"https://lookout.example.com/issues/17\">KeyError: &lt;user&gt; &amp; 'friends'</a>\n\
         \x20 <code>at bot/handlers.py:42 in verify</code>\n\
         \x20 'user_42'\n\
         \x20 1 matching event, since 2023-11-14 22:13:20 UTC\n\
         \n\
         <a href=\"https://lookout.example.com/alerts?project=3\">Open in Lookout</a>"
    );
}

#[test]
fn telegram_keeps_within_4096_and_says_how_many_are_left_out() {
    let long = "x".repeat(1000);
    let alerts: Vec<Alert> = (0..40).map(|i| issue_alert(i, &long)).collect();
    let n = notification(alerts);
    let html = telegram_html(&n, &ctx());
    assert!(html.encode_utf16().count() <= TELEGRAM_MAX);
    assert!(html.contains("… and "), "{html}");
    assert!(html.ends_with("Open in Lookout</a>"));
    // Titles are clipped before escaping, so no entity is cut in half.
    let amp = "&".repeat(2000);
    let n = notification(vec![issue_alert(1, &amp)]);
    let html = telegram_html(&n, &ctx());
    assert!(html.encode_utf16().count() <= TELEGRAM_MAX);
    assert!(!html.contains("&am…") && html.contains("&amp;…"));
    // Emoji count as two UTF-16 units.
    let emoji = "🔥".repeat(1500);
    let n = notification((0..5).map(|i| issue_alert(i, &emoji)).collect());
    assert!(telegram_html(&n, &ctx()).encode_utf16().count() <= TELEGRAM_MAX);
}

#[test]
fn telegram_buttons_offer_resolve_only_for_issues() {
    let n = notification(vec![issue_alert(17, "KeyError")]);
    let kb = telegram_keyboard(&n, "42").unwrap();
    assert_eq!(
        kb,
        json!({"inline_keyboard": [[
            {"text": "Acknowledge", "callback_data": "ack:42"},
            {"text": "Resolve", "callback_data": "res:42"},
            {"text": "Silence 1 h", "callback_data": "sil1h:42"},
        ]]})
    );
    let mut a = issue_alert(1, "x");
    a.subject = Subject::Install;
    let kb = telegram_keyboard(&notification(vec![a]), "43").unwrap();
    assert_eq!(kb["inline_keyboard"][0].as_array().unwrap().len(), 2);
    let mut n = notification(vec![]);
    n.kind = NotificationKind::Resolved;
    assert!(telegram_keyboard(&n, "44").is_none());
    assert_eq!(
        ButtonAction::parse("res:42"),
        Some((ButtonAction::Resolve, "42"))
    );
    assert_eq!(ButtonAction::parse("nope:42"), None);
    assert_eq!(ButtonAction::parse("ack:"), None);
}

#[test]
fn email_has_subject_text_and_escaped_html() {
    let n = notification(vec![issue_alert(17, "ValueError: <script>")]);
    let (subject, text, html) = email(&n, &ctx());
    assert_eq!(subject, "[FIRING:1] New issue · shop-bot (critical)");
    assert!(text.contains("- ValueError: <script>\n"));
    assert!(text.contains("  at bot/handlers.py:42 in verify\n"));
    assert!(text.contains("  https://lookout.example.com/issues/17\n"));
    assert!(html.contains("ValueError: &lt;script&gt;"));
    assert!(!html.contains("<script>"));
}

#[test]
fn resolved_and_acknowledged_alerts_say_so() {
    let mut a = issue_alert(17, "KeyError");
    a.state = AlertState::Resolved;
    a.ends_at = Some(t(600));
    a.resolved_by = Some("ann@example.com".into());
    let mut n = notification(vec![]);
    n.kind = NotificationKind::Resolved;
    n.resolved = vec![a];
    let text = plain_text(&n, &ctx());
    assert!(text.starts_with("[RESOLVED:1] New issue"), "{text}");
    assert!(text.contains("resolved 2023-11-14 22:23:20 UTC · resolved by ann@example.com"));
    let mut b = issue_alert(18, "KeyError");
    b.acknowledged = Some(("bob".into(), t(60)));
    let text = plain_text(&notification(vec![b]), &ctx());
    assert!(text.contains("acknowledged by bob"));
}

#[test]
fn monitor_and_backup_alerts_carry_their_cause() {
    let mut a = issue_alert(1, "x");
    a.subject = Subject::Monitor {
        project_id: 3,
        monitor_id: 9,
    };
    a.annotations = labels(&[("cause", "HTTP status 503, expected 2xx")]);
    a.labels.insert("monitor".into(), "api /health".into());
    a.labels.insert("kind".into(), "monitor_down".into());
    let text = plain_text(&notification(vec![a]), &ctx());
    assert!(
        text.contains("- api /health\n  HTTP status 503, expected 2xx\n"),
        "{text}"
    );
    assert!(text.contains("https://lookout.example.com/projects/3/monitors/9"));

    let mut b = issue_alert(1, "x");
    b.subject = Subject::Install;
    b.rule_name = "Backup failed".into();
    b.annotations = labels(&[("cause", "disk full")]);
    b.labels = labels(&[("kind", "backup_failed"), ("severity", "critical")]);
    let mut n = notification(vec![b]);
    n.project_id = None;
    n.rule_name = "Backup failed".into();
    let text = plain_text(&n, &ctx());
    assert!(
        text.starts_with("[FIRING:1] Backup failed (critical)\n"),
        "{text}"
    );
    assert!(text.contains("disk full"));
    assert!(text.contains("https://lookout.example.com/admin/backups"));
}

#[test]
fn slack_and_discord_bodies() {
    let n = notification(vec![issue_alert(17, "KeyError: <b> @everyone")]);
    let s = slack(&n, &ctx());
    let text = s["text"].as_str().unwrap();
    assert!(text.starts_with("🔴 *[FIRING:1] New issue · shop-bot (critical)*\n"));
    assert!(
        text.contains("• <https://lookout.example.com/issues/17|KeyError: &lt;b&gt; @everyone>")
    );
    let d = discord(&n, &ctx());
    assert_eq!(d["allowed_mentions"], json!({"parse": []}));
    assert_eq!(d["embeds"][0]["color"], 0xd01c1c);
    assert_eq!(
        d["embeds"][0]["title"],
        "[FIRING:1] New issue · shop-bot (critical)"
    );
    assert!(
        d["embeds"][0]["description"]
            .as_str()
            .unwrap()
            .contains("(https://lookout.example.com/issues/17)")
    );
}

#[test]
fn webhook_bodies_lookout_and_alertmanager() {
    let n = notification(vec![
        issue_alert(17, "KeyError"),
        issue_alert(18, "TypeError"),
    ]);
    let w = webhook(&n, &ctx(), "0.0/1/3@1700000000000#1/hook");
    assert_eq!(w["id"], "0.0/1/3@1700000000000#1/hook");
    assert_eq!(w["kind"], "firing");
    assert_eq!(w["severity"], "critical");
    assert_eq!(w["alerts"].as_array().unwrap().len(), 2);
    let am = alertmanager(&n, &ctx(), "hook");
    assert_eq!(am["version"], "4");
    assert_eq!(am["status"], "firing");
    assert_eq!(am["receiver"], "hook");
    assert_eq!(am["externalURL"], "https://lookout.example.com");
    assert_eq!(
        am["groupLabels"],
        json!({"alertname": "New issue", "project_id": "3"})
    );
    assert_eq!(am["commonLabels"]["environment"], "production");
    assert!(am["commonLabels"].get("issue_id").is_none());
    assert_eq!(am["alerts"][0]["startsAt"], "2023-11-14T22:13:20+00:00");
    assert_eq!(am["alerts"][0]["endsAt"], Value::Null);
    assert_eq!(
        am["alerts"][1]["generatorURL"],
        "https://lookout.example.com/issues/18"
    );
}

#[test]
fn hmac_matches_rfc_4231() {
    // Test case 2.
    assert_eq!(
        hmac_sha256_hex(b"Jefe", b"what do ya want for nothing?"),
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
    // Test case 6: a key longer than the block.
    assert_eq!(
        hmac_sha256_hex(
            &[0xaa; 131],
            b"Test Using Larger Than Block-Size Key - Hash Key First"
        ),
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
    );
}
