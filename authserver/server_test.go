package authserver_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/example/authsvc/authserver"
	"github.com/example/authsvc/internal/revocation"
	"github.com/example/authsvc/internal/testkit"
	"github.com/example/authsvc/store"
	"github.com/example/authsvc/store/cached"
	"github.com/example/authsvc/store/postgres"
	"github.com/example/authsvc/store/postgres/pgtest"
	"github.com/example/authsvc/store/sqlite"
)

const (
	handlerCost = 4 // bcrypt.MinCost: tests only
	confSecret  = "s3cr+t/with=odd%:chars"
	roSecret    = "read-only-secret-0123456789abcdef"
	rsSecret    = "resource-server-secret-0123456789"
	alicePass   = "correct horse battery staple"
)

// countingStore observes calls the tests must prove did or did not happen,
// and injects failures.
type countingStore struct {
	store.AuthStore
	beginLogins   atomic.Int64
	listClients   atomic.Int64
	failGetClient atomic.Bool // GetClient and IntrospectionLookup fail
	onBeginLogin  func()      // runs after BeginLogin; not concurrency-safe to change mid-test
	// beforeStore runs before CreateTokens and RotateRefreshToken: between
	// a grant's checks and its insert, where a racing change would land.
	beforeStore func()
}

func (s *countingStore) CreateTokens(ctx context.Context, v store.Versions, tokens ...store.Token) error {
	if s.beforeStore != nil {
		s.beforeStore()
	}
	return s.AuthStore.CreateTokens(ctx, v, tokens...)
}

func (s *countingStore) RotateRefreshToken(ctx context.Context, familyID, oldHash string, now time.Time, v store.Versions, tokens ...store.Token) error {
	if s.beforeStore != nil {
		s.beforeStore()
	}
	return s.AuthStore.RotateRefreshToken(ctx, familyID, oldHash, now, v, tokens...)
}

func (s *countingStore) BeginLogin(ctx context.Context, u string, now time.Time, p store.LoginPolicy) (store.LoginAttempt, error) {
	s.beginLogins.Add(1)
	ok, err := s.AuthStore.BeginLogin(ctx, u, now, p)
	if s.onBeginLogin != nil {
		s.onBeginLogin()
	}
	return ok, err
}

func (s *countingStore) ListClients(ctx context.Context) ([]store.Client, error) {
	s.listClients.Add(1)
	return s.AuthStore.ListClients(ctx)
}

func (s *countingStore) GetClient(ctx context.Context, id string) (store.Client, error) {
	if s.failGetClient.Load() {
		return store.Client{}, errors.New("disk on fire: /var/lib/secret-path")
	}
	return s.AuthStore.GetClient(ctx, id)
}

func (s *countingStore) IntrospectionLookup(ctx context.Context, clientID, tokenHash string) (store.Client, store.Token, bool, error) {
	if s.failGetClient.Load() {
		return store.Client{}, store.Token{}, false, errors.New("disk on fire: /var/lib/secret-path")
	}
	return s.AuthStore.IntrospectionLookup(ctx, clientID, tokenHash)
}

type env struct {
	t      testing.TB
	h      http.Handler
	st     *countingStore
	clock  *testkit.Clock
	dbPath string
}

// envSetup is what an option of newEnv may change.
type envSetup struct {
	cfg    *authserver.Config
	logger *slog.Logger
	// open opens the store; nil means a SQLite file in a temp dir.
	open func(t testing.TB) store.AuthStore
	// prepare runs once the store holds the test users and clients, just
	// before the server is made.
	prepare []func(t testing.TB, db store.AuthStore, cfg *authserver.Config)
	// hub, if set, gets the cache's invalidations and is served at GET
	// /revocations (withRevocations).
	hub *revocation.Hub
}

