package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/example/authsvc/store"
)

// introspectionTests prove that every change that ends a token ends what
// IntrospectionLookup answers about it at once: on a plain backend this is
// the store's own consistency, and through store/cached it is the cache's
// exactness (each token is looked up twice before the change, so the
// second answer comes from memory when there is a cache).
var introspectionTests = []subtest[store.AuthStore]{
	{"Introspection/EndsWith/DeleteToken", endsWith(func(t *testing.T, s store.AuthStore, f *introspected) {
		ok(t, "DeleteToken", s.DeleteToken(t.Context(), f.access.Hash))
		f.dead(t, s, f.access)
		f.live(t, s, f.refresh, f.cc)
	})},
	{"Introspection/EndsWith/DeleteFamily", endsWith(func(t *testing.T, s store.AuthStore, f *introspected) {
		ok(t, "DeleteFamily", s.DeleteFamily(t.Context(), f.access.FamilyID))
		f.dead(t, s, f.access, f.refresh)
		f.live(t, s, f.cc)
	})},
	{"Introspection/EndsWith/Rotation", endsWith(func(t *testing.T, s store.AuthStore, f *introspected) {
		a2, r2 := pair(f.access.FamilyID, "t2", base.Add(time.Minute))
		ok(t, "Rotate", Rotate(t.Context(), s, f.access.FamilyID, f.refresh.Hash, base.Add(time.Minute), a2, r2))
		f.dead(t, s, f.access, f.refresh)
		f.live(t, s, a2, r2)
	})},
	{"Introspection/EndsWith/RefreshReuse", endsWith(func(t *testing.T, s store.AuthStore, f *introspected) {
		a2, r2 := pair(f.access.FamilyID, "t2", base.Add(time.Minute))
		ok(t, "Rotate", Rotate(t.Context(), s, f.access.FamilyID, f.refresh.Hash, base.Add(time.Minute), a2, r2))
		f.live(t, s, a2, r2)
		a3, r3 := pair(f.access.FamilyID, "t3", base.Add(2*time.Minute))
		err := Rotate(t.Context(), s, f.access.FamilyID, f.refresh.Hash, base.Add(2*time.Minute), a3, r3)
		wantErr(t, "Rotate reused", err, store.ErrTokenReused)
		f.dead(t, s, a2, r2, a3, r3)
	})},
	{"Introspection/EndsWith/RevokeUserGrants", endsWith(func(t *testing.T, s store.AuthStore, f *introspected) {
		ok(t, "RevokeUserGrants", s.RevokeUserGrants(t.Context(), "alice"))
		f.dead(t, s, f.access, f.refresh)
		f.live(t, s, f.cc)
	})},
	{"Introspection/EndsWith/Disable", endsWith(func(t *testing.T, s store.AuthStore, f *introspected) {
		u := reread(t, s, store.User{Username: "alice"})
		u.Disabled = true
		ok(t, "UpdateUser disable", s.UpdateUser(t.Context(), u))
		f.dead(t, s, f.access, f.refresh)
		f.live(t, s, f.cc)
	})},
	{"Introspection/EndsWith/PasswordChange", endsWith(func(t *testing.T, s store.AuthStore, f *introspected) {
		u := reread(t, s, store.User{Username: "alice"})
		u.PasswordHash = []byte("$2a$04$another-hash-of-another-password......")
		ok(t, "UpdateUser password", s.UpdateUser(t.Context(), u))
		f.dead(t, s, f.access, f.refresh)
	})},
	{"Introspection/EndsWith/DeleteUser", endsWith(func(t *testing.T, s store.AuthStore, f *introspected) {
		ok(t, "DeleteUser", s.DeleteUser(t.Context(), "alice"))
		f.dead(t, s, f.access, f.refresh)
		f.live(t, s, f.cc)
	})},
	{"Introspection/EndsWith/RevokeClientGrants", endsWith(func(t *testing.T, s store.AuthStore, f *introspected) {
		ok(t, "RevokeClientGrants", s.RevokeClientGrants(t.Context(), testClientID))
		f.dead(t, s, f.access, f.refresh, f.cc)
	})},
	{"Introspection/EndsWith/ClientNarrowed", endsWith(func(t *testing.T, s store.AuthStore, f *introspected) {
		c, err := s.GetClient(t.Context(), testClientID)
		ok(t, "GetClient", err)
		c.Scopes = c.Scopes[:1]
		ok(t, "UpdateClient narrowing", s.UpdateClient(t.Context(), c))
		f.dead(t, s, f.access, f.refresh, f.cc)
	})},
	{"Introspection/EndsWith/DeleteClient", endsWith(func(t *testing.T, s store.AuthStore, f *introspected) {
		ok(t, "DeleteClient", s.DeleteClient(t.Context(), testClientID))
		f.dead(t, s, f.access, f.refresh, f.cc)
	})},
	{"Introspection/EndsWith/CodeReuse", endsWith(func(t *testing.T, s store.AuthStore, f *introspected) {
		c := createCode(t, s, "c1", "fam-code")
		first, err := redeem(t, s, c, "first", base.Add(time.Second))
		ok(t, "RedeemAuthCode", err)
		f.live(t, s, first...)
		_, err = redeem(t, s, c, "second", base.Add(2*time.Second))
		wantErr(t, "RedeemAuthCode again", err, store.ErrCodeReused)
		f.dead(t, s, first...)
		f.live(t, s, f.access, f.cc)
	})},
	{"Introspection/SecretRotation", endsWith(func(t *testing.T, s store.AuthStore, f *introspected) {
		// The introspecting client's record is read afresh after a
		// change: its old secret stops working at once.
		rs, err := s.GetClient(t.Context(), "rs")
		ok(t, "GetClient rs", err)
		rs.SecretHash = []byte(hashOf("a new secret"))[:32]
		ok(t, "UpdateClient rs", s.UpdateClient(t.Context(), rs))
		c, _, _, err := s.IntrospectionLookup(t.Context(), "rs", f.access.Hash)
		ok(t, "IntrospectionLookup", err)
		if string(c.SecretHash) != string(rs.SecretHash) {
			t.Fatalf("IntrospectionLookup answered the client's old secret hash")
		}
		ok(t, "DeleteClient rs", s.DeleteClient(t.Context(), "rs"))
		_, _, _, err = s.IntrospectionLookup(t.Context(), "rs", f.access.Hash)
		wantErr(t, "IntrospectionLookup of a deleted client", err, store.ErrNotFound)
	})},
	{"Races/IntrospectVersusChange", testIntrospectVersusChange},
}

