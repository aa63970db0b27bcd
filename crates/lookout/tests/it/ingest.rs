//! Error ingest through the real binary: recorded SDK requests, durability
//! under `kill -9`, and the rejection paths.

use crate::harness::{Server, agent, run_ok};
use base64::Engine;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A project plus an API token on a running server.
pub struct Project {
    pub id: i64,
    pub key: String,
    pub token: String,
}

pub fn setup(s: &Server) -> Project {
    let p: Value = serde_json::from_str(&run_ok(
        &s.dir,
        &["project", "create", "--name", "shop", "--json"],
    ))
    .unwrap();
    let t: Value = serde_json::from_str(&run_ok(
        &s.dir,
        &["token", "create", "--name", "t", "--json"],
    ))
    .unwrap();
    let dsn = p["dsn"].as_str().unwrap();
    let key = dsn.split("//").nth(1).unwrap().split('@').next().unwrap();
    Project {
        id: p["id"].as_i64().unwrap(),
        key: key.to_string(),
        token: t["token"].as_str().unwrap().to_string(),
    }
}

pub fn api(s: &Server, p: &Project, path: &str) -> (u16, Value) {
    let mut resp = agent()
        .get(format!("{}{}", s.base, path))
        .header("Authorization", &format!("Bearer {}", p.token))
        .call()
        .unwrap();
    let code = resp.status().as_u16();
    let body = resp.body_mut().read_to_string().unwrap_or_default();
    (code, serde_json::from_str(&body).unwrap_or(Value::Null))
}

fn fixture_event() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../lookout-ingest/tests/data/req_001.event.json"
    ))
    .unwrap()
}

/// An uncompressed envelope carrying the recorded KeyError with `event_id`.
pub fn envelope(event_id: &str) -> Vec<u8> {
    let ev = fixture_event()
        .trim()
        .replacen("4896a11f19624a2b9c8d46e6805006e0", event_id, 1);
    assert!(ev.contains(event_id), "the fixture's event_id was replaced");
    format!(
        "{{\"event_id\":\"{event_id}\"}}\n{{\"type\":\"event\",\"length\":{}}}\n{ev}\n",
        ev.len()
    )
    .into_bytes()
}

pub fn post_envelope(base: &str, p: &Project, body: &[u8]) -> (u16, String) {
    let mut resp = agent()
        .post(format!("{base}/api/{}/envelope/", p.id))
        .header(
            "X-Sentry-Auth",
            &format!("Sentry sentry_key={}, sentry_version=7", p.key),
        )
        .header("Content-Type", "application/x-sentry-envelope")
        .send(body)
        .unwrap();
    let code = resp.status().as_u16();
    (code, resp.body_mut().read_to_string().unwrap_or_default())
}

#[test]
fn recorded_sdk_requests_make_four_issues_from_seven_events() {
    let s = Server::start();
    let p = setup(&s);
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/sentry-python");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 10);
    for f in &files {
        let rec: Value = serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap();
        let body = base64::engine::general_purpose::STANDARD
            .decode(rec["body_b64"].as_str().unwrap())
            .unwrap();
        let auth = rec["headers"]["X-Sentry-Auth"]
            .as_str()
            .unwrap()
            .replace("0123456789abcdef0123456789abcdef", &p.key);
        let mut resp = agent()
            .post(format!("{}/api/{}/envelope/", s.base, p.id))
            .header("X-Sentry-Auth", &auth)
            .header("Content-Encoding", "br")
            .header("Content-Type", "application/x-sentry-envelope")
            .send(&body[..])
            .unwrap();
        let text = resp.body_mut().read_to_string().unwrap();
        assert_eq!(resp.status().as_u16(), 200, "{f:?}: {text}");
        assert!(text.contains("\"id\""), "{text}");
    }
    let (code, v) = api(
        &s,
        &p,
        &format!("/api/v1/projects/{}/issues?status=all&sort=events", p.id),
    );
    assert_eq!(code, 200);
    let items = v["items"].as_array().unwrap();
    let mut counts: Vec<i64> = items.iter().map(|i| i["count"].as_i64().unwrap()).collect();
    counts.sort();
    assert_eq!(counts, vec![1, 1, 2, 3], "{v}");
    assert!(items[0]["title"].as_str().unwrap().starts_with("KeyError"));
    assert_eq!(items[0]["culprit"], "load_order in shopbot.handlers");
    let (_, tx) = api(&s, &p, &format!("/api/v1/projects/{}/transactions", p.id));
    assert_eq!(tx["items"].as_array().unwrap().len(), 1);
    assert_eq!(tx["items"][0]["transaction"], "process_task_batch");
    let (_, ci) = api(&s, &p, &format!("/api/v1/projects/{}/check-ins", p.id));
    let statuses: Vec<&str> = ci["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, vec!["ok", "in_progress"]);
    // The full event keeps frames with context and variables.
    let (_, evs) = api(&s, &p, &format!("/api/v1/issues/{}/events", items[0]["id"]));
    let eid = evs["items"][0]["event_id"].as_str().unwrap().to_string();
    let (code, ev) = api(&s, &p, &format!("/api/v1/events/{eid}"));
    assert_eq!(code, 200);
    let frames = &ev["event"]["exception"]["values"][0]["stacktrace"]["frames"];
    assert!(
        frames
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["vars"].is_object())
    );
    assert!(ev["event"]["breadcrumbs"]["values"].is_array());
}

