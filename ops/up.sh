#!/usr/bin/env bash
# The README's first command: the whole product on this machine.
#
#   ops/up.sh [invigil up options...]      e.g. ops/up.sh --data-dir /srv/invigil
#
# Installs what is missing (Debian packages for the build, the wasm32 target,
# the chDB library, the tansu broker), builds the browser SDK and the
# `invigil` binary, then runs `invigil up`: broker, ingest, pipeline, chDB,
# media store, dashboards and a demo exam, with the URLs and staff sign-in
# links printed. Data stays in ./invigil-data across restarts; Ctrl-C stops
# everything.
#
# The first run takes ~30-40 min on a 2-core machine, nearly all of it
# compiling (the tansu broker ~15 min, invigil in release 11 min, the SDK's
# wasm-bindgen CLI ~3 min) and a ~180 MB chDB download; every step is cached,
# so later runs start in seconds. INVIGIL_UP_PROFILE=dev uses a debug build
# (quicker to build, slower to run).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

profile=${INVIGIL_UP_PROFILE:-release}
case $profile in
    release) build=(--release); binary=target/release/invigil ;;
    dev) build=(); binary=target/debug/invigil ;;
    *) echo "INVIGIL_UP_PROFILE=$profile: expected release or dev" >&2; exit 2 ;;
esac

started=$(date +%s)
step() { printf '\n[up %s/4 +%ss] %s\n' "$1" "$(( $(date +%s) - started ))" "$2" >&2; }

step 1 "prerequisites: build packages, wasm32 target, chDB, tansu broker (cached after the first run)"
ops/dev/services.sh install-runtime

step 2 "the browser SDK (sdk/build.sh)"
sdk/build.sh

step 3 "invigil and invigil-tools (loadgen, bench; $profile build)"
cargo build "${build[@]}" -p invigil -p invigil-tools

step 4 "starting invigil up"
eval "$(ops/dev/services.sh env | grep -E '^export INVIGIL_(CHDB_LIB|CACHE)=')"
exec "$binary" up --sdk-dir "$ROOT/sdk/dist" "$@"
