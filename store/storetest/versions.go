package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/example/authsvc/store"
)

// The races between token requests and the changes that must end what
// they would store (store.Versions), and between administrators. Each
// deterministic test plays the losing interleaving in order: the request
// reads (checks the password, authenticates the client), the change
// commits, then the request stores; the stress tests race them for real.

// testIssueAfterUserChange: a password change, a disable or a delete that
// commits between a login's check and its insert leaves that login nothing.
func testIssueAfterUserChange(t *testing.T, s store.AuthStore) {
	ctx := t.Context()
	setupUsersAndClients(t, s)
	for _, change := range []struct {
		name string
		run  func(u store.User) error
	}{
		{"passwd", func(u store.User) error {
			u.PasswordHash = []byte("$2a$10$a-new-password-hash")
			return s.UpdateUser(ctx, u)
		}},
		{"disable", func(u store.User) error {
			u.Disabled = true
			return s.UpdateUser(ctx, u)
		}},
		{"delete", func(u store.User) error { return s.DeleteUser(ctx, u.Username) }},
	} {
		t.Run(change.name, func(t *testing.T) {
			name := "user-" + change.name
			ok(t, "CreateUser", s.CreateUser(ctx, newUser(name)))
			a, r := pair("family-"+name, name, base)
			a.Username, r.Username = name, name

			// The positive case first: checked and stored with nothing in
			// between, the tokens are stored.
			ok(t, "CreateTokens, nothing in between", Create(ctx, s, a, r))
			present(t, s, a, r)
			ok(t, "RevokeUserGrants", s.RevokeUserGrants(ctx, name))

			checked := VersionsOf(ctx, s, a) // the login checks the password
			ok(t, change.name, change.run(reread(t, s, store.User{Username: name})))
			err := s.CreateTokens(ctx, checked, a, r) // and would store its tokens now
			wantErr(t, "CreateTokens after "+change.name, err, store.ErrUserChanged, a.Hash, r.Hash)
			absent(t, s, a, r)

			// A client's own tokens do not depend on any user.
			cc := store.Token{Hash: hashOf("cc-" + name), Kind: store.AccessToken, FamilyID: "cc-" + name,
				ClientID: "web", IssuedAt: base, ExpiresAt: base.Add(time.Hour)}
			ok(t, "CreateTokens client credentials", s.CreateTokens(ctx, store.Versions{Client: checked.Client}, cc))
			present(t, s, cc)
		})
	}
}

// testIssueAfterClientChange: a request authenticated with a secret that is
// rotated, or for a client that is deleted, before it stores its tokens
// gets ErrClientChanged (never a foreign-key error) and stores nothing.
func testIssueAfterClientChange(t *testing.T, s store.AuthStore) {
	ctx := t.Context()
	setupUsersAndClients(t, s)
	for _, change := range []struct {
		name string
		run  func(c store.Client) error
	}{
		{"rotate-secret", func(c store.Client) error {
			c.SecretHash = []byte("fedcba9876543210fedcba9876543210")
			return s.UpdateClient(ctx, c)
		}},
		{"widen", func(c store.Client) error {
			c.Scopes = append(c.Scopes, "items:admin")
			return s.UpdateClient(ctx, c)
		}},
		{"delete", func(c store.Client) error { return s.DeleteClient(ctx, c.ID) }},
	} {
		t.Run(change.name, func(t *testing.T) {
			id := "client-" + change.name
			ok(t, "CreateClient", s.CreateClient(ctx, newClient(id)))
			cc := store.Token{Hash: hashOf("cc-" + id), Kind: store.AccessToken, FamilyID: "cc-" + id,
				ClientID: id, IssuedAt: base, ExpiresAt: base.Add(time.Hour)}
			a, r := pair("family-"+id, id, base)
			a.ClientID, r.ClientID = id, id

			ok(t, "CreateTokens, nothing in between", Create(ctx, s, cc))
			present(t, s, cc)
			ok(t, "RevokeClientGrants", s.RevokeClientGrants(ctx, id))

			checkedCC, checkedUser := VersionsOf(ctx, s, cc), VersionsOf(ctx, s, a)
			c, err := s.GetClient(ctx, id)
			ok(t, "GetClient", err)
			ok(t, change.name, change.run(c))
			err = s.CreateTokens(ctx, checkedCC, cc)
			wantErr(t, "CreateTokens after "+change.name, err, store.ErrClientChanged, cc.Hash)
			err = s.CreateTokens(ctx, checkedUser, a, r)
			wantErr(t, "CreateTokens of a user's grant after "+change.name, err, store.ErrClientChanged, a.Hash, r.Hash)
			absent(t, s, cc, a, r)
		})
	}
}

