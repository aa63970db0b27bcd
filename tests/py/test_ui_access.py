"""Accounts and access control, end to end against the real binary.

- ``test_roles_scope_pages_and_api``: invitations create a member of
  project A and a viewer of A; neither can see project B (404 in pages and
  the API); the viewer cannot resolve or configure (403, nothing changes);
  the member can; only an administrator deletes a project, and only with
  the slug typed.
- ``test_personal_tokens``: tokens are shown once, act for their owner
  capped by scope, record their last use, and stop working when revoked.
- ``test_password_change_and_invitation_reuse``: a new password needs the
  current one, ends other sessions, and the old password stops working;
  an invitation link works once.
- ``test_key_rotation_takes_effect_at_once``: after rotating a DSN key in
  the settings page, the old key is refused and the new one accepted
  without waiting for the ingest key cache.
- ``test_invitation_email`` (real SMTP server, aiosmtpd): the invitation is
  e-mailed with text and HTML parts, and its link creates the account.
- ``test_viewer_in_the_browser``: in Chromium, a viewer sees the issue but
  no status buttons, and the settings form is disabled; hover times are
  shown in the reader's time zone (app.js).
"""

from __future__ import annotations

import email
import json
import email.policy
import re
import socket
import threading
from typing import Optional
from urllib.parse import urlsplit

import pytest

from browser import Browser, browser  # noqa: F401 - `browser` is a fixture
from conftest import (
    Api,
    LookoutServer,
    Project,
    event_envelope,
    eventually,
    make_exception_event,
    post_envelope,
)
from test_ui_browser import (
    Raw,
    cookie_header,
    cookie_jar_update,
    create_user,
    http_login,
    parse_form,
    post_form,
    raw_request,
    ui_login,
)

ADMIN = ("admin@example.com", "correct horse battery staple")
PASSWORD = "member password 123"


class Client:
    """A logged-in browser session without a browser: cookies and CSRF."""

    def __init__(self, base_url: str, jar: dict):
        self.base_url = base_url
        self.jar = jar
        self._csrf: Optional[str] = None

    @classmethod
    def login(cls, server: LookoutServer, email: str, password: str) -> "Client":
        resp, jar = http_login(server.base_url, email, password)
        assert resp.status == 303, f"login as {email}: {resp}"
        return cls(server.base_url, jar)

    def get(self, path: str) -> Raw:
        r = raw_request(self.base_url, "GET", path, headers={"Cookie": cookie_header(self.jar)})
        cookie_jar_update(self.jar, r)
        return r

    @property
    def csrf(self) -> str:
        if self._csrf is None:
            page = self.get("/account")
            assert page.status == 200, page
            _, fields = parse_form(page.text, "logout")
            self._csrf = fields["csrf_token"]
        return self._csrf

    def post(self, path: str, **fields) -> Raw:
        fields.setdefault("csrf_token", self.csrf)
        r = post_form(self.base_url, path, fields, cookie_header(self.jar))
        cookie_jar_update(self.jar, r)
        return r


def text_of(html: str, element_id: str) -> str:
    m = re.search(rf'id="{element_id}"[^>]*>([^<]*)<', html)
    assert m, f"no #{element_id} in the page:\n{html[:2000]}"
    return m.group(1).strip()


def admin_client(server: LookoutServer) -> Client:
    create_user(server, ADMIN[0], ADMIN[1], admin=True)
    return Client.login(server, *ADMIN)


def invite(admin: Client, email_addr: str, **roles: str) -> str:
    """Invite ``email_addr`` with ``project_<id>=role`` fields; returns the link."""
    fields = {"email": email_addr}
    fields.update(roles)
    r = admin.post("/admin/invitations", **fields)
    assert r.status == 201, f"invite {email_addr}: {r}"
    return text_of(r.text, "invitation-link")


def accept(server: LookoutServer, link: str, password: str = PASSWORD) -> Client:
    path = urlsplit(link).path
    page = raw_request(server.base_url, "GET", path)
    assert page.status == 200, f"GET {path}: {page}"
    jar = cookie_jar_update({}, page)
    action, fields = parse_form(page.text, "accept-form")
    fields.update(password=password, password_confirm=password)
    r = post_form(server.base_url, action or path, fields, cookie_header(jar))
    assert r.status == 303, f"accepting {link}: {r}"
    return Client(server.base_url, cookie_jar_update(jar, r))


