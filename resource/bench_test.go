package resource

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
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
