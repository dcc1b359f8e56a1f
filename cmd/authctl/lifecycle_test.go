package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/example/authsvc/cmd/internal/dbopen"
	"github.com/example/authsvc/store"
)

// -h and --help work on every command and subcommand, print the usage on
// stdout and exit 0.
func TestHelpEverywhere(t *testing.T) {
	e := newTestEnv(t)
	commands := [][]string{{}, {"user"}, {"client"}, {"migrate"}, {"migrate", "status"}, {"migrate", "up"}}
	for _, v := range []string{"add", "passwd", "disable", "enable", "unlock", "revoke", "delete", "list", "show"} {
		commands = append(commands, []string{"user", v})
	}
	for _, v := range []string{"add", "show", "list", "update", "rotate-secret", "revoke", "delete"} {
		commands = append(commands, []string{"client", v})
	}
	for _, cmd := range commands {
		for _, h := range []string{"-h", "--help"} {
			r := e.run(t, "", append(cmd, h)...)
			if r.code != 0 || !strings.Contains(r.stdout, "Usage:") {
				t.Errorf("authctl %s %s: exit %d, stdout %q", strings.Join(cmd, " "), h, r.code, r.stdout)
			}
		}
	}
	if r := e.run(t, "", "help", "client"); r.code != 0 || !strings.Contains(r.stdout, "rotate-secret") {
		t.Errorf("authctl help client: %+v", r)
	}
	if _, err := os.Stat(e.dbPath); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("help touched the database: %v", err)
	}
}

// A usage error exits 2 with the command's usage on stderr.
func TestUsageErrorPrintsUsage(t *testing.T) {
	e := newTestEnv(t)
	r := e.run(t, "", "client", "update", "web")
	if r.code != 2 || !strings.Contains(r.msg, "nothing to change") || !strings.Contains(r.stderr, "authctl client update ID") {
		t.Errorf("update without a change: %+v", r)
	}
	r = e.run(t, "", "user", "list", "-o", "yaml")
	if r.code != 2 || !strings.Contains(r.msg, `"yaml"`) {
		t.Errorf("unknown output format: %+v", r)
	}
}

func TestJSONOutput(t *testing.T) {
	e := newTestEnv(t)
	e.mustRun(t, "alice-password\n", "user", "add", "alice")
	secret := strings.TrimSpace(e.mustRun(t, "", "client", "add", "web", "--grants", "password,refresh_token", "--scopes", "items:read items:write").stdout)
	e.mustRun(t, "", "client", "add", "spa", "--public", "--grants", "password")

	var users []userView
	decode(t, e.mustRun(t, "", "user", "list", "-o", "json").stdout, &users)
	if len(users) != 1 || users[0].Username != "alice" || users[0].Disabled || users[0].CreatedAt.IsZero() {
		t.Errorf("user list -o json: %+v", users)
	}
	var u userView
	decode(t, e.mustRun(t, "", "user", "show", "alice", "-o", "json").stdout, &u)
	if u.Username != "alice" {
		t.Errorf("user show -o json: %+v", u)
	}
	var clients []clientView
	out := e.mustRun(t, "", "client", "list", "--output=json").stdout
	decode(t, out, &clients)
	if len(clients) != 2 || clients[0].ID != "spa" || !clients[0].Public || len(clients[0].Scopes) != 0 ||
		clients[1].ID != "web" || strings.Join(clients[1].Scopes, " ") != "items:read items:write" {
		t.Errorf("client list -o json: %+v", clients)
	}
	show := e.mustRun(t, "", "client", "show", "web", "-o", "json").stdout
	var c clientView
	decode(t, show, &c)
	if c.ID != "web" || c.Public || strings.Join(c.Grants, ",") != "password,refresh_token" {
		t.Errorf("client show -o json: %+v", c)
	}
	text := e.mustRun(t, "", "client", "show", "web").stdout
	if !strings.Contains(text, "items:read items:write") {
		t.Errorf("client show:\n%s", text)
	}
	for _, o := range []string{out, show, text} {
		if strings.Contains(o, secret) || strings.Contains(o, "secret") || strings.Contains(o, "hash") {
			t.Errorf("output names a secret or hash:\n%s", o)
		}
	}
}

func decode(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, s)
	}
}