def send_error(server: LookoutServer, project: Project, value: str) -> dict:
    ev = make_exception_event(value=value)
    r = post_envelope(server.base_url, project.id, event_envelope(ev), project.key)
    assert r.status == 200, r
    return eventually(lambda: server.api.issue_for_event(project.id, ev["event_id"]))


def issue_status(server: LookoutServer, issue_id: int) -> str:
    return server.api.issue(issue_id)["status"]


def test_roles_scope_pages_and_api(server):
    a = server.create_project("alpha")
    b = server.create_project("bravo")
    admin = admin_client(server)
    member = accept(server, invite(admin, "member@example.com", **{f"project_{a.id}": "member"}))
    viewer = accept(server, invite(admin, "viewer@example.com", **{f"project_{a.id}": "viewer"}))
    issue_a = send_error(server, a, "in alpha")
    issue_b = send_error(server, b, "in bravo")

    # The admin sees both projects; the others only A.
    assert "alpha" in admin.get("/projects").text and "bravo" in admin.get("/projects").text
    for who, c in (("member", member), ("viewer", viewer)):
        listing = c.get("/projects").text
        assert "alpha" in listing and "bravo" not in listing, f"{who} sees only alpha"
        for path in (f"/projects/{b.id}/issues", f"/issues/{issue_b['id']}", f"/projects/{b.id}/settings",
                     f"/issues/{issue_b['id']}/latest.json"):
            r = c.get(path)
            assert r.status == 404, f"{who} GET {path}: {r}"
        assert c.get(f"/projects/{a.id}/issues").status == 200
        assert c.get(f"/issues/{issue_a['id']}").status == 200

    # The viewer reads but cannot triage or configure.
    page = viewer.get(f"/issues/{issue_a['id']}").text
    assert 'id="issue-actions"' not in page and 'id="read-only"' in page
    r = viewer.post(f"/issues/{issue_a['id']}/status", status="resolved")
    assert r.status == 403, r
    assert issue_status(server, issue_a["id"]) == "unresolved"
    r = viewer.post(f"/projects/{a.id}/rename", name="hijacked")
    assert r.status == 403, r
    r = viewer.post(f"/projects/{a.id}/keys", label="mine")
    assert r.status == 403, r
    assert len(server.api.get_ok("/api/v1/projects")["items"][0]["dsns"]) == 1

    # The member triages and configures A, but cannot reach B, manage members or delete.
    r = member.post(f"/issues/{issue_a['id']}/status", status="resolved")
    assert r.status == 303, r
    assert issue_status(server, issue_a["id"]) == "resolved"
    r = member.post(f"/issues/{issue_b['id']}/status", status="resolved")
    assert r.status == 404, r
    assert issue_status(server, issue_b["id"]) == "unresolved"
    r = member.post(f"/projects/{a.id}/settings", retention_days="30", max_events="5000",
                    events_per_minute="", exception_types="KeyboardInterrupt", message_patterns="",
                    releases="", environments="", allowed_origins="*", scrub_keys="")
    assert r.status == 303, r
    settings = server.api.get_ok(f"/api/v1/projects/{a.id}/settings")
    assert settings["retention_days"] == 30 and settings["filters"]["exception_types"] == ["KeyboardInterrupt"]
    r = member.post(f"/projects/{a.id}/settings", retention_days="soon", max_events="5000")
    assert r.status == 400 and "retention days" in r.text, r
    assert server.api.get_ok(f"/api/v1/projects/{a.id}/settings")["retention_days"] == 30
    r = member.post(f"/projects/{a.id}/delete", confirm=a.slug)
    assert r.status == 403, r
    r = member.post(f"/projects/{a.id}/members", user_id="1", role="member")
    assert r.status == 403, r
    assert member.get("/admin/users").status == 403

    # The admin makes the viewer a member; then the viewer can resolve.
    members_page = admin.get(f"/projects/{a.id}/settings").text
    rows = {m.group(1): m.group(2) for m in re.finditer(
        r'member-email">([^<]+)</td>.*?name="user_id" value="(\d+)"', members_page, re.S)}
    assert set(rows) == {"member@example.com", "viewer@example.com"}, rows
    viewer_id = rows["viewer@example.com"]
    r = admin.post(f"/projects/{a.id}/members", user_id=viewer_id, role="member")
    assert r.status == 303, r
    r = viewer.post(f"/issues/{issue_a['id']}/status", status="unresolved")
    assert r.status == 303, r
    assert issue_status(server, issue_a["id"]) == "unresolved"

    # Deleting needs the slug typed exactly.
    r = admin.post(f"/projects/{b.id}/delete", confirm="wrong")
    assert r.status == 400 and b.slug in r.text, r
    assert admin.get(f"/projects/{b.id}/issues").status == 200
    r = admin.post(f"/projects/{b.id}/delete", confirm=b.slug)
    assert r.status == 303, r
    assert admin.get(f"/projects/{b.id}/issues").status == 404
    assert server.api.get(f"/api/v1/issues/{issue_b['id']}")[0] == 404
    r = post_envelope(server.base_url, b.id, event_envelope(make_exception_event()), b.key)
    assert r.status in (401, 403), f"a deleted project's key is refused: {r}"

    # The admin pages list everyone; an admin cannot delete their own account.
    page = admin.get("/admin/users")
    assert page.status == 200 and "member@example.com" in page.text and "viewer@example.com" in page.text
    r = admin.post("/admin/users/1/delete")
    assert r.status == 400 and "your own account" in r.text, r
    assert "(administrator)" in admin.get("/account").text


