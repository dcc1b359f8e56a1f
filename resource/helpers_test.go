package resource

import (
	"context"
	"encoding/json"
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

	"github.com/gin-gonic/gin"

	"github.com/example/authsvc/internal/obs"
	"github.com/example/authsvc/internal/testkit"
	"github.com/example/authsvc/store"
	"github.com/example/authsvc/store/cached"
	"github.com/example/authsvc/store/sqlite"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.ReleaseMode)
	os.Exit(m.Run())
}

// The resource service's own client; the secret has every character that
// client_secret_basic must form-urlencode (RFC 6749 §2.3.1).
const (
	testClientID     = "resource server"
	testClientSecret = "s3cr:et+/=%&x y"
)

// fakeAS is an introspection endpoint with scripted answers. It checks the
// request the way the real authorization server does, so every test also
// checks how the client calls it.
type fakeAS struct {
	t     testing.TB
	srv   *httptest.Server
	calls atomic.Int64

	mu      sync.Mutex
	answers map[string]map[string]any // token → JSON answer
	status  int                       // if non-zero, answered instead
	rawBody string                    // if non-empty, sent as the 200 body
	release chan struct{}             // if non-nil, each call waits for it
	started chan struct{}             // if non-nil, each call signals it
	lastID  string                    // X-Request-Id of the last call
	lastTP  string                    // traceparent of the last call
}

func newFakeAS(t testing.TB) *fakeAS {
	t.Helper()
	as := &fakeAS{t: t, answers: map[string]map[string]any{}}
	as.srv = httptest.NewServer(http.HandlerFunc(as.serve))
	t.Cleanup(as.srv.Close)
	return as
}

func (as *fakeAS) URL() string { return as.srv.URL + "/introspect" }