// testRotateAfterChange: a refresh checked before a client change or a
// disable rotates nothing after it; checked again, it rotates.
func testRotateAfterChange(t *testing.T, s store.AuthStore) {
	ctx := t.Context()
	setupTokens(t, s)
	a1, r1 := pair("family-1", "t1", base)
	ok(t, "CreateTokens", Create(ctx, s, a1, r1))
	a2, r2 := pair("family-1", "t2", base.Add(time.Minute))

	checked := VersionsOf(ctx, s, r1)
	c, err := s.GetClient(ctx, testClientID)
	ok(t, "GetClient", err)
	c.SecretHash = []byte("fedcba9876543210fedcba9876543210")
	ok(t, "UpdateClient rotate-secret", s.UpdateClient(ctx, c))
	err = s.RotateRefreshToken(ctx, "family-1", r1.Hash, base.Add(time.Minute), checked, a2, r2)
	wantErr(t, "RotateRefreshToken after a client change", err, store.ErrClientChanged, r1.Hash)
	// Nothing happened: no reuse was detected, the grant is as it was.
	present(t, s, a1, r1)
	absent(t, s, a2, r2)
	ok(t, "RotateRefreshToken checked again", Rotate(ctx, s, "family-1", r1.Hash, base.Add(time.Minute), a2, r2))
	present(t, s, a2, r2)

	// A change of the user that revokes nothing (the same hash, still
	// enabled) still moves the version on: the rotation checked against the
	// old one stores nothing, and the grant is left as it was.
	a3, r3 := pair("family-1", "t3", base.Add(2*time.Minute))
	checked = VersionsOf(ctx, s, r2)
	u := reread(t, s, store.User{Username: "alice"})
	u.UpdatedAt = base.Add(time.Hour)
	ok(t, "UpdateUser, nothing revoked", s.UpdateUser(ctx, u))
	err = s.RotateRefreshToken(ctx, "family-1", r2.Hash, base.Add(2*time.Minute), checked, a3, r3)
	wantErr(t, "RotateRefreshToken after a change of the user", err, store.ErrUserChanged, r2.Hash)
	present(t, s, a2, r2)
	absent(t, s, a3, r3)

	checked = VersionsOf(ctx, s, r2)
	u = reread(t, s, u)
	u.Disabled = true
	ok(t, "UpdateUser disable", s.UpdateUser(ctx, u))
	err = s.RotateRefreshToken(ctx, "family-1", r2.Hash, base.Add(2*time.Minute), checked, a3, r3)
	wantErr(t, "RotateRefreshToken after a disable", err, store.ErrUserChanged, r2.Hash)
	absent(t, s, a2, r2, a3, r3)
}

// testUpdateConflicts: an update over a version that moved on writes
// nothing; a rehash keeps the version and every grant.
func testUpdateConflicts(t *testing.T, s store.AuthStore) {
	ctx := t.Context()
	setupUsersAndClients(t, s)
	g := grantsOf(t, s, []string{"alice"}, []string{"web"})

	first := reread(t, s, store.User{Username: "alice"})
	second := first
	first.PasswordHash = []byte("$2a$10$first-admin-hash")
	ok(t, "UpdateUser first", s.UpdateUser(ctx, first))
	second.Disabled = true
	wantErr(t, "UpdateUser over the version the first one replaced", s.UpdateUser(ctx, second), store.ErrConflict)
	got := reread(t, s, first)
	if got.Disabled || string(got.PasswordHash) != string(first.PasswordHash) {
		t.Errorf("user after the conflict = %+v, want the first update only", got)
	}
	absent(t, s, g["alice/web"][0], g["alice/web"][1]) // ended by the first

	// A rehash: same version, nothing revoked; over an old version,
	// nothing written.
	g = grantsOf(t, s, []string{"alice"}, []string{"cli"})
	ok(t, "RehashPassword", s.RehashPassword(ctx, "alice", got.Version, []byte("$2a$12$same-password-rehashed")))
	rehashed := reread(t, s, got)
	if rehashed.Version != got.Version || string(rehashed.PasswordHash) != "$2a$12$same-password-rehashed" {
		t.Errorf("after RehashPassword: %+v, want the new hash at version %d", rehashed, got.Version)
	}
	present(t, s, g["alice/cli"][0], g["alice/cli"][1])
	wantErr(t, "RehashPassword over an old version", s.RehashPassword(ctx, "alice", first.Version, []byte("x")), store.ErrConflict)
	wantErr(t, "RehashPassword of nobody", s.RehashPassword(ctx, "nobody", 1, []byte("x")), store.ErrNotFound)

	c1, err := s.GetClient(ctx, "web")
	ok(t, "GetClient", err)
	c2 := c1
	c1.Introspect = true
	ok(t, "UpdateClient first", s.UpdateClient(ctx, c1))
	c2.Scopes = append(c2.Scopes, "items:admin")
	wantErr(t, "UpdateClient over the version the first one replaced", s.UpdateClient(ctx, c2), store.ErrConflict)
	gotClient, err := s.GetClient(ctx, "web")
	ok(t, "GetClient", err)
	checkClient(t, gotClient, c1)
}

