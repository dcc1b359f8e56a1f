package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/example/authsvc/store"
)

const (
	testClientID = "web"
	accessTTL    = time.Hour
	refreshTTL   = 30 * 24 * time.Hour
)

// setupTokens creates the client every token of the suite belongs to, since
// a backend may enforce that tokens reference an existing client.
func setupTokens(t *testing.T, s store.AuthStore) {
	t.Helper()
	ok(t, "CreateClient", s.CreateClient(t.Context(), newClient(testClientID)))
	ok(t, "CreateUser", s.CreateUser(t.Context(), newUser("alice")))
}

// pair returns the access and refresh token issued together at issuedAt in
// family, named name+"-access" and name+"-refresh".
func pair(family, name string, issuedAt time.Time) (access, refresh store.Token) {
	access = store.Token{
		Hash:      hashOf(name + "-access"),
		Kind:      store.AccessToken,
		FamilyID:  family,
		ClientID:  testClientID,
		Username:  "alice",
		Scope:     "items:read items:write",
		IssuedAt:  issuedAt,
		ExpiresAt: issuedAt.Add(accessTTL),
	}
	refresh = access
	refresh.Hash = hashOf(name + "-refresh")
	refresh.Kind = store.RefreshToken
	refresh.ExpiresAt = issuedAt.Add(refreshTTL)
	return access, refresh
}

func checkToken(t *testing.T, got, want store.Token) {
	t.Helper()
	if got.Hash != want.Hash ||
		got.Kind != want.Kind ||
		got.FamilyID != want.FamilyID ||
		got.ClientID != want.ClientID ||
		got.Username != want.Username ||
		got.Scope != want.Scope ||
		!got.IssuedAt.Equal(want.IssuedAt) ||
		!got.ExpiresAt.Equal(want.ExpiresAt) ||
		got.Audience != want.Audience ||
		got.JKT != want.JKT ||
		got.Rotated != want.Rotated {
		t.Errorf("token = %+v, want %+v", got, want)
	}
}

// present fails t unless each token is stored as given.
func present(t *testing.T, s store.AuthStore, tokens ...store.Token) {
	t.Helper()
	for _, want := range tokens {
		got, err := s.GetToken(t.Context(), want.Hash)
		if err != nil {
			t.Fatalf("GetToken(%s of family %s): %v", want.Kind, want.FamilyID, err)
		}
		checkToken(t, got, want)
	}
}

// absent fails t unless GetToken reports ErrNotFound for each token.
func absent(t *testing.T, s store.AuthStore, tokens ...store.Token) {
	t.Helper()
	for _, tok := range tokens {
		_, err := s.GetToken(t.Context(), tok.Hash)
		if !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("GetToken(%s of family %s): error = %v, want ErrNotFound", tok.Kind, tok.FamilyID, err)
		}
		noSecrets(t, "GetToken", err, tok.Hash)
	}
}

func testTokenCreateGet(t *testing.T, s store.AuthStore) {
	ctx := t.Context()
	setupTokens(t, s)
	access, refresh := pair("family-1", "t1", base.In(elsewhere))
	refresh.Scope = "items:read"
	ok(t, "CreateTokens", Create(ctx, s, access, refresh))

	// A client-credentials token: no username, no refresh token.
	cc := store.Token{
		Hash:      hashOf("cc"),
		Kind:      store.AccessToken,
		FamilyID:  "family-2",
		ClientID:  testClientID,
		Scope:     "introspect",
		IssuedAt:  base.Add(time.Microsecond),
		ExpiresAt: base.Add(time.Hour + 999999*time.Microsecond),
	}
	ok(t, "CreateTokens client credentials", Create(ctx, s, cc))
	// An empty batch is no error.
	ok(t, "CreateTokens none", Create(ctx, s))

	present(t, s, access, refresh, cc)
}

