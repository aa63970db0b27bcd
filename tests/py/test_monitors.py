"""Monitors end to end (issue #5): the real binary checks real loopback
targets started here, receives heartbeat pings and Sentry check-ins from the
real sentry-sdk, and serves status pages. Intervals are one or two seconds so
the state machine's thresholds play out in a few seconds.

Rust tests in crates/lookout-monitor cover the same runners against their own
loopback targets (including a self-signed TLS certificate that expires soon)
and drive heartbeat time with the injected clock.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest
import sentry_sdk
from sentry_sdk.crons import capture_checkin, monitor
from sentry_sdk.crons.consts import MonitorStatus

from browser import Browser, browser  # noqa: F401 - `browser` is a fixture
from conftest import LookoutServer, eventually, http_request
from test_ui_access import ADMIN, Client, accept, admin_client, invite
from test_ui_browser import ui_login

WAIT = 20.0


class Target:
    """A loopback HTTP target whose answer is flipped by the test."""

    def __init__(self) -> None:
        self.mode = "up"
        self.user_agents: list[str] = []
        target = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:  # noqa: N802
                target.user_agents.append(self.headers.get("User-Agent", ""))
                mode = target.mode
                if mode == "slow":
                    time.sleep(3)
                    body, status = b'{"status":"healthy"}', 200
                elif mode == "503":
                    body, status = b"maintenance", 503
                elif mode == "wrong-body":
                    body, status = b"<html>Welcome to nginx</html>", 200
                elif mode == "health-degraded":
                    status = 503
                    body = json.dumps({"status": "unhealthy", "checks": {
                        "database": {"healthy": True, "latency_ms": 5.2},
                        "redis": {"healthy": False, "error": "connection refused"}}}).encode()
                else:
                    status = 200
                    body = json.dumps({"status": "healthy", "checks": {
                        "database": {"healthy": True, "latency_ms": 5.2},
                        "redis": {"healthy": True, "latency_ms": 0.8}}}).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/health"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def target():
    t = Target()
    yield t
    t.close()


def create_monitor(server: LookoutServer, project_id: int, **fields: Any) -> dict:
    s, body = server.api.post("/api/v1/monitors", {"project_id": project_id, **fields})
    assert s == 201, f"create monitor -> {s}: {body}"
    return body


def monitor_state(server: LookoutServer, mid: int) -> dict:
    return server.api.get_ok(f"/api/v1/monitors/{mid}")


def wait_status(server: LookoutServer, mid: int, status: str, timeout: float = WAIT) -> dict:
    def check():
        m = monitor_state(server, mid)
        assert m["state"]["status"] == status, f"monitor {mid} is {m['state']['status']}, not {status}: {m['state']}"
        return m
    return eventually(check, timeout=timeout, interval=0.2)


def incidents(server: LookoutServer, mid: int) -> list[dict]:
    return server.api.get_ok(f"/api/v1/monitors/{mid}/incidents")["items"]


def test_http_target_flipped_up_503_slow_and_wrong_body(server, target):
    p = server.create_project("web")
    m = create_monitor(
        server, p.id, name="Shop API", kind="http", url=target.url, interval_secs=1, timeout_secs=1,
        failure_threshold=2, success_threshold=2,
        conditions=["[STATUS] == 200", "[BODY].status == \"healthy\""],
    )
    wait_status(server, m["id"], "up")
    assert target.user_agents and target.user_agents[-1].startswith("Lookout/"), target.user_agents[-1:]
    assert "(+uptime monitor)" in target.user_agents[-1]

    target.mode = "503"
    down = wait_status(server, m["id"], "down")
    assert "HTTP 503 Service Unavailable" in down["state"]["last_message"], down["state"]
    inc = incidents(server, m["id"])
    assert inc[0]["status"] == "down" and inc[0]["ended_at"] is None
    assert "HTTP 503" in inc[0]["cause"] and "condition [STATUS] (503) == 200 failed" in inc[0]["cause"], inc[0]

    target.mode = "slow"
    eventually(lambda: _assert_in("timeout after 1 s", monitor_state(server, m["id"])["state"]["last_message"]), timeout=WAIT)

    target.mode = "wrong-body"
    eventually(lambda: _assert_in('condition [BODY].status (missing) == "healthy" failed',
                                  monitor_state(server, m["id"])["state"]["last_message"]), timeout=WAIT)

    target.mode = "up"
    wait_status(server, m["id"], "up")
    inc = incidents(server, m["id"])
    assert inc[0]["ended_at"] is not None and inc[0]["duration_secs"] >= 1, inc[0]

    # Every state change is in the durable event feed, in order.
    events = [e for e in server.api.get_ok("/api/v1/monitor-events", {"after": 0})["items"] if e["monitor_id"] == m["id"]]
    assert [(e["from"], e["to"]) for e in events] == [("pending", "up"), ("up", "down"), ("down", "up")], events
    # Results and uptime are recorded.
    res = server.api.get_ok(f"/api/v1/monitors/{m['id']}/results")
    assert any(r["status"] == "down" for r in res["items"]) and any(r["status"] == "up" for r in res["items"])
    up = monitor_state(server, m["id"])["uptime"]["h24"]
    assert 0 < up < 100, up
    assert server.metric("lookout_monitor_checks_total", kind="http", result="down") >= 2


def _assert_in(needle: str, haystack: str) -> None:
    assert needle in (haystack or ""), f"{needle!r} not in {haystack!r}"


def test_health_endpoint_with_a_failing_sub_check_is_degraded(server, target):
    p = server.create_project("health")
    target.mode = "health-degraded"
    m = create_monitor(server, p.id, name="App health", kind="health", url=target.url, interval_secs=1,
                       timeout_secs=2, failure_threshold=1)
    st = wait_status(server, m["id"], "degraded")
    assert st["state"]["last_message"] == "degraded: redis failing (connection refused)", st["state"]
    checks = st["state"]["last_details"]["health"]["checks"]
    assert {c["name"]: c["health"] for c in checks} == {"database": "healthy", "redis": "unhealthy"}
    assert incidents(server, m["id"])[0]["status"] == "degraded"
    # The monitor page shows each sub-check on its own row.
    admin = admin_client(server)
    page = admin.get(f"/monitors/{m['id']}")
    assert page.status == 200
    assert page.text.count('class="sub-check"') == 2 and "connection refused" in page.text
    assert "5.2 ms" in page.text
    target.mode = "up"
    wait_status(server, m["id"], "up")


def test_closed_tcp_port_is_down_with_its_cause(server):
    p = server.create_project("tcp")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    m = create_monitor(server, p.id, name="Postgres", kind="tcp", host="127.0.0.1", port=port,
                       interval_secs=1, timeout_secs=1, failure_threshold=1)
    st = wait_status(server, m["id"], "down")
    assert st["state"]["last_message"] == f"connection refused by 127.0.0.1:{port}"
    assert incidents(server, m["id"])[0]["cause"] == f"connection refused by 127.0.0.1:{port}"


def test_heartbeats_on_time_late_never_and_failed(server):
    p = server.create_project("cron")
    on_time = create_monitor(server, p.id, name="Backup", kind="heartbeat", interval_secs=2, grace_secs=1)
    never = create_monitor(server, p.id, name="Never", kind="heartbeat", interval_secs=1, grace_secs=1)
    url = on_time["ping_url"]
    assert url.startswith(server.base_url + "/ping/"), url
    path = url[len(server.base_url):]
    # On time: a ping every second keeps it up for four seconds.
    for _ in range(4):
        r = http_request(server.base_url, "POST", path, b"backup ok: 12 GB", {"Content-Type": "text/plain"})
        assert r.status == 200, r
        time.sleep(1)
    st = monitor_state(server, on_time["id"])
    assert st["state"]["status"] == "up", st["state"]
    assert st["state"]["last_output"] == "backup ok: 12 GB"
    # Late: no ping for 2 s + 1 s grace.
    late = wait_status(server, on_time["id"], "down", timeout=10)
    assert "missed ping" in late["state"]["last_message"] and "every 2 s" in late["state"]["last_message"]
    # Never: down with the reason.
    nv = wait_status(server, never["id"], "down", timeout=10)
    assert "no ping ever received" in nv["state"]["last_message"], nv["state"]
    # A ping recovers at once; /fail goes down at once with its output.
    assert http_request(server.base_url, "GET", path, None, {}).status == 200
    wait_status(server, on_time["id"], "up", timeout=5)
    r = http_request(server.base_url, "POST", path + "/fail", b"pg_dump: connection refused\n" + b"x" * 50_000, {})
    assert r.status == 200
    failed = wait_status(server, on_time["id"], "down", timeout=5)
    assert failed["state"]["last_message"] == "failure reported: pg_dump: connection refused"
    assert failed["state"]["last_output"].endswith("(truncated)"), "the output is kept with a cap"
    assert len(failed["state"]["last_output"]) < 11_000
    # A start without a finish past max runtime is down.
    s, _ = server.api.patch(f"/api/v1/monitors/{on_time['id']}", {"interval_secs": 60, "max_runtime_secs": 1})
    assert s == 200
    assert http_request(server.base_url, "GET", path, None, {}).status == 200
    wait_status(server, on_time["id"], "up", timeout=5)
    assert http_request(server.base_url, "GET", path + "/start", None, {}).status == 200
    over = wait_status(server, on_time["id"], "down", timeout=10)
    assert "max runtime of 1 s" in over["state"]["last_message"], over["state"]
    assert http_request(server.base_url, "GET", "/ping/not-a-token", None, {}).status == 404


def test_sentry_sdk_monitor_decorator_and_capture_checkin(server, sentry):
    p = server.create_project("jobs")
    sentry.init(p, direct=True)
    config = {"schedule": {"type": "interval", "value": 1, "unit": "minute"}, "checkin_margin": 1,
              "max_runtime": 5, "timezone": "Europe/Paris"}

    @monitor(monitor_slug="nightly-report", monitor_config=config)
    def nightly_report():
        return 42

    assert nightly_report() == 42
    sentry.flush()

    def find():
        items = server.api.get_ok("/api/v1/monitors", {"project_id": p.id})["items"]
        m = [i for i in items if i["slug"] == "nightly-report"]
        assert m, items
        assert m[0]["state"]["status"] == "up", m[0]["state"]
        return m[0]

    m = eventually(find, timeout=WAIT)
    assert m["source"] == "sentry" and m["kind"] == "heartbeat"
    assert m["spec"]["interval_secs"] == 60 and m["spec"]["grace_secs"] == 60
    assert m["spec"]["max_runtime_secs"] == 300 and m["spec"]["timezone"] == "Europe/Paris"

    capture_checkin(monitor_slug="nightly-report", status=MonitorStatus.ERROR)
    sentry.flush()
    down = wait_status(server, m["id"], "down")
    assert down["state"]["last_message"].startswith("failure reported"), down["state"]

    # The HTTP form, with the project's DSN key.
    key = p.key
    r = http_request(server.base_url, "GET", f"/api/{p.id}/cron/nightly-report/{key}/?status=ok", None, {})
    assert r.status == 202, r
    wait_status(server, m["id"], "up")
    r = http_request(server.base_url, "GET", f"/api/{p.id}/cron/nightly-report/{'0' * 32}/?status=ok", None, {})
    assert r.status in (401, 403), r
    # A crontab monitor_config by the HTTP form's POST body.
    body = json.dumps({"status": "in_progress", "monitor_config": {"schedule": {"type": "crontab", "value": "0 3 * * *"}, "timezone": "America/New_York"}}).encode()
    r = http_request(server.base_url, "POST", f"/api/{p.id}/cron/db-backup/{key}/", body, {"Content-Type": "application/json"})
    assert r.status == 202, r
    def cron_monitor():
        items = server.api.get_ok("/api/v1/monitors", {"project_id": p.id})["items"]
        m = [i for i in items if i["slug"] == "db-backup"]
        assert m and m[0]["spec"]["cron"] == "0 3 * * *", items
        return m[0]
    cm = eventually(cron_monitor, timeout=WAIT)
    assert cm["state"]["last_start_at"] is not None


def test_bad_input_is_refused_with_position_and_counted(server):
    p = server.create_project("bad")
    cases = [
        ({"kind": "http", "url": "example.com/health"}, "url", 1, "scheme"),
        ({"kind": "http", "url": "http://x/", "conditions": ["[STATUS] == 200", "[BODY].ok = true"]}, "conditions[2]", 11, "=="),
        ({"kind": "heartbeat", "cron": "0 25 * * *"}, "cron", 3, "hour"),
        ({"kind": "heartbeat", "cron": "0 3 * * *", "timezone": "Mars/Olympus"}, "timezone", 1, "Mars/Olympus"),
    ]
    before = server.metric("lookout_monitor_definitions_rejected_total")
    for body, field, pos, word in cases:
        s, resp = server.api.post("/api/v1/monitors", {"project_id": p.id, "name": "x", **body})
        assert s == 400, (body, s, resp)
        errs = {e["field"]: e for e in resp["errors"]}
        assert field in errs, resp
        assert errs[field]["position"] == pos, resp
        assert word in errs[field]["reason"], resp
        assert f"at position {pos}" in resp["detail"]
    assert server.metric("lookout_monitor_definitions_rejected_total") - before == len(cases)
    assert server.metric("lookout_monitor_definitions_rejected_total", reason="timezone") >= 1


def test_members_may_not_target_private_addresses(server, target):
    p = server.create_project("ssrf")
    admin = admin_client(server)
    member = accept(server, invite(admin, "member@example.com", **{f"project_{p.id}": "member"}))
    fields = dict(name="internal", kind="http", url=target.url, method="GET", accepted_status="200-399",
                  interval_secs="60", timeout_secs="5", follow_redirects="on", verify_tls="on")
    r = member.post(f"/projects/{p.id}/monitors", **fields)
    assert r.status == 403, r
    assert "only administrators may monitor loopback, private or link-local addresses" in r.text
    assert "127.0.0.1" in r.text and "loopback" in r.text
    # A form with a bad condition is shown again with the reason.
    r = member.post(f"/projects/{p.id}/monitors", **{**fields, "url": "http://example.com/", "conditions": "[STATUS] = 200"})
    assert r.status == 400 and "at position 10" in r.text, r
    # Validation as you type: the form's problems as JSON, with positions.
    r = member.post("/monitors/validate", **{**fields, "url": "example.com", "conditions": "[STATUS] == 200\n[BODY].x = 1", "cron": ""})
    assert r.status == 200, r
    errs = {e["field"]: e for e in json.loads(r.text)["errors"]}
    assert errs["url"]["position"] == 1 and "scheme" in errs["url"]["reason"], errs
    assert errs["conditions[2]"]["position"] == 10, errs
    r = member.post("/monitors/validate", **fields)
    assert json.loads(r.text)["errors"] == [], "a good definition has no problem (the private-address rule waits for saving)"
    r = member.post("/monitors/validate", **{**fields, "csrf_token": "forged"})
    assert r.status == 403
    # An administrator may.
    r = admin.post(f"/projects/{p.id}/monitors", **fields)
    assert r.status == 303, r
    listing = admin.get(f"/projects/{p.id}/monitors")
    assert listing.status == 200 and "internal" in listing.text
    assert member.get(f"/projects/{p.id}/monitors").status == 200
    # A member's monitor of a name (that does not resolve now) is held to
    # public addresses at every check, whatever the request says.
    r = member.post(f"/projects/{p.id}/monitors", **{**fields, "name": "rebinding", "url": "http://rebind.invalid/"})
    assert r.status == 303, r
    s, forged = server.api.post("/api/v1/monitors", {"project_id": p.id, "name": "forged", "kind": "http",
                                                      "url": "http://example.invalid/", "public_only": True})
    assert s == 201, forged
    spec = {m["name"]: m["spec"] for m in server.api.get_ok("/api/v1/monitors", {"project_id": p.id})["items"]}
    assert spec["rebinding"].get("public_only") is True, spec["rebinding"]
    assert not spec["internal"].get("public_only"), spec["internal"]
    assert not spec["forged"].get("public_only"), "an install token is an administrator's: the field is the server's"


def test_status_page_is_public_cached_and_hides_targets(make_server, target):
    server = make_server({"LOOKOUT_MONITORING__STATUS_PAGE_CACHE_SECS": "1"})
    p = server.create_project("status")
    m = create_monitor(server, p.id, name="internal-api", kind="http", url=target.url, interval_secs=1, timeout_secs=1,
                       failure_threshold=1)
    wait_status(server, m["id"], "up")
    s, page = server.api.post("/api/v1/status-pages", {
        "slug": "acme", "title": "Acme status", "notice": "Maintenance tonight at 22:00",
        "monitors": [{"monitor_id": m["id"], "display_name": "Public API"}]})
    assert s == 201, page
    r = http_request(server.base_url, "GET", "/status/acme", None, {})
    assert r.status == 200, r
    html = r.text
    assert "Public API" in html and "Acme status" in html and "Maintenance tonight at 22:00" in html
    assert "All systems operational" in html
    assert target.url not in html and "127.0.0.1" not in html and "internal-api" not in html
    assert html.count("<rect") == 90, "90 daily bars"
    assert "style=" not in html and "<script" not in html
    target.mode = "503"
    wait_status(server, m["id"], "down")
    def outage():
        t = http_request(server.base_url, "GET", "/status/acme", None, {}).text
        assert "Some systems are down" in t
        assert "503" not in t and "Service Unavailable" not in t, "no cause is shown"
    eventually(outage, timeout=WAIT)
    assert http_request(server.base_url, "GET", "/status/nope", None, {}).status == 404
    # The editor: administrators make a page from the UI, with a notice.
    admin = admin_client(server)
    r = admin.post("/admin/status-pages", slug="team", title="Team status", description="", notice="Deploy at 18:00",
                   monitors=f"{m['id']} Shop website")
    assert r.status == 303, r
    edit_path = urlsplit(r.header("location")).path
    assert re.fullmatch(r"/admin/status-pages/\d+", edit_path), r.header("location")
    public = http_request(server.base_url, "GET", "/status/team", None, {}).text
    assert "Shop website" in public and "Deploy at 18:00" in public
    # Editing: a bad form comes back with the reason (400), a good one is saved.
    r = admin.post(edit_path, slug="Team!", title="Team status", monitors=f"{m['id']} Shop website")
    assert r.status == 400 and "Edit status page" in r.text and "lowercase" in r.text, r
    r = admin.post(edit_path, slug="team", title="Team status (new)", description="", notice="",
                   monitors=f"{m['id']} Shop website")
    assert r.status == 303 and r.header("location").endswith("?done=saved"), r
    public = http_request(server.base_url, "GET", "/status/team", None, {}).text
    assert "Team status (new)" in public and "Deploy at 18:00" not in public
    r = admin.post("/admin/status-pages", slug="Bad Slug", title="x", monitors="")
    assert r.status == 400 and "lowercase" in r.text, r
    r = admin.post("/admin/status-pages", slug="x", title="x", monitors="not-an-id Name")
    assert r.status == 400 and "start the line with the monitor" in r.text, r


def test_monitors_as_code(tmp_path, target):
    server = LookoutServer(tmp_path)
    server.data_dir.mkdir(parents=True, exist_ok=True)
    server.cli("project", "create", "--name", "shop", "--json")
    (tmp_path / "lookout.toml").write_text(
        "[[monitors]]\n"
        'project = "shop"\nslug = "api"\nname = "API from config"\nkind = "http"\n'
        f'url = "{target.url}"\ninterval_secs = 1\ntimeout_secs = 1\n'
        'conditions = ["[STATUS] == 200"]\n'
        "\n[[monitors]]\n"
        'project = "shop"\nslug = "nightly"\nkind = "heartbeat"\ncron = "0 3 * * *"\ntimezone = "Europe/Paris"\n'
    )
    server.start()
    try:
        def listed():
            items = server.api.get_ok("/api/v1/monitors")["items"]
            assert {i["slug"] for i in items} == {"api", "nightly"}, items
            return {i["slug"]: i for i in items}
        ms = eventually(listed, timeout=WAIT)
        assert ms["api"]["source"] == "config" and ms["api"]["name"] == "API from config"
        assert ms["nightly"]["ping_url"]
        wait_status(server, ms["api"]["id"], "up")
        s, body = server.api.patch(f"/api/v1/monitors/{ms['api']['id']}", {"interval_secs": 5})
        assert s == 409 and "lookout.toml" in body["detail"], body
        s, _ = server.api.post("/api/v1/monitors", {"project_id": ms["api"]["project_id"], "name": "ui one", "kind": "heartbeat"})
        assert s == 201, "UI/API monitors coexist with config ones"
    finally:
        server.stop()
    # Changed in the file: updated on the next start, same id.
    text = (tmp_path / "lookout.toml").read_text().replace('name = "API from config"', 'name = "API v2"')
    (tmp_path / "lookout.toml").write_text(text)
    server = LookoutServer(tmp_path).start()
    try:
        def renamed():
            items = {i["slug"]: i for i in server.api.get_ok("/api/v1/monitors")["items"]}
            assert items["api"]["name"] == "API v2", items["api"]
            return items
        items = eventually(renamed, timeout=WAIT)
        assert items["api"]["id"] == ms["api"]["id"]
        assert len(items) == 3
    finally:
        server.stop()
    # Removed from the file: kept, and editable again.
    (tmp_path / "lookout.toml").write_text("")
    server = LookoutServer(tmp_path).start()
    try:
        def released():
            items = {i["slug"]: i for i in server.api.get_ok("/api/v1/monitors")["items"]}
            assert items["api"]["source"] == "ui", items["api"]
            return items
        eventually(released, timeout=WAIT)
        s, body = server.api.patch(f"/api/v1/monitors/{ms['api']['id']}", {"interval_secs": 5})
        assert s == 200, body
    finally:
        server.stop()


def test_monitor_pages_in_the_browser(server, target, browser: Browser):
    """The Monitors tab, the form's validation as you type (app.js), and the
    monitor page, in Chromium with the real CSP."""
    p = server.create_project("browser")
    admin_client(server)
    browser.use(server.base_url)
    ui_login(browser, *ADMIN)
    browser.get(f"/projects/{p.id}/monitors")
    browser.check(browser.exists("nav.tabs a.active[href$='/monitors']"), "the Monitors tab is active")
    browser.get(f"/projects/{p.id}/monitors/new")
    browser.fill("#monitor-form", name="Shop", url=target.url, conditions="[STATUS] = 200", interval_secs="1")
    live = browser.wait(lambda d: d.execute_script(
        "var b = document.getElementById('live-errors'); return b && b.textContent;"), 10, "live validation")
    browser.check("conditions[1]: at position 10" in live, f"the problem shows while typing: {live!r}")
    browser.check(browser.exists("#conditions[aria-invalid=true]"), "the field is marked")
    browser.fill("#monitor-form", conditions="[STATUS] == 200")
    browser.wait(lambda d: d.execute_script("return document.getElementById('live-errors').textContent === ''"), 10,
                 "the problem goes away once fixed")
    browser.submit("#monitor-form", "#save-monitor")
    m = browser.wait_for_path(r"^/monitors/(\d+)$")
    mid = int(m.group(1))
    wait_status(server, mid, "up")
    browser.reload()
    browser.check(browser.text("#monitor-title").startswith("Shop"), "the monitor page")
    browser.check("HTTP 200" in browser.text("#last-message"), "the last check is shown")
    browser.check(not browser.csp_violations(), f"no CSP violation: {browser.csp_violations()}")
    browser.check(not browser.console_errors(), f"no console errors: {browser.console_errors()}")
    browser.save_artifacts("monitor-page")
