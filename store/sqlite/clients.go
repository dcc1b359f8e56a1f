package sqlite

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/example/authsvc/store"
)

// CreateClient inserts c; store.ErrAlreadyExists if the id is taken by a
// client or a user (the names table's trigger, migration 00003).
func (db *AuthDB) CreateClient(ctx context.Context, c store.Client) error {
	grantTypes, err := encodeList(c.GrantTypes)
	if err != nil {
		return fmt.Errorf("create client %q: grant types: %w", c.ID, err)
	}
	scopes, err := encodeList(c.Scopes)
	if err != nil {
		return fmt.Errorf("create client %q: scopes: %w", c.ID, err)
	}
	var secretHash []byte // NULL marks a public client
	if len(c.SecretHash) > 0 {
		secretHash = c.SecretHash
	}
	redirects, err := encodeList(c.RedirectURIs)
	if err != nil {
		return fmt.Errorf("create client %q: redirect URIs: %w", c.ID, err)
	}
	resources, err := encodeList(c.Resources)
	if err != nil {
		return fmt.Errorf("create client %q: resources: %w", c.ID, err)
	}
	_, err = db.db.ExecContext(ctx, `
		INSERT INTO clients (id, secret_hash, grant_types, scopes, introspect, created_at, version, redirect_uris, first_party,
			access_token_format, require_dpop, resources)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, secretHash, grantTypes, scopes, boolInt(c.Introspect), micros(c.CreatedAt), store.NewVersion(), redirects, boolInt(c.FirstParty),
		tokenFormat(c), boolInt(c.RequireDPoP), resources)
	if err != nil {
		return fmt.Errorf("create client %q: %w", c.ID, translate(err))
	}
	return nil
}

// GetClient returns the client; store.ErrNotFound if there is none.
func (db *AuthDB) GetClient(ctx context.Context, id string) (store.Client, error) {
	c, err := scanClient(db.queryRow(ctx, selectClient, id))
	if err != nil {
		return store.Client{}, fmt.Errorf("get client %q: %w", id, translate(err))
	}
	return c, nil
}

const selectClient = `
		SELECT id, secret_hash, grant_types, scopes, introspect, created_at, version, redirect_uris, first_party,
			access_token_format, require_dpop, resources
		FROM clients WHERE id = ?`

// ListClients returns every client by id (byte order).
func (db *AuthDB) ListClients(ctx context.Context) ([]store.Client, error) {
	rows, err := db.db.QueryContext(ctx, `
		SELECT id, secret_hash, grant_types, scopes, introspect, created_at, version, redirect_uris, first_party,
			access_token_format, require_dpop, resources
		FROM clients ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list clients: %w", err)
	}
	defer rows.Close()
	var clients []store.Client
	for rows.Next() {
		c, err := scanClient(rows)
		if err != nil {
			return nil, fmt.Errorf("list clients: %w", err)
		}
		clients = append(clients, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list clients: %w", err)
	}
	return clients, nil
}

// scanClient reads a client's columns, then any extra ones the query
// selected after them.
func scanClient(s scanner, extra ...any) (store.Client, error) {
	var (
		c                                        store.Client
		grantTypes, scopes, redirects, resources string
		createdAt                                int64
	)
	dest := append([]any{&c.ID, &c.SecretHash, &grantTypes, &scopes, &c.Introspect, &createdAt, &c.Version, &redirects, &c.FirstParty,
		&c.AccessTokenFormat, &c.RequireDPoP, &resources}, extra...)
	if err := s.Scan(dest...); err != nil {
		return store.Client{}, err
	}
	if err := decodeList(grantTypes, &c.GrantTypes); err != nil {
		return store.Client{}, fmt.Errorf("client %q: grant types: %w", c.ID, err)
	}
	if err := decodeList(scopes, &c.Scopes); err != nil {
		return store.Client{}, fmt.Errorf("client %q: scopes: %w", c.ID, err)
	}
	if err := decodeList(redirects, &c.RedirectURIs); err != nil {
		return store.Client{}, fmt.Errorf("client %q: redirect URIs: %w", c.ID, err)
	}
	if err := decodeList(resources, &c.Resources); err != nil {
		return store.Client{}, fmt.Errorf("client %q: resources: %w", c.ID, err)
	}
	c.CreatedAt = fromMicros(createdAt)
	return c, nil
}

// tokenFormat is the stored form of c's access-token format: "" is opaque.
func tokenFormat(c store.Client) string {
	if c.AccessTokenFormat == "" {
		return store.AccessTokenOpaque
	}
	return c.AccessTokenFormat
}

// decodeList reads a list encodeList stored. Most of a client's lists are
// empty (a confidential client has no redirect URIs, most name no
// resources), and every token request reads its client: "[]" is answered
// without the JSON decoder's allocations, with the same non-nil empty
// slice json.Unmarshal gives.
func decodeList(stored string, list *[]string) error {
	if stored == "[]" {
		*list = []string{}
		return nil
	}
	return json.Unmarshal([]byte(stored), list)
}

// encodeList stores a list as a JSON array: unlike a space-joined string it
// round-trips any element, and nil and empty both become "[]".
func encodeList(list []string) (string, error) {
	if len(list) == 0 {
		return "[]", nil
	}
	b, err := json.Marshal(list)
	return string(b), err
}
