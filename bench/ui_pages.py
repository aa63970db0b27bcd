#!/usr/bin/env python3
"""UI page benchmark: with 100k events in 1,000 issues, how fast do the
project overview, the issues list (with a 24 h sparkline per row, filters
and sort), the issue page and the releases page render, and how heavy are
they?

    bench/ui.sh            (builds the release binary, then runs this)
    python3 bench/ui_pages.py --bin target/release/lookout [--events 100000] [--issues 1000]

Loopback only; every loop is bounded. Prints a JSON summary and a table.
Latency is measured by the client on loopback (an upper bound of the
server-side render time); 200 requests per page kind, medians and p95.
"""
import argparse, http.client, json, os, re, subprocess, sys, tempfile, threading, time, uuid
from concurrent.futures import ThreadPoolExecutor

ap = argparse.ArgumentParser()
ap.add_argument("--bin", required=True)
ap.add_argument("--events", type=int, default=100_000)
ap.add_argument("--issues", type=int, default=1000)
ap.add_argument("--requests", type=int, default=200)
a = ap.parse_args()

LETTERS = "abcdefghijklmnopqrstuvwxyz"


def word(i):  # numbers are normalised away by grouping, so name issues with letters
    s = ""
    for _ in range(3):
        s += LETTERS[i % 26]
        i //= 26
    return s


tmp = tempfile.mkdtemp(prefix="lookout-ui-bench-")
data = os.path.join(tmp, "data")
env = {k: v for k, v in os.environ.items() if not k.startswith("LOOKOUT_")}
env["LOOKOUT_LOG__LEVEL"] = "warn"


def cli(*args, stdin=None):
    return subprocess.run([a.bin, *args, "--data-dir", data], input=stdin, capture_output=True,
                          text=True, env=env, timeout=60, check=True).stdout


proj = json.loads(cli("project", "create", "--name", "bench", "--json"))
cli("user", "create", "--email", "bench@example.com", "--admin", "--password-stdin",
    stdin="bench-password-123\n")
srv = subprocess.Popen([a.bin, "serve", "--listen", "127.0.0.1:0", "--data-dir", data],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
line = srv.stdout.readline()
host, port = re.search(r"http://([\d.]+):(\d+)", line).groups()
port = int(port)
key = proj["dsn"].split("//")[1].split("@")[0]
pid = proj["id"]

body_tpl = ('{"event_id":"%s"}\n{"type":"event"}\n'
            '{"event_id":"%s","level":"error","platform":"python","release":"shop@1.%d",'
            '"environment":"production","user":{"id":"%d"},"tags":{"shard":"%s"},'
            '"exception":{"values":[{"type":"KeyError","value":"missing %s",'
            '"stacktrace":{"frames":[{"filename":"shop/handlers.py","module":"shop.handlers",'
            '"function":"handle_%s","lineno":12,"in_app":true,"context_line":"    return items[k]",'
            '"pre_context":["def handle(k):"],"post_context":[""],"vars":{"k":"\'x\'"}}]}}]},'
            '"breadcrumbs":{"values":[{"category":"telegram","message":"update","level":"info"}]}}\n')

local = threading.local()


def conn():
    c = getattr(local, "c", None)
    if c is None:
        c = local.c = http.client.HTTPConnection(host, port, timeout=30)
    return c


def send(i):
    eid = uuid.uuid4().hex
    w = word(i % a.issues)
    body = body_tpl % (eid, eid, i % 5, i % 300, w, w, w)
    c = conn()
    c.request("POST", f"/api/{pid}/envelope/", body=body.encode(),
              headers={"X-Sentry-Auth": f"Sentry sentry_key={key}, sentry_version=7"})
    r = c.getresponse()
    r.read()
    return r.status


t0 = time.time()
with ThreadPoolExecutor(8) as ex:
    codes = list(ex.map(send, range(a.events)))
ingest_s = time.time() - t0
assert all(c == 200 for c in codes), {c for c in codes}

# Log in through the real form (CSRF cookie + token).
c = http.client.HTTPConnection(host, port, timeout=30)
c.request("GET", "/login")
r = c.getresponse()
page = r.read().decode()
csrf_cookie = re.search(r"lookout_csrf=([0-9a-f]+)", r.getheader("set-cookie")).group(1)
token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page).group(1)
form = f"email=bench%40example.com&password=bench-password-123&csrf_token={token}"
c.request("POST", "/login", body=form, headers={
    "Content-Type": "application/x-www-form-urlencoded", "Cookie": f"lookout_csrf={csrf_cookie}"})
r = c.getresponse()
r.read()
session = re.search(r"lookout_session=([0-9a-f]+)", r.getheader("set-cookie")).group(1)
cookie = {"Cookie": f"lookout_session={session}"}

c.request("GET", f"/projects/{pid}/issues?status=all&limit=100", headers=cookie)
r = c.getresponse()
listing = r.read().decode()
issue_ids = [int(x) for x in re.findall(r'href="/issues/(\d+)"', listing)]
assert issue_ids, "no issues listed"


def timed(path):
    t = time.perf_counter()
    c.request("GET", path, headers=cookie)
    r = c.getresponse()
    b = r.read()
    assert r.status == 200, (path, r.status)
    return (time.perf_counter() - t) * 1000, len(b)


def stats(samples):
    ms = sorted(s[0] for s in samples)
    return {"p50_ms": round(ms[len(ms) // 2], 2), "p95_ms": round(ms[int(len(ms) * 0.95) - 1], 2),
            "max_ms": round(ms[-1], 2), "bytes": max(s[1] for s in samples)}


list_samples = [timed(f"/projects/{pid}/issues?sort={s}") for s in
                ["last_seen", "events", "first_seen", "users"] * (a.requests // 4)]
# Filters: a tag filter (environment), a level and a release, with sorts.
filtered_samples = [timed(f"/projects/{pid}/issues?{q}") for q in
                    ["environment=production&sort=events", "level=error&sort=users",
                     "release=shop%401.3&sort=last_seen", "status=all&sort=first_seen"] * (a.requests // 4)]
issue_samples = [timed(f"/issues/{issue_ids[i % len(issue_ids)]}") for i in range(a.requests)]
overview_samples = [timed(f"/projects/{pid}") for _ in range(a.requests)]
releases_samples = [timed(f"/projects/{pid}/releases") for _ in range(a.requests)]
css = timed("/static/app.css")[1]
srv.terminate()
srv.wait(timeout=20)
pages = {"overview": overview_samples, "issues_list": list_samples, "issues_filtered": filtered_samples,
         "issue_page": issue_samples, "releases": releases_samples}
out = {"events": a.events, "issues": a.issues, "ingest_s": round(ingest_s, 1), "css_bytes": css}
out.update({k: stats(v) for k, v in pages.items()})
print(json.dumps(out))
for k in pages:
    print(f"{k:16}: p50 {out[k]['p50_ms']} ms, p95 {out[k]['p95_ms']} ms, {out[k]['bytes']} B + {css} B CSS")
