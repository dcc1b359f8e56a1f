package authserver_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"testing"

	"github.com/example/authsvc/authserver/admin"
)

// The races between a token request and the admin change that should end
// what it gets, played in the losing order: the request passes its checks,
// the change commits (the store's beforeStore hook runs it), then the
// request would store its tokens. Before store.Versions each of these
// either got a working token after the change had returned or, for a
// deleted client, a 500.

// adminOf is the admin service on e's store, as authctl runs it.
func adminOf(t *testing.T, e *env) *admin.Service {
	t.Helper()
	svc, err := admin.New(e.st, slog.New(slog.NewTextHandler(io.Discard, nil)), handlerCost)
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// rowsOf counts the grants and tokens stored for username, reading the
// database file itself.
func rowsOf(t *testing.T, e *env, username string) int {
	t.Helper()
	db, err := sql.Open("sqlite", e.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	err = db.QueryRow(`SELECT (SELECT count(*) FROM tokens WHERE username = ?1) + (SELECT count(*) FROM grants WHERE username = ?1)`, username).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestLoginRacingAUserChangeGetsNothing(t *testing.T) {
	for name, change := range map[string]func(svc *admin.Service) error{
		"passwd": func(svc *admin.Service) error {
			return svc.SetPassword(context.Background(), "alice", "the-new-password-after-a-leak")
		},
		"disable": func(svc *admin.Service) error {
			_, err := svc.SetDisabled(context.Background(), "alice", true)
			return err
		},
		"delete": func(svc *admin.Service) error { return svc.DeleteUser(context.Background(), "alice") },
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			svc := adminOf(t, e)
			// Nothing in between: the login gets its tokens.
			if r := e.login("conf", confSecret, "alice", alicePass, ""); r.status != 200 {
				t.Fatalf("login: %d %s", r.status, r.raw)
			}
			if err := svc.RevokeUser(context.Background(), "alice"); err != nil {
				t.Fatal(err)
			}

			e.st.beforeStore = func() {
				e.st.beforeStore = nil
				if err := change(svc); err != nil {
					t.Errorf("%s: %v", name, err)
				}
			}
			r := e.login("conf", confSecret, "alice", alicePass, "")
			expectError(t, r, 400, "invalid_grant")
			if n := rowsOf(t, e, "alice"); n != 0 {
				t.Errorf("%d rows of alice stored by the login that lost", n)
			}
		})
	}
	t.Run("passwd, then the new password", func(t *testing.T) {
		e := newEnv(t)
		svc := adminOf(t, e)
		e.st.beforeStore = func() {
			e.st.beforeStore = nil
			if err := svc.SetPassword(context.Background(), "alice", "the-new-password-after-a-leak"); err != nil {
				t.Error(err)
			}
		}
		expectError(t, e.login("conf", confSecret, "alice", alicePass, ""), 400, "invalid_grant")
		if r := e.login("conf", confSecret, "alice", "the-new-password-after-a-leak", ""); r.status != 200 {
			t.Fatalf("login with the new password: %d %s", r.status, r.raw)
		}
	})
}

func TestClientCredentialsRacingAClientChangeGetsNothing(t *testing.T) {
	form := url.Values{"grant_type": {"client_credentials"}}
	for _, tc := range []struct {
		name   string
		change func(svc *admin.Service) error
		left   int // client tokens left: the first request's, unless the change ends it
	}{
		{"rotate-secret", func(svc *admin.Service) error {
			_, err := svc.RotateSecret(context.Background(), "conf")
			return err
		}, 1},
		{"delete", func(svc *admin.Service) error { return svc.DeleteClient(context.Background(), "conf") }, 0},
	} {
		name, change := tc.name, tc.change
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			svc := adminOf(t, e)
			if r := e.token(basic("conf", confSecret), form); r.status != 200 {
				t.Fatalf("client credentials: %d %s", r.status, r.raw)
			}
			e.st.beforeStore = func() {
				e.st.beforeStore = nil
				if err := change(svc); err != nil {
					t.Errorf("%s: %v", name, err)
				}
			}
			r := e.token(basic("conf", confSecret), form)
			expectError(t, r, 401, "invalid_client")
			if n := rowsOf(t, e, ""); n != tc.left {
				t.Errorf("%d client tokens stored, want %d", n, tc.left)
			}
		})
	}
}

