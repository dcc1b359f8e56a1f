package main

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/example/authsvc/authserver/admin"
	"github.com/example/authsvc/authserver/adminapi"
	"github.com/example/authsvc/authserver/keys"
	"github.com/example/authsvc/cmd/internal/dbopen"
	"github.com/example/authsvc/store"
)

// serverEnv is an admin API over the test database, as a running server
// would serve it (holding the database's lock), and the environment that
// points authctl at it with a token of role.
func (e *testEnv) serveAdminAPI(t *testing.T, role adminapi.Role) {
	t.Helper()
	ctx := context.Background()
	st := e.store(t)
	svc, err := admin.New(st, slog.New(slog.DiscardHandler), 4)
	if err != nil {
		t.Fatal(err)
	}
	kek, err := keys.ParseKEK(newKEK())
	if err != nil {
		t.Fatal(err)
	}
	token := "authctl-test-" + string(role) + "-token-0123456789abcdef"
	tokens, err := adminapi.ParseTokens(strings.NewReader(string(role) + " tester " + adminapi.HashToken(token)))
	if err != nil {
		t.Fatal(err)
	}
	h, err := adminapi.NewHandler(slog.New(slog.DiscardHandler), svc, adminapi.Config{Tokens: tokens, KEK: kek,
		MigrationStatus: func(ctx context.Context) (store.SchemaStatus, error) {
			return dbopen.MigrationStatus(ctx, "sqlite:"+e.dbPath, store.AuthSchema)
		}})
	if err != nil {
		t.Fatal(err)
	}
	release, err := dbopen.HoldServerLock(ctx, "sqlite:"+e.dbPath, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { release() })
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.env["AUTHCTL_SERVER"] = srv.URL
	e.env["AUTHCTL_ADMIN_TOKEN_FILE"] = tokenFile
}

// TestServerMode runs authctl's commands through the admin API while the
// server holds the database: each change reaches the store.
func TestServerMode(t *testing.T) {
	e := newTestEnv(t)
	e.serveAdminAPI(t, adminapi.RoleAdmin)
	st := e.store(t)
	ctx := context.Background()

	e.mustRun(t, "alice-password-1\n", "user", "add", "alice")
	if u, err := st.GetUser(ctx, "alice"); err != nil || !u.PasswordMatches("alice-password-1") {
		t.Fatalf("alice after user add: %v", err)
	}
	e.mustRun(t, "alice-password-2\n", "user", "passwd", "alice")
	if u, _ := st.GetUser(ctx, "alice"); !u.PasswordMatches("alice-password-2") {
		t.Fatal("user passwd did not change the password")
	}
	if r := e.mustRun(t, "", "user", "disable", "alice"); !strings.Contains(r.stderr, "disabled") {
		t.Fatalf("disable: %s", r.stderr)
	}
	if r := e.mustRun(t, "", "user", "disable", "alice"); !strings.Contains(r.stderr, "already disabled") {
		t.Fatalf("second disable: %s", r.stderr)
	}
	e.mustRun(t, "", "user", "enable", "alice")
	e.mustRun(t, "", "user", "unlock", "alice")
	e.mustRun(t, "", "user", "revoke", "alice")
	var users []userView
	decode(t, e.mustRun(t, "", "user", "list", "-o", "json").stdout, &users)
	if len(users) != 1 || users[0].Username != "alice" || users[0].Disabled {
		t.Fatalf("user list: %+v", users)
	}

	secret := strings.TrimSpace(e.mustRun(t, "", "client", "add", "web", "--grants", "password,refresh_token", "--scopes", "items:read items:write").stdout)
	if c, err := st.GetClient(ctx, "web"); err != nil || !c.VerifySecret(secret) {
		t.Fatalf("client add: the printed secret is not the client's (%v)", err)
	}
	r := e.mustRun(t, "", "client", "update", "web", "--scopes", "items:read")
	if !strings.Contains(r.stderr, "revoked") {
		t.Fatalf("narrowing update: %s", r.stderr)
	}
	rotated := strings.TrimSpace(e.mustRun(t, "", "client", "rotate-secret", "web").stdout)
	if c, _ := st.GetClient(ctx, "web"); !c.VerifySecret(rotated) || c.VerifySecret(secret) {
		t.Fatal("rotate-secret did not replace the secret")
	}
	var cl clientView
	decode(t, e.mustRun(t, "", "client", "show", "web", "-o", "json").stdout, &cl)
	if cl.Public || len(cl.Scopes) != 1 {
		t.Fatalf("client show: %+v", cl)
	}
	if out := e.mustRun(t, "", "client", "list").stdout; !strings.Contains(out, "web") || strings.Contains(out, rotated) {
		t.Fatalf("client list: %s", out)
	}
	e.mustRun(t, "", "consent", "revoke", "--user", "alice", "--client", "web")
	e.mustRun(t, "", "client", "revoke", "web")

	// The server seals keys with its own key-encryption key: none here.
	kid := strings.TrimSpace(e.mustRun(t, "", "keys", "rotate", "--publish-for", "0s").stdout)
	if out := e.mustRun(t, "", "keys", "list").stdout; !strings.Contains(out, kid) || !strings.Contains(out, "signing") {
		t.Fatalf("keys list: %s", out)
	}
	if r := e.run(t, "", "keys", "retire", "--", kid); r.code != 1 || !strings.Contains(r.msg, "no other key signs") {
		t.Fatalf("retire the only signing key: %d %s", r.code, r.msg)
	}
	if out := e.mustRun(t, "", "migrate", "status").stdout; !strings.Contains(out, "up to date") {
		t.Fatalf("migrate status: %s", out)
	}
	if r := e.run(t, "", "migrate", "up"); r.code != 2 {
		t.Fatalf("migrate up through --server: exit %d %s", r.code, r.msg)
	}

	// Unknown names read as in direct mode.
	if r := e.run(t, "", "user", "show", "nobody"); r.code != 1 || r.msg != `user "nobody" not found` {
		t.Fatalf("user show nobody: %d %q", r.code, r.msg)
	}
	if r := e.run(t, "", "client", "delete", "nobody"); r.code != 1 || r.msg != `client "nobody" not found` {
		t.Fatalf("client delete nobody: %d %q", r.code, r.msg)
	}
	if r := e.run(t, "", "user", "add", "web"); r.code != 1 || !strings.Contains(r.msg, "client has that name") {
		t.Fatalf("user named as a client: %d %q", r.code, r.msg)
	}

	e.mustRun(t, "", "client", "delete", "web")
	e.mustRun(t, "", "user", "delete", "alice")
	if _, err := st.GetUser(ctx, "alice"); err == nil {
		t.Fatal("alice after user delete")
	}
}

