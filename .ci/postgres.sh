#!/usr/bin/env bash
# Starts a throwaway PostgreSQL 15 cluster for the tests and prints ONE line
# on stdout, for `eval "$(.ci/postgres.sh)"`:
#
#   export TEST_POSTGRES_URL='postgres://postgres@127.0.0.1:PORT/authsvc_test?sslmode=disable'
#
# Everything else goes to stderr. The cluster lives in a fresh temp dir, runs
# as the `postgres` OS user, listens on 127.0.0.1 only (unix socket inside the
# temp dir) and trusts every local connection: it is for disposable CI
# machines, never for anything that holds data. Stop it with
#   .ci/postgres.sh stop DIR
# where DIR is the directory this script reports on stderr.
#
# Running it again while TEST_POSTGRES_URL already points at a live server
# re-prints that line instead of starting a second cluster.
set -euo pipefail

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
PG_USER=${PG_USER:-postgres}
DB_NAME=authsvc_test

log() { printf 'postgres.sh: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

# as_pg runs a command as the postgres OS user from a directory it can read
# (it may not be allowed into the caller's working directory).
as_pg() {
	if [[ $(id -u) -eq 0 ]]; then
		(cd / && runuser -u "$PG_USER" -- "$@")
	else
		(cd / && "$@")
	fi
}

if [[ ${1:-} == stop ]]; then
	dir=${2:?usage: $0 stop DIR}
	as_pg "$PG_BIN/pg_ctl" stop -D "$dir/data" -m fast >&2
	exit 0
fi

[[ -x $PG_BIN/initdb ]] || die "no PostgreSQL binaries in $PG_BIN (set PG_BIN)"

if [[ -n ${TEST_POSTGRES_URL:-} ]] && "$PG_BIN/pg_isready" -q -d "$TEST_POSTGRES_URL" 2>/dev/null; then
	log "TEST_POSTGRES_URL already points at a running server; reusing it"
	printf "export TEST_POSTGRES_URL='%s'\n" "$TEST_POSTGRES_URL"
	exit 0
fi

# Not $TMPDIR: the postgres user must be able to reach the directory (a
# TMPDIR under /root is not), and the socket path must stay under ~100 bytes.
dir=$(mktemp -d "${PG_TMPDIR:-/tmp}/authsvc-pg.XXXXXX")
mkdir "$dir/sock"
if [[ $(id -u) -eq 0 ]]; then
	chown -R "$PG_USER:" "$dir"
fi
as_pg test -w "$dir" || die "$PG_USER cannot write to $dir (set PG_TMPDIR)"
log "cluster directory: $dir (stop with: $0 stop $dir)"

as_pg "$PG_BIN/initdb" -D "$dir/data" -U postgres -E UTF8 --no-locale \
	--auth-local=trust --auth-host=trust --no-sync >&2

# free_port asks the kernel for an unused port; without python3 it walks up
# from 55432 looking for one nobody listens on. Either way another process
# may take it before the server binds, so the start below is retried.
free_port() {
	if command -v python3 >/dev/null; then
		python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
		return
	fi
	local p
	for ((p = 55432 + RANDOM % 1000; p < 65000; p++)); do
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return
		fi
	done
	return 1
}

# fsync and friends are off: the cluster is thrown away after the run, and
# the tests create and drop a database per subtest.
started=
for attempt in 1 2 3 4 5; do
	port=$(free_port) || die "no free port"
	log "starting PostgreSQL on 127.0.0.1:$port (attempt $attempt)"
	if as_pg "$PG_BIN/pg_ctl" start -w -t 60 -D "$dir/data" -l "$dir/server.log" \
		-o "-p $port -c listen_addresses=127.0.0.1 -k $dir/sock -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" >&2; then
		started=1
		break
	fi
	tail -n 20 "$dir/server.log" >&2 || true
done
[[ -n $started ]] || die "could not start PostgreSQL; log: $dir/server.log"

for _ in $(seq 1 60); do
	if "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$port"; then
		break
	fi
	sleep 0.5
done
"$PG_BIN/pg_isready" -h 127.0.0.1 -p "$port" >&2 || die "server not ready; log: $dir/server.log"

"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres -d postgres \
	-c "CREATE DATABASE $DB_NAME" >&2

printf "export TEST_POSTGRES_URL='postgres://postgres@127.0.0.1:%s/%s?sslmode=disable'\n" "$port" "$DB_NAME"
