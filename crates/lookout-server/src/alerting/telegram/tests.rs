use super::*;
use lookout_alert::{AlertKey, AlertState, Labels, Severity};

fn alert(subject: Subject, labels: &[(&str, &str)]) -> Alert {
    let now = Utc::now();
    Alert {
        key: AlertKey {
            rule_id: 1,
            fingerprint: "fp".into(),
        },
        rule_name: "New error".into(),
        severity: Severity::High,
        state: AlertState::Firing,
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<Labels>(),
        annotations: Labels::new(),
        subject,
        active_since: now,
        starts_at: Some(now),
        ends_at: None,
        last_seen: now,
        count: 1,
        acknowledged: None,
        resolved_by: None,
    }
}

#[test]
fn commands_are_link_and_start_with_a_code() {
    assert_eq!(
        parse_command("/link abcd2345efgh"),
        Some(BotCommand::Link("ABCD2345EFGH".into()))
    );
    assert_eq!(
        parse_command("/start ABCD2345EFGH"),
        Some(BotCommand::Link("ABCD2345EFGH".into()))
    );
    assert_eq!(
        parse_command("/link@lookout_bot  XYZ "),
        Some(BotCommand::Link("XYZ".into()))
    );
    assert_eq!(parse_command("/start"), Some(BotCommand::Help));
    assert_eq!(parse_command("/link"), Some(BotCommand::Help));
    assert_eq!(parse_command("hello /link X"), None);
    assert_eq!(parse_command("/linkX Y"), None);
    assert_eq!(parse_command(""), None);
}

#[test]
fn link_codes_are_random_and_hashed_case_insensitively() {
    let (a, ha) = new_link_code();
    let (b, _) = new_link_code();
    assert_ne!(a, b);
    assert_eq!(a.len(), 12);
    assert!(a.bytes().all(|c| CODE_ALPHABET.contains(&c)));
    assert_eq!(code_hash(&a.to_lowercase()), ha);
    assert_ne!(ha, a, "storage keeps the hash, not the code");
}

#[test]
fn the_bot_token_is_never_in_debug_or_errors() {
    let bot = Bot {
        api_base_url: "https://api.telegram.org".into(),
        token: "123456:SECRET-PART".into(),
    };
    assert_eq!(bot.id(), "123456");
    let dbg = format!("{bot:?}");
    assert!(!dbg.contains("SECRET"), "{dbg}");
    assert_eq!(
        bot.redact("error sending request for url (https://api.telegram.org/bot123456:SECRET-PART/getUpdates)"),
        "error sending request for url (https://api.telegram.org/bot***/getUpdates)"
    );
}

#[test]
fn bots_are_the_distinct_enabled_telegram_channels() {
    let row = |name: &str, enabled: bool, config: Value| lookout_storage::ChannelRow {
        id: 0,
        name: name.into(),
        kind: config["kind"].as_str().unwrap_or("").into(),
        enabled,
        source: lookout_storage::AlertSource::Api,
        config,
        created_at: Utc::now(),
        updated_at: Utc::now(),
    };
    let tg =
        |token: &str, chat: &str| json!({"kind": "telegram", "bot_token": token, "chat_id": chat});
    let bots = bots_of(&[
        row("a", true, tg("1:A", "-1")),
        row("b", true, tg("1:A", "-2")),
        row("c", true, tg("2:B", "-1")),
        row("d", false, tg("3:C", "-1")),
        row(
            "e",
            true,
            json!({"kind": "slack", "webhook_url": "https://x"}),
        ),
    ]);
    let ids: Vec<&str> = bots.iter().map(Bot::id).collect();
    assert_eq!(ids, vec!["1", "2"]);
    assert!(bots.iter().all(|b| b.api_base_url == TELEGRAM_API));
}

use super::super::channels::TELEGRAM_API;

#[test]
fn authorization_follows_the_project_roles() {
    let issue = Subject::Issue {
        project_id: 3,
        issue_id: 17,
    };
    let monitor = Subject::Monitor {
        project_id: 3,
        monitor_id: 9,
    };
    let member = |p: i64| (p == 3).then_some(Role::Member);
    let viewer = |p: i64| (p == 3).then_some(Role::Viewer);
    let stranger = |_: i64| None;
    for action in [
        ButtonAction::Acknowledge,
        ButtonAction::Resolve,
        ButtonAction::Silence1h,
    ] {
        assert_eq!(
            authorize(action, std::slice::from_ref(&issue), false, &member),
            Ok(())
        );
        assert_eq!(
            authorize(action, std::slice::from_ref(&issue), false, &stranger),
            Err(Refusal::Unseen)
        );
        let r = authorize(action, std::slice::from_ref(&issue), false, &viewer).unwrap_err();
        assert!(
            matches!(&r, Refusal::Forbidden(t) if t.contains("viewer")),
            "{r:?}"
        );
        // Install alerts: administrators only.
        assert!(matches!(
            authorize(action, &[Subject::Install], false, &member),
            Err(Refusal::Forbidden(_))
        ));
    }
    assert_eq!(
        authorize(
            ButtonAction::Resolve,
            std::slice::from_ref(&issue),
            false,
            &viewer
        )
        .unwrap_err()
        .text(),
        "You may not resolve this issue (you are a viewer)"
    );
    assert_eq!(
        authorize(
            ButtonAction::Acknowledge,
            &[Subject::Install],
            true,
            &stranger
        ),
        Ok(())
    );
    assert_eq!(
        authorize(
            ButtonAction::Acknowledge,
            std::slice::from_ref(&monitor),
            false,
            &member
        ),
        Ok(())
    );
    // Nothing to resolve on a monitor alert.
    assert!(matches!(
        authorize(ButtonAction::Resolve, &[monitor], true, &member),
        Err(Refusal::Forbidden(t)) if t.starts_with("Nothing to resolve")
    ));
    // One unseen project refuses the whole press.
    let other = Subject::Project { project_id: 4 };
    assert_eq!(
        authorize(ButtonAction::Acknowledge, &[issue, other], false, &member),
        Err(Refusal::Unseen)
    );
}

