#!/bin/sh
# Installs the npm packages of tests/tooling (the OpenAPI linter, pinned by its committed
# package-lock.json) with `npm ci`, non-interactively, and only when node_modules is missing
# or the lock file changed since the last install (a copy of the lock is kept beside
# node_modules as the stamp). Node.js and npm are Debian packages (scripts/install-deps.sh).
set -eu
dir="$(cd "$(dirname "$0")/.." && pwd)/tests/tooling"
stamp="$dir/node_modules/.package-lock.installed"
if [ -d "$dir/node_modules" ] && [ -f "$stamp" ] && cmp -s "$dir/package-lock.json" "$stamp"; then
    exit 0
fi
command -v npm >/dev/null 2>&1 || {
    echo "install-npm: npm is missing; run scripts/install-deps.sh" >&2
    exit 1
}
echo "install-npm: npm ci in $dir" >&2
npm ci --prefix "$dir" --no-audit --no-fund --ignore-scripts --loglevel=error >&2
cp "$dir/package-lock.json" "$stamp"
