"""Shared fixtures and helpers for the end-to-end tests.

Every test drives the real `lookout` binary (``LOOKOUT_BIN``, default
``target/debug/lookout``) over HTTP: a fresh server in a temporary data dir,
projects and API tokens made with the admin CLI, events sent by the real
``sentry-sdk`` or by hand-built envelopes, and assertions through the JSON API.

Helpers defined here (import them with ``from conftest import ...``):

- ``LookoutServer``: start/stop a server, run admin CLI commands, create
  projects (``Project``) and API tokens, read ``/metrics``;
- ``Api``: a tiny JSON client for ``/api/v1`` (``get``/``patch``/``put``
  return ``(status, json)``; ``*_ok`` variants assert a 200);
- ``Dsn``: DSN parsing;
- envelope building (``make_event``, ``make_exception_event``,
  ``build_envelope``, ``event_envelope``) and raw ingest
  (``post_envelope``, ``http_request``);
- ``RecordingProxy``: a loopback reverse proxy between the SDK and Lookout
  that records every request and response (status codes, headers, bodies);
- ``SentryHarness`` (fixture ``sentry``): per-test ``sentry_sdk.init`` through
  the proxy, ``flush()`` that asserts every SDK request got a 2xx, and a
  teardown that closes the client and clears all scopes;
- ``eventually``: a short bounded poll for API assertions.
"""

from __future__ import annotations

import atexit
import base64
import gzip
import http.client
import json
import os
import re
import select
import signal
import socket
import subprocess
import threading
import time
import uuid
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Iterable, Optional
from urllib.parse import urlencode, urlsplit

import brotli
import pytest

REPO = Path(__file__).resolve().parents[2]
FIXTURES_DIR = REPO / "fixtures" / "sentry-python"
DEFAULT_BIN = REPO / "target" / "debug" / "lookout"

START_TIMEOUT = 30.0  # seconds for the banner to appear
STOP_TIMEOUT = 15.0  # seconds between SIGTERM and SIGKILL
CLI_TIMEOUT = 30.0
HTTP_TIMEOUT = 30.0
POLL_TIMEOUT = 5.0  # `eventually` default
DEFAULT_TEST_TIMEOUT = 300  # per-test SIGALRM watchdog, see `_watchdog`

MIB = 1024 * 1024

BANNER = re.compile(r"Lookout listening on (http://\S+)")
HEX32 = re.compile(r"^[0-9a-f]{32}$")


def lookout_bin() -> Path:
    return Path(os.environ.get("LOOKOUT_BIN") or DEFAULT_BIN)


# --------------------------------------------------------------------------
# small utilities
# --------------------------------------------------------------------------


def new_event_id() -> str:
    """A fresh event id: 32 lowercase hex characters, no dashes."""
    return uuid.uuid4().hex


