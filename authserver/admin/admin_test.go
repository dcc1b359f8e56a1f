package admin_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/example/authsvc/authserver/admin"
	"github.com/example/authsvc/store"
	"github.com/example/authsvc/store/storetest"
)

var t0 = time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)

// adminEnv is an admin service over a fresh store with user alice, client
// web, and a grant of alice at web.
type adminEnv struct {
	st  store.AuthStore
	svc *admin.Service
}

func newAdminEnv(t *testing.T) adminEnv {
	t.Helper()
	st := openBootstrapStore(t)
	svc, err := admin.New(st, slog.New(slog.DiscardHandler), testCost)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := svc.CreateUser(ctx, "alice", "alice-pass-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreateClient(ctx, admin.NewClient{ID: "web", Grants: []string{"password", "refresh_token", "client_credentials"}}); err != nil {
		t.Fatal(err)
	}
	return adminEnv{st: st, svc: svc}
}

// grant stores a grant (access and refresh token) of user at web, or a
// client-credentials token of web when user is empty, and returns its
// tokens.
func (e adminEnv) grant(t *testing.T, name, user string) []store.Token {
	t.Helper()
	access := store.Token{Hash: store.HashToken(name + "-access"), Kind: store.AccessToken, FamilyID: name,
		ClientID: "web", Username: user, IssuedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	tokens := []store.Token{access}
	if user != "" {
		refresh := access
		refresh.Hash, refresh.Kind, refresh.ExpiresAt = store.HashToken(name+"-refresh"), store.RefreshToken, t0.Add(24*time.Hour)
		tokens = append(tokens, refresh)
	}
	if err := storetest.Create(context.Background(), e.st, tokens...); err != nil {
		t.Fatal(err)
	}
	return tokens
}

// alive reports how many of tokens the store still has.
func (e adminEnv) alive(t *testing.T, tokens []store.Token) int {
	t.Helper()
	n := 0
	for _, tok := range tokens {
		_, err := e.st.GetToken(context.Background(), tok.Hash)
		switch {
		case err == nil:
			n++
		case !errors.Is(err, store.ErrNotFound):
			t.Fatal(err)
		}
	}
	return n
}

func TestSetPasswordRevokesGrants(t *testing.T) {
	e := newAdminEnv(t)
	ctx := context.Background()
	tokens := e.grant(t, "g1", "alice")
	if n := e.alive(t, tokens); n != 2 {
		t.Fatalf("%d of 2 tokens alive before the password change", n)
	}
	if err := e.svc.SetPassword(ctx, "alice", "alice-pass-2"); err != nil {
		t.Fatal(err)
	}
	if n := e.alive(t, tokens); n != 0 {
		t.Errorf("%d tokens alive after the password change, want 0", n)
	}
}

func TestDisableThenEnableBringsNoTokenBack(t *testing.T) {
	e := newAdminEnv(t)
	ctx := context.Background()
	tokens := e.grant(t, "g1", "alice")
	if n := e.alive(t, tokens); n != 2 {
		t.Fatalf("%d of 2 tokens alive before the disable", n)
	}
	if changed, err := e.svc.SetDisabled(ctx, "alice", true); err != nil || !changed {
		t.Fatalf("disable: %v, %v", changed, err)
	}
	if changed, err := e.svc.SetDisabled(ctx, "alice", false); err != nil || !changed {
		t.Fatalf("enable: %v, %v", changed, err)
	}
	if n := e.alive(t, tokens); n != 0 {
		t.Errorf("%d tokens alive after disable and enable, want 0", n)
	}
	// A grant after the enable lives.
	if n := e.alive(t, e.grant(t, "g2", "alice")); n != 2 {
		t.Errorf("%d of 2 tokens of a new grant alive after the enable", n)
	}
}

func TestRevokeUserAndClient(t *testing.T) {
	e := newAdminEnv(t)
	ctx := context.Background()
	if err := e.svc.CreateUser(ctx, "bob", "bob-pass-123"); err != nil {
		t.Fatal(err)
	}
	alice, bob, cc := e.grant(t, "alice-grant", "alice"), e.grant(t, "bob-grant", "bob"), e.grant(t, "cc", "")

	if err := e.svc.RevokeUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if a, b, c := e.alive(t, alice), e.alive(t, bob), e.alive(t, cc); a != 0 || b != 2 || c != 1 {
		t.Errorf("after revoking alice: alive alice %d, bob %d, cc %d; want 0, 2, 1", a, b, c)
	}
	if err := e.svc.RevokeClient(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	if b, c := e.alive(t, bob), e.alive(t, cc); b != 0 || c != 0 {
		t.Errorf("after revoking web: alive bob %d, cc %d; want 0, 0", b, c)
	}

	if err := e.svc.RevokeUser(ctx, "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RevokeUser of an unknown user: %v, want ErrNotFound", err)
	}
	if err := e.svc.RevokeClient(ctx, "nothing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RevokeClient of an unknown client: %v, want ErrNotFound", err)
	}
}

