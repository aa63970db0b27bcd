//! Backups, restore, integrity and the disk guard, through the real binary.

use crate::harness::{Server, agent, cmd, run, run_ok};
use crate::ingest::{Load, Project, api, envelope, post_envelope, setup};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// No scheduled backups unless a test asks for them.
const NO_SCHEDULE: (&str, &str) = ("LOOKOUT_BACKUP__ENABLED", "false");

fn list(dir: &Path) -> Vec<Value> {
    let out = run_ok(dir, &["backup", "list", "--json"]);
    serde_json::from_str::<Value>(&out)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn event_exists(s: &Server, p: &Project, id: &str) -> bool {
    api(s, p, &format!("/api/v1/events/{id}")).0 == 200
}

#[test]
fn backup_during_ingest_holds_every_event_acknowledged_before_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let s = Server::start_in(&dir, &[NO_SCHEDULE]);
    let p = setup(&s);
    let load = Load::start(&s.base, &p, 3);
    std::thread::sleep(Duration::from_millis(800));
    let before = load.acked();
    let out = run_ok(&dir, &["backup", "create", "--name", "during", "--json"]);
    let after_count = load.acked().len();
    std::thread::sleep(Duration::from_millis(300));
    load.stop();
    let m: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(m["name"], "during");
    assert!(
        before.len() > 20,
        "load produced only {} acks",
        before.len()
    );
    assert!(
        after_count > before.len(),
        "ingest went on while the backup ran"
    );
    s.stop();

    let restored = tmp.path().join("restored");
    let out = run_ok(
        &dir,
        &[
            "backup",
            "restore",
            "during",
            "--into",
            restored.to_str().unwrap(),
        ],
    );
    assert!(out.contains("restored backup during"), "{out}");
    let s2 = Server::start_in(&restored, &[NO_SCHEDULE]);
    let missing: Vec<&String> = before
        .iter()
        .filter(|id| !event_exists(&s2, &p, id))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged events missing from the backup",
        missing.len(),
        before.len()
    );
}

#[test]
fn a_flipped_byte_fails_verify_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let s = Server::start_in(&dir, &[NO_SCHEDULE]);
    setup(&s);
    run_ok(&dir, &["backup", "create", "--name", "b1"]);
    let out = run_ok(&dir, &["backup", "verify", "b1"]);
    assert!(out.contains("is sound"), "{out}");
    assert!(out.contains("projects"), "row counts per table: {out}");
    assert_eq!(list(&dir)[0]["state"], "verified");

    let data = dir.join("backups/b1.db.zst");
    let mut bytes = std::fs::read(&data).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(&data, &bytes).unwrap();
    let out = run(&dir, &["backup", "verify", "b1"], None);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("b1.db.zst"), "names the file: {err}");
    assert!(err.contains("SHA-256"), "{err}");
    assert_eq!(list(&dir)[0]["state"], "failed");
    // A missing backup and a bad name are clear errors too.
    let out = run(&dir, &["backup", "verify", "nope"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no backup named `nope`"));
    let out = run(&dir, &["backup", "create", "--name", "../x"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid backup name"));
}

#[test]
fn restore_refuses_a_running_server_and_keeps_the_replaced_data() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let s = Server::start_in(&dir, &[NO_SCHEDULE]);
    run_ok(&dir, &["project", "create", "--name", "first"]);
    run_ok(&dir, &["backup", "create", "--name", "one"]);
    run_ok(&dir, &["project", "create", "--name", "second"]);
    let out = run(
        &dir,
        &["backup", "restore", "one", "--into", dir.to_str().unwrap()],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is running") && err.contains("pid"), "{err}");
    // A second server on the same data dir is refused too.
    let out = run(&dir, &["serve", "--listen", "127.0.0.1:0"], None);
    assert_eq!(out.status.code(), Some(1));
    s.stop();

    let out = run_ok(
        &dir,
        &["backup", "restore", "one", "--into", dir.to_str().unwrap()],
    );
    assert!(out.contains("moved to"), "{out}");
    let aside: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("replaced-")
        })
        .collect();
    assert_eq!(aside.len(), 1);
    assert!(aside[0].join("lookout.db").is_file(), "old data kept");
    let projects = run_ok(&dir, &["project", "list", "--json"]);
    assert!(
        projects.contains("first") && !projects.contains("second"),
        "{projects}"
    );
}

#[test]
fn a_backup_at_an_older_schema_migrates_up_on_start() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let s = Server::start_in(&dir, &[NO_SCHEDULE]);
    run_ok(&dir, &["project", "create", "--name", "old-times"]);
    s.stop();
    let st: Value = serde_json::from_str(&run_ok(&dir, &["migrate", "status", "--json"])).unwrap();
    let latest = st["latest"].as_u64().unwrap();
    // The version before the latest (versions may have gaps).
    let hist: Value =
        serde_json::from_str(&run_ok(&dir, &["migrate", "history", "--json"])).unwrap();
    let hist = hist.as_array().unwrap();
    let previous = hist[hist.len() - 2]["version"].as_u64();
    assert_eq!(hist[hist.len() - 1]["version"].as_u64(), Some(latest));
    run_ok(&dir, &["migrate", "down"]);
    // One step down is the previous applied version (versions may have gaps).
    let st: Value = serde_json::from_str(&run_ok(&dir, &["migrate", "status", "--json"])).unwrap();
    let older = st["current"].as_u64().unwrap();
    assert_eq!(Some(older), previous);
    run_ok(&dir, &["backup", "create", "--name", "older"]);
    assert_eq!(list(&dir)[0]["schema_version"].as_u64(), Some(older));
    let restored = tmp.path().join("restored");
    run_ok(
        &dir,
        &[
            "backup",
            "restore",
            "older",
            "--into",
            restored.to_str().unwrap(),
        ],
    );
    let s2 = Server::start_in(&restored, &[NO_SCHEDULE]);
    assert_eq!(s2.get("/ready").0, 200);
    let st: Value =
        serde_json::from_str(&run_ok(&restored, &["migrate", "status", "--json"])).unwrap();
    assert_eq!(st["current"].as_u64(), Some(latest), "migrated up on start");
    assert!(run_ok(&restored, &["project", "list"]).contains("old-times"));
}

