package dbopen

import (
	"context"
	"errors"
)

// openPostgres is replaced when the PostgreSQL backend lands.
func openPostgres(ctx context.Context, dsn string) (backend, error) {
	return nil, errors.New("db: the postgres backend is not built yet")
}
