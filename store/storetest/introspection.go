package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/example/authsvc/store"
)

// testTokenForIntrospection: GetTokenForIntrospection finds what GetToken
// finds, and says in the same answer whether the token's user may still use
// it. UpdateUser revokes a disabled user's tokens itself, so a token of a
// disabled or missing user is made here by inserting it afterwards: the
// check must hold whatever order the writes came in.
func testTokenForIntrospection(t *testing.T, s store.AuthStore) {
	ctx := t.Context()
	setupTokens(t, s)
	access, refresh := pair("family-1", "t1", base)
	cc := store.Token{
		Hash: hashOf("cc"), Kind: store.AccessToken, FamilyID: "family-2", ClientID: testClientID,
		Scope: "introspect", IssuedAt: base, ExpiresAt: base.Add(time.Hour),
	}
	ok(t, "CreateTokens", s.CreateTokens(ctx, access, refresh))
	ok(t, "CreateTokens client credentials", s.CreateTokens(ctx, cc))
	for _, want := range []store.Token{access, refresh, cc} {
		got, userOK, err := s.GetTokenForIntrospection(ctx, want.Hash)
		ok(t, "GetTokenForIntrospection", err)
		checkToken(t, got, want)
		if !userOK {
			t.Errorf("GetTokenForIntrospection(%s of %q): userOK false, want true", want.Kind, want.Username)
		}
	}

	bob := newUser("bob")
	ok(t, "CreateUser bob", s.CreateUser(ctx, bob))
	bob.Disabled = true
	ok(t, "UpdateUser bob disabled", s.UpdateUser(ctx, bob))
	bobAccess, bobRefresh := pair("family-3", "bob", base)
	bobAccess.Username, bobRefresh.Username = "bob", "bob"
	ghostAccess, ghostRefresh := pair("family-4", "ghost", base)
	ghostAccess.Username, ghostRefresh.Username = "ghost", "ghost"
	ok(t, "CreateTokens bob", s.CreateTokens(ctx, bobAccess, bobRefresh))
	ok(t, "CreateTokens ghost", s.CreateTokens(ctx, ghostAccess, ghostRefresh))
	for _, want := range []store.Token{bobAccess, bobRefresh, ghostAccess, ghostRefresh} {
		got, userOK, err := s.GetTokenForIntrospection(ctx, want.Hash)
		ok(t, "GetTokenForIntrospection", err)
		checkToken(t, got, want)
		if userOK {
			t.Errorf("GetTokenForIntrospection(%s of %q): userOK true, want false", want.Kind, want.Username)
		}
	}

	// A user enabled again makes the same token usable again: the answer is
	// read, not remembered.
	bob.Disabled = false
	ok(t, "UpdateUser bob enabled", s.UpdateUser(ctx, bob))
	if _, userOK, err := s.GetTokenForIntrospection(ctx, bobAccess.Hash); err != nil || !userOK {
		t.Errorf("GetTokenForIntrospection after enable: userOK %v, %v; want true", userOK, err)
	}

	_, _, err := s.GetTokenForIntrospection(ctx, hashOf("nope"))
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetTokenForIntrospection(unknown): %v, want ErrNotFound", err)
	}
	noSecrets(t, "GetTokenForIntrospection", err, hashOf("nope"))
}
