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
	"github.com/example/authsvc/store/sqlite"
)

// backend is what every backend's open returns: both contracts, since one
// schema serves either service.
type backend interface {
	store.AuthStore
	store.ItemStore
}

// OpenAuth opens the authorization server's store.
func OpenAuth(ctx context.Context, dsn string) (store.AuthStore, error) {
	return open(ctx, dsn)
}

// OpenItems opens the resource service's store.
func OpenItems(ctx context.Context, dsn string) (store.ItemStore, error) {
	return open(ctx, dsn)
}

func open(ctx context.Context, dsn string) (backend, error) {
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		path := strings.TrimPrefix(dsn, "sqlite:")
		if path == "" {
			return nil, errors.New("db: sqlite: needs a file path, e.g. sqlite:data/auth.db")
		}
		db, err := sqlite.Open(ctx, path)
		if err != nil {
			return nil, fmt.Errorf("open sqlite %s: %w", path, err)
		}
		return db, nil
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return openPostgres(ctx, dsn)
	default:
		// Never echo the value: a mistyped postgres URL carries a password.
		return nil, errors.New("db: unsupported value: use sqlite:PATH or postgres://USER:PASSWORD@HOST/DB")
	}
}
