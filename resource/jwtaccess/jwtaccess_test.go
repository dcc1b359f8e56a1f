package jwtaccess

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

const (
	issuer   = "https://auth.example.test"
	audience = "urn:authsvc:items"
)

type signingKey struct {
	alg  jose.SignatureAlgorithm
	kid  string
	priv any
	pub  jose.JSONWebKey
}

func newKey(t testing.TB, alg jose.SignatureAlgorithm, kid string) signingKey {
	t.Helper()
	var priv, pub any
	if alg == jose.EdDSA {
		p, k, _ := ed25519.GenerateKey(rand.Reader)
		priv, pub = k, p
	} else {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		priv, pub = k, k.Public()
	}
	return signingKey{alg: alg, kid: kid, priv: priv, pub: jose.JSONWebKey{Key: pub, KeyID: kid, Algorithm: string(alg), Use: "sig"}}
}

// jwksServer serves the keys it holds and counts fetches.
type jwksServer struct {
	*httptest.Server
	mu      sync.Mutex
	keys    []jose.JSONWebKey
	fetches atomic.Int64
	down    atomic.Bool
	answer  atomic.Pointer[http.HandlerFunc] // overrides the answer when set
}

func newJWKS(t testing.TB, keys ...signingKey) *jwksServer {
	s := &jwksServer{}
	for _, k := range keys {
		s.keys = append(s.keys, k.pub)
	}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		if !strings.Contains(r.Header.Get("Accept"), "application/json") {
			http.Error(w, "JSON only", http.StatusNotAcceptable)
			return
		}
		if s.down.Load() {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		if answer := s.answer.Load(); answer != nil {
			(*answer)(w, r)
			return
		}
		s.mu.Lock()
		body, _ := json.Marshal(jose.JSONWebKeySet{Keys: s.keys})
		s.mu.Unlock()
		w.Header().Set("Cache-Control", "public, max-age=300")
		_, _ = w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) add(k signingKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = append(s.keys, k.pub)
}

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func newVerifier(t *testing.T, s *jwksServer, clk *clock) *Verifier {
	t.Helper()
	v, err := NewVerifier(Config{JWKSURL: s.URL, Issuer: issuer, Audience: audience, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

type claims struct {
	jwt.Claims
	ClientID string `json:"client_id,omitempty"`
	Scope    string `json:"scope,omitempty"`
	Username string `json:"username,omitempty"`
	Cnf      any    `json:"cnf,omitempty"`
}

func goodClaims(now time.Time) claims {
	return claims{Claims: jwt.Claims{Issuer: issuer, Subject: "alice", Audience: jwt.Audience{audience}, ID: "jti-1",
		IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(5 * time.Minute))},
		ClientID: "web", Scope: "items:read", Username: "alice"}
}

func sign(t testing.TB, k signingKey, typ string, c any) string {
	t.Helper()
	opts := &jose.SignerOptions{}
	if typ != "" {
		opts = opts.WithType(jose.ContentType(typ))
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: k.alg, Key: jose.JSONWebKey{Key: k.priv, KeyID: k.kid}}, opts)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(signer).Claims(c).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestVerifyAcceptsValidTokens(t *testing.T) {
	clk := &clock{now: time.Now()}
	es, ed := newKey(t, jose.ES256, "es"), newKey(t, jose.EdDSA, "ed")
	srv := newJWKS(t, es, ed)
	v := newVerifier(t, srv, clk)
	for _, k := range []signingKey{es, ed} {
		c := goodClaims(clk.Now())
		c.Cnf = map[string]string{"jkt": "thumb"}
		got, err := v.Verify(context.Background(), sign(t, k, "at+jwt", c))
		if err != nil {
			t.Fatalf("%s: %v", k.alg, err)
		}
		if got.Subject != "alice" || got.ClientID != "web" || got.Username != "alice" || got.Scope != "items:read" ||
			got.JTI != "jti-1" || got.JKT != "thumb" || len(got.Audience) != 1 {
			t.Fatalf("%s: %+v", k.alg, got)
		}
	}
	// typ in any case or as the media type spelled out (RFC 9068 §4),
	// and aud as an array naming ours.
	c := goodClaims(clk.Now())
	c.Audience = jwt.Audience{"https://other.example/", audience}
	for _, typ := range []string{"AT+JWT", "application/at+jwt"} {
		if _, err := v.Verify(context.Background(), sign(t, es, typ, c)); err != nil {
			t.Fatalf("typ %s with two audiences: %v", typ, err)
		}
	}
	if n := srv.fetches.Load(); n != 1 {
		t.Fatalf("%d JWKS fetches, want 1", n)
	}
}

func TestVerifyRefuses(t *testing.T) {
	clk := &clock{now: time.Now()}
	k := newKey(t, jose.ES256, "k1")
	foreign := newKey(t, jose.ES256, "k1") // same kid, another key
	stranger := newKey(t, jose.ES256, "stranger")
	// Published, but not for us: one for encryption, one for another alg.
	forEnc, es384 := newKey(t, jose.ES256, "enc"), newKey(t, jose.ES256, "es384")
	forEnc.pub.Use, es384.pub.Algorithm = "enc", string(jose.ES384)
	unkeyed := k
	unkeyed.kid = ""
	srv := newJWKS(t, k, forEnc, es384)
	v := newVerifier(t, srv, clk)
	now := clk.Now()
	with := func(f func(*claims)) claims { c := goodClaims(now); f(&c); return c }
	valid := sign(t, k, "at+jwt", goodClaims(now))
	if _, err := v.Verify(context.Background(), valid); err != nil {
		t.Fatalf("the fixture is refused: %v", err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	payload, _ := json.Marshal(goodClaims(now))
	none := enc([]byte(`{"alg":"none","typ":"at+jwt","kid":"k1"}`)) + "." + enc(payload) + "."
	der, _ := x509.MarshalPKIXPublicKey(k.pub.Key)
	hsInput := enc([]byte(`{"alg":"HS256","typ":"at+jwt","kid":"k1"}`)) + "." + enc(payload)
	mac := hmac.New(sha256.New, der)
	mac.Write([]byte(hsInput))
	hs := hsInput + "." + enc(mac.Sum(nil))

	for _, c := range []struct{ name, token, reason string }{
		{"alg none", none, "alg"},
		{"HS256 keyed with the public key", hs, "alg"},
		{"typ missing", sign(t, k, "", goodClaims(now)), "typ"},
		{"typ JWT", sign(t, k, "JWT", goodClaims(now)), "typ"},
		{"no kid", sign(t, unkeyed, "at+jwt", goodClaims(now)), "kid"},
		{"unknown kid", sign(t, stranger, "at+jwt", goodClaims(now)), "kid"},
		{"kid of a key published for encryption", sign(t, forEnc, "at+jwt", goodClaims(now)), "kid"},
		{"kid of a key published for another alg", sign(t, es384, "at+jwt", goodClaims(now)), "kid"},
		{"signed by a foreign key under our kid", sign(t, foreign, "at+jwt", goodClaims(now)), "signature"},
		{"expired beyond leeway", sign(t, k, "at+jwt", with(func(c *claims) { c.Expiry = jwt.NewNumericDate(now.Add(-time.Minute)) })), "exp"},
		{"no exp", sign(t, k, "at+jwt", with(func(c *claims) { c.Expiry = nil })), "exp"},
		{"not yet valid", sign(t, k, "at+jwt", with(func(c *claims) { c.NotBefore = jwt.NewNumericDate(now.Add(time.Minute)) })), "nbf"},
		{"issued in the future", sign(t, k, "at+jwt", with(func(c *claims) { c.IssuedAt = jwt.NewNumericDate(now.Add(time.Minute)) })), "iat"},
		{"no iat", sign(t, k, "at+jwt", with(func(c *claims) { c.IssuedAt = nil })), "iat"},
		{"wrong issuer", sign(t, k, "at+jwt", with(func(c *claims) { c.Issuer = "https://evil.example" })), "iss"},
		{"wrong audience", sign(t, k, "at+jwt", with(func(c *claims) { c.Audience = jwt.Audience{"https://other.example/"} })), "aud"},
		{"no sub", sign(t, k, "at+jwt", with(func(c *claims) { c.Subject = "" })), "claims"},
		{"no client_id", sign(t, k, "at+jwt", with(func(c *claims) { c.ClientID = "" })), "claims"},
		{"no jti", sign(t, k, "at+jwt", with(func(c *claims) { c.ID = "" })), "claims"},
		{"truncated", valid[:len(valid)-5], "malformed"},
		{"two parts", valid[:strings.LastIndex(valid, ".")], "malformed"},
		{"garbage", "a.b.c", "malformed"},
		{"oversized garbage", strings.Repeat("a", MaxTokenBytes+1), "too_large"},
		{"oversized but signed", sign(t, k, "at+jwt", with(func(c *claims) { c.Username = strings.Repeat("a", MaxTokenBytes) })), "too_large"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := v.Verify(context.Background(), c.token)
			if !errors.Is(err, ErrInvalidToken) || Reason(err) != c.reason {
				t.Fatalf("err = %v (reason %q), want reason %q", err, Reason(err), c.reason)
			}
			if strings.Contains(err.Error(), c.token[:min(40, len(c.token))]) || strings.Contains(err.Error(), "stranger") {
				t.Fatalf("the error quotes the token: %v", err)
			}
		})
	}
	// Within the leeway, exp just past and nbf and iat just ahead pass.
	for name, f := range map[string]func(*claims){
		"exp": func(c *claims) { c.Expiry = jwt.NewNumericDate(now.Add(-10 * time.Second)) },
		"nbf and iat": func(c *claims) {
			c.NotBefore, c.IssuedAt = jwt.NewNumericDate(now.Add(10*time.Second)), jwt.NewNumericDate(now.Add(10*time.Second))
		},
	} {
		if _, err := v.Verify(context.Background(), sign(t, k, "at+jwt", with(f))); err != nil {
			t.Fatalf("%s within the leeway: %v", name, err)
		}
	}
}

// TestUnknownKidFloodFetchesRarely: made-up kids cost at most one JWKS
// fetch per MinRefetch, however many arrive at once.
func TestUnknownKidFloodFetchesRarely(t *testing.T) {
	clk := &clock{now: time.Now()}
	k := newKey(t, jose.ES256, "k1")
	srv := newJWKS(t, k)
	v := newVerifier(t, srv, clk)
	if err := v.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	before := srv.fetches.Load()
	var wg sync.WaitGroup
	for i := range 1000 {
		wg.Go(func() {
			fake := newKey(t, jose.ES256, fmt.Sprintf("made-up-%d", i))
			_, err := v.Verify(context.Background(), sign(t, fake, "at+jwt", goodClaims(clk.Now())))
			if Reason(err) != "kid" {
				t.Errorf("made-up kid: %v", err)
			}
		})
	}
	wg.Wait()
	if n := srv.fetches.Load() - before; n != 1 {
		t.Fatalf("%d fetches for 1000 made-up kids within MinRefetch, want 1", n)
	}
	clk.Add(DefaultMinRefetch)
	fake := newKey(t, jose.ES256, "made-up-late")
	_, _ = v.Verify(context.Background(), sign(t, fake, "at+jwt", goodClaims(clk.Now())))
	if n := srv.fetches.Load() - before; n != 2 {
		t.Fatalf("%d fetches after MinRefetch passed, want 2", n)
	}
}

// TestRotationFoundOnFirstSight: a key published after the last fetch is
// fetched when a token it signed arrives.
func TestRotationFoundOnFirstSight(t *testing.T) {
	clk := &clock{now: time.Now()}
	k1, k2 := newKey(t, jose.ES256, "k1"), newKey(t, jose.EdDSA, "k2")
	srv := newJWKS(t, k1)
	v := newVerifier(t, srv, clk)
	if _, err := v.Verify(context.Background(), sign(t, k1, "at+jwt", goodClaims(clk.Now()))); err != nil {
		t.Fatal(err)
	}
	srv.add(k2)
	clk.Add(DefaultMinRefetch)
	if _, err := v.Verify(context.Background(), sign(t, k2, "at+jwt", goodClaims(clk.Now()))); err != nil {
		t.Fatalf("the rotated-in key: %v", err)
	}
}

func TestJWKSFailures(t *testing.T) {
	clk := &clock{now: time.Now()}
	k := newKey(t, jose.ES256, "k1")
	srv := newJWKS(t, k)
	v := newVerifier(t, srv, clk)
	srv.down.Store(true)
	_, err := v.Verify(context.Background(), sign(t, k, "at+jwt", goodClaims(clk.Now())))
	if !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrInvalidToken) || Reason(err) != "unavailable" {
		t.Fatalf("JWKS down, kid unknown: %v, want ErrUnavailable", err)
	}
	// Until MinRefetch has passed no fetch is made, and the kid is as
	// unknown as at the failed fetch: still unavailable, not the token's
	// fault.
	fetches := srv.fetches.Load()
	clk.Add(DefaultMinRefetch / 2)
	_, err = v.Verify(context.Background(), sign(t, k, "at+jwt", goodClaims(clk.Now())))
	if !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrInvalidToken) {
		t.Fatalf("JWKS down, kid unknown, within MinRefetch: %v, want ErrUnavailable", err)
	}
	if n := srv.fetches.Load(); n != fetches {
		t.Fatalf("%d fetches within MinRefetch of a failed one, want %d", n, fetches)
	}
	srv.down.Store(false)
	clk.Add(DefaultMinRefetch)
	if _, err := v.Verify(context.Background(), sign(t, k, "at+jwt", goodClaims(clk.Now()))); err != nil {
		t.Fatalf("JWKS back: %v", err)
	}
	// A cached key keeps working while the JWKS is down, even past its
	// max-age (the refresh it starts fails and keeps the set).
	srv.down.Store(true)
	clk.Add(10 * time.Minute)
	fetches = srv.fetches.Load()
	for range 2 {
		if _, err := v.Verify(context.Background(), sign(t, k, "at+jwt", goodClaims(clk.Now()))); err != nil {
			t.Fatalf("cached key while the JWKS is down: %v", err)
		}
	}
	waitFor(t, func() bool { return srv.fetches.Load() == fetches+1 })
}

// TestBadJWKSKeepsThePreviousKeys: an answer that is not a usable key set
// leaves the cached keys as they were, and a kid they lack is unavailable
// (503), not invalid.
func TestBadJWKSKeepsThePreviousKeys(t *testing.T) {
	huge := `{"keys":[` + strings.Repeat(`{"kty":"EC","crv":"P-256","x":"AAAA","y":"AAAA"},`, 2000) + `{}]}`
	for _, c := range []struct {
		name   string
		answer http.HandlerFunc
	}{
		{"status 500", func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "oops", http.StatusInternalServerError) }},
		{"status 204", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }},
		{"garbage", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("<html>garbage")) }},
		{"keys not an array", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`{"keys":"no"}`)) }},
		{"a body over 64 KiB", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(huge)) }},
		{"no usable key: only symmetric", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte(`{"keys":[{"kty":"oct","kid":"sym","k":"c2VjcmV0"}]}`))
		}},
		{"a redirect, not followed", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			clk := &clock{now: time.Now()}
			k := newKey(t, jose.ES256, "k1")
			srv := newJWKS(t, k)
			v := newVerifier(t, srv, clk)
			if _, err := v.Verify(context.Background(), sign(t, k, "at+jwt", goodClaims(clk.Now()))); err != nil {
				t.Fatalf("before the bad answer: %v", err)
			}
			srv.answer.Store(&c.answer)
			if err := v.Refresh(context.Background()); err == nil {
				t.Fatal("Refresh accepted the bad answer")
			}
			clk.Add(DefaultMinRefetch)
			fresh := newKey(t, jose.ES256, "fresh")
			_, err := v.Verify(context.Background(), sign(t, fresh, "at+jwt", goodClaims(clk.Now())))
			if !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrInvalidToken) {
				t.Fatalf("an unknown kid after the bad answer: %v, want ErrUnavailable", err)
			}
			if _, err := v.Verify(context.Background(), sign(t, k, "at+jwt", goodClaims(clk.Now()))); err != nil {
				t.Fatalf("the cached key after the bad answer: %v", err)
			}
		})
	}
}

