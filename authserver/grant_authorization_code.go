package authserver

import (
	"context"
	"errors"
	"fmt"

	"github.com/example/authsvc/authserver/internal/issuer"
	"github.com/example/authsvc/store"
)

// authorizationCodeGrant is RFC 6749 §4.1.3 with PKCE (RFC 7636 §4.5,
// §4.6): the code, its client, the same redirect_uri and a code_verifier
// that hashes to the challenge. A code is redeemed once; a second
// redemption ends the grant the first one started (RFC 6749 §4.1.2).
type authorizationCodeGrant struct{ s *server }

// errBadCode is the one answer for a code that is unknown, expired, spent,
// another client's, or presented with the wrong redirect URI or verifier.
func errBadCode() *oauthError {
	return errInvalidGrant("invalid, expired or already used authorization code")
}

func (g authorizationCodeGrant) issue(ctx context.Context, req tokenRequest) (issuer.Issued, error) {
	s := g.s
	value, verifier := req.form.Get("code"), req.form.Get("code_verifier")
	switch {
	case value == "":
		return issuer.Issued{}, errInvalidRequest("code is required")
	case verifier == "":
		return issuer.Issued{}, errInvalidRequest("code_verifier is required (PKCE)")
	case !store.PlausibleToken(value):
		return issuer.Issued{}, errBadCode()
	}
	code, err := s.store.GetAuthCode(ctx, store.HashToken(value))
	if errors.Is(err, store.ErrNotFound) {
		return issuer.Issued{}, errBadCode()
	}
	if err != nil {
		return issuer.Issued{}, fmt.Errorf("load authorization code: %w", err)
	}
	// Another client's code is refused without touching it: that client
	// could otherwise end a grant it does not own.
	if code.ClientID != req.client.ID {
		e := errBadCode()
		e.cause = errors.New("code of another client")
		return issuer.Issued{}, e
	}
	// A spent code is refused whatever else is presented, and the store
	// ends what it granted (ErrCodeReused below).
	if !code.Redeemed {
		if req.form.Get("redirect_uri") != code.RedirectURI {
			e := errBadCode()
			e.cause = errors.New("redirect_uri differs from the authorization request's")
			return issuer.Issued{}, e
		}
		if !code.VerifierMatches(verifier) {
			e := errBadCode()
			e.cause = errors.New("code_verifier does not match the challenge")
			return issuer.Issued{}, e
		}
		if !req.client.AllowsScope(code.Scope) {
			e := errBadCode()
			e.cause = errors.New("the client lost a scope of the code since it was issued")
			return issuer.Issued{}, e
		}
	}
	issued, err := s.issuer.Issue(context.WithoutCancel(ctx), issuer.Grant{
		Client:      req.client,
		Secret:      req.secret,
		Binding:     req.binding,
		Username:    code.Username,
		UserVersion: code.UserVersion,
		Scope:       code.Scope,
		WithRefresh: true,
		Code:        &code,
	})
	switch {
	case errors.Is(err, store.ErrCodeReused):
		s.audit(ctx, eventCodeReused, "client_id", req.client.ID, "username", code.Username)
		e := errBadCode()
		e.cause = err
		return issuer.Issued{}, e
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrUserChanged):
		// Expired, or the user changed their password or was disabled
		// since they signed in.
		e := errBadCode()
		e.cause = err
		return issuer.Issued{}, e
	case err != nil:
		return issuer.Issued{}, fmt.Errorf("redeem authorization code: %w", err)
	}
	setLogUser(ctx, code.Username)
	s.audit(ctx, eventCodeRedeemed, "client_id", req.client.ID, "username", code.Username)
	return issued, nil
}
