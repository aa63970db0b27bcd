"""The server-rendered web UI in a real headless Chromium (Selenium).

Each test starts its own ``lookout serve`` (conftest's ``server``), drives
the UI the way a person would (forms, links, buttons) and sends errors with
the real ``sentry-sdk`` in this process (conftest's ``sentry``), so what the
browser shows went through real ingest, grouping and storage.

- ``test_browser_starts``: the harness itself (Chromium + chromedriver).
- ``test_first_run_journey``: setup -> project -> DSN -> SDK error -> issue
  list -> stack trace and locals -> resolve -> regression.
- ``test_event_data_is_escaped``: script/markup payloads in every field the
  SDK sends never run and never become elements, and are shown as text.
- ``test_login_logout_csrf_and_headers``: login errors, redirects to login,
  ``next`` (and open-redirect attempts), logout, CSRF, cookie flags and
  security headers.
- ``test_screenshots_and_mobile_layout``: no sideways scrolling at 360 px;
  with ``LOOKOUT_SCREENSHOTS=1`` also writes docs/screenshots/*.png (or
  into ``LOOKOUT_SCREENSHOTS_DIR``).

The UI contract these tests hold the server to is summed up in each test.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Optional
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import pytest
import sentry_sdk

from browser import DESKTOP, MOBILE, Browser, browser, png_size, wait_until  # noqa: F401 - `browser` is a fixture
from conftest import CLI_TIMEOUT, HTTP_TIMEOUT, REPO, Dsn, LookoutServer, Project

SCREENSHOTS_DIR = Path(os.environ.get("LOOKOUT_SCREENSHOTS_DIR") or REPO / "docs" / "screenshots")
ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "correct horse battery staple"

# --------------------------------------------------------------------------
# code under "monitoring" (module level, so grouping depends only on it)
# --------------------------------------------------------------------------


def capture_call(fn, *args):
    """Call ``fn``; capture the exception it raises; return the event id."""
    try:
        fn(*args)
    except Exception as exc:  # noqa: BLE001
        return sentry_sdk.capture_exception(exc)
    raise AssertionError(f"{fn.__name__} did not raise")


def apply_discount(cart_total, discount_code):
    discount_percent = 150
    if discount_percent > 100:
        raise ValueError("discount %s exceeds cart total %d" % (discount_code, cart_total))
    return cart_total * (100 - discount_percent) // 100


# --------------------------------------------------------------------------
# raw HTTP with every Set-Cookie kept (conftest's Response keeps one per name)
# --------------------------------------------------------------------------


@dataclass
class Raw:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> Optional[str]:
        vals = [v for k, v in self.headers if k.lower() == name.lower()]
        return vals[-1] if vals else None

    def set_cookies(self) -> list[str]:
        return [v for k, v in self.headers if k.lower() == "set-cookie"]

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def __repr__(self) -> str:
        return f"<HTTP {self.status} location={self.header('location')!r} {self.text[:300]!r}>"


def raw_request(base_url: str, method: str, path: str, body: Optional[bytes] = None,
                headers: Optional[dict] = None) -> Raw:
    u = urlsplit(base_url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=HTTP_TIMEOUT)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return Raw(r.status, r.getheaders(), r.read())
    finally:
        conn.close()


def cookie_jar_update(jar: dict, resp: Raw) -> dict:
    for sc in resp.set_cookies():
        name, _, value = sc.split(";", 1)[0].partition("=")
        jar[name.strip()] = value.strip()
    return jar


def cookie_header(jar: dict) -> str:
    return "; ".join(f"{k}={v}" for k, v in jar.items() if v)


def post_form(base_url: str, action: str, fields: dict, cookie: str = "") -> Raw:
    """POST a urlencoded form the way a browser would (Origin included)."""
    u = urlsplit(urljoin(base_url + "/", action))
    path = u.path + (f"?{u.query}" if u.query else "")
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Origin": base_url}
    if cookie:
        headers["Cookie"] = cookie
    return raw_request(base_url, "POST", path, urlencode(fields).encode(), headers)


class _FormParser(HTMLParser):
    """``action`` and ``{name: value}`` of the inputs of one ``<form id=...>``."""

    def __init__(self, form_id: str):
        super().__init__()
        self.form_id = form_id
        self.inside = False
        self.found = False
        self.action: Optional[str] = None
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and a.get("id") == self.form_id:
            self.inside = self.found = True
            self.action = a.get("action")
        elif self.inside and tag in ("input", "button", "textarea", "select") and a.get("name"):
            if tag == "input" and a.get("type", "text").lower() in ("submit", "button", "image", "reset"):
                return
            if tag == "button":
                return
            self.fields[a["name"]] = a.get("value") or ""

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False


def parse_form(html: str, form_id: str) -> tuple[str, dict]:
    p = _FormParser(form_id)
    p.feed(html)
    assert p.found, f"no <form id={form_id}> in the page:\n{html[:1500]}"
    return p.action or "", p.fields


def http_login(base_url: str, email: str, password: str, *, next_: Optional[str] = None,
               drop: tuple[str, ...] = (), override: Optional[dict] = None) -> tuple[Raw, dict]:
    """Log in without a browser: GET /login, fill ``form#login``, POST it.

    ``drop`` removes fields (e.g. the CSRF token), ``override`` replaces them.
    Returns the POST's answer and the cookie jar."""
    path = "/login" + (f"?{urlencode({'next': next_})}" if next_ is not None else "")
    page = raw_request(base_url, "GET", path)
    assert page.status == 200, f"GET {path}: {page}"
    jar = cookie_jar_update({}, page)
    action, fields = parse_form(page.text, "login")
    fields.update(email=email, password=password)
    fields.update(override or {})
    for name in drop:
        fields.pop(name, None)
    resp = post_form(base_url, action or path, fields, cookie_header(jar))
    return resp, cookie_jar_update(jar, resp)


