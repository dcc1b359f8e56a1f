// Package sqlflow holds the decisions the SQL backends share: each exported
// function is one store method's control flow, written once against Tx,
// which every backend implements in its own SQL (placeholders, time
// representation, row locks). Only store/sqlite and store/postgres import it.
package sqlflow

import (
	"context"
	"fmt"
	"time"

	"github.com/example/authsvc/store"
)

// Tx is one open transaction of a backend. Its methods return the
// contract's sentinels (store.ErrNotFound, store.ErrAlreadyExists) where the
// comments say so, and never quote a token hash.
type Tx interface {
	Commit(ctx context.Context) error
	Rollback(ctx context.Context) error

	// MarkRotated flips hash to rotated if it is a refresh token that is
	// unrotated and unexpired at now (store.Token.Active), and returns its
	// family; ok is false if it is not.
	MarkRotated(ctx context.Context, hash string, now time.Time) (familyID string, ok bool, err error)
	// LookupRefreshToken returns the family and rotated flag of the refresh
	// token hash; store.ErrNotFound if there is none.
	LookupRefreshToken(ctx context.Context, hash string) (familyID string, rotated bool, err error)
	// RevokeFamily deletes every token of familyID.
	RevokeFamily(ctx context.Context, familyID string) error
	// DeleteAccessTokens deletes the access tokens of familyID.
	DeleteAccessTokens(ctx context.Context, familyID string) error
	// InsertTokens inserts tokens; store.ErrAlreadyExists if a hash is taken.
	InsertTokens(ctx context.Context, tokens []store.Token) error

	// LockLogin returns username's login state (the zero state if it has
	// none), so locked that a parallel attempt reads it only after this
	// transaction ends.
	LockLogin(ctx context.Context, username string, now time.Time) (store.LoginState, error)
	// SaveLogin stores username's login state, last updated at now.
	SaveLogin(ctx context.Context, username string, s store.LoginState, now time.Time) error

	// DeleteExpiredTokens deletes at most limit tokens that expired before
	// now and reports how many it deleted.
	DeleteExpiredTokens(ctx context.Context, now time.Time, limit int) (int, error)
	// DeleteStaleLogins deletes at most limit login records last updated
	// before updatedBefore and not locked at now.
	DeleteStaleLogins(ctx context.Context, updatedBefore, now time.Time, limit int) error
}

// Begin starts a write transaction.
type Begin func(ctx context.Context) (Tx, error)

// txn is what inTx needs of a transaction.
type txn interface {
	Commit(ctx context.Context) error
	Rollback(ctx context.Context) error
}

// inTx runs fn in a transaction from begin and commits it if fn returns nil.
func inTx[T txn](ctx context.Context, begin func(context.Context) (T, error), fn func(tx T) error) error {
	tx, err := begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(ctx) // error ignored: a no-op after Commit
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// RotateRefreshToken is store.Tokens.RotateRefreshToken. The guard against
// concurrent rotations is MarkRotated's conditional update: only one
// transaction finds the token unrotated; the others see it rotated, treat
// it as reuse and revoke the family (or, if another already did, find no
// row: store.ErrNotFound).
//
// A token that is not rotatable is looked into in a transaction of its own:
// a conditional update that matches nothing may still have locked the row
// (PostgreSQL locks the newest version of a row it re-checks), and holding
// that lock into RevokeFamily, which locks the family in an order of its
// own, deadlocks against a concurrent revocation.
func RotateRefreshToken(ctx context.Context, begin Begin, oldHash string, now time.Time, newTokens []store.Token) error {
	var rotated bool
	err := inTx(ctx, begin, func(tx Tx) error {
		familyID, ok, err := tx.MarkRotated(ctx, oldHash, now)
		if err != nil || !ok {
			return err // nil if not rotatable: commits nothing
		}
		rotated = true
		for _, t := range newTokens {
			if t.FamilyID != familyID {
				// A token outside the family would survive reuse detection.
				return fmt.Errorf("new %s belongs to family %q, not %q", t.Kind, t.FamilyID, familyID)
			}
		}
		if err := tx.DeleteAccessTokens(ctx, familyID); err != nil {
			return fmt.Errorf("delete access tokens: %w", err)
		}
		return tx.InsertTokens(ctx, newTokens)
	})
	if err == nil && !rotated {
		err = revokeIfReused(ctx, begin, oldHash)
	}
	if err != nil {
		return fmt.Errorf("rotate refresh token: %w", err)
	}
	return nil
}

// revokeIfReused finds out why oldHash was not rotatable and, if it had been
// rotated already, ends the grant: it revokes the family, commits, and
// returns store.ErrTokenReused.
func revokeIfReused(ctx context.Context, begin Begin, oldHash string) error {
	var reused error
	err := inTx(ctx, begin, func(tx Tx) error {
		familyID, rotated, err := tx.LookupRefreshToken(ctx, oldHash)
		if err != nil {
			return err
		}
		if !rotated {
			return fmt.Errorf("expired: %w", store.ErrNotFound)
		}
		if err := tx.RevokeFamily(ctx, familyID); err != nil {
			return fmt.Errorf("revoke reused family %q: %w", familyID, err)
		}
		// Returning nil commits: the revocation must outlive the error.
		reused = fmt.Errorf("family %q revoked: %w", familyID, store.ErrTokenReused)
		return nil
	})
	if err != nil {
		return err
	}
	return reused
}

// BeginLogin is store.Logins.BeginLogin: the decision is p.Attempt; the
// backend's LockLogin makes parallel attempts take turns, so no more than
// p.Threshold of them get through before the lock.
func BeginLogin(ctx context.Context, begin Begin, username string, now time.Time, p store.LoginPolicy) (allowed bool, err error) {
	if err := p.Validate(); err != nil {
		// Fail closed: a zero policy would otherwise never lock.
		return false, fmt.Errorf("begin login %q: %w", username, err)
	}
	err = inTx(ctx, begin, func(tx Tx) error {
		s, err := tx.LockLogin(ctx, username, now)
		if err != nil {
			return err
		}
		if s, allowed = p.Attempt(s, now); !allowed {
			return nil // locked: count nothing
		}
		return tx.SaveLogin(ctx, username, s, now)
	})
	if err != nil {
		return false, fmt.Errorf("begin login %q: %w", username, err)
	}
	return allowed, nil
}

// DeleteExpired is store.Tokens.DeleteExpired: at most limit expired tokens
// and at most limit stale login records (not locked at now, last changed
// more than store.StaleLoginAge before now), in one short transaction.
func DeleteExpired(ctx context.Context, begin Begin, now time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	var n int
	err := inTx(ctx, begin, func(tx Tx) (err error) {
		if n, err = tx.DeleteExpiredTokens(ctx, now, limit); err != nil {
			return fmt.Errorf("tokens: %w", err)
		}
		if err := tx.DeleteStaleLogins(ctx, now.Add(-store.StaleLoginAge), now, limit); err != nil {
			return fmt.Errorf("logins: %w", err)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("delete expired: %w", err)
	}
	return n, nil
}
