//! Alerting through the real binary: a new error reaches a webhook
//! emulator within seconds, and a notification whose send was cut by
//! `kill -9` is sent again after the restart, with the same key.
//!
//! Rules and channels are written straight into the data dir before the
//! server starts (it/alerts_api.rs goes through the API).

use crate::harness::{Server, run_ok};
use crate::ingest::{envelope, post_envelope, setup};
use lookout_storage::sqlite::{SqliteOptions, SqliteStore};
use lookout_storage::{AlertSource, NewAlertRule, NewChannel, OutboxState, Store};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A blocking webhook receiver: records `(idempotency-key, body)`; the
/// first `hang` requests get no answer (their connection is kept open).
#[derive(Clone)]
pub(crate) struct Receiver {
    pub(crate) url: String,
    pub(crate) got: Arc<Mutex<Vec<(String, String)>>>,
}

impl Receiver {
    pub(crate) fn start(hang: usize) -> Receiver {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", l.local_addr().unwrap());
        let got: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
        let g = got.clone();
        std::thread::spawn(move || {
            let mut held: Vec<TcpStream> = Vec::new();
            for conn in l.incoming() {
                let Ok(mut conn) = conn else { continue };
                let mut r = BufReader::new(conn.try_clone().unwrap());
                let (mut len, mut key) = (0usize, String::new());
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    let lower = line.to_ascii_lowercase();
                    if let Some(v) = lower.strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                    if lower.starts_with("idempotency-key:") {
                        key = line["idempotency-key:".len()..].trim().to_string();
                    }
                }
                let mut body = vec![0u8; len];
                let _ = r.read_exact(&mut body);
                let n = {
                    let mut g = g.lock().unwrap();
                    g.push((key, String::from_utf8_lossy(&body).into_owned()));
                    g.len()
                };
                if n <= hang {
                    held.push(conn);
                } else {
                    let _ = conn.write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                    );
                }
            }
        });
        Receiver { url, got }
    }

    pub(crate) fn wait_for(&self, n: usize, limit: Duration) -> Vec<(String, String)> {
        let start = Instant::now();
        loop {
            let g = self.got.lock().unwrap().clone();
            if g.len() >= n || start.elapsed() > limit {
                return g;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

pub(crate) fn with_store<T>(dir: &Path, f: impl AsyncFnOnce(&SqliteStore) -> T) -> T {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = SqliteStore::open(SqliteOptions::new(dir)).unwrap();
        let out = f(&store).await;
        store.close().await.unwrap();
        out
    })
}

/// A critical "new issue" rule; the default routing tree sends critical
/// alerts to `telegram` and `email`, so a webhook channel named `telegram`
/// receives them (`email` is not set up and is skipped).
fn configure(dir: &Path, hook_url: &str) {
    with_store(dir, async |s| {
        let now = chrono::Utc::now();
        s.upsert_channel(
            NewChannel {
                name: "telegram".into(),
                kind: "webhook".into(),
                enabled: true,
                source: AlertSource::Api,
                config: serde_json::json!({"kind": "webhook", "url": hook_url}),
            },
            now,
        )
        .await
        .unwrap();
        s.create_alert_rule(
            NewAlertRule {
                name: "New issue".into(),
                enabled: true,
                source: AlertSource::Api,
                projects: vec![],
                spec: serde_json::json!({
                    "name": "New issue", "severity": "critical",
                    "condition": {"kind": "new_issue"}
                }),
                created_by: None,
            },
            now,
        )
        .await
        .unwrap();
    });
}

#[test]
fn a_new_error_reaches_the_webhook_after_group_wait() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    run_ok(&dir, &["migrate", "up"]);
    let hook = Receiver::start(0);
    configure(&dir, &hook.url);
    let s = Server::start_in(&dir, &[]);
    let p = setup(&s);
    let sent_at = Instant::now();
    let (code, _) = post_envelope(&s.base, &p, &envelope("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
    assert_eq!(code, 200);
    // group_wait is 30 s by default.
    let got = hook.wait_for(1, Duration::from_secs(45));
    assert_eq!(got.len(), 1, "{}", s.stderr());
    let waited = sent_at.elapsed();
    assert!(waited >= Duration::from_secs(29), "{waited:?}");
    let body: serde_json::Value = serde_json::from_str(&got[0].1).unwrap();
    assert_eq!(body["kind"], "firing");
    assert_eq!(body["rule"], "New issue");
    assert_eq!(body["project"], "shop");
    assert_eq!(body["severity"], "critical");
    let alert = &body["alerts"][0];
    assert!(
        alert["annotations"]["title"]
            .as_str()
            .unwrap()
            .starts_with("KeyError")
    );
    assert!(
        alert["generatorURL"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{}/issues/", s.base))
    );
    assert_eq!(got[0].0, body["id"].as_str().unwrap());
}

#[test]
fn a_send_cut_by_kill_9_is_sent_again_with_the_same_key() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    run_ok(&dir, &["migrate", "up"]);
    // The first request hangs: the server is killed while it waits.
    let hook = Receiver::start(1);
    configure(&dir, &hook.url);
    let s = Server::start_in(&dir, &[]);
    let p = setup(&s);
    let (code, _) = post_envelope(&s.base, &p, &envelope("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"));
    assert_eq!(code, 200);
    let got = hook.wait_for(1, Duration::from_secs(45));
    assert_eq!(got.len(), 1, "{}", s.stderr());
    s.signal("KILL");
    drop(s);
    let left = with_store(&dir, async |st| {
        st.list_outbox(Some(OutboxState::Sending), 10)
            .await
            .unwrap()
    });
    assert_eq!(left.len(), 1, "the row stays `sending` after the crash");

    let s = Server::start_in(&dir, &[]);
    let got = hook.wait_for(2, Duration::from_secs(20));
    assert_eq!(got.len(), 2, "{}", s.stderr());
    assert_eq!(got[0].0, got[1].0, "same idempotency key");
    // The same notification (links follow the new address: port 0).
    let (a, b): (serde_json::Value, serde_json::Value) = (
        serde_json::from_str(&got[0].1).unwrap(),
        serde_json::from_str(&got[1].1).unwrap(),
    );
    assert_eq!(a["id"], b["id"]);
    assert_eq!(a["at"], b["at"]);
    assert_eq!(a["alerts"][0]["fingerprint"], b["alerts"][0]["fingerprint"]);
    // No third copy, and the row ends sent.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(hook.got.lock().unwrap().len(), 2);
    drop(s);
    let sent = with_store(&dir, async |st| {
        st.list_outbox(Some(OutboxState::Sent), 10).await.unwrap()
    });
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].attempts, 2);
}

