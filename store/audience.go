package store

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// Access-token formats a client may be given (Client.AccessTokenFormat).
const (
	// AccessTokenOpaque tokens are random values that only introspection
	// can judge: the default.
	AccessTokenOpaque = "opaque"
	// AccessTokenJWT tokens are RFC 9068 JWTs that a resource can check
	// on its own with the published keys.
	AccessTokenJWT = "jwt"
)

// AccessTokenFormats lists the valid Client.AccessTokenFormat values.
var AccessTokenFormats = []string{AccessTokenOpaque, AccessTokenJWT}

// ValidateAccessTokenFormat checks a client's access-token format; ""
// means AccessTokenOpaque.
func ValidateAccessTokenFormat(f string) error {
	if f != "" && !slices.Contains(AccessTokenFormats, f) {
		return fmt.Errorf("unknown access token format %q (known: %s)", f, strings.Join(AccessTokenFormats, ", "))
	}
	return nil
}

// IssuesJWT reports whether the client's access tokens are JWTs.
func (c Client) IssuesJWT() bool { return c.AccessTokenFormat == AccessTokenJWT }

// MaxResources bounds the resources a client may be registered for, and
// the resource parameters one token request may carry.
const MaxResources = 8

// maxResourceBytes bounds one resource indicator.
const maxResourceBytes = 256

// ValidateResource checks a resource indicator (RFC 8707 §2): an absolute
// URI without a fragment, printable ASCII without spaces (a token's
// audience is stored space-delimited).
func ValidateResource(r string) error {
	if r == "" || len(r) > maxResourceBytes {
		return fmt.Errorf("a resource must be 1 to %d characters", maxResourceBytes)
	}
	for i := 0; i < len(r); i++ {
		if r[i] <= 0x20 || r[i] > 0x7e {
			return errors.New("a resource may contain printable ASCII characters without spaces only")
		}
	}
	u, err := url.Parse(r)
	if err != nil || !u.IsAbs() || u.Fragment != "" || strings.Contains(r, "#") {
		return fmt.Errorf("resource %q is not an absolute URI without a fragment (RFC 8707 §2)", r)
	}
	return nil
}

// ErrInvalidTarget: a token request asked for a resource the client is not
// registered for, or for too many (RFC 8707 §2: invalid_target).
var ErrInvalidTarget = errors.New("resource not allowed for this client")

// Audience decides the audience of a token the client asked for with the
// resource parameters requested: all of them when the client is registered
// for each; fallback when none was asked for ("" when there is no
// default). The result is space-delimited, in the order asked, without
// duplicates.
func (c Client) Audience(requested []string, fallback string) (string, error) {
	if len(requested) == 0 {
		return fallback, nil
	}
	if len(requested) > MaxResources {
		return "", fmt.Errorf("%w: more than %d resources", ErrInvalidTarget, MaxResources)
	}
	var aud []string
	for _, r := range requested {
		if !slices.Contains(c.Resources, r) {
			return "", ErrInvalidTarget
		}
		if !slices.Contains(aud, r) {
			aud = append(aud, r)
		}
	}
	return strings.Join(aud, " "), nil
}
