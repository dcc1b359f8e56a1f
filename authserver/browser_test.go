package authserver_test

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/gin-gonic/gin"
	"golang.org/x/oauth2"

	"github.com/example/authsvc/internal/browsertest"
	"github.com/example/authsvc/resource"
	"github.com/example/authsvc/store"
	"github.com/example/authsvc/store/sqlite"
)

// These tests drive the sign-in pages in headless Chromium (see
// internal/browsertest), with golang.org/x/oauth2 as the client, unchanged:
// the server must work for a real browser (cookies, CSP, redirects after a
// form post, cross-site rules) and for a stock client library. Each test
// has its own server, store and browser, so no cookie or consent leaks
// from one test into another.
//
// The pages are checked against their contract (the ids, labels and texts
// the endpoints promise), and each one with axe-core.

const (
	browserClient = "browserapp" // a public client on a loopback redirect URI
	deviceClient  = "browsertv"
	// firstPartyClient is the operator's own confidential app: no consent
	// page.
	firstPartyClient = "browserfirst"
)

var browserScopes = []string{"items:read", "items:write"}

// browserEnv is the server on a real listener, whose issuer is its own
// address (the browser follows the URLs the server makes from it), a test
// client's callback, and a browser.
type browserEnv struct {
	*env
	t        *testing.T
	base     string // the issuer, http://127.0.0.1:PORT
	callback *callbackServer
	ctx      context.Context // the browser's tab
	console  *consoleLog
}

func newBrowserEnv(t *testing.T) *browserEnv {
	t.Helper()
	// The browser first: without Chromium the test skips before anything
	// else is built.
	ctx := browsertest.New(t)

	cb := newCallbackServer(t)
	srv := httptest.NewUnstartedServer(nil)
	base := "http://" + srv.Listener.Addr().String()
	e := newEnv(t, func(s *envSetup) {
		s.cfg.Issuer = base
		// A real browser and a real client wait in real time: the fake
		// clock would never let a device poll's interval pass.
		s.cfg.Now = nil
		s.cfg.DevicePollInterval = time.Second
	})
	for _, c := range []store.Client{
		{ID: browserClient, GrantTypes: []string{store.GrantAuthorizationCode, store.GrantRefreshToken},
			Scopes: browserScopes, RedirectURIs: []string{cb.redirectURI()}},
		{ID: firstPartyClient, SecretHash: store.HashClientSecret(confSecret), GrantTypes: []string{store.GrantAuthorizationCode},
			Scopes: browserScopes, RedirectURIs: []string{cb.redirectURI()}, FirstParty: true},
		{ID: deviceClient, GrantTypes: []string{store.GrantDeviceCode, store.GrantRefreshToken}, Scopes: browserScopes},
	} {
		c.CreatedAt = time.Now()
		if err := e.st.CreateClient(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	srv.Config.Handler = e.h
	srv.Start()
	t.Cleanup(srv.Close)
	b := &browserEnv{env: e, t: t, base: base, callback: cb, ctx: ctx, console: &consoleLog{}}
	// The browser's console says why it blocked something (a CSP
	// directive, a mixed-content rule): failures quote it.
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			b.console.add(fmt.Sprintf("%s: %s", m.Type, m.Text))
		}
	}()
	return b
}

type consoleLog struct {
	mu    sync.Mutex
	lines []string
}

func (c *consoleLog) add(line string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lines = append(c.lines, line)
}

// String is the browser console so far, for a failure message.
func (c *consoleLog) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.lines) == 0 {
		return "(browser console empty)"
	}
	return "browser console:\n  " + strings.Join(c.lines, "\n  ")
}

// with is b for the subtest t: a failure ends t, not its parent.
func (b *browserEnv) with(t *testing.T) *browserEnv {
	c, e := *b, *b.env
	e.t, c.env, c.t = t, &e, t
	return &c
}

// oauthConfig is the client's configuration as its developer would write
// it, from the server's documented endpoints.
func (b *browserEnv) oauthConfig() *oauth2.Config {
	return &oauth2.Config{
		ClientID: browserClient,
		Endpoint: oauth2.Endpoint{
			AuthURL:       b.base + "/authorize",
			TokenURL:      b.base + "/token",
			DeviceAuthURL: b.base + "/device_authorization",
			AuthStyle:     oauth2.AuthStyleInParams, // a public client
		},
		RedirectURL: b.callback.redirectURI(),
		Scopes:      browserScopes,
	}
}

