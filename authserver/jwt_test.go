package authserver_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/example/authsvc/authserver"
	"github.com/example/authsvc/authserver/keys"
	"github.com/example/authsvc/internal/dpopclient"
	"github.com/example/authsvc/store"
)

const (
	apiResource   = "https://api.example.test/"
	otherResource = "https://other.example.test/"
	tokenURL      = "https://auth.example.test/token"
)

// withJWT gives the server a signing key and adds the clients of these
// tests: jwtc (confidential, JWT, may ask for two resources), jwtpub
// (public, JWT, password and refresh) and mustdpop (confidential, opaque,
// DPoP required).
func withJWT(s *envSetup) {
	s.prepare = append(s.prepare, func(t testing.TB, db store.AuthStore, cfg *authserver.Config) {
		ctx := context.Background()
		for _, c := range []store.Client{
			{ID: "jwtc", SecretHash: store.HashClientSecret(confSecret), GrantTypes: []string{"password", "refresh_token", "client_credentials"},
				Scopes: []string{"items:read", "items:write"}, AccessTokenFormat: store.AccessTokenJWT, Resources: []string{apiResource, otherResource}},
			{ID: "jwtpub", GrantTypes: []string{"password", "refresh_token"}, Scopes: []string{"items:read"}, AccessTokenFormat: store.AccessTokenJWT},
			{ID: "mustdpop", SecretHash: store.HashClientSecret(confSecret), GrantTypes: []string{"client_credentials"}, Scopes: []string{"items:read"}, RequireDPoP: true},
		} {
			c.CreatedAt = cfg.Now()
			if err := db.CreateClient(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		raw := make([]byte, 32)
		_, _ = rand.Read(raw)
		kek, err := keys.ParseKEK(base64.StdEncoding.EncodeToString(raw))
		if err != nil {
			t.Fatal(err)
		}
		ring := keys.NewRing(db, kek, cfg.Issuer, slog.New(slog.NewTextHandler(io.Discard, nil)), cfg.Now)
		if err := ring.Ensure(ctx, keys.ES256); err != nil {
			t.Fatal(err)
		}
		cfg.Keys = ring
	})
}

// jwks fetches and parses the published keys.
func (e *env) jwks() jose.JSONWebKeySet {
	e.t.Helper()
	r := e.do("GET", "/.well-known/jwks.json", "", nil)
	if r.status != http.StatusOK || r.header.Get("Content-Type") != "application/jwk-set+json" ||
		!strings.Contains(r.header.Get("Cache-Control"), "max-age=") {
		e.t.Fatalf("JWKS: %d %v", r.status, r.header)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal([]byte(r.raw), &set); err != nil {
		e.t.Fatalf("JWKS: %v", err)
	}
	return set
}

type atClaims struct {
	jwt.Claims
	ClientID string `json:"client_id"`
	Scope    string `json:"scope"`
	Username string `json:"username"`
	Cnf      *struct {
		JKT string `json:"jkt"`
	} `json:"cnf"`
}

// verifyJWT checks token against the JWKS as a resource would and returns
// its header and claims.
func (e *env) verifyJWT(token string) (jose.Header, atClaims) {
	e.t.Helper()
	parsed, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		e.t.Fatalf("not a JWT: %v", err)
	}
	h := parsed.Headers[0]
	set := e.jwks()
	keys := set.Key(h.KeyID)
	if len(keys) != 1 {
		e.t.Fatalf("kid %q not published", h.KeyID)
	}
	var c atClaims
	if err := parsed.Claims(keys[0].Key, &c); err != nil {
		e.t.Fatalf("signature: %v", err)
	}
	return h, c
}

func TestJWTAccessTokens(t *testing.T) {
	onEachBackend(t, func(t *testing.T, backend func(*envSetup)) {
		e := newEnv(t, backend, withJWT)
		// An opaque client's token stays opaque.
		opaque := e.token(basic("conf", confSecret), url.Values{"grant_type": {"client_credentials"}})
		if opaque.status != http.StatusOK || strings.Count(opaque.str("access_token"), ".") != 0 {
			t.Fatalf("opaque client: %d %s", opaque.status, opaque.raw)
		}

		r := e.token(basic("jwtc", confSecret), url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {alicePass}, "scope": {"items:read"}})
		if r.status != http.StatusOK || r.str("token_type") != "Bearer" || r.body["expires_in"] != float64(300) {
			t.Fatalf("password grant of a JWT client: %d %s", r.status, r.raw)
		}
		access := r.str("access_token")
		h, c := e.verifyJWT(access)
		if h.ExtraHeaders["typ"] != "at+jwt" || h.Algorithm != "ES256" {
			t.Fatalf("header %+v", h)
		}
		now := e.clock.Now()
		if c.Issuer != "https://auth.example.test" || c.Subject != "alice" || c.Username != "alice" || c.ClientID != "jwtc" ||
			c.Scope != "items:read" || len(c.Audience) != 1 || c.Audience[0] != authserver.DefaultAudience || c.ID == "" ||
			!c.IssuedAt.Time().Equal(now.Truncate(time.Second)) || c.Expiry.Time().Sub(c.IssuedAt.Time()) != 5*time.Minute || c.Cnf != nil {
			t.Fatalf("claims %+v", c)
		}
		// Introspection knows it as any other token, and revocation
		// reaches it at once.
		in := e.introspect(access)
		if in["active"] != true || in["aud"] != authserver.DefaultAudience || in["client_id"] != "jwtc" {
			t.Fatalf("introspection: %v", in)
		}
		if rv := e.do("POST", "/revoke", basic("jwtc", confSecret), url.Values{"token": {access}}); rv.status != http.StatusOK {
			t.Fatalf("revoke: %d", rv.status)
		}
		if e.active(access) {
			t.Fatal("a revoked JWT is still active at introspection")
		}

		// A client's own token: sub is the client.
		cc := e.token(basic("jwtc", confSecret), url.Values{"grant_type": {"client_credentials"}, "resource": {apiResource, otherResource}})
		if cc.status != http.StatusOK {
			t.Fatalf("client credentials: %d %s", cc.status, cc.raw)
		}
		_, c = e.verifyJWT(cc.str("access_token"))
		if c.Subject != "jwtc" || c.Username != "" || len(c.Audience) != 2 || c.Audience[0] != apiResource || c.Audience[1] != otherResource {
			t.Fatalf("client credentials claims %+v", c)
		}
		if aud, _ := e.introspect(cc.str("access_token"))["aud"].([]any); len(aud) != 2 {
			t.Fatalf("introspection aud: %v", aud)
		}
	})
}

func TestResourceIndicators(t *testing.T) {
	e := newEnv(t, withJWT)
	cc := func(resources ...string) response {
		return e.token(basic("jwtc", confSecret), url.Values{"grant_type": {"client_credentials"}, "resource": resources})
	}
	if r := cc(apiResource); r.status != http.StatusOK {
		t.Fatalf("a registered resource: %d %s", r.status, r.raw)
	}
	for _, bad := range [][]string{{"https://evil.example/"}, {apiResource, "https://evil.example/"}, {"not a uri"}} {
		expectError(t, cc(bad...), http.StatusBadRequest, "invalid_target")
	}
	// Another client registered for no resource may not name one.
	r := e.token(basic("conf", confSecret), url.Values{"grant_type": {"client_credentials"}, "resource": {apiResource}})
	expectError(t, r, http.StatusBadRequest, "invalid_target")
	// A refresh may narrow the audience, never widen it.
	login := e.token(basic("jwtc", confSecret), url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {alicePass},
		"scope": {"items:read"}, "resource": {apiResource}})
	if login.status != http.StatusOK {
		t.Fatalf("login: %d %s", login.status, login.raw)
	}
	wider := e.token(basic("jwtc", confSecret), url.Values{"grant_type": {"refresh_token"}, "refresh_token": {login.str("refresh_token")},
		"resource": {otherResource}})
	expectError(t, wider, http.StatusBadRequest, "invalid_target")
	same := e.refresh("jwtc", confSecret, login.str("refresh_token"), "")
	if same.status != http.StatusOK {
		t.Fatalf("refresh: %d %s", same.status, same.raw)
	}
	if _, c := e.verifyJWT(same.str("access_token")); len(c.Audience) != 1 || c.Audience[0] != apiResource {
		t.Fatalf("refreshed audience %v, want the grant's", c.Audience)
	}
}

