package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/example/authsvc/store"
)

// Token hashes are credentials in all but name (they key the rows a stolen
// token would match), so no error message here carries one; translate also
// strips the server's Detail, which can quote a row.

// CreateTokens inserts all tokens in one transaction;
// store.ErrAlreadyExists, and nothing inserted, if any hash is taken.
func (db *DB) CreateTokens(ctx context.Context, tokens ...store.Token) error {
	if len(tokens) == 0 {
		return nil
	}
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		return insertTokens(ctx, tx, tokens)
	})
	if err != nil {
		return fmt.Errorf("create tokens: %w", err)
	}
	return nil
}

// GetToken returns the token whatever its state; store.ErrNotFound if there
// is no row with that hash.
func (db *DB) GetToken(ctx context.Context, hash string) (store.Token, error) {
	var t store.Token
	err := db.pool.QueryRow(ctx, `
		SELECT hash, kind, family_id, client_id, username, scope, issued_at, expires_at, rotated
		FROM tokens WHERE hash = $1`, hash).
		Scan(&t.Hash, &t.Kind, &t.FamilyID, &t.ClientID, &t.Username, &t.Scope, &t.IssuedAt, &t.ExpiresAt, &t.Rotated)
	if err != nil {
		return store.Token{}, fmt.Errorf("get token: %w", translate(err))
	}
	t.IssuedAt, t.ExpiresAt = t.IssuedAt.UTC(), t.ExpiresAt.UTC()
	return t, nil
}

// RotateRefreshToken exchanges the refresh token oldHash for newTokens in
// one transaction; see store.Tokens for the outcomes.
//
// The guard is the conditional UPDATE in markRotated: it takes the row lock,
// so concurrent rotations of one token, from any replica, queue on it; when
// the winner commits, READ COMMITTED re-checks the WHERE clause of each
// waiting UPDATE against the committed row, which is now rotated, and they
// match nothing. Those then see the rotated row and treat it as reuse (or,
// if another loser already revoked the family, find no row: ErrNotFound),
// exactly as the same race plays out one transaction at a time on SQLite.
func (db *DB) RotateRefreshToken(ctx context.Context, oldHash string, now time.Time, newTokens ...store.Token) error {
	tx, err := db.pool.BeginTx(ctx, txOptions)
	if err != nil {
		return fmt.Errorf("rotate refresh token: begin: %w", translate(err))
	}
	defer tx.Rollback(ctx) // error ignored: a no-op after Commit

	familyID, err := markRotated(ctx, tx, oldHash, now)
	if errors.Is(err, pgx.ErrNoRows) {
		// Not rotatable: find out why, and if it is reuse, end the grant.
		familyID, rotated, err := lookupRefreshToken(ctx, tx, oldHash)
		if err != nil {
			return fmt.Errorf("rotate refresh token: %w", translate(err))
		}
		if !rotated {
			return fmt.Errorf("rotate refresh token: expired: %w", store.ErrNotFound)
		}
		if err := revokeFamily(ctx, tx, familyID); err != nil {
			return fmt.Errorf("rotate refresh token: revoke reused family %q: %w", familyID, err)
		}
		// The revocation must outlive the error we return.
		if err := tx.Commit(ctx); err != nil {
			return fmt.Errorf("rotate refresh token: revoke reused family %q: commit: %w", familyID, translate(err))
		}
		return fmt.Errorf("rotate refresh token: family %q revoked: %w", familyID, store.ErrTokenReused)
	}
	if err != nil {
		return fmt.Errorf("rotate refresh token: %w", translate(err))
	}

	for _, t := range newTokens {
		if t.FamilyID != familyID {
			// A token outside the family would survive reuse detection.
			return fmt.Errorf("rotate refresh token: new %s belongs to family %q, not %q", t.Kind, t.FamilyID, familyID)
		}
	}
	if _, err := tx.Exec(ctx, `
		DELETE FROM tokens WHERE family_id = $1 AND kind = $2`,
		familyID, store.AccessToken); err != nil {
		return fmt.Errorf("rotate refresh token: delete access tokens: %w", translate(err))
	}
	if err := insertTokens(ctx, tx, newTokens); err != nil {
		return fmt.Errorf("rotate refresh token: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("rotate refresh token: commit: %w", translate(err))
	}
	return nil
}

// DeleteToken removes one token; no error if it does not exist.
func (db *DB) DeleteToken(ctx context.Context, hash string) error {
	if _, err := db.pool.Exec(ctx, `DELETE FROM tokens WHERE hash = $1`, hash); err != nil {
		return fmt.Errorf("delete token: %w", translate(err))
	}
	return nil
}

// DeleteFamily removes every token of a family; no error if none exist.
func (db *DB) DeleteFamily(ctx context.Context, familyID string) error {
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		return revokeFamily(ctx, tx, familyID)
	})
	if err != nil {
		return fmt.Errorf("delete family %q: %w", familyID, err)
	}
	return nil
}

