#!/usr/bin/env bash
# Runs what ops/image/build.sh packs, the way a node would: the image is
# unpacked from its OCI layout by umoci (so the layer and the config are what
# is tested, not the folder they came from), then its entrypoint runs as the
# image's user under unshare (own mount and PID namespaces) + chroot, with
# settings and secrets handed in as a ConfigMap and a Secret would be.
# Checks: /readyz answers 200, /sdk/invigil.js and the wasm are served with
# their types, the process runs as uid 10001, and a weak token secret stops
# the image at start. Needs root (unshare, chroot) and the dev broker.
#
#   ops/image/test.sh [--binary PATH]   (default: target/debug/invigil)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
binary=$ROOT/target/debug/invigil
[ "${1:-}" = --binary ] && binary=$2

say() { printf '[image test] %s\n' "$*" >&2; }
fail() { say "FAILED: $*"; [ -f "${log:-/dev/null}" ] && tail -20 "$log" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || fail "needs root (unshare and chroot)"

work=$(mktemp -d)
pid=""
cleanup() {
    # unshare waits for its child: kill what runs in the namespace.
    [ -n "$pid" ] && pkill -KILL -P "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

"$ROOT/ops/image/build.sh" --binary "$binary" --out "$work/build" --tag test
umoci unpack --image "$work/build/oci:test" "$work/bundle" >/dev/null
rootfs=$work/bundle/rootfs
config=$work/bundle/config.json

# What the image says about itself.
user=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["process"]["user"]["uid"])' "$config")
[ "$user" = 10001 ] || fail "the image runs as uid $user, not 10001"
mapfile -t args < <(python3 -c 'import json,sys; print("\n".join(json.load(open(sys.argv[1]))["process"]["args"]))' "$config")
mapfile -t envs < <(python3 -c 'import json,sys; print("\n".join(json.load(open(sys.argv[1]))["process"]["env"]))' "$config")
[ "${args[0]}" = /usr/bin/invigil ] || fail "entrypoint ${args[0]}"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
brokers=${INVIGIL_KAFKA_BROKERS:-127.0.0.1:19092}
mkdir -p "$rootfs/etc/invigil"
cat >"$rootfs/etc/invigil/ingest.toml" <<TOML
listen = "127.0.0.1:$port"
config_file = "/var/lib/invigil/config.json"
[kafka]
brokers = "$brokers"
[spool]
dir = "/var/lib/invigil/spool"
[live_video]
enabled = false
TOML

# image SECRET: sets `image` to the image's command, as its user, in its
# root, in its own PID namespace (which dies with unshare: --kill-child).
image() {
    image=(env -i "${envs[@]}" INVIGIL_TOKEN_SECRET="$1" INVIGIL_IP_HASH_SECRET=image-test-ip-hash-key
        unshare --mount --pid --fork --kill-child sh -c '
            rootfs=$1; shift
            mount -t proc proc "$rootfs/proc"
            mount --rbind /dev "$rootfs/dev"
            exec chroot --userspec=10001:10001 "$rootfs" "$@"' sh "$rootfs" "${args[@]}")
}

log=$work/ingest.log
image "$(head -c 48 /dev/urandom | base64 -w0)"
# env execs unshare: $! is unshare, whose death takes the namespace along.
"${image[@]}" >"$log" 2>&1 &
pid=$!
ready=""
for _ in $(seq 1 150); do
    if [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz")" = 200 ]; then ready=1; break; fi
    kill -0 "$pid" 2>/dev/null || fail "the image's process exited"
    sleep 0.2
done
[ -n "$ready" ] || fail "/readyz did not answer 200 within 30 s"
say "/readyz 200"

type=$(curl -s -o "$work/invigil.js" -w '%{http_code} %{content_type}' "http://127.0.0.1:$port/sdk/invigil.js")
[ "$type" = "200 text/javascript" ] || fail "/sdk/invigil.js: $type"
cmp -s "$work/invigil.js" "$ROOT/sdk/dist/invigil.js" || fail "/sdk/invigil.js is not the bundle's"
type=$(curl -s -o /dev/null -w '%{http_code} %{content_type}' "http://127.0.0.1:$port/sdk/invigil_bg.wasm")
[ "$type" = "200 application/wasm" ] || fail "/sdk/invigil_bg.wasm: $type"
curl -s -o "$work/face.onnx" "http://127.0.0.1:$port/sdk/invigil-face-yunet.onnx"
cmp -s "$work/face.onnx" "$ROOT/sdk/dist/invigil-face-yunet.onnx" || fail "/sdk/invigil-face-yunet.onnx is not the bundle's"
curl -s -o "$work/sface.onnx" "http://127.0.0.1:$port/sdk/invigil-face-sface.onnx"
cmp -s "$work/sface.onnx" "$ROOT/sdk/dist/invigil-face-sface.onnx" || fail "/sdk/invigil-face-sface.onnx is not the bundle's"
say "SDK (and its face-check chunk) served from the image"

server=$(pgrep -f -n "^/usr/bin/invigil ingest") || fail "no invigil process"
uid=$(ps -o uid= -p "$server" | tr -d ' ')
[ "$uid" = 10001 ] || fail "the process runs as uid $uid"
say "runs as uid 10001 (pid $server)"
# SIGTERM to the server, as a kubelet sends it: it drains and exits, and
# unshare (which waits for it) with it.
kill "$server"
for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
kill -0 "$pid" 2>/dev/null && fail "the image's process did not stop within 20 s of SIGTERM"
wait "$pid" 2>/dev/null || true
pid=""
for _ in $(seq 1 50); do
    curl -s -o /dev/null "http://127.0.0.1:$port/readyz" || break
    sleep 0.2
done

# The shipped placeholder does not start.
image "replace-me-with-32-or-more-random-bytes"
if "${image[@]}" >"$work/weak.log" 2>&1; then fail "started with a placeholder secret"; fi
grep -q "INVIGIL_TOKEN_SECRET.*openssl rand" "$work/weak.log" || { log=$work/weak.log; fail "no advice on a weak secret"; }
say "a placeholder token secret is refused"
say "passed"
