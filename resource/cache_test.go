package resource

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/example/authsvc/store"
)

// expectCalls checks that token gets status and the fake AS has been asked
// calls times in all.
func (e *env) expectCalls(token string, status int, calls int64) {
	e.t.Helper()
	rec := e.do(request{path: "/items", token: token})
	if rec.Code != status {
		e.t.Fatalf("status = %d, want %d; body %s", rec.Code, status, rec.Body)
	}
	if got := e.as.calls.Load(); got != calls {
		e.t.Fatalf("introspection calls = %d, want %d", got, calls)
	}
}

func TestCacheReusesPositiveAnswersUntilTTL(t *testing.T) {
	e := newEnv(t, envConfig{cacheTTL: 10 * time.Second})
	e.as.set("tok", userToken("alice", "items:read", e.clock.Now().Add(time.Hour)))

	e.expectCalls("tok", 200, 1)
	e.clock.Advance(9 * time.Second)
	e.expectCalls("tok", 200, 1)
	e.clock.Advance(time.Second)
	e.expectCalls("tok", 200, 2)
}

// Revocation at the authorization server shows here once the cached answer
// has aged out, and the "no" is not cached in its turn.
func TestRevocationVisibleAfterTTL(t *testing.T) {
	e := newEnv(t, envConfig{cacheTTL: 10 * time.Second})
	e.as.set("tok", userToken("alice", "items:read", e.clock.Now().Add(time.Hour)))

	e.expectCalls("tok", 200, 1)
	e.as.set("tok", nil) // revoked
	e.clock.Advance(5 * time.Second)
	e.expectCalls("tok", 200, 1) // still cached: the accepted staleness
	e.clock.Advance(5 * time.Second)
	e.expectCalls("tok", 401, 2)
	e.expectCalls("tok", 401, 3)
}

func TestCacheTTLBoundedByExp(t *testing.T) {
	e := newEnv(t, envConfig{cacheTTL: 10 * time.Second})
	// The AS keeps saying active even past exp; neither the cache nor the
	// middleware may believe it.
	e.as.set("tok", userToken("alice", "items:read", e.clock.Now().Add(3*time.Second)))

	e.expectCalls("tok", 200, 1)
	e.clock.Advance(2 * time.Second)
	e.expectCalls("tok", 200, 1)
	e.clock.Advance(time.Second) // exp reached: the entry is gone
	e.expectCalls("tok", 401, 2)
	if n := e.cache.Len(); n != 0 {
		t.Errorf("an expired token's answer was cached: %d entries", n)
	}
}

func TestNoNegativeCaching(t *testing.T) {
	e := newEnv(t, envConfig{})
	refresh := userToken("alice", "items:read", e.clock.Now().Add(time.Hour))
	refresh["token_use"] = "refresh_token"
	e.as.set("refresh", refresh)

	e.expectCalls("unknown", 401, 1)
	e.expectCalls("unknown", 401, 2)
	e.expectCalls("refresh", 401, 3)
	e.expectCalls("refresh", 401, 4)
	// A token that becomes known is accepted at once.
	e.as.set("unknown", userToken("alice", "items:read", e.clock.Now().Add(time.Hour)))
	e.expectCalls("unknown", 200, 5)
	e.expectCalls("unknown", 200, 5)
}

func TestCacheDisabled(t *testing.T) {
	e := newEnv(t, envConfig{cacheTTL: noCache})
	e.as.set("tok", userToken("alice", "items:read", e.clock.Now().Add(time.Hour)))
	e.expectCalls("tok", 200, 1)
	e.expectCalls("tok", 200, 2)
	if n := e.cache.Len(); n != 0 {
		t.Errorf("cache disabled but holds %d entries", n)
	}
}

// Scope is checked on the cached answer too: a read-only token cached by
// GET is still refused for POST.
func TestCachedAnswerStillScoped(t *testing.T) {
	e := newEnv(t, envConfig{})
	e.as.set("ro", userToken("alice", "items:read", e.clock.Now().Add(time.Hour)))
	e.expectCalls("ro", 200, 1)
	rec := e.do(request{method: http.MethodPost, path: "/items", token: "ro", body: `{"name":"x"}`})
	if rec.Code != http.StatusForbidden || e.as.calls.Load() != 1 {
		t.Fatalf("POST with cached read-only token: %d, %d calls", rec.Code, e.as.calls.Load())
	}
}

func TestCacheKeysAreTokenHashes(t *testing.T) {
	e := newEnv(t, envConfig{})
	const token = "raw-token-value"
	e.as.set(token, userToken("alice", "items:read", e.clock.Now().Add(time.Hour)))
	e.expectCalls(token, 200, 1)
	keys := e.cache.entries.Keys()
	hexSHA256 := regexp.MustCompile(`^[0-9a-f]{64}$`)
	if len(keys) != 1 || !hexSHA256.MatchString(keys[0]) || strings.Contains(keys[0], token) {
		t.Fatalf("cache keys = %q, want one hex SHA-256", keys)
	}
	if keys[0] != store.HashToken(token) {
		t.Errorf("key %s is not the token's SHA-256", keys[0])
	}
}

// N concurrent requests with one uncached token make one introspection call.
func TestConcurrentRequestsShareOneIntrospection(t *testing.T) {
	const n = 50
	e := newEnv(t, envConfig{})
	e.as.set("tok", userToken("alice", "items:read", e.clock.Now().Add(time.Hour)))

	// Hold the AS's answer until every request has entered the service,
	// so they overlap the one call rather than find it cached.
	release := make(chan struct{})
	e.as.mu.Lock()
	e.as.release = release
	e.as.mu.Unlock()
	var entered sync.WaitGroup
	entered.Add(n)
	handler := e.handler
	e.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered.Done()
		handler.ServeHTTP(w, r)
	})

	statuses := make([]int, n)
	var done sync.WaitGroup
	for i := range n {
		done.Go(func() {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodGet, "/items", nil)
			req.Header.Set("Authorization", "Bearer tok")
			e.handler.ServeHTTP(rec, req)
			statuses[i] = rec.Code
		})
	}
	entered.Wait()
	close(release)
	done.Wait()

	for i, s := range statuses {
		if s != http.StatusOK {
			t.Errorf("request %d: status %d", i, s)
		}
	}
	if got := e.as.calls.Load(); got != 1 {
		t.Fatalf("introspection calls = %d, want 1", got)
	}
}

// A caller that gives up does not cancel the call the others wait for.
func TestAbandonedCallerDoesNotCancelTheFlight(t *testing.T) {
	as := newFakeAS(t)
	as.set("tok", userToken("alice", "items:read", time.Now().Add(time.Hour)))
	release, started := make(chan struct{}), make(chan struct{}, 1)
	as.release, as.started = release, started
	client, err := NewIntrospectionClient(IntrospectionClientConfig{URL: as.URL(), ClientID: testClientID, ClientSecret: testClientSecret})
	if err != nil {
		t.Fatal(err)
	}
	cache := NewCache(client, CacheConfig{TTL: time.Minute})

	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() {
		_, err := cache.Introspect(ctx, "tok")
		first <- err
	}()
	<-started
	second := make(chan Introspection, 1)
	go func() {
		in, _ := cache.Introspect(context.Background(), "tok")
		second <- in
	}()
	cancel()
	if err := <-first; !errors.Is(err, context.Canceled) {
		t.Fatalf("abandoned caller: %v", err)
	}
	close(release)
	if in := <-second; !in.Active {
		t.Fatalf("waiting caller got %+v", in)
	}
	if got := as.calls.Load(); got != 1 {
		t.Errorf("calls = %d, want 1", got)
	}
}