// onPostgres is the option of newEnv that runs it on a fresh PostgreSQL
// database; the test skips without TEST_POSTGRES_URL.
func onPostgres(s *envSetup) {
	s.open = func(t testing.TB) store.AuthStore {
		db, err := postgres.OpenAuth(context.Background(), pgtest.FreshDatabase(t, "authsvc_as_"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
}

// onEachBackend runs test on SQLite and on PostgreSQL.
func onEachBackend(t *testing.T, test func(t *testing.T, backend func(*envSetup))) {
	t.Run("sqlite", func(t *testing.T) { test(t, func(*envSetup) {}) })
	t.Run("postgres", func(t *testing.T) { test(t, onPostgres) })
}

func newEnv(t testing.TB, opts ...func(*envSetup)) *env {
	t.Helper()
	ctx := context.Background()
	clk := testkit.NewClock()
	cfg := authserver.Config{
		Issuer:     "https://auth.example.test",
		AccessTTL:  15 * time.Minute,
		RefreshTTL: 24 * time.Hour,
		BcryptCost: handlerCost,
		Lockout:    store.LoginPolicy{Threshold: 5, Lockout: time.Minute, MaxLockout: time.Hour},
		// These tests fail logins on purpose, in parallel, all from one
		// address; abuse_test.go tests the throttle and the pool.
		ThrottleBurst:       1000,
		PasswordConcurrency: 64,
		Now:                 clk.Now,
	}
	setup := envSetup{cfg: &cfg, logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, opt := range opts {
		opt(&setup)
	}
	dbPath := filepath.Join(t.TempDir(), "auth.db")
	var db store.AuthStore
	if setup.open != nil {
		db = setup.open(t)
	} else {
		sq, err := sqlite.OpenAuth(ctx, dbPath)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sq.Close() })
		db = sq
	}
	// As in cmd/authserver: every change the server or a test makes goes
	// through the introspection cache, so every test here also checks
	// that the cache never answers what the store would refuse.
	cacheCfg := cached.Config{Current: true}
	if setup.hub != nil {
		cacheCfg.OnInvalidate = setup.hub.Publish
		cfg.Revocations, cfg.RevocationHeartbeat = setup.hub, 50*time.Millisecond
	}
	cache := cached.New(db, cacheCfg)
	st := &countingStore{AuthStore: cache}

	hash, err := store.HashPassword(alicePass, handlerCost)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []store.User{
		{Username: "alice", PasswordHash: hash, CreatedAt: clk.Now()},
		{Username: "dave", PasswordHash: hash, Disabled: true, CreatedAt: clk.Now()},
	} {
		if err := db.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []store.Client{
		{ID: "conf", SecretHash: store.HashClientSecret(confSecret), GrantTypes: []string{"password", "refresh_token", "client_credentials"}, Scopes: []string{"items:read", "items:write"}},
		{ID: "ro", SecretHash: store.HashClientSecret(roSecret), GrantTypes: []string{"password", "refresh_token"}, Scopes: []string{"items:read"}},
		{ID: "norefresh", SecretHash: store.HashClientSecret(roSecret), GrantTypes: []string{"password"}, Scopes: []string{"items:read"}},
		{ID: "pub", GrantTypes: []string{"password", "refresh_token"}, Scopes: []string{"items:read"}},
		{ID: "rs", SecretHash: store.HashClientSecret(rsSecret), GrantTypes: []string{"client_credentials"}, Introspect: true},
	} {
		c.CreatedAt = clk.Now()
		if err := db.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	for _, prepare := range setup.prepare {
		prepare(t, db, &cfg)
	}
	h, err := authserver.NewServer(setup.logger, st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, h: h, st: st, clock: clk, dbPath: dbPath}
}

// basic is client_secret_basic, encoded as RFC 6749 §2.3.1 says.
func basic(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (e *env) do(method, path, authz string, form url.Values) response {
	e.t.Helper()
	return e.doHeader(method, path, authz, form, nil)
}

// doHeader is do with more request headers.
func (e *env) doHeader(method, path, authz string, form url.Values, header http.Header) response {
	e.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req := httptest.NewRequest(method, path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	r := response{status: rec.Code, header: rec.Header(), raw: rec.Body.String()}
	if strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(rec.Body.Bytes(), &r.body); err != nil {
			e.t.Fatalf("%s %s: bad JSON %q: %v", method, path, rec.Body.String(), err)
		}
	}
	return r
}

func (e *env) token(authz string, form url.Values) response {
	e.t.Helper()
	return e.do(http.MethodPost, "/token", authz, form)
}

func (e *env) login(client, secret, username, password, scope string) response {
	e.t.Helper()
	f := url.Values{"grant_type": {"password"}, "username": {username}, "password": {password}}
	if scope != "" {
		f.Set("scope", scope)
	}
	return e.token(basic(client, secret), f)
}

func (e *env) mustLogin() (access, refresh string) {
	e.t.Helper()
	r := e.login("conf", confSecret, "alice", alicePass, "")
	if r.status != 200 {
		e.t.Fatalf("login: %d %s", r.status, r.raw)
	}
	return r.body["access_token"].(string), r.body["refresh_token"].(string)
}

func (e *env) refresh(client, secret, rt, scope string) response {
	e.t.Helper()
	f := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
	if scope != "" {
		f.Set("scope", scope)
	}
	return e.token(basic(client, secret), f)
}

func (e *env) introspect(tok string) map[string]any {
	e.t.Helper()
	r := e.do(http.MethodPost, "/introspect", basic("rs", rsSecret), url.Values{"token": {tok}})
	if r.status != 200 {
		e.t.Fatalf("introspect: %d %s", r.status, r.raw)
	}
	return r.body
}

func (e *env) active(tok string) bool {
	e.t.Helper()
	return e.introspect(tok)["active"] == true
}

// expectError checks an RFC 6749 §5.2 error response.
func expectError(t *testing.T, r response, status int, code string) {
	t.Helper()
	if r.status != status || r.body["error"] != code {
		t.Fatalf("got %d %s, want %d %s", r.status, r.raw, status, code)
	}
	if d, _ := r.body["error_description"].(string); d == "" || strings.ContainsAny(d, "\"\\") {
		t.Errorf("error_description %q: missing or has characters §5.2 forbids", d)
	}
	if r.header.Get("Cache-Control") != "no-store" || r.header.Get("Pragma") != "no-cache" {
		t.Errorf("missing no-store headers: %v", r.header)
	}
}

func TestTokenErrors(t *testing.T) {
	e := newEnv(t)
	pw := func(extra ...string) url.Values {
		f := url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {alicePass}}
		for i := 0; i+1 < len(extra); i += 2 {
			f.Set(extra[i], extra[i+1])
		}
		return f
	}
	cases := []struct {
		name      string
		authz     string
		form      url.Values
		status    int
		code      string
		challenge bool
	}{
		{"unknown client basic", basic("nobody", "x"), pw(), 401, "invalid_client", true},
		{"wrong secret basic", basic("conf", "wrong"), pw(), 401, "invalid_client", true},
		{"wrong secret post", "", pw("client_id", "conf", "client_secret", "wrong"), 401, "invalid_client", true},
		{"no client at all", "", pw(), 401, "invalid_client", true},
		{"confidential client without secret", "", pw("client_id", "conf"), 401, "invalid_client", true},
		{"public client with a secret", "", pw("client_id", "pub", "client_secret", "anything"), 401, "invalid_client", true},
		{"basic and post at once", basic("conf", confSecret), pw("client_secret", confSecret), 400, "invalid_request", false},
		{"basic id differs from body id", basic("conf", confSecret), pw("client_id", "ro"), 400, "invalid_request", false},
		{"secret not form-decoded", "Basic " + base64.StdEncoding.EncodeToString([]byte("conf:"+confSecret)), pw(), 401, "invalid_client", true},
		{"malformed basic", "Basic !!!", pw(), 401, "invalid_client", true},
		{"missing grant_type", basic("conf", confSecret), url.Values{"username": {"alice"}}, 400, "invalid_request", false},
		{"unknown grant", basic("conf", confSecret), url.Values{"grant_type": {"urn:example:no-such-grant"}}, 400, "unsupported_grant_type", false},
		{"grant the client lacks", basic("conf", confSecret), url.Values{"grant_type": {"authorization_code"}}, 400, "unauthorized_client", false},
		{"grant not allowed", basic("ro", roSecret), url.Values{"grant_type": {"client_credentials"}}, 400, "unauthorized_client", false},
		{"public client credentials", "", url.Values{"grant_type": {"client_credentials"}, "client_id": {"pub"}}, 400, "unauthorized_client", false},
		{"wrong password", basic("conf", confSecret), pw("password", "nope"), 400, "invalid_grant", false},
		{"missing password", basic("conf", confSecret), url.Values{"grant_type": {"password"}, "username": {"alice"}}, 400, "invalid_request", false},
		{"empty password is omitted (§3.2)", basic("conf", confSecret), pw("password", ""), 400, "invalid_request", false},
		{"scope outside client", basic("ro", roSecret), pw("scope", "items:write"), 400, "invalid_scope", false},
		{"malformed scope", basic("conf", confSecret), pw("scope", "items:read \"x"), 400, "invalid_scope", false},
		{"refresh without token", basic("conf", confSecret), url.Values{"grant_type": {"refresh_token"}}, 400, "invalid_request", false},
		{"unknown refresh token", basic("conf", confSecret), url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"nope"}}, 400, "invalid_grant", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.token(tc.authz, tc.form)
			expectError(t, r, tc.status, tc.code)
			if got := r.header.Get("WWW-Authenticate"); (got != "") != tc.challenge || (tc.challenge && !strings.HasPrefix(got, "Basic realm=")) {
				t.Errorf("WWW-Authenticate = %q, want challenge=%v", got, tc.challenge)
			}
		})
	}
}

func TestRequestShape(t *testing.T) {
	e := newEnv(t)
	do := func(method, target, ctype, body string) response {
		req := httptest.NewRequest(method, target, strings.NewReader(body))
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		req.Header.Set("Authorization", basic("conf", confSecret))
		rec := httptest.NewRecorder()
		e.h.ServeHTTP(rec, req)
		var m map[string]any
		_ = json.Unmarshal(rec.Body.Bytes(), &m)
		return response{status: rec.Code, header: rec.Header(), body: m, raw: rec.Body.String()}
	}
	form := "grant_type=client_credentials"
	cases := []struct {
		name, method, target, ctype, body string
		status                            int
	}{
		{"GET token", "GET", "/token?" + form, "", "", 405},
		{"credentials in query", "POST", "/token?client_secret=x", "application/x-www-form-urlencoded", form, 400},
		{"JSON body", "POST", "/token", "application/json", `{"grant_type":"client_credentials"}`, 400},
		{"no content type", "POST", "/token", "", form, 400},
		{"repeated parameter", "POST", "/token", "application/x-www-form-urlencoded", form + "&grant_type=password", 400},
		{"oversized body", "POST", "/token", "application/x-www-form-urlencoded", form + "&pad=" + strings.Repeat("a", 70<<10), 413},
		{"malformed form", "POST", "/token", "application/x-www-form-urlencoded", "grant_type=%zz", 400},
		{"GET introspect", "GET", "/introspect", "", "", 405},
		{"unknown path", "GET", "/nope", "", "", 404},
		{"charset parameter ok", "POST", "/token", "application/x-www-form-urlencoded; charset=UTF-8", form, 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := do(tc.method, tc.target, tc.ctype, tc.body)
			if r.status != tc.status {
				t.Fatalf("status %d (%s), want %d", r.status, r.raw, tc.status)
			}
			if r.status >= 400 && r.body["error"] == nil {
				t.Errorf("error without JSON error field: %q", r.raw)
			}
			if r.status == 405 && r.header.Get("Allow") == "" {
				t.Error("405 without Allow")
			}
		})
	}
}

