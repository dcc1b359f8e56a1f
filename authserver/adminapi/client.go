package adminapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/example/authsvc/authserver/admin"
)

// maxAnswerBytes bounds what the client reads of an answer; a page of
// MaxLimit clients fits with room to spare.
const maxAnswerBytes = 16 << 20

// Client calls the admin API. Its methods mirror the admin service's, and
// its errors match the same sentinels (store.ErrNotFound,
// store.ErrAlreadyExists, store.ErrConflict, admin.ErrInvalid), so that a
// caller handles both the same way.
type Client struct {
	base  *url.URL
	token string
	http  *http.Client
}

// NewClient returns a client of the API at baseURL, authenticating with
// token (empty: a client certificate in httpClient's transport).
func NewClient(baseURL, token string, httpClient *http.Client) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("admin API URL: want http(s)://HOST[:PORT]")
	}
	if httpClient == nil {
		httpClient = &http.Client{Timeout: 30 * time.Second}
	}
	return &Client{base: u, token: token, http: httpClient}, nil
}

// do sends one request with an optional JSON body and decodes a JSON answer
// into out (if not nil); an error answer is returned as a *Problem.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, body, out any) error {
	u := *c.base
	u.Path = strings.TrimSuffix(u.Path, "/") + path
	u.RawQuery = query.Encode()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return fmt.Errorf("admin API request: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json, application/problem+json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("admin API: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		return fmt.Errorf("admin API: read answer: %w", err)
	}
	if resp.StatusCode >= 300 {
		p := &Problem{Status: resp.StatusCode, Title: http.StatusText(resp.StatusCode)}
		if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == "application/problem+json" {
			_ = json.Unmarshal(data, p)
		}
		if p.Detail == "" {
			p.Detail = fmt.Sprintf("admin API answered %d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
		}
		return p
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("admin API: decode answer: %w", err)
	}
	return nil
}

// listAll follows the cursor to the end of a list.
func listAll[T any](ctx context.Context, c *Client, path string) ([]T, error) {
	var all []T
	q := url.Values{"limit": {fmt.Sprint(MaxLimit)}}
	for {
		var p page[T]
		if err := c.do(ctx, http.MethodGet, path, q, nil, &p); err != nil {
			return nil, err
		}
		all = append(all, p.Items...)
		if p.NextCursor == "" {
			return all, nil
		}
		q.Set("cursor", p.NextCursor)
	}
}

func seg(s string) string { return url.PathEscape(s) }

// Users lists every user.
func (c *Client) Users(ctx context.Context) ([]User, error) {
	return listAll[User](ctx, c, "/v1/users")
}

// User returns one user.
func (c *Client) User(ctx context.Context, name string) (User, error) {
	var u User
	err := c.do(ctx, http.MethodGet, "/v1/users/"+seg(name), nil, nil, &u)
	return u, err
}

// CreateUser creates a user.
func (c *Client) CreateUser(ctx context.Context, name, password string) error {
	return c.do(ctx, http.MethodPost, "/v1/users", nil, NewUser{Username: name, Password: password}, nil)
}

// SetPassword sets a user's password.
func (c *Client) SetPassword(ctx context.Context, name, password string) error {
	return c.do(ctx, http.MethodPut, "/v1/users/"+seg(name)+"/password", nil, NewPassword{Password: password}, nil)
}

// SetDisabled disables or enables a user and reports whether that changed anything.
func (c *Client) SetDisabled(ctx context.Context, name string, disabled bool) (bool, error) {
	verb := map[bool]string{true: "disable", false: "enable"}[disabled]
	var ch Changed
	err := c.do(ctx, http.MethodPost, "/v1/users/"+seg(name)+"/"+verb, nil, nil, &ch)
	return ch.Changed, err
}

// Unlock clears a user's lockout.
func (c *Client) Unlock(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodPost, "/v1/users/"+seg(name)+"/unlock", nil, nil, nil)
}

// RevokeUser ends every grant of a user.
func (c *Client) RevokeUser(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodPost, "/v1/users/"+seg(name)+"/revoke", nil, nil, nil)
}

