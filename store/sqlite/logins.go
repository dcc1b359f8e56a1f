package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/example/authsvc/store"
)

// BeginLogin reserves one password attempt for username at now; see
// store.Logins. The read and the write are one IMMEDIATE transaction, so
// parallel attempts are counted one after the other and no more than
// p.Threshold of them get through before the lock.
//
// Locking resets the failure count: once a lock has passed, the username has
// p.Threshold attempts again, and the next lock lasts twice as long.
func (db *DB) BeginLogin(ctx context.Context, username string, now time.Time, p store.LoginPolicy) (allowed bool, err error) {
	if err := p.Validate(); err != nil {
		// Fail closed: a zero policy would otherwise never lock.
		return false, fmt.Errorf("begin login %q: %w", username, err)
	}
	err = db.inTx(ctx, func(tx *sql.Tx) error {
		var s store.LoginState
		var lockedUntil int64 // 0 when never locked
		err := tx.QueryRowContext(ctx, `
			SELECT failures, lockouts, locked_until FROM logins WHERE username = ?`,
			username).Scan(&s.Failures, &s.Lockouts, &lockedUntil)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if lockedUntil != 0 {
			s.LockedUntil = fromMicros(lockedUntil)
		}
		if s, allowed = p.Attempt(s, now); !allowed {
			return nil // locked: count nothing
		}
		if !s.LockedUntil.IsZero() {
			lockedUntil = micros(s.LockedUntil)
		}
		_, err = tx.ExecContext(ctx, `
			INSERT INTO logins (username, failures, lockouts, locked_until, updated_at)
			VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (username) DO UPDATE SET
				failures = excluded.failures,
				lockouts = excluded.lockouts,
				locked_until = excluded.locked_until,
				updated_at = excluded.updated_at`,
			username, s.Failures, s.Lockouts, lockedUntil, micros(now))
		return err
	})
	if err != nil {
		return false, fmt.Errorf("begin login %q: %w", username, err)
	}
	return allowed, nil
}

// LoginSucceeded clears the failure count, lock and lockout history.
func (db *DB) LoginSucceeded(ctx context.Context, username string) error {
	if _, err := db.db.ExecContext(ctx, `DELETE FROM logins WHERE username = ?`, username); err != nil {
		return fmt.Errorf("login succeeded %q: %w", username, err)
	}
	return nil
}
