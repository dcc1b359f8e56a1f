package resource

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestBearerChallenges(t *testing.T) {
	e := newEnv(t, envConfig{})
	later := e.clock.Now().Add(time.Hour)
	e.as.set("alice-rw", userToken("alice", "items:read items:write", later))
	e.as.set("alice-ro", userToken("alice", "items:read", later))
	e.as.set("alice-none", userToken("alice", "profile", later))
	e.as.set("pad.ded~+/x==", userToken("alice", "items:read", later))
	refresh := userToken("alice", "items:read items:write", later)
	refresh["token_use"] = "refresh_token"
	e.as.set("refresh", refresh)
	e.as.set("expired", userToken("alice", "items:read", e.clock.Now().Add(-time.Second)))
	noUse := userToken("alice", "items:read", later)
	delete(noUse, "token_use")
	e.as.set("no-use", noUse)
	mac := userToken("alice", "items:read", later)
	mac["token_type"] = "mac"
	e.as.set("mac", mac)
	noOwner := userToken("", "items:read", later)
	delete(noOwner, "client_id")
	e.as.set("no-owner", noOwner)

	const (
		bare         = `Bearer realm="items"`
		invalidToken = `Bearer realm="items", error="invalid_token", error_description="the access token is invalid"`
	)
	invalidRequest := func(description string) string {
		return `Bearer realm="items", error="invalid_request", error_description="` + description + `"`
	}
	insufficient := func(scope string) string {
		return `Bearer realm="items", error="insufficient_scope", error_description="the access token lacks scope ` + scope + `", scope="` + scope + `"`
	}

	tests := []struct {
		name      string
		req       request
		status    int
		challenge string // exact WWW-Authenticate; "" means none
		code      string // JSON error; "" for success
	}{
		{"no credentials", request{path: "/items"}, 401, bare, "unauthorized"},
		{"other scheme", request{path: "/items", headers: map[string]string{"Authorization": "Basic YTpi"}}, 401, bare, "unauthorized"},
		{"scheme lower case", request{path: "/items", headers: map[string]string{"Authorization": "bearer alice-rw"}}, 200, "", ""},
		{"scheme upper case", request{path: "/items", headers: map[string]string{"Authorization": "BEARER alice-rw"}}, 200, "", ""},
		{"several spaces", request{path: "/items", headers: map[string]string{"Authorization": "Bearer   alice-rw"}}, 200, "", ""},
		{"b64token with padding", request{path: "/items", token: "pad.ded~+/x=="}, 200, "", ""},
		{"scheme without token", request{path: "/items", headers: map[string]string{"Authorization": "Bearer"}}, 400,
			invalidRequest("the Authorization header has no access token"), "invalid_request"},
		{"token with a space", request{path: "/items", headers: map[string]string{"Authorization": "Bearer alice rw"}}, 400,
			invalidRequest("the access token is malformed"), "invalid_request"},
		{"token with a bad character", request{path: "/items", token: "alice,rw"}, 400,
			invalidRequest("the access token is malformed"), "invalid_request"},
		{"token longer than any issued", request{path: "/items", token: strings.Repeat("a", 70<<10)}, 401, invalidToken, "invalid_token"},
		{"padding only", request{path: "/items", token: "=="}, 400,
			invalidRequest("the access token is malformed"), "invalid_request"},
		{"padding in the middle", request{path: "/items", token: "ab=cd"}, 400,
			invalidRequest("the access token is malformed"), "invalid_request"},
		{"empty header", request{path: "/items", headers: map[string]string{"Authorization": ","}}, 400,
			invalidRequest("the Authorization header is malformed"), "invalid_request"},
		{"header and query", request{path: "/items?access_token=alice-rw", token: "alice-rw"}, 400,
			invalidRequest("the access token must be sent in exactly one way"), "invalid_request"},
		{"header and form body", request{method: "POST", path: "/items", token: "alice-rw", body: "access_token=alice-rw",
			headers: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}}, 400,
			invalidRequest("the access token must be sent in exactly one way"), "invalid_request"},
		{"query only", request{path: "/items?access_token=alice-rw"}, 400,
			invalidRequest("send the access token in the Authorization header; the access_token parameter is not supported"), "invalid_request"},
		{"form body only", request{method: "POST", path: "/items", body: "access_token=alice-rw",
			headers: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}}, 400,
			invalidRequest("send the access token in the Authorization header; the access_token parameter is not supported"), "invalid_request"},
		{"unknown token", request{path: "/items", token: "nope"}, 401, invalidToken, "invalid_token"},
		{"refresh token", request{path: "/items", token: "refresh"}, 401, invalidToken, "invalid_token"},
		{"expired though active", request{path: "/items", token: "expired"}, 401, invalidToken, "invalid_token"},
		{"no token_use", request{path: "/items", token: "no-use"}, 401, invalidToken, "invalid_token"},
		{"not a bearer token", request{path: "/items", token: "mac"}, 401, invalidToken, "invalid_token"},
		{"no owner", request{path: "/items", token: "no-owner"}, 401, invalidToken, "invalid_token"},
		{"read without items:read", request{path: "/items", token: "alice-none"}, 403, insufficient("items:read"), "insufficient_scope"},
		{"get one without items:read", request{path: "/items/0190a0b1-0000-7000-8000-000000000000", token: "alice-none"}, 403,
			insufficient("items:read"), "insufficient_scope"},
		{"write with read only", request{method: "POST", path: "/items", token: "alice-ro", body: `{"name":"x"}`}, 403,
			insufficient("items:write"), "insufficient_scope"},
		{"delete with read only", request{method: "DELETE", path: "/items/0190a0b1-0000-7000-8000-000000000000", token: "alice-ro"}, 403,
			insufficient("items:write"), "insufficient_scope"},
		{"write with write scope", request{method: "POST", path: "/items", token: "alice-rw", body: `{"name":"x"}`}, 201, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := e.do(tt.req)
			if rec.Code != tt.status {
				t.Fatalf("status = %d, want %d; body %s", rec.Code, tt.status, rec.Body)
			}
			if got := rec.Header().Get("WWW-Authenticate"); got != tt.challenge {
				t.Errorf("WWW-Authenticate =\n  %s\nwant\n  %s", got, tt.challenge)
			}
			if got := rec.Header().Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", got)
			}
			if tt.code == "" {
				return
			}
			code, _ := errorBody(t, rec)
			if code != tt.code {
				t.Errorf("JSON error = %q, want %q", code, tt.code)
			}
		})
	}
}