// introspected is a store with tokens that introspection has seen: alice's
// access and refresh token of client web (family-1), and web's own
// client-credentials token, looked up by the introspecting client rs.
type introspected struct {
	access, refresh, cc store.Token
}

func endsWith(change func(t *testing.T, s store.AuthStore, f *introspected)) func(t *testing.T, s store.AuthStore) {
	return func(t *testing.T, s store.AuthStore) {
		f := setupIntrospected(t, s)
		f.live(t, s, f.access, f.refresh, f.cc)
		change(t, s, f)
	}
}

func setupIntrospected(t *testing.T, s store.AuthStore) *introspected {
	t.Helper()
	setupTokens(t, s)
	rs := newClient("rs")
	rs.GrantTypes, rs.Scopes, rs.Introspect = []string{"client_credentials"}, []string{"introspect"}, true
	ok(t, "CreateClient rs", s.CreateClient(t.Context(), rs))
	f := &introspected{}
	f.access, f.refresh = pair("family-1", "t1", base)
	ok(t, "CreateTokens", Create(t.Context(), s, f.access, f.refresh))
	f.cc = clientCredentials(t, s, testClientID)
	return f
}

// usable reports whether introspection by rs may call the token active (the
// caller also checks expiry, which is not the store's business).
func usable(t *testing.T, s store.AuthStore, hash string) bool {
	t.Helper()
	_, tok, userOK, err := s.IntrospectionLookup(t.Context(), "rs", hash)
	ok(t, "IntrospectionLookup", err)
	return tok.Hash == hash && userOK
}

// live fails t unless every token is usable, twice in a row.
func (f *introspected) live(t *testing.T, s store.AuthStore, tokens ...store.Token) {
	t.Helper()
	for _, tok := range tokens {
		for range 2 {
			if !usable(t, s, tok.Hash) {
				t.Fatalf("%s of %q (%s): not usable, want usable", tok.Kind, tok.Username, tok.FamilyID)
			}
		}
	}
}

// dead fails t if any token is usable.
func (f *introspected) dead(t *testing.T, s store.AuthStore, tokens ...store.Token) {
	t.Helper()
	for _, tok := range tokens {
		if usable(t, s, tok.Hash) {
			t.Fatalf("%s of %q (%s): usable after the change that ended it", tok.Kind, tok.Username, tok.FamilyID)
		}
	}
}

// testIntrospectVersusChange: readers introspect without pause while a
// writer ends tokens, one change after another; no lookup that starts after
// a change has returned may find the token usable. Through store/cached
// this is the proof that a fill racing an invalidation cannot bring a stale
// answer back.
func testIntrospectVersusChange(t *testing.T, s store.AuthStore) {
	ctx := t.Context()
	setupIntrospected(t, s)
	changes := []struct {
		name string
		end  func(tok store.Token) error
	}{
		{"DeleteToken", func(tok store.Token) error { return s.DeleteToken(ctx, tok.Hash) }},
		{"DeleteFamily", func(tok store.Token) error { return s.DeleteFamily(ctx, tok.FamilyID) }},
		{"RevokeUserGrants", func(store.Token) error { return s.RevokeUserGrants(ctx, "alice") }},
		{"Disable", func(store.Token) error {
			u, err := s.GetUser(ctx, "alice")
			if err != nil {
				return err
			}
			u.Disabled = true
			if err := s.UpdateUser(ctx, u); err != nil {
				return err
			}
			u, err = s.GetUser(ctx, "alice")
			if err != nil {
				return err
			}
			u.Disabled = false
			return s.UpdateUser(ctx, u)
		}},
		{"PasswordChange", func(store.Token) error {
			u, err := s.GetUser(ctx, "alice")
			if err != nil {
				return err
			}
			u.PasswordHash = append(u.PasswordHash, 'x')
			return s.UpdateUser(ctx, u)
		}},
	}
	const rounds, readers = 8, 4
	for round := range rounds {
		for _, ch := range changes {
			access, refresh := pair(fmt.Sprintf("race-%d-%s", round, ch.name), fmt.Sprintf("race-%d-%s", round, ch.name), base)
			ok(t, "CreateTokens", Create(ctx, s, access, refresh))
			n, err := readersVersusWrite(t, readers, func() error { return ch.end(access) }, func() (bool, error) {
				_, tok, userOK, err := s.IntrospectionLookup(ctx, "rs", access.Hash)
				if errors.Is(err, store.ErrNotFound) {
					err = nil
				}
				return tok.Hash == access.Hash && userOK, err
			})
			ok(t, ch.name, err)
			if n > 0 {
				t.Fatalf("round %d, %s: %d lookups begun after the change returned found the token usable", round, ch.name, n)
			}
		}
	}
}
