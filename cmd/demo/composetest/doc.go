// Package composetest loads docker-compose.yml strictly with compose-go, the
// loader docker compose itself uses, in seconds and without Docker: unknown
// keys, unset variables, dangling depends_on, and environment names that the
// services' -h does not document fail here. The real run of the stack
// (images built, services healthy, the demo passing) is
// scripts/compose-test.sh, `make compose-test`.
//
// It is a module of its own so that compose-go, and the logrus globals it
// logs through, stay out of the main module's requirements. `go test ./...`
// at the repository root does not reach it: scripts/test.sh runs it after
// the root tests.
package composetest
