package resource

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

// When the authorization server cannot vouch for a token, the answer is 503
// with Retry-After: never 200, and never 401 for a token nobody checked.
func TestFailClosed(t *testing.T) {
	tests := []struct {
		name    string
		breakIt func(e *env)
		log     string // in the log
	}{
		{"server stopped", func(e *env) { e.as.srv.Close() }, "connect"},
		{"500", func(e *env) { e.as.setStatus(http.StatusInternalServerError) }, "status 500"},
		{"502", func(e *env) { e.as.setStatus(http.StatusBadGateway) }, "status 502"},
		{"unexpected 400", func(e *env) { e.as.setStatus(http.StatusBadRequest) }, "status 400"},
		{"our credentials rejected", func(e *env) { e.as.setStatus(http.StatusUnauthorized) }, "configuration error"},
		{"forbidden to introspect", func(e *env) { e.as.setStatus(http.StatusForbidden) }, "configuration error"},
		{"not JSON", func(e *env) { e.as.setRawBody("<html>oops</html>") }, "decode introspection answer"},
		{"no active member", func(e *env) { e.as.setRawBody(`{"scope":"items:read"}`) }, `no \"active\" member`},
		{"active not a boolean", func(e *env) { e.as.setRawBody(`{"active":"true"}`) }, "decode introspection answer"},
		{"huge answer", func(e *env) { e.as.setRawBody(`{"active":true,"x":"` + strings.Repeat("a", 70<<10) + `"}`) }, "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, envConfig{})
			e.as.set("tok", userToken("alice", "items:read", e.clock.Now().Add(time.Hour)))
			tt.breakIt(e)
			rec := e.do(request{path: "/items", token: "tok"})
			expectUnavailable(t, rec.Code, rec.Header(), rec.Body.String())
			if !strings.Contains(e.logs.String(), tt.log) {
				t.Errorf("log lacks %q:\n%s", tt.log, e.logs)
			}
		})
	}
}

func TestFailClosedOnTimeout(t *testing.T) {
	e := newEnv(t, envConfig{timeout: 100 * time.Millisecond})
	e.as.set("tok", userToken("alice", "items:read", e.clock.Now().Add(time.Hour)))
	release := make(chan struct{})
	defer close(release)
	e.as.mu.Lock()
	e.as.release = release // never answers in time
	e.as.mu.Unlock()

	start := time.Now()
	rec := e.do(request{path: "/items", token: "tok"})
	expectUnavailable(t, rec.Code, rec.Header(), rec.Body.String())
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %s with a 100ms timeout", d)
	}
}

// Cached answers keep working while the authorization server is down;
// uncached tokens fail closed.
func TestCachedTokenSurvivesOutage(t *testing.T) {
	e := newEnv(t, envConfig{})
	e.as.set("tok", userToken("alice", "items:read", e.clock.Now().Add(time.Hour)))
	e.expectCalls("tok", 200, 1)
	e.as.srv.Close()
	e.expectCalls("tok", 200, 1)
	rec := e.do(request{path: "/items", token: "other"})
	expectUnavailable(t, rec.Code, rec.Header(), rec.Body.String())
	e.clock.Advance(DefaultCacheTTL)
	rec = e.do(request{path: "/items", token: "tok"})
	expectUnavailable(t, rec.Code, rec.Header(), rec.Body.String())
}

func expectUnavailable(t *testing.T, status int, h http.Header, body string) {
	t.Helper()
	if status != http.StatusServiceUnavailable {
		t.Fatalf("status = %d, want 503; body %s", status, body)
	}
	if got := h.Get("Retry-After"); got != "5" {
		t.Errorf("Retry-After = %q", got)
	}
	if got := h.Get("WWW-Authenticate"); got != "" {
		t.Errorf("a 503 carries a challenge: %q", got)
	}
	if !strings.Contains(body, `"error":"temporarily_unavailable"`) {
		t.Errorf("body %s", body)
	}
}

func TestIntrospectionClientErrors(t *testing.T) {
	as := newFakeAS(t)
	as.setStatus(http.StatusUnauthorized)
	client, err := NewIntrospectionClient(IntrospectionClientConfig{URL: as.URL(), ClientID: testClientID, ClientSecret: testClientSecret})
	if err != nil {
		t.Fatal(err)
	}
	_, err = client.Introspect(context.Background(), "tok")
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, ErrClientRejected) {
		t.Errorf("401: %v", err)
	}
	as.setStatus(http.StatusServiceUnavailable)
	_, err = client.Introspect(context.Background(), "Zx9-distinctive-token")
	if !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrClientRejected) {
		t.Errorf("503: %v", err)
	}
	if strings.Contains(err.Error(), "Zx9-distinctive-token") {
		t.Errorf("error mentions the token: %v", err)
	}
}

func TestIntrospectionClientAnswer(t *testing.T) {
	as := newFakeAS(t)
	exp := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	as.set("tok", userToken("alice", "items:read items:write", exp))
	client, err := NewIntrospectionClient(IntrospectionClientConfig{URL: as.URL(), ClientID: testClientID, ClientSecret: testClientSecret})
	if err != nil {
		t.Fatal(err)
	}
	in, err := client.Introspect(context.Background(), "tok")
	if err != nil {
		t.Fatal(err)
	}
	want := Introspection{Active: true, Scope: "items:read items:write", ClientID: "app", Username: "alice", Subject: "alice",
		TokenType: "Bearer", TokenUse: "access_token", Issuer: "http://localhost:9096", ExpiresAt: exp, IssuedAt: exp.Add(-15 * time.Minute)}
	if !reflect.DeepEqual(in, want) {
		t.Errorf("got  %+v\nwant %+v", in, want)
	}
	if in.Owner() != "user:alice" || !in.HasScope("items:write") || in.HasScope("items") {
		t.Errorf("owner %q, scopes wrong", in.Owner())
	}
	if in, err := client.Introspect(context.Background(), "unknown"); err != nil || in.Active {
		t.Errorf("unknown: %+v %v", in, err)
	}
}

func TestNewIntrospectionClientValidates(t *testing.T) {
	_, err := NewIntrospectionClient(IntrospectionClientConfig{URL: "localhost:9096/introspect", Timeout: -1})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"URL", "client id", "client secret", "negative"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not report %q", err, want)
		}
	}
}
