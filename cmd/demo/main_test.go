package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/example/authsvc/authserver"
	"github.com/example/authsvc/authserver/admin"
	"github.com/example/authsvc/cmd/internal/cliconf"
	"github.com/example/authsvc/resource"
	"github.com/example/authsvc/store"
	"github.com/example/authsvc/store/sqlite"
)

// repoRoot is where the compose file, the Dockerfile and configs/ live.
const repoRoot = "../.."

// liveServices is the real authorization server and resource service,
// in-process on temp-dir SQLite stores, with the shipped demo bootstrap.
type liveServices struct {
	auth, resource *httptest.Server
	issued         *tokenRecorder
}

// tokenRecorder remembers every token the token endpoint hands out, so a
// test can check that none reaches the demo's output.
type tokenRecorder struct {
	mu     sync.Mutex
	tokens []string
}

func (r *tokenRecorder) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path != "/token" {
			next.ServeHTTP(w, req)
			return
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, req)
		var body struct {
			AccessToken  string `json:"access_token"`
			RefreshToken string `json:"refresh_token"`
		}
		_ = json.Unmarshal(rec.Body.Bytes(), &body)
		r.mu.Lock()
		for _, tok := range []string{body.AccessToken, body.RefreshToken} {
			if tok != "" {
				r.tokens = append(r.tokens, tok)
			}
		}
		r.mu.Unlock()
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	})
}

func (r *tokenRecorder) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.tokens...)
}

