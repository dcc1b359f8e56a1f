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
	if p.Threshold < 1 || p.Lockout <= 0 || p.MaxLockout < p.Lockout {
		// Fail closed: a zero policy would otherwise never lock.
		return false, fmt.Errorf("begin login %q: invalid login policy %+v", username, p)
	}
	err = db.inTx(ctx, func(tx *sql.Tx) error {
		var failures, lockouts, lockedUntil int64
		err := tx.QueryRowContext(ctx, `
			SELECT failures, lockouts, locked_until FROM logins WHERE username = ?`,
			username).Scan(&failures, &lockouts, &lockedUntil)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if lockedUntil > micros(now) {
			return nil // locked: count nothing
		}
		allowed = true
		failures++
		if failures >= int64(p.Threshold) {
			lockedUntil = micros(now.Add(lockoutFor(p, lockouts)))
			lockouts++
			failures = 0
		}
		_, err = tx.ExecContext(ctx, `
			INSERT INTO logins (username, failures, lockouts, locked_until, updated_at)
			VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (username) DO UPDATE SET
				failures = excluded.failures,
				lockouts = excluded.lockouts,
				locked_until = excluded.locked_until,
				updated_at = excluded.updated_at`,
			username, failures, lockouts, lockedUntil, micros(now))
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

// lockoutFor returns min(p.Lockout << previous, p.MaxLockout) without the
// overflow of a plain shift, which after enough lockouts would wrap to zero
// or a negative duration and so unlock the username.
func lockoutFor(p store.LoginPolicy, previous int64) time.Duration {
	d := p.Lockout
	for i := int64(0); i < previous && d < p.MaxLockout; i++ {
		if d > p.MaxLockout/2 {
			return p.MaxLockout
		}
		d *= 2
	}
	return min(d, p.MaxLockout)
}