func TestClientIsAuthenticatedBeforePassword(t *testing.T) {
	e := newEnv(t)
	for i := 0; i < 10; i++ {
		r := e.login("conf", "wrong-secret", "alice", "guess", "")
		expectError(t, r, 401, "invalid_client")
	}
	if n := e.st.beginLogins.Load(); n != 0 {
		t.Fatalf("%d password attempts reached the user check without client authentication", n)
	}
	// And the guesses did not lock alice.
	if r := e.login("conf", confSecret, "alice", alicePass, ""); r.status != 200 {
		t.Fatalf("login after unauthenticated guesses: %d %s", r.status, r.raw)
	}
}

func TestPasswordGrantSuccess(t *testing.T) {
	e := newEnv(t)
	r := e.login("conf", confSecret, "alice", alicePass, "")
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	if r.header.Get("Cache-Control") != "no-store" || r.header.Get("Pragma") != "no-cache" {
		t.Error("token response without no-store headers")
	}
	if r.body["token_type"] != "Bearer" || r.body["expires_in"] != float64(900) || r.body["scope"] != "items:read items:write" {
		t.Errorf("body %v", r.body)
	}
	at, _ := r.body["access_token"].(string)
	rt, _ := r.body["refresh_token"].(string)
	// The refresh token is <grant>.<random>: the grant it names, then its
	// own secret part.
	family, random, ok := strings.Cut(rt, ".")
	if !ok || family == "" {
		t.Error("refresh token does not name its grant")
	}
	for _, tok := range []string{at, random} {
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil || len(raw) < 16 {
			t.Error("token: want ≥128 bits of base64url")
		}
	}
	// Client-secret-post works as well, with the same secret.
	r = e.token("", url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {alicePass}, "client_id": {"conf"}, "client_secret": {confSecret}, "scope": {"items:read"}})
	if r.status != 200 || r.body["scope"] != "items:read" {
		t.Fatalf("client_secret_post: %d %s", r.status, r.raw)
	}
	// A public client identifies itself by client_id alone.
	r = e.token("", url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {alicePass}, "client_id": {"pub"}})
	if r.status != 200 {
		t.Fatalf("public client: %d %s", r.status, r.raw)
	}
	// A client not allowed refresh_token gets no refresh token.
	r = e.login("norefresh", roSecret, "alice", alicePass, "")
	if r.status != 200 || r.body["refresh_token"] != nil {
		t.Fatalf("norefresh: %d %s", r.status, r.raw)
	}
}