def utc_now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def eventually(fn: Callable[[], Any], timeout: float = POLL_TIMEOUT, interval: float = 0.1) -> Any:
    """Call ``fn`` until it returns without raising ``AssertionError``.

    Lookout answers 200 only once an event is durably stored and grouped, so
    the first call should already pass; the poll only absorbs scheduling
    noise. After ``timeout`` the last call is made outside the try, so its
    assertion error (with its message) is what the test reports.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return fn()
        except AssertionError:
            time.sleep(interval)
    return fn()


def decode_body(body: bytes, content_encoding: Optional[str]) -> bytes:
    enc = (content_encoding or "").strip().lower()
    if enc in ("", "identity"):
        return body
    if enc == "br":
        return brotli.decompress(body)
    if enc in ("gzip", "x-gzip"):
        return gzip.decompress(body)
    if enc == "deflate":
        return zlib.decompress(body)
    raise ValueError(f"unknown Content-Encoding {content_encoding!r}")


def parse_envelope(raw: bytes) -> tuple[dict, list[tuple[dict, bytes]]]:
    """Parse an (uncompressed) envelope into (header, [(item_header, payload)])."""
    first, _, rest = raw.partition(b"\n")
    header = json.loads(first) if first.strip() else {}
    items = []
    while rest:
        line, _, rest = rest.partition(b"\n")
        if not line.strip():
            continue
        ih = json.loads(line)
        if "length" in ih and ih["length"] is not None:
            n = int(ih["length"])
            payload, rest = rest[:n], rest[n:]
            if rest.startswith(b"\n"):
                rest = rest[1:]
        else:
            payload, _, rest = rest.partition(b"\n")
        items.append((ih, payload))
    return header, items


def assert_names_limit(detail: str, limit_bytes: int) -> None:
    """Assert that an error ``detail`` names a size limit of ``limit_bytes``.

    Accepted spellings: the exact byte count, or MiB / MB / KiB forms
    ("20 MiB", "20MiB", "20 MB", "1024 KiB").
    """
    d = detail.replace(",", "").replace("_", "")
    forms = {str(limit_bytes)}
    if limit_bytes % MIB == 0:
        m = limit_bytes // MIB
        forms |= {f"{m} MiB", f"{m}MiB", f"{m} MB", f"{m}MB", f"{m} mib", f"{m}M "}
    if limit_bytes % 1024 == 0:
        k = limit_bytes // 1024
        forms |= {f"{k} KiB", f"{k}KiB", f"{k} KB", f"{k}KB"}
    assert any(f.lower() in d.lower() for f in forms), (
        f"detail {detail!r} does not name the limit of {limit_bytes} bytes (expected one of {sorted(forms)})"
    )


# --------------------------------------------------------------------------
# raw HTTP
# --------------------------------------------------------------------------


@dataclass
class Response:
    status: int
    headers: dict  # lower-case names -> value (last one wins)
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.body)

    def json_or_none(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def header(self, name: str) -> Optional[str]:
        return self.headers.get(name.lower())

    @property
    def detail(self) -> str:
        j = self.json_or_none()
        if isinstance(j, dict) and isinstance(j.get("detail"), str):
            return j["detail"]
        raise AssertionError(f"HTTP {self.status}: body is not JSON with a string `detail`: {self.text[:500]!r}")

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.text[:300]!r}>"


def _host_port(base_url: str) -> tuple[str, int]:
    u = urlsplit(base_url)
    return u.hostname or "127.0.0.1", u.port or 80


def http_request(
    base_url: str,
    method: str,
    path: str,
    body: Optional[bytes] = None,
    headers: Optional[dict] = None,
    timeout: float = HTTP_TIMEOUT,
) -> Response:
    """One HTTP/1.1 request on a fresh connection (no proxies, no retries).

    Bodies over 1 MiB go through :func:`_send_streaming`, which keeps
    reading while it sends so that an early answer (e.g. a 413 sent before
    the whole body was read) is not lost to a broken pipe.
    """
    headers = dict(headers or {})
    if body is not None and len(body) > MIB:
        return _send_streaming(base_url, method, path, body, headers, timeout)
    host, port = _host_port(base_url)
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        try:
            conn.request(method, path, body=body, headers=headers)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may have answered early; try to read it
        resp = conn.getresponse()
        data = resp.read()
        return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)
    finally:
        conn.close()


def _send_streaming(base_url, method, path, body, headers, timeout) -> Response:
    host, port = _host_port(base_url)
    sock = socket.create_connection((host, port), timeout=timeout)
    try:
        headers.setdefault("Host", f"{host}:{port}")
        headers["Content-Length"] = str(len(body))
        headers["Connection"] = "close"
        head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        data = memoryview(head.encode("latin-1") + body)
        sock.setblocking(False)
        off = 0
        deadline = time.monotonic() + timeout
        while off < len(data):
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"sending {len(body)} bytes to {path} took over {timeout}s")
            readable, writable, _ = select.select([sock], [sock], [], left)
            if readable:
                break  # the server answered (or closed) before reading everything
            if writable:
                try:
                    off += sock.send(data[off : off + 256 * 1024])
                except BlockingIOError:
                    continue
                except (BrokenPipeError, ConnectionResetError):
                    break
        sock.setblocking(True)
        sock.settimeout(timeout)
        resp = http.client.HTTPResponse(sock, method=method)
        try:
            resp.begin()
            payload = resp.read()
        except (ConnectionResetError, http.client.IncompleteRead) as e:
            raise AssertionError(f"the server reset the connection without a complete answer: {e!r}") from e
        return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, payload)
    finally:
        sock.close()


# --------------------------------------------------------------------------
# DSNs, projects, envelopes
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Dsn:
    scheme: str
    public_key: str
    host: str
    port: int
    path_prefix: str  # "" or "/prefix"
    project_id: str

    @classmethod
    def parse(cls, dsn: str) -> "Dsn":
        u = urlsplit(dsn)
        assert u.scheme in ("http", "https") and u.username and u.hostname, f"not a DSN: {dsn!r}"
        prefix, _, pid = u.path.rstrip("/").rpartition("/")
        assert pid, f"DSN without a project id: {dsn!r}"
        return cls(
            scheme=u.scheme,
            public_key=u.username,
            host=u.hostname,
            port=u.port or (443 if u.scheme == "https" else 80),
            path_prefix=prefix,
            project_id=pid,
        )

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}{self.path_prefix}"

    def with_base(self, base_url: str) -> str:
        """The same DSN (same key and project) pointing at another host."""
        u = urlsplit(base_url)
        return f"{u.scheme}://{self.public_key}@{u.netloc}{self.path_prefix}/{self.project_id}"

    def __str__(self) -> str:
        return self.with_base(self.base_url)


@dataclass
class Project:
    id: int
    slug: str
    name: str
    dsn: str

    @property
    def key(self) -> str:
        return Dsn.parse(self.dsn).public_key


def sentry_auth(key: str, client: str = "lookout-tests/1.0") -> str:
    return f"Sentry sentry_key={key}, sentry_version=7, sentry_client={client}"


def make_event(event_id: Optional[str] = None, **fields: Any) -> dict:
    """A minimal valid error event (a message event unless fields say otherwise)."""
    ev = {
        "event_id": event_id or new_event_id(),
        "timestamp": utc_now_iso(),
        "platform": "python",
        "level": "error",
        "logger": "lookout-tests",
        "sdk": {"name": "lookout.tests", "version": "1.0"},
    }
    if not any(k in fields for k in ("exception", "message", "logentry")):
        ev["message"] = "hand-built test event"
    ev.update(fields)
    return ev


def make_exception_event(
    exc_type: str = "ValueError",
    value: str = "bad value",
    function: str = "handler",
    module: str = "app.views",
    event_id: Optional[str] = None,
    **fields: Any,
) -> dict:
    exception = {
        "values": [
            {
                "type": exc_type,
                "value": value,
                "module": None,
                "mechanism": {"type": "generic", "handled": True},
                "stacktrace": {
                    "frames": [
                        {
                            "filename": module.replace(".", "/") + ".py",
                            "abs_path": "/srv/app/" + module.replace(".", "/") + ".py",
                            "function": function,
                            "module": module,
                            "lineno": 10,
                            "context_line": f"    raise {exc_type}(...)",
                            "in_app": True,
                        }
                    ]
                },
            }
        ]
    }
    return make_event(event_id=event_id, exception=exception, **fields)


def _item_bytes(item_headers: dict, payload: Any) -> bytes:
    if not isinstance(payload, (bytes, bytearray)):
        payload = json.dumps(payload, separators=(",", ":")).encode()
    h = dict(item_headers)
    h.setdefault("length", len(payload))
    return json.dumps(h, separators=(",", ":")).encode() + b"\n" + bytes(payload) + b"\n"


def build_envelope(items: Iterable[tuple[dict, Any]], header: Optional[dict] = None) -> bytes:
    """Serialise an envelope: a header line, then ``item_header\\npayload\\n`` per item.

    ``payload`` may be bytes or anything JSON-serialisable; item headers get
    an explicit ``length`` unless they already have one.
    """
    out = json.dumps(header or {}, separators=(",", ":")).encode() + b"\n"
    for ih, payload in items:
        out += _item_bytes(ih, payload)
    return out


def event_envelope(event: dict, *, dsn: Optional[str] = None, extra_items: Iterable[tuple[dict, Any]] = ()) -> bytes:
    header = {"event_id": event["event_id"], "sent_at": utc_now_iso()}
    if dsn:
        header["dsn"] = dsn
    items = [({"type": event.get("type") if event.get("type") in ("transaction", "check_in") else "event",
               "content_type": "application/json"}, event)]
    items.extend(extra_items)
    return build_envelope(items, header)


def post_envelope(
    base_url: str,
    project_id: Any,
    body: bytes,
    key: Optional[str] = None,
    *,
    auth: str = "header",
    content_encoding: Optional[str] = None,
    extra_headers: Optional[dict] = None,
    endpoint: str = "envelope",
) -> Response:
    """POST ``body`` to ``/api/{project_id}/{endpoint}/``.

    ``auth``: ``header`` (X-Sentry-Auth), ``query`` (``?sentry_key=``) or
    ``none`` (no credentials outside the body, e.g. for envelope-header DSN
    auth or to test a 401).
    """
    path = f"/api/{project_id}/{endpoint}/"
    headers = {
        "Content-Type": "application/x-sentry-envelope" if endpoint == "envelope" else "application/json",
        "User-Agent": "lookout-tests/1.0",
    }
    if auth == "header":
        assert key is not None
        headers["X-Sentry-Auth"] = sentry_auth(key)
    elif auth == "query":
        assert key is not None
        path += "?" + urlencode({"sentry_key": key, "sentry_version": "7"})
    elif auth != "none":
        raise ValueError(auth)
    if content_encoding:
        headers["Content-Encoding"] = content_encoding
    headers.update(extra_headers or {})
    return http_request(base_url, "POST", path, body, headers)


# --------------------------------------------------------------------------
# JSON API client
# --------------------------------------------------------------------------


class Api:
    """Minimal client for ``/api/v1``: no retries, token auth."""

    def __init__(self, base_url: str, token: Optional[str]):
        self.base_url = base_url.rstrip("/")
        self.token = token

    def request(self, method: str, path: str, params: Optional[dict] = None, json_body: Any = None) -> tuple[int, Any]:
        if params:
            clean = {k: v for k, v in params.items() if v is not None}
            if clean:
                path += ("&" if "?" in path else "?") + urlencode(clean)
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        body = None
        if json_body is not None:
            body = json.dumps(json_body).encode()
            headers["Content-Type"] = "application/json"
        r = http_request(self.base_url, method, path, body, headers)
        j = r.json_or_none()
        return r.status, (j if j is not None or not r.body else r.text)

    def get(self, path: str, params: Optional[dict] = None) -> tuple[int, Any]:
        return self.request("GET", path, params)

    def patch(self, path: str, json: Any) -> tuple[int, Any]:  # noqa: A002 - mirrors the brief
        return self.request("PATCH", path, json_body=json)

    def put(self, path: str, json: Any) -> tuple[int, Any]:  # noqa: A002
        return self.request("PUT", path, json_body=json)

    def post(self, path: str, json: Any) -> tuple[int, Any]:  # noqa: A002
        return self.request("POST", path, json_body=json)

    # -- asserting variants -------------------------------------------------

    def _ok(self, method: str, path: str, status: int, body: Any) -> Any:
        assert status == 200, f"{method} {path} -> HTTP {status}: {str(body)[:1000]}"
        return body

    def get_ok(self, path: str, params: Optional[dict] = None) -> Any:
        s, b = self.get(path, params)
        return self._ok("GET", path, s, b)

    def patch_ok(self, path: str, json: Any) -> Any:  # noqa: A002
        s, b = self.patch(path, json)
        return self._ok("PATCH", path, s, b)

    def put_ok(self, path: str, json: Any) -> Any:  # noqa: A002
        s, b = self.put(path, json)
        return self._ok("PUT", path, s, b)

    # -- contract shortcuts ---------------------------------------------------

    def issues(self, project_id: Any, **params: Any) -> list[dict]:
        """One page of ``/projects/{id}/issues`` (``limit`` defaults to 100)."""
        params.setdefault("limit", 100)
        return self.get_ok(f"/api/v1/projects/{project_id}/issues", params)["items"]

    def all_issues(self, project_id: Any, **params: Any) -> list[dict]:
        return self.issues(project_id, status="all", **params)

    def issue(self, issue_id: Any) -> dict:
        return self.get_ok(f"/api/v1/issues/{issue_id}")

    def issue_events(self, issue_id: Any, **params: Any) -> list[dict]:
        params.setdefault("limit", 100)
        return self.get_ok(f"/api/v1/issues/{issue_id}/events", params)["items"]

    def event(self, event_id: str) -> dict:
        return self.get_ok(f"/api/v1/events/{event_id}")

    def set_status(self, issue_id: Any, **body: Any) -> dict:
        return self.patch_ok(f"/api/v1/issues/{issue_id}", body)

    def project_list(self, project_id: Any, what: str, **params: Any) -> list[dict]:
        """Items of ``/projects/{id}/{what}`` (transactions, check-ins, releases)."""
        return self.get_ok(f"/api/v1/projects/{project_id}/{what}", params or None)["items"]

    def issue_for_event(self, project_id: Any, event_id: str) -> dict:
        """The issue holding ``event_id`` (via ``/events/{id}``), with a short poll."""

        def check():
            s, body = self.get(f"/api/v1/events/{event_id}")
            assert s == 200, f"event {event_id} not found: HTTP {s}: {str(body)[:300]}"
            assert str(body["project_id"]) == str(project_id), body
            assert body.get("issue_id") is not None, f"event {event_id} has no issue: {body}"
            return self.issue(body["issue_id"])

        return eventually(check)


# --------------------------------------------------------------------------
# the server
# --------------------------------------------------------------------------

_LIVE_SERVERS: list["LookoutServer"] = []


@atexit.register
def _kill_leftover_servers() -> None:
    """Last resort if pytest exits without running fixture teardown."""
    for s in list(_LIVE_SERVERS):
        if s.proc and s.proc.poll() is None:
            s.proc.kill()


class LookoutServer:
    """One `lookout serve` process on 127.0.0.1:0 with its own data dir."""

    def __init__(self, workdir: Path, extra_env: Optional[dict] = None, binary: Optional[Path] = None):
        self.workdir = Path(workdir)
        self.data_dir = self.workdir / "data"
        self.extra_env = {k: str(v) for k, v in (extra_env or {}).items()}
        self.binary = Path(binary or lookout_bin())
        self.proc: Optional[subprocess.Popen] = None
        self.base_url: Optional[str] = None
        self.stdout_lines: list[str] = []
        self.stderr_path = self.workdir / "server.stderr.log"
        self._ready = threading.Event()
        self._token: Optional[str] = None
        self._api: Optional[Api] = None

    # -- process ------------------------------------------------------------

    @property
    def env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LOOKOUT_")}
        env["LOOKOUT_LOG__FORMAT"] = "json"
        env.update(self.extra_env)
        return env

    def start(self) -> "LookoutServer":
        if not self.binary.is_file():
            pytest.fail(
                f"lookout binary not found at {self.binary}: build it with `cargo build --bin lookout` "
                "or set LOOKOUT_BIN",
                pytrace=False,
            )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        stderr = open(self.stderr_path, "wb")
        try:
            self.proc = subprocess.Popen(
                [str(self.binary), "serve", "--listen", "127.0.0.1:0", "--data-dir", str(self.data_dir)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=stderr,
                env=self.env,
                cwd=self.workdir,  # no stray ./lookout.toml gets picked up
            )
        finally:
            stderr.close()
        threading.Thread(target=self._read_stdout, name="lookout-stdout", daemon=True).start()
        _LIVE_SERVERS.append(self)
        deadline = time.monotonic() + START_TIMEOUT
        while not self._ready.wait(0.05):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                why = (
                    f"exited with status {self.proc.returncode}"
                    if self.proc.poll() is not None
                    else f"printed no banner within {START_TIMEOUT:.0f}s"
                )
                self.stop()
                raise RuntimeError(
                    f"lookout serve {why}.\nstdout:\n{''.join(self.stdout_lines)}\nstderr:\n{self.stderr_text()}"
                )
        return self

    def _read_stdout(self) -> None:
        assert self.proc and self.proc.stdout
        for raw in self.proc.stdout:  # keep draining so the pipe never fills
            line = raw.decode("utf-8", "replace")
            self.stdout_lines.append(line)
            m = BANNER.search(line)
            if m and not self._ready.is_set():
                self.base_url = m.group(1).rstrip("/")
                self._ready.set()

    def stop(self) -> Optional[int]:
        """SIGTERM, wait up to 15 s, then SIGKILL. Returns the exit status."""
        if self in _LIVE_SERVERS:
            _LIVE_SERVERS.remove(self)
        if not self.proc:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc.stdout:
            self.proc.stdout.close()
        return self.proc.returncode

    def stderr_text(self, tail_lines: Optional[int] = None) -> str:
        try:
            text = self.stderr_path.read_text("utf-8", "replace")
        except OSError:
            return ""
        if tail_lines:
            text = "\n".join(text.splitlines()[-tail_lines:])
        return text

    # -- admin CLI ------------------------------------------------------------

    def cli(self, *args: str, json_out: bool = True) -> Any:
        """Run ``lookout ARGS --data-dir DIR`` (works while the server runs)."""
        cmd = [str(self.binary), *args, "--data-dir", str(self.data_dir)]
        p = subprocess.run(cmd, env=self.env, cwd=self.workdir, capture_output=True, timeout=CLI_TIMEOUT)
        if p.returncode != 0:
            raise AssertionError(
                f"{' '.join(cmd)} exited {p.returncode}\nstdout: {p.stdout.decode()}\nstderr: {p.stderr.decode()}"
            )
        out = p.stdout.decode()
        return json.loads(out) if json_out else out

    def create_token(self, name: str = "tests") -> str:
        return self.cli("token", "create", "--name", name, "--json")["token"]

    @property
    def token(self) -> str:
        if self._token is None:
            self._token = self.create_token()
        return self._token

    @property
    def api(self) -> Api:
        if self._api is None:
            assert self.base_url
            self._api = Api(self.base_url, self.token)
        return self._api

    def create_project(self, name: str = "shop") -> Project:
        """Create a project with the CLI; its DSN is read back from the API
        (the CLI's DSN uses the default public URL, not this server's port)."""
        created = self.cli("project", "create", "--name", name, "--json")
        items = self.api.get_ok("/api/v1/projects")["items"]
        matches = [p for p in items if p["id"] == created["id"]]
        assert matches, f"project {created} not listed by the API: {items}"
        p = matches[0]
        assert p.get("dsn"), f"project {p} has no DSN"
        dsn = Dsn.parse(p["dsn"])
        assert dsn.port == _host_port(self.base_url)[1], f"API DSN {p['dsn']} does not use the server's port"
        return Project(id=p["id"], slug=p["slug"], name=p["name"], dsn=p["dsn"])

    # -- probes ---------------------------------------------------------------

    def get(self, path: str, headers: Optional[dict] = None) -> Response:
        assert self.base_url
        return http_request(self.base_url, "GET", path, None, headers)

    def metrics_text(self) -> str:
        r = self.get("/metrics")
        assert r.status == 200, r
        return r.text

    def metric(self, name: str, **labels: str) -> float:
        """Sum of the samples of ``name`` whose labels include ``labels``."""
        return metric_value(self.metrics_text(), name, **labels)


def metric_value(text: str, name: str, **labels: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    total = 0.0
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                total += s.value
    return total


def _start_server(tmp_path_factory, extra_env: Optional[dict] = None) -> LookoutServer:
    return LookoutServer(tmp_path_factory.mktemp("lookout"), extra_env).start()


@pytest.fixture
def make_server(tmp_path_factory):
    """Factory: ``make_server(extra_env={...})`` starts another server;
    all are stopped at teardown."""
    started: list[LookoutServer] = []

    def make(extra_env: Optional[dict] = None) -> LookoutServer:
        s = _start_server(tmp_path_factory, extra_env)
        started.append(s)
        return s

    yield make
    for s in started:
        s.stop()


@pytest.fixture
def server(make_server) -> LookoutServer:
    """A fresh server with default settings, for this test only."""
    return make_server()


@pytest.fixture(scope="module")
def module_server(tmp_path_factory):
    """One server shared by a module's tests (each test should use its own project)."""
    s = _start_server(tmp_path_factory)
    yield s
    s.stop()


