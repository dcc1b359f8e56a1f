package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"golang.org/x/time/rate"
)

// Demo credentials from configs/demo-bootstrap.yaml (public, demo only).
const (
	demoClientID      = "demo-client"
	demoClientSecret  = "demo-client-secret-not-for-production"
	publicClientID    = "demo-public"
	spaClientID       = "demo-spa" // public, authorization_code; its redirect URI is below
	spaRedirectURI    = "http://127.0.0.1:8090/callback"
	introspectorID    = "resource-server"
	introspectorKey   = "resource-secret-demo"
	legitUser         = "alice"
	legitUserPassword = "alice-demo-password"
)

// row is one line of the table. Each row runs against its own fresh
// authserver (see main.go), gets the environment below, and measures one
// main load; anything else it does (an attacker, a legitimate login) goes in
// its rowResult.
type row struct {
	name string
	run  func(ctx context.Context, env rowEnv) (rowResult, error)

	// Targets for the main load, as ratios to the row named compareTo
	// (zero: none). A later bare net/http baseline row can be compared to
	// in the same way.
	compareTo     string
	minThroughput float64 // main-load req/s ≥ this × compareTo's
	maxP99        float64 // main-load p99 ≤ this × compareTo's
	legitWithin   time.Duration

	// The speed rows (speed.go) are printed in a table of their own, each
	// compared with its bare baseline measured in the same row.
	speed        bool
	work         string        // what the main load does
	minBareRatio float64       // main-load req/s ≥ this × the baseline's
	maxP99Abs    time.Duration // main-load p99 ≤ this
	authEnv      []string      // AUTH_* settings of the row's authserver, over the operator's

	// The exactness rows (exact.go) measure delays, in a table of their
	// own.
	exact       bool
	maxDelayP99 time.Duration
}

// rowEnv is what a row gets to work with.
type rowEnv struct {
	cfg         config
	bin         binaries // the resource binary is built for rows that need it
	root        string   // the module's root
	authURL     string
	accessToken string   // alice's, from demo-client, fetched before the row
	dir         string   // the row's own temp directory
	environ     []string // the environment the row's authserver was given
}

type rowResult struct {
	main   result
	attack *result // nil: the row has no attacker
	legit  *login  // nil: the row has no legitimate login
	rss    string  // the authserver's peak RSS, filled in by main
	// bare is the same load against the row's baseline, nil if none;
	// bareOwnProcess against the same baseline in a process of its own
	// (bare.go), nil if not run.
	bare           *result
	bareOwnProcess *result
	resourceRSS    string  // the resource service's peak RSS, if the row ran it
	delays         *delays // an exactness row's samples
}

// login is one legitimate password-grant login.
type login struct {
	status  int // 0: no answer
	err     error
	latency time.Duration
}

func defaultRows() []row {
	rows := []row{
		{name: "quiet", run: quiet},
		{
			name: "flood, one source",
			run: func(ctx context.Context, env rowEnv) (rowResult, error) {
				return flood(ctx, env, sourceAddrs(1, env.cfg.attackers), net.IPv4(127, 0, 0, 3))
			},
			compareTo: "quiet", minThroughput: 0.50, maxP99: 2, legitWithin: 2 * time.Second,
		},
		{
			name: "flood, 64 sources",
			run: func(ctx context.Context, env rowEnv) (rowResult, error) {
				return flood(ctx, env, sourceAddrs(env.cfg.attackers, env.cfg.attackers), net.IPv4(127, 0, 0, 4))
			},
			compareTo: "quiet", minThroughput: 0.25, maxP99: 5, legitWithin: 2 * time.Second,
		},
		{
			// The same flood at the sign-in page instead of /token: the
			// page shares the password grant's pool, throttle and
			// lockout, so it must meet the same targets.
			name: "login-form flood, one source",
			run: func(ctx context.Context, env rowEnv) (rowResult, error) {
				return formFlood(ctx, env, sourceAddrs(1, env.cfg.attackers), net.IPv4(127, 0, 0, 5))
			},
			compareTo: "quiet", minThroughput: 0.50, maxP99: 2, legitWithin: 2 * time.Second,
		},
		{
			// The introspection cache full: its peak RSS is the memory
			// of that many live tokens, its throughput (all hits,
			// spread over them) is to compare with quiet's (one token).
			name: "live tokens", run: liveTokens, compareTo: "quiet",
		},
	}
	rows = append(rows, speedRows()...)
	return append(rows, exactRows()...)
}