#[test]
fn a_silence_matches_the_rule_and_the_subject() {
    let a = alert(
        Subject::Issue {
            project_id: 3,
            issue_id: 17,
        },
        &[
            ("alertname", "New error"),
            ("project_id", "3"),
            ("issue_id", "17"),
            ("severity", "high"),
        ],
    );
    assert_eq!(
        silence_matchers(&a),
        vec!["alertname=\"New error\"", "project_id=3", "issue_id=17"]
    );
    for m in silence_matchers(&a) {
        let parsed: Matcher = m.parse().unwrap();
        assert!(parsed.matches(&a.labels), "{m}");
    }
    let b = alert(Subject::Install, &[("channel", "tg")]);
    assert_eq!(
        silence_matchers(&b),
        vec!["alertname=\"New error\"", "channel=tg"]
    );
}

#[test]
fn the_edited_message_keeps_earlier_presses_and_escapes() {
    let at = DateTime::parse_from_rfc3339("2024-05-01T14:03:00Z")
        .unwrap()
        .with_timezone(&Utc);
    let line = done_line(ButtonAction::Resolve, "a<b>@example.com", at);
    assert_eq!(line, "✅ Resolved by a<b>@example.com at 14:03 UTC");
    let before =
        "🟠 [FIRING:1] New error\n• KeyError\n\n👀 Acknowledged by ann@example.com at 13:00 UTC";
    let out = edited_text("🟠 <b>[FIRING:1] New error</b>\n• x\n", "t", before, &line);
    assert_eq!(
        out,
        "🟠 <b>[FIRING:1] New error</b>\n• x\n\n👀 Acknowledged by ann@example.com at 13:00 UTC\n✅ Resolved by a&lt;b&gt;@example.com at 14:03 UTC"
    );
    // Too long: the title stands in for the body.
    let long = "x".repeat(4090);
    let out = edited_text(&long, "T & co", "", &line);
    assert!(out.starts_with("<b>T &amp; co</b>\n\n✅ Resolved"), "{out}");
}

#[test]
fn the_keyboard_loses_the_pressed_button() {
    let kb = json!({"inline_keyboard": [[
        {"text": "Acknowledge", "callback_data": "ack:42"},
        {"text": "Resolve", "callback_data": "res:42"},
        {"text": "Silence 1 h", "callback_data": "sil1h:42"},
    ]]});
    assert_eq!(
        reduced_keyboard(Some(&kb), ButtonAction::Acknowledge),
        Some(json!({"inline_keyboard": [[
            {"text": "Resolve", "callback_data": "res:42"},
            {"text": "Silence 1 h", "callback_data": "sil1h:42"},
        ]]}))
    );
    assert_eq!(reduced_keyboard(Some(&kb), ButtonAction::Resolve), None);
    let only = json!({"inline_keyboard": [[{"text": "Silence 1 h", "callback_data": "sil1h:42"}]]});
    assert_eq!(reduced_keyboard(Some(&only), ButtonAction::Silence1h), None);
    assert_eq!(reduced_keyboard(None, ButtonAction::Acknowledge), None);
}

#[test]
fn updates_parse_with_missing_fields() {
    let u: Update = serde_json::from_value(json!({
        "update_id": 5,
        "callback_query": {"id": "q1", "from": {"id": 77, "first_name": "Ann"}, "data": "res:9"}
    }))
    .unwrap();
    let q = u.callback_query.unwrap();
    assert_eq!((q.from.id, q.data.as_deref()), (77, Some("res:9")));
    assert!(q.message.is_none());
    assert_eq!(q.from.display_name(), "Ann");
    let u: Update = serde_json::from_value(json!({
        "update_id": 6,
        "message": {"message_id": 1, "chat": {"id": -100}, "from": {"id": 7, "username": "ann"}, "text": "/link X"}
    }))
    .unwrap();
    assert_eq!(u.message.unwrap().from.unwrap().display_name(), "@ann");
}
