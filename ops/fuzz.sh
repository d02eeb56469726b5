#!/usr/bin/env bash
# Fuzzes the decoders that read untrusted bytes (libFuzzer via cargo fuzz):
#   batch   an event batch as ingest receives it   (schemas::validate::parse_batch)
#   record  a Kafka record value as the pipeline reads it (schemas::record::decode)
#   config  the configuration document             (ConfigDocument::from_json)
#
#   ops/fuzz.sh [SECONDS] [TARGET...]     default: 20 s for each target
#
# cargo-fuzz is installed once into $INVIGIL_CACHE. Builds on the stable
# toolchain with no sanitizer: the code is safe Rust, so what we hunt is
# panics, overflows (debug assertions are on) and broken round trips. Seeds
# are committed in schemas/fuzz/corpus/<target>/; what a run discovers goes
# to a scratch directory. A crash is saved in schemas/fuzz/artifacts/<target>/
# and fails the run; reproduce it with
#   (cd schemas/fuzz && cargo fuzz run -s none TARGET artifacts/TARGET/crash-…)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${INVIGIL_CACHE:-$HOME/.cache/invigil}
CARGO_FUZZ_VERSION=0.13.2
SECONDS_EACH=${1:-20}
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(batch record config)
say() { printf '[fuzz] %s\n' "$*" >&2; }

export PATH=$CACHE/cargo-fuzz-$CARGO_FUZZ_VERSION/bin:$PATH
if ! cargo fuzz --version >/dev/null 2>&1; then
    say "installing cargo-fuzz $CARGO_FUZZ_VERSION (one time, ~2 min)"
    cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked --quiet --root "$CACHE/cargo-fuzz-$CARGO_FUZZ_VERSION"
fi
command -v c++ >/dev/null || { say "error: libFuzzer needs a C++ compiler (Debian: g++)"; exit 1; }

cd "$ROOT/schemas/fuzz"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
status=0
for target in "${TARGETS[@]}"; do
    say "$target: building"
    cargo fuzz build -s none --release "$target" 2>&1 | grep -E '^(error|warning: unused)' >&2 || true
    mkdir -p "$scratch/$target"
    log=$scratch/$target.log
    if cargo fuzz run -s none --release "$target" "$scratch/$target" "corpus/$target" -- \
        -max_total_time="$SECONDS_EACH" -print_final_stats=1 >"$log" 2>&1; then
        outcome=ok
    else
        outcome=FAILED
        status=1
        grep -E 'panicked|ERROR|SUMMARY|Test unit written' "$log" | head -20 >&2
    fi
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    printf '%-7s %-6s %12s executions  %8s exec/s  %s s\n' "$target" "$outcome" "${runs:-?}" "${rate:-?}" "$SECONDS_EACH"
done
exit $status