func TestEmptyParametersAreOmitted(t *testing.T) {
	e := newEnv(t)
	// RFC 6749 §3.2: an empty client_secret next to Basic is no second method.
	r := e.token(basic("conf", confSecret), url.Values{"grant_type": {"client_credentials"}, "client_secret": {""}, "client_id": {""}})
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	// An empty password is a malformed request, not a failed login.
	for i := 0; i < 6; i++ {
		expectError(t, e.login("conf", confSecret, "alice", "", ""), 400, "invalid_request")
	}
	if e.st.beginLogins.Load() != 0 {
		t.Fatal("an empty password counted as a login attempt")
	}
}

func TestDisabledUserTokensInactive(t *testing.T) {
	e := newEnv(t)
	at, rt := e.mustLogin()
	// Without this, introspection that never answers active would pass.
	if !e.active(at) || !e.active(rt) {
		t.Fatal("fresh tokens introspect inactive before the user is disabled")
	}
	u, err := e.st.GetUser(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	u.Disabled = true
	if err := e.st.UpdateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	if e.active(at) || e.active(rt) {
		t.Fatal("a disabled user's tokens still introspect active")
	}
}

func TestRehashAtConfiguredCost(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	u, err := e.st.GetUser(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	u.PasswordHash, err = bcrypt.GenerateFromPassword([]byte(alicePass), handlerCost+1)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.st.UpdateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	e.mustLogin()
	u, err = e.st.GetUser(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if cost, _ := bcrypt.Cost(u.PasswordHash); cost != handlerCost {
		t.Fatalf("hash cost after login = %d, want %d", cost, handlerCost)
	}
	e.mustLogin() // the new hash verifies
}

func TestClientCredentials(t *testing.T) {
	e := newEnv(t)
	r := e.token(basic("conf", confSecret), url.Values{"grant_type": {"client_credentials"}, "scope": {"items:read"}})
	if r.status != 200 || r.body["refresh_token"] != nil || r.body["scope"] != "items:read" {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	info := e.introspect(r.body["access_token"].(string))
	if info["sub"] != "conf" || info["username"] != nil || info["client_id"] != "conf" {
		t.Fatalf("client token introspection: %v", info)
	}
}

func TestSameAnswerForEveryBadLogin(t *testing.T) {
	e := newEnv(t)
	// Lock "locked" first.
	for i := 0; i < 5; i++ {
		e.login("conf", confSecret, "locked", "x", "")
	}
	var first string
	for _, tc := range []struct{ user, pass string }{
		{"alice", "wrong"}, {"nobody", "whatever"}, {"dave", alicePass}, {"locked", "x"},
		{strings.Repeat("u", 300), "x"},
	} {
		r := e.login("conf", confSecret, tc.user, tc.pass, "")
		expectError(t, r, 400, "invalid_grant")
		if first == "" {
			first = r.raw
		} else if r.raw != first {
			t.Errorf("%s: answer %q differs from %q", tc.user, r.raw, first)
		}
	}
}

func TestLockout(t *testing.T) {
	e := newEnv(t)
	for i := 0; i < 5; i++ {
		expectError(t, e.login("conf", confSecret, "alice", "wrong", ""), 400, "invalid_grant")
	}
	// Locked: even the right password is refused.
	expectError(t, e.login("conf", confSecret, "alice", alicePass, ""), 400, "invalid_grant")
	e.clock.Advance(61 * time.Second)
	if r := e.login("conf", confSecret, "alice", alicePass, ""); r.status != 200 {
		t.Fatalf("after the lockout: %d %s", r.status, r.raw)
	}
	// The success reset the count: four failures do not lock.
	for i := 0; i < 4; i++ {
		e.login("conf", confSecret, "alice", "wrong", "")
	}
	if r := e.login("conf", confSecret, "alice", alicePass, ""); r.status != 200 {
		t.Fatalf("after 4 failures: %d %s", r.status, r.raw)
	}
}

// A client hanging up while its correct password is being checked must not
// leave the attempt counted as a failure (nor earn a 500).
func TestHangUpDuringLoginIsNotAFailure(t *testing.T) {
	e := newEnv(t)
	for i := 0; i < 6; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		e.st.onBeginLogin = cancel
		f := url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {alicePass}}
		req := httptest.NewRequest(http.MethodPost, "/token", strings.NewReader(f.Encode())).WithContext(ctx)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", basic("conf", confSecret))
		rec := httptest.NewRecorder()
		e.h.ServeHTTP(rec, req)
		if rec.Code == http.StatusInternalServerError {
			t.Fatalf("hang-up answered 500: %s", rec.Body)
		}
	}
	e.st.onBeginLogin = nil
	if r := e.login("conf", confSecret, "alice", alicePass, ""); r.status != 200 {
		t.Fatalf("after hang-ups: %d %s", r.status, r.raw)
	}
}

func TestLockoutUnderParallelGuesses(t *testing.T) {
	e := newEnv(t)
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.login("conf", confSecret, "alice", "wrong", "")
		}()
	}
	wg.Wait()
	expectError(t, e.login("conf", confSecret, "alice", alicePass, ""), 400, "invalid_grant")
}

