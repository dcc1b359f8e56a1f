#!/usr/bin/env bash
# `make run`: the authorization server (:9096) and the resource service
# (:8080) on embedded SQLite files under data/, with the demo users and
# clients of configs/demo-bootstrap.yaml. The credentials below are the
# demo's, public in this repository: never reuse them. Ctrl-C stops both.
#
# A service counts as started only once it printed its own "listening on"
# line: a port answered by another process (a second `make run`) is not
# ours. A start failure, or a service that stops on its own, is reported
# and ends the script with status 1; Ctrl-C stops both and ends it with 0.
set -uo pipefail
cd "$(dirname "$0")/.."

export AUTH_BOOTSTRAP=${AUTH_BOOTSTRAP:-configs/demo-bootstrap.yaml}
export RESOURCE_CLIENT_ID=${RESOURCE_CLIENT_ID:-resource-server}
if [[ -z ${RESOURCE_CLIENT_SECRET:-} && -z ${RESOURCE_CLIENT_SECRET_FILE:-} ]]; then
	export RESOURCE_CLIENT_SECRET=resource-secret-demo # demo only
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
# Ctrl-C reaches the services too (same process group); they shut down
# gracefully, and so does this script.
trap 'trap - INT TERM; stop; exit 0' INT TERM

# start NAME BINARY: run it, and wait for its "listening on" line.
start() {
	local name=$1 out="$run_dir/$1.out"
	"./bin/$2" >"$out" &
	local pid=$!
	pids+=("$pid")
	for _ in $(seq 1 200); do
		if grep -q '^listening on ' "$out"; then
			sed 's/^/'"$name"': /' "$out" >&2
			return 0
		fi
		kill -0 "$pid" 2>/dev/null || fail "$name failed to start (see its log above)"
		sleep 0.1
	done
	fail "$name did not start within 20s"
}

start authserver authserver
# The resource service checks every token with the authorization server:
# start it once that listens.
start resource resource

echo "authserver on http://localhost:9096, resource on http://localhost:8080 (Ctrl-C stops both)" >&2
wait -n
status=$?
fail "a service stopped on its own (status $status)"
