#!/usr/bin/env bash
# Run by the postgres image once, on an empty data volume
# (/docker-entrypoint-initdb.d): creates the resource service's own role and
# database, separate from the authorization server's POSTGRES_DB. The names
# and the password come from docker-compose.yml (ITEMS_DB_*), where they are
# marked demo only.
#
# psql's :"name" and :'value' quote the identifiers and the password, so the
# values are never pasted into SQL as text.
set -euo pipefail

psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
	-v items_user="$ITEMS_DB_USER" \
	-v items_password="$ITEMS_DB_PASSWORD" \
	-v items_db="$ITEMS_DB_NAME" <<'EOSQL'
CREATE ROLE :"items_user" LOGIN PASSWORD :'items_password';
CREATE DATABASE :"items_db" OWNER :"items_user";
EOSQL
