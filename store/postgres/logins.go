package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/example/authsvc/store"
	"github.com/example/authsvc/store/internal/sqlflow"
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
func (db *AuthDB) BeginLogin(ctx context.Context, username string, now time.Time, p store.LoginPolicy) (a store.LoginAttempt, err error) {
	err = db.retry(ctx, func() (err error) {
		a, err = sqlflow.BeginLogin(ctx, db.begin, username, now, p)
		return err
	})
	return a, err
}

// LoginSucceeded clears the failure count, lock and lockout history.
func (db *AuthDB) LoginSucceeded(ctx context.Context, username string) error {
	if _, err := db.pool.Exec(ctx, `DELETE FROM logins WHERE username = $1`, username); err != nil {
		return fmt.Errorf("login succeeded %q: %w", username, translate(err))
	}
	return nil
}

// LockLogin returns username's row, created blank if missing, locked until
// the transaction ends.
func (t flowTx) LockLogin(ctx context.Context, username string, now time.Time) (store.LoginState, error) {
	// The row can vanish between the INSERT and the SELECT (LoginSucceeded
	// or the sweeper deleting it): then insert again. Each pass needs that
	// to happen once more in a window of one round trip, so a few suffice.
	for range 3 {
		if _, err := t.tx.Exec(ctx, `
			INSERT INTO logins (username, failures, lockouts, locked_until, updated_at)
			VALUES ($1, 0, 0, NULL, $2)
			ON CONFLICT (username) DO NOTHING`,
			username, now); err != nil {
			return store.LoginState{}, translate(err)
		}
		var (
			s           store.LoginState
			lockedUntil *time.Time // NULL when never locked
		)
		err := t.tx.QueryRow(ctx, `
			SELECT failures, lockouts, locked_until FROM logins
			WHERE username = $1 FOR UPDATE`,
			username).Scan(&s.Failures, &s.Lockouts, &lockedUntil)
		if errors.Is(err, pgx.ErrNoRows) {
			continue
		}
		if lockedUntil != nil {
			s.LockedUntil = lockedUntil.UTC()
		}
		return s, translate(err)
	}
	return store.LoginState{}, errors.New("login record deleted repeatedly while being locked")
}

// SaveLogin updates username's row, which LockLogin created and locked.
func (t flowTx) SaveLogin(ctx context.Context, username string, s store.LoginState, now time.Time) error {
	var lockedUntil *time.Time // NULL when never locked
	if !s.LockedUntil.IsZero() {
		lockedUntil = &s.LockedUntil
	}
	_, err := t.tx.Exec(ctx, `
		UPDATE logins SET failures = $2, lockouts = $3, locked_until = $4, updated_at = $5
		WHERE username = $1`,
		username, s.Failures, s.Lockouts, lockedUntil, now)
	return translate(err)
}
