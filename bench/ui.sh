#!/usr/bin/env bash
# UI page benchmark (overview, issue list, issue page, releases; 100k events in 1,000 issues).
#   bench/ui.sh [--no-build] [extra args for bench/ui_pages.py]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ "${1:-}" = "--no-build" ]; then shift; else (cd "$ROOT" && cargo build --release --bin lookout); fi
exec python3 "$ROOT/bench/ui_pages.py" --bin "$ROOT/target/release/lookout" "$@"