func TestTwoAuthorizationHeaders(t *testing.T) {
	e := newEnv(t, envConfig{})
	e.as.set("alice-rw", userToken("alice", "items:read items:write", e.clock.Now().Add(time.Hour)))
	req := request{path: "/items"}
	rec := e.doRaw(req, func(r *http.Request) {
		r.Header.Add("Authorization", "Bearer alice-rw")
		r.Header.Add("Authorization", "Bearer alice-rw")
	})
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Header().Get("WWW-Authenticate"), `error="invalid_request"`) {
		t.Fatalf("got %d %q", rec.Code, rec.Header().Get("WWW-Authenticate"))
	}
	rec = e.doRaw(req, func(r *http.Request) { r.Header["Authorization"] = []string{""} })
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Header().Get("WWW-Authenticate"), `error="invalid_request"`) {
		t.Fatalf("empty header: got %d %q", rec.Code, rec.Header().Get("WWW-Authenticate"))
	}
}

// An invalid token's answer must not tell why: every cause reads the same.
func TestInvalidTokenDoesNotLeakWhy(t *testing.T) {
	e := newEnv(t, envConfig{})
	later := e.clock.Now().Add(time.Hour)
	refresh := userToken("alice", "items:read", later)
	refresh["token_use"] = "refresh_token"
	e.as.set("refresh", refresh)
	e.as.set("expired", userToken("alice", "items:read", e.clock.Now().Add(-time.Minute)))

	e.as.set("valid", userToken("alice", "items:read", later))

	// Without these, a middleware that refused every token, or answered
	// every cause with the same 200, would pass.
	if rec := e.do(request{path: "/items", token: "valid"}); rec.Code != http.StatusOK {
		t.Fatalf("valid token: %d %s", rec.Code, rec.Body)
	}
	var bodies, challenges []string
	for _, token := range []string{"unknown", "refresh", "expired"} {
		rec := e.do(request{path: "/items", token: token})
		if rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Header().Get("WWW-Authenticate"), `error="invalid_token"`) {
			t.Errorf("%s: got %d %q, want 401 invalid_token", token, rec.Code, rec.Header().Get("WWW-Authenticate"))
		}
		bodies = append(bodies, rec.Body.String())
		challenges = append(challenges, rec.Header().Get("WWW-Authenticate"))
	}
	for i := 1; i < len(bodies); i++ {
		if bodies[i] != bodies[0] || challenges[i] != challenges[0] {
			t.Errorf("answers differ:\n%q %q\n%q %q", bodies[0], challenges[0], bodies[i], challenges[i])
		}
	}
}

func TestLogsNeverHoldTokens(t *testing.T) {
	e := newEnv(t, envConfig{})
	const token = "very-secret-token-value-123"
	e.as.set(token, userToken("alice", "items:read", e.clock.Now().Add(time.Hour)))
	e.do(request{path: "/items", token: token})
	e.do(request{path: "/items?access_token=" + token})
	e.do(request{path: "/items", token: token, headers: map[string]string{"X-Request-Id": "req-42"}})
	e.as.set(token, nil)
	e.clock.Advance(time.Hour)
	e.do(request{path: "/items", token: token})

	logs := e.logs.String()
	if strings.Contains(logs, token) {
		t.Fatalf("a token reached the log:\n%s", logs)
	}
	for _, want := range []string{"method=GET", "path=/items", "status=200", "status=400", "status=401", "request_id=req-42", "duration=", "client_id=app"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
}

func TestB64token(t *testing.T) {
	for s, want := range map[string]bool{
		"abc": true, "A-Z.a_z~0+9/": true, "abc=": true, "abc==": true,
		"": false, "=": false, "a=b": false, "a b": false, "a\tb": false, "ä": false, `a"`: false,
	} {
		if got := isB64token(s); got != want {
			t.Errorf("isB64token(%q) = %v", s, got)
		}
	}
}

// A token longer than any the authorization server issues is refused here:
// forwarded, it would draw a 413 that reads as an outage (503).
func TestOversizedTokenNotForwarded(t *testing.T) {
	e := newEnv(t, envConfig{})
	rec := e.do(request{path: "/items", token: strings.Repeat("a", 70<<10)})
	if rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Header().Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Fatalf("got %d %q", rec.Code, rec.Header().Get("WWW-Authenticate"))
	}
	if n := e.as.calls.Load(); n != 0 {
		t.Fatalf("%d introspection calls for an oversized token", n)
	}
}
