package store

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
)

// opaqueBytes is the entropy of generated tokens and client secrets: 256
// bits, well above RFC 6749 §10.10's 128.
const opaqueBytes = 32

// NewOpaqueValue returns a fresh token or secret: 256 bits of crypto/rand as
// unpadded base64url.
func NewOpaqueValue() (string, error) {
	b := make([]byte, opaqueBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("read random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// HashToken is the key a token is stored (and cached) under: the hex SHA-256
// of its value, so no copy of the database or of a cache yields a usable
// token.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// MaxTokenBytes bounds a presented token worth looking up: an opaque
// token is 43 characters, a JWT access token a few hundred (the issuer
// refuses to sign one longer than this), and no longer value is ever a
// token of this server.
const MaxTokenBytes = 8192

// PlausibleToken reports whether a presented value could be a token at all:
// 1..MaxTokenBytes printable ASCII characters. Anything else is answered as
// an unknown token without reaching a store.
func PlausibleToken(s string) bool {
	if s == "" || len(s) > MaxTokenBytes {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// NewRefreshTokenValue returns a fresh refresh token of grant familyID:
// familyID, a dot, and 256 random bits. Naming the grant in the value is what
// lets the store keep one record per grant and still tell any earlier
// refresh token of it (reuse, RFC 9700 §4.14.2) from an unknown one.
// familyID must not contain a dot (NewOpaqueValue's never do).
func NewRefreshTokenValue(familyID string) (string, error) {
	if familyID == "" || strings.Contains(familyID, ".") {
		return "", fmt.Errorf("refresh token: family id must be non-empty and dot-free")
	}
	random, err := NewOpaqueValue()
	if err != nil {
		return "", err
	}
	return familyID + "." + random, nil
}

// RefreshTokenFamily returns the grant a refresh token value names; ok is
// false for a value of another shape (an access token, a refresh token
// issued before grants named themselves, garbage).
func RefreshTokenFamily(value string) (familyID string, ok bool) {
	familyID, random, found := strings.Cut(value, ".")
	if !found || familyID == "" || random == "" || strings.Contains(random, ".") {
		return "", false
	}
	return familyID, true
}
