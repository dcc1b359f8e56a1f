package adminapi

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/example/authsvc/authserver/admin"
	"github.com/example/authsvc/store"
	"github.com/example/authsvc/store/sqlite"
)

// TestOpenAPIMatchesRoutes holds the served document to the routes table
// both ways: every route is documented with its role, and every documented
// operation is routed (a request for it reaches a handler, not the
// not-found or wrong-method answer).
func TestOpenAPIMatchesRoutes(t *testing.T) {
	ctx := context.Background()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(openAPIDocument)
	if err != nil {
		t.Fatalf("load openapi.json: %v", err)
	}
	if err := doc.Validate(ctx); err != nil {
		t.Fatalf("openapi.json is not a valid OpenAPI 3 document: %v", err)
	}

	documented := map[string]string{} // "METHOD PATH" → x-role
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			role := ""
			if v, ok := op.Extensions["x-role"]; ok {
				role = fmt.Sprint(v)
				if raw, ok := v.(json.RawMessage); ok {
					_ = json.Unmarshal(raw, &role)
				}
			}
			documented[method+" "+path] = role
		}
	}
	routed := map[string]string{}
	for _, rt := range routes {
		routed[rt.method+" "+rt.path] = string(rt.role)
	}
	for k, role := range routed {
		docRole, ok := documented[k]
		switch {
		case !ok:
			t.Errorf("route %s is not in openapi.json", k)
		case docRole != role:
			t.Errorf("route %s needs role %q, openapi.json says x-role %q", k, role, docRole)
		}
	}
	for k := range documented {
		if _, ok := routed[k]; !ok {
			t.Errorf("openapi.json documents %s, which is not routed", k)
		}
	}

	// Every documented operation, with sample path values, reaches its
	// handler through the real handler.
	h := newTestHandler(t)
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range documented {
			if !yield(k) {
				return
			}
		}
	})
	for _, k := range keys {
		method, path, _ := strings.Cut(k, " ")
		for _, p := range []string{"{name}", "{id}", "{client_id}", "{kid}"} {
			path = strings.ReplaceAll(path, p, "sample")
		}
		req := httptest.NewRequest(method, path, strings.NewReader("{}"))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+testAdminToken)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code == http.StatusMethodNotAllowed || strings.Contains(rec.Body.String(), "no such endpoint") {
			t.Errorf("%s is documented but not routed: %d %s", k, rec.Code, rec.Body.String())
		}
	}

	// And the document is what the server serves.
	req := httptest.NewRequest("GET", "/openapi.json", nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || rec.Body.String() != string(openAPIDocument) {
		t.Fatalf("GET /openapi.json: %d", rec.Code)
	}
}

const testAdminToken = "openapi-test-admin-token"

func newTestHandler(t *testing.T) http.Handler {
	t.Helper()
	st, err := sqlite.OpenAuth(context.Background(), filepath.Join(t.TempDir(), "auth.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	logger := slog.New(slog.DiscardHandler)
	svc, err := admin.New(st, logger, 4)
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := ParseTokens(strings.NewReader("admin test " + HashToken(testAdminToken)))
	if err != nil {
		t.Fatal(err)
	}
	h, err := NewHandler(logger, svc, Config{Tokens: tokens,
		MigrationStatus: func(context.Context) (store.SchemaStatus, error) { return store.SchemaStatus{}, nil }})
	if err != nil {
		t.Fatal(err)
	}
	return h
}
