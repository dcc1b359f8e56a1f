// Package composetest holds the tests of docker-compose.yml: a strict load
// with compose-go (compose_test.go) and a native run of its services
// against PostgreSQL (compose_smoke_test.go).
//
// It is a module of its own so that compose-go, and the logrus globals it
// logs through, stay out of the main module's requirements. `go test ./...`
// at the repository root does not reach it: scripts/test.sh runs it after
// the root tests.
package composetest
