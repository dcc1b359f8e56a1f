package postgres

import (
	"context"
	"fmt"

	"github.com/example/authsvc/store"
	"github.com/example/authsvc/store/internal/sqlflow"
)

// DeleteUser removes username with its grants, tokens and login record.
func (db *AuthDB) DeleteUser(ctx context.Context, username string) error {
	return db.retry(ctx, func() error { return sqlflow.DeleteUser(ctx, db.begin, username) })
}

// UpdateClient replaces c.ID's secret hash, grants, scopes and introspect
// flag, ending its grants if that narrows them; see store.Clients.
func (db *AuthDB) UpdateClient(ctx context.Context, c store.Client) error {
	return db.retry(ctx, func() error { return sqlflow.UpdateClient(ctx, db.begin, c) })
}

// DeleteClient removes clientID with its grants and tokens.
func (db *AuthDB) DeleteClient(ctx context.Context, clientID string) error {
	return db.retry(ctx, func() error { return sqlflow.DeleteClient(ctx, db.begin, clientID) })
}

// DeleteUserRecord deletes username's row and login record.
func (t flowTx) DeleteUserRecord(ctx context.Context, username string) error {
	if _, err := t.tx.Exec(ctx, `DELETE FROM users WHERE username = $1`, username); err != nil {
		return fmt.Errorf("delete user: %w", translate(err))
	}
	if _, err := t.tx.Exec(ctx, `DELETE FROM logins WHERE username = $1`, username); err != nil {
		return fmt.Errorf("delete login record: %w", translate(err))
	}
	return nil
}

// LockClient returns clientID's record locked FOR UPDATE: another change of
// the client waits, and so does an issuance for it, whose KEY SHARE lock
// (LockPrincipals) then reads the version this change commits.
func (t flowTx) LockClient(ctx context.Context, clientID string) (store.Client, error) {
	c, err := scanClient(t.tx.QueryRow(ctx, `
		SELECT `+clientColumns+`
		FROM clients WHERE id = $1 FOR UPDATE`, clientID))
	return c, translate(err)
}

// SaveClient stores c's secret hash, grants, scopes, introspect flag and
// version.
func (t flowTx) SaveClient(ctx context.Context, c store.Client) error {
	var secretHash []byte // NULL marks a public client
	if len(c.SecretHash) > 0 {
		secretHash = c.SecretHash
	}
	_, err := t.tx.Exec(ctx, `
		UPDATE clients SET secret_hash = $1, grant_types = $2, scopes = $3, introspect = $4, version = $5,
			redirect_uris = $6, first_party = $7, access_token_format = $8, require_dpop = $9, resources = $10
		WHERE id = $11`,
		secretHash, list(c.GrantTypes), list(c.Scopes), c.Introspect, c.Version, list(c.RedirectURIs), c.FirstParty,
		tokenFormat(c), c.RequireDPoP, list(c.Resources), c.ID)
	return translate(err)
}

// DeleteClientRecord deletes clientID's row.
func (t flowTx) DeleteClientRecord(ctx context.Context, clientID string) error {
	_, err := t.tx.Exec(ctx, `DELETE FROM clients WHERE id = $1`, clientID)
	return translate(err)
}
