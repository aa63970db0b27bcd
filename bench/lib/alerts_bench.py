"""Alerting benchmark (issue #6). Run through bench/alerts.sh.

(a) From the ingest of an event that fires a rule to the notification request leaving Lookout, while
    --rate envelopes/s of other traffic are being ingested (target: p99 < 2 s at 5,000/s).
(b) Evaluation cost does not grow with the events stored: the server's own `lookout_alert_eval_seconds`
    histogram (one round of evaluation) with ~0 events stored, and again after the load stored ~150k.
    (The per-rule cost is measured without a server by crates/lookout-alert/examples/eval_cost.rs.)

Per run (fresh data dir, release binary):
  0. a loopback webhook receiver (a thread here) records the arrival time (time.monotonic(), taken when
     the request's headers have been read) and body of each POST; lookout.toml (LOOKOUT_CONFIG) has a
     `new_issue` rule (severity high) routed to it as a webhook channel, with --group-wait (default 0s);
  1. one project for the background traffic (its first envelope makes the issue that all later ones
     join) and one project per measured error: Alertmanager grouping puts alerts of one route, rule and
     project into one group, and a new issue joining a group that already notified waits for
     group_interval (5 min); an error in its own project is the first alert of its group, the case
     group_wait governs;
  2. "before": --idle-errors new errors, one every --interval s, no other traffic, ~0 events stored;
  3. "load": bench/.work/loadgen at --rate req/s for --duration s (the sentry-python KeyError envelope,
     a fresh event id each, all joining the one background issue) and, from --load-warmup s on,
     --errors new errors (a unique exception type each: a new issue each), one every --interval s;
  4. "after": --idle-errors new errors again, with the load's events now stored.
  Each error is timestamped (time.monotonic()) just before its request is sent; its latency is the
  arrival of the first webhook POST that names its exception type minus that timestamp.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import http.client
import json
import os
import pathlib
import re
import shutil
import sys
import threading
import time
import types
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import benchlib as B
import ingest_bench as I

ERROR_RE = re.compile(rb"AlertBench(\d{4})Error")


def log(msg: str) -> None:
    print(f"[{_dt.datetime.now().strftime('%H:%M:%S')}] {msg}", flush=True)


class Receiver:
    """A loopback webhook: records (arrival monotonic time, body) of every POST; answers 200."""

    def __init__(self) -> None:
        self.posts: list[tuple[float, bytes, str]] = []
        self.lock = threading.Lock()
        rec = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                t = time.monotonic()  # headers read; the request has left Lookout
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with rec.lock:
                    rec.posts.append((t, body, self.path))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):  # quiet
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def first_arrivals(self) -> dict[int, float]:
        """error number -> arrival of the first POST naming it."""
        out: dict[int, float] = {}
        with self.lock:
            posts = list(self.posts)
        for t, body, _ in posts:
            for m in ERROR_RE.finditer(body):
                n = int(m.group(1))
                if n not in out or t < out[n]:
                    out[n] = t
        return out

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def config_toml(hook_url: str, group_wait: str) -> str:
    return f"""# written by bench/lib/alerts_bench.py
[[alerts.rules]]
name = "New error"
severity = "high"
condition = {{ kind = "new_issue" }}

[alerts.routes]
receivers = ["log"]
{'' if group_wait == 'default' else f'group_wait = "{group_wait}"'}
[[alerts.routes.routes]]
matchers = ["severity=high"]
receivers = ["hook"]

