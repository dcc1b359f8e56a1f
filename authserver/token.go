package authserver

import (
	"errors"
	"net/http"

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

	issued, err := g.issue(r.Context(), tokenRequest{form: form, client: client, secret: secret, source: src})
	// A client deleted, or given a new secret or new rights, after it
	// authenticated here gets no token: the store checked its version
	// when it would have stored one (store.Versions).
	if errors.Is(err, issuer.ErrInvalidClient) || errors.Is(err, store.ErrClientChanged) {
		e := errInvalidClient()
		e.cause = err
		return e
	}
	if err != nil {
		return err
	}
	s.audit(r.Context(), eventTokenIssued, "grant_type", name, "client_id", client.ID, "username", logUser(r.Context()), "refresh", issued.Refresh != "")
	writeJSON(w, http.StatusOK, tokenResponse{
		AccessToken:  issued.Access,
		TokenType:    "Bearer",
		ExpiresIn:    int64(issued.ExpiresIn.Seconds()),
		Scope:        issued.Scope,
		RefreshToken: issued.Refresh,
	})
	return nil
}
