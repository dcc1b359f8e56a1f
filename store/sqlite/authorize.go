package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/example/authsvc/store"
	"github.com/example/authsvc/store/internal/sqlflow"
)

// Browser and device login (store.Authorizations). Single-statement methods
// run on their own; the redemptions and polls are sqlflow's flows, whose
// IMMEDIATE transactions hold the write lock, so concurrent ones take turns.

var _ sqlflow.AuthorizeTx = flowTx{}

// beginAuthorize is begin for the flows of sqlflow.AuthorizeTx.
func (db *AuthDB) beginAuthorize(ctx context.Context) (sqlflow.AuthorizeTx, error) {
	tx, err := db.beginQueued(ctx)
	if err != nil {
		return nil, err // not a typed nil inside the interface
	}
	return tx, nil
}

// CreateAuthCode stores c; store.ErrAlreadyExists if its hash is taken.
func (db *AuthDB) CreateAuthCode(ctx context.Context, c store.AuthCode) error {
	_, err := db.db.ExecContext(ctx, `
		INSERT INTO auth_codes (hash, client_id, username, user_version, redirect_uri, challenge, scope, family_id, issued_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.Hash, c.ClientID, c.Username, c.UserVersion, c.RedirectURI, c.Challenge, c.Scope, c.FamilyID, micros(c.IssuedAt), micros(c.ExpiresAt))
	if err != nil {
		return fmt.Errorf("create authorization code of client %q: %w", c.ClientID, translate(err))
	}
	return nil
}

const selectAuthCode = `
	SELECT hash, client_id, username, user_version, redirect_uri, challenge, scope, family_id, issued_at, expires_at, redeemed
	FROM auth_codes WHERE hash = ?`

func scanAuthCode(row scanner) (store.AuthCode, error) {
	var (
		c                   store.AuthCode
		issuedAt, expiresAt int64
	)
	err := row.Scan(&c.Hash, &c.ClientID, &c.Username, &c.UserVersion, &c.RedirectURI, &c.Challenge, &c.Scope, &c.FamilyID, &issuedAt, &expiresAt, &c.Redeemed)
	if err != nil {
		return store.AuthCode{}, translate(err)
	}
	c.IssuedAt, c.ExpiresAt = fromMicros(issuedAt), fromMicros(expiresAt)
	return c, nil
}

// GetAuthCode returns the code whatever its state; store.ErrNotFound.
func (db *AuthDB) GetAuthCode(ctx context.Context, hash string) (store.AuthCode, error) {
	c, err := scanAuthCode(db.db.QueryRowContext(ctx, selectAuthCode, hash))
	if err != nil {
		return store.AuthCode{}, fmt.Errorf("get authorization code: %w", err)
	}
	return c, nil
}

// RedeemAuthCode: see store.Authorizations.
func (db *AuthDB) RedeemAuthCode(ctx context.Context, hash string, now time.Time, v store.Versions, tokens ...store.Token) error {
	return sqlflow.RedeemAuthCode(ctx, db.beginAuthorize, hash, now, v, tokens)
}

// LockAuthCode reads the code; the IMMEDIATE transaction holds the write
// lock already.
func (t flowTx) LockAuthCode(ctx context.Context, hash string) (store.AuthCode, error) {
	return scanAuthCode(t.tx.QueryRowContext(ctx, selectAuthCode, hash))
}

// MarkAuthCodeRedeemed marks the code redeemed.
func (t flowTx) MarkAuthCodeRedeemed(ctx context.Context, hash string) error {
	_, err := t.tx.ExecContext(ctx, `UPDATE auth_codes SET redeemed = 1 WHERE hash = ?`, hash)
	return err
}

// CreateDeviceGrant stores d; store.ErrAlreadyExists if its hash or user
// code is taken.
func (db *AuthDB) CreateDeviceGrant(ctx context.Context, d store.DeviceGrant) error {
	_, err := db.db.ExecContext(ctx, `
		INSERT INTO device_grants (hash, user_code_hash, client_id, scope, issued_at, expires_at, interval_us, status, family_id)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		d.Hash, d.UserCodeHash, d.ClientID, d.Scope, micros(d.IssuedAt), micros(d.ExpiresAt), d.Interval.Microseconds(), store.DevicePending, d.FamilyID)
	if err != nil {
		return fmt.Errorf("create device authorization of client %q: %w", d.ClientID, translate(err))
	}
	return nil
}

