"""Backup copies in S3-compatible storage, against moto's S3 server on
loopback (a real HTTP server speaking the S3 API, checked with boto3).

The copy is the backup itself: what lands in the bucket hashes to the
manifest, `lookout backup s3 fetch` brings it back byte for byte (and
refuses a copy that does not), a failed upload is a failed backup, and the
retention policy prunes copies as it prunes the backup dir.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from conftest import event_envelope, eventually, make_event, post_envelope
from test_ui_access import admin_client

SECRET = "moto-secret-4f1c2e9b-never-logged"
KEY_ID = "AKIDLOOKOUTTESTS"


@pytest.fixture(scope="module")
def moto():
    srv = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    srv.start()
    host, port = srv.get_host_and_port()
    yield f"http://{host}:{port}"
    srv.stop()


@pytest.fixture
def s3(moto):
    return boto3.client(
        "s3",
        endpoint_url=moto,
        region_name="us-east-1",
        aws_access_key_id=KEY_ID,
        aws_secret_access_key=SECRET,
    )


def write_config(tmp_path: Path, moto: str, bucket: str, prefix: str, backup: str = "") -> Path:
    secret = tmp_path / "s3-secret"
    secret.write_text(SECRET + "\n")
    config = tmp_path / "lookout.toml"
    config.write_text(
        f"""
[backup]
{backup}

