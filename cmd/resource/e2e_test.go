package main

// End-to-end: the real authorization server handler and the real resource
// service, talking HTTP through the real introspection client and cache, as
// separate deployments would.

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/example/authsvc/authserver"
	"github.com/example/authsvc/cmd/internal/dbopen"
	"github.com/example/authsvc/internal/obs"
	"github.com/example/authsvc/internal/revocation"
	"github.com/example/authsvc/internal/testkit"
	"github.com/example/authsvc/resource"
	"github.com/example/authsvc/store"
	"github.com/example/authsvc/store/cached"
	"github.com/example/authsvc/store/sqlite"
)

type e2e struct {
	t     *testing.T
	auth  *httptest.Server
	items *httptest.Server
	// clock is the cache's; the authorization server issues tokens on the
	// real clock, so it starts at the real time.
	clock *testkit.Clock
	// With the revocation stream (withStream): the resource's cache, the
	// introspection calls it made, and a switch that makes the
	// authorization server refuse the stream.
	cache        *resource.Cache
	calls        *atomic.Int64
	refuseStream atomic.Bool
	streamsMu    sync.Mutex
	streams      []context.CancelFunc // of the open streams, for severStreams
}

// severStreams ends every open revocation stream from the server's side,
// leaving the other connections be.
func (e *e2e) severStreams() {
	e.streamsMu.Lock()
	defer e.streamsMu.Unlock()
	for _, cancel := range e.streams {
		cancel()
	}
	e.streams = nil
}

// e2eSetup is what an option of newE2E may set: each service's logger
// and tracing.
type e2eSetup struct {
	authLogger, itemsLogger   *slog.Logger
	authTracing, itemsTracing obs.Tracing
	stream                    bool
}

// withStream runs the authorization server as cmd/authserver does, its
// store behind the introspection cache that feeds the revocation stream,
// and subscribes the resource's cache to the stream.
func withStream(s *e2eSetup) { s.stream = true }

