package store_test

import (
	"strings"
	"testing"
	"time"

	"github.com/example/authsvc/store"
)

func TestValidateRedirectURI(t *testing.T) {
	for _, ok := range []string{
		"https://app.example/cb", "https://app.example:8443/cb?tenant=a", "http://127.0.0.1/cb", "http://127.0.0.1:8090/callback", "http://[::1]:9000/cb",
	} {
		if err := store.ValidateRedirectURI(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{
		"", "https://app.example/cb#frag", "https://app.example/cb#", "http://app.example/cb", "http://localhost:8080/cb", "http://127.0.0.2/cb",
		"ftp://app.example/cb", "com.example.app:/cb", "/relative/cb", "https://user:pw@app.example/cb", "https://app.example/c b",
		"https://app.example/\u00e9", "https://" + strings.Repeat("a", 2000) + ".example/", "javascript:alert(1)",
	} {
		if err := store.ValidateRedirectURI(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestMatchRedirectURI(t *testing.T) {
	conf := store.Client{ID: "c", SecretHash: store.HashClientSecret("s"), RedirectURIs: []string{"https://app.example/cb", "http://127.0.0.1/cb"}}
	pub := store.Client{ID: "p", RedirectURIs: []string{"https://app.example/cb", "http://127.0.0.1/cb", "http://[::1]:7000/cb"}}
	for _, c := range []struct {
		client store.Client
		uri    string
		want   bool
	}{
		{conf, "https://app.example/cb", true},
		{conf, "http://127.0.0.1/cb", true},
		{conf, "http://127.0.0.1:5000/cb", false}, // any port: public clients only
		{pub, "http://127.0.0.1:5000/cb", true},
		{pub, "http://127.0.0.1/cb", true},
		{pub, "http://[::1]:1234/cb", true},
		{pub, "http://127.0.0.1:5000/cb2", false},
		{pub, "http://127.0.0.1:5000/cb?x=1", false},
		{pub, "http://localhost:5000/cb", false},
		{pub, "http://[::1]:1234/cb#f", false},
		{pub, "http://127.0.0.1:5000/cb#", false}, // an empty fragment is a fragment (RFC 6749 §3.1.2)
		{pub, "http://127.0.0.1/cb#", false},
		{pub, "https://app.example/cb#", false},
		{pub, "http://127.0.0.1:abc/cb", false},
		{pub, "https://app.example:443/cb", false},
		{pub, "https://APP.example/cb", false},
		{pub, "https://app.example/cb/", false},
		{pub, "https://app.example/CB", false},
	} {
		if got := c.client.MatchRedirectURI(c.uri); got != c.want {
			t.Errorf("%s %s: %v, want %v", c.client.ID, c.uri, got, c.want)
		}
	}
}

func TestClientValidateRedirects(t *testing.T) {
	good := store.Client{ID: "spa", GrantTypes: []string{store.GrantAuthorizationCode}, RedirectURIs: []string{"https://a.example/cb"}}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]store.Client{
		"code grant without redirect": {ID: "spa", GrantTypes: []string{store.GrantAuthorizationCode}},
		"fragment":                    {ID: "spa", GrantTypes: []string{store.GrantAuthorizationCode}, RedirectURIs: []string{"https://a.example/cb#x"}},
		"duplicate":                   {ID: "spa", GrantTypes: []string{store.GrantAuthorizationCode}, RedirectURIs: []string{"https://a.example/cb", "https://a.example/cb"}},
		"public client credentials":   {ID: "spa", GrantTypes: []string{store.GrantClientCredentials}},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	for _, g := range []string{store.GrantAuthorizationCode, store.GrantDeviceCode, store.GrantRefreshToken} {
		if !(store.Client{GrantTypes: []string{g}}).MayUse(g) {
			t.Errorf("a public client may not use %s", g)
		}
	}
}

func TestPKCE(t *testing.T) {
	// RFC 7636 Appendix B.
	v := "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
	if got := store.S256Challenge(v); got != "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM" {
		t.Fatalf("S256 %s", got)
	}
	code := store.AuthCode{Challenge: store.S256Challenge(v)}
	if !code.VerifierMatches(v) {
		t.Fatal("the right verifier does not match")
	}
	long := strings.Repeat("a~._-", 25) + "abc" // 128
	for _, bad := range []string{"", v[:42], v + "x" + strings.Repeat("y", 90), strings.Repeat("a", 43), v[:42] + "+", v[:42] + " "} {
		if code.VerifierMatches(bad) {
			t.Errorf("verifier %q matches", bad)
		}
	}
	if !store.ValidCodeVerifier(long) || store.ValidCodeVerifier(long+"a") || store.ValidCodeVerifier(v[:42]) {
		t.Error("verifier length bounds (43..128)")
	}
	if (store.AuthCode{}).VerifierMatches(v) {
		t.Error("a code without a challenge matched")
	}
	if !store.ValidS256Challenge(store.S256Challenge(v)) || store.ValidS256Challenge("abc") || store.ValidS256Challenge(strings.Repeat("+", 43)) {
		t.Error("challenge shape")
	}
}

func TestUserCodes(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		c, err := store.NewUserCode()
		if err != nil {
			t.Fatal(err)
		}
		if len(c) != 8 || strings.Trim(c, "BCDFGHJKLMNPQRSTVWXZ") != "" {
			t.Fatalf("user code %q", c)
		}
		seen[c] = true
		shown := store.FormatUserCode(c)
		for _, typed := range []string{shown, c, strings.ToLower(shown), " " + shown[:4] + " - " + shown[5:] + " "} {
			if got, ok := store.NormalizeUserCode(typed); !ok || got != c {
				t.Fatalf("%q read as %q %v, want %q", typed, got, ok, c)
			}
		}
	}
	if len(seen) < 199 {
		t.Errorf("only %d distinct codes of 200", len(seen))
	}
	for _, bad := range []string{"", "BCDF-GHJ", "BCDF-GHJKL", "BCDA-GHJK", "BCDF-GHJ1", strings.Repeat("B", 40), "BCDF_GHJK", "ÄCDF-GHJK"} {
		if _, ok := store.NormalizeUserCode(bad); ok {
			t.Errorf("%q read as a code", bad)
		}
	}
}

func TestConsentCovers(t *testing.T) {
	now := time.Now()
	c := store.Consent{Scopes: []string{"a", "b"}, ExpiresAt: now.Add(time.Hour)}
	if !c.Covers("a b", now) || !c.Covers("", now) || !c.Covers("b", now) {
		t.Fatal("consent does not cover its scopes")
	}
	if c.Covers("a c", now) || c.Covers("a", now.Add(time.Hour)) {
		t.Fatal("consent covers too much")
	}
}
