package authserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	oauth2 "github.com/go-oauth2/oauth2/v4"
	oerrors "github.com/go-oauth2/oauth2/v4/errors"
	"golang.org/x/crypto/bcrypt"

	"github.com/example/authsvc/store"
)

// maxUsernameBytes bounds what reaches the login-failure table.
const maxUsernameBytes = 256

// errBadCredentials is the one answer for an unknown user, a wrong password,
// a disabled user and a locked user, so none can be told from another.
func errBadCredentials() *oauthError {
	return errInvalidGrant("invalid username or password")
}

// handleToken is the token endpoint (RFC 6749 §3.2). The client is
// authenticated before the grant is even looked at.
func (s *server) handleToken(w http.ResponseWriter, r *http.Request) error {
	form, err := readForm(w, r)
	if err != nil {
		return err
	}
	client, secret, err := s.authenticateClient(r, form)
	if err != nil {
		return err
	}
	grant := form.Get("grant_type")
	switch {
	case grant == "":
		return errInvalidRequest("missing grant_type")
	case !slices.Contains(store.GrantTypes, grant):
		return &oauthError{status: http.StatusBadRequest, code: "unsupported_grant_type", description: "unsupported grant_type"}
	case !slices.Contains(client.GrantTypes, grant) || (client.Public() && grant == store.GrantClientCredentials):
		return &oauthError{status: http.StatusBadRequest, code: "unauthorized_client", description: "this client may not use this grant type"}
	}

	// From here on the request changes state (login counters, tokens): a
	// client that hangs up must not leave it half done, e.g. a correct
	// login counted as a failure.
	ctx := withRequestState(context.WithoutCancel(r.Context()), &requestState{client: &client})
	var ti oauth2.TokenInfo
	switch grant {
	case store.GrantPassword:
		ti, err = s.passwordGrant(ctx, r, form, client, secret)
	case store.GrantClientCredentials:
		ti, err = s.clientCredentialsGrant(ctx, r, form, client, secret)
	case store.GrantRefreshToken:
		ti, err = s.refreshGrant(ctx, r, form, client)
	}
	if err != nil {
		return err
	}

	resp := map[string]any{
		"access_token": ti.GetAccess(),
		"token_type":   "Bearer",
		"expires_in":   int64(ti.GetAccessExpiresIn().Seconds()),
		"scope":        ti.GetScope(),
	}
	if rt := ti.GetRefresh(); rt != "" {
		resp["refresh_token"] = rt
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// passwordGrant is RFC 6749 §4.3, with the brute-force protection §4.3.2
// requires.
func (s *server) passwordGrant(ctx context.Context, r *http.Request, form url.Values, client store.Client, secret string) (oauth2.TokenInfo, error) {
	username, password := form.Get("username"), form.Get("password")
	if username == "" || password == "" {
		return nil, errInvalidRequest("username and password are required")
	}
	if len(username) > maxUsernameBytes {
		return nil, errBadCredentials()
	}
	scope, err := grantScope(form.Get("scope"), client.Scopes)
	if err != nil {
		return nil, err
	}
	if err := s.checkPassword(ctx, username, password); err != nil {
		return nil, err
	}
	ti, err := s.manager.GenerateAccessToken(ctx, oauth2.PasswordCredentials, &oauth2.TokenGenerateRequest{
		ClientID:     client.ID,
		ClientSecret: secret,
		UserID:       username,
		Scope:        scope,
		Request:      r,
	})
	if err != nil {
		return nil, fmt.Errorf("issue password grant: %w", err)
	}
	return ti, nil
}

// checkPassword counts the attempt before spending bcrypt on it, so parallel
// guesses cannot slip past the lockout threshold.
func (s *server) checkPassword(ctx context.Context, username, password string) error {
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
		_ = bcrypt.CompareHashAndPassword(s.dummyHash, []byte(password))
		return errBadCredentials()
	case err != nil:
		return fmt.Errorf("load user: %w", err)
	}
	// Compare even for a disabled user, so the answer takes the same time.
	match := bcrypt.CompareHashAndPassword(user.PasswordHash, []byte(password)) == nil
	if !match || user.Disabled {
		return errBadCredentials()
	}
	if err := s.store.LoginSucceeded(ctx, username); err != nil {
		return fmt.Errorf("reset login failures: %w", err)
	}
	// A hash made at another cost (an older setting, an imported hash) is
	// redone at the configured one, so every user's check costs what the
	// dummy comparison for unknown names costs.
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

// clientCredentialsGrant is RFC 6749 §4.4; no refresh token is issued.
func (s *server) clientCredentialsGrant(ctx context.Context, r *http.Request, form url.Values, client store.Client, secret string) (oauth2.TokenInfo, error) {
	scope, err := grantScope(form.Get("scope"), client.Scopes)
	if err != nil {
		return nil, err
	}
	ti, err := s.manager.GenerateAccessToken(ctx, oauth2.ClientCredentials, &oauth2.TokenGenerateRequest{
		ClientID:     client.ID,
		ClientSecret: secret,
		Scope:        scope,
		Request:      r,
	})
	if err != nil {
		return nil, fmt.Errorf("issue client credentials grant: %w", err)
	}
	return ti, nil
}

// refreshGrant is RFC 6749 §6 with rotation: the presented token must belong
// to this client (§10.4), the scope may only narrow, exactly one of
// concurrent uses wins, and a second use of a rotated token ends the grant
// (RFC 9700 §4.14.2).
func (s *server) refreshGrant(ctx context.Context, r *http.Request, form url.Values, client store.Client) (oauth2.TokenInfo, error) {
	refresh := form.Get("refresh_token")
	if refresh == "" {
		return nil, errInvalidRequest("missing refresh_token")
	}
	invalid := errInvalidGrant("invalid refresh token")
	old, err := s.store.GetToken(ctx, store.HashToken(refresh))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, invalid
	case err != nil:
		return nil, fmt.Errorf("load refresh token: %w", err)
	}
	if old.Kind != store.RefreshToken || old.ClientID != client.ID {
		return nil, invalid
	}
	if old.Rotated {
		if err := s.store.DeleteFamily(ctx, old.FamilyID); err != nil {
			return nil, fmt.Errorf("revoke reused grant: %w", err)
		}
		s.logger.WarnContext(ctx, "refresh token reuse detected; grant revoked", "client_id", client.ID, "username", old.Username)
		return nil, invalid
	}
	if !old.Active(s.now()) {
		return nil, invalid
	}
	if old.Username != "" {
		u, err := s.store.GetUser(ctx, old.Username)
		if errors.Is(err, store.ErrNotFound) || (err == nil && u.Disabled) {
			return nil, invalid
		}
		if err != nil {
			return nil, fmt.Errorf("load user: %w", err)
		}
	}

	scope := ""
	if req := strings.TrimSpace(form.Get("scope")); req != "" {
		if scope, err = grantScope(req, parseScope(old.Scope)); err != nil {
			return nil, errInvalidScope("the requested scope exceeds the original grant")
		}
	}

	requestStateFrom(ctx).refresh = &old
	ti, err := s.manager.RefreshAccessToken(ctx, &oauth2.TokenGenerateRequest{
		ClientID: client.ID,
		Refresh:  refresh,
		Scope:    scope,
		Request:  r,
	})
	switch {
	case errors.Is(err, store.ErrTokenReused):
		s.logger.WarnContext(ctx, "concurrent refresh token reuse; grant revoked", "client_id", client.ID, "username", old.Username)
		return nil, invalid
	case errors.Is(err, store.ErrNotFound), errors.Is(err, oerrors.ErrInvalidRefreshToken), errors.Is(err, oerrors.ErrExpiredRefreshToken):
		return nil, invalid
	case err != nil:
		return nil, fmt.Errorf("refresh: %w", err)
	}
	return ti, nil
}
