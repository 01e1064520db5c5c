#!/bin/sh
# ctest liquid/compare: installs brazejs if needed (scripts/install-npm.sh), then renders the
# corpus with it and with cohortd and compares (compare.js). Usage: run.sh COHORTD_BINARY
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
sh "$here/../../scripts/install-npm.sh"
exec node "$here/compare.js" "$1"
