#!/bin/sh
# ctest browser/dashboard and `make screenshots`: installs playwright-core if needed
# (scripts/install-npm.sh), then runs the dashboard's browser tests (run.mjs) against a fresh
# cohortd with Debian's chromium. Usage: run.sh COHORTD_BINARY OUT_DIR [TEST_NAME_SUBSTRING]
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
sh "$here/../../scripts/install-npm.sh"
command -v "${CHROMIUM:-/usr/bin/chromium}" >/dev/null 2>&1 || {
    echo "browser tests: ${CHROMIUM:-/usr/bin/chromium} is missing; run scripts/install-deps.sh test" >&2
    exit 1
}
exec node "$here/run.mjs" "$@"
