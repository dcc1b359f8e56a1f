package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/example/authsvc/store"
)

// CreateClient inserts c; store.ErrAlreadyExists if the id is taken by a
// client or a user (the names table's trigger, migration 00003).
func (db *AuthDB) CreateClient(ctx context.Context, c store.Client) error {
	var secretHash []byte // NULL marks a public client
	if len(c.SecretHash) > 0 {
		secretHash = c.SecretHash
	}
	_, err := db.pool.Exec(ctx, `
		INSERT INTO clients (id, secret_hash, grant_types, scopes, introspect, created_at, version, redirect_uris, first_party,
			access_token_format, require_dpop, resources)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		c.ID, secretHash, list(c.GrantTypes), list(c.Scopes), c.Introspect, c.CreatedAt, store.NewVersion(), list(c.RedirectURIs), c.FirstParty,
		tokenFormat(c), c.RequireDPoP, list(c.Resources))
	if err != nil {
		return fmt.Errorf("create client %q: %w", c.ID, translate(err))
	}
	return nil
}

// GetClient returns the client; store.ErrNotFound if there is none.
func (db *AuthDB) GetClient(ctx context.Context, id string) (store.Client, error) {
	c, err := scanClient(db.pool.QueryRow(ctx, `
		SELECT `+clientColumns+`
		FROM clients WHERE id = $1`, id))
	if err != nil {
		return store.Client{}, fmt.Errorf("get client %q: %w", id, translate(err))
	}
	return c, nil
}

// ListClients returns every client by id (byte order).
func (db *AuthDB) ListClients(ctx context.Context) ([]store.Client, error) {
	rows, err := db.pool.Query(ctx, `
		SELECT `+clientColumns+`
		FROM clients ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list clients: %w", translate(err))
	}
	clients, err := collect(rows, scanClient)
	if err != nil {
		return nil, fmt.Errorf("list clients: %w", translate(err))
	}
	return clients, nil
}

func scanClient(row pgx.Row) (store.Client, error) { return scanClientAnd(row) }

// scanClientAnd reads a client's columns, then any extra ones the query
// selected after them.
func scanClientAnd(row pgx.Row, extra ...any) (store.Client, error) {
	var c store.Client
	dest := append([]any{&c.ID, &c.SecretHash, &c.GrantTypes, &c.Scopes, &c.Introspect, &c.CreatedAt, &c.Version, &c.RedirectURIs, &c.FirstParty,
		&c.AccessTokenFormat, &c.RequireDPoP, &c.Resources}, extra...)
	if err := row.Scan(dest...); err != nil {
		return store.Client{}, err
	}
	// As on store/sqlite, a list reads back empty, never nil.
	c.GrantTypes, c.Scopes, c.RedirectURIs, c.Resources = list(c.GrantTypes), list(c.Scopes), list(c.RedirectURIs), list(c.Resources)
	c.CreatedAt = c.CreatedAt.UTC()
	return c, nil
}

// clientColumns are what scanClient reads, in its order (c. prefixed in
// clientColumnsC for a join).
const (
	clientColumns = `id, secret_hash, grant_types, scopes, introspect, created_at, version, redirect_uris, first_party,
		access_token_format, require_dpop, resources`
	clientColumnsC = `c.id, c.secret_hash, c.grant_types, c.scopes, c.introspect, c.created_at, c.version, c.redirect_uris, c.first_party,
		c.access_token_format, c.require_dpop, c.resources`
)

// tokenFormat is the stored form of c's access-token format: "" is opaque.
func tokenFormat(c store.Client) string {
	if c.AccessTokenFormat == "" {
		return store.AccessTokenOpaque
	}
	return c.AccessTokenFormat
}

// list turns nil into an empty list: the columns are NOT NULL, and pgx sends
// a nil slice as NULL.
func list(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}
