// Command loadbench measures how the real authserver holds up: the
// introspection throughput and latency the resource service would see,
// quiet and while an attacker floods the password grant from one or from
// many source addresses, and whether a legitimate login still gets through.
//
// It builds the project's binaries, starts a fresh authserver on a temp
// SQLite store for each row, and prints a markdown table. Figures depend on
// the machine, so compare them only within one run: the ratios are the
// result. It is a measurement, not a test: a missed target does not change
// the exit status; only a failure to run does.
package main

import (
	"github.com/example/authsvc/internal/version"

	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"
)

func main() {
	if version.Requested("loadbench", os.Args[1:], os.Stdout) {
		return
	}
	if name := os.Getenv(bareEnv); name != "" {
		if err := serveBare(name, os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "loadbench baseline:", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "loadbench:", err)
		}
		os.Exit(1)
	}
}

type config struct {
	duration     time.Duration // of each row's main load
	workers      int           // main-load connections
	conns        int           // main-load connections of the speed rows
	attackers    int           // attacker connections
	attackRate   float64       // attacker guesses per second, all connections together
	legitAfter   time.Duration // from the flood's start to the legitimate login
	legitTimeout time.Duration
	settle       time.Duration // idle time between rows
	rows         []string      // names of the rows to run; empty: all
	revocations  int           // samples of each exactness row
	liveTokens   int           // tokens of the live-tokens row
	postgres     string        // server for the replica row; "": not run
}

func parseConfig(args []string, stderr io.Writer) (config, error) {
	var c config
	var rows string
	fs := flag.NewFlagSet("loadbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&c.duration, "duration", 6*time.Second, "main load per row")
	fs.IntVar(&c.workers, "workers", 8, "keep-alive connections of the introspection load")
	fs.IntVar(&c.conns, "conns", 32, "keep-alive connections of the speed rows' loads")
	fs.IntVar(&c.attackers, "attackers", 64, "attacker connections")
	fs.Float64Var(&c.attackRate, "attack-rate", 200, "attacker password guesses per second, all connections together")
	fs.DurationVar(&c.legitAfter, "legit-after", 1500*time.Millisecond, "delay from the flood's start to the legitimate login")
	fs.DurationVar(&c.legitTimeout, "legit-timeout", 30*time.Second, "give up on the legitimate login after this")
	fs.DurationVar(&c.settle, "settle", 2*time.Second, "idle time between rows, so one row's backlog does not spill into the next")
	fs.StringVar(&rows, "rows", "", "comma-separated row names to run (default: all)")
	fs.IntVar(&c.revocations, "revocations", 1000, "revocations measured by each exactness row")
	fs.IntVar(&c.liveTokens, "live-tokens", 100_000, "tokens minted and cached by the live-tokens row")
	fs.StringVar(&c.postgres, "postgres", os.Getenv("TEST_POSTGRES_URL"),
		"postgres:// URL of a server where the replica row may create a database (default $TEST_POSTGRES_URL; none: the row is not run)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	var errs []error
	if c.duration <= 0 || c.duration > time.Hour {
		errs = append(errs, fmt.Errorf("-duration %v: must be in (0, 1h]", c.duration))
	}
	if c.workers < 1 || c.workers > 1024 {
		errs = append(errs, fmt.Errorf("-workers %d: must be in [1, 1024]", c.workers))
	}
	if c.conns < 1 || c.conns > 1024 {
		errs = append(errs, fmt.Errorf("-conns %d: must be in [1, 1024]", c.conns))
	}
	// The 64-source row numbers its addresses 127.0.1.1 up.
	if c.attackers < 1 || c.attackers > 1024 {
		errs = append(errs, fmt.Errorf("-attackers %d: must be in [1, 1024]", c.attackers))
	}
	if c.attackRate <= 0 || c.attackRate > 10000 {
		errs = append(errs, fmt.Errorf("-attack-rate %v: must be in (0, 10000]", c.attackRate))
	}
	if c.revocations < 1 || c.revocations > 100_000 {
		errs = append(errs, fmt.Errorf("-revocations %d: must be in [1, 100000]", c.revocations))
	}
	if c.liveTokens < 1 || c.liveTokens > 1_000_000 {
		errs = append(errs, fmt.Errorf("-live-tokens %d: must be in [1, 1000000]", c.liveTokens))
	}
	if c.legitAfter < 0 || c.legitTimeout <= 0 || c.settle < 0 {
		errs = append(errs, errors.New("-legit-after and -settle must not be negative, -legit-timeout must be positive"))
	}
	known := map[string]bool{}
	for _, r := range defaultRows() {
		known[r.name] = true
	}
	for name := range strings.SplitSeq(rows, ",") {
		if name = strings.TrimSpace(name); name == "" {
			continue
		}
		if !known[name] {
			errs = append(errs, fmt.Errorf("-rows: no row %q", name))
		}
		c.rows = append(c.rows, name)
	}
	return c, errors.Join(errs...)
}

// run takes the whole environment, not a getenv, because every AUTH_*
// variable in it is handed to the authserver.
func run(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	cfg, err := parseConfig(args, stderr)
	if err != nil {
		return err
	}
	root, err := moduleRoot(ctx)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "loadbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	fmt.Fprintln(stderr, "building authserver and resource...")
	bin, err := buildBinaries(ctx, root, tmp, stderr)
	if err != nil {
		return err
	}

	var rows []row
	for _, r := range defaultRows() {
		if len(cfg.rows) == 0 || slices.Contains(cfg.rows, r.name) {
			rows = append(rows, r)
		}
	}
	results := map[string]rowResult{}
	for i, r := range rows {
		if i > 0 {
			select {
			case <-time.After(cfg.settle):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		fmt.Fprintf(stderr, "row %q...\n", r.name)
		res, err := runRow(ctx, cfg, bin, root, tmp, environ, r)
		if err != nil {
			return fmt.Errorf("row %q: %w", r.name, err)
		}
		results[r.name] = res
	}

	printReport(stdout, cfg, environ, rows, results)
	return nil
}

// runRow gives each row a fresh authserver on a fresh database. A restart
// alone would not do: the lockout counters live in the store and outlast
// the process, and a flood leaves thousands of failed-login rows and
// in-flight bcrypt work behind. A fresh process per row also makes its peak
// RSS that row's own figure.
func runRow(ctx context.Context, cfg config, bin binaries, root, tmp string, environ []string, r row) (rowResult, error) {
	dir, err := os.MkdirTemp(tmp, "row-")
	if err != nil {
		return rowResult{}, err
	}
	defer os.RemoveAll(dir)
	// The row's settings come after the operator's, so they win.
	environ = append(slices.Clip(environ), r.authEnv...)
	srv, err := startAuthServer(ctx, bin.authserver, root, dir, environ)
	if err != nil {
		return rowResult{}, err
	}
	defer srv.stop(15 * time.Second)
	if err := srv.waitHealthy(ctx); err != nil {
		return rowResult{}, err
	}
	token, err := accessToken(ctx, srv.url)
	if err != nil {
		return rowResult{}, err
	}
	res, err := r.run(ctx, rowEnv{cfg: cfg, bin: bin, root: root, authURL: srv.url, accessToken: token, dir: dir, environ: environ})
	if err != nil {
		return rowResult{}, err
	}
	res.rss = srv.peakRSS()
	if res.main.answers == 0 && !r.exact {
		return res, fmt.Errorf("no answer to the main load (first error: %v); server log: %s", res.main.firstErr, logTail(srv.logPath))
	}
	return res, nil
}
