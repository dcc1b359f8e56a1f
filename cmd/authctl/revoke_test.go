package main

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/example/authsvc/store"
	"github.com/example/authsvc/store/storetest"
)

// grantOf stores an access and a refresh token of user at client (only an
// access token when user is empty) and returns their hashes.
func grantOf(t *testing.T, st store.AuthStore, family, client, user string) []string {
	t.Helper()
	now := time.Now()
	access := store.Token{Hash: store.HashToken(family + "-a"), Kind: store.AccessToken, FamilyID: family,
		ClientID: client, Username: user, IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
	tokens := []store.Token{access}
	if user != "" {
		refresh := access
		refresh.Hash, refresh.Kind = store.HashToken(family+"-r"), store.RefreshToken
		tokens = append(tokens, refresh)
	}
	if err := storetest.Create(context.Background(), st, tokens...); err != nil {
		t.Fatal(err)
	}
	var hashes []string
	for _, tok := range tokens {
		hashes = append(hashes, tok.Hash)
	}
	return hashes
}

// countAlive opens the store anew (as another process would) and counts
// which of hashes it still has.
func (e *testEnv) countAlive(t *testing.T, hashes []string) int {
	t.Helper()
	st := e.store(t)
	defer st.Close()
	n := 0
	for _, h := range hashes {
		_, err := st.GetToken(context.Background(), h)
		switch {
		case err == nil:
			n++
		case !errors.Is(err, store.ErrNotFound):
			t.Fatal(err)
		}
	}
	return n
}

func (e *testEnv) setupGrants(t *testing.T) (alice, bob, cc []string) {
	t.Helper()
	e.mustRun(t, "alice-password\n", "user", "add", "alice")
	e.mustRun(t, "bob-password\n", "user", "add", "bob")
	e.mustRun(t, "", "client", "add", "web", "-grants", "password,refresh_token,client_credentials")
	st := e.store(t)
	defer st.Close()
	return grantOf(t, st, "fa", "web", "alice"), grantOf(t, st, "fb", "web", "bob"), grantOf(t, st, "fc", "web", "")
}

func TestUserPasswdRevokesTokens(t *testing.T) {
	e := newTestEnv(t)
	alice, bob, _ := e.setupGrants(t)
	if n := e.countAlive(t, alice); n != 2 {
		t.Fatalf("%d of alice's 2 tokens alive before passwd", n)
	}
	r := e.mustRun(t, "new-password\n", "user", "passwd", "alice")
	if !strings.Contains(r.stderr, "revoked") {
		t.Errorf("passwd does not say it revoked the tokens: %q", r.stderr)
	}
	if a, b := e.countAlive(t, alice), e.countAlive(t, bob); a != 0 || b != 2 {
		t.Errorf("after passwd: alice %d tokens, bob %d; want 0, 2", a, b)
	}
}

func TestUserDisableEnableLeavesTokensDead(t *testing.T) {
	e := newTestEnv(t)
	alice, _, _ := e.setupGrants(t)
	if n := e.countAlive(t, alice); n != 2 {
		t.Fatalf("%d of alice's 2 tokens alive before disable", n)
	}
	e.mustRun(t, "", "user", "disable", "alice")
	e.mustRun(t, "", "user", "enable", "alice")
	if n := e.countAlive(t, alice); n != 0 {
		t.Errorf("%d of alice's tokens alive after disable and enable, want 0", n)
	}
}

func TestUserRevoke(t *testing.T) {
	e := newTestEnv(t)
	alice, bob, cc := e.setupGrants(t)
	e.mustRun(t, "", "user", "revoke", "alice")
	if a, b, c := e.countAlive(t, alice), e.countAlive(t, bob), e.countAlive(t, cc); a != 0 || b != 2 || c != 1 {
		t.Errorf("after user revoke alice: alive %d, %d, %d; want 0, 2, 1", a, b, c)
	}
	if r := e.run(t, "", "user", "revoke", "nobody"); r.code != 1 || !strings.Contains(r.msg, `"nobody" not found`) {
		t.Errorf("user revoke of an unknown user: %+v", r)
	}
}

func TestClientRevoke(t *testing.T) {
	e := newTestEnv(t)
	e.mustRun(t, "", "client", "add", "other", "-grants", "client_credentials")
	alice, bob, cc := e.setupGrants(t)
	st := e.store(t)
	other := grantOf(t, st, "fo", "other", "")
	st.Close()

	e.mustRun(t, "", "client", "revoke", "web")
	if n := e.countAlive(t, append(append(alice, bob...), cc...)); n != 0 {
		t.Errorf("%d tokens of client web alive after client revoke, want 0", n)
	}
	if n := e.countAlive(t, other); n != 1 {
		t.Errorf("client revoke web touched client other's token")
	}
	if r := e.run(t, "", "client", "revoke", "nothing"); r.code != 1 || !strings.Contains(r.msg, `"nothing" not found`) {
		t.Errorf("client revoke of an unknown client: %+v", r)
	}
}

// A user and a client cannot share a name, whichever comes first.
func TestUserAndClientNamesCollide(t *testing.T) {
	e := newTestEnv(t)
	e.mustRun(t, "", "client", "add", "web", "-grants", "client_credentials")
	e.mustRun(t, "alice-password\n", "user", "add", "alice")
	if r := e.run(t, "pw-for-nothing\n", "user", "add", "web"); r.code != 1 || !strings.Contains(r.msg, "client") {
		t.Errorf("user add named like a client: %+v", r)
	}
	if r := e.run(t, "", "client", "add", "alice", "-grants", "client_credentials"); r.code != 1 || !strings.Contains(r.msg, "user") {
		t.Errorf("client add named like a user: %+v", r)
	}
}
