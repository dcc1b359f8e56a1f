package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/example/authsvc/store"
	"github.com/example/authsvc/store/internal/sqlflow"
)

// CreateUser inserts u; store.ErrAlreadyExists if the username is taken by
// a user or a client (the names table's trigger, migration 00003).
func (db *AuthDB) CreateUser(ctx context.Context, u store.User) error {
	_, err := db.pool.Exec(ctx, `
		INSERT INTO users (username, password_hash, disabled, created_at, updated_at, version)
		VALUES ($1, $2, $3, $4, $5, $6)`,
		u.Username, u.PasswordHash, u.Disabled, u.CreatedAt, u.UpdatedAt, store.NewVersion())
	if err != nil {
		return fmt.Errorf("create user %q: %w", u.Username, translate(err))
	}
	return nil
}

// GetUser returns the user; store.ErrNotFound if there is none.
func (db *AuthDB) GetUser(ctx context.Context, username string) (store.User, error) {
	u, err := scanUser(db.pool.QueryRow(ctx, `
		SELECT username, password_hash, disabled, created_at, updated_at, version
		FROM users WHERE username = $1`, username))
	if err != nil {
		return store.User{}, fmt.Errorf("get user %q: %w", username, translate(err))
	}
	return u, nil
}

// UpdateUser replaces PasswordHash, Disabled and UpdatedAt of u.Username
// if it is still at u.Version, ending the user's grants if that changes the
// password or disables the user; see store.Users.
func (db *AuthDB) UpdateUser(ctx context.Context, u store.User) error {
	return db.retry(ctx, func() error { return sqlflow.UpdateUser(ctx, db.begin, u) })
}

// RehashPassword replaces the user's hash by one of the same password; see
// store.Users.
func (db *AuthDB) RehashPassword(ctx context.Context, username string, version int64, hash []byte) error {
	return db.retry(ctx, func() error { return sqlflow.RehashPassword(ctx, db.begin, username, version, hash) })
}

// LockUser returns username's record, locked FOR UPDATE: a concurrent
// change of the same user waits, so each decides on the other's result,
// and so does an issuance checking the user's version (LockPrincipals).
func (t flowTx) LockUser(ctx context.Context, username string) (store.User, error) {
	u, err := scanUser(t.tx.QueryRow(ctx, `
		SELECT username, password_hash, disabled, created_at, updated_at, version
		FROM users WHERE username = $1 FOR UPDATE`, username))
	return u, translate(err)
}

// SaveUser stores u's PasswordHash, Disabled, UpdatedAt and Version.
func (t flowTx) SaveUser(ctx context.Context, u store.User) error {
	_, err := t.tx.Exec(ctx, `
		UPDATE users SET password_hash = $1, disabled = $2, updated_at = $3, version = $4
		WHERE username = $5`,
		u.PasswordHash, u.Disabled, u.UpdatedAt, u.Version, u.Username)
	return translate(err)
}

// ListUsers returns every user by username (byte order).
func (db *AuthDB) ListUsers(ctx context.Context) ([]store.User, error) {
	rows, err := db.pool.Query(ctx, `
		SELECT username, password_hash, disabled, created_at, updated_at, version
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
	if err := row.Scan(&u.Username, &u.PasswordHash, &u.Disabled, &u.CreatedAt, &u.UpdatedAt, &u.Version); err != nil {
		return store.User{}, err
	}
	u.CreatedAt, u.UpdatedAt = u.CreatedAt.UTC(), u.UpdatedAt.UTC()
	return u, nil
}
