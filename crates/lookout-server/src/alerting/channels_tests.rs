//! Each channel against a loopback emulator.

use super::*;
use crate::alerting::emulator::{Emulator, Reply};
use chrono::DateTime;
use lookout_alert::{Alert, AlertKey, AlertState, Labels, NotificationKind, Severity, Subject};

fn t(s: i64) -> chrono::DateTime<chrono::Utc> {
    DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap()
}

pub(crate) fn sample_notification() -> Notification {
    let labels: Labels = [
        ("alertname", "New issue"),
        ("severity", "critical"),
        ("project", "shop-bot"),
        ("project_id", "3"),
        ("issue_id", "17"),
        ("environment", "production"),
        ("kind", "new_issue"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let annotations: Labels = [
        ("title", "KeyError: 'user_42'"),
        ("exception", "'user_42'"),
        ("frame", "bot/handlers.py:42 in verify"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    Notification {
        group: "0.0/1/3".into(),
        id: "0.0/1/3@1700000000000#1".into(),
        kind: NotificationKind::Firing,
        receivers: vec!["telegram".into()],
        severity: Severity::Critical,
        rule_name: "New issue".into(),
        project_id: Some(3),
        at: t(30),
        firing: vec![Alert {
            key: AlertKey {
                rule_id: 1,
                fingerprint: "project=3,issue=17".into(),
            },
            rule_name: "New issue".into(),
            severity: Severity::Critical,
            state: AlertState::Firing,
            labels,
            annotations,
            subject: Subject::Issue {
                project_id: 3,
                issue_id: 17,
            },
            active_since: t(0),
            starts_at: Some(t(0)),
            ends_at: None,
            last_seen: t(0),
            count: 1,
            acknowledged: None,
            resolved_by: None,
        }],
        resolved: vec![],
    }
}

fn ctx() -> RenderContext {
    RenderContext {
        public_url: "http://lookout.test".into(),
        ..RenderContext::default()
    }
}

fn senders() -> Senders {
    Senders::new(SmtpConfig::default())
}

#[tokio::test]
async fn telegram_sends_html_with_thread_and_buttons() {
    let emu = Emulator::start().await;
    let cfg = ChannelConfig::Telegram {
        bot_token: "123:SECRET".into(),
        chat_id: "-100200".into(),
        message_thread_id: Some(7),
        api_base_url: emu.base.clone(),
    };
    let n = sample_notification();
    let out = senders().send(&cfg, &n, &ctx(), "k1", "55").await;
    assert_eq!(out, SendOutcome::Sent);
    let reqs = emu.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].path, "/bot123:SECRET/sendMessage");
    let body = reqs[0].json();
    assert_eq!(body["chat_id"], -100200);
    assert_eq!(body["message_thread_id"], 7);
    assert_eq!(body["parse_mode"], "HTML");
    assert_eq!(body["text"], render::telegram_html(&n, &ctx()));
    assert_eq!(
        body["reply_markup"]["inline_keyboard"][0][1]["callback_data"],
        "res:55"
    );
}

#[tokio::test]
async fn telegram_429_honours_retry_after_and_400_is_permanent() {
    let emu = Emulator::start().await;
    emu.script([
        Reply::Status(
            429,
            r#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 3","parameters":{"retry_after":3}}"#.into(),
            vec![],
        ),
        Reply::Status(
            400,
            r#"{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}"#.into(),
            vec![],
        ),
    ]);
    let cfg = ChannelConfig::Telegram {
        bot_token: "123:SECRET".into(),
        chat_id: "42".into(),
        message_thread_id: None,
        api_base_url: emu.base.clone(),
    };
    let s = senders();
    let n = sample_notification();
    let out = s.send(&cfg, &n, &ctx(), "k", "1").await;
    assert_eq!(
        out,
        SendOutcome::Retry {
            error: "Telegram sendMessage: HTTP 429: Too Many Requests: retry after 3".into(),
            after: Some(Duration::from_secs(3)),
        }
    );
    // The chat is blocked for 3 s: the next send waits.
    let started = std::time::Instant::now();
    let out = s.send(&cfg, &n, &ctx(), "k", "1").await;
    assert!(
        started.elapsed() >= Duration::from_millis(1900),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        out,
        SendOutcome::Failed {
            error: "Telegram sendMessage: HTTP 400: Bad Request: chat not found".into()
        }
    );
}

#[tokio::test]
async fn webhook_is_signed_and_carries_the_idempotency_key() {
    let emu = Emulator::start().await;
    let cfg = ChannelConfig::Webhook {
        url: format!("{}/hook", emu.base),
        secret: Some("s3cret".into()),
        format: WebhookFormat::Lookout,
    };
    let out = senders()
        .send(&cfg, &sample_notification(), &ctx(), "key-1/hook", "1")
        .await;
    assert_eq!(out, SendOutcome::Sent);
    let r = &emu.requests()[0];
    assert_eq!(r.headers["idempotency-key"], "key-1/hook");
    assert_eq!(
        r.headers["x-lookout-signature-256"].to_str().unwrap(),
        format!("sha256={}", render::hmac_sha256_hex(b"s3cret", &r.body))
    );
    assert_eq!(r.json()["id"], "key-1/hook");
    assert_eq!(r.json()["alerts"][0]["labels"]["issue_id"], "17");

    let cfg = ChannelConfig::Webhook {
        url: format!("{}/am", emu.base),
        secret: None,
        format: WebhookFormat::Alertmanager,
    };
    senders()
        .send(&cfg, &sample_notification(), &ctx(), "key-2/am", "1")
        .await;
    let r = &emu.requests()[1];
    assert_eq!(r.json()["version"], "4");
    assert!(r.headers.get("x-lookout-signature-256").is_none());
}

#[tokio::test]
async fn slack_and_discord_classify_errors() {
    let emu = Emulator::start().await;
    emu.script([
        Reply::Status(
            429,
            r#"{"message":"You are being rate limited.","retry_after":1.5,"global":false}"#.into(),
            vec![],
        ),
        Reply::Status(503, "busy".into(), vec![("retry-after".into(), "7".into())]),
        Reply::Status(404, "no_team".into(), vec![]),
    ]);
    let discord = ChannelConfig::Discord {
        webhook_url: format!("{}/api/webhooks/1/tok", emu.base),
    };
    let slack = ChannelConfig::Slack {
        webhook_url: format!("{}/services/T/B/X", emu.base),
    };
    let n = sample_notification();
    let s = senders();
    assert_eq!(
        s.send(&discord, &n, &ctx(), "k", "1").await,
        SendOutcome::Retry {
            error: r#"HTTP 429: {"message":"You are being rate limited.","retry_after":1.5,"global":false}"#.into(),
            after: Some(Duration::from_millis(1500)),
        }
    );
    assert_eq!(
        s.send(&slack, &n, &ctx(), "k", "1").await,
        SendOutcome::Retry {
            error: "HTTP 503: busy".into(),
            after: Some(Duration::from_secs(7)),
        }
    );
    assert_eq!(
        s.send(&slack, &n, &ctx(), "k", "1").await,
        SendOutcome::Failed {
            error: "HTTP 404: no_team".into()
        }
    );
    let reqs = emu.requests();
    assert_eq!(
        reqs[0].json()["allowed_mentions"]["parse"],
        serde_json::json!([])
    );
    assert!(
        reqs[1].json()["text"]
            .as_str()
            .unwrap()
            .contains("KeyError")
    );
}

#[tokio::test]
async fn unreachable_endpoints_retry_and_never_leak_the_secret() {
    // A port nobody listens on.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    let cfg = ChannelConfig::Telegram {
        bot_token: "999:TOPSECRET".into(),
        chat_id: "1".into(),
        message_thread_id: None,
        api_base_url: format!("http://127.0.0.1:{port}"),
    };
    match senders()
        .send(&cfg, &sample_notification(), &ctx(), "k", "1")
        .await
    {
        SendOutcome::Retry { error, .. } => assert!(!error.contains("TOPSECRET"), "{error}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn config_is_strict_validated_and_redacted() {
    let cfg: ChannelConfig = serde_json::from_value(serde_json::json!({
        "kind": "telegram", "bot_token": "1:x", "chat_id": "42"
    }))
    .unwrap();
    cfg.validate().unwrap();
    let red = cfg.redacted();
    assert_eq!(red["bot_token"], "***");
    assert_eq!(red["api_base_url"], TELEGRAM_API);
    assert_eq!(format!("{cfg:?}"), "ChannelConfig::telegram");
    assert!(
        serde_json::from_value::<ChannelConfig>(serde_json::json!({
            "kind": "slack", "webhook_url": "http://x", "channel": "#ops"
        }))
        .is_err()
    );
    let bad: ChannelConfig =
        serde_json::from_value(serde_json::json!({"kind": "email", "to": []})).unwrap();
    assert!(bad.validate().is_err());
}
