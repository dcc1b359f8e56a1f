package admin

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/example/authsvc/store"
)

// NewClient describes a client to create. A confidential client has a
// secret: chosen (Secret), imported as a hash (SecretHash), or, with
// neither, generated and returned by CreateClient. A Public one has none.
type NewClient struct {
	ID         string
	Public     bool
	Secret     string
	SecretHash []byte
	Grants     []string // aliases allowed (store.GrantAliases)
	Scopes     []string
	Introspect bool
	// Browser login: where /authorize may send the user back, and
	// whether the user is spared the consent page.
	RedirectURIs []string
	FirstParty   bool
	// Self-contained and bound tokens: the access-token format (""
	// is opaque), whether a DPoP proof is required, and the resources
	// (RFC 8707) the client may ask tokens for.
	AccessTokenFormat string
	RequireDPoP       bool
	Resources         []string
}

// Validate reports every problem at once, before anything is generated or
// written.
func (nc NewClient) Validate() error {
	var errs []error
	switch {
	case nc.Public && (nc.Secret != "" || len(nc.SecretHash) > 0):
		errs = append(errs, errors.New("a public client has no secret"))
	case nc.Secret != "" && len(nc.SecretHash) > 0:
		errs = append(errs, errors.New("set a secret or its hash, not both"))
	case nc.Secret != "":
		errs = append(errs, store.ValidateClientSecret(nc.Secret))
	}
	c := nc.record(nil)
	if !nc.Public {
		// The record check wants a secret hash; the one to be generated
		// will be well-formed.
		c.SecretHash = store.HashClientSecret("placeholder")
		if len(nc.SecretHash) > 0 {
			c.SecretHash = nc.SecretHash
		}
	}
	errs = append(errs, c.Validate())
	return invalid(errors.Join(errs...))
}

// ShortSecret reports whether a chosen secret is short enough to deserve a
// warning.
func (nc NewClient) ShortSecret() bool {
	return nc.Secret != "" && len(nc.Secret) < store.MinClientSecretLength
}

func (nc NewClient) record(secretHash []byte) store.Client {
	return store.Client{
		ID:           nc.ID,
		SecretHash:   secretHash,
		GrantTypes:   store.CanonicalGrantTypes(nc.Grants),
		Scopes:       slices.Clone(nc.Scopes),
		Introspect:   nc.Introspect,
		RedirectURIs: slices.Clone(nc.RedirectURIs),
		FirstParty:   nc.FirstParty,

		AccessTokenFormat: nc.AccessTokenFormat,
		RequireDPoP:       nc.RequireDPoP,
		Resources:         slices.Clone(nc.Resources),
	}
}

// CreateClient creates a client and returns its secret when it generated
// one (empty otherwise); store.ErrAlreadyExists if the id is taken by a
// client or a user.
func (s *Service) CreateClient(ctx context.Context, nc NewClient) (generated string, err error) {
	if err := nc.Validate(); err != nil {
		return "", err
	}
	if err := s.nameFree(ctx, kindClient, nc.ID); err != nil {
		return "", err
	}
	var hash []byte
	switch {
	case nc.Public:
	case nc.Secret != "":
		hash = store.HashClientSecret(nc.Secret)
	case len(nc.SecretHash) > 0:
		hash = slices.Clone(nc.SecretHash)
	default:
		if generated, hash, err = store.NewClientSecret(); err != nil {
			return "", fmt.Errorf("generate client secret: %w", err)
		}
	}
	c := nc.record(hash)
	c.CreatedAt = s.now().UTC()
	err = s.store.CreateClient(ctx, c)
	if errors.Is(err, store.ErrAlreadyExists) {
		return "", s.refusedName(ctx, kindClient, nc.ID)
	}
	if err != nil {
		return "", fmt.Errorf("create client %q: %w", nc.ID, err)
	}
	s.audit(ctx, eventClientCreated, "client_id", nc.ID, "public", nc.Public,
		"grants", c.GrantTypes, "scopes", c.Scopes, "introspect", c.Introspect,
		"access_token_format", tokenFormat(c), "require_dpop", c.RequireDPoP, "resources", c.Resources)
	return generated, nil
}

// Client returns one client; store.ErrNotFound if there is none.
func (s *Service) Client(ctx context.Context, id string) (store.Client, error) {
	c, err := s.store.GetClient(ctx, id)
	if err != nil {
		return store.Client{}, fmt.Errorf("client %q: %w", id, err)
	}
	return c, nil
}

// Clients lists every client by id.
func (s *Service) Clients(ctx context.Context) ([]store.Client, error) {
	clients, err := s.store.ListClients(ctx)
	if err != nil {
		return nil, fmt.Errorf("list clients: %w", err)
	}
	return clients, nil
}

// RevokeClient ends every grant of an existing client, client-credentials
// tokens included; store.ErrNotFound if there is no such client.
func (s *Service) RevokeClient(ctx context.Context, id string) error {
	if _, err := s.Client(ctx, id); err != nil {
		return err
	}
	if err := s.store.RevokeClientGrants(ctx, id); err != nil {
		return fmt.Errorf("revoke grants of client %q: %w", id, err)
	}
	s.audit(ctx, eventClientGrantsRevoked, "client_id", id)
	return nil
}

