package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/example/authsvc/store"
	"github.com/example/authsvc/store/internal/sqlflow"
)

// CreateUser inserts u; store.ErrAlreadyExists if the username is taken.
func (db *AuthDB) CreateUser(ctx context.Context, u store.User) error {
	_, err := db.pool.Exec(ctx, `
		INSERT INTO users (username, password_hash, disabled, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5)`,
		u.Username, u.PasswordHash, u.Disabled, u.CreatedAt, u.UpdatedAt)
	if err != nil {
		return fmt.Errorf("create user %q: %w", u.Username, translate(err))
	}
	return nil
}

// GetUser returns the user; store.ErrNotFound if there is none.
func (db *AuthDB) GetUser(ctx context.Context, username string) (store.User, error) {
	u, err := scanUser(db.pool.QueryRow(ctx, `
		SELECT username, password_hash, disabled, created_at, updated_at
		FROM users WHERE username = $1`, username))
	if err != nil {
		return store.User{}, fmt.Errorf("get user %q: %w", username, translate(err))
	}
	return u, nil
}

// UpdateUser replaces PasswordHash, Disabled and UpdatedAt of u.Username,
// ending the user's grants if that changes the password or disables the
// user; store.ErrNotFound if there is no such user.
func (db *AuthDB) UpdateUser(ctx context.Context, u store.User) error {
	return db.retry(ctx, func() error { return sqlflow.UpdateUser(ctx, db.begin, u) })
}

// LockUser returns username's record, locked FOR UPDATE: a concurrent
// change of the same user waits, so each decides on the other's result.
func (t flowTx) LockUser(ctx context.Context, username string) (store.User, error) {
	u, err := scanUser(t.tx.QueryRow(ctx, `
		SELECT username, password_hash, disabled, created_at, updated_at
		FROM users WHERE username = $1 FOR UPDATE`, username))
	return u, translate(err)
}

// SaveUser stores u's PasswordHash, Disabled and UpdatedAt.
func (t flowTx) SaveUser(ctx context.Context, u store.User) error {
	_, err := t.tx.Exec(ctx, `
		UPDATE users SET password_hash = $1, disabled = $2, updated_at = $3
		WHERE username = $4`,
		u.PasswordHash, u.Disabled, u.UpdatedAt, u.Username)
	return translate(err)
}

// ListUsers returns every user by username (byte order).
func (db *AuthDB) ListUsers(ctx context.Context) ([]store.User, error) {
	rows, err := db.pool.Query(ctx, `
		SELECT username, password_hash, disabled, created_at, updated_at
		FROM users ORDER BY username`)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", translate(err))
	}
	users, err := collect(rows, scanUser)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", translate(err))
	}
	return users, nil
}

func scanUser(row pgx.Row) (store.User, error) {
	var u store.User
	if err := row.Scan(&u.Username, &u.PasswordHash, &u.Disabled, &u.CreatedAt, &u.UpdatedAt); err != nil {
		return store.User{}, err
	}
	u.CreatedAt, u.UpdatedAt = u.CreatedAt.UTC(), u.UpdatedAt.UTC()
	return u, nil
}
