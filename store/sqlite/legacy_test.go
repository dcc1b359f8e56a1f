package sqlite_test

import (
	"database/sql"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/example/authsvc/store"
	"github.com/example/authsvc/store/sqlite"
)

// TestLegacyCombinedSchemaUpgrades opens a database created by the one
// combined migration that came before each service had its own schema: as
// either service it must open without error, keep every row, and work.
func TestLegacyCombinedSchemaUpgrades(t *testing.T) {
	ctx := t.Context()
	now := time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)
	path := filepath.Join(t.TempDir(), "legacy.db")
	createLegacy(t, path, now)

	auth := openAt(t, sqlite.OpenAuth, path)
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
	if allowed, err := auth.BeginLogin(ctx, "alice", now, p); err != nil || allowed {
		t.Errorf("BeginLogin of the locked user after upgrade = %v, %v; want refused", allowed, err)
	}
	// And the auth service works: the old refresh token rotates.
	next := store.Token{Hash: "refresh-2", Kind: store.RefreshToken, FamilyID: "f1", ClientID: "web",
		Username: "alice", IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := auth.RotateRefreshToken(ctx, "refresh-hash", now, next); err != nil {
		t.Errorf("RotateRefreshToken after upgrade: %v", err)
	}

	items := openAt(t, sqlite.OpenItems, path)
	if it, err := items.GetItem(ctx, "user:alice", "item-1"); err != nil || it.Name != "one" {
		t.Errorf("GetItem after upgrade = %+v, %v", it, err)
	}
	if err := items.CreateItem(ctx, store.Item{ID: "item-2", Owner: "user:alice", Name: "two", CreatedAt: now}); err != nil {
		t.Errorf("CreateItem after upgrade: %v", err)
	}
	if got, err := items.ListItems(ctx, "user:alice"); err != nil || len(got) != 2 {
		t.Errorf("ListItems after upgrade = %+v, %v; want both items", got, err)
	}

	// The auth history is the old one, untouched; items has its own.
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for table, want := range map[string]int{"goose_db_version": 1, "items_schema_version": 1} {
		var n int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM `+table+` WHERE version_id > 0`).Scan(&n); err != nil {
			t.Errorf("read %s: %v", table, err)
		} else if n != want {
			t.Errorf("%s holds %d applied versions, want %d", table, n, want)
		}
	}
}

// createLegacy creates the database at path as the combined migration did,
// with one row in every table.
func createLegacy(t *testing.T, path string, now time.Time) {
	t.Helper()
	ctx := t.Context()
	legacy, err := os.ReadFile(filepath.Join("testdata", "legacy_00001_init.sql"))
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path+"?_pragma=foreign_keys(1)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	p, err := goose.NewProvider(goose.DialectSQLite3, db, fstest.MapFS{"00001_init.sql": {Data: legacy}},
		goose.WithDisableGlobalRegistry(true), goose.WithLogger(goose.NopLogger()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatalf("legacy migration: %v", err)
	}
	us, hour := now.UnixMicro(), time.Hour.Microseconds()
	for _, stmt := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO users (username, password_hash, disabled, created_at, updated_at) VALUES ('alice', X'68617368', 0, ?, ?)`, []any{us, us}},
		{`INSERT INTO clients (id, grant_types, scopes, introspect, created_at) VALUES ('web', '["refresh_token"]', '[]', 0, ?)`, []any{us}},
		{`INSERT INTO tokens (hash, kind, family_id, client_id, username, scope, issued_at, expires_at, rotated)
			VALUES ('refresh-hash', 'refresh_token', 'f1', 'web', 'alice', '', ?, ?, 0)`, []any{us, us + hour}},
		{`INSERT INTO logins (username, failures, lockouts, locked_until, updated_at) VALUES ('alice', 0, 1, ?, ?)`, []any{us + hour, us}},
		{`INSERT INTO items (id, owner, name, created_at) VALUES ('item-1', 'user:alice', 'one', ?)`, []any{us}},
	} {
		if _, err := db.ExecContext(ctx, stmt.sql, stmt.args...); err != nil {
			t.Fatalf("%s: %v", stmt.sql, err)
		}
	}
}