[alerts.channels.hook]
kind = "webhook"
url = "{hook_url}"
"""


def error_envelope(n: int) -> bytes:
    """A small Python-like error event whose exception type (AlertBench<n>Error) is new: a new issue."""
    event_id = os.urandom(16).hex()
    etype = f"AlertBench{n:04d}Error"
    event = {
        "event_id": event_id, "timestamp": time.time(), "platform": "python", "level": "error",
        "environment": "production", "release": "bench@1.0",
        "exception": {"values": [{
            "type": etype, "value": f"bench error {n}", "module": "bench.alerts",
            "mechanism": {"type": "generic", "handled": False},
            "stacktrace": {"frames": [{
                "filename": "bench/alerts.py", "abs_path": "/srv/bench/alerts.py", "function": f"fail_{n}",
                "module": "bench.alerts", "lineno": 10 + n, "in_app": True}]}}]},
    }
    payload = json.dumps(event).encode()
    header = json.dumps({"event_id": event_id, "sent_at": _dt.datetime.now(_dt.timezone.utc).isoformat()}).encode()
    item = json.dumps({"type": "event", "length": len(payload), "content_type": "application/json"}).encode()
    return header + b"\n" + item + b"\n" + payload + b"\n"


class ErrorSender:
    """One keep-alive connection; sends error n to its own project and records when it was sent."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn: http.client.HTTPConnection | None = None

    def send(self, project_id: int, key: str, n: int) -> dict:
        body = error_envelope(n)
        headers = {"Content-Type": "application/x-sentry-envelope",
                   "X-Sentry-Auth": f"Sentry sentry_key={key}, sentry_version=7, sentry_client=lookout-bench/1.0"}
        t_send = time.monotonic()
        status, err = None, None
        for _ in range(2):  # a kept-alive connection the server closed: reconnect once
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                self.conn.request("POST", f"/api/{project_id}/envelope/", body=body, headers=headers)
                r = self.conn.getresponse()
                r.read()
                status = r.status
                break
            except (OSError, http.client.HTTPException) as e:
                err = str(e)
                self.conn = None
        return {"n": n, "t_send": t_send, "ack_ms": (time.monotonic() - t_send) * 1000, "status": status,
                "error": None if status else err}


def scrape(port: int) -> dict:
    """The alerting metrics from /metrics (Prometheus text)."""
    try:
        status, body = B.http_get(port, "/metrics", timeout=10)
    except OSError as e:
        return {"error": str(e)}
    if status != 200:
        return {"error": f"/metrics answered {status}"}
    out: dict = {"eval_buckets": {}}
    for line in body.decode().splitlines():
        if line.startswith("#"):
            continue
        parts = line.rsplit(" ", 1)
        if len(parts) != 2:
            continue
        name, value = parts
        try:
            v = float(value)
        except ValueError:
            continue
        if name == "lookout_alert_eval_seconds_sum":
            out["eval_sum_s"] = v
        elif name == "lookout_alert_eval_seconds_count":
            out["eval_count"] = v
        elif name.startswith("lookout_alert_eval_seconds_bucket"):
            m = re.search(r'le="([^"]+)"', name)
            if m:
                out["eval_buckets"][m.group(1)] = v
        elif name == "lookout_alert_signals_evaluated_total":
            out["signals_evaluated"] = v
        elif name == "lookout_alert_signals_dropped_total":
            out["signals_dropped"] = v
        elif name.startswith("lookout_alert_delivery_attempts_total"):
            out.setdefault("delivery_attempts", {})[name[len("lookout_alert_delivery_attempts_total"):]] = v
    return out


def eval_delta(m0: dict, m1: dict) -> dict:
    """Rounds of evaluation between two scrapes: how many, mean time, and the bucket the slowest fell in."""
    if "eval_count" not in m0 or "eval_count" not in m1:
        return {"available": False}
    n = m1["eval_count"] - m0["eval_count"]
    s = m1["eval_sum_s"] - m0["eval_sum_s"]
    worst = None  # the smallest bucket bound that holds every round of the interval (cumulative buckets)
    for le, c in sorted(m1["eval_buckets"].items(), key=lambda kv: float(kv[0])):
        if n and c - m0["eval_buckets"].get(le, 0.0) >= n:
            worst = le
            break
    sig = (m1.get("signals_evaluated", 0) - m0.get("signals_evaluated", 0))
    return {"available": True, "rounds": int(n), "mean_ms": (s / n * 1000) if n else None,
            "slowest_le_s": worst, "signals": int(sig),
            "us_per_signal": (s * 1e6 / sig) if sig else None}


def latencies(sent: list[dict], arrivals: dict[int, float]) -> dict:
    lat = [(arrivals[s["n"]] - s["t_send"]) * 1000 for s in sent if s["n"] in arrivals]
    acks = [s["ack_ms"] for s in sent if s["status"] == 200]
    return {
        "sent": len(sent), "accepted": sum(s["status"] == 200 for s in sent), "arrived": len(lat),
        "missing": [s["n"] for s in sent if s["n"] not in arrivals],
        "latency_ms": {"p50": B.percentile(lat, 50), "p95": B.percentile(lat, 95), "p99": B.percentile(lat, 99),
                       "max": max(lat) if lat else None, "min": min(lat) if lat else None},
        "ack_ms": {"p50": B.percentile(acks, 50), "p99": B.percentile(acks, 99), "max": max(acks) if acks else None},
        "samples_ms": [round(x, 1) for x in lat],
    }


