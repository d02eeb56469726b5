#!/usr/bin/env bash
# The chaos test in one command: loadgen candidates through ingest → tansu →
# pipeline → ClickHouse (Debian's 18.16 server over HTTP) and chDB, while a
# seeded controller kill -9's and restarts ingest, the broker, the pipeline
# and the ClickHouse server; then 0 lost / 0 duplicated and every
# candidate's window totals are checked against loadgen's own log.
#
#   ops/chaos/run.sh                 the long form: seeds 1,2,3 × chdb,http,
#                                    1,000 candidates, 30 simulated minutes
#   ops/chaos/run.sh --short         the suite's form (seed 1 on chDB, 10 min; ClickHouse
#                                    servers are killed under load by the bed's chaos test,
#                                    `invigil bench chaos-bed`, which ops/test.sh runs too)
#   ops/chaos/run.sh [options...]    any `invigil bench chaos` option, e.g.
#                                    --seeds 7 --stores http --speedup 20
#
# Installs what is missing (tansu, ClickHouse server, chDB) through
# ops/dev/services.sh, builds `invigil` (INVIGIL_CHAOS_PROFILE=release|dev,
# default release) and runs `invigil bench chaos`. Everything binds to
# 127.0.0.1 on free ports and stops by itself; the dev services are not used.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"

profile=${INVIGIL_CHAOS_PROFILE:-release}
case $profile in
    release) build=(--release); binary=target/release/invigil ;;
    dev) build=(); binary=target/debug/invigil ;;
    *) echo "INVIGIL_CHAOS_PROFILE=$profile: expected release or dev" >&2; exit 2 ;;
esac

args=("$@")
if [ "${1:-}" = --short ]; then
    # Seed 1 on chDB, 1,000 candidates for 10 simulated minutes at ×20.
    args=(--seeds 1 --stores chdb -n 1000 --minutes 10 --speedup 20 "${@:2}")
fi

ops/dev/services.sh install >&2
cargo build -q "${build[@]}" -p invigil -p invigil-tools
eval "$(ops/dev/services.sh env | grep -E '^export INVIGIL_(CHDB_LIB|CACHE)=')"
exec "$binary" bench chaos "${args[@]}"
