package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/example/authsvc/store"
	"github.com/example/authsvc/store/sqlite"
)

// testEnv is one temp-dir SQLite database and the environment authctl sees.
type testEnv struct {
	dbPath string
	env    map[string]string
}

func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	path := filepath.Join(t.TempDir(), "auth.db")
	return &testEnv{
		dbPath: path,
		// The database comes from the environment, as in the compose demo;
		// cost 4 keeps bcrypt fast and must draw the warning.
		env: map[string]string{"AUTH_DB": "sqlite:" + path, "AUTH_BCRYPT_COST": "4"},
	}
}

type result struct {
	code           int
	msg            string // the error main would print after "authctl: "
	stdout, stderr string
}

// run runs authctl with stdin and args (without the program name).
func (e *testEnv) run(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	getenv := func(k string) string { return e.env[k] }
	err := run(context.Background(), append([]string{"authctl"}, args...), getenv, strings.NewReader(stdin), &stdout, &stderr)
	r := result{code: exitCode(err), stdout: stdout.String(), stderr: stderr.String()}
	if err != nil {
		r.msg = err.Error()
	}
	return r
}

// mustRun runs a command that has to succeed.
func (e *testEnv) mustRun(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	r := e.run(t, stdin, args...)
	if r.code != 0 {
		t.Fatalf("authctl %s: exit %d: %s\nstderr: %s", strings.Join(args, " "), r.code, r.msg, r.stderr)
	}
	return r
}