func (as *fakeAS) serve(w http.ResponseWriter, r *http.Request) {
	id, secret, ok := r.BasicAuth()
	if ok {
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	}
	if r.Method != http.MethodPost || r.URL.Path != "/introspect" || !ok || id != testClientID || secret != testClientSecret ||
		r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		as.t.Errorf("fake AS: unexpected request %s %s (basic ok=%v id=%q)", r.Method, r.URL.Path, ok, id)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if err := r.ParseForm(); err != nil || r.PostForm.Get("token") == "" || r.PostForm.Get("token_type_hint") != "access_token" {
		as.t.Errorf("fake AS: bad form %v: %v", r.PostForm, err)
	}
	as.calls.Add(1)

	as.mu.Lock()
	as.lastID = r.Header.Get("X-Request-Id")
	as.lastTP = r.Header.Get("Traceparent")
	answer, known := as.answers[r.PostForm.Get("token")]
	status, rawBody, release, started := as.status, as.rawBody, as.release, as.started
	as.mu.Unlock()

	if started != nil {
		started <- struct{}{}
	}
	if release != nil {
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
	}
	if status != 0 {
		w.WriteHeader(status)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if rawBody != "" {
		_, _ = io.WriteString(w, rawBody)
		return
	}
	if !known {
		answer = map[string]any{"active": false}
	}
	_ = json.NewEncoder(w).Encode(answer)
}

// set scripts the answer for token; nil answers inactive.
func (as *fakeAS) set(token string, answer map[string]any) {
	as.mu.Lock()
	defer as.mu.Unlock()
	if answer == nil {
		delete(as.answers, token)
		return
	}
	as.answers[token] = answer
}

func (as *fakeAS) setStatus(status int) {
	as.mu.Lock()
	defer as.mu.Unlock()
	as.status = status
}

func (as *fakeAS) setRawBody(body string) {
	as.mu.Lock()
	defer as.mu.Unlock()
	as.rawBody = body
}

// userToken is the answer for a password-grant access token.
func userToken(username, scope string, exp time.Time) map[string]any {
	a := clientToken("app", scope, exp)
	a["username"] = username
	a["sub"] = username
	return a
}

// clientToken is the answer for a client-credentials access token.
func clientToken(clientID, scope string, exp time.Time) map[string]any {
	return map[string]any{
		"active":     true,
		"scope":      scope,
		"client_id":  clientID,
		"sub":        clientID,
		"token_type": "Bearer",
		"token_use":  "access_token",
		"exp":        exp.Unix(),
		"iat":        exp.Add(-15 * time.Minute).Unix(),
		"iss":        "http://localhost:9096",
	}
}

// env is one service under test: the real router on a temp-dir SQLite
// store, a cached introspection client against a fake AS, one clock.
type env struct {
	t       testing.TB
	handler http.Handler
	as      *fakeAS
	clock   *testkit.Clock // the cache's and the middleware's
	store   store.ItemStore
	cache   *Cache
	logs    *testkit.SyncBuffer
}

type envConfig struct {
	cacheTTL time.Duration // default DefaultCacheTTL; use noCache for 0
	timeout  time.Duration
	wrap     func(store.ItemStore) store.ItemStore // failure injection
	metrics  *Metrics                              // counted into, if set
	opts     []Option
	tracing  obs.Tracing // of the server and the introspection client
}

const noCache = -1

func newEnv(t testing.TB, cfg envConfig) *env {
	t.Helper()
	e := &env{t: t, as: newFakeAS(t), clock: testkit.NewClock(), logs: &testkit.SyncBuffer{}}
	e.store = newSQLiteStore(t)
	items := e.store
	if cfg.wrap != nil {
		items = cfg.wrap(items)
	}
	client, err := NewIntrospectionClient(IntrospectionClientConfig{
		URL: e.as.URL(), ClientID: testClientID, ClientSecret: testClientSecret, Timeout: cfg.timeout,
		Tracing: cfg.tracing,
	})
	if err != nil {
		t.Fatal(err)
	}
	ttl := cfg.cacheTTL
	switch ttl {
	case 0:
		ttl = DefaultCacheTTL
	case noCache:
		ttl = 0
	}
	e.cache = NewCache(cfg.metrics.Instrument(client), CacheConfig{TTL: ttl, Now: e.clock.Now, Metrics: cfg.metrics})
	logger := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.handler = NewServer(logger, items, e.cache,
		append([]Option{WithClock(e.clock.Now), WithMetrics(cfg.metrics), WithTracing(cfg.tracing)}, cfg.opts...)...)
	return e
}

// newSQLiteStore is an embedded item store behind the page cache, as the
// service runs on SQLite: every handler test runs through it.
func newSQLiteStore(t testing.TB) store.ItemStore {
	t.Helper()
	db, err := sqlite.OpenItems(context.Background(), filepath.Join(t.TempDir(), "items.db"))
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return cached.NewItems(db, cached.ItemsConfig{})
}

// request describes one call; token "" sends no Authorization header.
type request struct {
	method  string
	path    string
	token   string
	body    string
	headers map[string]string
}

func (e *env) do(r request) *httptest.ResponseRecorder {
	e.t.Helper()
	return e.doRaw(r, nil)
}

// doRaw is do with a last edit of the request.
func (e *env) doRaw(r request, edit func(*http.Request)) *httptest.ResponseRecorder {
	e.t.Helper()
	if r.method == "" {
		r.method = http.MethodGet
	}
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	req := httptest.NewRequest(r.method, r.path, body)
	if r.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if r.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	for k, v := range r.headers {
		if v == "" {
			req.Header.Del(k)
			continue
		}
		req.Header.Set(k, v)
	}
	if edit != nil {
		edit(req)
	}
	rec := httptest.NewRecorder()
	e.handler.ServeHTTP(rec, req)
	return rec
}

// errorBody decodes the JSON error of rec, failing if it is not one.
func errorBody(t testing.TB, rec *httptest.ResponseRecorder) (code, description string) {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("error Content-Type = %q, want JSON; body %q", ct, rec.Body)
	}
	var body struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Error == "" {
		t.Fatalf("error body %q: %v", rec.Body, err)
	}
	return body.Error, body.Description
}

// createItem posts name as token and returns the created item.
func (e *env) createItem(token, name string) itemJSON {
	e.t.Helper()
	body, _ := json.Marshal(map[string]string{"name": name})
	rec := e.do(request{method: http.MethodPost, path: "/items", token: token, body: string(body)})
	if rec.Code != http.StatusCreated {
		e.t.Fatalf("create %q: %d %s", name, rec.Code, rec.Body)
	}
	var it itemJSON
	if err := json.Unmarshal(rec.Body.Bytes(), &it); err != nil {
		e.t.Fatal(err)
	}
	return it
}

// listItems returns token's items.
func (e *env) listItems(token string) []itemJSON {
	e.t.Helper()
	rec := e.do(request{path: "/items", token: token})
	if rec.Code != http.StatusOK {
		e.t.Fatalf("list: %d %s", rec.Code, rec.Body)
	}
	var body struct {
		Items []itemJSON `json:"items"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		e.t.Fatal(err)
	}
	if body.Items == nil {
		e.t.Fatalf("list: items is not an array: %s", rec.Body)
	}
	return body.Items
}
