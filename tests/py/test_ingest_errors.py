"""Sentry ingest edge cases over raw HTTP (no SDK): authentication, limits,
malformed input, quotas, CORS, inbound filters and the rejection metrics.

Error answers are JSON ``{"detail": "..."}``: 401 without a key, 403 for an
unknown key or another project's key, 400 for a malformed envelope, 413 for
a body over 20 MiB / a decompressed envelope over 200 MiB / an event item
over 1 MiB (the detail names the limit), 429 over quota with Retry-After and
X-Sentry-Rate-Limits.
"""

from __future__ import annotations

import gzip
import json
import time
import uuid
import zlib
from datetime import datetime, timezone

import pytest

from conftest import (
    MIB,
    assert_names_limit,
    build_envelope,
    event_envelope,
    http_request,
    make_event,
    make_exception_event,
    metric_value,
    new_event_id,
    post_envelope,
)

# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------


def gzip_bomb(decompressed_bytes: int) -> bytes:
    """A gzip body that inflates to a well-formed envelope of about
    ``decompressed_bytes``: one attachment item full of zeros."""
    co = zlib.compressobj(6, zlib.DEFLATED, 31)  # wbits 31: gzip framing
    head = json.dumps({"event_id": new_event_id()}).encode() + b"\n"
    head += json.dumps({"type": "attachment", "filename": "zeros.bin", "length": decompressed_bytes}).encode() + b"\n"
    parts = [co.compress(head)]
    zeros = bytes(MIB)
    for _ in range(decompressed_bytes // MIB):
        parts.append(co.compress(zeros))
    parts.append(co.compress(b"\n"))
    parts.append(co.flush())
    return b"".join(parts)


def avoid_minute_boundary() -> None:
    """Quotas are per minute; a fixed window could reset in the middle of a
    burst sent just before a minute boundary. Wait (< 11 s) if that is near."""
    now = datetime.now(timezone.utc)
    if now.second >= 50:
        time.sleep(60.5 - now.second - now.microsecond / 1e6)


def send_error(server, project, value="boom", **fields):
    ev = make_exception_event(value=value, **fields)
    return ev, post_envelope(server.base_url, project.id, event_envelope(ev), project.key)


def assert_ready(server):
    r = server.get("/ready")
    assert r.status == 200, f"server not ready after the previous request: {r}"


def assert_reason(detail: str) -> None:
    assert detail.strip(), "empty detail"
    assert detail.strip().lower() not in ("bad request", "invalid", "error", "invalid envelope"), (
        f"detail {detail!r} gives no reason"
    )


# --------------------------------------------------------------------------
# authentication
# --------------------------------------------------------------------------


def test_accepted_envelope_answers_event_id(server, project, api):
    ev, r = send_error(server, project)
    assert r.status == 200, r
    assert r.json() == {"id": ev["event_id"]}
    issue = api.issue_for_event(project.id, ev["event_id"])
    assert issue["title"] == "ValueError: boom"


def test_missing_key_is_401(server, project, api):
    ev = make_exception_event()
    r = post_envelope(server.base_url, project.id, event_envelope(ev), auth="none")
    assert r.status == 401, r
    assert r.detail
    r = post_envelope(server.base_url, project.id, json.dumps(ev).encode(), auth="none", endpoint="store")
    assert r.status == 401, r
    assert api.all_issues(project.id) == []


def test_unknown_key_is_403(server, project, api):
    ev = make_exception_event()
    r = post_envelope(server.base_url, project.id, event_envelope(ev), "f" * 32)
    assert r.status == 403, r
    assert r.detail
    r = post_envelope(server.base_url, project.id, event_envelope(ev), "f" * 32, auth="query")
    assert r.status == 403, r
    assert api.all_issues(project.id) == []


def test_key_of_another_project_is_403(server, api):
    a = server.create_project("alpha")
    b = server.create_project("beta")
    ev = make_exception_event()
    r = post_envelope(server.base_url, a.id, event_envelope(ev), b.key)
    assert r.status == 403, r
    assert r.detail
    # Same with the key carried by the envelope header's DSN.
    r = post_envelope(server.base_url, a.id, event_envelope(ev, dsn=b.dsn), auth="none")
    assert r.status == 403, r
    assert api.all_issues(a.id) == []
    # The key works for its own project.
    r = post_envelope(server.base_url, b.id, event_envelope(ev), b.key)
    assert r.status == 200, r
    api.issue_for_event(b.id, ev["event_id"])
    assert api.all_issues(a.id) == []


def test_sentry_key_query_auth(server, project, api):
    ev = make_exception_event(value="via query")
    r = post_envelope(server.base_url, project.id, event_envelope(ev), project.key, auth="query")
    assert r.status == 200, r
    assert r.json() == {"id": ev["event_id"]}
    api.issue_for_event(project.id, ev["event_id"])


def test_envelope_header_dsn_auth(server, project, api):
    ev = make_exception_event(value="via envelope dsn")
    r = post_envelope(server.base_url, project.id, event_envelope(ev, dsn=project.dsn), auth="none")
    assert r.status == 200, r
    assert r.json() == {"id": ev["event_id"]}
    api.issue_for_event(project.id, ev["event_id"])


# --------------------------------------------------------------------------
# malformed input
# --------------------------------------------------------------------------

_EID = "0f" * 16
MALFORMED = {
    "item header not JSON": (b'{"event_id":"%s"}\n{type: event, length: 2}\n{}\n' % _EID.encode(), None),
    "envelope header not JSON": (b'event_id=%s\n{"type":"event","length":2}\n{}\n' % _EID.encode(), None),
    "item length past the end": (b'{"event_id":"%s"}\n{"type":"event","length":4096}\n{}\n' % _EID.encode(), None),
    "item header is a JSON array": (b'{"event_id":"%s"}\n["event"]\n{}\n' % _EID.encode(), None),
    "body is not gzip": (b"this is not gzip at all", "gzip"),
}


@pytest.mark.parametrize("body, encoding", list(MALFORMED.values()), ids=list(MALFORMED))
def test_malformed_envelope_is_400(server, project, api, body, encoding):
    r = post_envelope(server.base_url, project.id, body, project.key, content_encoding=encoding)
    assert r.status == 400, r
    assert_reason(r.detail)
    assert api.all_issues(project.id) == []
    assert_ready(server)


def test_unknown_item_types_are_skipped(server, project, api):
    ev = make_exception_event(value="with unknown neighbours")
    body = event_envelope(
        ev,
        extra_items=[
            ({"type": "some_future_item"}, b"opaque \x00\x01 payload"),
            ({"type": "another_new_thing", "content_type": "application/json"}, {"x": 1}),
            ({"type": "client_report"}, {"timestamp": time.time(), "discarded_events": []}),
            ({"type": "attachment", "filename": "notes.txt", "content_type": "text/plain"}, b"hello"),
        ],
    )
    r = post_envelope(server.base_url, project.id, body, project.key)
    assert r.status == 200, r
    assert r.json() == {"id": ev["event_id"]}
    issue = api.issue_for_event(project.id, ev["event_id"])
    assert issue["title"] == "ValueError: with unknown neighbours"

    # An envelope holding nothing Lookout knows is fine too.
    only_unknown = build_envelope([({"type": "some_future_item"}, b"xyz")], {"event_id": new_event_id()})
    r = post_envelope(server.base_url, project.id, only_unknown, project.key)
    assert r.status == 200, r
    assert len(api.all_issues(project.id)) == 1


# --------------------------------------------------------------------------
# size limits
# --------------------------------------------------------------------------


def test_body_over_20_mib_is_413(server, project, api):
    n = 21 * MIB
    body = build_envelope(
        [({"type": "attachment", "filename": "big.bin", "length": n}, bytes(n))], {"event_id": new_event_id()}
    )
    r = post_envelope(server.base_url, project.id, body, project.key)
    assert r.status == 413, r
    assert_names_limit(r.detail, 20 * MIB)
    assert_ready(server)


@pytest.fixture(scope="module")
def bomb_300_mib():
    return gzip_bomb(300 * MIB)


def test_decompressed_envelope_over_200_mib_is_413(server, project, api, bomb_300_mib):
    assert len(bomb_300_mib) < MIB, "precondition: the compressed body is small"
    r = post_envelope(server.base_url, project.id, bomb_300_mib, project.key, content_encoding="gzip")
    assert r.status == 413, r
    assert_names_limit(r.detail, 200 * MIB)
    assert_ready(server)
    # A small gzip body still works afterwards.
    ev = make_exception_event(value="after the bomb")
    r = post_envelope(server.base_url, project.id, gzip.compress(event_envelope(ev)), project.key, content_encoding="gzip")
    assert r.status == 200, r
    api.issue_for_event(project.id, ev["event_id"])


def test_event_item_over_1_mib_is_413(server, project, api):
    ev = make_exception_event(value="huge", extra={"blob": "x" * (3 * MIB // 2)})
    body = event_envelope(ev)
    assert MIB < len(body) < 20 * MIB
    r = post_envelope(server.base_url, project.id, body, project.key)
    assert r.status == 413, r
    assert_names_limit(r.detail, MIB)
    status, _ = server.api.get(f"/api/v1/events/{ev['event_id']}")
    assert status == 404
    assert api.all_issues(project.id) == []


# --------------------------------------------------------------------------
# quotas
# --------------------------------------------------------------------------


def _check_rate_limit_answer(r):
    assert r.status == 429, r
    assert r.detail
    retry_after = r.header("Retry-After")
    assert retry_after and retry_after.strip().isdigit(), f"Retry-After: {retry_after!r}"
    assert 1 <= int(retry_after) <= 60, retry_after
    limits = r.header("X-Sentry-Rate-Limits")
    assert limits, "no X-Sentry-Rate-Limits header"
    # Parsed the way sentry-sdk parses it: an error event must be covered
    # (a limit on category "error", or on all categories).
    from sentry_sdk.transport import _parse_rate_limits

    parsed = list(_parse_rate_limits(limits))
    assert parsed, f"sentry-sdk cannot parse X-Sentry-Rate-Limits: {limits!r}"
    assert any(cat in (None, "error") for cat, _ in parsed), f"no limit for errors in {limits!r}"


@pytest.mark.timeout_s(120)
def test_events_per_minute_quota_is_429(make_server):
    server = make_server({"LOOKOUT_INGEST__EVENTS_PER_MINUTE": "3"})
    project = server.create_project("limited")
    api = server.api
    avoid_minute_boundary()
    results = [send_error(server, project, value=f"burst {i}") for i in range(5)]
    statuses = [r.status for _, r in results]
    assert statuses[:3] == [200, 200, 200], statuses
    _check_rate_limit_answer(results[3][1])
    assert results[4][1].status == 429

    stored = api.all_issues(project.id)
    assert sum(i["count"] for i in stored) == 3
    status, _ = api.get(f"/api/v1/events/{results[3][0]['event_id']}")
    assert status == 404, "a rate-limited event is not stored"

    totals = api.get_ok(f"/api/v1/projects/{project.id}/stats")["totals"]
    assert totals["accepted"] == 3, totals
    assert totals["rate_limited"] == 2, totals


@pytest.mark.timeout_s(120)
def test_project_quota_from_settings(server, project, api):
    path = f"/api/v1/projects/{project.id}/settings"
    api.put_ok(path, {"events_per_minute": 2})
    assert api.get_ok(path)["events_per_minute"] == 2
    avoid_minute_boundary()
    statuses = [send_error(server, project, value=f"q {i}")[1] for i in range(3)]
    assert [r.status for r in statuses[:2]] == [200, 200], statuses
    _check_rate_limit_answer(statuses[2])
    # Another project is not affected.
    other = server.create_project("other")
    _, r = send_error(server, other)
    assert r.status == 200, r
    # null: back to the server default (unlimited here).
    api.put_ok(path, {"events_per_minute": None})
    assert api.get_ok(path)["events_per_minute"] is None
    _, r = send_error(server, project, value="after reset")
    assert r.status == 200, r


# --------------------------------------------------------------------------
# store endpoint, CORS
# --------------------------------------------------------------------------


def test_store_endpoint_accepts_plain_json_event(server, project, api):
    ev = make_exception_event(exc_type="TypeError", value="unsupported operand", function="add_items")
    r = post_envelope(server.base_url, project.id, json.dumps(ev).encode(), project.key, endpoint="store")
    assert r.status == 200, r
    assert r.json() == {"id": ev["event_id"]}
    issue = api.issue_for_event(project.id, ev["event_id"])
    assert issue["title"] == "TypeError: unsupported operand"
    assert "add_items" in issue["culprit"]

    # gzip-compressed, key in the query string
    ev2 = make_event(message="legacy store, compressed")
    r = post_envelope(
        server.base_url, project.id, gzip.compress(json.dumps(ev2).encode()), project.key,
        auth="query", endpoint="store", content_encoding="gzip",
    )
    assert r.status == 200, r
    api.issue_for_event(project.id, ev2["event_id"])


def test_store_event_id_is_normalised_to_32_hex(server, project, api):
    u = uuid.uuid4()
    ev = make_event(event_id=str(u).upper(), message="dashed upper-case id")
    r = post_envelope(server.base_url, project.id, json.dumps(ev).encode(), project.key, endpoint="store")
    assert r.status == 200, r
    assert r.json() == {"id": u.hex}
    assert api.event(u.hex)["event_id"] == u.hex


def test_cors_preflight_and_response_headers(server, project):
    origin = "https://app.example.com"
    r = http_request(
        server.base_url,
        "OPTIONS",
        f"/api/{project.id}/envelope/",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, x-sentry-auth",
        },
    )
    assert 200 <= r.status < 300, r
    assert r.header("Access-Control-Allow-Origin") in ("*", origin), r.headers
    allow_headers = (r.header("Access-Control-Allow-Headers") or "").lower()
    assert allow_headers == "*" or ("x-sentry-auth" in allow_headers and "content-type" in allow_headers), r.headers

    # The actual cross-origin POST carries the header too.
    ev = make_exception_event(value="from a browser")
    r = post_envelope(server.base_url, project.id, event_envelope(ev), project.key, extra_headers={"Origin": origin})
    assert r.status == 200, r
    assert r.header("Access-Control-Allow-Origin") in ("*", origin), r.headers


# --------------------------------------------------------------------------
# project settings and inbound filters
# --------------------------------------------------------------------------


def test_project_settings_roundtrip(server, project, api):
    path = f"/api/v1/projects/{project.id}/settings"
    s = api.get_ok(path)
    assert set(s) >= {"events_per_minute", "retention_days", "max_events", "allowed_origins", "filters"}, s
    assert s["events_per_minute"] is None or isinstance(s["events_per_minute"], int)
    assert isinstance(s["retention_days"], int) and s["retention_days"] > 0
    assert isinstance(s["max_events"], int) and s["max_events"] > 0
    assert s["allowed_origins"] == ["*"]
    assert s["filters"] == {"exception_types": [], "message_patterns": [], "releases": [], "environments": []}

    api.put_ok(path, {"filters": {"exception_types": ["ZeroDivisionError"]}, "retention_days": 30})
    again = api.get_ok(path)
    assert again["filters"]["exception_types"] == ["ZeroDivisionError"]
    assert again["filters"]["message_patterns"] == [], "a partial PUT leaves other filters alone"
    assert again["retention_days"] == 30
    assert again["max_events"] == s["max_events"]
    assert again["allowed_origins"] == ["*"]

    status, body = api.put(path, {"retention_days": "forever"})
    assert 400 <= status < 500, (status, body)
    assert api.get_ok(path) == again


def test_inbound_filters_drop_events(server, project, api):
    # Patterns are exact values here, so the test does not depend on the
    # pattern syntax (glob, regex or substring all match them).
    api.put_ok(
        f"/api/v1/projects/{project.id}/settings",
        {
            "filters": {
                "exception_types": ["ZeroDivisionError"],
                "message_patterns": ["GET /healthcheck failed"],
                "releases": ["canary@2.0"],
                "environments": ["dev"],
            }
        },
    )
    dropped = [
        make_exception_event(exc_type="ZeroDivisionError", value="division by zero"),
        make_event(message="GET /healthcheck failed"),
        make_exception_event(value="in canary", release="canary@2.0"),
        make_exception_event(value="on a laptop", environment="dev"),
    ]
    kept = make_exception_event(value="real problem", release="shop@1.0", environment="production")
    for ev in dropped + [kept]:
        r = post_envelope(server.base_url, project.id, event_envelope(ev), project.key)
        # Like Sentry, a filtered event is acknowledged (the SDK must not retry it).
        assert r.status == 200, r

    issues = api.all_issues(project.id)
    assert [i["title"] for i in issues] == ["ValueError: real problem"]
    for ev in dropped:
        status, _ = api.get(f"/api/v1/events/{ev['event_id']}")
        assert status == 404, f"filtered event {ev['event_id']} was stored"
    totals = api.get_ok(f"/api/v1/projects/{project.id}/stats")["totals"]
    assert totals["filtered"] == 4, totals
    assert totals["accepted"] == 1, totals


def test_filtered_events_are_counted_in_rejected_metric(server, project, api):
    # The contract lists `filtered` among the reasons of lookout_ingest_rejected_total.
    api.put_ok(f"/api/v1/projects/{project.id}/settings", {"filters": {"environments": ["dev"]}})
    r = post_envelope(
        server.base_url, project.id, event_envelope(make_exception_event(environment="dev")), project.key
    )
    assert r.status == 200, r
    assert api.all_issues(project.id) == []
    text = server.metrics_text()
    assert metric_value(text, "lookout_ingest_rejected_total", reason="filtered") >= 1, "\n".join(
        line for line in text.splitlines() if "lookout_ingest" in line
    )


# --------------------------------------------------------------------------
# metrics
# --------------------------------------------------------------------------

REASONS = ("unauthorized", "forbidden", "invalid", "too_large", "rate_limited")


@pytest.mark.timeout_s(120)
def test_metrics_count_rejections(make_server):
    server = make_server({"LOOKOUT_INGEST__EVENTS_PER_MINUTE": "3"})
    project = server.create_project("metered")
    base = server.base_url
    accepted_before = server.metric("lookout_ingest_accepted_total")

    ev = make_exception_event()
    assert post_envelope(base, project.id, event_envelope(ev), auth="none").status == 401
    assert post_envelope(base, project.id, event_envelope(ev), "e" * 32).status == 403
    assert post_envelope(base, project.id, MALFORMED["item header not JSON"][0], project.key).status == 400
    big = make_exception_event(extra={"blob": "x" * (3 * MIB // 2)})
    assert post_envelope(base, project.id, event_envelope(big), project.key).status == 413
    avoid_minute_boundary()
    statuses = [send_error(server, project, value=f"m {i}")[1].status for i in range(5)]
    assert 429 in statuses, statuses

    text = server.metrics_text()
    assert "lookout_ingest_rejected_total" in text
    for reason in REASONS:
        v = metric_value(text, "lookout_ingest_rejected_total", reason=reason)
        assert v >= 1, f"lookout_ingest_rejected_total{{reason={reason!r}}} = {v}\n" + "\n".join(
            line for line in text.splitlines() if "lookout_ingest" in line
        )
    accepted = metric_value(text, "lookout_ingest_accepted_total")
    assert accepted - accepted_before >= statuses.count(200) >= 1