def create_token(c: Client, name: str, scope: str) -> str:
    r = c.post("/account/tokens", name=name, scope=scope)
    assert r.status == 201, r
    secret = text_of(r.text, "token-secret")
    assert secret.startswith("lkt_")
    # Shown once: the account page lists the token but never its secret.
    page = c.get("/account").text
    assert name in page and secret not in page
    return secret


def test_personal_tokens(server):
    a = server.create_project("alpha")
    b = server.create_project("bravo")
    admin = admin_client(server)
    member = accept(server, invite(admin, "member@example.com", **{f"project_{a.id}": "member"}))
    viewer = accept(server, invite(admin, "viewer@example.com", **{f"project_{a.id}": "viewer"}))
    issue_a = send_error(server, a, "in alpha")
    issue_b = send_error(server, b, "in bravo")

    read = Api(server.base_url, create_token(member, "reader", "read"))
    rw = Api(server.base_url, create_token(member, "writer", "read-write"))
    viewer_rw = Api(server.base_url, create_token(viewer, "viewer writer", "read-write"))

    me = read.get_ok("/api/v1/me")
    assert me["user"]["email"] == "member@example.com" and me["token"]["scope"] == "read"
    assert [p["id"] for p in me["projects"]] == [a.id] and me["projects"][0]["role"] == "member"
    assert [p["id"] for p in read.get_ok("/api/v1/projects")["items"]] == [a.id]
    assert read.get(f"/api/v1/projects/{b.id}/issues")[0] == 404
    assert read.get(f"/api/v1/issues/{issue_b['id']}")[0] == 404
    assert read.get(f"/api/v1/issues/{issue_a['id']}")[0] == 200

    status, body = read.patch(f"/api/v1/issues/{issue_a['id']}", {"status": "resolved"})
    assert status == 403 and "read-only" in body["detail"], body
    status, body = viewer_rw.patch(f"/api/v1/issues/{issue_a['id']}", {"status": "resolved"})
    assert status == 403 and "viewer" in body["detail"], body
    assert issue_status(server, issue_a["id"]) == "unresolved"
    status, body = rw.patch(f"/api/v1/issues/{issue_a['id']}", {"status": "resolved"})
    assert status == 200 and body["status"] == "resolved", body
    assert rw.patch(f"/api/v1/issues/{issue_b['id']}", {"status": "resolved"})[0] == 404
    status, _ = viewer_rw.put(f"/api/v1/projects/{a.id}/settings", {"retention_days": 1})
    assert status == 403
    assert rw.put(f"/api/v1/projects/{a.id}/settings", {"retention_days": 7})[0] == 200

    # The event, by project, only where the token may read.
    eid = server.api.issue_events(issue_b["id"])[0]["event_id"]
    assert read.get(f"/api/v1/projects/{b.id}/events/{eid}")[0] == 404
    assert read.get(f"/api/v1/events/{eid}")[0] == 404
    assert server.api.get(f"/api/v1/projects/{b.id}/events/{eid}")[0] == 200

    # Last use is shown; revoking stops the token at once.
    page = member.get("/account").text
    assert re.search(r'token-name">reader</td>.*?token-last-used">\s*<time', page, re.S), page
    token_id = re.search(r'action="/account/tokens/(\d+)/revoke"', page).group(1)
    r = viewer.post(f"/account/tokens/{token_id}/revoke")
    assert r.status == 404, "nobody revokes someone else's token"
    assert read.get("/api/v1/me")[0] == 200
    for tid in re.findall(r'action="/account/tokens/(\d+)/revoke"', page):
        assert member.post(f"/account/tokens/{tid}/revoke").status == 303
    status, body = read.get("/api/v1/me")
    assert status == 401 and "revoked" in body["detail"], body
    assert rw.get("/api/v1/me")[0] == 401