#[test]
fn rules_and_channels_from_lookout_toml_notify_within_seconds() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let hook = Receiver::start(0);
    let config = tmp.path().join("lookout.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[alerts]
[[alerts.rules]]
name = "New error"
severity = "high"
condition = {{ kind = "new_issue" }}

[alerts.routes]
receivers = ["hook"]
group_wait = "1s"

[alerts.channels.hook]
kind = "webhook"
url = "{}"
secret = "s3cret"
format = "alertmanager"
"#,
            hook.url
        ),
    )
    .unwrap();
    let cfg = config.to_str().unwrap();
    let s = Server::start_in(&dir, &[("LOOKOUT_CONFIG", cfg)]);
    let p = setup(&s);
    let sent_at = Instant::now();
    let (code, _) = post_envelope(&s.base, &p, &envelope("cccccccccccccccccccccccccccccccc"));
    assert_eq!(code, 200);
    let got = hook.wait_for(1, Duration::from_secs(10));
    let waited = sent_at.elapsed();
    assert_eq!(got.len(), 1, "{}", s.stderr());
    // group_wait 1 s plus at most a 1 s tick and the outbox's 0.5 s poll.
    assert!(waited < Duration::from_secs(4), "{waited:?}");
    let body: serde_json::Value = serde_json::from_str(&got[0].1).unwrap();
    assert_eq!(body["version"], "4");
    assert_eq!(body["status"], "firing");
    assert_eq!(body["commonLabels"]["alertname"], "New error");
    // The configuration's rule and channel are in storage, marked as such.
    drop(s);
    let (rules, channels) = with_store(&dir, async |st| {
        (
            st.list_alert_rules().await.unwrap(),
            st.list_channels().await.unwrap(),
        )
    });
    let from_config: Vec<&str> = rules
        .iter()
        .filter(|r| r.source == AlertSource::Config)
        .map(|r| r.name.as_str())
        .collect();
    assert_eq!(from_config, vec!["New error"]);
    // Beside it, the install-health rules every data dir starts with.
    let mut defaults: Vec<&str> = rules
        .iter()
        .filter(|r| r.source == AlertSource::Api)
        .map(|r| r.name.as_str())
        .collect();
    defaults.sort();
    assert_eq!(
        defaults,
        vec!["Backup failed", "Disk space low", "Storage damaged"]
    );
    assert_eq!(channels[0].name, "hook");
}
