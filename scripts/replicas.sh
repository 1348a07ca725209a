#!/usr/bin/env bash
# The topology of docker-compose.yml on loopback, without Docker: a private PostgreSQL,
# N `ferrobot serve` replicas sharing it (and one JWT secret), nginx in front of them running
# deploy/nginx.conf (round robin, passive health checks, retry on another replica).
#
#   scripts/replicas.sh start [--replicas N] [--binary PATH] [--port P] [--no-migrate]
#   scripts/replicas.sh status            # what runs, and whether each replica is ready
#   scripts/replicas.sh check [--requests N]
#   scripts/replicas.sh stop              # nginx, the replicas (SIGTERM), PostgreSQL
#
# start    installs PostgreSQL and nginx with apt-get when they are missing (as
#          scripts/test-dbs.sh does), migrates the database once, starts the replicas and
#          nginx, and waits until every replica is ready. Defaults: 2 replicas of
#          target/release/ferrobot; nginx on 127.0.0.1:58080 and replica i on 127.0.0.1:58080+i.
#          --no-migrate leaves migrating to the replicas themselves, which start together
#          (use it on a new database, after `stop` and `rm -rf target/replicas`, to exercise
#          their migration lock).
# check    creates the superuser `admin` and a token once, sends --requests (default 300)
#          GraphQL reads and writes through nginx, checks that what one replica writes the
#          others read (on the replicas' own ports), and probes /health, /ready and /metrics.
#
# Everything lives under target/replicas/: PostgreSQL's data (port 55442, apart from
# test-dbs.sh's 55432), the nginx configuration, logs, pid files, the JWT secret, the admin
# password and the token. Data survives `stop`; `rm -rf target/replicas` after `stop` starts
# afresh. Flags not given keep their values from the last start. Ports: --port (or
# FERROBOT_REPLICAS_PORT) and FERROBOT_REPLICAS_PG_PORT.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BASE="$ROOT/target/replicas"
STATE="$BASE/state"
PG_DATA="$BASE/pg"
PG_PORT="${FERROBOT_REPLICAS_PG_PORT:-55442}"
NGX="$BASE/nginx"
SECRET_FILE="$BASE/jwt-secret"
PASSWORD_FILE="$BASE/admin-password"
TOKEN_FILE="$BASE/token"
DB_NAME=ferrobot
DB_URL="postgres://postgres@127.0.0.1:$PG_PORT/$DB_NAME"
TIMEOUT=120      # seconds to wait for PostgreSQL, a replica or nginx to come up
STOP_TIMEOUT=40  # seconds a replica gets after SIGTERM before SIGKILL (its drain: 30 s by default)

# Settings: flags, else those of the last start (saved in $STATE), else defaults.
REPLICAS=
BINARY=
PORT=
REQUESTS=300
MIGRATE=1

log() { echo "replicas: $*" >&2; }
die() { log "error: $*"; exit 1; }
usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//' >&2
    exit 2
}

# ---------------------------------------------------------------- helpers
# apt_install, poll, first_cmd and the PostgreSQL basics are shared with scripts/test-dbs.sh.
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

is_uint() { [[ "$1" =~ ^[0-9]+$ ]]; }

# The start time of a process (field 22 of /proc/PID/stat, counted after the command name,
# which may hold spaces): with the pid it names one process, even after the pid is reused.
start_time() {
    local stat fields
    stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
    read -r -a fields <<<"${stat##*) }"
    # fields[0] is the state: a zombie has exited already.
    [ "${fields[0]}" != Z ] || return 1
    echo "${fields[19]}"
}

# pid_alive FILE: print the pid recorded in FILE ("pid start-time") if that process runs.
pid_alive() {
    local pid started now
    [ -f "$1" ] || return 1
    read -r pid started <"$1" || true
    is_uint "${pid:-}" || return 1
    now="$(start_time "$pid")" || return 1
    [ -z "${started:-}" ] || [ "$now" = "$started" ] || return 1
    echo "$pid"
}

