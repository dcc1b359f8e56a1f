package authserver

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/example/authsvc/internal/testkit"
	"github.com/example/authsvc/store"
	"github.com/example/authsvc/store/sqlite"
)

// Tests of the login path as a denial-of-service lever: the bounded
// password pool, throttling per source address, hang-ups, the 72-byte
// limit and the lock-state oracle, all through the real router.

const (
	abuseUser     = "erin"
	abusePassword = "erin-password-1"
	abuseRSSecret = "rs-secret-rs-secret-rs-secret-rs-secret"
)

// gateStore can hold every GetUser (a password check's first store call,
// made holding a password slot) until released, and counts the calls that
// reach the store.
type gateStore struct {
	store.AuthStore
	mu          sync.Mutex
	gate        chan struct{} // nil: no holding
	entered     chan string   // usernames, as GetUser is entered
	beginLogins atomic.Int64
	getClients  atomic.Int64
	getTokens   atomic.Int64
	getUsers    atomic.Int64
	lookups     atomic.Int64 // IntrospectionLookup calls
	seen        sync.Map     // every username, client id and token hash asked for
}

// saw reports whether v was ever passed to the store.
func (g *gateStore) saw(v string) bool {
	_, ok := g.seen.Load(v)
	return ok
}

func (g *gateStore) BeginLogin(ctx context.Context, u string, now time.Time, p store.LoginPolicy) (store.LoginAttempt, error) {
	g.beginLogins.Add(1)
	g.seen.Store(u, true)
	return g.AuthStore.BeginLogin(ctx, u, now, p)
}

func (g *gateStore) GetClient(ctx context.Context, id string) (store.Client, error) {
	g.getClients.Add(1)
	g.seen.Store(id, true)
	return g.AuthStore.GetClient(ctx, id)
}

// IntrospectionLookup counts as the client read and, with a token hash,
// the token read that it replaces.
func (g *gateStore) IntrospectionLookup(ctx context.Context, clientID, tokenHash string) (store.Client, store.Token, bool, error) {
	g.lookups.Add(1)
	g.getClients.Add(1)
	g.seen.Store(clientID, true)
	if tokenHash != "" {
		g.getTokens.Add(1)
		g.seen.Store(tokenHash, true)
	}
	return g.AuthStore.IntrospectionLookup(ctx, clientID, tokenHash)
}

func (g *gateStore) GetToken(ctx context.Context, hash string) (store.Token, error) {
	g.getTokens.Add(1)
	g.seen.Store(hash, true)
	return g.AuthStore.GetToken(ctx, hash)
}

func (g *gateStore) GetUser(ctx context.Context, name string) (store.User, error) {
	g.getUsers.Add(1)
	g.seen.Store(name, true)
	g.mu.Lock()
	gate, entered := g.gate, g.entered
	g.mu.Unlock()
	if entered != nil {
		entered <- name
	}
	if gate != nil {
		<-gate
	}
	return g.AuthStore.GetUser(ctx, name)
}

func (g *gateStore) touched() int64 {
	return g.beginLogins.Load() + g.getClients.Load() + g.getTokens.Load() + g.getUsers.Load()
}

type abuseEnv struct {
	t     *testing.T
	s     *server
	h     http.Handler
	st    *gateStore
	clock *testkit.Clock
	logs  *testkit.SyncBuffer
}

