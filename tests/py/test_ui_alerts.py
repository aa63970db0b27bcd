"""The alerting pages (issue #6), end to end against the real binary,
through the HTTP ``Client`` of test_ui_access (login, cookies, CSRF).

- ``test_rules_alerts_and_silences``: a bad rule comes back with a 400
  and the message next to its field; a good one is created through the
  form; a rule from lookout.toml is read-only (409); a member writes
  rules of their own project only; the real sentry-sdk raises an error
  whose message holds ``<script>``; the alert appears on /alerts and in
  the project overview's panel (escaped, linked to its issue); a silence on its project marks it "muted by" and expiring it
  removes the mark; a maintenance window is created; it is acknowledged
  and resolved. A member of another project sees none of it, and a
  member cannot open the channels page or the delivery log (403).
- ``test_channels_send_test_and_delivery_log``: an administrator creates a
  webhook channel pointing at a loopback receiver; its secret is never
  shown; "Send test" reaches the receiver and the page says sent; a
  channel whose endpoint fails shows the error; a real alert is
  delivered through the outbox and the delivery log lists the attempts,
  filtered by channel and outcome.
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sentry_sdk

from conftest import eventually
from test_ui_access import accept, admin_client, invite

HOOK_SECRET = "hook-signing-secret-42"


class Receiver:
    """A loopback HTTP endpoint: ``/ok`` answers 200, ``/fail`` 500."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with receiver._lock:
                    receiver.requests.append({"path": self.path, "body": body,
                                              "headers": {k.lower(): v for k, v in self.headers.items()}})
                status = 200 if self.path.startswith("/ok") else 500
                out = b"ok" if status == 200 else b"receiver is down"
                self.send_response(status)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args):  # quiet
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def to(self, prefix: str) -> list[dict]:
        with self._lock:
            return [r for r in self.requests if r["path"].startswith(prefix)]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def server(make_server, tmp_path):
    """Alerts group for one second; critical alerts go to the channels
    ``hook`` and ``broken`` once they exist (made in the UI). One rule is
    declared in lookout.toml."""
    config = tmp_path / "lookout.toml"
    config.write_text(
        """
[[alerts.rules]]
name = "Backup failed"
severity = "high"
condition = { kind = "backup_failed" }

[alerts.routes]
receivers = ["log"]
group_wait = "1s"
group_interval = "2s"
[[alerts.routes.routes]]
matchers = ["severity=critical"]
receivers = ["hook", "broken"]
"""
    )
    return make_server(extra_env={"LOOKOUT_CONFIG": str(config)})


def page_ok(client, path: str) -> str:
    r = client.get(path)
    assert r.status == 200, f"GET {path}: {r}"
    return r.text


def alert_rows(page: str) -> list[str]:
    return re.findall(r'<tr class="alert-row".*?</tr>', page, re.S)


def delivery_rows(page: str) -> list[tuple[str, str]]:
    return re.findall(r'<tr class="delivery-row" data-outcome="(\w+)">.*?delivery-channel">([^<]+)<', page, re.S)


def create_rule(client, project_id, **fields) -> None:
    form = dict(name="New error", severity="critical", kind="new_issue", projects=str(project_id),
                environments="", tags="", labels="team=shop", annotations="", enabled="on",
                resolve_after="24h", threshold="10", window="5m", per="project", baseline="1h",
                factor="3", min_events="10", within="1h", days="14")
    form["for"] = "0s"
    form.update(fields)
    r = client.post("/alerts/rules", **form)
    assert r.status == 303, f"creating a rule: {r}\n{r.text[:3000]}"


def raise_error(sentry, project, message: str) -> None:
    sentry.init(project)

    def charge_card(card):
        raise ValueError(message)

    try:
        charge_card({"last4": "4242"})
    except ValueError as exc:
        sentry_sdk.capture_exception(exc)
    sentry.flush()


