package authserver_test

import (
	"context"
	"html"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/example/authsvc/authserver"
	"github.com/example/authsvc/store"
)

// These tests drive the sign-in pages through the real router, as a
// browser without script would: cookies kept, hidden fields carried. The
// browser tests (browser_test.go) do the same in Chromium.

const (
	spaRedirect = "https://spa.example.test/callback"
	webRedirect = "https://web.example.test/cb?tenant=a"
	cliRedirect = "http://127.0.0.1/callback" // a native app's loopback URI
	verifier    = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
)

var challenge = store.S256Challenge(verifier)

// withBrowserClients adds the clients of browser and device login: a public
// SPA, a confidential web app, a confidential and a public first-party
// app, a public and a confidential native app on a loopback URI and a
// device client.
func withBrowserClients(e *env) *env {
	e.t.Helper()
	for _, c := range []store.Client{
		{ID: "spa", GrantTypes: []string{store.GrantAuthorizationCode, store.GrantRefreshToken}, Scopes: []string{"items:read", "items:write"},
			RedirectURIs: []string{spaRedirect}},
		{ID: "web", SecretHash: store.HashClientSecret(confSecret), GrantTypes: []string{store.GrantAuthorizationCode, store.GrantRefreshToken},
			Scopes: []string{"items:read", "items:write"}, RedirectURIs: []string{webRedirect}},
		{ID: "first", SecretHash: store.HashClientSecret(confSecret), GrantTypes: []string{store.GrantAuthorizationCode}, Scopes: []string{"items:read"},
			RedirectURIs: []string{"https://first.example.test/cb"}, FirstParty: true},
		{ID: "firstpublic", GrantTypes: []string{store.GrantAuthorizationCode}, Scopes: []string{"items:read"},
			RedirectURIs: []string{"https://firstpublic.example.test/cb"}, FirstParty: true},
		{ID: "native", GrantTypes: []string{store.GrantAuthorizationCode, store.GrantRefreshToken}, Scopes: []string{"items:read"},
			RedirectURIs: []string{cliRedirect}},
		{ID: "nativeconf", SecretHash: store.HashClientSecret(confSecret), GrantTypes: []string{store.GrantAuthorizationCode},
			Scopes: []string{"items:read"}, RedirectURIs: []string{cliRedirect}},
		{ID: "tv", GrantTypes: []string{store.GrantDeviceCode, store.GrantRefreshToken}, Scopes: []string{"items:read", "items:write"}},
	} {
		c.CreatedAt = e.clock.Now()
		if err := e.st.CreateClient(context.Background(), c); err != nil {
			e.t.Fatal(err)
		}
	}
	return e
}

// browser is a cookie-keeping client of the handler.
type browser struct {
	e       *env
	cookies map[string]string
	header  http.Header // extra request headers
}

func newBrowser(e *env) *browser {
	return &browser{e: e, cookies: map[string]string{}, header: http.Header{}}
}

type page struct {
	status int
	header http.Header
	body   string
}

