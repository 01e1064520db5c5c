#!/bin/sh
# The fuzz step of `make test`: builds the libFuzzer drivers of tests/fuzz/ with clang in their
# own build directory, then for each driver runs its committed seed corpus once (regression),
# and fuzzes for FUZZ_SECONDS (default 10) from a copy of that corpus. Any crash, sanitizer
# report, leak, timeout or out-of-memory fails the step; the reproducer stays in
# BUILD_DIR/fuzz/<driver>/ and the command to replay it is printed.
# Usage: scripts/fuzz.sh [BUILD_DIR] [JOBS]   (default build-fuzz, 1)
# Environment: FUZZ_SECONDS (per driver), FUZZ_ONLY (one driver name, e.g. fuzz_time).
set -eu
build="${1:-build-fuzz}"
jobs="${2:-1}"
seconds="${FUZZ_SECONDS:-10}"
only="${FUZZ_ONLY:-}"

CC=clang cmake -S . -B "$build" -DCOHORTD_FUZZ=ON -DCOHORTD_TESTS=OFF >/dev/null
cmake --build "$build" -j "$jobs" --target fuzzers >"$build/fuzz-build.log" 2>&1 || {
    cat "$build/fuzz-build.log" >&2
    echo "fuzz: build failed" >&2
    exit 1
}

# The longest input worth mutating per driver: a filter, a template, a Heap page, a partner
# request, a time, a stored blob (8 KiB is one bitset container).
max_len() {
    case "$1" in
    fuzz_time) echo 64 ;;
    fuzz_template | fuzz_segment_filter) echo 4096 ;;
    fuzz_heap_webhook | fuzz_cohort_changes) echo 8192 ;;
    fuzz_bitmap_blob) echo 16384 ;;
    *) echo 4096 ;;
    esac
}

# Leaks are findings; a small quarantine keeps the resident size of a long run down.
export ASAN_OPTIONS="detect_leaks=1:quarantine_size_mb=16:malloc_context_size=20"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

failed=""
for src in tests/fuzz/fuzz_*.c; do
    name=$(basename "$src" .c)
    [ -n "$only" ] && [ "$only" != "$name" ] && continue
    bin="$build/$name"
    seeds="tests/fuzz/corpus/$name"
    work="$build/fuzz/$name"
    rm -rf "$work"
    mkdir -p "$work/corpus"
    opts="-max_len=$(max_len "$name") -timeout=5 -rss_limit_mb=1024 -malloc_limit_mb=1024"
    [ -f "tests/fuzz/$name.dict" ] && opts="$opts -dict=tests/fuzz/$name.dict"
    if [ -d "$seeds" ] && [ -n "$(ls -A "$seeds")" ]; then
        cp "$seeds"/* "$work/corpus/"
        # regression: every committed input once
        # shellcheck disable=SC2086
        if ! "$bin" $opts -artifact_prefix="$work/" "$seeds"/* >"$work/regression.log" 2>&1; then
            failed="$failed $name"
            echo "fuzz: $name: a committed corpus input fails (log: $work/regression.log)" >&2
            grep -E 'ERROR|runtime error|fuzz_[a-z_]+: |Running: ' "$work/regression.log" | tail -5 >&2
            continue
        fi
    fi
    # shellcheck disable=SC2086
    if "$bin" $opts -max_total_time="$seconds" -print_final_stats=1 -artifact_prefix="$work/" \
        "$work/corpus" >"$work/fuzz.log" 2>&1; then
        runs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+).*/\1/p' "$work/fuzz.log")
        echo "fuzz: $name: ok, ${runs:-?} inputs in ${seconds}s"
    else
        failed="$failed $name"
        echo "fuzz: $name: FAILED (log: $work/fuzz.log)" >&2
        grep -E 'ERROR|runtime error|fuzz_[a-z_]+: |SUMMARY' "$work/fuzz.log" | head -5 >&2
        for a in "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-*; do
            [ -e "$a" ] || continue
            echo "fuzz:   reproducer $a; replay: $bin $opts $a" >&2
            echo "fuzz:   to keep it as a regression: cp $a $seeds/" >&2
        done
    fi
done
if [ -n "$failed" ]; then
    echo "fuzz: failed:$failed" >&2
    exit 1
fi
echo "fuzz: ok"
