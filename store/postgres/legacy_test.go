package postgres

import (
	"database/sql"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/example/authsvc/store"
)

// TestLegacyCombinedSchemaUpgrades opens a database created by the one
// combined migration that came before each service had its own schema: as
// either service it must open without error, keep every row, and work.
func TestLegacyCombinedSchemaUpgrades(t *testing.T) {
	ctx := t.Context()
	dsn := freshDatabase(t)
	createLegacy(t, dsn)

	auth := openDSN(t, dsn)
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
	next := newToken("refresh-2", store.RefreshToken, "f1", now.Add(time.Hour))
	if err := auth.RotateRefreshToken(ctx, "refresh-hash", now, next); err != nil {
		t.Errorf("RotateRefreshToken after upgrade: %v", err)
	}

	items := openWith(t, OpenItems, dsn)
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
	for table, want := range map[string]int{"goose_db_version": 1, "items_schema_version": 1} {
		var n int
		if err := auth.pool.QueryRow(ctx, `SELECT count(*) FROM `+table+` WHERE version_id > 0`).Scan(&n); err != nil {
			t.Errorf("read %s: %v", table, err)
		} else if n != want {
			t.Errorf("%s holds %d applied versions, want %d", table, n, want)
		}
	}
}

// createLegacy migrates the database at dsn as the combined migration did,
// with one row in every table.
func createLegacy(t *testing.T, dsn string) {
	t.Helper()
	ctx := t.Context()
	legacy, err := os.ReadFile(filepath.Join("testdata", "legacy_00001_init.sql"))
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, db, fstest.MapFS{"00001_init.sql": {Data: legacy}},
		goose.WithDisableGlobalRegistry(true), goose.WithLogger(goose.NopLogger()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatalf("legacy migration: %v", err)
	}
	for _, stmt := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO users (username, password_hash, created_at, updated_at) VALUES ('alice', 'hash', $1, $1)`, []any{now}},
		{`INSERT INTO clients (id, grant_types, created_at) VALUES ('web', '{refresh_token}', $1)`, []any{now}},
		{`INSERT INTO tokens (hash, kind, family_id, client_id, username, issued_at, expires_at)
			VALUES ('refresh-hash', 'refresh_token', 'f1', 'web', 'alice', $1, $2)`, []any{now, now.Add(time.Hour)}},
		{`INSERT INTO logins (username, failures, lockouts, locked_until, updated_at) VALUES ('alice', 0, 1, $1, $2)`, []any{now.Add(time.Hour), now}},
		{`INSERT INTO items (id, owner, name, created_at) VALUES ('item-1', 'user:alice', 'one', $1)`, []any{now}},
	} {
		if _, err := db.ExecContext(ctx, stmt.sql, stmt.args...); err != nil {
			t.Fatalf("%s: %v", stmt.sql, err)
		}
	}
}
