package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/example/authsvc/store"
	"github.com/example/authsvc/store/internal/sqlflow"
)

var _ sqlflow.KeysTx = flowTx{}

// beginKeys is begin for the flows of sqlflow.KeysTx.
func (db *AuthDB) beginKeys(ctx context.Context) (sqlflow.KeysTx, error) {
	tx, err := db.pool.BeginTx(ctx, txOptions)
	if err != nil {
		return nil, translate(err)
	}
	return flowTx{tx}, nil
}

const selectSigningKeys = `
		SELECT kid, alg, public_jwk, sealed_private, created_at, active_at, retired_at, published_until
		FROM signing_keys ORDER BY active_at, kid`

// SigningKeys lists every stored key by ActiveAt.
func (db *AuthDB) SigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	rows, err := db.pool.Query(ctx, selectSigningKeys)
	if err != nil {
		return nil, fmt.Errorf("list signing keys: %w", translate(err))
	}
	keys, err := collect(rows, scanSigningKey)
	if err != nil {
		return nil, fmt.Errorf("list signing keys: %w", translate(err))
	}
	return keys, nil
}

func scanSigningKey(row pgx.Row) (store.SigningKey, error) {
	var (
		k                 store.SigningKey
		jwk               string
		retired, publishd *time.Time
	)
	if err := row.Scan(&k.ID, &k.Algorithm, &jwk, &k.SealedPrivate, &k.CreatedAt, &k.ActiveAt, &retired, &publishd); err != nil {
		return store.SigningKey{}, err
	}
	k.PublicJWK = []byte(jwk)
	k.CreatedAt, k.ActiveAt = k.CreatedAt.UTC(), k.ActiveAt.UTC()
	if retired != nil {
		k.RetiredAt = retired.UTC()
	}
	if publishd != nil {
		k.PublishedUntil = publishd.UTC()
	}
	return k, nil
}

// nullTime stores an unset time as NULL.
func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// EnsureSigningKey stores k unless a key signs now or later.
func (db *AuthDB) EnsureSigningKey(ctx context.Context, k store.SigningKey, now time.Time) (stored bool, err error) {
	err = db.retry(ctx, func() error {
		stored, err = sqlflow.EnsureSigningKey(ctx, db.beginKeys, k, now)
		return err
	})
	return stored, err
}

// RotateSigningKey stores next and retires the others at its activation.
func (db *AuthDB) RotateSigningKey(ctx context.Context, next store.SigningKey) error {
	return db.retry(ctx, func() error { return sqlflow.RotateSigningKey(ctx, db.beginKeys, next) })
}

// RetireSigningKey stops kid signing at now.
func (db *AuthDB) RetireSigningKey(ctx context.Context, kid string, now time.Time, compromised bool) error {
	return db.retry(ctx, func() error { return sqlflow.RetireSigningKey(ctx, db.beginKeys, kid, now, compromised) })
}

// DeleteUnpublishedKeys deletes keys no longer published at now.
func (db *AuthDB) DeleteUnpublishedKeys(ctx context.Context, now time.Time) (int, error) {
	tag, err := db.pool.Exec(ctx, `DELETE FROM signing_keys WHERE published_until <= $1`, now)
	if err != nil {
		return 0, fmt.Errorf("delete unpublished keys: %w", translate(err))
	}
	return int(tag.RowsAffected()), nil
}

// signingKeysLock is the advisory lock that serializes the key flows of
// every replica: READ COMMITTED row locks cannot guard the absence of a key.
const signingKeysLock = 0x6a776b73 // "jwks"

// LockSigningKeys takes signingKeysLock for the transaction and reads every key.
func (t flowTx) LockSigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	if _, err := t.tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(signingKeysLock)); err != nil {
		return nil, translate(err)
	}
	rows, err := t.tx.Query(ctx, selectSigningKeys)
	if err != nil {
		return nil, translate(err)
	}
	keys, err := collect(rows, scanSigningKey)
	return keys, translate(err)
}

// InsertSigningKey stores k.
func (t flowTx) InsertSigningKey(ctx context.Context, k store.SigningKey) error {
	_, err := t.tx.Exec(ctx, `
		INSERT INTO signing_keys (kid, alg, public_jwk, sealed_private, created_at, active_at, retired_at, published_until)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		k.ID, k.Algorithm, string(k.PublicJWK), k.SealedPrivate, k.CreatedAt, k.ActiveAt, nullTime(k.RetiredAt), nullTime(k.PublishedUntil))
	return translate(err)
}

// SaveSigningKeyLife stores k's retirement and publication end.
func (t flowTx) SaveSigningKeyLife(ctx context.Context, k store.SigningKey) error {
	_, err := t.tx.Exec(ctx, `UPDATE signing_keys SET retired_at = $1, published_until = $2 WHERE kid = $3`,
		nullTime(k.RetiredAt), nullTime(k.PublishedUntil), k.ID)
	return translate(err)
}
