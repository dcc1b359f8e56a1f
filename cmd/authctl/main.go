// Command authctl administers the authorization server's users and clients,
// directly in its store (the same -db / AUTH_DB as the server).
//
// Passwords and client secrets are never taken as flags, which would show in
// ps and shell history: they come from stdin or a no-echo prompt, and a
// generated client secret is printed once on stdout.
//
// This file holds the command line: dispatch, usage and exit codes. Each noun
// has its own file (user.go, client.go); prompt.go reads passwords and
// secrets. Every rule about users and clients lives in package store and in
// the admin service, not here.
package main

import (
	"github.com/example/authsvc/internal/version"

	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/example/authsvc/authserver/admin"
	"github.com/example/authsvc/cmd/internal/cliconf"
	"github.com/example/authsvc/cmd/internal/dbopen"
	"github.com/example/authsvc/store"
)

const usage = `usage: authctl [-db DSN] [-bcrypt-cost N] COMMAND [ARGS]

Commands:
  user add NAME        create a user; the password is the first line of stdin,
                       or is prompted for twice when stdin is a terminal
  user passwd NAME     set a user's password (read the same way); revokes
                       every token the user holds
  user disable NAME    refuse the user's logins; revokes every token the user
                       holds (an enable brings none back)
  user enable NAME     allow them again
  user unlock NAME     clear failed logins and any lockout of NAME
  user revoke NAME     revoke every token the user holds (sign out everywhere)
  user list            username, disabled, created
  client add ID -grants G[,G...] [-scopes "S S..."] [-public] [-introspect] [-secret-stdin]
                       create a client; grants: password, client_credentials,
                       refresh_token. Prints the generated secret once on
                       stdout, or with -secret-stdin takes it from stdin.
                       A -public client has no secret and may not use
                       client_credentials.
  client list          id, public, grants, scopes, introspect
  client revoke ID     revoke every token issued to the client
  help                 this text

Flags (a flag wins over its environment variable):
  -db DSN              AUTH_DB: sqlite:PATH or postgres://... (default sqlite:data/auth.db);
                       the schema is created if needed
  -bcrypt-cost N       AUTH_BCRYPT_COST (default 12; below 10 for tests only)
`

const (
	defaultDB         = "sqlite:data/auth.db"
	defaultBcryptCost = 12
)

// errUsageShown: the usage text has been printed; exit 2 without more output.
var errUsageShown = errors.New("usage shown")

// usageError is a mistake in the command line (exit status 2) rather than a
// failed operation (exit status 1).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func main() {
	if version.Requested("authctl", os.Args[1:], os.Stdout) {
		return
	}
	// Cancelling on a signal (rather than dying) lets a password prompt
	// restore the terminal's echo before the process exits.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args, os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil, errors.Is(err, errUsageShown):
	case errors.Is(err, context.Canceled):
		fmt.Fprintln(os.Stderr, "authctl: interrupted")
	default:
		fmt.Fprintf(os.Stderr, "authctl: %v\n", err)
	}
	os.Exit(exitCode(err))
}

// exitCode maps run's result to the process exit status.
func exitCode(err error) int {
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errUsageShown), errors.As(err, &ue):
		return 2
	case errors.Is(err, context.Canceled):
		return 130
	default:
		return 1
	}
}

// config is the global settings, shared by every command.
type config struct {
	dsn        string
	bcryptCost int
}

// Validate reports every problem at once.
func (c config) Validate() error {
	var problems []error
	if err := store.ValidateBcryptCost(c.bcryptCost); err != nil {
		problems = append(problems, fmt.Errorf("-bcrypt-cost / AUTH_BCRYPT_COST: %w", err))
	}
	return errors.Join(problems...)
}

