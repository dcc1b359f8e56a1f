package storetest

import (
	"bytes"
	"testing"
	"time"

	"github.com/example/authsvc/store"
)

// RunAuthStoreTests runs the conformance suite of store.AuthStore; newStore
// returns a fresh empty store per subtest and registers its own cleanup.
func RunAuthStoreTests(t *testing.T, newStore func(t *testing.T) store.AuthStore) {
	t.Helper()
	runAll(t, newStore, []subtest[store.AuthStore]{
		{"Ping", testAuthPing},

		{"Users/CreateGet", testUserCreateGet},
		{"Users/AlreadyExists", testUserAlreadyExists},
		{"Users/NotFound", testUserNotFound},
		{"Users/Update", testUserUpdate},
		{"Users/List", testUserList},

		{"Clients/Confidential", testClientConfidential},
		{"Clients/Public", testClientPublic},
		{"Clients/AlreadyExists", testClientAlreadyExists},
		{"Clients/NotFound", testClientNotFound},
		{"Clients/List", testClientList},

		{"Tokens/CreateGet", testTokenCreateGet},
		{"Tokens/CreateAtomic", testTokenCreateAtomic},
		{"Tokens/NotFound", testTokenNotFound},
		{"Tokens/ForIntrospection", testTokenForIntrospection},
		{"Tokens/IntrospectionLookup", testIntrospectionLookup},
		{"Tokens/Active", testTokenActive},
		{"Tokens/Rotate", testRotate},
		{"Tokens/RotateUnknown", testRotateUnknown},
		{"Tokens/RotateExpired", testRotateExpired},
		{"Tokens/RotateAccessToken", testRotateAccessToken},
		{"Tokens/RotateReused", testRotateReused},
		{"Tokens/RotateReusedOlder", testRotateReusedOlder},
		{"Tokens/RotateAtomic", testRotateAtomic},
		{"Tokens/RotateConcurrent", testRotateConcurrent},
		{"Tokens/DeleteToken", testDeleteToken},
		{"Tokens/DeleteFamily", testDeleteFamily},
		{"Tokens/DeleteExpired", testDeleteExpired},

		{"Grants/RowsBounded", testRowsBounded},
		{"Grants/ReuseAnyEarlier", testReuseAnyEarlier},
		{"Grants/GrantedAt", testGrantedAt},
		{"Grants/ReuseRacesRotation", testReuseRacesRotation},
		{"Grants/RevokeUser", testRevokeUserGrants},
		{"Grants/RevokeClient", testRevokeClientGrants},
		{"Grants/RevokeRacesRotation", testRevokeRacesRotation},
		{"Users/UpdateRevokesGrants", testUpdateUserRevokes},
		{"Users/Delete", testDeleteUser},
		{"Clients/Update", testUpdateClient},
		{"Clients/UpdateNarrowingRevokes", testUpdateClientNarrows},
		{"Clients/Delete", testDeleteClient},

		{"Versions/IssueAfterUserChange", testIssueAfterUserChange},
		{"Versions/IssueAfterClientChange", testIssueAfterClientChange},
		{"Versions/RotateAfterChange", testRotateAfterChange},
		{"Versions/UpdateConflicts", testUpdateConflicts},
		{"Versions/AfterRecreate", testVersionAfterRecreate},
		{"Names/Shared", testNamesShared},
		{"Names/Race", testNamesRace},
		{"Races/IssueVersusPasswd", testRaceIssueVersusPasswd},
		{"Races/IssueVersusClientDelete", testRaceIssueVersusClientDelete},
		{"Races/RefreshVersusDisable", testRaceRefreshVersusDisable},

		{"Logins/Threshold", testLoginThreshold},
		{"Logins/LockoutGrowth", testLoginLockoutGrowth},
		{"Logins/SucceededResets", testLoginSucceededResets},
		{"Logins/PerUsername", testLoginPerUsername},
		{"Logins/Concurrent", testLoginConcurrent},
		{"Logins/DeleteExpired", testLoginDeleteExpired},
	})
	runAll(t, newStore, authorizeTests)
	runAll(t, newStore, introspectionTests)
	runAll(t, newStore, keysTests)
}

func testAuthPing(t *testing.T, s store.AuthStore) {
	ok(t, "Ping", s.Ping(t.Context()))
}

// --- users ---