// testVersionAfterRecreate: a user or client deleted and created again
// under its name does not repeat the version a request may have read.
func testVersionAfterRecreate(t *testing.T, s store.AuthStore) {
	ctx := t.Context()
	setupTokens(t, s)
	a, r := pair("family-1", "t1", base)
	checked := VersionsOf(ctx, s, a)
	ok(t, "DeleteUser", s.DeleteUser(ctx, "alice"))
	ok(t, "CreateUser again", s.CreateUser(ctx, newUser("alice")))
	ok(t, "DeleteClient", s.DeleteClient(ctx, testClientID))
	ok(t, "CreateClient again", s.CreateClient(ctx, newClient(testClientID)))
	now := VersionsOf(ctx, s, a)
	if now.User == checked.User || now.Client == checked.Client {
		t.Fatalf("versions %+v after re-creation, %+v before: a version repeated", now, checked)
	}
	err := s.CreateTokens(ctx, checked, a, r)
	if !errors.Is(err, store.ErrClientChanged) && !errors.Is(err, store.ErrUserChanged) {
		t.Fatalf("CreateTokens checked against the deleted records: %v, want a changed principal", err)
	}
	absent(t, s, a, r)
}

// testNamesShared: a user and a client never share a name, whichever
// comes first; a name is free again once its holder is deleted.
func testNamesShared(t *testing.T, s store.AuthStore) {
	ctx := t.Context()
	ok(t, "CreateUser alice", s.CreateUser(ctx, newUser("alice")))
	ok(t, "CreateClient web", s.CreateClient(ctx, newClient("web")))
	wantErr(t, "CreateClient alice", s.CreateClient(ctx, newClient("alice")), store.ErrAlreadyExists)
	wantErr(t, "CreateUser web", s.CreateUser(ctx, newUser("web")), store.ErrAlreadyExists)
	if _, err := s.GetClient(ctx, "alice"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a client alice exists after the refusal: %v", err)
	}
	ok(t, "DeleteUser alice", s.DeleteUser(ctx, "alice"))
	ok(t, "CreateClient alice once the user is gone", s.CreateClient(ctx, newClient("alice")))
	ok(t, "DeleteClient web", s.DeleteClient(ctx, "web"))
	ok(t, "CreateUser web once the client is gone", s.CreateUser(ctx, newUser("web")))
}

// testNamesRace: a user and a client created at once under each of many
// names: for each, exactly one wins, the other gets ErrAlreadyExists.
func testNamesRace(t *testing.T, s store.AuthStore) {
	ctx := t.Context()
	const names = 10
	type outcome struct{ user, client error }
	outcomes := make([]outcome, names)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range names {
		name := fmt.Sprintf("dupy-%d", i)
		wg.Go(func() {
			<-start
			outcomes[i].user = s.CreateUser(ctx, newUser(name))
		})
		wg.Go(func() {
			<-start
			outcomes[i].client = s.CreateClient(ctx, newClient(name))
		})
	}
	close(start)
	wg.Wait()
	for i, o := range outcomes {
		name := fmt.Sprintf("dupy-%d", i)
		_, userErr := s.GetUser(ctx, name)
		_, clientErr := s.GetClient(ctx, name)
		switch {
		case o.user == nil && o.client == nil:
			t.Errorf("%s: both the user and the client were created", name)
		case o.user == nil && errors.Is(o.client, store.ErrAlreadyExists) && userErr == nil && errors.Is(clientErr, store.ErrNotFound):
		case o.client == nil && errors.Is(o.user, store.ErrAlreadyExists) && clientErr == nil && errors.Is(userErr, store.ErrNotFound):
		default:
			t.Errorf("%s: CreateUser %v, CreateClient %v; stored: user %v, client %v; want one created, the other ErrAlreadyExists",
				name, o.user, o.client, userErr, clientErr)
		}
	}
}