// A login whose client's secret is rotated between its checks and its
// insert gets invalid_client, and the user's tokens are not stored.
func TestLoginRacingRotateSecretGetsNothing(t *testing.T) {
	e := newEnv(t)
	svc := adminOf(t, e)
	e.st.beforeStore = func() {
		e.st.beforeStore = nil
		if _, err := svc.RotateSecret(context.Background(), "conf"); err != nil {
			t.Error(err)
		}
	}
	expectError(t, e.login("conf", confSecret, "alice", alicePass, ""), 401, "invalid_client")
	if n := rowsOf(t, e, "alice"); n != 0 {
		t.Errorf("%d rows of alice stored by the login that lost", n)
	}
}

// A client changed in another way than its credentials (here, its
// introspection right) while its request was in flight is told to retry,
// not that its credentials failed; the retry succeeds.
func TestClientCredentialsRacingAnotherChangeRetries(t *testing.T) {
	e := newEnv(t)
	svc := adminOf(t, e)
	form := url.Values{"grant_type": {"client_credentials"}}
	introspect := true
	e.st.beforeStore = func() {
		e.st.beforeStore = nil
		if _, err := svc.UpdateClient(context.Background(), "conf", admin.ClientChange{Introspect: &introspect}); err != nil {
			t.Error(err)
		}
	}
	r := e.token(basic("conf", confSecret), form)
	expectError(t, r, 503, "temporarily_unavailable")
	if r.header.Get("Retry-After") != "1" {
		t.Errorf("Retry-After %q, want 1", r.header.Get("Retry-After"))
	}
	if n := rowsOf(t, e, ""); n != 0 {
		t.Errorf("%d client tokens stored by the request that lost", n)
	}
	if r := e.token(basic("conf", confSecret), form); r.status != 200 {
		t.Fatalf("retry: %d %s", r.status, r.raw)
	}
}

func TestRefreshRacingDisableGetsNothing(t *testing.T) {
	e := newEnv(t)
	svc := adminOf(t, e)
	_, refresh := e.mustLogin()
	r := e.token(basic("conf", confSecret), url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}})
	if r.status != 200 {
		t.Fatalf("refresh: %d %s", r.status, r.raw)
	}
	access, refresh := r.body["access_token"].(string), r.body["refresh_token"].(string)
	if got := e.introspect(access); got["active"] != true {
		t.Fatalf("the refreshed access token before the disable: %v", got)
	}
	e.st.beforeStore = func() {
		e.st.beforeStore = nil
		if _, err := svc.SetDisabled(context.Background(), "alice", true); err != nil {
			t.Error(err)
		}
	}
	r = e.token(basic("conf", confSecret), url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}})
	expectError(t, r, 400, "invalid_grant")
	if n := rowsOf(t, e, "alice"); n != 0 {
		t.Errorf("%d rows of alice left after the disable", n)
	}
	if got := e.introspect(access); got["active"] != false {
		t.Errorf("the refreshed access token after the disable: %v", got)
	}
}

// A failed login at a name no user has costs the same store write as one
// at a user's name, but under one of a bounded number of bucket records,
// never under the name: a flood of made-up names cannot grow the database,
// nor write those names down.
func TestLoginRecordsOfUnknownNamesAreBounded(t *testing.T) {
	e := newEnv(t)
	records := func() []string {
		t.Helper()
		db, err := sql.Open("sqlite", e.dbPath)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		rows, err := db.Query(`SELECT username FROM logins ORDER BY username`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var names []string
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				t.Fatal(err)
			}
			names = append(names, n)
		}
		return names
	}
	expectError(t, e.login("conf", confSecret, "alice", "wrong", ""), 400, "invalid_grant")
	if got := records(); len(got) != 1 || got[0] != "alice" {
		t.Fatalf("login records after a user's failed login: %q, want alice's", got)
	}
	before := e.st.beginLogins.Load()
	const n = 20
	for i := range n {
		expectError(t, e.login("conf", confSecret, fmt.Sprint("made-up-", i), "wrong", ""), 400, "invalid_grant")
	}
	if got := e.st.beginLogins.Load() - before; got != n {
		t.Errorf("%d attempts at made-up names counted in the store, want %d (the same write as a user's)", got, n)
	}
	for _, name := range records() {
		if name != "alice" && !strings.HasPrefix(name, "\x01unknown-") {
			t.Errorf("login record %q: a name was written down", name)
		}
	}
}
