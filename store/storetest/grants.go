package storetest

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/example/authsvc/store"
)

// farFuture is after every expiry the suite writes: DeleteExpired at it
// removes, and so counts, every token and grant record there is.
var farFuture = base.Add(100 * 365 * 24 * time.Hour)

// countRows deletes everything and reports how many tokens (a grant record
// counting as its refresh token) there were: the contract's only window on
// how many rows a backend keeps.
func countRows(t *testing.T, s store.AuthStore) int {
	t.Helper()
	n, err := s.DeleteExpired(t.Context(), farFuture, 1_000_000)
	ok(t, "DeleteExpired", err)
	return n
}

// rotateMany rotates grant family n times from refresh, a minute apart, and
// returns every refresh token it went through, the current one last.
func rotateMany(t *testing.T, s store.AuthStore, family string, refresh store.Token, n int) []store.Token {
	t.Helper()
	chain := []store.Token{refresh}
	for i := range n {
		now := refresh.IssuedAt.Add(time.Minute)
		a, r := pair(family, fmt.Sprintf("%s-gen-%d", family, i+1), now)
		ok(t, fmt.Sprintf("RotateRefreshToken %d", i+1), Rotate(t.Context(), s, family, refresh.Hash, now, a, r))
		refresh = r
		chain = append(chain, r)
	}
	return chain
}

// testRowsBounded: however often a grant is refreshed, it occupies the same
// rows: one grant record and its current access token.
func testRowsBounded(t *testing.T, s store.AuthStore) {
	ctx := t.Context()
	setupTokens(t, s)
	a1, r1 := pair("family-1", "t1", base)
	ok(t, "CreateTokens", Create(ctx, s, a1, r1))
	chain := rotateMany(t, s, "family-1", r1, 200)
	present(t, s, chain[len(chain)-1])
	absent(t, s, chain[:len(chain)-1]...)
	if n := countRows(t, s); n != 2 {
		t.Errorf("after 200 refreshes the grant occupies %d rows, want 2 (grant record, access token)", n)
	}
}

// testReuseAnyEarlier: every earlier refresh token of a live grant, however
// far back, is reuse and ends the grant, though no row of it is kept.
func testReuseAnyEarlier(t *testing.T, s store.AuthStore) {
	ctx := t.Context()
	setupTokens(t, s)
	for _, back := range []int{1, 2, 57, 200} {
		family := fmt.Sprintf("family-%d", back)
		a1, r1 := pair(family, family+"-t1", base)
		ok(t, "CreateTokens", Create(ctx, s, a1, r1))
		chain := rotateMany(t, s, family, r1, 200)
		current := chain[len(chain)-1]
		present(t, s, current)

		now := current.IssuedAt.Add(time.Minute)
		a, r := pair(family, family+"-next", now)
		old := chain[len(chain)-1-back]
		err := Rotate(ctx, s, family, old.Hash, now, a, r)
		wantErr(t, fmt.Sprintf("RotateRefreshToken of the token %d back", back), err, store.ErrTokenReused, old.Hash, a.Hash, r.Hash)
		absent(t, s, current, a, r)
		if _, err := s.GetGrant(ctx, family); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetGrant after reuse: %v, want ErrNotFound", err)
		}
		// The grant is over, for its current token too.
		err = Rotate(ctx, s, family, current.Hash, now, a, r)
		wantErr(t, "RotateRefreshToken of the current token after reuse", err, store.ErrNotFound, current.Hash)
	}
	if n := countRows(t, s); n != 0 {
		t.Errorf("%d rows left of revoked grants, want 0", n)
	}
}

// testGrantedAt: a grant keeps the time it began through rotations, which
// is what a maximum grant age is measured from.
func testGrantedAt(t *testing.T, s store.AuthStore) {
	ctx := t.Context()
	setupTokens(t, s)
	a1, r1 := pair("family-1", "t1", base)
	ok(t, "CreateTokens", Create(ctx, s, a1, r1))
	chain := rotateMany(t, s, "family-1", r1, 3)
	current := chain[len(chain)-1]

	got, err := s.GetToken(ctx, current.Hash)
	ok(t, "GetToken", err)
	if !got.GrantedAt.Equal(base) || !got.IssuedAt.Equal(current.IssuedAt) {
		t.Errorf("GetToken after rotations: GrantedAt %v, IssuedAt %v; want %v, %v", got.GrantedAt, got.IssuedAt, base, current.IssuedAt)
	}
	g, err := s.GetGrant(ctx, "family-1")
	ok(t, "GetGrant", err)
	checkToken(t, g, current)
	if !g.GrantedAt.Equal(base) {
		t.Errorf("GetGrant: GrantedAt %v, want %v", g.GrantedAt, base)
	}
	_, err = s.GetGrant(ctx, "no-such-family")
	wantErr(t, "GetGrant of an unknown grant", err, store.ErrNotFound)

	// A grant has one refresh token: a second for the family is refused.
	_, again := pair("family-1", "again", base)
	err = Create(ctx, s, again)
	wantErr(t, "CreateTokens of a second grant record", err, store.ErrAlreadyExists, again.Hash)
}

