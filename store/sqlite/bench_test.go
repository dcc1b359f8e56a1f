package sqlite_test

import (
	"fmt"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/example/authsvc/store"
	"github.com/example/authsvc/store/sqlite"
	"github.com/example/authsvc/store/storetest"
)

// BenchmarkIntrospectionReads compares what an introspection reads from the
// store in one query (IntrospectionLookup) with the same in two
// (GetClient, then GetTokenForIntrospection). Compare the two as a ratio
// from one run.
func BenchmarkIntrospectionReads(b *testing.B) {
	ctx := b.Context()
	db, err := sqlite.OpenAuth(ctx, filepath.Join(b.TempDir(), "auth.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	now := time.Now()
	if err := db.CreateUser(ctx, store.User{Username: "alice", PasswordHash: []byte("x"), CreatedAt: now}); err != nil {
		b.Fatal(err)
	}
	if err := db.CreateClient(ctx, store.Client{ID: "rs", SecretHash: store.HashClientSecret("s"), Introspect: true, CreatedAt: now}); err != nil {
		b.Fatal(err)
	}
	tok := store.Token{Hash: store.HashToken("t"), Kind: store.AccessToken, FamilyID: "f", ClientID: "rs",
		Username: "alice", Scope: "items:read", IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := storetest.Create(ctx, db, tok); err != nil {
		b.Fatal(err)
	}

	b.Run("one query", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, t, ok, err := db.IntrospectionLookup(ctx, "rs", tok.Hash); err != nil || !ok || t.Hash != tok.Hash {
				b.Fatal(t, ok, err)
			}
		}
	})
	b.Run("two queries", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := db.GetClient(ctx, "rs"); err != nil {
				b.Fatal(err)
			}
			if t, ok, err := db.GetTokenForIntrospection(ctx, tok.Hash); err != nil || !ok || t.Hash != tok.Hash {
				b.Fatal(t, ok, err)
			}
		}
	})
}

// BenchmarkCreateTokensConcurrent issues tokens from 1, 8 and 32
// concurrent callers, as concurrent grants do: with group commit the
// callers that wait for the writer share one transaction. ns/op is per
// call; compare the sub-benchmarks as ratios from one run.
func BenchmarkCreateTokensConcurrent(b *testing.B) {
	for _, callers := range []int{1, 8, 32} {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
			ctx := b.Context()
			db, err := sqlite.OpenAuth(ctx, filepath.Join(b.TempDir(), "auth.db"))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { db.Close() })
			now := time.Now()
			if err := db.CreateClient(ctx, store.Client{ID: "web", CreatedAt: now}); err != nil {
				b.Fatal(err)
			}
			v := storetest.VersionsOf(ctx, db, store.Token{ClientID: "web"})
			var n atomic.Int64
			b.SetParallelism(max(1, callers/runtime.GOMAXPROCS(0)))
			if callers == 1 {
				b.SetParallelism(1)
			}
			b.ResetTimer()
			run := func(next func() bool) {
				for next() {
					i := n.Add(1)
					tok := store.Token{Hash: fmt.Sprintf("a%063x", i), Kind: store.AccessToken, FamilyID: fmt.Sprint(i),
						ClientID: "web", IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
					if err := db.CreateTokens(ctx, v, tok); err != nil {
						b.Error(err)
						return
					}
				}
			}
			if callers == 1 {
				run(b.Loop)
				return
			}
			b.RunParallel(func(pb *testing.PB) { run(pb.Next) })
		})
	}
}