def test_rules_alerts_and_silences(server, sentry):
    admin = admin_client(server)
    shop = server.create_project("shop")
    other = server.create_project("other")
    member = accept(server, invite(admin, "member@example.com", **{f"project_{other.id}": "member"}))

    # A bad rule: 400, the form again, the message next to the field.
    r = admin.post("/alerts/rules", name="Burst", severity="high", kind="issue_frequency",
                   threshold="10", window="soon", per="project", enabled="on", resolve_after="24h",
                   **{"for": "0s"})
    assert r.status == 400, r
    assert re.search(r'class="error field-error" data-field="window">`soon`', r.text), r.text[:4000]
    assert 'id="rule-form"' in r.text and 'value="Burst"' in r.text, "the form keeps what was typed"
    r = admin.post("/alerts/rules", name="Spike", severity="high", kind="error_rate_spike", window="5m",
                   baseline="1h", factor="0.5", min_events="10", enabled="on", resolve_after="24h",
                   **{"for": "0s"})
    assert r.status == 400 and 'data-field="factor"' in r.text and "greater than 1" in r.text, r
    assert "Burst" not in page_ok(admin, "/alerts/rules")

    # A good rule, through the form.
    create_rule(admin, shop.id)
    rules = page_ok(admin, "/alerts/rules")
    assert "New error" in rules and "shop" in rules
    rule_id = re.search(r'href="/alerts/rules/(\d+)">New error<', rules).group(1)
    edit = page_ok(admin, f"/alerts/rules/{rule_id}")
    assert 'id="rule-form"' in edit and "team=shop" in edit
    for kind in ("new_issue", "regression", "issue_frequency", "error_rate_spike", "new_issue_after_release",
                 "backup_failed", "monitor_down", "monitor_degraded", "monitor_recovered",
                 "heartbeat_missed", "tls_expiring"):
        assert f'<option value="{kind}"' in edit, f"the form offers {kind}"

    # The rule from lookout.toml is read-only.
    config_id = re.search(r'href="/alerts/rules/(\d+)">Backup failed<', rules).group(1)
    declared = page_ok(admin, f"/alerts/rules/{config_id}")
    assert 'id="declared-in-config"' in declared and 'id="save-rule"' not in declared
    r = admin.post(f"/alerts/rules/{config_id}", name="Changed", severity="low", kind="backup_failed",
                   enabled="on", resolve_after="24h", **{"for": "0s"})
    assert r.status == 409 and "lookout.toml" in r.text, r
    r = admin.post(f"/alerts/rules/{config_id}/delete")
    assert r.status == 409 and "lookout.toml" in r.text, r

    # A member writes rules of their own project only.
    assert "Backup failed" in page_ok(member, "/alerts/rules"), "install-wide rules are readable"
    create_rule(member, other.id, name="Other errors")
    r = member.post("/alerts/rules", name="Everywhere", severity="low", kind="new_issue", enabled="on",
                    resolve_after="24h", **{"for": "0s"})
    assert r.status == 403 and "administrators" in r.text, r
    r = member.post("/alerts/rules", name="Theirs", severity="low", kind="new_issue", projects=str(shop.id),
                    enabled="on", resolve_after="24h", **{"for": "0s"})
    assert r.status == 404, r

    # A real error with markup in its message.
    raise_error(sentry, shop, "<script>alert('pwned')</script> card declined")
    issue_id = server.api.issues(shop.id)[0]["id"]

    def firing():
        rows = alert_rows(admin.get("/alerts").text)
        assert rows and 'data-state="firing"' in rows[0], rows
        return rows[0]

    row = eventually(firing, timeout=15)
    assert f'href="/issues/{issue_id}"' in row and "New error" in row and "critical" in row
    page = page_ok(admin, "/alerts")
    assert "<script>alert(" not in page, "event text is escaped"
    assert "&lt;script&gt;alert(" in page, "shown, escaped"
    alert_id = re.search(r'id="alert-(\d+)"', row).group(1)
    overview = page_ok(admin, f"/projects/{shop.id}")
    panel = re.search(r'<section class="panel" id="alerts-panel">.*?</section>', overview, re.S).group(0)
    assert "1 firing" in panel and f'href="/issues/{issue_id}"' in panel and "&lt;script&gt;" in panel, panel

    # Others: a member of another project sees no alert of shop, and no channels.
    assert alert_rows(page_ok(member, "/alerts")) == []
    assert member.post(f"/alerts/{alert_id}/ack").status == 404
    assert member.get("/alerts/channels").status == 403
    assert member.get("/alerts/deliveries").status == 403
    assert "New error" not in page_ok(member, "/alerts/rules"), "a rule of an unreadable project is hidden"
    assert member.get(f"/alerts/rules/{rule_id}").status == 404

    # A silence on the project mutes it: the alert says by which.
    r = admin.post("/alerts/silences", kind="silence", matchers=f"project_id={shop.id}\nalertname=\"New error\"",
                   duration="1h", ends_at="", comment="deploying <b>v2</b>")
    assert r.status == 303, r
    silence_id = re.search(r"silence-(\d+)", r.header("location")).group(1)
    silences = page_ok(admin, "/alerts/silences")
    assert f'id="silence-{silence_id}"' in silences and "deploying &lt;b&gt;v2&lt;/b&gt;" in silences
    assert "mutes 1 alert now" in silences
    row = alert_rows(page_ok(admin, "/alerts"))[0]
    assert f"muted by silence #{silence_id}" in row, row
    r = admin.post("/alerts/silences", kind="silence", matchers="nonsense", duration="1h", ends_at="", comment="")
    assert r.status == 400 and 'data-field="matchers"' in r.text, r
    # A member of another project cannot silence shop.
    r = member.post("/alerts/silences", kind="silence", matchers=f"project_id={shop.id}", duration="1h",
                    ends_at="", comment="")
    assert r.status == 404, r
    r = member.post("/alerts/silences", kind="silence", matchers="severity=critical", duration="1h",
                    ends_at="", comment="")
    assert r.status == 403 and "administrators" in r.text, r
    # Expiring it removes the mark.
    assert member.post(f"/alerts/silences/{silence_id}/expire").status == 404
    assert admin.post(f"/alerts/silences/{silence_id}/expire").status == 303
    assert "muted by" not in alert_rows(page_ok(admin, "/alerts"))[0]
    expired = page_ok(admin, "/alerts/silences")
    assert re.search(rf'id="silence-{silence_id}" data-status="expired"', expired), expired

    # A maintenance window for the member's project.
    r = member.post("/alerts/silences", kind="maintenance", project_id=str(other.id), monitor_id="",
                    duration="30m", ends_at="", comment="db upgrade")
    assert r.status == 303, r
    m = page_ok(member, "/alerts/silences")
    assert f"project_id={other.id}" in m and "maintenance" in m and "db upgrade" in m

    # Acknowledge, then resolve.
    r = admin.post(f"/alerts/{alert_id}/ack")
    assert r.status == 303, r
    row = alert_rows(page_ok(admin, "/alerts"))[0]
    assert "acknowledged by admin@example.com" in row and "ack-alert" not in row, row
    r = admin.post(f"/alerts/{alert_id}/resolve")
    assert r.status == 303, r
    assert alert_rows(page_ok(admin, "/alerts")) == []
    resolved = alert_rows(page_ok(admin, "/alerts?state=resolved"))
    assert resolved and "resolved by admin@example.com" in resolved[0], resolved
    r = admin.post(f"/alerts/{alert_id}/resolve")
    assert r.status == 409 and "already resolved" in r.text, r

    # Forms need the CSRF token.
    assert admin.post(f"/alerts/{alert_id}/ack", csrf_token="forged").status == 403

    # Deleting the rule.
    assert admin.post(f"/alerts/rules/{rule_id}/delete").status == 303
    assert "New error" not in page_ok(admin, "/alerts/rules")


