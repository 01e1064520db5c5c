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
# core never sees a database library, api never sees the store; only cli/ starts the
# background workers.
core_files=$(find src/core -name '*.[ch]')
bad=$(grep -lE '#include <(sqlite3|libpq-fe|microhttpd)\.h>' $core_files 2>/dev/null || true)
bad="$bad $(grep -rlE '#include "(http|api|cli|workers)/' src/core src/store src/util 2>/dev/null || true)"
bad="$bad $(grep -rlE '#include <microhttpd\.h>' src/api src/core src/store 2>/dev/null || true)"
bad="$bad $(grep -rlE '#include "store/' src/api 2>/dev/null || true)"
# a workspace's insides are core's alone (workspace_int.h); everything above sees an opaque type
bad="$bad $(grep -rlE '#include "core/workspace/workspace_int\.h"' src/api src/http src/cli src/workers 2>/dev/null || true)"
# the background workers (Currents dispatcher, webhook sender) sit beside http, above core
bad="$bad $(grep -rlE '#include "workers/' src/api src/core src/store src/http src/util 2>/dev/null || true)"
bad=$(echo "$bad" | xargs)
if [ -n "$bad" ]; then
    echo "lint: layer rule broken in: $bad" >&2
    fail=1
fi

# Inside core, folders are ordered (README, "Layout"): a file may include its own folder and
# the folders before it, never one after it.
core_order="index workspace events users cohorts segments messaging"
rank() { i=0; for d in $core_order; do [ "$d" = "$1" ] && { echo $i; return; }; i=$((i + 1)); done; echo 99; }
for f in $core_files; do
    own=$(echo "$f" | cut -d/ -f3)
    r=$(rank "$own")
    if [ "$r" = 99 ]; then
        echo "lint: $f: core folder '$own' is not in the core order" >&2
        fail=1
        continue
    fi
    for dep in $(sed -nE 's|^#include "core/([a-z_]+)/.*|\1|p' "$f" | sort -u); do
        if [ "$(rank "$dep")" -gt "$r" ]; then
            echo "lint: $f includes core/$dep, which comes after core/$own" >&2
            fail=1
        fi
    done
done

# No include cycle between modules (a module is x.c with x.h and its private x_int.h): tsort
# fails on a loop.
edges=$(for f in $(find src -name '*.[ch]'); do
    from=${f%.*}
    from=${from%_int}
    sed -nE 's|^#include "([^"]+)\.h".*|\1|p' "$f" | sed 's/_int$//' | while read -r to; do
        if [ "src/$to" != "$from" ]; then echo "src/$to $from"; fi
    done
done)
if ! echo "$edges" | tsort >/dev/null 2>"$build/include-cycles.log"; then
    echo "lint: include cycle between modules:" >&2
    grep -v 'input contains a loop' "$build/include-cycles.log" | sed 's/^tsort: /  /' >&2
    fail=1
fi

# The limits table and its documentation agree: every constant is listed in docs/limits.md.
for c in $(sed -nE 's/^#define (LIMIT_[A-Z_]+).*/\1/p' src/api/limits.h); do
    if ! grep -q "\`$c\`" docs/limits.md; then
        echo "lint: $c (src/api/limits.h) is not documented in docs/limits.md" >&2
        fail=1
    fi
done

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
