package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/example/authsvc/store"
	"github.com/example/authsvc/store/internal/sqlflow"
)

// No error message here carries a token hash or a family id: errors end up
// in logs, a hash ties a log line to the token it was computed from, and a
// family id is the first half of its grant's refresh tokens.

// GetToken returns the access token, spent legacy refresh token or current
// refresh token of a grant with that hash; store.ErrNotFound if none.
func (db *AuthDB) GetToken(ctx context.Context, hash string) (store.Token, error) {
	t, err := scanToken(db.queryRow(ctx, selectToken, hash, hash))
	if err != nil {
		return store.Token{}, fmt.Errorf("get token: %w", translate(err))
	}
	return t, nil
}

// GetTokenForIntrospection is GetToken plus whether the token's user exists
// and is enabled, in one query.
func (db *AuthDB) GetTokenForIntrospection(ctx context.Context, hash string) (store.Token, bool, error) {
	var userOK bool
	t, err := scanToken(db.queryRow(ctx, selectTokenForIntrospection, hash, hash), &userOK)
	if err != nil {
		return store.Token{}, false, fmt.Errorf("get token: %w", translate(err))
	}
	return t, userOK, nil
}

const (
	selectToken = `
		SELECT hash, kind, family_id, client_id, username, scope, issued_at, expires_at, rotated, 0, audience, jkt
		FROM tokens WHERE hash = ?
		UNION ALL
		SELECT refresh_hash, 'refresh_token', id, client_id, username, scope, refresh_issued_at, refresh_expires_at, 0, created_at, audience, jkt
		FROM grants WHERE refresh_hash = ?
		LIMIT 1`
	// A client token has no user (username ''), so nothing can disable it
	// but its own deletion.
	selectTokenForIntrospection = `
		SELECT hash, kind, family_id, client_id, username, scope, issued_at, expires_at, rotated, 0, audience, jkt,
			username = '' OR EXISTS (SELECT 1 FROM users u WHERE u.username = tokens.username AND u.disabled = 0)
		FROM tokens WHERE hash = ?
		UNION ALL
		SELECT refresh_hash, 'refresh_token', id, client_id, username, scope, refresh_issued_at, refresh_expires_at, 0, created_at, audience, jkt,
			username = '' OR EXISTS (SELECT 1 FROM users u WHERE u.username = grants.username AND u.disabled = 0)
		FROM grants WHERE refresh_hash = ?
		LIMIT 1`
)

// IntrospectionLookup is GetClient and GetTokenForIntrospection in one
// prepared query: the client row, left-joined with the token (if any) and
// its user's state. See store.Tokens.
func (db *AuthDB) IntrospectionLookup(ctx context.Context, clientID, tokenHash string) (store.Client, store.Token, bool, error) {
	var (
		t                              store.Token
		issuedAt, expiresAt, grantedAt int64
		userOK                         bool
	)
	c, err := scanClient(db.queryRow(ctx, selectIntrospection, clientID, tokenHash),
		&t.Hash, &t.Kind, &t.FamilyID, &t.ClientID, &t.Username, &t.Scope, &issuedAt, &expiresAt, &t.Rotated, &grantedAt,
		&t.Audience, &t.JKT, &userOK)
	if err != nil {
		return store.Client{}, store.Token{}, false, fmt.Errorf("introspection lookup of client %q: %w", clientID, translate(err))
	}
	if t.Hash == "" {
		return c, store.Token{}, false, nil
	}
	t.IssuedAt, t.ExpiresAt = fromMicros(issuedAt), fromMicros(expiresAt)
	if grantedAt != 0 {
		t.GrantedAt = fromMicros(grantedAt)
	}
	return c, t, userOK, nil
}

