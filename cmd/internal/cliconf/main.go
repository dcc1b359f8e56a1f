package cliconf

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/example/authsvc/internal/version"
)

// RunFunc is the shape of every service's run: everything from the
// outside world is passed in, so tests call it as main does. lookupenv has
// the shape of os.LookupEnv rather than os.Getenv because a few settings
// tell a variable set to "" from an unset one (see EmptyStringVar).
type RunFunc func(ctx context.Context, args []string, lookupenv LookupEnv, stdout, stderr io.Writer) error

// LookupEnv reads one environment variable, and whether it is set at all:
// os.LookupEnv, or a map in tests.
type LookupEnv func(name string) (string, bool)

// Getenv is the value alone, "" when unset, for code that needs no more.
func (l LookupEnv) Getenv(name string) string {
	v, _ := l(name)
	return v
}

// MapEnv serves m: a tests' environment.
func MapEnv(m map[string]string) LookupEnv {
	return func(name string) (string, bool) {
		v, ok := m[name]
		return v, ok
	}
}

// Main is the whole of a service's main: --version (or -version) prints
// the version and exits 0; otherwise a context cancelled by SIGINT or
// SIGTERM (run shuts down gracefully on it), then the exit status: 0 on
// success and for -h (the usage has been printed), otherwise 1 after one
// line "name: error" on stderr.
func Main(name string, run RunFunc) {
	if version.Requested(name, os.Args[1:], os.Stdout) {
		os.Exit(0)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args, os.LookupEnv, os.Stdout, os.Stderr)
	stop()
	os.Exit(ExitCode(name, err, os.Stderr))
}

// ExitCode reports err on stderr, if there is anything to say, and returns
// the exit status Main uses.
func ExitCode(name string, err error, stderr io.Writer) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	default:
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1
	}
}
