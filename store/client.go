package store

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Grant types a client may be allowed (RFC 6749 §4.3, §4.4, §6). The
// authorization server registers one handler for each.
const (
	GrantPassword          = "password"
	GrantClientCredentials = "client_credentials"
	GrantRefreshToken      = "refresh_token"
)

// GrantTypes lists every grant type a client may be allowed.
var GrantTypes = []string{GrantPassword, GrantClientCredentials, GrantRefreshToken, GrantAuthorizationCode, GrantDeviceCode}

// publicGrantTypes are the grants a client without a secret may use: a
// public client cannot authenticate, so it may not act on its own behalf.
// The code and device grants are made for public clients (RFC 8252,
// RFC 8628); the password grant stays allowed to them as before.
var publicGrantTypes = []string{GrantPassword, GrantRefreshToken, GrantAuthorizationCode, GrantDeviceCode}

// MinClientSecretLength is the length under which a client secret chosen by
// an administrator earns a warning: a generated one is 43 characters (256
// bits).
const MinClientSecretLength = 32

// ValidateClientID checks a client id against RFC 6749 Appendix A.1
// (printable ASCII), without surrounding spaces.
func ValidateClientID(id string) error {
	if err := validateName("client id", id); err != nil {
		return err
	}
	if !isVSCHAR(id) {
		return errors.New("client id may contain printable ASCII characters only (RFC 6749 Appendix A.1)")
	}
	return nil
}

// ValidateClientSecret checks a client secret chosen by an administrator
// rather than generated: RFC 6749 Appendix A.2 allows printable ASCII only.
// Shortness is not an error here (demos use short secrets), only worth a
// warning (see MinClientSecretLength).
func ValidateClientSecret(secret string) error {
	if secret == "" {
		return errors.New("empty client secret")
	}
	if !isVSCHAR(secret) {
		return errors.New("client secret may contain printable ASCII characters only (RFC 6749 Appendix A.2)")
	}
	return nil
}

// ValidateClientGrants checks a client's allowed grant list.
func ValidateClientGrants(grants []string, public bool) error {
	if len(grants) == 0 {
		return errors.New("at least one grant type is required")
	}
	for _, g := range grants {
		if !slices.Contains(GrantTypes, g) {
			return fmt.Errorf("unknown grant type %q (known: %s)", g, strings.Join(GrantTypes, ", "))
		}
		if public && !slices.Contains(publicGrantTypes, g) {
			return fmt.Errorf("a public client may not use the %q grant", g)
		}
	}
	return nil
}

// MaxScopeBytes bounds a requested scope parameter; a longer one is refused
// as invalid_scope before any value of it is looked at.
const MaxScopeBytes = 1024

// ValidateScopeToken checks one scope value against RFC 6749 §3.3:
// scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
func ValidateScopeToken(s string) error {
	if s == "" {
		return errors.New("empty scope")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return fmt.Errorf("scope %q has a character RFC 6749 §3.3 does not allow", s)
		}
	}
	return nil
}

