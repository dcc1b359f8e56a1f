package resource

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/example/authsvc/internal/obs"
	"github.com/example/authsvc/internal/promtest"
	"github.com/example/authsvc/internal/testkit"
)

func TestMetrics(t *testing.T) {
	reg := obs.NewRegistry()
	e := newEnv(t, envConfig{metrics: NewMetrics(reg)})
	exp := e.clock.Now().Add(time.Hour)
	e.as.set("good", userToken("alice", ScopeRead, exp))
	for range 3 {
		if rec := e.do(request{path: "/items", token: "good"}); rec.Code != 200 {
			t.Fatalf("GET /items: %d", rec.Code)
		}
	}
	e.do(request{path: "/items/42", token: "good"})
	e.do(request{path: "/nowhere/secret-looking-thing"})
	e.as.setStatus(http.StatusInternalServerError)
	if rec := e.do(request{path: "/items", token: "other"}); rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("AS failing: %d", rec.Code)
	}

	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	m := promtest.Parse(t, rec.Body)
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"authsvc_introspection_cache_requests_total", map[string]string{"result": "miss"}, 2},
		{"authsvc_introspection_cache_requests_total", map[string]string{"result": "hit"}, 3},
		{"authsvc_introspection_duration_seconds", nil, 2},
		{"authsvc_introspection_errors_total", nil, 1},
		{"authsvc_http_requests_total", map[string]string{"handler": "/items", "code": "200"}, 3},
		{"authsvc_http_requests_total", map[string]string{"handler": "/items/:id", "code": "404"}, 1},
		{"authsvc_http_requests_total", map[string]string{"handler": "unknown", "code": "404"}, 1},
		{"authsvc_http_requests_total", map[string]string{"handler": "/items", "code": "503"}, 1},
		{"authsvc_http_request_duration_seconds", map[string]string{"handler": "/items"}, 4},
		{"authsvc_build_info", nil, 1},
	} {
		if got, found := m.Value(c.name, c.labels); !found || got != c.want {
			t.Errorf("%s%v = %v (found %v), want %v", c.name, c.labels, got, found, c.want)
		}
	}
	if strings.Contains(e.logs.String(), "secret-looking") {
		t.Error("an unknown path was logged")
	}
}

func TestRequestIDGoesToIntrospection(t *testing.T) {
	e := newEnv(t, envConfig{cacheTTL: noCache})
	e.as.set("good", userToken("alice", ScopeRead, e.clock.Now().Add(time.Hour)))
	rec := e.do(request{path: "/items", token: "good", headers: map[string]string{"X-Request-Id": "trace-me.1"}})
	if rec.Code != 200 || rec.Header().Get("X-Request-Id") != "trace-me.1" {
		t.Fatalf("%d, X-Request-Id %q", rec.Code, rec.Header().Get("X-Request-Id"))
	}
	e.as.mu.Lock()
	got := e.as.lastID
	e.as.mu.Unlock()
	if got != "trace-me.1" {
		t.Errorf("introspection call carried X-Request-Id %q, want trace-me.1", got)
	}
	// A forged id is replaced, and the replacement is sent on.
	rec = e.do(request{path: "/items", token: "good", headers: map[string]string{"X-Request-Id": "bad id\n"}})
	id := rec.Header().Get("X-Request-Id")
	e.as.mu.Lock()
	got = e.as.lastID
	e.as.mu.Unlock()
	if id == "" || id == "bad id\n" || got != id {
		t.Errorf("answered id %q, introspection got %q", id, got)
	}
}

func TestCORSOnItems(t *testing.T) {
	const allowed = "https://app.example.test"
	e := newEnv(t, envConfig{opts: []Option{WithCORS([]string{allowed})}})
	preflight := func(path, origin string) *httptest.ResponseRecorder {
		return e.doRaw(request{method: http.MethodOptions, path: path}, func(r *http.Request) {
			r.Header.Set("Origin", origin)
			r.Header.Set("Access-Control-Request-Method", "POST")
			r.Header.Set("Access-Control-Request-Headers", "authorization,content-type") // as browsers send it
		})
	}
	rec := preflight("/items", allowed)
	if rec.Code != http.StatusNoContent || rec.Header().Get("Access-Control-Allow-Origin") != allowed ||
		!strings.Contains(rec.Header().Get("Access-Control-Allow-Methods"), "POST") {
		t.Errorf("preflight from %s: %d %v", allowed, rec.Code, rec.Header())
	}
	if rec := preflight("/items", "https://evil.example.test"); rec.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("preflight from another origin: %v", rec.Header())
	}
	if rec := preflight("/healthz", allowed); rec.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("/healthz is CORS-enabled: %v", rec.Header())
	}
}

func TestReadinessChecksCredentials(t *testing.T) {
	clock := testkit.NewClock()
	var fail error
	calls := 0
	check := CachedCheck(func(context.Context) error { calls++; return fail }, clock.Now)
	e := newEnv(t, envConfig{opts: []Option{WithReadiness(check)}})
	ready := func() int { return e.do(request{path: "/readyz"}).Code }

	if got := ready(); got != 200 {
		t.Fatalf("readyz = %d, want 200", got)
	}
	fail = errors.New("credentials refused")
	if got := ready(); got != 200 || calls != 1 {
		t.Fatalf("readyz within the cache age = %d after %d checks, want the cached 200 after 1", got, calls)
	}
	clock.Advance(MaxReadinessAge)
	if got := ready(); got != http.StatusServiceUnavailable {
		t.Fatalf("readyz after %v = %d, want 503", MaxReadinessAge, got)
	}
	if got := e.do(request{path: "/healthz"}).Code; got != 200 {
		t.Errorf("healthz = %d while not ready, want 200", got)
	}
}

func TestCheckCredentials(t *testing.T) {
	as := newFakeAS(t)
	client, err := NewIntrospectionClient(IntrospectionClientConfig{URL: as.URL(), ClientID: testClientID, ClientSecret: testClientSecret})
	if err != nil {
		t.Fatal(err)
	}
	if err := client.CheckCredentials(t.Context()); err != nil {
		t.Fatalf("CheckCredentials against a working AS: %v", err)
	}
	as.setStatus(http.StatusUnauthorized)
	if err := client.CheckCredentials(t.Context()); !errors.Is(err, ErrClientRejected) {
		t.Errorf("CheckCredentials with refused credentials = %v, want ErrClientRejected", err)
	}
}

// With tracing off the service records no span, but a caller's trace
// context still reaches the authorization server with the introspection.
func TestTraceContextPassesThroughWithTracingOff(t *testing.T) {
	e := newEnv(t, envConfig{cacheTTL: noCache, tracing: obs.NoTracing()})
	e.as.set("good", userToken("alice", ScopeRead, e.clock.Now().Add(time.Hour)))
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	lastTP := func() string {
		e.as.mu.Lock()
		defer e.as.mu.Unlock()
		return e.as.lastTP
	}
	if rec := e.do(request{path: "/items", token: "good", headers: map[string]string{"traceparent": tp}}); rec.Code != 200 {
		t.Fatalf("status %d", rec.Code)
	}
	if got := lastTP(); got != tp {
		t.Errorf("introspection carried traceparent %q, want %q", got, tp)
	}
	if rec := e.do(request{path: "/items", token: "good"}); rec.Code != 200 {
		t.Fatalf("status %d", rec.Code)
	}
	if got := lastTP(); got != "" {
		t.Errorf("a request without a trace context sent traceparent %q", got)
	}
}
