# Sourced by bench/startup.sh and bench/ingest.sh: pick the Lookout binary to measure.
#   default          cargo build --release in the work tree -> $CARGO_TARGET_DIR (or target)/release/lookout
#   --commit REV     build REV from a clean `git archive` snapshot (bench/.work/src-<sha>, target dir
#                    bench/.work/target): measures committed code even while the work tree is dirty
#   --no-build       use target/release/lookout as it is
#   LOOKOUT_BIN=...  use that binary (no build)
# Exports LOOKOUT_BIN and LOOKOUT_BIN_SOURCE (what the binary was built from, for the results).
lookout_build() {
    local root="$1" build="$2" commit="$3"
    if [ -n "${LOOKOUT_BIN:-}" ]; then
        export LOOKOUT_BIN_SOURCE="${LOOKOUT_BIN_SOURCE:-given binary}"
        return
    fi
    if [ -n "$commit" ]; then
        local sha src
        sha="$(git -C "$root" rev-parse --short "$commit")"
        src="$root/bench/.work/src-$sha"
        if [ ! -d "$src" ]; then
            mkdir -p "$src.tmp" && git -C "$root" archive "$sha" | tar -x -C "$src.tmp" && mv "$src.tmp" "$src"
        fi
        (cd "$src" && CARGO_TARGET_DIR="$root/bench/.work/target" cargo build --release --bin lookout) >&2
        export LOOKOUT_BIN="$root/bench/.work/target/release/lookout"
        export LOOKOUT_BIN_SOURCE="commit $sha (clean snapshot)"
        return
    fi
    if [ "$build" = 1 ]; then
        (cd "$root" && cargo build --release --bin lookout) >&2
    fi
    export LOOKOUT_BIN="${CARGO_TARGET_DIR:-$root/target}/release/lookout"
    local dirty=""
    [ -n "$(git -C "$root" status --porcelain --untracked-files=no 2>/dev/null)" ] && dirty=" + uncommitted changes"
    export LOOKOUT_BIN_SOURCE="${LOOKOUT_BIN_SOURCE:-work tree at $(git -C "$root" rev-parse --short HEAD)$dirty$([ "$build" = 1 ] || echo ', not rebuilt')}"
}
