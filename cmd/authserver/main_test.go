package main

// End-to-end tests: the real run() on a free port and a temp-dir SQLite
// store, driven by golang.org/x/oauth2 (an independent client library) and
// by raw HTTP where x/oauth2 has no API (introspection, revocation, metadata).

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/example/authsvc/cmd/internal/cliconf"
	"github.com/example/authsvc/internal/testkit"
)

const (
	testIssuer = "https://auth.example.test"

	// appSecret has every character that breaks a server which does not
	// form-decode HTTP Basic credentials (RFC 6749 §2.3.1): x/oauth2 sends
	// it as "s3cr%2Bt%2Fwith%3Dodd%2525%3Achars".
	appSecret          = "s3cr+t/with=odd%25:chars"
	otherSecret        = "other-client-secret-e2e-0123456789abcdef"
	introspectorSecret = "introspector-secret-e2e-0123456789abcdef"
	alicePassword      = "alice p@ss+w/rd=%25:e2e" // odd characters in the form body too
	carolPassword      = "carol-password-e2e"
)

// bootstrapYAML uses single-quoted YAML scalars: no escapes, so the values
// reach the server exactly as the Go constants spell them.
var bootstrapYAML = fmt.Sprintf(`
users:
  - username: alice
    password: '%s'
  - username: carol
    password: '%s'
clients:
  - id: e2e-app
    secret: '%s'
    grants: [password, refresh_token, client_credentials]
    scopes: [items:read, items:write]
  - id: e2e-other
    secret: '%s'
    grants: [password, refresh_token, client_credentials]
    scopes: [items:read]
  - id: e2e-introspector
    secret: '%s'
    grants: [client_credentials]
    scopes: []
    introspect: true
`, alicePassword, carolPassword, appSecret, otherSecret, introspectorSecret)

// getenvFrom serves env; the metrics listener is off unless env sets it,
// since its default address would be shared by tests running at once.
func getenvFrom(env map[string]string) cliconf.LookupEnv {
	return func(k string) (string, bool) {
		if v, ok := env[k]; ok || k != "AUTH_METRICS_ADDR" {
			return v, ok
		}
		return "off", true
	}
}

// testServer is one run() of the authorization server.
type testServer struct {
	base   string // http://127.0.0.1:PORT
	stderr *testkit.SyncBuffer
	cancel context.CancelFunc
	done   chan error

	stopOnce sync.Once
	stopErr  error
}

// stop cancels run's context and returns what run returned.
func (s *testServer) stop() error {
	s.stopOnce.Do(func() {
		s.cancel()
		select {
		case s.stopErr = <-s.done:
		case <-time.After(15 * time.Second):
			s.stopErr = errors.New("run did not return within 15s of cancellation")
		}
	})
	return s.stopErr
}