#[test]
fn kill_9_mid_backup_never_leaves_a_listed_backup() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let s = Server::start_in(&dir, &[NO_SCHEDULE]);
    setup(&s);
    let mut c = cmd(&dir);
    c.args(["backup", "create", "--name", "crashed"])
        .env("LOOKOUTTEST_BACKUP_PAUSE_MS", "20000")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let line = lines.next().unwrap().unwrap();
    assert!(line.contains("pausing"), "{line}");
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(
        dir.join("backups/crashed.db.zst").exists(),
        "the data file was written"
    );
    assert!(list(&dir).is_empty(), "no manifest, so not listed");
    let out = run(&dir, &["backup", "verify", "crashed"], None);
    assert_eq!(out.status.code(), Some(1));
    // The name is free again, and the next backup is whole.
    run_ok(&dir, &["backup", "create", "--name", "crashed"]);
    run_ok(&dir, &["backup", "verify", "crashed"]);
    assert_eq!(list(&dir).len(), 1);
}

fn corrupt_database(dir: &Path) {
    let path = dir.join("lookout.db");
    let mut bytes = std::fs::read(&path).unwrap();
    assert!(bytes.len() > 16384, "{} bytes", bytes.len());
    for b in &mut bytes[4096..4096 + 600] {
        *b = 0xA5;
    }
    std::fs::write(&path, &bytes).unwrap();
}

#[test]
fn a_damaged_database_is_refused_and_auto_recover_restores_the_latest_verified_backup() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let s = Server::start_in(&dir, &[NO_SCHEDULE]);
    for i in 0..30 {
        run_ok(&dir, &["project", "create", "--name", &format!("p{i}")]);
    }
    run_ok(&dir, &["backup", "create", "--name", "good"]);
    s.stop();
    corrupt_database(&dir);

    let out = run(&dir, &["check"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("damaged"));
    let out = run(&dir, &["serve", "--listen", "127.0.0.1:0"], None);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("corrupt") && err.contains("--auto-recover"),
        "{err}"
    );

    let s = Server::start_with(&dir, &["--auto-recover"], &[NO_SCHEDULE]);
    assert_eq!(s.get("/ready").0, 200);
    let log = s.stderr();
    assert!(log.contains("AUTO-RECOVERY"), "{log}");
    let projects = run_ok(&dir, &["project", "list", "--json"]);
    assert!(projects.contains("p29"), "{projects}");
    let kept = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .any(|e| e.file_name().to_string_lossy().starts_with("corrupt-"));
    assert!(kept, "the damaged files are kept aside");
    run_ok(&dir, &["check"]);
    let t: Value = serde_json::from_str(&run_ok(
        &dir,
        &["token", "create", "--name", "ops", "--json"],
    ))
    .unwrap();
    let (code, body) = crate::harness::http_get(
        &format!("{}/api/v1/system-events", s.base),
        &[(
            "Authorization",
            &format!("Bearer {}", t["token"].as_str().unwrap()),
        )],
    );
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("recovery.restored"), "{body}");
}

