use crate::harness::{Server, http_get};
use serde_json::Value;
use std::io::Write;
use std::process::{Command, Stdio};

#[test]
fn live_ready_and_health_report_a_healthy_server() {
    let s = Server::start();
    let (code, body) = s.get("/live");
    assert_eq!(code, 200, "{body}");
    let (code, body) = s.get("/ready");
    assert_eq!(code, 200, "{body}");
    let (code, body) = s.get("/health");
    assert_eq!(code, 200, "{body}");
    let h: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(h["status"], "healthy", "{h}");
    assert_eq!(h["version"], env!("CARGO_PKG_VERSION"));
    assert!(h["uptime_seconds"].is_u64());
    assert_eq!(h["checks"]["database"]["healthy"], true);
    assert!(h["checks"]["database"]["latency_ms"].as_f64().unwrap() >= 0.0);
    assert_eq!(h["checks"]["disk"]["healthy"], true);
    assert!(h["checks"]["disk"]["free_bytes"].as_u64().unwrap() > 0);
}

#[test]
fn unknown_routes_get_json_404() {
    let s = Server::start();
    let (code, body) = s.get("/nope");
    assert_eq!(code, 404);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert!(v["detail"].as_str().unwrap().contains("/nope"));
}

fn promtool_check(text: &str) -> (bool, String) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool must be installed (scripts/test installs the Debian package prometheus)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let msg = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), msg)
}

#[test]
fn metrics_pass_promtool_and_cover_the_required_families() {
    let s = Server::start();
    // Generate some traffic so the per-route families have samples.
    s.get("/health");
    s.get("/ready");
    s.get("/nope");
    let (code, text) = s.get("/metrics");
    assert_eq!(code, 200);
    let (ok, msg) = promtool_check(&text);
    assert!(ok, "promtool check metrics failed:\n{msg}\n---\n{text}");
    for needle in [
        "lookout_http_requests_total{method=\"GET\",route=\"/health\",status=\"200\"}",
        "lookout_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"}",
        "lookout_http_request_duration_seconds_bucket{method=\"GET\",route=\"/ready\",le=\"+Inf\"}",
        "lookout_storage_commit_duration_seconds_bucket",
        "lookout_queue_depth{queue=\"storage_writer\"}",
        "process_resident_memory_bytes ",
        "process_cpu_seconds_total ",
        "process_open_fds ",
        "lookout_build_info{version=\"",
    ] {
        assert!(text.contains(needle), "missing {needle} in\n{text}");
    }
}

#[test]
fn metrics_speak_openmetrics_when_asked() {
    let s = Server::start();
    s.get("/live");
    let resp = crate::harness::agent()
        .get(format!("{}/metrics", s.base))
        .header("Accept", "application/openmetrics-text; version=1.0.0")
        .call()
        .unwrap();
    let ct = resp
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(ct.starts_with("application/openmetrics-text"), "{ct}");
    let text = resp.into_body().read_to_string().unwrap();
    assert!(text.ends_with("# EOF\n"), "OpenMetrics ends with # EOF");
    assert!(
        text.contains("# TYPE lookout_http_requests counter"),
        "{text}"
    );
    assert!(text.contains("lookout_http_requests_total{"), "{text}");
}

#[test]
fn every_request_is_logged_with_route_status_duration_and_ip() {
    let s = Server::start();
    let (code, _) = http_get(&format!("{}/live", s.base), &[]);
    assert_eq!(code, 200);
    std::thread::sleep(std::time::Duration::from_millis(200));
    let log = s.stderr();
    let line = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["route"] == "/live")
        .unwrap_or_else(|| panic!("no request line for /live in\n{log}"));
    assert_eq!(line["method"], "GET");
    assert_eq!(line["status"], 200);
    assert!(line["duration_ms"].is_number());
    assert_eq!(line["client_ip"], "127.0.0.1");
    assert_eq!(line["level"], "INFO");
    assert!(
        line["timestamp"].as_str().unwrap().contains('T'),
        "ISO-8601"
    );
}

#[test]
fn malformed_query_values_get_a_json_detail() {
    let s = Server::start();
    let (_, tok) = (
        crate::harness::run_ok(&s.dir, &["project", "create", "--name", "p"]),
        crate::harness::run_ok(&s.dir, &["token", "create", "--name", "t"]),
    );
    let (code, body) = http_get(
        &format!("{}/api/v1/projects/1/issues?limit=abc", s.base),
        &[("Authorization", &format!("Bearer {}", tok.trim()))],
    );
    assert_eq!(code, 400, "{body}");
    let v: Value = serde_json::from_str(&body).expect("JSON error body");
    assert!(v["detail"].as_str().unwrap().contains("limit"), "{v}");
    // The OpenAPI document is served and is the real one.
    let (code, body) = http_get(
        &format!("{}/api/v1/openapi.json", s.base),
        &[("Authorization", &format!("Bearer {}", tok.trim()))],
    );
    assert_eq!(code, 200);
    let doc: Value = serde_json::from_str(&body).unwrap();
    assert!(doc["paths"]["/api/v1/projects/{id}/issues"].is_object());
}
