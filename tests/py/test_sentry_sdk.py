"""The unmodified Python sentry-sdk against the real `lookout` binary.

Each test starts its own server and project, points ``sentry_sdk.init`` at
it (through a recording proxy, so every SDK request's status is checked and
the bytes on the wire can be inspected) and asserts through the JSON API.

The functions that raise live at module level and are called through
:func:`capture_call`, so the captured stack is always
``capture_call -> <raising function>``: grouping then depends only on the
raising function, whatever line of a test called it.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import sentry_sdk
from sentry_sdk.crons import capture_checkin
from sentry_sdk.envelope import Envelope, Item, PayloadRef
from sentry_sdk.scrubber import EventScrubber
from sentry_sdk.utils import event_from_exception

from conftest import HEX32, eventually, http_request, post_envelope

# --------------------------------------------------------------------------
# code under "monitoring"
# --------------------------------------------------------------------------


def capture_call(fn, *args):
    """Call ``fn``; capture the exception it raises and return the event id."""
    try:
        fn(*args)
    except Exception as exc:  # noqa: BLE001
        return sentry_sdk.capture_exception(exc)
    raise AssertionError(f"{fn.__name__} did not raise")


def validate_order(order_id, total):
    shipping = "express"
    if total < 0:
        raise ValueError("order total must be positive, got %d" % total)
    return shipping


def db_call():
    raise ConnectionError("could not connect to server: Connection refused")


def save_task(task_id):
    try:
        db_call()
    except ConnectionError as e:
        raise RuntimeError("Failed to save task %d" % task_id) from e


def charge(amount):
    if amount > 100:
        raise ValueError("amount %d over limit for user 77" % amount)


def refund(amount):
    raise ValueError("refund of %d failed" % amount)


def parse_quantity(raw):
    return int(raw)


def parse_price(raw):
    return float(raw)


def load_cart(cart_id):
    carts = {"c-0": []}
    return carts[cart_id]


def fail_checkout():
    raise KeyError("cart")


def fail_login():
    raise PermissionError("login denied")


def fail_search():
    raise LookupError("search index missing")


def _credential():
    # Built at run time so the secret never appears in any source context line.
    return "".join(("hun", "ter", "2"))


def login_with_password(user):
    password = _credential()
    api_key = "k-" + user
    attempts = 3
    raise PermissionError("login failed for %s after %d attempts" % (user, attempts))


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------


def ids(issues):
    return {str(i["id"]) for i in issues}


def tag_value(tags, key):
    """Tags as stored may be a dict or a list of [key, value] pairs."""
    if isinstance(tags, dict):
        return tags.get(key)
    for pair in tags or []:
        if isinstance(pair, (list, tuple)) and len(pair) == 2 and pair[0] == key:
            return pair[1]
        if isinstance(pair, dict) and pair.get("key") == key:
            return pair.get("value")
    return None


def issue_tag(issue, key):
    for t in issue.get("tags", []):
        if t["key"] == key:
            return t
    raise AssertionError(f"issue {issue['id']} has no tag {key!r}: {[t['key'] for t in issue.get('tags', [])]}")


def iso_in(seconds: float) -> str:
    return (datetime.now(timezone.utc) + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


RESOLVED_STATES = ("resolved", "resolved_in_next_release")


# --------------------------------------------------------------------------
# errors, grouping, event contents
# --------------------------------------------------------------------------


def test_captured_exception_becomes_issue_with_frames_and_locals(server, project, sentry, api):
    sentry.init(project, include_local_variables=True)
    event_id = capture_call(validate_order, "o-17", -5)
    assert event_id and HEX32.match(event_id), event_id
    sentry.flush()

    issue = api.issue_for_event(project.id, event_id)
    assert issue["title"].startswith("ValueError: order total must be positive, got -5"), issue["title"]
    assert "validate_order" in issue["culprit"], issue["culprit"]
    assert issue["count"] == 1
    assert issue["status"] == "unresolved"
    assert issue["level"] == "error"
    assert issue["exception_type"] == "ValueError"
    assert issue["is_regression"] is False
    assert issue["grouping_version"], issue
    for k in ("first_seen", "last_seen", "first_release", "last_release", "user_count", "regression_count"):
        assert k in issue, f"issue lacks {k!r}: {issue}"
    assert issue["first_release"] == issue["last_release"] == "lookout-tests@1.0"

    listed = api.issues(project.id)  # default filter: unresolved
    assert ids(listed) == {str(issue["id"])}

    stored = api.event(event_id)
    assert stored["event_id"] == event_id
    assert str(stored["project_id"]) == str(project.id)
    assert str(stored["issue_id"]) == str(issue["id"])
    assert stored["timestamp"] and stored["received_at"]
    values = stored["event"]["exception"]["values"]
    assert values[-1]["type"] == "ValueError"
    frames = values[-1]["stacktrace"]["frames"]
    frame = next((f for f in frames if f.get("function") == "validate_order"), None)
    assert frame, f"no validate_order frame in {[f.get('function') for f in frames]}"
    assert "o-17" in str(frame["vars"]["order_id"])
    assert "-5" in str(frame["vars"]["total"])
    assert "express" in str(frame["vars"]["shipping"])
    assert "raise ValueError" in frame["context_line"]
    assert any("if total < 0" in line for line in frame["pre_context"]), frame["pre_context"]

    events = api.issue_events(issue["id"])
    assert [e["event_id"] for e in events] == [event_id]
    ev = events[0]
    assert HEX32.match(ev["event_id"])
    assert str(ev["issue_id"]) == str(issue["id"])
    assert ev["level"] == "error"
    assert ev["release"] == "lookout-tests@1.0"
    assert ev["environment"] == "test"
    assert ev["title"].startswith("ValueError: order total must be positive")
    assert ev["timestamp"] and ev["received_at"]


def test_sdk_straight_to_lookout_without_proxy(server, project, sentry, api):
    """No recording proxy in between: the DSN from the API as is."""
    sentry.init(project, direct=True)
    event_id = sentry_sdk.capture_message("direct connection works", level="info")
    sentry.flush()
    issue = api.issue_for_event(project.id, event_id)
    assert issue["title"].startswith("direct connection works")
    assert issue["level"] == "info"


def test_chained_exception_keeps_both_and_titles_outer(server, project, sentry, api):
    sentry.init(project)
    event_id = capture_call(save_task, 7)
    sentry.flush()

    issue = api.issue_for_event(project.id, event_id)
    assert issue["title"].startswith("RuntimeError: Failed to save task 7"), issue["title"]
    assert issue["exception_type"] == "RuntimeError"

    values = api.event(event_id)["event"]["exception"]["values"]
    assert len(values) == 2, values
    assert [v["type"] for v in values] == ["ConnectionError", "RuntimeError"]  # innermost first, as sent
    assert values[0]["value"] == "could not connect to server: Connection refused"


def test_messages_differing_in_numbers_are_one_issue(server, project, sentry, api):
    sentry.init(project)
    first = sentry_sdk.capture_message("Task has excessive tag count 17", level="warning")
    second = sentry_sdk.capture_message("Task has excessive tag count 23", level="warning")
    sentry.flush()

    issue = api.issue_for_event(project.id, first)
    assert str(api.issue_for_event(project.id, second)["id"]) == str(issue["id"])
    issue = eventually(lambda: _issue_with_count(api, issue["id"], 2))
    assert issue["level"] == "warning"
    assert issue["title"].startswith("Task has excessive tag count"), issue["title"]
    assert len(api.all_issues(project.id)) == 1
    assert ids(api.issues(project.id, level="warning")) == {str(issue["id"])}
    assert api.issues(project.id, level="error") == []


def _issue_with_count(api, issue_id, count):
    issue = api.issue(issue_id)
    assert issue["count"] == count, f"issue {issue_id}: count {issue['count']}, expected {count}"
    return issue


def test_custom_fingerprint_groups_by_fingerprint(server, project, sentry, api):
    sentry.init(project)
    fingerprinted = []
    for amount in (150, 250):
        with sentry_sdk.new_scope() as scope:
            scope.fingerprint = ["{{ default }}", "charge-limit"]
            fingerprinted.append(capture_call(charge, amount))
    plain = capture_call(charge, 300)
    # A fingerprint without {{ default }} replaces the stack: two different
    # functions end up in one issue.
    gateway = []
    for fn in (charge, refund):
        with sentry_sdk.new_scope() as scope:
            scope.fingerprint = ["payment-gateway-down"]
            gateway.append(capture_call(fn, 500))
    sentry.flush()

    fp_issue = api.issue_for_event(project.id, fingerprinted[0])
    assert str(api.issue_for_event(project.id, fingerprinted[1])["id"]) == str(fp_issue["id"])
    eventually(lambda: _issue_with_count(api, fp_issue["id"], 2))

    plain_issue = api.issue_for_event(project.id, plain)
    assert str(plain_issue["id"]) != str(fp_issue["id"])
    assert plain_issue["count"] == 1

    gw_issue = api.issue_for_event(project.id, gateway[0])
    assert str(api.issue_for_event(project.id, gateway[1])["id"]) == str(gw_issue["id"])
    assert str(gw_issue["id"]) not in {str(fp_issue["id"]), str(plain_issue["id"])}
    assert len(api.all_issues(project.id)) == 3


def test_same_function_groups_and_other_function_splits(server, project, sentry, api):
    sentry.init(project)
    same = [capture_call(parse_quantity, raw) for raw in ("abc", "x17")]
    other = capture_call(parse_price, "n/a")
    sentry.flush()

    issue = api.issue_for_event(project.id, same[0])
    assert str(api.issue_for_event(project.id, same[1])["id"]) == str(issue["id"])
    issue = eventually(lambda: _issue_with_count(api, issue["id"], 2))
    assert "parse_quantity" in issue["culprit"]

    other_issue = api.issue_for_event(project.id, other)
    assert str(other_issue["id"]) != str(issue["id"])
    assert "parse_price" in other_issue["culprit"]
    assert other_issue["count"] == 1
    assert len(api.all_issues(project.id)) == 2

    # Events of an issue: newest first, paginated with a cursor.
    assert [e["event_id"] for e in api.issue_events(issue["id"])] == [same[1], same[0]]
    page1 = api.get_ok(f"/api/v1/issues/{issue['id']}/events", {"limit": 1})
    assert [e["event_id"] for e in page1["items"]] == [same[1]]
    assert page1["next_cursor"], page1
    page2 = api.get_ok(f"/api/v1/issues/{issue['id']}/events", {"limit": 1, "cursor": page1["next_cursor"]})
    assert [e["event_id"] for e in page2["items"]] == [same[0]]
    if page2.get("next_cursor"):
        page3 = api.get_ok(f"/api/v1/issues/{issue['id']}/events", {"limit": 1, "cursor": page2["next_cursor"]})
        assert page3["items"] == [] and not page3.get("next_cursor"), page3


def test_breadcrumbs_user_and_tags_are_stored(server, project, sentry, api):
    sentry.init(project)
    sentry_sdk.add_breadcrumb(category="auth", message="user logged in", level="info")
    sentry_sdk.add_breadcrumb(category="cart", message="added item sku-9", level="info", data={"sku": "sku-9"})
    sentry_sdk.set_user({"id": "42", "email": "a@b.c"})
    sentry_sdk.set_tag("request_id", "r1")
    event_id = capture_call(load_cart, "c-404")
    sentry.flush()

    event = api.event(event_id)["event"]
    crumbs = event["breadcrumbs"]["values"]
    assert [c["message"] for c in crumbs] == ["user logged in", "added item sku-9"]
    assert crumbs[1]["category"] == "cart" and crumbs[1]["data"] == {"sku": "sku-9"}
    assert event["user"]["id"] == "42"
    assert event["user"]["email"] == "a@b.c"
    assert tag_value(event["tags"], "request_id") == "r1"

    issue = api.issue_for_event(project.id, event_id)
    assert issue["user_count"] == 1
    tag = issue_tag(issue, "request_id")
    assert tag["total"] == 1
    assert tag["top"] == [{"value": "r1", "count": 1}]


def test_user_count_counts_distinct_users(server, project, sentry, api):
    sentry.init(project)
    event_ids = []
    for user_id in ("42", "43", "42"):
        sentry_sdk.set_user({"id": user_id})
        event_ids.append(capture_call(load_cart, "c-404"))
    sentry.flush()

    issue = api.issue_for_event(project.id, event_ids[0])
    issue = eventually(lambda: _issue_with_count(api, issue["id"], 3))
    assert issue["user_count"] == 2
    by_users = api.issues(project.id, sort="users")
    assert by_users[0]["user_count"] == 2


def test_sensitive_values_are_scrubbed(server, project, sentry, api):
    secret = _credential()
    # The SDK's own scrubber is disabled so that the secret really reaches
    # Lookout (checked on the wire below): the scrubbing asserted here is Lookout's.
    sentry.init(project, event_scrubber=EventScrubber(denylist=[], pii_denylist=[]), include_local_variables=True)
    sentry_sdk.set_context("auth", {"password": secret, "api_key": "k"})
    sentry_sdk.set_context("order", {"id": "o-1", "db_password": secret})
    sentry_sdk.set_extra("password", secret)
    event_id = capture_call(login_with_password, "alice")
    sentry.flush()

    sent = sentry.proxy.find_event_exchange(event_id).decoded_body
    assert secret.encode() in sent, "precondition: the SDK sent the secret unscrubbed"

    raw = http_request(
        server.base_url, "GET", f"/api/v1/events/{event_id}", headers={"Authorization": f"Bearer {server.token}"}
    ).text
    assert secret not in raw, "the secret was stored"
    assert "[Filtered]" in raw

    event = api.event(event_id)["event"]
    frames = event["exception"]["values"][-1]["stacktrace"]["frames"]
    frame = next(f for f in frames if f.get("function") == "login_with_password")
    assert frame["vars"]["password"] == "[Filtered]"
    assert frame["vars"]["api_key"] == "[Filtered]"
    assert "alice" in str(frame["vars"]["user"]), "non-sensitive locals are kept"
    assert "3" in str(frame["vars"]["attempts"])
    assert event["contexts"]["order"]["id"] == "o-1", "non-sensitive context values are kept"
    assert event["contexts"]["order"]["db_password"] == "[Filtered]"
    # The issue itself is unaffected by scrubbing.
    issue = api.issue_for_event(project.id, event_id)
    assert issue["title"].startswith("PermissionError: login failed for alice")


# --------------------------------------------------------------------------
# releases, environments, search
# --------------------------------------------------------------------------


def test_release_and_environment_filters_and_releases_endpoint(server, project, sentry, api):
    sentry.init(project, release="shop@1.0", environment="production")
    a1 = capture_call(fail_checkout)
    sentry.init(project, release="shop@1.0", environment="staging")
    b1 = capture_call(fail_login)
    sentry.init(project, release="shop@1.1", environment="production")
    c1 = capture_call(fail_search)
    a2 = capture_call(fail_checkout)
    sentry.flush()

    a = api.issue_for_event(project.id, a1)
    b = api.issue_for_event(project.id, b1)
    c = api.issue_for_event(project.id, c1)
    assert str(api.issue_for_event(project.id, a2)["id"]) == str(a["id"])
    a = eventually(lambda: _issue_with_count(api, a["id"], 2))
    assert a["first_release"] == "shop@1.0"
    assert a["last_release"] == "shop@1.1"
    assert b["first_release"] == b["last_release"] == "shop@1.0"
    assert c["first_release"] == "shop@1.1"
    A, B, C = str(a["id"]), str(b["id"]), str(c["id"])

    assert ids(api.issues(project.id, environment="production")) == {A, C}
    assert ids(api.issues(project.id, environment="staging")) == {B}
    assert api.issues(project.id, environment="nowhere") == []
    in_10 = ids(api.issues(project.id, release="shop@1.0"))
    assert {A, B} <= in_10 and C not in in_10
    in_11 = ids(api.issues(project.id, release="shop@1.1"))
    # Whether A (first seen in 1.0, seen again in 1.1) matches release=shop@1.1
    # depends on "seen in" vs "first seen in"; both readings agree on B and C.
    assert C in in_11 and B not in in_11
    tagged = ids(api.issues(project.id, query="release:shop@1.0"))
    assert B in tagged and C not in tagged

    assert [e["release"] for e in api.issue_events(a["id"])] == ["shop@1.1", "shop@1.0"]
    assert {e["environment"] for e in api.issue_events(a["id"])} == {"production"}

    releases = {r["version"]: r for r in api.project_list(project.id, "releases")}
    assert set(releases) == {"shop@1.0", "shop@1.1"}
    assert releases["shop@1.0"]["event_count"] == 2
    assert releases["shop@1.0"]["new_issues"] == 2
    assert releases["shop@1.1"]["event_count"] == 2
    assert releases["shop@1.1"]["new_issues"] == 1
    for r in releases.values():
        assert r["first_seen"] and r["last_seen"]
        assert "sessions" in r and "deploys" in r and "date_released" in r


def test_issue_query_free_text_and_tag_terms(server, project, sentry, api):
    sentry.init(project)
    with sentry_sdk.new_scope() as scope:
        scope.set_tag("user_tag", "x")
        k = capture_call(load_cart, "c-404")
    with sentry_sdk.new_scope() as scope:
        scope.set_tag("user_tag", "y")
        v = capture_call(parse_quantity, "abc")
    m = sentry_sdk.capture_message("Nightly export finished with warnings", level="warning")
    sentry.flush()
    K, V, M = (str(api.issue_for_event(project.id, e)["id"]) for e in (k, v, m))

    assert ids(api.issues(project.id, query="KeyError")) == {K}
    assert ids(api.issues(project.id, query="export finished")) == {M}
    assert ids(api.issues(project.id, query="parse_quantity")) == {V}, "free text matches the culprit"
    assert ids(api.issues(project.id, query="user_tag:x")) == {K}
    assert ids(api.issues(project.id, query="user_tag:y")) == {V}
    assert ids(api.issues(project.id, query="user_tag:y ValueError")) == {V}
    assert ids(api.issues(project.id, query="user_tag:y KeyError")) == set()
    assert ids(api.issues(project.id, query="user_tag:nope")) == set()


def test_issue_list_sort_and_cursor_pagination(server, project, sentry, api):
    sentry.init(project)
    one = capture_call(fail_checkout)
    three = [capture_call(fail_login) for _ in range(3)]
    two = [capture_call(fail_search) for _ in range(2)]
    sentry.flush()
    I1 = str(api.issue_for_event(project.id, one)["id"])
    I3 = str(api.issue_for_event(project.id, three[0])["id"])
    I2 = str(api.issue_for_event(project.id, two[0])["id"])
    eventually(lambda: _issue_with_count(api, I3, 3))
    eventually(lambda: _issue_with_count(api, I2, 2))

    # Every sort is descending, as in Sentry: most events / newest first.
    assert [str(i["id"]) for i in api.issues(project.id, sort="events")] == [I3, I2, I1]
    assert [str(i["id"]) for i in api.issues(project.id, sort="first_seen")] == [I2, I3, I1]
    assert [str(i["id"]) for i in api.issues(project.id, sort="last_seen")] == [I2, I3, I1]

    seen, cursor = [], None
    for _ in range(10):
        page = api.get_ok(f"/api/v1/projects/{project.id}/issues", {"sort": "events", "limit": 1, "cursor": cursor})
        assert len(page["items"]) <= 1
        seen += [str(i["id"]) for i in page["items"]]
        cursor = page.get("next_cursor")
        if not cursor:
            break
    assert seen == [I3, I2, I1]


# --------------------------------------------------------------------------
# issue status lifecycle
# --------------------------------------------------------------------------


def test_resolved_issue_regresses_on_new_event(server, project, sentry, api):
    sentry.init(project, release="shop@1.0")
    first = capture_call(fail_checkout)
    sentry.flush()
    issue = api.issue_for_event(project.id, first)
    iid = issue["id"]

    updated = api.set_status(iid, status="resolved")
    assert str(updated["id"]) == str(iid) and updated["status"] == "resolved"
    assert api.issue(iid)["status"] == "resolved"
    assert api.issues(project.id) == [], "the default list shows unresolved issues only"
    assert ids(api.issues(project.id, status="resolved")) == {str(iid)}
    assert ids(api.issues(project.id, status="all")) == {str(iid)}

    capture_call(fail_checkout)
    sentry.flush()

    def regressed():
        i = api.issue(iid)
        assert i["status"] == "unresolved", i
        assert i["is_regression"] is True, i
        assert i["regression_count"] >= 1, i
        assert i["count"] == 2, i
        return i

    eventually(regressed)
    assert ids(api.issues(project.id)) == {str(iid)}

    # Explicit unresolve and a rejected status value.
    api.set_status(iid, status="resolved")
    assert api.set_status(iid, status="unresolved")["status"] == "unresolved"
    status, body = api.patch(f"/api/v1/issues/{iid}", {"status": "sleeping"})
    assert 400 <= status < 500, (status, body)
    status, body = api.patch("/api/v1/issues/999999", {"status": "resolved"})
    assert status == 404, (status, body)


def test_resolved_in_next_release(server, project, sentry, api):
    sentry.init(project, release="shop@1.0")
    first = capture_call(fail_checkout)
    sentry.flush()
    iid = api.issue_for_event(project.id, first)["id"]

    updated = api.set_status(iid, status="resolved_in_next_release")
    assert updated["status"] in RESOLVED_STATES, updated

    # Same release again: the fix is not deployed yet, the issue stays resolved.
    capture_call(fail_checkout)
    sentry.flush()
    issue = eventually(lambda: _issue_with_count(api, iid, 2))
    assert issue["status"] in RESOLVED_STATES, issue
    assert issue["is_regression"] is False

    # A newer release (first seen after the resolution) still has the error: regression.
    sentry.init(project, release="shop@1.1")
    capture_call(fail_checkout)
    sentry.flush()

    def regressed():
        i = api.issue(iid)
        assert i["count"] == 3, i
        assert i["status"] == "unresolved", i
        assert i["is_regression"] is True, i
        assert i["last_release"] == "shop@1.1", i

    eventually(regressed)


def test_ignored_with_count_reopens_after_n_more_events(server, project, sentry, api):
    # Interpretation of ignore_count=N: N more events are absorbed while the
    # issue stays ignored; the event after them (the (N+1)-th new event since
    # ignoring) reopens it. With N=2 the third new event reopens it.
    # (Sentry's "ignore until it occurs N more times" snooze reopens on the
    # N-th; Lookout's contract is one later, as written here.)
    sentry.init(project)
    first = capture_call(fail_checkout)  # creates the issue (count 1)
    sentry.flush()
    iid = api.issue_for_event(project.id, first)["id"]
    assert api.set_status(iid, status="ignored", ignore_count=2)["status"] == "ignored"

    for n in (1, 2):  # new events 1 and 2: still ignored
        capture_call(fail_checkout)
        sentry.flush()
        issue = eventually(lambda: _issue_with_count(api, iid, 1 + n))
        assert issue["status"] == "ignored", f"after {n} new event(s): {issue}"
    assert api.issues(project.id) == []
    assert ids(api.issues(project.id, status="ignored")) == {str(iid)}

    capture_call(fail_checkout)  # new event 3: reopened
    sentry.flush()
    issue = eventually(lambda: _issue_with_count(api, iid, 4))
    assert issue["status"] == "unresolved", issue
    assert issue["is_regression"] is False, "un-ignoring is not a regression"
    assert ids(api.issues(project.id)) == {str(iid)}

    status, body = api.patch(f"/api/v1/issues/{iid}", {"status": "ignored", "ignore_count": 0})
    assert 400 <= status < 500, (status, body)


def test_ignored_forever_and_until_a_time(server, project, sentry, api):
    sentry.init(project)
    forever = capture_call(fail_checkout)
    later = capture_call(fail_login)
    soon = capture_call(fail_search)
    sentry.flush()
    f_id = api.issue_for_event(project.id, forever)["id"]
    l_id = api.issue_for_event(project.id, later)["id"]
    s_id = api.issue_for_event(project.id, soon)["id"]

    assert api.set_status(f_id, status="ignored")["status"] == "ignored"
    assert api.set_status(l_id, status="ignored", ignore_until=iso_in(3600))["status"] == "ignored"
    assert api.set_status(s_id, status="ignored", ignore_until=iso_in(1.5))["status"] == "ignored"

    for fn in (fail_checkout, fail_login, fail_search):
        capture_call(fn)
    sentry.flush()
    for iid in (f_id, l_id, s_id):
        issue = eventually(lambda: _issue_with_count(api, iid, 2))
        assert issue["status"] == "ignored", issue

    time.sleep(2.5)  # past the short ignore_until
    for fn in (fail_checkout, fail_login, fail_search):
        capture_call(fn)
    sentry.flush()
    eventually(lambda: _issue_with_count(api, s_id, 3))
    assert api.issue(s_id)["status"] == "unresolved"
    assert api.issue(f_id)["status"] == "ignored"
    assert api.issue(l_id)["status"] == "ignored"


# --------------------------------------------------------------------------
# transactions, crons, sessions
# --------------------------------------------------------------------------


def test_transaction_is_listed_and_creates_no_issue(server, project, sentry, api):
    sentry.init(project, traces_sample_rate=1.0)
    with sentry_sdk.start_transaction(op="task", name="process_task_batch") as tx:
        with sentry_sdk.start_span(op="db", name="SELECT * FROM tags WHERE user_id = %s"):
            time.sleep(0.02)
        with sentry_sdk.start_span(op="process", name="Process tasks"):
            time.sleep(0.005)
    trace_id = tx.trace_id
    exchanges = sentry.flush()
    assert any("transaction" in e.item_types() for e in exchanges), "the SDK sent no transaction"

    def listed():
        items = api.project_list(project.id, "transactions")
        assert len(items) == 1, items
        return items[0]

    t = eventually(listed)
    assert HEX32.match(t["event_id"])
    assert t["transaction"] == "process_task_batch"
    assert t["op"] == "task"
    assert t["span_count"] >= 2
    assert 20 <= t["duration_ms"] < 60_000, t["duration_ms"]
    assert t["trace_id"] == trace_id
    assert "status" in t
    assert api.all_issues(project.id) == []


@sentry_sdk.monitor(monitor_slug="hourly-report", monitor_config={"schedule": {"type": "interval", "value": 1, "unit": "hour"}})
def hourly_report():
    time.sleep(0.01)
    return 7


@sentry_sdk.monitor(monitor_slug="flaky-sync")
def flaky_sync():
    raise RuntimeError("sync failed")


def test_cron_check_ins(server, project, sentry, api):
    sentry.init(project, release="shop@1.0", environment="production")
    nightly_config = {
        "schedule": {"type": "crontab", "value": "0 3 * * *"},
        "checkin_margin": 5,
        "max_runtime": 30,
        "timezone": "UTC",
    }
    cid = capture_checkin(monitor_slug="nightly-backup", status="in_progress", monitor_config=nightly_config)
    capture_checkin(monitor_slug="nightly-backup", check_in_id=cid, status="ok", duration=1.5)
    assert hourly_report() == 7
    with pytest.raises(RuntimeError):
        flaky_sync()
    sentry.flush()

    # One row per check-in envelope, newest first (an in_progress and its
    # closing ok share a check_in_id but are two rows).
    expected = [
        ("flaky-sync", "error"),
        ("flaky-sync", "in_progress"),
        ("hourly-report", "ok"),
        ("hourly-report", "in_progress"),
        ("nightly-backup", "ok"),
        ("nightly-backup", "in_progress"),
    ]

    def listed():
        items = api.project_list(project.id, "check-ins")
        assert [(c["monitor_slug"], c["status"]) for c in items] == expected
        return items

    items = eventually(listed)
    nightly_ok, nightly_start = items[4], items[5]
    assert nightly_ok["check_in_id"] == nightly_start["check_in_id"] == cid
    assert nightly_ok["duration"] == pytest.approx(1.5)
    assert nightly_start["monitor_config"] == nightly_config
    assert nightly_start["environment"] == "production"
    hourly_ok = items[2]
    assert hourly_ok["monitor_config"] == {"schedule": {"type": "interval", "value": 1, "unit": "hour"}}
    assert 0 < hourly_ok["duration"] < 60
    assert items[0]["check_in_id"] == items[1]["check_in_id"]
    assert api.all_issues(project.id) == [], "check-ins create no issues"


def test_release_health_sessions(server, project, sentry, api):
    sentry.init(project, release="shop@2.0", environment="production")
    scope = sentry_sdk.get_isolation_scope()
    scope.start_session()  # a healthy session
    scope.end_session()
    scope.start_session()  # a crashed one: an unhandled exception
    try:
        save_task(9)
    except RuntimeError:
        event, hint = event_from_exception(
            sys.exc_info(),
            client_options=sentry_sdk.get_client().options,
            mechanism={"type": "excepthook", "handled": False},
        )
        crash_id = sentry_sdk.capture_event(event, hint=hint)
    scope.end_session()
    exchanges = sentry.flush()
    assert sum(e.item_types().count("session") for e in exchanges) == 2, "the SDK sent two sessions"

    api.issue_for_event(project.id, crash_id)

    def health():
        releases = {r["version"]: r for r in api.project_list(project.id, "releases")}
        s = releases["shop@2.0"]["sessions"]
        assert s["total"] == 2, s
        assert s["crashed"] == 1, s
        # fraction or percentage
        assert s["crash_free_rate"] in (pytest.approx(0.5), pytest.approx(50.0)), s

    eventually(health)


# --------------------------------------------------------------------------
# transport: compression, feedback, duplicates
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "experiments, encoding",
    [
        ({"transport_compression_algo": "br"}, "br"),
        ({"transport_compression_algo": "gzip"}, "gzip"),
        ({"transport_compression_level": 0}, None),
    ],
    ids=["br", "gzip", "none"],
)
def test_transport_compression(server, project, sentry, api, experiments, encoding):
    # sentry-sdk 2.75 reads these from `_experiments` (transport.py).
    sentry.init(project, _experiments=experiments)
    event_id = sentry_sdk.capture_message(f"compressed with {encoding or 'nothing'}")
    sentry.flush()

    ex = sentry.proxy.find_event_exchange(event_id)
    assert ex.status == 200, ex.response_body
    assert ex.header("Content-Encoding") == encoding
    assert json.loads(ex.response_body) == {"id": event_id}
    assert ex.decoded_body.startswith(b"{")  # sanity: the recorded body decodes to an envelope
    issue = api.issue_for_event(project.id, event_id)
    assert issue["title"].startswith(f"compressed with {encoding or 'nothing'}")


def _send_envelope_via_sdk(items, headers):
    """Send an envelope through the SDK's own transport (same auth, same
    compression, same HTTP client as everything the SDK sends)."""
    sentry_sdk.get_client().transport.capture_envelope(Envelope(headers=headers, items=items))


def test_user_feedback_as_user_report_item(server, project, sentry, api):
    sentry.init(project)
    event_id = capture_call(fail_checkout)
    report = {"event_id": event_id, "name": "Jane", "email": "jane@example.com", "comments": "It broke at checkout"}
    _send_envelope_via_sdk([Item(payload=PayloadRef(json=report), type="user_report")], {"event_id": event_id})
    exchanges = sentry.flush()
    assert any("user_report" in e.item_types() for e in exchanges)

    issue = api.issue_for_event(project.id, event_id)

    def listed():
        items = api.get_ok(f"/api/v1/issues/{issue['id']}/feedback")["items"]
        assert len(items) == 1, items
        return items[0]

    fb = eventually(listed)
    assert fb["name"] == "Jane"
    assert fb["email"] == "jane@example.com"
    assert fb["comments"] == "It broke at checkout"
    assert fb["event_id"] == event_id


def test_user_feedback_as_feedback_item(server, project, sentry, api):
    sentry.init(project)
    event_id = capture_call(fail_checkout)
    kwargs = dict(message="Button does nothing", name="Joe", email="joe@example.com", associated_event_id=event_id)
    if hasattr(sentry_sdk, "capture_feedback"):  # not in sentry-sdk 2.75
        sentry_sdk.capture_feedback(**kwargs)
    else:
        # What newer SDKs send for capture_feedback: a `feedback` item
        # (an event of type "feedback" with contexts.feedback).
        feedback_id = uuid.uuid4().hex
        payload = {
            "event_id": feedback_id,
            "timestamp": time.time(),
            "platform": "python",
            "level": "info",
            "type": "feedback",
            "contexts": {
                "feedback": {
                    "message": kwargs["message"],
                    "name": kwargs["name"],
                    "contact_email": kwargs["email"],
                    "associated_event_id": event_id,
                    "source": "api",
                }
            },
        }
        _send_envelope_via_sdk([Item(payload=PayloadRef(json=payload), type="feedback")], {"event_id": feedback_id})
    sentry.flush()

    issue = api.issue_for_event(project.id, event_id)

    def listed():
        items = api.get_ok(f"/api/v1/issues/{issue['id']}/feedback")["items"]
        assert len(items) == 1, items
        return items[0]

    fb = eventually(listed)
    assert fb["name"] == "Joe"
    assert fb["email"] == "joe@example.com"
    assert fb["comments"] == "Button does nothing"
    assert fb["event_id"] == event_id  # the error event the feedback is about
    assert len(api.all_issues(project.id)) == 1, "feedback creates no issue of its own"


def test_duplicate_event_id_is_stored_once(server, project, sentry, api):
    sentry.init(project)
    event_id = capture_call(fail_checkout)
    sentry.flush()
    issue = api.issue_for_event(project.id, event_id)

    # Replay exactly what the SDK sent (compressed body, same headers) ...
    ex = sentry.proxy.find_event_exchange(event_id)
    headers = {k: v for k, v in ex.headers.items() if k.lower() not in ("host", "content-length", "connection")}
    again = http_request(server.base_url, "POST", ex.path, ex.body, headers)
    assert again.status == 200, again
    # ... and once more uncompressed.
    third = post_envelope(server.base_url, project.id, ex.decoded_body, project.key)
    assert third.status == 200, third

    issue = api.issue(issue["id"])
    assert issue["count"] == 1, issue
    assert [e["event_id"] for e in api.issue_events(issue["id"])] == [event_id]
    assert len(api.all_issues(project.id)) == 1
