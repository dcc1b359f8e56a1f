package authserver_test

import (
	"context"
	"testing"
	"time"

	"github.com/example/authsvc/authserver"
)

// rotate refreshes rt as conf and returns the new pair.
func (e *env) rotate(rt string) (access, refresh string) {
	e.t.Helper()
	r := e.refresh("conf", confSecret, rt, "")
	if r.status != 200 {
		e.t.Fatalf("refresh: %d %s", r.status, r.raw)
	}
	return r.body["access_token"].(string), r.body["refresh_token"].(string)
}

// Any earlier refresh token of a live grant, however many rotations back,
// ends the grant when its client presents it; another client presenting it
// ends nothing.
func TestRefreshReuseOfAnyEarlierToken(t *testing.T) {
	e := newEnv(t)
	_, rt := e.mustLogin()
	chain := []string{rt}
	var at string
	for range 5 {
		at, rt = e.rotate(rt)
		chain = append(chain, rt)
	}
	if !e.active(at) || !e.active(rt) {
		t.Fatal("current pair inactive before any reuse")
	}

	expectError(t, e.refresh("ro", roSecret, chain[1], ""), 400, "invalid_grant")
	if !e.active(at) || !e.active(rt) {
		t.Fatal("another client's presentation of an earlier token ended the grant")
	}

	expectError(t, e.refresh("conf", confSecret, chain[1], ""), 400, "invalid_grant")
	if e.active(at) || e.active(rt) {
		t.Fatal("reuse of a token four rotations back did not end the grant")
	}
	expectError(t, e.refresh("conf", confSecret, rt, ""), 400, "invalid_grant")
}

// However often a grant is refreshed, it leaves two rows: the grant record
// and its current access token.
func TestRefreshKeepsRowsBounded(t *testing.T) {
	e := newEnv(t)
	_, rt := e.mustLogin()
	for range 50 {
		_, rt = e.rotate(rt)
	}
	n, err := authserver.CleanupOnce(context.Background(), e.st, 1000, e.clock.Now().Add(1000*time.Hour))
	if err != nil || n != 2 {
		t.Fatalf("after 50 refreshes the store held %d rows (%v), want 2", n, err)
	}
}

// The refresh lifetime slides, but not past the grant's maximum age.
func TestRefreshStopsAtGrantMaxAge(t *testing.T) {
	e := newEnv(t, func(s *envSetup) { s.cfg.GrantMaxAge = 48 * time.Hour }) // RefreshTTL 24h
	start := e.clock.Now()
	_, rt := e.mustLogin()
	e.clock.Advance(20 * time.Hour)
	_, rt = e.rotate(rt)
	e.clock.Advance(20 * time.Hour)
	_, rt = e.rotate(rt)
	// Rotated 40h in: the new refresh token ends with the grant, at 48h,
	// not 24h later.
	if exp := e.introspect(rt)["exp"]; exp != float64(start.Add(48*time.Hour).Unix()) {
		t.Errorf("refresh token exp = %v, want the grant's end %d", exp, start.Add(48*time.Hour).Unix())
	}
	e.clock.Advance(8 * time.Hour)
	expectError(t, e.refresh("conf", confSecret, rt, ""), 400, "invalid_grant")
}

// A refresh token introspects active, with token_use, but never as a Bearer
// token that an RFC 7662 resource server could accept.
func TestIntrospectRefreshTokenIsNotBearer(t *testing.T) {
	e := newEnv(t)
	at, rt := e.mustLogin()
	if info := e.introspect(at); info["token_type"] != "Bearer" || info["token_use"] != "access_token" {
		t.Errorf("access token: token_type %v, token_use %v; want Bearer, access_token", info["token_type"], info["token_use"])
	}
	info := e.introspect(rt)
	if info["active"] != true || info["token_use"] != "refresh_token" {
		t.Fatalf("refresh token: %v; want active with token_use refresh_token", info)
	}
	if info["token_type"] != "refresh_token" {
		t.Errorf("refresh token token_type = %v, want refresh_token", info["token_type"])
	}
}
