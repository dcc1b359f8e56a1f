package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// The speed rows measure the real services against what the machine can do
// for the same work: each main load runs against the real binary, then the
// same load against a bare net/http handler that does the same parsing and
// answers a fixed JSON (bare.go), in the same row. Their ratio is the
// result; the figures alone depend on the machine.

func speedRows() []row {
	return []row{
		{name: "introspect", run: introspectVsBare, speed: true, minBareRatio: 0.7,
			work: "POST /introspect, valid token"},
		{name: "client_credentials", run: clientCredentials, speed: true, maxP99Abs: 50 * time.Millisecond,
			work: "POST /token, client_credentials"},
		{name: "items cached", run: itemsVsBare, speed: true, minBareRatio: 0.55,
			work: "resource GET /items, token and first page cached"},
		{name: "password", run: passwordVsBcrypt, speed: true, minBareRatio: 0.95,
			work:    "POST /token, password grant vs raw bcrypt",
			authEnv: []string{"AUTH_PASSWORD_CONCURRENCY=" + strconv.Itoa(runtime.NumCPU())}},
		{name: "items jwt first sight", run: itemsJWTFirstSight, speed: true, minBareRatio: 0.35,
			work: "resource GET /items in jwt mode, cache off: a signature check each request"},
		{name: "items jwt repeated", run: itemsJWTRepeated, speed: true,
			work: "resource GET /items in jwt mode, one JWT (checked once, then cached)"},
		{name: "items opaque first sight", run: itemsOpaqueFirstSight, speed: true,
			work: "resource GET /items, introspect mode, cache off: an introspection round trip each request"},
		{name: "token jwt vs opaque", run: tokenJWTVsOpaque, speed: true,
			work: "POST /token client_credentials of demo-jwt; baseline: the same of demo-client (opaque)"},
		{name: "items DPoP vs bearer", run: itemsDPoPVsBearer, speed: true, minBareRatio: 1 / 1.5,
			work: "resource GET /items in jwt mode, one DPoP-bound JWT with a fresh proof each request; baseline: one bearer JWT (both cached; target: cost ≤ 1.5×)"},
	}
}

// speedEnv is env with the speed rows' connection count.
func speedEnv(env rowEnv) rowEnv {
	env.cfg.workers = env.cfg.conns
	return env
}

func introspectVsBare(ctx context.Context, env rowEnv) (rowResult, error) {
	env = speedEnv(env)
	return compareWithBaselines(ctx, env.cfg.duration, "introspect", env.authURL, func(url string) load {
		e := env
		e.authURL = url
		return introspectLoad(e)
	})
}

func clientCredentials(ctx context.Context, env rowEnv) (rowResult, error) {
	env = speedEnv(env)
	client := newClient(net.IPv4(127, 0, 0, 1), env.cfg.workers, 10*time.Second)
	l := clientCredentialsLoad(env, client, demoClientID, demoClientSecret)
	return rowResult{main: l.run(ctx)}, ctx.Err()
}

// clientCredentialsLoad is a load of POST /token client_credentials of
// client id.
func clientCredentialsLoad(env rowEnv, client *http.Client, id, secret string) load {
	body := url.Values{"grant_type": {"client_credentials"}}.Encode()
	return load{
		workers:  env.cfg.workers,
		duration: env.cfg.duration,
		do: func(ctx context.Context, _ int) (int, error) {
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, env.authURL+"/token", strings.NewReader(body))
			if err != nil {
				return 0, err
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(id, secret)
			status, _, err := send(client, req)
			return status, err
		},
	}
}

