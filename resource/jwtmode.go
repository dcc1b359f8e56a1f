package resource

import (
	"context"
	"errors"
	"fmt"

	"github.com/example/authsvc/resource/jwtaccess"
)

// Token validation modes (RESOURCE_TOKEN_VALIDATION).
const (
	// ValidateIntrospect asks the authorization server about every token
	// (cached for the cache TTL): a revocation counts at once, or within
	// the TTL.
	ValidateIntrospect = "introspect"
	// ValidateJWT checks RFC 9068 JWT access tokens locally with the
	// published keys: no round trip, but a revoked token works here until
	// it expires. Opaque tokens are refused.
	ValidateJWT = "jwt"
)

// JWTChecker is an Introspector that checks JWT access tokens locally
// (jwtaccess) instead of asking the authorization server.
type JWTChecker struct{ v *jwtaccess.Verifier }

// NewJWTChecker returns a JWTChecker over v.
func NewJWTChecker(v *jwtaccess.Verifier) JWTChecker { return JWTChecker{v} }

// Introspect answers as introspection would: an invalid token is inactive
// (with the reason for the log), keys that cannot be fetched are
// ErrUnavailable.
func (j JWTChecker) Introspect(ctx context.Context, token string) (Introspection, error) {
	c, err := j.v.Verify(ctx, token)
	switch {
	case errors.Is(err, jwtaccess.ErrUnavailable):
		return Introspection{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	case err != nil:
		return Introspection{refusal: "jwt " + jwtaccess.Reason(err)}, nil
	}
	in := Introspection{
		Active:    true,
		Scope:     c.Scope,
		ClientID:  c.ClientID,
		Username:  c.Username,
		Subject:   c.Subject,
		TokenType: "Bearer",
		TokenUse:  "access_token",
		ExpiresAt: c.Expiry,
		IssuedAt:  c.IssuedAt,
		Audience:  c.Audience,
		JKT:       c.JKT,
	}
	if c.JKT != "" {
		in.TokenType = "DPoP"
	}
	return in, nil
}

// Ready fetches the keys: a jwt-mode service is ready once it has them.
func (j JWTChecker) Ready(ctx context.Context) error { return j.v.Refresh(ctx) }
