package admin_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/example/authsvc/authserver/admin"
	"github.com/example/authsvc/store"
	"github.com/example/authsvc/store/sqlite"
)

// testCost keeps bcrypt fast in tests.
const testCost = bcrypt.MinCost

func openBootstrapStore(t *testing.T) store.AuthStore {
	t.Helper()
	db, err := sqlite.OpenAuth(context.Background(), filepath.Join(t.TempDir(), "auth.db"))
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func bufferLogger(buf *bytes.Buffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

const sampleBootstrap = `
users:
  - username: alice
    password: alice-pass-1
  - username: carol
    password_hash: "%s"
clients:
  - id: web
    secret: web-secret-that-is-long-enough-000
    grants: [password, refresh_token]
    scopes: [items:read, items:write]
  - id: rs
    secret_hash: %s
    grants: [client_credentials]
    introspect: true
  - id: spa
    public: true
    grants: [password]
    scopes: [items:read]
`

func sampleDoc(t *testing.T) string {
	t.Helper()
	carolHash, err := bcrypt.GenerateFromPassword([]byte("carol-pass"), testCost)
	if err != nil {
		t.Fatal(err)
	}
	rsHash := hex.EncodeToString(store.HashClientSecret("rs-secret"))
	return strings.Replace(strings.Replace(sampleBootstrap, "%s", string(carolHash), 1), "%s", rsHash, 1)
}

func TestBootstrapCreatesAndIsIdempotent(t *testing.T) {
	ctx := context.Background()
	st := openBootstrapStore(t)
	doc := sampleDoc(t)
	var logs bytes.Buffer
	logger := bufferLogger(&logs)

	for run := range 2 {
		if err := bootstrap(ctx, logger, st, strings.NewReader(doc), testCost); err != nil {
			t.Fatalf("run %d: %v", run+1, err)
		}
	}

	users, err := st.ListUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != 2 {
		t.Fatalf("got %d users, want 2", len(users))
	}
	for _, tc := range []struct{ user, password string }{{"alice", "alice-pass-1"}, {"carol", "carol-pass"}} {
		u, err := st.GetUser(ctx, tc.user)
		if err != nil {
			t.Fatalf("get %s: %v", tc.user, err)
		}
		if err := bcrypt.CompareHashAndPassword(u.PasswordHash, []byte(tc.password)); err != nil {
			t.Errorf("%s: stored hash does not verify: %v", tc.user, err)
		}
		if u.Disabled || u.CreatedAt.IsZero() {
			t.Errorf("%s: got disabled=%v created=%v", tc.user, u.Disabled, u.CreatedAt)
		}
	}

	clients, err := st.ListClients(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(clients) != 3 {
		t.Fatalf("got %d clients, want 3", len(clients))
	}
	want := map[string]struct {
		secret     string // "" for public
		grants     string
		scopes     string
		introspect bool
	}{
		"web": {"web-secret-that-is-long-enough-000", "password refresh_token", "items:read items:write", false},
		"rs":  {"rs-secret", "client_credentials", "", true},
		"spa": {"", "password", "items:read", false},
	}
	for _, c := range clients {
		w, ok := want[c.ID]
		if !ok {
			t.Errorf("unexpected client %q", c.ID)
			continue
		}
		if w.secret == "" {
			if !c.Public() {
				t.Errorf("%s: want public", c.ID)
			}
		} else if !bytes.Equal(c.SecretHash, store.HashClientSecret(w.secret)) {
			t.Errorf("%s: stored secret hash is not HashClientSecret(secret)", c.ID)
		}
		if got := strings.Join(c.GrantTypes, " "); got != w.grants {
			t.Errorf("%s: grants %q, want %q", c.ID, got, w.grants)
		}
		if got := strings.Join(c.Scopes, " "); got != w.scopes {
			t.Errorf("%s: scopes %q, want %q", c.ID, got, w.scopes)
		}
		if c.Introspect != w.introspect {
			t.Errorf("%s: introspect %v, want %v", c.ID, c.Introspect, w.introspect)
		}
	}

	out := logs.String()
	if n := strings.Count(out, "exists, left unchanged"); n != 5 {
		t.Errorf("second run: %d \"exists, left unchanged\" lines, want 5:\n%s", n, out)
	}
	for _, secret := range []string{"alice-pass-1", "web-secret-that-is-long-enough-000", "$2a$", hex.EncodeToString(store.HashClientSecret("rs-secret"))} {
		if strings.Contains(out, secret) {
			t.Errorf("logs contain a password, secret or hash %q:\n%s", secret, out)
		}
	}
}

func TestBootstrapLeavesExistingUserPassword(t *testing.T) {
	ctx := context.Background()
	st := openBootstrapStore(t)
	hash, err := store.HashPassword("changed-by-admin", testCost)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := st.CreateUser(ctx, store.User{Username: "alice", PasswordHash: hash, Disabled: true, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}

	var logs bytes.Buffer
	if err := bootstrap(ctx, bufferLogger(&logs), st, strings.NewReader(sampleDoc(t)), testCost); err != nil {
		t.Fatal(err)
	}

	u, err := st.GetUser(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if err := bcrypt.CompareHashAndPassword(u.PasswordHash, []byte("changed-by-admin")); err != nil {
		t.Errorf("the administrator's password was overwritten: %v", err)
	}
	if !u.Disabled {
		t.Error("a disabled user was re-enabled")
	}
	if !strings.Contains(logs.String(), "user exists, left unchanged") {
		t.Errorf("no \"exists, left unchanged\" log:\n%s", logs.String())
	}
}

func TestBootstrapReportsEveryProblemBeforeWriting(t *testing.T) {
	ctx := context.Background()
	st := openBootstrapStore(t)
	doc := `
users:
  - username: good
    password: fine-password
  - username: ""
    password: x
  - username: dup
    password: x
  - username: dup
    password: x
  - username: nopass
  - username: both
    password: x
    password_hash: y
  - username: badhash
    password_hash: not-bcrypt
  - username: long
    password: "0123456789012345678901234567890123456789012345678901234567890123456789012"
clients:
  - id: ok
    secret: s
    grants: [password]
  - id: forgot-secret
    grants: [password]
  - id: public-cc
    public: true
    grants: [client_credentials]
  - id: unknown-grant
    secret: s
    grants: [implicit]
  - id: no-grants
    secret: s
  - id: bad-scope
    secret: s
    grants: [password]
    scopes: ["items:read items:write", "quo\"te"]
  - id: bad-hash
    secret_hash: abc
    grants: [password]
  - id: public-with-secret
    public: true
    secret: s
    grants: [password]
  - id: "   "
    secret: s
    grants: [password]
`
	err := bootstrap(ctx, slog.New(slog.DiscardHandler), st, strings.NewReader(doc), testCost)
	if err == nil {
		t.Fatal("Bootstrap accepted an invalid document")
	}
	msg := err.Error()
	for _, want := range []string{
		`users[1] "": empty username`,
		`users[3] "dup": listed twice`,
		`users[4] "nopass": password or password_hash is required`,
		`users[5] "both": set password or password_hash, not both`,
		`users[6] "badhash": password_hash is not a bcrypt hash`,
		`users[7] "long": password longer than 72 bytes`,
		`clients[1] "forgot-secret": set secret or secret_hash, or public: true`,
		`clients[2] "public-cc": a public client may not use the "client_credentials" grant`,
		`clients[3] "unknown-grant": unknown grant type "implicit"`,
		`clients[4] "no-grants": at least one grant type is required`,
		`clients[5] "bad-scope": scope "items:read items:write"`,
		`clients[5] "bad-scope": scope "quo\"te"`,
		`clients[6] "bad-hash": secret_hash must be the hex SHA-256`,
		`clients[7] "public-with-secret": a public client has no secret`,
		`clients[8] "   ": client id has leading or trailing spaces`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q", want)
		}
	}
	if strings.Contains(msg, `"good"`) || strings.Contains(msg, `"ok"`) {
		t.Errorf("valid entries reported as problems:\n%s", msg)
	}
	if t.Failed() {
		t.Logf("error:\n%s", msg)
	}

	users, err := st.ListUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	clients, err := st.ListClients(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != 0 || len(clients) != 0 {
		t.Errorf("an invalid document wrote %d users and %d clients, want none", len(users), len(clients))
	}
}

func TestBootstrapRejects(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		cost int
		want string
	}{
		{"unknown key", "users:\n  - username: a\n    pasword: x\n", testCost, "field pasword not found"},
		{"unknown top-level key", "user:\n  - username: a\n", testCost, "field user not found"},
		{"two documents", "users: []\n---\nclients: []\n", testCost, "want one YAML document"},
		{"not YAML", "users: [", testCost, "parse"},
		{"redirect with fragment", "clients:\n  - id: spa\n    public: true\n    grants: [authorization_code]\n    redirect_uris: [https://a.example/cb#x]\n", testCost, "must not have a fragment"},
		{"code grant without redirect", "clients:\n  - id: spa\n    public: true\n    grants: [authorization_code]\n", testCost, "needs at least one redirect URI"},
		{"password too short", "users:\n  - username: a\n    password: short\n", testCost, "password too short"},
		{"cost below bcrypt minimum", "users: []\n", bcrypt.MinCost - 1, "bcrypt cost 3 out of range"},
		{"cost above bcrypt maximum", "users: []\n", bcrypt.MaxCost + 1, "bcrypt cost 32 out of range"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := openBootstrapStore(t)
			err := bootstrap(context.Background(), slog.New(slog.DiscardHandler), st, strings.NewReader(tc.doc), tc.cost)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestBootstrapEmptyDocument(t *testing.T) {
	st := openBootstrapStore(t)
	if err := bootstrap(context.Background(), slog.New(slog.DiscardHandler), st, strings.NewReader(""), testCost); err != nil {
		t.Fatalf("empty document: %v", err)
	}
}

func TestDemoBootstrapLoads(t *testing.T) {
	ctx := context.Background()
	f, err := os.Open(filepath.Join("..", "..", "configs", "demo-bootstrap.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st := openBootstrapStore(t)
	if err := bootstrap(ctx, slog.New(slog.DiscardHandler), st, f, testCost); err != nil {
		t.Fatalf("the shipped demo bootstrap does not load: %v", err)
	}

	for _, name := range []string{"alice", "bob"} {
		if _, err := st.GetUser(ctx, name); err != nil {
			t.Errorf("demo user %s: %v", name, err)
		}
	}
	// The resource service's demo configuration depends on these.
	rs, err := st.GetClient(ctx, "resource-server")
	if err != nil {
		t.Fatal(err)
	}
	if !rs.Introspect || !bytes.Equal(rs.SecretHash, store.HashClientSecret("resource-secret-demo")) {
		t.Errorf("resource-server: introspect=%v, secret is resource-secret-demo: %v",
			rs.Introspect, bytes.Equal(rs.SecretHash, store.HashClientSecret("resource-secret-demo")))
	}
	// Self-contained and bound tokens of the demo (README).
	jwtClient, err := st.GetClient(ctx, "demo-jwt")
	if err != nil || !jwtClient.IssuesJWT() || jwtClient.RequireDPoP {
		t.Errorf("demo-jwt: %+v, %v; want JWT access tokens", jwtClient, err)
	}
	dpopClient, err := st.GetClient(ctx, "demo-dpop")
	if err != nil || !dpopClient.IssuesJWT() || !dpopClient.RequireDPoP || !dpopClient.Public() {
		t.Errorf("demo-dpop: %+v, %v; want a public JWT client that requires DPoP", dpopClient, err)
	}
	// Browser and device login of the demo (README walkthrough, demo CLI).
	spa, err := st.GetClient(ctx, "demo-spa")
	if err != nil {
		t.Fatal(err)
	}
	if !spa.Public() || spa.FirstParty || !spa.MatchRedirectURI("http://127.0.0.1:8090/callback") || !spa.MayUse(store.GrantAuthorizationCode) {
		t.Errorf("demo-spa: %+v", spa)
	}
	cli, err := st.GetClient(ctx, "demo-cli")
	if err != nil {
		t.Fatal(err)
	}
	if !cli.Public() || !cli.MayUse(store.GrantDeviceCode) {
		t.Errorf("demo-cli: %+v", cli)
	}
	pub, err := st.GetClient(ctx, "demo-public")
	if err != nil {
		t.Fatal(err)
	}
	if !pub.Public() {
		t.Error("demo-public is not public")
	}
	ro, err := st.GetClient(ctx, "demo-readonly")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(ro.Scopes, " "); got != "items:read" {
		t.Errorf("demo-readonly scopes %q, want items:read", got)
	}
	dc, err := st.GetClient(ctx, "demo-client")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(dc.GrantTypes, " "); got != "password refresh_token client_credentials" {
		t.Errorf("demo-client grants %q", got)
	}
}

// bootstrap runs the admin service's Bootstrap as the server does at start.
func bootstrap(ctx context.Context, logger *slog.Logger, st store.AuthStore, r io.Reader, cost int) error {
	svc, err := admin.New(st, logger, cost)
	if err != nil {
		return err
	}
	return svc.Bootstrap(ctx, r)
}
