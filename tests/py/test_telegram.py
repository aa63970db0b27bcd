"""Telegram as a first-class channel (issue #6), end to end: the real
``lookout`` binary polls a Telegram Bot API emulator (test_alerts.py's,
the one emulator) with ``getUpdates``.

- ``test_buttons_act_as_the_linked_user``: the real sentry-sdk raises a
  new error; the message arrives with its three buttons. A member links
  their Telegram account from the account page (``/link CODE``, answered
  "Linked to …"); a viewer links too. An unlinked Telegram user's press
  is answered "Not linked" and changes nothing; the viewer's "Resolve" is
  refused; the member's Acknowledge, Silence 1 h and Resolve work: each is
  answered, the message is edited to say who did what (HTML, escaped) and
  loses the buttons that no longer apply, and the issue is resolved in
  the API. Refusals are counted in /metrics. Unlinking stops the presses.
- ``test_offsets_survive_a_restart``: ``/start CODE`` links too; a used
  code is refused; a graceful stop does not wait for the long poll; updates
  handled before the restart are not handled again after it (the offset is
  stored).
"""

from __future__ import annotations

import re
import time

import pytest
import sentry_sdk

from conftest import eventually
from test_alerts import TelegramEmulator, telegram, telegram_config  # noqa: F401 - `telegram` is a fixture
from test_ui_access import Client, accept, admin_client, invite

CHAT = -1001234567890
MEMBER_TG, VIEWER_TG, STRANGER_TG = 1001, 1002, 1999


@pytest.fixture
def server(make_server, telegram, tmp_path):  # noqa: F811 - `telegram` is a fixture
    config = tmp_path / "lookout.toml"
    config.write_text(telegram_config(telegram.url, CHAT, poll_timeout="1s"))
    return make_server(extra_env={"LOOKOUT_CONFIG": str(config)})


def need(value, what: str):
    """``value`` when truthy, else an AssertionError (so ``eventually`` retries)."""
    assert value, what
    return value


def charge_card(order):
    return order["card"]


def link(telegram: TelegramEmulator, client: Client, tg_user: int, username: str, email: str) -> None:
    """Makes a code on the account page and sends ``/link CODE`` as ``tg_user``."""
    page = client.post("/account/telegram/link")
    assert page.status == 201, page
    m = re.search(r'id="telegram-link-command"[^>]*>/link ([A-Z0-9]+)<', page.text)
    assert m, page.text[:3000]
    code = m.group(1)
    # getMe told Lookout the bot's name: the deep link is offered too.
    assert f'href="https://t.me/{TelegramEmulator.BOT_USERNAME}?start={code}"' in page.text
    before = len(telegram.messages())
    telegram.queue_message(tg_user, f"/link {code.lower()}", chat_id=tg_user, username=username)

    def replied():
        new = [c["body"] for c in telegram.messages()[before:] if c["body"]["chat_id"] == tg_user]
        assert new, "no reply to /link yet"
        return new[0]

    reply = eventually(replied, timeout=10)
    assert reply["text"].startswith(f"Linked to {email}."), reply
    account = client.get("/account")
    assert f"@{username}" in account.text and "/unlink" in account.text


def press(telegram: TelegramEmulator, tg_user: int, data: str, message: dict) -> dict:
    """Presses a button and returns the ``answerCallbackQuery`` body."""
    _, qid = telegram.queue_press(tg_user, data, message)

    def answered():
        a = [c["body"] for c in telegram.of("answerCallbackQuery") if c["body"]["callback_query_id"] == qid]
        assert a, f"no answer to {data} from {tg_user} yet"
        return a[0]

    return eventually(answered, timeout=10)