func (b *browser) do(method, target string, form url.Values) page {
	b.e.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req := httptest.NewRequest(method, target, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range b.header {
		req.Header[k] = v
	}
	for name, v := range b.cookies {
		req.AddCookie(&http.Cookie{Name: name, Value: v})
	}
	rec := httptest.NewRecorder()
	b.e.h.ServeHTTP(rec, req)
	for _, c := range rec.Result().Cookies() {
		if c.MaxAge < 0 {
			delete(b.cookies, c.Name)
		} else {
			b.cookies[c.Name] = c.Value
		}
	}
	return page{status: rec.Code, header: rec.Header(), body: rec.Body.String()}
}

var hiddenInput = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// submit posts the form of p with id formID: its hidden fields plus extra.
func (b *browser) submit(p page, formID string, extra url.Values) page {
	b.e.t.Helper()
	start := strings.Index(p.body, `<form id="`+formID+`"`)
	if start < 0 {
		b.e.t.Fatalf("no form %s in %d page:\n%s", formID, p.status, p.body)
	}
	end := strings.Index(p.body[start:], "</form>")
	formHTML := p.body[start : start+end]
	action := regexp.MustCompile(`action="([^"]+)"`).FindStringSubmatch(formHTML)[1]
	form := url.Values{}
	for _, m := range hiddenInput.FindAllStringSubmatch(formHTML, -1) {
		form.Set(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	for k, v := range extra {
		form[k] = v
	}
	return b.do(http.MethodPost, html.UnescapeString(action), form)
}

func authorizeURL(client, redirect, scope, state string) string {
	q := url.Values{"response_type": {"code"}, "client_id": {client}, "redirect_uri": {redirect},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"}, "state": {state}}
	if scope != "" {
		q.Set("scope", scope)
	}
	return "/authorize?" + q.Encode()
}

// location parses a redirect to the client.
func location(t *testing.T, p page) url.Values {
	t.Helper()
	if p.status != http.StatusSeeOther {
		t.Fatalf("got %d, want a 303 redirect:\n%s", p.status, p.body)
	}
	u, err := url.Parse(p.header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}

// signIn runs the login and consent pages for a fresh browser and returns
// the redirect's parameters.
func signIn(t *testing.T, b *browser, authorize string) url.Values {
	t.Helper()
	p := b.do(http.MethodGet, authorize, nil)
	if p.status != 200 || !strings.Contains(p.body, `id="login"`) {
		t.Fatalf("GET /authorize: %d, want the login page:\n%s", p.status, p.body)
	}
	p = b.submit(p, "login", url.Values{"username": {"alice"}, "password": {alicePass}})
	if p.status == 200 && strings.Contains(p.body, `id="consent"`) {
		p = b.submit(p, "consent", url.Values{"decision": {"allow"}})
	}
	return location(t, p)
}

func (e *env) exchange(client, secret string, form url.Values) response {
	e.t.Helper()
	form.Set("grant_type", "authorization_code")
	authz := ""
	if secret != "" {
		authz = basic(client, secret)
	} else {
		form.Set("client_id", client)
	}
	return e.token(authz, form)
}

func TestAuthorizationCodeFlow(t *testing.T) {
	onEachBackend(t, func(t *testing.T, backend func(*envSetup)) {
		e := withBrowserClients(newEnv(t, backend))
		b := newBrowser(e)
		p := b.do(http.MethodGet, authorizeURL("spa", spaRedirect, "items:read", "xyz"), nil)
		if p.status != 200 {
			t.Fatalf("login page: %d %s", p.status, p.body)
		}
		for k, want := range map[string]string{"X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"} {
			if got := p.header.Get(k); got != want {
				t.Errorf("%s = %q, want %q", k, got, want)
			}
		}
		if csp := p.header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("CSP %q", csp)
		}
		for _, want := range []string{`<label for="username">`, `<label for="password">`, `name="csrf_token"`} {
			if !strings.Contains(p.body, want) {
				t.Errorf("login page lacks %s", want)
			}
		}
		if strings.Contains(p.body, "<script") {
			t.Error("the login page has a script")
		}
		if _, ok := b.cookies["__Host-authsvc_csrf"]; !ok {
			t.Errorf("no __Host- CSRF cookie on an https issuer: %v", b.cookies)
		}

		p = b.submit(p, "login", url.Values{"username": {"alice"}, "password": {"wrong password"}})
		if p.status != 200 || !strings.Contains(p.body, `id="error"`) || !strings.Contains(p.body, `id="login"`) {
			t.Fatalf("wrong password: %d, want the login page again with an error:\n%s", p.status, p.body)
		}
		p = b.submit(p, "login", url.Values{"username": {"alice"}, "password": {alicePass}})
		if p.status != 200 || !strings.Contains(p.body, `<ul id="scopes"><li>items:read</li></ul>`) {
			t.Fatalf("consent page: %d\n%s", p.status, p.body)
		}
		if _, ok := b.cookies["__Host-authsvc_session"]; !ok {
			t.Fatalf("no session cookie after login: %v", b.cookies)
		}
		if csp := p.header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self' https://spa.example.test") {
			t.Errorf("consent CSP must allow the redirect to the client: %q", csp)
		}
		q := location(t, b.submit(p, "consent", url.Values{"decision": {"allow"}}))
		if q.Get("state") != "xyz" || q.Get("iss") != "https://auth.example.test" || q.Get("code") == "" {
			t.Fatalf("redirect %v: want code, state and iss", q)
		}
		code := q.Get("code")

		r := e.exchange("spa", "", url.Values{"code": {code}, "redirect_uri": {spaRedirect}, "code_verifier": {verifier}})
		if r.status != 200 || r.body["refresh_token"] == nil || r.body["scope"] != "items:read" {
			t.Fatalf("exchange: %d %s", r.status, r.raw)
		}
		access, refresh := r.body["access_token"].(string), r.body["refresh_token"].(string)
		if in := e.introspect(access); in["active"] != true || in["username"] != "alice" || in["client_id"] != "spa" {
			t.Fatalf("introspection of the code's token: %v", in)
		}
		// A public client's refresh token rotates like any other.
		r2 := e.token("", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}, "client_id": {"spa"}})
		if r2.status != 200 || r2.body["refresh_token"] == refresh {
			t.Fatalf("refresh: %d %s", r2.status, r2.raw)
		}
		access = r2.body["access_token"].(string)
		if !e.active(access) {
			t.Fatal("refreshed token inactive")
		}

		// The code again: refused, and what it granted ends (RFC 6749 §4.1.2).
		r = e.exchange("spa", "", url.Values{"code": {code}, "redirect_uri": {spaRedirect}, "code_verifier": {verifier}})
		expectError(t, r, 400, "invalid_grant")
		if e.active(access) {
			t.Fatal("a reused code left the grant's tokens active")
		}
		r2 = e.token("", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {r2.body["refresh_token"].(string)}, "client_id": {"spa"}})
		expectError(t, r2, 400, "invalid_grant")
	})
}