# The end of a log, without the frames of a backtrace (RUST_BACKTRACE), which hide the error.
show_log() { grep -vE '^ +([0-9]+: | +at )' "$1" | tail -n 20 >&2 || true; }

write_pid() { echo "$2 $(start_time "$2")" >"$1"; }

# Something already accepts connections on 127.0.0.1:PORT (bash's /dev/tcp).
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# http_code ARGS...: the HTTP status curl got, 000 when there was no answer.
http_code() {
    curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@" 2>/dev/null || true
}

# ready PORT: the replica there is ready. /ready 200 it is; /ready 404 means a binary older
# than /ready, for which the GraphQL endpoint refusing an anonymous POST (403) will do.
# Sets READY_HOW to say which.
READY_HOW=
ready() {
    local code
    code="$(http_code "http://127.0.0.1:$1/ready")"
    case "$code" in
        200) READY_HOW="/ready 200" ;;
        404)
            code="$(http_code -X POST -H 'Content-Type: application/json' \
                -d '{"query":"{ __typename }"}' "http://127.0.0.1:$1/api/graphql/")"
            READY_HOW="no /ready (older binary); anonymous POST /api/graphql/ $code"
            [ "$code" = 403 ]
            ;;
        000) READY_HOW="/ready: no answer within 5 s"; return 1 ;;
        *) READY_HOW="/ready $code"; return 1 ;;
    esac
}

# ---------------------------------------------------------------- settings

load_state() {
    local key value
    [ -f "$STATE" ] || return 0
    while IFS='=' read -r key value; do
        case "$key" in
            replicas) : "${REPLICAS:=$value}" ;;
            binary) : "${BINARY:=$value}" ;;
            port) : "${PORT:=$value}" ;;
        esac
    done <"$STATE"
}

# The settings a running topology was started with differ from the flags given.
check_same_as_running() {
    local key value
    [ -f "$STATE" ] || return 0
    while IFS='=' read -r key value; do
        case "$key" in
            replicas) [ "$value" = "$REPLICAS" ] || return 1 ;;
            binary) [ "$value" = "$BINARY" ] || return 1 ;;
            port) [ "$value" = "$PORT" ] || return 1 ;;
        esac
    done <"$STATE"
}

anything_running() {
    local f
    for f in "$BASE"/ferrobot-*.pid "$NGX/nginx.pid"; do
        if pid_alive "$f" >/dev/null; then return 0; fi
    done
    return 1
}

defaults() {
    : "${REPLICAS:=2}" "${BINARY:=$ROOT/target/release/ferrobot}" \
        "${PORT:=${FERROBOT_REPLICAS_PORT:-58080}}"
    if ! is_uint "$REPLICAS" || [ "$REPLICAS" -lt 1 ] || [ "$REPLICAS" -gt 20 ]; then
        die "--replicas wants 1 to 20, not $REPLICAS"
    fi
    if ! is_uint "$PORT" || [ "$PORT" -lt 1024 ] || [ "$((PORT + REPLICAS))" -gt 65535 ]; then
        die "--port wants 1024 to $((65535 - REPLICAS)), not $PORT"
    fi
    if ! is_uint "$REQUESTS" || [ "$REQUESTS" -lt 4 ]; then die "--requests wants at least 4"; fi
}

# ---------------------------------------------------------------- PostgreSQL

psql_admin() {
    "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres "$@"
}

