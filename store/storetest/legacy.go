package storetest

import (
	"database/sql"
	"errors"
	"os"
	"testing"
	"testing/fstest"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/example/authsvc/store"
	"github.com/example/authsvc/store/internal/sqlflow"
)

// ApplyLegacy migrates db as the combined migration did: the backend's copy
// of that SQL, in file, as version 1 in goose's default table.
func ApplyLegacy(t *testing.T, db *sql.DB, dialect goose.Dialect, file string) {
	t.Helper()
	legacy, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(dialect, db, fstest.MapFS{"00001_init.sql": {Data: legacy}},
		goose.WithDisableGlobalRegistry(true), goose.WithLogger(goose.NopLogger()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Up(t.Context()); err != nil {
		t.Fatalf("legacy migration: %v", err)
	}
}

// CheckLegacyUpgrade checks a database made by the combined migration that
// came before each service had its own schema, once opened by the new code
// as auth and as items; db is a handle on the same database. Before opening
// it, the backend's test has applied ApplyLegacy and written,
// in its own SQL, one row a table:
//
//	users    alice, password hash "hash"
//	clients  web, public
//	tokens   refresh token with hash "refresh-hash", family "f1", client
//	         web, user alice, unrotated, expiring at now+1h
//	logins   alice: 0 failures, 1 lockout, locked until now+1h
//	items    "item-1" of owner "user:alice", named "one"
//
// Every row must still be there, both services must work on them, and the
// auth schema's history must be the old version 1 with only the later migrations
// (00002, grants) added; the converted refresh token must keep working.
func CheckLegacyUpgrade(t *testing.T, db *sql.DB, auth store.AuthStore, items store.ItemStore, now time.Time) {
	t.Helper()
	ctx := t.Context()
	if u, err := auth.GetUser(ctx, "alice"); err != nil || string(u.PasswordHash) != "hash" {
		t.Errorf("GetUser after upgrade = %+v, %v", u, err)
	}
	if _, err := auth.GetClient(ctx, "web"); err != nil {
		t.Errorf("GetClient after upgrade: %v", err)
	}
	if tok, err := auth.GetToken(ctx, "refresh-hash"); err != nil || !tok.Active(now) {
		t.Errorf("GetToken after upgrade = %+v, %v; want the active refresh token", tok, err)
	}
	// The login row survived: alice is still locked.
	p := store.LoginPolicy{Threshold: 3, Lockout: time.Minute, MaxLockout: time.Hour}
	if a, err := auth.BeginLogin(ctx, "alice", now, p); err != nil || a.Allowed {
		t.Errorf("BeginLogin of the locked user after upgrade = %+v, %v; want refused", a, err)
	}
	// The auth service works: the old refresh token rotates.
	next := store.Token{Hash: "refresh-2", Kind: store.RefreshToken, FamilyID: "f1", ClientID: "web",
		Username: "alice", IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := Rotate(ctx, auth, "f1", "refresh-hash", now, next); err != nil {
		t.Errorf("RotateRefreshToken after upgrade: %v", err)
	}
	// Its value does not name its grant, so the store keeps its hash, spent,
	// to tell a second use: the grant ends.
	if tok, err := auth.GetToken(ctx, "refresh-hash"); err != nil || tok.Active(now) {
		t.Errorf("GetToken of the rotated legacy token = %+v, %v; want it spent", tok, err)
	}
	if err := Rotate(ctx, auth, "f1", "refresh-hash", now, next); !errors.Is(err, store.ErrTokenReused) {
		t.Errorf("RotateRefreshToken of the legacy token again: %v, want ErrTokenReused", err)
	}
	if _, err := auth.GetToken(ctx, "refresh-2"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetToken of the successor after reuse: %v, want ErrNotFound", err)
	}

	if it, err := items.GetItem(ctx, "user:alice", "item-1"); err != nil || it.Name != "one" {
		t.Errorf("GetItem after upgrade = %+v, %v", it, err)
	}
	// The items service works.
	if err := items.CreateItem(ctx, store.Item{ID: "item-2", Owner: "user:alice", Name: "two", CreatedAt: now}, 10); err != nil {
		t.Errorf("CreateItem after upgrade: %v", err)
	}
	if got, err := items.ListItems(ctx, "user:alice", nil, 10); err != nil || len(got) != 2 {
		t.Errorf("ListItems after upgrade = %+v, %v; want both items", got, err)
	}

	// The names table knows the names that were there before it: a client
	// may not take a legacy user's name, nor a user a legacy client's.
	err := auth.CreateClient(ctx, store.Client{ID: "alice", GrantTypes: []string{store.GrantRefreshToken}, CreatedAt: now})
	wantErr(t, "CreateClient with a legacy user's name", err, store.ErrAlreadyExists)
	err = auth.CreateUser(ctx, store.User{Username: "web", PasswordHash: []byte("h"), CreatedAt: now, UpdatedAt: now})
	wantErr(t, "CreateUser with a legacy client's name", err, store.ErrAlreadyExists)

	// A name held by both a user and a client before the names table stays
	// taken as long as either holds it.
	ok(t, "DeleteUser dupy", auth.DeleteUser(ctx, "dupy"))
	err = auth.CreateUser(ctx, store.User{Username: "dupy", PasswordHash: []byte("h"), CreatedAt: now, UpdatedAt: now})
	wantErr(t, "CreateUser of a name a legacy client still holds", err, store.ErrAlreadyExists)
	ok(t, "DeleteClient dupy", auth.DeleteClient(ctx, "dupy"))
	ok(t, "CreateUser once both are gone", auth.CreateUser(ctx, store.User{Username: "dupy", PasswordHash: []byte("h"), CreatedAt: now, UpdatedAt: now}))

	// A client from before browser login (00004) has no redirect URIs and
	// is not first party.
	if web, err := auth.GetClient(ctx, "web"); err != nil || len(web.RedirectURIs) != 0 || web.FirstParty {
		t.Errorf("legacy client after 00004: %+v, %v; want no redirect URIs, not first party", web, err)
	}
	// ... and after 00005 gets opaque tokens, without DPoP or resources.
	if web, err := auth.GetClient(ctx, "web"); err != nil || web.AccessTokenFormat != store.AccessTokenOpaque || web.RequireDPoP || len(web.Resources) != 0 {
		t.Errorf("legacy client after 00005: %+v, %v; want opaque tokens, no DPoP, no resources", web, err)
	}

	// The auth history is the legacy version 1, then 00002 (grants),
	// 00003 (versions and the names table), 00004 (browser login) and
	// 00005 (JWT and DPoP); the
	// items history starts at its own version 1 and may go on from there
	// (how far is each backend's business).
	for _, s := range []sqlflow.Schema{sqlflow.AuthSchema, sqlflow.ItemsSchema} {
		var n, first int
		err := db.QueryRowContext(ctx, `SELECT count(*), coalesce(min(version_id), 0) FROM `+s.VersionTable+` WHERE version_id > 0`).Scan(&n, &first)
		switch {
		case err != nil:
			t.Errorf("read %s: %v", s.VersionTable, err)
		case first != 1 || n < 1 || (s == sqlflow.AuthSchema && n != 6):
			t.Errorf("%s holds %d applied versions from %d; want 6 for auth, from 1 on for items", s.VersionTable, n, first)
		}
	}
}
