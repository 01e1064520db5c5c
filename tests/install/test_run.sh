#!/bin/sh
# test_run.sh BUILD_DIR SOURCE_DIR — scripts/run.sh, what `make run` runs after building:
#   - the first start initialises the data directory, prints the credentials (the JSON of
#     `cohortd init`) and keeps them in DATA/credentials.json, mode 0600;
#   - a later start does not print them again, only where they are;
#   - the first start also makes the dashboard's admin@localhost and prints its generated
#     password once (kept in DATA/dashboard-login.json, mode 0600); that login works;
#   - with credentials.json deleted, the next start still serves and says how to get keys;
#   - each time, the server answers /healthz.
set -eu
build="$1"
src="$2"
tmp=$(mktemp -d /tmp/cohortd-run-XXXXXX)
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
fail() {
    echo "test_run: FAIL: $*" >&2
    [ -f "$tmp/out" ] && sed 's/^/  | /' "$tmp/out" >&2
    exit 1
}
export COHORTD_CONFIG=/dev/null
data="$tmp/var"

# Starts run.sh in the background (its shell execs the server, so $! is the server) on port 0,
# reads the port the server bound from its log line "listening=http://127.0.0.1:PORT", and
# waits until /healthz answers there.
start() {
    sh "$src/scripts/run.sh" "$build/cohortd" "$data" "127.0.0.1:0" >"$tmp/out" 2>"$tmp/err" &
    pid=$!
    i=0
    port=""
    until [ -n "$port" ] &&
        [ "$(curl -s --noproxy '*' "http://127.0.0.1:$port/healthz")" = '{"status":"ok"}' ]; do
        kill -0 "$pid" 2>/dev/null || { cat "$tmp/err" >&2; fail "the server exited"; }
        i=$((i + 1))
        [ $i -lt 400 ] || { cat "$tmp/err" >&2; fail "no /healthz answer"; }
        sleep 0.05
        port=$(sed -n 's|.*listening=http://127\.0\.0\.1:\([0-9]*\).*|\1|p' "$tmp/err")
    done
}
stop() {
    kill "$pid"
    wait "$pid" || true
    pid=""
}

start
stop
grep -q '^cohortd: initialised' "$tmp/out" || fail "first start: no 'initialised' line"
printed=$(grep '^{"workspace_id"' "$tmp/out") || fail "first start: credentials not printed"
[ "$printed" = "$(cat "$data/credentials.json")" ] || fail "printed credentials differ from the file"
[ "$(stat -c %a "$data/credentials.json")" = 600 ] || fail "credentials.json is not mode 0600"
rest=$(jq -r .rest_api_key "$data/credentials.json")
# the dashboard's first admin: printed once, kept in dashboard-login.json (0600)
login=$(grep '^{"email":"admin@localhost"' "$tmp/out") || fail "first start: dashboard login not printed"
[ "$login" = "$(cat "$data/dashboard-login.json")" ] || fail "printed login differs from the file"
[ "$(stat -c %a "$data/dashboard-login.json")" = 600 ] || fail "dashboard-login.json is not mode 0600"
password=$(jq -r .password "$data/dashboard-login.json")
[ ${#password} -eq 24 ] || fail "the generated dashboard password is not 24 characters"

start
answer=$(curl -s --noproxy '*' -X POST "http://127.0.0.1:$port/dashboard/api/login" \
    -d "{\"email\":\"admin@localhost\",\"password\":\"$password\"}")
stop
[ "$(echo "$answer" | jq -r .role)" = admin ] || fail "the printed dashboard login does not log in: $answer"
grep -q "$rest" "$tmp/out" && fail "second start printed the REST API key again"
grep -q "$password" "$tmp/out" && fail "second start printed the dashboard password again"
grep -qx "cohortd: the credentials of the first workspace are in $data/credentials.json" \
    "$tmp/out" || fail "second start does not say where the credentials are"

rm "$data/credentials.json"
start
stop
grep -q "^cohortd: $data/credentials.json is gone" "$tmp/out" || fail "no 'is gone' line"
grep -q "api-key create --data $data" "$tmp/out" || fail "no hint to create a REST API key"
[ -e "$data/credentials.json" ] && fail "credentials.json came back"
echo "test_run: ok"