// selectIntrospection is selectClient and selectTokenForIntrospection in
// one statement (?1 the client id, ?2 the token hash): the client, joined
// with the token row and with the grant whose current refresh token has
// that hash. Where both exist the token row wins, as in selectToken's
// UNION ALL ... LIMIT 1. Two point joins rather than that union as a
// subquery: a compound subquery in a join is materialized into a temporary
// table on every call, which cost more than the second round trip saved.
// No stored token has an empty hash, so the columns of a missing token read
// back as the zero Token.
const selectIntrospection = `
		SELECT c.id, c.secret_hash, c.grant_types, c.scopes, c.introspect, c.created_at, c.version, c.redirect_uris, c.first_party,
			c.access_token_format, c.require_dpop, c.resources,
			coalesce(t.hash, g.refresh_hash, ''),
			CASE WHEN t.hash IS NOT NULL THEN t.kind WHEN g.id IS NOT NULL THEN 'refresh_token' ELSE '' END,
			coalesce(t.family_id, g.id, ''), coalesce(t.client_id, g.client_id, ''),
			coalesce(t.username, g.username, ''), coalesce(t.scope, g.scope, ''),
			coalesce(t.issued_at, g.refresh_issued_at, 0), coalesce(t.expires_at, g.refresh_expires_at, 0),
			coalesce(t.rotated, 0), CASE WHEN t.hash IS NULL THEN coalesce(g.created_at, 0) ELSE 0 END,
			coalesce(t.audience, g.audience, ''), coalesce(t.jkt, g.jkt, ''),
			coalesce(coalesce(t.username, g.username) = ''
				OR EXISTS (SELECT 1 FROM users u WHERE u.username = coalesce(t.username, g.username) AND u.disabled = 0), 0)
		FROM clients c
		LEFT JOIN tokens t ON t.hash = ?2
		LEFT JOIN grants g ON g.refresh_hash = ?2
		WHERE c.id = ?1`

// GetGrant returns the current refresh token of a grant; store.ErrNotFound
// if there is no such grant.
func (db *AuthDB) GetGrant(ctx context.Context, familyID string) (store.Token, error) {
	t, _, err := getGrant(ctx, db.db, familyID)
	if err != nil {
		return store.Token{}, fmt.Errorf("get grant: %w", translate(err))
	}
	return t, nil
}

// RotateRefreshToken exchanges the refresh token oldHash of grant familyID
// for newTokens in one transaction; see store.Tokens for the outcomes.
// Because every write transaction begins IMMEDIATE, concurrent rotations
// run one after the other, each on what the previous one committed.
func (db *AuthDB) RotateRefreshToken(ctx context.Context, familyID, oldHash string, now time.Time, v store.Versions, newTokens ...store.Token) error {
	return sqlflow.RotateRefreshToken(ctx, db.begin, familyID, oldHash, now, v, newTokens)
}

// LockPrincipals returns the versions of the client and of the enabled
// user (0 where there is none); the IMMEDIATE transaction already holds the
// write lock, so neither can change before it ends.
func (t flowTx) LockPrincipals(ctx context.Context, clientID, username string) (clientVersion, userVersion int64, err error) {
	err = t.queryRow(ctx, selectPrincipals, clientID, username).Scan(&clientVersion, &userVersion)
	return clientVersion, userVersion, err
}

// selectPrincipals is LockPrincipals' query: ?1 the client id, ?2 the
// username (an empty one matches no user).
const selectPrincipals = `
		SELECT coalesce((SELECT version FROM clients WHERE id = ?1), 0),
			coalesce((SELECT version FROM users WHERE username = ?2 AND disabled = 0), 0)`

// DeleteToken removes one token, a refresh token with its grant record; no
// error if it does not exist.
func (db *AuthDB) DeleteToken(ctx context.Context, hash string) error {
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM grants WHERE refresh_hash = ?`, hash); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM tokens WHERE hash = ?`, hash)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete token: %w", err)
	}
	return nil
}

// DeleteFamily ends a grant; no error if it does not exist.
func (db *AuthDB) DeleteFamily(ctx context.Context, familyID string) error {
	return sqlflow.DeleteFamily(ctx, db.begin, familyID)
}