#[test]
fn acknowledged_events_survive_kill_9() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let mut s = Server::start_in(&dir, &[]);
    let p = setup(&s);
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop_at = Instant::now() + Duration::from_secs(2);
    let mut threads = Vec::new();
    for t in 0..4 {
        let base = s.base.clone();
        let acked = acked.clone();
        let p = Project {
            id: p.id,
            key: p.key.clone(),
            token: String::new(),
        };
        threads.push(std::thread::spawn(move || {
            let mut n = 0u64;
            // Bounded in time and count.
            while Instant::now() < stop_at && n < 5000 {
                let id = format!("{:08x}{:024x}", t, n);
                let body = envelope(&id);
                let Ok(mut resp) = agent()
                    .post(format!("{base}/api/{}/envelope/", p.id))
                    .header("X-Sentry-Auth", &format!("Sentry sentry_key={}", p.key))
                    .send(&body[..])
                else {
                    break; // the server is gone
                };
                if resp.status().as_u16() == 200 {
                    let _ = resp.body_mut().read_to_string();
                    acked.lock().unwrap().push(id);
                }
                n += 1;
            }
        }));
    }
    // Kill the server hard while the senders are still going.
    std::thread::sleep(Duration::from_millis(1200));
    s.signal("KILL");
    s.wait_exit(Duration::from_secs(10));
    for t in threads {
        t.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() > 50, "load produced only {} acks", acked.len());
    let s2 = Server::start_in(&dir, &[]);
    let mut missing = Vec::new();
    for id in &acked {
        let (code, body) = api(&s2, &p, &format!("/api/v1/events/{id}"));
        if code != 200 {
            missing.push(format!("{id}: {code} {body}"));
        }
    }
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged events lost: {:?}",
        missing.len(),
        acked.len(),
        &missing[..missing.len().min(5)]
    );
    // And the issue counts them all exactly once.
    let (_, v) = api(
        &s2,
        &p,
        &format!("/api/v1/projects/{}/issues?status=all", p.id),
    );
    let total: i64 = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["count"].as_i64().unwrap())
        .sum();
    assert!(
        total >= acked.len() as i64,
        "issue counts {total} < acked {}",
        acked.len()
    );
}

#[test]
fn chunked_bodies_and_first_release_filter() {
    let s = Server::start();
    let p = setup(&s);
    let mk = |id: &str, release: &str| {
        let ev = format!(
            "{{\"event_id\":\"{id}\",\"message\":\"boom: {}\",\"release\":\"{release}\"}}",
            if release == "1.0" { "alpha" } else { "beta" }
        );
        format!("{{}}\n{{\"type\":\"event\"}}\n{ev}\n").into_bytes()
    };
    for (i, rel) in ["1.0", "1.1"].iter().enumerate() {
        let body = mk(&format!("{:032x}", i + 77), rel);
        // A reader body is sent with Transfer-Encoding: chunked.
        let mut reader = std::io::Cursor::new(body);
        let resp = agent()
            .post(format!("{}/api/{}/envelope/", s.base, p.id))
            .header("X-Sentry-Auth", &format!("Sentry sentry_key={}", p.key))
            .send(ureq::SendBody::from_reader(&mut reader))
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
    }
    let (_, v) = api(
        &s,
        &p,
        &format!("/api/v1/projects/{}/issues?first_release=1.1", p.id),
    );
    let items = v["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{v}");
    assert_eq!(items[0]["first_release"], "1.1");
}

