// Package reqid is the request-id rule both services share: an incoming
// X-Request-Id of 1-64 characters from [A-Za-z0-9._-] is kept, anything
// else is replaced by a generated one, so that a caller cannot forge log
// lines and one id follows a request through both services' logs.
package reqid

import (
	"context"
	"crypto/rand"
	"encoding/hex"
)

// Header is the HTTP header that carries the id, in and out.
const Header = "X-Request-Id"

// maxLen bounds an accepted id.
const maxLen = 64

// Valid reports whether id may be kept as it came.
func Valid(id string) bool {
	if id == "" || len(id) > maxLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// New returns a fresh id: 16 random bytes in hex (32 characters).
func New() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// FromHeader keeps a valid incoming id and generates one otherwise.
func FromHeader(incoming string) string {
	if Valid(incoming) {
		return incoming
	}
	return New()
}

type ctxKey struct{}

// With returns ctx carrying id.
func With(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// From returns the id ctx carries, or "".
func From(ctx context.Context) string {
	id, _ := ctx.Value(ctxKey{}).(string)
	return id
}