// Validate reports every problem of a client record at once.
func (c Client) Validate() error {
	var errs []error
	if err := ValidateClientID(c.ID); err != nil {
		errs = append(errs, err)
	}
	if !c.Public() && len(c.SecretHash) != sha256.Size {
		errs = append(errs, errors.New("secret hash must be a SHA-256 (32 bytes)"))
	}
	if err := ValidateClientGrants(c.GrantTypes, c.Public()); err != nil {
		errs = append(errs, err)
	}
	if d := firstDuplicate(c.GrantTypes); d != "" {
		errs = append(errs, fmt.Errorf("grant %q listed twice", d))
	}
	for _, s := range c.Scopes {
		if err := ValidateScopeToken(s); err != nil {
			errs = append(errs, err)
		}
	}
	if d := firstDuplicate(c.Scopes); d != "" {
		errs = append(errs, fmt.Errorf("scope %q listed twice", d))
	}
	if len(c.RedirectURIs) > MaxRedirectURIs {
		errs = append(errs, fmt.Errorf("at most %d redirect URIs", MaxRedirectURIs))
	}
	for _, u := range c.RedirectURIs {
		if err := ValidateRedirectURI(u); err != nil {
			errs = append(errs, err)
		}
	}
	if d := firstDuplicate(c.RedirectURIs); d != "" {
		errs = append(errs, fmt.Errorf("redirect URI %q listed twice", d))
	}
	if slices.Contains(c.GrantTypes, GrantAuthorizationCode) && len(c.RedirectURIs) == 0 {
		errs = append(errs, errors.New("the authorization_code grant needs at least one redirect URI"))
	}
	if err := ValidateAccessTokenFormat(c.AccessTokenFormat); err != nil {
		errs = append(errs, err)
	}
	if len(c.Resources) > MaxResources {
		errs = append(errs, fmt.Errorf("at most %d resources", MaxResources))
	}
	for _, r := range c.Resources {
		if err := ValidateResource(r); err != nil {
			errs = append(errs, err)
		}
	}
	if d := firstDuplicate(c.Resources); d != "" {
		errs = append(errs, fmt.Errorf("resource %q listed twice", d))
	}
	return errors.Join(errs...)
}

// Narrows reports whether next takes away a grant type, a scope or a
// resource that c has, or starts requiring DPoP: store.Clients.UpdateClient then ends every grant of the client, so
// that no token keeps more than its client now may have.
func (c Client) Narrows(next Client) bool {
	lacks := func(prev, next []string) bool {
		return slices.ContainsFunc(prev, func(v string) bool { return !slices.Contains(next, v) })
	}
	return lacks(c.GrantTypes, next.GrantTypes) || lacks(c.Scopes, next.Scopes) ||
		lacks(c.Resources, next.Resources) || (!c.RequireDPoP && next.RequireDPoP)
}

// AllowsScope reports whether every scope of scope (space-delimited) is
// one the client may ask for now. A code or a device authorization
// granted before the client lost a scope must not start a grant with it.
func (c Client) AllowsScope(scope string) bool {
	for _, s := range strings.Fields(scope) {
		if !slices.Contains(c.Scopes, s) {
			return false
		}
	}
	return true
}

// MayUse reports whether the client is allowed the grant type; a public
// client never acts on its own behalf, whatever its record says.
func (c Client) MayUse(grant string) bool {
	if c.Public() && !slices.Contains(publicGrantTypes, grant) {
		return false
	}
	return slices.Contains(c.GrantTypes, grant)
}

// VerifySecret reports whether secret authenticates the client, in
// constant time against the stored hash. A public client authenticates with
// no secret only: an empty stored hash never matches anything presented.
func (c Client) VerifySecret(secret string) bool {
	if c.Public() {
		return secret == ""
	}
	if len(c.SecretHash) != sha256.Size {
		return false
	}
	return subtle.ConstantTimeCompare(HashClientSecret(secret), c.SecretHash) == 1
}

// NewClientSecret generates a client secret and the hash to store.
func NewClientSecret() (secret string, hash []byte, err error) {
	secret, err = NewOpaqueValue()
	if err != nil {
		return "", nil, err
	}
	return secret, HashClientSecret(secret), nil
}

// HashClientSecret is the stored form of a client secret. Secrets are
// high-entropy values, so one SHA-256 is enough and keeps client
// authentication fast; bcrypt would cap client-credentials and introspection
// throughput at a few dozen per second.
func HashClientSecret(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}

// ParseClientSecretHash decodes the hex form of a secret hash (bootstrap
// files carry it so that no plaintext secret is written down).
func ParseClientSecretHash(s string) ([]byte, error) {
	h, err := hex.DecodeString(s)
	if err != nil || len(h) != sha256.Size {
		return nil, errors.New("secret_hash must be the hex SHA-256 of the secret (64 hex digits)")
	}
	return h, nil
}

// isVSCHAR reports whether s is all %x20-7E.
func isVSCHAR(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

func firstDuplicate(values []string) string {
	seen := make(map[string]bool, len(values))
	for _, v := range values {
		if seen[v] {
			return v
		}
		seen[v] = true
	}
	return ""
}
