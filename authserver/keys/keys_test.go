package keys

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/example/authsvc/store"
	"github.com/example/authsvc/store/sqlite"
)

func newKEK(t *testing.T) (*KEK, string) {
	t.Helper()
	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	enc := base64.StdEncoding.EncodeToString(raw)
	k, err := ParseKEK(enc)
	if err != nil {
		t.Fatal(err)
	}
	return k, enc
}

func TestParseKEK(t *testing.T) {
	_, enc := newKEK(t)
	if _, err := ParseKEK(enc); err != nil {
		t.Fatalf("ParseKEK(valid) = %v", err)
	}
	raw, _ := base64.StdEncoding.DecodeString(enc)
	if _, err := ParseKEK(base64.RawURLEncoding.EncodeToString(raw) + "\n"); err != nil {
		t.Fatalf("ParseKEK(url alphabet, newline) = %v", err)
	}
	for _, bad := range []string{"", "short", base64.StdEncoding.EncodeToString(raw[:16])} {
		_, err := ParseKEK(bad)
		if err == nil {
			t.Fatalf("ParseKEK(%q) accepted", bad)
		}
		if bad != "" && strings.Contains(err.Error(), bad) {
			t.Fatalf("the error quotes the value: %v", err)
		}
	}
	path := filepath.Join(t.TempDir(), "kek")
	if err := os.WriteFile(path, []byte(enc+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if k, err := LoadKEK("", path); err != nil || k == nil {
		t.Fatalf("LoadKEK(file) = %v, %v", k, err)
	}
	if k, err := LoadKEK("", ""); err != nil || k != nil {
		t.Fatalf("LoadKEK(none) = %v, %v; want nil, nil", k, err)
	}
	if _, err := LoadKEK(enc, path); err == nil {
		t.Fatal("LoadKEK(both) accepted")
	}
}

func TestSealedKeyOpensOnlyWithItsKEKAndKid(t *testing.T) {
	kek, _ := newKEK(t)
	now := time.Now()
	for _, alg := range Algorithms {
		k, err := Generate(kek, alg, now, now)
		if err != nil {
			t.Fatalf("Generate(%s): %v", alg, err)
		}
		if _, err := openSigner(kek, k); err != nil {
			t.Fatalf("open %s: %v", alg, err)
		}
		if bytes.Contains(k.PublicJWK, []byte(`"d"`)) {
			t.Fatalf("the public JWK carries private material: %s", k.PublicJWK)
		}
		other, _ := newKEK(t)
		if _, err := openSigner(other, k); !errors.Is(err, ErrWrongKEK) {
			t.Fatalf("open with another KEK: %v, want ErrWrongKEK", err)
		}
		swapped := k
		swapped.ID = "another-kid"
		if _, err := openSigner(kek, swapped); !errors.Is(err, ErrWrongKEK) {
			t.Fatalf("open under another kid: %v, want ErrWrongKEK", err)
		}
	}
	if _, err := Generate(kek, "HS256", now, now); err == nil {
		t.Fatal("Generate(HS256) accepted")
	}
	if _, err := Generate(nil, ES256, now, now); !errors.Is(err, ErrNoKEK) {
		t.Fatalf("Generate without a KEK: %v", err)
	}
}

func openStore(t *testing.T) store.AuthStore {
	t.Helper()
	db, err := sqlite.OpenAuth(t.Context(), filepath.Join(t.TempDir(), "auth.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// verify checks token against the ring's JWKS and returns its claims.
func verify(t *testing.T, r *Ring, token string) (claims, jose.Header) {
	t.Helper()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(r.JWKS(), &set); err != nil {
		t.Fatalf("JWKS: %v", err)
	}
	parsed, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA})
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	h := parsed.Headers[0]
	keys := set.Key(h.KeyID)
	if len(keys) != 1 {
		t.Fatalf("kid %q: %d published keys", h.KeyID, len(keys))
	}
	var c claims
	if err := parsed.Claims(keys[0].Key, &c); err != nil {
		t.Fatalf("signature: %v", err)
	}
	return c, h
}

func TestRingSignsWithTheCurrentKeyAndPublishes(t *testing.T) {
	st := openStore(t)
	kek, _ := newKEK(t)
	now := time.Now().Truncate(time.Second)
	clock := now
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	r := NewRing(st, kek, "https://issuer.example", logger, func() time.Time { return clock })
	if _, _, err := r.Sign(AccessToken{}); !errors.Is(err, ErrNoSigningKey) {
		t.Fatalf("Sign before any key: %v", err)
	}
	if err := r.Ensure(t.Context(), ES256); err != nil {
		t.Fatal(err)
	}
	at := AccessToken{ID: "jti-1", Subject: "alice", ClientID: "web", Username: "alice", Scope: "items:read",
		Audience: []string{"https://api.example/"}, IssuedAt: now, Expiry: now.Add(5 * time.Minute), JKT: "thumb"}
	token, kid1, err := r.Sign(at)
	if err != nil {
		t.Fatal(err)
	}
	c, h := verify(t, r, token)
	if h.ExtraHeaders["typ"] != "at+jwt" || h.KeyID != kid1 || h.Algorithm != ES256 {
		t.Fatalf("header %+v", h)
	}
	if c.Issuer != "https://issuer.example" || c.Subject != "alice" || c.ClientID != "web" || c.Username != "alice" ||
		c.Scope != "items:read" || len(c.Audience) != 1 || c.Audience[0] != "https://api.example/" || c.ID != "jti-1" ||
		!c.Expiry.Time().Equal(at.Expiry) || !c.IssuedAt.Time().Equal(now) || c.Cnf == nil || c.Cnf.JKT != "thumb" {
		t.Fatalf("claims %+v", c)
	}
	// Another replica starting later keeps the same key.
	r2 := NewRing(st, kek, "https://issuer.example", logger, func() time.Time { return clock })
	if err := r2.Ensure(t.Context(), ES256); err != nil {
		t.Fatal(err)
	}
	if _, kid, _ := r2.Sign(at); kid != kid1 {
		t.Fatalf("second replica signs with %s, want %s", kid, kid1)
	}

	// A rotation: published at once, signing only from its activation.
	next, err := Generate(kek, EdDSA, now, now.Add(10*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.RotateSigningKey(t.Context(), next); err != nil {
		t.Fatal(err)
	}
	if err := r.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	var set jose.JSONWebKeySet
	_ = json.Unmarshal(r.JWKS(), &set)
	if len(set.Keys) != 2 || len(set.Key(next.ID)) != 1 {
		t.Fatalf("JWKS after rotation has %d keys; want both", len(set.Keys))
	}
	if _, kid, _ := r.Sign(at); kid != kid1 {
		t.Fatalf("signed with %s before the new key's activation", kid)
	}
	clock = now.Add(10 * time.Minute)
	token, kid, err := r.Sign(at)
	if err != nil || kid != next.ID {
		t.Fatalf("after activation: kid %s, %v; want %s", kid, err, next.ID)
	}
	if _, h := verify(t, r, token); h.Algorithm != EdDSA {
		t.Fatalf("alg %s", h.Algorithm)
	}
	// The old key leaves the JWKS once its last token has expired.
	clock = now.Add(10*time.Minute + store.MaxSignedTokenLifetime + store.SignedTokenLeeway)
	if err := r.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	set = jose.JSONWebKeySet{}
	_ = json.Unmarshal(r.JWKS(), &set)
	if len(set.Keys) != 1 || set.Keys[0].KeyID != next.ID {
		t.Fatalf("JWKS keeps %d keys; want only the new one", len(set.Keys))
	}
	if bytes.Contains(r.JWKS(), []byte(`"d":`)) {
		t.Fatal("the JWKS carries private material")
	}
}

func TestRingWithoutKEKPublishesButDoesNotSign(t *testing.T) {
	st := openStore(t)
	kek, _ := newKEK(t)
	now := time.Now()
	k, _ := Generate(kek, ES256, now, now)
	if _, err := st.EnsureSigningKey(t.Context(), k, now); err != nil {
		t.Fatal(err)
	}
	r := NewRing(st, nil, "https://issuer.example", slog.New(slog.NewTextHandler(io.Discard, nil)), time.Now)
	if err := r.Ensure(t.Context(), ES256); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(r.JWKS(), []byte(k.ID)) {
		t.Fatal("the stored key is not published")
	}
	if _, _, err := r.Sign(AccessToken{}); !errors.Is(err, ErrNoSigningKey) {
		t.Fatalf("Sign without a KEK: %v, want ErrNoSigningKey", err)
	}
}