def wait_arrivals(rec: Receiver, numbers: list[int], timeout: float) -> float:
    t0 = time.monotonic()
    want = set(numbers)
    while time.monotonic() - t0 < timeout:
        if want <= set(rec.first_arrivals()):
            break
        time.sleep(0.1)
    return time.monotonic() - t0


def send_errors(sender: ErrorSender, projects: list[tuple[int, str]], first: int, interval: float) -> list[dict]:
    """One error per project, one every `interval` s on a fixed schedule."""
    out = []
    t0 = time.monotonic()
    for i, (pid, key) in enumerate(projects):
        due = t0 + i * interval
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
        out.append(sender.send(pid, key, first + i))
    return out


def run_once(i: int, a, base: pathlib.Path) -> dict:
    run_dir = base / f"run-{i + 1}"
    data = run_dir / "data"
    run_dir.mkdir(parents=True, exist_ok=True)
    rec = Receiver()
    cfg = run_dir / "lookout.toml"
    cfg.write_text(config_toml(rec.url, a.group_wait))
    srv = B.LookoutServer(data, run_dir, extra_env={"LOOKOUT_CONFIG": str(cfg)}).start()
    res: dict = {"run": i + 1, "group_wait": a.group_wait}
    gw_s = 30.0 if a.group_wait == "default" else parse_secs(a.group_wait)
    try:
        res["ready_ms"] = srv.wait_ready(timeout=60) * 1000
        port, pid = srv.port, srv.proc.pid
        bg = srv.cli_json("project", "create", "--name", "background")
        token = srv.cli_json("token", "create", "--name", "bench")["token"]
        bg_key = re.match(r"https?://([0-9a-f]{32})@", bg["dsn"]).group(1)
        n_err = a.idle_errors * 2 + a.errors
        t0 = time.monotonic()
        projects = []
        for k in range(n_err):
            p = srv.cli_json("project", "create", "--name", f"errors-{k + 1:03d}")
            projects.append((p["id"], re.match(r"https?://([0-9a-f]{32})@", p["dsn"]).group(1)))
        res["project_create_s"] = time.monotonic() - t0
        template = I.make_template(bg_key)
        status, body = I.probe(port, bg["id"], bg_key, template)
        if status != 200:
            raise RuntimeError(f"probe envelope answered {status}: {body[:200]!r}")
        # The probe's new issue is notified too: wait for it (it warms the whole path up).
        t_probe = time.monotonic()
        while time.monotonic() - t_probe < gw_s + 20 and not rec.posts:
            time.sleep(0.1)
        res["probe_notified_s"] = (time.monotonic() - t_probe) if rec.posts else None
        sender = ErrorSender(port)
        count = lambda: I.lookout_issue_count(port, bg["id"], token)  # noqa: E731
        before_p = projects[:a.idle_errors]
        load_p = projects[a.idle_errors:a.idle_errors + a.errors]
        after_p = projects[a.idle_errors + a.errors:]

        # before: no other traffic, ~nothing stored
        m0 = scrape(port)
        sent_before = send_errors(sender, before_p, 1, a.interval)
        wait_arrivals(rec, [s["n"] for s in sent_before], gw_s + 30)
        m1 = scrape(port)
        res["before"] = {**latencies(sent_before, rec.first_arrivals()), "eval": eval_delta(m0, m1),
                         "stored_events": count()}

        # load: background traffic plus the measured errors
        duration = max(a.duration, a.load_warmup + a.errors * a.interval + (gw_s if gw_s > 5 else 0) + 3)
        lg_args = types.SimpleNamespace(rate_duration=duration, rate_connections=a.connections,
                                        rate_warmup=a.load_warmup)
        lg_out: dict = {}

        def background():
            try:
                lg_out["r"] = I.run_loadgen(port, template, bg_key, bg["id"], a.rate, lg_args, run_dir / "load.log")
            except Exception as e:  # noqa: BLE001
                lg_out["error"] = str(e)

        log(f"run {i + 1}: loadgen {a.rate}/s for {duration:.0f} s; {a.errors} new errors, one every "
            f"{a.interval} s from {a.load_warmup} s on (group_wait {a.group_wait})")
        with B.MemSampler([pid], interval=0.5, files=[data / "lookout.db", data / "lookout.db-wal"]) as mem:
            m2 = scrape(port)
            cpu0 = B.cpu_seconds([pid])
            th = threading.Thread(target=background, daemon=True)
            t_load = time.monotonic()
            th.start()
            time.sleep(a.load_warmup)
            sent_load = send_errors(sender, load_p, 1 + a.idle_errors, a.interval)
            t_sent = time.monotonic() - t_load
            th.join(timeout=duration + 150)
            m3 = scrape(port)
            res["server_cpu_s_load"] = B.cpu_seconds([pid]) - cpu0
            waited = wait_arrivals(rec, [s["n"] for s in sent_load], gw_s + 60)
        res["load"] = {**latencies(sent_load, rec.first_arrivals()), "eval": eval_delta(m2, m3),
                       "errors_sent_by_s": round(t_sent, 1), "waited_after_load_s": round(waited, 1)}
        if "error" in lg_out:
            raise RuntimeError(f"loadgen: {lg_out['error']}")
        lg = lg_out["r"]
        res["loadgen"] = lg
        res["timeline"] = mem.timeline
        fc = [s["foreign_cpu_pct"] for s in mem.timeline if s["foreign_cpu_pct"] is not None]
        res["foreign_cpu_pct"] = {"max": max(fc, default=None), "mean": (sum(fc) / len(fc)) if fc else None}
        sc = [s["server_cpu_pct"] for s in mem.timeline if s["server_cpu_pct"] is not None]
        res["server_cpu_pct_mean"] = (sum(sc) / len(sc)) if sc else None
        res["loadavg_after_load"] = pathlib.Path("/proc/loadavg").read_text().split()[:3]
        settle = I.wait_settled(count, res["before"]["stored_events"] + lg["ok"], timeout=120)
        res["stored_after_load"] = settle["count"]
        lat = res["load"]["latency_ms"]
        log(f"run {i + 1}: background achieved {lg['achieved_ok_rate']}/s (non-2xx {lg['non2xx']}, errors "
            f"{lg['errors']}); notifications {res['load']['arrived']}/{res['load']['sent']}; latency p50 "
            f"{fmt(lat['p50'])} / p95 {fmt(lat['p95'])} / p99 {fmt(lat['p99'])} / max {fmt(lat['max'])} ms; "
            f"other processes used {fmt(res['foreign_cpu_pct']['mean'])}% of a core on average "
            f"(peak {fmt(res['foreign_cpu_pct']['max'])}%)")

        # after: no other traffic, the load's events stored
        m4 = scrape(port)
        sent_after = send_errors(sender, after_p, 1 + a.idle_errors + a.errors, a.interval)
        wait_arrivals(rec, [s["n"] for s in sent_after], gw_s + 30)
        m5 = scrape(port)
        res["after"] = {**latencies(sent_after, rec.first_arrivals()), "eval": eval_delta(m4, m5),
                        "stored_events": count()}
        res["metrics_end"] = scrape(port)
        res["webhook_posts"] = len(rec.posts)
        log(f"run {i + 1}: evaluation round mean {fmt(res['before']['eval'].get('mean_ms'), 3)} ms with "
            f"{res['before']['stored_events']} events stored, {fmt(res['after']['eval'].get('mean_ms'), 3)} ms with "
            f"{res['after']['stored_events']}; idle latency p50 {fmt(res['before']['latency_ms']['p50'])} / "
            f"{fmt(res['after']['latency_ms']['p50'])} ms")
    finally:
        res["sigterm_exit_s"] = srv.stop(timeout=60)
        rec.close()
    if not a.keep:
        shutil.rmtree(data, ignore_errors=True)
        res["request_log_lines"] = I.thin_log(run_dir / "stderr.log")
    return res


