#!/usr/bin/env bash
# The whole test suite, against real local services:
#   1. ops/dev/services.sh up   (installs what is missing, starts kafka, s3, clickhouse, zookeeper and the 2-replica ClickHouse cluster)
#   2. formatting, the wasm32 build of the shared crates
#   3. every Rust test (cargo nextest), the SDK build (sdk/build.sh), the OCI
#      image built and run (ops/image/test.sh), the
#      dashboards' JS unit tests (node --test dashboards/web/test/*.test.js), then the
#      browser tests (node --test: the SDK against real ingest, tansu, moto),
#      the chaos test's short form (ops/chaos/run.sh) and its form on the
#      multi-host bed (invigil bench chaos-bed), fuzzing, schemathesis
#   4. services down (set INVIGIL_KEEP_SERVICES=1 to leave them running)
#
#   ops/test.sh          the suite CI runs (.ci/run), kept under 45 min on a fresh clone
#   ops/test.sh --full   also the long runs: the chaos long form (3 seeds x 2 stores,
#                        30 simulated min) and on the bed (3 seeds), a 30-min video recording in Chromium, a
#                        5-min SDK bench in Chromium, 2 min of fuzzing per target and
#                        2-min schemathesis passes
#
# Each long stage has a time budget and the whole run 80 min
# (INVIGIL_SUITE_LIMIT_SECS): a stage that hangs is stopped and counted as
# failed, so CI always reaches the summary.
# Exits non-zero if anything failed; prints each stage's wall time, and the
# last line is "summary: N passed, M failed".
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

full=0
case "${1:-}" in
    "") ;;
    --full) full=1 ;;
    *) echo "usage: ops/test.sh [--full]" >&2; exit 2 ;;
esac

passed=0
failed=0
broken_steps=()
log_dir=$(mktemp -d)
suite_started=$(date +%s)
# The whole run's budget: CI allows 90 min; the default suite aims at 45.
suite_limit=${INVIGIL_SUITE_LIMIT_SECS:-4800}
[ "$full" = 1 ] && suite_limit=${INVIGIL_SUITE_LIMIT_SECS:-36000}

# Each stage's wall time, for the summary: `step` closes the previous stage.
stage_names=()
stage_secs=()
stage_name=""
stage_started=0
close_stage() {
    if [ -n "$stage_name" ]; then
        stage_names+=("$stage_name")
        stage_secs+=($(( $(date +%s) - stage_started )))
    fi
    stage_name=""
}
step() {
    close_stage
    stage_name=$1
    stage_started=$(date +%s)
    printf '\n== %s\n' "$*"
}
print_stages() {
    close_stage
    echo
    echo "stage times:"
    local i
    for i in "${!stage_names[@]}"; do
        printf '  %6d s  %s\n' "${stage_secs[$i]}" "${stage_names[$i]}"
    done
    printf '  %6d s  total\n' "$(( $(date +%s) - suite_started ))"
}
fail_step() { broken_steps+=("$1"); }

# bounded SECS CMD...: CMD, stopped (its whole process group: SIGTERM, then
# SIGKILL 30 s later) once it has run SECS s, so one hung stage fails on
# its own instead of holding the suite past CI's limit. Its exit status;
# 124 when it was stopped.
bounded() {
    local secs=$1 status left
    shift
    # Never past the suite's own limit either (CI stops everything at 90 min).
    left=$(( suite_limit - ($(date +%s) - suite_started) ))
    [ "$left" -lt 60 ] && left=60
    [ "$secs" -gt "$left" ] && secs=$left
    timeout --kill-after=30 "$secs" "$@"
    status=$?
    if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
        echo "stopped: '$*' was still running after its budget of $secs s"
    fi
    return "$status"
}

cleanup() {
    if [ "${INVIGIL_KEEP_SERVICES:-0}" != 1 ]; then
        ops/dev/services.sh down >/dev/null 2>&1 || true
    fi
    rm -rf "$log_dir"
}
trap cleanup EXIT

step "test runner"
if ! cargo nextest --version >/dev/null 2>&1; then
    echo "cargo-nextest missing: installing it (one time, a few minutes)"
    cargo install cargo-nextest --locked --quiet || { echo "summary: 0 passed, 1 failed"; exit 1; }
fi

step "services"
if ! ops/dev/services.sh up; then
    print_stages
    echo "summary: 0 passed, 1 failed"
    exit 1
fi
eval "$(ops/dev/services.sh env)"
ops/dev/services.sh status

step "formatting (cargo fmt --check)"
cargo fmt --all --check || fail_step "cargo fmt"

step "wasm32 build of the crates the SDK uses"
cargo build -q -p invigil-schemas -p invigil-sdk --target wasm32-unknown-unknown || fail_step "wasm32 build"

step "Rust test build (cargo nextest --no-run) and the two binaries"
cargo nextest run --workspace --no-run --cargo-quiet || fail_step "cargo nextest --no-run"
# invigil's tests hand tool subcommands to invigil-tools, and the browser
# tests run both; cargo builds only a package's own binaries for its tests.
cargo build -q -p invigil -p invigil-tools || fail_step "cargo build -p invigil -p invigil-tools"