func TestAuthorizeRefusals(t *testing.T) {
	onEachBackend(t, func(t *testing.T, backend func(*envSetup)) {
		e := withBrowserClients(newEnv(t, backend))
		b := newBrowser(e)
		valid := url.Values{"response_type": {"code"}, "client_id": {"spa"}, "redirect_uri": {spaRedirect},
			"code_challenge": {challenge}, "code_challenge_method": {"S256"}, "state": {"s1"}}
		with := func(k, v string) string {
			q := url.Values{}
			for k, v := range valid {
				q[k] = v
			}
			if v == "" {
				q.Del(k)
			} else {
				q.Set(k, v)
			}
			return "/authorize?" + q.Encode()
		}
		if p := b.do("GET", with("state", "s1"), nil); p.status != 200 {
			t.Fatalf("the valid request: %d %s", p.status, p.body)
		}
		// Never redirected: an error page.
		for name, target := range map[string]string{
			"unknown client":          with("client_id", "nobody"),
			"no client":               with("client_id", ""),
			"no redirect uri":         with("redirect_uri", ""),
			"other port":              with("redirect_uri", "https://spa.example.test:8443/callback"),
			"other path":              with("redirect_uri", "https://spa.example.test/callback/x"),
			"other case":              with("redirect_uri", "https://SPA.example.test/callback"),
			"trailing slash":          with("redirect_uri", spaRedirect+"/"),
			"query added":             with("redirect_uri", spaRedirect+"?a=b"),
			"http downgrade":          with("redirect_uri", "http://spa.example.test/callback"),
			"open redirector attempt": with("redirect_uri", "https://evil.example/callback"),
			"repeated parameter":      with("state", "s1") + "&state=s2",
			"invalid utf-8":           with("state", "s1") + "&scope=%ff",
			"confidential loopback":   "/authorize?" + url.Values{"response_type": {"code"}, "client_id": {"nativeconf"}, "redirect_uri": {"http://127.0.0.1:5555/callback"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}.Encode(),
		} {
			p := b.do("GET", target, nil)
			if p.status != 400 || p.header.Get("Location") != "" || !strings.Contains(p.body, `id="error"`) {
				t.Errorf("%s: %d Location=%q, want a 400 error page and no redirect", name, p.status, p.header.Get("Location"))
			}
			if p.header.Get("X-Frame-Options") != "DENY" {
				t.Errorf("%s: error page without the page headers", name)
			}
		}
		if p := b.do("GET", "/authorize?state="+strings.Repeat("a", 9000), nil); p.status != http.StatusRequestURITooLong {
			t.Errorf("huge query: %d", p.status)
		}
		// Redirected with the error and the state (RFC 6749 §4.1.2.1).
		for name, c := range map[string]struct{ target, code string }{
			"missing challenge":   {with("code_challenge", ""), "invalid_request"},
			"plain":               {with("code_challenge_method", "plain"), "invalid_request"},
			"no method":           {with("code_challenge_method", ""), "invalid_request"},
			"short challenge":     {with("code_challenge", "abc"), "invalid_request"},
			"token response":      {with("response_type", "token"), "unsupported_response_type"},
			"no response type":    {with("response_type", ""), "invalid_request"},
			"scope not allowed":   {with("scope", "admin"), "invalid_scope"},
			"state too long":      {with("state", strings.Repeat("s", 2000)), "invalid_request"},
			"not allowed to code": {"/authorize?" + url.Values{"response_type": {"code"}, "client_id": {"tv"}, "redirect_uri": {spaRedirect}}.Encode(), ""},
		} {
			p := b.do("GET", c.target, nil)
			if c.code == "" { // tv has no redirect URI at all: a page
				if p.status != 400 || p.header.Get("Location") != "" {
					t.Errorf("%s: %d, want an error page", name, p.status)
				}
				continue
			}
			q := location(t, p)
			if q.Get("error") != c.code || q.Get("iss") != "https://auth.example.test" {
				t.Errorf("%s: redirect %v, want error %s and iss", name, q, c.code)
			}
			if name != "state too long" && q.Get("state") != "s1" {
				t.Errorf("%s: state %q", name, q.Get("state"))
			}
		}
	})
}

// RFC 8252 §7.3: a native public client's loopback URI matches on any
// port; nothing else about it may differ.
func TestLoopbackRedirectAnyPort(t *testing.T) {
	e := withBrowserClients(newEnv(t))
	q := signIn(t, newBrowser(e), authorizeURL("native", "http://127.0.0.1:49152/callback", "", "st"))
	if q.Get("code") == "" {
		t.Fatalf("loopback on another port: %v", q)
	}
	r := e.exchange("native", "", url.Values{"code": {q.Get("code")}, "redirect_uri": {"http://127.0.0.1:49152/callback"}, "code_verifier": {verifier}})
	if r.status != 200 {
		t.Fatalf("exchange: %d %s", r.status, r.raw)
	}
	for _, uri := range []string{"http://127.0.0.1:49152/other", "http://localhost:49152/callback", "http://[::1]:49152/callback", "https://127.0.0.1:49152/callback"} {
		p := newBrowser(e).do("GET", authorizeURL("native", uri, "", "st"), nil)
		if p.status != 400 || p.header.Get("Location") != "" {
			t.Errorf("%s: %d, want an error page", uri, p.status)
		}
	}
}

func TestCodeExchangeRefusals(t *testing.T) {
	onEachBackend(t, func(t *testing.T, backend func(*envSetup)) {
		e := withBrowserClients(newEnv(t, backend))
		newCode := func() string {
			return signIn(t, newBrowser(e), authorizeURL("web", webRedirect, "", "st")).Get("code")
		}
		good := func(code string) url.Values {
			return url.Values{"code": {code}, "redirect_uri": {webRedirect}, "code_verifier": {verifier}}
		}
		code := newCode()
		for name, c := range map[string]struct {
			client, secret string
			form           url.Values
			status         int
			err            string
		}{
			"wrong verifier":    {"web", confSecret, url.Values{"code": {code}, "redirect_uri": {webRedirect}, "code_verifier": {strings.Repeat("a", 43)}}, 400, "invalid_grant"},
			"short verifier":    {"web", confSecret, url.Values{"code": {code}, "redirect_uri": {webRedirect}, "code_verifier": {verifier[:42]}}, 400, "invalid_grant"},
			"no verifier":       {"web", confSecret, url.Values{"code": {code}, "redirect_uri": {webRedirect}}, 400, "invalid_request"},
			"other redirect":    {"web", confSecret, url.Values{"code": {code}, "redirect_uri": {"https://web.example.test/cb"}, "code_verifier": {verifier}}, 400, "invalid_grant"},
			"no redirect":       {"web", confSecret, url.Values{"code": {code}, "code_verifier": {verifier}}, 400, "invalid_grant"},
			"foreign client":    {"spa", "", good(code), 400, "invalid_grant"},
			"unknown code":      {"web", confSecret, good("not-a-code"), 400, "invalid_grant"},
			"no code":           {"web", confSecret, url.Values{"redirect_uri": {"x"}, "code_verifier": {verifier}}, 400, "invalid_request"},
			"wrong secret":      {"web", "nope", good(code), 401, "invalid_client"},
			"garbage code":      {"web", confSecret, good("\x00\xff"), 400, "invalid_grant"},
			"confidential bare": {"web", "", good(code), 401, "invalid_client"},
		} {
			t.Run(name, func(t *testing.T) {
				expectError(t, e.exchange(c.client, c.secret, c.form), c.status, c.err)
			})
		}
		// None of those spent the code.
		if r := e.exchange("web", confSecret, good(code)); r.status != 200 {
			t.Fatalf("the code after refused attempts: %d %s", r.status, r.raw)
		}
		// A code lives 60 s.
		late := newCode()
		e.clock.Advance(store.AuthCodeTTL + time.Second)
		expectError(t, e.exchange("web", confSecret, good(late)), 400, "invalid_grant")
	})
}

// A code issued before a password change is worth nothing after it.
func TestCodeOutlivesNoPasswordChange(t *testing.T) {
	e := withBrowserClients(newEnv(t))
	code := signIn(t, newBrowser(e), authorizeURL("spa", spaRedirect, "", "st")).Get("code")
	u, err := e.st.GetUser(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	u.PasswordHash, _ = store.HashPassword("a brand new password", 4)
	if err := e.st.UpdateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	expectError(t, e.exchange("spa", "", url.Values{"code": {code}, "redirect_uri": {spaRedirect}, "code_verifier": {verifier}}), 400, "invalid_grant")
}

func TestSessionSkipsPasswordUntilLogout(t *testing.T) {
	e := withBrowserClients(newEnv(t))
	b := newBrowser(e)
	if q := signIn(t, b, authorizeURL("web", webRedirect, "items:read", "one")); q.Get("code") == "" {
		t.Fatal("first sign-in")
	}
	// Same browser, same scope: no password, and for a confidential
	// client no consent (a public one is always asked: TestPublicClientsAlwaysAsk).
	q := location(t, b.do("GET", authorizeURL("web", webRedirect, "items:read", "two"), nil))
	if q.Get("code") == "" || q.Get("state") != "two" {
		t.Fatalf("second authorization: %v", q)
	}
	// A wider scope asks again, without the password.
	p := b.do("GET", authorizeURL("web", webRedirect, "items:read items:write", "three"), nil)
	if p.status != 200 || !strings.Contains(p.body, `id="consent"`) {
		t.Fatalf("wider scope: %d, want consent", p.status)
	}
	// Another browser has to sign in.
	if p := newBrowser(e).do("GET", authorizeURL("web", webRedirect, "items:read", "x"), nil); !strings.Contains(p.body, `id="login"`) {
		t.Fatal("a browser without the cookie skipped the login")
	}

	lp := b.do("GET", "/logout", nil)
	if lp.status != 200 || !strings.Contains(lp.body, "alice") {
		t.Fatalf("logout page: %d %s", lp.status, lp.body)
	}
	// A logout form without its token is refused, and the session stays.
	if r := b.do("POST", "/logout", url.Values{}); r.status != 403 {
		t.Fatalf("logout without token: %d", r.status)
	}
	if q := location(t, b.do("GET", authorizeURL("web", webRedirect, "items:read", "four"), nil)); q.Get("code") == "" {
		t.Fatal("session ended by a forged logout")
	}
	if r := b.submit(lp, "logout", nil); r.status != 200 || !strings.Contains(r.body, `id="result"`) {
		t.Fatalf("logout: %d %s", r.status, r.body)
	}
	if p := b.do("GET", authorizeURL("web", webRedirect, "items:read", "five"), nil); !strings.Contains(p.body, `id="login"`) {
		t.Fatalf("after logout: %d, want the login page", p.status)
	}
}

func TestSessionEndsWithPasswordChangeAndDisable(t *testing.T) {
	onEachBackend(t, func(t *testing.T, backend func(*envSetup)) {
		for _, change := range []string{"passwd", "disable", "revoke"} {
			t.Run(change, func(t *testing.T) {
				e := withBrowserClients(newEnv(t, backend))
				b := newBrowser(e)
				signIn(t, b, authorizeURL("web", webRedirect, "items:read", "one"))
				if p := b.do("GET", authorizeURL("web", webRedirect, "items:read", "two"), nil); p.status != http.StatusSeeOther {
					t.Fatalf("session not working before the change: %d", p.status)
				}
				ctx := context.Background()
				u, _ := e.st.GetUser(ctx, "alice")
				var err error
				switch change {
				case "passwd":
					u.PasswordHash, _ = store.HashPassword("another password entirely", 4)
					err = e.st.UpdateUser(ctx, u)
				case "disable":
					u.Disabled = true
					err = e.st.UpdateUser(ctx, u)
				case "revoke":
					err = e.st.RevokeUserGrants(ctx, "alice")
				}
				if err != nil {
					t.Fatal(err)
				}
				if p := b.do("GET", authorizeURL("web", webRedirect, "items:read", "three"), nil); p.status != 200 || !strings.Contains(p.body, `id="login"`) {
					t.Fatalf("after %s: %d, want the login page", change, p.status)
				}
			})
		}
	})
}

func TestFirstPartySkipsConsentAndDenyRedirects(t *testing.T) {
	e := withBrowserClients(newEnv(t))
	b := newBrowser(e)
	p := b.do("GET", authorizeURL("first", "https://first.example.test/cb", "", "f"), nil)
	p = b.submit(p, "login", url.Values{"username": {"alice"}, "password": {alicePass}})
	if q := location(t, p); q.Get("code") == "" {
		t.Fatalf("first party: %v", q)
	}
	p = b.do("GET", authorizeURL("spa", spaRedirect, "", "d"), nil)
	if !strings.Contains(p.body, `id="consent"`) {
		t.Fatalf("third party must ask: %s", p.body)
	}
	q := location(t, b.submit(p, "consent", url.Values{"decision": {"deny"}}))
	if q.Get("error") != "access_denied" || q.Get("state") != "d" || q.Get("code") != "" {
		t.Fatalf("deny: %v", q)
	}
}

func TestPageFormsRefuseForgery(t *testing.T) {
	e := withBrowserClients(newEnv(t))
	b := newBrowser(e)
	p := b.do("GET", authorizeURL("spa", spaRedirect, "", "s"), nil)
	creds := url.Values{"username": {"alice"}, "password": {alicePass}}
	// The positive case, this browser's own form working, is checked
	// last, so that no refusal below is explained by a session.
	for name, forge := range map[string]func(b *browser) page{
		"no token": func(b *browser) page {
			f := url.Values{"step": {"login"}, "username": {"alice"}, "password": {alicePass}}
			for _, k := range []string{"response_type", "client_id", "redirect_uri", "code_challenge", "code_challenge_method", "state"} {
				f.Set(k, map[string]string{"response_type": "code", "client_id": "spa", "redirect_uri": spaRedirect, "code_challenge": challenge, "code_challenge_method": "S256", "state": "s"}[k])
			}
			return b.do("POST", "/authorize", f)
		},
		"another browser's token": func(b *browser) page {
			other := newBrowser(e)
			return other.submit(p, "login", creds)
		},
		"token for another request": func(b *browser) page {
			f := url.Values{"state": {"changed"}}
			for k, v := range creds {
				f[k] = v
			}
			return b.submit(p, "login", f)
		},
		"cross-site post": func(b *browser) page {
			b.header.Set("Sec-Fetch-Site", "cross-site")
			defer b.header.Del("Sec-Fetch-Site")
			return b.submit(p, "login", creds)
		},
		"foreign origin": func(b *browser) page {
			b.header.Set("Origin", "https://evil.example")
			defer b.header.Del("Origin")
			return b.submit(p, "login", creds)
		},
	} {
		r := forge(b)
		if r.status != 403 {
			t.Errorf("%s: %d, want 403", name, r.status)
		}
		if _, ok := b.cookies["__Host-authsvc_session"]; ok {
			t.Fatalf("%s: a forged form signed in", name)
		}
	}
	if before := e.st.beginLogins.Load(); before != 0 {
		t.Errorf("forged forms reached the password check %d times", before)
	}
	r := b.submit(p, "login", creds)
	if r.status != 200 || !strings.Contains(r.body, `id="consent"`) {
		t.Fatalf("the genuine form: %d", r.status)
	}
}

func TestPageFormBadInput(t *testing.T) {
	onEachBackend(t, func(t *testing.T, backend func(*envSetup)) {
		e := withBrowserClients(newEnv(t, backend))
		for name, c := range map[string]struct {
			ctype, body string
			status      int
		}{
			"huge":        {"application/x-www-form-urlencoded", "a=" + strings.Repeat("x", 64<<10), 413},
			"not a form":  {"application/json", `{"step":"login"}`, 415},
			"bad utf-8":   {"application/x-www-form-urlencoded", "client_id=spa&state=%ff", 400},
			"bad escapes": {"application/x-www-form-urlencoded", "client_id=%zz", 400},
			"no client":   {"application/x-www-form-urlencoded", "step=login", 400},
		} {
			for _, path := range []string{"/authorize", "/device", "/logout"} {
				req := httptest.NewRequest("POST", path, strings.NewReader(c.body))
				req.Header.Set("Content-Type", c.ctype)
				rec := httptest.NewRecorder()
				e.h.ServeHTTP(rec, req)
				if path == "/authorize" && rec.Code != c.status || rec.Code >= 500 || rec.Code < 400 {
					t.Errorf("%s %s: %d, want %d (never a 5xx)", name, path, rec.Code, c.status)
				}
			}
		}
	})
}

// The device grant, RFC 8628, from the device's and the user's side.
func TestDeviceFlow(t *testing.T) {
	onEachBackend(t, func(t *testing.T, backend func(*envSetup)) {
		e := withBrowserClients(newEnv(t, backend))
		start := e.do("POST", "/device_authorization", "", url.Values{"client_id": {"tv"}, "scope": {"items:read"}})
		if start.status != 200 {
			t.Fatalf("device authorization: %d %s", start.status, start.raw)
		}
		userCode, _ := start.body["user_code"].(string)
		deviceCode, _ := start.body["device_code"].(string)
		if !regexp.MustCompile(`^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$`).MatchString(userCode) || deviceCode == "" {
			t.Fatalf("codes: %v", start.body)
		}
		if start.body["verification_uri"] != "https://auth.example.test/device" ||
			start.body["verification_uri_complete"] != "https://auth.example.test/device?user_code="+userCode ||
			start.body["expires_in"] != float64(600) || start.body["interval"] != float64(5) {
			t.Fatalf("response: %v", start.body)
		}
		poll := func() response {
			return e.token("", url.Values{"grant_type": {store.GrantDeviceCode}, "device_code": {deviceCode}, "client_id": {"tv"}})
		}
		expectError(t, poll(), 400, "authorization_pending")
		// Too soon: slow_down, and the interval grows by 5 s.
		expectError(t, poll(), 400, "slow_down")
		e.clock.Advance(6 * time.Second)
		expectError(t, poll(), 400, "slow_down") // 6 s < 10 s: the interval is 15 s now
		e.clock.Advance(16 * time.Second)
		expectError(t, poll(), 400, "authorization_pending")

		b := newBrowser(e)
		// Typed in lower case without the dash: read all the same.
		p := b.do("GET", "/device?user_code="+url.QueryEscape(strings.ToLower(strings.ReplaceAll(userCode, "-", ""))), nil)
		if p.status != 200 || !strings.Contains(p.body, `value="`+userCode+`"`) {
			t.Fatalf("device page: %d %s", p.status, p.body)
		}
		p = b.submit(p, "device", url.Values{"user_code": {userCode}})
		if !strings.Contains(p.body, `id="login"`) {
			t.Fatalf("device code step: %d, want login\n%s", p.status, p.body)
		}
		p = b.submit(p, "login", url.Values{"username": {"alice"}, "password": {alicePass}})
		if !strings.Contains(p.body, `id="consent"`) || !strings.Contains(p.body, userCode) {
			t.Fatalf("device consent: %d\n%s", p.status, p.body)
		}
		p = b.submit(p, "consent", url.Values{"decision": {"allow"}})
		if !strings.Contains(p.body, "Device approved") {
			t.Fatalf("approval: %d %s", p.status, p.body)
		}
		e.clock.Advance(16 * time.Second)
		r := poll()
		if r.status != 200 || r.body["refresh_token"] == nil {
			t.Fatalf("tokens: %d %s", r.status, r.raw)
		}
		if !e.active(r.body["access_token"].(string)) {
			t.Fatal("device token inactive")
		}
		e.clock.Advance(16 * time.Second)
		expectError(t, poll(), 400, "invalid_grant") // once only

		// The code entered again after it was used: not pending any more.
		p = b.do("GET", "/device", nil)
		p = b.submit(p, "device", url.Values{"user_code": {userCode}})
		if !strings.Contains(p.body, `id="error"`) {
			t.Fatalf("used user code: %s", p.body)
		}
	})
}

func TestDeviceDenyExpiryAndRefusals(t *testing.T) {
	onEachBackend(t, func(t *testing.T, backend func(*envSetup)) {
		e := withBrowserClients(newEnv(t, backend))
		begin := func() (device, user string) {
			r := e.do("POST", "/device_authorization", "", url.Values{"client_id": {"tv"}})
			if r.status != 200 {
				t.Fatalf("device authorization: %d %s", r.status, r.raw)
			}
			return r.body["device_code"].(string), r.body["user_code"].(string)
		}
		poll := func(client, device string) response {
			return e.token("", url.Values{"grant_type": {store.GrantDeviceCode}, "device_code": {device}, "client_id": {client}})
		}
		device, user := begin()
		b := newBrowser(e)
		p := b.submit(b.do("GET", "/device?user_code="+user, nil), "device", url.Values{"user_code": {user}})
		p = b.submit(p, "login", url.Values{"username": {"alice"}, "password": {alicePass}})
		p = b.submit(p, "consent", url.Values{"decision": {"deny"}})
		if !strings.Contains(p.body, "Device denied") {
			t.Fatalf("deny: %s", p.body)
		}
		expectError(t, poll("tv", device), 400, "access_denied")

		// A signed-in user goes straight from the code to the approval.
		device2, user2 := begin()
		p = b.submit(b.do("GET", "/device", nil), "device", url.Values{"user_code": {user2}})
		if !strings.Contains(p.body, `id="consent"`) {
			t.Fatalf("with a session: %s", p.body)
		}
		e.clock.Advance(authserver.DefaultDeviceCodeTTL + time.Second)
		expectError(t, poll("tv", device2), 400, "expired_token")
		if p := b.submit(p, "consent", url.Values{"decision": {"allow"}}); !strings.Contains(p.body, `id="error"`) {
			t.Fatalf("approving an expired code: %s", p.body)
		}

		expectError(t, poll("tv", "no-such-device-code"), 400, "invalid_grant")
		expectError(t, e.do("POST", "/device_authorization", "", url.Values{"client_id": {"spa"}}), 400, "unauthorized_client")
		expectError(t, e.do("POST", "/device_authorization", "", url.Values{"client_id": {"nobody"}}), 401, "invalid_client")
		expectError(t, e.do("POST", "/device_authorization", "", url.Values{"client_id": {"tv"}, "scope": {"admin"}}), 400, "invalid_scope")
		device3, _ := begin()
		expectError(t, poll("spa", device3), 400, "unauthorized_client")
	})
}

// Guessing user codes is throttled per source like guessing passwords
// (RFC 8628 §5.1): the page and /token share one throttle.
func TestUserCodeGuessingIsThrottled(t *testing.T) {
	e := withBrowserClients(newEnv(t, func(s *envSetup) { s.cfg.ThrottleBurst = 3 }))
	b := newBrowser(e)
	p := b.do("GET", "/device", nil)
	for i := range 3 {
		r := b.submit(p, "device", url.Values{"user_code": {"BCDF-GHJK"}})
		if r.status != 200 || !strings.Contains(r.body, `id="error"`) {
			t.Fatalf("guess %d: %d", i, r.status)
		}
	}
	if r := b.submit(p, "device", url.Values{"user_code": {"BCDF-GHJK"}}); r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
		t.Fatalf("guess after the burst: %d, want 429 with Retry-After", r.status)
	}
	// The same source is throttled at /token too: one rule.
	expectError(t, e.login("conf", confSecret, "alice", alicePass, ""), 429, "temporarily_unavailable")
}

// The login page is the password grant's check: its failures lock the
// name for /token too.
func TestPageLoginSharesLockout(t *testing.T) {
	e := withBrowserClients(newEnv(t))
	b := newBrowser(e)
	p := b.do("GET", authorizeURL("spa", spaRedirect, "", "s"), nil)
	for range 5 {
		p = b.submit(p, "login", url.Values{"username": {"alice"}, "password": {"wrong"}})
	}
	if e.st.beginLogins.Load() != 5 {
		t.Fatalf("page logins counted %d attempts in the store, want 5", e.st.beginLogins.Load())
	}
	expectError(t, e.login("conf", confSecret, "alice", alicePass, ""), 400, "invalid_grant")
	p = b.submit(p, "login", url.Values{"username": {"alice"}, "password": {alicePass}})
	if !strings.Contains(p.body, `id="error"`) {
		t.Fatal("a locked name signed in at the page")
	}
}

func TestMetadataListsBrowserLogin(t *testing.T) {
	e := newEnv(t)
	r := e.do("GET", "/.well-known/oauth-authorization-server", "", nil)
	for k, want := range map[string]any{
		"authorization_endpoint":                         "https://auth.example.test/authorize",
		"device_authorization_endpoint":                  "https://auth.example.test/device_authorization",
		"authorization_response_iss_parameter_supported": true,
	} {
		if r.body[k] != want {
			t.Errorf("%s = %v, want %v", k, r.body[k], want)
		}
	}
	for k, want := range map[string]string{"code_challenge_methods_supported": `["S256"]`, "response_types_supported": `["code"]`} {
		if !strings.Contains(r.raw, `"`+k+`":`+want) {
			t.Errorf("%s: want %s in %s", k, want, r.raw)
		}
	}
}

// Anyone may start a device authorization, and each is a stored row: a
// source gets the throttle's burst of them, then 429.
func TestDeviceAuthorizationsPerSourceAreBounded(t *testing.T) {
	e := withBrowserClients(newEnv(t, func(s *envSetup) { s.cfg.ThrottleBurst = 3 }))
	for i := range 3 {
		if r := e.do("POST", "/device_authorization", "", url.Values{"client_id": {"tv"}}); r.status != 200 {
			t.Fatalf("start %d: %d %s", i, r.status, r.raw)
		}
	}
	r := e.do("POST", "/device_authorization", "", url.Values{"client_id": {"tv"}})
	expectError(t, r, 429, "temporarily_unavailable")
	if r.header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
	// Logins from the source are not affected: a separate budget.
	if r := e.login("conf", confSecret, "alice", alicePass, ""); r.status != 200 {
		t.Fatalf("login after the device starts: %d %s", r.status, r.raw)
	}
}

// Cookies are Secure and __Host- prefixed exactly when the browser reaches
// the server over TLS.
func TestCookieSecurity(t *testing.T) {
	for _, c := range []struct {
		name   string
		setup  func(*envSetup)
		secure bool
	}{
		{"https issuer", func(*envSetup) {}, true},
		{"http issuer", func(s *envSetup) { s.cfg.Issuer = "http://127.0.0.1:9096" }, false},
		{"serves TLS", func(s *envSetup) { s.cfg.Issuer, s.cfg.ServesTLS = "http://127.0.0.1:9096", true }, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := withBrowserClients(newEnv(t, c.setup))
			req := httptest.NewRequest("GET", authorizeURL("spa", spaRedirect, "", "s"), nil)
			rec := httptest.NewRecorder()
			e.h.ServeHTTP(rec, req)
			cookies := rec.Result().Cookies()
			if len(cookies) != 1 {
				t.Fatalf("cookies %v", cookies)
			}
			ck := cookies[0]
			if ck.Secure != c.secure || strings.HasPrefix(ck.Name, "__Host-") != c.secure || !ck.HttpOnly ||
				ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" || ck.Domain != "" {
				t.Errorf("cookie %+v, want secure=%v", ck, c.secure)
			}
		})
	}
}

