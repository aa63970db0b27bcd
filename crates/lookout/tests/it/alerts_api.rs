//! The alerting API through the real binary: rules (validation, rules
//! from `lookout.toml` read-only), channels (validation, redaction, test
//! messages to a loopback webhook), an alert raised by an ingested error,
//! muted by a silence, acknowledged and resolved, the delivery log, and
//! who may do what.

use crate::alerts::{Receiver, with_store};
use crate::harness::{Server, agent, run, run_ok};
use crate::ingest::{Project, envelope, post_envelope};
use lookout_model::ProjectRole;
use lookout_storage::Store;
use lookout_storage::sqlite::SqliteStore;
use serde_json::{Value, json};
use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, Instant};

/// Sends a request with a bearer token; returns status and JSON body.
fn call(s: &Server, method: &str, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
    let url = format!("{}{}", s.base, path);
    let auth = format!("Bearer {token}");
    let a = agent();
    let resp = match method {
        "GET" => a.get(&url).header("Authorization", &auth).call(),
        "DELETE" => a.delete(&url).header("Authorization", &auth).call(),
        m => {
            let text = body.map(|b| b.to_string()).unwrap_or_default();
            let req = match m {
                "POST" => a.post(&url),
                "PUT" => a.put(&url),
                other => panic!("method {other}"),
            };
            req.header("Authorization", &auth)
                .header("Content-Type", "application/json")
                .send(text.as_bytes())
        }
    };
    let mut resp = resp.expect("http request");
    let code = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    (code, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn detail(v: &Value) -> String {
    v["detail"].as_str().unwrap_or_default().to_string()
}

/// Two projects (`shop`, `blog`), an administrator, a member and a viewer
/// of `shop`, a member of `blog`, and a token for each (plus a read-only
/// one of the administrator and an install-wide one).
struct Fixture {
    shop: Project,
    blog_id: i64,
    admin: String,
    admin_ro: String,
    shop_member: String,
    shop_viewer: String,
    blog_member: String,
}

fn token(dir: &Path, name: &str, user: Option<&str>, scope: &str) -> String {
    let mut args = vec![
        "token", "create", "--name", name, "--scope", scope, "--json",
    ];
    if let Some(u) = user {
        args.extend(["--user", u]);
    }
    let t: Value = serde_json::from_str(&run_ok(dir, &args)).unwrap();
    t["token"].as_str().unwrap().to_string()
}

fn prepare(dir: &Path) -> Fixture {
    run_ok(dir, &["migrate", "up"]);
    let project = |name: &str| -> Value {
        serde_json::from_str(&run_ok(
            dir,
            &["project", "create", "--name", name, "--json"],
        ))
        .unwrap()
    };
    let shop = project("shop");
    let blog = project("blog");
    for (email, admin) in [
        ("root@example.com", true),
        ("ann@example.com", false),
        ("vic@example.com", false),
        ("bob@example.com", false),
    ] {
        let mut args = vec!["user", "create", "--email", email, "--password-stdin"];
        if admin {
            args.push("--admin");
        }
        let out = run(dir, &args, Some("a long enough password 1\n"));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let shop_id = shop["id"].as_i64().unwrap();
    let blog_id = blog["id"].as_i64().unwrap();
    with_store(dir, async |st: &SqliteStore| {
        let uid = async |e: &str| st.find_user_by_email(e).await.unwrap().unwrap().0.id;
        let (ann, vic, bob) = (
            uid("ann@example.com").await,
            uid("vic@example.com").await,
            uid("bob@example.com").await,
        );
        st.set_project_role(shop_id, ann, Some(ProjectRole::Member))
            .await
            .unwrap();
        st.set_project_role(shop_id, vic, Some(ProjectRole::Viewer))
            .await
            .unwrap();
        st.set_project_role(blog_id, bob, Some(ProjectRole::Member))
            .await
            .unwrap();
    });
    let dsn = shop["dsn"].as_str().unwrap();
    let key = dsn.split("//").nth(1).unwrap().split('@').next().unwrap();
    Fixture {
        shop: Project {
            id: shop_id,
            key: key.to_string(),
            token: token(dir, "install", None, "read-write"),
        },
        blog_id,
        admin: token(dir, "root", Some("root@example.com"), "read-write"),
        admin_ro: token(dir, "root-ro", Some("root@example.com"), "read"),
        shop_member: token(dir, "ann", Some("ann@example.com"), "read-write"),
        shop_viewer: token(dir, "vic", Some("vic@example.com"), "read-write"),
        blog_member: token(dir, "bob", Some("bob@example.com"), "read-write"),
    }
}

/// A configuration with one rule declared in it, and a route sending
/// everything to the channel `apihook` (created through the API) after
/// one second.
fn config(dir: &Path) -> String {
    let path = dir.parent().unwrap().join("lookout.toml");
    std::fs::write(
        &path,
        r#"
[alerts]
[[alerts.rules]]
name = "From the file"
severity = "low"
condition = { kind = "backup_failed" }

[alerts.routes]
receivers = ["apihook"]
group_wait = "1s"
group_interval = "1s"
"#,
    )
    .unwrap();
    path.to_str().unwrap().to_string()
}

fn start() -> (tempfile::TempDir, Server, Fixture) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    std::fs::create_dir_all(&dir).unwrap();
    let f = prepare(&dir);
    let cfg = config(&dir);
    let s = Server::start_in(&dir, &[("LOOKOUT_CONFIG", &cfg)]);
    (tmp, s, f)
}

fn metric(s: &Server, needle: &str) -> f64 {
    let (_, text) = s.get("/metrics");
    text.lines()
        .find(|l| l.starts_with(needle))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[test]
fn rules_are_validated_and_rules_from_lookout_toml_are_read_only() {
    let (_tmp, s, f) = start();
    let (code, list) = call(&s, "GET", "/api/v1/alert-rules", &f.admin, None);
    assert_eq!(code, 200, "{list}");
    let from_file = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "From the file")
        .expect("the configured rule is listed")
        .clone();
    assert_eq!(from_file["source"], "config");
    assert_eq!(from_file["editable"], false);
    let file_id = from_file["id"].as_i64().unwrap();

    // Bad specs: 400 naming the field.
    let bad = |body: Value, field: &str| {
        let (code, v) = call(
            &s,
            "POST",
            "/api/v1/alert-rules",
            &f.admin,
            Some(body.clone()),
        );
        assert_eq!(code, 400, "{body} -> {v}");
        assert!(
            detail(&v).contains(field),
            "{body} -> {v} should name {field}"
        );
    };
    bad(
        json!({"severity": "high", "condition": {"kind": "new_issue"}}),
        "name",
    );
    bad(
        json!({"name": "x", "condition": {"kind": "new_issue"}}),
        "severity",
    );
    bad(
        json!({"name": "x", "severity": "urgent", "condition": {"kind": "new_issue"}}),
        "severity",
    );
    bad(
        json!({"name": "x", "severity": "high", "condition": {"kind": "nope"}}),
        "condition",
    );
    bad(
        json!({"name": "x", "severity": "high",
               "condition": {"kind": "issue_frequency", "threshold": 5, "window": "0s"}}),
        "window",
    );
    bad(
        json!({"name": "x", "severity": "high", "condition": {"kind": "new_issue"}, "colour": "red"}),
        "colour",
    );
    bad(
        json!({"name": "x", "severity": "high", "condition": {"kind": "new_issue"},
               "scope": {"projects": [9999]}}),
        "scope.projects",
    );
    bad(
        json!({"name": "x", "severity": "high", "condition": {"kind": "new_issue"},
               "scope": {"projects": ["no-such-project"]}}),
        "no-such-project",
    );
    // Projects by slug: stored as ids. A slug the caller cannot read is
    // as unknown as one nobody has.
    let (code, by_slug) = call(
        &s,
        "POST",
        "/api/v1/alert-rules",
        &f.admin,
        Some(
            json!({"name": "By slug", "severity": "low", "condition": {"kind": "new_issue"},
                    "scope": {"projects": ["shop", f.shop.id]}}),
        ),
    );
    assert_eq!(code, 201, "{by_slug}");
    assert_eq!(
        by_slug["scope"]["projects"],
        json!([f.shop.id]),
        "{by_slug}"
    );
    let (code, v) = call(
        &s,
        "POST",
        "/api/v1/alert-rules",
        &f.blog_member,
        Some(
            json!({"name": "Not mine", "severity": "low", "condition": {"kind": "new_issue"},
                    "scope": {"projects": ["shop"]}}),
        ),
    );
    assert_eq!(code, 400, "{v}");
    assert!(
        detail(&v).contains("no project with the slug `shop`"),
        "{v}"
    );
    let (code, v) = call(&s, "POST", "/api/v1/alert-rules", &f.admin, None);
    assert_eq!(code, 400, "{v}");
    assert!(
        metric(
            &s,
            "lookout_http_requests_total{method=\"POST\",route=\"/api/v1/alert-rules\",status=\"400\"}"
        ) >= 10.0
    );

    // Create, read, change, delete.
    let rule = json!({
        "name": "Errors burst", "severity": "high", "for": "1m",
        "condition": {"kind": "issue_frequency", "threshold": 10, "window": "5m"},
        "scope": {"projects": [f.shop.id]},
        "labels": {"team": "shop"}
    });
    let (code, created) = call(&s, "POST", "/api/v1/alert-rules", &f.admin, Some(rule));
    assert_eq!(code, 201, "{created}");
    let id = created["id"].as_i64().unwrap();
    assert_eq!(created["source"], "api");
    assert_eq!(created["condition"]["threshold"], 10);
    let (code, got) = call(
        &s,
        "GET",
        &format!("/api/v1/alert-rules/{id}"),
        &f.admin,
        None,
    );
    assert_eq!(code, 200);
    assert_eq!(got["name"], "Errors burst");
    assert_eq!(got["labels"]["team"], "shop");
    // What GET answers may be sent back as it is, changed.
    let mut changed = got.clone();
    changed["severity"] = json!("critical");
    let (code, put) = call(
        &s,
        "PUT",
        &format!("/api/v1/alert-rules/{id}"),
        &f.admin,
        Some(changed),
    );
    assert_eq!(code, 200, "{put}");
    assert_eq!(put["severity"], "critical");
    let mut broken = got.clone();
    broken["condition"]["window"] = json!("-5m");
    let (code, v) = call(
        &s,
        "PUT",
        &format!("/api/v1/alert-rules/{id}"),
        &f.admin,
        Some(broken),
    );
    assert_eq!(code, 400, "{v}");
    // A member of the project reads it and may change it; a member of
    // another project does not see it; a viewer may not change it.
    let (code, _) = call(
        &s,
        "GET",
        &format!("/api/v1/alert-rules/{id}"),
        &f.shop_member,
        None,
    );
    assert_eq!(code, 200);
    let (code, _) = call(
        &s,
        "GET",
        &format!("/api/v1/alert-rules/{id}"),
        &f.blog_member,
        None,
    );
    assert_eq!(code, 404);
    let (_, blog_list) = call(&s, "GET", "/api/v1/alert-rules", &f.blog_member, None);
    assert!(
        !blog_list["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["id"] == id)
    );
    let (code, v) = call(
        &s,
        "DELETE",
        &format!("/api/v1/alert-rules/{id}"),
        &f.shop_viewer,
        None,
    );
    assert_eq!(code, 403, "{v}");
    // Members may not make install-wide rules.
    let (code, v) = call(
        &s,
        "POST",
        "/api/v1/alert-rules",
        &f.shop_member,
        Some(json!({"name": "all", "severity": "low", "condition": {"kind": "new_issue"}})),
    );
    assert_eq!(code, 403, "{v}");
    // A read-only token never writes.
    let (code, v) = call(
        &s,
        "DELETE",
        &format!("/api/v1/alert-rules/{id}"),
        &f.admin_ro,
        None,
    );
    assert_eq!(code, 403, "{v}");
    assert!(detail(&v).contains("read-only"), "{v}");
    let (code, _) = call(
        &s,
        "DELETE",
        &format!("/api/v1/alert-rules/{id}"),
        &f.shop_member,
        None,
    );
    assert_eq!(code, 204);
    let (code, _) = call(
        &s,
        "GET",
        &format!("/api/v1/alert-rules/{id}"),
        &f.admin,
        None,
    );
    assert_eq!(code, 404);

    // The rule from lookout.toml cannot be changed or deleted here.
    let (code, v) = call(
        &s,
        "PUT",
        &format!("/api/v1/alert-rules/{file_id}"),
        &f.admin,
        Some(from_file.clone()),
    );
    assert_eq!(code, 409, "{v}");
    assert!(detail(&v).contains("lookout.toml"), "{v}");
    let (code, v) = call(
        &s,
        "DELETE",
        &format!("/api/v1/alert-rules/{file_id}"),
        &f.admin,
        None,
    );
    assert_eq!(code, 409, "{v}");
    assert!(
        metric(
            &s,
            "lookout_http_requests_total{method=\"DELETE\",route=\"/api/v1/alert-rules/{id}\",status=\"409\"}"
        ) >= 1.0
    );
}

#[test]
fn the_openapi_document_describes_every_alerting_route() {
    let (_tmp, s, f) = start();
    let (code, doc) = call(&s, "GET", "/api/v1/openapi.json", &f.admin_ro, None);
    assert_eq!(code, 200);
    for (path, methods) in [
        ("/api/v1/alert-rules", &["get", "post"][..]),
        ("/api/v1/alert-rules/{id}", &["get", "put", "delete"]),
        ("/api/v1/silences", &["get", "post"]),
        ("/api/v1/silences/{id}", &["get", "delete"]),
        ("/api/v1/alerts", &["get"]),
        ("/api/v1/alerts/{id}", &["get"]),
        ("/api/v1/alerts/{id}/ack", &["post"]),
        ("/api/v1/alerts/{id}/resolve", &["post"]),
        ("/api/v1/channels", &["get", "post"]),
        ("/api/v1/channels/{name}", &["get", "put", "delete"]),
        ("/api/v1/channels/{name}/test", &["post"]),
        ("/api/v1/deliveries", &["get"]),
    ] {
        for m in methods {
            assert!(
                doc["paths"][path][m].is_object(),
                "{m} {path} is not documented"
            );
        }
    }
    // Every schema referenced is defined.
    let text = doc.to_string();
    for r in text.split("\"#/components/schemas/").skip(1) {
        let name = r.split('"').next().unwrap();
        assert!(doc["components"]["schemas"][name].is_object(), "{name}");
    }
}

fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

#[test]
fn channels_are_validated_redacted_and_tested() {
    let (_tmp, s, f) = start();
    let hook = Receiver::start(0);
    // Only administrators see channels.
    let (code, v) = call(&s, "GET", "/api/v1/channels", &f.shop_member, None);
    assert_eq!(code, 403, "{v}");
    let (code, _) = call(&s, "GET", "/api/v1/deliveries", &f.shop_member, None);
    assert_eq!(code, 403);
    // Bad input names the field.
    for (body, field) in [
        (
            json!({"name": "apihook", "config": {"kind": "webhook", "url": "ftp://x"}}),
            "url",
        ),
        (
            json!({"name": "Bad Name", "config": {"kind": "webhook", "url": hook.url}}),
            "name",
        ),
        (
            json!({"name": "log", "config": {"kind": "webhook", "url": hook.url}}),
            "name",
        ),
        (json!({"name": "x", "config": {"kind": "pager"}}), "config"),
        (json!({"name": "x", "config": {"kind": "webhook"}}), "url"),
    ] {
        let (code, v) = call(&s, "POST", "/api/v1/channels", &f.admin, Some(body.clone()));
        assert_eq!(code, 400, "{body} -> {v}");
        assert!(detail(&v).contains(field), "{body} -> {v}");
    }
    let good = json!({"name": "apihook",
        "config": {"kind": "webhook", "url": hook.url, "secret": "s3cret-value"}});
    let (code, v) = call(&s, "POST", "/api/v1/channels", &f.admin, Some(good.clone()));
    assert_eq!(code, 201, "{v}");
    let (code, _) = call(&s, "POST", "/api/v1/channels", &f.admin, Some(good));
    assert_eq!(code, 409, "the name is taken");
    // Secrets are redacted everywhere they are shown.
    let (code, got) = call(&s, "GET", "/api/v1/channels/apihook", &f.admin, None);
    assert_eq!(code, 200);
    assert_eq!(got["config"]["secret"], "***");
    assert_eq!(got["config"]["url"], hook.url);
    let (_, list) = call(&s, "GET", "/api/v1/channels", &f.admin, None);
    assert!(!list.to_string().contains("s3cret-value"), "{list}");
    // Sent back redacted, the secret is kept.
    let (code, v) = call(
        &s,
        "PUT",
        "/api/v1/channels/apihook",
        &f.admin,
        Some(json!({"config": got["config"]})),
    );
    assert_eq!(code, 200, "{v}");

    // A test message reaches the receiver.
    let (code, out) = call(&s, "POST", "/api/v1/channels/apihook/test", &f.admin, None);
    assert_eq!(code, 200, "{out}");
    assert_eq!(out["sent"], true, "{out}");
    let got = hook.wait_for(1, Duration::from_secs(5));
    assert_eq!(got.len(), 1);

    // A channel whose endpoint refuses: the test answers the error.
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/hook", l.local_addr().unwrap())
    };
    let (code, v) = call(
        &s,
        "POST",
        "/api/v1/channels",
        &f.admin,
        Some(json!({"name": "deadhook", "config": {"kind": "webhook", "url": closed}})),
    );
    assert_eq!(code, 201, "{v}");
    let (code, out) = call(&s, "POST", "/api/v1/channels/deadhook/test", &f.admin, None);
    assert_eq!(code, 200, "{out}");
    assert_eq!(out["sent"], false, "{out}");
    assert!(
        !out["error"].as_str().unwrap_or_default().is_empty(),
        "{out}"
    );
    let (code, _) = call(&s, "POST", "/api/v1/channels/nosuch/test", &f.admin, None);
    assert_eq!(code, 404);
    let (code, _) = call(&s, "DELETE", "/api/v1/channels/deadhook", &f.admin, None);
    assert_eq!(code, 204);
    let (code, _) = call(&s, "GET", "/api/v1/channels/deadhook", &f.admin, None);
    assert_eq!(code, 404);
}

#[test]
fn an_error_raises_an_alert_that_is_silenced_acknowledged_and_resolved() {
    let (_tmp, s, f) = start();
    let hook = Receiver::start(0);
    let (code, v) = call(
        &s,
        "POST",
        "/api/v1/channels",
        &f.admin,
        Some(json!({"name": "apihook", "config": {"kind": "webhook", "url": hook.url}})),
    );
    assert_eq!(code, 201, "{v}");
    let (code, rule) = call(
        &s,
        "POST",
        "/api/v1/alert-rules",
        &f.shop_member,
        Some(json!({"name": "New shop error", "severity": "high",
                    "condition": {"kind": "new_issue"},
                    "scope": {"projects": [f.shop.id]}})),
    );
    assert_eq!(code, 201, "{rule}");
    let rule_id = rule["id"].as_i64().unwrap();

    // Silences: bad input, access, then one muting the shop project.
    let (code, v) = call(
        &s,
        "POST",
        "/api/v1/silences",
        &f.shop_member,
        Some(
            json!({"matchers": ["project_id=1"], "starts_at": "2030-01-02T00:00:00Z",
                    "ends_at": "2030-01-01T00:00:00Z"}),
        ),
    );
    assert_eq!(code, 400, "{v}");
    assert!(detail(&v).contains("ends_at"), "{v}");
    let (code, v) = call(
        &s,
        "POST",
        "/api/v1/silences",
        &f.shop_member,
        Some(json!({"matchers": ["severity"], "duration": "1h"})),
    );
    assert_eq!(code, 400, "{v}");
    assert!(detail(&v).contains("matchers"), "{v}");
    let (code, v) = call(
        &s,
        "POST",
        "/api/v1/silences",
        &f.admin,
        Some(json!({"matchers": ["project_id=9999"], "duration": "1h"})),
    );
    assert_eq!(code, 400, "{v}");
    assert!(detail(&v).contains("matchers"), "{v}");
    let (code, v) = call(
        &s,
        "POST",
        "/api/v1/silences",
        &f.shop_member,
        Some(json!({"matchers": ["severity=high"], "duration": "1h"})),
    );
    assert_eq!(code, 403, "a global silence needs an administrator: {v}");
    let (code, v) = call(
        &s,
        "POST",
        "/api/v1/silences",
        &f.shop_viewer,
        Some(json!({"matchers": [format!("project_id={}", f.shop.id)], "duration": "1h"})),
    );
    assert_eq!(code, 403, "{v}");
    let (code, silence) = call(
        &s,
        "POST",
        "/api/v1/silences",
        &f.shop_member,
        Some(
            json!({"matchers": [format!("project_id={}", f.shop.id)], "duration": "1h",
                    "comment": "deploying"}),
        ),
    );
    assert_eq!(code, 201, "{silence}");
    assert_eq!(silence["status"], "active");
    assert_eq!(silence["created_by"], "ann@example.com");
    assert_eq!(silence["project_id"], f.shop.id);
    let sid = silence["id"].as_i64().unwrap();
    let (code, _) = call(
        &s,
        "GET",
        &format!("/api/v1/silences/{sid}"),
        &f.blog_member,
        None,
    );
    assert_eq!(
        code, 404,
        "another project's silence does not exist for bob"
    );
    let (_, active) = call(
        &s,
        "GET",
        "/api/v1/silences?active=true",
        &f.shop_viewer,
        None,
    );
    assert_eq!(active["items"][0]["id"], sid);
    let (_, inactive) = call(
        &s,
        "GET",
        "/api/v1/silences?active=false",
        &f.shop_viewer,
        None,
    );
    assert!(inactive["items"].as_array().unwrap().is_empty());

    // An error in the shop raises an alert, visible and muted.
    let (code, _) = post_envelope(
        &s.base,
        &f.shop,
        &envelope("dddddddddddddddddddddddddddddddd"),
    );
    assert_eq!(code, 200);
    let mut alert = Value::Null;
    let found = wait_until(Duration::from_secs(10), || {
        let (_, list) = call(
            &s,
            "GET",
            &format!("/api/v1/alerts?state=firing&rule_id={rule_id}"),
            &f.shop_member,
            None,
        );
        alert = list["items"][0].clone();
        !alert.is_null()
    });
    assert!(found, "{}", s.stderr());
    let aid = alert["id"].as_i64().unwrap();
    assert_eq!(alert["project_id"], f.shop.id);
    assert_eq!(alert["rule_name"], "New shop error");
    assert_eq!(alert["labels"]["alertname"], "New shop error");
    assert_eq!(alert["silenced_by"], json!([sid]));
    // Muted: nothing reaches the webhook (group_wait is 1 s).
    std::thread::sleep(Duration::from_secs(4));
    assert!(
        hook.got.lock().unwrap().is_empty(),
        "a silenced alert was sent"
    );

    // Who may see and act on it.
    let (code, _) = call(
        &s,
        "GET",
        &format!("/api/v1/alerts/{aid}"),
        &f.blog_member,
        None,
    );
    assert_eq!(code, 404);
    let (code, _) = call(
        &s,
        "POST",
        &format!("/api/v1/alerts/{aid}/ack"),
        &f.blog_member,
        None,
    );
    assert_eq!(code, 404);
    let (_, bobs) = call(&s, "GET", "/api/v1/alerts", &f.blog_member, None);
    assert!(bobs["items"].as_array().unwrap().is_empty(), "{bobs}");
    let (code, _) = call(
        &s,
        "GET",
        &format!("/api/v1/alerts?project_id={}", f.shop.id),
        &f.blog_member,
        None,
    );
    assert_eq!(code, 404);
    let (code, _) = call(
        &s,
        "GET",
        &format!("/api/v1/alerts/{aid}"),
        &f.shop_viewer,
        None,
    );
    assert_eq!(code, 200);
    let (code, v) = call(
        &s,
        "POST",
        &format!("/api/v1/alerts/{aid}/ack"),
        &f.shop_viewer,
        None,
    );
    assert_eq!(code, 403, "{v}");
    let (code, v) = call(&s, "GET", "/api/v1/alerts?state=burning", &f.admin, None);
    assert_eq!(code, 400, "{v}");
    assert!(detail(&v).contains("state"));
    let (code, blogs) = call(
        &s,
        "GET",
        &format!("/api/v1/alerts?project_id={}", f.blog_id),
        &f.blog_member,
        None,
    );
    assert_eq!(code, 200);
    assert!(blogs["items"].as_array().unwrap().is_empty(), "{blogs}");

    // Ending the silence lets the alert through.
    let (code, ended) = call(
        &s,
        "DELETE",
        &format!("/api/v1/silences/{sid}"),
        &f.shop_member,
        None,
    );
    assert_eq!(code, 200, "{ended}");
    assert_eq!(ended["status"], "expired");
    let got = hook.wait_for(1, Duration::from_secs(10));
    assert_eq!(got.len(), 1, "{}", s.stderr());
    let body: Value = serde_json::from_str(&got[0].1).unwrap();
    assert_eq!(body["kind"], "firing");
    let (_, a) = call(
        &s,
        "GET",
        &format!("/api/v1/alerts/{aid}"),
        &f.shop_member,
        None,
    );
    assert_eq!(a["silenced_by"], json!([]));

    // Acknowledge, then resolve; a second resolve conflicts.
    let (code, a) = call(
        &s,
        "POST",
        &format!("/api/v1/alerts/{aid}/ack"),
        &f.shop_member,
        None,
    );
    assert_eq!(code, 200, "{a}");
    assert_eq!(a["acked_by"], "ann@example.com");
    assert_eq!(a["state"], "firing");
    let (code, a) = call(
        &s,
        "POST",
        &format!("/api/v1/alerts/{aid}/resolve"),
        &f.shop_member,
        None,
    );
    assert_eq!(code, 200, "{a}");
    assert_eq!(a["state"], "resolved");
    assert_eq!(a["resolved_by"], "ann@example.com");
    let (code, v) = call(
        &s,
        "POST",
        &format!("/api/v1/alerts/{aid}/resolve"),
        &f.shop_member,
        None,
    );
    assert_eq!(code, 409, "{v}");
    let (_, resolved) = call(&s, "GET", "/api/v1/alerts?state=resolved", &f.admin, None);
    assert_eq!(resolved["items"][0]["id"], aid);

    // The resolution is notified too (send_resolved is on by default).
    let got = hook.wait_for(2, Duration::from_secs(10));
    assert_eq!(got.len(), 2, "{}", s.stderr());
    let body: Value = serde_json::from_str(&got[1].1).unwrap();
    assert_eq!(body["kind"], "resolved");

    // The delivery log shows both sends, filtered and paged.
    assert!(wait_until(Duration::from_secs(10), || {
        let (_, d) = call(
            &s,
            "GET",
            "/api/v1/deliveries?channel=apihook&outcome=sent",
            &f.admin,
            None,
        );
        d["items"].as_array().unwrap().len() == 2
    }));
    let (_, all) = call(&s, "GET", "/api/v1/deliveries", &f.admin, None);
    assert_eq!(all["items"].as_array().unwrap().len(), 2, "{all}");
    assert!(all["next_cursor"].is_null(), "{all}");
    let (_, d) = call(&s, "GET", "/api/v1/deliveries?limit=1", &f.admin, None);
    assert_eq!(d["items"][0]["id"], all["items"][0]["id"], "newest first");
    let cursor = d["next_cursor"].as_str().expect("a next page");
    let (_, d2) = call(
        &s,
        "GET",
        &format!("/api/v1/deliveries?limit=1&cursor={cursor}"),
        &f.admin,
        None,
    );
    assert_eq!(d2["items"][0]["id"], all["items"][1]["id"], "{d2}");
    assert!(d2["next_cursor"].is_null(), "{d2}");
    let (code, v) = call(&s, "GET", "/api/v1/deliveries?outcome=lost", &f.admin, None);
    assert_eq!(code, 400, "{v}");
    let (_, ch) = call(&s, "GET", "/api/v1/channels/apihook", &f.admin, None);
    assert_eq!(ch["last_delivery"]["outcome"], "sent", "{ch}");
    assert_eq!(ch["breaker"]["state"], "closed", "{ch}");
}
