package sqlite_test

import (
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/example/authsvc/store/sqlite"
	"github.com/example/authsvc/store/storetest"
)

// TestLegacyCombinedSchemaUpgrades opens a database created by the one
// combined migration that came before each service had its own schema: as
// either service it must open without error, keep every row, and work.
func TestLegacyCombinedSchemaUpgrades(t *testing.T) {
	ctx := t.Context()
	now := time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)
	path := filepath.Join(t.TempDir(), "legacy.db")
	db, err := sql.Open("sqlite", path+"?_pragma=foreign_keys(1)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	storetest.ApplyLegacy(t, db, goose.DialectSQLite3, filepath.Join("testdata", "legacy_00001_init.sql"))
	us, hour := now.UnixMicro(), time.Hour.Microseconds()
	for _, stmt := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO users (username, password_hash, disabled, created_at, updated_at) VALUES ('alice', X'68617368', 0, ?, ?)`, []any{us, us}},
		{`INSERT INTO clients (id, grant_types, scopes, introspect, created_at) VALUES ('web', '["refresh_token"]', '[]', 0, ?)`, []any{us}},
		// A user and a client of one name, as two racing admins could make
		// before migration 00003.
		{`INSERT INTO users (username, password_hash, disabled, created_at, updated_at) VALUES ('dupy', X'68617368', 0, ?, ?)`, []any{us, us}},
		{`INSERT INTO clients (id, grant_types, scopes, introspect, created_at) VALUES ('dupy', '["client_credentials"]', '[]', 0, ?)`, []any{us}},
		{`INSERT INTO tokens (hash, kind, family_id, client_id, username, scope, issued_at, expires_at, rotated)
			VALUES ('refresh-hash', 'refresh_token', 'f1', 'web', 'alice', '', ?, ?, 0)`, []any{us, us + hour}},
		{`INSERT INTO logins (username, failures, lockouts, locked_until, updated_at) VALUES ('alice', 0, 1, ?, ?)`, []any{us + hour, us}},
		{`INSERT INTO items (id, owner, name, created_at) VALUES ('item-1', 'user:alice', 'one', ?)`, []any{us}},
	} {
		if _, err := db.ExecContext(ctx, stmt.sql, stmt.args...); err != nil {
			t.Fatalf("%s: %v", stmt.sql, err)
		}
	}

	storetest.CheckLegacyUpgrade(t, db, openAt(t, sqlite.OpenAuth, path), openAt(t, sqlite.OpenItems, path), now)
}
