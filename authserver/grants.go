package authserver

import (
	"context"
	"net/url"

	"github.com/example/authsvc/authserver/internal/issuer"
	"github.com/example/authsvc/store"
)

// grant is one grant type of the token endpoint (RFC 6749 §4.3, §4.4, §6).
// It is called only for a client that has authenticated and may use it, on
// a context that outlives the caller's connection: from here on the
// request changes state (login counters, tokens), and a client that hangs
// up must not leave it half done, e.g. a correct login counted as a
// failure.
type grant interface {
	issue(ctx context.Context, req tokenRequest) (issuer.Issued, error)
}

// tokenRequest is what every grant gets: the form and the authenticated
// client, with the secret it presented.
type tokenRequest struct {
	form   url.Values
	client store.Client
	secret string
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
	}
}