// sourceAddrs gives n attacker workers their local addresses: all on
// 127.0.0.2 when distinct is 1, otherwise 127.0.1.1, 127.0.1.2, ... (Linux
// routes all of 127.0.0.0/8 to lo, so any of them can be bound).
func sourceAddrs(distinct, n int) []net.IP {
	ips := make([]net.IP, n)
	for i := range ips {
		if distinct == 1 {
			ips[i] = net.IPv4(127, 0, 0, 2)
		} else {
			k := i%distinct + 1
			ips[i] = net.IPv4(127, 0, byte(1+k/256), byte(k%256))
		}
	}
	return ips
}

func quiet(ctx context.Context, env rowEnv) (rowResult, error) {
	return rowResult{main: introspectLoad(env).run(ctx)}, nil
}

// introspectLoad is the resource service's side of the traffic: POST
// /introspect of a valid token on cfg.workers keep-alive connections from
// 127.0.0.1.
func introspectLoad(env rowEnv) load {
	client := newClient(net.IPv4(127, 0, 0, 1), env.cfg.workers, 10*time.Second)
	body := url.Values{"token": {env.accessToken}}.Encode()
	return load{
		workers:  env.cfg.workers,
		duration: env.cfg.duration,
		do: func(ctx context.Context, _ int) (int, error) {
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, env.authURL+"/introspect", strings.NewReader(body))
			if err != nil {
				return 0, err
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(introspectorID, introspectorKey)
			status, respBody, err := send(client, req)
			if err == nil && status == http.StatusOK && !bytes.Contains(respBody, []byte(`"active":true`)) {
				// A 200 that says inactive is a broken measurement, not a
				// fast answer.
				return 0, errors.New(`introspection answered 200 without "active":true`)
			}
			return status, err
		},
	}
}

