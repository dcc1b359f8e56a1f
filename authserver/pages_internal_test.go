package authserver

import (
	"net/http/httptest"
	"strings"
	"testing"
)

// The form token binds each value whole: moving bytes from one value to
// the next, a NUL included, gives another token.
func TestFormTokenFieldsAreUnambiguous(t *testing.T) {
	want := formToken("s", "p", "a", "b")
	if got := formToken("s", "p", []string{"a", "b"}...); got != want {
		t.Fatal("the token is not a function of its input")
	}
	for _, other := range [][]string{{"a\x00b"}, {"a", "", "b"}, {"a\x00", "b"}, {"ab"}, {"a", "b", ""}} {
		if want == formToken("s", "p", other...) {
			t.Errorf("%q and [a b] give the same token", other)
		}
	}
	if formToken("s", "p\x00a", "b") == want {
		t.Error("the purpose runs into the first value")
	}
}

// The consent and login pages allow their forms to end at the client's
// origin, written into CSP form-action as a host-source (CSP3 §2.3.1:
// scheme "://" host [":" port], unquoted: quotes are for keywords). A
// redirect URI whose origin is no such source (an IPv6 literal, or a
// host with a character of CSP's syntax: ";" ends a directive, "," a
// policy, "'" starts a keyword) must not reach the header.
func TestFormActionSources(t *testing.T) {
	for _, c := range []struct{ uri, want string }{
		{"https://spa.example.test/callback", "https://spa.example.test"},
		{"https://spa.example.test:8443/cb?x=1", "https://spa.example.test:8443"},
		{"http://127.0.0.1:49152/callback", "http://127.0.0.1:49152"},
		{"https://App.Example.test/cb", "https://app.example.test"},
		{"http://[::1]:49152/callback", ""},
		{"https://a.example;sandbox/cb", ""},
		{"https://a.example,b.example/cb", ""},
		{"https://a'b.example/cb", ""},
		{"https://a_b.example/cb", ""},
		{"https://a..example/cb", ""},
		{"https://a.example:/cb", ""},
		{"javascript://a.example/cb", ""},
		{"/relative", ""},
	} {
		if got := cspOrigin(c.uri); got != c.want {
			t.Errorf("cspOrigin(%q) = %q, want %q", c.uri, got, c.want)
		}
	}
	rec := httptest.NewRecorder()
	err := writePage(rec, 200, "result", page{Title: "t",
		formTargets: []string{"https://spa.example.test", "https://a.example;sandbox", "", "'unsafe-inline'"}})
	if err != nil {
		t.Fatal(err)
	}
	csp := rec.Header().Get("Content-Security-Policy")
	if !strings.Contains(csp, "form-action 'self' https://spa.example.test;") {
		t.Errorf("CSP %q: want the valid origin in form-action", csp)
	}
	if strings.Contains(csp, "sandbox") || strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "  ") {
		t.Errorf("CSP %q: a target that is no host-source got in", csp)
	}
}
