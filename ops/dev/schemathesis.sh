#!/usr/bin/env bash
# Schema fuzzing of the HTTP API: schemathesis generates requests from
# schemas/openapi.yaml against a real `invigil up` (its own data dir and
# port, the local broker of services.sh) and checks that no answer is a 5xx,
# every status and content type is documented, and every body — the 4xx
# error bodies of SPEC §4 included — matches its schema.
#
#   ops/dev/schemathesis.sh [SECONDS]     time budget per pass (default 30)
#
# Two passes: the candidate routes with a candidate token, everything else
# with an admin token. Exits non-zero on any failure.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUDGET=${1:-30}
INVIGIL=$ROOT/target/debug/invigil
command -v schemathesis >/dev/null || { echo "schemathesis missing: run ops/dev/services.sh install" >&2; exit 1; }

dir=$(mktemp -d)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export INVIGIL_TOKEN_SECRET='rjpTWBgmg11ieHJwRM5q36RnMATlfB465bNep4A6bUuV'
cat >"$dir/ingest.toml" <<EOF
listen = "127.0.0.1:$port"
config_file = "$dir/data/config.json"
[spool]
dir = "$dir/data/spool"
[kafka]
topic = "schemathesis-$port"
[dashboard]
live_topic = "schemathesis-$port-live"
[rate_limit]
per_second = 10000.0
burst = 10000.0
EOF
for topic in "schemathesis-$port" "schemathesis-$port-live"; do
    "$INVIGIL" tail --topic "$topic" --create 1 >/dev/null
done
RUST_LOG=warn "$INVIGIL" up --settings "$dir/ingest.toml" --data-dir "$dir/data" --broker external --no-demo \
    --media-listen 127.0.0.1:0 --group "schemathesis-$port" >"$dir/up.log" 2>&1 &
up=$!
cleanup() {
    kill "$up" 2>/dev/null && wait "$up" 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT
for _ in $(seq 120); do
    curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break
    kill -0 "$up" 2>/dev/null || { cat "$dir/up.log" >&2; exit 1; }
    sleep 0.5
done

candidate=$("$INVIGIL" token --role candidate --sub cand-st --test exam-1)
admin=$("$INVIGIL" token --role admin --sub admin-st)
checks=not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance
# SDP offers (live video's WHIP and WHEP bodies) are sent as text.
export PYTHONPATH="$ROOT/ops/dev${PYTHONPATH:+:$PYTHONPATH}" SCHEMATHESIS_HOOKS=schemathesis_hooks
status=0
run() {
    local name=$1 token=$2
    shift 2
    echo "== schemathesis: $name (${BUDGET} s)"
    schemathesis run "$ROOT/schemas/openapi.yaml" -u "http://127.0.0.1:$port" -H "Authorization: Bearer $token" \
        --checks "$checks" --max-time "$BUDGET" --request-timeout 10 --workers 2 --no-color "$@" >"$dir/$name.log" 2>&1 \
        || status=1
    # The failures and errors, if any (an error of schemathesis itself fails the
    # pass too, so it must be visible in CI's log), and the counts.
    sed -n '/^=* FAILURES/,/^=* SUMMARY/p;/^=* ERRORS/,/^=* \(WARNINGS\|SUMMARY\)/p;/^Test cases:/,/^$/p' "$dir/$name.log" | cut -c1-400
}
run "candidate routes" "$candidate" --include-path-regex '^/api/v1/(events|config|credentials)$'
run "staff routes" "$admin" --exclude-path-regex '^/api/v1/(events|config|credentials)$'
exit $status