func TestRefreshRotation(t *testing.T) {
	e := newEnv(t)
	at, rt := e.mustLogin()
	r := e.refresh("conf", confSecret, rt, "")
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	at2, rt2 := r.body["access_token"].(string), r.body["refresh_token"].(string)
	if rt2 == "" || rt2 == rt || at2 == at {
		t.Fatal("refresh did not rotate")
	}
	if e.active(at) {
		t.Error("the old access token of a rotated grant is still active")
	}
	if e.active(rt) {
		t.Error("a rotated refresh token introspects active")
	}
	if !e.active(at2) || !e.active(rt2) {
		t.Fatal("new tokens inactive")
	}
	// Reuse of the rotated token revokes the whole grant (RFC 9700 §4.14.2).
	expectError(t, e.refresh("conf", confSecret, rt, ""), 400, "invalid_grant")
	if e.active(at2) || e.active(rt2) {
		t.Fatal("reuse did not revoke the grant")
	}
	expectError(t, e.refresh("conf", confSecret, rt2, ""), 400, "invalid_grant")
}

func TestRefreshScopeAndBinding(t *testing.T) {
	e := newEnv(t)
	r := e.login("conf", confSecret, "alice", alicePass, "items:read")
	rt := r.body["refresh_token"].(string)

	// Bound to its client (RFC 6749 §10.4).
	expectError(t, e.refresh("ro", roSecret, rt, ""), 400, "invalid_grant")
	// Never wider than the grant.
	expectError(t, e.refresh("conf", confSecret, rt, "items:read items:write"), 400, "invalid_scope")

	e2 := newEnv(t)
	_, rt = e2.mustLogin()
	r = e2.refresh("conf", confSecret, rt, "items:read")
	if r.status != 200 || r.body["scope"] != "items:read" {
		t.Fatalf("narrowing: %d %s", r.status, r.raw)
	}
	// The new refresh token keeps the original scope (RFC 6749 §6).
	if got := e2.introspect(r.body["refresh_token"].(string))["scope"]; got != "items:read items:write" {
		t.Errorf("rotated refresh token scope = %v", got)
	}
	if got := e2.introspect(r.body["access_token"].(string))["scope"]; got != "items:read" {
		t.Errorf("narrowed access token scope = %v", got)
	}
}

