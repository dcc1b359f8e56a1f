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

// Token hashes are credentials in all but name (they key the rows a stolen
// token would match), and a family id is the first half of its grant's
// refresh tokens, so no error message here carries either; translate also
// strips the server's Detail, which can quote a row.
//
// Lock order (see sqlflow.Tx): the user record, then the client record,
// then grant records (several in id order), then token rows (several in
// hash order). Every
// statement below that locks more than one row locks them in that order
// through a sorted SELECT ... FOR UPDATE, so no two transactions of this
// package wait on each other in a cycle; retry covers what remains.

// CreateTokens inserts all tokens in one transaction if their client and
// user are still at the versions v names; a refresh token starts its
// grant's record. store.ErrAlreadyExists, store.ErrClientChanged or
// store.ErrUserChanged, and nothing inserted, if any hash or grant is
// taken or a version moved on.
func (db *AuthDB) CreateTokens(ctx context.Context, v store.Versions, tokens ...store.Token) error {
	return db.retry(ctx, func() error { return sqlflow.CreateTokens(ctx, db.begin, v, tokens) })
}

// LockPrincipals returns the versions of the client and of the enabled
// user (0 where there is none), each row locked FOR KEY SHARE, the user's
// first (the lock order): a change or deletion of either (which locks it
// FOR UPDATE) that committed first is read here, as READ COMMITTED reads
// a row it waited for; one that comes later waits until this transaction
// has committed its tokens, and then ends them.
func (t flowTx) LockPrincipals(ctx context.Context, clientID, username string) (clientVersion, userVersion int64, err error) {
	if username != "" {
		err := t.tx.QueryRow(ctx, `
			SELECT CASE WHEN disabled THEN 0 ELSE version END
			FROM users WHERE username = $1 FOR KEY SHARE`, username).Scan(&userVersion)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return 0, 0, translate(err)
		}
	}
	err = t.tx.QueryRow(ctx, `SELECT version FROM clients WHERE id = $1 FOR KEY SHARE`, clientID).Scan(&clientVersion)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return 0, 0, translate(err)
	}
	return clientVersion, userVersion, nil
}

// GetToken returns the access token, spent legacy refresh token or current
// refresh token of a grant with that hash; store.ErrNotFound if none.
func (db *AuthDB) GetToken(ctx context.Context, hash string) (store.Token, error) {
	t, err := scanToken(db.pool.QueryRow(ctx, `
		SELECT hash, kind, family_id, client_id, username, scope, issued_at, expires_at, rotated, NULL::timestamptz, audience, jkt
		FROM tokens WHERE hash = $1
		UNION ALL
		SELECT refresh_hash, 'refresh_token', id, client_id, username, scope, refresh_issued_at, refresh_expires_at, false, created_at, audience, jkt
		FROM grants WHERE refresh_hash = $1
		LIMIT 1`, hash))
	if err != nil {
		return store.Token{}, fmt.Errorf("get token: %w", translate(err))
	}
	return t, nil
}

// GetTokenForIntrospection is GetToken plus whether the token's user exists
// and is enabled, in one query. pgx caches the prepared statement per
// connection, so the query is parsed and planned once.
func (db *AuthDB) GetTokenForIntrospection(ctx context.Context, hash string) (store.Token, bool, error) {
	var userOK bool
	t, err := scanToken(db.pool.QueryRow(ctx, `
		SELECT hash, kind, family_id, client_id, username, scope, issued_at, expires_at, rotated, NULL::timestamptz, audience, jkt,
			username = '' OR EXISTS (SELECT 1 FROM users u WHERE u.username = tokens.username AND NOT u.disabled)
		FROM tokens WHERE hash = $1
		UNION ALL
		SELECT refresh_hash, 'refresh_token', id, client_id, username, scope, refresh_issued_at, refresh_expires_at, false, created_at, audience, jkt,
			username = '' OR EXISTS (SELECT 1 FROM users u WHERE u.username = grants.username AND NOT u.disabled)
		FROM grants WHERE refresh_hash = $1
		LIMIT 1`, hash), &userOK)
	if err != nil {
		return store.Token{}, false, fmt.Errorf("get token: %w", translate(err))
	}
	return t, userOK, nil
}