// Logins at the page, consents, codes issued, redeemed and reused, and
// device approvals are counted and audited, without a secret in the log.
func TestBrowserLoginMetricsAndAudit(t *testing.T) {
	e, reg, logs := opsEnv(t)
	withBrowserClients(e)
	events := func() map[string]float64 {
		m := scrape(t, reg)
		out := map[string]float64{}
		for _, ev := range []string{"consent_granted", "code_issued", "code_redeemed", "code_reused", "device_authorization_started", "device_approved", "logout"} {
			v, _ := m.Value("authsvc_authorization_events_total", map[string]string{"event": ev})
			out[ev] = v
		}
		for _, r := range []string{"succeeded", "failed"} {
			out["page_"+r], _ = m.Value("authsvc_page_logins_total", map[string]string{"result": r})
		}
		return out
	}
	if before := events(); before["code_issued"] != 0 || before["page_succeeded"] != 0 {
		t.Fatalf("counters before anything happened: %v", before)
	}

	b := newBrowser(e)
	p := b.do("GET", authorizeURL("spa", spaRedirect, "", "s"), nil)
	p = b.submit(p, "login", url.Values{"username": {"alice"}, "password": {"wrong password"}})
	p = b.submit(p, "login", url.Values{"username": {"alice"}, "password": {alicePass}})
	code := location(t, b.submit(p, "consent", url.Values{"decision": {"allow"}})).Get("code")
	exchange := url.Values{"code": {code}, "redirect_uri": {spaRedirect}, "code_verifier": {verifier}}
	if r := e.exchange("spa", "", exchange); r.status != 200 {
		t.Fatalf("exchange: %d %s", r.status, r.raw)
	}
	e.exchange("spa", "", url.Values{"code": {code}, "redirect_uri": {spaRedirect}, "code_verifier": {verifier}})
	start := e.do("POST", "/device_authorization", "", url.Values{"client_id": {"tv"}})
	userCode := start.body["user_code"].(string)
	dp := b.submit(b.do("GET", "/device", nil), "device", url.Values{"user_code": {userCode}})
	b.submit(dp, "consent", url.Values{"decision": {"allow"}})
	b.submit(b.do("GET", "/logout", nil), "logout", nil)

	want := map[string]float64{"consent_granted": 1, "code_issued": 1, "code_redeemed": 1, "code_reused": 1,
		"device_authorization_started": 1, "device_approved": 1, "logout": 1, "page_succeeded": 1, "page_failed": 1}
	if got := events(); !maps.Equal(got, want) {
		t.Errorf("counters %v, want %v", got, want)
	}
	seen := map[string]bool{}
	for _, l := range logLines(t, logs) {
		if l["msg"] == "audit" {
			seen[l["event"].(string)] = true
		}
	}
	for ev := range want {
		if !strings.HasPrefix(ev, "page_") && !seen[ev] {
			t.Errorf("no audit event %s", ev)
		}
	}
	if !seen["login_succeeded"] || !seen["login_failed"] {
		t.Error("the page's logins are not audited as logins")
	}
	for _, secret := range []string{code, alicePass, verifier, start.body["device_code"].(string)} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the log holds a secret (%s…)", secret[:4])
		}
	}
}

