"""Replay the requests recorded from the real sentry-sdk 2.75 (fixtures/sentry-python).

Each recorded request is POSTed byte for byte (brotli body, Content-Encoding
and all); only the project id in the path and the ``sentry_key`` in
X-Sentry-Auth are rewritten to a fresh project's. See fixtures/README.md for
what each file holds: 7 error events in 4 issues, 1 transaction, 2 check-ins.

Note: the recorded events carry their original timestamps (2026-11-23).
"""

from __future__ import annotations

import pytest

from conftest import HEX32, eventually, load_recorded_requests, recorded_envelope, replay_recorded

RECORDED = load_recorded_requests()


def _event_ids(numbers):
    out = []
    for n in numbers:
        name = f"req_{n:03d}.json"
        rec = dict(RECORDED)[name]
        out.append(recorded_envelope(rec)[0]["event_id"])
    return out


def _replay_all(server, project):
    for name, rec in RECORDED:
        r = replay_recorded(server, project, rec)
        assert r.status == 200, f"{name}: HTTP {r.status}: {r.text[:500]}"
        header, _ = recorded_envelope(rec)
        assert r.json() == {"id": header["event_id"]}, f"{name}: {r.text}"


def test_fixture_files_are_as_documented():
    assert [name for name, _ in RECORDED] == [f"req_{n:03d}.json" for n in range(1, 11)]
    types = []
    for _, rec in RECORDED:
        assert rec["headers"]["Content-Encoding"] == "br"
        types.append([ih["type"] for ih, _ in recorded_envelope(rec)[1]])
    assert types == [["event"]] * 7 + [["transaction"], ["check_in"], ["check_in"]]


@pytest.fixture
def replayed(server, project):
    _replay_all(server, project)
    return server, project


def test_replay_groups_seven_events_into_four_issues(replayed, api):
    server, project = replayed
    key_errors = _event_ids([1, 2, 3])
    (chained,) = _event_ids([4])
    fingerprinted = _event_ids([5, 6])
    (message,) = _event_ids([7])

    def four_issues():
        issues = api.all_issues(project.id)
        assert len(issues) == 4, [(i["title"], i["count"]) for i in issues]
        return issues

    issues = eventually(four_issues)
    assert sorted(i["count"] for i in issues) == [1, 1, 2, 3]
    assert all(i["status"] == "unresolved" for i in issues)
    assert all(i["first_release"] == "shopbot@1.4.2" for i in issues)

    key_issue = api.issue_for_event(project.id, key_errors[0])
    assert {str(api.issue_for_event(project.id, e)["id"]) for e in key_errors} == {str(key_issue["id"])}
    assert key_issue["count"] == 3
    assert key_issue["title"].startswith("KeyError: 'missing-"), key_issue["title"]
    assert "load_order" in key_issue["culprit"]
    assert key_issue["user_count"] == 1
    tag = next(t for t in key_issue["tags"] if t["key"] == "request_id")
    assert tag["top"] == [{"value": "req_123", "count": 3}]
    assert [e["event_id"] for e in api.issue_events(key_issue["id"])] == list(reversed(key_errors))

    chained_issue = api.issue_for_event(project.id, chained)
    assert chained_issue["count"] == 1
    assert chained_issue["title"].startswith("RuntimeError: Failed to save task 7")
    assert "save_task" in chained_issue["culprit"]
    assert len(api.event(chained)["event"]["exception"]["values"]) == 2

    fp_issue = api.issue_for_event(project.id, fingerprinted[0])
    assert str(api.issue_for_event(project.id, fingerprinted[1])["id"]) == str(fp_issue["id"])
    assert fp_issue["count"] == 2
    assert fp_issue["title"].startswith("ValueError: amount ")

    msg_issue = api.issue_for_event(project.id, message)
    assert msg_issue["count"] == 1
    assert msg_issue["level"] == "warning"
    assert msg_issue["title"].startswith("Task has excessive tag count")

    distinct = {str(key_issue["id"]), str(chained_issue["id"]), str(fp_issue["id"]), str(msg_issue["id"])}
    assert len(distinct) == 4

    # The stored event is the SDK's, frames, locals and breadcrumbs included.
    ev = api.event(key_errors[0])["event"]
    frames = ev["exception"]["values"][-1]["stacktrace"]["frames"]
    load_order = next(f for f in frames if f["function"] == "load_order")
    assert load_order["context_line"] == "    return items[order_id]"
    assert load_order["vars"]["order_id"] == "'missing-0'"
    assert [c["message"] for c in ev["breadcrumbs"]["values"]] == ["update 0"]
    assert ev["user"] == {"id": "123", "username": "john"}


