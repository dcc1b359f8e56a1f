// Package authserver is the HTTP layer of the authorization server: the
// token endpoint (password, client_credentials and refresh_token grants),
// RFC 7662 introspection, RFC 7009 revocation and RFC 8414 metadata.
//
// Tokens are issued by go-oauth2's manage.Manager, confined to
// internal/issuer; this package decides everything it gets wrong by
// default: clients are authenticated before any password is checked,
// secrets and tokens are compared and stored as hashes, refresh tokens are
// bound to their client, rotated atomically, narrowed but never widened,
// and their reuse revokes the grant. Each grant type is one file behind the
// grant interface (grants.go).
package authserver

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/example/authsvc/authserver/internal/issuer"

	"github.com/example/authsvc/store"
)

// Config is the authorization server's behaviour. Zero values are not
// defaults: cmd/authserver fills them from flags and the environment.
type Config struct {
	Issuer     string        // RFC 8414 issuer, e.g. https://auth.example.com
	AccessTTL  time.Duration // access token lifetime
	RefreshTTL time.Duration // refresh token lifetime, renewed at each rotation
	BcryptCost int           // cost of the dummy hash that equalizes unknown-user timing
	Lockout    store.LoginPolicy
	// Now is the clock; nil means time.Now. Tests inject one.
	Now func() time.Time
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if u, err := url.Parse(c.Issuer); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		// RFC 8414 §2: an https URL without query or fragment; http is
		// tolerated for local runs.
		errs = append(errs, fmt.Errorf("issuer %q: want an http(s) URL without query or fragment", c.Issuer))
	} else if strings.Trim(u.Path, "/") != "" {
		// RFC 8414 §3.1 would put the metadata at a path-specific
		// well-known URL, which this server does not serve.
		errs = append(errs, fmt.Errorf("issuer %q: must not have a path", c.Issuer))
	}
	// go-oauth2 treats a zero lifetime as "never expires": refuse it.
	if c.AccessTTL <= 0 {
		errs = append(errs, fmt.Errorf("access token lifetime %v: must be positive", c.AccessTTL))
	}
	if c.RefreshTTL <= 0 {
		errs = append(errs, fmt.Errorf("refresh token lifetime %v: must be positive", c.RefreshTTL))
	}
	if c.BcryptCost < bcrypt.MinCost || c.BcryptCost > bcrypt.MaxCost {
		errs = append(errs, fmt.Errorf("bcrypt cost %d: must be between %d and %d", c.BcryptCost, bcrypt.MinCost, bcrypt.MaxCost))
	}
	if c.Lockout.Threshold < 1 {
		errs = append(errs, fmt.Errorf("lockout threshold %d: must be at least 1", c.Lockout.Threshold))
	}
	if c.Lockout.Lockout <= 0 {
		errs = append(errs, fmt.Errorf("lockout duration %v: must be positive", c.Lockout.Lockout))
	}
	if c.Lockout.MaxLockout < c.Lockout.Lockout {
		errs = append(errs, fmt.Errorf("maximum lockout %v: must be at least the lockout duration %v", c.Lockout.MaxLockout, c.Lockout.Lockout))
	}
	return errors.Join(errs...)
}

// maxBodyBytes bounds every request body; OAuth requests are a few hundred bytes.
const maxBodyBytes = 64 << 10

// server holds what the handlers share.
type server struct {
	logger *slog.Logger
	store  store.AuthStore
	cfg    Config
	now    func() time.Time
	issuer *issuer.Issuer
	grants map[string]grant
	render renderer
	// dummyUser's password is compared against when the user does not
	// exist, so an unknown username costs the same bcrypt time as a wrong
	// password.
	dummyUser store.User
}

// NewServer validates cfg and returns the authorization server's handler.
// It spends one bcrypt hash at cfg.BcryptCost.
func NewServer(logger *slog.Logger, st store.AuthStore, cfg Config) (http.Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	dummy, err := bcrypt.GenerateFromPassword([]byte("no such user: equalize timing"), cfg.BcryptCost)
	if err != nil {
		return nil, fmt.Errorf("dummy hash: %w", err)
	}
	iss, err := issuer.New(st, cfg.AccessTTL, cfg.RefreshTTL, now)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	s := &server{
		logger:    logger,
		store:     st,
		cfg:       cfg,
		now:       now,
		issuer:    iss,
		render:    renderer{logger: logger, realm: realmFor(cfg.Issuer)},
		dummyUser: store.User{PasswordHash: dummy},
	}
	s.grants = newGrants(s)
	return s.routes(), nil
}

func realmFor(issuer string) string {
	if u, err := url.Parse(issuer); err == nil && u.Host != "" {
		return strings.ReplaceAll(u.Host, `"`, "")
	}
	return "authserver"
}

// endpoint is an absolute URL under the issuer, for metadata.
func (s *server) endpoint(path string) string {
	return strings.TrimSuffix(s.cfg.Issuer, "/") + path
}