// store opens the database authctl wrote, for checking what it stored.
func (e *testEnv) store(t *testing.T) store.AuthStore {
	t.Helper()
	db, err := sqlite.OpenAuth(context.Background(), e.dbPath)
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestUserAddFromStdin(t *testing.T) {
	e := newTestEnv(t)
	r := e.mustRun(t, "correct horse battery\r\nsecond line ignored\n", "user", "add", "alice")
	if !strings.Contains(r.stderr, "WARNING: bcrypt cost 4") {
		t.Errorf("no low-cost warning on stderr: %q", r.stderr)
	}
	if !strings.Contains(r.stderr, `user "alice" created`) {
		t.Errorf("stderr %q", r.stderr)
	}
	if r.stdout != "" {
		t.Errorf("stdout %q, want nothing", r.stdout)
	}

	u, err := e.store(t).GetUser(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	// The CRLF is trimmed, inner spaces are kept.
	if err := bcrypt.CompareHashAndPassword(u.PasswordHash, []byte("correct horse battery")); err != nil {
		t.Errorf("stored hash does not verify: %v", err)
	}
	if cost, _ := bcrypt.Cost(u.PasswordHash); cost != 4 {
		t.Errorf("bcrypt cost %d, want AUTH_BCRYPT_COST=4", cost)
	}
	if u.Disabled || u.CreatedAt.IsZero() {
		t.Errorf("disabled=%v created=%v", u.Disabled, u.CreatedAt)
	}
}

func TestUserPasswd(t *testing.T) {
	e := newTestEnv(t)
	e.mustRun(t, "old-password\n", "user", "add", "alice")
	st := e.store(t)
	before, err := st.GetUser(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	e.mustRun(t, "new-password\n", "user", "passwd", "alice")
	after, err := st.GetUser(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(before.PasswordHash, after.PasswordHash) {
		t.Fatal("passwd left the hash unchanged")
	}
	if bcrypt.CompareHashAndPassword(after.PasswordHash, []byte("new-password")) != nil {
		t.Error("the new password does not verify")
	}
	if bcrypt.CompareHashAndPassword(after.PasswordHash, []byte("old-password")) == nil {
		t.Error("the old password still verifies")
	}
}

func TestUserDisableEnable(t *testing.T) {
	e := newTestEnv(t)
	e.mustRun(t, "pw-12345\n", "user", "add", "alice")
	st := e.store(t)
	for _, step := range []struct {
		cmd  string
		want bool
	}{{"disable", true}, {"disable", true}, {"enable", false}, {"enable", false}, {"disable", true}} {
		e.mustRun(t, "", "user", step.cmd, "alice")
		u, err := st.GetUser(context.Background(), "alice")
		if err != nil {
			t.Fatal(err)
		}
		if u.Disabled != step.want {
			t.Fatalf("after %s: disabled=%v, want %v", step.cmd, u.Disabled, step.want)
		}
	}
	// The password survives.
	u, _ := st.GetUser(context.Background(), "alice")
	if bcrypt.CompareHashAndPassword(u.PasswordHash, []byte("pw-12345")) != nil {
		t.Error("disable/enable changed the password")
	}
}

func TestClientAddGeneratedSecret(t *testing.T) {
	e := newTestEnv(t)
	// Flags after the positional id, with both - and -- spellings.
	r := e.mustRun(t, "", "client", "add", "web", "--grants", "password, refresh_token", "-scopes", "items:read items:write", "--introspect")
	secret := strings.TrimSuffix(r.stdout, "\n")
	if secret == "" || strings.Contains(secret, "\n") {
		t.Fatalf("stdout %q, want the secret alone on one line", r.stdout)
	}
	if len(secret) < 43 {
		t.Errorf("secret %q is shorter than 256 bits of base64url", secret)
	}
	if !strings.Contains(r.stderr, "cannot be shown again") {
		t.Errorf("stderr %q does not say the secret cannot be shown again", r.stderr)
	}
	if strings.Contains(r.stderr, secret) {
		t.Error("the secret is on stderr as well")
	}

	c, err := e.store(t).GetClient(context.Background(), "web")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(c.SecretHash, store.HashClientSecret(secret)) {
		t.Error("stored hash is not HashClientSecret(printed secret)")
	}
	if !slices.Equal(c.GrantTypes, []string{"password", "refresh_token"}) ||
		!slices.Equal(c.Scopes, []string{"items:read", "items:write"}) || !c.Introspect || c.Public() {
		t.Errorf("stored %+v", c)
	}
}

func TestClientAddSecretStdin(t *testing.T) {
	e := newTestEnv(t)
	r := e.mustRun(t, "short+/=%:secret\n", "client", "add", "--secret-stdin", "-grants", "client_credentials", "rs")
	if r.stdout != "" {
		t.Errorf("stdout %q: a secret read from stdin is not echoed", r.stdout)
	}
	if !strings.Contains(r.stderr, "warning: the client secret is shorter than 32") {
		t.Errorf("no short-secret warning: %q", r.stderr)
	}
	c, err := e.store(t).GetClient(context.Background(), "rs")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(c.SecretHash, store.HashClientSecret("short+/=%:secret")) {
		t.Error("stored hash is not HashClientSecret(stdin line)")
	}
	if len(c.Scopes) != 0 || c.Introspect {
		t.Errorf("stored %+v", c)
	}
}

func TestClientAddPublic(t *testing.T) {
	e := newTestEnv(t)
	r := e.mustRun(t, "", "client", "add", "spa", "-public", "-grants", "password,refresh_token", "-scopes", "items:read")
	if r.stdout != "" {
		t.Errorf("stdout %q, want nothing for a public client", r.stdout)
	}
	c, err := e.store(t).GetClient(context.Background(), "spa")
	if err != nil {
		t.Fatal(err)
	}
	if !c.Public() {
		t.Error("client is not public")
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name     string
		env      map[string]string // added to the test environment
		setup    [][]string        // commands run first, each must succeed (stdin "pw-12345\n")
		stdin    string
		args     []string
		wantCode int
		wantMsg  string // in the error
		wantErr  string // on stderr
	}{
		{name: "no arguments", wantCode: 2, wantMsg: "missing command", wantErr: "Usage:\n  authctl [flags]"},
		{name: "unknown command", args: []string{"frobnicate"}, wantCode: 2, wantMsg: `unknown command "frobnicate"`},
		{name: "unknown subcommand", args: []string{"user", "remove", "x"}, wantCode: 2, wantMsg: `unknown command "user remove"`},
		{name: "missing subcommand", args: []string{"client"}, wantCode: 2, wantMsg: "client: missing subcommand"},
		{name: "unknown global flag", args: []string{"-verbose", "user", "list"}, wantCode: 2, wantMsg: "unknown shorthand flag: 'v' in -verbose", wantErr: "Usage:"},
		{name: "unknown command flag", args: []string{"client", "add", "x", "-grant", "password"}, wantCode: 2, wantMsg: "unknown shorthand flag: 'g' in -grant", wantErr: "authctl client add ID"},
		{name: "missing name", args: []string{"user", "add"}, wantCode: 2, wantMsg: "usage: authctl user add NAME"},
		{name: "extra argument", args: []string{"user", "list", "x"}, wantCode: 2, wantMsg: "usage: authctl user list"},
		{name: "bcrypt cost too low", env: map[string]string{"AUTH_BCRYPT_COST": "3"}, args: []string{"user", "list"}, wantCode: 2, wantMsg: "bcrypt cost 3 out of range"},
		{name: "bcrypt cost too high", args: []string{"-bcrypt-cost", "32", "user", "list"}, wantCode: 2, wantMsg: "bcrypt cost 32 out of range"},
		{name: "bcrypt cost not a number", env: map[string]string{"AUTH_BCRYPT_COST": "twelve"}, args: []string{"user", "list"}, wantCode: 2, wantMsg: "AUTH_BCRYPT_COST"},
		{name: "bad db", args: []string{"-db", "mysql://x", "user", "list"}, wantCode: 1, wantMsg: "unsupported"},

		{name: "duplicate user", setup: [][]string{{"user", "add", "alice"}}, stdin: "pw2-12345\n", args: []string{"user", "add", "alice"}, wantCode: 1, wantMsg: `user "alice" already exists`},
		{name: "password too short", stdin: "seven-c\n", args: []string{"user", "add", "alice"}, wantCode: 1, wantMsg: "password too short: 7 characters, at least 8"},
		{name: "empty password", stdin: "\n", args: []string{"user", "add", "alice"}, wantCode: 1, wantMsg: "empty password"},
		{name: "no password on stdin", stdin: "", args: []string{"user", "add", "alice"}, wantCode: 1, wantMsg: "empty password"},
		{name: "password too long", stdin: strings.Repeat("x", 73) + "\n", args: []string{"user", "add", "alice"}, wantCode: 1, wantMsg: "longer than 72 bytes"},
		{name: "bad username", stdin: "pw\n", args: []string{"user", "add", " alice"}, wantCode: 2, wantMsg: "leading or trailing spaces"},
		{name: "passwd unknown user", stdin: "pw\n", args: []string{"user", "passwd", "nobody"}, wantCode: 1, wantMsg: `user "nobody" not found`},
		{name: "disable unknown user", args: []string{"user", "disable", "nobody"}, wantCode: 1, wantMsg: `user "nobody" not found`},
		{name: "enable unknown user", args: []string{"user", "enable", "nobody"}, wantCode: 1, wantMsg: `user "nobody" not found`},

		{name: "no grants", args: []string{"client", "add", "x"}, wantCode: 2, wantMsg: "at least one grant type is required"},
		{name: "unknown grant", args: []string{"client", "add", "x", "-grants", "password,implicit"}, wantCode: 2, wantMsg: `unknown grant type "implicit"`},
		{name: "bad scope", args: []string{"client", "add", "x", "-grants", "password", "-scopes", `items:read a"b`}, wantCode: 2, wantMsg: `scope "a\"b" has a character`},
		{name: "public with client_credentials", args: []string{"client", "add", "x", "-public", "-grants", "client_credentials"}, wantCode: 2, wantMsg: `a public client may not use the "client_credentials" grant`},
		{name: "public with secret-stdin", stdin: "s\n", args: []string{"client", "add", "x", "-public", "-secret-stdin", "-grants", "password"}, wantCode: 2, wantMsg: "contradict"},
		{name: "empty secret on stdin", stdin: "\n", args: []string{"client", "add", "x", "-secret-stdin", "-grants", "password"}, wantCode: 1, wantMsg: "empty client secret"},
		{name: "non-ASCII secret on stdin", stdin: "sécret\n", args: []string{"client", "add", "x", "-secret-stdin", "-grants", "password"}, wantCode: 1, wantMsg: "printable ASCII"},
		{name: "bad client id", args: []string{"client", "add", "ünï", "-grants", "password"}, wantCode: 2, wantMsg: "printable ASCII"},
		{name: "redirect with fragment", args: []string{"client", "add", "x", "-public", "-grants", "authorization_code", "-redirect-uri", "https://app.example/cb#frag"}, wantCode: 2, wantMsg: "must not have a fragment"},
		{name: "redirect over http", args: []string{"client", "add", "x", "-public", "-grants", "authorization_code", "-redirect-uri", "http://app.example/cb"}, wantCode: 2, wantMsg: "http is allowed only on a loopback IP"},
		{name: "redirect to localhost", args: []string{"client", "add", "x", "-public", "-grants", "authorization_code", "-redirect-uri", "http://localhost:8090/cb"}, wantCode: 2, wantMsg: "http is allowed only on a loopback IP"},
		{name: "code grant without redirect", args: []string{"client", "add", "x", "-public", "-grants", "authorization_code"}, wantCode: 2, wantMsg: "the authorization_code grant needs at least one redirect URI"},
		{name: "update to code grant without redirect", setup: [][]string{{"client", "add", "x", "-public", "-grants", "password"}}, args: []string{"client", "update", "x", "-grants", "authorization_code"}, wantCode: 1, wantMsg: "needs at least one redirect URI"},
		{name: "redirects contradict", setup: [][]string{{"client", "add", "x", "-public", "-grants", "password"}}, args: []string{"client", "update", "x", "-no-redirect-uris", "-redirect-uri", "https://a.example/cb"}, wantCode: 2, wantMsg: "contradict"},
		{name: "consent of nobody", setup: [][]string{{"client", "add", "x", "-public", "-grants", "password"}}, args: []string{"consent", "revoke", "-user", "nobody", "-client", "x"}, wantCode: 1, wantMsg: `no user "nobody" or no client "x"`},
		{name: "consent without client", args: []string{"consent", "revoke", "-user", "alice"}, wantCode: 2, wantMsg: "give both --user and --client"},
		{name: "duplicate client", setup: [][]string{{"client", "add", "x", "-grants", "password"}}, args: []string{"client", "add", "x", "-grants", "password"}, wantCode: 1, wantMsg: `client "x" already exists`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t)
			for k, v := range tc.env {
				e.env[k] = v
			}
			for _, cmd := range tc.setup {
				e.mustRun(t, "pw-12345\n", cmd...)
			}
			r := e.run(t, tc.stdin, tc.args...)
			if r.code != tc.wantCode {
				t.Errorf("exit %d, want %d (error %q)", r.code, tc.wantCode, r.msg)
			}
			if !strings.Contains(r.msg, tc.wantMsg) {
				t.Errorf("error %q, want it to contain %q", r.msg, tc.wantMsg)
			}
			if strings.Contains(r.msg, "\n") {
				t.Errorf("error %q is not one line", r.msg)
			}
			if !strings.Contains(r.stderr, tc.wantErr) {
				t.Errorf("stderr %q, want it to contain %q", r.stderr, tc.wantErr)
			}
		})
	}
}

func TestFailedClientAddWritesNothing(t *testing.T) {
	e := newTestEnv(t)
	e.run(t, "", "client", "add", "x", "-public", "-grants", "client_credentials")
	clients, err := e.store(t).ListClients(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(clients) != 0 {
		t.Errorf("a rejected client was stored: %+v", clients)
	}
}

func TestListsNeverShowSecrets(t *testing.T) {
	e := newTestEnv(t)
	e.mustRun(t, "alice-password\n", "user", "add", "alice")
	e.mustRun(t, "bob-password\n", "user", "add", "bob")
	e.mustRun(t, "", "user", "disable", "bob")
	generated := strings.TrimSpace(e.mustRun(t, "", "client", "add", "web", "-grants", "password,refresh_token", "-scopes", "items:read items:write").stdout)
	e.mustRun(t, "chosen-secret-0123456789-0123456789\n", "client", "add", "rs", "-secret-stdin", "-grants", "client_credentials", "-introspect")
	e.mustRun(t, "", "client", "add", "spa", "-public", "-grants", "password")

	users := e.mustRun(t, "", "user", "list").stdout
	clients := e.mustRun(t, "", "client", "list").stdout

	wantLines := map[string][]string{
		users: {
			"USERNAME DISABLED CREATED",
			"alice false",
			"bob true",
		},
		clients: {
			"ID PUBLIC GRANTS SCOPES INTROSPECT",
			"rs false client_credentials - true",
			"spa true password - false",
			"web false password,refresh_token items:read,items:write false",
		},
	}
	for out, want := range wantLines {
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != len(want) {
			t.Fatalf("got %d lines, want %d:\n%s", len(lines), len(want), out)
		}
		for i, w := range want {
			if got := strings.Join(strings.Fields(lines[i]), " "); !strings.HasPrefix(got, w) {
				t.Errorf("line %d %q, want it to start with %q", i, got, w)
			}
		}
	}

	st := e.store(t)
	var forbidden []string
	for _, name := range []string{"alice", "bob"} {
		u, err := st.GetUser(context.Background(), name)
		if err != nil {
			t.Fatal(err)
		}
		forbidden = append(forbidden, string(u.PasswordHash))
	}
	forbidden = append(forbidden, "$2a$", "alice-password", "bob-password", generated, "chosen-secret",
		hex.EncodeToString(store.HashClientSecret(generated)),
		hex.EncodeToString(store.HashClientSecret("chosen-secret-0123456789-0123456789")))
	for _, out := range []string{users, clients} {
		for _, f := range forbidden {
			if strings.Contains(out, f) {
				t.Errorf("list output contains a password, secret or hash %q:\n%s", f, out)
			}
		}
	}
}

func TestUserUnlock(t *testing.T) {
	e := newTestEnv(t)
	e.mustRun(t, "alice-password\n", "user", "add", "alice")
	policy := store.LoginPolicy{Threshold: 2, Lockout: time.Hour, MaxLockout: time.Hour}
	now := time.Now()
	func() {
		st := e.store(t)
		for i := 0; i < 2; i++ {
			if _, err := st.BeginLogin(context.Background(), "alice", now, policy); err != nil {
				t.Fatal(err)
			}
		}
		if a, _ := st.BeginLogin(context.Background(), "alice", now, policy); a.Allowed {
			t.Fatal("alice should be locked")
		}
		st.Close()
	}()
	e.mustRun(t, "", "user", "unlock", "alice")
	if a, err := e.store(t).BeginLogin(context.Background(), "alice", now, policy); err != nil || !a.Allowed {
		t.Fatalf("after unlock: %+v err=%v", a, err)
	}
	if r := e.run(t, "", "user", "unlock", "nobody"); r.code != 1 || !strings.Contains(r.msg, `"nobody" not found`) {
		t.Fatalf("unknown user: %+v", r)
	}
}

// Browser login's client settings round-trip through add, show, list and
// update; device_code is short for its URN.
func TestClientBrowserLoginSettings(t *testing.T) {
	e := newTestEnv(t)
	e.mustRun(t, "", "client", "add", "spa", "-public", "-grants", "authorization_code,refresh_token,device_code",
		"-redirect-uri", "https://app.example/cb", "-redirect-uri", "http://127.0.0.1/cb", "-first-party", "-scopes", "items:read")
	ctx := context.Background()
	c, err := e.store(t).GetClient(ctx, "spa")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.RedirectURIs, []string{"https://app.example/cb", "http://127.0.0.1/cb"}) || !c.FirstParty ||
		!slices.Equal(c.GrantTypes, []string{"authorization_code", "refresh_token", store.GrantDeviceCode}) {
		t.Fatalf("stored %+v", c)
	}
	show := e.mustRun(t, "", "client", "show", "spa").stdout
	for _, want := range []string{"https://app.example/cb http://127.0.0.1/cb", store.GrantDeviceCode, "first-party"} {
		if !strings.Contains(show, want) {
			t.Errorf("show lacks %q:\n%s", want, show)
		}
	}
	js := e.mustRun(t, "", "client", "list", "-o", "json").stdout
	if !strings.Contains(js, `"redirect_uris": [`) || !strings.Contains(js, `"first_party": true`) {
		t.Errorf("list -o json: %s", js)
	}

	e.mustRun(t, "", "client", "update", "spa", "-redirect-uri", "https://other.example/cb", "-first-party=false")
	c, _ = e.store(t).GetClient(ctx, "spa")
	if !slices.Equal(c.RedirectURIs, []string{"https://other.example/cb"}) || c.FirstParty {
		t.Fatalf("after update: %+v", c)
	}
	// Emptying the list is refused while the client has the code grant.
	if r := e.run(t, "", "client", "update", "spa", "-no-redirect-uris"); r.code == 0 {
		t.Fatal("a code-grant client lost its last redirect URI")
	}
	e.mustRun(t, "", "client", "update", "spa", "-grants", "device_code", "-no-redirect-uris")
	c, _ = e.store(t).GetClient(ctx, "spa")
	if len(c.RedirectURIs) != 0 || !slices.Equal(c.GrantTypes, []string{store.GrantDeviceCode}) {
		t.Fatalf("after emptying: %+v", c)
	}
}

func TestConsentRevoke(t *testing.T) {
	e := newTestEnv(t)
	e.mustRun(t, "pw-12345\n", "user", "add", "alice")
	e.mustRun(t, "", "client", "add", "spa", "-public", "-grants", "authorization_code", "-redirect-uri", "https://app.example/cb", "-scopes", "items:read")
	ctx := context.Background()
	st := e.store(t)
	now := time.Now()
	if err := st.SaveConsent(ctx, store.Consent{Username: "alice", ClientID: "spa", Scopes: []string{"items:read"}, GrantedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.GetConsent(ctx, "alice", "spa"); err != nil {
		t.Fatalf("consent before revoke: %v", err)
	}
	e.mustRun(t, "", "consent", "revoke", "-user", "alice", "-client", "spa")
	if _, err := st.GetConsent(ctx, "alice", "spa"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("consent after revoke: %v", err)
	}
}
