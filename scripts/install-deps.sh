#!/bin/sh
# Installs the Debian packages cohortd needs to build, test and run, and nothing
# when they are all present. Non-interactive; run as root or with sudo available.
set -eu

PKGS="build-essential cmake pkg-config clang-format clang-tidy
libmicrohttpd-dev libjansson-dev libcurl4-openssl-dev libsqlite3-dev libpq-dev
libroaring-dev libssl-dev libcmocka-dev postgresql curl jq"

# Node.js and npm run the OpenAPI linter of `make test` (scripts/install-npm.sh). Debian's
# nodejs and npm packages when no node or npm is on the PATH (a Node.js installed otherwise,
# whose package already holds npm, is used as it is).
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || PKGS="$PKGS nodejs npm"

# `install-deps.sh bench` also installs what the benchmark report needs.
[ "${1:-}" = bench ] && PKGS="$PKGS gnuplot-nox"

missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
[ -z "$missing" ] && exit 0

echo "install-deps: installing:$missing" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