def test_buttons_act_as_the_linked_user(server, project, sentry, telegram, api):  # noqa: F811
    sentry.init(project)
    try:
        charge_card({"id": "<o-1>"})
    except KeyError as exc:
        sentry_sdk.capture_exception(exc)
    sentry.flush()

    sent = eventually(lambda: need(telegram.messages(), "no sendMessage yet"), timeout=10)
    body = sent[0]["body"]
    assert body["parse_mode"] == "HTML"
    assert "KeyError: 'card'" in body["text"], body["text"]
    buttons = body["reply_markup"]["inline_keyboard"][0]
    assert [b["text"] for b in buttons] == ["Acknowledge", "Resolve", "Silence 1 h"]
    ack, res, sil = (b["callback_data"] for b in buttons)
    # What Telegram hands back with a press: the message as shown (plain
    # text, entities stripped) with its keyboard.
    message = {
        "message_id": 1,
        "chat": {"id": CHAT, "type": "supergroup"},
        "date": 0,
        "text": re.sub(r"<[^>]+>", "", body["text"]),
        "reply_markup": body["reply_markup"],
    }
    issue_id = api.get_ok(f"/api/v1/projects/{project.id}/issues")["items"][0]["id"]

    # The poller asks only for messages and button presses.
    poll = telegram.polls[-1]["body"]
    assert poll["allowed_updates"] == ["message", "callback_query"] and poll["timeout"] == 1

    admin = admin_client(server)
    member = accept(server, invite(admin, "member@example.com", **{f"project_{project.id}": "member"}))
    viewer = accept(server, invite(admin, "viewer@example.com", **{f"project_{project.id}": "viewer"}))
    link(telegram, member, MEMBER_TG, "member_tg", "member@example.com")
    link(telegram, viewer, VIEWER_TG, "viewer_tg", "viewer@example.com")

    # An unlinked Telegram user: told to link, nothing changes.
    answer = press(telegram, STRANGER_TG, res, message)
    assert answer["text"] == "Not linked: open Lookout → Account → Telegram"
    # A linked viewer may not resolve.
    answer = press(telegram, VIEWER_TG, res, message)
    assert answer["text"] == "You may not resolve this issue (you are a viewer)"
    answer = press(telegram, VIEWER_TG, ack, message)
    assert answer["text"].startswith("You may not acknowledge"), answer
    assert api.issue(issue_id)["status"] == "unresolved"
    assert telegram.of("editMessageText") == []
    assert server.metric("lookout_telegram_button_presses_total", action="res", outcome="not_linked") == 1
    assert server.metric("lookout_telegram_button_presses_total", outcome="forbidden") == 2

    # The member acknowledges: answered, the message says so, the button goes.
    answer = press(telegram, MEMBER_TG, ack, message)
    assert answer["text"] == "Acknowledged"
    edit = eventually(lambda: need(telegram.of("editMessageText"), "no edit yet"), timeout=10)[-1]["body"]
    assert (edit["chat_id"], edit["message_id"], edit["parse_mode"]) == (CHAT, 1, "HTML")
    assert edit["text"].startswith(body["text"].rstrip()), edit["text"]
    assert re.search(r"\n👀 Acknowledged by member@example\.com at \d\d:\d\d UTC$", edit["text"]), edit["text"]
    assert [b["text"] for b in edit["reply_markup"]["inline_keyboard"][0]] == ["Resolve", "Silence 1 h"]
    message.update(text=re.sub(r"<[^>]+>", "", edit["text"]), reply_markup=edit["reply_markup"])

    answer = press(telegram, MEMBER_TG, sil, message)
    assert answer["text"] == "Silenced for 1 h"
    edit = eventually(lambda: need(telegram.of("editMessageText")[1:], "no edit yet"), timeout=10)[-1]["body"]
    assert "👀 Acknowledged by member@example.com" in edit["text"]
    assert re.search(r"\n🔕 Silenced for 1 h by member@example\.com at \d\d:\d\d UTC$", edit["text"])
    assert [b["text"] for b in edit["reply_markup"]["inline_keyboard"][0]] == ["Resolve"]
    message.update(text=re.sub(r"<[^>]+>", "", edit["text"]), reply_markup=edit["reply_markup"])

    # Resolve: the issue is resolved (the UI's path), the buttons are gone.
    answer = press(telegram, MEMBER_TG, res, message)
    assert answer["text"] == "Resolved"
    assert api.issue(issue_id)["status"] == "resolved"
    edit = eventually(lambda: need(telegram.of("editMessageText")[2:], "no edit yet"), timeout=10)[-1]["body"]
    assert re.search(r"\n✅ Resolved by member@example\.com at \d\d:\d\d UTC$", edit["text"]), edit["text"]
    assert "🔕 Silenced for 1 h by member@example.com" in edit["text"]
    assert "reply_markup" not in edit
    assert server.metric("lookout_telegram_button_presses_total", outcome="done") == 3

    # A button that is not Lookout's, and a message too old to act on.
    assert press(telegram, MEMBER_TG, "nope:1", message)["text"] == "This button is not Lookout's"
    assert press(telegram, MEMBER_TG, "ack:999999", message)["text"].startswith("This message is too old")

    # Unlinking (CSRF form on the account page): presses stop acting.
    r = member.post(f"/account/telegram/{MEMBER_TG}/unlink")
    assert r.status == 303, r
    assert "@member_tg" not in member.get("/account").text
    assert press(telegram, MEMBER_TG, ack, message)["text"].startswith("Not linked")
    # Nobody else may unlink it: not the member's link any more → 404.
    assert viewer.post(f"/account/telegram/{MEMBER_TG}/unlink").status == 404
    # The bot token never reaches the log.
    assert "TEST-TOKEN" not in server.stderr_text()


def test_offsets_survive_a_restart(server, telegram):  # noqa: F811
    admin = admin_client(server)
    page = admin.post("/account/telegram/link")
    code = re.search(r"/link ([A-Z0-9]+)<", page.text).group(1)
    telegram.queue_message(MEMBER_TG, f"/start {code}", chat_id=MEMBER_TG)
    eventually(lambda: need([m for m in telegram.messages() if m["body"]["text"].startswith("Linked to")], "not linked"), timeout=10)
    # The code works once.
    telegram.queue_message(STRANGER_TG, f"/link {code}", chat_id=STRANGER_TG)
    eventually(lambda: need([m for m in telegram.messages() if "unknown, used or expired" in m["body"]["text"]], "no refusal"), timeout=10)
    eventually(lambda: need(telegram.pending_updates() == 0, "updates left"), timeout=10)
    handled = len(telegram.messages())
    last = telegram._next_update

    # A long poll in flight does not hold up a graceful shutdown.
    started = time.monotonic()
    assert server.stop() == 0
    assert time.monotonic() - started < 10
    polls_before = len(telegram.polls)
    # Telegram would serve unconfirmed updates again: offer every old one.
    telegram.redeliver_all()
    server.start()
    first = eventually(
        lambda: need(telegram.polls[polls_before:], "no poll after the restart"),
        timeout=15,
    )[0]
    assert first["body"].get("offset") == last + 1, first
    eventually(lambda: need(telegram.pending_updates() == 0, "updates left"), timeout=10)
    assert len(telegram.messages()) == handled, "nothing was handled twice"
