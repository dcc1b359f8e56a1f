// Command authctl administers the authorization server's users, clients
// and schema: through a running server's admin API (--server), or directly
// in its store (the same -db / AUTH_DB as the server), which a running
// server on SQLite locks against writes.
//
// Passwords and client secrets are never taken as flags, which would show in
// ps and shell history: they come from stdin or a no-echo prompt, and a
// generated client secret is printed once on stdout.
//
// This file holds the command line: the root command, global settings and
// exit codes; args.go keeps the old single-dash spellings working. Each noun
// has its own file (user.go, client.go, migrate.go); output.go prints
// tables and JSON; prompt.go reads passwords and secrets. Every rule about
// users and clients lives in package store and in the admin service, not
// here.
package main

import (
	"github.com/example/authsvc/internal/version"

	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/example/authsvc/authserver/admin"
	"github.com/example/authsvc/cmd/internal/dbopen"
	"github.com/example/authsvc/store"
)

const (
	defaultDB         = "sqlite:data/auth.db"
	defaultBcryptCost = 12
)

// usageError is a mistake in the command line (exit status 2) rather than a
// failed operation (exit status 1).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

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
	case err == nil:
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
	case errors.As(err, &ue):
		return 2
	case errors.Is(err, context.Canceled):
		return 130
	default:
		return 1
	}
}

// cli carries the global settings and what every command needs.
type cli struct {
	dsn string
	remoteFlags
	bcryptCost int
	audit      bool
	getenv     func(string) string
	stdin      io.Reader
	stdout     io.Writer
	stderr     io.Writer
}

// run runs authctl with args (args[0] is the program name). A usage error
// is returned after the usage of the command concerned is printed on
// stderr; -h and --help print it on stdout and succeed.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	c := &cli{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr}
	root := c.rootCommand()
	root.SetArgs(normalizeArgs(root, args[1:]))
	cmd, err := root.ExecuteContextC(ctx)
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprint(stderr, cmd.UsageString())
	}
	return err
}

func (c *cli) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "authctl",
		Short: "Administer the authorization server's users, clients and schema",
		Long: `authctl administers the authorization server's users, clients and schema:
through a running server's admin API with --server URL (AUTHCTL_SERVER), or
directly in its store (--db), for bootstrap and offline work. While a server
runs on an SQLite database, direct changes are refused: use --server. Passwords
and secrets are read from the first line of stdin, or prompted for without
echo on a terminal; never from flags.

Exit status: 0 on success (and for -h/--help), 2 for a usage error (the usage
is printed on stderr), 1 for any other failure (one line on stderr).`,
		SilenceErrors:     true,
		SilenceUsage:      true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error { return c.settings(cmd) },
	}
	group(root)
	root.SetOut(c.stdout)
	root.SetErr(c.stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	pf := root.PersistentFlags()
	pf.StringVar(&c.dsn, "db", defaultDB, "store: sqlite:PATH or postgres://... (AUTH_DB); a missing sqlite directory is an error")
	pf.IntVar(&c.bcryptCost, "bcrypt-cost", defaultBcryptCost, "bcrypt cost of new passwords; below 10 for tests only (AUTH_BCRYPT_COST)")
	pf.BoolVar(&c.audit, "audit", false, "write the audit events of changes as JSON lines on stderr (AUTHCTL_AUDIT=1)")
	c.remoteFlags.register(pf)
	root.AddCommand(c.userCommand(), c.clientCommand(), c.consentCommand(), c.keysCommand(), c.migrateCommand())
	root.CompletionOptions.DisableDefaultCmd = true
	return root
}

// group makes cmd a command of subcommands only: run bare or with an
// unknown subcommand, it is a usage error.
func group(cmd *cobra.Command) {
	cmd.Args = cobra.ArbitraryArgs
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			if !cmd.HasParent() {
				return usagef("missing command")
			}
			return usagef("%s: missing subcommand", cmd.Name())
		}
		name := args[0]
		if cmd.HasParent() {
			name = cmd.Name() + " " + name
		}
		return usagef("unknown command %q (see %s --help)", name, cmd.CommandPath())
	}
}

