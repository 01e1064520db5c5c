#!/bin/sh
# `make run`: initialise DATA on first use, print the credentials, serve on LISTEN.
set -eu
bin="$1"; data="$2"; listen="$3"
creds="$data/credentials.json"
if [ ! -f "$data/cohortd.db" ]; then
    mkdir -p "$data"
    umask 077
    "$bin" init --data "$data" --json >"$creds"
fi
echo "cohortd: credentials of the first workspace (kept in $creds, readable only by you):"
cat "$creds"
echo
echo "cohortd: serving on http://$listen  (Ctrl-C stops)"
exec "$bin" serve --data "$data" --listen "$listen"