#[test]
fn duplicate_event_ids_are_stored_once() {
    let s = Server::start();
    let p = setup(&s);
    let body = envelope("00000000000000000000000000000abc");
    for _ in 0..3 {
        assert_eq!(post_envelope(&s.base, &p, &body).0, 200);
    }
    let (_, v) = api(&s, &p, &format!("/api/v1/projects/{}/issues", p.id));
    assert_eq!(v["items"][0]["count"], 1);
}

#[test]
fn rejections_get_the_right_status_and_are_counted() {
    let s = Server::start();
    let p = setup(&s);
    let body = envelope("00000000000000000000000000000001");
    let post = |path: String, headers: &[(&str, &str)], body: &[u8]| {
        let mut req = agent().post(format!("{}{}", s.base, path));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let mut resp = req.send(body).unwrap();
        let code = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        (code, text)
    };
    let ep = format!("/api/{}/envelope/", p.id);
    // No key: 401.
    let (code, text) = post(ep.clone(), &[], &body);
    assert_eq!(code, 401, "{text}");
    assert!(text.contains("detail"));
    // Unknown key: 403.
    let (code, _) = post(
        ep.clone(),
        &[(
            "X-Sentry-Auth",
            "Sentry sentry_key=ffffffffffffffffffffffffffffffff",
        )],
        &body,
    );
    assert_eq!(code, 403);
    // Key of another project: 403.
    let (code, text) = post(
        "/api/999/envelope/".into(),
        &[("X-Sentry-Auth", &format!("Sentry sentry_key={}", p.key))],
        &body,
    );
    assert_eq!(code, 403, "{text}");
    let auth = format!("Sentry sentry_key={}", p.key);
    // Malformed envelope: 400 with a reason.
    let (code, text) = post(ep.clone(), &[("X-Sentry-Auth", &auth)], b"{}\n{not json}\n");
    assert_eq!(code, 400, "{text}");
    assert!(text.contains("item"), "{text}");
    // Oversized event item: 413 naming the limit.
    let big = format!(
        "{{}}\n{{\"type\":\"event\"}}\n{{\"message\":\"{}\"}}\n",
        "x".repeat(1_100_000)
    );
    let (code, text) = post(ep.clone(), &[("X-Sentry-Auth", &auth)], big.as_bytes());
    assert_eq!(code, 413, "{text}");
    assert!(text.contains("1048576"), "{text}");
    // Unsupported encoding: 415.
    let (code, _) = post(
        ep.clone(),
        &[("X-Sentry-Auth", &auth), ("Content-Encoding", "lzma")],
        &body,
    );
    assert_eq!(code, 415);
    // Query-string auth works.
    let (code, _) = post(format!("{ep}?sentry_key={}", p.key), &[], &body);
    assert_eq!(code, 200);
    let (_, metrics) = s.get("/metrics");
    for reason in ["unauthorized", "forbidden", "invalid", "too_large"] {
        let line = metrics
            .lines()
            .find(|l| {
                l.starts_with(&format!(
                    "lookout_ingest_rejected_total{{reason=\"{reason}\"}}"
                ))
            })
            .unwrap_or_else(|| panic!("no counter for {reason}"));
        let n: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
        assert!(n >= 1.0, "{line}");
    }
}

#[test]
fn quota_answers_429_with_sentry_headers() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Server::start_in(
        &tmp.path().join("data"),
        &[("LOOKOUT_INGEST__EVENTS_PER_MINUTE", "3")],
    );
    let p = setup(&s);
    let mut last = None;
    for i in 0..5 {
        let body = envelope(&format!("{i:032x}"));
        let resp = agent()
            .post(format!("{}/api/{}/envelope/", s.base, p.id))
            .header("X-Sentry-Auth", &format!("Sentry sentry_key={}", p.key))
            .send(&body[..])
            .unwrap();
        last = Some((
            resp.status().as_u16(),
            resp.headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_string()),
            resp.headers()
                .get("x-sentry-rate-limits")
                .map(|v| v.to_str().unwrap().to_string()),
        ));
        if i < 3 {
            assert_eq!(last.as_ref().unwrap().0, 200);
        }
    }
    let (code, retry, limits) = last.unwrap();
    assert_eq!(code, 429);
    assert!(retry.unwrap().parse::<u64>().unwrap() >= 1);
    assert!(
        limits.unwrap().contains("::project"),
        "X-Sentry-Rate-Limits"
    );
    let (_, stats) = api(&s, &p, &format!("/api/v1/projects/{}/stats", p.id));
    assert_eq!(stats["totals"]["accepted"], 3, "{stats}");
    assert_eq!(stats["totals"]["rate_limited"], 2, "{stats}");
}

