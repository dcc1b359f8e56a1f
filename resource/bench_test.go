package resource

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/example/authsvc/internal/obs"
	"github.com/example/authsvc/store"
)

// benchmarkList measures an authenticated GET /items (one item) through the
// real router and a SQLite store; cacheTTL noCache makes every request
// introspect over loopback HTTP.
func benchmarkList(b *testing.B, cacheTTL time.Duration) {
	e := newEnv(b, envConfig{cacheTTL: cacheTTL})
	e.as.set("tok", userToken("alice", "items:read items:write", e.clock.Now().Add(time.Hour)))
	e.createItem("tok", "apple")
	req := httptest.NewRequest(http.MethodGet, "/items", nil)
	req.Header.Set("Authorization", "Bearer tok")
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		e.handler.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d", rec.Code)
		}
	}
}

// BenchmarkListItems also reports, on the uncached run, how many times
// slower it is than the cached one ("x-cached" metric).
func BenchmarkListItems(b *testing.B) {
	var cachedNs float64
	b.Run("cached", func(b *testing.B) {
		benchmarkList(b, DefaultCacheTTL)
		cachedNs = nsPerOp(b)
	})
	b.Run("uncached", func(b *testing.B) {
		benchmarkList(b, noCache)
		if cachedNs > 0 {
			b.ReportMetric(nsPerOp(b)/cachedNs, "x-cached")
		}
	})
}

func nsPerOp(b *testing.B) float64 {
	return float64(b.Elapsed().Nanoseconds()) / float64(b.N)
}

// staticIntrospector answers every token alike, so that a benchmark prices
// the service itself: no cache, no introspection call.
type staticIntrospector Introspection

func (s staticIntrospector) Introspect(context.Context, string) (Introspection, error) {
	return Introspection(s), nil
}

// BenchmarkAccessLog prices the access-log line of a GET /items (one item,
// SQLite): the same request with the line off (level warn), as text and as
// JSON, through the services' own logger (obs.NewLogger) to io.Discard. The
// "x-off" metric is ns/op as a ratio to the run with the line off, from
// the same run.
func BenchmarkAccessLog(b *testing.B) {
	var offNs float64
	for _, run := range []struct {
		name, format string
		level        slog.Level
	}{
		{"off", obs.FormatText, slog.LevelWarn},
		{"text", obs.FormatText, slog.LevelInfo},
		{"json", obs.FormatJSON, slog.LevelInfo},
	} {
		b.Run(run.name, func(b *testing.B) {
			logger, err := obs.NewLogger(io.Discard, run.format, "resource", run.level)
			if err != nil {
				b.Fatal(err)
			}
			items := newSQLiteStore(b)
			now := time.Now()
			if err := items.CreateItem(b.Context(), store.Item{ID: "i1", Owner: "user:alice", Name: "apple", CreatedAt: now}, 10); err != nil {
				b.Fatal(err)
			}
			h := NewServer(logger, items, staticIntrospector{Active: true, Scope: ScopeRead, ClientID: "app",
				Username: "alice", Subject: "alice", TokenType: "Bearer", TokenUse: "access_token", ExpiresAt: now.Add(time.Hour)})
			req := httptest.NewRequest(http.MethodGet, "/items", nil)
			req.Header.Set("Authorization", "Bearer tok")
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			}
			if run.name == "off" {
				offNs = nsPerOp(b)
			} else if offNs > 0 {
				b.ReportMetric(nsPerOp(b)/offNs, "x-off")
			}
		})
	}
}