// IntrospectionLookup is GetClient and GetTokenForIntrospection in one
// query: the client row, left-joined with the token (if any) and its user's
// state. pgx caches the prepared statement per connection. See
// store.Tokens.
func (db *AuthDB) IntrospectionLookup(ctx context.Context, clientID, tokenHash string) (store.Client, store.Token, bool, error) {
	var (
		t         store.Token
		grantedAt *time.Time
		userOK    bool
	)
	// The client, joined with the token row and with the grant whose
	// current refresh token has that hash; where both exist the token row
	// wins, as in GetToken's UNION ALL ... LIMIT 1. The same shape as on
	// store/sqlite (where a compound subquery would be materialized on
	// every call). No stored token has an empty hash, so the columns of a
	// missing token read back as the zero Token.
	c, err := scanClientAnd(db.pool.QueryRow(ctx, `
		SELECT `+clientColumnsC+`,
			coalesce(t.hash, g.refresh_hash, ''),
			CASE WHEN t.hash IS NOT NULL THEN t.kind WHEN g.id IS NOT NULL THEN 'refresh_token' ELSE '' END,
			coalesce(t.family_id, g.id, ''), coalesce(t.client_id, g.client_id, ''),
			coalesce(t.username, g.username, ''), coalesce(t.scope, g.scope, ''),
			coalesce(t.issued_at, g.refresh_issued_at, 'epoch'), coalesce(t.expires_at, g.refresh_expires_at, 'epoch'),
			coalesce(t.rotated, false), CASE WHEN t.hash IS NULL THEN g.created_at END,
			coalesce(t.audience, g.audience, ''), coalesce(t.jkt, g.jkt, ''),
			coalesce(coalesce(t.username, g.username) = ''
				OR EXISTS (SELECT 1 FROM users u WHERE u.username = coalesce(t.username, g.username) AND NOT u.disabled), false)
		FROM clients c
		LEFT JOIN tokens t ON t.hash = $2
		LEFT JOIN grants g ON g.refresh_hash = $2
		WHERE c.id = $1`, clientID, tokenHash),
		&t.Hash, &t.Kind, &t.FamilyID, &t.ClientID, &t.Username, &t.Scope, &t.IssuedAt, &t.ExpiresAt, &t.Rotated, &grantedAt,
		&t.Audience, &t.JKT, &userOK)
	if err != nil {
		return store.Client{}, store.Token{}, false, fmt.Errorf("introspection lookup of client %q: %w", clientID, translate(err))
	}
	if t.Hash == "" {
		return c, store.Token{}, false, nil
	}
	t.IssuedAt, t.ExpiresAt = t.IssuedAt.UTC(), t.ExpiresAt.UTC()
	if grantedAt != nil {
		t.GrantedAt = grantedAt.UTC()
	}
	return c, t, userOK, nil
}

// GetGrant returns the current refresh token of a grant; store.ErrNotFound
// if there is no such grant.
func (db *AuthDB) GetGrant(ctx context.Context, familyID string) (store.Token, error) {
	t, _, err := scanGrant(db.pool.QueryRow(ctx, selectGrant, familyID), familyID)
	if err != nil {
		return store.Token{}, fmt.Errorf("get grant: %w", translate(err))
	}
	return t, nil
}

// RotateRefreshToken exchanges the refresh token oldHash of grant familyID
// for newTokens in one transaction; see store.Tokens for the outcomes.
//
// The guard is LockGrant's SELECT ... FOR UPDATE of the grant record:
// concurrent rotations of one grant, from any replica, queue on it, and
// READ COMMITTED hands each waiter the record as the previous holder
// committed it (or nothing, once the grant was revoked), exactly as the same
// race plays out one transaction at a time on SQLite.
func (db *AuthDB) RotateRefreshToken(ctx context.Context, familyID, oldHash string, now time.Time, v store.Versions, newTokens ...store.Token) error {
	return db.retry(ctx, func() error {
		return sqlflow.RotateRefreshToken(ctx, db.begin, familyID, oldHash, now, v, newTokens)
	})
}