// TestOAuth2LibraryReadsJWTs: golang.org/x/oauth2, unchanged, gets and
// uses JWT access tokens like any other.
func TestOAuth2LibraryReadsJWTs(t *testing.T) {
	e := newEnv(t, withJWT)
	srv := httptest.NewServer(e.h)
	defer srv.Close()
	ctx := context.Background()
	cc := clientcredentials.Config{ClientID: "jwtc", ClientSecret: confSecret, TokenURL: srv.URL + "/token", Scopes: []string{"items:read"},
		EndpointParams: url.Values{"resource": {apiResource}}}
	tok, err := cc.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(tok.AccessToken, ".") != 2 || tok.Type() != "Bearer" || tok.Expiry.IsZero() {
		t.Fatalf("token %+v", tok)
	}
	conf := oauth2.Config{ClientID: "jwtc", ClientSecret: confSecret, Endpoint: oauth2.Endpoint{TokenURL: srv.URL + "/token"}}
	pw, err := conf.PasswordCredentialsToken(ctx, "alice", alicePass)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(pw.AccessToken, ".") != 2 || pw.RefreshToken == "" {
		t.Fatalf("password token %+v", pw)
	}
}

func TestDPoPAtTheTokenEndpoint(t *testing.T) {
	onEachBackend(t, func(t *testing.T, backend func(*envSetup)) {
		e := newEnv(t, backend, withJWT)
		p, err := dpopclient.New(jose.ES256, e.clock.Now)
		if err != nil {
			t.Fatal(err)
		}
		other, _ := dpopclient.New(jose.EdDSA, e.clock.Now)
		withProof := func(pr *dpopclient.Prover, htu string) http.Header {
			proof, err := pr.Proof("POST", htu, "")
			if err != nil {
				t.Fatal(err)
			}
			return http.Header{"Dpop": {proof}}
		}
		login := url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {alicePass}, "client_id": {"jwtpub"}}
		r := e.doHeader("POST", "/token", "", login, withProof(p, tokenURL))
		if r.status != http.StatusOK || r.str("token_type") != "DPoP" {
			t.Fatalf("DPoP login: %d %s", r.status, r.raw)
		}
		_, c := e.verifyJWT(r.str("access_token"))
		if c.Cnf == nil || c.Cnf.JKT != p.JKT() {
			t.Fatalf("cnf %+v, want jkt %s", c.Cnf, p.JKT())
		}
		in := e.introspect(r.str("access_token"))
		if in["token_type"] != "DPoP" || in["cnf"].(map[string]any)["jkt"] != p.JKT() {
			t.Fatalf("introspection: %v", in)
		}
		// The public client's refresh token is bound: only a proof by the
		// same key refreshes it.
		refresh := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {r.str("refresh_token")}, "client_id": {"jwtpub"}}
		expectError(t, e.doHeader("POST", "/token", "", refresh, nil), http.StatusBadRequest, "invalid_dpop_proof")
		expectError(t, e.doHeader("POST", "/token", "", refresh, withProof(other, tokenURL)), http.StatusBadRequest, "invalid_dpop_proof")
		again := e.doHeader("POST", "/token", "", refresh, withProof(p, tokenURL))
		if again.status != http.StatusOK || again.str("token_type") != "DPoP" {
			t.Fatalf("refresh with the bound key: %d %s", again.status, again.raw)
		}

		// A confidential client's refresh token is not bound (RFC 9449 §5).
		conf := url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {alicePass}}
		cr := e.doHeader("POST", "/token", basic("conf", confSecret), conf, withProof(p, tokenURL))
		if cr.status != http.StatusOK || cr.str("token_type") != "DPoP" {
			t.Fatalf("confidential DPoP login: %d %s", cr.status, cr.raw)
		}
		if plain := e.refresh("conf", confSecret, cr.str("refresh_token"), ""); plain.status != http.StatusOK || plain.str("token_type") != "Bearer" {
			t.Fatalf("confidential refresh without a proof: %d %s", plain.status, plain.raw)
		}

		// Bad proofs, each refused before anything is issued.
		cc := url.Values{"grant_type": {"client_credentials"}}
		if ok := e.doHeader("POST", "/token", basic("mustdpop", confSecret), cc, withProof(p, tokenURL)); ok.status != http.StatusOK || ok.str("token_type") != "DPoP" {
			t.Fatalf("DPoP-requiring client with a proof: %d %s", ok.status, ok.raw)
		}
		expectError(t, e.doHeader("POST", "/token", basic("mustdpop", confSecret), cc, nil), http.StatusBadRequest, "invalid_dpop_proof")
		expectError(t, e.doHeader("POST", "/token", basic("mustdpop", confSecret), cc, withProof(p, "https://auth.example.test/other")), http.StatusBadRequest, "invalid_dpop_proof")
		replayed := withProof(p, tokenURL)
		if ok := e.doHeader("POST", "/token", basic("mustdpop", confSecret), cc, replayed); ok.status != http.StatusOK {
			t.Fatalf("fresh proof: %d %s", ok.status, ok.raw)
		}
		expectError(t, e.doHeader("POST", "/token", basic("mustdpop", confSecret), cc, replayed), http.StatusBadRequest, "invalid_dpop_proof")
		old, _ := p.ProofAt("POST", tokenURL, "", e.clock.Now().Add(-10*time.Minute))
		expectError(t, e.doHeader("POST", "/token", basic("mustdpop", confSecret), cc, http.Header{"Dpop": {old}}), http.StatusBadRequest, "invalid_dpop_proof")
		expectError(t, e.doHeader("POST", "/token", basic("mustdpop", confSecret), cc, http.Header{"Dpop": {"a", "b"}}), http.StatusBadRequest, "invalid_dpop_proof")
	})
}

