package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/example/authsvc/store"
	"github.com/example/authsvc/store/internal/sqlflow"
)

var _ sqlflow.KeysTx = flowTx{}

// beginKeys is begin for the flows of sqlflow.KeysTx.
func (db *AuthDB) beginKeys(ctx context.Context) (sqlflow.KeysTx, error) {
	tx, err := db.beginQueued(ctx)
	if err != nil {
		return nil, err // not a typed nil inside the interface
	}
	return tx, nil
}

const selectSigningKeys = `
		SELECT kid, alg, public_jwk, sealed_private, created_at, active_at, retired_at, published_until
		FROM signing_keys ORDER BY active_at, kid`

// SigningKeys lists every stored key by ActiveAt.
func (db *AuthDB) SigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	keys, err := readSigningKeys(ctx, db.db)
	if err != nil {
		return nil, fmt.Errorf("list signing keys: %w", err)
	}
	return keys, nil
}

func readSigningKeys(ctx context.Context, q querier) ([]store.SigningKey, error) {
	rows, err := q.QueryContext(ctx, selectSigningKeys)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var keys []store.SigningKey
	for rows.Next() {
		var (
			k                                       store.SigningKey
			jwk                                     string
			created, active, retired, publishedUpTo int64
		)
		if err := rows.Scan(&k.ID, &k.Algorithm, &jwk, &k.SealedPrivate, &created, &active, &retired, &publishedUpTo); err != nil {
			return nil, err
		}
		k.PublicJWK = []byte(jwk)
		k.CreatedAt, k.ActiveAt = fromMicros(created), fromMicros(active)
		k.RetiredAt, k.PublishedUntil = optionalTime(retired), optionalTime(publishedUpTo)
		keys = append(keys, k)
	}
	return keys, rows.Err()
}

// optionalTime reads a time stored as 0 when unset.
func optionalTime(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return fromMicros(us)
}

// optionalMicros stores an unset time as 0.
func optionalMicros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return micros(t)
}

// EnsureSigningKey stores k unless a key signs now or later.
func (db *AuthDB) EnsureSigningKey(ctx context.Context, k store.SigningKey, now time.Time) (bool, error) {
	return sqlflow.EnsureSigningKey(ctx, db.beginKeys, k, now)
}

// RotateSigningKey stores next and retires the others at its activation.
func (db *AuthDB) RotateSigningKey(ctx context.Context, next store.SigningKey) error {
	return sqlflow.RotateSigningKey(ctx, db.beginKeys, next)
}

// RetireSigningKey stops kid signing at now.
func (db *AuthDB) RetireSigningKey(ctx context.Context, kid string, now time.Time, compromised bool) error {
	return sqlflow.RetireSigningKey(ctx, db.beginKeys, kid, now, compromised)
}

// DeleteUnpublishedKeys deletes keys no longer published at now.
func (db *AuthDB) DeleteUnpublishedKeys(ctx context.Context, now time.Time) (int, error) {
	n, err := rowsAffected(db.db.ExecContext(ctx,
		`DELETE FROM signing_keys WHERE published_until <> 0 AND published_until <= ?`, micros(now)))
	if err != nil {
		return 0, fmt.Errorf("delete unpublished keys: %w", err)
	}
	return n, nil
}

// LockSigningKeys reads every key; the IMMEDIATE transaction already holds
// the write lock.
func (t flowTx) LockSigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	return readSigningKeys(ctx, t.tx)
}

// InsertSigningKey stores k.
func (t flowTx) InsertSigningKey(ctx context.Context, k store.SigningKey) error {
	_, err := t.tx.ExecContext(ctx, `
		INSERT INTO signing_keys (kid, alg, public_jwk, sealed_private, created_at, active_at, retired_at, published_until)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		k.ID, k.Algorithm, string(k.PublicJWK), k.SealedPrivate, micros(k.CreatedAt), micros(k.ActiveAt),
		optionalMicros(k.RetiredAt), optionalMicros(k.PublishedUntil))
	return translate(err)
}

// SaveSigningKeyLife stores k's retirement and publication end.
func (t flowTx) SaveSigningKeyLife(ctx context.Context, k store.SigningKey) error {
	_, err := t.tx.ExecContext(ctx, `UPDATE signing_keys SET retired_at = ?, published_until = ? WHERE kid = ?`,
		optionalMicros(k.RetiredAt), optionalMicros(k.PublishedUntil), k.ID)
	return translate(err)
}