pg_start() {
    find_pg || { apt_install postgresql; find_pg || die "PostgreSQL binaries not found after install"; }
    mkdir -p "$BASE"
    if [ ! -f "$PG_DATA/PG_VERSION" ]; then
        log "initialising PostgreSQL ($PG_BIN) in $PG_DATA"
        rm -rf "$PG_DATA" && mkdir -p "$PG_DATA"
        if is_root; then chown postgres: "$PG_DATA"; fi
        chmod 700 "$PG_DATA"
        (cd "$PG_DATA" && as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U postgres \
            --auth-local=trust --auth-host=trust -E UTF8 --no-locale >/dev/null)
    fi
    if pg_running; then
        log "PostgreSQL already running on 127.0.0.1:$PG_PORT"
    else
        port_busy "$PG_PORT" && die "port $PG_PORT is taken (set FERROBOT_REPLICAS_PG_PORT)"
        log "starting PostgreSQL on 127.0.0.1:$PG_PORT"
        # No unix socket: only TCP is used, and socket paths have a length limit that a deep
        # checkout could exceed. Each replica keeps a pool of connections: room for many.
        (cd "$PG_DATA" && as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_DATA/server.log" \
            -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -c unix_socket_directories='' -c max_connections=500" \
            -w -t "$TIMEOUT" start >/dev/null) \
            || { tail -n 20 "$PG_DATA/server.log" >&2; die "PostgreSQL failed to start"; }
    fi
    poll "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -U postgres \
        || die "PostgreSQL not accepting connections after ${TIMEOUT}s"
    if [ "$(psql_admin -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'")" != 1 ]; then
        log "creating database $DB_NAME"
        psql_admin -c "CREATE DATABASE $DB_NAME"
    fi
}

pg_stop() {
    find_pg || return 0
    if pg_running; then
        log "stopping PostgreSQL"
        (cd "$PG_DATA" && as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w -t "$TIMEOUT" stop >/dev/null)
    fi
}

# ---------------------------------------------------------------- replicas

replica_port() { echo "$((PORT + $1))"; }

jwt_secret() {
    if [ ! -s "$SECRET_FILE" ]; then
        (umask 077 && od -An -N32 -tx1 /dev/urandom | tr -d ' \n' >"$SECRET_FILE")
    fi
    cat "$SECRET_FILE"
}

replica_start() {
    local i="$1" port pidf logf pid secret
    port="$(replica_port "$i")"
    pidf="$BASE/ferrobot-$i.pid"
    logf="$BASE/ferrobot-$i.log"
    if pid="$(pid_alive "$pidf")"; then
        log "replica $i already running (pid $pid, 127.0.0.1:$port)"
        return 0
    fi
    port_busy "$port" && die "port $port is taken (choose another --port)"
    secret="$(jwt_secret)"
    log "starting replica $i on 127.0.0.1:$port (log: ${logf#"$ROOT"/})"
    # The secret goes through the environment, not the command line (ps shows that).
    # setsid: the replica outlives this script and its terminal; in a non-interactive shell
    # setsid execs in place, so $! is the replica's pid.
    FERROBOT_DATABASE_URL="$DB_URL" FERROBOT_BIND="127.0.0.1:$port" FERROBOT_JWT_SECRET="$secret" \
        setsid "$BINARY" serve </dev/null >>"$logf" 2>&1 &
    pid=$!
    disown
    write_pid "$pidf" "$pid"
}

replica_wait() {
    local i="$1" port pidf t
    port="$(replica_port "$i")"
    pidf="$BASE/ferrobot-$i.pid"
    for ((t = 0; t < TIMEOUT * 2; t++)); do
        if ready "$port"; then
            log "replica $i ready: $READY_HOW"
            return 0
        fi
        if ! pid_alive "$pidf" >/dev/null; then
            show_log "$BASE/ferrobot-$i.log"
            die "replica $i exited (log above); scripts/replicas.sh stop cleans up"
        fi
        sleep 0.5
    done
    show_log "$BASE/ferrobot-$i.log"
    die "replica $i not ready after ${TIMEOUT}s ($READY_HOW)"
}

