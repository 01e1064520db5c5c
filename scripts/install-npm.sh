#!/bin/sh
# Installs the npm packages of the test directories — tests/tooling (the OpenAPI linter),
# tests/liquid (brazejs, the reference Liquid renderer of the template test) and tests/browser
# (playwright-core, which drives Debian's chromium in the dashboard tests) — each pinned by
# its committed package-lock.json, with `npm ci`, non-interactively, and only when its
# node_modules is missing or its lock file changed since the last install (a copy of the lock
# is kept beside node_modules as the stamp). Node.js and npm are Debian packages
# (scripts/install-deps.sh).
set -eu
root="$(cd "$(dirname "$0")/.." && pwd)"
# ctest runs the suites that need these in parallel: one install at a time
if command -v flock >/dev/null 2>&1; then
    exec 9>"${TMPDIR:-/tmp}/cohortd-install-npm.lock"
    flock 9
fi
for dir in "$root/tests/tooling" "$root/tests/liquid" "$root/tests/browser"; do
    stamp="$dir/node_modules/.package-lock.installed"
    if [ -d "$dir/node_modules" ] && [ -f "$stamp" ] && cmp -s "$dir/package-lock.json" "$stamp"; then
        continue
    fi
    command -v npm >/dev/null 2>&1 || {
        echo "install-npm: npm is missing; run scripts/install-deps.sh" >&2
        exit 1
    }
    echo "install-npm: npm ci in $dir" >&2
    npm ci --prefix "$dir" --no-audit --no-fund --ignore-scripts --loglevel=error >&2
    cp "$dir/package-lock.json" "$stamp"
done
