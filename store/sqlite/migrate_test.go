package sqlite_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/example/authsvc/store"
	"github.com/example/authsvc/store/sqlite"
)

// Without auto-migration an old schema is refused until it is migrated.
func TestRequireCurrentSchema(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "auth.db")

	status, err := sqlite.MigrationStatus(ctx, path, store.AuthSchema)
	if err != nil {
		t.Fatal(err)
	}
	if status.Current != 0 || status.Latest < 2 || !status.Pending() {
		t.Fatalf("status of an empty database: %+v", status)
	}
	if _, err := sqlite.OpenAuth(ctx, path, store.RequireCurrentSchema()); !errors.Is(err, store.ErrSchemaOutdated) {
		t.Fatalf("open of an empty database without migrating: %v, want ErrSchemaOutdated", err)
	}

	status, err = sqlite.Migrate(ctx, path, store.AuthSchema)
	if err != nil {
		t.Fatal(err)
	}
	if status.Pending() || status.Current != status.Latest {
		t.Fatalf("status after Migrate: %+v", status)
	}
	db, err := sqlite.OpenAuth(ctx, path, store.RequireCurrentSchema())
	if err != nil {
		t.Fatalf("open of a migrated database without migrating: %v", err)
	}
	db.Close()

	// The items schema is its own: still pending in the same file.
	if _, err := sqlite.OpenItems(ctx, path, store.RequireCurrentSchema()); !errors.Is(err, store.ErrSchemaOutdated) {
		t.Fatalf("items schema: %v, want ErrSchemaOutdated", err)
	}
}

func TestExistingDirOnly(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	db, err := sqlite.OpenAuth(ctx, filepath.Join(dir, "auth.db"), store.ExistingDirOnly())
	if err != nil {
		t.Fatalf("a new file in an existing directory: %v", err)
	}
	db.Close()

	missing := filepath.Join(dir, "typo", "auth.db")
	if _, err := sqlite.OpenAuth(ctx, missing, store.ExistingDirOnly()); err == nil {
		t.Fatal("opened a database in a missing directory")
	}
	if _, err := os.Stat(filepath.Dir(missing)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the missing directory was created: %v", err)
	}
}
