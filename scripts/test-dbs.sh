#!/usr/bin/env bash
# Private, throw-away PostgreSQL and MariaDB instances for the test suite.
#
#   scripts/test-dbs.sh start   # install if needed, init once, start, wait until ready
#   scripts/test-dbs.sh stop    # stop both (fine if not running)
#   scripts/test-dbs.sh env     # export lines for the test suite
#
# The instances live under target/test-dbs and listen on 127.0.0.1 only, on
# unusual ports, so they never clash with (or touch) system services.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BASE="$ROOT/target/test-dbs"
PG_PORT=55432
MY_PORT=53306
PG_DATA="$BASE/pg"
MY_DATA="$BASE/mariadb"
MY_SOCK="$BASE/mariadb.sock"
MY_PID="$BASE/mariadb.pid"
MY_LOG="$BASE/mariadb.log"
PG_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
MY_URL="mysql://root:root@127.0.0.1:$MY_PORT/mysql"
TIMEOUT=60

log() { echo "test-dbs: $*" >&2; }
die() { log "error: $*"; exit 1; }
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

# ---------------------------------------------------------------- PostgreSQL

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
        log "PostgreSQL already running"
    else
        log "starting PostgreSQL on 127.0.0.1:$PG_PORT"
        # No unix socket: we only use TCP, and socket paths have a length limit
        # that a deep checkout could exceed.
        (cd "$PG_DATA" && as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_DATA/server.log" \
            -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -c unix_socket_directories=''" \
            -w -t "$TIMEOUT" start >/dev/null) \
            || { tail -n 20 "$PG_DATA/server.log" >&2; die "PostgreSQL failed to start"; }
    fi
    poll "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -U postgres \
        || die "PostgreSQL not accepting connections after ${TIMEOUT}s"
}

pg_stop() {
    find_pg || return 0
    if pg_running; then
        log "stopping PostgreSQL"
        (cd "$PG_DATA" && as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w -t "$TIMEOUT" stop >/dev/null)
    fi
}

# ------------------------------------------------------------------- MariaDB


find_my() {
    MY_SERVER="$(first_cmd /usr/sbin/mariadbd /usr/sbin/mysqld mariadbd mysqld)" || return 1
    MY_INSTALL="$(first_cmd mariadb-install-db mysql_install_db)" || return 1
    MY_CLIENT="$(first_cmd mariadb mysql)" || return 1
    MY_ADMIN="$(first_cmd mariadb-admin mysqladmin)" || return 1
}

my_pid() { [ -f "$MY_PID" ] && cat "$MY_PID"; }
# Checking the name guards against a stale pid file whose pid got reused.
my_alive() {
    local p
    p="$(my_pid)" && [ -n "$p" ] && kill -0 "$p" 2>/dev/null \
        && grep -qE 'mariadbd|mysqld' "/proc/$p/comm" 2>/dev/null
}
my_ping() { "$MY_ADMIN" --no-defaults -h127.0.0.1 -P"$MY_PORT" -uroot -proot --connect-timeout=2 ping; }

my_launch() {
    # --no-defaults: ignore /etc/mysql so the system config cannot leak in.
    # setsid: the server must outlive this script and its terminal; in a
    # non-interactive shell setsid execs in place, so $! is the server's pid.
    local user=()
    if is_root; then user=(--user=root); fi
    setsid "$MY_SERVER" --no-defaults "${user[@]}" --datadir="$MY_DATA" \
        --socket="$MY_SOCK" --pid-file="$MY_PID" --port="$MY_PORT" \
        --bind-address=127.0.0.1 --skip-name-resolve --log-error="$MY_LOG" \
        </dev/null >>"$MY_LOG" 2>&1 &
    local pid=$! i
    disown
    # The socket appears once it accepts connections; stop early if it died.
    for ((i = 0; i < TIMEOUT * 2; i++)); do
        [ -S "$MY_SOCK" ] && return 0
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.5
    done
    tail -n 20 "$MY_LOG" >&2
    die "MariaDB failed to start"
}

my_start() {
    find_my || { apt_install mariadb-server; find_my || die "MariaDB binaries not found after install"; }
    mkdir -p "$BASE"
    if my_alive; then
        log "MariaDB already running"
    else
        rm -f "$MY_SOCK" "$MY_PID"
        # The marker is written only after the root account is set up, so an
        # interrupted first run is redone from scratch rather than half-used.
        if [ ! -f "$MY_DATA/.ferrobot-initialised" ]; then
            log "initialising MariaDB in $MY_DATA"
            rm -rf "$MY_DATA" && mkdir -p "$MY_DATA"
            local user=()
            if is_root; then user=(--user=root); fi
            "$MY_INSTALL" --no-defaults "${user[@]}" --basedir=/usr --datadir="$MY_DATA" \
                --auth-root-authentication-method=normal --skip-test-db >"$BASE/mariadb-install.log" 2>&1 \
                || { tail -n 20 "$BASE/mariadb-install.log" >&2; die "mariadb-install-db failed"; }
            my_launch
            # Fresh root accounts have no password: give root/root to the
            # socket and TCP forms (skip-name-resolve means TCP matches
            # 127.0.0.1) and drop the other passwordless ones.
            if ! "$MY_CLIENT" --no-defaults -S "$MY_SOCK" -uroot <<SQL
DROP USER IF EXISTS 'root'@'::1', 'root'@'$(hostname 2>/dev/null || true)';
CREATE USER IF NOT EXISTS 'root'@'127.0.0.1';
ALTER USER 'root'@'localhost' IDENTIFIED BY 'root';
ALTER USER 'root'@'127.0.0.1' IDENTIFIED BY 'root';
GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;
FLUSH PRIVILEGES;
SQL
            then
                my_stop
                die "could not set up the MariaDB root account"
            fi
            touch "$MY_DATA/.ferrobot-initialised"
        else
            log "starting MariaDB on 127.0.0.1:$MY_PORT"
            my_launch
        fi
    fi
    poll my_ping || die "MariaDB not accepting connections after ${TIMEOUT}s"
}

my_stop() {
    if my_alive; then
        log "stopping MariaDB"
        # SIGTERM is mariadbd's clean shutdown and needs no credentials.
        local p i
        p="$(my_pid)"
        kill -TERM "$p"
        for ((i = 0; i < TIMEOUT * 2; i++)); do
            kill -0 "$p" 2>/dev/null || return 0
            sleep 0.5
        done
        die "MariaDB (pid $p) did not stop within ${TIMEOUT}s"
    fi
    rm -f "$MY_SOCK" "$MY_PID"
}

# ----------------------------------------------------------------------------

case "${1:-}" in
    start) pg_start; my_start; log "ready" ;;
    stop) pg_stop; my_stop ;;
    env)
        echo "export FERROBOT_TEST_POSTGRES_URL=$PG_URL"
        echo "export FERROBOT_TEST_MYSQL_URL=$MY_URL"
        ;;
    *) echo "usage: $0 start|stop|env" >&2; exit 2 ;;
esac
