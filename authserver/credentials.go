package authserver

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// Grant types this server implements (RFC 6749 §4.3, §4.4, §6).
const (
	GrantPassword          = "password"
	GrantClientCredentials = "client_credentials"
	GrantRefreshToken      = "refresh_token"
)

// GrantTypes lists every grant type a client may be allowed.
var GrantTypes = []string{GrantPassword, GrantClientCredentials, GrantRefreshToken}

// publicGrantTypes are the grants a client without a secret may use: a
// public client cannot authenticate, so it may not act on its own behalf.
var publicGrantTypes = []string{GrantPassword, GrantRefreshToken}

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

// MinBcryptCost is the lowest bcrypt cost accepted without a warning.
const MinBcryptCost = 10

// HashPassword hashes a user's password with bcrypt at cost.
func HashPassword(password string, cost int) ([]byte, error) {
	if password == "" {
		return nil, errors.New("empty password")
	}
	// bcrypt silently ignores bytes past 72; refuse instead of truncating.
	if len(password) > 72 {
		return nil, errors.New("password longer than 72 bytes")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		return nil, fmt.Errorf("hash password: %w", err)
	}
	return h, nil
}

// secretBytes is the entropy of generated client secrets and tokens: 256 bits,
// well above RFC 6749 §10.10's 128.
const secretBytes = 32

// randomToken returns secretBytes of crypto/rand as unpadded base64url.
func randomToken() (string, error) {
	b := make([]byte, secretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("read random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// NewClientSecret generates a client secret and the hash to store.
func NewClientSecret() (secret string, hash []byte, err error) {
	secret, err = randomToken()
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

// secretMatches compares a presented secret with a stored hash in constant time.
func secretMatches(presented string, storedHash []byte) bool {
	if len(storedHash) != sha256.Size {
		return false
	}
	return subtle.ConstantTimeCompare(HashClientSecret(presented), storedHash) == 1
}

// TokenHash is the key a token is stored under: hex SHA-256 of its value.
func TokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