// DeleteToken removes one token, a refresh token with its grant record; no
// error if it does not exist.
func (db *AuthDB) DeleteToken(ctx context.Context, hash string) error {
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM grants WHERE refresh_hash = $1`, hash); err != nil {
			return translate(err)
		}
		_, err := tx.Exec(ctx, `DELETE FROM tokens WHERE hash = $1`, hash)
		return translate(err)
	})
	if err != nil {
		return fmt.Errorf("delete token: %w", err)
	}
	return nil
}

// DeleteFamily ends a grant; no error if it does not exist.
func (db *AuthDB) DeleteFamily(ctx context.Context, familyID string) error {
	return db.retry(ctx, func() error { return sqlflow.DeleteFamily(ctx, db.begin, familyID) })
}

// RevokeUserGrants ends every grant of username.
func (db *AuthDB) RevokeUserGrants(ctx context.Context, username string) error {
	return db.retry(ctx, func() error { return sqlflow.RevokeUserGrants(ctx, db.begin, username) })
}

// RevokeClientGrants ends every grant of clientID.
func (db *AuthDB) RevokeClientGrants(ctx context.Context, clientID string) error {
	return db.retry(ctx, func() error { return sqlflow.RevokeClientGrants(ctx, db.begin, clientID) })
}

// DeleteExpired removes expired tokens and grants and stale login records;
// see store.Tokens.
//
// Each call is one short transaction that locks only the rows it deletes.
// SKIP LOCKED lets several replicas sweep at once, each taking rows the
// others have not, and never waits on a row a request is using (a rotation
// in flight, a login attempt): such a row is left for a later sweep.
func (db *AuthDB) DeleteExpired(ctx context.Context, now time.Time, limit int) (n int, err error) {
	err = db.retry(ctx, func() (err error) {
		n, err = sqlflow.DeleteExpired(ctx, db.beginAuthorize, now, limit)
		return err
	})
	return n, err
}

// DeleteExpiredTokens deletes at most limit tokens and grant records that
// expired before now.
func (t flowTx) DeleteExpiredTokens(ctx context.Context, now time.Time, limit int) (int, error) {
	tag, err := t.tx.Exec(ctx, `
		DELETE FROM tokens WHERE hash IN (
			SELECT hash FROM tokens WHERE expires_at < $1
			LIMIT $2 FOR UPDATE SKIP LOCKED)`,
		now, limit)
	if err != nil {
		return 0, translate(err)
	}
	n := int(tag.RowsAffected())
	if n >= limit {
		return n, nil
	}
	tag, err = t.tx.Exec(ctx, `
		DELETE FROM grants WHERE id IN (
			SELECT id FROM grants WHERE refresh_expires_at < $1
			LIMIT $2 FOR UPDATE SKIP LOCKED)`,
		now, limit-n)
	if err != nil {
		return n, translate(err)
	}
	return n + int(tag.RowsAffected()), nil
}

// DeleteStaleLogins deletes at most limit login records last updated before
// updatedBefore and not locked at now.
func (t flowTx) DeleteStaleLogins(ctx context.Context, updatedBefore, now time.Time, limit int) error {
	_, err := t.tx.Exec(ctx, `
		DELETE FROM logins WHERE username IN (
			SELECT username FROM logins
			WHERE updated_at < $1 AND (locked_until IS NULL OR locked_until <= $2)
			LIMIT $3 FOR UPDATE SKIP LOCKED)`,
		updatedBefore, now, limit)
	return translate(err)
}

// InsertTokens inserts access tokens and spent legacy refresh tokens as
// rows, and starts a grant record for each other refresh token, in one
// round trip; the first failure aborts the transaction, so the caller's
// rollback leaves nothing inserted.
func (t flowTx) InsertTokens(ctx context.Context, tokens []store.Token) error {
	if len(tokens) == 0 {
		return nil
	}
	var batch pgx.Batch
	for _, tok := range tokens {
		if tok.Kind == store.RefreshToken && !tok.Rotated {
			batch.Queue(`
				INSERT INTO grants (id, client_id, username, scope, created_at, refresh_hash, refresh_issued_at, refresh_expires_at, audience, jkt)
				VALUES ($1, $2, $3, $4, $5, $6, $5, $7, $8, $9)`,
				tok.FamilyID, tok.ClientID, tok.Username, tok.Scope, tok.IssuedAt, tok.Hash, tok.ExpiresAt, tok.Audience, tok.JKT)
			continue
		}
		batch.Queue(`
			INSERT INTO tokens (hash, kind, family_id, client_id, username, scope, issued_at, expires_at, rotated, audience, jkt)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			tok.Hash, tok.Kind, tok.FamilyID, tok.ClientID, tok.Username, tok.Scope, tok.IssuedAt, tok.ExpiresAt, tok.Rotated, tok.Audience, tok.JKT)
	}
	results := t.tx.SendBatch(ctx, &batch)
	for _, tok := range tokens {
		if _, err := results.Exec(); err != nil {
			results.Close()
			return fmt.Errorf("insert %s of client %q: %w", tok.Kind, tok.ClientID, translate(err))
		}
	}
	if err := results.Close(); err != nil {
		return fmt.Errorf("insert tokens: %w", translate(err))
	}
	return nil
}

