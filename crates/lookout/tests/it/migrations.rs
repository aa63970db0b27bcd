use crate::harness::{Server, run, run_ok};
use serde_json::Value;

#[test]
fn migrate_history_status_and_down_up_round_trip() {
    let s = Server::start();
    let st: Value =
        serde_json::from_str(&run_ok(&s.dir, &["migrate", "status", "--json"])).unwrap();
    let latest = st["latest"].as_u64().unwrap();
    assert_eq!(st["current"], st["latest"]);
    assert!(latest >= 1);
    let hist: Value =
        serde_json::from_str(&run_ok(&s.dir, &["migrate", "history", "--json"])).unwrap();
    // Versions may have gaps (one is reserved for a branch not merged yet).
    assert_eq!(hist.as_array().unwrap().last().unwrap()["version"], latest);
    assert!(hist[0]["applied_at"].as_str().unwrap().contains('T'));
    let text = run_ok(&s.dir, &["migrate", "history"]);
    assert!(text.contains("foundation"), "{text}");

    // Down to zero while the server runs: it stops being ready.
    let out = run_ok(&s.dir, &["migrate", "down", "--to", "0"]);
    assert!(out.contains("reverted 1"), "{out}");
    let (code, body) = s.get("/ready");
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("migrate up"), "{body}");
    // And back up: ready again.
    let out = run_ok(&s.dir, &["migrate", "up"]);
    assert!(out.contains("applied 1"), "{out}");
    let (code, body) = s.get("/ready");
    assert_eq!(code, 200, "{body}");
    // Going further down than zero is refused.
    run_ok(&s.dir, &["migrate", "down", "--to", "0"]);
    let out = run(&s.dir, &["migrate", "down"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing to revert"));
}