// RevokeUserGrants ends every grant of username.
func (db *AuthDB) RevokeUserGrants(ctx context.Context, username string) error {
	return sqlflow.RevokeUserGrants(ctx, db.begin, username)
}

// RevokeClientGrants ends every grant of clientID.
func (db *AuthDB) RevokeClientGrants(ctx context.Context, clientID string) error {
	return sqlflow.RevokeClientGrants(ctx, db.begin, clientID)
}

// DeleteExpired removes expired tokens and grants and stale login records;
// see store.Tokens. Each call is one short transaction.
func (db *AuthDB) DeleteExpired(ctx context.Context, now time.Time, limit int) (int, error) {
	return sqlflow.DeleteExpired(ctx, db.beginAuthorize, now, limit)
}

// DeleteExpiredTokens deletes at most limit tokens and grant records that
// expired before now.
func (t flowTx) DeleteExpiredTokens(ctx context.Context, now time.Time, limit int) (int, error) {
	// SQLite has DELETE ... LIMIT only as a compile-time option.
	n, err := rowsAffected(t.tx.ExecContext(ctx, `
		DELETE FROM tokens WHERE hash IN (
			SELECT hash FROM tokens WHERE expires_at < ? LIMIT ?)`,
		micros(now), limit))
	if err != nil || n >= limit {
		return n, err
	}
	m, err := rowsAffected(t.tx.ExecContext(ctx, `
		DELETE FROM grants WHERE id IN (
			SELECT id FROM grants WHERE refresh_expires_at < ? LIMIT ?)`,
		micros(now), limit-n))
	return n + m, err
}