// flood is the introspection load while an attacker guesses passwords at
// POST /token from the given source addresses (one worker, with its own
// keep-alive connection, per address), and one legitimate login is made from
// legitFrom after cfg.legitAfter. The attacker goes on until both the main
// load and the legitimate login are over, so the login is measured under
// the flood even when it is slower than the row.
func flood(ctx context.Context, env rowEnv, sources []net.IP, legitFrom net.IP) (rowResult, error) {
	clients := sourceClients(sources)
	guess := func(ctx context.Context, worker int) (int, error) {
		form := url.Values{
			"grant_type": {"password"},
			"username":   {rand.Text()},
			"password":   {rand.Text()},
			"client_id":  {publicClientID},
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, env.authURL+"/token", strings.NewReader(form.Encode()))
		if err != nil {
			return 0, err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		status, _, err := send(clients[worker], req)
		return status, err
	}
	return floodWith(ctx, env, len(sources), guess, func(ctx context.Context) login { return passwordLogin(ctx, env, legitFrom) })
}

// sourceClients gives each attacker worker a client bound to its source
// address, one shared client per distinct address.
func sourceClients(sources []net.IP) []*http.Client {
	clients := make([]*http.Client, len(sources))
	shared := map[string]*http.Client{}
	for i, ip := range sources {
		if shared[ip.String()] == nil {
			shared[ip.String()] = newClient(ip, len(sources), time.Minute)
		}
		clients[i] = shared[ip.String()]
	}
	return clients
}

// formFlood is flood with the guesses posted to the sign-in page's login
// form, as a scripted attacker would: each worker fetches the form once
// (its CSRF cookie and token) and then posts random names and passwords
// with it. The legitimate login signs alice in at the same page.
func formFlood(ctx context.Context, env rowEnv, sources []net.IP, legitFrom net.IP) (rowResult, error) {
	clients := sourceClients(sources)
	forms := make([]loginForm, len(sources))
	for i := range forms {
		f, err := fetchLoginForm(ctx, clients[i], env.authURL)
		if err != nil {
			return rowResult{}, fmt.Errorf("attacker's login form: %w", err)
		}
		forms[i] = f
	}
	guess := func(ctx context.Context, worker int) (int, error) {
		status, _, err := forms[worker].post(ctx, clients[worker], env.authURL, rand.Text(), rand.Text())
		return status, err
	}
	return floodWith(ctx, env, len(sources), guess, func(ctx context.Context) login { return pageLogin(ctx, env, legitFrom) })
}

// floodWith runs the introspection load while workers guess, and one
// legitimate login after cfg.legitAfter.
func floodWith(ctx context.Context, env rowEnv, workers int, guess func(ctx context.Context, worker int) (int, error), legitLogin func(ctx context.Context) login) (rowResult, error) {
	attacker := load{
		workers:  workers,
		duration: env.cfg.duration + env.cfg.legitTimeout + env.cfg.legitAfter,
		limiter:  rate.NewLimiter(rate.Limit(env.cfg.attackRate), 1),
		do:       guess,
	}

	attackCtx, stopAttack := context.WithCancel(ctx)
	defer stopAttack()
	attackDone := make(chan result, 1)
	go func() { attackDone <- attacker.run(attackCtx) }()

	legitDone := make(chan login, 1)
	go func() {
		select {
		case <-time.After(env.cfg.legitAfter):
			legitDone <- legitLogin(ctx)
		case <-ctx.Done():
			legitDone <- login{err: ctx.Err()}
		}
	}()

	r := rowResult{main: introspectLoad(env).run(ctx)}
	legit := <-legitDone
	r.legit = &legit
	stopAttack()
	attack := <-attackDone
	r.attack = &attack
	return r, ctx.Err()
}

// passwordLogin is one legitimate login of alice through demo-client from a
// fresh connection bound to from.
func passwordLogin(ctx context.Context, env rowEnv, from net.IP) login {
	client := newClient(from, 1, env.cfg.legitTimeout)
	defer client.CloseIdleConnections()
	t0 := time.Now()
	tok, status, err := fetchToken(ctx, client, env.authURL)
	l := login{status: status, err: err, latency: time.Since(t0)}
	if err == nil && tok == "" {
		l.err = errors.New("no access_token in the answer")
	}
	return l
}

// pageLogin is one legitimate sign-in of alice at the login page of
// demo-spa's authorization request, from a fresh connection bound to from:
// the form fetched, then posted. Its status is 200 when the sign-in
// completed (the consent page, or the redirect back with a code), the
// answer's status otherwise. The requests are those a browser makes; the
// browser tests drive the same pages in Chromium.
func pageLogin(ctx context.Context, env rowEnv, from net.IP) login {
	client := newClient(from, 1, env.cfg.legitTimeout)
	defer client.CloseIdleConnections()
	t0 := time.Now()
	f, err := fetchLoginForm(ctx, client, env.authURL)
	if err != nil {
		return login{err: err, latency: time.Since(t0)}
	}
	status, body, err := f.post(ctx, client, env.authURL, legitUser, legitUserPassword)
	l := login{status: status, err: err, latency: time.Since(t0)}
	switch {
	case err != nil:
	case status == http.StatusOK && bytes.Contains(body, []byte(`id="consent"`)), status == http.StatusSeeOther:
		l.status = http.StatusOK
	case status == http.StatusOK:
		l.status, l.err = 0, errors.New("the login page came back: the sign-in was refused")
	}
	return l
}

// loginForm is the sign-in page's login form as a browser holds it: its
// fields and the CSRF cookie they are bound to.
type loginForm struct {
	fields url.Values
	cookie *http.Cookie
}

var hiddenField = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// spaVerifier is the PKCE verifier of the benchmark's authorization
// requests; no code is ever exchanged.
const spaVerifier = "loadbench-pkce-verifier-0123456789-abcdefghijklmnop"

// fetchLoginForm opens demo-spa's authorization request and reads the
// login form it answers with.
func fetchLoginForm(ctx context.Context, client *http.Client, authURL string) (loginForm, error) {
	sum := sha256.Sum256([]byte(spaVerifier))
	q := url.Values{"response_type": {"code"}, "client_id": {spaClientID}, "redirect_uri": {spaRedirectURI},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}, "state": {"loadbench"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, authURL+"/authorize?"+q.Encode(), nil)
	if err != nil {
		return loginForm{}, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return loginForm{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return loginForm{}, fmt.Errorf("read login page: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return loginForm{}, fmt.Errorf("login page: status %d", resp.StatusCode)
	}
	f := loginForm{fields: url.Values{}}
	for _, m := range hiddenField.FindAllSubmatch(body, -1) {
		f.fields.Set(html.UnescapeString(string(m[1])), html.UnescapeString(string(m[2])))
	}
	for _, c := range resp.Cookies() {
		if strings.HasSuffix(c.Name, "authsvc_csrf") {
			f.cookie = c
		}
	}
	if f.cookie == nil || f.fields.Get("csrf_token") == "" {
		return loginForm{}, errors.New("login page without its CSRF cookie and token")
	}
	return f, nil
}

// post submits the form with username and password.
func (f loginForm) post(ctx context.Context, client *http.Client, authURL, username, password string) (int, []byte, error) {
	form := url.Values{"step": {"login"}, "username": {username}, "password": {password}}
	for k, v := range f.fields {
		form[k] = v
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, authURL+"/authorize", strings.NewReader(form.Encode()))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&http.Cookie{Name: f.cookie.Name, Value: f.cookie.Value})
	// A redirect back to the client ends the sign-in; it is not followed.
	noFollow := *client
	noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return send(&noFollow, req)
}

// accessToken logs alice in through demo-client, for the introspection load.
func accessToken(ctx context.Context, authURL string) (string, error) {
	client := newClient(net.IPv4(127, 0, 0, 1), 1, time.Minute)
	defer client.CloseIdleConnections()
	tok, status, err := fetchToken(ctx, client, authURL)
	switch {
	case err != nil:
		return "", fmt.Errorf("password grant: %w", err)
	case status != http.StatusOK || tok == "":
		return "", fmt.Errorf("password grant: status %d, no access token", status)
	}
	return tok, nil
}

func fetchToken(ctx context.Context, client *http.Client, authURL string) (token string, status int, err error) {
	form := url.Values{
		"grant_type": {"password"},
		"username":   {legitUser},
		"password":   {legitUserPassword},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, authURL+"/token", strings.NewReader(form.Encode()))
	if err != nil {
		return "", 0, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(demoClientID, demoClientSecret)
	status, body, err := send(client, req)
	if err != nil || status != http.StatusOK {
		return "", status, err
	}
	var answer struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(body, &answer); err != nil {
		return "", status, fmt.Errorf("token answer: %w", err)
	}
	return answer.AccessToken, status, nil
}

// newClient is an HTTP client whose connections all start from local
// address from, keeping up to conns of them alive.
func newClient(from net.IP, conns int, timeout time.Duration) *http.Client {
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: from}, Timeout: 5 * time.Second}
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			DialContext:         dialer.DialContext,
			MaxIdleConnsPerHost: conns,
			MaxConnsPerHost:     conns,
			DisableCompression:  true,
		},
	}
}

// maxBody bounds what we read of an answer: the server's are small JSON.
const maxBody = 64 << 10

// send does req and reads the whole answer, so the connection can be reused.
func send(client *http.Client, req *http.Request) (status int, body []byte, err error) {
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return 0, nil, fmt.Errorf("read answer: %w", err)
	}
	return resp.StatusCode, body, nil
}
