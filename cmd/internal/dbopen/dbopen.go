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
// schema.
func OpenAuth(ctx context.Context, dsn string) (store.AuthStore, error) {
	return open(ctx, dsn, as[store.AuthStore](sqlite.OpenAuth), as[store.AuthStore](postgres.OpenAuth))
}

// OpenItems opens the resource service's store, migrating only its schema.
func OpenItems(ctx context.Context, dsn string) (store.ItemStore, error) {
	return open(ctx, dsn, as[store.ItemStore](sqlite.OpenItems), as[store.ItemStore](postgres.OpenItems))
}

// opener opens one service's store on one backend.
type opener[S any] func(ctx context.Context, dsnOrPath string) (S, error)

// as turns a backend's open into an opener of the contract S (each backend
// asserts at compile time that its types implement their contract), and
// keeps a failed open from returning a nil pointer inside a non-nil S.
func as[S, DB any](open func(context.Context, string) (DB, error)) opener[S] {
	return func(ctx context.Context, dsn string) (S, error) {
		db, err := open(ctx, dsn)
		if err != nil {
			var none S
			return none, err
		}
		return any(db).(S), nil
	}
}

func open[S any](ctx context.Context, dsn string, openSQLite, openPostgres opener[S]) (S, error) {
	var none S
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		path := strings.TrimPrefix(dsn, "sqlite:")
		if path == "" {
			return none, errors.New("db: sqlite: needs a file path, e.g. sqlite:data/auth.db")
		}
		db, err := openSQLite(ctx, path)
		if err != nil {
			return none, fmt.Errorf("open sqlite %s: %w", path, err)
		}
		return db, nil
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		// The backend's errors never quote dsn, which may carry a password.
		db, err := openPostgres(ctx, dsn)
		if err != nil {
			return none, fmt.Errorf("db: %w", err)
		}
		return db, nil
	default:
		// Never echo the value: a mistyped postgres URL carries a password.
		return none, errors.New("db: unsupported value: use sqlite:PATH or postgres://USER:PASSWORD@HOST/DB")
	}
}
