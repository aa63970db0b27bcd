#!/usr/bin/env bash
# Backup benchmark (issue #7): online backup time of a large store, ingest latency at a fixed
# rate during the backup against a baseline without one, and restore throughput.
#
#   bench/backup.sh [--size-mib 1024] [--runs 3] [--rate 200] [--duration 20] [--no-build]
#                   [--write-limit MIB_PER_S]   (backup.max_write_mib_per_sec; default: Lookout's)
#
# Fills a fresh data dir to --size-mib through ingest (events with 1 MiB attachments, half of it
# random bytes so compression cannot cheat), then per run:
#   1. baseline: bench/loadgen.rs (open loop) at --rate envelopes/s for --duration s -> p50/p99;
#   2. the same load again, with `lookout backup create` started 3 s in -> backup seconds, p99;
#   3. `lookout backup restore` into a scratch dir -> MB/s of database restored.
# Prints every run and the medians; raw results go to bench/out/backup-<timestamp>.json.
# Binary: target/release/lookout (built here unless --no-build; LOOKOUT_BIN=... any binary).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="$ROOT/bench/.work/backup"
OUT="$ROOT/bench/out"
mkdir -p "$WORK" "$OUT"

size_mib=1024 runs=3 rate=200 duration=20 build=1 write_limit=""
while [ $# -gt 0 ]; do
    case "$1" in
        --size-mib) size_mib="$2"; shift ;;
        --runs) runs="$2"; shift ;;
        --rate) rate="$2"; shift ;;
        --duration) duration="$2"; shift ;;
        --no-build) build=0 ;;
        --write-limit) write_limit="$2"; shift ;;
        *) echo "backup.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done

TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
if [ "$build" = 1 ] && [ -z "${LOOKOUT_BIN:-}" ]; then
    (cd "$ROOT" && cargo build --release -p lookout >&2)
fi
BIN="${LOOKOUT_BIN:-$TARGET/release/lookout}"
LOADGEN="$ROOT/bench/.work/loadgen"
if [ ! -x "$LOADGEN" ] || [ "$ROOT/bench/loadgen.rs" -nt "$LOADGEN" ]; then
    rustc -O --edition 2021 "$ROOT/bench/loadgen.rs" -o "$LOADGEN" >&2
fi

exec python3 - "$ROOT" "$WORK" "$OUT" "$BIN" "$LOADGEN" "$size_mib" "$runs" "$rate" "$duration" "$write_limit" <<'PY'
import json, os, pathlib, shutil, signal, statistics, subprocess, sys, time, http.client, datetime

root, work, out, binary, loadgen = map(pathlib.Path, sys.argv[1:6])
size_mib, runs, rate, duration = int(sys.argv[6]), int(sys.argv[7]), int(sys.argv[8]), int(sys.argv[9])
data = work / "data"
env = {k: v for k, v in os.environ.items() if not k.startswith("LOOKOUT_")}
env.update(LOOKOUT_BACKUP__ENABLED="false", LOOKOUT_LOG__LEVEL="warn", LOOKOUT_LOG__FORMAT="json")
write_limit = sys.argv[10] if len(sys.argv) > 10 else ""
if write_limit:
    env["LOOKOUT_BACKUP__MAX_WRITE_MIB_PER_SEC"] = write_limit

def log(m): print(f"[{datetime.datetime.now():%H:%M:%S}] {m}", flush=True)

def cli(*args, check=True):
    return subprocess.run([str(binary), "--data-dir", str(data), *args], env=env, check=check,
                          capture_output=True, text=True, timeout=3600)