// cli carries what every command needs.
type cli struct {
	config
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// command runs one subcommand with its arguments (after the noun and verb).
type command func(c *cli, ctx context.Context, args []string) error

// nouns lists every NOUN VERB pair; the order of verbs is the order the
// "missing subcommand" message lists them in.
var nouns = map[string][]struct {
	verb string
	run  command
}{
	"user": {
		{"add", (*cli).userAdd},
		{"passwd", (*cli).userPasswd},
		{"disable", func(c *cli, ctx context.Context, args []string) error { return c.userSetDisabled(ctx, args, true) }},
		{"enable", func(c *cli, ctx context.Context, args []string) error { return c.userSetDisabled(ctx, args, false) }},
		{"unlock", (*cli).userUnlock},
		{"revoke", (*cli).userRevoke},
		{"list", (*cli).userList},
	},
	"client": {
		{"add", (*cli).clientAdd},
		{"revoke", (*cli).clientRevoke},
		{"list", (*cli).clientList},
	},
}

func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("authctl")
	var cfg config
	fs.StringVar(&cfg.dsn, "db", defaultDB, "store: sqlite:PATH or postgres://...")
	fs.IntVar(&cfg.bcryptCost, "bcrypt-cost", defaultBcryptCost, "bcrypt cost of new passwords")
	if err := cliconf.Parse(fs, args[1:], getenv, "AUTH_"); err != nil {
		return flagError(err, stderr)
	}
	if err := cfg.Validate(); err != nil {
		return usageError{err}
	}
	c := &cli{config: cfg, stdin: stdin, stdout: stdout, stderr: stderr}

	rest := fs.Args()
	if len(rest) == 0 || rest[0] == "help" {
		fmt.Fprint(stderr, usage)
		return errUsageShown
	}
	verbs, ok := nouns[rest[0]]
	if !ok {
		return usageError{fmt.Errorf("unknown command %q (see authctl help)", rest[0])}
	}
	if len(rest) < 2 {
		names := make([]string, len(verbs))
		for i, v := range verbs {
			names[i] = v.verb
		}
		return usageError{fmt.Errorf("%s: missing subcommand (%s)", rest[0], strings.Join(names, ", "))}
	}
	for _, v := range verbs {
		if v.verb == rest[1] {
			return v.run(c, ctx, rest[2:])
		}
	}
	return usageError{fmt.Errorf("unknown command \"%s %s\" (see authctl help)", rest[0], rest[1])}
}

// newFlagSet returns a FlagSet that prints nothing: run reports flag errors
// as one line, and -h as the usage text.
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

func flagError(err error, stderr io.Writer) error {
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stderr, usage)
		return errUsageShown
	}
	return usageError{err}
}

// parseCommand parses a subcommand's flags and its positional arguments,
// named by want. The flag package stops at the first non-flag argument, but
// "client add ID -grants ..." puts the flags after the id, so parsing resumes
// after each positional argument; a "--" ends the flags.
func parseCommand(fs *flag.FlagSet, args []string, stderr io.Writer, want ...string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, flagError(err, stderr)
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			positional = append(positional, rest...)
			break
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
	if len(positional) != len(want) {
		line := fs.Name()
		for _, w := range want {
			line += " " + w
		}
		return nil, usageError{fmt.Errorf("usage: %s", line)}
	}
	return positional, nil
}

// withName is the shape of most commands ("authctl user passwd NAME"):
// parse the one NAME argument, let check (if not nil) refuse NAME before the
// store is touched, then run fn with the admin service and NAME.
func (c *cli) withName(ctx context.Context, command string, args []string, check func(name string) error,
	fn func(svc *admin.Service, name string) error) error {
	pos, err := parseCommand(newFlagSet("authctl "+command), args, c.stderr, "NAME")
	if err != nil {
		return err
	}
	name := pos[0]
	if check != nil {
		if err := check(name); err != nil {
			return usageError{err}
		}
	}
	return c.withAdmin(ctx, func(svc *admin.Service) error { return fn(svc, name) })
}

// withAdmin opens the store (creating the schema if needed), runs fn with
// the admin service over it and closes it.
func (c *cli) withAdmin(ctx context.Context, fn func(*admin.Service) error) (err error) {
	st, err := dbopen.OpenAuth(ctx, c.dsn)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := st.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close store: %w", cerr)
		}
	}()
	// Admin changes are reported on stderr by authctl itself; the service's
	// own log lines are for the server's log.
	svc, err := admin.New(st, slog.New(slog.DiscardHandler), c.bcryptCost)
	if err != nil {
		return usageError{fmt.Errorf("-bcrypt-cost / AUTH_BCRYPT_COST: %w", err)}
	}
	return fn(svc)
}

// orDash shows an empty list column as "-", so that every column of a
// listing is one whitespace-free field for scripts.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