// itemsVsBare starts the real resource service against the row's
// authserver, creates one item (which caches the token's introspection),
// then loads GET /items, whose first request caches the owner's page.
func itemsVsBare(ctx context.Context, env rowEnv) (rowResult, error) {
	env = speedEnv(env)
	rs, err := startResource(ctx, env)
	if err != nil {
		return rowResult{}, err
	}
	defer rs.stop(15 * time.Second)
	client := newClient(net.IPv4(127, 0, 0, 1), env.cfg.workers, 10*time.Second)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, rs.url+"/items", strings.NewReader(`{"name":"apple"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+env.accessToken)
	if status, body, err := send(client, req); err != nil || status != http.StatusCreated {
		return rowResult{}, fmt.Errorf("create an item: status %d, %v: %s", status, err, body)
	}
	res, err := compareWithBaselines(ctx, env.cfg.duration, "items", rs.url, func(url string) load {
		return itemsLoad(env, client, url)
	})
	res.resourceRSS = rs.peakRSS()
	return res, err
}

func itemsLoad(env rowEnv, client *http.Client, base string) load {
	return load{
		workers:  env.cfg.workers,
		duration: env.cfg.duration,
		do: func(ctx context.Context, _ int) (int, error) {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/items", nil)
			if err != nil {
				return 0, err
			}
			req.Header.Set("Authorization", "Bearer "+env.accessToken)
			status, body, err := send(client, req)
			if err == nil && status == http.StatusOK && !bytes.Contains(body, []byte(`"apple"`)) {
				return 0, errors.New("GET /items answered 200 without the item")
			}
			return status, err
		},
	}
}

// passwordVsBcrypt loads the password grant with twice as many connections
// as the server has password slots (so a slot never waits for a request),
// then runs bcrypt.CompareHashAndPassword on as many goroutines as slots for
// as long: the server's work per login is one such comparison.
func passwordVsBcrypt(ctx context.Context, env rowEnv) (rowResult, error) {
	slots := runtime.NumCPU()
	client := newClient(net.IPv4(127, 0, 0, 1), 2*slots, 30*time.Second)
	l := load{
		workers:  2 * slots,
		duration: env.cfg.duration,
		do: func(ctx context.Context, _ int) (int, error) {
			tok, status, err := fetchToken(ctx, client, env.authURL)
			if err == nil && status == http.StatusOK && tok == "" {
				return 0, errors.New("no access_token in the answer")
			}
			return status, err
		},
	}
	res := rowResult{main: l.run(ctx)}
	cost, err := bcryptCost(env.environ)
	if err != nil {
		return res, err
	}
	b, err := rawBcrypt(ctx, slots, cost, env.cfg.duration)
	res.bare = &b
	return res, err
}

// bcryptCost is the cost the row's authserver hashes with (see
// ownedSettings).
func bcryptCost(environ []string) (int, error) {
	for _, kv := range environ {
		if v, ok := strings.CutPrefix(kv, "AUTH_BCRYPT_COST="); ok {
			return strconv.Atoi(v)
		}
	}
	return 12, nil
}

// rawBcrypt is a load of bcrypt comparisons of a matching password, each
// counted as a 200.
func rawBcrypt(ctx context.Context, goroutines, cost int, d time.Duration) (result, error) {
	hash, err := bcrypt.GenerateFromPassword([]byte(legitUserPassword), cost)
	if err != nil {
		return result{}, err
	}
	l := load{workers: goroutines, duration: d, do: func(context.Context, int) (int, error) {
		if err := bcrypt.CompareHashAndPassword(hash, []byte(legitUserPassword)); err != nil {
			return 0, err
		}
		return http.StatusOK, nil
	}}
	return l.run(ctx), ctx.Err()
}

// startResource starts the real resource service on a free port and a fresh
// item store in env.dir, as the resource-server client of env.authURL. It
// prints nothing when listening, so readiness is its /healthz.
func startResource(ctx context.Context, env rowEnv, extra ...string) (*authServer, error) {
	var lastErr error
	for attempt := range 3 {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		procEnv := append(childEnv(env.environ, "RESOURCE_", resourceSettings(addr, env.dir, env.authURL, env.environ)), "GIN_MODE=release")
		procEnv = append(procEnv, extra...)
		s, err := startProcess(env.bin.resource, filepath.Join(env.dir, fmt.Sprintf("resource-%d.log", attempt)), procEnv)
		if err != nil {
			return nil, err
		}
		s.url = "http://" + addr
		if err = s.waitHealthy(ctx); err == nil {
			return s, nil
		}
		s.stop(5 * time.Second)
		lastErr = err
	}
	return nil, lastErr
}

// resourceSettings are the resource settings the benchmark decides.
func resourceSettings(addr, dir, authURL string, environ []string) map[string]string {
	owned := map[string]string{
		"RESOURCE_ADDR":           addr,
		"RESOURCE_DB":             "sqlite:" + filepath.Join(dir, "items.db"),
		"RESOURCE_INTROSPECT_URL": authURL + "/introspect",
		"RESOURCE_CLIENT_ID":      introspectorID,
		"RESOURCE_CLIENT_SECRET":  introspectorKey,
	}
	if !setIn(environ, "RESOURCE_METRICS_ADDR") {
		owned["RESOURCE_METRICS_ADDR"] = "off"
	}
	return owned
}

// startProcess starts bin with exactly env, its output to logPath.
func startProcess(bin, logPath string, env []string) (*authServer, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logFile, logFile
	err = cmd.Start()
	logFile.Close() // the child holds its own copy
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", filepath.Base(bin), err)
	}
	s := &authServer{cmd: cmd, exited: make(chan struct{}), logPath: logPath}
	go func() {
		s.waitErr = cmd.Wait()
		close(s.exited)
	}()
	return s, nil
}
