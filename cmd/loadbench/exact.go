package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// The exactness rows measure how long a revocation takes to reach the
// caches that answer from memory: the resource service's (pushed by the
// revocation stream) and another replica's (PostgreSQL LISTEN/NOTIFY).
// Each sample is one token: issued, cached (asked about twice), revoked;
// then asked about without pause until it is refused. The delay runs from
// the revocation's answer to the first refusal.

// delays are the samples of an exactness row.
type delays struct {
	samples []time.Duration // sorted ascending
	note    string          // why the row did not run, if it did not
}

func (d delays) percentile(p float64) time.Duration {
	if len(d.samples) == 0 {
		return 0
	}
	return d.samples[min(len(d.samples)-1, int(float64(len(d.samples))*p/100))]
}

// delayTimeout bounds one sample: a revocation not seen by then is a
// failure of the row, not a slow sample.
const delayTimeout = 20 * time.Second

func exactRows() []row {
	return []row{
		{name: "revoke to 401 at the resource", run: revokeToResource, exact: true, maxDelayP99: 100 * time.Millisecond,
			work: "POST /revoke of a token the resource has cached, then GET /items until 401 (revocation stream up)"},
		{name: "revoke on replica A to inactive on B", run: revokeAcrossReplicas, exact: true, maxDelayP99: 50 * time.Millisecond,
			work: "POST /revoke on authserver A of a token B has cached, then POST /introspect on B until active:false (PostgreSQL)"},
	}
}

// revokeToResource runs the resource service against the row's
// authserver, waits until its revocation stream is ready, and measures.
func revokeToResource(ctx context.Context, env rowEnv) (rowResult, error) {
	metricsPort, err := freePort()
	if err != nil {
		return rowResult{}, err
	}
	metricsAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(metricsPort))
	rs, err := startResource(ctx, env, "RESOURCE_METRICS_ADDR="+metricsAddr)
	if err != nil {
		return rowResult{}, err
	}
	defer rs.stop(15 * time.Second)
	client := newClient(net.IPv4(127, 0, 0, 1), 4, 10*time.Second)
	if err := waitMetric(ctx, client, "http://"+metricsAddr, "authsvc_resource_revocation_stream_ready 1"); err != nil {
		return rowResult{}, fmt.Errorf("resource: %w; log: %s", err, logTail(rs.logPath))
	}
	get := func(token string) (int, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, rs.url+"/items", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		status, _, err := send(client, req)
		return status, err
	}
	d, err := measureDelays(ctx, env.cfg.revocations, func() (string, error) {
		tokens, err := mintTokens(ctx, client, env.authURL, demoClientID, demoClientSecret, 1)
		if err != nil {
			return "", err
		}
		return tokens[0], nil
	}, func(token string) (bool, error) {
		status, err := get(token)
		switch {
		case err != nil:
			return false, err
		case status == http.StatusOK:
			return true, nil
		case status == http.StatusUnauthorized:
			return false, nil
		}
		return false, fmt.Errorf("GET /items: status %d", status)
	}, func(token string) error {
		return revoke(ctx, client, env.authURL, token)
	})
	return rowResult{delays: &d, resourceRSS: rs.peakRSS()}, err
}

