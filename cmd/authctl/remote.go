package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/spf13/pflag"

	"github.com/example/authsvc/authserver/admin"
	"github.com/example/authsvc/authserver/adminapi"
	"github.com/example/authsvc/authserver/keys"
	"github.com/example/authsvc/cmd/internal/ops"
	"github.com/example/authsvc/store"
)

// backend is what the commands do, directly over the store (the admin
// service) or through a running server's admin API (remoteBackend): one
// set of commands for both.
type backend interface {
	User(ctx context.Context, name string) (store.User, error)
	Users(ctx context.Context) ([]store.User, error)
	CheckNewUsername(ctx context.Context, name string) error
	CreateUser(ctx context.Context, name, password string) error
	SetPassword(ctx context.Context, name, password string) error
	SetDisabled(ctx context.Context, name string, disabled bool) (bool, error)
	Unlock(ctx context.Context, name string) error
	RevokeUser(ctx context.Context, name string) error
	DeleteUser(ctx context.Context, name string) error

	Client(ctx context.Context, id string) (store.Client, error)
	Clients(ctx context.Context) ([]store.Client, error)
	CreateClient(ctx context.Context, nc admin.NewClient) (string, error)
	UpdateClient(ctx context.Context, id string, change admin.ClientChange) (bool, error)
	RotateSecret(ctx context.Context, id string) (string, error)
	RevokeClient(ctx context.Context, id string) error
	DeleteClient(ctx context.Context, id string) error
	RevokeConsent(ctx context.Context, username, clientID string) error

	SigningKeys(ctx context.Context) ([]store.SigningKey, error)
	// RotateSigningKey seals the key with kek directly; the server uses
	// its own and kek is nil.
	RotateSigningKey(ctx context.Context, kek *keys.KEK, alg string, window time.Duration) (store.SigningKey, error)
	RetireSigningKey(ctx context.Context, kid string, compromised bool) error

	WeakBcryptCost() bool
}

var _ backend = (*admin.Service)(nil)

// remoteFlags are the settings of the admin API mode.
type remoteFlags struct {
	server, tokenFile, clientCert, clientKey, caCert string
}

func (f *remoteFlags) register(pf *pflag.FlagSet) {
	pf.StringVar(&f.server, "server", "", "the admin API of a running server, e.g. http://127.0.0.1:9099; without it authctl works on --db directly (AUTHCTL_SERVER)")
	pf.StringVar(&f.tokenFile, "admin-token-file", "", "file whose first line is the admin API token; never the token itself as a flag (AUTHCTL_ADMIN_TOKEN_FILE)")
	pf.StringVar(&f.clientCert, "client-cert", "", "PEM client certificate for an admin API that requires one, with --client-key (AUTHCTL_CLIENT_CERT)")
	pf.StringVar(&f.clientKey, "client-key", "", "PEM private key of --client-cert (AUTHCTL_CLIENT_KEY)")
	pf.StringVar(&f.caCert, "ca-cert", "", "PEM CA that signed the admin API's server certificate, if not a system one (AUTHCTL_CA_CERT)")
}

// settings fills the flags left unset from the environment and checks them.
func (f *remoteFlags) settings(env func(flag, name string) string) error {
	for _, s := range []struct {
		v          *string
		flag, name string
	}{
		{&f.server, "server", "AUTHCTL_SERVER"}, {&f.tokenFile, "admin-token-file", "AUTHCTL_ADMIN_TOKEN_FILE"},
		{&f.clientCert, "client-cert", "AUTHCTL_CLIENT_CERT"}, {&f.clientKey, "client-key", "AUTHCTL_CLIENT_KEY"},
		{&f.caCert, "ca-cert", "AUTHCTL_CA_CERT"},
	} {
		if v := env(s.flag, s.name); v != "" {
			*s.v = v
		}
	}
	var problems []error
	if f.server != "" {
		if u, err := url.Parse(f.server); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			problems = append(problems, errors.New("--server / AUTHCTL_SERVER: want http(s)://HOST:PORT"))
		}
		if f.tokenFile == "" && f.clientCert == "" {
			problems = append(problems, errors.New("--server needs --admin-token-file (AUTHCTL_ADMIN_TOKEN_FILE) or --client-cert"))
		}
	}
	if (f.clientCert == "") != (f.clientKey == "") {
		problems = append(problems, errors.New("--client-cert and --client-key go together"))
	}
	return errors.Join(problems...)
}

// remote returns the admin API backend of --server.
func (c *cli) remote() (backend, error) {
	api, err := c.remoteClient()
	if err != nil {
		return nil, err
	}
	return remoteBackend{api}, nil
}

// remoteClient is the admin API client of --server.
func (c *cli) remoteClient() (*adminapi.Client, error) {
	token := ""
	if c.tokenFile != "" {
		f, err := os.Open(c.tokenFile)
		if err != nil {
			return nil, fmt.Errorf("admin token file: %w", err)
		}
		line, err := readLine(f)
		f.Close()
		if err != nil || line == "" {
			// Never quote the file: it holds a secret.
			return nil, fmt.Errorf("admin token file %s: want the token on its first line", c.tokenFile)
		}
		token = line
	}
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.caCert != "" {
		pem, err := os.ReadFile(c.caCert)
		if err != nil {
			return nil, fmt.Errorf("--ca-cert: %w", err)
		}
		tlsConfig.RootCAs = x509.NewCertPool()
		if !tlsConfig.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca-cert %s: no PEM certificate", c.caCert)
		}
	}
	if c.clientCert != "" {
		cert, err := tls.LoadX509KeyPair(c.clientCert, c.clientKey)
		if err != nil {
			return nil, fmt.Errorf("--client-cert: %w", err)
		}
		tlsConfig.Certificates = []tls.Certificate{cert}
	}
	if u, err := url.Parse(c.server); err == nil && u.Scheme == "http" && !ops.Loopback(u.Host) {
		fmt.Fprintln(c.stderr, "authctl: warning: --server is http:// on a host other than this one: the token and any password cross the network in clear")
	}
	hc := &http.Client{Timeout: time.Minute, Transport: &http.Transport{TLSClientConfig: tlsConfig}}
	return adminapi.NewClient(c.server, token, hc)
}