[backup.s3]
bucket = "{bucket}"
endpoint = "{moto}"
region = "us-east-1"
prefix = "{prefix}"
access_key_id = "{KEY_ID}"
secret_access_key_file = "{secret}"
allow_http = true
"""
    )
    return config


def keys(s3, bucket: str, prefix: str) -> set[str]:
    r = s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
    return {o["Key"] for o in r.get("Contents", [])}


def manifests(s3, bucket: str, prefix: str) -> set[str]:
    return {
        k[len(prefix) :].removesuffix(".manifest.json")
        for k in keys(s3, bucket, prefix)
        if k.endswith(".manifest.json")
    }


def run_cli(server, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    cmd = [str(server.binary), *args, "--data-dir", str(server.data_dir)]
    return subprocess.run(
        cmd, env={**server.env, **(env or {})}, cwd=server.workdir, capture_output=True, text=True, timeout=60
    )


def ok(p: subprocess.CompletedProcess) -> str:
    assert p.returncode == 0, f"{p.args} exited {p.returncode}\nstdout: {p.stdout}\nstderr: {p.stderr}"
    return p.stdout


def test_a_backup_is_copied_to_s3_and_fetched_back(make_server, moto, s3, tmp_path):
    bucket, prefix = "lookout-backups", "prod/lookout/"
    s3.create_bucket(Bucket=bucket)
    config = write_config(tmp_path, moto, bucket, "/prod/lookout/")
    server = make_server(extra_env={"LOOKOUT_CONFIG": str(config)})
    p = server.create_project("shop")
    event = make_event(message="stored before the backup")
    r = post_envelope(server.base_url, p.id, event_envelope(event), p.key)
    assert r.status == 200, r
    server.api.issue_for_event(p.id, event["event_id"])

    status, body = server.api.post("/api/v1/backups", {})
    assert status == 201, body
    name = body["name"]

    # Exactly the backup's two files, under the trimmed prefix.
    assert keys(s3, bucket, prefix) == {f"{prefix}{name}.db.zst", f"{prefix}{name}.manifest.json"}
    local = json.loads((server.data_dir / "backups" / f"{name}.manifest.json").read_text())
    remote = json.loads(s3.get_object(Bucket=bucket, Key=f"{prefix}{name}.manifest.json")["Body"].read())
    assert remote == local
    data = s3.get_object(Bucket=bucket, Key=f"{prefix}{name}.db.zst")["Body"].read()
    (entry,) = local["files"]
    assert len(data) == entry["size"] and hashlib.sha256(data).hexdigest() == entry["sha256"]
    assert SECRET not in server.stderr_text(), "the secret access key reached the log"
    page = admin_client(server).get("/admin/backups").text
    assert f"copied to s3://{bucket}/prod/lookout." in page, "the backups page names the bucket"

    listed = json.loads(ok(run_cli(server, "backup", "s3", "list", "--json")))
    assert [r["name"] for r in listed] == [name] and listed[0]["size"] == entry["size"], listed

    # Fetch into an empty directory: it verifies and holds the event's row.
    fetched = tmp_path / "fetched"
    out = ok(run_cli(server, "backup", "s3", "fetch", name, "--to", str(fetched)))
    assert "hashes match" in out, out
    report = json.loads(ok(run_cli(server, "backup", "verify", name, "--from", str(fetched), "--json")))
    assert report["ok"] and report["content_checked"], report
    rows = {t["table"]: t["rows"] for t in report["tables"]}
    assert rows.get("events", 0) >= 1, rows
    # A second fetch into the same place refuses to overwrite it.
    again = run_cli(server, "backup", "s3", "fetch", name, "--to", str(fetched))
    assert again.returncode != 0 and "already exists" in again.stderr, again

    # A copy altered in the bucket is refused and leaves nothing behind.
    s3.put_object(Bucket=bucket, Key=f"{prefix}{name}.db.zst", Body=data[:-1] + bytes([data[-1] ^ 0xFF]))
    damaged = tmp_path / "damaged"
    r = run_cli(server, "backup", "s3", "fetch", name, "--to", str(damaged))
    assert r.returncode == 1 and "does not match its manifest" in r.stderr, r
    assert not damaged.exists() or not list(damaged.iterdir()), list(damaged.iterdir())
    s3.put_object(Bucket=bucket, Key=f"{prefix}{name}.db.zst", Body=data)

    # Two more (CLI) backups, pushed; the retention policy prunes the
    # older copies, a dry run first; the named (pinned) one stays.
    older = json.loads(ok(run_cli(server, "backup", "create", "--json")))["name"]
    pinned = json.loads(ok(run_cli(server, "backup", "create", "--name", "keep-me", "--json")))["name"]
    newest = json.loads(ok(run_cli(server, "backup", "create", "--json")))["name"]
    for n in (older, pinned, newest):
        assert "uploaded backup" in ok(run_cli(server, "backup", "s3", "push", n))
    assert manifests(s3, bucket, prefix) == {name, older, pinned, newest}
    one = {"LOOKOUT_BACKUP__KEEP_HOURLY": "1", "LOOKOUT_BACKUP__KEEP_DAILY": "0", "LOOKOUT_BACKUP__KEEP_WEEKLY": "0"}
    dry = ok(run_cli(server, "backup", "s3", "prune", "--dry-run", env=one))
    assert f"would delete {name} " in dry and f"would delete {older} " in dry and newest not in dry, dry
    assert manifests(s3, bucket, prefix) == {name, older, pinned, newest}
    ok(run_cli(server, "backup", "s3", "prune", env=one))
    assert manifests(s3, bucket, prefix) == {pinned, newest}
    assert keys(s3, bucket, prefix) == {f"{prefix}{n}{suffix}" for n in (pinned, newest) for suffix in (".db.zst", ".manifest.json")}


def test_a_failed_copy_is_a_failed_backup(make_server, moto, tmp_path):
    config = write_config(tmp_path, moto, "no-such-bucket", "lookout")
    server = make_server(extra_env={"LOOKOUT_CONFIG": str(config)})
    status, body = server.api.post("/api/v1/backups", {})
    assert status == 500, body
    listing = server.api.get_ok("/api/v1/backups")
    last = listing["last_attempt"]
    assert last["ok"] is False and "s3://no-such-bucket/lookout" in last["error"], last
    assert "made, but copying it to" in last["error"], last
    # The local backup stands; only the copy failed.
    assert len(listing["items"]) == 1, listing
    assert server.metric("lookout_backups_total", result="failure") == 1
    assert SECRET not in server.stderr_text()


def test_a_misconfigured_copy_stops_serve_at_start(tmp_path, make_server, moto):
    config = write_config(tmp_path, moto, "b", "lookout")
    (tmp_path / "s3-secret").unlink()
    with pytest.raises(RuntimeError) as e:
        make_server(extra_env={"LOOKOUT_CONFIG": str(config)})
    assert "secret_access_key_file" in str(e.value), e.value


def test_scheduled_backups_are_copied_and_pruned(make_server, moto, s3, tmp_path):
    bucket, prefix = "scheduled", "lookout/"
    s3.create_bucket(Bucket=bucket)
    config = write_config(
        tmp_path, moto, bucket, "lookout", backup="interval_secs = 1\nkeep_hourly = 1\nkeep_daily = 0\nkeep_weekly = 0"
    )
    server = make_server(extra_env={"LOOKOUT_CONFIG": str(config)})
    def three_made():
        made = server.metric("lookout_backups_total", result="success")
        assert made >= 3, f"{made} scheduled backups so far"

    eventually(three_made, timeout=30)

    def one_copy_left():
        names = manifests(s3, bucket, prefix)
        assert len(names) == 1, names
        return names

    (name,) = eventually(one_copy_left, timeout=10)
    assert f"{prefix}{name}.db.zst" in keys(s3, bucket, prefix)
    assert server.metric("lookout_backups_total", result="failure") == 0


def test_a_large_backup_goes_up_in_parts_and_comes_back_whole(make_server, moto, s3, tmp_path):
    """A 20 MiB data file is three 8 MiB-or-less parts of one multipart
    upload; what comes back is byte for byte what went up."""
    bucket, prefix = "large", "lookout/"
    s3.create_bucket(Bucket=bucket)
    config = write_config(tmp_path, moto, bucket, "lookout")
    server = make_server(extra_env={"LOOKOUT_CONFIG": str(config)})
    real = json.loads(ok(run_cli(server, "backup", "create", "--name", "template", "--json")))
    src = tmp_path / "src"
    src.mkdir()
    blob = os.urandom(20 << 20)
    (src / "big.db.zst").write_bytes(blob)
    entry = {"name": "big.db.zst", "size": len(blob), "sha256": hashlib.sha256(blob).hexdigest()}
    manifest = {**real, "name": "big", "files": [entry]}
    (src / "big.manifest.json").write_text(json.dumps(manifest))
    assert "uploaded backup big" in ok(run_cli(server, "backup", "s3", "push", "big", "--from", str(src)))
    head = s3.head_object(Bucket=bucket, Key=f"{prefix}big.db.zst", PartNumber=1)
    assert head["PartsCount"] == 3, head
    assert s3.head_object(Bucket=bucket, Key=f"{prefix}big.db.zst")["ContentLength"] == len(blob)
    back = tmp_path / "back"
    ok(run_cli(server, "backup", "s3", "fetch", "big", "--to", str(back)))
    assert (back / "big.db.zst").read_bytes() == blob
    assert json.loads((back / "big.manifest.json").read_text())["files"] == [entry]
    # A local file that no longer matches its manifest is not uploaded at
    # all: the multipart upload is aborted, so the bucket holds no object.
    (src / "bad.db.zst").write_bytes(blob[: 9 << 20])
    bad = {**real, "name": "bad", "files": [{**entry, "name": "bad.db.zst"}]}
    (src / "bad.manifest.json").write_text(json.dumps(bad))
    r = run_cli(server, "backup", "s3", "push", "bad", "--from", str(src))
    assert r.returncode == 1 and "does not match its manifest" in r.stderr, r
    assert not any(k.startswith(f"{prefix}bad.") for k in keys(s3, bucket, prefix)), keys(s3, bucket, prefix)
    # A hostile or broken bucket: a 2 MiB "manifest" is refused by name,
    # not read into memory, and the listing goes on without it.
    s3.put_object(Bucket=bucket, Key=f"{prefix}huge.manifest.json", Body=b"{" + b" " * (2 << 20) + b"}")
    r = run_cli(server, "backup", "s3", "fetch", "huge", "--to", str(tmp_path / "huge"))
    assert r.returncode == 1 and "a manifest has at most" in r.stderr, r
    listed = json.loads(ok(run_cli(server, "backup", "s3", "list", "--json")))
    assert [c["name"] for c in listed] == ["big"], listed