// revokeAcrossReplicas starts two authservers on a fresh PostgreSQL
// database (-postgres) and measures from a revocation on A to inactive on
// B.
func revokeAcrossReplicas(ctx context.Context, env rowEnv) (rowResult, error) {
	if env.cfg.postgres == "" {
		return rowResult{delays: &delays{note: "not run: no PostgreSQL (set -postgres or TEST_POSTGRES_URL; eval \"$(.ci/postgres.sh)\" starts one)"}}, nil
	}
	dsn, drop, err := freshDatabase(ctx, env.cfg.postgres)
	if err != nil {
		return rowResult{}, err
	}
	defer drop()
	var replicas [2]*authServer
	var metrics [2]string
	for i := range replicas {
		port, err := freePort()
		if err != nil {
			return rowResult{}, err
		}
		metrics[i] = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		dir := filepath.Join(env.dir, fmt.Sprintf("replica-%d", i))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return rowResult{}, err
		}
		s, err := startAuthServer(ctx, env.bin.authserver, env.root, dir, env.environ,
			"AUTH_DB="+dsn, "AUTH_METRICS_ADDR="+metrics[i])
		if err != nil {
			return rowResult{}, fmt.Errorf("replica %d: %w", i+1, err)
		}
		defer s.stop(15 * time.Second)
		if err := s.waitHealthy(ctx); err != nil {
			return rowResult{}, err
		}
		replicas[i] = s
	}
	a, b := replicas[0], replicas[1]
	client := newClient(net.IPv4(127, 0, 0, 1), 4, 10*time.Second)
	for i := range replicas {
		if err := waitMetric(ctx, client, "http://"+metrics[i], "authsvc_introspection_cache_current 1"); err != nil {
			return rowResult{}, fmt.Errorf("replica %d: %w", i+1, err)
		}
	}
	d, err := measureDelays(ctx, env.cfg.revocations, func() (string, error) {
		tokens, err := mintTokens(ctx, client, a.url, demoClientID, demoClientSecret, 1)
		if err != nil {
			return "", err
		}
		return tokens[0], nil
	}, func(token string) (bool, error) {
		return introspectActive(ctx, client, b.url, token)
	}, func(token string) error {
		return revoke(ctx, client, a.url, token)
	})
	return rowResult{delays: &d}, err
}

// measureDelays takes n samples: mint a token, check it twice (the second
// answer comes from the cache under test), revoke it, and check it until
// it is refused.
func measureDelays(ctx context.Context, n int, mint func() (string, error), accepted func(token string) (bool, error), revoke func(token string) error) (delays, error) {
	var d delays
	for range n {
		token, err := mint()
		if err != nil {
			return d, err
		}
		for range 2 {
			ok, err := accepted(token)
			if err != nil {
				return d, err
			}
			if !ok {
				return d, errors.New("a fresh token was refused")
			}
		}
		if err := revoke(token); err != nil {
			return d, err
		}
		revoked := time.Now()
		for {
			ok, err := accepted(token)
			if err != nil {
				return d, err
			}
			if !ok {
				d.samples = append(d.samples, time.Since(revoked))
				break
			}
			if time.Since(revoked) > delayTimeout {
				return d, fmt.Errorf("a revoked token still accepted after %v", delayTimeout)
			}
			if ctx.Err() != nil {
				return d, ctx.Err()
			}
		}
	}
	slices.Sort(d.samples)
	return d, nil
}

// revoke revokes token as demo-client (RFC 7009).
func revoke(ctx context.Context, client *http.Client, authURL, token string) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, authURL+"/revoke", strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(demoClientID, demoClientSecret)
	status, body, err := send(client, req)
	if err == nil && status != http.StatusOK {
		err = fmt.Errorf("revoke: status %d: %s", status, body)
	}
	return err
}

// introspectActive asks authURL about token as the resource server does.
func introspectActive(ctx context.Context, client *http.Client, authURL, token string) (bool, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, authURL+"/introspect", strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(introspectorID, introspectorKey)
	status, body, err := send(client, req)
	switch {
	case err != nil:
		return false, err
	case status != http.StatusOK:
		return false, fmt.Errorf("introspect: status %d", status)
	}
	return bytes.Contains(body, []byte(`"active":true`)), nil
}

// waitMetric polls a metrics endpoint until it shows line, for at most 30s.
func waitMetric(ctx context.Context, client *http.Client, base, line string) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
		if status, body, err := send(client, req); err == nil && status == http.StatusOK && bytes.Contains(body, []byte("\n"+line+"\n")) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("no %q at %s/metrics after 30s", line, base)
}

