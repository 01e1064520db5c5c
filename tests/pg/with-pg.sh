#!/bin/sh
# with-pg.sh CMD [ARG...] — runs CMD beside a throwaway PostgreSQL server and stops it after.
#
# The server: initdb on a temporary directory, pg_ctl start on 127.0.0.1 and a free port (the
# first of a few candidates the postmaster can bind), its socket in that directory, trust
# authentication for the user "cohortd". As root it runs as the user "postgres" (or "nobody"):
# initdb refuses root. CMD gets COHORTD_TEST_PG_URL=postgresql://cohortd@127.0.0.1:PORT/postgres
# and COHORTD_TEST_PG_BIN (the server's bin directory). Whatever CMD's status (or a signal),
# the server is stopped and the directory removed; the script exits with CMD's status.
# PostgreSQL's server comes from scripts/install-deps.sh test; COHORTD_PG_BINDIR overrides
# the directory it is looked for in (/usr/lib/postgresql/*/bin).
set -u

bindir=${COHORTD_PG_BINDIR:-}
if [ -z "$bindir" ]; then
    for d in /usr/lib/postgresql/*/bin; do
        [ -x "$d/initdb" ] && bindir=$d
    done
fi
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
    echo "with-pg: no PostgreSQL server found (run scripts/install-deps.sh test)" >&2
    exit 1
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/cohortd-pg.XXXXXX") || exit 1
run_as=""
if [ "$(id -u)" -eq 0 ]; then
    user=postgres
    id "$user" >/dev/null 2>&1 || user=nobody
    chown "$user" "$dir"
    run_as="runuser -u $user --"
fi

started=0
cleanup() {
    if [ "$started" = 1 ]; then
        $run_as "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1
    fi
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

if ! $run_as "$bindir/initdb" -D "$dir/data" -A trust -U cohortd -E UTF8 --locale=C --no-sync \
    >"$dir/initdb.log" 2>&1; then
    echo "with-pg: initdb failed:" >&2
    cat "$dir/initdb.log" >&2
    exit 1
fi

# candidate ports spread by pid, so helpers starting together rarely try the same one
base=$((20000 + ($$ * 37) % 30000))
port=""
for k in 0 1 2 3 4 5 6 7 8 9; do
    p=$((base + k * 997 % 10000))
    if $run_as "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-h 127.0.0.1 -p $p -k $dir -c max_connections=200" start >/dev/null 2>&1; then
        port=$p
        started=1
        break
    fi
done
if [ -z "$port" ]; then
    echo "with-pg: the server did not start:" >&2
    cat "$dir/server.log" >&2
    exit 1
fi

COHORTD_TEST_PG_URL="postgresql://cohortd@127.0.0.1:$port/postgres"
COHORTD_TEST_PG_BIN=$bindir
export COHORTD_TEST_PG_URL COHORTD_TEST_PG_BIN
"$@"
rc=$?
exit $rc