// startServer runs the real run() and returns once /healthz answers 200;
// extra arguments follow (and so override) the defaults.
func startServer(t *testing.T, hc *http.Client, dbPath, bootstrapPath string, extra ...string) *testServer {
	t.Helper()
	args := []string{
		"authserver",
		"-addr", "127.0.0.1:0",
		"-db", "sqlite:" + dbPath,
		"-bootstrap", bootstrapPath,
		"-issuer", testIssuer,
	}
	args = append(args, extra...)
	getenv := getenvFrom(map[string]string{"AUTH_BCRYPT_COST": "4"})

	ctx, cancel := context.WithCancel(context.Background())
	s := &testServer{stderr: &testkit.SyncBuffer{}, cancel: cancel, done: make(chan error, 1)}
	pr, pw := io.Pipe()
	go func() {
		err := run(ctx, args, getenv, pw, s.stderr)
		pw.Close()
		s.done <- err
	}()
	t.Cleanup(func() {
		if err := s.stop(); err != nil {
			t.Errorf("run: %v", err)
		}
	})

	type lineResult struct {
		line string
		err  error
	}
	lines := make(chan lineResult, 1)
	go func() {
		br := bufio.NewReader(pr)
		line, err := br.ReadString('\n')
		lines <- lineResult{line, err}
		_, _ = io.Copy(io.Discard, br) // anything else run prints; ends when run returns
	}()
	var first lineResult
	select {
	case first = <-lines:
	case <-time.After(10 * time.Second):
		t.Fatalf("run printed nothing on stdout within 10s; stderr:\n%s", s.stderr)
	}
	if first.err != nil {
		t.Fatalf("run ended before listening: %v; stderr:\n%s", s.stop(), s.stderr)
	}
	addr, ok := strings.CutPrefix(strings.TrimSpace(first.line), "listening on ")
	if !ok || (!strings.HasPrefix(addr, "http://127.0.0.1:") && !strings.HasPrefix(addr, "https://127.0.0.1:")) {
		t.Fatalf("stdout line %q: want \"listening on http://127.0.0.1:PORT\"", first.line)
	}
	s.base = addr

	var last string
	if !testkit.Poll(10*time.Second, nil, func() bool {
		var ok bool
		ok, last = testkit.Healthy(hc, s.base+"/healthz")
		return ok
	}) {
		t.Fatalf("/healthz not 200 within 10s (last: %s); stderr:\n%s", last, s.stderr)
	}
	return s
}

// e2e is the state the subtests share.
type e2e struct {
	t   *testing.T
	srv *testServer
	hc  *http.Client
	ctx context.Context // carries hc for x/oauth2
	// issued collects every token, to prove none reaches the log.
	issued []string
}

func (e *e2e) appConfig(style oauth2.AuthStyle) *oauth2.Config {
	return &oauth2.Config{
		ClientID:     "e2e-app",
		ClientSecret: appSecret,
		Endpoint:     oauth2.Endpoint{TokenURL: e.srv.base + "/token", AuthStyle: style},
	}
}

// login is a password grant for alice by e2e-app.
func (e *e2e) login(t *testing.T, style oauth2.AuthStyle) *oauth2.Token {
	t.Helper()
	tok, err := e.appConfig(style).PasswordCredentialsToken(e.ctx, "alice", alicePassword)
	if err != nil {
		t.Fatalf("password grant: %v", err)
	}
	e.issued = append(e.issued, tok.AccessToken, tok.RefreshToken)
	return tok
}

// post sends a form with HTTP Basic client authentication, form-encoding id
// and secret first as RFC 6749 §2.3.1 requires.
func (e *e2e) post(t *testing.T, path, id, secret string, form url.Values) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.srv.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	resp, err := e.hc.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("POST %s: read body: %v", path, err)
	}
	return resp, body
}