// callbackServer is the test client's redirect URI: it records what the
// server sends the browser back with and shows a page to wait for.
type callbackServer struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []url.Values
}

func newCallbackServer(t *testing.T) *callbackServer {
	cb := &callbackServer{}
	cb.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/callback" {
			http.NotFound(w, r)
			return
		}
		cb.mu.Lock()
		cb.got = append(cb.got, r.URL.Query())
		cb.mu.Unlock()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><html lang="en"><head><title>Test client</title></head><body><main><h1 id="client">Test client</h1></main></body></html>`)
	}))
	t.Cleanup(cb.srv.Close)
	return cb
}

// redirectURI is http://127.0.0.1:PORT/callback: a loopback URI, as a
// native app registers it (RFC 8252 §7.3).
func (cb *callbackServer) redirectURI() string { return cb.srv.URL + "/callback" }

// last is the query of the latest callback, nil if there was none.
func (cb *callbackServer) last() url.Values {
	cb.mu.Lock()
	defer cb.mu.Unlock()
	if len(cb.got) == 0 {
		return nil
	}
	return cb.got[len(cb.got)-1]
}

func (cb *callbackServer) count() int {
	cb.mu.Lock()
	defer cb.mu.Unlock()
	return len(cb.got)
}

// open loads url in the browser and returns the final document's response.
func (b *browserEnv) open(url string) *network.Response {
	b.t.Helper()
	resp, err := chromedp.Run(b.ctx, chromedp.NavigateResponse(url))
	if err != nil {
		b.t.Fatalf("open %s: %v", url, err)
	}
	return resp
}

// click clicks sel, waits for the page the click loads and returns its
// response (after redirects).
func (b *browserEnv) click(sel string) *network.Response {
	b.t.Helper()
	resp, err := chromedp.RunResponse(b.ctx, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
	if err != nil {
		b.t.Fatalf("click %s on %s: %v\n%s", sel, b.location(), err, b.console)
	}
	return resp
}

// must fails the test unless the page has sel, saying what page it has.
func (b *browserEnv) must(sel string) {
	b.t.Helper()
	if !b.has(sel) {
		b.t.Fatalf("no %s on %s; the page says:\n%s\n%s", sel, b.location(), b.bodyText(), b.console)
	}
}

// has reports whether the page, as loaded, has sel; it does not wait.
func (b *browserEnv) has(sel string) bool {
	b.t.Helper()
	n, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](fmt.Sprintf(`document.querySelector(%q) !== null`, sel)))
	if err != nil {
		b.t.Fatalf("look for %s: %v", sel, err)
	}
	return n
}

func (b *browserEnv) text(sel string) string {
	b.t.Helper()
	b.must(sel)
	s, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

func (b *browserEnv) texts(sel string) []string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]string](fmt.Sprintf(`[...document.querySelectorAll(%q)].map(e => e.textContent.trim())`, sel)))
	if err != nil {
		b.t.Fatalf("texts of %s: %v", sel, err)
	}
	return s
}

func (b *browserEnv) value(sel string) string {
	b.t.Helper()
	b.must(sel)
	v, err := chromedp.Run(b.ctx, chromedp.Value(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("value of %s: %v", sel, err)
	}
	return v
}

func (b *browserEnv) location() string {
	b.t.Helper()
	loc, err := chromedp.Run(b.ctx, chromedp.Location())
	if err != nil {
		b.t.Fatalf("location: %v", err)
	}
	return loc
}

func (b *browserEnv) bodyText() string {
	s, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	return s
}

// labelOf is the text of the label of the field with id.
func (b *browserEnv) labelOf(id string) string {
	b.t.Helper()
	return b.text(`label[for="` + id + `"]`)
}

// typeInto replaces what the field sel holds with s, typed as a user
// would, key by key. Not chromedp.SendKeys: it reads the node's attributes
// without the node's lock (chromedp v0.23.1, query.go), which the race
// detector caught against a DOM event for a page script's changes.
func (b *browserEnv) typeInto(sel, s string) {
	b.t.Helper()
	typeKeys := chromedp.QueryAfter(chromedp.CSS(sel), func(ctx context.Context, t *chromedp.Target, nodes []*chromedp.Node) (chromedp.Void, error) {
		if len(nodes) == 0 {
			return chromedp.Void{}, fmt.Errorf("no node matches %s", sel)
		}
		return chromedp.KeyEventNode(nodes[0], s)(ctx, t)
	}, chromedp.NodeVisible)
	if err := chromedp.Do(b.ctx, chromedp.Clear(chromedp.CSS(sel), chromedp.NodeVisible), typeKeys); err != nil {
		b.t.Fatalf("type into %s: %v", sel, err)
	}
}

// signIn fills the login form shown now and submits it.
func (b *browserEnv) signIn(username, password string) *network.Response {
	b.t.Helper()
	b.must("form#login")
	b.typeInto("#username", username)
	b.typeInto("#password", password)
	return b.click("button#submit")
}

// a11y checks the page shown now with axe-core.
func (b *browserEnv) a11y() {
	b.t.Helper()
	browsertest.CheckA11y(b.t, b.ctx)
}

// wantStatus fails unless resp has status.
func (b *browserEnv) wantStatus(resp *network.Response, status int, what string) {
	b.t.Helper()
	if resp == nil || resp.Status != int64(status) {
		got := "no response"
		if resp != nil {
			got = fmt.Sprintf("%d %s", resp.Status, resp.URL)
		}
		b.t.Fatalf("%s: got %s, want %d; the page says:\n%s\n%s", what, got, status, b.bodyText(), b.console)
	}
}

// callbackQuery checks that the browser is at the test client's callback
// and returns what the server sent it there with.
func (b *browserEnv) callbackQuery(resp *network.Response) url.Values {
	b.t.Helper()
	b.wantStatus(resp, http.StatusOK, "callback")
	if loc := b.location(); !strings.HasPrefix(loc, b.callback.redirectURI()+"?") {
		b.t.Fatalf("browser at %s, want the client's callback %s\n%s", loc, b.callback.redirectURI(), b.console)
	}
	b.must("h1#client")
	q := b.callback.last()
	if q == nil {
		b.t.Fatal("the callback was never called")
	}
	return q
}

// authorization is a request as x/oauth2 makes it, with a fresh state and
// PKCE verifier.
type authorization struct {
	url, state, verifier string
}

func (b *browserEnv) newAuthorization(conf *oauth2.Config) authorization {
	state := "st-" + rand8(b.t)
	verifier := oauth2.GenerateVerifier()
	return authorization{url: conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier)), state: state, verifier: verifier}
}

func rand8(t *testing.T) string {
	v, err := store.NewOpaqueValue()
	if err != nil {
		t.Fatal(err)
	}
	return v[:8]
}

// wantCode checks a successful callback (RFC 6749 §4.1.2, RFC 9207) and
// returns the code.
func (b *browserEnv) wantCode(q url.Values, a authorization) string {
	b.t.Helper()
	if q.Get("code") == "" || q.Get("error") != "" {
		b.t.Fatalf("callback %v: want a code and no error", q)
	}
	if q.Get("state") != a.state {
		b.t.Errorf("state = %q, want %q", q.Get("state"), a.state)
	}
	if q.Get("iss") != b.base {
		b.t.Errorf("iss = %q, want the issuer %q (RFC 9207)", q.Get("iss"), b.base)
	}
	return q.Get("code")
}

// exchange redeems code as the client does, and checks the token at
// introspection.
func (b *browserEnv) exchange(conf *oauth2.Config, code string, a authorization) *oauth2.Token {
	b.t.Helper()
	tok, err := conf.Exchange(context.Background(), code, oauth2.VerifierOption(a.verifier))
	if err != nil {
		b.t.Fatalf("exchange: %v", err)
	}
	b.wantActive(tok.AccessToken, "alice", conf.ClientID)
	return tok
}

func (b *browserEnv) wantActive(access, username, clientID string) {
	b.t.Helper()
	in := b.introspect(access)
	if in["active"] != true || in["username"] != username || in["client_id"] != clientID {
		b.t.Fatalf("introspection of the new token: %v; want active, %s, %s", in, username, clientID)
	}
	if got := strings.Fields(fmt.Sprint(in["scope"])); !sameSet(got, browserScopes) {
		b.t.Errorf("token scope %v, want %v", got, browserScopes)
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// TestBrowserCodeFlow is a user's first visit, a second authorization in
// the same browser, and a login after logout, with x/oauth2 as the client.
func TestBrowserCodeFlow(t *testing.T) {
	b := newBrowserEnv(t)
	conf := b.oauthConfig()
	a := b.newAuthorization(conf)

	// No session: the login page, labelled as the contract says.
	b.wantStatus(b.open(a.url), http.StatusOK, "GET /authorize")
	b.must("form#login")
	if got := b.labelOf("username"); got != "Username" {
		t.Errorf("username label %q", got)
	}
	if got := b.labelOf("password"); got != "Password" {
		t.Errorf("password label %q", got)
	}
	if got := b.text("button#submit"); got != "Sign in" {
		t.Errorf("submit button %q, want Sign in", got)
	}
	b.a11y()

	// The password, then consent to the requested scopes.
	b.wantStatus(b.signIn("alice", alicePass), http.StatusOK, "login")
	b.must("form#consent")
	if got := b.texts("ul#scopes li"); !sameSet(got, browserScopes) {
		t.Errorf("consent lists %q, want %q", got, browserScopes)
	}
	if b.text("button#allow") != "Allow" || b.text("button#deny") != "Deny" {
		t.Errorf("consent buttons %q, %q", b.text("button#allow"), b.text("button#deny"))
	}
	b.a11y()
	q := b.callbackQuery(b.click("button#allow"))
	tok := b.exchange(conf, b.wantCode(q, a), a)

	t.Run("token fetches items", func(t *testing.T) {
		items := newItemsServer(t, b)
		client := conf.Client(context.Background(), tok)
		resp, err := client.Post(items+"/items", "application/json", strings.NewReader(`{"name":"from the browser"}`))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("create item: %d %s", resp.StatusCode, body)
		}
		resp, err = client.Get(items + "/items")
		if err != nil {
			t.Fatal(err)
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "from the browser") {
			t.Fatalf("list items: %d %s", resp.StatusCode, body)
		}
	})

	t.Run("second authorization skips the password, not the consent of a public client", func(t *testing.T) {
		b := b.with(t)
		a2 := b.newAuthorization(conf)
		before := b.callback.count()
		b.wantStatus(b.open(a2.url), http.StatusOK, "GET /authorize with a session")
		// Whatever was allowed before: any program of this computer could
		// be listening at a loopback redirect URI.
		b.must("form#consent")
		where := strings.TrimPrefix(b.callback.srv.URL, "http://")
		if got := b.text("p#return-to"); !strings.Contains(got, where) || !strings.Contains(got, "this computer") {
			t.Errorf("consent page says %q, want it to name %s on this computer", got, where)
		}
		if b.callback.count() != before {
			t.Fatal("the client was called back before the user allowed it")
		}
		q := b.callbackQuery(b.click("button#allow"))
		if b.callback.count() != before+1 {
			t.Fatalf("callback calls %d, want %d", b.callback.count(), before+1)
		}
		b.exchange(conf, b.wantCode(q, a2), a2)
	})

	t.Run("logout asks for the password again", func(t *testing.T) {
		b := b.with(t)
		b.wantStatus(b.open(b.base+"/logout"), http.StatusOK, "GET /logout")
		b.must("form#logout")
		if got := b.text("button#submit"); got != "Sign out" {
			t.Errorf("logout button %q, want Sign out", got)
		}
		b.a11y()
		b.wantStatus(b.click("button#submit"), http.StatusOK, "POST /logout")
		if got := b.text("h1#result"); !strings.Contains(strings.ToLower(got), "signed out") {
			t.Errorf("logout result %q, want it to say signed out", got)
		}
		b.a11y()

		a3 := b.newAuthorization(conf)
		b.wantStatus(b.open(a3.url), http.StatusOK, "GET /authorize after logout")
		b.must("form#login")
		b.wantStatus(b.signIn("alice", alicePass), http.StatusOK, "login after logout")
		b.must("form#consent")
		q := b.callbackQuery(b.click("button#allow"))
		b.exchange(conf, b.wantCode(q, a3), a3)
	})
}

// TestBrowserFirstPartySkipsConsent: the password leads straight back to
// a confidential first-party client, with no consent page: a redirect
// after a form post to another origin, which the login page's CSP allows.
func TestBrowserFirstPartySkipsConsent(t *testing.T) {
	b := newBrowserEnv(t)
	conf := b.oauthConfig()
	conf.ClientID, conf.ClientSecret = firstPartyClient, confSecret
	conf.Endpoint.AuthStyle = oauth2.AuthStyleInHeader
	a := b.newAuthorization(conf)

	b.open(a.url)
	q := b.callbackQuery(b.signIn("alice", alicePass))
	b.exchange(conf, b.wantCode(q, a), a)
}

// TestBrowserA11yCheckSeesThePages: axe-core runs under the pages' strict
// CSP and would catch a regression, so the a11y checks above are not
// vacuous: the login page passes, and fails once a label is taken away.
func TestBrowserA11yCheckSeesThePages(t *testing.T) {
	b := newBrowserEnv(t)
	browsertest.RequireAxe(t)
	b.open(b.newAuthorization(b.oauthConfig()).url)
	b.must("form#login")
	vs, err := browsertest.AxeViolations(b.ctx)
	if err != nil || len(vs) != 0 {
		t.Fatalf("login page: %v, %v; want no violation", vs, err)
	}
	if err := chromedp.Do(b.ctx, chromedp.Evaluate[chromedp.Void](`document.querySelector('label[for="password"]').remove()`)); err != nil {
		t.Fatal(err)
	}
	vs, err = browsertest.AxeViolations(b.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(vs, func(v browsertest.Violation) bool {
		return v.ID == "label" && slices.Contains(v.Targets, "#password")
	}) {
		t.Fatalf("unlabelled password field not reported: %+v", vs)
	}
}

// newItemsServer starts the resource service against the authorization
// server's introspection, as cmd/resource wires it, and returns its URL.
func newItemsServer(t *testing.T, b *browserEnv) string {
	t.Helper()
	items, err := sqlite.OpenItems(context.Background(), filepath.Join(t.TempDir(), "items.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { items.Close() })
	ic, err := resource.NewIntrospectionClient(resource.IntrospectionClientConfig{
		URL: b.base + "/introspect", ClientID: "rs", ClientSecret: rsSecret, Timeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	gin.SetMode(gin.ReleaseMode) // resource.NewServer leaves the mode to its caller
	srv := httptest.NewServer(resource.NewServer(slog.New(slog.NewTextHandler(io.Discard, nil)), items, ic))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestBrowserWrongPasswordAndDeny: a wrong password shows the login page
// again with an error, and a denied consent sends access_denied to the
// client, with no code.
func TestBrowserWrongPasswordAndDeny(t *testing.T) {
	b := newBrowserEnv(t)
	conf := b.oauthConfig()
	a := b.newAuthorization(conf)

	b.open(a.url)
	b.wantStatus(b.signIn("alice", "not the password"), http.StatusOK, "wrong password")
	b.must("form#login")
	b.must("p#error")
	b.a11y() // the login page with its error

	// The same page takes the right password.
	b.wantStatus(b.signIn("alice", alicePass), http.StatusOK, "login")
	b.must("form#consent")
	q := b.callbackQuery(b.click("button#deny"))
	if q.Get("error") != "access_denied" || q.Has("code") {
		t.Fatalf("callback after deny %v, want error=access_denied and no code", q)
	}
	if q.Get("state") != a.state || q.Get("iss") != b.base {
		t.Errorf("callback after deny %v: want state %q and iss %q", q, a.state, b.base)
	}
}

// TestBrowserDeviceFlow: x/oauth2's DeviceAuth, the browser at
// verification_uri_complete, and DeviceAccessToken polling until the user
// approves; then a second device denied, with the session skipping the
// password.
func TestBrowserDeviceFlow(t *testing.T) {
	b := newBrowserEnv(t)
	conf := b.oauthConfig()
	conf.ClientID = deviceClient
	ctx := context.Background()

	da, err := conf.DeviceAuth(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if da.VerificationURIComplete == "" || !strings.HasPrefix(da.VerificationURI, b.base+"/device") {
		t.Fatalf("device authorization %+v: want verification URIs on %s", da, b.base)
	}
	type result struct {
		tok *oauth2.Token
		err error
	}
	poll := func(da *oauth2.DeviceAuthResponse) <-chan result {
		ch := make(chan result, 1)
		go func() {
			ctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			tok, err := conf.DeviceAccessToken(ctx, da)
			ch <- result{tok, err}
		}()
		return ch
	}
	approved := poll(da)

	// The code comes prefilled from verification_uri_complete.
	b.wantStatus(b.open(da.VerificationURIComplete), http.StatusOK, "GET /device")
	b.must("form#device")
	if got := b.labelOf("user_code"); got != "Code" {
		t.Errorf("user code label %q, want Code", got)
	}
	if got := b.value("#user_code"); got != da.UserCode {
		t.Errorf("user code field %q, want %q prefilled", got, da.UserCode)
	}
	b.a11y()
	b.wantStatus(b.click("button#submit"), http.StatusOK, "POST /device code")
	b.a11y() // the login page of the device flow
	b.wantStatus(b.signIn("alice", alicePass), http.StatusOK, "device login")
	b.must("form#consent")
	if got := b.texts("ul#scopes li"); !sameSet(got, browserScopes) {
		t.Errorf("device consent lists %q, want %q", got, browserScopes)
	}
	if !strings.Contains(b.bodyText(), da.UserCode) {
		t.Errorf("device consent does not show the user code %s", da.UserCode)
	}
	b.a11y()
	b.wantStatus(b.click("button#allow"), http.StatusOK, "device allow")
	if got := b.text("h1#result"); got != "Device approved" {
		t.Errorf("result %q, want Device approved", got)
	}
	b.a11y()

	select {
	case r := <-approved:
		if r.err != nil {
			t.Fatalf("DeviceAccessToken: %v", r.err)
		}
		b.wantActive(r.tok.AccessToken, "alice", deviceClient)
	case <-time.After(time.Minute):
		t.Fatal("DeviceAccessToken did not return")
	}

	t.Run("second device denied, session skips login", func(t *testing.T) {
		b := b.with(t)
		da2, err := conf.DeviceAuth(ctx)
		if err != nil {
			t.Fatal(err)
		}
		denied := poll(da2)
		// The short URI, the code typed by hand.
		b.open(da2.VerificationURI)
		b.must("form#device")
		if got := b.value("#user_code"); got != "" {
			t.Errorf("user code field %q, want empty", got)
		}
		b.typeInto("#user_code", strings.ToLower(da2.UserCode))
		b.click("button#submit")
		if b.has("form#login") {
			t.Fatal("login page shown, want the session to skip it")
		}
		b.must("form#consent")
		b.wantStatus(b.click("button#deny"), http.StatusOK, "device deny")
		if got := b.text("h1#result"); got != "Device denied" {
			t.Errorf("result %q, want Device denied", got)
		}
		r := <-denied
		var re *oauth2.RetrieveError
		if r.err == nil || !errors.As(r.err, &re) || re.ErrorCode != "access_denied" {
			t.Fatalf("DeviceAccessToken after deny: %v, %v; want access_denied", r.tok, r.err)
		}
	})
}

// TestBrowserFormForgery: a form posted to /authorize from another site is
// refused with 403 and signs no one in; so is the server's own form with
// its csrf_token changed or taken out.
func TestBrowserFormForgery(t *testing.T) {
	b := newBrowserEnv(t)
	conf := b.oauthConfig()
	a := b.newAuthorization(conf)

	b.open(a.url)
	b.must("form#login")
	// Everything the real form would send, the victim's own csrf_token
	// included: only where the form comes from differs.
	fields, err := chromedp.Run(b.ctx, chromedp.Evaluate[map[string]string](
		`Object.fromEntries([...new FormData(document.querySelector("form#login"))])`))
	if err != nil {
		t.Fatal(err)
	}
	fields["username"], fields["password"] = "alice", alicePass
	if fields["csrf_token"] == "" {
		t.Fatalf("login form without csrf_token: %v", fields)
	}

	// Another site: "localhost" is a different site from "127.0.0.1" to
	// the browser, though both reach this machine.
	attacker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var inputs strings.Builder
		for k, v := range fields {
			fmt.Fprintf(&inputs, `<input type="hidden" name="%s" value="%s">`, html.EscapeString(k), html.EscapeString(v))
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><html lang="en"><head><title>Win a prize</title></head><body>
<form id="evil" method="post" action="%s/authorize">%s<button id="go" type="submit">Claim</button></form>
</body></html>`, b.base, inputs.String())
	}))
	t.Cleanup(attacker.Close)
	_, port, _ := net.SplitHostPort(attacker.Listener.Addr().String())

	t.Run("cross-site post refused", func(t *testing.T) {
		b := b.with(t)
		b.open("http://localhost:" + port + "/")
		b.must("form#evil")
		b.wantStatus(b.click("button#go"), http.StatusForbidden, "cross-site POST /authorize")
		if b.has("form#consent") {
			t.Fatal("the cross-site login went through")
		}
		t.Logf("refusal: %s", b.text("p#error"))
		b.a11y()
		// No session came of it: /authorize asks for the password.
		b.open(a.url)
		b.must("form#login")
	})

	t.Run("csrf_token wrong or missing refused", func(t *testing.T) {
		b := b.with(t)
		for name, js := range map[string]string{
			"wrong":   `document.querySelector("form#login input[name=csrf_token]").value = "AAAA"`,
			"missing": `document.querySelector("form#login input[name=csrf_token]").remove()`,
		} {
			b.open(a.url)
			b.must("form#login")
			if err := chromedp.Do(b.ctx, chromedp.Evaluate[chromedp.Void](js)); err != nil {
				t.Fatal(err)
			}
			b.wantStatus(b.signIn("alice", alicePass), http.StatusForbidden, name+" csrf_token")
			b.must("p#error")
			if b.has("form#consent") {
				t.Fatalf("%s csrf_token: signed in", name)
			}
		}
	})

	// The control, last because a session would hide the refusals: the
	// same fields from the server's own page sign in.
	t.Run("same form from the server's page signs in", func(t *testing.T) {
		b := b.with(t)
		b.open(a.url)
		b.wantStatus(b.signIn("alice", alicePass), http.StatusOK, "login")
		b.must("form#consent")
	})
}

