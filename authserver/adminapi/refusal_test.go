package adminapi_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/example/authsvc/authserver/admin"
	"github.com/example/authsvc/authserver/adminapi"
)

// snapshot is everything the bad requests might change, as the API shows it.
func (e *apiEnv) snapshot(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	users, err := e.svc.Users(ctx)
	if err != nil {
		t.Fatal(err)
	}
	clients, err := e.svc.Clients(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var views []any
	for _, u := range users {
		views = append(views, adminapi.ViewUser(u), string(u.PasswordHash))
	}
	for _, c := range clients {
		views = append(views, adminapi.ViewClient(c), string(c.SecretHash))
	}
	keys, err := e.svc.SigningKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	views = append(views, len(keys))
	b, _ := json.Marshal(views)
	return string(b)
}

// TestBadInput is the list: an unknown field, a wrong type, a huge
// body, no token, a wrong one, a token of another role. Each is a problem
// answer, never a 500, and nothing changes. Each request is first sent in a
// form that works (on a copy of the store), so that the refusal means
// something.
func TestBadInput(t *testing.T) {
	const unknownField = "surprise_field_name_that_must_not_be_echoed"
	huge := `{"username":"mallory","password":"` + strings.Repeat("x", adminapi.MaxBodyBytes) + `"}`
	good := `{"username":"mallory","password":"mallory-pass-1"}`
	cases := []struct {
		name                string
		token, method, path string
		contentType, body   string
		wantStatus          int
		wantType            string
		wantChallenge       bool
	}{
		{"unknown field", adminToken, "POST", "/v1/users", "", `{"username":"mallory","password":"mallory-pass-1","` + unknownField + `":1}`, 400, adminapi.TypeMalformed, false},
		{"wrong type", adminToken, "POST", "/v1/users", "", `{"username":5,"password":"mallory-pass-1"}`, 400, adminapi.TypeMalformed, false},
		{"wrong type nested", adminToken, "PATCH", "/v1/clients/web", "", `{"scopes":"items:read"}`, 400, adminapi.TypeMalformed, false},
		{"unknown field in a change", adminToken, "PATCH", "/v1/clients/web", "", `{"scopes":["a"],"` + unknownField + `":true}`, 400, adminapi.TypeMalformed, false},
		{"huge body", adminToken, "POST", "/v1/users", "", huge, 413, adminapi.TypeTooLarge, false},
		{"two values", adminToken, "POST", "/v1/users", "", good + `{}`, 400, adminapi.TypeMalformed, false},
		{"not JSON", adminToken, "POST", "/v1/users", "", `username=mallory`, 400, adminapi.TypeMalformed, false},
		{"truncated JSON", adminToken, "POST", "/v1/users", "", `{"username":"mallory"`, 400, adminapi.TypeMalformed, false},
		{"empty body", adminToken, "POST", "/v1/users", "", ``, 400, adminapi.TypeMalformed, false},
		{"form content type", adminToken, "POST", "/v1/users", "application/x-www-form-urlencoded", good, 415, adminapi.TypeMediaType, false},
		{"a rule refuses", adminToken, "POST", "/v1/users", "", `{"username":"mallory","password":"short"}`, 400, adminapi.TypeInvalid, false},
		{"no token", "", "POST", "/v1/users", "", good, 401, adminapi.TypeUnauthorized, true},
		{"wrong token", "not-a-token-of-ours", "POST", "/v1/users", "", good, 401, adminapi.TypeUnauthorized, true},
		{"admin token with a suffix", adminToken + "x", "POST", "/v1/users", "", good, 401, adminapi.TypeUnauthorized, true},
		{"read token writes", readToken, "POST", "/v1/users", "", good, 403, adminapi.TypeForbidden, false},
		{"read token deletes", readToken, "DELETE", "/v1/users/alice", "", "", 403, adminapi.TypeForbidden, false},
		{"read token rotates a secret", readToken, "POST", "/v1/clients/web/rotate-secret", "", "", 403, adminapi.TypeForbidden, false},
		{"no token reads", "", "GET", "/v1/users", "", "", 401, adminapi.TypeUnauthorized, true},
		{"name too long for any user", adminToken, "DELETE", "/v1/users/" + strings.Repeat("a", 300), "", "", 404, adminapi.TypeNotFound, false},
		{"unknown user", adminToken, "DELETE", "/v1/users/nobody", "", "", 404, adminapi.TypeNotFound, false},
		{"unknown endpoint", adminToken, "GET", "/v1/nothing", "", "", 404, adminapi.TypeNotFound, false},
		{"wrong method", adminToken, "PUT", "/v1/users", "", good, 405, adminapi.TypeMethod, false},
	}
	e := newAPIEnv(t)
	ctx := context.Background()
	if err := e.svc.CreateUser(ctx, "alice", "alice-pass-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.CreateClient(ctx, admin.NewClient{ID: "web", Grants: []string{"password"}, Scopes: []string{"items:read", "items:write"}}); err != nil {
		t.Fatal(err)
	}

	// The positive case first: the good request works on another store.
	other := newAPIEnv(t)
	other.must(t, http.StatusCreated, adminToken, "POST", "/v1/users", good, nil)

	before := e.snapshot(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body))
			ct := tc.contentType
			if ct == "" {
				ct = "application/json"
			}
			if tc.method != "GET" && tc.method != "DELETE" {
				req.Header.Set("Content-Type", ct)
			}
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			rec := httptest.NewRecorder()
			e.handler.ServeHTTP(rec, req)
			a := answer{status: rec.Code, header: rec.Header(), body: rec.Body.String()}
			if a.status != tc.wantStatus {
				t.Fatalf("%d %s, want %d", a.status, a.body, tc.wantStatus)
			}
			if tc.wantType != "" {
				if p := problemOf(t, a); p.Type != tc.wantType {
					t.Errorf("type %q, want %q", p.Type, tc.wantType)
				}
			}
			challenge := a.header.Get("WWW-Authenticate")
			if tc.wantChallenge != (challenge != "") || (tc.wantChallenge && !strings.HasPrefix(challenge, "Bearer ")) {
				t.Errorf("WWW-Authenticate %q", challenge)
			}
			for _, secret := range []string{unknownField, adminToken, readToken, "mallory-pass-1", strings.Repeat("a", 300), "xxxxxxxxxx"} {
				if strings.Contains(a.body, secret) {
					t.Errorf("the answer echoes %.20q…: %s", secret, a.body)
				}
			}
		})
	}
	if after := e.snapshot(t); after != before {
		t.Fatalf("the refused requests changed the store:\nbefore %s\nafter  %s", before, after)
	}
	// The one that should have been refused for lack of anything to change.
	a := e.do(t, adminToken, "PATCH", "/v1/clients/web", `{}`)
	if a.status != http.StatusBadRequest || problemOf(t, a).Type != adminapi.TypeInvalid {
		t.Fatalf("empty change: %d %s", a.status, a.body)
	}
}

