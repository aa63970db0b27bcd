#!/usr/bin/env bash
# Alerting benchmark (issue #6): (a) ingest of an error that fires a `new_issue` rule -> the webhook
# request leaving Lookout, p50/p95/p99/max, while bench/loadgen.rs ingests --rate envelopes/s of other
# traffic (target: p99 < 2 s at 5,000/s); (b) the server's evaluation time per round with ~0 events
# stored and after the load stored ~150k (the per-rule cost, without a server:
# `cargo run --release -p lookout-alert --example eval_cost`).
#
#   bench/alerts.sh [--runs 3] [--rate 5000] [--duration 36] [--errors 60] [--interval 0.5]
#                   [--idle-errors 10] [--group-wait 0s|30s|default] [--keep] [--no-wait-quiet]
#                   [--quiet-max-wait 300] [--no-build | --commit REV]
#
# Lookout: the release binary, built here from the work tree unless --no-build; --commit REV builds
# REV from a clean snapshot (bench/lib/build.sh); LOOKOUT_BIN=... any binary. The webhook receiver is
# a loopback server inside the driver (bench/lib/alerts_bench.py). Loopback only, bounded in time.
# Raw results: bench/out/alerts-<timestamp>.json; logs: bench/.work/runs/alerts-<timestamp>/.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="$ROOT/bench/.work"
mkdir -p "$WORK"

build=1
commit=""
args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --no-build) build=0 ;;
        --commit) commit="$2"; shift ;;
        --commit=*) commit="${1#--commit=}" ;;
        *) args+=("$1") ;;
    esac
    shift
done

# A Python that has `brotli` (make_envelope.py decodes the recorded fixture), as bench/ingest.sh.
PY=""
for cand in "$ROOT/.venv/bin/python" "$WORK/bugsink/venv/bin/python" "$WORK/py/bin/python"; do
    if [ -x "$cand" ] && "$cand" -c 'import brotli' 2>/dev/null; then PY="$cand"; break; fi
done
if [ -z "$PY" ]; then
    python3 -m venv "$WORK/py" && "$WORK/py/bin/pip" install -q --disable-pip-version-check brotli >&2
    PY="$WORK/py/bin/python"
fi

# The fixed-rate load generator (std-only Rust, one file).
if [ ! -x "$WORK/loadgen" ] || [ "$ROOT/bench/loadgen.rs" -nt "$WORK/loadgen" ]; then
    rustc -O --edition 2021 "$ROOT/bench/loadgen.rs" -o "$WORK/loadgen" >&2
fi

. "$ROOT/bench/lib/build.sh"
lookout_build "$ROOT" "$build" "$commit"

exec "$PY" "$ROOT/bench/lib/alerts_bench.py" ${args[@]+"${args[@]}"}
