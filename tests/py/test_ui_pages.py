"""The overview, releases, issue-list and attachment parts of the web UI, in
a real headless Chromium, with data sent by the real ``sentry-sdk`` (and a
deploy made by the real ``sentry-cli``).

- ``test_overview_counts_top_issue_and_chart``: empty states, then counts,
  the hourly chart, the top issue and crash-free sessions after real SDK
  events and sessions; the JSON overview says the same.
- ``test_releases_page_lists_new_issues_and_deploys``: empty state with
  sentry-cli instructions, then a release with its new issue, events,
  crash-free rate and a deploy made by ``sentry-cli``.
- ``test_filters_sort_sparklines_and_paging``: level, environment, release
  and sort selects change the list; paging keeps them; each row has a
  24-hour trend.
- ``test_bulk_resolve_and_ignore``: checkboxes and buttons, CSRF, the
  filters kept on return, viewers refused, and the JSON bulk endpoint.
- ``test_attachments_listed_and_downloadable``: an attachment added with
  ``scope.add_attachment`` is listed (escaped) and downloads byte for byte
  through the session, only from its own issue's project.
- ``test_pages_fit_360px``: no sideways scrolling on any of these pages.

Helpers come from ``test_ui_browser`` and ``conftest`` (imported, not copied).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from urllib.parse import parse_qs, quote, urlsplit

import pytest
import sentry_sdk
from sentry_sdk.utils import event_from_exception

from browser import MOBILE, Browser, browser, wait_until  # noqa: F401 - `browser` is a fixture
from conftest import CLI_TIMEOUT, Api, LookoutServer, Project, http_request
from test_ui_browser import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    average_basket,
    capture_call,
    create_user,
    fetch_inventory,
    first_int,
    http_login,
    issue_rows,
    parse_form,
    post_form,
    raw_request,
    render_invoice,
    session_get,
    ui_login,
)

SENTRY_CLI = os.path.join(os.path.dirname(sys.executable), "sentry-cli")


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------


def login_admin(server: LookoutServer, b: Browser) -> Browser:
    create_user(server, ADMIN_EMAIL, ADMIN_PASSWORD, admin=True)
    b.use(server.base_url)
    ui_login(b, ADMIN_EMAIL, ADMIN_PASSWORD)
    return b


def checkout_crash():
    raise RuntimeError("payment provider went away")


def crash_session() -> str:
    """One session that ends crashed (an unhandled exception in its own
    function, so its own issue), the way the SDK's excepthook reports it;
    returns the crash event's id."""
    scope = sentry_sdk.get_isolation_scope()
    scope.start_session()
    try:
        checkout_crash()
    except RuntimeError:
        event, hint = event_from_exception(
            sys.exc_info(),
            client_options=sentry_sdk.get_client().options,
            mechanism={"type": "excepthook", "handled": False},
        )
        event_id = sentry_sdk.capture_event(event, hint=hint)
    scope.end_session()
    return event_id


def healthy_session() -> None:
    scope = sentry_sdk.get_isolation_scope()
    scope.start_session()
    scope.end_session()


def stat(b: Browser, css: str) -> int:
    n = first_int(b.text(css))
    b.check(n is not None, f"{css} shows no number")
    return n


def chart_total(b: Browser, chart_css: str) -> int:
    """Sum of the event counts in the tooltips of a chart's bars."""
    titles = b.js(
        "return [...document.querySelectorAll(arguments[0] + ' rect title')].map(t => t.textContent)",
        chart_css,
    )
    total = 0
    for t in titles:
        m = re.search(r"(\d+) events?$", t)
        b.check(m, f"bar tooltip {t!r} does not end with a count")
        total += int(m.group(1))
    return total


