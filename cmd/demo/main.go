// Command demo plays the lesson the project grew from against a running
// authorization server and resource service, and prints it as a table:
// a password login gets a token; the token gets items; a bad token and no
// token get 401; a token without items:write gets 403 on a write; a revoked
// token gets 401. It exits non-zero if any step does not behave as stated.
//
// It works the same against `docker compose up` (the compose file's demo
// service) and against the local one-command run (`make run`).
//
// The credentials default to the public demo values of
// configs/demo-bootstrap.yaml, so that it runs with no setup; they are
// demo-only data, checked into git. Secrets and passwords are read only from
// the environment (DEMO_CLIENT_SECRET, DEMO_READONLY_CLIENT_SECRET,
// DEMO_PASSWORD), never from flags, and never printed; tokens are printed
// abbreviated to their first six characters.
//
// This file holds the command line; lesson.go the steps, as a table;
// http.go the requests and the reading of answers.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/example/authsvc/cmd/internal/cliconf"
)

func main() { cliconf.Main("demo", run) }

// Demo-only defaults: the public values of configs/demo-bootstrap.yaml.
const (
	demoClientSecret         = "demo-client-secret-not-for-production"   // demo only
	demoReadonlyClientSecret = "demo-readonly-secret-not-for-production" // demo only
	demoPassword             = "alice-demo-password"                     // demo only
)

// config is every setting of the demo.
type config struct {
	authURL, resourceURL       string
	clientID, clientSecret     string
	readonlyID, readonlySecret string
	username, password         string
	wait, revokeWait, timeout  time.Duration
	// The device grant (RFC 8628): off unless asked for, since a person
	// (or the compose test's browser) must approve it.
	deviceLogin    bool
	deviceClientID string
	deviceWait     time.Duration
}

// Validate reports every problem at once.
func (c config) Validate() error {
	var errs []error
	for _, u := range []struct{ name, value string }{{"auth-url", c.authURL}, {"resource-url", c.resourceURL}} {
		p, err := url.Parse(u.value)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			errs = append(errs, fmt.Errorf("-%s %q: want an absolute http(s) URL", u.name, u.value))
		}
	}
	if c.wait < 0 || c.revokeWait < 0 || c.timeout <= 0 || c.deviceWait <= 0 {
		errs = append(errs, errors.New("-wait and -revoke-wait must not be negative, -timeout and -device-wait must be positive"))
	}
	return errors.Join(errs...)
}

// parseConfig reads flags and environment; args starts with the program
// name. A -h answers flag.ErrHelp after printing the usage.
func parseConfig(args []string, lookupenv cliconf.LookupEnv, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.authURL, "auth-url", "http://localhost:9096", "authorization server base URL (DEMO_AUTH_URL)")
	fs.StringVar(&c.resourceURL, "resource-url", "http://localhost:8080", "resource service base URL (DEMO_RESOURCE_URL)")
	fs.StringVar(&c.clientID, "client-id", "demo-client", "client with items:read and items:write; secret from DEMO_CLIENT_SECRET (DEMO_CLIENT_ID)")
	fs.StringVar(&c.readonlyID, "readonly-client-id", "demo-readonly", "client with items:read only; secret from DEMO_READONLY_CLIENT_SECRET (DEMO_READONLY_CLIENT_ID)")
	fs.StringVar(&c.username, "username", "alice", "user to log in; password from DEMO_PASSWORD (DEMO_USERNAME)")
	fs.DurationVar(&c.wait, "wait", 0, "first wait up to this long for both services' /readyz; 0 does not wait (DEMO_WAIT)")
	fs.DurationVar(&c.revokeWait, "revoke-wait", 20*time.Second,
		"how long a revoked token may still be accepted: the resource service caches introspection answers for RESOURCE_CACHE_TTL (DEMO_REVOKE_WAIT)")
	fs.DurationVar(&c.timeout, "timeout", 10*time.Second, "timeout of each HTTP request (DEMO_TIMEOUT)")
	fs.BoolVar(&c.deviceLogin, "device-login", false,
		"also log in with the device grant: print a URL and a code, wait for a browser to approve them (DEMO_DEVICE_LOGIN)")
	fs.StringVar(&c.deviceClientID, "device-client-id", "demo-cli", "public client of the device login (DEMO_DEVICE_CLIENT_ID)")
	fs.DurationVar(&c.deviceWait, "device-wait", 5*time.Minute, "how long the device login waits for its approval (DEMO_DEVICE_WAIT)")
	if err := cliconf.Parse(fs, args[1:], lookupenv, "DEMO_"); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	// Secrets only from the environment: flags show in ps.
	c.clientSecret = envOr(lookupenv.Getenv, "DEMO_CLIENT_SECRET", demoClientSecret)
	c.readonlySecret = envOr(lookupenv.Getenv, "DEMO_READONLY_CLIENT_SECRET", demoReadonlyClientSecret)
	c.password = envOr(lookupenv.Getenv, "DEMO_PASSWORD", demoPassword)

	err := c.Validate()
	c.authURL = strings.TrimRight(c.authURL, "/")
	c.resourceURL = strings.TrimRight(c.resourceURL, "/")
	return c, err
}

func envOr(getenv func(string) string, name, def string) string {
	if v := getenv(name); v != "" {
		return v
	}
	return def
}

// run plays every step, prints the table to stdout and returns an error if
// any step did not behave as stated.
func run(ctx context.Context, args []string, lookupenv cliconf.LookupEnv, stdout, stderr io.Writer) error {
	cfg, err := parseConfig(args, lookupenv, stderr)
	if err != nil {
		return err
	}
	d := &demo{
		cfg:    cfg,
		http:   &http.Client{Timeout: cfg.timeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		notify: stderr,
		sleep:  sleepCtx,
	}
	if cfg.wait > 0 {
		if err := d.waitReady(ctx, stderr); err != nil {
			return err
		}
	}
	rows := d.play(ctx, d.lesson())

	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STEP\tACTION\tTOKEN\tEXPECTED\tGOT\tRESULT")
	failed := 0
	for i, r := range rows {
		result := "PASS"
		if r.err != nil {
			result = "FAIL: " + r.err.Error()
			failed++
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", i+1, r.action, r.token, r.expect, r.got, result)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if failed > 0 {
		fmt.Fprintf(stdout, "%d of %d steps did not behave as stated\n", failed, len(rows))
		return fmt.Errorf("%d of %d steps did not behave as stated", failed, len(rows))
	}
	fmt.Fprintf(stdout, "all %d steps behaved as stated\n", len(rows))
	return nil
}

type demo struct {
	cfg  config
	http *http.Client
	// notify is where the device login tells the user where to go;
	// sleep waits between its polls (tests pass one that does not).
	notify io.Writer
	sleep  func(ctx context.Context, d time.Duration) error
}

// waitReady polls both services' /readyz until they answer 200 or -wait
// passes (compose starts the demo as soon as its dependencies are healthy,
// but a manual run may race a starting service).
func (d *demo) waitReady(ctx context.Context, stderr io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.wait)
	defer cancel()
	for _, base := range []string{d.cfg.authURL, d.cfg.resourceURL} {
		announced := false
		for {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/readyz", nil)
			if err != nil {
				return err
			}
			resp, err := d.http.Do(req)
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			if !announced {
				fmt.Fprintf(stderr, "demo: waiting up to %v for %s/readyz\n", d.cfg.wait, base)
				announced = true
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("%s/readyz: not ready within %v", base, d.cfg.wait)
			case <-time.After(250 * time.Millisecond):
			}
		}
	}
	return nil
}