// TestPublicClientsAlwaysAsk: a confidential client with a stored consent,
// or first party, gets a code without the consent page; a public client
// never does (RFC 8252 §8.6: nothing assures who gets its code; on a
// loopback URI any program of the machine may be listening, on any port),
// whatever was allowed before and first party or not. The page names the
// host and port the browser goes to, and says when it is this computer.
func TestPublicClientsAlwaysAsk(t *testing.T) {
	e := withBrowserClients(newEnv(t))
	b := newBrowser(e)
	consent := func(what string, p page) page {
		t.Helper()
		if p.status != http.StatusOK || !strings.Contains(p.body, `id="consent"`) {
			t.Fatalf("%s: %d, want the consent page:\n%s", what, p.status, p.body)
		}
		return p
	}
	names := func(what string, p page, where string, local bool) {
		t.Helper()
		m := regexp.MustCompile(`<p id="return-to">[^\n]*</p>`).FindString(p.body)
		if !strings.Contains(m, "<strong>"+where+"</strong>") || strings.Contains(m, "this computer") != local {
			t.Errorf("%s: %q, want it to name %s (this computer: %v)", what, m, where, local)
		}
	}

	// Confidential: asked once, then the stored consent answers.
	if q := signIn(t, b, authorizeURL("web", webRedirect, "", "a")); q.Get("code") == "" {
		t.Fatalf("web: %v", q)
	}
	if q := location(t, b.do("GET", authorizeURL("web", webRedirect, "", "b"), nil)); q.Get("code") == "" {
		t.Fatalf("web with a stored consent and a session: %v", q)
	}
	if q := location(t, b.do("GET", authorizeURL("first", "https://first.example.test/cb", "", "c"), nil)); q.Get("code") == "" {
		t.Fatalf("confidential first party with a session: %v", q)
	}
	if q := location(t, b.submit(consent("nativeconf", b.do("GET", authorizeURL("nativeconf", cliRedirect, "", "d"), nil)), "consent",
		url.Values{"decision": {"allow"}})); q.Get("code") == "" {
		t.Fatalf("nativeconf allowed: %v", q)
	}
	if q := location(t, b.do("GET", authorizeURL("nativeconf", cliRedirect, "", "e"), nil)); q.Get("code") == "" {
		t.Fatalf("confidential on its loopback URI with a stored consent: %v", q)
	}

	// Public: allowed once, asked again; first party or not; on the
	// registered loopback URI as on another port.
	for _, c := range []struct {
		client, redirect, where string
		local                   bool
	}{
		{"spa", spaRedirect, "https://spa.example.test:443", false},
		{"firstpublic", "https://firstpublic.example.test/cb", "https://firstpublic.example.test:443", false},
		{"native", cliRedirect, "http://127.0.0.1:80", true},
		{"native", "http://127.0.0.1:49152/callback", "http://127.0.0.1:49152", true},
	} {
		what := c.client + " at " + c.redirect
		p := consent(what, b.do("GET", authorizeURL(c.client, c.redirect, "", "f"), nil))
		names(what, p, c.where, c.local)
		if q := location(t, b.submit(p, "consent", url.Values{"decision": {"allow"}})); q.Get("code") == "" {
			t.Fatalf("%s allowed: %v", what, q)
		}
		if _, err := e.st.GetConsent(context.Background(), "alice", c.client); err != nil {
			t.Fatalf("%s: the consent was not stored: %v", what, err)
		}
		names(what+" again", consent(what+" again, after allowing", b.do("GET", authorizeURL(c.client, c.redirect, "", "g"), nil)), c.where, c.local)
	}
}

