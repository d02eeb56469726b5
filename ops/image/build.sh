#!/usr/bin/env bash
# Builds invigil's OCI image with no daemon: the binary, the shared libraries
# it links (from this Debian), the CA roots and the SDK bundle are laid out as
# a root filesystem, which umoci packs into an OCI image layout (and an
# oci-archive tarball that `skopeo copy` pushes to any registry).
#
#   ops/image/build.sh [--binary PATH] [--sdk-dir DIR] [--out DIR] [--tag TAG]
#
#   --binary   the invigil binary to ship (default: cargo build --release -p invigil)
#   --sdk-dir  the built SDK bundle (default: sdk/dist; sdk/build.sh makes it)
#   --out      where the rootfs, the layout and the tarball go (default: target/image)
#   --tag      the image tag (default: the workspace version)
#
# The image runs as uid 10001 (no shell, no package manager), with
# /usr/bin/invigil as its entrypoint and `ingest` as its default command;
# INVIGIL_SDK_DIR points ingest at the bundle so /sdk/invigil.js is served.
# Push:  skopeo copy oci-archive:target/image/invigil-TAG.oci.tar docker://REGISTRY/invigil:TAG
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

say() { printf '[image] %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

binary=""
sdk_dir=$ROOT/sdk/dist
out=$ROOT/target/image
tag=$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/Cargo.toml" | head -1)
while [ $# -gt 0 ]; do
    case $1 in
        --binary) binary=$2; shift 2 ;;
        --sdk-dir) sdk_dir=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --tag) tag=$2; shift 2 ;;
        -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
        *) die "unknown argument $1 (see --help)" ;;
    esac
done

command -v umoci >/dev/null || die "umoci is not installed: ops/dev/services.sh install (Debian package umoci)"
[ -f "$sdk_dir/invigil.js" ] && [ -f "$sdk_dir/invigil_bg.wasm" ] \
    || die "no SDK bundle in $sdk_dir: build it first with sdk/build.sh"
if [ -z "$binary" ]; then
    say "building the release binary (cargo build --release -p invigil)"
    (cd "$ROOT" && cargo build --release -q -p invigil)
    binary=$ROOT/target/release/invigil
fi
[ -x "$binary" ] || die "$binary is not an executable"

rootfs=$out/rootfs
rm -rf "$rootfs" "$out/oci" "$out/bundle"
mkdir -p "$rootfs"/{usr/bin,etc/ssl/certs,etc/invigil,usr/share/invigil/sdk,usr/lib/ssl,var/lib/invigil,tmp,proc,dev,sys,run}
chmod 1777 "$rootfs/tmp"

# The binary without symbols (line tables are for local backtraces).
strip --strip-all -o "$rootfs/usr/bin/invigil" "$binary"

# Every shared library it links, at the path the loader looks for it, and
# the loader itself.
ldd "$binary" | awk '/=> \//{print $3} /^[ \t]*\//{print $1}' | sort -u | while read -r lib; do
    mkdir -p "$rootfs$(dirname "$lib")"
    cp -L "$lib" "$rootfs$lib"
done

# CA roots for TLS to Kafka, ClickHouse, S3 and STS: rustls reads
# SSL_CERT_FILE, OpenSSL (librdkafka) its own directory, linked here.
cp -L /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt" \
    || die "no CA bundle at /etc/ssl/certs/ca-certificates.crt (Debian package ca-certificates)"
ln -sfn /etc/ssl/certs/ca-certificates.crt "$rootfs/usr/lib/ssl/cert.pem"
ln -sfn /etc/ssl/certs "$rootfs/usr/lib/ssl/certs"

# Users, name service: the process runs as invigil (10001).
printf 'root:x:0:0:root:/root:/sbin/nologin\ninvigil:x:10001:10001:invigil:/var/lib/invigil:/sbin/nologin\n' \
    >"$rootfs/etc/passwd"
printf 'root:x:0:\ninvigil:x:10001:\n' >"$rootfs/etc/group"
printf 'hosts: files dns\n' >"$rootfs/etc/nsswitch.conf"
chown 10001:10001 "$rootfs/var/lib/invigil"

cp "$sdk_dir"/invigil.js "$sdk_dir"/invigil_bg.wasm "$rootfs/usr/share/invigil/sdk/"
# The lazily loaded chunks: live video, and face checks (script, wasm, the
# detector, and the recogniser for identity mode).
for chunk in invigil-live.js invigil-face.js invigil_face_bg.wasm invigil-face-yunet.onnx invigil-face-sface.onnx; do
    [ -f "$sdk_dir/$chunk" ] && cp "$sdk_dir/$chunk" "$rootfs/usr/share/invigil/sdk/"
done

# Pack: an empty image, its bundle filled with the rootfs, repacked as one
# layer, then the runtime configuration.
layout=$out/oci
umoci init --layout "$layout"
umoci new --image "$layout:$tag"
umoci unpack --image "$layout:$tag" "$out/bundle" >/dev/null
cp -a "$rootfs/." "$out/bundle/rootfs/"
umoci repack --image "$layout:$tag" "$out/bundle"
rm -rf "$out/bundle"
umoci config --image "$layout:$tag" \
    --os linux --architecture amd64 \
    --config.user 10001:10001 \
    --config.workingdir /var/lib/invigil \
    --config.entrypoint /usr/bin/invigil \
    --config.cmd ingest --config.cmd --settings --config.cmd /etc/invigil/ingest.toml \
    --config.env INVIGIL_SDK_DIR=/usr/share/invigil/sdk \
    --config.env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    --config.env INVIGIL_LOG_FORMAT=json \
    --config.exposedports 8080/tcp \
    --config.exposedports 40000/udp \
    --config.label org.opencontainers.image.title=invigil \
    --config.label "org.opencontainers.image.version=$tag"
umoci gc --layout "$layout"
archive=$out/invigil-$tag.oci.tar
tar -C "$layout" -cf "$archive" .

mb() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1000000 }'; }
total() { awk '{ s += $1 } END { print s + 0 }'; }
layer_bytes=$(find "$layout/blobs" -type f -size +100k -printf '%s\n' | total)
library_bytes=$(find "$rootfs/lib" "$rootfs/lib64" "$rootfs/usr/lib" -type f -printf '%s\n' 2>/dev/null | total)
printf 'image invigil:%s\n' "$tag"
printf '  layout     %s\n  archive    %s (%s MB)\n' "$layout" "$archive" "$(mb "$(stat -c %s "$archive")")"
printf '  rootfs     %s MB unpacked: binary %s MB, libraries %s MB, CA roots and SDK %s MB\n' \
    "$(mb "$(du -sb "$rootfs" | cut -f1)")" "$(mb "$(stat -c %s "$rootfs/usr/bin/invigil")")" "$(mb "$library_bytes")" \
    "$(mb "$(( $(du -sb "$rootfs/usr/share/invigil/sdk" | cut -f1) + $(stat -c %s "$rootfs/etc/ssl/certs/ca-certificates.crt") ))")"
printf '  compressed %s MB (the layer a registry stores and a node pulls)\n' "$(mb "$layer_bytes")"