// grantsOf creates, for each of user × client, a grant (access and refresh
// token) and returns them by "user/client".
func grantsOf(t *testing.T, s store.AuthStore, users, clients []string) map[string][2]store.Token {
	t.Helper()
	out := map[string][2]store.Token{}
	for _, u := range users {
		for _, c := range clients {
			key := u + "/" + c
			a, r := pair("family-"+u+"-"+c, key, base)
			a.Username, r.Username, a.ClientID, r.ClientID = u, u, c, c
			ok(t, "CreateTokens "+key, Create(t.Context(), s, a, r))
			out[key] = [2]store.Token{a, r}
		}
	}
	return out
}

func setupUsersAndClients(t *testing.T, s store.AuthStore) {
	t.Helper()
	for _, u := range []string{"alice", "bob"} {
		ok(t, "CreateUser", s.CreateUser(t.Context(), newUser(u)))
	}
	for _, c := range []string{"web", "cli"} {
		ok(t, "CreateClient", s.CreateClient(t.Context(), newClient(c)))
	}
}

// clientCredentials stores a client-credentials token of client.
func clientCredentials(t *testing.T, s store.AuthStore, client string) store.Token {
	t.Helper()
	tok := store.Token{Hash: hashOf("cc-" + client), Kind: store.AccessToken, FamilyID: "cc-" + client,
		ClientID: client, IssuedAt: base, ExpiresAt: base.Add(time.Hour)}
	ok(t, "CreateTokens client credentials", Create(t.Context(), s, tok))
	return tok
}

func testRevokeUserGrants(t *testing.T, s store.AuthStore) {
	ctx := t.Context()
	setupUsersAndClients(t, s)
	g := grantsOf(t, s, []string{"alice", "bob"}, []string{"web", "cli"})
	cc := clientCredentials(t, s, "web")
	for _, p := range g {
		present(t, s, p[0], p[1])
	}

	for range 2 { // idempotent
		ok(t, "RevokeUserGrants", s.RevokeUserGrants(ctx, "alice"))
		absent(t, s, g["alice/web"][0], g["alice/web"][1], g["alice/cli"][0], g["alice/cli"][1])
		present(t, s, g["bob/web"][0], g["bob/web"][1], g["bob/cli"][0], g["bob/cli"][1], cc)
	}
	ok(t, "RevokeUserGrants of a user without grants", s.RevokeUserGrants(ctx, "nobody"))
}

func testRevokeClientGrants(t *testing.T, s store.AuthStore) {
	ctx := t.Context()
	setupUsersAndClients(t, s)
	g := grantsOf(t, s, []string{"alice", "bob"}, []string{"web", "cli"})
	ccWeb, ccCLI := clientCredentials(t, s, "web"), clientCredentials(t, s, "cli")
	present(t, s, ccWeb, ccCLI)

	for range 2 { // idempotent
		ok(t, "RevokeClientGrants", s.RevokeClientGrants(ctx, "web"))
		absent(t, s, g["alice/web"][0], g["alice/web"][1], g["bob/web"][0], g["bob/web"][1], ccWeb)
		present(t, s, g["alice/cli"][0], g["alice/cli"][1], g["bob/cli"][0], g["bob/cli"][1], ccCLI)
	}
	ok(t, "RevokeClientGrants of a client without grants", s.RevokeClientGrants(ctx, "nobody"))
}

// testUpdateUserRevokes: a password change or a disable ends the user's
// grants in the same write; enabling again brings nothing back; other
// changes, and other users, keep theirs.
func testUpdateUserRevokes(t *testing.T, s store.AuthStore) {
	ctx := t.Context()
	setupUsersAndClients(t, s)
	g := grantsOf(t, s, []string{"alice", "bob"}, []string{"web"})
	alice, bob := g["alice/web"], g["bob/web"]
	u, err := s.GetUser(ctx, "alice")
	ok(t, "GetUser", err)

	update := func(what string) {
		t.Helper()
		ok(t, "UpdateUser "+what, s.UpdateUser(ctx, u))
		u.Version = reread(t, s, u).Version
	}

	// Same password, still enabled: nothing is revoked.
	u.UpdatedAt = base.Add(time.Minute)
	update("unchanged")
	present(t, s, alice[0], alice[1], bob[0], bob[1])

	u.PasswordHash = []byte("$2a$10$another-hash-of-another-password")
	update("password")
	absent(t, s, alice[0], alice[1])
	present(t, s, bob[0], bob[1])

	// A new grant after the change lives, until a disable.
	a2, r2 := pair("family-2", "after-passwd", base.Add(time.Hour))
	ok(t, "CreateTokens", Create(ctx, s, a2, r2))
	present(t, s, a2, r2)
	u.Disabled = true
	update("disable")
	absent(t, s, a2, r2)
	u.Disabled = false
	update("enable")
	absent(t, s, a2, r2)
	present(t, s, bob[0], bob[1])
	got, err := s.GetUser(ctx, "alice")
	ok(t, "GetUser", err)
	checkUser(t, got, u)

	err = s.UpdateUser(ctx, newUser("nobody"))
	wantErr(t, "UpdateUser of an unknown user", err, store.ErrNotFound)
}

