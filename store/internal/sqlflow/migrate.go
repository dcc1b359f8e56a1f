package sqlflow

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"

	"github.com/pressly/goose/v3"

	"github.com/example/authsvc/store"
)

// Schema is one service's migrations: each service migrates only its own
// tables, versioned in a table of its own, so that neither service's
// upgrade waits on or applies the other's.
type Schema struct {
	// Dir is the directory of the backend's embedded migrations.
	Dir string
	// VersionTable is goose's history table.
	VersionTable string
}

var (
	// AuthSchema keeps goose's default table: databases created before the
	// split recorded the combined schema there as version 1, which is also
	// version 1 of this set, so they apply nothing they already have.
	AuthSchema = Schema{Dir: "migrations/auth", VersionTable: goose.DefaultTablename}
	// ItemsSchema starts a history of its own; its first migration creates
	// only what is missing, since a database created before the split
	// already has the items table.
	ItemsSchema = Schema{Dir: "migrations/items", VersionTable: "items_schema_version"}
)

// SchemaOf returns the migrations of a schema of the contract.
func SchemaOf(schema store.Schema) (Schema, error) {
	switch schema {
	case store.AuthSchema:
		return AuthSchema, nil
	case store.ItemsSchema:
		return ItemsSchema, nil
	}
	return Schema{}, fmt.Errorf("unknown schema %q", schema)
}

// Migrate applies s's migrations from fsys to db. opts add to the
// defaults (SQL migrations only, no logging).
func Migrate(ctx context.Context, dialect goose.Dialect, db *sql.DB, fsys fs.FS, s Schema, opts ...goose.ProviderOption) error {
	p, err := provider(dialect, db, fsys, s, opts...)
	if err != nil {
		return err
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// Status reports where db stands in s's migrations, applying nothing.
func Status(ctx context.Context, dialect goose.Dialect, db *sql.DB, fsys fs.FS, s Schema) (store.SchemaStatus, error) {
	p, err := provider(dialect, db, fsys, s)
	if err != nil {
		return store.SchemaStatus{}, err
	}
	current, err := p.GetDBVersion(ctx)
	if err != nil {
		return store.SchemaStatus{}, fmt.Errorf("migrations: read version: %w", err)
	}
	var latest int64
	for _, src := range p.ListSources() {
		latest = max(latest, src.Version)
	}
	return store.SchemaStatus{Current: current, Latest: latest}, nil
}

func provider(dialect goose.Dialect, db *sql.DB, fsys fs.FS, s Schema, opts ...goose.ProviderOption) (*goose.Provider, error) {
	sub, err := fs.Sub(fsys, s.Dir)
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	opts = append([]goose.ProviderOption{
		goose.WithTableName(s.VersionTable),
		// The global registry holds Go migrations registered by any
		// package in the binary; these schemas have SQL ones only.
		goose.WithDisableGlobalRegistry(true),
		// Services log; a library does not print to stdout.
		goose.WithLogger(goose.NopLogger()),
	}, opts...)
	p, err := goose.NewProvider(dialect, db, sub, opts...)
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	return p, nil
}
