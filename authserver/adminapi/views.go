package adminapi

import (
	"time"

	"github.com/example/authsvc/store"
)

// User is a user as the API shows it: never a password hash.
type User struct {
	Username  string    `json:"username"`
	Disabled  bool      `json:"disabled"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// RegisteredClient is an OAuth client as the API shows it: never a secret or its hash.
type RegisteredClient struct {
	ID                string    `json:"id"`
	Public            bool      `json:"public"`
	Grants            []string  `json:"grants"`
	Scopes            []string  `json:"scopes"`
	Introspect        bool      `json:"introspect"`
	RedirectURIs      []string  `json:"redirect_uris"`
	FirstParty        bool      `json:"first_party"`
	AccessTokenFormat string    `json:"access_token_format"`
	RequireDPoP       bool      `json:"require_dpop"`
	Resources         []string  `json:"resources"`
	CreatedAt         time.Time `json:"created_at"`
}

// SigningKey is a signing key as the API shows it: never key material.
type SigningKey struct {
	ID             string     `json:"kid"`
	Algorithm      string     `json:"alg"`
	State          string     `json:"state"`
	CreatedAt      time.Time  `json:"created_at"`
	ActiveAt       time.Time  `json:"active_at"`
	RetiredAt      *time.Time `json:"retired_at"`
	PublishedUntil *time.Time `json:"published_until"`
}

// MigrationStatus is where the auth schema stands.
type MigrationStatus struct {
	Schema  string `json:"schema"`
	Current int64  `json:"current"`
	Latest  int64  `json:"latest"`
	Pending bool   `json:"pending"`
}

// ViewUser is u as the API shows it.
func ViewUser(u store.User) User {
	return User{Username: u.Username, Disabled: u.Disabled, CreatedAt: u.CreatedAt.UTC(), UpdatedAt: u.UpdatedAt.UTC()}
}

// ViewClient is c as the API shows it; lists are [] rather than null.
func ViewClient(c store.Client) RegisteredClient {
	v := RegisteredClient{ID: c.ID, Public: c.Public(), Grants: orEmpty(c.GrantTypes), Scopes: orEmpty(c.Scopes),
		Introspect: c.Introspect, RedirectURIs: orEmpty(c.RedirectURIs), FirstParty: c.FirstParty,
		AccessTokenFormat: c.AccessTokenFormat, RequireDPoP: c.RequireDPoP, Resources: orEmpty(c.Resources),
		CreatedAt: c.CreatedAt.UTC()}
	if v.AccessTokenFormat == "" {
		v.AccessTokenFormat = store.AccessTokenOpaque
	}
	return v
}

// KeyState names where a key is in its life at now.
func KeyState(k store.SigningKey, now time.Time) string {
	switch {
	case !k.PublishedAt(now):
		return "unpublished"
	case k.SignsAt(now):
		return "signing"
	case now.Before(k.ActiveAt):
		return "published" // before it signs
	default:
		return "retired" // published until its tokens expire
	}
}

// ViewSigningKey is k as the API shows it at now.
func ViewSigningKey(k store.SigningKey, now time.Time) SigningKey {
	v := SigningKey{ID: k.ID, Algorithm: k.Algorithm, State: KeyState(k, now), CreatedAt: k.CreatedAt.UTC(), ActiveAt: k.ActiveAt.UTC()}
	if !k.RetiredAt.IsZero() {
		t := k.RetiredAt.UTC()
		v.RetiredAt = &t
	}
	if !k.PublishedUntil.IsZero() {
		t := k.PublishedUntil.UTC()
		v.PublishedUntil = &t
	}
	return v
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Requests.

// NewUser is the body of POST /v1/users.
type NewUser struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// NewPassword is the body of PUT /v1/users/{name}/password.
type NewPassword struct {
	Password string `json:"password"`
}

// NewRegisteredClient is the body of POST /v1/clients. Without a secret, a
// confidential client gets a generated one, answered once.
type NewRegisteredClient struct {
	ID                string   `json:"id"`
	Public            bool     `json:"public"`
	Secret            string   `json:"secret,omitempty"`
	Grants            []string `json:"grants"`
	Scopes            []string `json:"scopes"`
	Introspect        bool     `json:"introspect"`
	RedirectURIs      []string `json:"redirect_uris"`
	FirstParty        bool     `json:"first_party"`
	AccessTokenFormat string   `json:"access_token_format,omitempty"`
	RequireDPoP       bool     `json:"require_dpop"`
	Resources         []string `json:"resources"`
}

// CreatedClient answers POST /v1/clients: Secret is set only when the
// server generated it, and is shown only this once.
type CreatedClient struct {
	Client RegisteredClient `json:"client"`
	Secret string           `json:"secret,omitempty"`
}

// ClientChange is the body of PATCH /v1/clients/{id}: what is absent (or
// null) stays as it is.
type ClientChange struct {
	Grants            *[]string `json:"grants,omitempty"`
	Scopes            *[]string `json:"scopes,omitempty"`
	Introspect        *bool     `json:"introspect,omitempty"`
	RedirectURIs      *[]string `json:"redirect_uris,omitempty"`
	FirstParty        *bool     `json:"first_party,omitempty"`
	AccessTokenFormat *string   `json:"access_token_format,omitempty"`
	RequireDPoP       *bool     `json:"require_dpop,omitempty"`
	Resources         *[]string `json:"resources,omitempty"`
}

// UpdatedClient answers PATCH /v1/clients/{id}.
type UpdatedClient struct {
	Client        RegisteredClient `json:"client"`
	GrantsRevoked bool             `json:"grants_revoked"`
}

// RotatedSecret answers POST /v1/clients/{id}/rotate-secret.
type RotatedSecret struct {
	Secret string `json:"secret"`
}

// Changed answers disable and enable: whether the user's state changed.
type Changed struct {
	Changed bool `json:"changed"`
}

// KeyRotation is the optional body of POST /v1/keys/rotate.
type KeyRotation struct {
	Alg string `json:"alg,omitempty"`
	// PublishFor is a Go duration ("10m", "0s"): how long the new key is
	// published before it signs.
	PublishFor string `json:"publish_for,omitempty"`
}

// KeyRetirement is the optional body of POST /v1/keys/{kid}/retire.
type KeyRetirement struct {
	Compromised bool `json:"compromised"`
}