// scanToken reads the columns GetToken selects, then any extra ones into
// extra; GrantedAt is NULL for a row of tokens.
func scanToken(row pgx.Row, extra ...any) (store.Token, error) {
	var (
		t         store.Token
		grantedAt *time.Time
	)
	dest := append([]any{&t.Hash, &t.Kind, &t.FamilyID, &t.ClientID, &t.Username, &t.Scope, &t.IssuedAt, &t.ExpiresAt, &t.Rotated, &grantedAt,
		&t.Audience, &t.JKT}, extra...)
	err := row.Scan(dest...)
	if err != nil {
		return store.Token{}, err
	}
	t.IssuedAt, t.ExpiresAt = t.IssuedAt.UTC(), t.ExpiresAt.UTC()
	if grantedAt != nil {
		t.GrantedAt = grantedAt.UTC()
	}
	return t, nil
}

const selectGrant = `
	SELECT refresh_hash, client_id, username, scope, refresh_issued_at, refresh_expires_at, created_at, legacy, audience, jkt
	FROM grants WHERE id = $1`

func scanGrant(row pgx.Row, familyID string) (t store.Token, legacy bool, err error) {
	err = row.Scan(&t.Hash, &t.ClientID, &t.Username, &t.Scope, &t.IssuedAt, &t.ExpiresAt, &t.GrantedAt, &legacy, &t.Audience, &t.JKT)
	if err != nil {
		return store.Token{}, false, err
	}
	t.Kind, t.FamilyID = store.RefreshToken, familyID
	t.IssuedAt, t.ExpiresAt, t.GrantedAt = t.IssuedAt.UTC(), t.ExpiresAt.UTC(), t.GrantedAt.UTC()
	return t, legacy, nil
}

// LockGrant returns the grant's current refresh token, its record locked
// FOR UPDATE until the transaction ends: the guard of RotateRefreshToken.
func (t flowTx) LockGrant(ctx context.Context, familyID string) (store.Token, bool, error) {
	tok, legacy, err := scanGrant(t.tx.QueryRow(ctx, selectGrant+` FOR UPDATE`, familyID), familyID)
	return tok, legacy, translate(err)
}

