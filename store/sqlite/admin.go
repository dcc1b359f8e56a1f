package sqlite

import (
	"context"
	"fmt"

	"github.com/example/authsvc/store"
	"github.com/example/authsvc/store/internal/sqlflow"
)

// DeleteUser removes username with its grants, tokens and login record.
func (db *AuthDB) DeleteUser(ctx context.Context, username string) error {
	return sqlflow.DeleteUser(ctx, db.begin, username)
}

// UpdateClient replaces c.ID's secret hash, grants, scopes and introspect
// flag, ending its grants if that narrows them; see store.Clients.
func (db *AuthDB) UpdateClient(ctx context.Context, c store.Client) error {
	return sqlflow.UpdateClient(ctx, db.begin, c)
}

// DeleteClient removes clientID with its grants and tokens.
func (db *AuthDB) DeleteClient(ctx context.Context, clientID string) error {
	return sqlflow.DeleteClient(ctx, db.begin, clientID)
}

// DeleteUserRecord deletes username's row and login record.
func (t flowTx) DeleteUserRecord(ctx context.Context, username string) error {
	if _, err := t.tx.ExecContext(ctx, `DELETE FROM users WHERE username = ?`, username); err != nil {
		return fmt.Errorf("delete user: %w", err)
	}
	if _, err := t.tx.ExecContext(ctx, `DELETE FROM logins WHERE username = ?`, username); err != nil {
		return fmt.Errorf("delete login record: %w", err)
	}
	return nil
}

// LockClient returns clientID's record; the IMMEDIATE transaction already
// holds the write lock.
func (t flowTx) LockClient(ctx context.Context, clientID string) (store.Client, error) {
	c, err := scanClient(t.tx.QueryRowContext(ctx, selectClient, clientID))
	return c, translate(err)
}

// SaveClient stores c's secret hash, grants, scopes, introspect flag and
// version.
func (t flowTx) SaveClient(ctx context.Context, c store.Client) error {
	grantTypes, err := encodeList(c.GrantTypes)
	if err != nil {
		return fmt.Errorf("grant types: %w", err)
	}
	scopes, err := encodeList(c.Scopes)
	if err != nil {
		return fmt.Errorf("scopes: %w", err)
	}
	redirects, err := encodeList(c.RedirectURIs)
	if err != nil {
		return fmt.Errorf("redirect URIs: %w", err)
	}
	resources, err := encodeList(c.Resources)
	if err != nil {
		return fmt.Errorf("resources: %w", err)
	}
	var secretHash []byte // NULL marks a public client
	if len(c.SecretHash) > 0 {
		secretHash = c.SecretHash
	}
	_, err = t.tx.ExecContext(ctx, `
		UPDATE clients SET secret_hash = ?, grant_types = ?, scopes = ?, introspect = ?, version = ?, redirect_uris = ?, first_party = ?,
			access_token_format = ?, require_dpop = ?, resources = ?
		WHERE id = ?`,
		secretHash, grantTypes, scopes, boolInt(c.Introspect), c.Version, redirects, boolInt(c.FirstParty),
		tokenFormat(c), boolInt(c.RequireDPoP), resources, c.ID)
	return translate(err)
}

// DeleteClientRecord deletes clientID's row.
func (t flowTx) DeleteClientRecord(ctx context.Context, clientID string) error {
	_, err := t.tx.ExecContext(ctx, `DELETE FROM clients WHERE id = ?`, clientID)
	return translate(err)
}
