# Shell functions shared by scripts/test.sh, scripts/test-dbs.sh and scripts/replicas.sh. Sourced,
# never run. The sourcing script defines log and die, and sets TIMEOUT (seconds) and PG_DATA
# (those two only for poll and the PostgreSQL functions).
# shellcheck shell=bash

is_root() { [ "$(id -u)" -eq 0 ]; }

APT_UPDATED=
# apt_install [apt-get flags] package...: install with Debian's apt-get, never starting the
# system service a package ships.
apt_install() {
    is_root || die "$* is missing and we are not root; install it yourself"
    local created_policy=
    # Debian starts the system service on install; we never want that one.
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        created_policy=1
    fi
    if [ -z "$APT_UPDATED" ]; then
        apt-get update -q
        APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@"
    if [ -n "$created_policy" ]; then rm -f /usr/sbin/policy-rc.d; fi
}

# poll cmd...: retry cmd until it succeeds or TIMEOUT seconds pass.
poll() {
    local i
    for ((i = 0; i < TIMEOUT * 2; i++)); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.5
    done
    return 1
}

# first_cmd name...: the path of the first command found.
first_cmd() {
    local c
    for c in "$@"; do
        if command -v "$c" >/dev/null 2>&1; then command -v "$c"; return 0; fi
    done
    return 1
}

# ensure_browser: Chromium and chromedriver, for the GraphiQL browser test
# (tests/graphql/graphiql.rs), installed from Debian when missing; paths given in
# FERROBOT_TEST_CHROMIUM and FERROBOT_TEST_CHROMEDRIVER are taken as they are.
ensure_browser() {
    if [ -n "${FERROBOT_TEST_CHROMIUM:-}" ] && [ -n "${FERROBOT_TEST_CHROMEDRIVER:-}" ]; then
        return 0
    fi
    if first_cmd chromedriver >/dev/null && first_cmd chromium chromium-browser google-chrome >/dev/null; then
        return 0
    fi
    log "installing chromium and chromium-driver for the GraphiQL browser test"
    apt_install chromium chromium-driver
}

# find_pg: sets PG_BIN. Binaries are versioned under /usr/lib/postgresql; an existing data dir
# pins the major version, otherwise take the newest installed.
find_pg() {
    PG_BIN=
    if [ -f "$PG_DATA/PG_VERSION" ]; then
        local v
        v="$(cat "$PG_DATA/PG_VERSION")"
        [ -x "/usr/lib/postgresql/$v/bin/pg_ctl" ] && PG_BIN="/usr/lib/postgresql/$v/bin"
    fi
    if [ -z "$PG_BIN" ]; then
        PG_BIN="$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null \
            | sort -V | tail -n 1 || true)"
    fi
    [ -n "$PG_BIN" ] && [ -x "$PG_BIN/initdb" ] && [ -x "$PG_BIN/pg_ctl" ]
}

# as_pg cmd...: initdb and the server refuse to run as root.
as_pg() {
    if is_root; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_running() {
    [ -f "$PG_DATA/PG_VERSION" ] && as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1
}