// newAbuseEnv is the real router on st (a fresh SQLite store when nil)
// with one user, a public client and an introspecting client; mutate
// adjusts the config.
func newAbuseEnv(t *testing.T, st store.AuthStore, cost int, mutate func(*Config)) *abuseEnv {
	t.Helper()
	ctx := context.Background()
	if st == nil {
		db, err := sqlite.OpenAuth(ctx, filepath.Join(t.TempDir(), "auth.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		st = db
	}
	clock := testkit.NewClock()
	hash, err := store.HashPassword(abusePassword, cost)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateUser(ctx, store.User{Username: abuseUser, PasswordHash: hash, CreatedAt: clock.Now()}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []store.Client{
		{ID: "pub", GrantTypes: []string{"password", "refresh_token"}, Scopes: []string{"items:read"}},
		{ID: "rs", SecretHash: store.HashClientSecret(abuseRSSecret), GrantTypes: []string{"client_credentials"}, Scopes: []string{"items:read"}, Introspect: true},
	} {
		c.CreatedAt = clock.Now()
		if err := st.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	cfg := Config{
		Issuer:     "https://auth.example.test",
		AccessTTL:  15 * time.Minute,
		RefreshTTL: 24 * time.Hour,
		BcryptCost: cost,
		Lockout:    store.LoginPolicy{Threshold: 3, Lockout: time.Minute, MaxLockout: time.Hour},
		Now:        clock.Now,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	gs := &gateStore{AuthStore: st}
	logs := &testkit.SyncBuffer{}
	s, err := newServer(slog.New(slog.NewTextHandler(logs, nil)), gs, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &abuseEnv{t: t, s: s, h: s.routes(), st: gs, clock: clock, logs: logs}
}

type answer struct {
	status int
	header http.Header
	body   map[string]any
	took   time.Duration
}

// post sends form to path as if from the address from, with ctx.
func (e *abuseEnv) post(ctx context.Context, from, path string, form url.Values, header ...string) answer {
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode())).WithContext(ctx)
	req.RemoteAddr = from
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	start := time.Now()
	e.h.ServeHTTP(rec, req)
	a := answer{status: rec.Code, header: rec.Header(), took: time.Since(start)}
	_ = json.Unmarshal(rec.Body.Bytes(), &a.body)
	return a
}

func (e *abuseEnv) login(ctx context.Context, from, username, password string) answer {
	return e.post(ctx, from, "/token", url.Values{"grant_type": {"password"}, "client_id": {"pub"},
		"username": {username}, "password": {password}})
}

func (e *abuseEnv) introspect(from, token string) answer {
	return e.post(context.Background(), from, "/introspect", url.Values{"token": {token}},
		"Authorization", basicAuth("rs", abuseRSSecret))
}

func basicAuth(id, secret string) string {
	req, _ := http.NewRequest(http.MethodGet, "/", nil)
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	return req.Header.Get("Authorization")
}

func expectAnswer(t *testing.T, a answer, status int, code string) {
	t.Helper()
	if a.status != status || (code != "" && a.body["error"] != code) {
		t.Fatalf("got %d %v, want %d %s", a.status, a.body, status, code)
	}
}

// holdSlot starts a login from `from` that takes a password slot and holds
// it (inside BeginLogin) until the returned release is called.
func (e *abuseEnv) holdSlot(from string) (release func() answer) {
	e.st.mu.Lock()
	gate := make(chan struct{})
	e.st.gate, e.st.entered = gate, make(chan string, 64)
	entered := e.st.entered
	e.st.mu.Unlock()
	done := make(chan answer, 1)
	go func() { done <- e.login(context.Background(), from, abuseUser, abusePassword) }()
	<-entered
	return func() answer {
		e.st.mu.Lock()
		e.st.gate = nil
		e.st.mu.Unlock()
		close(gate)
		return <-done
	}
}

func (e *abuseEnv) waitQueued(n int) {
	e.t.Helper()
	ok := testkit.Poll(5*time.Second, nil, func() bool {
		e.s.pool.mu.Lock()
		defer e.s.pool.mu.Unlock()
		return e.s.pool.waiting == n
	})
	if !ok {
		e.t.Fatalf("never %d requests waiting for a password slot", n)
	}
}

func TestPasswordPoolBoundsWaitersAndTimesOut(t *testing.T) {
	e := newAbuseEnv(t, nil, bcrypt.MinCost, func(c *Config) {
		c.PasswordConcurrency, c.PasswordQueue, c.PasswordQueueTimeout = 1, 1, 300*time.Millisecond
	})
	// The positive case first: with the pool free, a login goes through.
	expectAnswer(t, e.login(context.Background(), "192.0.2.1:1", abuseUser, abusePassword), 200, "")

	release := e.holdSlot("192.0.2.1:1")
	waiter := make(chan answer, 1)
	go func() { waiter <- e.login(context.Background(), "192.0.2.2:1", abuseUser, abusePassword) }()
	e.waitQueued(1)

	// Other endpoints never wait behind bcrypt.
	at := e.post(context.Background(), "192.0.2.9:1", "/token", url.Values{"grant_type": {"client_credentials"}},
		"Authorization", basicAuth("rs", abuseRSSecret))
	expectAnswer(t, at, 200, "")
	if in := e.introspect("192.0.2.9:1", at.body["access_token"].(string)); in.body["active"] != true {
		t.Fatalf("introspection while the pool is full: %v", in.body)
	}
	before := e.st.touched()

	// The queue is full: refused at once with 503, Retry-After and an RFC
	// 6749 body, without touching the store.
	full := e.login(context.Background(), "192.0.2.3:1", abuseUser, abusePassword)
	expectAnswer(t, full, 503, "temporarily_unavailable")
	if full.header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	// The waiter gives up after the queue timeout, with the same answer.
	expectAnswer(t, <-waiter, 503, "temporarily_unavailable")
	if n := e.st.touched() - before; n != 0 {
		t.Errorf("refused requests made %d store calls, want 0", n)
	}
	expectAnswer(t, release(), 200, "")
	expectAnswer(t, e.login(context.Background(), "192.0.2.3:1", abuseUser, abusePassword), 200, "")
}

// A caller who hangs up while waiting leaves at once and costs nothing.
func TestHangUpWhileWaitingCostsNothing(t *testing.T) {
	e := newAbuseEnv(t, nil, bcrypt.MinCost, func(c *Config) {
		c.PasswordConcurrency, c.PasswordQueue, c.PasswordQueueTimeout = 1, 64, time.Minute
	})
	release := e.holdSlot("192.0.2.1:1")
	checks := func() int64 { return e.st.getUsers.Load() + e.st.beginLogins.Load() }
	before := checks()
	var wg sync.WaitGroup
	cancels := make([]context.CancelFunc, 20)
	for i := range cancels {
		ctx, cancel := context.WithCancel(context.Background())
		cancels[i] = cancel
		from := fmt.Sprintf("198.51.100.%d:1", i+1) // one source may queue only two
		wg.Go(func() { e.login(ctx, from, abuseUser, "wrong-password") })
	}
	e.waitQueued(len(cancels))
	for _, cancel := range cancels {
		cancel()
	}
	wg.Wait() // they returned although the slot is still held
	e.waitQueued(0)
	expectAnswer(t, release(), 200, "")
	// Only the held login went on to count its attempt (its GetUser was
	// before the hold); no abandoned one read a user or counted one.
	if n := checks() - before; n != 1 {
		t.Errorf("%d password-check store calls after the hold, want the held login's BeginLogin only", n)
	}
	// Nor did they count as failures of their sources.
	if !e.s.throttle.clean(mustAddr("198.51.100.1")) {
		t.Error("abandoned requests were counted as failures")
	}
}

// Requests from sources with no recent failures go first; when the queue
// is full, they displace the newest waiter from a failing source.
func TestCleanSourcesGoFirst(t *testing.T) {
	e := newAbuseEnv(t, nil, bcrypt.MinCost, func(c *Config) {
		c.PasswordConcurrency, c.PasswordQueue, c.PasswordQueueTimeout = 1, 2, time.Minute
	})
	e.s.throttle.fail(mustAddr("198.51.100.66")) // a failing source
	release := e.holdSlot("192.0.2.1:1")

	results := make(chan string, 8)
	send := func(from, user string) {
		go func() {
			a := e.login(context.Background(), from, user, "whatever-password")
			results <- user + ":" + http.StatusText(a.status)
		}()
	}
	send("198.51.100.66:1", "dirty-1")
	e.waitQueued(1)
	send("198.51.100.66:2", "dirty-2")
	e.waitQueued(2)
	// The queue is full; a clean source displaces dirty-2, the newest.
	send("192.0.2.50:1", "clean")
	if got := <-results; got != "dirty-2:"+http.StatusText(http.StatusServiceUnavailable) {
		t.Fatalf("first answer %q, want dirty-2 refused with 503", got)
	}
	e.waitQueued(2)

	e.st.mu.Lock()
	entered := make(chan string, 8)
	e.st.entered = entered
	e.st.mu.Unlock()
	release()
	if first, second := <-entered, <-entered; first != "clean" || second != "dirty-1" {
		t.Errorf("slot order %s, %s; want clean before dirty-1", first, second)
	}
}

// One source may have only maxWaitPerSource requests waiting; its further
// requests are refused at once, and each refusal counts as a failure, so a
// single flooding source is throttled within its burst and then spends no
// bcrypt at all, even for the requests it had queued.
func TestOneSourceCannotFillThePool(t *testing.T) {
	e := newAbuseEnv(t, nil, bcrypt.MinCost, func(c *Config) {
		c.PasswordConcurrency, c.PasswordQueue, c.PasswordQueueTimeout = 1, 64, time.Minute
		c.ThrottleBurst, c.ThrottlePerMinute = 5, 1
	})
	release := e.holdSlot("192.0.2.1:1")
	results := make(chan answer, maxWaitPerSource)
	for i := range maxWaitPerSource {
		go func() { results <- e.login(context.Background(), fmt.Sprintf("203.0.113.7:%d", i), abuseUser, "guess") }()
		e.waitQueued(i + 1)
	}
	before := e.st.getUsers.Load()
	for range 5 {
		expectAnswer(t, e.login(context.Background(), "203.0.113.7:9", abuseUser, "guess"), 503, "temporarily_unavailable")
	}
	expectAnswer(t, e.login(context.Background(), "203.0.113.7:9", abuseUser, "guess"), 429, "")
	// Another source still queues.
	other := make(chan answer, 1)
	go func() { other <- e.login(context.Background(), "192.0.2.99:1", abuseUser, abusePassword) }()
	e.waitQueued(maxWaitPerSource + 1)
	expectAnswer(t, release(), 200, "")
	for range maxWaitPerSource {
		expectAnswer(t, <-results, 429, "") // throttled while waiting: no bcrypt spent
	}
	expectAnswer(t, <-other, 200, "")
	if n := e.st.getUsers.Load() - before; n != 1 {
		t.Errorf("%d logins reached the store, want 1 (the other source's)", n)
	}
}

func TestThrottlePerSourceAddress(t *testing.T) {
	e := newAbuseEnv(t, nil, bcrypt.MinCost, func(c *Config) {
		c.ThrottleBurst, c.ThrottlePerMinute = 3, 1
		c.Lockout.Threshold = 100
	})
	ctx := context.Background()
	// Successes take nothing: many correct logins from one address.
	for range 5 {
		expectAnswer(t, e.login(ctx, "203.0.113.5:1", abuseUser, abusePassword), 200, "")
	}
	// Failures do: a failed client authentication, then two wrong passwords.
	expectAnswer(t, e.post(ctx, "203.0.113.5:1", "/token", url.Values{"grant_type": {"client_credentials"}},
		"Authorization", basicAuth("rs", "wrong")), 401, "invalid_client")
	for range 2 {
		expectAnswer(t, e.login(ctx, "203.0.113.5:1", abuseUser, "wrong"), 400, "invalid_grant")
	}
	before := e.st.touched()
	blocked := e.login(ctx, "203.0.113.5:2", abuseUser, abusePassword)
	expectAnswer(t, blocked, 429, "temporarily_unavailable")
	if ra := blocked.header.Get("Retry-After"); ra != "60" {
		t.Errorf("Retry-After %q, want 60 (one failure refills in a minute)", ra)
	}
	expectAnswer(t, e.introspect("203.0.113.5:3", "whatever"), 429, "temporarily_unavailable")
	if n := e.st.touched() - before; n != 0 {
		t.Errorf("throttled requests made %d store calls, want 0", n)
	}
	// Other addresses are unaffected; the blocked one refills.
	expectAnswer(t, e.login(ctx, "203.0.113.6:1", abuseUser, abusePassword), 200, "")
	e.clock.Advance(time.Minute)
	expectAnswer(t, e.login(ctx, "203.0.113.5:1", abuseUser, abusePassword), 200, "")

	// IPv6 is throttled by /64.
	for range 3 {
		expectAnswer(t, e.login(ctx, "[2001:db8:1:2::a]:1", abuseUser, "wrong"), 400, "invalid_grant")
	}
	expectAnswer(t, e.login(ctx, "[2001:db8:1:2::b]:1", abuseUser, abusePassword), 429, "")
	expectAnswer(t, e.login(ctx, "[2001:db8:1:3::a]:1", abuseUser, abusePassword), 200, "")
}

func TestThrottleBehindTrustedProxy(t *testing.T) {
	proxies, err := ParseTrustedProxies("10.0.0.0/8, 192.168.1.1")
	if err != nil {
		t.Fatal(err)
	}
	e := newAbuseEnv(t, nil, bcrypt.MinCost, func(c *Config) {
		c.ThrottleBurst, c.ThrottlePerMinute, c.TrustedProxies = 1, 1, proxies
		c.Lockout.Threshold = 100
	})
	ctx := context.Background()
	viaProxy := func(xff string) answer {
		return e.post(ctx, "10.1.2.3:1", "/token", url.Values{"grant_type": {"password"}, "client_id": {"pub"},
			"username": {abuseUser}, "password": {"wrong"}}, "X-Forwarded-For", xff)
	}
	// The client the proxy names fails once, and is then throttled
	// whatever it claims to the left of the proxies.
	expectAnswer(t, viaProxy("198.51.100.1, 192.168.1.1"), 400, "invalid_grant")
	expectAnswer(t, viaProxy("6.6.6.6, 198.51.100.1"), 429, "")
	// Another client behind the same proxy is not.
	expectAnswer(t, viaProxy("198.51.100.2"), 400, "invalid_grant")
	// An untrusted peer's header changes nothing: its own address counts.
	direct := func(xff string) answer {
		return e.post(ctx, "203.0.113.9:1", "/token", url.Values{"grant_type": {"password"}, "client_id": {"pub"},
			"username": {abuseUser}, "password": {"wrong"}}, "X-Forwarded-For", xff)
	}
	expectAnswer(t, direct("198.51.100.3"), 400, "invalid_grant")
	expectAnswer(t, direct("198.51.100.4"), 429, "")
}

// A locked username is refused as slowly as a real check: the timing of
// the answer tells neither that it is locked nor that a real login
// happened since. Shown as a ratio of two timings from the same test.
func TestLockedRefusalTakesAsLongAsACheck(t *testing.T) {
	e := newAbuseEnv(t, nil, 9, func(c *Config) {
		c.ThrottleBurst = 1000
		c.Lockout = store.LoginPolicy{Threshold: 3, Lockout: time.Hour, MaxLockout: time.Hour}
	})
	ctx := context.Background()
	var checked, locked []time.Duration
	for range 5 {
		a := e.login(ctx, "192.0.2.1:1", "nobody-"+store.HashToken(time.Now().String())[:8], "wrong")
		expectAnswer(t, a, 400, "invalid_grant")
		checked = append(checked, a.took)
	}
	for range 3 {
		expectAnswer(t, e.login(ctx, "192.0.2.1:1", abuseUser, "wrong"), 400, "invalid_grant")
	}
	for range 5 {
		a := e.login(ctx, "192.0.2.1:1", abuseUser, abusePassword) // locked: refused even so
		expectAnswer(t, a, 400, "invalid_grant")
		locked = append(locked, a.took)
	}
	ratio := float64(median(locked)) / float64(median(checked))
	t.Logf("median refusal: checked %v, locked %v (ratio %.2f)", median(checked), median(locked), ratio)
	if ratio < 0.5 {
		t.Errorf("a locked name is refused %.2f× as fast as a checked one: its timing tells", 1/ratio)
	}
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

// bcrypt reads 72 bytes; at login a longer password never matches, so a
// correct 72-byte prefix plus any suffix is refused like a wrong password.
func TestPasswordOver72BytesNeverMatches(t *testing.T) {
	e := newAbuseEnv(t, nil, bcrypt.MinCost, func(c *Config) { c.ThrottleBurst = 1000 })
	long := strings.Repeat("p", store.MaxPasswordBytes)
	hash, err := store.HashPassword(long, bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.st.CreateUser(context.Background(), store.User{Username: "max", PasswordHash: hash, CreatedAt: e.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	expectAnswer(t, e.login(context.Background(), "192.0.2.1:1", "max", long), 200, "")
	wrong := e.login(context.Background(), "192.0.2.1:1", "max", "nope")
	tooLong := e.login(context.Background(), "192.0.2.1:1", "max", long+"suffix")
	expectAnswer(t, tooLong, 400, "invalid_grant")
	if tooLong.body["error_description"] != wrong.body["error_description"] {
		t.Errorf("over-long %v, wrong %v: want the same answer", tooLong.body, wrong.body)
	}
}

// No log line carries an unbounded request value.
func TestLogsStayBounded(t *testing.T) {
	e := newAbuseEnv(t, nil, bcrypt.MinCost, nil)
	huge := strings.Repeat("c", 60<<10)
	e.post(context.Background(), "192.0.2.1:1", "/token", url.Values{"grant_type": {"password"}, "client_id": {huge}})
	e.post(context.Background(), "192.0.2.1:1", "/"+huge, nil)
	for _, line := range strings.Split(e.logs.String(), "\n") {
		if len(line) > 2048 {
			t.Fatalf("log line of %d bytes: %.200s...", len(line), line)
		}
	}
	if !strings.Contains(e.logs.String(), "client_id="+strings.Repeat("c", 10)) {
		t.Fatal("the client id is not logged at all; the test proves nothing")
	}
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

func (g *gateStore) GetTokenForIntrospection(ctx context.Context, hash string) (store.Token, bool, error) {
	g.getTokens.Add(1)
	g.seen.Store(hash, true)
	return g.AuthStore.GetTokenForIntrospection(ctx, hash)
}

// An introspection is one store round trip: IntrospectionLookup, and no
// separate read of the client, the token or the user.
func TestIntrospectionIsOneStoreCall(t *testing.T) {
	e := newAbuseEnv(t, nil, bcrypt.MinCost, nil)
	from := "192.0.2.1:1"
	at := e.post(context.Background(), from, "/token", url.Values{"grant_type": {"client_credentials"}},
		"Authorization", basicAuth("rs", abuseRSSecret))
	expectAnswer(t, at, 200, "")
	for _, tc := range []struct {
		token  string
		active bool
	}{{at.body["access_token"].(string), true}, {"unknown", false}} {
		lookups, clients, tokens, users := e.st.lookups.Load(), e.st.getClients.Load(), e.st.getTokens.Load(), e.st.getUsers.Load()
		if in := e.introspect(from, tc.token); in.status != 200 || in.body["active"] != tc.active {
			t.Fatalf("introspect: %d %v, want active %v", in.status, in.body, tc.active)
		}
		if n := e.st.lookups.Load() - lookups; n != 1 {
			t.Errorf("%d IntrospectionLookup calls, want 1", n)
		}
		// The lookup counts once as a client and once as a token read.
		if c, k, u := e.st.getClients.Load()-clients, e.st.getTokens.Load()-tokens, e.st.getUsers.Load()-users; c != 1 || k != 1 || u != 0 {
			t.Errorf("client, token, user reads: %d, %d, %d; want 1, 1, 0", c, k, u)
		}
	}
}

// A failed login names a known user in the logs, but never a name no user
// has: that is often a password typed into the wrong field.
func TestUnknownUsernameNotLogged(t *testing.T) {
	e := newAbuseEnv(t, nil, bcrypt.MinCost, nil)
	ctx := context.Background()
	expectAnswer(t, e.login(ctx, "192.0.2.1:1", abuseUser, "wrong-password"), 400, "invalid_grant")
	if !strings.Contains(e.logs.String(), "username="+abuseUser) {
		t.Fatalf("a known user's failed login does not name them:\n%s", e.logs.String())
	}
	typed := "Tr0ub4dor-typed-in-the-wrong-field"
	expectAnswer(t, e.login(ctx, "192.0.2.1:1", typed, "x"), 400, "invalid_grant")
	if strings.Contains(e.logs.String(), typed) {
		t.Errorf("an unknown username was logged:\n%s", e.logs.String())
	}
}
