package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/example/authsvc/store"
)

// Self-contained tokens: client settings, token bindings and signing keys
// (store.SigningKeys).

var keysTests = []subtest[store.AuthStore]{
	{"JWT/ClientSettings", testClientTokenSettings},
	{"JWT/TokenBindings", testTokenBindings},
	{"Keys/EnsureOnce", testEnsureSigningKeyOnce},
	{"Keys/Rotate", testRotateSigningKey},
	{"Keys/Retire", testRetireSigningKey},
	{"Keys/DeleteUnpublished", testDeleteUnpublishedKeys},
}

func testClientTokenSettings(t *testing.T, s store.AuthStore) {
	ctx := t.Context()
	c := newClient("api-client")
	c.AccessTokenFormat, c.RequireDPoP, c.Resources = store.AccessTokenJWT, true, []string{"https://api.example/", "urn:example:items"}
	ok(t, "CreateClient", s.CreateClient(ctx, c))
	check := func(what string, got store.Client, format string, dpop bool, resources []string) {
		t.Helper()
		if got.AccessTokenFormat != format || got.RequireDPoP != dpop || !sameStrings(got.Resources, resources) {
			t.Fatalf("%s: format %q, dpop %v, resources %q; want %q, %v, %q", what, got.AccessTokenFormat, got.RequireDPoP, got.Resources, format, dpop, resources)
		}
	}
	got, err := s.GetClient(ctx, c.ID)
	ok(t, "GetClient", err)
	check("GetClient", got, store.AccessTokenJWT, true, c.Resources)
	list, err := s.ListClients(ctx)
	ok(t, "ListClients", err)
	check("ListClients", list[0], store.AccessTokenJWT, true, c.Resources)
	lc, _, _, err := s.IntrospectionLookup(ctx, c.ID, "")
	ok(t, "IntrospectionLookup", err)
	check("IntrospectionLookup", lc, store.AccessTokenJWT, true, c.Resources)

	got.AccessTokenFormat, got.RequireDPoP, got.Resources = "", false, nil
	ok(t, "UpdateClient", s.UpdateClient(ctx, got))
	again, err := s.GetClient(ctx, c.ID)
	ok(t, "GetClient", err)
	// "" is stored as the default, opaque.
	check("after UpdateClient", again, store.AccessTokenOpaque, false, []string{})

	// A client of before this feature reads back as opaque, without DPoP.
	plain := newClient("plain")
	ok(t, "CreateClient", s.CreateClient(ctx, plain))
	p, err := s.GetClient(ctx, plain.ID)
	ok(t, "GetClient", err)
	check("plain client", p, store.AccessTokenOpaque, false, []string{})
}

// testTokenBindings: a token's audience and DPoP binding are stored with
// it, on access tokens and on a grant's refresh token, and a rotation keeps
// the grant's.
func testTokenBindings(t *testing.T, s store.AuthStore) {
	ctx := t.Context()
	setupTokens(t, s)
	access, refresh := pair("family-b", "b1", base)
	access.Audience, access.JKT = "https://api.example/ urn:example:items", "access-jkt"
	refresh.Audience, refresh.JKT = "https://api.example/", "grant-jkt"
	ok(t, "CreateTokens", Create(ctx, s, access, refresh))
	present(t, s, access, refresh)

	got, userOK, err := s.GetTokenForIntrospection(ctx, access.Hash)
	ok(t, "GetTokenForIntrospection", err)
	checkToken(t, got, access)
	if !userOK {
		t.Error("GetTokenForIntrospection: user not OK")
	}
	_, lt, _, err := s.IntrospectionLookup(ctx, testClientID, refresh.Hash)
	ok(t, "IntrospectionLookup", err)
	checkToken(t, lt, refresh)
	g, err := s.GetGrant(ctx, "family-b")
	ok(t, "GetGrant", err)
	if g.Audience != refresh.Audience || g.JKT != refresh.JKT {
		t.Fatalf("GetGrant: audience %q jkt %q", g.Audience, g.JKT)
	}

	access2, refresh2 := pair("family-b", "b2", base.Add(time.Minute))
	access2.JKT = "another-access-jkt"
	refresh2.Audience, refresh2.JKT = refresh.Audience, refresh.JKT
	ok(t, "RotateRefreshToken", Rotate(ctx, s, "family-b", refresh.Hash, base.Add(time.Minute), access2, refresh2))
	g, err = s.GetGrant(ctx, "family-b")
	ok(t, "GetGrant", err)
	if g.Audience != refresh.Audience || g.JKT != refresh.JKT {
		t.Fatalf("GetGrant after rotation: audience %q jkt %q; want the grant's", g.Audience, g.JKT)
	}
	present(t, s, access2)
}