@pytest.fixture
def project(server) -> Project:
    return server.create_project("shop")


@pytest.fixture
def api(server) -> Api:
    return server.api


# --------------------------------------------------------------------------
# recording proxy between the SDK and Lookout
# --------------------------------------------------------------------------

HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade", "host", "content-length"}


@dataclass
class Exchange:
    method: str
    path: str
    headers: dict  # as sent, original case
    body: bytes
    status: int = 0
    response_headers: dict = field(default_factory=dict)
    response_body: bytes = b""

    def __repr__(self) -> str:
        return f"<Exchange {self.method} {self.path} -> {self.status}>"

    def header(self, name: str) -> Optional[str]:
        for k, v in self.headers.items():
            if k.lower() == name.lower():
                return v
        return None

    @property
    def decoded_body(self) -> bytes:
        return decode_body(self.body, self.header("Content-Encoding"))

    def envelope(self) -> tuple[dict, list[tuple[dict, bytes]]]:
        return parse_envelope(self.decoded_body)

    def item_types(self) -> list[str]:
        return [ih.get("type") for ih, _ in self.envelope()[1]]


class RecordingProxy:
    """A loopback reverse proxy that forwards everything to ``upstream`` and
    records each request with Lookout's answer."""

    def __init__(self, upstream: str):
        self.upstream = upstream.rstrip("/")
        self.exchanges: list[Exchange] = []
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def _forward(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                ex = Exchange(self.command, self.path, dict(self.headers.items()), body)
                fwd = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                try:
                    r = http_request(proxy.upstream, self.command, self.path, body if n else None, fwd)
                    ex.status, ex.response_headers, ex.response_body = r.status, r.headers, r.body
                except Exception as e:  # noqa: BLE001 - report as a 502 to the SDK
                    ex.status, ex.response_body = 502, repr(e).encode()
                    ex.response_headers = {"content-type": "text/plain"}
                with proxy.lock:
                    proxy.exchanges.append(ex)
                self.send_response(ex.status)
                for k, v in ex.response_headers.items():
                    if k.lower() not in HOP_BY_HOP and k.lower() not in ("date", "server"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(ex.response_body)))
                self.end_headers()
                self.wfile.write(ex.response_body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _forward

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="recording-proxy", daemon=True)
        self.thread.start()

    def snapshot(self) -> list[Exchange]:
        with self.lock:
            return list(self.exchanges)

    def envelope_exchanges(self) -> list[Exchange]:
        return [e for e in self.snapshot() if e.method == "POST" and "/envelope/" in e.path]

    def find_event_exchange(self, event_id: str) -> Exchange:
        for ex in self.envelope_exchanges():
            header, _ = ex.envelope()
            if header.get("event_id") == event_id:
                return ex
        raise AssertionError(f"the SDK sent no envelope for event {event_id}")

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# --------------------------------------------------------------------------
# sentry-sdk harness
# --------------------------------------------------------------------------


