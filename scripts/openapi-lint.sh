#!/bin/sh
# `make test` (ctest openapi/lint): lints docs/openapi.yaml with Redocly CLI (pinned in
# tests/tooling/package-lock.json, configuration tests/tooling/redocly.yaml) and fails on any
# error or warning. With an argument, then writes the document bundled as JSON to that file,
# for the route test (tests/openapi/test_openapi_routes.c), which has no YAML parser.
set -eu
root="$(cd "$(dirname "$0")/.." && pwd)"
tooling="$root/tests/tooling"
sh "$root/scripts/install-npm.sh"
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true NO_UPDATE_NOTIFIER=1
redocly="$tooling/node_modules/.bin/redocly"
tmp="$(mktemp)"
trap 'rm -f "$tmp"' EXIT
"$redocly" lint --config "$tooling/redocly.yaml" --format json "$root/docs/openapi.yaml" \
    >"$tmp" 2>/dev/null || true
problems="$(node -e '
const t = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).totals;
console.log(t.errors + t.warnings);' "$tmp" 2>/dev/null || echo unreadable)"
if [ "$problems" != 0 ]; then
    # the readable report of the same run
    "$redocly" lint --config "$tooling/redocly.yaml" "$root/docs/openapi.yaml" >&2 || true
    echo "openapi-lint: docs/openapi.yaml has $problems problem(s) (errors and warnings count)" >&2
    exit 1
fi
echo "openapi-lint: docs/openapi.yaml: 0 errors, 0 warnings"
if [ $# -gt 0 ]; then
    "$redocly" bundle "$root/docs/openapi.yaml" --ext json -o "$1" >/dev/null 2>&1
    test -s "$1"
    echo "openapi-lint: bundled as $1"
fi