func newUser(name string) store.User {
	return store.User{
		Username:     name,
		PasswordHash: []byte("$2a$10$" + name + "-bcrypt-hash"),
		CreatedAt:    base,
		UpdatedAt:    base,
	}
}

func checkUser(t *testing.T, got, want store.User) {
	t.Helper()
	if got.Username != want.Username ||
		!bytes.Equal(got.PasswordHash, want.PasswordHash) ||
		got.Disabled != want.Disabled ||
		!got.CreatedAt.Equal(want.CreatedAt) ||
		!got.UpdatedAt.Equal(want.UpdatedAt) {
		t.Errorf("user = %+v, want %+v", got, want)
	}
}

func testUserCreateGet(t *testing.T, s store.AuthStore) {
	ctx := t.Context()
	want := newUser("alice")
	want.Disabled = true
	want.CreatedAt = base.In(elsewhere)
	want.UpdatedAt = base.Add(time.Hour + time.Microsecond)
	ok(t, "CreateUser", s.CreateUser(ctx, want))

	got, err := s.GetUser(ctx, "alice")
	ok(t, "GetUser", err)
	checkUser(t, got, want)
}

func testUserAlreadyExists(t *testing.T, s store.AuthStore) {
	ctx := t.Context()
	want := newUser("alice")
	ok(t, "CreateUser", s.CreateUser(ctx, want))

	other := newUser("alice")
	other.PasswordHash = []byte("another hash")
	wantErr(t, "CreateUser again", s.CreateUser(ctx, other), store.ErrAlreadyExists)

	got, err := s.GetUser(ctx, "alice")
	ok(t, "GetUser", err)
	checkUser(t, got, want)
}

func testUserNotFound(t *testing.T, s store.AuthStore) {
	ctx := t.Context()
	ok(t, "CreateUser", s.CreateUser(ctx, newUser("alice")))
	_, err := s.GetUser(ctx, "bob")
	wantErr(t, "GetUser", err, store.ErrNotFound)
	_, err = s.GetUser(ctx, "Alice")
	wantErr(t, "GetUser with other case", err, store.ErrNotFound)
}

func testUserUpdate(t *testing.T, s store.AuthStore) {
	ctx := t.Context()
	orig := newUser("alice")
	ok(t, "CreateUser", s.CreateUser(ctx, orig))

	read, err := s.GetUser(ctx, "alice")
	ok(t, "GetUser", err)
	update := store.User{
		Username:     "alice",
		PasswordHash: []byte("new hash"),
		Disabled:     true,
		CreatedAt:    base.Add(-48 * time.Hour), // not updatable
		UpdatedAt:    base.Add(time.Minute),
		Version:      read.Version,
	}
	ok(t, "UpdateUser", s.UpdateUser(ctx, update))
	got, err := s.GetUser(ctx, "alice")
	ok(t, "GetUser", err)
	want := update
	want.CreatedAt = orig.CreatedAt
	checkUser(t, got, want)
	if got.Version == read.Version {
		t.Errorf("UpdateUser left the version at %d", got.Version)
	}

	update.Disabled = false
	update.UpdatedAt = base.Add(2 * time.Minute)
	update.Version = got.Version
	ok(t, "UpdateUser to enabled", s.UpdateUser(ctx, update))
	got, err = s.GetUser(ctx, "alice")
	ok(t, "GetUser", err)
	want = update
	want.CreatedAt = orig.CreatedAt
	checkUser(t, got, want)

	wantErr(t, "UpdateUser of unknown user", s.UpdateUser(ctx, newUser("bob")), store.ErrNotFound)
	_, err = s.GetUser(ctx, "bob")
	wantErr(t, "GetUser after failed update", err, store.ErrNotFound)
}

func testUserList(t *testing.T, s store.AuthStore) {
	ctx := t.Context()
	users, err := s.ListUsers(ctx)
	ok(t, "ListUsers of empty store", err)
	if len(users) != 0 {
		t.Fatalf("ListUsers of empty store = %d users, want 0", len(users))
	}

	want := map[string]store.User{}
	for i, name := range []string{"carol", "alice", "dave", "bob"} {
		u := newUser(name)
		u.CreatedAt = base.Add(time.Duration(i) * time.Second)
		want[name] = u
		ok(t, "CreateUser", s.CreateUser(ctx, u))
	}
	users, err = s.ListUsers(ctx)
	ok(t, "ListUsers", err)
	order := []string{"alice", "bob", "carol", "dave"}
	if len(users) != len(order) {
		t.Fatalf("ListUsers = %d users, want %d", len(users), len(order))
	}
	for i, name := range order {
		if users[i].Username != name {
			t.Fatalf("ListUsers[%d] = %q, want %q (by username)", i, users[i].Username, name)
		}
		checkUser(t, users[i], want[name])
	}
}