const selectDeviceGrant = `
	SELECT hash, user_code_hash, client_id, scope, issued_at, expires_at, interval_us, last_polled_at, status, username, user_version, family_id
	FROM device_grants`

func scanDeviceGrant(row scanner) (store.DeviceGrant, error) {
	var (
		d                             store.DeviceGrant
		issuedAt, expiresAt, polledAt int64
		interval                      int64
	)
	err := row.Scan(&d.Hash, &d.UserCodeHash, &d.ClientID, &d.Scope, &issuedAt, &expiresAt, &interval, &polledAt, &d.Status, &d.Username, &d.UserVersion, &d.FamilyID)
	if err != nil {
		return store.DeviceGrant{}, translate(err)
	}
	d.IssuedAt, d.ExpiresAt, d.Interval = fromMicros(issuedAt), fromMicros(expiresAt), time.Duration(interval)*time.Microsecond
	if polledAt != 0 {
		d.LastPolledAt = fromMicros(polledAt)
	}
	return d, nil
}

// GetDeviceGrantByUserCode returns the pending, unexpired device
// authorization of a user code; store.ErrNotFound.
func (db *AuthDB) GetDeviceGrantByUserCode(ctx context.Context, userCodeHash string, now time.Time) (store.DeviceGrant, error) {
	d, err := scanDeviceGrant(db.db.QueryRowContext(ctx, selectDeviceGrant+`
		WHERE user_code_hash = ? AND status = 'pending' AND expires_at > ?`, userCodeHash, micros(now)))
	if err != nil {
		return store.DeviceGrant{}, fmt.Errorf("get device authorization: %w", err)
	}
	return d, nil
}

