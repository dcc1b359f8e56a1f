package dpop

import (
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
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

var target, _ = url.Parse("https://api.example/items")

// prover makes proofs with one key.
type prover struct {
	alg  jose.SignatureAlgorithm
	priv any
	pub  jose.JSONWebKey
}

func newProver(t testing.TB, alg jose.SignatureAlgorithm) prover {
	t.Helper()
	var priv, pub any
	switch alg {
	case jose.EdDSA:
		p, k, _ := ed25519.GenerateKey(rand.Reader)
		priv, pub = k, p
	default:
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		priv, pub = k, k.Public()
	}
	return prover{alg: alg, priv: priv, pub: jose.JSONWebKey{Key: pub}}
}

func (p prover) jkt(t testing.TB) string {
	t.Helper()
	s, err := Thumbprint(&p.pub)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// sign signs claims with p's key, header typ and jwk as given ("" / nil
// leave them out).
func (p prover) sign(t testing.TB, typ string, jwk *jose.JSONWebKey, claims map[string]any) string {
	t.Helper()
	opts := &jose.SignerOptions{}
	if typ != "" {
		opts = opts.WithType(jose.ContentType(typ))
	}
	if jwk != nil {
		opts = opts.WithHeader("jwk", jwk)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: p.alg, Key: p.priv}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	obj, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var jtiCounter int

func claimsFor(method, htu string, iat time.Time, token string) map[string]any {
	jtiCounter++
	c := map[string]any{"jti": fmt.Sprintf("jti-%d", jtiCounter), "htm": method, "htu": htu, "iat": iat.Unix()}
	if token != "" {
		c["ath"] = ATH(token)
	}
	return c
}

func (p prover) proof(t testing.TB, method, htu string, iat time.Time, token string) string {
	return p.sign(t, "dpop+jwt", &p.pub, claimsFor(method, htu, iat, token))
}

func newVerifier(t testing.TB, now *time.Time, cfg Config) *Verifier {
	t.Helper()
	cfg.Now = func() time.Time { return *now }
	v, err := NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func wantReason(t *testing.T, what string, err error, reason string) {
	t.Helper()
	if !errors.Is(err, ErrInvalidProof) || Reason(err) != reason {
		t.Fatalf("%s: err = %v (reason %q), want reason %q", what, err, Reason(err), reason)
	}
}

func TestCheckAcceptsValidProofs(t *testing.T) {
	now := time.Now()
	v := newVerifier(t, &now, Config{})
	for _, alg := range []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA} {
		p := newProver(t, alg)
		got, err := v.Check(p.proof(t, "GET", "https://api.example/items", now, "tok"), "GET", target, "tok", p.jkt(t))
		if err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
		if got.JKT != p.jkt(t) || got.IssuedAt.Unix() != now.Unix() {
			t.Fatalf("%s: %+v", alg, got)
		}
		// At the token endpoint: no token, no binding yet.
		if _, err := v.Check(p.proof(t, "POST", "https://api.example/items", now, ""), "POST", target, "", ""); err != nil {
			t.Fatalf("%s without a token: %v", alg, err)
		}
	}
}

func TestCheckRefuses(t *testing.T) {
	now := time.Now()
	v := newVerifier(t, &now, Config{})
	p := newProver(t, jose.ES256)
	other := newProver(t, jose.ES256)
	const tok = "the-access-token"
	good := func() map[string]any { return claimsFor("GET", target.String(), now, tok) }
	with := func(k string, val any) map[string]any {
		c := good()
		if val == nil {
			delete(c, k)
		} else {
			c[k] = val
		}
		return c
	}
	// The fixture is valid.
	if _, err := v.Check(p.sign(t, "dpop+jwt", &p.pub, good()), "GET", target, tok, p.jkt(t)); err != nil {
		t.Fatalf("valid proof refused: %v", err)
	}

	// alg none: header and payload, no signature.
	enc := base64.RawURLEncoding.EncodeToString
	pubJSON, _ := json.Marshal(p.pub)
	noneHeader := enc([]byte(`{"typ":"dpop+jwt","alg":"none","jwk":` + string(pubJSON) + `}`))
	payload, _ := json.Marshal(good())
	none := noneHeader + "." + enc(payload) + "."
	// HS256 keyed with the public key's encoding (algorithm confusion).
	der, _ := x509.MarshalPKIXPublicKey(p.pub.Key)
	hsHeader := enc([]byte(`{"typ":"dpop+jwt","alg":"HS256","jwk":` + string(pubJSON) + `}`))
	mac := hmac.New(sha256.New, der)
	mac.Write([]byte(hsHeader + "." + enc(payload)))
	hs := hsHeader + "." + enc(payload) + "." + enc(mac.Sum(nil))
	// A JWK with the private part.
	privJWK := jose.JSONWebKey{Key: p.priv}
	octJWK := jose.JSONWebKey{Key: []byte("0123456789abcdef0123456789abcdef")}
	valid := p.sign(t, "dpop+jwt", &p.pub, good())

	for _, c := range []struct {
		name, proof, method, token, jkt, reason string
		htu                                     *url.URL
	}{
		{name: "alg none", proof: none, reason: "alg"},
		{name: "HS256 with the public key", proof: hs, reason: "alg"},
		{name: "typ missing", proof: p.sign(t, "", &p.pub, good()), reason: "typ"},
		{name: "typ JWT", proof: p.sign(t, "JWT", &p.pub, good()), reason: "typ"},
		{name: "jwk missing", proof: p.sign(t, "dpop+jwt", nil, good()), reason: "jwk"},
		{name: "jwk private", proof: p.sign(t, "dpop+jwt", &privJWK, good()), reason: "jwk"},
		{name: "jwk symmetric", proof: p.sign(t, "dpop+jwt", &octJWK, good()), reason: "jwk"},
		{name: "signed by another key", proof: other.sign(t, "dpop+jwt", &p.pub, good()), reason: "signature"},
		{name: "jti missing", proof: p.sign(t, "dpop+jwt", &p.pub, with("jti", nil)), reason: "claims"},
		{name: "jti huge", proof: p.sign(t, "dpop+jwt", &p.pub, with("jti", strings.Repeat("j", 300))), reason: "claims"},
		{name: "iat a string", proof: p.sign(t, "dpop+jwt", &p.pub, with("iat", "now")), reason: "claims"},
		{name: "htm other method", proof: p.sign(t, "dpop+jwt", &p.pub, with("htm", "POST")), reason: "htm"},
		{name: "htm lower case", proof: p.sign(t, "dpop+jwt", &p.pub, with("htm", "get")), reason: "htm"},
		{name: "htu other host", proof: p.sign(t, "dpop+jwt", &p.pub, with("htu", "https://evil.example/items")), reason: "htu"},
		{name: "htu other path", proof: p.sign(t, "dpop+jwt", &p.pub, with("htu", "https://api.example/items/1")), reason: "htu"},
		{name: "htu other scheme", proof: p.sign(t, "dpop+jwt", &p.pub, with("htu", "http://api.example/items")), reason: "htu"},
		{name: "iat too old", proof: p.sign(t, "dpop+jwt", &p.pub, with("iat", now.Add(-2*time.Minute).Unix())), reason: "iat"},
		{name: "iat in the future", proof: p.sign(t, "dpop+jwt", &p.pub, with("iat", now.Add(time.Minute).Unix())), reason: "iat"},
		{name: "ath missing", proof: p.sign(t, "dpop+jwt", &p.pub, with("ath", nil)), reason: "ath"},
		{name: "ath of another token", proof: p.sign(t, "dpop+jwt", &p.pub, with("ath", ATH("another"))), reason: "ath"},
		{name: "bound to another key", proof: valid, jkt: other.jkt(t), reason: "jkt"},
		{name: "truncated", proof: valid[:len(valid)-10], reason: "signature"},
		{name: "two parts", proof: valid[:strings.LastIndex(valid, ".")], reason: "malformed"},
		{name: "garbage", proof: "not a jwt", reason: "malformed"},
		{name: "oversized", proof: strings.Repeat("a", MaxProofBytes+1), reason: "too_large"},
	} {
		t.Run(c.name, func(t *testing.T) {
			method, token, jkt, htu := c.method, c.token, c.jkt, c.htu
			if method == "" {
				method = "GET"
			}
			if token == "" {
				token = tok
			}
			if jkt == "" {
				jkt = p.jkt(t)
			}
			if htu == nil {
				htu = target
			}
			_, err := v.Check(c.proof, method, htu, token, jkt)
			wantReason(t, c.name, err, c.reason)
			if err != nil && (strings.Contains(err.Error(), tok) || strings.Contains(err.Error(), c.proof[:min(len(c.proof), 40)])) {
				t.Fatalf("the error quotes the request: %v", err)
			}
		})
	}
}

func TestCheckRefusesReplay(t *testing.T) {
	now := time.Now()
	v := newVerifier(t, &now, Config{})
	p, q := newProver(t, jose.ES256), newProver(t, jose.EdDSA)
	c := claimsFor("GET", target.String(), now, "tok")
	proof := p.sign(t, "dpop+jwt", &p.pub, c)
	if _, err := v.Check(proof, "GET", target, "tok", ""); err != nil {
		t.Fatal(err)
	}
	_, err := v.Check(proof, "GET", target, "tok", "")
	wantReason(t, "replay", err, "replay")
	// The same jti by another key is another proof.
	if _, err := v.Check(q.sign(t, "dpop+jwt", &q.pub, c), "GET", target, "tok", ""); err != nil {
		t.Fatalf("same jti, another key: %v", err)
	}
	// Once the proof is too old, it is refused for its age, not remembered.
	now = now.Add(DefaultWindow + DefaultSkew + time.Second)
	_, err = v.Check(proof, "GET", target, "tok", "")
	wantReason(t, "replay after the window", err, "iat")
}

func TestReplayCacheIsBoundedAndRecovers(t *testing.T) {
	now := time.Now()
	v := newVerifier(t, &now, Config{MaxReplayEntries: 3, MaxPerKey: 2})
	p, q := newProver(t, jose.ES256), newProver(t, jose.ES256)
	for range 2 {
		if _, err := v.Check(p.proof(t, "GET", target.String(), now, ""), "GET", target, "", ""); err != nil {
			t.Fatal(err)
		}
	}
	_, err := v.Check(p.proof(t, "GET", target.String(), now, ""), "GET", target, "", "")
	wantReason(t, "third proof of one key", err, "cache_full")
	if _, err := v.Check(q.proof(t, "GET", target.String(), now, ""), "GET", target, "", ""); err != nil {
		t.Fatalf("another key while one is at its bound: %v", err)
	}
	r := newProver(t, jose.ES256)
	_, err = v.Check(r.proof(t, "GET", target.String(), now, ""), "GET", target, "", "")
	wantReason(t, "cache full", err, "cache_full")
	now = now.Add(DefaultWindow + DefaultSkew)
	if _, err := v.Check(r.proof(t, "GET", target.String(), now, ""), "GET", target, "", ""); err != nil {
		t.Fatalf("after the entries expired: %v", err)
	}
}

// A jti used again once its entry expired, while an entry inserted before
// it still lives (so the sweep has not reached it), must not be counted
// twice: the count of its key would never come back down.
func TestReplayCacheReusedJTIKeepsCountsExact(t *testing.T) {
	now := time.Now()
	v := newVerifier(t, &now, Config{})
	p := newProver(t, jose.ES256)
	long := claimsFor("GET", target.String(), now, "")
	short := claimsFor("GET", target.String(), now.Add(-50*time.Second), "")
	for _, c := range []map[string]any{long, short} {
		if _, err := v.Check(p.sign(t, "dpop+jwt", &p.pub, c), "GET", target, "", ""); err != nil {
			t.Fatal(err)
		}
	}
	now = now.Add(20 * time.Second) // short has expired, long has not
	short["iat"] = now.Unix()
	if _, err := v.Check(p.sign(t, "dpop+jwt", &p.pub, short), "GET", target, "", ""); err != nil {
		t.Fatalf("a jti again after its entry expired: %v", err)
	}
	if n := v.replay.perKey[jktHash(p.jkt(t))]; n != 2 {
		t.Fatalf("count of the key with two live entries = %d, want 2", n)
	}
	now = now.Add(DefaultWindow + DefaultSkew)
	v.replay.sweep(now)
	if len(v.replay.seen) != 0 || len(v.replay.perKey) != 0 {
		t.Fatalf("after everything expired: %d entries, counts %v", len(v.replay.seen), v.replay.perKey)
	}
}

func TestSameTarget(t *testing.T) {
	for _, c := range []struct {
		a, b string
		same bool
	}{
		{"https://api.example/items", "https://api.example/items", true},
		{"https://API.Example:443/items", "https://api.example/items", true},
		{"HTTPS://api.example/items?x=1#f", "https://api.example/items", true},
		{"https://api.example/p%7e", "https://api.example/p~", true},
		{"https://api.example/a%2fb", "https://api.example/a%2Fb", true},
		{"https://api.example", "https://api.example/", true},
		{"http://api.example:80/x", "http://api.example/x", true},
		{"http://[::1]:8080/x", "http://[::1]:8080/x", true},
		{"http://api.example/x", "https://api.example/x", false},
		{"https://api.example:8443/x", "https://api.example/x", false},
		{"https://api.example/x", "https://api.example/x/", false},
		{"https://api.example/X", "https://api.example/x", false},
		{"https://api.example/%61%2d%7E", "https://api.example/a-~", true},
		{"https://api.example/a%2fb", "https://api.example/a/b", false},
		{"https://api.example/a%21b", "https://api.example/a!b", false},
		{"https://api.example/a%c3%a9", "https://api.example/a%C3%A9", true},
		{"https://api.example/a%C3%A9", "https://api.example/aé", true},
		{"https://user@api.example/x", "https://api.example/x", false},
	} {
		a, _ := url.Parse(c.a)
		b, _ := url.Parse(c.b)
		if got := SameTarget(a, b); got != c.same {
			t.Errorf("SameTarget(%q, %q) = %v, want %v", c.a, c.b, got, c.same)
		}
	}
}

func TestFromRequest(t *testing.T) {
	h := http.Header{}
	if _, ok, err := FromRequest(h); ok || err != nil {
		t.Fatalf("no header: ok %v, err %v", ok, err)
	}
	h.Set("DPoP", "x.y.z")
	if p, ok, err := FromRequest(h); !ok || err != nil || p != "x.y.z" {
		t.Fatalf("one header: %q %v %v", p, ok, err)
	}
	h.Add("DPoP", "a.b.c")
	if _, _, err := FromRequest(h); Reason(err) != "malformed" {
		t.Fatalf("two headers: %v", err)
	}
	h = http.Header{"Dpop": {" "}}
	if _, _, err := FromRequest(h); Reason(err) != "malformed" {
		t.Fatalf("empty header: %v", err)
	}
}

func TestNewVerifierRefusesSymmetricAlgorithms(t *testing.T) {
	for _, alg := range []jose.SignatureAlgorithm{"none", jose.HS256, jose.HS512} {
		if _, err := NewVerifier(Config{Algs: []jose.SignatureAlgorithm{alg}}); err == nil {
			t.Errorf("NewVerifier accepted %s", alg)
		}
	}
}

func BenchmarkCheck(b *testing.B) {
	now := time.Now()
	v := newVerifier(b, &now, Config{MaxReplayEntries: 10_000_000, MaxPerKey: 10_000_000})
	p := newProver(b, jose.ES256)
	proofs := make([]string, b.N)
	for i := range proofs {
		proofs[i] = p.proof(b, "GET", target.String(), now, "tok")
	}
	jkt := p.jkt(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := v.Check(proofs[i], "GET", target, "tok", jkt); err != nil {
			b.Fatal(err)
		}
	}
}
