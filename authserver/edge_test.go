package authserver

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/example/authsvc/store"
	"github.com/example/authsvc/store/postgres"
	"github.com/example/authsvc/store/postgres/pgtest"
)

// Every identifier that is not valid UTF-8, holds a NUL or control
// character, or is longer than its bound gets the answer an unknown value
// gets, before it reaches a store: the same on both backends (PostgreSQL
// used to answer some of them 500).
func TestMalformedIdentifiersAnsweredAsUnknown(t *testing.T) {
	backends := map[string]func(t *testing.T) store.AuthStore{
		"sqlite": func(t *testing.T) store.AuthStore { return nil },
		"postgres": func(t *testing.T) store.AuthStore {
			db, err := postgres.OpenAuth(context.Background(), pgtest.FreshDatabase(t, "authsvc_edge_"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return db
		},
	}
	for name, open := range backends {
		t.Run(name, func(t *testing.T) {
			e := newAbuseEnv(t, open(t), bcrypt.MinCost, func(c *Config) { c.ThrottleBurst = 1000 })
			ctx := context.Background()
			from := "192.0.2.1:1"
			login := func(client, username, password string) answer {
				return e.post(ctx, from, "/token", url.Values{"grant_type": {"password"}, "client_id": {client},
					"username": {username}, "password": {password}})
			}
			// The positive cases first.
			ok := login("pub", abuseUser, abusePassword)
			expectAnswer(t, ok, 200, "")
			if in := e.introspect(from, ok.body["access_token"].(string)); in.body["active"] != true {
				t.Fatalf("introspection of a valid token: %v", in.body)
			}

			bad := []string{"web\x00", "bob\x00", "\xff", "a\x1fb", strings.Repeat("x", store.MaxNameBytes+1)}
			for _, v := range bad {
				expectAnswer(t, login(v, abuseUser, abusePassword), 401, "invalid_client")
				expectAnswer(t, login("pub", v, abusePassword), 400, "invalid_grant")
				expectAnswer(t, e.post(ctx, from, "/introspect", url.Values{"token": {"x"}},
					"Authorization", basicAuth(v, "secret")), 401, "invalid_client")
				expectAnswer(t, e.post(ctx, from, "/revoke", url.Values{"token": {"x"}, "client_id": {v}}), 401, "invalid_client")
				if e.st.saw(v) {
					t.Errorf("%q reached the store", v)
				}
			}

			badTokens := []string{"tok\x00en", "\xff\xfe", strings.Repeat("t", store.MaxTokenBytes+1)}
			for _, v := range badTokens {
				if in := e.introspect(from, v); in.status != 200 || len(in.body) != 1 || in.body["active"] != false {
					t.Errorf("introspect %q: %d %v, want 200 {active:false}", v, in.status, in.body)
				}
				rv := e.post(ctx, from, "/revoke", url.Values{"token": {v}, "client_id": {"pub"}})
				expectAnswer(t, rv, 200, "")
				rf := e.post(ctx, from, "/token", url.Values{"grant_type": {"refresh_token"}, "client_id": {"pub"}, "refresh_token": {v}})
				expectAnswer(t, rf, 400, "invalid_grant")
				if e.st.saw(store.HashToken(v)) {
					t.Errorf("token %q reached the store", v)
				}
			}

			for _, v := range []string{"items:read\x00", "\xff", strings.Repeat("s", store.MaxScopeBytes+1)} {
				a := e.post(ctx, from, "/token", url.Values{"grant_type": {"password"}, "client_id": {"pub"},
					"username": {abuseUser}, "password": {abusePassword}, "scope": {v}})
				expectAnswer(t, a, 400, "invalid_scope")
			}
			if strings.Contains(e.logs.String(), "level=ERROR") {
				t.Errorf("malformed input logged an error:\n%s", e.logs.String())
			}
		})
	}
}
