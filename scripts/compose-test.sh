#!/usr/bin/env bash
# `make compose-test`: the compose demo run for real, by a real Docker
# Engine, on a machine that reaches Debian's packages and the Go module
# proxy but no image registry (this project's development and CI machines).
#
#  1. installs Debian's docker.io if dockerd is missing, and starts dockerd
#     if none is running (and stops it at the end);
#  2. builds the pinned Compose v2 plugin (scripts/compose-plugin/go.mod),
#     once: it is cached under $COMPOSE_TEST_CACHE;
#  3. builds local stand-ins for the base images, tagged with the real
#     names for this run only (scripts/compose-test/standins/README.md);
#  4. builds the project's image with the project's Dockerfile (BuildKit;
#     COMPOSE_TEST_BUILDKIT=0 for the classic builder) and brings up the
#     project's docker-compose.yml, unchanged;
#  5. waits for the one-shot demo service, asserts exit code 0 and a table
#     whose every step is PASS; then `docker compose down -v`. The demo
#     signs in with the device grant too: a headless Chromium
#     (cmd/demo/composetest/devicebrowser; Debian's chromium, installed if
#     missing) plays the user who opens its URL, signs in and allows.
#
# Every wait has a time limit; on failure the services' logs are printed.
# Needs root (dockerd), Go, and the PostgreSQL 15 server binaries.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

cache=${COMPOSE_TEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/authsvc-compose-test}
buildkit=${COMPOSE_TEST_BUILDKIT:-1}
project_image=authsvc-demo:local
start=$SECONDS

step() { printf '\n== compose-test [%3ds] %s\n' $((SECONDS - start)) "$*"; }
die() {
	echo "compose-test: FAIL: $*" >&2
	exit 1
}

if [[ $(id -u) != 0 ]]; then
	die "run as root: it installs and starts dockerd"
fi
export PATH=$PATH:/usr/local/go/bin
command -v go >/dev/null || die "go is not on PATH"

# --- cleanup: undo exactly what this run did, in reverse ---------------
started_dockerd=
dockerd_pid=
compose=
stack_up=
tagged=
dockerd_log=$(mktemp /tmp/compose-test-dockerd.XXXXXX.log)
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	set +e
	if [[ -n $stack_up ]]; then
		if ((rc != 0)); then
			step "FAILED: state and logs of every service"
			timeout 30 "$compose" ps -a
			timeout 60 "$compose" logs --no-color --timestamps
		fi
		step "docker compose down -v"
		timeout 120 "$compose" down -v --remove-orphans --timeout 20
	fi
	if [[ -n $tagged ]]; then
		# The image built from stand-ins must not pass for a real build.
		docker rmi "$project_image" >/dev/null 2>&1
		timeout 60 scripts/compose-test/standins/build.sh untag
	fi
	if [[ -n $started_dockerd ]]; then
		step "stopping the dockerd this run started (pid $dockerd_pid)"
		kill "$dockerd_pid" 2>/dev/null
		timeout 60 tail --pid="$dockerd_pid" -f /dev/null ||
			{ echo "dockerd did not stop within 60s; killing it" >&2; kill -9 "$dockerd_pid"; }
		if ((rc != 0)); then
			echo "--- last lines of dockerd's log ($dockerd_log)"
			tail -n 40 "$dockerd_log"
		fi
	fi
	rm -f "$dockerd_log"
	step "done: $( ((rc == 0)) && echo PASS || echo "FAIL (exit $rc)") in $((SECONDS - start))s"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- 1. the Docker Engine -----------------------------------------------
step "Docker Engine"
if ! command -v dockerd >/dev/null; then
	echo "installing Debian's docker.io"
	export DEBIAN_FRONTEND=noninteractive
	timeout 300 apt-get update -q >/dev/null
	timeout 600 apt-get install -y -q docker.io >/dev/null
fi
if ! timeout 20 docker info >/dev/null 2>&1; then
	echo "starting dockerd (log: $dockerd_log)"
	dockerd >"$dockerd_log" 2>&1 &
	dockerd_pid=$!
	started_dockerd=1
	timeout 60 bash -c 'until docker info >/dev/null 2>&1; do sleep 1; done' ||
		{ tail -n 40 "$dockerd_log"; die "dockerd did not answer within 60s"; }
