#!/usr/bin/env bash
# `make run`: the authorization server (:9096) and the resource service
# (:8080) on embedded SQLite files under data/, with the demo users and
# clients of configs/demo-bootstrap.yaml. The credentials below are the
# demo's, public in this repository: never reuse them. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."

export AUTH_BOOTSTRAP=${AUTH_BOOTSTRAP:-configs/demo-bootstrap.yaml}
export RESOURCE_CLIENT_ID=${RESOURCE_CLIENT_ID:-resource-server}
if [[ -z ${RESOURCE_CLIENT_SECRET:-} && -z ${RESOURCE_CLIENT_SECRET_FILE:-} ]]; then
	export RESOURCE_CLIENT_SECRET=resource-secret-demo # demo only
fi

pids=()
stop() {
	trap - INT TERM EXIT
	for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	wait
}
trap stop INT TERM EXIT

./bin/authserver &
pids+=($!)
# The resource service checks every token with the authorization server:
# start it once that answers.
for _ in $(seq 1 100); do
	if curl -fsS -o /dev/null "http://localhost:9096/healthz" 2>/dev/null; then break; fi
	sleep 0.1
done
./bin/resource &
pids+=($!)

echo "authserver on http://localhost:9096, resource on http://localhost:8080 (Ctrl-C stops both)" >&2
wait -n