step "Rust tests (cargo nextest)"
bounded 2400 cargo nextest run --workspace --no-fail-fast 2>&1 | tee "$log_dir/nextest.log"
nextest_status=${PIPESTATUS[0]}
summary=$(grep -E 'Summary \[' "$log_dir/nextest.log" | tail -1)
if [[ $summary =~ ([0-9]+)\ passed ]]; then passed=$((passed + BASH_REMATCH[1])); fi
if [[ $summary =~ ([0-9]+)\ failed ]]; then failed=$((failed + BASH_REMATCH[1])); fi
if [ "$nextest_status" -ne 0 ] && ! [[ $summary =~ [1-9][0-9]*\ failed ]]; then fail_step "cargo nextest (exit $nextest_status)"; fi

step "SDK bundle for the browser tests"
sdk/build.sh || fail_step "sdk/build.sh"

step "OCI image (ops/image/build.sh, run from its layout under unshare + chroot)"
if bounded 900 ops/image/test.sh; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "failed: image"; fi

# node_tests NAME SECS LOG DIR [ARGS...]: `node --test ARGS` in DIR, at most SECS s, its TAP
# counts added to ours; a run that fails without a failing test (it did not
# load) is a broken step.
node_tests() {
    local name=$1 secs=$2 log=$3 dir=$4 status pass fail
    shift 4
    (cd "$dir" && bounded "$secs" node --test "$@") 2>&1 | tee "$log"
    status=${PIPESTATUS[0]}
    pass=$(sed -n 's/^# pass \([0-9]*\)$/\1/p' "$log" | tail -1)
    fail=$(sed -n 's/^# fail \([0-9]*\)$/\1/p' "$log" | tail -1)
    passed=$((passed + ${pass:-0}))
    failed=$((failed + ${fail:-0}))
    if [ "$status" -ne 0 ] && [ "${fail:-0}" -eq 0 ]; then fail_step "$name (exit $status)"; fi
}

step "JS unit tests: dashboards and the SDK's words (node --test)"
# The files, not the folder: Node 21+ reads a folder argument as a test file.
node_tests "node --test dashboards/web/test sdk/js/test" 300 "$log_dir/dashboards-js.log" . \
    dashboards/web/test/*.test.js sdk/js/test/*.test.js

step "browser tests (node --test, headless Chromium)"
node_tests "node --test" 1800 "$log_dir/node.log" ops/dev/browser

step "chaos (kill -9 ingest, broker, pipeline under 1,000 candidates on chDB; short form)"
if INVIGIL_CHAOS_PROFILE=dev bounded 900 ops/chaos/run.sh --short; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "failed: chaos"; fi

step "chaos on the multi-host bed (kill ingest, pipeline and ClickHouse hosts, cut one off 20 s; 500 candidates x 10 simulated min)"
if bounded 900 target/debug/invigil bench chaos-bed --seeds 1 -n 500 --minutes 10 --speedup 12 --min-gap-secs 2 --max-gap-secs 4; then
    passed=$((passed + 1))
else
    failed=$((failed + 1)); echo "failed: chaos on the bed"
fi

fuzz_secs=15
schema_secs=30
[ "$full" = 1 ] && { fuzz_secs=120; schema_secs=120; }

step "fuzzing the decoders (cargo fuzz, $fuzz_secs s per target)"
if bounded $((fuzz_secs * 20 + 600)) ops/fuzz.sh "$fuzz_secs"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "failed: cargo fuzz"; fi

step "API schema fuzzing (schemathesis against openapi.yaml on a running invigil up, $schema_secs s per pass)"
if bounded $((schema_secs * 10 + 600)) ops/dev/schemathesis.sh "$schema_secs"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "failed: schemathesis"; fi

if [ "$full" = 1 ]; then
    step "chaos long form (--full: seeds 1,2,3 on chDB and ClickHouse, 1,000 candidates x 30 simulated min)"
    if INVIGIL_CHAOS_PROFILE=dev ops/chaos/run.sh; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "failed: chaos long form"; fi

    step "chaos on the bed, long form (--full: seeds 1,2,3, 1,000 candidates x 30 simulated min)"
    if target/debug/invigil bench chaos-bed --seeds 1,2,3 -n 1000 --minutes 30 --speedup 12; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1)); echo "failed: chaos on the bed, long form"
    fi

    step "video recording (--full: 30 min, three 2-min offline spells and a reload, ffprobe per segment)"
    if (cd ops/dev/browser && INVIGIL_RECORDING_MINUTES=30 INVIGIL_RECORDING_OFFLINE_MS=120000 node --test recording.test.js); then
        passed=$((passed + 1))
    else
        failed=$((failed + 1)); echo "failed: 30-min recording"
    fi

    step "SDK bench (--full: 5 min in headless Chromium)"
    if target/debug/invigil bench sdk --minutes 5 --check; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "failed: bench sdk"; fi
fi

failed=$((failed + ${#broken_steps[@]}))
print_stages
echo
for broken in "${broken_steps[@]}"; do echo "failed step: $broken"; done
echo "summary: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
