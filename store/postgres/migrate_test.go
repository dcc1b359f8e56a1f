package postgres

import (
	"errors"
	"testing"

	"github.com/example/authsvc/store"
)

// Without auto-migration an old schema is refused until it is migrated.
func TestRequireCurrentSchema(t *testing.T) {
	ctx := t.Context()
	dsn := freshDSN(t)

	status, err := MigrationStatus(ctx, dsn, store.AuthSchema)
	if err != nil {
		t.Fatal(err)
	}
	if status.Current != 0 || !status.Pending() {
		t.Fatalf("status of an empty database: %+v", status)
	}
	if _, err := OpenAuth(ctx, dsn, store.RequireCurrentSchema()); !errors.Is(err, store.ErrSchemaOutdated) {
		t.Fatalf("open of an empty database without migrating: %v, want ErrSchemaOutdated", err)
	}
	if status, err = Migrate(ctx, dsn, store.AuthSchema); err != nil || status.Pending() {
		t.Fatalf("Migrate: %+v, %v", status, err)
	}
	db, err := OpenAuth(ctx, dsn, store.RequireCurrentSchema())
	if err != nil {
		t.Fatalf("open of a migrated database without migrating: %v", err)
	}
	db.Close()
	if _, err := OpenItems(ctx, dsn, store.RequireCurrentSchema()); !errors.Is(err, store.ErrSchemaOutdated) {
		t.Fatalf("items schema: %v, want ErrSchemaOutdated", err)
	}
}
