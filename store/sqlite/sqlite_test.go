package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/example/authsvc/store"
	"github.com/example/authsvc/store/sqlite"
	"github.com/example/authsvc/store/storetest"
)

// open opens a database in a fresh temporary directory that does not exist
// yet, so Open has to create it.
func open(t testing.TB) (*sqlite.DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "data", "store.db")
	db, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db, path
}

func TestAuthStore(t *testing.T) {
	storetest.RunAuthStoreTests(t, func(t *testing.T) store.AuthStore {
		db, _ := open(t)
		return db
	})
}

func TestItemStore(t *testing.T) {
	storetest.RunItemStoreTests(t, func(t *testing.T) store.ItemStore {
		db, _ := open(t)
		return db
	})
}

func TestReopen(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "store.db")
	now := time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)

	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if err := db.CreateUser(ctx, store.User{Username: "alice", PasswordHash: []byte("hash"), CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	if err := db.CreateItem(ctx, store.Item{ID: "item-1", Owner: "user:alice", Name: "one", CreatedAt: now}); err != nil {
		t.Fatalf("CreateItem: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	// Twice: the second and third Open find the schema up to date.
	for i := range 2 {
		db, err := sqlite.Open(ctx, path)
		if err != nil {
			t.Fatalf("reopen %d: %v", i, err)
		}
		u, err := db.GetUser(ctx, "alice")
		if err != nil || !u.CreatedAt.Equal(now) || string(u.PasswordHash) != "hash" {
			t.Errorf("reopen %d: GetUser = %+v, %v", i, u, err)
		}
		if _, err := db.GetItem(ctx, "user:alice", "item-1"); err != nil {
			t.Errorf("reopen %d: GetItem: %v", i, err)
		}
		if err := db.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
}

func TestOpenRejectsNonFilePaths(t *testing.T) {
	for _, path := range []string{"", ":memory:", "file:x.db", filepath.Join(t.TempDir(), "x.db?mode=ro")} {
		if db, err := sqlite.Open(t.Context(), path); err == nil {
			db.Close()
			t.Errorf("Open(%q) succeeded, want an error", path)
		}
	}
}

func TestBeginLoginRejectsInvalidPolicy(t *testing.T) {
	db, _ := open(t)
	for _, p := range []store.LoginPolicy{
		{},
		{Threshold: 0, Lockout: time.Minute, MaxLockout: time.Hour},
		{Threshold: 3, Lockout: 0, MaxLockout: time.Hour},
		{Threshold: 3, Lockout: time.Hour, MaxLockout: time.Minute},
	} {
		allowed, err := db.BeginLogin(t.Context(), "alice", time.Now(), p)
		if err == nil || allowed {
			t.Errorf("BeginLogin with %+v = %v, %v; want refused with an error", p, allowed, err)
		}
	}
}

func TestCanceledContext(t *testing.T) {
	db, _ := open(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := db.CreateTokens(ctx, store.Token{Hash: "h", Kind: store.AccessToken})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("CreateTokens with a canceled context: %v, want context.Canceled", err)
	}
}

func BenchmarkGetToken(b *testing.B) {
	db, _ := open(b)
	ctx := b.Context()
	now := time.Now()
	if err := db.CreateClient(ctx, store.Client{ID: "web", CreatedAt: now}); err != nil {
		b.Fatal(err)
	}
	const n = 1000
	for i := range n {
		tok := store.Token{Hash: fmt.Sprintf("%064x", i), Kind: store.AccessToken, FamilyID: "f", ClientID: "web",
			IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
		if err := db.CreateTokens(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	i := 0
	for b.Loop() {
		if _, err := db.GetToken(ctx, fmt.Sprintf("%064x", i%n)); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkCreateTokens(b *testing.B) {
	db, _ := open(b)
	ctx := b.Context()
	now := time.Now()
	if err := db.CreateClient(ctx, store.Client{ID: "web", CreatedAt: now}); err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		access := store.Token{Hash: fmt.Sprintf("a%063x", i), Kind: store.AccessToken, FamilyID: fmt.Sprint(i),
			ClientID: "web", Username: "alice", IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
		refresh := access
		refresh.Hash, refresh.Kind, refresh.ExpiresAt = fmt.Sprintf("r%063x", i), store.RefreshToken, now.Add(24*time.Hour)
		if err := db.CreateTokens(ctx, access, refresh); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func TestRotateRejectsForeignFamily(t *testing.T) {
	db, _ := open(t)
	ctx := t.Context()
	now := time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)
	if err := db.CreateClient(ctx, store.Client{ID: "web", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	old := store.Token{Hash: "old", Kind: store.RefreshToken, FamilyID: "f1", ClientID: "web", IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := db.CreateTokens(ctx, old); err != nil {
		t.Fatal(err)
	}
	stray := store.Token{Hash: "new", Kind: store.RefreshToken, FamilyID: "f2", ClientID: "web", IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := db.RotateRefreshToken(ctx, "old", now, stray); err == nil {
		t.Fatal("RotateRefreshToken into another family succeeded")
	}
	// Nothing happened: the old token is still unrotated.
	got, err := db.GetToken(ctx, "old")
	if err != nil || got.Rotated {
		t.Errorf("GetToken(old) = %+v, %v; want unrotated", got, err)
	}
	if _, err := db.GetToken(ctx, "new"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetToken(new): %v, want ErrNotFound", err)
	}
}
