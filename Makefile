# The README's two commands are `make run` and `make test`; .ci/run calls
# `make test`, and the Dockerfile builds with the same `go build` line as
# `make build`, so none of them can drift from the others.
GO      ?= go
BUILDFLAGS ?= -trimpath
LDFLAGS ?= -s -w
# What --version prints (internal/version); without git, the binaries fall
# back to their build info.
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null)
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null)
VERSION_LDFLAGS ?= -X github.com/example/authsvc/internal/version.version=$(VERSION) -X github.com/example/authsvc/internal/version.revision=$(REVISION)

.PHONY: build run test compose-test bench loadbench clean

build:
	CGO_ENABLED=0 $(GO) build $(BUILDFLAGS) -ldflags='$(LDFLAGS) $(VERSION_LDFLAGS)' -o bin/ ./cmd/...

# Both services on the embedded SQLite default, with the demo users and
# clients (configs/demo-bootstrap.yaml; demo-only credentials). The build
# runs inside the recipe, after the notice: a first build compiles every
# dependency and is silent for minutes.
run:
	@echo "make run: building bin/ first; the first build takes a few minutes (1.5-2.5 on 2 cores), later ones seconds"
	@$(MAKE) --no-print-directory build
	./scripts/run-local.sh

# gofmt, go vet, staticcheck, and every test with the race detector; the
# PostgreSQL tests run against a throwaway local cluster that the script
# starts when the binaries are installed (TEST_POSTGRES_URL, if set, is used
# instead).
test:
	./scripts/test.sh

# The compose demo for real: a Docker Engine (installed and started if
# missing), the pinned Compose plugin, local stand-ins for the base images,
# the project's Dockerfile and docker-compose.yml; the demo must pass. Needs
# root. 12-20 minutes the first time on a 2-core machine (compose plugin,
# image build), about half a minute with the plugin cached and unchanged
# sources.
compose-test:
	./scripts/compose-test.sh

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# The load benchmark (cmd/loadbench): builds the real binaries, starts a fresh
# authserver per row and prints a markdown table. About a minute; pass flags
# with LOADBENCH_FLAGS='-duration 10s'.
loadbench:
	$(GO) run ./cmd/loadbench $(LOADBENCH_FLAGS)

# The binaries, and data/: the SQLite files of `make run`, whose items and
# lockouts outlive a run (the next make run starts with the demo data only).
clean:
	rm -rf bin data
