package authserver

import (
	"context"
	"net/netip"
	"net/url"

	"github.com/example/authsvc/authserver/internal/issuer"
	"github.com/example/authsvc/store"
)

// grant is one grant type of the token endpoint (RFC 6749 §4.3, §4.4, §6).
// It is called only for a client that has authenticated and may use it,
// with the request's context. Once a grant begins to change state (login
// counters, tokens) it must detach from that context's cancellation
// (context.WithoutCancel): a client that hangs up must not leave the change
// half done, e.g. a correct login counted as a failure. Until then, a
// caller who hangs up should cost nothing.
type grant interface {
	issue(ctx context.Context, req tokenRequest) (issuer.Issued, error)
}

// earlyRefuser is implemented by a grant that can refuse a request from
// src before the client is authenticated, so that a refusal costs no store
// access at all (the password grant, when no bcrypt slot could be had).
type earlyRefuser interface {
	refuseEarly(src netip.Addr) error
}

// tokenRequest is what every grant gets: the form and the authenticated
// client, with the secret it presented.
type tokenRequest struct {
	form   url.Values
	client store.Client
	secret string
	source netip.Addr // for throttling
	// resources are the RFC 8707 resource parameters asked for.
	resources []string
	// jkt is the thumbprint of the DPoP proof's key; "" without a proof.
	jkt string
	// binding is newBinding's answer, for a grant that starts a grant;
	// the refresh grant decides its own (refreshBinding).
	binding issuer.Binding
}

// newGrants is the registry the token endpoint dispatches on. A new grant
// type is one file implementing grant plus one line here, and its name in
// store.GrantTypes so that clients may be allowed it (a test checks the two
// lists agree).
func newGrants(s *server) map[string]grant {
	return map[string]grant{
		store.GrantPassword:          passwordGrant{s},
		store.GrantClientCredentials: clientCredentialsGrant{s},
		store.GrantRefreshToken:      refreshGrant{s},
		store.GrantAuthorizationCode: authorizationCodeGrant{s},
		store.GrantDeviceCode:        deviceCodeGrant{s},
	}
}
