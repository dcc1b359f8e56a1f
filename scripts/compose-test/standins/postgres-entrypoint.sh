#!/usr/bin/env bash
# TEST FIXTURE, not the official postgres image's entrypoint: the entrypoint
# of the postgres:15 stand-in that scripts/compose-test.sh builds when no
# registry is reachable. It reproduces only the parts of the official
# image's contract that docker-compose.yml relies on (README.md beside this
# file lists them):
#
#   - started as root, it makes PGDATA the postgres user's (mode 0700) and
#     re-executes itself as that user;
#   - on an empty PGDATA: initdb with POSTGRES_USER as the superuser and
#     POSTGRES_PASSWORD as its password, scram-sha-256 for TCP clients,
#     trust on the unix socket; POSTGRES_DB created; then every
#     /docker-entrypoint-initdb.d/*.sh (executed if executable, sourced
#     otherwise) and *.sql, in name order, against a temporary server that
#     listens on the unix socket only;
#   - then the real server, listening on TCP, as PID 1.
set -Eeuo pipefail

: "${PGDATA:=/var/lib/postgresql/data}"
export PGDATA

if [[ ${1:-} != postgres ]]; then
	exec "$@"
fi

if [[ $(id -u) == 0 ]]; then
	mkdir -p "$PGDATA" /var/run/postgresql
	chown -R postgres:postgres "$PGDATA" /var/run/postgresql
	chmod 0700 "$PGDATA"
	chmod 2777 /var/run/postgresql
	exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

if [[ ! -s $PGDATA/PG_VERSION ]]; then
	if [[ -z ${POSTGRES_PASSWORD:-} ]]; then
		echo "stand-in entrypoint: POSTGRES_PASSWORD is required (as in the official image)" >&2
		exit 1
	fi
	: "${POSTGRES_USER:=postgres}" "${POSTGRES_DB:=$POSTGRES_USER}"
	export POSTGRES_USER POSTGRES_DB
	initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") \
		--auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >/dev/null
	printf '\nhost all all all scram-sha-256\n' >>"$PGDATA/pg_hba.conf"

	# Socket only, like the official image's temporary server: a TCP
	# pg_isready cannot succeed before the init scripts have run.
	pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -p 5432" -w start >/dev/null
	export PGUSER=$POSTGRES_USER PGDATABASE=$POSTGRES_DB
	if [[ $POSTGRES_DB != postgres ]]; then
		psql -v ON_ERROR_STOP=1 --no-psqlrc --dbname postgres --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";' >/dev/null
	fi
	for f in /docker-entrypoint-initdb.d/*; do
		case $f in
		*.sh)
			echo "stand-in entrypoint: running $f"
			if [[ -x $f ]]; then "$f"; else . "$f"; fi
			;;
		*.sql)
			echo "stand-in entrypoint: running $f"
			psql -v ON_ERROR_STOP=1 --no-psqlrc -f "$f"
			;;
		*)
			if [[ -e $f ]]; then echo "stand-in entrypoint: ignoring $f"; fi
			;;
		esac
	done
	unset PGUSER PGDATABASE
	pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
	echo "stand-in entrypoint: init done; starting the server"
fi

exec postgres -c listen_addresses='*' "${@:2}"
