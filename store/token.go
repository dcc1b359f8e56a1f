package store

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
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

// MaxTokenBytes bounds a presented token worth looking up: ours are 43
// characters, and no longer value is ever a token of this server.
const MaxTokenBytes = 1024

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
