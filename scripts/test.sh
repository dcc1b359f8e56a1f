#!/usr/bin/env bash
# The project's one test command (`make test`): formatting, vet, staticcheck,
# then every test with the race detector. PostgreSQL tests need
# TEST_POSTGRES_URL; when it is unset and PostgreSQL 15 binaries are
# installed, a throwaway cluster is started for this run and stopped
# afterwards. The browser tests need Chromium (.ci/run installs Debian's
# package) and axe-core, which this script installs with npm from the
# lockfile in internal/browsertest; the DPoP interop test needs Node and
# oauth4webapi, installed the same way in internal/interop. Without them
# those tests skip, and under CI they fail.
set -euo pipefail
cd "$(dirname "$0")/.."

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './bin/*'))
if [[ -n $unformatted ]]; then
	echo "gofmt would change:" >&2
	echo "$unformatted" >&2
	exit 1
fi
go vet ./...
# Pinned, so a new release cannot fail a build that passed; go run fetches it
# into the module cache once. Silence a finding with
# `//lint:ignore CHECK reason` (staticcheck does not read //nolint).
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

pg_dir=
if [[ -z ${TEST_POSTGRES_URL:-} && -x ${PG_BIN:-/usr/lib/postgresql/15/bin}/initdb ]]; then
	pg_err=$(mktemp)
	if ! pg_line=$(.ci/postgres.sh 2>"$pg_err"); then
		cat "$pg_err" >&2
		echo "could not start a PostgreSQL cluster for the tests" >&2
		exit 1
	fi
	cat "$pg_err" >&2
	eval "$pg_line"
	pg_dir=$(sed -n 's/^postgres.sh: cluster directory: \([^ ]*\).*/\1/p' "$pg_err" | head -1)
	rm -f "$pg_err"
	trap '[[ -n $pg_dir ]] && { .ci/postgres.sh stop "$pg_dir" >/dev/null 2>&1; rm -rf "$pg_dir"; } || true' EXIT
fi
if [[ -z ${TEST_POSTGRES_URL:-} && -n ${CI:-} ]]; then
	echo "CI must run the PostgreSQL tests, but no cluster is available" >&2
	exit 1
fi
if [[ -z ${TEST_POSTGRES_URL:-} ]]; then
	echo "note: TEST_POSTGRES_URL is unset and no PostgreSQL binaries were found: PostgreSQL tests will skip" >&2
fi

# npm ci installs exactly what package-lock.json pins, and --ignore-scripts
# runs nothing of the package's own.
if command -v npm >/dev/null; then
	(cd internal/browsertest && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
	# oauth4webapi, the unchanged third-party client of the DPoP interop
	# test (cmd/resource/interop_test.go).
	(cd internal/interop && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
else
	echo "note: npm is not installed: the browser tests' accessibility checks and the oauth4webapi interop test will skip (and fail under CI)" >&2
fi
if ! command -v "${CHROME_PATH:-chromium}" >/dev/null && ! command -v chromium-browser >/dev/null; then
	echo "note: no Chromium found (apt-get install -y chromium, or set CHROME_PATH): browser tests will skip (and fail under CI)" >&2
fi

go test -race -count=1 -timeout 20m ./...

# The strict compose-file load is a module of its own, so that compose-go
# and logrus stay out of the main module; ./... above does not reach into
# it. The real compose run is `make compose-test` (needs root and dockerd).
(cd cmd/demo/composetest && go vet ./... && go test -race -count=1 -timeout 20m ./...)