// introspect asks as e2e-introspector and returns the decoded answer and
// the raw body.
func (e *e2e) introspect(t *testing.T, token string) (map[string]any, []byte) {
	t.Helper()
	resp, body := e.post(t, "/introspect", "e2e-introspector", introspectorSecret, url.Values{"token": {token}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("introspect: status %d, body %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("introspect: Content-Type %q, want application/json", ct)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("introspect: body %s: %v", body, err)
	}
	return m, body
}

// assertInactive checks the exact RFC 7662 §2.2 answer for a token that is
// not usable: {"active":false} and nothing else.
func (e *e2e) assertInactive(t *testing.T, what, token string) {
	t.Helper()
	_, body := e.introspect(t, token)
	if got := string(bytes.TrimSpace(body)); got != `{"active":false}` {
		t.Errorf("introspect %s: %s, want {\"active\":false}", what, got)
	}
}

func (e *e2e) assertActive(t *testing.T, what, token string) map[string]any {
	t.Helper()
	m, body := e.introspect(t, token)
	if m["active"] != true {
		t.Errorf("introspect %s: %s, want active", what, body)
	}
	return m
}

func (e *e2e) revoke(t *testing.T, id, secret, token string) {
	t.Helper()
	resp, body := e.post(t, "/revoke", id, secret, url.Values{"token": {token}})
	if resp.StatusCode != http.StatusOK {
		t.Errorf("revoke as %s: status %d, body %s; want 200 (RFC 7009 §2.2)", id, resp.StatusCode, body)
	}
}

// refreshWith uses refresh like x/oauth2 does when an access token expired.
func (e *e2e) refreshWith(refresh string) (*oauth2.Token, error) {
	expired := &oauth2.Token{AccessToken: "expired", RefreshToken: refresh, Expiry: time.Now().Add(-time.Hour)}
	return e.appConfig(oauth2.AuthStyleInHeader).TokenSource(e.ctx, expired).Token()
}

// assertRetrieveError checks an error from x/oauth2 against RFC 6749 §5.2.
func assertRetrieveError(t *testing.T, err error, code string, status int) *oauth2.RetrieveError {
	t.Helper()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		t.Fatalf("err = %v, want *oauth2.RetrieveError %s", err, code)
	}
	if re.ErrorCode != code || re.Response.StatusCode != status {
		t.Errorf("error %q with status %d (body %s), want %q with %d", re.ErrorCode, re.Response.StatusCode, re.Body, code, status)
	}
	if cc := re.Response.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("error response Cache-Control %q, want no-store (RFC 6749 §5.1)", cc)
	}
	return re
}

func numberField(t *testing.T, m map[string]any, key string) int64 {
	t.Helper()
	n, ok := m[key].(json.Number)
	if !ok {
		t.Errorf("introspection %s = %v (%T), want a number", key, m[key], m[key])
		return 0
	}
	v, err := n.Int64()
	if err != nil {
		t.Errorf("introspection %s = %s: want an integer (NumericDate)", key, n)
	}
	return v
}

func within(got, want, slack int64) bool { return got >= want-slack && got <= want+slack }

var authStyles = []struct {
	name  string
	style oauth2.AuthStyle
}{
	{"client_secret_basic", oauth2.AuthStyleInHeader},
	{"client_secret_post", oauth2.AuthStyleInParams},
}

