package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/example/authsvc/store"
)

// No error message here carries a token hash: errors end up in logs, and a
// hash ties a log line to the token it was computed from.

// CreateTokens inserts all tokens in one transaction;
// store.ErrAlreadyExists, and nothing inserted, if any hash is taken.
func (db *DB) CreateTokens(ctx context.Context, tokens ...store.Token) error {
	err := db.inTx(ctx, func(tx *sql.Tx) error {
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
	t, err := getToken(ctx, db.db, hash)
	if err != nil {
		return store.Token{}, fmt.Errorf("get token: %w", translate(err))
	}
	return t, nil
}

// RotateRefreshToken exchanges the refresh token oldHash for newTokens in
// one transaction; see store.Tokens for the outcomes. Because every write
// transaction begins IMMEDIATE, concurrent rotations of one token run one
// after the other, and only the first finds it unrotated.
func (db *DB) RotateRefreshToken(ctx context.Context, oldHash string, now time.Time, newTokens ...store.Token) error {
	tx, err := db.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("rotate refresh token: begin: %w", err)
	}
	defer tx.Rollback() // error ignored: a no-op after Commit

	familyID, err := markRotated(ctx, tx, oldHash, now)
	if errors.Is(err, sql.ErrNoRows) {
		// Not rotatable: find out why, and if it is reuse, end the grant.
		familyID, rotated, err := lookupRefreshToken(ctx, tx, oldHash)
		if err != nil {
			return fmt.Errorf("rotate refresh token: %w", translate(err))
		}
		if !rotated {
			return fmt.Errorf("rotate refresh token: expired: %w", store.ErrNotFound)
		}
		if err := deleteFamily(ctx, tx, familyID); err != nil {
			return fmt.Errorf("rotate refresh token: revoke reused family %q: %w", familyID, err)
		}
		// The revocation must outlive the error we return.
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("rotate refresh token: revoke reused family %q: commit: %w", familyID, err)
		}
		return fmt.Errorf("rotate refresh token: family %q revoked: %w", familyID, store.ErrTokenReused)
	}
	if err != nil {
		return fmt.Errorf("rotate refresh token: %w", err)
	}

	for _, t := range newTokens {
		if t.FamilyID != familyID {
			// A token outside the family would survive reuse detection.
			return fmt.Errorf("rotate refresh token: new %s belongs to family %q, not %q", t.Kind, t.FamilyID, familyID)
		}
	}
	if _, err := tx.ExecContext(ctx, `
		DELETE FROM tokens WHERE family_id = ? AND kind = ?`,
		familyID, store.AccessToken); err != nil {
		return fmt.Errorf("rotate refresh token: delete access tokens: %w", err)
	}
	if err := insertTokens(ctx, tx, newTokens); err != nil {
		return fmt.Errorf("rotate refresh token: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("rotate refresh token: commit: %w", err)
	}
	return nil
}

// DeleteToken removes one token; no error if it does not exist.
func (db *DB) DeleteToken(ctx context.Context, hash string) error {
	if _, err := db.db.ExecContext(ctx, `DELETE FROM tokens WHERE hash = ?`, hash); err != nil {
		return fmt.Errorf("delete token: %w", err)
	}
	return nil
}

// DeleteFamily removes every token of a family; no error if none exist.
func (db *DB) DeleteFamily(ctx context.Context, familyID string) error {
	if err := deleteFamily(ctx, db.db, familyID); err != nil {
		return fmt.Errorf("delete family %q: %w", familyID, err)
	}
	return nil
}

// staleLoginAge is how long an unlocked login record is kept after its last
// change. Keep it in step with the definition in store/storetest.
const staleLoginAge = 24 * time.Hour

// DeleteExpired removes at most limit tokens that expired before now, and
// at most limit stale login records (not locked at now, last changed more
// than 24h before now), and reports how many tokens it removed. Each call
// is one short transaction.
func (db *DB) DeleteExpired(ctx context.Context, now time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	var n int64
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		// SQLite has DELETE ... LIMIT only as a compile-time option.
		res, err := tx.ExecContext(ctx, `
			DELETE FROM tokens WHERE hash IN (
				SELECT hash FROM tokens WHERE expires_at < ? LIMIT ?)`,
			micros(now), limit)
		if err != nil {
			return fmt.Errorf("tokens: %w", err)
		}
		if n, err = res.RowsAffected(); err != nil {
			return fmt.Errorf("tokens: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `
			DELETE FROM logins WHERE username IN (
				SELECT username FROM logins
				WHERE updated_at < ? AND locked_until <= ? LIMIT ?)`,
			micros(now.Add(-staleLoginAge)), micros(now), limit); err != nil {
			return fmt.Errorf("logins: %w", err)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("delete expired: %w", err)
	}
	return int(n), nil
}

func insertTokens(ctx context.Context, tx *sql.Tx, tokens []store.Token) error {
	if len(tokens) == 0 {
		return nil
	}
	stmt, err := tx.PrepareContext(ctx, `
		INSERT INTO tokens (hash, kind, family_id, client_id, username, scope, issued_at, expires_at, rotated)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("insert tokens: %w", err)
	}
	defer stmt.Close()
	for _, t := range tokens {
		if _, err := stmt.ExecContext(ctx, t.Hash, t.Kind, t.FamilyID, t.ClientID, t.Username, t.Scope,
			micros(t.IssuedAt), micros(t.ExpiresAt), boolInt(t.Rotated)); err != nil {
			return fmt.Errorf("insert %s of client %q: %w", t.Kind, t.ClientID, translate(err))
		}
	}
	return nil
}

func getToken(ctx context.Context, q querier, hash string) (store.Token, error) {
	var (
		t                   store.Token
		issuedAt, expiresAt int64
	)
	err := q.QueryRowContext(ctx, `
		SELECT hash, kind, family_id, client_id, username, scope, issued_at, expires_at, rotated
		FROM tokens WHERE hash = ?`, hash).
		Scan(&t.Hash, &t.Kind, &t.FamilyID, &t.ClientID, &t.Username, &t.Scope, &issuedAt, &expiresAt, &t.Rotated)
	if err != nil {
		return store.Token{}, err
	}
	t.IssuedAt, t.ExpiresAt = fromMicros(issuedAt), fromMicros(expiresAt)
	return t, nil
}

// markRotated flips an active refresh token to rotated and returns its
// family; sql.ErrNoRows if oldHash is not an unrotated refresh token that is
// unexpired at now (expires_at > now, as in store.Token.Active).
func markRotated(ctx context.Context, tx *sql.Tx, hash string, now time.Time) (familyID string, err error) {
	err = tx.QueryRowContext(ctx, `
		UPDATE tokens SET rotated = 1
		WHERE hash = ? AND kind = ? AND rotated = 0 AND expires_at > ?
		RETURNING family_id`,
		hash, store.RefreshToken, micros(now)).Scan(&familyID)
	return familyID, err
}

// lookupRefreshToken returns the family and rotated flag of a refresh token;
// sql.ErrNoRows if there is no refresh token with that hash.
func lookupRefreshToken(ctx context.Context, tx *sql.Tx, hash string) (familyID string, rotated bool, err error) {
	err = tx.QueryRowContext(ctx, `
		SELECT family_id, rotated FROM tokens WHERE hash = ? AND kind = ?`,
		hash, store.RefreshToken).Scan(&familyID, &rotated)
	return familyID, rotated, err
}

func deleteFamily(ctx context.Context, q querier, familyID string) error {
	_, err := q.ExecContext(ctx, `DELETE FROM tokens WHERE family_id = ?`, familyID)
	return err
}