func newE2E(t *testing.T, cacheTTL time.Duration, opts ...func(*e2eSetup)) *e2e {
	t.Helper()
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	setup := e2eSetup{authLogger: logger, itemsLogger: logger}
	for _, opt := range opts {
		opt(&setup)
	}
	dir := t.TempDir()

	authDB, err := sqlite.OpenAuth(ctx, filepath.Join(dir, "auth.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { authDB.Close() })
	const cost = 4
	for _, u := range []string{"alice", "bob"} {
		h, err := store.HashPassword(u+"-pw", cost)
		if err != nil {
			t.Fatal(err)
		}
		if err := authDB.CreateUser(ctx, store.User{Username: u, PasswordHash: h}); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []store.Client{
		{ID: "app", SecretHash: store.HashClientSecret("app-secret"), GrantTypes: []string{"password", "refresh_token", "client_credentials"}, Scopes: []string{"items:read", "items:write"}},
		// A client acting on its own behalf: it must never see a user's
		// items. (No client may share a username: the store refuses it;
		// the resource service keeps them apart as well, see resource.)
		{ID: "svc", SecretHash: store.HashClientSecret("svc-client-secret"), GrantTypes: []string{"client_credentials"}, Scopes: []string{"items:read", "items:write"}},
		{ID: "rs", SecretHash: store.HashClientSecret("rs-secret"), GrantTypes: []string{"client_credentials"}, Introspect: true},
	} {
		if err := authDB.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	e := &e2e{t: t, clock: testkit.NewClock()}
	e.clock.Set(time.Now())
	var authStore store.AuthStore = authDB
	if setup.authTracing.Provider != nil {
		authStore = dbopen.TraceAuth(authDB, setup.authTracing.Provider)
	}
	authCfg := authserver.Config{
		Issuer: "http://auth.test", AccessTTL: 15 * time.Minute, RefreshTTL: time.Hour, BcryptCost: cost,
		Lockout: store.LoginPolicy{Threshold: 5, Lockout: time.Minute, MaxLockout: time.Hour},
		Tracing: setup.authTracing,
	}
	var hub *revocation.Hub
	if setup.stream {
		hub = revocation.NewHub(0, 0)
		authStore = cached.New(authStore, cached.Config{Current: true, OnInvalidate: hub.Publish})
		authCfg.Revocations, authCfg.RevocationHeartbeat = hub, 100*time.Millisecond
	}
	authHandler, err := authserver.NewServer(setup.authLogger, authStore, authCfg)
	if err != nil {
		t.Fatal(err)
	}
	e.auth = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/revocations" {
			if e.refuseStream.Load() {
				http.Error(w, "refused by the test", http.StatusServiceUnavailable)
				return
			}
			ctx, cancel := context.WithCancel(r.Context())
			defer cancel()
			e.streamsMu.Lock()
			e.streams = append(e.streams, cancel)
			e.streamsMu.Unlock()
			r = r.WithContext(ctx)
		}
		authHandler.ServeHTTP(w, r)
	}))
	t.Cleanup(e.auth.Close)
	if hub != nil {
		// Streams never go idle: end them before Close waits for them.
		t.Cleanup(hub.Close)
	}

	itemsDB, err := sqlite.OpenItems(ctx, filepath.Join(dir, "items.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { itemsDB.Close() })
	ic, err := resource.NewIntrospectionClient(resource.IntrospectionClientConfig{
		URL: e.auth.URL + "/introspect", ClientID: "rs", ClientSecret: "rs-secret", Timeout: 2 * time.Second,
		Tracing: setup.itemsTracing,
	})
	if err != nil {
		t.Fatal(err)
	}
	e.calls = &atomic.Int64{}
	cache := resource.NewCache(counted{ic, e.calls}, resource.CacheConfig{TTL: cacheTTL, Now: e.clock.Now})
	e.items = httptest.NewServer(resource.NewServer(setup.itemsLogger, itemsDB, cache, resource.WithTracing(setup.itemsTracing)))
	t.Cleanup(e.items.Close)
	if setup.stream {
		e.cache = cache
		stream, err := ic.RevocationStream(e.auth.URL+"/revocations", 0)
		if err != nil {
			t.Fatal(err)
		}
		stream.Retry = 20 * time.Millisecond
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		wg.Go(func() { stream.Run(ctx, cache, nil) })
		t.Cleanup(wg.Wait)
		t.Cleanup(cancel)
	}
	return e
}

// counted counts the introspection calls that reach the authorization
// server.
type counted struct {
	resource.Introspector
	n *atomic.Int64
}

func (c counted) Introspect(ctx context.Context, token string) (resource.Introspection, error) {
	c.n.Add(1)
	return c.Introspector.Introspect(ctx, token)
}

func (e *e2e) post(path string, form url.Values, user, pass string) map[string]any {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.auth.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	if resp.StatusCode != 200 {
		e.t.Fatalf("%s: %d %v", path, resp.StatusCode, m)
	}
	return m
}

func (e *e2e) login(user string) (access, refresh string) {
	e.t.Helper()
	m := e.post("/token", url.Values{"grant_type": {"password"}, "username": {user}, "password": {user + "-pw"}}, "app", "app-secret")
	return m["access_token"].(string), m["refresh_token"].(string)
}

func (e *e2e) call(method, path, token, body string) (int, http.Header, string) {
	e.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, e.items.URL+path, r)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = io.Copy(&buf, resp.Body)
	return resp.StatusCode, resp.Header, buf.String()
}

func TestEndToEndItems(t *testing.T) {
	e := newE2E(t, 0)
	alice, aliceRefresh := e.login("alice")
	bob, _ := e.login("bob")

	status, hdr, body := e.call("POST", "/items", alice, `{"name":"apple"}`)
	if status != 201 || hdr.Get("Location") == "" {
		t.Fatalf("create: %d %s", status, body)
	}
	var item struct{ ID, Name string }
	if err := json.Unmarshal([]byte(body), &item); err != nil || item.Name != "apple" {
		t.Fatalf("item %s: %v", body, err)
	}
	if status, _, body = e.call("GET", "/items", alice, ""); status != 200 || !strings.Contains(body, "apple") {
		t.Fatalf("alice list: %d %s", status, body)
	}
	// Bob sees none of alice's items; her item is 404 to him, like a missing one.
	if status, _, body = e.call("GET", "/items", bob, ""); status != 200 || strings.Contains(body, "apple") {
		t.Fatalf("bob list: %d %s", status, body)
	}
	if status, _, _ = e.call("GET", "/items/"+item.ID, bob, ""); status != 404 {
		t.Fatalf("bob get alice's item: %d", status)
	}
	if status, _, _ = e.call("DELETE", "/items/"+item.ID, bob, ""); status != 404 {
		t.Fatalf("bob delete alice's item: %d", status)
	}
	// A client's own token is another owner than any user.
	cc := e.post("/token", url.Values{"grant_type": {"client_credentials"}}, "svc", "svc-client-secret")["access_token"].(string)
	if status, _, body = e.call("GET", "/items", cc, ""); status != 200 || strings.Contains(body, "apple") {
		t.Fatalf("client svc list: %d %s", status, body)
	}
	// A refresh token is not a bearer token.
	if status, hdr, _ = e.call("GET", "/items", aliceRefresh, ""); status != 401 || !strings.Contains(hdr.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Fatalf("refresh token as bearer: %d %v", status, hdr)
	}
	if status, _, _ = e.call("DELETE", "/items/"+item.ID, alice, ""); status != 204 {
		t.Fatalf("delete: %d", status)
	}
	if status, _, _ = e.call("GET", "/items/"+item.ID, alice, ""); status != 404 {
		t.Fatalf("get deleted: %d", status)
	}

	// Revoke the grant: the access token stops working (no cache here).
	e.post("/revoke", url.Values{"token": {aliceRefresh}}, "app", "app-secret")
	if status, hdr, _ = e.call("GET", "/items", alice, ""); status != 401 || !strings.Contains(hdr.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Fatalf("after revocation: %d %v", status, hdr)
	}
	// No token: a bare challenge.
	if status, hdr, _ = e.call("GET", "/items", "", ""); status != 401 || hdr.Get("WWW-Authenticate") != `Bearer realm="items"` {
		t.Fatalf("no token: %d %v", status, hdr)
	}
}

func TestEndToEndRevocationVisibleAfterCacheTTL(t *testing.T) {
	e := newE2E(t, 10*time.Second)
	alice, refresh := e.login("alice")
	if status, _, _ := e.call("GET", "/items", alice, ""); status != 200 {
		t.Fatal(status)
	}
	e.post("/revoke", url.Values{"token": {refresh}}, "app", "app-secret")
	// Within the TTL the cached answer still serves (the documented trade-off)...
	if status, _, _ := e.call("GET", "/items", alice, ""); status != 200 {
		t.Fatalf("within TTL: %d", status)
	}
	// ...and after it, the revocation is seen.
	e.clock.Advance(11 * time.Second)
	if status, _, _ := e.call("GET", "/items", alice, ""); status != 401 {
		t.Fatalf("after TTL: %d", status)
	}
}

func TestEndToEndAuthServerDown(t *testing.T) {
	e := newE2E(t, 0)
	alice, _ := e.login("alice")
	e.auth.Close()
	status, hdr, body := e.call("GET", "/items", alice, "")
	if status != 503 || hdr.Get("Retry-After") == "" {
		t.Fatalf("authorization server down: %d %v %s", status, hdr, body)
	}
}

// TestEndToEndRevocationPushed: with the revocation stream up, a revoked
// token is refused at the resource within milliseconds although its answer
// was cached, and answers are kept past the TTL; with the stream severed
// the resource flushes and the TTL applies; restored, it first hears what
// it missed, then keeps answers until exp again.
func TestEndToEndRevocationPushed(t *testing.T) {
	e := newE2E(t, 10*time.Second, withStream)
	waitStreaming := func(want bool) {
		t.Helper()
		if !testkit.Poll(10*time.Second, nil, func() bool { return e.cache.Streaming() == want }) {
			t.Fatalf("streaming = %v after 10 s, want %v", e.cache.Streaming(), want)
		}
	}
	waitStreaming(true)
	get := func(token string, status int, calls int64) {
		t.Helper()
		if got, _, body := e.call("GET", "/items", token, ""); got != status {
			t.Fatalf("GET /items: %d %s, want %d", got, body, status)
		}
		if got := e.calls.Load(); got != calls {
			t.Fatalf("introspection calls %d, want %d", got, calls)
		}
	}
	refusedWithin := func(what, token string) {
		t.Helper()
		start := time.Now()
		if !testkit.Poll(5*time.Second, nil, func() bool {
			status, _, _ := e.call("GET", "/items", token, "")
			return status == http.StatusUnauthorized
		}) {
			t.Fatalf("%s: still accepted at the resource 5 s after the revocation", what)
		}
		t.Logf("%s: refused at the resource %v after the revocation returned", what, time.Since(start))
	}

	// Stream up: answers live past the TTL, and revocations arrive.
	alice, refresh := e.login("alice")
	get(alice, 200, 1)
	e.clock.Advance(11 * time.Second)
	get(alice, 200, 1)                                                     // past the TTL, still from the cache
	e.post("/revoke", url.Values{"token": {refresh}}, "app", "app-secret") // ends the grant
	refusedWithin("grant revoked", alice)
	bob, _ := e.login("bob")
	get(bob, 200, e.calls.Load()+1)
	e.post("/revoke", url.Values{"token": {bob}}, "app", "app-secret") // the access token alone
	refusedWithin("access token revoked", bob)

	// Severed and kept down: flushed, and the TTL applies.
	carol, _ := e.login("alice")
	get(carol, 200, e.calls.Load()+1)
	e.refuseStream.Store(true)
	e.severStreams()
	waitStreaming(false)
	n := e.calls.Load()
	get(carol, 200, n+1) // flushed
	get(carol, 200, n+1)
	e.clock.Advance(11 * time.Second)
	get(carol, 200, n+2) // the TTL again

	// A revocation while down is not heard: the TTL bounds it, as before
	// this stream existed...
	e.post("/revoke", url.Values{"token": {carol}}, "app", "app-secret")
	get(carol, 200, n+2)
	// ...until the stream is back: the missed event comes before ready,
	// so the revoked token is refused at once, before the TTL.
	e.refuseStream.Store(false)
	waitStreaming(true)
	get(carol, 401, n+3)

	// Caught up: until exp again.
	dave, _ := e.login("bob")
	get(dave, 200, n+4)
	e.clock.Advance(11 * time.Second)
	get(dave, 200, n+4)
}