func TestClientUpdate(t *testing.T) {
	e := newTestEnv(t)
	alice, _, cc := e.setupGrants(t) // web: password, refresh_token, client_credentials
	r := e.mustRun(t, "", "client", "update", "web", "--scopes", "items:read items:write", "--introspect=true")
	if strings.Contains(r.stderr, "revoked") {
		t.Errorf("widening says it revoked: %q", r.stderr)
	}
	if n := e.countAlive(t, append(alice, cc...)); n != 3 {
		t.Fatalf("%d of 3 tokens alive after widening", n)
	}
	c, err := e.store(t).GetClient(context.Background(), "web")
	if err != nil {
		t.Fatal(err)
	}
	if !c.Introspect || strings.Join(c.Scopes, " ") != "items:read items:write" || len(c.GrantTypes) != 3 {
		t.Errorf("after update: %+v", c)
	}

	// The old single-dash spelling, narrowing: every token of web ends.
	r = e.mustRun(t, "", "client", "update", "web", "-grants", "password,refresh_token", "--introspect=false")
	if !strings.Contains(r.stderr, "revoked") {
		t.Errorf("narrowing does not say it revoked: %q", r.stderr)
	}
	if n := e.countAlive(t, append(alice, cc...)); n != 0 {
		t.Errorf("%d tokens alive after narrowing, want 0", n)
	}
	if r := e.run(t, "", "client", "update", "web", "--grants", "client_credentials,implicit"); r.code != 1 || !strings.Contains(r.msg, "implicit") {
		t.Errorf("bad grant: %+v", r)
	}
	if r := e.run(t, "", "client", "update", "nothing", "--introspect"); r.code != 1 || !strings.Contains(r.msg, `"nothing" not found`) {
		t.Errorf("unknown client: %+v", r)
	}
}

func TestClientRotateSecret(t *testing.T) {
	e := newTestEnv(t)
	alice, _, _ := e.setupGrants(t)
	st := e.store(t)
	before, err := st.GetClient(context.Background(), "web")
	if err != nil {
		t.Fatal(err)
	}
	r := e.mustRun(t, "", "client", "rotate-secret", "web")
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if len(lines) != 1 || len(lines[0]) < 43 {
		t.Fatalf("stdout %q, want the new secret alone on one line", r.stdout)
	}
	if strings.Contains(r.stderr, lines[0]) {
		t.Error("the secret is on stderr as well")
	}
	after, err := st.GetClient(context.Background(), "web")
	if err != nil {
		t.Fatal(err)
	}
	if !after.VerifySecret(lines[0]) {
		t.Error("the printed secret does not verify")
	}
	if bytes.Equal(before.SecretHash, after.SecretHash) {
		t.Error("the old secret hash is still stored")
	}
	if n := e.countAlive(t, alice); n != 2 {
		t.Errorf("%d of alice's 2 tokens alive after a rotation; a rotation ends no grant", n)
	}

	e.mustRun(t, "", "client", "add", "spa", "--public", "--grants", "password")
	if r := e.run(t, "", "client", "rotate-secret", "spa"); r.code != 1 || !strings.Contains(r.msg, "public") || r.stdout != "" {
		t.Errorf("rotate-secret of a public client: %+v", r)
	}
}

func TestDelete(t *testing.T) {
	e := newTestEnv(t)
	alice, bob, cc := e.setupGrants(t)
	if n := e.countAlive(t, alice); n != 2 {
		t.Fatalf("%d of alice's tokens alive before the delete", n)
	}
	e.mustRun(t, "", "user", "delete", "alice")
	if a, b := e.countAlive(t, alice), e.countAlive(t, bob); a != 0 || b != 2 {
		t.Errorf("after user delete: alive %d, %d; want 0, 2", a, b)
	}
	if r := e.run(t, "", "user", "show", "alice"); r.code != 1 || !strings.Contains(r.msg, `"alice" not found`) {
		t.Errorf("user show after delete: %+v", r)
	}
	e.mustRun(t, "", "client", "delete", "web")
	if n := e.countAlive(t, append(bob, cc...)); n != 0 {
		t.Errorf("%d tokens of web alive after its delete", n)
	}
	for _, args := range [][]string{{"user", "delete", "alice"}, {"client", "delete", "web"}} {
		if r := e.run(t, "", args...); r.code != 1 || !strings.Contains(r.msg, "not found") {
			t.Errorf("%v again: %+v", args, r)
		}
	}
}

