package dbopen

import (
	"context"
	"fmt"

	"github.com/example/authsvc/store/postgres"
)

// openPostgres opens the PostgreSQL backend; its errors never quote dsn,
// which may carry a password.
func openPostgres(ctx context.Context, dsn string) (backend, error) {
	db, err := postgres.Open(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("db: %w", err)
	}
	return db, nil
}