func TestMetadataAndJWKS(t *testing.T) {
	e := newEnv(t, withJWT)
	m := e.do("GET", "/.well-known/oauth-authorization-server", "", nil)
	if m.str("jwks_uri") != "https://auth.example.test/.well-known/jwks.json" {
		t.Fatalf("jwks_uri %q", m.str("jwks_uri"))
	}
	algs, _ := m.body["dpop_signing_alg_values_supported"].([]any)
	if len(algs) == 0 || algs[0] != "ES256" {
		t.Fatalf("dpop_signing_alg_values_supported %v", algs)
	}
	set := e.jwks()
	if len(set.Keys) != 1 || !set.Keys[0].IsPublic() || set.Keys[0].Use != "sig" || set.Keys[0].Algorithm != "ES256" {
		t.Fatalf("JWKS %+v", set.Keys)
	}

	// Without keys the JWKS is empty and a JWT client is told to come
	// back, as the operator has something to fix; nobody else notices.
	bare := newEnv(t, func(s *envSetup) {
		s.prepare = append(s.prepare, func(t testing.TB, db store.AuthStore, cfg *authserver.Config) {
			c := store.Client{ID: "jwtc", SecretHash: store.HashClientSecret(confSecret), GrantTypes: []string{"client_credentials"},
				AccessTokenFormat: store.AccessTokenJWT, CreatedAt: cfg.Now()}
			if err := db.CreateClient(context.Background(), c); err != nil {
				t.Fatal(err)
			}
		})
	})
	if set := bare.jwks(); len(set.Keys) != 0 {
		t.Fatalf("JWKS without keys: %+v", set)
	}
	r := bare.token(basic("jwtc", confSecret), url.Values{"grant_type": {"client_credentials"}})
	expectError(t, r, http.StatusServiceUnavailable, "temporarily_unavailable")
	if ok := bare.token(basic("conf", confSecret), url.Values{"grant_type": {"client_credentials"}}); ok.status != http.StatusOK {
		t.Fatalf("opaque client: %d", ok.status)
	}
}