// A user and a client never share a name, in either order of creation, so a
// token's sub always names one principal.
func TestUserAndClientNamesNeverCollide(t *testing.T) {
	e := newAdminEnv(t) // user alice, client web
	ctx := context.Background()

	// Distinct names are fine.
	if err := e.svc.CreateUser(ctx, "carol", "carol-pass-1"); err != nil {
		t.Fatalf("CreateUser carol: %v", err)
	}
	if _, err := e.svc.CreateClient(ctx, admin.NewClient{ID: "cli", Public: true, Grants: []string{"password"}}); err != nil {
		t.Fatalf("CreateClient cli: %v", err)
	}

	// A user named like a client.
	hash, err := bcrypt.GenerateFromPassword([]byte("web-pass-123"), testCost)
	if err != nil {
		t.Fatal(err)
	}
	for name, create := range map[string]func() error{
		"CreateUser": func() error { return e.svc.CreateUser(ctx, "web", "web-pass-123") },
		"ImportUser": func() error {
			return e.svc.ImportUser(ctx, "web", hash)
		},
		"CheckNewUsername": func() error { return e.svc.CheckNewUsername(ctx, "web") },
	} {
		if err := create(); !errors.Is(err, store.ErrAlreadyExists) || !strings.Contains(err.Error(), "a client has that name") {
			t.Errorf("%s named like client web: %v, want ErrAlreadyExists naming the client", name, err)
		}
	}
	if _, err := e.st.GetUser(ctx, "web"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a user web exists after the refusals: %v", err)
	}

	// A client named like a user.
	_, err = e.svc.CreateClient(ctx, admin.NewClient{ID: "alice", Grants: []string{"client_credentials"}})
	if !errors.Is(err, store.ErrAlreadyExists) || !strings.Contains(err.Error(), "a user has that name") {
		t.Errorf("CreateClient named like user alice: %v, want ErrAlreadyExists naming the user", err)
	}
	if _, err := e.st.GetClient(ctx, "alice"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a client alice exists after the refusal: %v", err)
	}
}

// Bootstrap refuses a document whose user and client share a name.
func TestBootstrapRefusesCollidingNames(t *testing.T) {
	st := openBootstrapStore(t)
	doc := "users:\n  - username: shared\n    password: shared-pass-1\nclients:\n  - id: shared\n    public: true\n    grants: [password]\n"
	err := bootstrap(context.Background(), slog.New(slog.DiscardHandler), st, strings.NewReader(doc), testCost)
	if err == nil || !strings.Contains(err.Error(), "share one token subject") {
		t.Fatalf("bootstrap with a user and a client both named shared: %v", err)
	}
	if _, err := st.GetClient(context.Background(), "shared"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("client shared created beside user shared: %v", err)
	}
}
