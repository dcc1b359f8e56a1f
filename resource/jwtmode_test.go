package resource

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/example/authsvc/resource/jwtaccess"
)

const jwtIssuer = "https://auth.example.test"

// jwtEnv is the service in jwt mode, trusting one key served from a JWKS.
type jwtEnv struct {
	handler http.Handler
	key     *ecdsa.PrivateKey
	down    *atomic.Bool
}

func newJWTEnv(t *testing.T) jwtEnv {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	down := &atomic.Bool{}
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		body, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "trusted", Algorithm: "ES256", Use: "sig"}}})
		_, _ = w.Write(body)
	}))
	t.Cleanup(jwks.Close)
	v, err := jwtaccess.NewVerifier(jwtaccess.Config{JWKSURL: jwks.URL, Issuer: jwtIssuer, Audience: DefaultAudience})
	if err != nil {
		t.Fatal(err)
	}
	h := NewServer(slog.New(slog.NewTextHandler(io.Discard, nil)), newSQLiteStore(t), NewJWTChecker(v))
	return jwtEnv{handler: h, key: key, down: down}
}

type testClaims struct {
	jwt.Claims
	ClientID string `json:"client_id"`
	Scope    string `json:"scope"`
	Username string `json:"username,omitempty"`
}

func validClaims() testClaims {
	now := time.Now()
	return testClaims{Claims: jwt.Claims{Issuer: jwtIssuer, Subject: "alice", Audience: jwt.Audience{DefaultAudience}, ID: "j1",
		IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(5 * time.Minute))},
		ClientID: "web", Scope: "items:read", Username: "alice"}
}

func signWith(t *testing.T, key any, kid string, c any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: key, KeyID: kid}},
		(&jose.SignerOptions{}).WithType("at+jwt"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := jwt.Signed(signer).Claims(c).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (e jwtEnv) get(token string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, "/items", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	e.handler.ServeHTTP(rec, req)
	return rec
}

// TestJWTModeAttacks: every forged, stale or misdirected token gets 401
// invalid_token, never a 500 and never the items.
func TestJWTModeAttacks(t *testing.T) {
	e := newJWTEnv(t)
	valid := signWith(t, e.key, "trusted", validClaims())
	if rec := e.get(valid); rec.Code != http.StatusOK {
		t.Fatalf("a valid token: %d %s", rec.Code, rec.Body)
	}
	enc := base64.RawURLEncoding.EncodeToString
	payload, _ := json.Marshal(validClaims())
	none := enc([]byte(`{"alg":"none","typ":"at+jwt","kid":"trusted"}`)) + "." + enc(payload) + "."
	der, _ := x509.MarshalPKIXPublicKey(e.key.Public())
	hsInput := enc([]byte(`{"alg":"HS256","typ":"at+jwt","kid":"trusted"}`)) + "." + enc(payload)
	mac := hmac.New(sha256.New, der)
	mac.Write([]byte(hsInput))
	foreignKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	with := func(f func(*testClaims)) testClaims { c := validClaims(); f(&c); return c }
	for _, c := range []struct{ name, token string }{
		{"re-signed with alg none", none},
		{"HMAC keyed with the public key", hsInput + "." + enc(mac.Sum(nil))},
		{"a foreign kid", signWith(t, foreignKey, "foreign", validClaims())},
		{"a foreign key under our kid", signWith(t, foreignKey, "trusted", validClaims())},
		{"expired", signWith(t, e.key, "trusted", with(func(c *testClaims) { c.Expiry = jwt.NewNumericDate(time.Now().Add(-2 * time.Minute)) }))},
		{"not yet valid", signWith(t, e.key, "trusted", with(func(c *testClaims) { c.NotBefore = jwt.NewNumericDate(time.Now().Add(2 * time.Minute)) }))},
		{"another audience", signWith(t, e.key, "trusted", with(func(c *testClaims) { c.Audience = jwt.Audience{"https://other.example/"} }))},
		{"another issuer", signWith(t, e.key, "trusted", with(func(c *testClaims) { c.Issuer = "https://evil.example" }))},
		{"truncated", valid[:len(valid)/2]},
		{"oversized", valid + strings.Repeat("A", 9000)},
	} {
		t.Run(c.name, func(t *testing.T) {
			rec := e.get(c.token)
			if rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Header().Get("WWW-Authenticate"), `error="invalid_token"`) {
				t.Fatalf("%d %q %s", rec.Code, rec.Header().Get("WWW-Authenticate"), rec.Body)
			}
		})
	}
	// Keys that cannot be fetched: fail closed with 503, not 401.
	e.down.Store(true)
	fresh := newJWTEnv(t)
	fresh.down.Store(true)
	if rec := fresh.get(signWith(t, fresh.key, "trusted", validClaims())); rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("JWKS unreachable: %d", rec.Code)
	}
}
