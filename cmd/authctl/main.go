// Command authctl administers the authorization server's users and clients,
// directly in its store (the same -db / AUTH_DB as the server).
//
// Passwords and client secrets are never taken as flags, which would show in
// ps and shell history: they come from stdin or a no-echo prompt, and a
// generated client secret is printed once on stdout.
package main

import (
	"bufio"
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
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"github.com/example/authsvc/authserver/admin"
	"github.com/example/authsvc/cmd/internal/cliconf"
	"github.com/example/authsvc/cmd/internal/dbopen"
	"github.com/example/authsvc/store"
)

const usage = `usage: authctl [-db DSN] [-bcrypt-cost N] COMMAND [ARGS]

Commands:
  user add NAME        create a user; the password is the first line of stdin,
                       or is prompted for twice when stdin is a terminal
  user passwd NAME     set a user's password (read the same way)
  user disable NAME    refuse the user's logins
  user enable NAME     allow them again
  user unlock NAME     clear failed logins and any lockout of NAME
  user list            username, disabled, created
  client add ID -grants G[,G...] [-scopes "S S..."] [-public] [-introspect] [-secret-stdin]
                       create a client; grants: password, client_credentials,
                       refresh_token. Prints the generated secret once on
                       stdout, or with -secret-stdin takes it from stdin.
                       A -public client has no secret and may not use
                       client_credentials.
  client list          id, public, grants, scopes, introspect
  help                 this text

Flags (a flag wins over its environment variable):
  -db DSN              AUTH_DB: sqlite:PATH or postgres://... (default sqlite:data/auth.db);
                       the schema is created if needed
  -bcrypt-cost N       AUTH_BCRYPT_COST (default 12; below 10 for tests only)
`

const (
	defaultDB         = "sqlite:data/auth.db"
	defaultBcryptCost = 12
	// maxLineBytes bounds what is read from stdin for one password or secret.
	maxLineBytes = 4096
)

// errUsageShown: the usage text has been printed; exit 2 without more output.
var errUsageShown = errors.New("usage shown")

// usageError is a mistake in the command line (exit status 2) rather than a
// failed operation (exit status 1).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func main() {
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

// cli carries what every command needs.
type cli struct {
	dsn        string
	bcryptCost int
	stdin      io.Reader
	stdout     io.Writer
	stderr     io.Writer
	now        func() time.Time
}

