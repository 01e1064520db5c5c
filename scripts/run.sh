#!/bin/sh
# `make run`: initialise DATA on first use and print its credentials once, then serve on
# LISTEN. Later starts only say where the credentials are kept; if that file was deleted, they
# say how to get keys again (the REST API and partner keys are stored hashed, so nothing can
# show the old ones).
set -eu
bin="$1"; data="$2"; listen="$3"
# a development server: the machine's /etc/cohortd/cohortd.conf (an installed service's) is
# not read unless COHORTD_CONFIG names a file
export COHORTD_CONFIG="${COHORTD_CONFIG:-}"
creds="$data/credentials.json"
if [ ! -f "$data/cohortd.db" ]; then
    mkdir -p "$data"
    (umask 077 && "$bin" init --data "$data" --listen "$listen" --json >"$creds.tmp")
    mv "$creds.tmp" "$creds"
    echo "cohortd: initialised $data; credentials of the first workspace (shown once, kept in"
    echo "$creds, readable only by you):"
    cat "$creds"
    echo
elif [ -f "$creds" ]; then
    echo "cohortd: the credentials of the first workspace are in $creds"
else
    cat <<MSG
cohortd: $creds is gone. The REST API and partner keys are stored only as
hashes and cannot be shown again; make new ones (the server need not be stopped):
  $bin workspace list --data $data                         # the workspaces
  $bin api-key create --data $data [--workspace NAME]      # a new REST API key
  $bin import-key show --partner heap --data $data         # the Heap data import key
  $bin partner add NAME --data $data                       # a new partner with its key
MSG
fi
# the dashboard's first admin, made on the first start that finds no dashboard user (a data
# directory made before the dashboard gets one too); its generated password is shown once and
# kept beside the credentials
login="$data/dashboard-login.json"
if [ -z "$("$bin" user list --data "$data")" ]; then
    (umask 077 && "$bin" user add admin@localhost --role admin --data "$data" --json \
        </dev/null >"$login.tmp")
    mv "$login.tmp" "$login"
    echo "cohortd: the dashboard's first admin (shown once, kept in $login, readable only by"
    echo "you; change the password with: $bin user passwd admin@localhost --data $data):"
    cat "$login"
    echo
fi
echo "cohortd: serving on http://$listen  (Ctrl-C stops); open http://$listen/ and log in"
exec "$bin" serve --data "$data" --listen "$listen"