// TestHeadAuthorizeChangesNothing: HEAD is refused, so a signed-in
// browser whose GET would get a code gets none with HEAD.
func TestHeadAuthorizeChangesNothing(t *testing.T) {
	e, reg, _ := opsEnv(t)
	withBrowserClients(e)
	issued := func() float64 {
		v, _ := scrape(t, reg).Value("authsvc_authorization_events_total", map[string]string{"event": "code_issued"})
		return v
	}
	b := newBrowser(e)
	if q := signIn(t, b, authorizeURL("web", webRedirect, "", "a")); q.Get("code") == "" {
		t.Fatalf("sign-in: %v", q)
	}
	if p := b.do("GET", authorizeURL("web", webRedirect, "", "b"), nil); p.status != http.StatusSeeOther {
		t.Fatalf("GET with a session and consent: %d, want a redirect with a code", p.status)
	}
	if n := issued(); n != 2 {
		t.Fatalf("%v codes issued by the sign-in and the GET, want 2", n)
	}
	p := b.do("HEAD", authorizeURL("web", webRedirect, "", "c"), nil)
	if p.status != http.StatusMethodNotAllowed || p.header.Get("Location") != "" || p.header.Get("Allow") != "GET, POST" {
		t.Fatalf("HEAD: %d %v", p.status, p.header)
	}
	if n := issued(); n != 2 {
		t.Fatalf("%v codes issued after HEAD, want still 2", n)
	}
}