def sentry_cli(server: LookoutServer, project: Project, home, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SENTRY_", "GIT_", "LOOKOUT_"))}
    env.update(
        HOME=str(home),
        SENTRY_URL=server.base_url,
        SENTRY_AUTH_TOKEN=server.token,
        SENTRY_ORG="lookout",
        SENTRY_PROJECT=project.slug,
        SENTRY_DISABLE_UPDATE_CHECK="true",
        SENTRY_LOAD_DOTENV="0",
    )
    res = subprocess.run([SENTRY_CLI, *args], cwd=home, env=env, capture_output=True, text=True,
                         timeout=CLI_TIMEOUT, stdin=subprocess.DEVNULL)
    assert res.returncode == 0, f"sentry-cli {args} exited {res.returncode}\n{res.stdout}\n{res.stderr}"
    return res


def api_deploy(server: LookoutServer, version: str, environment: str) -> None:
    """A deploy through the /api/0 route sentry-cli uses."""
    r = http_request(
        server.base_url, "POST", f"/api/0/organizations/lookout/releases/{quote(version, safe='')}/deploys/",
        json.dumps({"environment": environment}).encode(),
        {"Authorization": f"Bearer {server.token}", "Content-Type": "application/json"},
    )
    assert r.status in (200, 201), r


def add_member(server: LookoutServer, project_id: int, email: str, role: str) -> None:
    """Give a user a role in a project the way an administrator does: the
    project's Settings → Members form."""
    from test_ui_access import Client

    admin = Client.login(server, ADMIN_EMAIL, ADMIN_PASSWORD)
    page = admin.get(f"/projects/{project_id}/settings").text
    m = re.search(r'<option value="(\d+)">' + re.escape(email) + "</option>", page)
    assert m, f"{email} is not offered in the add-member form"
    r = admin.post(f"/projects/{project_id}/members", user_id=m.group(1), role=role)
    assert r.status == 303, r


def checkbox(b: Browser, issue_id: int):
    boxes = b.find_all(f'table#issues input[type="checkbox"][name="ids"][value="{issue_id}"]')
    b.check(boxes, f"no checkbox for issue {issue_id}")
    return boxes[0]


def listed_ids(b: Browser) -> list[int]:
    return [r.id for r in issue_rows(b)]


# --------------------------------------------------------------------------
# overview
# --------------------------------------------------------------------------


@pytest.mark.timeout_s(180)
def test_overview_counts_top_issue_and_chart(server, sentry, browser):
    project = server.create_project("Overview Shop")
    b = login_admin(server, browser)

    # empty: each panel says what to do next
    b.get(f"/projects/{project.id}")
    b.check(b.text("nav.tabs a.active") == "Overview", "the Overview tab is not the active one")
    b.check(project.dsn in b.text("#events .empty-state"), "the events panel's empty state does not show the DSN")
    b.check("release=" in b.text("#release-health .empty-state"), "release health: no hint to set release=")
    b.check(stat(b, "#stat-unresolved") == 0, "a new project has unresolved issues")
    b.check(not b.exists("#chart-24h"), "a chart without events")

    sentry.init(project, release="overview@1.0", environment="production")
    basket = [capture_call(average_basket, []) for _ in range(3)]
    capture_call(fetch_inventory, "SKU-1")
    healthy_session()
    crash_session()
    sentry.flush()
    basket_issue = server.api.issue_for_event(project.id, basket[0])
    assert basket_issue["count"] == 3, basket_issue

    b.get(f"/projects/{project.id}")
    b.check(stat(b, "#stat-unresolved") == 3, "three unresolved issues (basket, inventory, crash)")
    b.check(stat(b, "#stat-new") == 3, "three issues new in 24 h")
    b.check(stat(b, "#stat-regressions") == 0, "no regressions yet")
    b.check(stat(b, "#events-24h") == 5, "five events in the last 24 h")
    b.check(stat(b, "#events-7d") == 5, "five events in the last 7 days")
    b.check(chart_total(b, "#chart-24h") == 5, "the 24-hour chart's bars add up to 5")
    b.check(chart_total(b, "#chart-7d") == 5, "the 7-day chart's bars add up to 5")
    top = b.find_all("#top-issues tr.top-issue")
    b.check(len(top) == 3, f"three top issues, got {len(top)}")
    first_link = b.find_all("a.issue-link", within=top[0])[0]
    b.check(urlsplit(first_link.get_attribute("href")).path == f"/issues/{basket_issue['id']}",
            "the issue with most events is first")
    b.check(first_int(b.find_all(".top-count", within=top[0])[0].text) == 3, "its 24 h count is 3")
    b.check(b.text("#latest-release") == "overview@1.0", "latest release")
    b.check(b.text("#crash-free") == "50.0 %", "one of two sessions crashed: 50.0 % crash-free")

    # resolve the top issue, then it comes back: a regression
    server.api.set_status(basket_issue["id"], status="resolved")
    capture_call(average_basket, [])
    sentry.flush()
    b.reload()
    b.check(stat(b, "#stat-regressions") == 1, "a resolved issue that came back is a regression")
    b.check(stat(b, "#events-24h") == 6, "six events now")

    ov = server.api.get_ok(f"/api/v1/projects/{project.id}/overview")
    assert (ov["events_24h"], ov["events_7d"], ov["unresolved"], ov["new_issues_24h"], ov["regressions"]) == (6, 6, 3, 3, 1), ov
    assert len(ov["hourly"]) == 168 and sum(h["count"] for h in ov["hourly"]) == 6, ov["hourly"][-3:]
    assert [(t["id"], t["events_24h"]) for t in ov["top_issues"]][0] == (basket_issue["id"], 4), ov["top_issues"]
    assert ov["latest_release"]["version"] == "overview@1.0"
    assert ov["latest_release"]["sessions"]["crash_free_rate"] == pytest.approx(0.5), ov["latest_release"]
    assert not b.csp_violations(), b.csp_violations()


# --------------------------------------------------------------------------
# releases
# --------------------------------------------------------------------------


@pytest.mark.timeout_s(180)
def test_releases_page_lists_new_issues_and_deploys(server, sentry, browser, tmp_path):
    project = server.create_project("Release Shop")
    b = login_admin(server, browser)
    b.get(f"/projects/{project.id}/releases")
    b.check(b.text("nav.tabs a.active") == "Releases", "the Releases tab is not the active one")
    help_text = b.text("#no-releases")
    for words in ("sentry-cli releases new", "deploys", "new -e production", "release="):
        b.check(words in help_text, f"the empty state does not mention {words!r}")

    sentry.init(project, release="shop@1.0", environment="production")
    old = capture_call(fetch_inventory, "SKU-1")
    sentry.flush()
    sentry.init(project, release="shop@2.0", environment="production")
    new = [capture_call(render_invoice, 1042, [("mug", 2, 9.5)]) for _ in range(2)]
    capture_call(fetch_inventory, "SKU-2")  # an old issue: not new in 2.0
    sentry.flush()
    new_issue = server.api.issue_for_event(project.id, new[0])
    old_issue = server.api.issue_for_event(project.id, old)
    sentry_cli(server, project, tmp_path, "releases", "deploys", "shop@2.0", "new", "-e", "production")

    b.get(f"/projects/{project.id}/releases")
    rows = b.find_all("table#releases tr.release")
    versions = [b.find_all(".release-version", within=r)[0].text for r in rows]
    b.check(versions == ["shop@2.0", "shop@1.0"], f"releases newest first: {versions}")
    r2, r1 = rows
    b.check(first_int(b.find_all(".release-events", within=r2)[0].text) == 3, "shop@2.0 has 3 events")
    b.check(b.find_all(".new-issues-count", within=r2)[0].text.strip() == "1 new", "shop@2.0 has 1 new issue")
    links = b.find_all(".release-new-issues a.issue-link", within=r2)
    b.check([urlsplit(a.get_attribute("href")).path for a in links] == [f"/issues/{new_issue['id']}"],
            "shop@2.0 names its new issue (and not the older one)")
    b.check(links[0].text.strip() == new_issue["title"], "the new issue's title")
    b.check([e.text for e in b.find_all(".deploy-env", within=r2)] == ["production"], "the sentry-cli deploy")
    b.check(b.find_all(".deploy-env", within=r1) == [], "shop@1.0 was not deployed")
    b.check("no session data" in b.find_all(".release-crash-free", within=r2)[0].text, "no sessions yet")

    # the count links to the issue list filtered to that release's new issues
    b.click_and_wait(b.find_all(".new-issues-count", within=r2)[0])
    b.check(b.query.get("first_release") == ["shop@2.0"], f"filtered by first_release: {b.current_url}")
    b.check(listed_ids(b) == [new_issue["id"]], f"only the new issue is listed: {issue_rows(b)}")
    b.check(old_issue["id"] not in listed_ids(b), "the old issue is not new in shop@2.0")

    # sessions give the release a crash-free rate
    sentry.init(project, release="shop@2.0", environment="production")
    for _ in range(3):
        healthy_session()
    crash_session()
    sentry.flush()
    b.get(f"/projects/{project.id}/releases")
    cell = b.find("table#releases tr.release .release-crash-free")
    b.check(cell.text.split()[0:2] == ["75.0", "%"], f"3 of 4 sessions crash-free: {cell.text!r}")


# --------------------------------------------------------------------------
# issue list: filters, sort, sparklines, paging
# --------------------------------------------------------------------------


@pytest.mark.timeout_s(180)
def test_filters_sort_sparklines_and_paging(server, sentry, browser):
    project = server.create_project("Filter Shop")
    sentry.init(project, release="f@1.0", environment="production")
    sent_hour = int(time.time() // 3600)
    a = [capture_call(average_basket, []) for _ in range(3)]
    sentry.flush()
    sent_hours = {sent_hour, int(time.time() // 3600)}
    sentry.init(project, release="f@2.0", environment="staging")
    bb = capture_call(fetch_inventory, "SKU-9")
    c = sentry_sdk.capture_message("stock is running low", level="warning")
    sentry.flush()
    ia, ib, ic = (server.api.issue_for_event(project.id, e)["id"] for e in (a[0], bb, c))

    b = login_admin(server, browser)
    base = f"/projects/{project.id}/issues"
    b.get(base)
    b.check(sorted(listed_ids(b)) == sorted([ia, ib, ic]), f"all three listed: {issue_rows(b)}")
    b.check(listed_ids(b)[0] == ic, "default sort: last seen first")

    def apply(**values):
        b.get(base)
        b.fill("form#issue-filters", **values)
        b.submit("form#issue-filters")
        return listed_ids(b)

    b.check(sorted(apply(environment="staging")) == sorted([ib, ic]), f"staging: {issue_rows(b)}")
    b.check(apply(environment="production") == [ia], f"production: {issue_rows(b)}")
    b.check(apply(level="warning") == [ic], f"warnings: {issue_rows(b)}")
    b.check(apply(release="f@1.0") == [ia], f"release f@1.0: {issue_rows(b)}")
    b.check(b.query.get("release") == ["f@1.0"], f"the filter is in the URL: {b.current_url}")
    opts = [o.get_attribute("value") for o in b.find_all('form#issue-filters select[name="release"] option')]
    b.check(opts == ["", "f@2.0", "f@1.0"], f"release options newest first: {opts}")
    b.check(b.find('form#issue-filters select[name="release"] option[selected]').get_attribute("value") == "f@1.0",
            "the chosen release stays selected")
    b.check(apply(sort="events")[0] == ia, f"most events first: {issue_rows(b)}")
    b.check(apply(environment="production", level="warning") == [], "no match")
    b.check(b.exists(".empty-state") and "Show all issues" in b.text(".empty-state"), "empty state for filters")

    # every row has a 24-hour trend line; the busy issue's says 3 events
    page_hour = int(time.time() // 3600)
    b.get(base + "?sort=events")
    page_hours = {page_hour, int(time.time() // 3600)}
    sparks = b.find_all("table#issues tr.issue-row svg.spark")
    b.check(len(sparks) == 3, f"one sparkline per row, got {len(sparks)}")
    b.check(sparks[0].get_attribute("aria-label") == "3 events in the last 24 hours", sparks[0].get_attribute("aria-label"))
    points = b.find_all("polyline", within=sparks[0])[0].get_attribute("points").split()
    b.check(len(points) == 24, f"24 hourly points, got {len(points)}")
    # The events' hour is the peak: the last point, or the one before when
    # the clock passed an hour boundary since they were sent.
    hours_back = max(page_hours) - max(sent_hours)
    if len(sent_hours) == 1 and len(page_hours) == 1 and hours_back in (0, 1):
        peak = points[-1 - hours_back]
        b.check(peak.endswith(",1.0"), f"the events' hour is the peak: {peak} (points {points})")

    # paging keeps the filters and the sort
    b.get(base + "?sort=events&environment=staging&limit=1")
    first = listed_ids(b)
    nxt = b.find("#next-page")
    q = parse_qs(urlsplit(nxt.get_attribute("href")).query)
    b.check(q.get("sort") == ["events"] and q.get("environment") == ["staging"] and q.get("cursor"),
            f"the next-page link keeps the filters: {nxt.get_attribute('href')}")
    b.click_and_wait(nxt)
    second = listed_ids(b)
    b.check(len(first) == 1 and len(second) == 1 and sorted(first + second) == sorted([ib, ic]),
            f"two pages of one staging issue each: {first} {second}")


# --------------------------------------------------------------------------
# bulk actions
# --------------------------------------------------------------------------


@pytest.mark.timeout_s(240)
def test_bulk_resolve_and_ignore(server, sentry, browser):
    project = server.create_project("Bulk Shop")
    other = server.create_project("Other Shop")
    sentry.init(project, release="b@1.0", environment="production")
    events = [capture_call(average_basket, []), capture_call(fetch_inventory, "SKU-1"),
              capture_call(render_invoice, 1, [("mug", 1, 1.0)])]
    sentry.flush()
    ids = [server.api.issue_for_event(project.id, e)["id"] for e in events]
    sentry.init(other, release="b@1.0", environment="production")
    foreign_event = capture_call(average_basket, [])
    sentry.flush()
    foreign = server.api.issue_for_event(other.id, foreign_event)["id"]
    ia, ib, ic = ids

    b = login_admin(server, browser)
    start = f"/projects/{project.id}/issues?environment=production&sort=events"
    b.get(start)
    checkbox(b, ia).click()
    checkbox(b, ib).click()
    b.click_and_wait(b.find("#bulk-resolve"))
    b.check(b.path == f"/projects/{project.id}/issues", f"back on the list: {b.current_url}")
    b.check(b.query.get("environment") == ["production"] and b.query.get("sort") == ["events"],
            f"the filters are kept: {b.current_url}")
    b.check(listed_ids(b) == [ic], f"the resolved issues left the unresolved list: {issue_rows(b)}")
    assert {server.api.issue(i)["status"] for i in (ia, ib)} == {"resolved"}

    b.get(f"/projects/{project.id}/issues?status=resolved")
    b.check(sorted(listed_ids(b)) == sorted([ia, ib]), f"both listed as resolved: {issue_rows(b)}")

    b.get(f"/projects/{project.id}/issues")
    checkbox(b, ic).click()
    b.click_and_wait(b.find("#bulk-ignore"))
    b.check(listed_ids(b) == [], f"nothing unresolved left: {issue_rows(b)}")
    assert server.api.issue(ic)["status"] == "ignored"

    # no CSRF token: refused, nothing changes
    cookie = b.cookie_header()
    r = post_form(server.base_url, f"/projects/{project.id}/issues/bulk",
                  {"ids": str(ic), "set_status": "unresolved"}, cookie)
    assert r.status == 403, r
    assert server.api.issue(ic)["status"] == "ignored"
    # an issue of another project: refused, nothing changes (not even the valid one)
    page = session_get(server.base_url, f"/projects/{project.id}/issues?status=all", b)
    _, fields = parse_form(page.text, "logout")
    body = f"csrf_token={fields['csrf_token']}&set_status=unresolved&ids={ic}&ids={foreign}"
    r = raw_request(server.base_url, "POST", f"/projects/{project.id}/issues/bulk", body.encode(),
                    {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie})
    assert r.status == 404, r
    assert server.api.issue(ic)["status"] == "ignored" and server.api.issue(foreign)["status"] == "unresolved"

    # a viewer sees no checkboxes and may not post
    create_user(server, "viewer@example.com", "viewer password 123")
    add_member(server, project.id, "viewer@example.com", "viewer")
    resp, jar = http_login(server.base_url, "viewer@example.com", "viewer password 123")
    assert resp.status in (302, 303), resp
    vcookie = "; ".join(f"{k}={v}" for k, v in jar.items())
    page = raw_request(server.base_url, "GET", f"/projects/{project.id}/issues?status=all", headers={"Cookie": vcookie})
    assert page.status == 200 and f'href="/issues/{ia}"' in page.text, page
    assert 'name="ids"' not in page.text and "bulk-resolve" not in page.text, "a viewer is offered the bulk action"
    _, vfields = parse_form(page.text, "logout")
    r = post_form(server.base_url, f"/projects/{project.id}/issues/bulk",
                  {"ids": str(ic), "set_status": "unresolved", "csrf_token": vfields["csrf_token"]}, vcookie)
    assert r.status == 403, r
    assert server.api.issue(ic)["status"] == "ignored"

    # the JSON API
    path = f"/api/v1/projects/{project.id}/issues/bulk"
    s, body = server.api.post(path, {"ids": [ia, ic], "status": "unresolved"})
    assert s == 200 and [(i["id"], i["status"]) for i in body["items"]] == [(ia, "unresolved"), (ic, "unresolved")], body
    s, body = server.api.post(path, {"ids": [ib, foreign], "status": "ignored"})
    assert s == 404, body
    assert server.api.issue(ib)["status"] == "resolved", "all or none"
    s, body = server.api.post(path, {"ids": [ib], "status": "gone"})
    assert s == 400 and "unknown status" in body["detail"], body
    ro = Api(server.base_url, server.cli("token", "create", "--name", "ro", "--scope", "read", "--json")["token"])
    s, body = ro.post(path, {"ids": [ib], "status": "ignored"})
    assert s == 403, body
    assert server.api.issue(ib)["status"] == "resolved"


# --------------------------------------------------------------------------
# attachments
# --------------------------------------------------------------------------

ATTACHMENT = b"order 1042\nmug x2\n"


@pytest.mark.timeout_s(180)
def test_attachments_listed_and_downloadable(server, sentry, browser):
    project = server.create_project("Attach Shop")
    other = server.create_project("Attach Other")
    sentry.init(project, release="a@1.0", environment="production")
    with sentry_sdk.new_scope() as scope:
        scope.add_attachment(bytes=ATTACHMENT, filename="<b>order</b>.txt", content_type="text/plain")
        event_id = capture_call(render_invoice, 1042, [("mug", 2, 9.5)])
    sentry.flush()
    issue = server.api.issue_for_event(project.id, event_id)
    sentry.init(other, release="a@1.0", environment="production")
    other_event = capture_call(average_basket, [])
    sentry.flush()
    other_issue = server.api.issue_for_event(other.id, other_event)

    b = login_admin(server, browser)
    b.get(f"/issues/{issue['id']}")
    rows = b.find_all("#attachments tr.attachment")
    b.check(len(rows) == 1, f"one attachment listed, got {len(rows)}")
    link = b.find_all("a.attachment-link", within=rows[0])[0]
    b.check(link.text == "<b>order</b>.txt", f"the file name is shown as text: {link.text!r}")
    b.check(not b.exists("#attachments b"), "the file name became markup")
    b.check(b.find_all(".attachment-size", within=rows[0])[0].text == f"{len(ATTACHMENT)} B", "size")
    b.check("text/plain" in rows[0].text, "content type")

    href = urlsplit(link.get_attribute("href")).path
    m = re.fullmatch(rf"/issues/{issue['id']}/events/([0-9a-f]{{32}})/attachments/(\d+)", href)
    b.check(m, f"download link {href}")
    r = session_get(server.base_url, href, b)
    assert r.status == 200 and r.body == ATTACHMENT, r
    assert r.header("content-type") == "application/octet-stream", r.headers
    assert (r.header("content-disposition") or "").startswith("attachment;"), r.headers
    assert "<" not in (r.header("content-disposition") or ""), "the file name is sanitised"

    # not through another project's issue, not with another event id, not without a session
    eid, aid = m.groups()
    for bad in (f"/issues/{other_issue['id']}/events/{eid}/attachments/{aid}",
                f"/issues/{issue['id']}/events/{'0' * 32}/attachments/{aid}",
                f"/issues/{issue['id']}/events/{eid}/attachments/{int(aid) + 1000}"):
        r = session_get(server.base_url, bad, b)
        assert r.status == 404, (bad, r)
    r = raw_request(server.base_url, "GET", href)
    assert r.status in (302, 303) and "/login" in (r.header("location") or ""), r


# --------------------------------------------------------------------------
# 360 px
# --------------------------------------------------------------------------


@pytest.mark.timeout_s(180)
def test_pages_fit_360px(server, sentry, browser):
    project = server.create_project("A project with a rather long name for a phone screen")
    sentry.init(project, release="mobile-app@2024.11.23-build.4711+sha.0123456789abcdef", environment="production")
    scope = sentry_sdk.get_current_scope()
    scope.add_attachment(bytes=b"x" * 3000, filename="a-very-long-attachment-file-name-for-small-screens.log")
    event_id = capture_call(render_invoice, 1042, [("mug", 2, 9.5)])
    for _ in range(2):
        capture_call(average_basket, [])
    healthy_session()
    sentry.flush()
    api_deploy(server, "mobile-app@2024.11.23-build.4711+sha.0123456789abcdef", "production")
    issue = server.api.issue_for_event(project.id, event_id)

    b = login_admin(server, browser)
    b.set_viewport(*MOBILE, mobile=True)
    for path, must in ((f"/projects/{project.id}", "#top-issues tr.top-issue"),
                       (f"/projects/{project.id}/releases", "table#releases tr.release .deploy-env"),
                       (f"/projects/{project.id}/issues", "table#issues svg.spark"),
                       (f"/issues/{issue['id']}", "#attachments a.attachment-link")):
        b.get(path)
        b.find(must)
        overflow = b.horizontal_overflow()
        b.check(overflow == 0, f"{path} scrolls sideways by {overflow}px at {MOBILE[0]}px wide")
    assert not b.csp_violations(), b.csp_violations()
