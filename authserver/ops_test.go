package authserver_test

import (
	"bufio"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/example/authsvc/authserver"
	"github.com/example/authsvc/internal/obs"
	"github.com/example/authsvc/internal/promtest"
	"github.com/example/authsvc/internal/testkit"
	"github.com/example/authsvc/store"
)

// opsEnv is newEnv with a registry and a JSON log to read back.
func opsEnv(t *testing.T, opts ...func(*envSetup)) (*env, *prometheus.Registry, *testkit.SyncBuffer) {
	t.Helper()
	reg := obs.NewRegistry()
	logs := &testkit.SyncBuffer{}
	logger, err := obs.NewLogger(logs, obs.FormatJSON, "authserver", slog.LevelInfo)
	if err != nil {
		t.Fatal(err)
	}
	opts = append([]func(*envSetup){func(s *envSetup) {
		s.cfg.Metrics = reg
		s.logger = logger
	}}, opts...)
	return newEnv(t, opts...), reg, logs
}

func scrape(t *testing.T, reg *prometheus.Registry) promtest.Metrics {
	t.Helper()
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	return promtest.Parse(t, rec.Body)
}

func logLines(t *testing.T, logs *testkit.SyncBuffer) []map[string]any {
	t.Helper()
	var lines []map[string]any
	sc := bufio.NewScanner(strings.NewReader(logs.String()))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line %q is not JSON: %v", sc.Text(), err)
		}
		lines = append(lines, m)
	}
	return lines
}

func TestMetricsAndAuditEvents(t *testing.T) {
	e, reg, logs := opsEnv(t)
	at, rt := e.mustLogin()
	if r := e.login("conf", confSecret, "alice", "wrong password", ""); r.status != 400 {
		t.Fatalf("bad login: %d", r.status)
	}
	r := e.refresh("conf", confSecret, rt, "")
	if r.status != 200 {
		t.Fatalf("refresh: %d %s", r.status, r.raw)
	}
	if r := e.refresh("conf", confSecret, rt, ""); r.status != 400 {
		t.Fatalf("reuse: %d", r.status)
	}
	at2, _ := e.mustLogin()
	if r := e.do("POST", "/revoke", basic("conf", confSecret), url.Values{"token": {at2}}); r.status != 200 {
		t.Fatalf("revoke: %d", r.status)
	}
	e.do("GET", "/no/such/path/"+at, "", nil)

	m := scrape(t, reg)
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"authsvc_tokens_issued_total", map[string]string{"grant_type": "password"}, 2},
		{"authsvc_tokens_issued_total", map[string]string{"grant_type": "refresh_token"}, 1},
		{"authsvc_login_failures_total", nil, 1},
		{"authsvc_refresh_reuse_detected_total", nil, 1},
		{"authsvc_lockouts_total", nil, 0},
		{"authsvc_password_checks_in_flight", nil, 0},
		{"authsvc_password_check_wait_seconds", nil, 3},
		{"authsvc_http_requests_total", map[string]string{"handler": "/token", "code": "200"}, 3},
		{"authsvc_http_requests_total", map[string]string{"handler": "/token", "code": "400"}, 2},
		{"authsvc_http_requests_total", map[string]string{"handler": "/revoke", "code": "200"}, 1},
		{"authsvc_http_requests_total", map[string]string{"handler": "unknown", "code": "404"}, 1},
		{"authsvc_http_request_duration_seconds", map[string]string{"handler": "/token"}, 5},
		{"authsvc_build_info", nil, 1},
		{"authsvc_throttled_total", map[string]string{"reason": "busy"}, 0},
	} {
		if got, found := m.Value(c.name, c.labels); !found || got != c.want {
			t.Errorf("%s%v = %v (found %v), want %v", c.name, c.labels, got, found, c.want)
		}
	}
	if _, ok := m["go_goroutines"]; !ok {
		t.Error("no Go runtime metrics")
	}
	for _, h := range m.Labels("authsvc_http_requests_total", "handler") {
		if strings.Contains(h, "no/such") {
			t.Errorf("raw path %q as a label", h)
		}
	}

	events := map[string]int{}
	for _, l := range logLines(t, logs) {
		for _, k := range []string{"time", "level", "msg", "service"} {
			if _, ok := l[k]; !ok {
				t.Errorf("log line without %s: %v", k, l)
			}
		}
		if l["msg"] == "request" && l["request_id"] == "" {
			t.Errorf("request line without request_id: %v", l)
		}
		if ev, ok := l["event"].(string); ok {
			events[ev]++
			if ev == "token_issued" && (l["client_id"] != "conf" || l["grant_type"] == "") {
				t.Errorf("token_issued without client or grant: %v", l)
			}
		}
	}
	want := map[string]int{"login_succeeded": 2, "login_failed": 1, "token_issued": 3, "refresh_reuse_detected": 1, "token_revoked": 1}
	for ev, n := range want {
		if events[ev] != n {
			t.Errorf("%d %s events, want %d (all: %v)", events[ev], ev, n, events)
		}
	}
	out := logs.String()
	for _, secret := range []string{at, rt, at2, confSecret, alicePass, "wrong password"} {
		if strings.Contains(out, secret) {
			t.Errorf("log holds a secret or token %q", secret)
		}
	}
}

