// Package dbopen turns a -db setting into a store backend. It is the one
// place that knows every backend, so the services depend only on the
// store contract.
package dbopen

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/example/authsvc/store"
	"github.com/example/authsvc/store/postgres"
	"github.com/example/authsvc/store/sqlite"
)

// OpenAuth opens the authorization server's store, migrating only its
// schema (unless opts include store.RequireCurrentSchema).
func OpenAuth(ctx context.Context, dsn string, opts ...store.OpenOption) (store.AuthStore, error) {
	db, err := open(ctx, dsn, opts, as[store.AuthStore](sqlite.OpenAuth), as[store.AuthStore](postgres.OpenAuth))
	return db, outdated(err, store.AuthSchema)
}

// OpenItems opens the resource service's store, migrating only its schema
// (unless opts include store.RequireCurrentSchema).
func OpenItems(ctx context.Context, dsn string, opts ...store.OpenOption) (store.ItemStore, error) {
	db, err := open(ctx, dsn, opts, as[store.ItemStore](sqlite.OpenItems), as[store.ItemStore](postgres.OpenItems))
	return db, outdated(err, store.ItemsSchema)
}

// AutoMigrate is the option a service's auto-migrate setting (default
// true) stands for.
func AutoMigrate(on bool) []store.OpenOption {
	if on {
		return nil
	}
	return []store.OpenOption{store.RequireCurrentSchema()}
}

// outdated tells an operator what to do about an out-of-date schema.
func outdated(err error, schema store.Schema) error {
	if !errors.Is(err, store.ErrSchemaOutdated) {
		return err
	}
	cmd := "authctl migrate up"
	if schema != store.AuthSchema {
		cmd += " --schema " + string(schema)
	}
	return fmt.Errorf("%w; apply the migrations with %q on this database (or let the service migrate on start)", err, cmd)
}

// MigrationStatus reports where the database stands in schema's
// migrations, applying none.
func MigrationStatus(ctx context.Context, dsn string, schema store.Schema, opts ...store.OpenOption) (store.SchemaStatus, error) {
	return open(ctx, dsn, opts,
		withSchema(sqlite.MigrationStatus, schema), withSchema(postgres.MigrationStatus, schema))
}

// Migrate applies schema's pending migrations and reports where the
// database then stands.
func Migrate(ctx context.Context, dsn string, schema store.Schema, opts ...store.OpenOption) (store.SchemaStatus, error) {
	return open(ctx, dsn, opts, withSchema(sqlite.Migrate, schema), withSchema(postgres.Migrate, schema))
}

func withSchema(fn func(context.Context, string, store.Schema, ...store.OpenOption) (store.SchemaStatus, error),
	schema store.Schema) opener[store.SchemaStatus] {
	return func(ctx context.Context, dsn string, opts ...store.OpenOption) (store.SchemaStatus, error) {
		return fn(ctx, dsn, schema, opts...)
	}
}

// opener opens one service's store on one backend.
type opener[S any] func(ctx context.Context, dsnOrPath string, opts ...store.OpenOption) (S, error)

// as turns a backend's open into an opener of the contract S (each backend
// asserts at compile time that its types implement their contract), and
// keeps a failed open from returning a nil pointer inside a non-nil S.
func as[S, DB any](open func(context.Context, string, ...store.OpenOption) (DB, error)) opener[S] {
	return func(ctx context.Context, dsn string, opts ...store.OpenOption) (S, error) {
		db, err := open(ctx, dsn, opts...)
		if err != nil {
			var none S
			return none, err
		}
		return any(db).(S), nil
	}
}

func open[S any](ctx context.Context, dsn string, opts []store.OpenOption, openSQLite, openPostgres opener[S]) (S, error) {
	var none S
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		path := strings.TrimPrefix(dsn, "sqlite:")
		if path == "" {
			return none, errors.New("db: sqlite: needs a file path, e.g. sqlite:data/auth.db")
		}
		db, err := openSQLite(ctx, path, opts...)
		if err != nil {
			return none, fmt.Errorf("open sqlite %s: %w", path, err)
		}
		return db, nil
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		// The backend's errors never quote dsn, which may carry a password.
		db, err := openPostgres(ctx, dsn, opts...)
		if err != nil {
			return none, fmt.Errorf("db: %w", err)
		}
		return db, nil
	default:
		// Never echo the value: a mistyped postgres URL carries a password.
		return none, errors.New("db: unsupported value: use sqlite:PATH or postgres://USER:PASSWORD@HOST/DB")
	}
}
