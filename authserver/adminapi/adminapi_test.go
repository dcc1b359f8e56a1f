package adminapi_test

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
	"path/filepath"
	"strings"
	"testing"

	"github.com/example/authsvc/authserver/admin"
	"github.com/example/authsvc/authserver/adminapi"
	"github.com/example/authsvc/authserver/keys"
	"github.com/example/authsvc/internal/testkit"
	"github.com/example/authsvc/store"
	"github.com/example/authsvc/store/sqlite"
)

// The tokens of the tests; the token file holds only their hashes.
const (
	adminToken = "admin-token-0123456789abcdef0123456789abcdef"
	readToken  = "read-token-0123456789abcdef0123456789abcdef"
)

// apiEnv is the admin API over a temp-dir SQLite store, with its log.
type apiEnv struct {
	st      store.AuthStore
	svc     *admin.Service
	handler http.Handler
	logs    *testkit.SyncBuffer
}

func newAPIEnv(t *testing.T) *apiEnv {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.OpenAuth(ctx, filepath.Join(t.TempDir(), "auth.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	logs := &testkit.SyncBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, nil))
	svc, err := admin.New(st, logger, 4)
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := adminapi.ParseTokens(strings.NewReader(
		"# role name sha256\nadmin ops-alice " + adminapi.HashToken(adminToken) + "\n\nread auditor " + adminapi.HashToken(readToken) + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	var key [32]byte
	rand.Read(key[:])
	kek, err := keys.ParseKEK(base64.StdEncoding.EncodeToString(key[:]))
	if err != nil {
		t.Fatal(err)
	}
	h, err := adminapi.NewHandler(logger, svc, adminapi.Config{Tokens: tokens, KEK: kek,
		MigrationStatus: func(ctx context.Context) (store.SchemaStatus, error) {
			return store.SchemaStatus{Current: 7, Latest: 7}, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	return &apiEnv{st: st, svc: svc, handler: h, logs: logs}
}

// answer is one response, its body read.
type answer struct {
	status int
	header http.Header
	body   string
}

// do sends one request through the real handler. A string body is sent as
// application/json.
func (e *apiEnv) do(t *testing.T, token, method, path string, body any) answer {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req := httptest.NewRequest(method, path, rd)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	e.handler.ServeHTTP(rec, req)
	return answer{status: rec.Code, header: rec.Header(), body: rec.Body.String()}
}

// must sends a request that has to answer want, and decodes the answer
// into out (if not nil).
func (e *apiEnv) must(t *testing.T, want int, token, method, path string, body, out any) {
	t.Helper()
	a := e.do(t, token, method, path, body)
	if a.status != want {
		t.Fatalf("%s %s: %d %s, want %d", method, path, a.status, a.body, want)
	}
	if out != nil {
		if err := json.Unmarshal([]byte(a.body), out); err != nil {
			t.Fatalf("%s %s: decode %q: %v", method, path, a.body, err)
		}
	}
}

// problemOf decodes a problem answer and checks its shape.
func problemOf(t *testing.T, a answer) adminapi.Problem {
	t.Helper()
	if ct := a.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q, want application/problem+json; body %s", ct, a.body)
	}
	var p adminapi.Problem
	if err := json.Unmarshal([]byte(a.body), &p); err != nil {
		t.Fatalf("decode problem %q: %v", a.body, err)
	}
	if p.Status != a.status || p.Type == "" || p.Title == "" {
		t.Fatalf("problem %+v does not match status %d", p, a.status)
	}
	return p
}

func TestUsers(t *testing.T) {
	e := newAPIEnv(t)
	var u adminapi.User
	e.must(t, http.StatusCreated, adminToken, "POST", "/v1/users", adminapi.NewUser{Username: "alice", Password: "alice-pass-1"}, &u)
	if u.Username != "alice" || u.Disabled {
		t.Fatalf("created %+v", u)
	}
	e.must(t, http.StatusOK, readToken, "GET", "/v1/users/alice", nil, &u)

	e.must(t, http.StatusNoContent, adminToken, "PUT", "/v1/users/alice/password", adminapi.NewPassword{Password: "alice-pass-2"}, nil)
	got, err := e.st.GetUser(context.Background(), "alice")
	if err != nil || !got.PasswordMatches("alice-pass-2") {
		t.Fatalf("password not changed: %v", err)
	}

	var ch adminapi.Changed
	e.must(t, http.StatusOK, adminToken, "POST", "/v1/users/alice/disable", nil, &ch)
	if !ch.Changed {
		t.Fatal("disable changed nothing")
	}
	e.must(t, http.StatusOK, adminToken, "POST", "/v1/users/alice/disable", nil, &ch)
	if ch.Changed {
		t.Fatal("a second disable changed something")
	}
	e.must(t, http.StatusOK, readToken, "GET", "/v1/users/alice", nil, &u)
	if !u.Disabled {
		t.Fatal("not disabled")
	}
	e.must(t, http.StatusOK, adminToken, "POST", "/v1/users/alice/enable", nil, &ch)
	e.must(t, http.StatusNoContent, adminToken, "POST", "/v1/users/alice/unlock", nil, nil)
	e.must(t, http.StatusNoContent, adminToken, "POST", "/v1/users/alice/revoke", nil, nil)

	e.must(t, http.StatusCreated, adminToken, "POST", "/v1/clients", adminapi.NewRegisteredClient{ID: "web", Grants: []string{"password"}}, nil)
	e.must(t, http.StatusNoContent, adminToken, "DELETE", "/v1/users/alice/consents/web", nil, nil)

	e.must(t, http.StatusNoContent, adminToken, "DELETE", "/v1/users/alice", nil, nil)
	a := e.do(t, readToken, "GET", "/v1/users/alice", nil)
	if a.status != http.StatusNotFound || problemOf(t, a).Type != adminapi.TypeNotFound {
		t.Fatalf("deleted user: %d %s", a.status, a.body)
	}
	a = e.do(t, adminToken, "POST", "/v1/users", adminapi.NewUser{Username: "web", Password: "web-pass-123"})
	if a.status != http.StatusConflict || problemOf(t, a).Type != adminapi.TypeAlreadyExists {
		t.Fatalf("user named as a client: %d %s", a.status, a.body)
	}
}

func TestPagination(t *testing.T) {
	e := newAPIEnv(t)
	names := []string{"ann", "bob", "cid", "dee", "eve"}
	for _, n := range names {
		if err := e.svc.CreateUser(context.Background(), n, n+"-password"); err != nil {
			t.Fatal(err)
		}
	}
	var seen []string
	path := "/v1/users?limit=2"
	for pages := 0; ; pages++ {
		if pages > len(names) {
			t.Fatal("the cursor never ends")
		}
		var p struct {
			Items      []adminapi.User `json:"items"`
			NextCursor string          `json:"next_cursor"`
		}
		e.must(t, http.StatusOK, readToken, "GET", path, nil, &p)
		if len(p.Items) > 2 {
			t.Fatalf("page of %d with limit 2", len(p.Items))
		}
		for _, u := range p.Items {
			seen = append(seen, u.Username)
		}
		if p.NextCursor == "" {
			break
		}
		path = "/v1/users?limit=2&cursor=" + p.NextCursor
	}
	if strings.Join(seen, ",") != strings.Join(names, ",") {
		t.Fatalf("pages held %v, want %v", seen, names)
	}
	for _, q := range []string{"limit=0", "limit=1001", "limit=x", "cursor=%%%", "cursor=!!"} {
		a := e.do(t, readToken, "GET", "/v1/users?"+strings.ReplaceAll(q, "%%%", "%25%25"), nil)
		if a.status != http.StatusBadRequest {
			t.Errorf("%s: %d %s, want 400", q, a.status, a.body)
			continue
		}
		problemOf(t, a)
	}
}

func TestClients(t *testing.T) {
	e := newAPIEnv(t)
	var created adminapi.CreatedClient
	e.must(t, http.StatusCreated, adminToken, "POST", "/v1/clients",
		adminapi.NewRegisteredClient{ID: "web", Grants: []string{"password", "refresh_token"}, Scopes: []string{"items:read", "items:write"}}, &created)
	if created.Secret == "" || created.Client.Public || created.Client.AccessTokenFormat != "opaque" {
		t.Fatalf("created %+v", created)
	}
	if cc := e.do(t, readToken, "GET", "/v1/clients/web", nil); strings.Contains(cc.body, created.Secret) {
		t.Fatal("a client's secret is shown after creation")
	}
	stored, _ := e.st.GetClient(context.Background(), "web")
	if !stored.VerifySecret(created.Secret) {
		t.Fatal("the answered secret is not the client's")
	}
	var pub adminapi.CreatedClient
	e.must(t, http.StatusCreated, adminToken, "POST", "/v1/clients",
		adminapi.NewRegisteredClient{ID: "spa", Public: true, Grants: []string{"authorization_code"}, RedirectURIs: []string{"https://app.example/cb"}}, &pub)
	if pub.Secret != "" || !pub.Client.Public {
		t.Fatalf("public client %+v", pub)
	}

	// Adding a scope revokes nothing; taking one away does.
	var up adminapi.UpdatedClient
	e.must(t, http.StatusOK, adminToken, "PATCH", "/v1/clients/web", `{"scopes":["items:read","items:write","extra"]}`, &up)
	if up.GrantsRevoked || len(up.Client.Scopes) != 3 {
		t.Fatalf("widened: %+v", up)
	}
	e.must(t, http.StatusOK, adminToken, "PATCH", "/v1/clients/web", `{"scopes":["items:read"],"introspect":true}`, &up)
	if !up.GrantsRevoked || !up.Client.Introspect || len(up.Client.Grants) != 2 {
		t.Fatalf("narrowed: %+v", up)
	}

	var rot adminapi.RotatedSecret
	e.must(t, http.StatusOK, adminToken, "POST", "/v1/clients/web/rotate-secret", nil, &rot)
	stored, _ = e.st.GetClient(context.Background(), "web")
	if rot.Secret == "" || !stored.VerifySecret(rot.Secret) || stored.VerifySecret(created.Secret) {
		t.Fatal("rotate-secret did not replace the secret")
	}
	a := e.do(t, adminToken, "POST", "/v1/clients/spa/rotate-secret", nil)
	if a.status != http.StatusBadRequest || problemOf(t, a).Type != adminapi.TypeInvalid {
		t.Fatalf("rotate a public client's secret: %d %s", a.status, a.body)
	}

	e.must(t, http.StatusNoContent, adminToken, "POST", "/v1/clients/web/revoke", nil, nil)
	var list struct{ Items []adminapi.RegisteredClient }
	e.must(t, http.StatusOK, readToken, "GET", "/v1/clients", nil, &list)
	if len(list.Items) != 2 || list.Items[0].ID != "spa" || list.Items[1].ID != "web" {
		t.Fatalf("list %+v", list.Items)
	}
	e.must(t, http.StatusNoContent, adminToken, "DELETE", "/v1/clients/web", nil, nil)
	if _, err := e.st.GetClient(context.Background(), "web"); err == nil {
		t.Fatal("client not deleted")
	}
	a = e.do(t, adminToken, "DELETE", "/v1/clients/web", nil)
	if a.status != http.StatusNotFound {
		t.Fatalf("delete again: %d %s", a.status, a.body)
	}
}

func TestKeysAndMigrations(t *testing.T) {
	e := newAPIEnv(t)
	var k1, k2 adminapi.SigningKey
	e.must(t, http.StatusCreated, adminToken, "POST", "/v1/keys/rotate", `{"publish_for":"0s"}`, &k1)
	if k1.State != "signing" || k1.Algorithm != keys.ES256 {
		t.Fatalf("first key %+v", k1)
	}
	// No body at all takes the defaults: ES256, published for 10 minutes.
	e.must(t, http.StatusCreated, adminToken, "POST", "/v1/keys/rotate", nil, &k2)
	if k2.State != "published" {
		t.Fatalf("second key %+v", k2)
	}
	var list struct{ Items []adminapi.SigningKey }
	e.must(t, http.StatusOK, readToken, "GET", "/v1/keys", nil, &list)
	if len(list.Items) != 2 || list.Items[0].ID != k1.ID || strings.Contains(e.do(t, readToken, "GET", "/v1/keys", nil).body, "priv") {
		t.Fatalf("keys %+v", list.Items)
	}
	// Pages follow activation too: the key that signs later comes second.
	var first struct {
		Items      []adminapi.SigningKey
		NextCursor string `json:"next_cursor"`
	}
	e.must(t, http.StatusOK, readToken, "GET", "/v1/keys?limit=1", nil, &first)
	e.must(t, http.StatusOK, readToken, "GET", "/v1/keys?limit=1&cursor="+first.NextCursor, nil, &list)
	if len(first.Items) != 1 || first.Items[0].ID != k1.ID || len(list.Items) != 1 || list.Items[0].ID != k2.ID {
		t.Fatalf("pages of keys: %+v then %+v", first.Items, list.Items)
	}
	a := e.do(t, adminToken, "POST", "/v1/keys/rotate", `{"alg":"RS256"}`)
	if a.status != http.StatusBadRequest || problemOf(t, a).Type != adminapi.TypeInvalid {
		t.Fatalf("rotate to RS256: %d %s", a.status, a.body)
	}
	// The one signing key may not retire; the published one may.
	a = e.do(t, adminToken, "POST", "/v1/keys/"+k1.ID+"/retire", `{"compromised":false}`)
	if a.status != http.StatusBadRequest || !strings.Contains(problemOf(t, a).Detail, "no other key signs") {
		t.Fatalf("retire the only signing key: %d %s", a.status, a.body)
	}
	var k3 adminapi.SigningKey
	e.must(t, http.StatusCreated, adminToken, "POST", "/v1/keys/rotate", `{"alg":"EdDSA","publish_for":"0s"}`, &k3)
	e.must(t, http.StatusNoContent, adminToken, "POST", "/v1/keys/"+k1.ID+"/retire", `{"compromised":true}`, nil)
	a = e.do(t, adminToken, "POST", "/v1/keys/no-such-kid/retire", nil)
	if a.status != http.StatusNotFound {
		t.Fatalf("retire unknown kid: %d %s", a.status, a.body)
	}

	var st adminapi.MigrationStatus
	e.must(t, http.StatusOK, readToken, "GET", "/v1/migrations", nil, &st)
	if st != (adminapi.MigrationStatus{Schema: "auth", Current: 7, Latest: 7}) {
		t.Fatalf("migrations %+v", st)
	}
}