// DecideDeviceGrant approves or denies a pending device authorization in
// one statement: of two decisions, the second finds it decided.
func (db *AuthDB) DecideDeviceGrant(ctx context.Context, userCodeHash string, now time.Time, approve bool, username string, userVersion int64) error {
	status, user, version := store.DeviceDenied, "", int64(0)
	if approve {
		status, user, version = store.DeviceApproved, username, userVersion
	}
	n, err := rowsAffected(db.db.ExecContext(ctx, `
		UPDATE device_grants SET status = ?, username = ?, user_version = ?
		WHERE user_code_hash = ? AND status = 'pending' AND expires_at > ?`,
		status, user, version, userCodeHash, micros(now)))
	if err != nil {
		return fmt.Errorf("decide device authorization: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("decide device authorization: %w", store.ErrNotFound)
	}
	return nil
}

// PollDeviceGrant: see store.Authorizations.
func (db *AuthDB) PollDeviceGrant(ctx context.Context, hash string, now time.Time) (store.DeviceGrant, bool, error) {
	return sqlflow.PollDeviceGrant(ctx, db.beginAuthorize, hash, now)
}

// RedeemDeviceGrant: see store.Authorizations.
func (db *AuthDB) RedeemDeviceGrant(ctx context.Context, hash string, now time.Time, v store.Versions, tokens ...store.Token) error {
	return sqlflow.RedeemDeviceGrant(ctx, db.beginAuthorize, hash, now, v, tokens)
}

// LockDeviceGrant reads the device authorization; the IMMEDIATE transaction
// holds the write lock already.
func (t flowTx) LockDeviceGrant(ctx context.Context, hash string) (store.DeviceGrant, error) {
	return scanDeviceGrant(t.tx.QueryRowContext(ctx, selectDeviceGrant+` WHERE hash = ?`, hash))
}

// SaveDevicePoll stores the last poll and the interval.
func (t flowTx) SaveDevicePoll(ctx context.Context, hash string, polledAt time.Time, interval time.Duration) error {
	_, err := t.tx.ExecContext(ctx, `UPDATE device_grants SET last_polled_at = ?, interval_us = ? WHERE hash = ?`,
		micros(polledAt), interval.Microseconds(), hash)
	return err
}

// DeleteDeviceGrant deletes the device authorization.
func (t flowTx) DeleteDeviceGrant(ctx context.Context, hash string) error {
	_, err := t.tx.ExecContext(ctx, `DELETE FROM device_grants WHERE hash = ?`, hash)
	return err
}

// CreateSession stores s; store.ErrAlreadyExists if its hash is taken.
func (db *AuthDB) CreateSession(ctx context.Context, s store.Session) error {
	_, err := db.db.ExecContext(ctx, `
		INSERT INTO sessions (hash, username, user_version, created_at, expires_at) VALUES (?, ?, ?, ?, ?)`,
		s.Hash, s.Username, s.UserVersion, micros(s.CreatedAt), micros(s.ExpiresAt))
	if err != nil {
		return fmt.Errorf("create session of user %q: %w", s.Username, translate(err))
	}
	return nil
}

// GetSession returns the session whatever its expiry; store.ErrNotFound.
func (db *AuthDB) GetSession(ctx context.Context, hash string) (store.Session, error) {
	var (
		s                    store.Session
		createdAt, expiresAt int64
	)
	err := db.db.QueryRowContext(ctx, `
		SELECT hash, username, user_version, created_at, expires_at FROM sessions WHERE hash = ?`, hash).
		Scan(&s.Hash, &s.Username, &s.UserVersion, &createdAt, &expiresAt)
	if err != nil {
		return store.Session{}, fmt.Errorf("get session: %w", translate(err))
	}
	s.CreatedAt, s.ExpiresAt = fromMicros(createdAt), fromMicros(expiresAt)
	return s, nil
}

// DeleteSession ends a session; no error if there is none.
func (db *AuthDB) DeleteSession(ctx context.Context, hash string) error {
	if _, err := db.db.ExecContext(ctx, `DELETE FROM sessions WHERE hash = ?`, hash); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// GetConsent returns the consent of username for clientID whatever its
// expiry; store.ErrNotFound.
func (db *AuthDB) GetConsent(ctx context.Context, username, clientID string) (store.Consent, error) {
	var (
		c                    = store.Consent{Username: username, ClientID: clientID}
		scopes               string
		grantedAt, expiresAt int64
	)
	err := db.db.QueryRowContext(ctx, `
		SELECT scopes, granted_at, expires_at FROM consents WHERE username = ? AND client_id = ?`, username, clientID).
		Scan(&scopes, &grantedAt, &expiresAt)
	if err != nil {
		return store.Consent{}, fmt.Errorf("get consent of user %q for client %q: %w", username, clientID, translate(err))
	}
	if err := json.Unmarshal([]byte(scopes), &c.Scopes); err != nil {
		return store.Consent{}, fmt.Errorf("consent of user %q for client %q: scopes: %w", username, clientID, err)
	}
	c.GrantedAt, c.ExpiresAt = fromMicros(grantedAt), fromMicros(expiresAt)
	return c, nil
}

// SaveConsent records c, replacing the consent of its user and client.
func (db *AuthDB) SaveConsent(ctx context.Context, c store.Consent) error {
	scopes, err := encodeList(c.Scopes)
	if err != nil {
		return fmt.Errorf("save consent: scopes: %w", err)
	}
	_, err = db.db.ExecContext(ctx, `
		INSERT INTO consents (username, client_id, scopes, granted_at, expires_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (username, client_id) DO UPDATE SET scopes = excluded.scopes, granted_at = excluded.granted_at, expires_at = excluded.expires_at`,
		c.Username, c.ClientID, scopes, micros(c.GrantedAt), micros(c.ExpiresAt))
	if err != nil {
		return fmt.Errorf("save consent of user %q for client %q: %w", c.Username, c.ClientID, translate(err))
	}
	return nil
}

// RevokeConsent forgets a consent; no error if there is none.
func (db *AuthDB) RevokeConsent(ctx context.Context, username, clientID string) error {
	_, err := db.db.ExecContext(ctx, `DELETE FROM consents WHERE username = ? AND client_id = ?`, username, clientID)
	if err != nil {
		return fmt.Errorf("revoke consent of user %q for client %q: %w", username, clientID, err)
	}
	return nil
}

// DeleteExpiredAuthorizations deletes at most limit expired rows of each
// table of browser and device login.
func (t flowTx) DeleteExpiredAuthorizations(ctx context.Context, now time.Time, limit int) (int, error) {
	total := 0
	for _, q := range []string{
		`DELETE FROM auth_codes WHERE hash IN (SELECT hash FROM auth_codes WHERE expires_at < ? LIMIT ?)`,
		`DELETE FROM device_grants WHERE hash IN (SELECT hash FROM device_grants WHERE expires_at < ? LIMIT ?)`,
		`DELETE FROM sessions WHERE hash IN (SELECT hash FROM sessions WHERE expires_at < ? LIMIT ?)`,
		`DELETE FROM consents WHERE rowid IN (SELECT rowid FROM consents WHERE expires_at < ? LIMIT ?)`,
	} {
		n, err := rowsAffected(t.tx.ExecContext(ctx, q, micros(now), limit))
		if err != nil {
			return total, err
		}
		total += n
	}
	return total, nil
}