func TestNewVerifierRefuses(t *testing.T) {
	for _, cfg := range []Config{
		{JWKSURL: "ftp://x", Issuer: issuer, Audience: audience},
		{JWKSURL: "https://u:p@x/jwks", Issuer: issuer, Audience: audience},
		{JWKSURL: "https://x/jwks", Audience: audience},
		{JWKSURL: "https://x/jwks", Issuer: issuer},
		{JWKSURL: "https://x/jwks", Issuer: issuer, Audience: audience, Algs: []jose.SignatureAlgorithm{jose.HS256}},
		{JWKSURL: "https://x/jwks", Issuer: issuer, Audience: audience, Leeway: 2 * time.Minute},
		{JWKSURL: "https://x/jwks", Issuer: issuer, Audience: audience, Leeway: -time.Second},
		{JWKSURL: "https://x/jwks", Issuer: issuer, Audience: audience, MaxAge: -time.Second},
		{JWKSURL: "https://x/jwks", Issuer: issuer, Audience: audience, Algs: []jose.SignatureAlgorithm{"none"}},
		{JWKSURL: "/jwks", Issuer: issuer, Audience: audience},
	} {
		if _, err := NewVerifier(cfg); err == nil {
			t.Errorf("NewVerifier(%+v) accepted", cfg)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	clk := &clock{now: time.Now()}
	k := newKey(b, jose.ES256, "k1")
	srv := newJWKS(b, k)
	v, _ := NewVerifier(Config{JWKSURL: srv.URL, Issuer: issuer, Audience: audience, Now: clk.Now})
	tok := sign(b, k, "at+jwt", goodClaims(clk.Now()))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(context.Background(), tok); err != nil {
			b.Fatal(err)
		}
	}
}

// TestStaleSetRefreshedOnce: past its max-age the set is refreshed by one
// fetch however many callers see it stale, and the known key is used
// meanwhile.
func TestStaleSetRefreshedOnce(t *testing.T) {
	clk := &clock{now: time.Now()}
	k := newKey(t, jose.ES256, "k1")
	srv := newJWKS(t, k)
	v := newVerifier(t, srv, clk)
	if err := v.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	clk.Add(301 * time.Second) // the server's max-age is 300
	tok := sign(t, k, "at+jwt", goodClaims(clk.Now()))
	var wg sync.WaitGroup
	for range 200 {
		wg.Go(func() {
			if _, err := v.Verify(context.Background(), tok); err != nil {
				t.Errorf("a known key past max-age: %v", err)
			}
		})
	}
	wg.Wait()
	waitFor(t, func() bool { return v.keys.Load().fetched.Equal(clk.Now()) })
	if n := srv.fetches.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2: the first and one refresh", n)
	}
}

// waitFor polls cond for what runs in the background (the refresh of a
// stale set).
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
	}
}

// TestMaxAgeOverridesCacheControl: Config.MaxAge, not the server's
// max-age of 300 s, decides when the set is refreshed.
func TestMaxAgeOverridesCacheControl(t *testing.T) {
	clk := &clock{now: time.Now()}
	k := newKey(t, jose.ES256, "k1")
	srv := newJWKS(t, k)
	v, err := NewVerifier(Config{JWKSURL: srv.URL, Issuer: issuer, Audience: audience, MaxAge: time.Minute, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		after   time.Duration
		fetches int64
	}{{59 * time.Second, 1}, {2 * time.Second, 2}} {
		clk.Add(c.after)
		if _, err := v.Verify(context.Background(), sign(t, k, "at+jwt", goodClaims(clk.Now()))); err != nil {
			t.Fatal(err)
		}
		if c.fetches > 1 {
			waitFor(t, func() bool { return v.keys.Load().fetched.Equal(clk.Now()) })
		}
		if n := srv.fetches.Load(); n != c.fetches {
			t.Fatalf("%v later: %d fetches, want %d", c.after, n, c.fetches)
		}
	}
}