// settings fills what the flags of cmd left unset from the environment (a
// flag wins over its variable) and checks the result.
func (c *cli) settings(cmd *cobra.Command) error {
	env := func(flag, name string) string {
		if cmd.Flags().Changed(flag) {
			return ""
		}
		return c.getenv(name)
	}
	var problems []error
	if v := env("db", "AUTH_DB"); v != "" {
		c.dsn = v
	}
	costOK := true
	if v := env("bcrypt-cost", "AUTH_BCRYPT_COST"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			problems = append(problems, fmt.Errorf("AUTH_BCRYPT_COST: %q is not a number", v))
			costOK = false
		}
		c.bcryptCost = n
	}
	if costOK {
		if err := store.ValidateBcryptCost(c.bcryptCost); err != nil {
			problems = append(problems, fmt.Errorf("--bcrypt-cost / AUTH_BCRYPT_COST: %w", err))
		}
	}
	if v := env("audit", "AUTHCTL_AUDIT"); v != "" {
		on, err := strconv.ParseBool(v)
		if err != nil {
			problems = append(problems, fmt.Errorf("AUTHCTL_AUDIT: %q is not a boolean", v))
		}
		c.audit = on
	}
	problems = append(problems, c.remoteFlags.settings(env))
	if err := errors.Join(problems...); err != nil {
		return usageError{err}
	}
	return nil
}

// access says whether a command changes anything: in direct mode, a
// change takes the database's write lock first.
type access bool

const (
	reads  access = false
	writes access = true
)

// withAdmin runs fn over the backend: the server's admin API when --server
// is given, or else the admin service over the store, which it opens
// (creating and migrating a missing database file in an existing
// directory, never a directory) and closes. A direct write first takes the
// database's write lock, and is refused while a server runs on it.
func (c *cli) withAdmin(ctx context.Context, acc access, fn func(backend) error) (err error) {
	if c.server != "" {
		api, err := c.remote()
		if err != nil {
			return err
		}
		return fn(api)
	}
	if acc == writes {
		release, err := c.lockForWrite()
		if err != nil {
			return err
		}
		defer release()
	}
	st, err := dbopen.OpenAuth(ctx, c.dsn, store.ExistingDirOnly())
	if err != nil {
		return err
	}
	defer func() {
		if cerr := st.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close store: %w", cerr)
		}
	}()
	// authctl reports each change on stderr in its own words; the audit
	// events are for a log pipeline, so they are written only on request.
	logger := slog.New(slog.DiscardHandler)
	if c.audit {
		logger = slog.New(slog.NewJSONHandler(c.stderr, nil)).With("via", "authctl")
	}
	svc, err := admin.New(st, logger, c.bcryptCost)
	if err != nil {
		return usageError{fmt.Errorf("--bcrypt-cost / AUTH_BCRYPT_COST: %w", err)}
	}
	return fn(svc)
}

// lockForWrite takes the database's write lock for a direct change, or
// says how to make the change while a server holds it.
func (c *cli) lockForWrite() (release func() error, err error) {
	release, err = dbopen.LockForWrite(c.dsn)
	if errors.Is(err, dbopen.ErrServerRunning) {
		return nil, serverRunning(err)
	}
	return release, err
}

// serverRunning explains a refused direct write.
func serverRunning(err error) error {
	return fmt.Errorf("%w; direct writes are refused while it runs, since they would bypass it: "+
		"make the change through its admin API with --server URL (or AUTHCTL_SERVER) and --admin-token-file FILE "+
		"(or AUTHCTL_ADMIN_TOKEN_FILE), or stop the server first", err)
}

// withName is the shape of most commands ("authctl user passwd NAME"): run
// fn with the backend and the one argument.
func (c *cli) withName(cmd *cobra.Command, args []string, acc access, fn func(ctx context.Context, svc backend, name string) error) error {
	ctx := cmd.Context()
	return c.withAdmin(ctx, acc, func(svc backend) error { return fn(ctx, svc, args[0]) })
}

// exactArgs is cobra.ExactArgs as a usage error naming the arguments.
func exactArgs(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != len(names) {
			line := cmd.CommandPath()
			for _, n := range names {
				line += " " + n
			}
			return usagef("usage: %s", line)
		}
		return nil
	}
}
