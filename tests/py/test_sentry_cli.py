"""The real `sentry-cli` registers releases, commits and deploys with Lookout.

Drives the sentry-cli binary shipped by the `sentry-cli` PyPI package (it sits
next to the test runner's Python) against a freshly started `lookout serve`,
authenticated with a Lookout API token, and then checks the result through
Lookout's own JSON API (`GET /api/v1/projects/{id}/releases`).

The wire protocol these commands speak is written down in
docs/dev/sentry-cli-protocol.md.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SENTRY_CLI = Path(sys.executable).parent / "sentry-cli"
CLI_TIMEOUT = 60  # seconds, for every sentry-cli / lookout / git call
ORG = "lookout"
LISTENING = re.compile(r"Lookout listening on (http://\S+)")


# --------------------------------------------------------------------------
# Helpers (kept local to this file: conftest.py is shared and written apart)
# --------------------------------------------------------------------------


def _lookout_bin() -> str:
    path = os.environ.get("LOOKOUT_BIN")
    if not path:
        fallback = REPO_ROOT / "target" / "debug" / "lookout"
        if fallback.is_file():
            return str(fallback)
        pytest.fail("LOOKOUT_BIN is not set (path of the lookout binary)")
    return path


class LookoutServer:
    """`lookout serve` on 127.0.0.1:0 with its own data dir."""

    def __init__(self, data_dir: Path, log_path: Path):
        self.bin = _lookout_bin()
        self.data_dir = data_dir
        self.workdir = data_dir.parent  # cwd: no stray ./lookout.toml is read
        self.log_path = log_path
        self.url = ""
        self._stdout_lines: list[str] = []
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen(
            [self.bin, "serve", "--listen", "127.0.0.1:0", "--data-dir", str(data_dir)],
            stdout=subprocess.PIPE,
            stderr=self._log,
            stdin=subprocess.DEVNULL,
            env=self.env,
            cwd=self.workdir,
            text=True,
        )
        ready = threading.Event()

        def pump() -> None:  # keeps draining stdout so the pipe never fills
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                self._stdout_lines.append(line)
                m = LISTENING.search(line)
                if m and not ready.is_set():
                    self.url = m.group(1).rstrip("/")
                    ready.set()
            ready.set()

        threading.Thread(target=pump, daemon=True).start()
        deadline = time.monotonic() + 30
        while not ready.wait(0.05) and self.proc.poll() is None and time.monotonic() < deadline:
            pass
        if not self.url:
            self.stop()
            pytest.fail(
                "lookout serve did not print 'Lookout listening on ...' "
                f"(exit status {self.proc.returncode})\n"
                f"stdout: {''.join(self._stdout_lines)}\nstderr: {self.log_tail()}"
            )

    @property
    def env(self) -> dict:
        # The config layer reads LOOKOUT_* variables and rejects unknown
        # ones (LOOKOUT_BIN included), so pass none of the caller's.
        env = {k: v for k, v in os.environ.items() if not k.startswith("LOOKOUT_")}
        env["LOOKOUT_LOG__FORMAT"] = "json"
        return env

    def admin(self, *args: str) -> dict:
        """Run `lookout ARGS --json --data-dir DIR` and parse its JSON output."""
        res = subprocess.run(
            [self.bin, *args, "--json", "--data-dir", str(self.data_dir)],
            env=self.env,
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT,
            stdin=subprocess.DEVNULL,
        )
        assert res.returncode == 0, f"lookout {args} failed:\n{res.stdout}\n{res.stderr}"
        return json.loads(res.stdout)

    def get_json(self, path: str, token: str) -> dict:
        req = urllib.request.Request(
            self.url + path, headers={"Authorization": f"Bearer {token}"}
        )
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as e:
            raise AssertionError(
                f"GET {path} -> {e.code}: {e.read()[:2000]!r}"
            ) from None

    def log_tail(self, n: int = 4000) -> str:
        if not self._log.closed:
            self._log.flush()
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log.close()


def _git(repo: Path, env: dict, *args: str) -> None:
    subprocess.run(
        ["git", *args],
        cwd=repo,
        env=env,
        check=True,
        capture_output=True,
        timeout=CLI_TIMEOUT,
        stdin=subprocess.DEVNULL,
    )


# --------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def env_home(tmp_path_factory) -> Path:
    """An empty HOME, so no ~/.sentryclirc or ~/.gitconfig leaks in."""
    return tmp_path_factory.mktemp("home")


@pytest.fixture(scope="module")
def cli_server(tmp_path_factory):
    base = tmp_path_factory.mktemp("lookout")
    data = base / "data"
    data.mkdir()
    server = LookoutServer(data, base / "server.log")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def cli_project(cli_server) -> dict:
    p = cli_server.admin("project", "create", "--name", "Shop Bot")
    assert {"id", "slug", "name", "dsn"} <= p.keys(), p
    return p


@pytest.fixture(scope="module")
def cli_token(cli_server) -> str:
    t = cli_server.admin("token", "create", "--name", "ci")
    assert t["token"].startswith("lkt_"), t
    return t["token"]


@pytest.fixture(scope="module")
def git_repo(tmp_path_factory, env_home) -> tuple[Path, list[str]]:
    """A git repo with 3 commits and an origin remote; returns (path, shas newest first)."""
    repo = tmp_path_factory.mktemp("shopbot")
    env = _git_env(env_home)
    _git(repo, env, "init", "-q")
    for name, msg in [("a.txt", "first"), ("b.txt", "second"), ("c.txt", "third")]:
        (repo / name).write_text(msg + "\n")
        _git(repo, env, "add", name)
        _git(repo, env, "commit", "-q", "-m", msg)
    _git(repo, env, "remote", "add", "origin", "https://github.com/acme/shopbot.git")
    shas = subprocess.run(
        ["git", "log", "--format=%H"],
        cwd=repo, env=env, check=True, capture_output=True, text=True, timeout=CLI_TIMEOUT,
    ).stdout.split()
    assert len(shas) == 3
    return repo, shas


def _git_env(home: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        HOME=str(home),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_AUTHOR_NAME="Dev",
        GIT_AUTHOR_EMAIL="dev@acme.test",
        GIT_COMMITTER_NAME="Dev",
        GIT_COMMITTER_EMAIL="dev@acme.test",
    )
    return env


@pytest.fixture(scope="module")
def sentry_cli(cli_server, cli_project, cli_token, git_repo, env_home):
    """Run sentry-cli ARGS in the git repo against Lookout; returns CompletedProcess."""
    assert SENTRY_CLI.is_file(), (
        f"{SENTRY_CLI} missing: add sentry-cli to tests/py/requirements.txt"
    )
    repo, _ = git_repo

    def run(*args: str, auth_token: str | None = None) -> subprocess.CompletedProcess:
        # Drop the caller's SENTRY_* variables (SENTRY_ALLOW_FAILURE would
        # turn failures into exit 0) and GIT_* ones (GIT_DIR would point
        # the CLI's libgit2 at another repository).
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("SENTRY_", "GIT_"))
        }
        env.update(
            HOME=str(env_home),
            SENTRY_URL=cli_server.url,
            SENTRY_AUTH_TOKEN=auth_token if auth_token is not None else cli_token,
            SENTRY_ORG=ORG,
            SENTRY_PROJECT=cli_project["slug"],
            SENTRY_DISABLE_UPDATE_CHECK="true",
            SENTRY_LOAD_DOTENV="0",
        )
        return subprocess.run(
            [str(SENTRY_CLI), *args],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT,
            stdin=subprocess.DEVNULL,
        )

    return run


def _ok(lookout: LookoutServer, res: subprocess.CompletedProcess) -> None:
    assert res.returncode == 0, (
        f"sentry-cli {res.args[1:]} exited {res.returncode}\n"
        f"--- stdout\n{res.stdout}\n--- stderr\n{res.stderr}\n"
        f"--- lookout log (tail)\n{lookout.log_tail()}"
    )


def _releases(lookout: LookoutServer, project: dict, token: str) -> list[dict]:
    body = lookout.get_json(f"/api/v1/projects/{project['id']}/releases", token)
    assert isinstance(body.get("items"), list), body
    return body["items"]


def _release(lookout, project, token, version: str) -> dict:
    items = [r for r in _releases(lookout, project, token) if r.get("version") == version]
    assert len(items) == 1, f"expected exactly one release {version!r}, got {items}"
    return items[0]


def _is_iso_datetime(value) -> bool:
    if not isinstance(value, str):
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


# --------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------


def test_sentry_cli_version():
    assert SENTRY_CLI.is_file(), f"{SENTRY_CLI} missing"
    out = subprocess.run(
        [str(SENTRY_CLI), "--version"], capture_output=True, text=True, timeout=CLI_TIMEOUT
    )
    assert out.returncode == 0 and out.stdout.startswith("sentry-cli "), out


def test_release_new_set_commits_finalize_deploy(
    cli_server, cli_project, cli_token, sentry_cli, git_repo
):
    version = "shop-bot@1.4.0"
    _, shas = git_repo

    _ok(cli_server, sentry_cli("releases", "new", version))
    res = sentry_cli("releases", "set-commits", version, "--auto")
    _ok(cli_server, res)
    # No repository integration: sentry-cli must fall back to reading the
    # local git history and PUT the commits itself.
    assert "Success! Set commits for release" in res.stdout, res.stdout
    _ok(cli_server, sentry_cli("releases", "finalize", version))
    _ok(cli_server, sentry_cli("releases", "deploys", version, "new", "-e", "production"))

    rel = _release(cli_server, cli_project, cli_token, version)
    assert _is_iso_datetime(rel.get("date_released")), rel
    deploys = rel.get("deploys")
    assert isinstance(deploys, list) and deploys, rel
    assert [d.get("environment") for d in deploys] == ["production"], deploys
    # set-commits --auto sent the repo's 3 commits (fewer than the CLI's
    # default initial depth of 20) in `PUT .../releases/{version}/`.
    assert isinstance(rel.get("commit_count"), int), rel
    assert rel["commit_count"] == len(shas), rel


def test_version_with_plus_is_percent_decoded(cli_server, cli_project, cli_token, sentry_cli):
    # sentry-cli puts the version in the URL path percent-encoded
    # (`+` -> %2B); the server must decode it to find the release.
    version = "shop-bot@2.0.0+build.7"
    _ok(cli_server, sentry_cli("releases", "new", version))
    _ok(cli_server, sentry_cli("releases", "finalize", version))
    _ok(cli_server, sentry_cli("releases", "deploys", version, "new", "-e", "production"))

    rel = _release(cli_server, cli_project, cli_token, version)
    assert _is_iso_datetime(rel.get("date_released")), rel
    assert [d.get("environment") for d in rel.get("deploys") or []] == ["production"], rel


def test_releases_new_twice_is_idempotent(cli_server, cli_project, cli_token, sentry_cli):
    # Real Sentry answers a repeated create with 208 Already Reported and the
    # existing release; sentry-cli treats any 2xx as success (409 would fail).
    version = "shop-bot@1.5.0"
    _ok(cli_server, sentry_cli("releases", "new", version))
    _ok(cli_server, sentry_cli("releases", "new", version))
    _release(cli_server, cli_project, cli_token, version)  # exactly one


def test_bad_token_is_rejected(cli_server, cli_project, cli_token, sentry_cli):
    version = "shop-bot@9.9.9-bad-token"
    res = sentry_cli("releases", "new", version, auth_token="lkt_" + "0" * 48)
    assert res.returncode != 0, (res.stdout, res.stderr)
    assert re.search(r"http status: 40[13]", res.stderr), res.stderr
    assert all(r.get("version") != version for r in _releases(cli_server, cli_project, cli_token))


def test_read_only_token_cannot_create_release(cli_server, cli_project, cli_token, sentry_cli):
    ro = cli_server.admin("token", "create", "--name", "ro", "--scope", "read")["token"]
    version = "shop-bot@9.9.9-read-only"
    res = sentry_cli("releases", "new", version, auth_token=ro)
    assert res.returncode != 0, (res.stdout, res.stderr)
    assert re.search(r"http status: 40[13]", res.stderr), res.stderr
    assert all(r.get("version") != version for r in _releases(cli_server, cli_project, cli_token))


def _create_user(cli_server, email: str, password: str, admin: bool = False) -> None:
    res = subprocess.run(
        [cli_server.bin, "user", "create", "--email", email, "--password-stdin", "--data-dir", str(cli_server.data_dir)]
        + (["--admin"] if admin else []),
        input=password + "\n", env=cli_server.env, cwd=cli_server.workdir, capture_output=True, text=True,
        timeout=CLI_TIMEOUT,
    )
    assert res.returncode == 0, res.stderr


def _login(cli_server, email: str, password: str):
    from test_ui_access import Client
    from test_ui_browser import http_login

    resp, jar = http_login(cli_server.url, email, password)
    assert resp.status == 303, resp
    return Client(cli_server.url, jar)


def _personal_token(cli_server, admin, email: str, role: str, project_id: int) -> str:
    """A user with `role` in the project (set by an administrator through the
    members form) makes a read-write token on their account page."""
    from test_ui_access import text_of

    password = "user password 123"
    _create_user(cli_server, email, password)
    page = admin.get(f"/projects/{project_id}/settings").text
    uid = re.search(r'<option value="(\d+)">' + re.escape(email) + "</option>", page).group(1)
    assert admin.post(f"/projects/{project_id}/members", user_id=uid, role=role).status == 303
    r = _login(cli_server, email, password).post("/account/tokens", name="ci", scope="read-write")
    assert r.status == 201, r
    return text_of(r.text, "token-secret")


def test_personal_tokens_work_with_sentry_cli_within_their_role(cli_server, cli_project, cli_token, sentry_cli):
    _create_user(cli_server, "cli-admin@example.com", "admin password 123", admin=True)
    admin = _login(cli_server, "cli-admin@example.com", "admin password 123")
    member = _personal_token(cli_server, admin, "releaser@example.com", "member", cli_project["id"])
    version = "shop-bot@9.9.9-personal"
    res = sentry_cli("releases", "new", version, auth_token=member)
    assert res.returncode == 0, (res.stdout, res.stderr)
    assert any(r.get("version") == version for r in _releases(cli_server, cli_project, cli_token))

    viewer = _personal_token(cli_server, admin, "watcher@example.com", "viewer", cli_project["id"])
    version = "shop-bot@9.9.9-viewer"
    res = sentry_cli("releases", "new", version, auth_token=viewer)
    assert res.returncode != 0 and re.search(r"http status: 403", res.stderr), (res.stdout, res.stderr)
    assert all(r.get("version") != version for r in _releases(cli_server, cli_project, cli_token))
