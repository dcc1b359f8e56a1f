package sqlflow

import (
	"context"
	"fmt"
	"time"

	"github.com/example/authsvc/store"
)

// KeysTx is what the signing-key flows need of a transaction.
type KeysTx interface {
	Tx
	// LockSigningKeys returns every stored key, holding a lock that
	// serializes the key flows of every process until the transaction
	// ends.
	LockSigningKeys(ctx context.Context) ([]store.SigningKey, error)
	// InsertSigningKey stores k; store.ErrAlreadyExists if its id is taken.
	InsertSigningKey(ctx context.Context, k store.SigningKey) error
	// SaveSigningKeyLife stores k's RetiredAt and PublishedUntil.
	SaveSigningKeyLife(ctx context.Context, k store.SigningKey) error
}

// BeginKeys starts a write transaction with the methods of KeysTx.
type BeginKeys func(ctx context.Context) (KeysTx, error)

// EnsureSigningKey is store.SigningKeys.EnsureSigningKey.
func EnsureSigningKey(ctx context.Context, begin BeginKeys, k store.SigningKey, now time.Time) (bool, error) {
	var stored bool
	err := inTx(ctx, begin, func(tx KeysTx) error {
		keys, err := tx.LockSigningKeys(ctx)
		if err != nil {
			return err
		}
		if !store.NeedsSigningKey(keys, now) {
			return nil
		}
		stored = true
		return tx.InsertSigningKey(ctx, k)
	})
	if err != nil {
		return false, fmt.Errorf("ensure a signing key: %w", err)
	}
	return stored, nil
}

// RotateSigningKey is store.SigningKeys.RotateSigningKey.
func RotateSigningKey(ctx context.Context, begin BeginKeys, next store.SigningKey) error {
	err := inTx(ctx, begin, func(tx KeysTx) error {
		keys, err := tx.LockSigningKeys(ctx)
		if err != nil {
			return err
		}
		if err := tx.InsertSigningKey(ctx, next); err != nil {
			return err
		}
		for _, k := range store.PlanRotation(keys, next) {
			if err := tx.SaveSigningKeyLife(ctx, k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("rotate signing keys: %w", err)
	}
	return nil
}

// RetireSigningKey is store.SigningKeys.RetireSigningKey.
func RetireSigningKey(ctx context.Context, begin BeginKeys, kid string, now time.Time, compromised bool) error {
	err := inTx(ctx, begin, func(tx KeysTx) error {
		keys, err := tx.LockSigningKeys(ctx)
		if err != nil {
			return err
		}
		k, err := store.PlanRetirement(keys, kid, now, compromised)
		if err != nil {
			return err
		}
		return tx.SaveSigningKeyLife(ctx, k)
	})
	if err != nil {
		return fmt.Errorf("retire signing key: %w", err)
	}
	return nil
}