def parse_secs(s: str) -> float:
    m = re.fullmatch(r"(\d+)(s|m)?", s.strip())
    if not m:
        raise SystemExit(f"--group-wait: cannot read {s!r} (e.g. 0s, 30s, default)")
    v = float(m.group(1))
    return v * 60 if m.group(2) == "m" else v


def fmt(x, nd=0):
    return "-" if x is None else f"{x:,.{nd}f}"


def summarize(runs: list[dict]) -> dict:
    def med(f):
        xs = []
        for r in runs:
            try:
                xs.append(f(r))
            except (KeyError, TypeError):
                pass
        return B.median(xs)

    pooled = [x for r in runs for x in r["load"]["samples_ms"]]
    return {
        "runs": len(runs),
        "load_p50_ms": med(lambda r: r["load"]["latency_ms"]["p50"]),
        "load_p95_ms": med(lambda r: r["load"]["latency_ms"]["p95"]),
        "load_p99_ms": med(lambda r: r["load"]["latency_ms"]["p99"]),
        "load_max_ms": med(lambda r: r["load"]["latency_ms"]["max"]),
        "pooled_samples": len(pooled),
        "pooled_p99_ms": B.percentile(pooled, 99),
        "pooled_max_ms": max(pooled) if pooled else None,
        "arrived": sum(r["load"]["arrived"] for r in runs),
        "sent": sum(r["load"]["sent"] for r in runs),
        "ack_p99_ms": med(lambda r: r["load"]["ack_ms"]["p99"]),
        "rate_target": med(lambda r: r["loadgen"]["target_rate"]),
        "rate_achieved": med(lambda r: r["loadgen"]["achieved_ok_rate"]),
        "loadgen_non2xx": med(lambda r: r["loadgen"]["non2xx"]),
        "loadgen_errors": med(lambda r: r["loadgen"]["errors"]),
        "loadgen_p99_ms": med(lambda r: r["loadgen"]["latency_ms"]["p99"]),
        "server_cpu_pct": med(lambda r: r["server_cpu_pct_mean"]),
        "foreign_cpu_mean_pct": med(lambda r: r["foreign_cpu_pct"]["mean"]),
        "foreign_cpu_max_pct": med(lambda r: r["foreign_cpu_pct"]["max"]),
        "signals_dropped": med(lambda r: r["metrics_end"].get("signals_dropped")),
        "eval_load_mean_ms": med(lambda r: r["load"]["eval"]["mean_ms"]),
        "eval_load_us_per_signal": med(lambda r: r["load"]["eval"]["us_per_signal"]),
        "eval_before_mean_ms": med(lambda r: r["before"]["eval"]["mean_ms"]),
        "eval_after_mean_ms": med(lambda r: r["after"]["eval"]["mean_ms"]),
        "stored_before": med(lambda r: r["before"]["stored_events"]),
        "stored_after": med(lambda r: r["after"]["stored_events"]),
        "idle_before_p50_ms": med(lambda r: r["before"]["latency_ms"]["p50"]),
        "idle_before_max_ms": med(lambda r: r["before"]["latency_ms"]["max"]),
        "idle_after_p50_ms": med(lambda r: r["after"]["latency_ms"]["p50"]),
        "idle_after_max_ms": med(lambda r: r["after"]["latency_ms"]["max"]),
    }