// --- clients ---

func newClient(id string) store.Client {
	return store.Client{
		ID:         id,
		SecretHash: []byte("0123456789abcdef0123456789abcdef"),
		GrantTypes: []string{"password", "refresh_token"},
		Scopes:     []string{"items:read", "items:write"},
		CreatedAt:  base,
	}
}

func checkClient(t *testing.T, got, want store.Client) {
	t.Helper()
	if got.ID != want.ID ||
		!bytes.Equal(got.SecretHash, want.SecretHash) ||
		got.Public() != want.Public() ||
		!sameStrings(got.GrantTypes, want.GrantTypes) ||
		!sameStrings(got.Scopes, want.Scopes) ||
		got.Introspect != want.Introspect ||
		!got.CreatedAt.Equal(want.CreatedAt) {
		t.Errorf("client = %+v, want %+v", got, want)
	}
}

func testClientConfidential(t *testing.T, s store.AuthStore) {
	ctx := t.Context()
	want := newClient("resource-server")
	want.GrantTypes = []string{"client_credentials"}
	want.Scopes = []string{"introspect", "items:read"}
	want.Introspect = true
	want.CreatedAt = base.In(elsewhere)
	ok(t, "CreateClient", s.CreateClient(ctx, want))

	got, err := s.GetClient(ctx, want.ID)
	ok(t, "GetClient", err)
	checkClient(t, got, want)
	if got.Public() {
		t.Error("client with a secret hash is public")
	}
}

func testClientPublic(t *testing.T, s store.AuthStore) {
	ctx := t.Context()
	want := newClient("cli")
	want.SecretHash = nil
	ok(t, "CreateClient", s.CreateClient(ctx, want))
	got, err := s.GetClient(ctx, "cli")
	ok(t, "GetClient", err)
	checkClient(t, got, want)
	if !got.Public() {
		t.Errorf("client created without a secret hash: SecretHash = %x, want none", got.SecretHash)
	}

	// No grant types or scopes at all round-trips as empty.
	bare := store.Client{ID: "bare", CreatedAt: base}
	ok(t, "CreateClient bare", s.CreateClient(ctx, bare))
	got, err = s.GetClient(ctx, "bare")
	ok(t, "GetClient bare", err)
	checkClient(t, got, bare)
}

func testClientAlreadyExists(t *testing.T, s store.AuthStore) {
	ctx := t.Context()
	want := newClient("web")
	ok(t, "CreateClient", s.CreateClient(ctx, want))

	other := newClient("web")
	other.SecretHash = nil
	other.Introspect = true
	wantErr(t, "CreateClient again", s.CreateClient(ctx, other), store.ErrAlreadyExists)

	got, err := s.GetClient(ctx, "web")
	ok(t, "GetClient", err)
	checkClient(t, got, want)
}

func testClientNotFound(t *testing.T, s store.AuthStore) {
	ctx := t.Context()
	ok(t, "CreateClient", s.CreateClient(ctx, newClient("web")))
	_, err := s.GetClient(ctx, "mobile")
	wantErr(t, "GetClient", err, store.ErrNotFound)
}

func testClientList(t *testing.T, s store.AuthStore) {
	ctx := t.Context()
	clients, err := s.ListClients(ctx)
	ok(t, "ListClients of empty store", err)
	if len(clients) != 0 {
		t.Fatalf("ListClients of empty store = %d clients, want 0", len(clients))
	}

	want := map[string]store.Client{}
	for i, id := range []string{"web", "cli", "resource"} {
		c := newClient(id)
		c.Introspect = i%2 == 0
		want[id] = c
		ok(t, "CreateClient", s.CreateClient(ctx, c))
	}
	clients, err = s.ListClients(ctx)
	ok(t, "ListClients", err)
	order := []string{"cli", "resource", "web"}
	if len(clients) != len(order) {
		t.Fatalf("ListClients = %d clients, want %d", len(clients), len(order))
	}
	for i, id := range order {
		if clients[i].ID != id {
			t.Fatalf("ListClients[%d] = %q, want %q (by id)", i, clients[i].ID, id)
		}
		checkClient(t, clients[i], want[id])
	}
}
