package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/example/authsvc/store"
)

// BeginLogin reserves one password attempt for username at now; see
// store.Logins.
//
// The username's row is locked (SELECT ... FOR UPDATE) for the whole
// read-decide-write, so parallel attempts from any number of replicas are
// counted one after the other and no more than p.Threshold of them get
// through before the lock. The row is created first if missing (INSERT ...
// ON CONFLICT DO NOTHING waits for a concurrent insert of the same username
// to commit), so even the very first attempts have a row to lock.
//
// Locking resets the failure count: once a lock has passed, the username has
// p.Threshold attempts again, and the next lock lasts twice as long.
func (db *DB) BeginLogin(ctx context.Context, username string, now time.Time, p store.LoginPolicy) (allowed bool, err error) {
	if err := p.Validate(); err != nil {
		// Fail closed: a zero policy would otherwise never lock.
		return false, fmt.Errorf("begin login %q: %w", username, err)
	}
	err = db.inTx(ctx, func(tx pgx.Tx) error {
		state, err := lockLogin(ctx, tx, username, now)
		if err != nil {
			return translate(err)
		}
		if state, allowed = p.Attempt(state, now); !allowed {
			return nil // locked: count nothing
		}
		var lockedUntil *time.Time // NULL when never locked
		if !state.LockedUntil.IsZero() {
			lockedUntil = &state.LockedUntil
		}
		_, err = tx.Exec(ctx, `
			UPDATE logins SET failures = $2, lockouts = $3, locked_until = $4, updated_at = $5
			WHERE username = $1`,
			username, state.Failures, state.Lockouts, lockedUntil, now)
		return translate(err)
	})
	if err != nil {
		return false, fmt.Errorf("begin login %q: %w", username, err)
	}
	return allowed, nil
}

// LoginSucceeded clears the failure count, lock and lockout history.
func (db *DB) LoginSucceeded(ctx context.Context, username string) error {
	if _, err := db.pool.Exec(ctx, `DELETE FROM logins WHERE username = $1`, username); err != nil {
		return fmt.Errorf("login succeeded %q: %w", username, translate(err))
	}
	return nil
}

// lockLogin returns username's row, created blank if missing, locked until
// tx ends.
func lockLogin(ctx context.Context, tx pgx.Tx, username string, now time.Time) (store.LoginState, error) {
	// The row can vanish between the INSERT and the SELECT (LoginSucceeded
	// or the sweeper deleting it): then insert again. Each pass needs that
	// to happen once more in a window of one round trip, so a few suffice.
	for range 3 {
		if _, err := tx.Exec(ctx, `
			INSERT INTO logins (username, failures, lockouts, locked_until, updated_at)
			VALUES ($1, 0, 0, NULL, $2)
			ON CONFLICT (username) DO NOTHING`,
			username, now); err != nil {
			return store.LoginState{}, err
		}
		var (
			s           store.LoginState
			lockedUntil *time.Time // NULL when never locked
		)
		err := tx.QueryRow(ctx, `
			SELECT failures, lockouts, locked_until FROM logins
			WHERE username = $1 FOR UPDATE`,
			username).Scan(&s.Failures, &s.Lockouts, &lockedUntil)
		if errors.Is(err, pgx.ErrNoRows) {
			continue
		}
		if lockedUntil != nil {
			s.LockedUntil = lockedUntil.UTC()
		}
		return s, err
	}
	return store.LoginState{}, errors.New("login record deleted repeatedly while being locked")
}