// testRevokeRacesRotation races rotations of a grant (on a store whose
// writes may run in parallel, as on PostgreSQL) against the revocation of
// its user: whichever order they commit in, nothing of the grant is left,
// and nobody gets an error outside the contract.
func testRevokeRacesRotation(t *testing.T, s store.AuthStore) {
	setupTokens(t, s)
	revokeRacesRotation(t, s, "family-1")
}

func revokeRacesRotation(t *testing.T, s store.AuthStore, family string) {
	ctx := t.Context()
	a1, r1 := pair(family, family+"-t1", base)
	ok(t, "CreateTokens", Create(ctx, s, a1, r1))

	const n = 8
	now := base.Add(time.Minute)
	errs := make([]error, n)
	var created []store.Token
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		a, r := pair(family, fmt.Sprintf("%s-race-%d", family, i), now)
		created = append(created, a, r)
		wg.Go(func() {
			<-start
			errs[i] = Rotate(ctx, s, family, r1.Hash, now, a, r)
		})
	}
	var revokeErr error
	wg.Go(func() {
		<-start
		revokeErr = s.RevokeUserGrants(ctx, "alice")
	})
	close(start)
	wg.Wait()

	ok(t, "RevokeUserGrants", revokeErr)
	for i, err := range errs {
		if err != nil && !errors.Is(err, store.ErrTokenReused) && !errors.Is(err, store.ErrNotFound) {
			t.Errorf("RotateRefreshToken %d: %v, want nil, ErrTokenReused or ErrNotFound", i, err)
		}
	}
	absent(t, s, append(created, a1, r1)...)
}

// StressRotation runs the concurrent cases of the suite again and again,
// each round on new grants of one store, while CPU-burning goroutines
// compete with them, for about d (at least one round), and returns how many
// rounds ran: scheduling under contention is what once exposed a deadlock
// on PostgreSQL. Backends call it from a test of their own.
func StressRotation(t *testing.T, s store.AuthStore, d time.Duration) int {
	t.Helper()
	setupTokens(t, s)
	stop := make(chan struct{})
	var burners sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		burners.Go(func() {
			x := uint64(1)
			for {
				select {
				case <-stop:
					burnt.Add(x & 1) // keeps the loop from being optimized away
					return
				default:
				}
				for range 10_000 {
					x = x*6364136223846793005 + 1442695040888963407
				}
			}
		})
	}
	defer func() {
		close(stop)
		burners.Wait()
	}()

	cases := []struct {
		name string
		run  func(t *testing.T, s store.AuthStore, family string)
	}{
		{"RotateConcurrent", rotateConcurrent},
		{"RevokeRacesRotation", revokeRacesRotation},
		{"ReuseRacesRotation", reuseRacesRotation},
	}
	deadline := time.Now().Add(d)
	rounds := 0
	for rounds == 0 || time.Now().Before(deadline) {
		rounds++
		for _, tc := range cases {
			tc.run(t, s, fmt.Sprintf("%s-%d", tc.name, rounds))
			if t.Failed() {
				t.Fatalf("%s failed in round %d", tc.name, rounds)
			}
		}
	}
	return rounds
}

var burnt atomic.Uint64

// testReuseRacesRotation races the legitimate rotation of a grant's current
// refresh token against a reuse of the one before it: the reuse always ends
// the grant, whichever commits first.
func testReuseRacesRotation(t *testing.T, s store.AuthStore) {
	setupTokens(t, s)
	reuseRacesRotation(t, s, "family-1")
}

func reuseRacesRotation(t *testing.T, s store.AuthStore, family string) {
	ctx := t.Context()
	a1, r1 := pair(family, family+"-t1", base)
	ok(t, "CreateTokens", Create(ctx, s, a1, r1))
	chain := rotateMany(t, s, family, r1, 1)
	r2 := chain[1]

	now := base.Add(time.Hour)
	a3, r3 := pair(family, family+"-t3", now)
	a4, r4 := pair(family, family+"-t4", now)
	var rotateErr, reuseErr error
	start := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		<-start
		rotateErr = Rotate(ctx, s, family, r2.Hash, now, a3, r3)
	})
	wg.Go(func() {
		<-start
		reuseErr = Rotate(ctx, s, family, r1.Hash, now, a4, r4)
	})
	close(start)
	wg.Wait()

	if rotateErr != nil && !errors.Is(rotateErr, store.ErrNotFound) {
		t.Errorf("rotation: %v, want nil or ErrNotFound", rotateErr)
	}
	wantErr(t, "reuse", reuseErr, store.ErrTokenReused)
	absent(t, s, r1, r2, a3, r3, a4, r4)
}