def test_password_change_and_invitation_reuse(server):
    a = server.create_project("alpha")
    admin = admin_client(server)
    link = invite(admin, "member@example.com", **{f"project_{a.id}": "member"})
    first = accept(server, link)
    # The link works once.
    page = raw_request(server.base_url, "GET", urlsplit(link).path)
    assert page.status == 404 and "invitation-invalid" in page.text
    second = Client.login(server, "member@example.com", PASSWORD)
    assert second.get("/account").status == 200

    r = first.post("/account/password", current="wrong password!", password="new password 456",
                   password_confirm="new password 456")
    assert r.status == 400 and "current password is wrong" in r.text, r
    r = first.post("/account/password", current=PASSWORD, password="short", password_confirm="short")
    assert r.status == 400 and "10 characters" in r.text, r
    r = first.post("/account/password", current=PASSWORD, password="new password 456",
                   password_confirm="new password 456")
    assert r.status == 303, r
    assert first.get("/account").status == 200, "the session that changed it stays"
    r = second.get("/account")
    assert r.status == 303 and "/login" in (r.header("location") or ""), "other sessions end"
    bad, _ = http_login(server.base_url, "member@example.com", PASSWORD)
    assert bad.status != 303, "the old password no longer works"
    Client.login(server, "member@example.com", "new password 456")


def test_key_rotation_takes_effect_at_once(server):
    a = server.create_project("alpha")
    admin = admin_client(server)
    old_key = a.key
    ok = post_envelope(server.base_url, a.id, event_envelope(make_exception_event()), old_key)
    assert ok.status == 200, ok
    page = admin.get(f"/projects/{a.id}/settings").text
    key_id = re.search(r'action="/projects/\d+/keys/(\d+)/rotate"', page).group(1)
    r = admin.post(f"/projects/{a.id}/keys/{key_id}/rotate")
    assert r.status == 303, r
    refused = post_envelope(server.base_url, a.id, event_envelope(make_exception_event()), old_key)
    assert refused.status in (401, 403), f"the rotated key is refused at once: {refused}"
    dsns = server.api.get_ok("/api/v1/projects")["items"][0]["dsns"]
    assert len(dsns) == 1 and old_key not in dsns[0]
    new_key = urlsplit(dsns[0]).username
    accepted = post_envelope(server.base_url, a.id, event_envelope(make_exception_event()), new_key)
    assert accepted.status == 200, accepted
    page = admin.get(f"/projects/{a.id}/settings").text
    assert "revoked" in page and new_key in page
    # The setup snippets carry the live DSN.
    assert f"dsn=&quot;{dsns[0]}&quot;" in page, "Python snippet"
    assert f"dsn: &quot;{dsns[0]}&quot;" in page, "JavaScript snippet"


class Inbox:
    """A real SMTP server (aiosmtpd) on loopback that keeps what it gets."""

    def __init__(self):
        from aiosmtpd.controller import Controller

        self.messages: list[email.message.EmailMessage] = []
        self.lock = threading.Lock()
        inbox = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
                msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
                with inbox.lock:
                    inbox.messages.append(msg)
                return "250 OK"

        # aiosmtpd checks readiness by connecting to the port, so it needs a
        # real one: take a free port from the kernel first.
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self):
        self.controller.stop()


@pytest.fixture
def inbox():
    box = Inbox()
    yield box
    box.stop()


def test_invitation_email(make_server, inbox):
    server = make_server({
        "LOOKOUT_SMTP__HOST": "127.0.0.1",
        "LOOKOUT_SMTP__PORT": str(inbox.port),
        "LOOKOUT_SMTP__TLS": "none",
        "LOOKOUT_SMTP__FROM": "Lookout <lookout@example.com>",
    })
    a = server.create_project("alpha")
    admin = admin_client(server)
    r = admin.post("/admin/invitations", email="new@example.com", **{f"project_{a.id}": "viewer"})
    assert r.status == 201 and 'id="invitation-mailed"' in r.text, r
    link = text_of(r.text, "invitation-link")
    assert len(inbox.messages) == 1, "the SMTP server received the invitation before the page answered"
    msg = inbox.messages[0]
    assert msg["To"] == "new@example.com" and "lookout@example.com" in msg["From"]
    plain = msg.get_body(preferencelist=("plain",)).get_content()
    html = msg.get_body(preferencelist=("html",)).get_content()
    assert link in plain and f'href="{link}"' in html and ADMIN[0] in plain
    joined = accept(server, link)
    page = joined.get("/projects").text
    assert "alpha" in page