def _clear_sdk_scopes() -> None:
    import sentry_sdk

    for scope in (sentry_sdk.get_current_scope(), sentry_sdk.get_isolation_scope(), sentry_sdk.get_global_scope()):
        scope.clear()


def _describe_items(ex: Exchange) -> str:
    try:
        return ", ".join(str(t) for t in ex.item_types())
    except Exception as e:  # noqa: BLE001 - only for an error message
        return f"unparseable body: {e!r}"


class SentryHarness:
    """Owns the in-process sentry_sdk client of one test.

    ``init(project, **options)`` points the real SDK at Lookout through a
    :class:`RecordingProxy` (or directly with ``direct=True``); ``flush()``
    waits for the transport and asserts every request got a 2xx; teardown
    closes the client and clears all scopes so nothing leaks between tests.
    """

    def __init__(self, server: LookoutServer):
        self.server = server
        self.proxy = RecordingProxy(server.base_url)
        self._checked = 0
        self._active = False

    def init(self, project: Project, *, direct: bool = False, **options: Any):
        import sentry_sdk

        self.close()
        dsn = Dsn.parse(project.dsn)
        opts: dict[str, Any] = dict(
            default_integrations=False,
            release="lookout-tests@1.0",
            environment="test",
            include_local_variables=True,
            http_proxy="",  # never route loopback traffic through an env proxy
            https_proxy="",
            shutdown_timeout=5,
        )
        opts.update(options)
        _clear_sdk_scopes()
        sentry_sdk.init(dsn=str(dsn) if direct else dsn.with_base(self.proxy.url), **opts)
        self._active = True
        return sentry_sdk.get_client()

    def flush(self, *, expect_ok: bool = True) -> list[Exchange]:
        """Flush the SDK; return (and by default check) the new exchanges."""
        import sentry_sdk

        if self._active:
            sentry_sdk.flush(timeout=10)
        exchanges = self.proxy.snapshot()
        new = exchanges[self._checked :]
        self._checked = len(exchanges)
        if expect_ok:
            bad = [e for e in new if not 200 <= e.status < 300]
            assert not bad, "Lookout rejected SDK requests:\n" + "\n".join(
                f"  {e.method} {e.path} [{_describe_items(e)}] -> {e.status} {e.response_body[:300]!r}" for e in bad
            )
        return new

    def close(self) -> None:
        import sentry_sdk

        if not self._active:
            return
        self._active = False
        client = sentry_sdk.get_client()
        try:
            sentry_sdk.flush(timeout=10)
        finally:
            client.close(timeout=10)
            sentry_sdk.get_global_scope().set_client(None)
            _clear_sdk_scopes()

    def shutdown(self) -> None:
        try:
            self.close()
        finally:
            self.proxy.close()