def test_channels_send_test_and_delivery_log(server, sentry, receiver):
    admin = admin_client(server)
    shop = server.create_project("shop")

    r = admin.post("/alerts/channels", name="hook", kind="webhook", url=f"{receiver.url}/ok/hook",
                   secret=HOOK_SECRET, format="lookout", enabled="on")
    assert r.status == 303, f"{r}\n{r.text[:3000]}"
    r = admin.post("/alerts/channels", name="broken", kind="webhook", url=f"{receiver.url}/fail",
                   secret="", format="lookout", enabled="on")
    assert r.status == 303, r
    r = admin.post("/alerts/channels", name="bad one", kind="webhook", url="ftp://x", enabled="on")
    assert r.status == 400 and 'data-field="name"' in r.text and 'data-field="url"' in r.text, r

    page = page_ok(admin, "/alerts/channels")
    assert 'id="channel-hook"' in page and 'id="channel-broken"' in page
    assert HOOK_SECRET not in page and "***" in page, "secrets are redacted"
    assert "circuit-closed" in page
    edit = page_ok(admin, "/alerts/channels/hook")
    assert HOOK_SECRET not in edit and f"{receiver.url}/ok/hook" in edit

    # Send test: the receiver gets it, and the page says so.
    r = admin.post("/alerts/channels/hook/test")
    assert r.status == 200, r
    assert re.search(r'id="test-outcome" data-outcome="sent"', r.text), r.text[:3000]
    assert len(receiver.to("/ok/hook")) == 1
    sig = receiver.to("/ok/hook")[0]["headers"].get("x-lookout-signature-256", "")
    assert sig.startswith("sha256="), "the secret was kept and signs the body"
    r = admin.post("/alerts/channels/broken/test")
    assert r.status == 200, r
    failed = re.search(r'id="test-outcome" data-outcome="(retry|failed)"[^>]*>([^<]*)<', r.text)
    assert failed and "HTTP 500: receiver is down" in failed.group(2), r.text[:3000]

    # Editing keeps the secret when the field is left empty.
    r = admin.post("/alerts/channels/hook", kind="webhook", url=f"{receiver.url}/ok/hook2", secret="",
                   format="alertmanager", enabled="on")
    assert r.status == 303, r
    admin.post("/alerts/channels/hook/test")
    last = receiver.to("/ok/hook2")[-1]
    assert last["headers"].get("x-lookout-signature-256", "").startswith("sha256=")
    assert "alerts" in json.loads(last["body"]), "the alertmanager format"

    # A real alert goes through the outbox to both; the log lists the attempts.
    create_rule(admin, shop.id)
    raise_error(sentry, shop, "card declined")

    def delivered():
        hits = [x for x in receiver.to("/ok/hook2") if b"card declined" in x["body"]]
        assert hits, "no alert delivered yet"
        assert len(receiver.to("/fail")) >= 2, "the broken channel was tried by the outbox (after the test)"
        return hits

    eventually(delivered, timeout=20)

    def logged():
        rows = delivery_rows(page_ok(admin, "/alerts/deliveries"))
        assert ("sent", "hook") in rows and ("retry", "broken") in rows, rows
        return rows

    eventually(logged, timeout=10)
    failed_only = page_ok(admin, "/alerts/deliveries?outcome=retry&channel=broken")
    assert set(delivery_rows(failed_only)) == {("retry", "broken")}, failed_only
    assert set(delivery_rows(page_ok(admin, "/alerts/deliveries?channel=hook"))) == {("sent", "hook")}
    assert "500" in failed_only
    assert "New error" in failed_only, "the notification is named"
    channels = page_ok(admin, "/alerts/channels")
    assert re.search(r'id="channel-broken".*?outcome-retry', channels, re.S), "last delivery per channel"

    # Deleting a channel.
    assert admin.post("/alerts/channels/broken/delete").status == 303
    assert 'id="channel-broken"' not in page_ok(admin, "/alerts/channels")