def print_summary(s: dict, group_wait: str) -> None:
    print()
    print(f"median of {s['runs']} run(s), group_wait {group_wait}")
    rows = [
        ("notifications arrived / errors sent (all runs)", f"{s['arrived']} / {s['sent']}"),
        ("ingest -> webhook p50 / p95 / p99 / max, ms",
         f"{fmt(s['load_p50_ms'])} / {fmt(s['load_p95_ms'])} / {fmt(s['load_p99_ms'])} / {fmt(s['load_max_ms'])}"),
        (f"  pooled over runs: p99 / max ({s['pooled_samples']} samples), ms",
         f"{fmt(s['pooled_p99_ms'])} / {fmt(s['pooled_max_ms'])}"),
        ("  of which the error's own ingest ack, p99 ms", fmt(s["ack_p99_ms"], 1)),
        ("background: target / achieved envelopes/s", f"{fmt(s['rate_target'])} / {fmt(s['rate_achieved'])}"),
        ("background: non-2xx / loadgen errors / p99 ms",
         f"{fmt(s['loadgen_non2xx'])} / {fmt(s['loadgen_errors'])} / {fmt(s['loadgen_p99_ms'], 1)}"),
        ("server CPU during the load, % of a core", fmt(s["server_cpu_pct"])),
        ("other processes: mean / peak % of a core", f"{fmt(s['foreign_cpu_mean_pct'])} / {fmt(s['foreign_cpu_max_pct'])}"),
        ("alert signals dropped (queue full)", fmt(s["signals_dropped"])),
        ("evaluation round under load: mean ms / us per signal",
         f"{fmt(s['eval_load_mean_ms'], 3)} / {fmt(s['eval_load_us_per_signal'], 2)}"),
        ("evaluation round idle: mean ms before / after",
         f"{fmt(s['eval_before_mean_ms'], 3)} / {fmt(s['eval_after_mean_ms'], 3)}"),
        ("  events stored before / after", f"{fmt(s['stored_before'])} / {fmt(s['stored_after'])}"),
        ("idle latency before: p50 / max ms", f"{fmt(s['idle_before_p50_ms'])} / {fmt(s['idle_before_max_ms'])}"),
        ("idle latency after: p50 / max ms", f"{fmt(s['idle_after_p50_ms'])} / {fmt(s['idle_after_max_ms'])}"),
    ]
    for label, v in rows:
        print(f"{label:58s}{v:>34s}")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--rate", type=int, default=5000, help="background envelopes/s")
    ap.add_argument("--duration", type=float, default=36.0, help="background seconds (at least the errors' span)")
    ap.add_argument("--connections", type=int, default=64,
                    help="loadgen connections (each waits for its answer: 16 cap the rate near 16 / latency)")
    ap.add_argument("--errors", type=int, default=60, help="measured new errors under load")
    ap.add_argument("--idle-errors", type=int, default=10, help="new errors before and after the load")
    ap.add_argument("--interval", type=float, default=0.5, help="seconds between new errors")
    ap.add_argument("--load-warmup", type=float, default=3.0, help="seconds of load before the first error")
    ap.add_argument("--group-wait", default="0s", help="the route's group_wait (e.g. 0s, 30s; 'default' omits it)")
    ap.add_argument("--no-wait-quiet", dest="wait_quiet", action="store_false")
    ap.add_argument("--quiet-threshold", type=float, default=25.0)
    ap.add_argument("--quiet-max-wait", type=float, default=300.0)
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    a.runs = max(1, min(a.runs, 10))
    a.rate = max(1, min(a.rate, 50_000))
    a.errors = max(1, min(a.errors, 500))
    a.idle_errors = max(0, min(a.idle_errors, 100))
    a.interval = max(0.05, min(a.interval, 10.0))
    a.duration = max(5.0, min(a.duration, 600.0))
    if a.group_wait != "default":
        parse_secs(a.group_wait)

    info = B.machine_info()
    B.print_machine(info)
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    base = B.WORK / "runs" / f"alerts-{stamp}"
    base.mkdir(parents=True, exist_ok=True)
    print(f"runs:    {a.runs}; work dir {base.relative_to(B.ROOT)}")
    runs = []
    for i in range(a.runs):
        quiet = B.wait_quiet(a.quiet_threshold, 10.0, a.quiet_max_wait, say=log) if a.wait_quiet else None
        if quiet and not quiet["quiet"]:
            log(f"run {i + 1}: the machine did not quieten in {a.quiet_max_wait:.0f} s (other processes at "
                f"{quiet['last_foreign_pct']}% of a core); running anyway, recorded")
        r = run_once(i, a, base)
        r["quiet_before"] = quiet
        runs.append(r)
        with open(base / f"run-{i + 1}.json", "w") as f:
            json.dump(r, f, indent=2, default=str)
    info["loadavg_at_end"] = pathlib.Path("/proc/loadavg").read_text().split()[:3]
    print(f"load:    {' '.join(info['loadavg_at_end'])} (1/5/15 min) at the end")
    s = summarize(runs)
    print_summary(s, a.group_wait)
    path = B.save_json("alerts", {"machine": info, "args": vars(a), "runs": runs, "summary": s})
    print(f"raw results: {path.relative_to(B.ROOT)}")
    return 0 if s["arrived"] == s["sent"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
