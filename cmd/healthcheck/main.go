// Command healthcheck GETs a URL and exits 0 if the answer is 2xx, 1
// otherwise. It is the container health check of the compose demo: the
// runtime image (distroless) has no shell, curl or wget, and the services'
// own commands have no health subcommand.
//
//	healthcheck [-timeout 2s] http://127.0.0.1:9096/readyz
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/example/authsvc/cmd/internal/cliconf"
)

func main() { cliconf.Main("healthcheck", run) }

// config is every setting of the check.
type config struct {
	url     string
	timeout time.Duration
}

// Validate reports every problem at once.
func (c config) Validate() error {
	var problems []error
	if c.timeout <= 0 {
		problems = append(problems, fmt.Errorf("-timeout %v: must be positive", c.timeout))
	}
	return errors.Join(problems...)
}

// parseConfig reads the flags; args starts with the program name. A -h
// answers flag.ErrHelp after printing the usage.
func parseConfig(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&c.timeout, "timeout", 2*time.Second, "give up after this long")
	if err := fs.Parse(args[1:]); err != nil {
		return c, err
	}
	if fs.NArg() != 1 {
		return c, errors.New("usage: healthcheck [-timeout D] URL")
	}
	c.url = fs.Arg(0)
	return c, c.Validate()
}

// run has the signature of every main's run; the check reads no
// environment and prints nothing on success.
func run(ctx context.Context, args []string, _ cliconf.LookupEnv, _, stderr io.Writer) error {
	cfg, err := parseConfig(args, stderr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, cfg.url, nil)
	if err != nil {
		return err
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("%s: status %d", cfg.url, resp.StatusCode)
	}
	return nil
}