func TestEndToEnd(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "auth.db")
	bootstrapPath := filepath.Join(dir, "bootstrap.yaml")
	if err := os.WriteFile(bootstrapPath, []byte(bootstrapYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
	t.Cleanup(hc.CloseIdleConnections)

	e := &e2e{t: t, hc: hc, srv: startServer(t, hc, dbPath, bootstrapPath)}
	e.ctx = context.WithValue(context.Background(), oauth2.HTTPClient, hc)
	logs := []*testkit.SyncBuffer{e.srv.stderr}

	t.Run("password grant", func(t *testing.T) {
		for _, as := range authStyles {
			t.Run(as.name, func(t *testing.T) {
				before := time.Now()
				tok := e.login(t, as.style)
				if tok.AccessToken == "" || tok.RefreshToken == "" {
					t.Fatalf("token %+v: want access and refresh tokens", tok)
				}
				if tok.AccessToken == tok.RefreshToken {
					t.Error("access and refresh tokens are equal")
				}
				if tok.Type() != "Bearer" {
					t.Errorf("token_type %q, want Bearer", tok.Type())
				}
				if exp := tok.Expiry.Sub(before); exp < 14*time.Minute || exp > 16*time.Minute {
					t.Errorf("expires in %v, want the default 15m", exp)
				}
				// No scope requested: the client's allowed scopes.
				if sc := tok.Extra("scope"); sc != "items:read items:write" {
					t.Errorf("scope %v, want \"items:read items:write\"", sc)
				}
				// RFC 6749 §10.10: ≥128 bits; 22 base64 characters carry 132.
				if len(tok.AccessToken) < 22 || len(tok.RefreshToken) < 22 {
					t.Errorf("tokens of %d and %d characters: too short for 128 bits", len(tok.AccessToken), len(tok.RefreshToken))
				}
				e.assertActive(t, "access token", tok.AccessToken)
			})
		}
	})

	t.Run("client credentials", func(t *testing.T) {
		for _, as := range authStyles {
			t.Run(as.name, func(t *testing.T) {
				cc := &clientcredentials.Config{
					ClientID:     "e2e-app",
					ClientSecret: appSecret,
					TokenURL:     e.srv.base + "/token",
					Scopes:       []string{"items:read"},
					AuthStyle:    as.style,
				}
				tok, err := cc.Token(e.ctx)
				if err != nil {
					t.Fatalf("client credentials grant: %v", err)
				}
				e.issued = append(e.issued, tok.AccessToken)
				if tok.AccessToken == "" {
					t.Fatal("no access token")
				}
				// RFC 6749 §4.4.3: a refresh token SHOULD NOT be included.
				if tok.RefreshToken != "" {
					t.Error("client credentials grant returned a refresh token")
				}
				if sc := tok.Extra("scope"); sc != "items:read" {
					t.Errorf("scope %v, want items:read", sc)
				}
				m := e.assertActive(t, "client token", tok.AccessToken)
				if m["client_id"] != "e2e-app" || m["sub"] != "e2e-app" || m["scope"] != "items:read" {
					t.Errorf("introspection %v: want client_id and sub e2e-app, scope items:read", m)
				}
				if _, ok := m["username"]; ok {
					t.Errorf("introspection of a client token has username %v", m["username"])
				}
			})
		}
	})

	t.Run("refresh rotation and reuse", func(t *testing.T) {
		tok := e.login(t, oauth2.AuthStyleInHeader)
		old := *tok
		tok.Expiry = time.Now().Add(-time.Minute) // as if the access token had expired
		fresh, err := e.appConfig(oauth2.AuthStyleInHeader).TokenSource(e.ctx, tok).Token()
		if err != nil {
			t.Fatalf("refresh via TokenSource: %v", err)
		}
		e.issued = append(e.issued, fresh.AccessToken, fresh.RefreshToken)
		if fresh.AccessToken == "" || fresh.AccessToken == old.AccessToken {
			t.Errorf("refresh did not issue a new access token")
		}
		if fresh.RefreshToken == "" || fresh.RefreshToken == old.RefreshToken {
			t.Fatalf("refresh token not rotated (RFC 9700 §4.14.2)")
		}
		if !fresh.Expiry.After(time.Now()) {
			t.Errorf("refreshed token expiry %v is not in the future", fresh.Expiry)
		}
		m := e.assertActive(t, "refreshed access token", fresh.AccessToken)
		if m["username"] != "alice" || m["scope"] != "items:read items:write" {
			t.Errorf("refreshed token introspects as %v: want alice, the original scope", m)
		}
		e.assertActive(t, "rotated-in refresh token", fresh.RefreshToken)
		e.assertInactive(t, "rotated-out refresh token", old.RefreshToken)

		// Second use of the rotated token: reuse, so the grant ends.
		_, err = e.refreshWith(old.RefreshToken)
		assertRetrieveError(t, err, "invalid_grant", http.StatusBadRequest)
		e.assertInactive(t, "access token of a reused grant", fresh.AccessToken)
		e.assertInactive(t, "refresh token of a reused grant", fresh.RefreshToken)
		_, err = e.refreshWith(fresh.RefreshToken)
		assertRetrieveError(t, err, "invalid_grant", http.StatusBadRequest)
	})

	t.Run("introspection", func(t *testing.T) {
		before := time.Now().Unix()
		tok := e.login(t, oauth2.AuthStyleInParams)
		after := time.Now().Unix()

		m := e.assertActive(t, "access token", tok.AccessToken)
		for _, k := range []string{"active", "scope", "client_id", "username", "sub", "token_type", "exp", "iat", "iss", "token_use"} {
			if _, ok := m[k]; !ok {
				t.Errorf("introspection lacks %q: %v", k, m)
			}
		}
		want := map[string]any{
			"scope": "items:read items:write", "client_id": "e2e-app", "username": "alice", "sub": "alice",
			"token_type": "Bearer", "iss": testIssuer, "token_use": "access_token",
		}
		for k, v := range want {
			if m[k] != v {
				t.Errorf("introspection %s = %v, want %v", k, m[k], v)
			}
		}
		iat, exp := numberField(t, m, "iat"), numberField(t, m, "exp")
		if iat < before-1 || iat > after+1 {
			t.Errorf("iat %d, want between %d and %d", iat, before, after)
		}
		if !within(exp, tok.Expiry.Unix(), 2) || !within(exp-iat, int64((15*time.Minute).Seconds()), 2) {
			t.Errorf("exp %d (iat %d), want about %d: the expires_in the client got", exp, iat, tok.Expiry.Unix())
		}

		r := e.assertActive(t, "refresh token", tok.RefreshToken)
		if r["token_use"] != "refresh_token" || r["username"] != "alice" || r["client_id"] != "e2e-app" {
			t.Errorf("refresh token introspects as %v: want token_use refresh_token, alice, e2e-app", r)
		}
		if rexp, riat := numberField(t, r, "exp"), numberField(t, r, "iat"); !within(rexp-riat, int64((720 * time.Hour).Seconds()), 2) {
			t.Errorf("refresh token lives %ds, want the default 720h", rexp-riat)
		}

		// A client without the introspection permission.
		resp, body := e.post(t, "/introspect", "e2e-app", appSecret, url.Values{"token": {tok.AccessToken}})
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("introspect by a client without the permission: status %d, body %s; want 403", resp.StatusCode, body)
		}
		if bytes.Contains(body, []byte(`"active"`)) {
			t.Errorf("refused introspection still answered about the token: %s", body)
		}
		// A wrong secret for the introspecting client.
		resp, body = e.post(t, "/introspect", "e2e-introspector", "wrong", url.Values{"token": {tok.AccessToken}})
		if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic") {
			t.Errorf("introspect with a wrong secret: status %d, WWW-Authenticate %q, body %s; want 401 with a Basic challenge",
				resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body)
		}

		e.assertInactive(t, "garbage", "not-a-token-"+strings.Repeat("x", 40))
		e.assertInactive(t, "odd garbage", "a+b/c=d%e:f g")
	})

	t.Run("revocation", func(t *testing.T) {
		tok := e.login(t, oauth2.AuthStyleInHeader)

		// Another client: 200, and nothing happens (RFC 7009 §2.1).
		e.revoke(t, "e2e-other", otherSecret, tok.RefreshToken)
		e.revoke(t, "e2e-other", otherSecret, tok.AccessToken)
		e.assertActive(t, "access token after another client's revocation", tok.AccessToken)
		e.assertActive(t, "refresh token after another client's revocation", tok.RefreshToken)

		// Unknown token: 200 (RFC 7009 §2.2).
		e.revoke(t, "e2e-app", appSecret, "no-such-token-"+strings.Repeat("y", 40))

		// The owner revokes the refresh token: the whole grant ends.
		e.revoke(t, "e2e-app", appSecret, tok.RefreshToken)
		e.assertInactive(t, "revoked refresh token", tok.RefreshToken)
		e.assertInactive(t, "access token of a revoked refresh token", tok.AccessToken)
		_, err := e.refreshWith(tok.RefreshToken)
		assertRetrieveError(t, err, "invalid_grant", http.StatusBadRequest)

		// Revoking an access token ends that access token.
		tok2 := e.login(t, oauth2.AuthStyleInParams)
		e.revoke(t, "e2e-app", appSecret, tok2.AccessToken)
		e.assertInactive(t, "revoked access token", tok2.AccessToken)
		// Revoking it again is still 200.
		e.revoke(t, "e2e-app", appSecret, tok2.AccessToken)
	})

	t.Run("metadata", func(t *testing.T) {
		resp, err := hc.Get(e.srv.base + "/.well-known/oauth-authorization-server")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("metadata: status %d", resp.StatusCode)
		}
		var md struct {
			Issuer                string   `json:"issuer"`
			TokenEndpoint         string   `json:"token_endpoint"`
			IntrospectionEndpoint string   `json:"introspection_endpoint"`
			RevocationEndpoint    string   `json:"revocation_endpoint"`
			GrantTypes            []string `json:"grant_types_supported"`
			TokenAuthMethods      []string `json:"token_endpoint_auth_methods_supported"`
			Scopes                []string `json:"scopes_supported"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&md); err != nil {
			t.Fatalf("metadata: %v", err)
		}
		if md.Issuer != testIssuer || md.TokenEndpoint != testIssuer+"/token" ||
			md.IntrospectionEndpoint != testIssuer+"/introspect" || md.RevocationEndpoint != testIssuer+"/revoke" {
			t.Errorf("metadata %+v: want issuer %s and its /token, /introspect, /revoke", md, testIssuer)
		}
		for _, g := range []string{"password", "client_credentials", "refresh_token"} {
			if !slices.Contains(md.GrantTypes, g) {
				t.Errorf("grant_types_supported %v lacks %s", md.GrantTypes, g)
			}
		}
		for _, m := range []string{"client_secret_basic", "client_secret_post"} {
			if !slices.Contains(md.TokenAuthMethods, m) {
				t.Errorf("token_endpoint_auth_methods_supported %v lacks %s", md.TokenAuthMethods, m)
			}
		}
		for _, s := range []string{"items:read", "items:write"} {
			if !slices.Contains(md.Scopes, s) {
				t.Errorf("scopes_supported %v lacks %s", md.Scopes, s)
			}
		}
	})

	t.Run("errors", func(t *testing.T) {
		carol := func(style oauth2.AuthStyle, password string) error {
			_, err := e.appConfig(style).PasswordCredentialsToken(e.ctx, "carol", password)
			return err
		}
		for _, as := range authStyles {
			t.Run(as.name, func(t *testing.T) {
				assertRetrieveError(t, carol(as.style, "wrong password"), "invalid_grant", http.StatusBadRequest)
				// A success resets the failure count (so the next subtest
				// starts clean) and shows the odd secret was accepted.
				if err := carol(as.style, carolPassword); err != nil {
					t.Errorf("carol with the right password: %v", err)
				}

				unknown := &oauth2.Config{ClientID: "no-such-client", ClientSecret: appSecret,
					Endpoint: oauth2.Endpoint{TokenURL: e.srv.base + "/token", AuthStyle: as.style}}
				_, err := unknown.PasswordCredentialsToken(e.ctx, "alice", alicePassword)
				re := assertRetrieveError(t, err, "invalid_client", http.StatusUnauthorized)
				if as.style == oauth2.AuthStyleInHeader && !strings.HasPrefix(re.Response.Header.Get("WWW-Authenticate"), "Basic") {
					t.Errorf("invalid_client after Basic: WWW-Authenticate %q, want a Basic challenge (RFC 6749 §5.2)",
						re.Response.Header.Get("WWW-Authenticate"))
				}

				wrongSecret := e.appConfig(as.style)
				wrongSecret.ClientSecret = appSecret + "x"
				_, err = wrongSecret.PasswordCredentialsToken(e.ctx, "alice", alicePassword)
				assertRetrieveError(t, err, "invalid_client", http.StatusUnauthorized)

				// A grant the client is not allowed.
				notAllowed := &oauth2.Config{ClientID: "e2e-introspector", ClientSecret: introspectorSecret,
					Endpoint: oauth2.Endpoint{TokenURL: e.srv.base + "/token", AuthStyle: as.style}}
				_, err = notAllowed.PasswordCredentialsToken(e.ctx, "alice", alicePassword)
				assertRetrieveError(t, err, "unauthorized_client", http.StatusBadRequest)

				// A scope outside the client's allowed set.
				wide := &clientcredentials.Config{ClientID: "e2e-other", ClientSecret: otherSecret,
					TokenURL: e.srv.base + "/token", Scopes: []string{"items:write"}, AuthStyle: as.style}
				_, err = wide.Token(e.ctx)
				assertRetrieveError(t, err, "invalid_scope", http.StatusBadRequest)
			})
		}
	})

	t.Run("data survives a restart", func(t *testing.T) {
		tok := e.login(t, oauth2.AuthStyleInHeader)
		if err := e.srv.stop(); err != nil {
			t.Fatalf("graceful shutdown: run returned %v, want nil", err)
		}
		e.srv = startServer(t, hc, dbPath, bootstrapPath) // bootstrap again: idempotent
		logs = append(logs, e.srv.stderr)

		e.assertActive(t, "access token issued before the restart", tok.AccessToken)
		fresh, err := e.refreshWith(tok.RefreshToken)
		if err != nil {
			t.Fatalf("refresh token issued before the restart: %v", err)
		}
		e.issued = append(e.issued, fresh.AccessToken, fresh.RefreshToken)
		if fresh.RefreshToken == "" || fresh.RefreshToken == tok.RefreshToken {
			t.Error("refresh after restart did not rotate the refresh token")
		}
		// Once only.
		_, err = e.refreshWith(tok.RefreshToken)
		assertRetrieveError(t, err, "invalid_grant", http.StatusBadRequest)
	})

	if err := e.srv.stop(); err != nil {
		t.Errorf("graceful shutdown: run returned %v, want nil", err)
	}

	// The log may say anything but a secret, a password or a token.
	secrets := append([]string{appSecret, url.QueryEscape(appSecret), otherSecret, introspectorSecret,
		alicePassword, url.QueryEscape(alicePassword), carolPassword}, e.issued...)
	for i, log := range logs {
		text := log.String()
		if !strings.Contains(text, "INSECURE") {
			t.Errorf("run %d: no warning about AUTH_BCRYPT_COST=4 in the log", i+1)
		}
		for _, s := range secrets {
			if s != "" && strings.Contains(text, s) {
				t.Errorf("run %d: the log contains a secret, password or token (%d characters)", i+1, len(s))
			}
		}
	}
}

func TestRunRejectsInvalidSettings(t *testing.T) {
	const leaked = "hunter2-db-password"
	dir := t.TempDir()
	badBootstrap := filepath.Join(dir, "bad-bootstrap.yaml")
	// Not printable ASCII, so invalid (RFC 6749 Appendix A.2); the error
	// must say so without quoting the secret.
	if err := os.WriteFile(badBootstrap, []byte(`
clients:
  - id: bad
    secret: 'sécret-`+leaked+`'
    grants: [client_credentials]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	db := "sqlite:" + filepath.Join(dir, "auth.db")

	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
	}{
		{"zero access ttl", []string{"-db", db}, map[string]string{"AUTH_ACCESS_TTL": "0"}, "access token lifetime"},
		{"negative refresh ttl flag", []string{"-db", db, "-refresh-ttl", "-1h"}, nil, "refresh token lifetime"},
		{"unparsable ttl", []string{"-db", db}, map[string]string{"AUTH_REFRESH_TTL": "forever"}, "AUTH_REFRESH_TTL"},
		{"zero grant max age", []string{"-db", db}, map[string]string{"AUTH_GRANT_MAX_AGE": "0s"}, "grant maximum age"},
		{"unparsable grant max age", []string{"-db", db}, map[string]string{"AUTH_GRANT_MAX_AGE": "90d"}, "AUTH_GRANT_MAX_AGE"},
		{"bcrypt cost out of range", []string{"-db", db}, map[string]string{"AUTH_BCRYPT_COST": "99"}, "bcrypt cost"},
		{"unknown db scheme", []string{"-db", "nonsense:x"}, nil, "unsupported"},
		{"db url with a password", []string{"-db", "postgress://admin:" + leaked + "@db.example/auth"}, nil, "unsupported"},
		{"invalid bootstrap secret", []string{"-db", db, "-bootstrap", badBootstrap}, map[string]string{"AUTH_BCRYPT_COST": "4"}, "client secret"},
		{"stray argument", []string{"-db", db, "extra"}, nil, "unexpected argument"},
		{"negative throttle refill", []string{"-db", db}, map[string]string{"AUTH_THROTTLE_PER_MINUTE": "-1"}, "throttle refill"},
		{"negative password concurrency", []string{"-db", db}, map[string]string{"AUTH_PASSWORD_CONCURRENCY": "-2"}, "password concurrency"},
		{"duration without a unit", []string{"-db", db}, map[string]string{"AUTH_ACCESS_TTL": "15"}, "AUTH_ACCESS_TTL: 15: a duration needs a unit, such as 15m"},
		{"access ttl above refresh ttl", []string{"-db", db}, map[string]string{"AUTH_ACCESS_TTL": "2h", "AUTH_REFRESH_TTL": "1h"}, "must not exceed the refresh token lifetime"},
		{"tls cert without key", []string{"-db", db, "-tls-cert", "/x.pem"}, nil, "both a certificate and a key"},
		{"unknown log format", []string{"-db", db}, map[string]string{"AUTH_LOG_FORMAT": "xml"}, "log format"},
		{"trusted proxy not an address", []string{"-db", db}, map[string]string{"AUTH_TRUSTED_PROXIES": "10.0.0.0/8, proxy.local"}, "trusted proxy"},
		{"old schema without auto-migrate", []string{"-db", "sqlite:" + filepath.Join(dir, "new.db")}, map[string]string{"AUTH_AUTO_MIGRATE": "false"}, `"authctl migrate up"`},
		// The key-encryption key is a secret: never a flag, and never quoted.
		{"key-encryption key as a flag", []string{"-db", db, "-key-encryption-key", leaked}, nil, "flag provided but not defined"},
		{"key-encryption key too short", []string{"-db", db}, map[string]string{"AUTH_KEY_ENCRYPTION_KEY": leaked}, "32 random bytes"},
		{"key-encryption key and its file", []string{"-db", db, "-key-encryption-key-file", "/nonexistent"},
			map[string]string{"AUTH_KEY_ENCRYPTION_KEY": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}, "not both"},
		{"unknown signing algorithm", []string{"-db", db}, map[string]string{"AUTH_SIGNING_ALG": "HS256"}, "signing algorithm"},
		{"JWT lifetime above an hour", []string{"-db", db}, map[string]string{"AUTH_JWT_ACCESS_TTL": "2h"}, "JWT access token lifetime"},
		{"default audience not a URI", []string{"-db", db}, map[string]string{"AUTH_DEFAULT_AUDIENCE": "items"}, "default audience"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// A run that wrongly succeeds serves until this deadline, then
			// returns nil, which fails the test below.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var stdout, stderr testkit.SyncBuffer
			args := append([]string{"authserver", "-addr", "127.0.0.1:0"}, tc.args...)
			err := run(ctx, args, getenvFrom(tc.env), &stdout, &stderr)
			if err == nil {
				t.Fatalf("run succeeded, want an error mentioning %q", tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %q, want one mentioning %q", err, tc.wantErr)
			}
			if out := stdout.String(); out != "" {
				t.Errorf("stdout %q: run must not report listening on a bad setting", out)
			}
			if strings.Contains(err.Error(), leaked) || strings.Contains(stderr.String(), leaked) {
				t.Errorf("a secret from the settings reached the error or the log: %q", err)
			}
		})
	}
}