def start():
    p = subprocess.Popen([str(binary), "--data-dir", str(data), "serve", "--listen", "127.0.0.1:0"],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    for line in p.stdout:
        if line.startswith("Lookout listening on "):
            return p, line.split("//")[1].strip()
    raise SystemExit("server did not start")

def stop(p):
    p.send_signal(signal.SIGTERM)
    p.wait(timeout=60)

MARK = "EVENTID_EVENTID_EVENTID_EVENTID_"
fixture = (root / "crates/lookout-ingest/tests/data/req_001.event.json").read_text().strip()
event = fixture.replace("4896a11f19624a2b9c8d46e6805006e0", MARK, 1)

def envelope(event_id, attachment=b""):
    ev = event.replace(MARK, event_id).encode()
    body = (json.dumps({"event_id": event_id}) + "\n").encode()
    body += json.dumps({"type": "event", "length": len(ev)}).encode() + b"\n" + ev + b"\n"
    if attachment:
        body += json.dumps({"type": "attachment", "length": len(attachment), "filename": "blob.bin"}).encode()
        body += b"\n" + attachment + b"\n"
    return body

def post(addr, pid, key, body):
    host, port = addr.split(":")
    c = http.client.HTTPConnection(host, int(port), timeout=60)
    c.request("POST", f"/api/{pid}/envelope/", body=body, headers={
        "Content-Type": "application/x-sentry-envelope",
        "X-Sentry-Auth": f"Sentry sentry_key={key}, sentry_version=7"})
    r = c.getresponse(); r.read(); c.close()
    return r.status

# 1. A fresh store of the requested size.
if data.exists():
    shutil.rmtree(data)
proc, addr = start()
proj = json.loads(cli("project", "create", "--name", "bench", "--json").stdout)
pid, key = proj["id"], proj["dsn"].split("//")[1].split("@")[0]
log(f"filling the store to {size_mib} MiB through ingest")
t0 = time.monotonic()
i = 0
while True:
    db = data / "lookout.db"
    if db.exists() and db.stat().st_size >= size_mib * 1048576:
        break
    blob = os.urandom(512 * 1024) + (b"lookout bench attachment line %d\n" % i) * 16000
    assert post(addr, pid, key, envelope(f"{i:032x}", blob[:1048576])) == 200
    i += 1
log(f"filled: {i} envelopes, {(data / 'lookout.db').stat().st_size / 1048576:.0f} MiB in {time.monotonic() - t0:.0f} s")

tmpl = work / "envelope.tmpl"
tmpl.write_bytes(envelope(MARK))

def load(tag):
    cmd = [str(loadgen), "--addr", addr, "--path", f"/api/{pid}/envelope/", "--template", str(tmpl),
           "--rate", str(rate), "--duration", str(duration), "--connections", "8", "--warmup", "1",
           "--timeout", "30", "--header", "Content-Type: application/x-sentry-envelope",
           "--header", f"X-Sentry-Auth: Sentry sentry_key={key}, sentry_version=7"]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)

def result(p):
    o, _ = p.communicate(timeout=duration + 180)
    return json.loads(o.strip().splitlines()[-1])

results = []
for r in range(runs):
    res = {}
    base = result(load("baseline"))
    res["baseline_p50_ms"], res["baseline_p99_ms"] = base["latency_ms"]["p50"], base["latency_ms"]["p99"]
    lg = load("during")
    time.sleep(3)
    t0 = time.monotonic()
    m = json.loads(cli("backup", "create", "--name", f"bench-{r}", "--json").stdout)
    res["backup_s"] = time.monotonic() - t0
    during = result(lg)
    res["during_p50_ms"], res["during_p99_ms"] = during["latency_ms"]["p50"], during["latency_ms"]["p99"]
    res["during_non2xx"] = during["non2xx"] + during["errors"]
    res["db_mib"] = m["database"]["size"] / 1048576
    res["backup_mib"] = sum(f["size"] for f in m["files"]) / 1048576
    scratch = work / f"restore-{r}"
    if scratch.exists():
        shutil.rmtree(scratch)
    t0 = time.monotonic()
    cli("backup", "restore", f"bench-{r}", "--into", str(scratch))
    res["restore_s"] = time.monotonic() - t0
    res["restore_mb_per_s"] = m["database"]["size"] / 1e6 / res["restore_s"]
    shutil.rmtree(scratch)
    cli("backup", "prune")  # named backups stay; delete this run's by hand
    for f in (data / "backups").glob(f"bench-{r}.*"):
        f.unlink()
    log(f"run {r + 1}: " + ", ".join(f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}" for k, v in res.items()))
    results.append(res)
stop(proc)

med = {k: statistics.median(x[k] for x in results) for k in results[0]}
summary = {"runs": results, "median": med, "size_mib": size_mib, "rate": rate, "duration": duration,
           "cpus": os.cpu_count(), "binary": str(binary), "write_limit_mib_per_sec": write_limit or "default"}
path = out / f"backup-{datetime.datetime.now():%Y%m%d-%H%M%S}.json"
path.write_text(json.dumps(summary, indent=2))
log("medians: " + ", ".join(f"{k}={v:.1f}" for k, v in med.items()))
log(f"p99 during backup / baseline: {med['during_p99_ms'] / max(med['baseline_p99_ms'], 0.001):.2f}x; raw: {path}")
PY