# stop_pid FILE NAME SECONDS: SIGTERM, wait, then SIGKILL.
stop_pid() {
    local f="$1" name="$2" seconds="$3" pid t
    if pid="$(pid_alive "$f")"; then
        log "stopping $name (pid $pid)"
        kill -TERM "$pid" 2>/dev/null || true
        for ((t = 0; t < seconds * 10; t++)); do
            pid_alive "$f" >/dev/null || break
            sleep 0.1
        done
        if pid_alive "$f" >/dev/null; then
            log "warning: $name (pid $pid) still runs after ${seconds}s; SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$f"
}

# ---------------------------------------------------------------- nginx

find_nginx() { NGINX="$(first_cmd /usr/sbin/nginx nginx)"; }

nginx_pid() {
    local pid
    [ -f "$NGX/nginx.pid" ] || return 1
    read -r pid <"$NGX/nginx.pid" || return 1
    is_uint "${pid:-}" && grep -qx nginx "/proc/$pid/comm" 2>/dev/null || return 1
    echo "$pid"
}

# deploy/nginx.conf with its upstream servers and listen address moved to loopback, inside a
# main configuration that keeps pid, logs and temporary files under target/replicas/nginx.
nginx_config() {
    local ports=() i
    for ((i = 1; i <= REPLICAS; i++)); do ports+=("$(replica_port "$i")"); done
    mkdir -p "$NGX/tmp"
    awk -v ports="${ports[*]}" -v listen="127.0.0.1:$PORT" '
        /^[[:space:]]*server[[:space:]]+ferrobot-[0-9]+:8080[[:space:];]/ {
            if (!servers) {
                match($0, /^[[:space:]]*/); indent = substr($0, 1, RLENGTH)
                match($0, /ferrobot-[0-9]+:8080/); rest = substr($0, RSTART + RLENGTH)
                n = split(ports, p, " ")
                for (k = 1; k <= n; k++) print indent "server 127.0.0.1:" p[k] rest
                servers = 1
            }
            next
        }
        /^[[:space:]]*listen[[:space:]]+8080;/ { sub(/8080;/, listen ";"); listens = 1 }
        { print }
        END { if (!servers || !listens) exit 3 }
    ' "$ROOT/deploy/nginx.conf" >"$NGX/ferrobot.conf" \
        || die "deploy/nginx.conf has no 'server ferrobot-N:8080' or 'listen 8080;' line to rewrite"
    cat >"$NGX/nginx.conf" <<EOF
# Generated by scripts/replicas.sh; the proxying itself is deploy/nginx.conf (ferrobot.conf).
worker_processes 2;
pid $NGX/nginx.pid;
error_log $NGX/error.log notice;
events { worker_connections 1024; }
http {
    default_type application/octet-stream;
    # upstream= says which replica answered (scripts/replicas.sh check counts them).
    log_format replicas '\$remote_addr [\$time_local] "\$request" \$status \$body_bytes_sent '
                        'upstream=\$upstream_addr upstream_status=\$upstream_status '
                        'time=\$request_time';
    access_log $NGX/access.log replicas;
    client_body_temp_path $NGX/tmp/client_body;
    proxy_temp_path $NGX/tmp/proxy;
    fastcgi_temp_path $NGX/tmp/fastcgi;
    uwsgi_temp_path $NGX/tmp/uwsgi;
    scgi_temp_path $NGX/tmp/scgi;
    include $NGX/ferrobot.conf;
}
EOF
}

nginx_cmd() { "$NGINX" -p "$NGX/" -e "$NGX/error.log" -c "$NGX/nginx.conf" "$@"; }

nginx_start() {
    find_nginx || { apt_install --no-install-recommends nginx; find_nginx || die "nginx not found after install"; }
    nginx_config
    nginx_cmd -t -q || die "nginx refuses the generated configuration ($NGX/nginx.conf)"
    local pid
    if pid="$(nginx_pid)"; then
        log "nginx already running (pid $pid): reloading its configuration"
        nginx_cmd -s reload
    else
        port_busy "$PORT" && die "port $PORT is taken (choose another --port)"
        log "starting nginx on 127.0.0.1:$PORT"
        nginx_cmd || { tail -n 20 "$NGX/error.log" >&2; die "nginx failed to start"; }
    fi
    poll ready "$PORT" || die "nothing answers through nginx on 127.0.0.1:$PORT ($READY_HOW)"
    log "nginx ready: $READY_HOW"
}

