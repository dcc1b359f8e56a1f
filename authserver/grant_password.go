package authserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/example/authsvc/authserver/internal/issuer"
	"github.com/example/authsvc/store"
)

// passwordGrant is RFC 6749 §4.3, with the brute-force protection §4.3.2
// requires.
type passwordGrant struct{ s *server }

// errBadCredentials is the one answer for an unknown user, a wrong password,
// a disabled user and a locked user, so none can be told from another.
func errBadCredentials() *oauthError {
	return errInvalidGrant("invalid username or password")
}

func (g passwordGrant) issue(ctx context.Context, req tokenRequest) (issuer.Issued, error) {
	username, password := req.form.Get("username"), req.form.Get("password")
	if username == "" || password == "" {
		return issuer.Issued{}, errInvalidRequest("username and password are required")
	}
	if len(username) > store.MaxNameBytes {
		return issuer.Issued{}, errBadCredentials()
	}
	scope, err := grantScope(req.form.Get("scope"), req.client.Scopes)
	if err != nil {
		return issuer.Issued{}, err
	}
	if err := g.checkPassword(ctx, username, password); err != nil {
		return issuer.Issued{}, err
	}
	issued, err := g.s.issuer.Issue(ctx, issuer.Grant{
		Client:      req.client,
		Secret:      req.secret,
		Username:    username,
		Scope:       scope,
		WithRefresh: true,
	})
	if err != nil {
		return issuer.Issued{}, fmt.Errorf("issue password grant: %w", err)
	}
	return issued, nil
}

// checkPassword counts the attempt before spending bcrypt on it, so parallel
// guesses cannot slip past the lockout threshold.
func (g passwordGrant) checkPassword(ctx context.Context, username, password string) error {
	s := g.s
	allowed, err := s.store.BeginLogin(ctx, username, s.now(), s.cfg.Lockout)
	if err != nil {
		return fmt.Errorf("begin login: %w", err)
	}
	if !allowed {
		return &oauthError{status: http.StatusBadRequest, code: "invalid_grant", description: errBadCredentials().description,
			cause: errors.New("username locked")}
	}
	user, err := s.store.GetUser(ctx, username)
	switch {
	case errors.Is(err, store.ErrNotFound):
		_ = s.dummyUser.PasswordMatches(password)
		return errBadCredentials()
	case err != nil:
		return fmt.Errorf("load user: %w", err)
	}
	// Compare even for a disabled user, so the answer takes the same time.
	if !user.PasswordMatches(password) || user.Disabled {
		return errBadCredentials()
	}
	if err := s.store.LoginSucceeded(ctx, username); err != nil {
		return fmt.Errorf("reset login failures: %w", err)
	}
	// A hash made at another cost is redone at the configured one, so every
	// user's check costs what the dummy comparison for unknown names costs.
	if user.NeedsRehash(s.cfg.BcryptCost) {
		if h, err := store.HashPassword(password, s.cfg.BcryptCost); err == nil {
			user.PasswordHash, user.UpdatedAt = h, s.now()
			if err := s.store.UpdateUser(ctx, user); err != nil {
				s.logger.WarnContext(ctx, "rehash password", "username", username, "err", err)
			}
		}
	}
	return nil
}
