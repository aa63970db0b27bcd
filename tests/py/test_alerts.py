"""Alerting end to end (issue #6): the real sentry-sdk raises a new error,
and a Telegram Bot API emulator (a loopback HTTP server started here)
receives the message, in HTML with the issue's details and its buttons.
test_telegram.py uses the same emulator for the receiving side (links and
button presses).

Rules and channels come from ``lookout.toml`` (alerts as code); the
emulator's address is the channel's ``api_base_url``.
"""

from __future__ import annotations

import inspect
import json
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sentry_sdk

from conftest import eventually


class TelegramEmulator:
    """A loopback Telegram Bot API: records every call, answers
    ``{"ok": true, ...}``, and serves ``getUpdates`` from a queue the test
    fills (``queue_message``, ``queue_press``), honouring ``offset`` and
    ``timeout`` as Telegram does: updates below the offset are confirmed
    and never served again; with nothing to serve it waits up to
    ``timeout`` seconds before answering an empty list."""

    BOT_USERNAME = "lookout_test_bot"

    def __init__(self) -> None:
        self.calls: list[dict] = []
        self.polls: list[dict] = []
        self.updates: list[dict] = []
        self.history: list[dict] = []
        self._next_update = 1000
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        emulator = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                method = self.path.rsplit("/", 1)[-1]
                result = emulator._answer(self.path, method, body)
                out = json.dumps({"ok": True, "result": result}).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(out)))
                    self.end_headers()
                    self.wfile.write(out)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # a long poll the client gave up on (shutdown)

            def log_message(self, *args):  # quiet
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def _answer(self, path: str, method: str, body: dict):
        if method == "getUpdates":
            offset = int(body.get("offset") or 0)
            wait = min(float(body.get("timeout") or 0), 2.0)
            with self._cond:
                self.polls.append({"path": path, "body": body})
                self.updates = [u for u in self.updates if u["update_id"] >= offset]
                if not self.updates and wait > 0:
                    self._cond.wait(wait)
                    self.updates = [u for u in self.updates if u["update_id"] >= offset]
                return list(self.updates)
        with self._lock:
            self.calls.append({"path": path, "method": method, "body": body})
            n = len(self.calls)
        if method == "getMe":
            return {"id": 123456, "is_bot": True, "first_name": "Lookout", "username": self.BOT_USERNAME}
        if method == "answerCallbackQuery":
            return True
        return {"message_id": n, "chat": {"id": body.get("chat_id")}, "text": body.get("text", "")}

    def _queue(self, update: dict) -> int:
        with self._cond:
            self._next_update += 1
            update["update_id"] = self._next_update
            self.updates.append(update)
            self.history.append(update)
            self._cond.notify_all()
            return self._next_update

    def queue_message(self, user_id: int, text: str, chat_id: int = -1001234567890, username: str = "") -> int:
        """A message from Telegram user ``user_id`` in ``chat_id``."""
        sender = {"id": user_id, "is_bot": False, "first_name": f"User {user_id}"}
        if username:
            sender["username"] = username
        return self._queue({
            "message": {
                "message_id": 900 + self._next_update,
                "date": 0,
                "chat": {"id": chat_id, "type": "supergroup"},
                "from": sender,
                "text": text,
            }
        })

    def queue_press(self, user_id: int, data: str, message: dict) -> tuple[int, str]:
        """User ``user_id`` presses the button ``data`` under ``message`` (a
        message as Telegram returns it: ``message_id``, ``chat``, ``text``,
        ``reply_markup``). Returns the update id and the callback query id."""
        qid = f"q{self._next_update + 1}"
        uid = self._queue({
            "callback_query": {
                "id": qid,
                "from": {"id": user_id, "is_bot": False, "first_name": f"User {user_id}"},
                "chat_instance": "1",
                "message": message,
                "data": data,
            }
        })
        return uid, qid

    def redeliver_all(self) -> None:
        """Serves every update ever queued again, as Telegram does for
        updates nobody confirmed with ``offset``."""
        with self._cond:
            self.updates = list(self.history)
            self._cond.notify_all()

    def pending_updates(self) -> int:
        with self._lock:
            return len(self.updates)

    def of(self, method: str) -> list[dict]:
        with self._lock:
            return [c for c in self.calls if c["method"] == method]

    def messages(self) -> list[dict]:
        return self.of("sendMessage")

    def close(self) -> None:
        with self._cond:
            self._cond.notify_all()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def telegram():
    t = TelegramEmulator()
    yield t
    t.close()


