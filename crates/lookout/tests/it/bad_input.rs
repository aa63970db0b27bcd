use crate::harness::{Server, cmd, run};
use std::process::Stdio;
use std::time::Duration;

fn serve_output(dir: &std::path::Path, extra: &[&str]) -> std::process::Output {
    let mut c = cmd(dir);
    c.arg("serve")
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = c.spawn().unwrap();
    // These cases must fail fast; a hang is a failure too.
    let out = wait_with_timeout(child, Duration::from_secs(20));
    out.expect("serve should have exited on its own")
}

fn wait_with_timeout(
    mut child: std::process::Child,
    limit: Duration,
) -> Option<std::process::Output> {
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if child.try_wait().unwrap().is_some() {
            return Some(child.wait_with_output().unwrap());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    None
}

#[test]
fn malformed_config_exits_2_naming_file_line_and_key() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("bad.toml");
    std::fs::write(
        &cfg,
        "listen = \"127.0.0.1:0\"\n\n[log]\nformatt = \"json\"\n",
    )
    .unwrap();
    let out = run(
        &tmp.path().join("data"),
        &["serve", "--config", cfg.to_str().unwrap()],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.toml"), "{err}");
    assert!(err.contains("line 4"), "{err}");
    assert!(err.contains("formatt"), "{err}");
    // A syntax error, too.
    std::fs::write(&cfg, "listen = = 3\n").unwrap();
    let out = run(
        &tmp.path().join("data"),
        &["config", "check", "--config", cfg.to_str().unwrap()],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 1"));
}

#[test]
fn lookout_toml_in_the_working_directory_is_read() {
    let tmp = tempfile::tempdir().unwrap();
    // harness::cmd runs in the data dir's parent, where we put the file.
    std::fs::write(
        tmp.path().join("lookout.toml"),
        "shutdown_timeout_secs = 77\n",
    )
    .unwrap();
    let out = run(&tmp.path().join("data"), &["config", "check"], None);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("shutdown_timeout_secs = 77"));
}

#[test]
fn port_in_use_is_a_clear_one_line_error() {
    let s = Server::start();
    let addr = s.base.trim_start_matches("http://").to_string();
    let tmp = tempfile::tempdir().unwrap();
    let out = serve_output(&tmp.path().join("data"), &["--listen", &addr]);
    assert_ne!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    let last = lines.last().copied().unwrap_or_default();
    assert!(
        last.contains("cannot listen on") && last.contains(&addr),
        "{err}"
    );
    assert!(last.to_lowercase().contains("in use"), "{err}");
}

#[test]
fn unwritable_data_dir_names_the_path() {
    let tmp = tempfile::tempdir().unwrap();
    // A regular file where a directory must be: fails even for root.
    let blocker = tmp.path().join("blocker");
    std::fs::write(&blocker, "x").unwrap();
    let dir = blocker.join("data");
    let out = serve_output(&dir, &["--listen", "127.0.0.1:0"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(dir.to_str().unwrap()), "{err}");
}

#[test]
fn corrupt_database_is_refused_and_never_modified() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("lookout.db");
    let garbage: Vec<u8> = (0..65536u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
        .collect();
    std::fs::write(&db, &garbage).unwrap();
    let out = serve_output(&dir, &["--listen", "127.0.0.1:0"]);
    assert_ne!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("corrupt"), "{err}");
    assert!(err.contains("backup"), "{err}");
    assert_eq!(std::fs::read(&db).unwrap(), garbage, "file untouched");
    assert!(!dir.join("lookout.db-wal").exists());
}

#[test]
fn database_from_a_newer_lookout_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    crate::harness::run_ok(&dir, &["project", "create", "--name", "x"]);
    // Pretend a future Lookout migrated this database.
    let c = std::process::Command::new("python3")
        .arg("-c")
        .arg(format!(
            "import sqlite3; c=sqlite3.connect('{}'); c.execute(\"INSERT INTO schema_migrations VALUES (9999,'future',0)\"); c.commit()",
            dir.join("lookout.db").display()
        ))
        .status()
        .unwrap();
    assert!(c.success());
    let out = serve_output(&dir, &["--listen", "127.0.0.1:0"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("9999") && err.contains("newer"), "{err}");
}