nginx_stop() {
    local pid t
    if pid="$(nginx_pid)"; then
        # SIGQUIT: graceful (requests in flight finish); SIGTERM after a while.
        log "stopping nginx (pid $pid)"
        kill -QUIT "$pid" 2>/dev/null || true
        for ((t = 0; t < 100; t++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid" 2>/dev/null || true; fi
    fi
    rm -f "$NGX/nginx.pid"
}

# ---------------------------------------------------------------- commands

cmd_start() {
    local running=
    # Flags not given keep the values of the last start (target/replicas/state); while that
    # runs, a flag that differs is an error.
    if anything_running; then running=1; fi
    load_state
    defaults
    [ -x "$BINARY" ] || die "no executable binary at $BINARY (cargo build --release -p ferrobot, or --binary PATH)"
    BINARY="$(cd "$(dirname "$BINARY")" && pwd)/$(basename "$BINARY")"
    if [ -n "$running" ] && ! check_same_as_running; then
        die "already running with other settings ($(tr '\n' ' ' <"$STATE")); stop first"
    fi
    command -v curl >/dev/null || apt_install --no-install-recommends curl
    mkdir -p "$BASE"
    pg_start
    printf 'replicas=%s\nbinary=%s\nport=%s\n' "$REPLICAS" "$BINARY" "$PORT" >"$STATE"
    if [ -n "$MIGRATE" ]; then
        # Once, before the replicas: a binary that predates the migration lock would have
        # replicas race each other on a new database. With the lock this is just quicker.
        log "migrating $DB_URL"
        FERROBOT_DATABASE_URL="$DB_URL" "$BINARY" migrate >>"$BASE/migrate.log" 2>&1 \
            || { show_log "$BASE/migrate.log"; die "ferrobot migrate failed"; }
    fi
    local i
    for ((i = 1; i <= REPLICAS; i++)); do replica_start "$i"; done
    for ((i = 1; i <= REPLICAS; i++)); do replica_wait "$i"; done
    nginx_start
    log "up: http://127.0.0.1:$PORT/api/graphql/ -> $REPLICAS replicas on ports $((PORT + 1))-$((PORT + REPLICAS)); database $DB_URL"
}

cmd_stop() {
    local f i
    # The front first, so no new request reaches a replica that is going away.
    nginx_stop
    # Every pid file, also of replicas beyond the current count (an earlier, larger start).
    for f in "$BASE"/ferrobot-*.pid; do
        [ -e "$f" ] || continue
        i="${f##*/ferrobot-}"
        stop_pid "$f" "replica ${i%.pid}" "$STOP_TIMEOUT"
    done
    pg_stop
}

cmd_status() {
    local ok=0 i port pid
    if [ ! -f "$STATE" ]; then
        echo "never started (scripts/replicas.sh start)"
        return 3
    fi
    load_state
    defaults
    if find_pg && pg_running; then
        echo "postgres   running  127.0.0.1:$PG_PORT  ($DB_URL)"
    else
        echo "postgres   stopped"; ok=3
    fi
    for ((i = 1; i <= REPLICAS; i++)); do
        port="$(replica_port "$i")"
        if pid="$(pid_alive "$BASE/ferrobot-$i.pid")"; then
            if ready "$port"; then
                echo "replica $i  running  127.0.0.1:$port  pid $pid  ready ($READY_HOW)"
            else
                echo "replica $i  running  127.0.0.1:$port  pid $pid  NOT ready ($READY_HOW)"; ok=3
            fi
        else
            echo "replica $i  stopped"; ok=3
        fi
    done
    if pid="$(nginx_pid)"; then
        echo "nginx      running  127.0.0.1:$PORT  pid $pid"
    else
        echo "nginx      stopped"; ok=3
    fi
    echo "binary     $BINARY"
    return "$ok"
}

# The superuser `admin` and a token for it, made once and kept under target/replicas.
ensure_token() {
    local out key
    if [ -s "$TOKEN_FILE" ]; then return 0; fi
    if [ ! -s "$PASSWORD_FILE" ]; then
        (umask 077 && od -An -N12 -tx1 /dev/urandom | tr -d ' \n' >"$PASSWORD_FILE")
    fi
    # The password through FERROBOT_PASSWORD, not the command line.
    if ! out="$(FERROBOT_DATABASE_URL="$DB_URL" FERROBOT_PASSWORD="$(cat "$PASSWORD_FILE")" \
        "$BINARY" createsuperuser --username admin 2>&1)"; then
        grep -q 'exists already' <<<"$out" || { echo "$out" >&2; die "createsuperuser failed"; }
        log "user admin exists already"
    else
        log "created superuser admin (password in ${PASSWORD_FILE#"$ROOT"/})"
    fi
    key="$(FERROBOT_DATABASE_URL="$DB_URL" "$BINARY" token create --user admin \
        --description 'scripts/replicas.sh' 2>>"$BASE/token.log")" || die "token create failed (see $BASE/token.log)"
    [[ "$key" =~ ^[0-9a-f]{40}$ ]] || die "token create printed '$key', not a 40-hex key"
    (umask 077 && echo "$key" >"$TOKEN_FILE")
    log "created a token for admin (in ${TOKEN_FILE#"$ROOT"/})"
}

cmd_check() {
    [ -f "$STATE" ] || die "not started (scripts/replicas.sh start)"
    load_state
    defaults
    cmd_status >/dev/null || { cmd_status || true; die "not everything runs and is ready"; }
    ensure_token
    local ports=() i
    for ((i = 1; i <= REPLICAS; i++)); do ports+=("$(replica_port "$i")"); done
    PROXY_PORT="$PORT" REPLICA_PORTS="${ports[*]}" TOKEN="$(cat "$TOKEN_FILE")" \
        REQUESTS="$REQUESTS" ACCESS_LOG="$NGX/access.log" python3 - <<'PY'
"""Requests through nginx and to each replica; every answer must be what it should."""
import collections
import json
import os
import re
import sys
import time
import urllib.error
import urllib.request
import uuid

PROXY = "http://127.0.0.1:%s" % os.environ["PROXY_PORT"]
PORTS = os.environ["REPLICA_PORTS"].split()
REPLICAS = ["http://127.0.0.1:%s" % p for p in PORTS]
TOKEN = os.environ["TOKEN"]
REQUESTS = int(os.environ["REQUESTS"])
ACCESS_LOG = os.environ["ACCESS_LOG"]

failures = []
counts = collections.Counter()  # (target, status) -> n
notes = []


def fail(message):
    failures.append(message)
    if len(failures) <= 20:
        print("FAIL: " + message, file=sys.stderr)


def http(method, url, body=None, headers=None):
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except OSError as error:
        return 0, str(error).encode()


def gql(base, query, variables=None, what=""):
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    status, text = http("POST", base + "/api/graphql/", body, {
        "Authorization": "Token " + TOKEN, "Content-Type": "application/json"})
    counts[("proxy" if base == PROXY else base.rsplit(":", 1)[1], status)] += 1
    if status != 200:
        fail("%s via %s: HTTP %s %s" % (what, base, status, text[:300]))
        return None
    document = json.loads(text)
    if document.get("errors"):
        fail("%s via %s: %s" % (what, base, json.dumps(document["errors"])[:300]))
        return None
    return document.get("data")


CREATE = "mutation($name: String!) { manufacturer_create(input: {name: $name}) { id name } }"
UPDATE = ("mutation($name: String!, $d: String!) { manufacturer_update(ref: {name: $name}, "
          "input: {description: $d}) { id description } }")
READ = "query($name: [String]) { manufacturers(name: $name) { id name description } }"
DELETE = ("mutation($names: [ManufacturerRef!]!) { manufacturer_delete_bulk(refs: $names) "
          "{ id object_type } }")
PREFIX = "query($p: [String]) { manufacturers(name__isw: $p) { name } }"


def read_one(base, name, what):
    data = gql(base, READ, {"name": [name]}, what)
    if data is None:
        return None
    found = data["manufacturers"]
    if len(found) != 1:
        fail("%s via %s: %d manufacturers named %s" % (what, base, len(found), name))
        return None
    return found[0]


# 1. The probes, on every replica and through nginx.
def probe(base, label):
    results = {}
    status, text = http("GET", base + "/health")
    results["/health"] = status
    if status == 200:
        try:
            ok = json.loads(text).get("status") == "ok"
        except ValueError:
            ok = False
        if not ok:
            fail("%s /health: 200 but %r, not {\"status\":\"ok\"}" % (label, text[:100]))
    status, text = http("GET", base + "/ready")
    results["/ready"] = status
    status, text = http("GET", base + "/metrics")
    results["/metrics"] = status
    if status == 200 and b"# TYPE" not in text and b"# HELP" not in text:
        fail("%s /metrics: 200 but not Prometheus text: %r" % (label, text[:100]))
    status, _ = http("POST", base + "/api/graphql/", b'{"query":"{ __typename }"}',
                     {"Content-Type": "application/json"})
    results["anonymous POST /api/graphql/"] = status
    if status != 403:
        fail("%s anonymous POST /api/graphql/: HTTP %s, not 403" % (label, status))
    for path in ("/health", "/ready", "/metrics"):
        if results[path] == 404:
            notes.append("%s: %s answers 404 (a binary older than that endpoint)" % (label, path))
        elif results[path] != 200:
            fail("%s %s: HTTP %s" % (label, path, results[path]))
    print("  %-22s %s" % (label, "  ".join("%s %s" % kv for kv in results.items())))


print("probes:")
for port, base in zip(PORTS, REPLICAS):
    probe(base, "replica :" + port)
probe(PROXY, "nginx :" + os.environ["PROXY_PORT"])

# 2. Reads and writes through nginx: create, read, update, read back. Round robin sends
#    consecutive requests to different replicas, so most reads follow a write made by another.
run = uuid.uuid4().hex[:8]
prefix = "replicas-check-%s-" % run
log_start = os.path.getsize(ACCESS_LOG) if os.path.exists(ACCESS_LOG) else 0
names = []
started = time.monotonic()
sent = 0
while sent < REQUESTS:
    name = "%s%04d" % (prefix, len(names))
    step = sent % 4
    if step == 0:
        if gql(PROXY, CREATE, {"name": name}, "create %s" % name):
            names.append(name)
        else:
            names.append(None)
    else:
        name = names[-1]
        if name is None:
            pass
        elif step == 1:
            read_one(PROXY, name, "read %s after create" % name)
        elif step == 2:
            gql(PROXY, UPDATE, {"name": name, "d": "written %d" % sent}, "update %s" % name)
        else:
            got = read_one(PROXY, name, "read %s after update" % name)
            want = "written %d" % (sent - 1)
            if got is not None and got["description"] != want:
                fail("read %s after update: description %r, not %r" % (name, got["description"], want))
    sent += 1
elapsed = time.monotonic() - started
names = [n for n in names if n]
data = gql(PROXY, PREFIX, {"p": [prefix]}, "list")
if data is not None and len(data["manufacturers"]) != len(names):
    fail("list through nginx: %d manufacturers, %d created" % (len(data["manufacturers"]), len(names)))
print("through nginx: %d GraphQL requests (%d objects created, updated, read) in %.1fs"
      % (sum(n for (t, _), n in counts.items() if t == "proxy"), len(names), elapsed))

# Which replica answered them (the lines nginx logged since this run began; runs at the same
# time add theirs).
served = collections.Counter()
if os.path.exists(ACCESS_LOG):
    with open(ACCESS_LOG, "rb") as f:
        f.seek(log_start)
        for line in f.read().decode(errors="replace").splitlines():
            if '"POST /api/graphql/' not in line:
                continue
            m = re.search(r"upstream=(.*?) upstream_status=", line)
            for address in (m.group(1) if m else "-").split(","):
                served[address.strip()] += 1
print("  answered by: " + ", ".join("%s %d" % kv for kv in sorted(served.items())))
for port in PORTS:
    if len(PORTS) > 1 and served["127.0.0.1:%s" % port] == 0:
        fail("nginx sent no request to the replica on port %s" % port)

# 3. Replica to replica, on their own ports: what one writes, the next one reads, updates and
#    deletes, and the first sees it.
if len(REPLICAS) < 2:
    notes.append("one replica: no replica-to-replica check")
for k, a in enumerate(REPLICAS):
    if len(REPLICAS) < 2:
        break
    b = REPLICAS[(k + 1) % len(REPLICAS)]
    name = "%sdirect-%d" % (prefix, k)
    if not gql(a, CREATE, {"name": name}, "create %s" % name):
        continue
    read_one(b, name, "read on another replica %s" % name)
    gql(b, UPDATE, {"name": name, "d": "from " + b}, "update %s" % name)
    got = read_one(a, name, "read back an update %s" % name)
    if got is not None and got["description"] != "from " + b:
        fail("%s reads %s's update of %s as %r" % (a, b, name, got["description"]))
    gql(a, DELETE, {"names": [{"name": name}]}, "delete %s" % name)
    data = gql(b, READ, {"name": [name]}, "read a deleted %s" % name)
    if data is not None and data["manufacturers"]:
        fail("%s still reads %s after %s deleted it" % (b, name, a))
if len(REPLICAS) >= 2:
    print("replica to replica: create, read, update, read, delete, read on each pair (ring of %d)"
          % len(REPLICAS))

# 4. Clean up through nginx and see every replica agree.
if names:
    data = gql(PROXY, DELETE, {"names": [{"name": n} for n in names]}, "delete this run's objects")
    if data is not None and len(data["manufacturer_delete_bulk"]) != len(names):
        fail("bulk delete: %d deleted, %d created" % (len(data["manufacturer_delete_bulk"]), len(names)))
for base in REPLICAS:
    data = gql(base, PREFIX, {"p": [prefix]}, "list after delete")
    if data is not None and data["manufacturers"]:
        fail("%s still lists %d of this run's manufacturers" % (base, len(data["manufacturers"])))

print("answers: " + ", ".join("%s HTTP %s: %d" % (t, s, n) for (t, s), n in sorted(counts.items())))
for note in notes:
    print("note: " + note)
if failures:
    print("check FAILED: %d problems" % len(failures))
    sys.exit(1)
print("check passed")
PY
}

# ---------------------------------------------------------------- command line

[ $# -ge 1 ] || usage
COMMAND="$1"
shift
while [ $# -gt 0 ]; do
    case "$1" in
        --replicas) REPLICAS="${2:?--replicas needs a number}"; shift 2 ;;
        --binary) BINARY="${2:?--binary needs a path}"; shift 2 ;;
        --port) PORT="${2:?--port needs a number}"; shift 2 ;;
        --requests) REQUESTS="${2:?--requests needs a number}"; shift 2 ;;
        --no-migrate) MIGRATE=; shift ;;
        -h | --help) usage ;;
        *) die "unknown argument $1 (--help)" ;;
    esac
done

case "$COMMAND" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    check) cmd_check ;;
    -h | --help | help) usage ;;
    *) usage ;;
esac