// narrowToRead takes every scope but items:read from clientID, and returns
// alice as she is stored.
func narrowToRead(t *testing.T, e *env, clientID string) store.User {
	t.Helper()
	ctx := context.Background()
	c, err := e.st.GetClient(ctx, clientID)
	if err != nil {
		t.Fatal(err)
	}
	c.Scopes = []string{"items:read"}
	if err := e.st.UpdateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	alice, err := e.st.GetUser(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	return alice
}

// TestCodeRefusedAfterScopeLoss: a code issued for a scope its client
// lost meanwhile does not start a grant with it. (A narrowing deletes the
// client's codes; this is the code whose request was checked just before
// the narrowing and stored just after it.)
func TestCodeRefusedAfterScopeLoss(t *testing.T) {
	onEachBackend(t, func(t *testing.T, backend func(*envSetup)) {
		e := withBrowserClients(newEnv(t, backend))
		ctx := context.Background()
		alice := narrowToRead(t, e, "spa")
		code := func(scope string) string {
			value, _ := store.NewOpaqueValue()
			family, _ := store.NewOpaqueValue()
			now := e.clock.Now()
			err := e.st.CreateAuthCode(ctx, store.AuthCode{Hash: store.HashToken(value), ClientID: "spa", Username: "alice",
				UserVersion: alice.Version, RedirectURI: spaRedirect, Challenge: challenge, Scope: scope, FamilyID: family,
				IssuedAt: now, ExpiresAt: now.Add(store.AuthCodeTTL)})
			if err != nil {
				t.Fatal(err)
			}
			return value
		}
		ok := e.exchange("spa", "", url.Values{"code": {code("items:read")}, "redirect_uri": {spaRedirect}, "code_verifier": {verifier}})
		if ok.status != http.StatusOK {
			t.Fatalf("a code within the client's scopes: %d %s", ok.status, ok.raw)
		}
		r := e.exchange("spa", "", url.Values{"code": {code("items:read items:write")}, "redirect_uri": {spaRedirect}, "code_verifier": {verifier}})
		expectError(t, r, http.StatusBadRequest, "invalid_grant")
	})
}

// TestDeviceRefusedAfterScopeLoss: a device authorization approved for a
// scope its client lost meanwhile does not start a grant with it, as
// TestCodeRefusedAfterScopeLoss for a code.
func TestDeviceRefusedAfterScopeLoss(t *testing.T) {
	onEachBackend(t, func(t *testing.T, backend func(*envSetup)) {
		e := withBrowserClients(newEnv(t, backend))
		ctx := context.Background()
		alice := narrowToRead(t, e, "tv")
		approved := func(scope string) string {
			value, _ := store.NewOpaqueValue()
			userCode, _ := store.NewOpaqueValue()
			family, _ := store.NewOpaqueValue()
			now := e.clock.Now()
			d := store.DeviceGrant{Hash: store.HashToken(value), UserCodeHash: store.HashToken(userCode), ClientID: "tv",
				Scope: scope, IssuedAt: now, ExpiresAt: now.Add(10 * time.Minute), Interval: 5 * time.Second,
				Status: store.DevicePending, FamilyID: family}
			if err := e.st.CreateDeviceGrant(ctx, d); err != nil {
				t.Fatal(err)
			}
			if err := e.st.DecideDeviceGrant(ctx, d.UserCodeHash, now, true, "alice", alice.Version); err != nil {
				t.Fatal(err)
			}
			return value
		}
		poll := func(device string) response {
			return e.token("", url.Values{"grant_type": {store.GrantDeviceCode}, "device_code": {device}, "client_id": {"tv"}})
		}
		if r := poll(approved("items:read")); r.status != http.StatusOK {
			t.Fatalf("a device authorization within the client's scopes: %d %s", r.status, r.raw)
		}
		wider := approved("items:read items:write")
		expectError(t, poll(wider), http.StatusBadRequest, "invalid_grant")
		// Refused for good: the client cannot get it by polling again.
		e.clock.Advance(10 * time.Second)
		expectError(t, poll(wider), http.StatusBadRequest, "invalid_grant")
	})
}
