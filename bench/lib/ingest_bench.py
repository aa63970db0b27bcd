"""Error-ingest benchmark: Lookout and/or Bugsink under the same wrk load. Run through bench/ingest.sh.

Per run (fresh data dir, default configuration):
  0. start the server, create a project (+ API token for Lookout), send one probe envelope;
  a. throughput: wrk -t2 -c8 -d20s with the 5.3 KB sentry-python KeyError envelope (uncompressed),
     a fresh event id per request; acknowledged = 2xx responses; VmRSS/Pss of the whole process
     tree sampled every 0.5 s; then wait (bounded) until the stored-event count stops moving:
       Lookout: sum of `count` over GET /api/v1/projects/{id}/issues?status=all
       Bugsink: rows in events_event, and snappea's task queue empty
  b. latency at a fixed rate: bench/.work/loadgen (open loop, wrk2-style, latency from the due
     time) at --rate req/s for --rate-duration s; then wait for the count to settle again;
  c. stop gracefully (SIGTERM), measure the database files, then PRAGMA wal_checkpoint(TRUNCATE)
     and measure again; disk per event = database bytes / events stored.
Medians over --runs runs are reported; raw numbers go to bench/out/ingest-<timestamp>.json.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import http.client
import json
import os
import pathlib
import re
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time

import benchlib as B

BUGSINK_WORK = B.WORK / "bugsink"
LOADGEN = B.WORK / "loadgen"


def log(msg: str) -> None:
    print(f"[{_dt.datetime.now().strftime('%H:%M:%S')}] {msg}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_template(key: str) -> pathlib.Path:
    out = B.WORK / f"envelope-{key}.tmpl"
    if not out.exists():
        subprocess.run([sys.executable, str(B.BENCH / "make_envelope.py"), "--key", key, "--out", str(out)],
                       check=True, timeout=60)
    return out


def probe(port: int, project_id, key: str, template: pathlib.Path) -> tuple[int, bytes]:
    body = template.read_bytes().replace(b"EVENTID_EVENTID_EVENTID_EVENTID_", os.urandom(16).hex().encode())
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        c.request("POST", f"/api/{project_id}/envelope/", body=body, headers={
            "Content-Type": "application/x-sentry-envelope",
            "X-Sentry-Auth": f"Sentry sentry_key={key}, sentry_version=7, sentry_client=lookout-bench/1.0"})
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def run_wrk(port, template, key, project_id, a, log_path) -> dict:
    cmd = ["wrk", f"-t{a.threads}", f"-c{a.connections}", f"-d{a.duration}s", "--timeout", "30s",
           "-s", str(B.BENCH / "wrk_envelope.lua"), f"http://127.0.0.1:{port}", "--",
           str(template), key, str(project_id)]
    t0 = time.monotonic()
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=a.duration + 120)
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.monotonic() - t0
    with open(log_path, "a") as f:
        f.write("$ " + " ".join(cmd) + "\n" + out.stdout + out.stderr + "\n")
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("WRK_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no summary: {out.stdout[-500:]} {out.stderr[-500:]}")
    w = json.loads(line[len("WRK_JSON "):])
    w["duration_s"] = w["duration_us"] / 1e6
    w["ok"] = w["requests"] - w["non2xx"]
    w["socket_errors"] = w["connect_errors"] + w["read_errors"] + w["write_errors"] + w["timeouts"]
    w["ack_per_s"] = w["ok"] / w["duration_s"]
    w["wall_s"] = wall
    w["client_cpu_s"] = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    w["cmd"] = " ".join(cmd)
    return w


def run_loadgen(port, template, key, project_id, rate, a, log_path) -> dict:
    cmd = [str(LOADGEN), "--addr", f"127.0.0.1:{port}", "--path", f"/api/{project_id}/envelope/",
           "--template", str(template), "--rate", str(rate), "--duration", str(a.rate_duration),
           "--connections", str(a.rate_connections), "--warmup", str(a.rate_warmup), "--timeout", "30",
           "--header", "Content-Type: application/x-sentry-envelope",
           "--header", f"X-Sentry-Auth: Sentry sentry_key={key}, sentry_version=7, sentry_client=lookout-bench/1.0"]
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=a.rate_duration + 120)
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(log_path, "a") as f:
        f.write("$ " + " ".join(cmd) + "\n" + out.stdout + out.stderr + "\n")
    if out.returncode != 0:
        raise RuntimeError(f"loadgen failed: {out.stderr[-500:]}")
    r = json.loads(out.stdout.strip().splitlines()[-1])
    r["cmd"] = " ".join(cmd)
    r["client_cpu_s"] = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    return r


def warm_up(port, template, key, project_id, a, log_path) -> int:
    """A short wrk burst before measuring (first requests per worker are slow in both servers:
    lazy initialisation, cold caches). Returns the number of 2xx answers."""
    if a.warmup <= 0:
        return 0
    class W:  # the same load, shorter
        threads, connections, duration = a.threads, a.connections, a.warmup
    return run_wrk(port, template, key, project_id, W, log_path)["ok"]


def wait_settled(count_fn, expected: int, timeout: float, stable_s: float = 3.0, extra_done=None) -> dict:
    """Poll count_fn() every 0.5 s until it reached `expected` (or stopped moving for `stable_s`) and
    extra_done() (if given) is true. Bounded by `timeout`. Returns the count and the time it was reached."""
    t0 = time.monotonic()
    last, last_change, t_reached = None, t0, None
    history = []
    while True:
        now = time.monotonic()
        try:
            n = count_fn()
        except Exception as e:  # noqa: BLE001 (a busy DB or a slow API: try again)
            n = last
            history.append((round(now - t0, 1), f"error: {e}"))
        if n != last:
            last, last_change = n, now
            history.append((round(now - t0, 1), n))
        done_extra = extra_done() if extra_done else True
        if n is not None and n >= expected and done_extra:
            t_reached = last_change
            break
        if n is not None and now - last_change >= stable_s and done_extra:
            t_reached = last_change
            break
        if now - t0 > timeout:
            break
        time.sleep(0.5)
    return {"count": last, "t_reached": t_reached, "timed_out": t_reached is None,
            "waited_s": time.monotonic() - t0, "history_tail": history[-5:]}


def db_sizes(data_dir: pathlib.Path, names) -> dict:
    sizes = {}
    for n in names:
        for suffix in ("", "-wal", "-shm"):
            p = data_dir / (n + suffix)
            sizes[n + suffix] = p.stat().st_size if p.exists() else 0
    sizes["db_total"] = sum(sizes.values())
    sizes["dir_total"] = B.dir_size(data_dir)
    return sizes


def checkpoint(db: pathlib.Path) -> None:
    con = sqlite3.connect(str(db), timeout=30)
    try:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    finally:
        con.close()


def sqlite_scalar(db: pathlib.Path, sql: str):
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return con.execute(sql).fetchone()[0]
    finally:
        con.close()


# ----------------------------------------------------------------------------------------------
# Lookout


class IngestUnavailable(Exception):
    pass


def lookout_issue_count(port, project_id, token) -> int:
    total, cursor = 0, None
    for _ in range(200):  # pages, bounded
        path = f"/api/v1/projects/{project_id}/issues?status=all"
        if cursor:
            path += f"&cursor={cursor}"
        status, body = B.http_get(port, path, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        if status != 200:
            raise RuntimeError(f"issues API answered {status}: {body[:200]!r}")
        doc = json.loads(body)
        total += sum(int(it.get("count", 0)) for it in doc.get("items", []))
        cursor = doc.get("next_cursor") or doc.get("next")
        if not cursor:
            return total
    return total


def run_lookout(i: int, a, base: pathlib.Path) -> dict:
    run_dir = base / f"lookout-{i + 1}"
    data = run_dir / "data"
    srv = B.LookoutServer(data, run_dir, extra_env=dict(kv.split("=", 1) for kv in a.lookout_env)).start()
    res: dict = {"peer": "lookout", "run": i + 1}
    try:
        res["ready_ms"] = srv.wait_ready(timeout=60) * 1000
        port, pid = srv.port, srv.proc.pid
        proj = srv.cli_json("project", "create", "--name", "bench")
        token = srv.cli_json("token", "create", "--name", "bench")["token"]
        key = re.match(r"https?://([0-9a-f]{32})@", proj["dsn"]).group(1)
        project_id = proj["id"]
        template = make_template(key)
        res["rss_idle_mb"] = (B.proc_status_kb(pid) or 0) / 1024
        lookout_files = [data / "lookout.db", data / "lookout.db-wal"]

        # RSS over the whole run, from before the first envelope to the end of (b)
        mem_run = B.MemSampler([pid], interval=0.25, files=lookout_files).__enter__()
        mem_run_t0 = time.monotonic()
        status, body = probe(port, project_id, key, template)
        if status != 200:
            mem_run.__exit__(None, None, None)
            raise IngestUnavailable(f"POST /api/{project_id}/envelope/ answered {status}: {body[:200]!r}")
        count = lambda: lookout_issue_count(port, project_id, token)  # noqa: E731
        res["acked_before"] = 1 + warm_up(port, template, key, project_id, a, run_dir / "load.log")
        w0 = wait_settled(count, res["acked_before"], timeout=a.settle_timeout)
        res["warmup_stored"] = w0["count"]
        base_stored = w0["count"] or 0  # probe + warm-up: the baseline for the counts below

        # a. throughput
        log(f"lookout run {i + 1}: wrk -t{a.threads} -c{a.connections} -d{a.duration}s")
        with B.MemSampler([pid], interval=0.5, files=lookout_files) as mem_a:
            cpu0 = B.cpu_seconds([pid])
            t_start = time.monotonic()
            w = run_wrk(port, template, key, project_id, a, run_dir / "load.log")
            t_wrk_end = time.monotonic()
            s_a = wait_settled(count, base_stored + w["ok"], timeout=a.settle_timeout)
            res["server_cpu_s_a"] = B.cpu_seconds([pid]) - cpu0
        res["wrk"] = w
        res["stored_after_a"] = s_a["count"]
        res["settle_a"] = s_a
        res["settle_after_wrk_s"] = (s_a["t_reached"] - t_wrk_end) if s_a["t_reached"] else None
        res["max_rss_mb_a"] = mem_a.max_rss_mb()
        res["max_pss_mb_a"] = mem_a.max_pss_mb()
        res["timeline_a"] = mem_a.timeline
        res["max_foreign_cpu_pct_a"] = mem_a.max_foreign_cpu_pct()
        stored_a = (s_a["count"] or 0) - base_stored
        res["stored_a"] = stored_a
        end = s_a["t_reached"] or t_wrk_end
        res["stored_per_s_e2e"] = stored_a / max(end - t_start, 1e-9)
        log(f"lookout run {i + 1}: acked {w['ok']} ({w['ack_per_s']:.0f}/s, non-2xx {w['non2xx']}, socket errors "
            f"{w['socket_errors']}), stored {stored_a}, max RSS {res['max_rss_mb_a']:.1f} MB")

        # b. latency at a fixed rate
        if a.rate > 0:
            log(f"lookout run {i + 1}: loadgen {a.rate}/s for {a.rate_duration}s")
            with B.MemSampler([pid], interval=0.5, files=lookout_files) as mem_b:
                lg = run_loadgen(port, template, key, project_id, a.rate, a, run_dir / "load.log")
                expected = (s_a["count"] or 0) + lg["ok"]
                s_b = wait_settled(count, expected, timeout=a.settle_timeout)
            res["loadgen"] = lg
            res["settle_b"] = s_b
            res["max_rss_mb_b"] = mem_b.max_rss_mb()
            res["timeline_b"] = mem_b.timeline
            res["max_foreign_cpu_pct_b"] = mem_b.max_foreign_cpu_pct()
            log(f"lookout run {i + 1}: p50 {lg['latency_ms']['p50']} ms, p99 {lg['latency_ms']['p99']} ms, "
                f"achieved {lg['achieved_ok_rate']}/s, non-2xx {lg['non2xx']}, errors {lg['errors']}; "
                f"other processes on the machine peaked at {res['max_foreign_cpu_pct_b']:.0f}% of a core")
        res["stored_total"] = lookout_issue_count(port, project_id, token)
        res["acked_total"] = res["acked_before"] + w["ok"] + (res.get("loadgen", {}).get("ok", 0))
        mem_run.__exit__(None, None, None)
        res["max_rss_mb_run"] = mem_run.max_rss_mb()
        peak = max(mem_run.timeline, key=lambda t: t["rss_mb"], default=None)
        res["rss_peak_at_s"] = peak["t"] if peak else None  # seconds after the probe envelope
        res["timeline_run_rss"] = [(t["t"], t["rss_mb"]) for t in mem_run.timeline]
        res["t_phase_a_start_s"] = t_start - mem_run_t0
    finally:
        res["sigterm_exit_s"] = srv.stop(timeout=60)
        res["exit_code"] = srv.proc.returncode if srv.proc else None

    # c. disk
    db = data / "lookout.db"
    res["disk_after_stop"] = db_sizes(data, ["lookout.db"])
    try:
        res["sqlite_events_rows"] = sqlite_scalar(db, "SELECT count(*) FROM events")
        res["sqlite_issue_event_count"] = sqlite_scalar(db, "SELECT sum(event_count) FROM issues")
    except sqlite3.Error as e:
        res["sqlite_count_error"] = str(e)
    checkpoint(db)
    res["disk_after_checkpoint"] = db_sizes(data, ["lookout.db"])
    n = res.get("stored_total") or 0
    if n:
        res["bytes_per_event"] = res["disk_after_stop"]["db_total"] / n
        res["bytes_per_event_checkpointed"] = res["disk_after_checkpoint"]["db_total"] / n
    if not a.keep:
        shutil.rmtree(data, ignore_errors=True)
        res["request_log_lines"] = thin_log(run_dir / "stderr.log")
    return res


def thin_log(path: pathlib.Path) -> int:
    """Drop the per-request access-log lines (tens of MB per run) from a kept log; returns how many."""
    if not path.exists():
        return 0
    dropped = 0
    tmp = path.with_suffix(".tmp")
    with open(path, "rb") as src, open(tmp, "wb") as dst:
        for line in src:
            if b'"message":"request"' in line:
                dropped += 1
            else:
                dst.write(line)
        if dropped:
            dst.write(f"[bench: {dropped} per-request log lines removed]\n".encode())
    tmp.replace(path)
    return dropped


# ----------------------------------------------------------------------------------------------
# Bugsink


def bugsink_env(run_data: pathlib.Path, port: int) -> dict:
    env = dict(os.environ)
    env.update({
        "DJANGO_SETTINGS_MODULE": "bugsink_conf",
        "PYTHONPATH": str(BUGSINK_WORK / "conf"),
        "BUGSINK_BENCH_DIR": str(run_data),
        "BUGSINK_BENCH_PORT": str(port),
        # belt and braces: nothing may leave the machine
        "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9", "NO_PROXY": "127.0.0.1,localhost",
        "http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9", "no_proxy": "127.0.0.1,localhost",
    })
    return env


def run_bugsink(i: int, a, base: pathlib.Path) -> dict:
    dsn = (BUGSINK_WORK / "dsn.txt").read_text().strip()
    m = re.match(r"https?://([0-9a-f]{32})@[^/]+/(\d+)$", dsn)
    if not m:
        raise RuntimeError(f"unexpected DSN in {BUGSINK_WORK / 'dsn.txt'}: {dsn!r}; run bench/bugsink/setup.sh")
    key, project_id = m.group(1), int(m.group(2))
    run_dir = base / f"bugsink-{i + 1}"
    data = run_dir / "data"
    run_dir.mkdir(parents=True, exist_ok=True)
    shutil.copytree(BUGSINK_WORK / "template", data)
    port = free_port()
    env = bugsink_env(data, port)
    venv = BUGSINK_WORK / "venv" / "bin"
    conf = BUGSINK_WORK / "conf"
    glog = open(run_dir / "gunicorn.log", "ab")
    slog = open(run_dir / "snappea.log", "ab")
    t_spawn = time.perf_counter()
    gunicorn = subprocess.Popen(
        [str(venv / "gunicorn"), "--no-control-socket", "--bind", f"127.0.0.1:{port}",
         "--workers", str(a.bugsink_workers), "bugsink.wsgi"],
        cwd=str(conf), env=env, stdout=glog, stderr=subprocess.STDOUT, start_new_session=True)
    snappea = subprocess.Popen([str(venv / "bugsink-runsnappea")], cwd=str(conf), env=env, stdout=slog,
                               stderr=subprocess.STDOUT, start_new_session=True)
    glog.close()
    slog.close()
    db = data / "db.sqlite3"
    sdb = data / "snappea.sqlite3"
    res: dict = {"peer": "bugsink", "run": i + 1}
    try:
        deadline = time.perf_counter() + 60
        while True:
            try:
                if B.http_get(port, "/health/ready", timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            if gunicorn.poll() is not None or snappea.poll() is not None:
                raise RuntimeError(f"bugsink exited; see {run_dir}")
            if time.perf_counter() > deadline:
                raise TimeoutError("bugsink /health/ready never answered 200")
            time.sleep(0.01)
        res["ready_ms"] = (time.perf_counter() - t_spawn) * 1000
        time.sleep(1.0)  # let all workers finish booting
        roots = [gunicorn.pid, snappea.pid]
        res["rss_idle_mb"] = sum(B.proc_status_kb(p) or 0 for p in B.descendants(roots)) / 1024
        res["processes"] = len(B.descendants(roots))
        template = make_template(key)

        count = lambda: sqlite_scalar(db, "SELECT count(*) FROM events_event")  # noqa: E731
        queue_empty = lambda: sqlite_scalar(sdb, "SELECT count(*) FROM snappea_task") == 0  # noqa: E731

        mem_run = B.MemSampler(roots, interval=0.25).__enter__()
        status, body = probe(port, project_id, key, template)
        if status != 200:
            mem_run.__exit__(None, None, None)
            raise RuntimeError(f"bugsink probe answered {status}: {body[:200]!r}")
        res["acked_before"] = 1 + warm_up(port, template, key, project_id, a, run_dir / "load.log")
        w0 = wait_settled(count, res["acked_before"], timeout=a.drain_timeout, stable_s=10, extra_done=queue_empty)
        res["warmup_stored"] = w0["count"]
        base_stored = w0["count"] or 0  # probe + warm-up: the baseline for the counts below

        # a. throughput
        log(f"bugsink run {i + 1}: wrk -t{a.threads} -c{a.connections} -d{a.duration}s")
        with B.MemSampler(roots, interval=0.5) as mem_a:
            cpu0 = B.cpu_seconds(roots)
            t_start = time.monotonic()
            w = run_wrk(port, template, key, project_id, a, run_dir / "load.log")
            t_wrk_end = time.monotonic()
            n_at_wrk_end = count()
            log(f"bugsink run {i + 1}: acked {w['ok']} ({w['ack_per_s']:.0f}/s), digested so far {n_at_wrk_end - base_stored};"
                f" waiting for snappea to drain (max {a.drain_timeout:.0f} s)")
            s_a = wait_settled(count, base_stored + w["ok"], timeout=a.drain_timeout, stable_s=10,
                               extra_done=queue_empty)
            res["server_cpu_s_a"] = B.cpu_seconds(roots) - cpu0
        res["wrk"] = w
        res["stored_at_wrk_end"] = n_at_wrk_end - base_stored
        res["stored_after_a"] = s_a["count"]
        res["settle_a"] = s_a
        stored_a = (s_a["count"] or 0) - base_stored
        res["stored_a"] = stored_a
        end = s_a["t_reached"] or time.monotonic()
        res["drain_after_wrk_s"] = end - t_wrk_end
        res["stored_per_s_e2e"] = stored_a / max(end - t_start, 1e-9)
        res["stored_per_s_during_wrk"] = (n_at_wrk_end - base_stored) / max(t_wrk_end - t_start, 1e-9)
        res["max_rss_mb_a"] = mem_a.max_rss_mb()
        res["max_pss_mb_a"] = mem_a.max_pss_mb()
        res["timeline_a"] = mem_a.timeline
        res["max_foreign_cpu_pct_a"] = mem_a.max_foreign_cpu_pct()
        log(f"bugsink run {i + 1}: stored {stored_a} of {w['ok']} acked; digested end to end "
            f"{res['stored_per_s_e2e']:.1f}/s; max RSS {res['max_rss_mb_a']:.0f} MB (PSS {res['max_pss_mb_a']:.0f} MB)")

        # b. latency at a fixed rate
        rate = a.bugsink_rate if a.bugsink_rate is not None else a.rate
        if rate > 0:
            log(f"bugsink run {i + 1}: loadgen {rate}/s for {a.rate_duration}s")
            with B.MemSampler(roots, interval=0.5) as mem_b:
                lg = run_loadgen(port, template, key, project_id, rate, a, run_dir / "load.log")
                s_b = wait_settled(count, (s_a["count"] or 0) + lg["ok"], timeout=a.drain_timeout, stable_s=10,
                                   extra_done=queue_empty)
            res["loadgen"] = lg
            res["settle_b"] = s_b
            res["max_rss_mb_b"] = mem_b.max_rss_mb()
            res["timeline_b"] = mem_b.timeline
            res["max_foreign_cpu_pct_b"] = mem_b.max_foreign_cpu_pct()
            log(f"bugsink run {i + 1}: p50 {lg['latency_ms']['p50']} ms, p99 {lg['latency_ms']['p99']} ms, "
                f"achieved {lg['achieved_ok_rate']}/s")
        res["stored_total"] = count()
        res["acked_total"] = res["acked_before"] + w["ok"] + res.get("loadgen", {}).get("ok", 0)
        res["queue_left"] = sqlite_scalar(sdb, "SELECT count(*) FROM snappea_task")
        mem_run.__exit__(None, None, None)
        res["max_rss_mb_run"] = mem_run.max_rss_mb()
    finally:
        res["gunicorn_exit_s"] = B.stop_process(gunicorn, signal.SIGTERM, 60)
        res["snappea_exit_s"] = B.stop_process(snappea, signal.SIGTERM, 60)

    res["disk_after_stop"] = db_sizes(data, ["db.sqlite3", "snappea.sqlite3"])
    res["ingestion_dir_bytes"] = B.dir_size(data / "ingestion") if (data / "ingestion").exists() else 0
    checkpoint(db)
    checkpoint(sdb)
    res["disk_after_checkpoint"] = db_sizes(data, ["db.sqlite3", "snappea.sqlite3"])
    n = res.get("stored_total") or 0
    if n:
        main = lambda s: s["db.sqlite3"] + s["db.sqlite3-wal"] + s["db.sqlite3-shm"]  # noqa: E731
        res["bytes_per_event"] = main(res["disk_after_stop"]) / n
        res["bytes_per_event_checkpointed"] = main(res["disk_after_checkpoint"]) / n
        res["bytes_per_event_all_files"] = res["disk_after_stop"]["dir_total"] / n
    if not a.keep:
        shutil.rmtree(data, ignore_errors=True)
    return res


# ----------------------------------------------------------------------------------------------
# summary


def summarize(runs: list[dict]) -> dict:
    def col(f):
        out = []
        for r in runs:
            try:
                out.append(f(r))
            except (KeyError, TypeError):
                pass
        return out

    def med(f):
        return B.median(col(f))

    return {
        "runs": len(runs),
        "ack_per_s": med(lambda r: r["wrk"]["ack_per_s"]),
        "acked_a": med(lambda r: r["wrk"]["ok"]),
        "non2xx_a": med(lambda r: r["wrk"]["non2xx"]),
        "socket_errors_a": med(lambda r: r["wrk"]["socket_errors"]),
        "stored_after_a": med(lambda r: r["stored_a"]),
        "stored_per_s_e2e": med(lambda r: r["stored_per_s_e2e"]),
        "wrk_p50_ms": med(lambda r: r["wrk"]["latency_us"]["p50"] / 1000),
        "wrk_p99_ms": med(lambda r: r["wrk"]["latency_us"]["p99"] / 1000),
        "max_foreign_cpu_pct_a": med(lambda r: r["max_foreign_cpu_pct_a"]),
        "max_foreign_cpu_pct_b": med(lambda r: r["max_foreign_cpu_pct_b"]),
        "cpu_ms_per_event": med(lambda r: r["server_cpu_s_a"] * 1000 / r["stored_a"]),
        # over phase (a) from the start of wrk until the last event was stored (Bugsink: drained)
        "server_cores_a": med(lambda r: r["server_cpu_s_a"] / (r["stored_a"] / r["stored_per_s_e2e"])),
        "client_cores_a": med(lambda r: r["wrk"]["client_cpu_s"] / r["wrk"]["duration_s"]),
        "max_rss_mb_a": med(lambda r: r["max_rss_mb_a"]),
        "max_rss_mb_run": med(lambda r: r["max_rss_mb_run"]),
        "max_pss_mb_a": med(lambda r: r["max_pss_mb_a"]),
        "rss_idle_mb": med(lambda r: r["rss_idle_mb"]),
        "rate_target": med(lambda r: r["loadgen"]["target_rate"]),
        "rate_achieved": med(lambda r: r["loadgen"]["achieved_ok_rate"]),
        "rate_p50_ms": med(lambda r: r["loadgen"]["latency_ms"]["p50"]),
        "rate_p99_ms": med(lambda r: r["loadgen"]["latency_ms"]["p99"]),
        "rate_p999_ms": med(lambda r: r["loadgen"]["latency_ms"]["p999"]),
        "rate_non2xx": med(lambda r: r["loadgen"]["non2xx"] + r["loadgen"]["errors"]),
        "max_rss_mb_b": med(lambda r: r["max_rss_mb_b"]),
        "stored_total": med(lambda r: r["stored_total"]),
        "acked_total": med(lambda r: r["acked_total"]),
        "bytes_per_event": med(lambda r: r["bytes_per_event"]),
        "bytes_per_event_checkpointed": med(lambda r: r["bytes_per_event_checkpointed"]),
    }


def fmt(x, nd=0):
    if x is None:
        return "-"
    return f"{x:,.{nd}f}"


def print_summary(summaries: dict) -> None:
    rows = [
        ("acknowledged envelopes/s (wrk, 2xx only)", "ack_per_s", 0),
        ("  non-2xx / socket errors (median per run)", None, 0),
        ("events stored after (a), median", "stored_after_a", 0),
        ("events stored per s, end to end (a)", "stored_per_s_e2e", 1),
        ("wrk latency p50 / p99 ms (closed loop)", None, 1),
        ("server CPU ms per stored event (a), all processes", "cpu_ms_per_event", 2),
        ("server / wrk CPU in (a) until stored, cores", None, 2),
        ("max RSS during (a), MB (sum over processes)", "max_rss_mb_a", 1),
        ("max PSS during (a), MB", "max_pss_mb_a", 1),
        ("max RSS over the whole run (warm-up..end), MB", "max_rss_mb_run", 1),
        ("idle RSS before load, MB", "rss_idle_mb", 1),
        ("fixed rate: target / achieved req/s", None, 0),
        ("fixed rate: p50 / p99 / p99.9 ms", None, 1),
        ("other processes' peak CPU in (a) / (b), % of a core", None, 0),
        ("disk per event after SIGTERM, bytes", "bytes_per_event", 0),
        ("disk per event after wal_checkpoint(TRUNCATE)", "bytes_per_event_checkpointed", 0),
    ]
    peers = list(summaries)
    print()
    for p in peers:
        s = summaries[p]
        if s.get("runs_disturbed"):
            print(f"{p}: medians of {s['runs']} undisturbed runs; {s['runs_disturbed']} disturbed run(s) of "
                  f"{s['runs_total']} left out (see the raw results)")
    print(f"{'median of runs':50s}" + "".join(f"{p:>30s}" for p in peers))
    for label, key, nd in rows:
        cells = []
        for p in peers:
            s = summaries[p]
            if key:
                cells.append(fmt(s.get(key), nd))
            elif label.startswith("  non-2xx"):
                cells.append(f"{fmt(s.get('non2xx_a'))} / {fmt(s.get('socket_errors_a'))}")
            elif label.startswith("wrk latency"):
                cells.append(f"{fmt(s.get('wrk_p50_ms'), 1)} / {fmt(s.get('wrk_p99_ms'), 1)}")
            elif label.startswith("server / wrk CPU"):  # wrk: over its own 20 s
                cells.append(f"{fmt(s.get('server_cores_a'), 2)} / {fmt(s.get('client_cores_a'), 2)}")
            elif label.startswith("other processes"):
                cells.append(f"{fmt(s.get('max_foreign_cpu_pct_a'))} / {fmt(s.get('max_foreign_cpu_pct_b'))}")
            elif label.startswith("fixed rate: target"):
                cells.append(f"{fmt(s.get('rate_target'))} / {fmt(s.get('rate_achieved'))}")
            else:
                cells.append(f"{fmt(s.get('rate_p50_ms'), 1)} / {fmt(s.get('rate_p99_ms'), 1)} / "
                             f"{fmt(s.get('rate_p999_ms'), 1)}")
        print(f"{label:50s}" + "".join(f"{c:>30s}" for c in cells))
    if "lookout" in summaries and "bugsink" in summaries:
        lk, bs = summaries["lookout"], summaries["bugsink"]
        def ratio(k, inverse=False):
            x, y = lk.get(k), bs.get(k)
            if not x or not y:
                return "-"
            return f"{(y / x if inverse else x / y):.1f}x"
        print()
        print(f"Lookout / Bugsink: acknowledged/s {ratio('ack_per_s')}, stored/s end to end "
              f"{ratio('stored_per_s_e2e')}; Bugsink / Lookout: max RSS in (a) {ratio('max_rss_mb_a', True)}, "
              f"disk per event {ratio('bytes_per_event_checkpointed', True)}")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--peer", choices=["lookout", "bugsink", "both"], default="lookout")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--duration", type=int, default=20, help="wrk seconds (a)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--rate", type=int, default=2000, help="fixed-rate phase (b) req/s; 0 skips it")
    ap.add_argument("--bugsink-rate", type=int, default=None, help="rate for Bugsink's phase (b); default --rate")
    ap.add_argument("--rate-duration", type=int, default=20)
    ap.add_argument("--rate-connections", type=int, default=16)
    ap.add_argument("--rate-warmup", type=float, default=2.0, help="seconds of phase (b) left out of the latencies")
    ap.add_argument("--warmup", type=int, default=2, help="seconds of the same wrk load before (a), not measured")
    ap.add_argument("--bugsink-workers", type=int, default=4)
    ap.add_argument("--settle-timeout", type=float, default=120.0, help="Lookout: max wait for the count to settle")
    ap.add_argument("--drain-timeout", type=float, default=900.0, help="Bugsink: max wait for snappea to drain")
    ap.add_argument("--lookout-env", action="append", default=[], metavar="LOOKOUT_X=VALUE",
                    help="run Lookout with this setting (ablations; the default measures the defaults)")
    ap.add_argument("--no-wait-quiet", dest="wait_quiet", action="store_false",
                    help="do not wait for other processes to quieten before each run")
    ap.add_argument("--quiet-threshold", type=float, default=25.0, help="%% of a core other processes may use")
    ap.add_argument("--disturbed-threshold", type=float, default=50.0,
                    help="a run whose phases saw other processes above this %% of a core is repeated")
    ap.add_argument("--max-attempts", type=int, default=None, help="runs in all per peer (default 2 x --runs)")
    ap.add_argument("--quiet-max-wait", type=float, default=600.0, help="seconds to wait at most before a run")
    ap.add_argument("--keep", action="store_true", help="keep the data dirs under bench/.work/runs/")
    a = ap.parse_args()
    # bounds
    a.runs = max(1, min(a.runs, 20))
    a.duration = max(1, min(a.duration, 600))
    a.rate_duration = max(1, min(a.rate_duration, 600))
    a.rate = max(0, min(a.rate, 100_000))
    a.max_attempts = max(a.runs, min(a.max_attempts or 2 * a.runs, 40))

    info = B.machine_info()
    B.print_machine(info)
    peers = ["lookout", "bugsink"] if a.peer == "both" else [a.peer]
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    base = B.WORK / "runs" / stamp
    base.mkdir(parents=True, exist_ok=True)
    print(f"runs:    {a.runs} per peer; work dir {base.relative_to(B.ROOT)}")
    if "bugsink" in peers:
        print(f"bugsink: {(BUGSINK_WORK / 'venv/bin/bugsink-show-version').exists() and subprocess.run([str(BUGSINK_WORK / 'venv/bin/bugsink-show-version')], capture_output=True, text=True).stdout.strip()}, "
              f"gunicorn --workers {a.bugsink_workers} (sync) + bugsink-runsnappea, SQLite")

    all_runs: dict[str, list] = {p: [] for p in peers}
    unavailable: dict[str, str] = {}
    for p in peers:
        i = 0
        # Runs disturbed by other processes (peak > --disturbed-threshold % of a core during (a) or
        # (b)) are kept in the results but repeated, up to --max-attempts runs in all.
        while sum(not r["disturbed"] for r in all_runs[p]) < a.runs and i < a.max_attempts:
            quiet = B.wait_quiet(a.quiet_threshold, 10.0, a.quiet_max_wait, say=log) if a.wait_quiet else None
            try:
                r = run_lookout(i, a, base) if p == "lookout" else run_bugsink(i, a, base)
                r["quiet_before"] = quiet
            except IngestUnavailable as e:
                unavailable[p] = str(e)
                log(f"{p}: ingest endpoint not available in this build ({e}); not measured")
                break
            peak = max(r.get("max_foreign_cpu_pct_a") or 0, r.get("max_foreign_cpu_pct_b") or 0)
            r["disturbed"] = a.wait_quiet and peak > a.disturbed_threshold
            if r["disturbed"]:
                log(f"{p} run {i + 1}: disturbed (other processes peaked at {peak:.0f}% of a core); "
                    f"kept in the raw results, left out of the medians, repeated")
            all_runs[p].append(r)
            with open(base / f"{p}-{i + 1}.json", "w") as f:
                json.dump(r, f, indent=2, default=str)
            i += 1

    info["loadavg_at_end"] = pathlib.Path("/proc/loadavg").read_text().split()[:3]
    print(f"load:    {' '.join(info['loadavg_at_end'])} (1/5/15 min) at the end")
    # medians over the undisturbed runs (all runs if every one was disturbed)
    summaries = {p: summarize([r for r in rs if not r["disturbed"]] or rs) for p, rs in all_runs.items() if rs}
    for p, rs in all_runs.items():
        if rs:
            summaries[p]["runs_total"] = len(rs)
            summaries[p]["runs_disturbed"] = sum(r["disturbed"] for r in rs)
    if summaries:
        print_summary(summaries)
    path = B.save_json("ingest", {"machine": info, "args": vars(a), "runs": all_runs, "summary": summaries,
                                  "unavailable": unavailable})
    print(f"raw results: {path.relative_to(B.ROOT)}")
    return 3 if unavailable and not summaries else 0


if __name__ == "__main__":
    raise SystemExit(main())