func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("authctl")
	dsn := fs.String("db", defaultDB, "store: sqlite:PATH or postgres://...")
	cost := fs.Int("bcrypt-cost", defaultBcryptCost, "bcrypt cost of new passwords")
	if err := cliconf.Parse(fs, args[1:], getenv, "AUTH_"); err != nil {
		return flagError(err, stderr)
	}
	if err := store.ValidateBcryptCost(*cost); err != nil {
		return usageError{fmt.Errorf("-bcrypt-cost / AUTH_BCRYPT_COST: %w", err)}
	}
	c := &cli{dsn: *dsn, bcryptCost: *cost, stdin: stdin, stdout: stdout, stderr: stderr, now: time.Now}

	rest := fs.Args()
	if len(rest) == 0 || rest[0] == "help" {
		fmt.Fprint(stderr, usage)
		return errUsageShown
	}
	switch rest[0] {
	case "user":
		if len(rest) < 2 {
			return usageError{errors.New("user: missing subcommand (add, passwd, disable, enable, unlock, list)")}
		}
		switch rest[1] {
		case "add":
			return c.userAdd(ctx, rest[2:])
		case "passwd":
			return c.userPasswd(ctx, rest[2:])
		case "disable":
			return c.userSetDisabled(ctx, rest[2:], true)
		case "enable":
			return c.userSetDisabled(ctx, rest[2:], false)
		case "unlock":
			return c.userUnlock(ctx, rest[2:])
		case "list":
			return c.userList(ctx, rest[2:])
		}
	case "client":
		if len(rest) < 2 {
			return usageError{errors.New("client: missing subcommand (add, list)")}
		}
		switch rest[1] {
		case "add":
			return c.clientAdd(ctx, rest[2:])
		case "list":
			return c.clientList(ctx, rest[2:])
		}
	default:
		return usageError{fmt.Errorf("unknown command %q (see authctl help)", rest[0])}
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

func (c *cli) userAdd(ctx context.Context, args []string) error {
	pos, err := parseCommand(newFlagSet("authctl user add"), args, c.stderr, "NAME")
	if err != nil {
		return err
	}
	name := pos[0]
	if err := store.ValidateUsername(name); err != nil {
		return usageError{err}
	}
	return c.withAdmin(ctx, func(svc *admin.Service) error {
		// Look first so that nobody types a password for nothing.
		if _, err := svc.User(ctx, name); err == nil {
			return fmt.Errorf("user %q already exists", name)
		} else if !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("look up user %q: %w", name, err)
		}
		password, err := c.newPassword(ctx, svc)
		if err != nil {
			return err
		}
		err = svc.CreateUser(ctx, name, password)
		if errors.Is(err, store.ErrAlreadyExists) {
			return fmt.Errorf("user %q already exists", name)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(c.stderr, "user %q created\n", name)
		return nil
	})
}

func (c *cli) userPasswd(ctx context.Context, args []string) error {
	pos, err := parseCommand(newFlagSet("authctl user passwd"), args, c.stderr, "NAME")
	if err != nil {
		return err
	}
	name := pos[0]
	return c.withAdmin(ctx, func(svc *admin.Service) error {
		if _, err := getUser(ctx, svc, name); err != nil {
			return err
		}
		password, err := c.newPassword(ctx, svc)
		if err != nil {
			return err
		}
		if err := svc.SetPassword(ctx, name, password); err != nil {
			return err
		}
		fmt.Fprintf(c.stderr, "password of user %q changed\n", name)
		return nil
	})
}

// userUnlock clears a username's login failures and lockout, for a user
// locked out by someone guessing at their name.
func (c *cli) userUnlock(ctx context.Context, args []string) error {
	pos, err := parseCommand(newFlagSet("authctl user unlock"), args, c.stderr, "NAME")
	if err != nil {
		return err
	}
	name := pos[0]
	return c.withAdmin(ctx, func(svc *admin.Service) error {
		if _, err := getUser(ctx, svc, name); err != nil {
			return err
		}
		if err := svc.Unlock(ctx, name); err != nil {
			return err
		}
		fmt.Fprintf(c.stderr, "user %q unlocked\n", name)
		return nil
	})
}

func (c *cli) userSetDisabled(ctx context.Context, args []string, disabled bool) error {
	verb := map[bool]string{true: "disable", false: "enable"}[disabled]
	pos, err := parseCommand(newFlagSet("authctl user "+verb), args, c.stderr, "NAME")
	if err != nil {
		return err
	}
	name := pos[0]
	return c.withAdmin(ctx, func(svc *admin.Service) error {
		if _, err := getUser(ctx, svc, name); err != nil {
			return err
		}
		changed, err := svc.SetDisabled(ctx, name, disabled)
		if err != nil {
			return err
		}
		if !changed {
			fmt.Fprintf(c.stderr, "user %q is already %sd\n", name, verb)
			return nil
		}
		fmt.Fprintf(c.stderr, "user %q %sd\n", name, verb)
		return nil
	})
}

func getUser(ctx context.Context, svc *admin.Service, name string) (store.User, error) {
	u, err := svc.User(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, fmt.Errorf("user %q not found", name)
	}
	if err != nil {
		return store.User{}, fmt.Errorf("look up user %q: %w", name, err)
	}
	return u, nil
}

func (c *cli) userList(ctx context.Context, args []string) error {
	if _, err := parseCommand(newFlagSet("authctl user list"), args, c.stderr); err != nil {
		return err
	}
	return c.withAdmin(ctx, func(svc *admin.Service) error {
		users, err := svc.Users(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(c.stdout, 0, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "USERNAME\tDISABLED\tCREATED")
		for _, u := range users {
			fmt.Fprintf(tw, "%s\t%t\t%s\n", u.Username, u.Disabled, u.CreatedAt.UTC().Format(time.RFC3339))
		}
		return tw.Flush()
	})
}

func (c *cli) clientAdd(ctx context.Context, args []string) error {
	fs := newFlagSet("authctl client add")
	grantList := fs.String("grants", "", "comma-separated grant types")
	scopeList := fs.String("scopes", "", "space-separated scopes")
	public := fs.Bool("public", false, "no secret (password and refresh_token only)")
	introspect := fs.Bool("introspect", false, "may call the introspection endpoint")
	secretStdin := fs.Bool("secret-stdin", false, "read the secret from stdin instead of generating one")
	pos, err := parseCommand(fs, args, c.stderr, "ID")
	if err != nil {
		return err
	}
	id := pos[0]
	grants := splitGrants(*grantList)
	scopes := strings.Fields(*scopeList)

	nc := admin.NewClient{ID: id, Public: *public, Grants: grants, Scopes: scopes, Introspect: *introspect}
	var problems []string
	if err := nc.Validate(); err != nil {
		problems = append(problems, strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	if *public && *secretStdin {
		problems = append(problems, "-public and -secret-stdin contradict each other: a public client has no secret")
	}
	if len(problems) > 0 {
		return usageError{errors.New(strings.Join(problems, "; "))}
	}
	if *secretStdin {
		if nc.Secret, err = c.readSecret(ctx); err != nil {
			return err
		}
		if err := store.ValidateClientSecret(nc.Secret); err != nil {
			return err
		}
		if nc.ShortSecret() {
			fmt.Fprintf(c.stderr, "authctl: warning: the client secret is shorter than %d characters; a generated one has 256 bits\n",
				store.MinClientSecretLength)
		}
	}

	return c.withAdmin(ctx, func(svc *admin.Service) error {
		secret, err := svc.CreateClient(ctx, nc)
		if errors.Is(err, store.ErrAlreadyExists) {
			return fmt.Errorf("client %q already exists", id)
		}
		if err != nil {
			return err
		}
		switch {
		case *public:
			fmt.Fprintf(c.stderr, "public client %q created\n", id)
		case *secretStdin:
			fmt.Fprintf(c.stderr, "client %q created with the secret read from stdin\n", id)
		default:
			// stdout carries the secret alone, so that a script can capture it.
			fmt.Fprintln(c.stdout, secret)
			fmt.Fprintf(c.stderr, "client %q created; its secret is printed above and cannot be shown again\n", id)
		}
		return nil
	})
}

// splitGrants splits "password, refresh_token" at commas, dropping blanks.
func splitGrants(s string) []string {
	var grants []string
	for g := range strings.SplitSeq(s, ",") {
		if g = strings.TrimSpace(g); g != "" {
			grants = append(grants, g)
		}
	}
	return grants
}

func (c *cli) clientList(ctx context.Context, args []string) error {
	if _, err := parseCommand(newFlagSet("authctl client list"), args, c.stderr); err != nil {
		return err
	}
	return c.withAdmin(ctx, func(svc *admin.Service) error {
		clients, err := svc.Clients(ctx)
		if err != nil {
			return err
		}
		// Scopes are comma-joined like grants so that every column is one
		// whitespace-free field for scripts.
		tw := tabwriter.NewWriter(c.stdout, 0, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tPUBLIC\tGRANTS\tSCOPES\tINTROSPECT")
		for _, cl := range clients {
			fmt.Fprintf(tw, "%s\t%t\t%s\t%s\t%t\n", cl.ID, cl.Public(),
				orDash(strings.Join(cl.GrantTypes, ",")), orDash(strings.Join(cl.Scopes, ",")), cl.Introspect)
		}
		return tw.Flush()
	})
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// newPassword reads a new password (see readPassword) for svc to hash.
func (c *cli) newPassword(ctx context.Context, svc *admin.Service) (string, error) {
	if svc.WeakBcryptCost() {
		fmt.Fprintf(c.stderr, "authctl: WARNING: bcrypt cost %d is below %d: such hashes are cheap to crack; use only for tests\n",
			c.bcryptCost, store.MinBcryptCost)
	}
	return c.readPassword(ctx)
}

// readPassword prompts twice without echo when stdin is a terminal, and
// otherwise reads the first line of stdin.
func (c *cli) readPassword(ctx context.Context) (string, error) {
	fd, ok := c.terminal()
	if !ok {
		password, err := readLine(c.stdin)
		if err != nil {
			return "", fmt.Errorf("read password from stdin: %w", err)
		}
		return password, nil
	}
	first, err := promptNoEcho(ctx, fd, "Password: ", c.stderr)
	if err != nil {
		return "", err
	}
	second, err := promptNoEcho(ctx, fd, "Repeat password: ", c.stderr)
	if err != nil {
		return "", err
	}
	if first != second {
		return "", errors.New("passwords do not match")
	}
	return first, nil
}

// readSecret reads a client secret like readPassword, asking only once: a
// typing mistake shows at the first use of the secret.
func (c *cli) readSecret(ctx context.Context) (string, error) {
	if fd, ok := c.terminal(); ok {
		return promptNoEcho(ctx, fd, "Client secret: ", c.stderr)
	}
	secret, err := readLine(c.stdin)
	if err != nil {
		return "", fmt.Errorf("read client secret from stdin: %w", err)
	}
	return secret, nil
}

// terminal returns stdin's file descriptor if stdin is a terminal.
func (c *cli) terminal() (int, bool) {
	f, ok := c.stdin.(interface{ Fd() uintptr })
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return 0, false
	}
	return int(f.Fd()), true
}

// promptNoEcho reads a line from the terminal fd with echo off. On
// cancellation (Ctrl-C) it restores the terminal before returning, which
// term.ReadPassword cannot do while it blocks.
func promptNoEcho(ctx context.Context, fd int, prompt string, stderr io.Writer) (string, error) {
	state, err := term.GetState(fd)
	if err != nil {
		return "", fmt.Errorf("terminal: %w", err)
	}
	fmt.Fprint(stderr, prompt)
	type result struct {
		line []byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		line, err := term.ReadPassword(fd)
		done <- result{line, err}
	}()
	select {
	case r := <-done:
		fmt.Fprintln(stderr)
		if r.err != nil {
			return "", fmt.Errorf("read password: %w", r.err)
		}
		return string(r.line), nil
	case <-ctx.Done():
		_ = term.Restore(fd, state)
		fmt.Fprintln(stderr)
		return "", ctx.Err()
	}
}

// readLine returns the first line of r without its line ending (LF or
// CRLF), possibly empty: callers validate. Nothing else is trimmed: spaces
// may belong to a password.
func readLine(r io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, maxLineBytes+1)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	if !strings.HasSuffix(line, "\n") && len(line) > maxLineBytes {
		return "", fmt.Errorf("first line longer than %d bytes", maxLineBytes)
	}
	line = strings.TrimSuffix(line, "\n")
	return strings.TrimSuffix(line, "\r"), nil
}