func TestRefreshOfDisabledUser(t *testing.T) {
	e := newEnv(t)
	_, rt := e.mustLogin()
	// The same refresh succeeds while the user is enabled: without this, a
	// refresh grant that always fails would pass.
	r := e.refresh("conf", confSecret, rt, "")
	if r.status != 200 {
		t.Fatalf("refresh of an enabled user: %d %s", r.status, r.raw)
	}
	rt = r.body["refresh_token"].(string)
	if !e.active(rt) {
		t.Fatal("rotated refresh token introspects inactive before the user is disabled")
	}
	u, err := e.st.GetUser(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	u.Disabled = true
	if err := e.st.UpdateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	expectError(t, e.refresh("conf", confSecret, rt, ""), 400, "invalid_grant")
}

func TestConcurrentRefreshOneWins(t *testing.T) {
	e := newEnv(t)
	_, rt := e.mustLogin()
	var wins atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := e.refresh("conf", confSecret, rt, "")
			switch {
			case r.status == 200:
				wins.Add(1)
			case r.status != 400 || r.body["error"] != "invalid_grant":
				t.Errorf("loser got %d %s", r.status, r.raw)
			}
		}()
	}
	wg.Wait()
	if n := wins.Load(); n != 1 {
		t.Fatalf("%d concurrent refreshes succeeded, want exactly 1", n)
	}
}

func TestExpiryAndCleanup(t *testing.T) {
	e := newEnv(t)
	at, rt := e.mustLogin()
	e.clock.Advance(15*time.Minute + time.Second)
	if e.active(at) {
		t.Fatal("expired access token active")
	}
	if !e.active(rt) {
		t.Fatal("refresh token expired with its access token")
	}
	e.clock.Advance(24 * time.Hour)
	if e.active(rt) {
		t.Fatal("expired refresh token active")
	}
	expectError(t, e.refresh("conf", confSecret, rt, ""), 400, "invalid_grant")
	n, err := authserver.CleanupOnce(context.Background(), e.st, 1, e.clock.Now())
	if err != nil || n != 2 {
		t.Fatalf("cleanup deleted %d (%v), want 2", n, err)
	}
}

