package main

// End-to-end for self-contained and bound tokens: the real authorization
// server with a signing key, the resource service in either validation
// mode, and DPoP proofs made as a client makes them.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/example/authsvc/authserver"
	"github.com/example/authsvc/authserver/dpop"
	"github.com/example/authsvc/authserver/keys"
	"github.com/example/authsvc/internal/dpopclient"
	"github.com/example/authsvc/resource"
	"github.com/example/authsvc/resource/jwtaccess"
	"github.com/example/authsvc/store"
	"github.com/example/authsvc/store/sqlite"
)

type tokenE2E struct {
	t      *testing.T
	auth   *httptest.Server
	items  map[string]*httptest.Server // by validation mode
	authDB store.AuthStore
	ring   *keys.Ring
	kek    *keys.KEK
}

func newTokenE2E(t *testing.T) *tokenE2E {
	t.Helper()
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	dir := t.TempDir()
	authDB, err := sqlite.OpenAuth(ctx, filepath.Join(dir, "auth.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { authDB.Close() })
	h, _ := store.HashPassword("alice-pw", 4)
	if err := authDB.CreateUser(ctx, store.User{Username: "alice", PasswordHash: h}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []store.Client{
		{ID: "jwt-app", SecretHash: store.HashClientSecret("app-secret"), GrantTypes: []string{"password", "client_credentials"},
			Scopes: []string{"items:read", "items:write"}, AccessTokenFormat: store.AccessTokenJWT},
		{ID: "opaque-app", SecretHash: store.HashClientSecret("app-secret"), GrantTypes: []string{"password"}, Scopes: []string{"items:read"}},
		{ID: "rs", SecretHash: store.HashClientSecret("rs-secret"), GrantTypes: []string{"client_credentials"}, Introspect: true},
		{ID: "dpop-app", SecretHash: store.HashClientSecret("app-secret"), GrantTypes: []string{"client_credentials"},
			Scopes: []string{"items:read", "items:write"}, AccessTokenFormat: store.AccessTokenJWT, RequireDPoP: true},
	} {
		if err := authDB.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	kek, _ := keys.ParseKEK(base64.StdEncoding.EncodeToString(raw))
	e := &tokenE2E{t: t, items: map[string]*httptest.Server{}, authDB: authDB, kek: kek}
	// The issuer is the test server's URL, known only once it listens.
	var handler http.Handler
	e.auth = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	t.Cleanup(e.auth.Close)
	ring := keys.NewRing(authDB, kek, e.auth.URL, logger, time.Now)
	if err := ring.Ensure(ctx, keys.ES256); err != nil {
		t.Fatal(err)
	}
	e.ring = ring
	handler, err = authserver.NewServer(logger, authDB, authserver.Config{
		Issuer: e.auth.URL, AccessTTL: 15 * time.Minute, RefreshTTL: time.Hour, BcryptCost: 4,
		Lockout: store.LoginPolicy{Threshold: 5, Lockout: time.Minute, MaxLockout: time.Hour}, Keys: ring,
	})
	if err != nil {
		t.Fatal(err)
	}

	itemsDB, err := sqlite.OpenItems(ctx, filepath.Join(dir, "items.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { itemsDB.Close() })
	ic, err := resource.NewIntrospectionClient(resource.IntrospectionClientConfig{URL: e.auth.URL + "/introspect", ClientID: "rs", ClientSecret: "rs-secret"})
	if err != nil {
		t.Fatal(err)
	}
	// Time in these tests runs faster than in production: a key is
	// published for a fraction of a second before it signs, so unknown
	// kids may be fetched every 50 ms (5 s by default, against a
	// 10-minute publication window).
	v, err := jwtaccess.NewVerifier(jwtaccess.Config{JWKSURL: e.auth.URL + "/.well-known/jwks.json", Issuer: e.auth.URL,
		Audience: resource.DefaultAudience, MinRefetch: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for mode, checker := range map[string]resource.Introspector{resource.ValidateIntrospect: ic, resource.ValidateJWT: resource.NewJWTChecker(v)} {
		proofs, _ := dpop.NewVerifier(dpop.Config{})
		srv := httptest.NewServer(resource.NewServer(logger, itemsDB, checker, resource.WithDPoP(proofs, nil)))
		t.Cleanup(srv.Close)
		e.items[mode] = srv
	}
	return e
}

// token gets a token for alice from client, bound to p's key when p is
// not nil.
func (e *tokenE2E) token(client string, p *dpopclient.Prover) (string, string) {
	e.t.Helper()
	form := url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"alice-pw"}}
	req, _ := http.NewRequest(http.MethodPost, e.auth.URL+"/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(client, "app-secret")
	if p != nil {
		proof, err := p.Proof("POST", e.auth.URL+"/token", "")
		if err != nil {
			e.t.Fatal(err)
		}
		req.Header.Set("DPoP", proof)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("token: %d %v", resp.StatusCode, m)
	}
	return m["access_token"].(string), m["token_type"].(string)
}

// call sends GET /items with authorization and the proof, if any.
func (e *tokenE2E) call(mode, authorization, proof string) (int, http.Header) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.items[mode].URL+"/items", nil)
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	if proof != "" {
		req.Header.Set("DPoP", proof)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = io.Copy(&buf, resp.Body)
	if resp.StatusCode >= 500 {
		e.t.Fatalf("%s: %d %s", mode, resp.StatusCode, buf.String())
	}
	return resp.StatusCode, resp.Header
}

func (e *tokenE2E) revoke(token, client string) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.auth.URL+"/revoke", strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(client, "app-secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("revoke: %d", resp.StatusCode)
	}
}

func TestJWTModeAndIntrospectModeAgree(t *testing.T) {
	e := newTokenE2E(t)
	jwtTok, _ := e.token("jwt-app", nil)
	opaque, _ := e.token("opaque-app", nil)
	for _, mode := range []string{resource.ValidateIntrospect, resource.ValidateJWT} {
		if status, _ := e.call(mode, "Bearer "+jwtTok, ""); status != http.StatusOK {
			t.Fatalf("%s: a JWT: %d", mode, status)
		}
	}
	if status, _ := e.call(resource.ValidateIntrospect, "Bearer "+opaque, ""); status != http.StatusOK {
		t.Fatalf("introspect mode, opaque token: %d", status)
	}
	// jwt mode judges only what it can check: an opaque token is refused.
	if status, h := e.call(resource.ValidateJWT, "Bearer "+opaque, ""); status != http.StatusUnauthorized ||
		!strings.Contains(h.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Fatalf("jwt mode, opaque token: %d %v", status, h)
	}
	// A revocation counts at once where the server is asked, and only at
	// expiry where the token is checked locally: the documented trade-off.
	e.revoke(jwtTok, "jwt-app")
	if status, _ := e.call(resource.ValidateIntrospect, "Bearer "+jwtTok, ""); status != http.StatusUnauthorized {
		t.Fatalf("introspect mode after revocation: %d", status)
	}
	if status, _ := e.call(resource.ValidateJWT, "Bearer "+jwtTok, ""); status != http.StatusOK {
		t.Fatalf("jwt mode after revocation: %d (a local check cannot see it)", status)
	}
}

func TestDPoPAtTheResource(t *testing.T) {
	e := newTokenE2E(t)
	p, _ := dpopclient.New(jose.ES256, nil)
	thief, _ := dpopclient.New(jose.ES256, nil)
	for _, c := range []struct{ mode, client string }{
		{resource.ValidateIntrospect, "opaque-app"}, {resource.ValidateIntrospect, "jwt-app"}, {resource.ValidateJWT, "jwt-app"},
	} {
		t.Run(c.mode+"/"+c.client, func(t *testing.T) {
			tok, typ := e.token(c.client, p)
			if typ != "DPoP" {
				t.Fatalf("token_type %q", typ)
			}
			target := e.items[c.mode].URL + "/items"
			proof := func(pr *dpopclient.Prover, method, htu, token string) string {
				s, err := pr.Proof(method, htu, token)
				if err != nil {
					t.Fatal(err)
				}
				return s
			}
			good := proof(p, "GET", target, tok)
			if status, _ := e.call(c.mode, "DPoP "+tok, good); status != http.StatusOK {
				t.Fatalf("a valid proof: %d", status)
			}
			wantRefused := func(what, authorization, pr, code string) {
				t.Helper()
				status, h := e.call(c.mode, authorization, pr)
				challenge := strings.Join(h.Values("WWW-Authenticate"), ", ")
				if status != http.StatusUnauthorized || !strings.Contains(challenge, `error="`+code+`"`) {
					t.Fatalf("%s: %d %q, want 401 %s", what, status, challenge, code)
				}
				if code == "invalid_dpop_proof" && !strings.Contains(challenge, `DPoP realm="items", algs="ES256`) {
					t.Fatalf("%s: challenge %q names no DPoP algs", what, challenge)
				}
			}
			wantRefused("replayed proof", "DPoP "+tok, good, "invalid_dpop_proof")
			wantRefused("used as a bearer token", "Bearer "+tok, "", "invalid_token")
			wantRefused("used as a bearer token with a proof", "Bearer "+tok, proof(p, "GET", target, tok), "invalid_token")
			wantRefused("no proof", "DPoP "+tok, "", "invalid_dpop_proof")
			wantRefused("proof for another method", "DPoP "+tok, proof(p, "POST", target, tok), "invalid_dpop_proof")
			wantRefused("proof for another URL", "DPoP "+tok, proof(p, "GET", target+"/x", tok), "invalid_dpop_proof")
			wantRefused("proof by another key", "DPoP "+tok, proof(thief, "GET", target, tok), "invalid_dpop_proof")
			wantRefused("proof for another token", "DPoP "+tok, proof(p, "GET", target, "another"), "invalid_dpop_proof")
			old, _ := p.ProofAt("GET", target, tok, time.Now().Add(-5*time.Minute))
			wantRefused("proof older than the window", "DPoP "+tok, old, "invalid_dpop_proof")
			// A bearer token presented under the DPoP scheme.
			bearer, _ := e.token(c.client, nil)
			wantRefused("bearer token under DPoP", "DPoP "+bearer, proof(p, "GET", target, bearer), "invalid_token")
		})
	}
}