func testTokenCreateAtomic(t *testing.T, s store.AuthStore) {
	ctx := t.Context()
	setupTokens(t, s)
	a1, r1 := pair("family-1", "t1", base)
	ok(t, "CreateTokens", Create(ctx, s, a1, r1))

	// A batch with a taken hash inserts nothing.
	a2, r2 := pair("family-2", "t2", base)
	dup := r1
	dup.FamilyID = "family-2"
	err := Create(ctx, s, a2, r2, dup)
	wantErr(t, "CreateTokens with a taken hash", err, store.ErrAlreadyExists, a2.Hash, r2.Hash, dup.Hash)
	absent(t, s, a2, r2)
	present(t, s, a1, r1)

	// So does a batch that repeats a hash of its own.
	a3, r3 := pair("family-3", "t3", base)
	err = Create(ctx, s, a3, r3, a3)
	wantErr(t, "CreateTokens with a repeated hash", err, store.ErrAlreadyExists, a3.Hash, r3.Hash)
	absent(t, s, a3, r3)
}

func testTokenNotFound(t *testing.T, s store.AuthStore) {
	ctx := t.Context()
	setupTokens(t, s)
	a1, r1 := pair("family-1", "t1", base)
	ok(t, "CreateTokens", Create(ctx, s, a1, r1))
	absent(t, s, store.Token{Hash: hashOf("never issued")})
}

func testTokenActive(t *testing.T, s store.AuthStore) {
	ctx := t.Context()
	setupTokens(t, s)
	access, refresh := pair("family-1", "t1", base)
	ok(t, "CreateTokens", Create(ctx, s, access, refresh))

	got, err := s.GetToken(ctx, access.Hash)
	ok(t, "GetToken", err)
	for _, tc := range []struct {
		now  time.Time
		want bool
	}{
		{base, true},
		{access.ExpiresAt.Add(-time.Microsecond), true},
		{access.ExpiresAt, false},
		{access.ExpiresAt.Add(time.Hour), false},
	} {
		if active := got.Active(tc.now); active != tc.want {
			t.Errorf("Active(expiry%+v) = %v, want %v", tc.now.Sub(access.ExpiresAt), active, tc.want)
		}
	}

	a2, r2 := pair("family-1", "t2", base.Add(time.Minute))
	ok(t, "RotateRefreshToken", Rotate(ctx, s, "family-1", refresh.Hash, base.Add(time.Minute), a2, r2))
	// A rotated refresh token is no token any more: its grant record
	// holds the new one.
	absent(t, s, refresh)
}

func testRotate(t *testing.T, s store.AuthStore) {
	ctx := t.Context()
	setupTokens(t, s)
	a1, r1 := pair("family-1", "t1", base)
	ok(t, "CreateTokens", Create(ctx, s, a1, r1))
	otherA, otherR := pair("family-other", "other", base)
	ok(t, "CreateTokens other family", Create(ctx, s, otherA, otherR))

	now := base.Add(10 * time.Minute)
	a2, r2 := pair("family-1", "t2", now)
	err := Rotate(ctx, s, "family-1", r1.Hash, now, a2, r2)
	noSecrets(t, "RotateRefreshToken", err, r1.Hash, a2.Hash, r2.Hash)
	ok(t, "RotateRefreshToken", err)

	// The old refresh token and the family's old access token are gone
	// (the grant record names the new refresh token, which is how reuse of
	// the old one is detected); the new pair is there.
	present(t, s, a2, r2, otherA, otherR)
	absent(t, s, a1, r1)

	// The new refresh token rotates in turn.
	later := now.Add(time.Hour)
	a3, r3 := pair("family-1", "t3", later)
	ok(t, "RotateRefreshToken of the new token", Rotate(ctx, s, "family-1", r2.Hash, later, a3, r3))
	present(t, s, a3, r3, otherA, otherR)
	absent(t, s, a1, r1, a2, r2)
}

func testRotateUnknown(t *testing.T, s store.AuthStore) {
	ctx := t.Context()
	setupTokens(t, s)
	a1, r1 := pair("family-1", "t1", base)
	ok(t, "CreateTokens", Create(ctx, s, a1, r1))

	// A grant that does not exist (never did, or has ended).
	unknown := hashOf("never issued")
	a2, r2 := pair("no-such-family", "t2", base)
	err := Rotate(ctx, s, "no-such-family", unknown, base, a2, r2)
	wantErr(t, "RotateRefreshToken of unknown token", err, store.ErrNotFound, unknown, a2.Hash, r2.Hash)
	absent(t, s, a2, r2)
	present(t, s, a1, r1)
}

