use crate::harness::{Server, run_ok};
use std::time::{Duration, Instant};

#[test]
fn sigterm_shuts_down_gracefully_with_exit_0() {
    let mut s = Server::start();
    assert_eq!(s.get("/ready").0, 200);
    let t = Instant::now();
    s.signal("TERM");
    let code = s.wait_exit(Duration::from_secs(15));
    assert_eq!(code, Some(0), "stderr: {}", s.stderr());
    assert!(t.elapsed() < Duration::from_secs(12));
    let log = s.stderr();
    assert!(log.contains("storage flushed and closed"), "{log}");
    assert!(log.contains("shutdown complete"), "{log}");
}

#[test]
fn sigint_also_shuts_down_and_data_survives_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let mut s = Server::start_in(&dir, &[]);
    run_ok(&dir, &["project", "create", "--name", "keep me"]);
    s.signal("INT");
    assert_eq!(s.wait_exit(Duration::from_secs(15)), Some(0));
    let s2 = Server::start_in(&dir, &[]);
    assert_eq!(s2.get("/ready").0, 200);
    let out = run_ok(&dir, &["project", "list", "--json"]);
    assert!(out.contains("keep-me"), "{out}");
}

#[test]
fn log_file_receives_json_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let log = tmp.path().join("logs/lookout.log");
    let log_s = log.to_str().unwrap().to_string();
    let mut s = Server::start_in(
        &dir,
        &[
            ("LOOKOUT_LOG__FILE", &log_s),
            ("LOOKOUT_LOG__LEVEL", "info,lookout::http=debug"),
        ],
    );
    s.get("/live");
    s.signal("TERM");
    s.wait_exit(Duration::from_secs(15));
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("every line is JSON"))
        .collect();
    assert!(lines.iter().any(|l| l["route"] == "/live"), "{text}");
    assert!(
        lines.iter().any(|l| l["message"] == "shutdown complete"),
        "{text}"
    );
}

#[test]
fn per_module_levels_filter_request_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let s = Server::start_in(&dir, &[("LOOKOUT_LOG__LEVEL", "info,lookout::http=warn")]);
    s.get("/live");
    std::thread::sleep(Duration::from_millis(200));
    let log = s.stderr();
    assert!(log.contains("Lookout is serving"), "{log}");
    assert!(
        !log.contains("\"route\":\"/live\""),
        "request lines filtered: {log}"
    );
}
