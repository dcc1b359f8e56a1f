package main

import (
	"log/slog"
	"net/http"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/example/authsvc/internal/obs"
	"github.com/example/authsvc/internal/testkit"
)

// TestOneRequestFollowedThroughBothServices: a request id given to the
// resource service reaches the authorization server's log with its
// introspection call, and the spans of both services share one trace.
func TestOneRequestFollowedThroughBothServices(t *testing.T) {
	authLogs, itemsLogs := &testkit.SyncBuffer{}, &testkit.SyncBuffer{}
	authSpans, itemsSpans := tracetest.NewInMemoryExporter(), tracetest.NewInMemoryExporter()
	e := newE2E(t, 0, func(s *e2eSetup) {
		s.authLogger = jsonLogger(t, authLogs, "authserver")
		s.itemsLogger = jsonLogger(t, itemsLogs, "resource")
		s.authTracing = obs.NewTracingWith(sdktrace.WithSyncer(authSpans), "authserver")
		s.itemsTracing = obs.NewTracingWith(sdktrace.WithSyncer(itemsSpans), "resource")
	})
	alice, _ := e.login("alice")
	authSpans.Reset()

	req, _ := http.NewRequest(http.MethodGet, e.items.URL+"/items", nil)
	req.Header.Set("Authorization", "Bearer "+alice)
	req.Header.Set("X-Request-Id", "follow-me-42")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("X-Request-Id") != "follow-me-42" {
		t.Fatalf("GET /items: %d, X-Request-Id %q", resp.StatusCode, resp.Header.Get("X-Request-Id"))
	}

	// The request id, in both services' logs.
	if !hasLine(t, itemsLogs, func(l map[string]any) bool {
		return l["msg"] == "request" && l["route"] == "/items" && l["request_id"] == "follow-me-42" && l["service"] == "resource"
	}) {
		t.Errorf("resource log has no request line with the id:\n%s", itemsLogs)
	}
	if !hasLine(t, authLogs, func(l map[string]any) bool {
		return l["msg"] == "request" && l["path"] == "/introspect" && l["request_id"] == "follow-me-42" && l["service"] == "authserver"
	}) {
		t.Errorf("authserver log has no introspection line with the id:\n%s", authLogs)
	}

	// The spans: resource server → introspection client → authserver handler.
	var server, client sdktrace.ReadOnlySpan
	for _, s := range itemsSpans.GetSpans().Snapshots() {
		switch s.SpanKind() {
		case trace.SpanKindServer:
			server = s
		case trace.SpanKindClient:
			client = s
		}
	}
	if server == nil || client == nil {
		t.Fatalf("resource spans %v: want a server and a client span", names(itemsSpans))
	}
	if server.Name() != "GET /items" {
		t.Errorf("resource server span %q, want GET /items", server.Name())
	}
	var as, getToken sdktrace.ReadOnlySpan
	for _, s := range authSpans.GetSpans().Snapshots() {
		switch {
		case s.SpanKind() == trace.SpanKindServer:
			as = s
		case s.Name() == "store.IntrospectionLookup":
			getToken = s
		}
	}
	if as == nil || getToken == nil {
		t.Fatalf("authserver spans %v: want the introspection and its store.IntrospectionLookup", names(authSpans))
	}
	if getToken.Parent().SpanID() != as.SpanContext().SpanID() {
		t.Errorf("store.IntrospectionLookup's parent %s, want the introspection span %s", getToken.Parent().SpanID(), as.SpanContext().SpanID())
	}
	if as.Name() != "POST /introspect" {
		t.Errorf("authserver span %q, want POST /introspect", as.Name())
	}
	tid := server.SpanContext().TraceID()
	if client.SpanContext().TraceID() != tid || as.SpanContext().TraceID() != tid {
		t.Errorf("trace ids differ: resource %s, client %s, authserver %s", tid, client.SpanContext().TraceID(), as.SpanContext().TraceID())
	}
	if as.Parent().SpanID() != client.SpanContext().SpanID() {
		t.Errorf("authserver span's parent %s, want the introspection call %s", as.Parent().SpanID(), client.SpanContext().SpanID())
	}
}

func jsonLogger(t *testing.T, w *testkit.SyncBuffer, service string) *slog.Logger {
	t.Helper()
	l, err := obs.NewLogger(w, obs.FormatJSON, service, slog.LevelInfo)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func hasLine(t *testing.T, logs *testkit.SyncBuffer, match func(map[string]any) bool) bool {
	t.Helper()
	found := false
	for _, m := range testkit.JSONLines(t, logs.String()) {
		found = found || match(m)
	}
	return found
}

func names(exp *tracetest.InMemoryExporter) []string {
	var out []string
	for _, s := range exp.GetSpans() {
		out = append(out, s.Name)
	}
	return out
}
