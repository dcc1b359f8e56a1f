package postgres

import (
	"fmt"
	"testing"
	"time"

	"github.com/example/authsvc/store"
	"github.com/example/authsvc/store/storetest"
)

// The benchmarks measure round trips to the server at TEST_POSTGRES_URL, so
// their numbers say as much about that server and the network as about
// this package; compare them on one machine only.

func BenchmarkGetToken(b *testing.B) {
	db := openFresh(b)
	createClient(b, db)
	tok := newToken("access", store.AccessToken, "family-1", now.Add(time.Hour))
	if err := storetest.Create(b.Context(), db, tok); err != nil {
		b.Fatalf("CreateTokens: %v", err)
	}

	b.Run("serial", func(b *testing.B) {
		for b.Loop() {
			if _, err := db.GetToken(b.Context(), tok.Hash); err != nil {
				b.Fatalf("GetToken: %v", err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := db.GetToken(b.Context(), tok.Hash); err != nil {
					b.Errorf("GetToken: %v", err)
					return
				}
			}
		})
	})
}

// BenchmarkRotateRefreshToken rotates one grant's refresh token again and
// again, as a long-lived client does: every iteration marks the previous
// refresh token, deletes the previous access token and inserts a new pair.
func BenchmarkRotateRefreshToken(b *testing.B) {
	db := openFresh(b)
	createClient(b, db)
	expires := now.Add(24 * time.Hour)
	refresh := newToken("refresh-0", store.RefreshToken, "family-1", expires)
	if err := storetest.Create(b.Context(), db, newToken("access-0", store.AccessToken, "family-1", expires), refresh); err != nil {
		b.Fatalf("CreateTokens: %v", err)
	}
	v := storetest.VersionsOf(b.Context(), db, refresh)

	i := 0
	for b.Loop() {
		i++
		access := newToken(fmt.Sprintf("access-%d", i), store.AccessToken, "family-1", expires)
		next := newToken(fmt.Sprintf("refresh-%d", i), store.RefreshToken, "family-1", expires)
		if err := db.RotateRefreshToken(b.Context(), "family-1", refresh.Hash, now, v, access, next); err != nil {
			b.Fatalf("RotateRefreshToken %d: %v", i, err)
		}
		refresh = next
	}
}
