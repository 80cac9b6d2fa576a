#!/usr/bin/env bash
# CI step: runs the harness's unit tests, builds every cargo-fuzz target once and runs each
# from its seed corpus for FUZZ_SECONDS (default 30), FUZZ_JOBS (default 2) at a time; exits non-zero if any target
# crashes, hangs, runs out of memory or fails to start. FUZZ_RUNS=N also stops each target
# after N executions (the long run in docs/RELIABILITY.md: FUZZ_SECONDS=600 FUZZ_RUNS=10000000),
# FUZZ_KEEP=DIR keeps the inputs the run found in DIR/<target>/ (default: a scratch directory). Installs a nightly toolchain
# (minimal profile) and cargo-fuzz (`cargo install --locked`) when they are missing: CI starts
# from a clean checkout with stable Rust only.
#
# Builds without a sanitizer (`--sanitizer none`, see fuzz/README.md "CI" for why); the
# binaries go to $FUZZ_TARGET_DIR (default target-fuzz/ at the repository root), the inputs the
# run finds to a scratch directory (deleted at exit), crash reproducers to
# target-fuzz/artifacts/<target>/ (kept, and printed).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
seconds="${FUZZ_SECONDS:-30}"
jobs="${FUZZ_JOBS:-2}"
runs="${FUZZ_RUNS:--1}"
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$root/target-fuzz}"
artifacts="$CARGO_TARGET_DIR/artifacts"
for n in "$seconds" "$jobs" "${runs#-}"; do
    [[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "fuzz/ci.sh: '$n' is not a positive integer" >&2; exit 2; }
done

log() { printf '[fuzz] %s\n' "$*" >&2; }
now() { date +%s; }

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    log "installing the nightly toolchain"
    rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    log "installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

cd "$here"
# The harness's own unit tests (`src/`: the scripted server, the input splitters), on stable:
# the fuzz crate is outside the workspace, so `cargo test --workspace` never runs them.
cargo test --release --quiet
log "harness tests passed"

t0=$(now)
# One build for all targets (release, no sanitizer); `run` below starts the binaries directly,
# so two targets at a time never wait on cargo's lock of the target directory.
cargo +nightly fuzz build -O --sanitizer none
log "built every target in $(($(now) - t0)) s"
bin_dir="$CARGO_TARGET_DIR/$(rustc +nightly -vV | sed -n 's/^host: //p')/release"
mapfile -t targets < <(cargo +nightly fuzz list)
((${#targets[@]})) || { echo "fuzz/ci.sh: cargo fuzz list found no target" >&2; exit 1; }

scratch="$(mktemp -d "${TMPDIR:-/tmp}/atfota-fuzz.XXXXXX")"
trap 'rm -rf -- "$scratch"' EXIT
found="${FUZZ_KEEP:-$scratch/corpus}"

# Runs one target; its output goes to $scratch/<target>.log, its status to <target>.status.
run() {
    local target="$1"
    mkdir -p "$found/$target" "$artifacts/$target"
    # The first corpus directory receives new inputs: the seeds in the tree stay as they are.
    set +e
    "$bin_dir/$target" "$found/$target" "corpus/$target" \
        -max_total_time="$seconds" -runs="$runs" -timeout=10 -rss_limit_mb=1024 -print_final_stats=1 \
        -artifact_prefix="$artifacts/$target/" >"$scratch/$target.log" 2>&1
    echo $? >"$scratch/$target.status"
    set -e
}

t1=$(now)
log "running ${#targets[@]} targets for $seconds s each, $jobs at a time: ${targets[*]}"
running=0
for target in "${targets[@]}"; do
    if ((running >= jobs)); then
        wait -n
        running=$((running - 1))
    fi
    run "$target" &
    running=$((running + 1))
done
wait

failed=()
for target in "${targets[@]}"; do
    status="$(cat "$scratch/$target.status" 2>/dev/null || echo missing)"
    stats="$(awk -F': *' '/stat::number_of_executed_units/ {e = $NF} /stat::average_exec_per_sec/ {s = $NF}
        END {printf "%s execs, %s exec/s", e ? e : "?", s ? s : "?"}' "$scratch/$target.log")"
    if [[ "$status" == 0 ]]; then
        log "$target: ok, $stats"
    else
        failed+=("$target")
        log "$target: FAILED (status $status), $stats; the end of its output:"
        tail -n 60 "$scratch/$target.log" >&2
        log "reproducers kept in $artifacts/$target/:"
        ls -l "$artifacts/$target" >&2 || true
    fi
done
log "fuzzing took $(($(now) - t1)) s (build $((t1 - t0)) s)"
if ((${#failed[@]})); then
    echo "fuzz/ci.sh: ${#failed[@]} target(s) failed: ${failed[*]} (reproduce with" \
        "cargo +nightly fuzz run --sanitizer none <target> <reproducer>)" >&2
    exit 1
fi
