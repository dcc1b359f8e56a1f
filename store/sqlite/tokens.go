package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/example/authsvc/store"
	"github.com/example/authsvc/store/internal/sqlflow"
)

// No error message here carries a token hash: errors end up in logs, and a
// hash ties a log line to the token it was computed from.

// CreateTokens inserts all tokens in one transaction;
// store.ErrAlreadyExists, and nothing inserted, if any hash is taken.
func (db *AuthDB) CreateTokens(ctx context.Context, tokens ...store.Token) error {
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
func (db *AuthDB) GetToken(ctx context.Context, hash string) (store.Token, error) {
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
func (db *AuthDB) RotateRefreshToken(ctx context.Context, oldHash string, now time.Time, newTokens ...store.Token) error {
	return sqlflow.RotateRefreshToken(ctx, db.begin, oldHash, now, newTokens)
}

// DeleteToken removes one token; no error if it does not exist.
func (db *AuthDB) DeleteToken(ctx context.Context, hash string) error {
	if _, err := db.db.ExecContext(ctx, `DELETE FROM tokens WHERE hash = ?`, hash); err != nil {
		return fmt.Errorf("delete token: %w", err)
	}
	return nil
}

// DeleteFamily removes every token of a family; no error if none exist.
func (db *AuthDB) DeleteFamily(ctx context.Context, familyID string) error {
	if err := deleteFamily(ctx, db.db, familyID); err != nil {
		return fmt.Errorf("delete family %q: %w", familyID, err)
	}
	return nil
}

// DeleteExpired removes expired tokens and stale login records; see
// store.Tokens. Each call is one short transaction.
func (db *AuthDB) DeleteExpired(ctx context.Context, now time.Time, limit int) (int, error) {
	return sqlflow.DeleteExpired(ctx, db.begin, now, limit)
}

// DeleteExpiredTokens deletes at most limit tokens that expired before now.
func (t flowTx) DeleteExpiredTokens(ctx context.Context, now time.Time, limit int) (int, error) {
	// SQLite has DELETE ... LIMIT only as a compile-time option.
	res, err := t.tx.ExecContext(ctx, `
		DELETE FROM tokens WHERE hash IN (
			SELECT hash FROM tokens WHERE expires_at < ? LIMIT ?)`,
		micros(now), limit)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// DeleteStaleLogins deletes at most limit login records last updated before
// updatedBefore and not locked at now (locked_until is 0 if never locked).
func (t flowTx) DeleteStaleLogins(ctx context.Context, updatedBefore, now time.Time, limit int) error {
	_, err := t.tx.ExecContext(ctx, `
		DELETE FROM logins WHERE username IN (
			SELECT username FROM logins
			WHERE updated_at < ? AND locked_until <= ? LIMIT ?)`,
		micros(updatedBefore), micros(now), limit)
	return err
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

// MarkRotated flips an active refresh token to rotated and returns its
// family (expires_at > now, as in store.Token.Active).
func (t flowTx) MarkRotated(ctx context.Context, hash string, now time.Time) (familyID string, ok bool, err error) {
	err = t.tx.QueryRowContext(ctx, `
		UPDATE tokens SET rotated = 1
		WHERE hash = ? AND kind = ? AND rotated = 0 AND expires_at > ?
		RETURNING family_id`,
		hash, store.RefreshToken, micros(now)).Scan(&familyID)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	return familyID, err == nil, err
}

// LookupRefreshToken returns the family and rotated flag of a refresh token;
// store.ErrNotFound if there is no refresh token with that hash.
func (t flowTx) LookupRefreshToken(ctx context.Context, hash string) (familyID string, rotated bool, err error) {
	err = t.tx.QueryRowContext(ctx, `
		SELECT family_id, rotated FROM tokens WHERE hash = ? AND kind = ?`,
		hash, store.RefreshToken).Scan(&familyID, &rotated)
	return familyID, rotated, translate(err)
}

// RevokeFamily deletes the family; the IMMEDIATE transaction holds the write
// lock, so no rotation can commit into it meanwhile.
func (t flowTx) RevokeFamily(ctx context.Context, familyID string) error {
	return deleteFamily(ctx, t.tx, familyID)
}

// DeleteAccessTokens deletes the access tokens of familyID.
func (t flowTx) DeleteAccessTokens(ctx context.Context, familyID string) error {
	_, err := t.tx.ExecContext(ctx, `
		DELETE FROM tokens WHERE family_id = ? AND kind = ?`,
		familyID, store.AccessToken)
	return err
}

// InsertTokens inserts tokens; store.ErrAlreadyExists if a hash is taken.
func (t flowTx) InsertTokens(ctx context.Context, tokens []store.Token) error {
	return insertTokens(ctx, t.tx, tokens)
}

func deleteFamily(ctx context.Context, q querier, familyID string) error {
	_, err := q.ExecContext(ctx, `DELETE FROM tokens WHERE family_id = ?`, familyID)
	return err
}
