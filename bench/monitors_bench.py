#!/usr/bin/env python3
"""Driver of bench/monitors.sh (standard library only).

1. Starts a local HTTP target (a separate process, so its CPU is not counted).
2. Starts `lookout serve` on 127.0.0.1:0 with a fresh data dir, makes a project and an
   install-wide token with the CLI, and creates N HTTP monitors at the given interval through
   the API, each with a condition ([STATUS] == 200).
3. Waits one interval plus 10 s (every monitor has run), then measures W windows of S seconds:
   the server's CPU seconds (utime+stime from /proc/PID/stat) per wall second, its RSS
   (VmRSS), and the checks it ran (lookout_monitor_checks_total from /metrics).
4. Creates a status page with 10 of the monitors and runs wrk against /status/{slug}.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

TARGET = r'''
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_GET(self):
        b = b'{"status":"healthy"}'
        self.send_response(200); self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(b))); self.end_headers(); self.wfile.write(b)
class S(http.server.ThreadingHTTPServer):
    daemon_threads = True
    def handle_error(self, *a): pass  # connections reset at shutdown
s = S(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
'''


def api(base, token, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method,
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read() or b"null")


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / tick


def rss_mb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def checks_total(base):
    text = urllib.request.urlopen(base + "/metrics", timeout=10).read().decode()
    return sum(float(m.group(1)) for m in re.finditer(r'^lookout_monitor_checks_total\{[^}]*\} (\S+)$', text, re.M))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--monitors", type=int, default=1000)
    ap.add_argument("--interval", type=int, default=30)
    ap.add_argument("--windows", type=int, default=3)
    ap.add_argument("--window-secs", type=int, default=60)
    ap.add_argument("--wrk-secs", type=int, default=20)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="lookout-monitors-bench-")
    data = os.path.join(work, "data")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOKOUT_")}
    env["LOOKOUT_LOG__LEVEL"] = "warn"
    target = subprocess.Popen([sys.executable, "-c", TARGET], stdout=subprocess.PIPE, text=True)
    server = None
    try:
        tport = int(target.stdout.readline())
        cli = lambda *args: json.loads(subprocess.check_output([a.bin, *args, "--data-dir", data, "--json"], env=env, cwd=work))
        project = cli("project", "create", "--name", "bench")
        token = cli("token", "create", "--name", "bench")["token"]
        server = subprocess.Popen([a.bin, "serve", "--listen", "127.0.0.1:0", "--data-dir", data],
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env, cwd=work)
        base = None
        deadline = time.time() + 30
        while base is None and time.time() < deadline:
            line = server.stdout.readline()
            m = re.search(r"(http://127\.0\.0\.1:\d+)", line)
            if m:
                base = m.group(1)
        assert base, "no banner"
        t0 = time.time()
        ids = []
        for i in range(a.monitors):
            m = api(base, token, "POST", "/api/v1/monitors", {
                "project_id": project["id"], "name": f"m{i}", "kind": "http",
                "url": f"http://127.0.0.1:{tport}/health?i={i}", "interval_secs": a.interval,
                "timeout_secs": 10, "conditions": ["[STATUS] == 200"]})
            ids.append(m["id"])
        created_in = time.time() - t0
        print(f"created {a.monitors} monitors in {created_in:.1f} s; warming up {a.interval + 10} s", flush=True)
        time.sleep(a.interval + 10)
        windows = []
        for w in range(a.windows):
            c0, k0, s0 = cpu_seconds(server.pid), checks_total(base), time.time()
            rss = []
            while time.time() - s0 < a.window_secs:
                time.sleep(1)
                rss.append(rss_mb(server.pid))
            c1, k1, s1 = cpu_seconds(server.pid), checks_total(base), time.time()
            win = {"cpu_pct_of_one_core": 100 * (c1 - c0) / (s1 - s0), "rss_mb_max": max(rss),
                   "rss_mb_median": statistics.median(rss), "checks_per_s": (k1 - k0) / (s1 - s0), "secs": s1 - s0}
            windows.append(win)
            print(f"window {w + 1}: cpu {win['cpu_pct_of_one_core']:.2f}% of one core, rss max {win['rss_mb_max']:.1f} MB, "
                  f"{win['checks_per_s']:.1f} checks/s", flush=True)
        states = api(base, token, "GET", f"/api/v1/monitors?project_id={project['id']}")["items"]
        up = sum(1 for m in states if m["state"]["status"] == "up")
        api(base, token, "POST", "/api/v1/status-pages", {
            "slug": "bench", "title": "Bench status",
            "monitors": [{"monitor_id": i, "display_name": f"Service {n}"} for n, i in enumerate(ids[:10])]})
        urllib.request.urlopen(base + "/status/bench", timeout=10).read()
        wrk = subprocess.run(["wrk", "-t2", "-c16", f"-d{a.wrk_secs}s", "--latency", base + "/status/bench"],
                             capture_output=True, text=True, timeout=a.wrk_secs + 60).stdout
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", wrk).group(1))
        non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", wrk)
        p99 = re.search(r"99%\s+(\S+)", wrk)
        result = {
            "binary": a.bin, "monitors": a.monitors, "interval_secs": a.interval, "up": up,
            "created_in_secs": created_in, "windows": windows,
            "cpu_pct_median": statistics.median(w["cpu_pct_of_one_core"] for w in windows),
            "rss_mb_max": max(w["rss_mb_max"] for w in windows),
            "status_page_rps": rps, "status_page_p99": p99.group(1) if p99 else None,
            "status_page_non_2xx": int(non2xx.group(1)) if non2xx else 0,
            "wrk": "wrk -t2 -c16 -d%ds --latency" % a.wrk_secs,
            "loadavg": open("/proc/loadavg").read().strip(),
        }
        print(json.dumps(result, indent=2))
        out = os.path.join(a.out, time.strftime("monitors-%Y%m%d-%H%M%S.json"))
        with open(out, "w") as f:
            json.dump(result, f, indent=2)
        print(f"written to {out}")
    finally:
        if server:
            server.terminate()
            try:
                server.wait(20)
            except subprocess.TimeoutExpired:
                server.kill()
        target.terminate()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
