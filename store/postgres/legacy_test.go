package postgres

import (
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/example/authsvc/store/storetest"
)

// TestLegacyCombinedSchemaUpgrades opens a database created by the one
// combined migration that came before each service had its own schema: as
// either service it must open without error, keep every row, and work.
func TestLegacyCombinedSchemaUpgrades(t *testing.T) {
	ctx := t.Context()
	dsn := freshDatabase(t)
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	storetest.ApplyLegacy(t, db, goose.DialectPostgres, filepath.Join("testdata", "legacy_00001_init.sql"))
	for _, stmt := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO users (username, password_hash, created_at, updated_at) VALUES ('alice', 'hash', $1, $1)`, []any{now}},
		{`INSERT INTO clients (id, grant_types, created_at) VALUES ('web', '{refresh_token}', $1)`, []any{now}},
		// A user and a client of one name, as two racing admins could make
		// before migration 00003.
		{`INSERT INTO users (username, password_hash, created_at, updated_at) VALUES ('dupy', 'hash', $1, $1)`, []any{now}},
		{`INSERT INTO clients (id, grant_types, created_at) VALUES ('dupy', '{client_credentials}', $1)`, []any{now}},
		{`INSERT INTO tokens (hash, kind, family_id, client_id, username, issued_at, expires_at)
			VALUES ('refresh-hash', 'refresh_token', 'f1', 'web', 'alice', $1, $2)`, []any{now, now.Add(time.Hour)}},
		{`INSERT INTO logins (username, failures, lockouts, locked_until, updated_at) VALUES ('alice', 0, 1, $1, $2)`, []any{now.Add(time.Hour), now}},
		{`INSERT INTO items (id, owner, name, created_at) VALUES ('item-1', 'user:alice', 'one', $1)`, []any{now}},
	} {
		if _, err := db.ExecContext(ctx, stmt.sql, stmt.args...); err != nil {
			t.Fatalf("%s: %v", stmt.sql, err)
		}
	}

	storetest.CheckLegacyUpgrade(t, db, openDSN(t, dsn), openWith(t, OpenItems, dsn), now)
}
