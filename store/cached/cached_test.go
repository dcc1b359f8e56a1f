package cached_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/example/authsvc/store"
	"github.com/example/authsvc/store/cached"
	"github.com/example/authsvc/store/sqlite"
	"github.com/example/authsvc/store/storetest"
)

// openSQLite opens a fresh embedded store, closed when t ends.
func openSQLite(t testing.TB) *sqlite.AuthDB {
	t.Helper()
	db, err := sqlite.OpenAuth(t.Context(), filepath.Join(t.TempDir(), "auth.db"))
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// TestConformance runs the whole store contract through the cache: it
// changes nothing a caller can see, and the introspection cases prove that
// every change ends what the cache answers at once.
func TestConformance(t *testing.T) {
	storetest.RunAuthStoreTests(t, func(t *testing.T) store.AuthStore {
		return cached.New(openSQLite(t), cached.Config{Current: true})
	})
}

// slowLookup holds an IntrospectionLookup after it has read the store,
// until released: the window in which a change can commit between a miss's
// read and its fill.
type slowLookup struct {
	store.AuthStore
	read, release chan struct{}
}

func (s *slowLookup) IntrospectionLookup(ctx context.Context, clientID, hash string) (store.Client, store.Token, bool, error) {
	c, tok, ok, err := s.AuthStore.IntrospectionLookup(ctx, clientID, hash)
	if s.read != nil {
		s.read <- struct{}{}
		<-s.release
	}
	return c, tok, ok, err
}

// fixture is an embedded store with a client that introspects and one live
// token of alice.
func fixture(t *testing.T) (*sqlite.AuthDB, store.Token) {
	t.Helper()
	db := openSQLite(t)
	seed(t, db)
	return db, issue(t, db, "alice-1")
}

// seed stores the introspecting client rs, the client web and its user
// alice.
func seed(t *testing.T, db store.AuthStore) {
	t.Helper()
	ctx := t.Context()
	now := time.Now()
	for _, c := range []store.Client{
		{ID: "rs", SecretHash: []byte("0123456789abcdef0123456789abcdef"), GrantTypes: []string{"client_credentials"}, Introspect: true, CreatedAt: now},
		{ID: "web", SecretHash: []byte("0123456789abcdef0123456789abcdef"), GrantTypes: []string{"password", "refresh_token"}, Scopes: []string{"items:read"}, CreatedAt: now},
	} {
		if err := db.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.CreateUser(ctx, store.User{Username: "alice", PasswordHash: []byte("x"), CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
}

// issue stores an access token of alice for web named name.
func issue(t *testing.T, st store.AuthStore, name string) store.Token {
	t.Helper()
	now := time.Now()
	tok := store.Token{Hash: store.HashToken(name), Kind: store.AccessToken, FamilyID: "f-" + name, ClientID: "web",
		Username: "alice", Scope: "items:read", IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := storetest.Create(t.Context(), st, tok); err != nil {
		t.Fatal(err)
	}
	return tok
}

func usable(t *testing.T, s store.AuthStore, hash string) bool {
	t.Helper()
	_, tok, ok, err := s.IntrospectionLookup(t.Context(), "rs", hash)
	if err != nil {
		t.Fatal(err)
	}
	return ok && tok.Hash == hash
}

// TestFillRacingRevocation: a miss reads the token, a revocation commits
// and returns, then the miss fills. The next lookup must not find it.
func TestFillRacingRevocation(t *testing.T) {
	db, tok := fixture(t)
	slow := &slowLookup{AuthStore: db}
	c := cached.New(slow, cached.Config{Current: true})
	// Positive case first: without a change in between, the fill serves.
	for range 2 {
		if !usable(t, c, tok.Hash) {
			t.Fatal("live token not usable")
		}
	}
	if st := c.Stats(); st.Hits != 1 || st.Misses != 1 || st.Entries != 1 {
		t.Fatalf("stats %+v, want 1 hit, 1 miss, 1 entry", st)
	}

	other := issue(t, db, "alice-2")
	slow.read, slow.release = make(chan struct{}), make(chan struct{})
	done := make(chan bool)
	go func() {
		_, got, ok, err := c.IntrospectionLookup(context.Background(), "rs", other.Hash)
		done <- err == nil && ok && got.Hash == other.Hash
	}()
	<-slow.read // the miss has read the live token
	if err := c.DeleteToken(t.Context(), other.Hash); err != nil {
		t.Fatal(err)
	}
	close(slow.release)
	if !<-done {
		t.Fatal("the lookup begun before the revocation should have seen the token")
	}
	slow.read = nil
	if usable(t, c, other.Hash) {
		t.Fatal("a fill that read before the revocation put the revoked token back")
	}
}

// TestBypass: while not current the cache neither serves nor fills, and
// turning it current again starts empty.
func TestBypass(t *testing.T) {
	db, tok := fixture(t)
	c := cached.New(db, cached.Config{})
	for range 3 {
		if !usable(t, c, tok.Hash) {
			t.Fatal("live token not usable")
		}
	}
	if st := c.Stats(); st.Bypassed != 3 || st.Hits != 0 || st.Entries != 0 {
		t.Fatalf("not current: stats %+v, want 3 bypassed and nothing held", st)
	}
	c.SetCurrent(true)
	usable(t, c, tok.Hash)
	usable(t, c, tok.Hash)
	if st := c.Stats(); st.Hits != 1 || st.Entries != 1 {
		t.Fatalf("current: stats %+v, want 1 hit, 1 entry", st)
	}
	c.SetCurrent(false)
	// A change made behind the cache's back (another replica) while it
	// is bypassed is seen at once...
	if err := db.DeleteToken(t.Context(), tok.Hash); err != nil {
		t.Fatal(err)
	}
	if usable(t, c, tok.Hash) {
		t.Fatal("bypassed cache answered from memory")
	}
	// ...and not brought back when it serves again.
	c.SetCurrent(true)
	if usable(t, c, tok.Hash) {
		t.Fatal("cache served an entry from before it was bypassed")
	}
}

// TestBounds: the cache holds at most MaxEntries tokens, and no more bytes
// than MaxBytes; the least recently used go first; 0 entries is off.
func TestBounds(t *testing.T) {
	db, first := fixture(t)
	c := cached.New(db, cached.Config{Current: true, MaxEntries: 5})
	tokens := []store.Token{first}
	for i := range 19 {
		tokens = append(tokens, issue(t, db, fmt.Sprintf("alice-b%d", i)))
	}
	for _, tok := range tokens {
		usable(t, c, tok.Hash)
	}
	if st := c.Stats(); st.Entries != 5 {
		t.Fatalf("entries %d, want 5", st.Entries)
	}
	before := c.Stats().Hits
	usable(t, c, tokens[len(tokens)-1].Hash)
	usable(t, c, tokens[0].Hash)
	if got := c.Stats().Hits - before; got != 1 {
		t.Fatalf("hits %d, want 1: the newest is held, the oldest evicted", got)
	}

	small := cached.New(db, cached.Config{Current: true, MaxBytes: 2000})
	for _, tok := range tokens {
		usable(t, small, tok.Hash)
	}
	if st := small.Stats(); st.Bytes > 2000 || st.Entries < 1 || st.Entries >= len(tokens) {
		t.Fatalf("bytes bound: %+v", st)
	}

	off := cached.New(db, cached.Config{Current: true, MaxEntries: -1})
	usable(t, off, first.Hash)
	usable(t, off, first.Hash)
	if st := off.Stats(); st.Hits != 0 || st.Entries != 0 || st.Bypassed != 2 {
		t.Fatalf("off: %+v", st)
	}
}