def is_local_redirect(location: Optional[str], base_url: str) -> bool:
    """A path on this server (not ``//host``, ``/\\host`` or another origin)."""
    if not location:
        return False
    if location.startswith("/"):
        return not location.startswith(("//", "/\\"))
    a, b = urlsplit(base_url), urlsplit(location)
    return (a.scheme, a.netloc) == (b.scheme, b.netloc)


def location_path(resp: Raw) -> str:
    return urlsplit(resp.header("location") or "").path


# --------------------------------------------------------------------------
# security headers
# --------------------------------------------------------------------------


def csp_directives(csp: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for part in csp.split(";"):
        words = part.split()
        if words:
            out.setdefault(words[0].lower(), [w.lower() for w in words[1:]])
    return out


def assert_security_headers(resp: Raw, what: str) -> None:
    csp = resp.header("content-security-policy")
    assert csp, f"{what}: no Content-Security-Policy header ({resp.headers})"
    d = csp_directives(csp)
    script_src = d.get("script-src", d.get("default-src"))
    assert script_src is not None, f"{what}: CSP {csp!r} restricts no scripts (no script-src or default-src)"
    assert "'unsafe-inline'" not in script_src, f"{what}: CSP {csp!r} allows inline scripts"
    assert "*" not in script_src and "data:" not in script_src, f"{what}: CSP {csp!r} allows scripts from anywhere"
    assert (resp.header("x-frame-options") or "").strip().upper() == "DENY", f"{what}: X-Frame-Options {resp.header('x-frame-options')!r}"
    assert (resp.header("x-content-type-options") or "").strip().lower() == "nosniff", (
        f"{what}: X-Content-Type-Options {resp.header('x-content-type-options')!r}"
    )
    rp = (resp.header("referrer-policy") or "").strip().lower()
    assert rp and rp not in ("unsafe-url", "no-referrer-when-downgrade"), f"{what}: Referrer-Policy {rp!r}"


# --------------------------------------------------------------------------
# UI helpers
# --------------------------------------------------------------------------


def create_user(server: LookoutServer, email: str, password: str, *, admin: bool = False) -> None:
    """``lookout user create --email E --password-stdin [--admin]``."""
    cmd = [str(server.binary), "user", "create", "--email", email, "--password-stdin",
           "--data-dir", str(server.data_dir)] + (["--admin"] if admin else [])
    p = subprocess.run(cmd, input=(password + "\n").encode(), env=server.env, cwd=server.workdir,
                       capture_output=True, timeout=CLI_TIMEOUT)
    assert p.returncode == 0, f"{' '.join(cmd)} exited {p.returncode}\n{p.stdout.decode()}\n{p.stderr.decode()}"


def ui_login(b: Browser, email: str, password: str, next_: Optional[str] = None) -> None:
    b.get("/login" + (f"?{urlencode({'next': next_})}" if next_ else ""))
    b.fill("form#login", email=email, password=password)
    b.submit("form#login")
    b.check(b.path != "/login" and not b.exists(".error"), f"logging in as {email} failed")


def first_int(text: str) -> Optional[int]:
    m = re.search(r"\d[\d,\u202f\u00a0 ]*", text)
    return int(re.sub(r"\D", "", m.group(0))) if m else None


@dataclass
class IssueRow:
    id: Optional[int]
    title: str
    count: Optional[int]
    status: str


def issue_rows(b: Browser) -> list[IssueRow]:
    rows = []
    for tr in b.find_all("table#issues tr.issue-row"):
        links = b.find_all("a.issue-link", within=tr)
        b.check(links, "an issue row without a.issue-link")
        m = re.fullmatch(r"/issues/(\d+)", urlsplit(links[0].get_attribute("href") or "").path)
        count = b.find_all(".issue-count", within=tr)
        status = b.find_all(".issue-status", within=tr)
        rows.append(IssueRow(
            id=int(m.group(1)) if m else None,
            title=" ".join(links[0].text.split()),
            count=first_int(count[0].text) if count else None,
            status=" ".join(status[0].text.split()).lower() if status else "",
        ))
    return rows


def row_for(b: Browser, issue_id: int) -> Optional[IssueRow]:
    return next((r for r in issue_rows(b) if r.id == issue_id), None)


def status_text(b: Browser) -> str:
    return b.text("#issue-status").lower()


_TAGS_JS = r"""
const root = document.querySelector('#tags');
if (!root) return null;
const norm = (el) => el.textContent.replace(/\s+/g, ' ').trim();
const out = [];
for (const v of root.querySelectorAll('.tag-value')) {
  let a = v.parentElement, key = null;
  while (a && a !== root.parentElement) {
    const k = a.querySelector('.tag-key');
    if (k) { key = norm(k); break; }
    a = a.parentElement;
  }
  out.push([key, norm(v)]);
}
return out;
"""


def tags_shown(b: Browser) -> dict[str, list[str]]:
    """``{key: [values]}`` from ``#tags``: each ``.tag-value`` belongs to the
    nearest ``.tag-key`` around it (a ``.tag`` holding both, or a group
    with one key over several ``.tag`` values)."""
    pairs = b.js(_TAGS_JS)
    b.check(pairs is not None, "no #tags on the page")
    out: dict[str, list[str]] = {}
    for k, v in pairs:
        out.setdefault(k, []).append(v)
    return out


_VARS_JS = r"""
const norm = (el) => el ? el.textContent.replace(/\s+/g, ' ').trim() : null;
const out = {};
for (const tr of arguments[0].querySelectorAll('table.vars tr')) {
  const n = tr.querySelector('td.var-name');
  if (n) out[norm(n)] = norm(tr.querySelector('td.var-value'));
}
return out;
"""


def vars_shown(b: Browser, within) -> dict[str, Optional[str]]:
    """``{name: value}`` from the ``table.vars`` rows inside ``within``
    (an element, or a CSS selector)."""
    el = b.find(within) if isinstance(within, str) else within
    return b.js(_VARS_JS, el) or {}


def read_dsn(b: Browser, project_id: int) -> str:
    """The DSN shown in ``#dsn``: on the page the project form led to, else
    on ``/projects/{id}``."""
    if not b.exists("#dsn"):
        b.get(f"/projects/{project_id}")
    el = b.find("#dsn")
    value = b.text_content(el) or (el.get_attribute("value") or "").strip()
    b.check(value, "#dsn is empty")
    return value


def project_for(dsn: str, name: str) -> Project:
    return Project(id=int(Dsn.parse(dsn).project_id), slug="", name=name, dsn=dsn)


def session_get(base_url: str, path: str, b: Browser) -> Raw:
    return raw_request(base_url, "GET", path, headers={"Cookie": b.cookie_header()})


# --------------------------------------------------------------------------
# 0. the harness itself
# --------------------------------------------------------------------------


@pytest.mark.timeout_s(60)
def test_browser_starts(browser):
    browser.get("data:text/html,<p id=x>ok</p>")
    assert browser.text("#x") == "ok"
    browser.set_viewport(*MOBILE, mobile=True)
    assert png_size(browser.screenshot_png()) == MOBILE
    browser.set_viewport(*DESKTOP)
    assert png_size(browser.screenshot_png()) == DESKTOP


# --------------------------------------------------------------------------
# 1. the first-run journey
# --------------------------------------------------------------------------


@pytest.mark.timeout_s(180)
def test_first_run_journey(server, sentry, browser):
    """Setup -> project -> DSN -> a real SDK error -> issue list -> issue page
    (in-app frame, locals, context, breadcrumbs, tags, user, raw JSON) ->
    resolve -> gone from the default list, found with the status filter ->
    same error again -> unresolved regression."""
    b = browser.use(server.base_url)

    # first run: no user yet, so / leads to /setup
    b.get("/")
    b.wait_for_path("/setup")
    csrf = b.find('form#setup input[name="csrf_token"]')
    assert csrf.get_attribute("type") == "hidden" and csrf.get_attribute("value"), "setup form: no hidden csrf_token"
    b.fill("form#setup", email=ADMIN_EMAIL, password=ADMIN_PASSWORD, password_confirm=ADMIN_PASSWORD)
    b.submit("form#setup")
    b.wait_for_path("/projects")
    b.find("form#logout")  # logged in

    # a project, made in the UI
    b.fill("form#new-project", name="Checkout Service")
    b.submit("form#new-project")
    project_id = int(b.wait_for_path(r"/projects/(\d+)$").group(1))  # its overview
    empty = b.find(".empty-state", visible=True)
    b.check(empty.text.strip(), ".empty-state has no text")
    dsn = read_dsn(b, project_id)
    parsed = Dsn.parse(dsn)
    assert parsed.project_id == str(project_id), f"DSN {dsn} is not for project {project_id}"
    assert parsed.base_url == server.base_url, f"DSN {dsn} does not use the server's public URL {server.base_url}"
    b.get("/projects")
    link = [a for a in b.find_all("a.project-link") if " ".join(a.text.split()) == "Checkout Service"]
    b.check(link, "a.project-link 'Checkout Service' not on /projects")
    assert urlsplit(link[0].get_attribute("href")).path == f"/projects/{project_id}"

    # the real SDK, pointed at the DSN the page showed
    sentry.init(project_for(dsn, "Checkout Service"))
    sentry_sdk.add_breadcrumb(category="cart", message="added 3 items to cart", level="info")
    sentry_sdk.set_tag("flow", "checkout")
    sentry_sdk.set_user({"id": "u-77", "email": "buyer@example.com"})
    event_id = capture_call(apply_discount, 80, "SPRING-SALE")
    sentry.flush()
    issue_id = server.api.issue_for_event(project_id, event_id)["id"]

    # the issue list
    b.get(f"/projects/{project_id}/issues")

    def listed():
        row = row_for(b.reload(), issue_id)
        assert row, f"issue {issue_id} not listed: {issue_rows(b)}"
        return row

    row = wait_until(listed)
    assert "ValueError" in row.title, row
    assert row.count == 1, row
    assert row.status == "unresolved", row
    b.click_and_wait(b.find(f'table#issues a.issue-link[href$="/issues/{issue_id}"]'))
    b.wait_for_path(f"/issues/{issue_id}")

    # the issue page
    assert "ValueError" in b.text("h1#issue-title")
    assert "exceeds cart total 80" in b.text("h1#issue-title") + " " + b.text_content("#exception")
    assert "apply_discount" in b.text_content("#issue-culprit")
    assert status_text(b) == "unresolved"
    assert first_int(b.text("#issue-count")) == 1
    assert not b.exists("#regression-badge"), "a new issue is marked as a regression"
    frames = b.find_all("#exception .frame")
    in_app = b.find_all("#exception .frame.in-app")
    b.check(frames and in_app, "no .frame.in-app in #exception")
    raising = [f for f in in_app
               if any("apply_discount" in b.text_content(fn) for fn in b.find_all(".frame-function", within=f))]
    b.check(raising, "no in-app frame whose .frame-function is apply_discount")
    frame = raising[0]
    where = b.find_all(".frame-module, .frame-filename", within=frame)
    b.check(where and "test_ui_browser" in b.text_content(where[0]), "the frame shows neither module nor filename")
    current = b.find_all(".context-line.current", within=frame)
    b.check(current and "raise ValueError" in b.text_content(current[0]), "no .context-line.current with the raise")
    b.check(len(b.find_all(".context-line", within=frame)) > 1, "only one context line around the error")
    names = vars_shown(b, frame)
    b.check({"discount_percent", "discount_code"} <= set(names), f"local variables not shown; vars: {names}")
    assert "150" in (names["discount_percent"] or ""), names
    assert "SPRING-SALE" in (names["discount_code"] or ""), names
    crumbs = [b.text_content(c) for c in b.find_all("#breadcrumbs .breadcrumb")]
    assert any("added 3 items to cart" in c for c in crumbs), crumbs
    assert "buyer@example.com" in b.text_content("#event-user")
    tags = tags_shown(b)
    assert "checkout" in tags.get("flow", []), tags

    # raw JSON: the stored event, as JSON, for this session only
    raw_href = b.find("a#raw-json").get_attribute("href")
    assert b.same_origin(raw_href), raw_href
    u = urlsplit(raw_href)
    raw = session_get(server.base_url, u.path + (f"?{u.query}" if u.query else ""), b)
    assert raw.status == 200, raw
    assert (raw.header("content-type") or "").startswith("application/json"), raw.headers
    assert json.loads(raw.body).get("event_id", "").replace("-", "") == event_id
    anon = raw_request(server.base_url, "GET", u.path + (f"?{u.query}" if u.query else ""))
    assert anon.status in (303, 401, 403), f"raw JSON without a session: {anon}"
    assert_security_headers(session_get(server.base_url, f"/issues/{issue_id}", b), f"GET /issues/{issue_id}")

    # resolve
    b.submit("form#issue-actions", 'button[name="status"][value="resolved"]')
    b.wait_for_path(f"/issues/{issue_id}")
    assert status_text(b) == "resolved"
    b.get(f"/projects/{project_id}/issues")
    b.check(row_for(b, issue_id) is None, "a resolved issue is still in the default (unresolved) list")
    b.fill("form#issue-filters", status="resolved")
    b.submit("form#issue-filters", require_button=False)
    row = row_for(b, issue_id)
    b.check(row is not None, "the resolved issue is not listed with status=resolved")
    b.fill("form#issue-filters", status="all", query="nosuchwordanywhere")
    b.submit("form#issue-filters", require_button=False)
    b.check(row_for(b, issue_id) is None, "query=nosuchwordanywhere still lists the issue")
    b.fill("form#issue-filters", status="all", query="exceeds")
    b.submit("form#issue-filters", require_button=False)
    b.check(row_for(b, issue_id) is not None, "query=exceeds does not find the issue")

    # the same error again: a regression
    event2 = capture_call(apply_discount, 80, "SPRING-SALE")
    sentry.flush()
    assert server.api.issue_for_event(project_id, event2)["id"] == issue_id, "the repeat was grouped elsewhere"
    b.get(f"/issues/{issue_id}")
    assert status_text(b) == "unresolved"
    b.find("#regression-badge", visible=True)
    assert first_int(b.text("#issue-count")) == 2
    b.get(f"/projects/{project_id}/issues")
    row = row_for(b, issue_id)
    b.check(row is not None and row.count == 2, f"the regressed issue is not back in the default list with 2 events: {row}")

    # the UI's own pages obey its CSP (nothing of its own was blocked)
    assert not b.csp_violations(), b.csp_violations()


# --------------------------------------------------------------------------
# 2. XSS: hostile event data is shown as text and never runs
# --------------------------------------------------------------------------

P_SCRIPT = "<script>window.__xss=1</script>"
P_ATTR = '"><img src=x onerror="window.__xss=1">'
P_SVG = "<svg onload=window.__xss=1>"
P_JS_URL = "javascript:window.__xss=1"
P_TEMPLATE = "{{7*7}}"
P_TYPE = "<img src=x onerror=window.__xss=1>"
P_MESSAGE = f"</title></textarea>{P_SCRIPT} {P_TEMPLATE}"
P_CRUMB = f"{P_SCRIPT} crumb"
P_PROJECT = "Shop <img src=x onerror=window.__xss=1>"

XssError = type(P_TYPE, (Exception,), {})


def raise_hostile(kind):
    attr_payload = P_ATTR  # noqa: F841 - locals the SDK reports
    svg_payload = P_SVG  # noqa: F841
    template_payload = P_TEMPLATE  # noqa: F841
    raise XssError(P_MESSAGE)


INJECTION_PROBE = r"""
const out = [];
if (typeof window.__xss !== 'undefined') out.push('window.__xss = ' + String(window.__xss));
for (const s of document.scripts)
  if (!s.src && s.textContent.includes('__xss')) out.push('inline script: ' + s.outerHTML.slice(0, 200));
const sel = 'img[src="x"], svg[onload], [onerror], [onload], [onclick], [onmouseover], [onfocus]';
for (const el of document.querySelectorAll(sel)) out.push('element: ' + el.outerHTML.slice(0, 200));
for (const el of document.querySelectorAll('a[href], area[href]'))
  if (/^\s*javascript:/i.test(el.getAttribute('href')) || el.protocol === 'javascript:')
    out.push('javascript: link: ' + el.outerHTML.slice(0, 200));
for (const el of document.querySelectorAll('form[action]'))
  if (/^\s*javascript:/i.test(el.getAttribute('action'))) out.push('javascript: form: ' + el.outerHTML.slice(0, 200));
return out;
"""


def shows(text: str, payload: str) -> bool:
    """The payload is in ``text`` verbatim (or JSON-escaped, as a value
    shown in JSON form would be): escaped for HTML, not dropped or mangled."""
    return payload in text or json.dumps(payload)[1:-1] in text


def assert_not_injected(b: Browser, where: str) -> None:
    b.wait_loaded()
    found = b.js(INJECTION_PROBE)
    b.check(not found, f"{where}: payload turned into markup or ran:\n  " + "\n  ".join(found or []))


@pytest.mark.timeout_s(180)
def test_event_data_is_escaped(server, sentry, browser):
    """Payloads in the exception type and message, a local variable, tags,
    a breadcrumb, the user, the request URL, extra data, the transaction and
    the project's name: on /projects, the issue list and the issue page no
    script runs, no element is injected, no ``javascript:`` link appears,
    and the payload text is shown (escaped, not dropped)."""
    create_user(server, ADMIN_EMAIL, ADMIN_PASSWORD, admin=True)
    project = server.create_project(P_PROJECT)

    sentry.init(project)
    sentry_sdk.set_tag("xss", P_SVG)
    sentry_sdk.set_tag("link", P_JS_URL)
    sentry_sdk.set_user({"id": "u-1", "username": P_ATTR, "email": "evil" + P_SVG + "@example.com"})
    sentry_sdk.add_breadcrumb(category="ui.click", message=P_CRUMB, data={"url": P_JS_URL, "html": P_ATTR})
    sentry_sdk.set_extra("html", P_SCRIPT)
    sentry_sdk.set_context("hostile", {"markup": P_ATTR, "url": P_JS_URL})
    sentry_sdk.get_isolation_scope().set_transaction_name(P_SVG)

    def hostile_request(event, hint):
        event["request"] = {
            "url": P_JS_URL,
            "method": "GET",
            "query_string": "q=" + P_SCRIPT,
            "headers": {"Referer": P_JS_URL, "User-Agent": P_ATTR},
        }
        return event

    sentry_sdk.get_current_scope().add_event_processor(hostile_request)
    event_id = capture_call(raise_hostile, "x")
    sentry.flush()
    issue_id = server.api.issue_for_event(project.id, event_id)["id"]

    b = browser.use(server.base_url)
    ui_login(b, ADMIN_EMAIL, ADMIN_PASSWORD)

    b.get("/projects")
    assert_not_injected(b, "/projects")
    b.check(any(shows(b.text_content(a), P_PROJECT) for a in b.find_all("a.project-link")),
            "the project's name is not shown as text on /projects")

    b.get(f"/projects/{project.id}/issues")
    assert_not_injected(b, "issue list")
    row = row_for(b, issue_id)
    b.check(row is not None, f"issue {issue_id} not listed")
    assert shows(row.title, P_TYPE), f"exception type not shown as text in the list: {row.title!r}"
    assert shows(b.body_text(), P_SCRIPT), "the message is not shown as text in the list"

    b.get(f"/issues/{issue_id}")
    assert_not_injected(b, "issue page")
    title = b.text("h1#issue-title")
    assert shows(title, P_TYPE), title
    exception = b.text_content("#exception")
    for p in (P_TYPE, P_MESSAGE, P_ATTR, P_SVG, P_TEMPLATE):
        assert shows(exception + " " + title, p), f"{p!r} not shown as text in #exception / the title"
    names = vars_shown(b, "#exception")
    assert shows(names.get("attr_payload") or "", P_ATTR), f"attr_payload's value not shown as text: {names}"
    assert shows(names.get("svg_payload") or "", P_SVG), f"svg_payload's value not shown as text: {names}"
    tags = tags_shown(b)
    assert any(shows(v, P_SVG) for v in tags.get("xss", [])), tags
    assert any(shows(v, P_JS_URL) for v in tags.get("link", [])), tags
    assert shows(b.text_content("#breadcrumbs"), P_CRUMB), "breadcrumb message not shown as text"
    user = b.text_content("#event-user")
    assert shows(user, P_ATTR) and shows(user, "evil" + P_SVG + "@example.com"), f"user fields not shown as text: {user!r}"

    # the status form round trip re-renders the page with the same data
    b.submit("form#issue-actions", 'button[name="status"][value="ignored"]')
    b.wait_for_path(f"/issues/{issue_id}")
    assert_not_injected(b, "issue page after a status change")

    # raw JSON is served as JSON (never sniffed or rendered as HTML)
    u = urlsplit(b.find("a#raw-json").get_attribute("href"))
    raw = session_get(server.base_url, u.path + (f"?{u.query}" if u.query else ""), b)
    assert raw.status == 200, raw
    assert (raw.header("content-type") or "").startswith("application/json"), raw.headers
    assert (raw.header("x-content-type-options") or "").lower() == "nosniff", raw.headers
    assert P_TYPE in json.dumps(json.loads(raw.body)), "the raw JSON lost the exception type"

    assert b.js("return typeof window.__xss") == "undefined"


# --------------------------------------------------------------------------
# 3. login, logout, CSRF, cookies, headers
# --------------------------------------------------------------------------

MEMBER_EMAIL = "member@example.com"
MEMBER_PASSWORD = "another long passphrase"
OFFSITE = ["//127.0.0.2:1/evil", "https://127.0.0.2:1/evil", "/\\127.0.0.2:1/evil", "javascript:alert(1)"]


@pytest.mark.timeout_s(180)
def test_login_logout_csrf_and_headers(server, browser):
    base = server.base_url
    create_user(server, ADMIN_EMAIL, ADMIN_PASSWORD, admin=True)
    create_user(server, MEMBER_EMAIL, MEMBER_PASSWORD)

    # -- without a browser: status codes, CSRF on /login, cookie flags, headers
    login_page = raw_request(base, "GET", "/login")
    assert login_page.status == 200, login_page
    assert_security_headers(login_page, "GET /login")
    for path in ("/projects", "/issues/1", "/projects/1/issues"):
        r = raw_request(base, "GET", path)
        assert r.status == 303, f"unauthenticated GET {path}: {r}"
        loc = urlsplit(r.header("location") or "")
        assert loc.path == "/login" and parse_qs(loc.query).get("next") == [path], f"GET {path} -> {r.header('location')!r}"
    setup = raw_request(base, "GET", "/setup")
    assert setup.status in (302, 303) and location_path(setup) == "/login", f"/setup once a user exists: {setup}"

    r, _ = http_login(base, ADMIN_EMAIL, ADMIN_PASSWORD, drop=("csrf_token",))
    assert r.status == 403, f"login without csrf_token: {r}"
    r, _ = http_login(base, ADMIN_EMAIL, ADMIN_PASSWORD, override={"csrf_token": "0" * 32})
    assert r.status == 403, f"login with a forged csrf_token: {r}"
    r, _ = http_login(base, ADMIN_EMAIL, "wrong password")
    assert r.status == 401 and "Invalid email or password" in r.text, f"wrong password: {r}"
    r, _ = http_login(base, "nobody@example.com", ADMIN_PASSWORD)
    assert r.status == 401 and "Invalid email or password" in r.text, f"unknown email: {r}"
    r, jar = http_login(base, ADMIN_EMAIL, ADMIN_PASSWORD)
    assert r.status == 303 and location_path(r) == "/projects", f"login: {r}"
    session = [c for c in r.set_cookies() if c.startswith("lookout_session=")]
    assert session, f"no lookout_session cookie set at login: {r.set_cookies()}"
    attrs = [a.strip().lower() for a in session[-1].split(";")[1:]]
    assert "httponly" in attrs and "samesite=lax" in attrs, f"session cookie flags: {session[-1]!r}"
    for bad in OFFSITE:
        r, _ = http_login(base, ADMIN_EMAIL, ADMIN_PASSWORD, next_=bad)
        assert r.status == 303 and is_local_redirect(r.header("location"), base), f"next={bad!r} -> {r}"

    # -- in the browser
    b = browser.use(base)
    b.get("/projects")
    b.wait_for_path("/login")
    assert b.query.get("next") == ["/projects"], b.current_url
    b.get("/setup")
    b.wait_for_path("/login")

    b.get("/login?next=%2Fprojects")
    b.fill("form#login", email=ADMIN_EMAIL, password="not the password")
    b.submit("form#login")
    b.wait_for_path("/login")
    assert "Invalid email or password" in b.text(".error")
    assert (b.find('form#login input[name="password"]').get_attribute("value") or "") == "", "the wrong password is echoed back"
    b.fill("form#login", email=ADMIN_EMAIL, password=ADMIN_PASSWORD)
    b.submit("form#login")
    b.wait_for_path("/projects")

    cookie = b.cookie("lookout_session")
    assert cookie, f"no lookout_session cookie in the browser: {b.driver.get_cookies()}"
    assert cookie.get("httpOnly") is True and cookie.get("sameSite") == "Lax", cookie
    assert "lookout_session" not in (b.js("return document.cookie") or "")
    assert_security_headers(session_get(base, "/projects", b), "GET /projects (logged in)")

    # CSRF on a logged-in form: missing or forged token -> 403, real one works
    form = b.find("form#new-project")
    action = form.get_attribute("action")
    token = b.hidden_value("form#new-project", "csrf_token")
    assert token, "form#new-project has no csrf_token"
    before = len(b.find_all("a.project-link"))
    r = post_form(base, action, {"name": "no token"}, b.cookie_header())
    assert r.status == 403, f"POST /projects without csrf_token: {r}"
    r = post_form(base, action, {"name": "forged token", "csrf_token": "A" * len(token)}, b.cookie_header())
    assert r.status == 403, f"POST /projects with a forged csrf_token: {r}"
    other = raw_request(base, "GET", "/projects", headers={"Cookie": cookie_header(jar)})  # the http_login session
    assert other.status == 200, f"GET /projects in another session: {other}"
    other_token = parse_form(other.text, "new-project")[1].get("csrf_token")
    r = post_form(base, action, {"name": "cross-session token", "csrf_token": other_token}, b.cookie_header())
    assert r.status == 403, f"a csrf_token from another session was accepted: {r}"
    b.reload()
    assert len(b.find_all("a.project-link")) == before, "a project was created by a POST that failed CSRF"
    r = post_form(base, action, {"name": "With Token", "csrf_token": token}, b.cookie_header())
    assert r.status == 303 and re.fullmatch(r"/projects/\d+", location_path(r)), f"POST /projects with the token: {r}"

    # logout needs the token too, then really ends the session
    logout = b.find("form#logout")
    r = post_form(base, logout.get_attribute("action"), {}, b.cookie_header())
    assert r.status == 403, f"logout without csrf_token: {r}"
    b.get("/projects")
    b.wait_for_path("/projects")
    old_cookie = b.cookie_header()
    b.submit("form#logout")
    b.get("/projects")
    b.wait_for_path("/login")
    r = raw_request(base, "GET", "/projects", headers={"Cookie": old_cookie})
    assert r.status == 303 and location_path(r) == "/login", f"the old session cookie still works after logout: {r}"

    # next= that leaves the site is ignored; members get no admin form
    b.get("/login?" + urlencode({"next": OFFSITE[0]}))
    b.fill("form#login", email=MEMBER_EMAIL, password=MEMBER_PASSWORD)
    b.submit("form#login")
    assert b.same_origin(b.current_url), f"next={OFFSITE[0]!r} led off-site to {b.current_url}"
    b.get("/projects")
    b.wait_for_path("/projects")
    assert not b.exists("form#new-project"), "a non-admin sees form#new-project"
    assert not b.csp_violations(), b.csp_violations()


# --------------------------------------------------------------------------
# 4. screenshots (docs) and the mobile layout
# --------------------------------------------------------------------------


def format_price(amount, currency_table):
    symbol = currency_table["currency"]
    return f"{symbol}{amount:.2f}"


def render_invoice(invoice_id, lines):
    subtotal = sum(qty * price for _, qty, price in lines)
    table = {"locale": "en_US"}
    return format_price(subtotal, table)


def average_basket(totals):
    return sum(totals) / len(totals)


def fetch_inventory(sku):
    timeout_s = 2.5
    raise ConnectionError(f"inventory service timed out after {timeout_s}s for {sku}")


def _write_or_check(b: Browser, name: str, size: tuple[int, int]) -> None:
    png = b.screenshot_png()
    assert png_size(png) == size, f"{name}: {png_size(png)} != {size}"
    if os.environ.get("LOOKOUT_SCREENSHOTS") == "1":
        SCREENSHOTS_DIR.mkdir(parents=True, exist_ok=True)
        (SCREENSHOTS_DIR / name).write_bytes(png)


@pytest.mark.timeout_s(180)
def test_screenshots_and_mobile_layout(server, sentry, browser):
    """A realistic project; at 360 px neither the list nor the issue page
    scrolls sideways. Screenshots go to docs/screenshots/ only with
    LOOKOUT_SCREENSHOTS=1."""
    create_user(server, ADMIN_EMAIL, ADMIN_PASSWORD, admin=True)
    project = server.create_project("Storefront")
    sentry.init(project, release="storefront@2.4.1", environment="production")
    sentry_sdk.set_user({"id": "4711", "email": "jane@example.com", "username": "jane"})
    sentry_sdk.set_tag("customer_tier", "gold")
    sentry_sdk.set_tag("region", "eu-west")
    sentry_sdk.add_breadcrumb(category="navigation", message="/cart -> /checkout", level="info")
    sentry_sdk.add_breadcrumb(category="http", message="GET /api/cart 200", level="info")
    sentry_sdk.add_breadcrumb(category="query", message="SELECT * FROM invoices WHERE id = 1042", level="info")

    def with_request(event, hint):
        event["request"] = {"url": "https://shop.example.com/checkout/1042", "method": "POST"}
        return event

    sentry_sdk.get_current_scope().add_event_processor(with_request)
    lines = [("mug", 2, 9.5), ("tee", 1, 19.0)]
    key_event = capture_call(render_invoice, 1042, lines)
    for _ in range(3):
        capture_call(average_basket, [])
    capture_call(fetch_inventory, "SKU-1234")
    sentry.flush()
    issue_id = server.api.issue_for_event(project.id, key_event)["id"]

    b = browser.use(server.base_url)
    b.set_viewport(*DESKTOP)
    ui_login(b, ADMIN_EMAIL, ADMIN_PASSWORD)
    b.get(f"/projects/{project.id}/issues")
    b.check(len(issue_rows(b)) == 3, f"expected 3 issues, got {issue_rows(b)}")
    _write_or_check(b, "issues-list.png", DESKTOP)
    b.get(f"/issues/{issue_id}")
    b.find("#exception .frame")
    _write_or_check(b, "issue-detail.png", DESKTOP)
    other_pages = {
        "overview.png": f"/projects/{project.id}",
        "releases.png": f"/projects/{project.id}/releases",
        "project-settings.png": f"/projects/{project.id}/settings",
        "account.png": "/account",
        "users.png": "/admin/users",
        "backups.png": "/admin/backups",
        "alerts.png": "/alerts",
        "alert-rule.png": "/alerts/rules/new",
        "silences.png": "/alerts/silences",
        "channels.png": "/alerts/channels",
        "deliveries.png": "/alerts/deliveries",
    }
    for name, path in other_pages.items():
        b.get(path)
        b.check(b.path == path, f"{path} redirected to {b.path}")
        _write_or_check(b, name, DESKTOP)

    b.set_viewport(*MOBILE, mobile=True)
    for path in other_pages.values():
        b.get(path)
        overflow = b.horizontal_overflow()
        b.check(overflow == 0, f"{path} scrolls sideways by {overflow}px at {MOBILE[0]}px wide")
    b.get(f"/issues/{issue_id}")
    b.find("#exception .frame")
    overflow = b.horizontal_overflow()
    b.check(overflow == 0, f"the issue page scrolls sideways by {overflow}px at {MOBILE[0]}px wide")
    _write_or_check(b, "issue-detail-mobile.png", MOBILE)
    b.get(f"/projects/{project.id}/issues")
    overflow = b.horizontal_overflow()
    b.check(overflow == 0, f"the issue list scrolls sideways by {overflow}px at {MOBILE[0]}px wide")
    assert not b.csp_violations(), b.csp_violations()


@pytest.mark.timeout_s(180)
def test_newer_and_older_event_navigation(server, sentry, browser):
    """The issue page shows the latest event and steps to older and newer
    ones; each link shows a different event of the same issue."""
    create_user(server, ADMIN_EMAIL, ADMIN_PASSWORD, admin=True)
    project = server.create_project("Navigation")
    sentry.init(project, release="nav@1.0", environment="production")
    ids = [capture_call(average_basket, []) for _ in range(3)]
    sentry.flush()
    issue_id = server.api.issue_for_event(project.id, ids[-1])["id"]

    b = browser.use(server.base_url)
    ui_login(b, ADMIN_EMAIL, ADMIN_PASSWORD)
    b.get(f"/issues/{issue_id}")
    shown = [b.find("#event-id").text.strip()]
    b.check(shown[0] == ids[-1].replace("-", ""), f"latest event first: {shown[0]} vs {ids[-1]}")
    b.check(not b.find_all("#newer-event"), "no newer link on the latest")
    for _ in range(2):
        b.click_and_wait(b.find("#older-event"))
        shown.append(b.find("#event-id").text.strip())
    b.check(shown == [i.replace("-", "") for i in reversed(ids)], f"walked {shown}, sent {ids}")
    b.check(not b.find_all("#older-event"), "no older link on the oldest")
    b.click_and_wait(b.find("#newer-event"))
    b.check(b.find("#event-id").text.strip() == shown[1], "newer goes back one step")
