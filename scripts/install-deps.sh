#!/bin/sh
# Installs the Debian packages cohortd needs, and nothing when they are all present.
# Non-interactive; run as root or with sudo available.
#   install-deps.sh         what `make run` / `make build` / `make install` need: compiler,
#                           CMake and the libraries cohortd links (no database server)
#   install-deps.sh test    that plus what only `make test` needs (test runner, linters,
#                           systemd-analyze and man for the install test, PostgreSQL for
#                           the store tests that start a throwaway server, Chromium for the
#                           dashboard's browser tests)
#   install-deps.sh bench   that plus what the benchmarks need (the PostgreSQL baseline,
#                           gnuplot for the report, and the DuckDB baseline's npm package
#                           under bench/duckdb, pinned by its package-lock.json: `npm ci`)
set -eu

PKGS="build-essential cmake pkg-config
libmicrohttpd-dev libjansson-dev libcurl4-openssl-dev libsqlite3-dev libpq-dev
libroaring-dev libargon2-dev libssl-dev libgnutls28-dev libsystemd-dev zlib1g-dev curl jq openssl tzdata"

# Node.js and npm run the OpenAPI linter of `make test` (scripts/install-npm.sh). Debian's
# nodejs and npm packages when no node or npm is on the PATH (a Node.js installed otherwise,
# whose package already holds npm, is used as it is).
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || PKGS="$PKGS nodejs npm"

case "${1:-}" in
"") ;;
test) PKGS="$PKGS libcmocka-dev clang-format clang-tidy clang libclang-rt-14-dev sqlite3 systemd man-db postgresql chromium" ;;
bench) PKGS="$PKGS postgresql gnuplot-nox" ;;
*)
    echo "usage: install-deps.sh [test|bench]" >&2
    exit 2
    ;;
esac

missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done

if [ -n "$missing" ]; then
    echo "install-deps: installing:$missing" >&2
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    # shellcheck disable=SC2086
    $SUDO apt-get install -y -qq --no-install-recommends $missing
fi

# the DuckDB baseline (bench/duckdb/segments.mjs): its engine comes with @duckdb/node-api,
# installed again only when the lock file changed since the last install (a copy is the stamp)
if [ "${1:-}" = bench ]; then
    dir="$(cd "$(dirname "$0")/.." && pwd)/bench/duckdb"
    stamp="$dir/node_modules/.package-lock.installed"
    if ! [ -f "$stamp" ] || ! cmp -s "$dir/package-lock.json" "$stamp"; then
        echo "install-deps: npm ci in $dir" >&2
        npm ci --prefix "$dir" --no-audit --no-fund --ignore-scripts --loglevel=error >&2
        cp "$dir/package-lock.json" "$stamp"
    fi
fi
