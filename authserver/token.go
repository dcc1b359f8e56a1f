package authserver

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/example/authsvc/authserver/internal/issuer"
	"github.com/example/authsvc/store"
)

// tokenResponse is RFC 6749 §5.1.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	Scope        string `json:"scope"`
	RefreshToken string `json:"refresh_token,omitempty"`
}

// clientChanged answers a request whose client changed between its
// authentication and the store's check. If the client is gone, or the
// secret it presented no longer verifies, its authentication has failed
// after all (invalid_client). Otherwise it changed in some other way (its
// scopes, its introspection right): nothing is wrong with the request but
// the timing, so it is told to try again, where invalid_client would tell
// it that its credentials are bad.
func (s *server) clientChanged(r *http.Request, id, secret string, cause error) error {
	c, err := s.store.GetClient(r.Context(), id)
	switch {
	case errors.Is(err, store.ErrNotFound) || (err == nil && !c.VerifySecret(secret)):
		e := errInvalidClient()
		e.cause = cause
		return e
	case err != nil:
		return fmt.Errorf("reload changed client: %w", err)
	}
	return &oauthError{status: http.StatusServiceUnavailable, code: "temporarily_unavailable",
		description: "the client was changed while this request was processed; retry", retryAfter: time.Second, cause: cause}
}

// handleToken is the token endpoint (RFC 6749 §3.2). The client is
// authenticated before the grant is even looked at.
func (s *server) handleToken(w http.ResponseWriter, r *http.Request) error {
	form, err := readForm(w, r)
	if err != nil {
		return err
	}
	src, err := s.admit(r)
	if err != nil {
		return err
	}
	if er, ok := s.grants[form.Get("grant_type")].(earlyRefuser); ok {
		if err := er.refuseEarly(src); err != nil {
			return err
		}
	}
	client, secret, err := s.authenticateClient(r, form, src)
	if err != nil {
		return err
	}
	name := form.Get("grant_type")
	g, known := s.grants[name]
	switch {
	case name == "":
		return errInvalidRequest("missing grant_type")
	case !known:
		return &oauthError{status: http.StatusBadRequest, code: "unsupported_grant_type", description: "unsupported grant_type"}
	case !client.MayUse(name):
		return &oauthError{status: http.StatusBadRequest, code: "unauthorized_client", description: "this client may not use this grant type"}
	}

	req := tokenRequest{form: form, client: client, secret: secret, source: src, resources: form["resource"]}
	if req.jkt, err = s.tokenProof(r, client); err != nil {
		return err
	}
	if name != store.GrantRefreshToken {
		if req.binding, err = s.newBinding(req); err != nil {
			return err
		}
	}
	issued, err := g.issue(r.Context(), req)
	if errors.Is(err, issuer.ErrInvalidClient) {
		return errInvalidClient()
	}
	if errors.Is(err, issuer.ErrNoSigner) {
		// The operator's to fix, not the client's: say so in the log.
		s.logger.ErrorContext(r.Context(), "a client of JWT access tokens asked for one, and no signing key is available: set AUTH_KEY_ENCRYPTION_KEY (or _FILE)",
			"client_id", client.ID, "err", err)
		return &oauthError{status: http.StatusServiceUnavailable, code: "temporarily_unavailable",
			description: "access tokens of this client cannot be issued right now", retryAfter: time.Minute, cause: err}
	}
	// A client deleted, or changed in any way, after it authenticated here
	// gets no token: the store checked its version when it would have
	// stored one (store.Versions).
	if errors.Is(err, store.ErrClientChanged) {
		return s.clientChanged(r, client.ID, secret, err)
	}
	if err != nil {
		return err
	}
	format := store.AccessTokenOpaque
	if issued.KeyID != "" {
		format = store.AccessTokenJWT
	}
	s.metrics.accessTokens.WithLabelValues(format, strings.ToLower(issued.TokenType)).Inc()
	s.audit(r.Context(), eventTokenIssued, "grant_type", name, "client_id", client.ID, "username", logUser(r.Context()), "refresh", issued.Refresh != "",
		"format", format, "token_type", issued.TokenType)
	writeJSON(w, http.StatusOK, tokenResponse{
		AccessToken:  issued.Access,
		TokenType:    issued.TokenType,
		ExpiresIn:    int64(issued.ExpiresIn.Seconds()),
		Scope:        issued.Scope,
		RefreshToken: issued.Refresh,
	})
	return nil
}