func rowsAffected(res sql.Result, err error) (int, error) {
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

// InsertTokens inserts access tokens and spent legacy refresh tokens as
// rows, and starts a grant record for each other refresh token.
func (t flowTx) InsertTokens(ctx context.Context, tokens []store.Token) error {
	for _, tok := range tokens {
		var err error
		if tok.Kind == store.RefreshToken && !tok.Rotated {
			_, err = t.exec(ctx, insertGrant,
				tok.FamilyID, tok.ClientID, tok.Username, tok.Scope, micros(tok.IssuedAt), tok.Hash, micros(tok.IssuedAt), micros(tok.ExpiresAt),
				tok.Audience, tok.JKT)
		} else {
			_, err = t.exec(ctx, insertToken,
				tok.Hash, tok.Kind, tok.FamilyID, tok.ClientID, tok.Username, tok.Scope,
				micros(tok.IssuedAt), micros(tok.ExpiresAt), boolInt(tok.Rotated), tok.Audience, tok.JKT)
		}
		if err != nil {
			return fmt.Errorf("insert %s of client %q: %w", tok.Kind, tok.ClientID, translate(err))
		}
	}
	return nil
}

const (
	insertGrant = `
		INSERT INTO grants (id, client_id, username, scope, created_at, refresh_hash, refresh_issued_at, refresh_expires_at, audience, jkt)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	insertToken = `
		INSERT INTO tokens (hash, kind, family_id, client_id, username, scope, issued_at, expires_at, rotated, audience, jkt)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
)

// scanToken reads the columns selectToken selects, then any extra ones
// into extra; GrantedAt is 0 for a row of tokens.
func scanToken(row scanner, extra ...any) (store.Token, error) {
	var (
		t                              store.Token
		issuedAt, expiresAt, grantedAt int64
	)
	dest := append([]any{&t.Hash, &t.Kind, &t.FamilyID, &t.ClientID, &t.Username, &t.Scope, &issuedAt, &expiresAt, &t.Rotated, &grantedAt,
		&t.Audience, &t.JKT}, extra...)
	err := row.Scan(dest...)
	if err != nil {
		return store.Token{}, err
	}
	t.IssuedAt, t.ExpiresAt = fromMicros(issuedAt), fromMicros(expiresAt)
	if grantedAt != 0 {
		t.GrantedAt = fromMicros(grantedAt)
	}
	return t, nil
}

func getGrant(ctx context.Context, q querier, familyID string) (t store.Token, legacy bool, err error) {
	var (
		issuedAt, expiresAt, grantedAt int64
	)
	err = q.QueryRowContext(ctx, `
		SELECT refresh_hash, client_id, username, scope, refresh_issued_at, refresh_expires_at, created_at, legacy, audience, jkt
		FROM grants WHERE id = ?`, familyID).
		Scan(&t.Hash, &t.ClientID, &t.Username, &t.Scope, &issuedAt, &expiresAt, &grantedAt, &legacy, &t.Audience, &t.JKT)
	if err != nil {
		return store.Token{}, false, err
	}
	t.Kind, t.FamilyID = store.RefreshToken, familyID
	t.IssuedAt, t.ExpiresAt, t.GrantedAt = fromMicros(issuedAt), fromMicros(expiresAt), fromMicros(grantedAt)
	return t, legacy, nil
}

// LockGrant returns the grant's current refresh token; the IMMEDIATE
// transaction already holds the write lock.
func (t flowTx) LockGrant(ctx context.Context, familyID string) (store.Token, bool, error) {
	tok, legacy, err := getGrant(ctx, t.tx, familyID)
	return tok, legacy, translate(err)
}

// ReplaceRefreshToken makes tok the current refresh token of its grant.
func (t flowTx) ReplaceRefreshToken(ctx context.Context, tok store.Token) error {
	_, err := t.tx.ExecContext(ctx, `
		UPDATE grants SET refresh_hash = ?, refresh_issued_at = ?, refresh_expires_at = ?,
			generation = generation + 1, legacy = 0
		WHERE id = ?`,
		tok.Hash, micros(tok.IssuedAt), micros(tok.ExpiresAt), tok.FamilyID)
	if err != nil {
		return fmt.Errorf("replace refresh token: %w", translate(err))
	}
	return nil
}

// RevokeFamily deletes the grant and its tokens; the IMMEDIATE transaction
// holds the write lock, so no rotation can commit into it meanwhile.
func (t flowTx) RevokeFamily(ctx context.Context, familyID string) error {
	if _, err := t.tx.ExecContext(ctx, `DELETE FROM grants WHERE id = ?`, familyID); err != nil {
		return err
	}
	_, err := t.tx.ExecContext(ctx, `DELETE FROM tokens WHERE family_id = ?`, familyID)
	return err
}

// RevokeUser deletes every authorization code, device authorization,
// grant, token and session of username.
func (t flowTx) RevokeUser(ctx context.Context, username string) error {
	for _, q := range []string{
		`DELETE FROM auth_codes WHERE username = ?`,
		`DELETE FROM device_grants WHERE username = ?`,
		`DELETE FROM grants WHERE username = ?`,
		`DELETE FROM tokens WHERE username = ?`,
		`DELETE FROM sessions WHERE username = ?`,
	} {
		if _, err := t.tx.ExecContext(ctx, q, username); err != nil {
			return err
		}
	}
	return nil
}

// RevokeClient deletes every authorization code, device authorization,
// grant and token of clientID: no code or device authorization issued
// before can start a grant after.
func (t flowTx) RevokeClient(ctx context.Context, clientID string) error {
	for _, q := range []string{
		`DELETE FROM auth_codes WHERE client_id = ?`,
		`DELETE FROM device_grants WHERE client_id = ?`,
		`DELETE FROM grants WHERE client_id = ?`,
		`DELETE FROM tokens WHERE client_id = ?`,
	} {
		if _, err := t.tx.ExecContext(ctx, q, clientID); err != nil {
			return err
		}
	}
	return nil
}

// DeleteAccessTokens deletes the access tokens of familyID.
func (t flowTx) DeleteAccessTokens(ctx context.Context, familyID string) error {
	_, err := t.tx.ExecContext(ctx, `
		DELETE FROM tokens WHERE family_id = ? AND kind = ?`,
		familyID, store.AccessToken)
	return err
}
