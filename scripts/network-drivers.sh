#!/usr/bin/env bash
# Writes crates/domain/data/network-drivers.json: netutils' NAME_TO_ALL_LIB_MAPPER (the
# libraries' names for each normalized network driver) at the version Nautobot 3.2 pins.
# For maintainers; the build never runs it.
set -euo pipefail
VERSION="${1:-1.17.2}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
pip download --quiet --no-deps --dest "$WORK" "netutils==$VERSION"
python3 - "$WORK"/netutils-*.whl "$ROOT/crates/domain/data/network-drivers.json" <<'PY'
import json, sys
sys.path.insert(0, sys.argv[1])  # a wheel is a zip that Python imports from
from netutils.lib_mapper import NAME_TO_ALL_LIB_MAPPER
with open(sys.argv[2], "w") as out:
    json.dump(NAME_TO_ALL_LIB_MAPPER, out, sort_keys=True, indent=1)
PY
