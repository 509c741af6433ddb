#!/usr/bin/env bash
# Installs FerretDB (the MongoDB wire-compatible server the tests and `npm run dev` use) into a
# cache folder if it is not there yet, and prints the binary's path on stdout.
#
# First it tries the documented `go install github.com/FerretDB/FerretDB/cmd/ferretdb@v1.24.2`.
# Where that cannot work (seen here: the module proxy answers 403 to the deprecation lookup
# `go install pkg@version` makes, and a binary built that way panics because the module zip lacks
# the generated build/version/version.txt), it downloads the same module with `go mod download`,
# writes version.txt, and builds ./cmd/ferretdb from it.
set -euo pipefail

VERSION=v1.24.2
MODULE=github.com/FerretDB/FerretDB
CACHE="${LATCHKEY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/latchkey}"
DIR="$CACHE/ferretdb-$VERSION"
BIN="$DIR/ferretdb"

works() { [ -x "$BIN" ] && "$BIN" --version >/dev/null 2>&1; }

if works; then echo "$BIN"; exit 0; fi
command -v go >/dev/null 2>&1 || { echo "ensure-ferretdb: Go is required to install FerretDB (https://go.dev/dl/)" >&2; exit 1; }
mkdir -p "$DIR"
exec 9>"$DIR/.lock"
flock 9 # parallel test files wait for one install
if works; then echo "$BIN"; exit 0; fi

echo "ensure-ferretdb: installing FerretDB $VERSION into $DIR" >&2
if GOBIN="$DIR" GOFLAGS=-mod=mod go install "$MODULE/cmd/ferretdb@$VERSION" >&2 && works; then
  echo "$BIN"; exit 0
fi
echo "ensure-ferretdb: go install did not give a working binary; building from the downloaded module" >&2
rm -f "$BIN"
SRC_DIR=$(cd "${TMPDIR:-/tmp}" && go mod download -json "$MODULE@$VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')
[ -n "$SRC_DIR" ] && [ -d "$SRC_DIR" ] || { echo "ensure-ferretdb: go mod download $MODULE@$VERSION failed" >&2; exit 1; }
BUILD=$(mktemp -d)
trap 'rm -rf "$BUILD"' EXIT
cp -R "$SRC_DIR/." "$BUILD"
chmod -R u+w "$BUILD"
echo "$VERSION" > "$BUILD/build/version/version.txt"
(cd "$BUILD" && go build -trimpath -o "$BIN" ./cmd/ferretdb) >&2
works || { echo "ensure-ferretdb: the built binary does not run" >&2; exit 1; }
echo "$BIN"