// staleLoginAge is how long an unlocked login record is kept after its last
// change. Keep it in step with store/sqlite and store/storetest.
const staleLoginAge = 24 * time.Hour

// DeleteExpired removes at most limit tokens that expired before now, and
// at most limit stale login records (not locked at now, last changed more
// than 24h before now), and reports how many tokens it removed.
//
// Each call is one short transaction that locks only the rows it deletes.
// SKIP LOCKED lets several replicas sweep at once, each taking rows the
// others have not, and never waits on a row a request is using (a rotation
// in flight, a login attempt): such a row is left for a later sweep.
func (db *DB) DeleteExpired(ctx context.Context, now time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	var n int64
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `
			DELETE FROM tokens WHERE hash IN (
				SELECT hash FROM tokens WHERE expires_at < $1
				LIMIT $2 FOR UPDATE SKIP LOCKED)`,
			now, limit)
		if err != nil {
			return fmt.Errorf("tokens: %w", translate(err))
		}
		n = tag.RowsAffected()
		if _, err := tx.Exec(ctx, `
			DELETE FROM logins WHERE username IN (
				SELECT username FROM logins
				WHERE updated_at < $1 AND (locked_until IS NULL OR locked_until <= $2)
				LIMIT $3 FOR UPDATE SKIP LOCKED)`,
			now.Add(-staleLoginAge), now, limit); err != nil {
			return fmt.Errorf("logins: %w", translate(err))
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("delete expired: %w", err)
	}
	return int(n), nil
}

// insertTokens sends every INSERT in one round trip; the first failure
// aborts tx, so the caller's rollback leaves nothing inserted.
func insertTokens(ctx context.Context, tx pgx.Tx, tokens []store.Token) error {
	if len(tokens) == 0 {
		return nil
	}
	var batch pgx.Batch
	for _, t := range tokens {
		batch.Queue(`
			INSERT INTO tokens (hash, kind, family_id, client_id, username, scope, issued_at, expires_at, rotated)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			t.Hash, t.Kind, t.FamilyID, t.ClientID, t.Username, t.Scope, t.IssuedAt, t.ExpiresAt, t.Rotated)
	}
	results := tx.SendBatch(ctx, &batch)
	for _, t := range tokens {
		if _, err := results.Exec(); err != nil {
			results.Close()
			return fmt.Errorf("insert %s of client %q: %w", t.Kind, t.ClientID, translate(err))
		}
	}
	if err := results.Close(); err != nil {
		return fmt.Errorf("insert tokens: %w", translate(err))
	}
	return nil
}

// markRotated flips an active refresh token to rotated and returns its
// family; pgx.ErrNoRows if oldHash is not an unrotated refresh token that is
// unexpired at now (expires_at > now, as in store.Token.Active).
func markRotated(ctx context.Context, tx pgx.Tx, hash string, now time.Time) (familyID string, err error) {
	err = tx.QueryRow(ctx, `
		UPDATE tokens SET rotated = true
		WHERE hash = $1 AND kind = $2 AND NOT rotated AND expires_at > $3
		RETURNING family_id`,
		hash, store.RefreshToken, now).Scan(&familyID)
	return familyID, err
}

// lookupRefreshToken returns the family and rotated flag of a refresh token;
// pgx.ErrNoRows if there is no refresh token with that hash.
func lookupRefreshToken(ctx context.Context, tx pgx.Tx, hash string) (familyID string, rotated bool, err error) {
	err = tx.QueryRow(ctx, `
		SELECT family_id, rotated FROM tokens WHERE hash = $1 AND kind = $2`,
		hash, store.RefreshToken).Scan(&familyID, &rotated)
	return familyID, rotated, err
}

// maxRevokePasses bounds revokeFamily; each further pass needs yet another
// rotation of the family to commit during the previous one.
const maxRevokePasses = 10

// revokeFamily deletes every token of familyID, including any that a
// rotation in flight commits meanwhile, without deadlocking against it.
//
// A plain DELETE ... WHERE family_id = $1 gets both wrong under concurrent
// rotation of a newer refresh token of the family (a reuse racing the
// legitimate client): the rotation holds its refresh token's row and then
// deletes the family's access tokens, while the DELETE locks rows in index
// order, so each can end up waiting for a row the other holds (PostgreSQL
// aborts one with a deadlock error); and rows the rotation commits after the
// DELETE's snapshot survive it, leaving the new pair alive. So every pass
// locks the refresh tokens before the access tokens (each in hash order), as
// a rotation does, and passes repeat until one finds nothing left.
func revokeFamily(ctx context.Context, tx pgx.Tx, familyID string) error {
	for range maxRevokePasses {
		tag, err := tx.Exec(ctx, `
			DELETE FROM tokens WHERE hash IN (
				SELECT hash FROM tokens WHERE family_id = $1
				ORDER BY kind = 'access_token', hash
				FOR UPDATE)`,
			familyID)
		if err != nil {
			return translate(err)
		}
		if tag.RowsAffected() == 0 {
			return nil
		}
	}
	return errors.New("family still growing after repeated revocation passes")
}
