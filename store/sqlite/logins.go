package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/example/authsvc/store"
	"github.com/example/authsvc/store/internal/sqlflow"
)

// BeginLogin reserves one password attempt for username at now; see
// store.Logins. The read and the write are one IMMEDIATE transaction, so
// parallel attempts are counted one after the other and no more than
// p.Threshold of them get through before the lock.
func (db *AuthDB) BeginLogin(ctx context.Context, username string, now time.Time, p store.LoginPolicy) (store.LoginAttempt, error) {
	return sqlflow.BeginLogin(ctx, db.begin, username, now, p)
}

// LoginSucceeded clears the failure count, lock and lockout history.
func (db *AuthDB) LoginSucceeded(ctx context.Context, username string) error {
	if _, err := db.db.ExecContext(ctx, `DELETE FROM logins WHERE username = ?`, username); err != nil {
		return fmt.Errorf("login succeeded %q: %w", username, err)
	}
	return nil
}

// LockLogin reads username's state; the IMMEDIATE transaction already holds
// the database's write lock.
func (t flowTx) LockLogin(ctx context.Context, username string, _ time.Time) (store.LoginState, error) {
	var (
		s           store.LoginState
		lockedUntil int64 // 0 when never locked
	)
	err := t.tx.QueryRowContext(ctx, `
		SELECT failures, lockouts, locked_until FROM logins WHERE username = ?`,
		username).Scan(&s.Failures, &s.Lockouts, &lockedUntil)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return store.LoginState{}, err
	}
	if lockedUntil != 0 {
		s.LockedUntil = fromMicros(lockedUntil)
	}
	return s, nil
}

// SaveLogin inserts or replaces username's row.
func (t flowTx) SaveLogin(ctx context.Context, username string, s store.LoginState, now time.Time) error {
	var lockedUntil int64
	if !s.LockedUntil.IsZero() {
		lockedUntil = micros(s.LockedUntil)
	}
	_, err := t.tx.ExecContext(ctx, `
		INSERT INTO logins (username, failures, lockouts, locked_until, updated_at)
		VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (username) DO UPDATE SET
			failures = excluded.failures,
			lockouts = excluded.lockouts,
			locked_until = excluded.locked_until,
			updated_at = excluded.updated_at`,
		username, s.Failures, s.Lockouts, lockedUntil, micros(now))
	return err
}
