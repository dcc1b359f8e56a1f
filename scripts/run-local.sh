#!/usr/bin/env bash
# `make run`: the authorization server (:9096) and the resource service
# (:8080) on embedded SQLite files under data/, with the demo users and
# clients of configs/demo-bootstrap.yaml, and their metrics listeners
# (127.0.0.1:9097, 127.0.0.1:9098). The credentials below are the demo's,
# public in this repository: never reuse them. Ctrl-C stops both.
#
# The services' own variables move the listeners: AUTH_ADDR, RESOURCE_ADDR,
# AUTH_METRICS_ADDR, RESOURCE_METRICS_ADDR (empty or "off" turns a metrics
# listener off). The issuer and the introspection URL follow AUTH_ADDR's
# port unless AUTH_ISSUER or RESOURCE_INTROSPECT_URL is set.
# RUN_LOCAL_BIN_DIR (default ./bin) is where the binaries are, for tests.
#
# All four ports are checked before anything starts, so a second `make run`
# fails without touching the database. A service still counts as started
# only once it printed its own "listening on" line: a port taken between
# the check and the start is reported too. A start failure, or a service
# that fails on its own, is reported and ends the script with status 1;
# Ctrl-C stops both and ends it with 0.
set -uo pipefail
cd "$(dirname "$0")/.."

bin_dir=${RUN_LOCAL_BIN_DIR:-./bin}
export AUTH_ADDR=${AUTH_ADDR:-:9096}
export RESOURCE_ADDR=${RESOURCE_ADDR:-:8080}
# "-", not ":-": an empty metrics address means off, as in the services.
export AUTH_METRICS_ADDR=${AUTH_METRICS_ADDR-127.0.0.1:9097}
export RESOURCE_METRICS_ADDR=${RESOURCE_METRICS_ADDR-127.0.0.1:9098}
export AUTH_ISSUER=${AUTH_ISSUER:-http://localhost:${AUTH_ADDR##*:}}
export RESOURCE_INTROSPECT_URL=${RESOURCE_INTROSPECT_URL:-http://localhost:${AUTH_ADDR##*:}/introspect}
export AUTH_BOOTSTRAP=${AUTH_BOOTSTRAP:-configs/demo-bootstrap.yaml}
export RESOURCE_CLIENT_ID=${RESOURCE_CLIENT_ID:-resource-server}
if [[ -z ${RESOURCE_CLIENT_SECRET:-} && -z ${RESOURCE_CLIENT_SECRET_FILE:-} ]]; then
	export RESOURCE_CLIENT_SECRET=resource-secret-demo # demo only
fi
# jwt mode (RESOURCE_TOKEN_VALIDATION=jwt make run) checks tokens of this
# issuer with its keys.
export RESOURCE_ISSUER=${RESOURCE_ISSUER:-$AUTH_ISSUER}
export RESOURCE_JWKS_URL=${RESOURCE_JWKS_URL:-$AUTH_ISSUER/.well-known/jwks.json}

# port_taken ADDR: something accepts connections on ADDR (HOST:PORT; an
# empty or wildcard host is tried on loopback).
port_taken() {
	local host=${1%:*} port=${1##*:}
	host=${host#\[} host=${host%\]}
	[[ -z $host || $host == 0.0.0.0 || $host == :: ]] && host=127.0.0.1
	(exec 3<>"/dev/tcp/$host/$port") 2>/dev/null
}
taken=0
for var in AUTH_ADDR RESOURCE_ADDR AUTH_METRICS_ADDR RESOURCE_METRICS_ADDR; do
	addr=${!var} port=${!var##*:}
	[[ -z $addr || $addr == off || $port == 0 ]] && continue
	if port_taken "$addr"; then
		echo "run-local: port $port ($var=$addr) is in use: stop what holds it (another make run?)," \
			"or move it, e.g. $var=${addr%:*}:$(((port + 10000) % 65536)) make run" >&2
		taken=1
	fi
done
((taken)) && { echo "run-local: nothing started" >&2; exit 1; }

# The key-encryption key that seals the JWT signing keys: made once, kept
# beside the SQLite database it protects (data/). Demo only: a real
# deployment keeps it apart from the database (a secret store, a mounted
# file).
auth_db=${AUTH_DB:-sqlite:data/auth.db}
if [[ -z ${AUTH_KEY_ENCRYPTION_KEY:-} && -z ${AUTH_KEY_ENCRYPTION_KEY_FILE:-} && $auth_db == sqlite:* ]]; then
	kek_file=$(dirname "${auth_db#sqlite:}")/key-encryption-key
	mkdir -p "$(dirname "$kek_file")"
	if [[ ! -s $kek_file ]]; then
		(umask 077 && head -c 32 /dev/urandom | base64 >"$kek_file")
	fi
	export AUTH_KEY_ENCRYPTION_KEY_FILE=$kek_file
fi

run_dir=$(mktemp -d)
pids=()
stop() {
	for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null; done
	rm -rf "$run_dir"
}
fail() {
	echo "run-local: $*" >&2
	trap - INT TERM
	stop
	exit 1
}
# Ctrl-C reaches the services too (one process group); they shut down
# gracefully, and so does this script.
trap 'trap - INT TERM; stop; exit 0' INT TERM

# stopped_by_signal STATUS: the trap is not enough. A shell started with
# SIGINT ignored (a background job of a non-interactive shell, such as
# `make run &` in a script) cannot trap it, while the services, which ask
# for SIGINT, still get it and stop cleanly: `wait -n` then returns their
# status and the trap never runs. A service exits 0 only once a signal
# asked it to (its run returns nil only then), so a clean exit is such a
# stop, not a failure.
stopped_by_signal() { (($1 == 0)); }

# start NAME BINARY: run it, and wait for its "listening on" line.
start() {
	local name=$1 out="$run_dir/$1.out"
	"$bin_dir/$2" >"$out" &
	local pid=$!
	pids+=("$pid")
	for _ in $(seq 1 200); do
		if grep -q '^listening on ' "$out"; then
			sed 's/^/'"$name"': /' "$out" >&2
			return 0
		fi
		if ! kill -0 "$pid" 2>/dev/null; then
			wait "$pid"
			local status=$?
			stopped_by_signal "$status" && { trap - INT TERM; stop; exit 0; }
			fail "$name failed to start (status $status; see its log above)"
		fi
		sleep 0.1
	done
	fail "$name did not start within 20s"
}

start authserver authserver
# The resource service checks every token with the authorization server:
# start it once that listens.
start resource resource

echo "authserver on $AUTH_ISSUER, resource on http://localhost:${RESOURCE_ADDR##*:} (Ctrl-C stops both)" >&2
wait -n
status=$?
if stopped_by_signal "$status"; then
	trap - INT TERM
	stop
	exit 0
fi
fail "a service stopped on its own (status $status)"