// ClientChange is what UpdateClient changes: each field left nil stays as
// it is.
type ClientChange struct {
	Grants       *[]string // aliases allowed (store.GrantAliases)
	Scopes       *[]string
	Introspect   *bool
	RedirectURIs *[]string
	FirstParty   *bool

	AccessTokenFormat *string
	RequireDPoP       *bool
	Resources         *[]string
}

// tokenFormat names c's access-token format, "" being opaque.
func tokenFormat(c store.Client) string {
	if c.IssuesJWT() {
		return store.AccessTokenJWT
	}
	return store.AccessTokenOpaque
}

// UpdateClient changes a client's grants, scopes or introspection
// permission and reports whether that ended its grants: taking away a grant
// type or a scope does (see store.Clients.UpdateClient), adding one does
// not. store.ErrNotFound if there is no such client, ErrInvalid if the
// result breaks a rule (e.g. client_credentials for a public client).
func (s *Service) UpdateClient(ctx context.Context, id string, change ClientChange) (grantsRevoked bool, err error) {
	old, err := s.Client(ctx, id)
	if err != nil {
		return false, err
	}
	next := old
	if change.Grants != nil {
		next.GrantTypes = store.CanonicalGrantTypes(*change.Grants)
	}
	if change.Scopes != nil {
		next.Scopes = slices.Clone(*change.Scopes)
	}
	if change.Introspect != nil {
		next.Introspect = *change.Introspect
	}
	if change.RedirectURIs != nil {
		next.RedirectURIs = slices.Clone(*change.RedirectURIs)
	}
	if change.FirstParty != nil {
		next.FirstParty = *change.FirstParty
	}
	if change.AccessTokenFormat != nil {
		next.AccessTokenFormat = *change.AccessTokenFormat
	}
	if change.RequireDPoP != nil {
		next.RequireDPoP = *change.RequireDPoP
	}
	if change.Resources != nil {
		next.Resources = slices.Clone(*change.Resources)
	}
	if err := next.Validate(); err != nil {
		return false, invalid(err)
	}
	// Over the version read: a change that came in between wins, and this
	// one writes nothing (store.ErrConflict).
	if err := s.store.UpdateClient(ctx, next); err != nil {
		return false, fmt.Errorf("update client %q: %w", id, conflict(err))
	}
	grantsRevoked = old.Narrows(next)
	s.audit(ctx, eventClientUpdated, "client_id", id, "grants", next.GrantTypes, "scopes", next.Scopes,
		"introspect", next.Introspect, "redirect_uris", next.RedirectURIs, "first_party", next.FirstParty,
		"access_token_format", tokenFormat(next), "require_dpop", next.RequireDPoP, "resources", next.Resources, "grants_revoked", grantsRevoked)
	return grantsRevoked, nil
}

// RotateSecret gives a confidential client a new generated secret and
// returns it: the old one stops working at once (clients are read on every
// request), while the client's grants live on, since users did nothing
// wrong. store.ErrNotFound if there is no such client, ErrInvalid if it is
// public.
func (s *Service) RotateSecret(ctx context.Context, id string) (string, error) {
	c, err := s.Client(ctx, id)
	if err != nil {
		return "", err
	}
	if c.Public() {
		return "", invalid(fmt.Errorf("client %q is public: it has no secret to rotate", id))
	}
	secret, hash, err := store.NewClientSecret()
	if err != nil {
		return "", fmt.Errorf("generate client secret: %w", err)
	}
	c.SecretHash = hash
	if err := s.store.UpdateClient(ctx, c); err != nil {
		return "", fmt.Errorf("rotate secret of client %q: %w", id, conflict(err))
	}
	s.audit(ctx, eventClientSecretRotated, "client_id", id)
	return secret, nil
}

// DeleteClient removes a client with every grant and token issued to it, so
// that its tokens stop working at once; store.ErrNotFound if there is no
// such client.
func (s *Service) DeleteClient(ctx context.Context, id string) error {
	if err := s.store.DeleteClient(ctx, id); err != nil {
		return fmt.Errorf("delete client %q: %w", id, err)
	}
	s.audit(ctx, eventClientDeleted, "client_id", id)
	return nil
}

// RevokeConsent forgets what username allowed clientID at the consent
// page, so that its next authorization asks again. Both must exist
// (store.ErrNotFound); a consent that was never given is no error.
func (s *Service) RevokeConsent(ctx context.Context, username, clientID string) error {
	if _, err := s.User(ctx, username); err != nil {
		return err
	}
	if _, err := s.Client(ctx, clientID); err != nil {
		return err
	}
	if err := s.store.RevokeConsent(ctx, username, clientID); err != nil {
		return fmt.Errorf("revoke consent: %w", err)
	}
	s.audit(ctx, eventConsentRevoked, "username", username, "client_id", clientID)
	return nil
}