// TestBrowserErrorPages: a request whose client or redirect URI cannot be
// trusted gets an error page at the server, never a redirect.
func TestBrowserErrorPages(t *testing.T) {
	b := newBrowserEnv(t)
	conf := b.oauthConfig()

	// The positive case: the same request with the registered values
	// shows the login page.
	good := b.newAuthorization(conf)
	b.wantStatus(b.open(good.url), http.StatusOK, "good request")
	b.must("form#login")

	for name, mod := range map[string]func(*oauth2.Config){
		"unknown client":            func(c *oauth2.Config) { c.ClientID = "nosuchclient" },
		"unregistered redirect URI": func(c *oauth2.Config) { c.RedirectURL = b.callback.srv.URL + "/elsewhere" },
	} {
		t.Run(name, func(t *testing.T) {
			b := b.with(t)
			bad := *conf
			mod(&bad)
			a := b.newAuthorization(&bad)
			before := b.callback.count()
			// The contract names no status; a success would be wrong.
			if resp := b.open(a.url); resp.Status < 400 {
				t.Errorf("%s: status %d, want an error status", name, resp.Status)
			}
			if loc := b.location(); !strings.HasPrefix(loc, b.base+"/authorize?") {
				t.Fatalf("browser at %s, want to stay at the server", loc)
			}
			b.must("h1")
			if b.text("p#error") == "" {
				t.Error("error page without a message in p#error")
			}
			if b.callback.count() != before {
				t.Error("the client's callback was called")
			}
			b.a11y()
		})
	}
}
