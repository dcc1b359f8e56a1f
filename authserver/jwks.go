package authserver

import (
	"net/http"
	"strconv"
)

// jwksPath is where the keys of JWT access tokens are published.
const jwksPath = "/.well-known/jwks.json"

// jwksMaxAge is how long a resource may cache the JWKS. A rotation
// publishes the next key well before it signs (authctl keys rotate
// --publish-for, 10 minutes by default), and a resource that meets an
// unknown kid fetches again anyway.
const jwksMaxAge = 300

var jwksEmpty = []byte(`{"keys":[]}`)

// handleJWKS serves the published public keys (RFC 7517 §5).
func (s *server) handleJWKS(w http.ResponseWriter, r *http.Request) error {
	body := jwksEmpty
	if s.cfg.Keys != nil {
		body = s.cfg.Keys.JWKS()
	}
	h := w.Header()
	h.Set("Content-Type", "application/jwk-set+json")
	h.Set("Cache-Control", "public, max-age="+strconv.Itoa(jwksMaxAge))
	_, _ = w.Write(body)
	return nil
}