// ReplaceRefreshToken makes tok the current refresh token of its grant.
func (t flowTx) ReplaceRefreshToken(ctx context.Context, tok store.Token) error {
	_, err := t.tx.Exec(ctx, `
		UPDATE grants SET refresh_hash = $1, refresh_issued_at = $2, refresh_expires_at = $3,
			generation = generation + 1, legacy = false
		WHERE id = $4`,
		tok.Hash, tok.IssuedAt, tok.ExpiresAt, tok.FamilyID)
	if err != nil {
		return fmt.Errorf("replace refresh token: %w", translate(err))
	}
	return nil
}

// RevokeFamily deletes the grant record, then the family's tokens. The
// record's lock orders it after a rotation in flight (which holds the
// record while it swaps the access tokens), and the second statement, with
// a snapshot of its own under READ COMMITTED, sees what that rotation
// committed; a rotation that comes later finds no grant and adds nothing.
func (t flowTx) RevokeFamily(ctx context.Context, familyID string) error {
	if _, err := t.tx.Exec(ctx, `DELETE FROM grants WHERE id = $1`, familyID); err != nil {
		return translate(err)
	}
	return deleteTokensWhere(ctx, t.tx, "family_id", familyID)
}

// RevokeUser deletes every authorization code, grant, token and session of
// username, in lock order.
func (t flowTx) RevokeUser(ctx context.Context, username string) error {
	if err := deleteAuthorizationsWhere(ctx, t.tx, "username", username); err != nil {
		return err
	}
	if err := revokeWhere(ctx, t.tx, "username", username); err != nil {
		return err
	}
	_, err := t.tx.Exec(ctx, `DELETE FROM sessions WHERE username = $1`, username)
	return translate(err)
}

// RevokeClient deletes every code, device authorization, grant and token of
// clientID, in lock order: no code or device authorization issued before
// can start a grant after.
func (t flowTx) RevokeClient(ctx context.Context, clientID string) error {
	if err := deleteAuthorizationsWhere(ctx, t.tx, "client_id", clientID); err != nil {
		return err
	}
	return revokeWhere(ctx, t.tx, "client_id", clientID)
}

// deleteAuthorizationsWhere deletes the codes and the device
// authorizations whose column equals value, each locked in hash order as
// the redemptions lock them. column is one of this package's constants,
// never input.
func deleteAuthorizationsWhere(ctx context.Context, tx pgx.Tx, column, value string) error {
	for _, table := range []string{"auth_codes", "device_grants"} {
		_, err := tx.Exec(ctx, `
			DELETE FROM `+table+` WHERE hash IN (
				SELECT hash FROM `+table+` WHERE `+column+` = $1 ORDER BY hash FOR UPDATE)`, value)
		if err != nil {
			return translate(err)
		}
	}
	return nil
}

// revokeWhere deletes the grants whose column equals value (locked in id
// order) and then the tokens (locked in hash order). column is one of this
// package's constants, never input.
func revokeWhere(ctx context.Context, tx pgx.Tx, column, value string) error {
	_, err := tx.Exec(ctx, `
		DELETE FROM grants WHERE id IN (
			SELECT id FROM grants WHERE `+column+` = $1 ORDER BY id FOR UPDATE)`,
		value)
	if err != nil {
		return translate(err)
	}
	return deleteTokensWhere(ctx, tx, column, value)
}

func deleteTokensWhere(ctx context.Context, tx pgx.Tx, column, value string) error {
	_, err := tx.Exec(ctx, `
		DELETE FROM tokens WHERE hash IN (
			SELECT hash FROM tokens WHERE `+column+` = $1 ORDER BY hash FOR UPDATE)`,
		value)
	return translate(err)
}

// DeleteAccessTokens deletes the access tokens of familyID, which the
// caller's lock on the grant record keeps every other rotation away from.
func (t flowTx) DeleteAccessTokens(ctx context.Context, familyID string) error {
	_, err := t.tx.Exec(ctx, `
		DELETE FROM tokens WHERE family_id = $1 AND kind = $2`,
		familyID, store.AccessToken)
	return translate(err)
}
