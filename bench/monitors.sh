#!/usr/bin/env bash
# Monitor benchmark (issue #5): 1,000 HTTP monitors at 30 s intervals against a local target,
# measuring the server's CPU (share of one core) and RSS over >= 2 minutes; then the public
# status page's throughput with wrk.
#
#   bench/monitors.sh [--monitors 1000] [--interval 30] [--windows 3] [--window-secs 60]
#                     [--wrk-secs 20] [--no-build | --debug]
#
# Binary: target/release/lookout (built here unless --no-build; --debug uses target/debug);
# LOOKOUT_BIN=... any binary. Needs wrk (apt-get install wrk). Loopback only, bounded in time.
# Raw results: bench/out/monitors-<timestamp>.json.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mkdir -p "$ROOT/bench/out"
profile=release build=1 args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --no-build) build=0 ;;
        --debug) profile=debug; build=0 ;;
        *) args+=("$1") ;;
    esac
    shift
done
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
if [ "$build" = 1 ]; then (cd "$ROOT" && cargo build --release --bin lookout); fi
BIN="${LOOKOUT_BIN:-$TARGET_DIR/$profile/lookout}"
command -v wrk >/dev/null || { echo "monitors.sh: wrk is missing (apt-get install wrk)" >&2; exit 2; }
exec python3 "$ROOT/bench/monitors_bench.py" --bin "$BIN" --out "$ROOT/bench/out" "${args[@]+"${args[@]}"}"