// str is a string member of the JSON answer, "" if absent.
func (r response) str(name string) string {
	s, _ := r.body[name].(string)
	return s
}

// Access tokens are counted by format and binding, DPoP refusals by
// reason, and no JWT or proof reaches the log.
func TestTokenMetricsAndLog(t *testing.T) {
	e, reg, logs := opsEnv(t, withJWT)
	value := func(name string, labels map[string]string) float64 {
		v, _ := scrape(t, reg).Value(name, labels)
		return v
	}
	if v := value("authsvc_access_tokens_issued_total", map[string]string{"format": "jwt", "token_type": "dpop"}); v != 0 {
		t.Fatalf("before anything: %v", v)
	}
	p, _ := dpopclient.New(jose.ES256, e.clock.Now)
	proof, _ := p.Proof("POST", tokenURL, "")
	bound := e.doHeader("POST", "/token", basic("jwtc", confSecret), url.Values{"grant_type": {"client_credentials"}}, http.Header{"Dpop": {proof}})
	plain := e.token(basic("conf", confSecret), url.Values{"grant_type": {"client_credentials"}})
	if bound.status != http.StatusOK || plain.status != http.StatusOK {
		t.Fatalf("tokens: %d %d", bound.status, plain.status)
	}
	expectError(t, e.doHeader("POST", "/token", basic("jwtc", confSecret), url.Values{"grant_type": {"client_credentials"}}, http.Header{"Dpop": {proof}}),
		http.StatusBadRequest, "invalid_dpop_proof")
	expectError(t, e.doHeader("POST", "/token", basic("mustdpop", confSecret), url.Values{"grant_type": {"client_credentials"}}, nil),
		http.StatusBadRequest, "invalid_dpop_proof")
	for _, c := range []struct {
		name   string
		labels map[string]string
	}{
		{"authsvc_access_tokens_issued_total", map[string]string{"format": "jwt", "token_type": "dpop"}},
		{"authsvc_access_tokens_issued_total", map[string]string{"format": "opaque", "token_type": "bearer"}},
		{"authsvc_dpop_proofs_refused_total", map[string]string{"reason": "replay"}},
		{"authsvc_dpop_proofs_refused_total", map[string]string{"reason": "missing"}},
	} {
		if v := value(c.name, c.labels); v != 1 {
			t.Errorf("%s%v = %v, want 1", c.name, c.labels, v)
		}
	}
	for _, secret := range []string{bound.str("access_token"), proof, plain.str("access_token")} {
		if strings.Contains(logs.String(), secret) {
			t.Fatal("a token or a proof is in the log")
		}
	}
	if !strings.Contains(logs.String(), `"format":"jwt"`) || !strings.Contains(logs.String(), `"token_type":"DPoP"`) {
		t.Fatalf("token_issued audit events lack the format or token type:\n%s", logs.String())
	}
}
