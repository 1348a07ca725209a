#!/usr/bin/env bash
# The project's one test command: runs the whole workspace test suite against
# private PostgreSQL and MariaDB instances (see scripts/test-dbs.sh), with Chromium and
# chromedriver for the GraphiQL browser test (installed from Debian when missing).
# Extra arguments go to `cargo test`, e.g. `scripts/test.sh -p ferrobot-persistence`.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { echo "test: $*" >&2; }
die() { log "error: $*"; exit 1; }
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
ensure_browser

# Trap first, so a half-finished start (one server up) is cleaned up too.
# The trap does not `exit`, so the script keeps cargo's exit status.
trap 'scripts/test-dbs.sh stop' EXIT
scripts/test-dbs.sh start
eval "$(scripts/test-dbs.sh env)"

cargo test --workspace --locked "$@"