func testRotateExpired(t *testing.T, s store.AuthStore) {
	ctx := t.Context()
	setupTokens(t, s)
	a1, r1 := pair("family-1", "t1", base)
	ok(t, "CreateTokens", Create(ctx, s, a1, r1))

	for _, now := range []time.Time{r1.ExpiresAt, r1.ExpiresAt.Add(time.Hour)} {
		a2, r2 := pair("family-1", "t2", now)
		err := Rotate(ctx, s, "family-1", r1.Hash, now, a2, r2)
		wantErr(t, fmt.Sprintf("RotateRefreshToken at expiry%+v", now.Sub(r1.ExpiresAt)),
			err, store.ErrNotFound, r1.Hash, a2.Hash, r2.Hash)
		absent(t, s, a2, r2)
		// Expired is not reused: nothing is marked or revoked.
		present(t, s, a1, r1)
	}

	// A microsecond before expiry it still rotates.
	now := r1.ExpiresAt.Add(-time.Microsecond)
	a3, r3 := pair("family-1", "t3", now)
	ok(t, "RotateRefreshToken just before expiry", Rotate(ctx, s, "family-1", r1.Hash, now, a3, r3))
	present(t, s, a3, r3)
	absent(t, s, r1)
}

func testRotateAccessToken(t *testing.T, s store.AuthStore) {
	ctx := t.Context()
	setupTokens(t, s)
	a1, r1 := pair("family-1", "t1", base)
	ok(t, "CreateTokens", Create(ctx, s, a1, r1))
	otherA, otherR := pair("family-other", "other", base)
	ok(t, "CreateTokens other family", Create(ctx, s, otherA, otherR))

	// Anything presented for a live grant that is not its current refresh
	// token, an access token included, is a token the grant has moved past
	// or never had: it ends the grant, and only that one.
	a2, r2 := pair("family-1", "t2", base)
	err := Rotate(ctx, s, "family-1", a1.Hash, base, a2, r2)
	wantErr(t, "RotateRefreshToken of an access token", err, store.ErrTokenReused, a1.Hash, a2.Hash, r2.Hash)
	absent(t, s, a1, r1, a2, r2)
	present(t, s, otherA, otherR)
}

func testRotateReused(t *testing.T, s store.AuthStore) {
	ctx := t.Context()
	setupTokens(t, s)
	a1, r1 := pair("family-1", "t1", base)
	ok(t, "CreateTokens", Create(ctx, s, a1, r1))
	otherA, otherR := pair("family-other", "other", base)
	ok(t, "CreateTokens other family", Create(ctx, s, otherA, otherR))

	now := base.Add(time.Minute)
	a2, r2 := pair("family-1", "t2", now)
	ok(t, "RotateRefreshToken", Rotate(ctx, s, "family-1", r1.Hash, now, a2, r2))

	// r1 presented again, by whoever stole it or by its owner: the grant
	// is over for both (RFC 9700 §4.14.2).
	now = now.Add(time.Minute)
	a3, r3 := pair("family-1", "t3", now)
	err := Rotate(ctx, s, "family-1", r1.Hash, now, a3, r3)
	wantErr(t, "RotateRefreshToken reused", err, store.ErrTokenReused, r1.Hash, a3.Hash, r3.Hash)
	absent(t, s, r1, a2, r2, a3, r3)
	present(t, s, otherA, otherR)

	// The evidence went with the family: a third try finds nothing.
	err = Rotate(ctx, s, "family-1", r1.Hash, now, a3, r3)
	wantErr(t, "RotateRefreshToken after revocation", err, store.ErrNotFound, r1.Hash)
	err = Rotate(ctx, s, "family-1", r2.Hash, now, a3, r3)
	wantErr(t, "RotateRefreshToken of the revoked successor", err, store.ErrNotFound, r2.Hash)
	absent(t, s, a3, r3)
}