// remoteBackend is the admin API as a backend: the API's views are turned
// back into the store's types that the commands print.
type remoteBackend struct{ api *adminapi.Client }

func (r remoteBackend) WeakBcryptCost() bool { return false } // the server's cost applies

func userOf(u adminapi.User) store.User {
	return store.User{Username: u.Username, Disabled: u.Disabled, CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt}
}

// secretHidden stands for a confidential client's secret hash, which the
// API never sends: store.Client.Public reads the hash's presence.
var secretHidden = []byte("not sent by the admin API")

func clientOf(v adminapi.RegisteredClient) store.Client {
	c := store.Client{ID: v.ID, GrantTypes: v.Grants, Scopes: v.Scopes, Introspect: v.Introspect,
		RedirectURIs: v.RedirectURIs, FirstParty: v.FirstParty, AccessTokenFormat: v.AccessTokenFormat,
		RequireDPoP: v.RequireDPoP, Resources: v.Resources, CreatedAt: v.CreatedAt}
	if !v.Public {
		c.SecretHash = secretHidden
	}
	return c
}

func keyOf(v adminapi.SigningKey) store.SigningKey {
	k := store.SigningKey{ID: v.ID, Algorithm: v.Algorithm, CreatedAt: v.CreatedAt, ActiveAt: v.ActiveAt}
	if v.RetiredAt != nil {
		k.RetiredAt = *v.RetiredAt
	}
	if v.PublishedUntil != nil {
		k.PublishedUntil = *v.PublishedUntil
	}
	return k
}

func mapAll[V, S any](vs []V, err error, f func(V) S) ([]S, error) {
	if err != nil {
		return nil, err
	}
	out := make([]S, 0, len(vs))
	for _, v := range vs {
		out = append(out, f(v))
	}
	return out, nil
}

func (r remoteBackend) User(ctx context.Context, name string) (store.User, error) {
	u, err := r.api.User(ctx, name)
	return userOf(u), err
}

func (r remoteBackend) Users(ctx context.Context) ([]store.User, error) {
	vs, err := r.api.Users(ctx)
	return mapAll(vs, err, userOf)
}

// CheckNewUsername asks as the admin service does: neither a user nor a
// client may hold the name. The server checks again when it creates.
func (r remoteBackend) CheckNewUsername(ctx context.Context, name string) error {
	if _, err := r.api.User(ctx, name); err == nil {
		return fmt.Errorf("user %q %w", name, store.ErrAlreadyExists)
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if _, err := r.api.Client(ctx, name); err == nil {
		return fmt.Errorf("user %q: a client has that name, and the two would share one token subject: %w", name, store.ErrAlreadyExists)
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return nil
}

func (r remoteBackend) CreateUser(ctx context.Context, name, password string) error {
	return r.api.CreateUser(ctx, name, password)
}

func (r remoteBackend) SetPassword(ctx context.Context, name, password string) error {
	return r.api.SetPassword(ctx, name, password)
}

func (r remoteBackend) SetDisabled(ctx context.Context, name string, disabled bool) (bool, error) {
	return r.api.SetDisabled(ctx, name, disabled)
}

func (r remoteBackend) Unlock(ctx context.Context, name string) error { return r.api.Unlock(ctx, name) }
func (r remoteBackend) RevokeUser(ctx context.Context, name string) error {
	return r.api.RevokeUser(ctx, name)
}
func (r remoteBackend) DeleteUser(ctx context.Context, name string) error {
	return r.api.DeleteUser(ctx, name)
}

func (r remoteBackend) Client(ctx context.Context, id string) (store.Client, error) {
	v, err := r.api.Client(ctx, id)
	return clientOf(v), err
}

func (r remoteBackend) Clients(ctx context.Context) ([]store.Client, error) {
	vs, err := r.api.Clients(ctx)
	return mapAll(vs, err, clientOf)
}

func (r remoteBackend) CreateClient(ctx context.Context, nc admin.NewClient) (string, error) {
	return r.api.CreateClient(ctx, nc)
}

func (r remoteBackend) UpdateClient(ctx context.Context, id string, change admin.ClientChange) (bool, error) {
	return r.api.UpdateClient(ctx, id, change)
}

func (r remoteBackend) RotateSecret(ctx context.Context, id string) (string, error) {
	return r.api.RotateSecret(ctx, id)
}

func (r remoteBackend) RevokeClient(ctx context.Context, id string) error {
	return r.api.RevokeClient(ctx, id)
}

func (r remoteBackend) DeleteClient(ctx context.Context, id string) error {
	return r.api.DeleteClient(ctx, id)
}

func (r remoteBackend) RevokeConsent(ctx context.Context, username, clientID string) error {
	return r.api.RevokeConsent(ctx, username, clientID)
}

func (r remoteBackend) SigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	vs, err := r.api.SigningKeys(ctx)
	return mapAll(vs, err, keyOf)
}

func (r remoteBackend) RotateSigningKey(ctx context.Context, _ *keys.KEK, alg string, window time.Duration) (store.SigningKey, error) {
	v, err := r.api.RotateSigningKey(ctx, alg, window)
	return keyOf(v), err
}

func (r remoteBackend) RetireSigningKey(ctx context.Context, kid string, compromised bool) error {
	return r.api.RetireSigningKey(ctx, kid, compromised)
}