func TestIntrospection(t *testing.T) {
	e := newEnv(t)
	at, rt := e.mustLogin()
	info := e.introspect(at)
	want := map[string]any{
		"active": true, "scope": "items:read items:write", "client_id": "conf", "username": "alice",
		"sub": "alice", "token_type": "Bearer", "iss": "https://auth.example.test", "token_use": "access_token",
		"iat": float64(e.clock.Now().Unix()), "exp": float64(e.clock.Now().Add(15 * time.Minute).Unix()),
	}
	for k, v := range want {
		if info[k] != v {
			t.Errorf("%s = %v, want %v", k, info[k], v)
		}
	}
	if got := e.introspect(rt)["token_use"]; got != "refresh_token" {
		t.Errorf("refresh token_use = %v", got)
	}
	for _, tok := range []string{"", "garbage", strings.Repeat("x", 5000), "💥"} {
		r := e.do("POST", "/introspect", basic("rs", rsSecret), url.Values{"token": {tok}})
		if tok == "" {
			expectError(t, r, 400, "invalid_request")
			continue
		}
		if r.status != 200 || strings.TrimSpace(r.raw) != `{"active":false}` {
			t.Errorf("token %.10q: %d %s", tok, r.status, r.raw)
		}
	}
	// Only clients with the permission.
	expectError(t, e.do("POST", "/introspect", basic("conf", confSecret), url.Values{"token": {at}}), 403, "unauthorized_client")
	expectError(t, e.do("POST", "/introspect", "", url.Values{"token": {at}, "client_id": {"pub"}}), 403, "unauthorized_client")
	expectError(t, e.do("POST", "/introspect", basic("rs", "wrong"), url.Values{"token": {at}}), 401, "invalid_client")
}

// TestIntrospectionErrorOrder: a request with several faults gets the
// answer of the first in the order client authentication, the token
// parameter, the permission, the token. The client and the token are read
// in one query; the order must not show it.
func TestIntrospectionErrorOrder(t *testing.T) {
	e := newEnv(t)
	at, _ := e.mustLogin()
	rs, conf := basic("rs", rsSecret), basic("conf", confSecret)
	for _, tc := range []struct {
		name         string
		authz        string
		form         url.Values
		status       int
		code, active string // code for an error, active for a 200
	}{
		{"valid", rs, url.Values{"token": {at}}, 200, "", "true"},
		{"unknown token", rs, url.Values{"token": {"not-a-token"}}, 200, "", "false"},
		{"malformed token", rs, url.Values{"token": {"tok\x00en"}}, 200, "", "false"},
		{"missing token", rs, url.Values{}, 400, "invalid_request", ""},
		{"no permission, valid token", conf, url.Values{"token": {at}}, 403, "unauthorized_client", ""},
		{"no permission, unknown token", conf, url.Values{"token": {"not-a-token"}}, 403, "unauthorized_client", ""},
		{"no permission, missing token", conf, url.Values{}, 400, "invalid_request", ""},
		{"public client, missing token", "", url.Values{"client_id": {"pub"}}, 400, "invalid_request", ""},
		{"wrong secret, valid token", basic("rs", "wrong"), url.Values{"token": {at}}, 401, "invalid_client", ""},
		{"wrong secret, missing token", basic("rs", "wrong"), url.Values{}, 401, "invalid_client", ""},
		{"unknown client, valid token", basic("nobody", "x"), url.Values{"token": {at}}, 401, "invalid_client", ""},
		{"unknown client, missing token", basic("nobody", "x"), url.Values{}, 401, "invalid_client", ""},
		{"malformed client, malformed token", basic("r\x00s", rsSecret), url.Values{"token": {"tok\x00en"}}, 401, "invalid_client", ""},
		{"no client", "", url.Values{"token": {at}}, 401, "invalid_client", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do("POST", "/introspect", tc.authz, tc.form)
			if tc.code != "" {
				expectError(t, r, tc.status, tc.code)
				return
			}
			if r.status != tc.status || fmt.Sprint(r.body["active"]) != tc.active {
				t.Errorf("%d %s, want %d active %s", r.status, r.raw, tc.status, tc.active)
			}
		})
	}
}

func TestRevocation(t *testing.T) {
	e := newEnv(t)
	at, rt := e.mustLogin()
	revoke := func(authz string, f url.Values) {
		t.Helper()
		if r := e.do("POST", "/revoke", authz, f); r.status != 200 {
			t.Fatalf("revoke: %d %s", r.status, r.raw)
		}
	}
	// Another client: 200, no effect.
	revoke(basic("ro", roSecret), url.Values{"token": {rt}})
	if !e.active(rt) || !e.active(at) {
		t.Fatal("another client's revocation had an effect")
	}
	revoke(basic("conf", confSecret), url.Values{"token": {"unknown"}, "token_type_hint": {"access_token"}})
	// Revoking the refresh token ends the grant, access token included.
	revoke(basic("conf", confSecret), url.Values{"token": {rt}, "token_type_hint": {"access_token"}})
	if e.active(rt) || e.active(at) {
		t.Fatal("refresh revocation did not cascade")
	}
	// Revoking an access token leaves its refresh token.
	at, rt = e.mustLogin()
	revoke(basic("conf", confSecret), url.Values{"token": {at}})
	if e.active(at) || !e.active(rt) {
		t.Fatal("access token revocation wrong")
	}
	// Public clients revoke their own tokens by client_id.
	r := e.token("", url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {alicePass}, "client_id": {"pub"}})
	revoke("", url.Values{"token": {r.body["refresh_token"].(string)}, "client_id": {"pub"}})
	if e.active(r.body["access_token"].(string)) {
		t.Fatal("public client revocation had no effect")
	}
	expectError(t, e.do("POST", "/revoke", basic("conf", "bad"), url.Values{"token": {rt}}), 401, "invalid_client")
	expectError(t, e.do("POST", "/revoke", basic("conf", confSecret), url.Values{}), 400, "invalid_request")
}

