package cached_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/example/authsvc/store"
	"github.com/example/authsvc/store/cached"
)

// synthetic answers every lookup with a live token of its own grant, as a
// client-credentials token is.
type synthetic struct{ store.AuthStore }

func (synthetic) IntrospectionLookup(_ context.Context, clientID, hash string) (store.Client, store.Token, bool, error) {
	now := time.Now()
	return store.Client{ID: clientID, SecretHash: make([]byte, 32), Introspect: true},
		store.Token{Hash: hash, Kind: store.AccessToken, FamilyID: "AbCdEfGhIjKlMnOpQrStUv" + hash[:8], ClientID: "demo-client",
			Scope: "items:read items:write", Audience: "urn:authsvc:items", IssuedAt: now, ExpiresAt: now.Add(15 * time.Minute)},
		true, nil
}

// BenchmarkMemoryPerEntry fills a cache with 100,000 tokens and reports
// the heap they take per entry beside the cache's own estimate, which
// AUTH_INTROSPECTION_CACHE_BYTES bounds: the estimate must not be the
// smaller of the two.
func BenchmarkMemoryPerEntry(b *testing.B) {
	const n = 100_000
	hashes := make([]string, n)
	for i := range hashes {
		hashes[i] = store.HashToken(fmt.Sprintf("token-%d", i))
	}
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		c := cached.New(synthetic{}, cached.Config{Current: true, MaxEntries: n, MaxBytes: 1 << 40})
		for _, h := range hashes {
			if _, _, _, err := c.IntrospectionLookup(context.Background(), "rs", h); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		st := c.Stats()
		if st.Entries != n {
			b.Fatalf("%d entries", st.Entries)
		}
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "heap-B/entry")
		b.ReportMetric(float64(st.Bytes)/n, "estimate-B/entry")
		runtime.KeepAlive(c)
	}
}
