#!/usr/bin/env bash
# Re-fetches the GraphiQL page's third-party assets at the pinned versions into
# crates/gateway/assets/graphiql/ (for maintainers: the build never needs the network; the files
# are committed and compiled into the binary by crates/gateway/src/graphiql.rs).
#
#   scripts/vendor-graphiql.sh          # fetch, unpack, copy, write SHA256SUMS
#   scripts/vendor-graphiql.sh --check  # fetch and compare with the committed files
#
# Needs npm (only `npm pack`: the registry's tarballs, nothing installed or run from them).
# To move to another version, change the pins below, run the script, and update the versions in
# crates/gateway/assets/graphiql/README.md.
set -euo pipefail

GRAPHIQL=3.8.3   # the last GraphiQL line that ships a UMD build (graphiql.min.js)
REACT=18.3.1     # React 18: GraphiQL 3's peer, and the last React with UMD builds

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="$ROOT/crates/gateway/assets/graphiql"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

die() { echo "vendor-graphiql: error: $*" >&2; exit 1; }
command -v npm >/dev/null || die "npm is needed to fetch the packages"

(cd "$WORK" && npm pack --silent "graphiql@$GRAPHIQL" "react@$REACT" "react-dom@$REACT" >/dev/null)
for pkg in "graphiql-$GRAPHIQL" "react-$REACT" "react-dom-$REACT"; do
    mkdir -p "$WORK/$pkg"
    tar xzf "$WORK/$pkg.tgz" -C "$WORK/$pkg"
done

# package file → vendored name, byte for byte.
OUT="$WORK/out"
mkdir -p "$OUT"
cp "$WORK/graphiql-$GRAPHIQL/package/graphiql.min.js" "$OUT/graphiql.min.js"
cp "$WORK/graphiql-$GRAPHIQL/package/graphiql.min.css" "$OUT/graphiql.min.css"
cp "$WORK/graphiql-$GRAPHIQL/package/LICENSE" "$OUT/LICENSE.graphiql"
cp "$WORK/react-$REACT/package/umd/react.production.min.js" "$OUT/react.production.min.js"
cp "$WORK/react-$REACT/package/LICENSE" "$OUT/LICENSE.react"
cp "$WORK/react-dom-$REACT/package/umd/react-dom.production.min.js" "$OUT/react-dom.production.min.js"
cp "$WORK/react-dom-$REACT/package/LICENSE" "$OUT/LICENSE.react-dom"
(cd "$OUT" && sha256sum -- * >SHA256SUMS)

if [ "${1:-}" = "--check" ]; then
    (cd "$DEST" && sha256sum -c --quiet "$OUT/SHA256SUMS") || die "the committed assets differ from the pinned packages"
    echo "vendor-graphiql: the committed assets match graphiql@$GRAPHIQL, react@$REACT, react-dom@$REACT"
    exit 0
fi
cp "$OUT"/* "$DEST/"
echo "vendor-graphiql: wrote graphiql@$GRAPHIQL, react@$REACT, react-dom@$REACT to $DEST"
