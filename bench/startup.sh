#!/usr/bin/env bash
# Foundation figures for Lookout: time from spawn to GET /ready 200 (median, p90), idle RSS,
# stripped release binary size. Loopback only; every run is bounded (30 s per start/stop).
#
#   bench/startup.sh [--runs 11] [--idle 5] [--no-build | --commit REV]
#
# Measures target/release/lookout, built here from the work tree unless --no-build; --commit REV
# builds REV from a clean snapshot instead (see bench/lib/build.sh); LOOKOUT_BIN=... any binary.
# Raw results go to bench/out/startup-<timestamp>.json.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

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
. "$ROOT/bench/lib/build.sh"
lookout_build "$ROOT" "$build" "$commit"

exec python3 "$ROOT/bench/lib/startup_bench.py" "${args[@]}"