// TestServerModeReadRole: a read-only token lists, and its writes are
// refused by the server with nothing changed.
func TestServerModeReadRole(t *testing.T) {
	e := newTestEnv(t)
	e.mustRun(t, "alice-password-1\n", "user", "add", "alice")
	e.serveAdminAPI(t, adminapi.RoleRead)
	if out := e.mustRun(t, "", "user", "list").stdout; !strings.Contains(out, "alice") {
		t.Fatalf("user list: %s", out)
	}
	r := e.run(t, "", "user", "delete", "alice")
	if r.code != 1 || !strings.Contains(r.msg, "admin role") {
		t.Fatalf("delete with a read token: %d %q", r.code, r.msg)
	}
	if _, err := e.store(t).GetUser(context.Background(), "alice"); err != nil {
		t.Fatalf("alice after a refused delete: %v", err)
	}
}

// TestDirectWriteRefusedWhileServerRuns: with a server holding the SQLite
// database, direct writes are refused with a pointer to --server, reads
// still work, and once it has stopped, writes work again.
func TestDirectWriteRefusedWhileServerRuns(t *testing.T) {
	e := newTestEnv(t)
	dsn := "sqlite:" + e.dbPath
	e.mustRun(t, "alice-password-1\n", "user", "add", "alice") // no server: fine

	release, err := dbopen.HoldServerLock(context.Background(), dsn, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"user", "add", "bob"},
		{"user", "delete", "alice"},
		{"user", "disable", "alice"},
		{"client", "add", "web", "--grants", "password"},
		{"migrate", "up"},
	} {
		r := e.run(t, "bob-password-1\n", args...)
		if r.code != 1 || !strings.Contains(r.msg, "--server") || !strings.Contains(r.msg, "AUTHCTL_SERVER") ||
			!strings.Contains(r.msg, e.dbPath+".lock") {
			t.Errorf("authctl %s while a server runs: exit %d %q", strings.Join(args, " "), r.code, r.msg)
		}
	}
	if out := e.mustRun(t, "", "user", "list").stdout; !strings.Contains(out, "alice") {
		t.Fatalf("user list while a server runs: %s", out)
	}
	st := e.store(t)
	if _, err := st.GetUser(context.Background(), "bob"); err == nil {
		t.Fatal("bob was created while a server ran")
	}
	if u, err := st.GetUser(context.Background(), "alice"); err != nil || u.Disabled {
		t.Fatalf("alice changed while a server ran: %+v %v", u, err)
	}

	if err := release(); err != nil {
		t.Fatal(err)
	}
	e.mustRun(t, "bob-password-1\n", "user", "add", "bob")
}
