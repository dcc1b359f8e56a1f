package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/example/authsvc/store"
)

// testTokenForIntrospection: GetTokenForIntrospection finds what GetToken
// finds, and says in the same answer whether the token's user may still use
// it.
func testTokenForIntrospection(t *testing.T, s store.AuthStore) {
	ctx := t.Context()
	setupTokens(t, s)
	access, refresh := pair("family-1", "t1", base)
	cc := store.Token{
		Hash: hashOf("cc"), Kind: store.AccessToken, FamilyID: "family-2", ClientID: testClientID,
		Scope: "introspect", IssuedAt: base, ExpiresAt: base.Add(time.Hour),
	}
	ok(t, "CreateTokens", Create(ctx, s, access, refresh))
	ok(t, "CreateTokens client credentials", Create(ctx, s, cc))
	for _, want := range []store.Token{access, refresh, cc} {
		got, userOK, err := s.GetTokenForIntrospection(ctx, want.Hash)
		ok(t, "GetTokenForIntrospection", err)
		checkToken(t, got, want)
		if !userOK {
			t.Errorf("GetTokenForIntrospection(%s of %q): userOK false, want true", want.Kind, want.Username)
		}
	}

	// A token of a user who turns disabled or is deleted goes with that
	// change, and none can be stored for such a user afterwards (see
	// store.Versions), so userOK false is a second line only: the
	// backends' own tests reach it with rows written behind the store's
	// back.
	noTokensForDisabledOrMissingUsers(t, s)

	_, _, err := s.GetTokenForIntrospection(ctx, hashOf("nope"))
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetTokenForIntrospection(unknown): %v, want ErrNotFound", err)
	}
	noSecrets(t, "GetTokenForIntrospection", err, hashOf("nope"))
}

// lookupAgrees fails t unless IntrospectionLookup(clientID, hash) answers
// what GetClient and GetTokenForIntrospection answer one after the other,
// and returns its token and userOK.
func lookupAgrees(t *testing.T, s store.AuthStore, clientID, hash string) (store.Token, bool) {
	t.Helper()
	ctx := t.Context()
	c, tok, userOK, err := s.IntrospectionLookup(ctx, clientID, hash)
	ok(t, "IntrospectionLookup", err)
	wantClient, err := s.GetClient(ctx, clientID)
	ok(t, "GetClient", err)
	checkClient(t, c, wantClient)
	wantTok, wantUserOK, err := store.Token{}, false, error(nil)
	if hash != "" {
		wantTok, wantUserOK, err = s.GetTokenForIntrospection(ctx, hash)
	}
	if errors.Is(err, store.ErrNotFound) {
		err = nil
	}
	ok(t, "GetTokenForIntrospection", err)
	checkToken(t, tok, wantTok)
	if !tok.GrantedAt.Equal(wantTok.GrantedAt) {
		t.Errorf("IntrospectionLookup: GrantedAt %v, want %v", tok.GrantedAt, wantTok.GrantedAt)
	}
	if userOK != wantUserOK {
		t.Errorf("IntrospectionLookup(%q, token of %q): userOK %v, want %v", clientID, wantTok.Username, userOK, wantUserOK)
	}
	return tok, userOK
}