def telegram_config(telegram_url: str, chat_id: int, *, thread_id: int | None = None, poll_timeout: str = "") -> str:
    """A lookout.toml that sends new errors (severity high) to the Telegram
    emulator after a one-second group_wait, everything else to the log."""
    alerts = f'[alerts]\ntelegram_poll_timeout = "{poll_timeout}"\n' if poll_timeout else ""
    thread = f"message_thread_id = {thread_id}\n" if thread_id is not None else ""
    return f"""{alerts}
[[alerts.rules]]
name = "New error"
severity = "high"
condition = {{ kind = "new_issue" }}

[alerts.routes]
receivers = ["log"]
group_wait = "1s"
[[alerts.routes.routes]]
matchers = ["severity=high"]
receivers = ["telegram"]

[alerts.channels.telegram]
kind = "telegram"
bot_token = "123456:TEST-TOKEN"
chat_id = "{chat_id}"
{thread}api_base_url = "{telegram_url}"
"""


@pytest.fixture
def server(make_server, telegram, tmp_path):
    """A server whose lookout.toml sends high alerts to the emulator fast."""
    config = tmp_path / "lookout.toml"
    config.write_text(telegram_config(telegram.url, -1001234567890, thread_id=7))
    return make_server(extra_env={"LOOKOUT_CONFIG": str(config)})


def verify_user(users, user_id):
    return users[user_id]


def test_a_new_error_from_sentry_sdk_reaches_telegram_with_buttons(server, project, sentry, telegram, api):
    sentry.init(project)
    try:
        verify_user({}, "u-<42>&co")
    except KeyError as exc:
        sentry_sdk.capture_exception(exc)
    sentry.flush()

    def sent():
        m = telegram.messages()
        assert m, "no sendMessage yet"
        return m

    # group_wait is 1 s here; the tick and the outbox poll add at most 1.5 s.
    msgs = eventually(sent, timeout=10)
    assert len(msgs) == 1
    call = msgs[0]
    assert call["path"] == "/bot123456:TEST-TOKEN/sendMessage"
    body = call["body"]
    assert body["chat_id"] == -1001234567890
    assert body["message_thread_id"] == 7
    assert body["parse_mode"] == "HTML"

    status, issues = api.get(f"/api/v1/projects/{project.id}/issues")
    assert status == 200, issues
    items = issues["items"] if isinstance(issues, dict) else issues
    issue_id = items[0]["id"]
    text = body["text"]
    assert text.startswith("🟠 <b>[FIRING:1] New error · shop (high)</b>\n"), text
    assert "Environment: test\n" in text
    # The exception value, escaped for Telegram's HTML.
    assert "KeyError: 'u-&lt;42&gt;&amp;co'" in text, text
    # The top in-app frame as file:line, where the SDK saw the raise.
    line = inspect.getsourcelines(verify_user)[1] + 1
    assert re.search(rf"<code>at (\S*/)?test_alerts\.py:{line} in verify_user</code>", text), text
    assert f'<a href="{server.base_url}/issues/{issue_id}">' in text, text
    assert "1 matching event, since " in text

    buttons = body["reply_markup"]["inline_keyboard"][0]
    assert [b["text"] for b in buttons] == ["Acknowledge", "Resolve", "Silence 1 h"]
    ref = buttons[0]["callback_data"].split(":", 1)[1]
    assert [b["callback_data"] for b in buttons] == [f"ack:{ref}", f"res:{ref}", f"sil1h:{ref}"]