@pytest.fixture
def sentry(server):
    h = SentryHarness(server)
    yield h
    h.shutdown()


# --------------------------------------------------------------------------
# fixtures replay
# --------------------------------------------------------------------------

FIXTURE_PROJECT_ID = "42"
FIXTURE_KEY = "0123456789abcdef0123456789abcdef"


def load_recorded_requests() -> list[tuple[str, dict]]:
    """``[(file name, {"method", "path", "headers", "body_b64"})]`` in order."""
    return [(p.name, json.loads(p.read_text())) for p in sorted(FIXTURES_DIR.glob("req_*.json"))]


def recorded_envelope(rec: dict) -> tuple[dict, list[tuple[dict, bytes]]]:
    raw = base64.b64decode(rec["body_b64"])
    enc = next((v for k, v in rec["headers"].items() if k.lower() == "content-encoding"), None)
    return parse_envelope(decode_body(raw, enc))


def replay_recorded(server: LookoutServer, project: Project, rec: dict) -> Response:
    """POST a recorded request to ``project``: the path's project id and the
    ``sentry_key`` in X-Sentry-Auth are rewritten, body and Content-Encoding
    are kept byte for byte."""
    path = rec["path"].replace(f"/api/{FIXTURE_PROJECT_ID}/", f"/api/{project.id}/", 1)
    headers = {}
    for k, v in rec["headers"].items():
        if k.lower() in ("host", "content-length", "connection", "accept-encoding"):
            continue
        if k.lower() == "x-sentry-auth":
            v = v.replace(f"sentry_key={FIXTURE_KEY}", f"sentry_key={project.key}")
        headers[k] = v
    return http_request(server.base_url, rec["method"], path, base64.b64decode(rec["body_b64"]), headers)


# --------------------------------------------------------------------------
# pytest plumbing
# --------------------------------------------------------------------------


def pytest_configure(config):
    config.addinivalue_line("markers", "timeout_s(seconds): per-test watchdog (default %d s)" % DEFAULT_TEST_TIMEOUT)


class WatchdogTimeout(Exception):
    pass


@pytest.fixture(autouse=True)
def _watchdog(request):
    """Bound every test in time: SIGALRM raises in the main thread, so the
    usual teardown (server stop, SDK close) still runs."""
    if os.name != "posix" or threading.current_thread() is not threading.main_thread():
        yield
        return
    marker = request.node.get_closest_marker("timeout_s")
    seconds = int(marker.args[0]) if marker else DEFAULT_TEST_TIMEOUT

    def on_alarm(signum, frame):
        raise WatchdogTimeout(f"test exceeded {seconds}s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed and _LIVE_SERVERS:
        for s in _LIVE_SERVERS:
            rep.sections.append((f"lookout stderr ({s.base_url}, last 60 lines)", s.stderr_text(tail_lines=60)))