// signingKey is a stored key named name, active from activeAt.
func signingKey(name string, activeAt time.Time) store.SigningKey {
	return store.SigningKey{
		ID:            name,
		Algorithm:     "ES256",
		PublicJWK:     []byte(`{"kty":"EC","kid":"` + name + `"}`),
		SealedPrivate: []byte("sealed-" + name),
		CreatedAt:     base,
		ActiveAt:      activeAt,
	}
}

func keyByID(t *testing.T, s store.AuthStore, kid string) store.SigningKey {
	t.Helper()
	keys, err := s.SigningKeys(t.Context())
	ok(t, "SigningKeys", err)
	for _, k := range keys {
		if k.ID == kid {
			return k
		}
	}
	t.Fatalf("key %q not stored", kid)
	return store.SigningKey{}
}

// testEnsureSigningKeyOnce: of replicas starting at once, exactly one key
// results, and one that starts later keeps it.
func testEnsureSigningKeyOnce(t *testing.T, s store.AuthStore) {
	ctx := t.Context()
	const n = 12
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		stored []string
	)
	for i := range n {
		wg.Go(func() {
			k := signingKey(fmt.Sprintf("k%02d", i), base)
			created, err := s.EnsureSigningKey(ctx, k, base)
			if err != nil {
				t.Errorf("EnsureSigningKey: %v", err)
				return
			}
			if created {
				mu.Lock()
				stored = append(stored, k.ID)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	keys, err := s.SigningKeys(ctx)
	ok(t, "SigningKeys", err)
	if len(stored) != 1 || len(keys) != 1 || keys[0].ID != stored[0] {
		t.Fatalf("stored %v, keys %d; want exactly one", stored, len(keys))
	}
	k := keys[0]
	want := signingKey(stored[0], base)
	if k.Algorithm != want.Algorithm || string(k.PublicJWK) != string(want.PublicJWK) || string(k.SealedPrivate) != string(want.SealedPrivate) ||
		!k.ActiveAt.Equal(base) || !k.CreatedAt.Equal(base) || !k.RetiredAt.IsZero() || !k.PublishedUntil.IsZero() {
		t.Fatalf("stored key %+v, want %+v", k, want)
	}
	created, err := s.EnsureSigningKey(ctx, signingKey("late", base.Add(time.Hour)), base.Add(time.Hour))
	ok(t, "EnsureSigningKey later", err)
	if created {
		t.Fatal("EnsureSigningKey stored a second key while one signs")
	}
}

func testRotateSigningKey(t *testing.T, s store.AuthStore) {
	ctx := t.Context()
	first := signingKey("first", base)
	_, err := s.EnsureSigningKey(ctx, first, base)
	ok(t, "EnsureSigningKey", err)
	activation := base.Add(10 * time.Minute)
	ok(t, "RotateSigningKey", s.RotateSigningKey(ctx, signingKey("second", activation)))
	wantErr(t, "RotateSigningKey again", s.RotateSigningKey(ctx, signingKey("second", activation)), store.ErrAlreadyExists)

	keys, err := s.SigningKeys(ctx)
	ok(t, "SigningKeys", err)
	if len(keys) != 2 || keys[0].ID != "first" || keys[1].ID != "second" {
		t.Fatalf("keys %v, want first and second by activation", keys)
	}
	old := keys[0]
	if !old.RetiredAt.Equal(activation) || !old.PublishedUntil.Equal(activation.Add(store.MaxSignedTokenLifetime+store.SignedTokenLeeway)) {
		t.Fatalf("rotated-out key: retired %v, published until %v", old.RetiredAt, old.PublishedUntil)
	}
	// The old key signs until the new one is active, both published.
	for _, c := range []struct {
		at   time.Time
		want string
	}{{base.Add(time.Minute), "first"}, {activation, "second"}, {activation.Add(2 * time.Hour), "second"}} {
		k, found := store.CurrentSigningKey(keys, c.at)
		if !found || k.ID != c.want {
			t.Errorf("CurrentSigningKey at +%v = %q, %v; want %q", c.at.Sub(base), k.ID, found, c.want)
		}
	}
	if !keys[0].PublishedAt(activation.Add(time.Hour)) || keys[0].PublishedAt(activation.Add(2*time.Hour)) {
		t.Error("the rotated-out key is not published exactly until its tokens have expired")
	}
}

func testRetireSigningKey(t *testing.T, s store.AuthStore) {
	ctx := t.Context()
	_, err := s.EnsureSigningKey(ctx, signingKey("only", base), base)
	ok(t, "EnsureSigningKey", err)
	now := base.Add(time.Hour)
	// Nothing else signs: refused, and nothing changed.
	wantErr(t, "RetireSigningKey last", s.RetireSigningKey(ctx, "only", now, false), store.ErrLastSigningKey)
	if k := keyByID(t, s, "only"); !k.RetiredAt.IsZero() {
		t.Fatalf("refused retirement changed the key: %+v", k)
	}
	wantErr(t, "RetireSigningKey unknown", s.RetireSigningKey(ctx, "nope", now, false), store.ErrNotFound)

	ok(t, "RotateSigningKey", s.RotateSigningKey(ctx, signingKey("next", now)))
	// Retiring the rotated-out key after its rotation moves neither its
	// retirement nor its publication later.
	ok(t, "RetireSigningKey", s.RetireSigningKey(ctx, "only", now.Add(time.Minute), false))
	k := keyByID(t, s, "only")
	if !k.RetiredAt.Equal(now) || !k.PublishedUntil.Equal(now.Add(store.MaxSignedTokenLifetime+store.SignedTokenLeeway)) {
		t.Fatalf("retired key: %+v", k)
	}
	// A compromised key leaves the JWKS at once.
	ok(t, "RetireSigningKey compromised", s.RetireSigningKey(ctx, "only", now.Add(time.Minute), true))
	k = keyByID(t, s, "only")
	if k.PublishedAt(now.Add(time.Minute)) {
		t.Fatalf("compromised key still published: %+v", k)
	}
	if err := s.RetireSigningKey(ctx, "next", now.Add(time.Minute), false); !errors.Is(err, store.ErrLastSigningKey) {
		t.Fatalf("retiring the one signing key: %v, want ErrLastSigningKey", err)
	}
}

func testDeleteUnpublishedKeys(t *testing.T, s store.AuthStore) {
	ctx := t.Context()
	_, err := s.EnsureSigningKey(ctx, signingKey("a", base), base)
	ok(t, "EnsureSigningKey", err)
	ok(t, "RotateSigningKey", s.RotateSigningKey(ctx, signingKey("b", base.Add(time.Minute))))
	until := keyByID(t, s, "a").PublishedUntil
	n, err := s.DeleteUnpublishedKeys(ctx, until.Add(-time.Second))
	ok(t, "DeleteUnpublishedKeys early", err)
	if n != 0 {
		t.Fatalf("deleted %d keys still published", n)
	}
	n, err = s.DeleteUnpublishedKeys(ctx, until)
	ok(t, "DeleteUnpublishedKeys", err)
	keys, err := s.SigningKeys(ctx)
	ok(t, "SigningKeys", err)
	if n != 1 || len(keys) != 1 || keys[0].ID != "b" {
		t.Fatalf("deleted %d, left %v; want a deleted, b left", n, keys)
	}
}