func TestMetadata(t *testing.T) {
	e := newEnv(t)
	r := e.do("GET", "/.well-known/oauth-authorization-server", "", nil)
	if r.status != 200 {
		t.Fatal(r.status)
	}
	for k, v := range map[string]string{
		"issuer": "https://auth.example.test", "token_endpoint": "https://auth.example.test/token",
		"introspection_endpoint": "https://auth.example.test/introspect", "revocation_endpoint": "https://auth.example.test/revoke",
	} {
		if r.body[k] != v {
			t.Errorf("%s = %v", k, r.body[k])
		}
	}
	if !strings.Contains(r.raw, `"scopes_supported":["items:read","items:write"]`) {
		t.Errorf("scopes: %s", r.raw)
	}
	if got := r.header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control %q", got)
	}
}

// Anyone may fetch the metadata: it is built from the client list at most
// once per metadataTTL, however many ask, and a change shows after that.
func TestMetadataListsClientsOncePerTTL(t *testing.T) {
	e := newEnv(t)
	get := func() response {
		t.Helper()
		r := e.do("GET", "/.well-known/oauth-authorization-server", "", nil)
		if r.status != 200 {
			t.Fatalf("status %d: %s", r.status, r.raw)
		}
		return r
	}
	first := get()
	if n := e.st.listClients.Load(); n != 1 {
		t.Fatalf("first request listed the clients %d times, want 1", n)
	}
	for range 20 {
		if r := get(); r.raw != first.raw {
			t.Fatalf("a cached answer differs:\n%s\n%s", r.raw, first.raw)
		}
	}
	if n := e.st.listClients.Load(); n != 1 {
		t.Errorf("21 requests within the TTL listed the clients %d times, want 1", n)
	}
	if err := e.st.CreateClient(t.Context(), store.Client{ID: "new", Scopes: []string{"zz:new"}, CreatedAt: e.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(10 * time.Second)
	if r := get(); !strings.Contains(r.raw, `"zz:new"`) {
		t.Errorf("a new client's scope is missing after the TTL: %s", r.raw)
	}
	if n := e.st.listClients.Load(); n != 2 {
		t.Errorf("after the TTL the clients were listed %d times in all, want 2", n)
	}
}

func TestStoreFailureIsOpaque500(t *testing.T) {
	e := newEnv(t)
	at, _ := e.mustLogin()
	if !e.active(at) {
		t.Fatal("a fresh token introspects inactive before the store fails")
	}
	e.st.failGetClient.Store(true)
	for name, r := range map[string]response{
		"token":      e.login("conf", confSecret, "alice", alicePass, ""),
		"introspect": e.do("POST", "/introspect", basic("rs", rsSecret), url.Values{"token": {at}}),
	} {
		expectError(t, r, 500, "server_error")
		if strings.Contains(r.raw, "disk") || strings.Contains(r.raw, "secret-path") {
			t.Fatalf("%s: cause leaked: %s", name, r.raw)
		}
	}
}

func TestDatabaseHoldsNoUsableSecret(t *testing.T) {
	e := newEnv(t)
	at, rt := e.mustLogin()
	if db, ok := e.st.AuthStore.(interface{ Close() error }); ok {
		db.Close() // flush the WAL into the main file
	}
	var all []byte
	for _, suffix := range []string{"", "-wal", "-shm"} {
		b, err := os.ReadFile(e.dbPath + suffix)
		if err == nil {
			all = append(all, b...)
		}
	}
	if len(all) == 0 {
		t.Fatal("read nothing")
	}
	for name, secret := range map[string]string{"access token": at, "refresh token": rt, "client secret": confSecret, "password": alicePass} {
		if strings.Contains(string(all), secret) {
			t.Errorf("the database file contains the %s in the clear", name)
		}
	}
}

func TestConfigValidateReportsAll(t *testing.T) {
	if err := (authserver.Config{Issuer: "https://a.test/tenant"}).Validate(); err == nil || !strings.Contains(err.Error(), "path") {
		t.Errorf("issuer with a path: %v", err)
	}
	err := authserver.Config{Issuer: "ftp://x?y", BcryptCost: 99}.Validate()
	if err == nil {
		t.Fatal("want errors")
	}
	for _, want := range []string{"issuer", "access token lifetime", "refresh token lifetime", "bcrypt cost", "lockout threshold", "lockout duration"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in %v", want, err)
		}
	}
}
