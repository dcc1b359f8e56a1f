package authserver_test

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/example/authsvc/internal/revocation"
	"github.com/example/authsvc/store"
)

func withRevocations(s *envSetup) { s.hub = revocation.NewHub(0, 0) }

// TestRevocationStream: a resource server's client subscribes and hears a
// revocation as a hash, never the token; everybody else is refused as at
// introspection.
func TestRevocationStream(t *testing.T) {
	e := newEnv(t, withRevocations)
	srv := httptest.NewServer(e.h)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/revocations", nil)
	req.Header.Set("Authorization", basic("rs", rsSecret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("subscribe: %d %v", resp.StatusCode, resp.Header)
	}
	lines := bufio.NewScanner(resp.Body)
	next := func(prefix string) string {
		t.Helper()
		for lines.Scan() {
			if l := lines.Text(); strings.HasPrefix(l, prefix) {
				return l
			}
		}
		t.Fatalf("stream ended before a line %q: %v", prefix, lines.Err())
		return ""
	}
	next("event: reset")
	next("event: ready")

	at, _ := e.mustLogin()
	if r := e.do("POST", "/revoke", basic("conf", confSecret), url.Values{"token": {at}}); r.status != 200 {
		t.Fatalf("revoke: %d", r.status)
	}
	next("event: revoke")
	data := next("data: ")
	if want := `data: {"kind":"token","key":"` + store.HashToken(at) + `"}`; data != want {
		t.Fatalf("event %q, want %q", data, want)
	}
	if strings.Contains(data, at) {
		t.Fatal("the event carries the token")
	}
	next("event: heartbeat")
}

func TestRevocationStreamRefusals(t *testing.T) {
	e := newEnv(t, withRevocations)
	for _, tc := range []struct {
		name, authz string
		status      int
		code        string
	}{
		{"no credentials", "", 401, "invalid_client"},
		{"wrong secret", basic("rs", "wrong"), 401, "invalid_client"},
		{"unknown client", basic("nobody", "x"), 401, "invalid_client"},
		{"client that may not introspect", basic("conf", confSecret), 403, "unauthorized_client"},
		{"public client", basic("pub", ""), 403, "unauthorized_client"},
	} {
		r := e.do("GET", "/revocations", tc.authz, nil)
		if r.status != tc.status || r.body["error"] != tc.code {
			t.Errorf("%s: %d %v, want %d %s", tc.name, r.status, r.body, tc.status, tc.code)
		}
	}
	if r := e.do("POST", "/revocations", basic("rs", rsSecret), url.Values{}); r.status != 405 {
		t.Errorf("POST: %d, want 405", r.status)
	}
	// Without a hub there is no such endpoint.
	if r := newEnv(t).do("GET", "/revocations", basic("rs", rsSecret), nil); r.status != 404 {
		t.Errorf("no hub: %d, want 404", r.status)
	}
}
