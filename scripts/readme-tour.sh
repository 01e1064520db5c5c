#!/usr/bin/env bash
# readme-tour.sh BIN — runs the "A five-minute tour" section of README.md as a test (ctest
# docs/readme_tour, so `make test`): a fresh data directory is started the way `make run` does
# it (scripts/run.sh: init, credentials in DATA/credentials.json, serve) on a free loopback
# port, and the tour's ```sh blocks run, in order, in one `bash -euo pipefail` from a directory
# where `var/credentials.json` is that file, with COHORTD pointing at the server and HEAP_URL at
# a closed loopback port (so nothing leaves the machine).
#
# What is checked. In a block, a line starting with `# {` or `# [` is the expected answer of
# the commands above it (since the previous such line or the start of the block);
# consecutive ones are the answers in order (an NDJSON export gives one per line). The
# commands' output (stdout and stderr) is read as a sequence of JSON values, and there must be
# as many values as expected lines, each matching its line:
#   - a string "…" matches any value;
#   - an object matches when it has exactly the expected keys, each value matching, except that
#     a bare … among the keys (`{"size":1,…}`) allows any other keys: the expected object is
#     then a subset;
#   - an array matches element by element; a bare … as its last element allows more elements;
#   - anything else matches an equal JSON value.
# Text after two or more spaces following the JSON, in parentheses, is a remark and ignored.
# Any other comment is only a comment. A command that fails fails the tour (set -e), and so
# does a server that does not stop cleanly or whose log holds a sanitizer report.
set -euo pipefail

bin="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
pid=""
cleanup() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

port_is_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# ---- the tour's commands, turned into a checked script ----
awk '
    /^## / { in_tour = ($0 ~ /^## A five-minute tour/) }
    in_tour && /^```sh$/ { in_block = 1; next }
    in_tour && in_block && /^```$/ {
        if (expecting) print "TOUR_EXPECTED"
        if (open) { print "} >\"$TOUR_OUT/" n ".out\" 2>&1; cat \"$TOUR_OUT/" n ".out\"" }
        open = 0; expecting = 0; in_block = 0; next
    }
    !in_block { next }
    /^# [{[]/ {
        if (!expecting) {
            if (!open) { n++; print "{ :" }
            print "} >\"$TOUR_OUT/" n ".out\" 2>&1"
            print "tour_check " n " <<'\''TOUR_EXPECTED'\''"
            open = 0; expecting = 1
        }
        print substr($0, 3)
        next
    }
    {
        if (expecting) { print "TOUR_EXPECTED"; expecting = 0 }
        if (!open) { n++; print "{"; open = 1 }
        print
    }
    END { if (expecting) print "TOUR_EXPECTED"; print "echo \"readme-tour: " n " steps\"" }
' "$root/README.md" >"$work/steps.sh"
if ! grep -q tour_check "$work/steps.sh"; then
    echo "readme-tour: no checked step found in README.md's \"A five-minute tour\"" >&2
    exit 1
fi

cat >"$work/match.jq" <<'EOF'
# m(e; a): does the actual value a match the expected value e (rules at the top of readme-tour.sh)
def m(e; a):
  if e == "…" then true
  elif (e | type) == "object" then
    (a | type) == "object"
    and ([e | to_entries[] | select(.key != "…") | .key as $k | .value as $v
          | (a | has($k)) and m($v; a[$k])] | all)
    and ((e | has("…")) or (((a | keys) - (e | keys)) == []))
  elif (e | type) == "array" then
    (a | type) == "array"
    and (if (e | length) > 0 and e[-1] == "…" then
           (a | length) >= (e | length) - 1
           and ([range(0; (e | length) - 1) as $i | m(e[$i]; a[$i])] | all)
         else
           (a | length) == (e | length)
           and ([range(0; e | length) as $i | m(e[$i]; a[$i])] | all)
         end)
  else e == a end;
($e | length) == ($a | length) and ([range(0; $e | length) as $i | m($e[$i]; $a[$i])] | all)
EOF

cat >"$work/tour.sh" <<'EOF'
# tour_check N: the output of step N against the expected lines on stdin.
tour_check() {
    local out="$TOUR_OUT/$1.out" want="$TOUR_OUT/$1.want" got="$TOUR_OUT/$1.got"
    # a bare … in an object or at the end of an array is a wildcard; a remark is dropped
    sed -E -e 's/  +\(.*\)$//' -e 's/([{,])…([,}])/\1"…":"…"\2/g' -e 's/,…\]/,"…"]/g' >"$want"
    if ! jq -c . "$out" >"$got" 2>/dev/null; then
        printf 'readme-tour: step %s: the answer is not JSON:\n%s\n' "$1" "$(cat "$out")" >&2
        return 1
    fi
    if ! jq -n -e --slurpfile e "$want" --slurpfile a "$got" -f "$TOUR_MATCH" >/dev/null; then
        printf 'readme-tour: step %s: expected\n%s\ngot\n%s\n' "$1" "$(cat "$want")" \
            "$(cat "$got")" >&2
        return 1
    fi
    cat "$out"
    echo
}
EOF
cat "$work/steps.sh" >>"$work/tour.sh"

# ---- a fresh server, started as `make run` starts it ----
mkdir -p "$work/run" "$work/out"
for attempt in 1 2 3 4 5; do
    port=$((20000 + RANDOM % 40000))
    port_is_free "$port" || continue
    rm -rf "$work/run/var"
    sh "$root/scripts/run.sh" "$bin" "$work/run/var" "127.0.0.1:$port" >"$work/server.log" 2>&1 &
    pid=$!
    for i in $(seq 600); do
        curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    if curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then
        break
    fi
    wait "$pid" 2>/dev/null || true
    pid=""
    echo "readme-tour: the server did not start on port $port (attempt $attempt)" >&2
done
if [ -z "$pid" ]; then
    cat "$work/server.log" >&2
    exit 1
fi
closed=$((port + 1))
port_is_free "$closed" || closed=9

status=0
(cd "$work/run" && COHORTD="http://127.0.0.1:$port" HEAP_URL="http://127.0.0.1:$closed/braze" \
    TOUR_OUT="$work/out" TOUR_MATCH="$work/match.jq" bash -euo pipefail "$work/tour.sh") ||
    status=$?

kill "$pid"
server_status=0
wait "$pid" || server_status=$?
pid=""
if [ "$server_status" -ne 0 ]; then
    echo "readme-tour: the server exited with status $server_status" >&2
    status=1
fi
if grep -qE 'ERROR: (Address|Leak|Thread)Sanitizer|runtime error:' "$work/server.log"; then
    echo "readme-tour: the server log holds a sanitizer report:" >&2
    grep -A20 -E 'ERROR: (Address|Leak|Thread)Sanitizer|runtime error:' "$work/server.log" >&2
    status=1
fi
if [ "$status" -ne 0 ]; then
    echo "readme-tour: FAILED (server log: last lines)" >&2
    tail -20 "$work/server.log" >&2
    echo "0 passed, 1 failed"
    exit 1
fi
echo "readme-tour: every answer of the tour matched"
echo "1 passed, 0 failed"