func testRotateReusedOlder(t *testing.T, s store.AuthStore) {
	ctx := t.Context()
	setupTokens(t, s)
	a1, r1 := pair("family-1", "t1", base)
	ok(t, "CreateTokens", Create(ctx, s, a1, r1))
	a2, r2 := pair("family-1", "t2", base.Add(time.Minute))
	ok(t, "RotateRefreshToken 1", Rotate(ctx, s, "family-1", r1.Hash, base.Add(time.Minute), a2, r2))
	a3, r3 := pair("family-1", "t3", base.Add(2*time.Minute))
	ok(t, "RotateRefreshToken 2", Rotate(ctx, s, "family-1", r2.Hash, base.Add(2*time.Minute), a3, r3))

	// Reusing a token two rotations back ends the current pair too.
	now := base.Add(3 * time.Minute)
	a4, r4 := pair("family-1", "t4", now)
	err := Rotate(ctx, s, "family-1", r1.Hash, now, a4, r4)
	wantErr(t, "RotateRefreshToken of an older token", err, store.ErrTokenReused, r1.Hash)
	absent(t, s, r1, r2, a3, r3, a4, r4)
}

func testRotateAtomic(t *testing.T, s store.AuthStore) {
	ctx := t.Context()
	setupTokens(t, s)
	a1, r1 := pair("family-1", "t1", base)
	ok(t, "CreateTokens", Create(ctx, s, a1, r1))
	otherA, otherR := pair("family-other", "other", base)
	ok(t, "CreateTokens other family", Create(ctx, s, otherA, otherR))

	// A new token whose hash is taken fails the whole rotation.
	now := base.Add(time.Minute)
	a2, _ := pair("family-1", "t2", now)
	clash := otherR
	clash.FamilyID = "family-1"
	err := Rotate(ctx, s, "family-1", r1.Hash, now, a2, clash)
	wantErr(t, "RotateRefreshToken with a taken hash", err, store.ErrAlreadyExists, r1.Hash, a2.Hash, clash.Hash)
	absent(t, s, a2)
	present(t, s, a1, r1, otherA, otherR)

	// r1 is still unrotated, so a retry is not reuse.
	a3, r3 := pair("family-1", "t3", now)
	ok(t, "RotateRefreshToken retry", Rotate(ctx, s, "family-1", r1.Hash, now, a3, r3))
	present(t, s, a3, r3)
	absent(t, s, r1)
}

func testRotateConcurrent(t *testing.T, s store.AuthStore) {
	setupTokens(t, s)
	rotateConcurrent(t, s, "family-1")
}

// rotateConcurrent rotates a new grant's refresh token from 20 goroutines.
func rotateConcurrent(t *testing.T, s store.AuthStore, family string) {
	ctx := t.Context()
	a1, r1 := pair(family, family+"-t1", base)
	ok(t, "CreateTokens", Create(ctx, s, a1, r1))

	const n = 20
	now := base.Add(time.Minute)
	errs := make([]error, n)
	newTokens := make([][2]store.Token, n)
	var wg sync.WaitGroup
	for i := range n {
		a, r := pair(family, fmt.Sprintf("%s-t2-%d", family, i), now)
		newTokens[i] = [2]store.Token{a, r}
		wg.Go(func() {
			errs[i] = Rotate(ctx, s, family, r1.Hash, now, a, r)
		})
	}
	wg.Wait()

	winners, reused := 0, 0
	for i, err := range errs {
		switch {
		case err == nil:
			winners++
		case errors.Is(err, store.ErrTokenReused), errors.Is(err, store.ErrNotFound):
			if errors.Is(err, store.ErrTokenReused) {
				reused++
			}
			noSecrets(t, "RotateRefreshToken", err, r1.Hash, newTokens[i][0].Hash, newTokens[i][1].Hash)
		default:
			t.Errorf("RotateRefreshToken %d: %v, want nil, ErrTokenReused or ErrNotFound", i, err)
		}
	}
	if winners != 1 {
		t.Fatalf("%d of %d concurrent rotations succeeded, want exactly 1", winners, n)
	}
	// Losers all come after the winner, and the first of them sees reuse
	// and revokes the family, the winner's pair with it.
	if reused == 0 {
		t.Fatalf("no concurrent rotation reported ErrTokenReused: %v", errs)
	}
	absent(t, s, a1, r1)
	for _, pair := range newTokens {
		absent(t, s, pair[0], pair[1])
	}
}