// DeleteUser deletes a user.
func (c *Client) DeleteUser(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/v1/users/"+seg(name), nil, nil, nil)
}

// RevokeConsent forgets a user's consent to a client.
func (c *Client) RevokeConsent(ctx context.Context, username, clientID string) error {
	return c.do(ctx, http.MethodDelete, "/v1/users/"+seg(username)+"/consents/"+seg(clientID), nil, nil, nil)
}

// Clients lists every client.
func (c *Client) Clients(ctx context.Context) ([]RegisteredClient, error) {
	return listAll[RegisteredClient](ctx, c, "/v1/clients")
}

// Client returns one client.
func (c *Client) Client(ctx context.Context, id string) (RegisteredClient, error) {
	var cl RegisteredClient
	err := c.do(ctx, http.MethodGet, "/v1/clients/"+seg(id), nil, nil, &cl)
	return cl, err
}

// CreateClient creates a client and returns its secret if the server
// generated one.
func (c *Client) CreateClient(ctx context.Context, nc admin.NewClient) (string, error) {
	if len(nc.SecretHash) > 0 {
		return "", errors.New("the admin API takes a secret, not its hash")
	}
	var out CreatedClient
	err := c.do(ctx, http.MethodPost, "/v1/clients", nil, NewRegisteredClient{ID: nc.ID, Public: nc.Public, Secret: nc.Secret,
		Grants: nc.Grants, Scopes: nc.Scopes, Introspect: nc.Introspect, RedirectURIs: nc.RedirectURIs,
		FirstParty: nc.FirstParty, AccessTokenFormat: nc.AccessTokenFormat, RequireDPoP: nc.RequireDPoP,
		Resources: nc.Resources}, &out)
	return out.Secret, err
}

// UpdateClient changes a client and reports whether that ended its grants.
func (c *Client) UpdateClient(ctx context.Context, id string, change admin.ClientChange) (bool, error) {
	var out UpdatedClient
	err := c.do(ctx, http.MethodPatch, "/v1/clients/"+seg(id), nil, ClientChange(change), &out)
	return out.GrantsRevoked, err
}

// RotateSecret gives a client a new generated secret.
func (c *Client) RotateSecret(ctx context.Context, id string) (string, error) {
	var out RotatedSecret
	err := c.do(ctx, http.MethodPost, "/v1/clients/"+seg(id)+"/rotate-secret", nil, nil, &out)
	return out.Secret, err
}

// RevokeClient ends every grant of a client.
func (c *Client) RevokeClient(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodPost, "/v1/clients/"+seg(id)+"/revoke", nil, nil, nil)
}

// DeleteClient deletes a client.
func (c *Client) DeleteClient(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/v1/clients/"+seg(id), nil, nil, nil)
}

// SigningKeys lists the signing keys.
func (c *Client) SigningKeys(ctx context.Context) ([]SigningKey, error) {
	return listAll[SigningKey](ctx, c, "/v1/keys")
}

// RotateSigningKey makes a new signing key on the server, sealed with the
// server's key-encryption key.
func (c *Client) RotateSigningKey(ctx context.Context, alg string, window time.Duration) (SigningKey, error) {
	var k SigningKey
	err := c.do(ctx, http.MethodPost, "/v1/keys/rotate", nil, KeyRotation{Alg: alg, PublishFor: window.String()}, &k)
	return k, err
}

// RetireSigningKey stops a key signing.
func (c *Client) RetireSigningKey(ctx context.Context, kid string, compromised bool) error {
	return c.do(ctx, http.MethodPost, "/v1/keys/"+seg(kid)+"/retire", nil, KeyRetirement{Compromised: compromised}, nil)
}

// MigrationStatus reports where the server's auth schema stands.
func (c *Client) MigrationStatus(ctx context.Context) (MigrationStatus, error) {
	var st MigrationStatus
	err := c.do(ctx, http.MethodGet, "/v1/migrations", nil, nil, &st)
	return st, err
}
