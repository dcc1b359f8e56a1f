package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/example/authsvc/store"
	"github.com/example/authsvc/store/internal/sqlflow"
)

// Browser and device login (store.Authorizations). Single-statement methods
// run on their own; the redemptions and polls are sqlflow's flows, which
// lock the code or device row FOR UPDATE after the principals (the lock
// order of sqlflow.Tx), so concurrent ones on any replica take turns and
// READ COMMITTED hands each the row as the previous one committed it.

var _ sqlflow.AuthorizeTx = flowTx{}

func (db *AuthDB) beginAuthorize(ctx context.Context) (sqlflow.AuthorizeTx, error) {
	tx, err := db.pool.BeginTx(ctx, txOptions)
	if err != nil {
		return nil, translate(err)
	}
	return flowTx{tx}, nil
}

// CreateAuthCode stores c; store.ErrAlreadyExists if its hash is taken.
func (db *AuthDB) CreateAuthCode(ctx context.Context, c store.AuthCode) error {
	_, err := db.pool.Exec(ctx, `
		INSERT INTO auth_codes (hash, client_id, username, user_version, redirect_uri, challenge, scope, family_id, issued_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		c.Hash, c.ClientID, c.Username, c.UserVersion, c.RedirectURI, c.Challenge, c.Scope, c.FamilyID, c.IssuedAt, c.ExpiresAt)
	if err != nil {
		return fmt.Errorf("create authorization code of client %q: %w", c.ClientID, translate(err))
	}
	return nil
}

const selectAuthCode = `
	SELECT hash, client_id, username, user_version, redirect_uri, challenge, scope, family_id, issued_at, expires_at, redeemed
	FROM auth_codes WHERE hash = $1`

func scanAuthCode(row pgx.Row) (store.AuthCode, error) {
	var c store.AuthCode
	err := row.Scan(&c.Hash, &c.ClientID, &c.Username, &c.UserVersion, &c.RedirectURI, &c.Challenge, &c.Scope, &c.FamilyID, &c.IssuedAt, &c.ExpiresAt, &c.Redeemed)
	if err != nil {
		return store.AuthCode{}, translate(err)
	}
	c.IssuedAt, c.ExpiresAt = c.IssuedAt.UTC(), c.ExpiresAt.UTC()
	return c, nil
}

// GetAuthCode returns the code whatever its state; store.ErrNotFound.
func (db *AuthDB) GetAuthCode(ctx context.Context, hash string) (store.AuthCode, error) {
	c, err := scanAuthCode(db.pool.QueryRow(ctx, selectAuthCode, hash))
	if err != nil {
		return store.AuthCode{}, fmt.Errorf("get authorization code: %w", err)
	}
	return c, nil
}

// RedeemAuthCode: see store.Authorizations.
func (db *AuthDB) RedeemAuthCode(ctx context.Context, hash string, now time.Time, v store.Versions, tokens ...store.Token) error {
	return db.retry(ctx, func() error {
		return sqlflow.RedeemAuthCode(ctx, db.beginAuthorize, hash, now, v, tokens)
	})
}

// LockAuthCode reads the code FOR UPDATE.
func (t flowTx) LockAuthCode(ctx context.Context, hash string) (store.AuthCode, error) {
	return scanAuthCode(t.tx.QueryRow(ctx, selectAuthCode+` FOR UPDATE`, hash))
}

// MarkAuthCodeRedeemed marks the code redeemed.
func (t flowTx) MarkAuthCodeRedeemed(ctx context.Context, hash string) error {
	_, err := t.tx.Exec(ctx, `UPDATE auth_codes SET redeemed = true WHERE hash = $1`, hash)
	return translate(err)
}

// CreateDeviceGrant stores d; store.ErrAlreadyExists if its hash or user
// code is taken.
func (db *AuthDB) CreateDeviceGrant(ctx context.Context, d store.DeviceGrant) error {
	_, err := db.pool.Exec(ctx, `
		INSERT INTO device_grants (hash, user_code_hash, client_id, scope, issued_at, expires_at, interval_us, status, family_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		d.Hash, d.UserCodeHash, d.ClientID, d.Scope, d.IssuedAt, d.ExpiresAt, d.Interval.Microseconds(), string(store.DevicePending), d.FamilyID)
	if err != nil {
		return fmt.Errorf("create device authorization of client %q: %w", d.ClientID, translate(err))
	}
	return nil
}

const selectDeviceGrant = `
	SELECT hash, user_code_hash, client_id, scope, issued_at, expires_at, interval_us, last_polled_at, status, username, user_version, family_id
	FROM device_grants`

func scanDeviceGrant(row pgx.Row) (store.DeviceGrant, error) {
	var (
		d        store.DeviceGrant
		interval int64
		polledAt *time.Time
		status   string
	)
	err := row.Scan(&d.Hash, &d.UserCodeHash, &d.ClientID, &d.Scope, &d.IssuedAt, &d.ExpiresAt, &interval, &polledAt, &status, &d.Username, &d.UserVersion, &d.FamilyID)
	if err != nil {
		return store.DeviceGrant{}, translate(err)
	}
	d.Status = store.DeviceStatus(status)
	d.IssuedAt, d.ExpiresAt, d.Interval = d.IssuedAt.UTC(), d.ExpiresAt.UTC(), time.Duration(interval)*time.Microsecond
	if polledAt != nil {
		d.LastPolledAt = polledAt.UTC()
	}
	return d, nil
}

// GetDeviceGrantByUserCode returns the pending, unexpired device
// authorization of a user code; store.ErrNotFound.
func (db *AuthDB) GetDeviceGrantByUserCode(ctx context.Context, userCodeHash string, now time.Time) (store.DeviceGrant, error) {
	d, err := scanDeviceGrant(db.pool.QueryRow(ctx, selectDeviceGrant+`
		WHERE user_code_hash = $1 AND status = 'pending' AND expires_at > $2`, userCodeHash, now))
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
	tag, err := db.pool.Exec(ctx, `
		UPDATE device_grants SET status = $1, username = $2, user_version = $3
		WHERE user_code_hash = $4 AND status = 'pending' AND expires_at > $5`,
		string(status), user, version, userCodeHash, now)
	if err != nil {
		return fmt.Errorf("decide device authorization: %w", translate(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("decide device authorization: %w", store.ErrNotFound)
	}
	return nil
}

// PollDeviceGrant: see store.Authorizations.
func (db *AuthDB) PollDeviceGrant(ctx context.Context, hash string, now time.Time) (d store.DeviceGrant, slowDown bool, err error) {
	err = db.retry(ctx, func() (err error) {
		d, slowDown, err = sqlflow.PollDeviceGrant(ctx, db.beginAuthorize, hash, now)
		return err
	})
	return d, slowDown, err
}

// RedeemDeviceGrant: see store.Authorizations.
func (db *AuthDB) RedeemDeviceGrant(ctx context.Context, hash string, now time.Time, v store.Versions, tokens ...store.Token) error {
	return db.retry(ctx, func() error {
		return sqlflow.RedeemDeviceGrant(ctx, db.beginAuthorize, hash, now, v, tokens)
	})
}

// LockDeviceGrant reads the device authorization FOR UPDATE.
func (t flowTx) LockDeviceGrant(ctx context.Context, hash string) (store.DeviceGrant, error) {
	return scanDeviceGrant(t.tx.QueryRow(ctx, selectDeviceGrant+` WHERE hash = $1 FOR UPDATE`, hash))
}

// SaveDevicePoll stores the last poll and the interval.
func (t flowTx) SaveDevicePoll(ctx context.Context, hash string, polledAt time.Time, interval time.Duration) error {
	_, err := t.tx.Exec(ctx, `UPDATE device_grants SET last_polled_at = $1, interval_us = $2 WHERE hash = $3`,
		polledAt, interval.Microseconds(), hash)
	return translate(err)
}

// DeleteDeviceGrant deletes the device authorization.
func (t flowTx) DeleteDeviceGrant(ctx context.Context, hash string) error {
	_, err := t.tx.Exec(ctx, `DELETE FROM device_grants WHERE hash = $1`, hash)
	return translate(err)
}

// CreateSession stores s; store.ErrAlreadyExists if its hash is taken.
func (db *AuthDB) CreateSession(ctx context.Context, s store.Session) error {
	_, err := db.pool.Exec(ctx, `
		INSERT INTO sessions (hash, username, user_version, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)`,
		s.Hash, s.Username, s.UserVersion, s.CreatedAt, s.ExpiresAt)
	if err != nil {
		return fmt.Errorf("create session of user %q: %w", s.Username, translate(err))
	}
	return nil
}

// GetSession returns the session whatever its expiry; store.ErrNotFound.
func (db *AuthDB) GetSession(ctx context.Context, hash string) (store.Session, error) {
	var s store.Session
	err := db.pool.QueryRow(ctx, `
		SELECT hash, username, user_version, created_at, expires_at FROM sessions WHERE hash = $1`, hash).
		Scan(&s.Hash, &s.Username, &s.UserVersion, &s.CreatedAt, &s.ExpiresAt)
	if err != nil {
		return store.Session{}, fmt.Errorf("get session: %w", translate(err))
	}
	s.CreatedAt, s.ExpiresAt = s.CreatedAt.UTC(), s.ExpiresAt.UTC()
	return s, nil
}

// DeleteSession ends a session; no error if there is none.
func (db *AuthDB) DeleteSession(ctx context.Context, hash string) error {
	if _, err := db.pool.Exec(ctx, `DELETE FROM sessions WHERE hash = $1`, hash); err != nil {
		return fmt.Errorf("delete session: %w", translate(err))
	}
	return nil
}

// GetConsent returns the consent of username for clientID whatever its
// expiry; store.ErrNotFound.
func (db *AuthDB) GetConsent(ctx context.Context, username, clientID string) (store.Consent, error) {
	c := store.Consent{Username: username, ClientID: clientID}
	err := db.pool.QueryRow(ctx, `
		SELECT scopes, granted_at, expires_at FROM consents WHERE username = $1 AND client_id = $2`, username, clientID).
		Scan(&c.Scopes, &c.GrantedAt, &c.ExpiresAt)
	if err != nil {
		return store.Consent{}, fmt.Errorf("get consent of user %q for client %q: %w", username, clientID, translate(err))
	}
	c.Scopes, c.GrantedAt, c.ExpiresAt = list(c.Scopes), c.GrantedAt.UTC(), c.ExpiresAt.UTC()
	return c, nil
}

// SaveConsent records c, replacing the consent of its user and client.
func (db *AuthDB) SaveConsent(ctx context.Context, c store.Consent) error {
	_, err := db.pool.Exec(ctx, `
		INSERT INTO consents (username, client_id, scopes, granted_at, expires_at) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (username, client_id) DO UPDATE SET scopes = excluded.scopes, granted_at = excluded.granted_at, expires_at = excluded.expires_at`,
		c.Username, c.ClientID, list(c.Scopes), c.GrantedAt, c.ExpiresAt)
	if err != nil {
		return fmt.Errorf("save consent of user %q for client %q: %w", c.Username, c.ClientID, translate(err))
	}
	return nil
}

// RevokeConsent forgets a consent; no error if there is none.
func (db *AuthDB) RevokeConsent(ctx context.Context, username, clientID string) error {
	_, err := db.pool.Exec(ctx, `DELETE FROM consents WHERE username = $1 AND client_id = $2`, username, clientID)
	if err != nil {
		return fmt.Errorf("revoke consent of user %q for client %q: %w", username, clientID, translate(err))
	}
	return nil
}

// DeleteExpiredAuthorizations deletes at most limit expired rows of each
// table of browser and device login, skipping rows a request holds.
func (t flowTx) DeleteExpiredAuthorizations(ctx context.Context, now time.Time, limit int) (int, error) {
	total := 0
	for _, q := range []string{
		`DELETE FROM auth_codes WHERE hash IN (SELECT hash FROM auth_codes WHERE expires_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`,
		`DELETE FROM device_grants WHERE hash IN (SELECT hash FROM device_grants WHERE expires_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`,
		`DELETE FROM sessions WHERE hash IN (SELECT hash FROM sessions WHERE expires_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`,
		`DELETE FROM consents WHERE (username, client_id) IN (
			SELECT username, client_id FROM consents WHERE expires_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`,
	} {
		tag, err := t.tx.Exec(ctx, q, now, limit)
		if err != nil {
			return total, translate(err)
		}
		total += int(tag.RowsAffected())
	}
	return total, nil
}