/// A tmpfs mount, unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(at).ok()?;
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs(at.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

fn ingest_status(s: &Server, p: &Project, n: u64) -> u16 {
    post_envelope(&s.base, p, &envelope(&format!("{n:032x}"))).0
}

#[test]
fn the_disk_guard_answers_507_and_resumes_when_space_returns() {
    let tmp = tempfile::tempdir().unwrap();
    let mnt = tmp.path().join("mnt");
    let Some(fs) = Tmpfs::mount(&mnt, "64m") else {
        // No tmpfs (not root): raise the watermark above the free space,
        // then lower it with a restart.
        eprintln!("tmpfs unavailable; testing the disk guard by its watermark");
        let dir = tmp.path().join("data");
        let s = Server::start_in(
            &dir,
            &[
                NO_SCHEDULE,
                ("LOOKOUT_DISK__MIN_FREE_BYTES", "9000000000000000000"),
            ],
        );
        let p = setup(&s);
        assert_eq!(ingest_status(&s, &p, 1), 507);
        s.stop();
        let s = Server::start_in(&dir, &[NO_SCHEDULE]);
        assert_eq!(ingest_status(&s, &p, 2), 200);
        return;
    };
    let dir = mnt.join("data");
    let s = Server::start_in(
        &dir,
        &[NO_SCHEDULE, ("LOOKOUT_DISK__MIN_FREE_BYTES", "31457280")],
    );
    let p = setup(&s);
    assert_eq!(ingest_status(&s, &p, 1), 200);
    // Fill the volume to below the watermark.
    let ballast = mnt.join("ballast");
    std::fs::write(&ballast, vec![7u8; 44 * 1024 * 1024]).unwrap();
    std::thread::sleep(Duration::from_millis(700));
    let mut resp = agent()
        .post(format!("{}/api/{}/envelope/", s.base, p.id))
        .header("X-Sentry-Auth", &format!("Sentry sentry_key={}", p.key))
        .send(&envelope(&format!("{:032x}", 2))[..])
        .unwrap();
    assert_eq!(resp.status().as_u16(), 507);
    let body = resp.body_mut().read_to_string().unwrap();
    assert!(body.contains("insufficient storage"), "{body}");
    let (_, metrics) = s.get("/metrics");
    assert!(
        metrics.contains("lookout_ingest_rejected_total{reason=\"disk_full\"} 1"),
        "{metrics}"
    );
    let (_, health) = s.get("/health");
    let h: Value = serde_json::from_str(&health).unwrap();
    assert_eq!(h["status"], "degraded");
    assert_eq!(h["checks"]["disk"]["healthy"], false);
    // The guard's transition is a system event (what alert rules of kind
    // `disk_low` fire on).
    let kinds = |s: &Server| -> Vec<String> {
        let (_, v) = api(s, &p, "/api/v1/system-events?limit=20");
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["kind"].as_str().unwrap().to_string())
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !kinds(&s).contains(&"disk.low".to_string()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        kinds(&s).contains(&"disk.low".to_string()),
        "{:?}",
        kinds(&s)
    );
    // Space returns: ingest resumes by itself.
    std::fs::remove_file(&ballast).unwrap();
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(ingest_status(&s, &p, 3), 200);
    let deadline = Instant::now() + Duration::from_secs(10);
    while kinds(&s).first().map(String::as_str) != Some("disk.ok") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(kinds(&s).first().map(String::as_str), Some("disk.ok"));
    s.stop();
    run_ok(&dir, &["check"]);
    drop(fs);
}

#[test]
fn scheduled_backups_show_in_health_metrics_and_the_api() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let copy = tmp.path().join("offsite");
    let copy_s = copy.to_str().unwrap().to_string();
    let s = Server::start_in(
        &dir,
        &[
            ("LOOKOUT_BACKUP__INTERVAL_SECS", "1"),
            ("LOOKOUT_BACKUP__COPY_TO", &copy_s),
        ],
    );
    let p = setup(&s);
    let deadline = Instant::now() + Duration::from_secs(20);
    let health = loop {
        let (_, body) = s.get("/health");
        let h: Value = serde_json::from_str(&body).unwrap();
        if h["checks"]["backup"]["last_result"] == "success" || Instant::now() > deadline {
            break h;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(
        health["checks"]["backup"]["last_result"], "success",
        "{health}"
    );
    assert!(
        health["checks"]["backup"]["last_success_age_seconds"]
            .as_u64()
            .unwrap()
            < 30
    );
    let (_, metrics) = s.get("/metrics");
    assert!(
        metrics.contains("lookout_backups_total{result=\"success\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("lookout_backup_last_success_timestamp_seconds"));
    assert!(
        metrics.contains("lookout_storage_bytes{signal=\"events\"}"),
        "{metrics}"
    );
    assert!(
        std::fs::read_dir(&copy)
            .unwrap()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().ends_with(".manifest.json")),
        "copied to the second directory"
    );

    let auth = format!("Bearer {}", p.token);
    let (code, body) = api(&s, &p, "/api/v1/backups");
    assert_eq!(code, 200, "{body}");
    assert!(!body["items"].as_array().unwrap().is_empty());
    let post = |path: &str, token: &str| {
        let mut r = agent()
            .post(format!("{}{path}", s.base))
            .header("Authorization", token)
            .send_empty()
            .unwrap();
        let code = r.status().as_u16();
        let body: Value =
            serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap_or(Value::Null);
        (code, body)
    };
    // 409 if a scheduled backup happens to be running; retry briefly.
    let mut created = post("/api/v1/backups", &auth);
    for _ in 0..20 {
        if created.0 != 409 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        created = post("/api/v1/backups", &auth);
    }
    assert_eq!(created.0, 201, "{}", created.1);
    let name = created.1["name"].as_str().unwrap().to_string();
    let (code, v) = post(&format!("/api/v1/backups/{name}/verify"), &auth);
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["ok"], true, "{v}");
    let mut r = agent()
        .get(format!("{}/api/v1/backups/{name}/download", s.base))
        .header("Authorization", &auth)
        .call()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let sha = r
        .headers()
        .get("x-lookout-sha256")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let bytes = r
        .body_mut()
        .with_config()
        .limit(1 << 30)
        .read_to_vec()
        .unwrap();
    assert_eq!(sha.len(), 64);
    assert_eq!(&bytes[..4], &[0x28, 0xb5, 0x2f, 0xfd], "a zstd frame");
    let (code, _) = post("/api/v1/backups/nope/verify", &auth);
    assert_eq!(code, 404);

    // A user token without admin rights is refused.
    run(
        &dir,
        &[
            "user",
            "create",
            "--email",
            "dev@example.com",
            "--password-stdin",
        ],
        Some("long enough password\n"),
    );
    let t: Value = serde_json::from_str(&run_ok(
        &dir,
        &[
            "token",
            "create",
            "--name",
            "dev",
            "--user",
            "dev@example.com",
            "--json",
        ],
    ))
    .unwrap();
    let dev = format!("Bearer {}", t["token"].as_str().unwrap());
    assert_eq!(post("/api/v1/backups", &dev).0, 403);
}

#[test]
fn system_events_past_their_retention_are_deleted() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let s = Server::start_in(&dir, &[NO_SCHEDULE]);
    let p = setup(&s);
    let auth = format!("Bearer {}", p.token);
    let r = agent()
        .post(format!("{}/api/v1/backups", s.base))
        .header("Authorization", &auth)
        .send_empty()
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let (_, ev) = api(&s, &p, "/api/v1/system-events");
    assert_eq!(ev["items"][0]["kind"], "backup.succeeded", "{ev}");
    s.stop();
    // A zero-day retention deletes them on the next start.
    let s = Server::start_in(
        &dir,
        &[NO_SCHEDULE, ("LOOKOUT_RETENTION__SYSTEM_EVENTS_DAYS", "0")],
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, ev) = api(&s, &p, "/api/v1/system-events");
        if ev["items"].as_array().unwrap().is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "not deleted: {ev}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
