#!/usr/bin/env bash
# Error-ingest benchmark: throughput (wrk -t2 -c8 -d20s), latency at a fixed rate (bench/loadgen.rs,
# open loop), RSS during the load and disk per event; Lookout, Bugsink, or both in the same run.
#
#   bench/ingest.sh [--peer lookout|bugsink|both] [--runs 3] [--duration 20] [--rate 2000]
#                   [--rate-duration 20] [--bugsink-rate N] [--keep] [--no-build | --commit REV]
#                   [--no-wait-quiet] [--lookout-env LOOKOUT_X=V]...
#
# Lookout: target/release/lookout, built here from the work tree unless --no-build; --commit REV
# builds REV from a clean snapshot instead (bench/lib/build.sh); LOOKOUT_BIN=... any binary.
# Before each run the driver waits (at most 10 min) until other processes use < 25% of a core.
# Bugsink: installed and configured by bench/bugsink/setup.sh (run here when --peer needs it).
# Loopback only; every phase is bounded in time (see bench/lib/ingest_bench.py for the timeouts).
# Raw results: bench/out/ingest-<timestamp>.json; logs: bench/.work/runs/<timestamp>/.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="$ROOT/bench/.work"
mkdir -p "$WORK"

peer=lookout
build=1
commit=""
args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --no-build) build=0 ;;
        --commit) commit="$2"; shift ;;
        --commit=*) commit="${1#--commit=}" ;;
        --peer) peer="$2"; args+=("$1" "$2"); shift ;;
        --peer=*) peer="${1#--peer=}"; args+=("$1") ;;
        *) args+=("$1") ;;
    esac
    shift
done

command -v wrk >/dev/null || { echo "ingest.sh: wrk is missing (apt-get install wrk)" >&2; exit 2; }

# A Python that has `brotli` (to decode the recorded fixture).
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

if [ "$peer" != bugsink ]; then
    . "$ROOT/bench/lib/build.sh"
    lookout_build "$ROOT" "$build" "$commit"
fi
if [ "$peer" != lookout ]; then
    "$ROOT/bench/bugsink/setup.sh" >/dev/null
fi

exec "$PY" "$ROOT/bench/lib/ingest_bench.py" "${args[@]}"