fi
docker version --format 'client {{.Client.Version}}, engine {{.Server.Version}} (API {{.Server.APIVersion}})'

# --- 2. the pinned Compose v2 plugin ------------------------------------
compose_version=$(awk '$1 == "github.com/docker/compose/v2" { print $2 }' scripts/compose-plugin/go.mod)
[[ -n $compose_version ]] || die "scripts/compose-plugin/go.mod pins no github.com/docker/compose/v2"
compose=$cache/docker-compose-$compose_version
step "Compose $compose_version"
if [[ -x $compose ]] && [[ v$("$compose" version --short 2>/dev/null) == "$compose_version" ]]; then
	echo "cached: $compose"
else
	echo "building it from the Go module proxy (a few minutes, once per machine)"
	mkdir -p "$cache"
	(cd scripts/compose-plugin && timeout 1200 go build -trimpath \
		-ldflags "-s -w -X github.com/docker/compose/v2/internal.Version=$compose_version" \
		-o "$compose.tmp" github.com/docker/compose/v2/cmd)
	mv "$compose.tmp" "$compose"
fi
# `docker compose` by hand afterwards, unless the machine has its own.
plugins=${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins
if [[ ! -e $plugins/docker-compose ]]; then
	mkdir -p "$plugins"
	ln -s "$compose" "$plugins/docker-compose"
fi
# This run calls the pinned binary itself, whatever plugin is installed.
"$compose" version

# --- 2b. the browser that approves the demo's device login -------------
step "Chromium and the device-login driver"
if ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null && [[ -z ${CHROME_PATH:-} ]]; then
	echo "installing Debian's chromium"
	export DEBIAN_FRONTEND=noninteractive
	timeout 300 apt-get update -q >/dev/null
	timeout 600 apt-get install -y -q chromium >/dev/null
fi
devicebrowser=$cache/devicebrowser
mkdir -p "$cache"
(cd cmd/demo/composetest && timeout 600 go build -o "$devicebrowser" ./devicebrowser)
# The demo's password (public, configs/demo-bootstrap.yaml); never printed.
export DEVICEBROWSER_PASSWORD=alice-demo-password

# --- 3. stand-ins for the base images -----------------------------------
step "stand-ins for the base images (no registry is reachable)"
tagged=1
timeout 900 scripts/compose-test/standins/build.sh tag

# --- 4. build and bring up ------------------------------------------------
export COMPOSE_BAKE=false # no buildx here: compose's own BuildKit client
if [[ $buildkit == 0 ]]; then
	export DOCKER_BUILDKIT=0
	step "docker compose build (classic builder)"
else
	export DOCKER_BUILDKIT=1
	step "docker compose build (BuildKit)"
fi
# Any earlier run's containers and volume go first: the database must be
# initialised from an empty volume, as on a user's first `up`.
timeout 120 "$compose" down -v --remove-orphans --timeout 10 >/dev/null 2>&1 || true
timeout 900 "$compose" --progress plain build

for port in 9096 8080; do
	if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
		die "port $port is in use on this machine; docker-compose.yml publishes it"
	fi
done
step "docker compose up -d (waits for each dependency to be healthy)"
stack_up=1
timeout 300 "$compose" up -d --no-build
"$compose" ps -a

# --- 5. the demo's verdict --------------------------------------------------
problems=()
mapfile -t secrets < <(sed -n 's/^ *\(password\|secret\): *\([^ #]*\).*/\2/p' configs/demo-bootstrap.yaml)
((${#secrets[@]} >= 3)) || die "found ${#secrets[@]} passwords/secrets in configs/demo-bootstrap.yaml, want at least 3"

# check_demo NAME EXIT_CODE OUTPUT: every row PASS, and no secret printed
# (the demo prints token prefixes, never a password or a client secret;
# configs/demo-bootstrap.yaml has the demo's, in plain text).
check_demo() {
	local name=$1 code=$2 out=$3 steps rows passes secret
	steps=$(sed -n 's/^all \([0-9][0-9]*\) steps behaved as stated$/\1/p' <<<"$out")
	rows=$(grep -cE '^[0-9]+ ' <<<"$out" || true)
	passes=$(grep -cE '^[0-9]+ .* PASS$' <<<"$out" || true)
	[[ $code == 0 ]] || problems+=("$name: exit code $code, want 0")
	[[ -n $steps ]] || problems+=("$name: no 'all N steps behaved as stated' line")
	((rows > 0)) || problems+=("$name: no table rows")
	[[ $rows == "${steps:-x}" && $passes == "$rows" ]] ||
		problems+=("$name: $passes of $rows rows PASS; the demo claims ${steps:-no} steps")
	if grep -q FAIL <<<"$out"; then problems+=("$name: a row says FAIL"); fi
	for secret in "${secrets[@]}"; do
		if grep -qF -- "$secret" <<<"$out"; then problems+=("$name: printed a secret (${secret:0:4}…)"); fi
	done
	demo_steps=$steps
}

step "waiting for the demo service to exit (Chromium approves its device login)"
# The demo's output, followed until it exits, goes through the browser
# driver, which approves the device login the demo asks for.
browser_log=$(mktemp /tmp/compose-test-browser.XXXXXX.log)
timeout 240 "$compose" logs -f --no-color --no-log-prefix demo 2>&1 | "$devicebrowser" >/dev/null 2>"$browser_log" &
browser_pid=$!
wait_rc=0
timeout 180 "$compose" wait demo >/dev/null || wait_rc=$? # the demo's own code
browser_rc=0
wait "$browser_pid" || browser_rc=$?
cat "$browser_log"
((browser_rc == 0)) || problems+=("demo service: the browser did not approve its device login (exit $browser_rc)")
((wait_rc != 124)) || die "the demo did not exit within 180s"
demo_id=$("$compose" ps -a -q demo)
exit_code=$(docker inspect -f '{{.State.ExitCode}}' "$demo_id")
table=$("$compose" logs --no-color --no-log-prefix demo)
printf '%s\n' "$table"
check_demo "demo service" "$exit_code" "$table"

# The README's "play it again", on the same database.
step "docker compose run --rm demo (the README's replay)"
replay_rc_file=$(mktemp)
browser_rc=0
replay=$( (
	rc=0
	timeout 180 "$compose" run --rm -T demo 2>&1 || rc=$?
	echo "$rc" >"$replay_rc_file"
) | "$devicebrowser" 2>"$browser_log") || browser_rc=$?
replay_rc=$(cat "$replay_rc_file")
rm -f "$replay_rc_file"
printf '%s\n' "$replay"
cat "$browser_log"
rm -f "$browser_log"
((browser_rc == 0)) || problems+=("replay: the browser did not approve its device login (exit $browser_rc)")
((replay_rc != 124)) || problems+=("replay: did not exit within 180s")
check_demo "replay" "$replay_rc" "$replay"

# The issuer is the published port: a user on this machine finds the
# endpoints there.
metadata=$(curl -fsS --max-time 10 http://localhost:9096/.well-known/oauth-authorization-server) ||
	problems+=("no metadata at http://localhost:9096 (the published port)")
for want in '"issuer": *"http://localhost:9096"' '"token_endpoint": *"http://localhost:9096/token"' '"jwks_uri": *"http://localhost:9096/.well-known/jwks.json"'; do
	grep -qE "$want" <<<"$metadata" || problems+=("metadata at the published port lacks $want")
done
# The key-encryption key reached the authserver as a secret: it made a
# signing key, and demo-jwt gets a JWT checkable with it.
jwks=$(curl -fsS --max-time 10 http://localhost:9096/.well-known/jwks.json) ||
	problems+=("no JWKS at http://localhost:9096/.well-known/jwks.json")
grep -qE '"kid": *"[A-Za-z0-9_-]{43}"' <<<"$jwks" || problems+=("the JWKS publishes no key: did the key-encryption key reach the authserver?")
jwt=$(curl -fsS --max-time 10 -u demo-jwt:demo-jwt-secret-not-for-production -d grant_type=client_credentials \
	http://localhost:9096/token) || problems+=("demo-jwt got no token")
grep -qE '"access_token": *"eyJ[^".]*\.[^".]*\.[^".]*"' <<<"$jwt" || problems+=("demo-jwt's token is not a JWT")
if ((${#problems[@]} > 0)); then
	printf 'compose-test: %s\n' "${problems[@]}" >&2
	die "the compose demo did not pass"
fi
step "demo: exit code 0 and all $demo_steps steps PASS, twice; no secret printed; metadata, the JWKS and a JWT at the published port"