// testIntrospectionLookup: one query answers what GetClient and
// GetTokenForIntrospection answer, for every kind of client and token,
// and tells an unknown client (ErrNotFound) from an unknown token (the
// zero Token).
func testIntrospectionLookup(t *testing.T, s store.AuthStore) {
	ctx := t.Context()
	setupTokens(t, s)
	rs := newClient("rs")
	rs.GrantTypes, rs.Scopes, rs.Introspect = []string{"client_credentials"}, []string{"introspect"}, true
	rs.CreatedAt = base.In(elsewhere)
	pub := newClient("pub")
	pub.SecretHash = nil
	for _, c := range []store.Client{rs, pub} {
		ok(t, "CreateClient "+c.ID, s.CreateClient(ctx, c))
	}

	access, refresh := pair("family-1", "t1", base)
	cc := store.Token{
		Hash: hashOf("cc"), Kind: store.AccessToken, FamilyID: "family-2", ClientID: "rs",
		Scope: "introspect", IssuedAt: base, ExpiresAt: base.Add(time.Hour),
	}
	ok(t, "CreateTokens", Create(ctx, s, access, refresh))
	ok(t, "CreateTokens client credentials", Create(ctx, s, cc))

	// Every token, asked for by every client: the store judges nothing.
	for _, clientID := range []string{"rs", testClientID, "pub"} {
		for _, want := range []store.Token{access, refresh, cc} {
			got, userOK := lookupAgrees(t, s, clientID, want.Hash)
			checkToken(t, got, want)
			if !userOK {
				t.Errorf("IntrospectionLookup(%q, %s of %q): userOK false, want true", clientID, want.Kind, want.Username)
			}
		}
	}
	// The refresh token carries its grant's start, the access token none.
	if got, _ := lookupAgrees(t, s, "rs", refresh.Hash); !got.GrantedAt.Equal(base) {
		t.Errorf("refresh token GrantedAt %v, want %v", got.GrantedAt, base)
	}

	// A known client with an unknown, or no, token: the client and the
	// zero Token.
	for _, hash := range []string{hashOf("nope"), ""} {
		got, userOK := lookupAgrees(t, s, "rs", hash)
		if got != (store.Token{}) || userOK {
			t.Errorf("IntrospectionLookup(rs, unknown): %+v, userOK %v; want the zero Token, false", got, userOK)
		}
	}

	// A rotated refresh token is found no more, its successor is.
	access2, refresh2 := pair("family-1", "t2", base.Add(time.Minute))
	ok(t, "RotateRefreshToken", Rotate(ctx, s, "family-1", refresh.Hash, base.Add(time.Minute), access2, refresh2))
	if got, _ := lookupAgrees(t, s, "rs", refresh.Hash); got.Hash != "" {
		t.Errorf("rotated refresh token found: %+v", got)
	}
	if got, _ := lookupAgrees(t, s, "rs", refresh2.Hash); got.Hash != refresh2.Hash {
		t.Errorf("current refresh token not found: %+v", got)
	}

	// An unknown client is ErrNotFound, whether or not the token exists,
	// and the error names no token hash.
	for _, hash := range []string{access.Hash, hashOf("nope"), ""} {
		c, got, userOK, err := s.IntrospectionLookup(ctx, "mobile", hash)
		wantErr(t, "IntrospectionLookup(unknown client)", err, store.ErrNotFound, access.Hash, hashOf("nope"))
		if c.ID != "" || got != (store.Token{}) || userOK {
			t.Errorf("IntrospectionLookup(unknown client): %+v, %+v, %v; want zero values", c, got, userOK)
		}
	}
}

// noTokensForDisabledOrMissingUsers: issuing for a disabled user, or for
// a name no user has, stores nothing, whatever versions the caller names.
func noTokensForDisabledOrMissingUsers(t *testing.T, s store.AuthStore) {
	ctx := t.Context()
	bob := newUser("bob")
	ok(t, "CreateUser bob", s.CreateUser(ctx, bob))
	bob = reread(t, s, bob)
	bob.Disabled = true
	ok(t, "UpdateUser bob disabled", s.UpdateUser(ctx, bob))
	bobAccess, bobRefresh := pair("family-3", "bob", base)
	bobAccess.Username, bobRefresh.Username = "bob", "bob"
	ghostAccess, ghostRefresh := pair("family-4", "ghost", base)
	ghostAccess.Username, ghostRefresh.Username = "ghost", "ghost"
	disabled := VersionsOf(ctx, s, bobAccess)
	for name, v := range map[string]store.Versions{"as read": disabled, "as before the disable": {Client: disabled.Client, User: bob.Version}} {
		wantErr(t, "CreateTokens for a disabled user "+name, s.CreateTokens(ctx, v, bobAccess, bobRefresh), store.ErrUserChanged)
		wantErr(t, "CreateTokens for no user "+name, s.CreateTokens(ctx, v, ghostAccess, ghostRefresh), store.ErrUserChanged)
	}
	absent(t, s, bobAccess, bobRefresh, ghostAccess, ghostRefresh)
}