// freshDatabase creates a database for the row on the server of dsn, and
// returns its DSN and how to drop it.
func freshDatabase(ctx context.Context, dsn string) (string, func(), error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return "", nil, errors.New("-postgres: not a PostgreSQL connection string")
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return "", nil, fmt.Errorf("-postgres: %w", err)
	}
	name := "loadbench_" + strings.ToLower(rand.Text()[:12])
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		conn.Close(ctx)
		return "", nil, fmt.Errorf("create database: %w", err)
	}
	drop := func() {
		_, _ = conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		conn.Close(context.Background())
	}
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "" {
		drop()
		return "", nil, errors.New("-postgres: give a postgres:// URL")
	}
	u.Path = "/" + name
	return u.String(), drop, nil
}

// printExact writes the table of the exactness rows and returns their
// verdicts.
func printExact(w io.Writer, rows []row, results map[string]rowResult) []string {
	if len(rows) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Exactness rows: the delay from a revocation's answer to the first refusal by a cache that had the token; each sample is one token, issued, asked about twice (the second answer from the cache), revoked, then asked about without pause until refused.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| row | work | samples | p50 | p99 (target) | max |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	var verdicts []string
	for _, r := range rows {
		d := results[r.name].delays
		if d == nil || len(d.samples) == 0 {
			note := "no samples"
			if d != nil && d.note != "" {
				note = d.note
			}
			fmt.Fprintf(w, "| %s | %s | 0 | — | — (%s) | — |\n", r.name, r.work, note)
			verdicts = append(verdicts, fmt.Sprintf("%s: %s", r.name, note))
			continue
		}
		p99 := d.percentile(99)
		v := verdict(p99 <= r.maxDelayP99)
		fmt.Fprintf(w, "| %s | %s | %d | %s | %s (≤ %v %s) | %s |\n", r.name, r.work, len(d.samples),
			formatDuration(d.percentile(50)), formatDuration(p99), r.maxDelayP99, v, formatDuration(d.samples[len(d.samples)-1]))
		verdicts = append(verdicts, fmt.Sprintf("%s: p99 %s over %d, target ≤ %v: %s", r.name, formatDuration(p99), len(d.samples), r.maxDelayP99, v))
	}
	return verdicts
}

// The live-tokens row: the memory of the introspection cache full of
// tokens.

// liveTokens mints cfg.liveTokens tokens, introspects each once (each a
// miss that fills the cache), then loads introspection over all of them
// round robin (hits); the row's peak RSS is the authserver's with that
// many tokens cached.
func liveTokens(ctx context.Context, env rowEnv) (rowResult, error) {
	n := env.cfg.liveTokens
	client := newClient(net.IPv4(127, 0, 0, 1), env.cfg.workers, 30*time.Second)
	tokens := make([]string, n)
	errs := make(chan error, env.cfg.workers)
	var wg sync.WaitGroup
	for w := range env.cfg.workers {
		wg.Go(func() {
			for i := w; i < n; i += env.cfg.workers {
				t, err := mintTokens(ctx, client, env.authURL, demoClientID, demoClientSecret, 1)
				if err != nil {
					errs <- err
					return
				}
				tokens[i] = t[0]
				if ok, err := introspectActive(ctx, client, env.authURL, t[0]); err != nil || !ok {
					errs <- fmt.Errorf("introspect a fresh token: active %v, %v", ok, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return rowResult{}, err
	}
	var next atomic.Int64
	l := load{
		workers:  env.cfg.workers,
		duration: env.cfg.duration,
		do: func(ctx context.Context, _ int) (int, error) {
			token := tokens[int(next.Add(1)-1)%n]
			ok, err := introspectActive(ctx, client, env.authURL, token)
			if err == nil && !ok {
				return 0, errors.New("a live token introspected inactive")
			}
			if err != nil {
				return 0, err
			}
			return http.StatusOK, nil
		},
	}
	return rowResult{main: l.run(ctx)}, ctx.Err()
}