def test_replay_transaction_and_check_ins(replayed, api):
    server, project = replayed
    (tx_id,) = _event_ids([8])

    transactions = eventually(lambda: _exactly(api.project_list(project.id, "transactions"), 1))
    t = transactions[0]
    assert t["event_id"] == tx_id
    assert t["transaction"] == "process_task_batch"
    assert t["op"] == "task"
    assert t["span_count"] >= 2  # a db span and a process span
    assert t["duration_ms"] == pytest.approx(16.109, abs=0.5)
    assert t["trace_id"] == "9493dd89e5ba4b409cc0d82056757494"

    check_ins = eventually(lambda: _exactly(api.project_list(project.id, "check-ins"), 2))
    assert [(c["monitor_slug"], c["status"]) for c in check_ins] == [
        ("nightly-backup", "ok"),
        ("nightly-backup", "in_progress"),
    ]
    assert {c["check_in_id"] for c in check_ins} == {"88c46c91e00b4f92ab89e45c37819dc2"}
    assert check_ins[0]["duration"] == pytest.approx(0.01043575099993177)
    assert all(c["environment"] == "production" for c in check_ins)

    # Neither creates an issue: the four issues all come from error events.
    issue_titles = [i["title"] for i in api.all_issues(project.id)]
    assert not any("process_task_batch" in t or "nightly-backup" in t for t in issue_titles), issue_titles
    assert len(issue_titles) == 4


def test_replay_release_and_stats(replayed, api):
    server, project = replayed
    releases = {r["version"]: r for r in api.project_list(project.id, "releases")}
    assert set(releases) == {"shopbot@1.4.2"}
    rel = releases["shopbot@1.4.2"]
    assert rel["new_issues"] == 4
    assert rel["event_count"] >= 7  # 7 errors; whether transactions count is not pinned

    stats = api.get_ok(f"/api/v1/projects/{project.id}/stats")
    assert stats["totals"]["accepted"] >= 7
    for k in ("filtered", "rate_limited", "invalid", "too_large"):
        assert stats["totals"][k] == 0, stats["totals"]
    assert isinstance(stats["series"], list)


def test_replaying_twice_changes_nothing(replayed, api):
    server, project = replayed
    before = {str(i["id"]): i["count"] for i in api.all_issues(project.id)}
    _replay_all(server, project)  # same event ids: stored once
    after = {str(i["id"]): i["count"] for i in api.all_issues(project.id)}
    assert after == before
    # Transactions carry an event_id like errors do: stored once as well.
    # (Check-ins are left out: whether a replayed check-in is a new row is
    # not part of the contract.)
    assert len(api.project_list(project.id, "transactions")) == 1


def test_each_event_is_retrievable(replayed, api):
    server, project = replayed
    for name, rec in RECORDED[:7]:
        event_id = recorded_envelope(rec)[0]["event_id"]
        body = api.event(event_id)
        assert HEX32.match(body["event_id"]) and body["event_id"] == event_id, name
        assert str(body["project_id"]) == str(project.id)
        assert body["issue_id"] is not None
        assert body["event"]["release"] == "shopbot@1.4.2"


def _exactly(items, n):
    assert len(items) == n, items
    return items