class WebhookReceiver:
    """Records JSON bodies POSTed to it and answers 200."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                with receiver._lock:
                    receiver.bodies.append(body)
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def firing(self, rule: str) -> list[dict]:
        with self._lock:
            return [b for b in self.bodies if b.get("rule") == rule and b.get("kind") == "firing"]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_monitors_heartbeats_and_a_failed_backup_alert_through_the_real_binary(make_server, tmp_path):
    """Issue #5's monitors and issue #7's backups feed the alert engine."""
    hook = WebhookReceiver()
    not_a_dir = tmp_path / "backups-here-is-a-file"
    not_a_dir.write_text("a file where the backup dir should be")
    config = tmp_path / "lookout.toml"
    config.write_text(
        f"""
[backup]
dir = "{not_a_dir}"

[[alerts.rules]]
name = "Monitor down"
severity = "high"
condition = {{ kind = "monitor_down" }}

[[alerts.rules]]
name = "Heartbeat missed"
severity = "high"
condition = {{ kind = "heartbeat_missed" }}

[[alerts.rules]]
name = "Backup failed"
severity = "critical"
condition = {{ kind = "backup_failed" }}

[alerts.routes]
receivers = ["hook"]
group_wait = "1s"

[alerts.channels.hook]
kind = "webhook"
url = "{hook.url}"
"""
    )
    server = make_server(extra_env={"LOOKOUT_CONFIG": str(config)})
    try:
        p = server.create_project("ops")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        st, tcp = server.api.post("/api/v1/monitors", {
            "project_id": p.id, "name": "Postgres", "kind": "tcp", "host": "127.0.0.1", "port": port,
            "interval_secs": 1, "timeout_secs": 1, "failure_threshold": 1})
        assert st == 201, tcp
        st, hb = server.api.post("/api/v1/monitors", {
            "project_id": p.id, "name": "Nightly job", "kind": "heartbeat", "interval_secs": 1, "grace_secs": 1})
        assert st == 201, hb
        st, body = server.api.post("/api/v1/backups", {})
        assert st >= 500, (st, body)

        def fired(rule):
            def check():
                got = hook.firing(rule)
                assert got, f"no firing {rule!r} yet: {[b.get('rule') for b in hook.bodies]}"
                return got[0]
            return eventually(check, timeout=20)

        down = fired("Monitor down")
        causes = {a["labels"]["monitor"]: a["annotations"]["cause"] for a in down["alerts"]}
        assert causes["Postgres"] == f"connection refused by 127.0.0.1:{port}", causes
        assert down["project"] == "ops"
        missed = fired("Heartbeat missed")
        assert missed["alerts"][0]["labels"]["monitor"] == "Nightly job"
        assert missed["alerts"][0]["annotations"]["cause"].startswith("missed ping: expected by"), missed
        backup = fired("Backup failed")
        assert backup["severity"] == "critical"
        assert backup["alerts"][0]["annotations"]["cause"].startswith("backup failed"), backup
    finally:
        hook.close()


def checkout(cart):
    raise ValueError(f"cart <{cart}> & co is empty")


def test_critical_alerts_go_to_telegram_and_email_by_the_default_routes(make_server, telegram, tmp_path):
    """The default routing tree: critical → Telegram and e-mail (a real
    SMTP server), each message complete and escaped for its medium."""
    from test_ui_access import Inbox

    inbox = Inbox()
    try:
        config = tmp_path / "lookout.toml"
        config.write_text(
            f"""
[[alerts.rules]]
name = "Checkout broken"
severity = "critical"
condition = {{ kind = "new_issue" }}

[alerts.routes]
group_wait = "1s"

[alerts.channels.telegram]
kind = "telegram"
bot_token = "123456:TEST-TOKEN"
chat_id = "42"
api_base_url = "{telegram.url}"

[alerts.channels.email]
kind = "email"
to = ["oncall@example.com"]
"""
        )
        server = make_server(extra_env={
            "LOOKOUT_CONFIG": str(config),
            "LOOKOUT_SMTP__HOST": "127.0.0.1",
            "LOOKOUT_SMTP__PORT": str(inbox.port),
            "LOOKOUT_SMTP__TLS": "none",
            "LOOKOUT_SMTP__FROM": "Lookout <lookout@example.com>",
        })
        p = server.create_project("shop")
        sentry_sdk.init(dsn=p.dsn, environment="production", default_integrations=False)
        try:
            checkout("c-1")
        except ValueError as exc:
            sentry_sdk.capture_exception(exc)
        sentry_sdk.flush()

        def mailed():
            with inbox.lock:
                assert inbox.messages, "no e-mail yet"
                return list(inbox.messages)

        msgs = eventually(mailed, timeout=15)
        assert len(msgs) == 1
        msg = msgs[0]
        assert msg["To"] == "oncall@example.com"
        assert "Checkout broken" in msg["Subject"] and "critical" in msg["Subject"], msg["Subject"]
        plain = msg.get_body(preferencelist=("plain",)).get_content()
        html = msg.get_body(preferencelist=("html",)).get_content()
        assert "ValueError: cart <c-1> & co is empty" in plain, plain
        assert "Environment: production" in plain, plain
        line = inspect.getsourcelines(checkout)[1] + 1
        assert re.search(rf"(\S*/)?test_alerts\.py:{line} in checkout", plain), plain
        assert f"{server.base_url}/issues/" in plain
        assert "cart &lt;c-1&gt; &amp; co is empty" in html and "<c-1>" not in html, html
        # The same alert went to Telegram (critical: both channels).
        tg = eventually(lambda: telegram.messages() or _fail("no Telegram message yet"), timeout=10)
        assert "Checkout broken" in tg[0]["body"]["text"]
    finally:
        inbox.stop()


def _fail(why: str):
    raise AssertionError(why)