// startServices starts both services. wrapIntrospector, if not nil, stands
// between the resource service and its introspection client.
func startServices(t *testing.T, wrapIntrospector func(resource.Introspector) resource.Introspector) *liveServices {
	t.Helper()
	ctx := t.Context()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	dir := t.TempDir()

	authStore, err := sqlite.OpenAuth(ctx, filepath.Join(dir, "auth.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = authStore.Close() })
	f, err := os.Open(filepath.Join(repoRoot, "configs", "demo-bootstrap.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// Cost 4: the test spends bcrypt time on every login.
	svc, err := admin.New(authStore, logger, 4)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Bootstrap(ctx, f); err != nil {
		t.Fatalf("bootstrap: %v", err)
	}

	s := &liveServices{issued: &tokenRecorder{}}
	var authHandler http.Handler
	s.auth = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { authHandler.ServeHTTP(w, r) }))
	t.Cleanup(s.auth.Close)
	h, err := authserver.NewServer(logger, authStore, authserver.Config{
		Issuer:     s.auth.URL,
		AccessTTL:  15 * time.Minute,
		RefreshTTL: time.Hour,
		BcryptCost: 4,
		Lockout:    store.LoginPolicy{Threshold: 5, Lockout: time.Minute, MaxLockout: time.Hour},
		// The device login polls every second, not every five.
		DevicePollInterval: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	authHandler = s.issued.wrap(h)

	items, err := sqlite.OpenItems(ctx, filepath.Join(dir, "items.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = items.Close() })
	client, err := resource.NewIntrospectionClient(resource.IntrospectionClientConfig{
		URL:          s.auth.URL + "/introspect",
		ClientID:     "resource-server",
		ClientSecret: "resource-secret-demo", // demo only: configs/demo-bootstrap.yaml
	})
	if err != nil {
		t.Fatal(err)
	}
	// A short TTL, so that the revocation step really waits out a cached
	// positive answer, as it does against a deployed service.
	var introspector resource.Introspector = resource.NewCache(client, resource.CacheConfig{TTL: time.Second})
	if wrapIntrospector != nil {
		introspector = wrapIntrospector(introspector)
	}
	gin.SetMode(gin.ReleaseMode)
	s.resource = httptest.NewServer(resource.NewServer(logger, items, introspector))
	t.Cleanup(s.resource.Close)
	return s
}

func (s *liveServices) args(extra ...string) []string {
	return append([]string{"demo", "-auth-url", s.auth.URL, "-resource-url", s.resource.URL, "-wait", "5s"}, extra...)
}

var noEnv = cliconf.MapEnv(nil)

func TestRunAllStepsPass(t *testing.T) {
	s := startServices(t, nil)
	var stdout, stderr bytes.Buffer
	if err := run(t.Context(), s.args(), noEnv, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	out := stdout.String()
	t.Logf("demo output:\n%s", out)
	if n := strings.Count(out, "PASS"); n != 9 {
		t.Errorf("want 9 PASS rows, got %d", n)
	}
	if strings.Contains(out, "FAIL") || !strings.Contains(out, "all 9 steps behaved as stated") {
		t.Errorf("want every step to pass")
	}
	for _, want := range []string{"STEP", "ACTION", "TOKEN", "EXPECTED", "GOT", "RESULT",
		`error="invalid_token"`, `error="insufficient_scope" scope="items:write"`, `Bearer realm="items"`} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	assertNoSecrets(t, out+stderr.String(), s.issued.all())
}

// assertNoSecrets fails if out holds a demo secret, the password or any
// issued token.
func assertNoSecrets(t *testing.T, out string, tokens []string) {
	t.Helper()
	if len(tokens) < 2 {
		t.Fatalf("recorded %d issued tokens; want at least the two logins'", len(tokens))
	}
	for _, secret := range []string{demoClientSecret, demoReadonlyClientSecret, demoPassword} {
		if strings.Contains(out, secret) {
			t.Errorf("output holds a secret (%s…)", secret[:4])
		}
	}
	for _, token := range tokens {
		if strings.Contains(out, token[:7]) {
			t.Errorf("output holds more than 6 characters of an issued token (%s…)", token[:4])
		}
	}
}

// acceptEverything is a broken resource service's introspection: any token
// the authorization server does not know is taken as alice's.
type acceptEverything struct{ next resource.Introspector }

func (a acceptEverything) Introspect(ctx context.Context, token string) (resource.Introspection, error) {
	in, err := a.next.Introspect(ctx, token)
	if err != nil || in.Active {
		return in, err
	}
	return resource.Introspection{
		Active: true, Scope: "items:read items:write", ClientID: "demo-client", Username: "alice",
		TokenType: "Bearer", TokenUse: "access_token", ExpiresAt: time.Now().Add(time.Hour),
	}, nil
}

func TestRunFailsWhenTheResourceAcceptsABadToken(t *testing.T) {
	s := startServices(t, func(next resource.Introspector) resource.Introspector { return acceptEverything{next} })
	var stdout, stderr bytes.Buffer
	err := run(t.Context(), s.args("-revoke-wait", "1s"), noEnv, &stdout, &stderr)
	out := stdout.String()
	t.Logf("demo output:\n%s", out)
	if err == nil {
		t.Fatal("run succeeded against a resource service that accepts any token")
	}
	if !strings.Contains(err.Error(), "2 of 9 steps") {
		t.Errorf("error %q: want the bad-token and revoked-token steps to fail", err)
	}
	for row, want := range map[string]string{
		"GET /items (bad token)":     "FAIL: want status 401, got 200",
		"GET /items (revoked token)": "FAIL: still accepted 1s after revocation",
	} {
		if line := lineWith(out, row); !strings.Contains(line, want) {
			t.Errorf("row %q: want %q, got %q", row, want, line)
		}
	}
	assertNoSecrets(t, out+stderr.String(), s.issued.all())
}

func TestRunFailsWhenLoginFails(t *testing.T) {
	s := startServices(t, nil)
	var stdout, stderr bytes.Buffer
	getenv := cliconf.MapEnv(map[string]string{"DEMO_PASSWORD": "wrong-password"})
	err := run(t.Context(), s.args(), getenv, &stdout, &stderr)
	out := stdout.String()
	t.Logf("demo output:\n%s", out)
	if err == nil {
		t.Fatal("run succeeded with a wrong password")
	}
	if line := lineWith(out, "login alice via demo-client"); !strings.Contains(line, `400, error "invalid_grant"`) {
		t.Errorf("login row %q: want the invalid_grant answer", line)
	}
	if line := lineWith(out, "GET /items (revoked token)"); !strings.Contains(line, "skipped") {
		t.Errorf("revocation row %q: want skipped", line)
	}
	// The steps that need no login still ran and passed.
	if line := lineWith(out, "GET /items (no token)"); !strings.Contains(line, "PASS") {
		t.Errorf("no-token row %q: want PASS", line)
	}
	if strings.Contains(out+stderr.String(), "wrong-password") {
		t.Error("output holds the password")
	}
}

func TestRunWaitGivesUp(t *testing.T) {
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer down.Close()
	var stdout, stderr bytes.Buffer
	start := time.Now()
	err := run(t.Context(), []string{"demo", "-auth-url", down.URL, "-resource-url", down.URL, "-wait", "600ms"}, noEnv, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "not ready within 600ms") {
		t.Fatalf("run: %v; want a readiness timeout", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v to give up", d)
	}
}

func TestParseConfig(t *testing.T) {
	env := map[string]string{
		"DEMO_AUTH_URL":      "http://authserver:9096/",
		"DEMO_RESOURCE_URL":  "http://resource:8080",
		"DEMO_CLIENT_ID":     "from-env",
		"DEMO_CLIENT_SECRET": "env-secret",
		"DEMO_USERNAME":      "bob",
		"DEMO_PASSWORD":      "bob-password",
		"DEMO_WAIT":          "30s",
	}
	o, err := parseConfig([]string{"demo", "-client-id", "from-flag"}, cliconf.MapEnv(env), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := config{
		authURL: "http://authserver:9096", resourceURL: "http://resource:8080",
		clientID: "from-flag", clientSecret: "env-secret",
		readonlyID: "demo-readonly", readonlySecret: demoReadonlyClientSecret,
		username: "bob", password: "bob-password",
		wait: 30 * time.Second, revokeWait: 20 * time.Second, timeout: 10 * time.Second,
		deviceClientID: "demo-cli", deviceWait: 5 * time.Minute,
	}
	if o != want {
		t.Errorf("got %+v\nwant %+v", o, want)
	}

	_, err = parseConfig([]string{"demo", "-auth-url", "localhost:9096", "-wait", "-1s"}, noEnv, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "-auth-url") || !strings.Contains(err.Error(), "-wait") {
		t.Errorf("want both problems reported, got %v", err)
	}
	// Secrets are not flags.
	if _, err := parseConfig([]string{"demo", "-client-secret", "x"}, noEnv, io.Discard); err == nil {
		t.Error("a -client-secret flag was accepted")
	}
}

func TestParseChallenge(t *testing.T) {
	tests := []struct {
		in     string
		scheme string
		params map[string]string
	}{
		{``, "", map[string]string{}},
		{`Bearer realm="items"`, "Bearer", map[string]string{"realm": "items"}},
		{`Bearer realm="items", error="invalid_token", error_description="the access token is invalid"`, "Bearer",
			map[string]string{"realm": "items", "error": "invalid_token", "error_description": "the access token is invalid"}},
		{`Bearer realm="a, \"b\"",error=insufficient_scope, scope="items:read items:write"`, "Bearer",
			map[string]string{"realm": `a, "b"`, "error": "insufficient_scope", "scope": "items:read items:write"}},
	}
	for _, tt := range tests {
		scheme, params := parseChallenge(tt.in)
		if scheme != tt.scheme || !maps.Equal(params, tt.params) {
			t.Errorf("parseChallenge(%q) = %q, %v; want %q, %v", tt.in, scheme, params, tt.scheme, tt.params)
		}
	}
}

func TestAbbrev(t *testing.T) {
	for in, want := range map[string]string{"": "-", "abcdefghijklmnop": "abcdef…", "short": "sh…"} {
		if got := abbrev(in); got != want {
			t.Errorf("abbrev(%q) = %q, want %q", in, got, want)
		}
	}
}

// lineWith returns the first line of out that contains s.
func lineWith(out, s string) string {
	for line := range strings.Lines(out) {
		if strings.Contains(line, s) {
			return strings.TrimSpace(line)
		}
	}
	return ""
}