// TestAudit: every call is audited, refusals too, naming the caller and
// never the token or a password.
func TestAudit(t *testing.T) {
	e := newAPIEnv(t)
	e.must(t, http.StatusCreated, adminToken, "POST", "/v1/users", `{"username":"alice","password":"alice-pass-1"}`, nil)
	e.do(t, readToken, "DELETE", "/v1/users/alice", nil)
	e.do(t, "wrong-token-value", "GET", "/v1/users", nil)
	e.do(t, "", "GET", "/v1/users", nil)

	logs := e.logs.String()
	for _, secret := range []string{adminToken, readToken, "wrong-token-value", "alice-pass-1", adminapi.HashToken(adminToken)} {
		if strings.Contains(logs, secret) {
			t.Fatalf("the log holds %q:\n%s", secret, logs)
		}
	}
	type call struct {
		route, actor, role, auth string
		status                   int
	}
	var calls []call
	created := false
	for line := range strings.Lines(logs) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		switch rec["event"] {
		case "admin_api_call":
			calls = append(calls, call{rec["route"].(string), rec["actor"].(string), rec["role"].(string), rec["auth"].(string), int(rec["status"].(float64))})
		case "user_created":
			created = rec["via"] == "adminapi" && rec["actor"] == "ops-alice"
		}
	}
	want := []call{
		{"/v1/users", "ops-alice", "admin", "token", 201},
		{"/v1/users/{name}", "auditor", "read", "token", 403},
		{"/v1/users", "", "", "", 401},
		{"/v1/users", "", "", "", 401},
	}
	if len(calls) != len(want) {
		t.Fatalf("audited calls %+v, want %+v", calls, want)
	}
	for i := range want {
		if calls[i] != want[i] {
			t.Errorf("call %d: %+v, want %+v", i, calls[i], want[i])
		}
	}
	if !created {
		t.Errorf("the service's user_created event does not name the API caller:\n%s", logs)
	}
}

// TestClientCertificate: with no Authorization header, a verified client
// certificate's OU is the role.
func TestClientCertificate(t *testing.T) {
	e := newAPIEnv(t)
	withCert := func(method, path, body string, ou ...string) answer {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		cert := &x509.Certificate{Subject: pkix.Name{CommonName: "ops-cert", OrganizationalUnit: ou}}
		req.TLS = &tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{cert}}}
		rec := httptest.NewRecorder()
		e.handler.ServeHTTP(rec, req)
		return answer{status: rec.Code, header: rec.Header(), body: rec.Body.String()}
	}
	if a := withCert("POST", "/v1/users", `{"username":"alice","password":"alice-pass-1"}`, "admin"); a.status != http.StatusCreated {
		t.Fatalf("admin certificate writes: %d %s", a.status, a.body)
	}
	if a := withCert("GET", "/v1/users/alice", "", "read"); a.status != http.StatusOK {
		t.Fatalf("read certificate reads: %d %s", a.status, a.body)
	}
	if a := withCert("DELETE", "/v1/users/alice", "", "read"); a.status != http.StatusForbidden {
		t.Fatalf("read certificate deletes: %d %s", a.status, a.body)
	}
	if a := withCert("GET", "/v1/users/alice", "", "ops"); a.status != http.StatusForbidden {
		t.Fatalf("certificate without a role: %d %s", a.status, a.body)
	}
	if !strings.Contains(e.logs.String(), `"actor":"ops-cert"`) {
		t.Fatal("the certificate's CN is not the audited actor")
	}
}

func TestParseTokens(t *testing.T) {
	hash := adminapi.HashToken("t1")
	if _, err := adminapi.ParseTokens(strings.NewReader("admin alice " + hash + "\nread bob " + adminapi.HashToken("t2") + "\n")); err != nil {
		t.Fatalf("a good file: %v", err)
	}
	for name, file := range map[string]string{
		"empty":          "# nothing\n",
		"raw token":      "admin alice my-secret-token\n",
		"unknown role":   "root alice " + hash + "\n",
		"missing name":   "admin " + hash + "\n",
		"short hash":     "admin alice " + hash[:10] + "\n",
		"the same twice": "admin alice " + hash + "\nread bob " + hash + "\n",
	} {
		_, err := adminapi.ParseTokens(strings.NewReader(file))
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if strings.Contains(err.Error(), "my-secret-token") {
			t.Errorf("%s: the error quotes the line: %v", name, err)
		}
	}
}
