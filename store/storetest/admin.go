package storetest

import (
	"testing"
	"time"

	"github.com/example/authsvc/store"
)

// Cases of the administrative changes: deleting users and clients, and
// changing a client.

// testDeleteUser: the user, its grants and its login record go; a user
// created again under the name has none of it; others keep theirs.
func testDeleteUser(t *testing.T, s store.AuthStore) {
	ctx := t.Context()
	setupUsersAndClients(t, s)
	g := grantsOf(t, s, []string{"alice", "bob"}, []string{"web"})
	policy := store.LoginPolicy{Threshold: 1, Lockout: time.Hour, MaxLockout: time.Hour}
	a, err := s.BeginLogin(ctx, "alice", base, policy)
	ok(t, "BeginLogin", err)
	if !a.Allowed {
		t.Fatal("first attempt refused")
	}
	if a, _ = s.BeginLogin(ctx, "alice", base, policy); a.Allowed {
		t.Fatal("alice is not locked before the delete")
	}
	present(t, s, g["alice/web"][0], g["alice/web"][1], g["bob/web"][0], g["bob/web"][1])

	ok(t, "DeleteUser", s.DeleteUser(ctx, "alice"))
	_, err = s.GetUser(ctx, "alice")
	wantErr(t, "GetUser after DeleteUser", err, store.ErrNotFound)
	absent(t, s, g["alice/web"][0], g["alice/web"][1])
	present(t, s, g["bob/web"][0], g["bob/web"][1])

	ok(t, "CreateUser again", s.CreateUser(ctx, newUser("alice")))
	a, err = s.BeginLogin(ctx, "alice", base, policy)
	ok(t, "BeginLogin after re-create", err)
	if !a.Allowed {
		t.Error("the deleted user's lockout survived the delete")
	}

	wantErr(t, "DeleteUser of an unknown user", s.DeleteUser(ctx, "nobody"), store.ErrNotFound)
}

// testUpdateClient: every field but the id and creation time is replaced;
// a widening or a new secret ends no grant.
func testUpdateClient(t *testing.T, s store.AuthStore) {
	ctx := t.Context()
	setupUsersAndClients(t, s)
	g := grantsOf(t, s, []string{"alice"}, []string{"web", "cli"})

	c, err := s.GetClient(ctx, "web")
	ok(t, "GetClient", err)
	c.SecretHash = []byte("fedcba9876543210fedcba9876543210")
	c.GrantTypes = append(c.GrantTypes, "client_credentials")
	c.Scopes = append(c.Scopes, "items:admin")
	c.Introspect = true
	ok(t, "UpdateClient", s.UpdateClient(ctx, c))
	got, err := s.GetClient(ctx, "web")
	ok(t, "GetClient", err)
	checkClient(t, got, c)
	if got.Version == c.Version {
		t.Errorf("UpdateClient left the version at %d", got.Version)
	}
	present(t, s, g["alice/web"][0], g["alice/web"][1])

	// To public and back.
	c = got
	c.SecretHash = nil
	ok(t, "UpdateClient public", s.UpdateClient(ctx, c))
	got, err = s.GetClient(ctx, "web")
	ok(t, "GetClient", err)
	if !got.Public() {
		t.Error("client with the secret hash removed is not public")
	}

	nobody := newClient("nobody")
	wantErr(t, "UpdateClient of an unknown client", s.UpdateClient(ctx, nobody), store.ErrNotFound)
	if _, err := s.GetClient(ctx, "nobody"); err == nil {
		t.Error("UpdateClient of an unknown client created it")
	}
}

// testUpdateClientNarrows: taking away a scope or a grant type ends every
// grant of the client, and only of that client.
func testUpdateClientNarrows(t *testing.T, s store.AuthStore) {
	ctx := t.Context()
	setupUsersAndClients(t, s)
	for _, narrow := range []func(c *store.Client){
		func(c *store.Client) { c.Scopes = c.Scopes[:1] },
		func(c *store.Client) { c.GrantTypes = c.GrantTypes[:1] },
	} {
		ok(t, "RevokeClientGrants", s.RevokeClientGrants(ctx, "web"))
		ok(t, "RevokeClientGrants", s.RevokeClientGrants(ctx, "cli"))
		g := grantsOf(t, s, []string{"alice"}, []string{"web", "cli"})
		cc := clientCredentials(t, s, "web")
		present(t, s, g["alice/web"][0], g["alice/web"][1], cc, g["alice/cli"][0])

		c, err := s.GetClient(ctx, "web")
		ok(t, "GetClient", err)
		narrow(&c)
		ok(t, "UpdateClient narrowing", s.UpdateClient(ctx, c))
		absent(t, s, g["alice/web"][0], g["alice/web"][1], cc)
		present(t, s, g["alice/cli"][0], g["alice/cli"][1])
		ok(t, "DeleteClient", s.DeleteClient(ctx, "web"))
		ok(t, "CreateClient", s.CreateClient(ctx, newClient("web")))
	}
}

// testDeleteClient: the client and every token of it go, at once.
func testDeleteClient(t *testing.T, s store.AuthStore) {
	ctx := t.Context()
	setupUsersAndClients(t, s)
	g := grantsOf(t, s, []string{"alice", "bob"}, []string{"web", "cli"})
	ccWeb, ccCLI := clientCredentials(t, s, "web"), clientCredentials(t, s, "cli")
	present(t, s, g["alice/web"][0], g["bob/web"][1], ccWeb, ccCLI)

	ok(t, "DeleteClient", s.DeleteClient(ctx, "web"))
	_, err := s.GetClient(ctx, "web")
	wantErr(t, "GetClient after DeleteClient", err, store.ErrNotFound)
	absent(t, s, g["alice/web"][0], g["alice/web"][1], g["bob/web"][0], g["bob/web"][1], ccWeb)
	present(t, s, g["alice/cli"][0], g["alice/cli"][1], ccCLI)

	wantErr(t, "DeleteClient again", s.DeleteClient(ctx, "web"), store.ErrNotFound)
}
