#!/usr/bin/env bash
# Lookout and Bugsink side by side under the same load, in one run: bench/ingest.sh --peer both.
exec "$(dirname "${BASH_SOURCE[0]}")/ingest.sh" --peer both "$@"
