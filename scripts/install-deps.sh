#!/bin/sh
# Installs the Debian packages cohortd needs to build, test and run, and nothing
# when they are all present. Non-interactive; run as root or with sudo available.
set -eu

PKGS="build-essential cmake pkg-config clang-format clang-tidy
libmicrohttpd-dev libjansson-dev libcurl4-openssl-dev libsqlite3-dev libpq-dev
libroaring-dev libssl-dev libgnutls28-dev libcmocka-dev postgresql curl jq openssl"

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