func TestLockoutAndThrottleMetrics(t *testing.T) {
	e, reg, logs := opsEnv(t, func(s *envSetup) {
		s.cfg.Lockout.Threshold = 1
		s.cfg.ThrottleBurst = 5
	})
	// One failure locks a name, a user's or not; each later attempt is
	// refused as locked: two lock starts, three refusals.
	for range 2 {
		e.login("conf", confSecret, "ghost", "wrong", "")
	}
	for range 3 {
		e.login("conf", confSecret, "alice", "wrong", "")
	}
	// The source has used up its 5 failures: then 429.
	if r := e.login("conf", confSecret, "alice", "wrong", ""); r.status != http.StatusTooManyRequests {
		t.Fatalf("want 429, got %d", r.status)
	}
	m := scrape(t, reg)
	for name, want := range map[string]float64{
		"authsvc_lockouts_total":              2,
		"authsvc_login_locked_refusals_total": 3,
		"authsvc_login_failures_total":        5,
	} {
		if v, _ := m.Value(name, nil); v != want {
			t.Errorf("%s = %v, want %v", name, v, want)
		}
	}
	if v, _ := m.Value("authsvc_throttled_total", map[string]string{"reason": "throttled"}); v != 1 {
		t.Errorf("throttled_total{throttled} = %v, want 1", v)
	}
	if !strings.Contains(logs.String(), `"event":"login_locked"`) {
		t.Error("no login_locked event")
	}
}

func TestRequestIDKeptOrReplaced(t *testing.T) {
	e := newEnv(t)
	for _, c := range []struct{ in, want string }{
		{"abc.DEF_1-2", "abc.DEF_1-2"},
		{"has space", ""},
		{strings.Repeat("x", 65), ""},
	} {
		req := httptest.NewRequest("GET", "/healthz", nil)
		req.Header.Set("X-Request-Id", c.in)
		rec := httptest.NewRecorder()
		e.h.ServeHTTP(rec, req)
		got := rec.Header().Get("X-Request-Id")
		if c.want != "" && got != c.want {
			t.Errorf("X-Request-Id %q answered %q, want it kept", c.in, got)
		}
		if c.want == "" && (got == c.in || got == "") {
			t.Errorf("X-Request-Id %q answered %q, want a generated one", c.in, got)
		}
	}
}

func TestRevokeAnswersJSON(t *testing.T) {
	e := newEnv(t)
	at, _ := e.mustLogin()
	r := e.do("POST", "/revoke", basic("conf", confSecret), url.Values{"token": {at}})
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") || strings.TrimSpace(r.raw) != "{}" {
		t.Fatalf("revoke: %d %q %q, want 200 application/json {}", r.status, r.header.Get("Content-Type"), r.raw)
	}
}

func TestCORS(t *testing.T) {
	const allowed = "https://app.example.test"
	e := newEnv(t, func(s *envSetup) { s.cfg.CORSOrigins = []string{allowed} })
	preflight := func(path, origin, method string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodOptions, path, nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", method)
		req.Header.Set("Access-Control-Request-Headers", "authorization,content-type")
		rec := httptest.NewRecorder()
		e.h.ServeHTTP(rec, req)
		return rec
	}
	for _, c := range []struct{ path, method string }{
		{"/token", "POST"}, {"/revoke", "POST"}, {"/.well-known/oauth-authorization-server", "GET"},
	} {
		rec := preflight(c.path, allowed, c.method)
		h := rec.Header()
		if rec.Code != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != allowed ||
			!strings.Contains(h.Get("Access-Control-Allow-Methods"), c.method) ||
			!strings.Contains(strings.ToLower(h.Get("Access-Control-Allow-Headers")), "authorization") {
			t.Errorf("preflight %s from %s: %d %v", c.path, allowed, rec.Code, h)
		}
		if rec := preflight(c.path, "https://evil.example.test", c.method); rec.Header().Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("preflight %s from another origin got %v", c.path, rec.Header())
		}
	}
	if rec := preflight("/introspect", allowed, "POST"); rec.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("/introspect is CORS-enabled: %v", rec.Header())
	}
	// An actual request from the allowed origin carries the header.
	req := httptest.NewRequest("GET", "/.well-known/oauth-authorization-server", nil)
	req.Header.Set("Origin", allowed)
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	if rec.Code != 200 || rec.Header().Get("Access-Control-Allow-Origin") != allowed {
		t.Errorf("GET metadata from %s: %d %v", allowed, rec.Code, rec.Header())
	}
}

func TestAccessTTLMustNotExceedRefreshTTL(t *testing.T) {
	cfg := authserver.Config{Issuer: "https://a.test", AccessTTL: 2 * time.Hour, RefreshTTL: time.Hour, BcryptCost: 4,
		Lockout: store.LoginPolicy{Threshold: 3, Lockout: time.Minute, MaxLockout: time.Hour}}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "must not exceed the refresh token lifetime") {
		t.Errorf("Validate = %v", err)
	}
}
