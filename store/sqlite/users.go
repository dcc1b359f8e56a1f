package sqlite

import (
	"context"
	"fmt"

	"github.com/example/authsvc/store"
	"github.com/example/authsvc/store/internal/sqlflow"
)

// CreateUser inserts u; store.ErrAlreadyExists if the username is taken by
// a user or a client (the names table's trigger, migration 00003).
func (db *AuthDB) CreateUser(ctx context.Context, u store.User) error {
	_, err := db.db.ExecContext(ctx, `
		INSERT INTO users (username, password_hash, disabled, created_at, updated_at, version)
		VALUES (?, ?, ?, ?, ?, ?)`,
		u.Username, u.PasswordHash, boolInt(u.Disabled), micros(u.CreatedAt), micros(u.UpdatedAt), store.NewVersion())
	if err != nil {
		return fmt.Errorf("create user %q: %w", u.Username, translate(err))
	}
	return nil
}

// GetUser returns the user; store.ErrNotFound if there is none.
func (db *AuthDB) GetUser(ctx context.Context, username string) (store.User, error) {
	u, err := scanUser(db.queryRow(ctx, selectUser, username))
	if err != nil {
		return store.User{}, fmt.Errorf("get user %q: %w", username, translate(err))
	}
	return u, nil
}

// UpdateUser replaces PasswordHash, Disabled and UpdatedAt of u.Username
// if it is still at u.Version, ending the user's grants if that changes the
// password or disables the user; see store.Users.
func (db *AuthDB) UpdateUser(ctx context.Context, u store.User) error {
	return sqlflow.UpdateUser(ctx, db.begin, u)
}

// RehashPassword replaces the user's hash by one of the same password; see
// store.Users.
func (db *AuthDB) RehashPassword(ctx context.Context, username string, version int64, hash []byte) error {
	return sqlflow.RehashPassword(ctx, db.begin, username, version, hash)
}

// LockUser returns username's record; the IMMEDIATE transaction already
// holds the write lock.
func (t flowTx) LockUser(ctx context.Context, username string) (store.User, error) {
	u, err := getUser(ctx, t.tx, username)
	return u, translate(err)
}

// SaveUser stores u's PasswordHash, Disabled, UpdatedAt and Version.
func (t flowTx) SaveUser(ctx context.Context, u store.User) error {
	_, err := t.tx.ExecContext(ctx, `
		UPDATE users SET password_hash = ?, disabled = ?, updated_at = ?, version = ?
		WHERE username = ?`,
		u.PasswordHash, boolInt(u.Disabled), micros(u.UpdatedAt), u.Version, u.Username)
	return err
}

// ListUsers returns every user by username (byte order).
func (db *AuthDB) ListUsers(ctx context.Context) ([]store.User, error) {
	rows, err := db.db.QueryContext(ctx, `
		SELECT username, password_hash, disabled, created_at, updated_at, version
		FROM users ORDER BY username`)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	var users []store.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("list users: %w", err)
		}
		users = append(users, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return users, nil
}

func getUser(ctx context.Context, q querier, username string) (store.User, error) {
	return scanUser(q.QueryRowContext(ctx, selectUser, username))
}

const selectUser = `
		SELECT username, password_hash, disabled, created_at, updated_at, version
		FROM users WHERE username = ?`

// scanner is a *sql.Row or *sql.Rows.
type scanner interface {
	Scan(dest ...any) error
}

func scanUser(s scanner) (store.User, error) {
	var (
		u                    store.User
		createdAt, updatedAt int64
	)
	if err := s.Scan(&u.Username, &u.PasswordHash, &u.Disabled, &createdAt, &updatedAt, &u.Version); err != nil {
		return store.User{}, err
	}
	u.CreatedAt, u.UpdatedAt = fromMicros(createdAt), fromMicros(updatedAt)
	return u, nil
}