def test_invitation_email_failure_still_shows_the_link(make_server):
    # Nothing listens on this port: sending fails, the link is still shown.
    server = make_server({"LOOKOUT_SMTP__HOST": "127.0.0.1", "LOOKOUT_SMTP__PORT": "9", "LOOKOUT_SMTP__TLS": "none",
                          "LOOKOUT_SMTP__TIMEOUT_SECS": "2"})
    admin = admin_client(server)
    r = admin.post("/admin/invitations", email="new@example.com")
    assert r.status == 201 and 'id="invitation-mail-failed"' in r.text, r
    assert text_of(r.text, "invitation-link").startswith(server.base_url + "/invite/")


def test_viewer_in_the_browser(server, browser: Browser):
    a = server.create_project("alpha")
    admin = admin_client(server)
    issue = send_error(server, a, "seen by a viewer")
    link = invite(admin, "viewer@example.com", **{f"project_{a.id}": "viewer"})
    accept(server, link)
    browser.use(server.base_url)
    ui_login(browser, "viewer@example.com", PASSWORD)
    browser.get(f"/issues/{issue['id']}")
    browser.check(browser.exists("#issue-title"), "the viewer sees the issue")
    browser.check(not browser.exists("#issue-actions"), "a viewer gets no status buttons")
    browser.check(browser.exists("#read-only"), "the page says access is read-only")
    # app.js rewrites hover times into the reader's locale and zone (the
    # server renders "YYYY-MM-DD HH:MM:SS UTC").
    title = browser.wait(lambda d: d.execute_script(
        "var t = document.querySelector('time[datetime]'); return t && t.title;"), 5, "a time element")
    browser.check(not re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", title),
                  f"hover time was localised by app.js, got {title!r}")
    browser.check(not browser.console_errors(), f"no console errors: {browser.console_errors()}")
    browser.get(f"/projects/{a.id}/settings")
    browser.check(browser.exists("#settings-form fieldset[disabled]"), "the settings form is disabled for viewers")
    browser.check(not browser.exists("#delete-project"), "viewers cannot delete the project")
    browser.check(not browser.exists("#nav-users"), "the Users page is for administrators")


def test_ignore_options_and_raw_json_of_the_shown_event(server):
    a = server.create_project("alpha")
    admin = admin_client(server)
    issue = send_error(server, a, "ignore me")
    count = server.api.issue(issue["id"])["count"]
    r = admin.post(f"/issues/{issue['id']}/status", status="ignored", ignore="10")
    assert r.status == 303, r
    got = server.api.issue(issue["id"])
    assert got["status"] == "ignored" and got["ignore_until_count"] == count + 10, got
    r = admin.post(f"/issues/{issue['id']}/status", status="ignored", ignore="24h")
    assert r.status == 303, r
    got = server.api.issue(issue["id"])
    assert got["ignore_until"] and got["ignore_until_count"] is None, got
    r = admin.post(f"/issues/{issue['id']}/status", status="ignored", ignore="soon")
    assert r.status == 400 and "unknown ignore option" in r.text, r

    # Two events in the issue: the raw JSON link follows the event shown.
    second = send_error(server, a, "ignore me")
    assert second["id"] == issue["id"]
    events = server.api.issue_events(issue["id"])
    assert len(events) == 2
    older = events[-1]["event_id"]
    page = admin.get(f"/issues/{issue['id']}?event={older}").text
    m = re.search(r'id="raw-json" href="([^"]+)"', page)
    assert m and older in m.group(1), page[:500]
    raw = admin.get(m.group(1).replace("&amp;", "&"))
    assert raw.status == 200 and json.loads(raw.body)["event_id"].replace("-", "") == older, raw
    other = send_error(server, server.create_project("bravo"), "elsewhere")
    other_eid = server.api.issue_events(other["id"])[0]["event_id"]
    assert admin.get(f"/issues/{issue['id']}/latest.json?event={other_eid}").status == 404, \
        "an event of another issue is not served under this one"