#[test]
fn attachments_are_stored_capped_and_downloadable() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Server::start_in(
        &tmp.path().join("data"),
        &[("LOOKOUT_INGEST__MAX_ATTACHMENT_BYTES", "1000")],
    );
    let p = setup(&s);
    let id = "0000000000000000000000000000a77a";
    let att = "<script>alert(1)</script> log line\n";
    let body = format!(
        "{{\"event_id\":\"{id}\"}}\n{{\"type\":\"event\"}}\n{{\"message\":\"with a file\"}}\n\
         {{\"type\":\"attachment\",\"filename\":\"../../etc/app.log\",\"content_type\":\"text/html\",\"length\":{}}}\n{att}\n",
        att.len()
    );
    let (code, text) = post_envelope(&s.base, &p, body.as_bytes());
    assert_eq!(code, 200, "{text}");
    let (code, ev) = api(&s, &p, &format!("/api/v1/events/{id}"));
    assert_eq!(code, 200);
    let a = &ev["attachments"][0];
    assert_eq!(a["filename"], "../../etc/app.log");
    assert_eq!(a["size"], att.len());
    let resp = agent()
        .get(format!(
            "{}/api/v1/events/{id}/attachments/{}",
            s.base, a["id"]
        ))
        .header("Authorization", &format!("Bearer {}", p.token))
        .call()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    // Always a download, never rendered, with a harmless file name.
    assert_eq!(resp.headers()["content-type"], "application/octet-stream");
    let cd = resp.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(cd.starts_with("attachment;") && !cd.contains('/'), "{cd}");
    assert_eq!(resp.into_body().read_to_string().unwrap(), att);
    // Over the configured cap: 413 naming the limit, nothing stored.
    let big = "x".repeat(2000);
    let body = format!(
        "{{\"event_id\":\"0000000000000000000000000000b00b\"}}\n{{\"type\":\"attachment\",\"filename\":\"big.bin\",\"length\":2000}}\n{big}\n"
    );
    let (code, text) = post_envelope(&s.base, &p, body.as_bytes());
    assert_eq!(code, 413, "{text}");
    assert!(text.contains("1000"), "{text}");
}

/// Envelopes posted to a project by a few threads, each with a fresh event
/// id, until stopped (at most 20,000 per thread); remembers which ones the
/// server acknowledged.
pub struct Load {
    acked: Arc<Mutex<Vec<String>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    /// Starts `threads` posting threads against `base`.
    pub fn start(base: &str, p: &Project, threads: usize) -> Load {
        use std::sync::atomic::{AtomicBool, Ordering};
        let acked = Arc::new(Mutex::new(Vec::<String>::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..threads)
            .map(|t| {
                let (base, acked, stop) = (base.to_string(), acked.clone(), stop.clone());
                let p = Project {
                    id: p.id,
                    key: p.key.clone(),
                    token: String::new(),
                };
                std::thread::spawn(move || {
                    let mut n = 0u64;
                    while !stop.load(Ordering::Relaxed) && n < 20_000 {
                        let id = format!("{t:08x}{n:024x}");
                        if post_envelope(&base, &p, &envelope(&id)).0 == 200 {
                            acked.lock().unwrap().push(id);
                        }
                        n += 1;
                    }
                })
            })
            .collect();
        Load {
            acked,
            stop,
            threads,
        }
    }

    /// The event ids acknowledged so far.
    pub fn acked(&self) -> Vec<String> {
        self.acked.lock().unwrap().clone()
    }

    /// Stops the threads; returns every acknowledged id.
    pub fn stop(self) -> Vec<String> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for t in self.threads {
            t.join().unwrap();
        }
        self.acked.lock().unwrap().clone()
    }
}
