use crate::harness::{Server, http_get, run, run_ok};
use serde_json::Value;

#[test]
fn project_create_and_list_print_stable_json() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let p: Value = serde_json::from_str(&run_ok(
        &dir,
        &["project", "create", "--name", "Shop Bot", "--json"],
    ))
    .unwrap();
    assert_eq!(p["name"], "Shop Bot");
    assert_eq!(p["slug"], "shop-bot");
    let id = p["id"].as_i64().unwrap();
    let dsn = p["dsn"].as_str().unwrap();
    assert!(
        dsn.starts_with("http://") && dsn.ends_with(&format!("@127.0.0.1:8686/{id}")),
        "{dsn}"
    );
    // Plain output is just the DSN.
    let plain = run_ok(&dir, &["project", "create", "--name", "Other"]);
    assert!(
        plain.trim().starts_with("http://") && plain.trim().ends_with("/2"),
        "{plain}"
    );
    let list: Value = serde_json::from_str(&run_ok(&dir, &["project", "list", "--json"])).unwrap();
    let arr = list.as_array().unwrap();
    assert_eq!(arr.len(), 2);
    assert_eq!(arr[0]["dsn"], dsn);
    assert_eq!(arr[1]["slug"], "other");
}

#[test]
fn user_create_reads_password_from_stdin_and_validates() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let args = [
        "user",
        "create",
        "--email",
        "ada@example.com",
        "--admin",
        "--password-stdin",
    ];
    let out = run(&dir, &args, Some("a long enough password\n"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("ada@example.com"));
    let dup = run(&dir, &args, Some("another long password\n"));
    assert_eq!(dup.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&dup.stderr).contains("already exists"));
    let short = run(
        &dir,
        &[
            "user",
            "create",
            "--email",
            "b@example.com",
            "--password-stdin",
        ],
        Some("short\n"),
    );
    assert_eq!(short.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&short.stderr).contains("at least"));
    // The password never reaches the database in clear text.
    let db = std::fs::read(dir.join("lookout.db")).unwrap();
    let needle = b"a long enough password";
    assert!(!db.windows(needle.len()).any(|w| w == needle));
}

#[test]
fn tokens_authenticate_the_api_and_work_while_serving() {
    let s = Server::start();
    // Admin commands run against the data dir of the running server.
    run_ok(&s.dir, &["project", "create", "--name", "live one"]);
    let t: Value = serde_json::from_str(&run_ok(
        &s.dir,
        &["token", "create", "--name", "ci", "--json"],
    ))
    .unwrap();
    let token = t["token"].as_str().unwrap();
    assert!(token.starts_with("lkt_"));
    assert_eq!(t["scope"], "read-write");
    let url = format!("{}/api/v1/projects", s.base);
    let (code, body) = http_get(&url, &[("Authorization", &format!("Bearer {token}"))]);
    assert_eq!(code, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["items"][0]["slug"], "live-one");
    // The DSN uses the server's real address (port 0 was resolved).
    let dsn = v["items"][0]["dsn"].as_str().unwrap();
    assert!(
        dsn.ends_with(&format!("@{}/1", s.base.trim_start_matches("http://"))),
        "{dsn}"
    );

    let (code, body) = http_get(&url, &[]);
    assert_eq!(code, 401);
    assert!(body.contains("detail"));
    let (code, _) = http_get(&url, &[("Authorization", "Bearer lkt_wrong")]);
    assert_eq!(code, 401);
    // The secret is not stored: only its hash.
    let db = std::fs::read(s.dir.join("lookout.db")).unwrap();
    let wal = std::fs::read(s.dir.join("lookout.db-wal")).unwrap_or_default();
    for bytes in [db, wal] {
        assert!(!bytes.windows(token.len()).any(|w| w == token.as_bytes()));
    }
}

#[test]
fn config_check_prints_effective_config_with_secrets_redacted() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("lookout.toml");
    std::fs::write(
        &cfg,
        "listen = \"127.0.0.1:9999\"\n[storage]\nurl = \"postgres://lookout:hunter2@db/lookout\"\n",
    )
    .unwrap();
    let out = run(
        &tmp.path().join("data"),
        &["config", "check", "--config", cfg.to_str().unwrap()],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("127.0.0.1:9999"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
    assert!(text.contains("lookout:***@db"), "{text}");
}

#[test]
fn environment_variables_configure_and_flags_win() {
    let tmp = tempfile::tempdir().unwrap();
    let mut c = crate::harness::cmd(&tmp.path().join("flagdir"));
    let out = c
        .args(["config", "check"])
        .env("LOOKOUT_PUBLIC_URL", "https://lookout.example.com")
        .env("LOOKOUT_DATA_DIR", "/from/env")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("https://lookout.example.com"), "{text}");
    assert!(
        text.contains("flagdir") && !text.contains("/from/env"),
        "{text}"
    );
}

#[test]
fn output_cut_short_by_the_reader_ends_quietly() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    run_ok(&dir, &["migrate", "up"]);
    for _ in 0..3 {
        run_ok(&dir, &["backup", "create"]);
    }
    // The reader closes the pipe at once; lookout must not panic on EPIPE.
    let mut child = crate::harness::cmd(&dir)
        .args(["backup", "list"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_ne!(out.status.code(), Some(101), "{stderr}");
}