// authctl never creates a directory it was pointed at by mistake; a new
// file in an existing directory is created and migrated.
func TestMissingDirectory(t *testing.T) {
	e := newTestEnv(t)
	e.mustRun(t, "", "user", "list")
	if _, err := os.Stat(e.dbPath); err != nil {
		t.Fatalf("a new database file was not created: %v", err)
	}
	missing := filepath.Join(t.TempDir(), "typo", "auth.db")
	r := e.run(t, "", "--db", "sqlite:"+missing, "user", "list")
	if r.code != 1 || !strings.Contains(r.msg, "typo") {
		t.Errorf("missing directory: %+v", r)
	}
	if _, err := os.Stat(filepath.Dir(missing)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the missing directory was created: %v", err)
	}
}

func TestMigrate(t *testing.T) {
	e := newTestEnv(t)
	r := e.mustRun(t, "", "migrate", "status")
	if !strings.Contains(r.stdout, "current: 0") || !strings.Contains(r.stdout, "pending") {
		t.Errorf("status of a new database:\n%s", r.stdout)
	}
	if err := e.openCurrent(); !errors.Is(err, store.ErrSchemaOutdated) {
		t.Fatalf("before migrate up: %v, want ErrSchemaOutdated", err)
	}
	r = e.mustRun(t, "", "migrate", "up")
	if !strings.Contains(r.stderr, "migrated from version 0") {
		t.Errorf("migrate up: %q", r.stderr)
	}
	if err := e.openCurrent(); err != nil {
		t.Fatalf("after migrate up: %v", err)
	}
	if r := e.mustRun(t, "", "migrate", "status"); !strings.Contains(r.stdout, "up to date") {
		t.Errorf("status after up:\n%s", r.stdout)
	}
	if r := e.mustRun(t, "", "migrate", "up"); !strings.Contains(r.stderr, "already at version") {
		t.Errorf("second migrate up: %q", r.stderr)
	}

	items := "sqlite:" + filepath.Join(t.TempDir(), "items.db")
	e.mustRun(t, "", "--db", items, "migrate", "up", "--schema", "items")
	if r := e.mustRun(t, "", "--db", items, "migrate", "status", "--schema=items"); !strings.Contains(r.stdout, "up to date") {
		t.Errorf("items status after up:\n%s", r.stdout)
	}
	if r := e.run(t, "", "migrate", "status", "--schema", "nope"); r.code != 2 {
		t.Errorf("unknown schema: %+v", r)
	}
}

// openCurrent opens the test database without migrating it.
func (e *testEnv) openCurrent() error {
	st, err := dbopen.OpenAuth(context.Background(), e.env["AUTH_DB"], store.RequireCurrentSchema())
	if err == nil {
		st.Close()
	}
	return err
}

// Audit events go to stderr as JSON lines only when asked for.
func TestAuditOutput(t *testing.T) {
	e := newTestEnv(t)
	r := e.mustRun(t, "alice-password\n", "user", "add", "alice")
	if strings.Contains(r.stderr, `"audit"`) {
		t.Errorf("audit events without --audit: %q", r.stderr)
	}
	r = e.mustRun(t, "", "--audit", "client", "add", "web", "--grants", "client_credentials")
	secret := strings.TrimSpace(r.stdout)
	if !strings.Contains(r.stderr, `"msg":"audit"`) || !strings.Contains(r.stderr, `"event":"client_created"`) || !strings.Contains(r.stderr, `"via":"authctl"`) {
		t.Errorf("--audit: %q", r.stderr)
	}
	e.env["AUTHCTL_AUDIT"] = "1"
	r = e.mustRun(t, "", "client", "rotate-secret", "web")
	if !strings.Contains(r.stderr, `"event":"client_secret_rotated"`) {
		t.Errorf("AUTHCTL_AUDIT=1: %q", r.stderr)
	}
	if newSecret := strings.TrimSpace(r.stdout); strings.Contains(r.stderr, newSecret) || strings.Contains(r.stderr, secret) {
		t.Error("an audit event carries a secret")
	}
}
