#!/bin/sh
# Static checks run by `make test`: formatting, the layer rule, banned functions, clang-tidy.
# Usage: scripts/lint.sh BUILD_DIR (a configured build with compile_commands.json)
set -eu
build="$1"
fail=0

files=$(git ls-files '*.c' '*.h' 2>/dev/null || find src tests bench -name '*.[ch]')

if ! clang-format --dry-run --Werror $files; then
    echo "lint: clang-format differs; run 'make format'" >&2
    fail=1
fi

# Layers (DESIGN.md): http -> api -> core -> store. core and store never see HTTP,
# core never sees a database library; only cli/ starts the background workers.
bad=$(grep -lE '#include <(sqlite3|libpq-fe|microhttpd)\.h>' src/core/*.c src/core/*.h 2>/dev/null || true)
bad="$bad $(grep -lE '#include "(http|api)/' src/core/* src/store/* src/util/* 2>/dev/null || true)"
bad="$bad $(grep -lE '#include <microhttpd\.h>' src/api/* src/core/* src/store/* 2>/dev/null || true)"
# the background workers (Currents dispatcher, webhook sender) sit beside http, above core
bad="$bad $(grep -lE '#include "(currents|messaging)/' src/api/* src/core/* src/store/* src/http/* src/util/* 2>/dev/null || true)"
bad=$(echo "$bad" | xargs)
if [ -n "$bad" ]; then
    echo "lint: layer rule broken in: $bad" >&2
    fail=1
fi

banned=$(grep -nE '\b(sprintf|vsprintf|strcpy|strcat|atoi|atol|gets|strtok)\s*\(' $files || true)
if [ -n "$banned" ]; then
    echo "lint: banned functions:" >&2
    echo "$banned" >&2
    fail=1
fi

srcs=$(git ls-files 'src/*.c' 2>/dev/null || find src -name '*.c')
if ! clang-tidy -p "$build" --quiet $srcs >"$build/clang-tidy.log" 2>&1; then
    grep -E 'warning:|error:' "$build/clang-tidy.log" >&2 || cat "$build/clang-tidy.log" >&2
    echo "lint: clang-tidy found problems" >&2
    fail=1
fi

[ $fail -eq 0 ] && echo "lint: ok"
exit $fail
