package cached_test

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/example/authsvc/internal/testkit"
	"github.com/example/authsvc/store"
	"github.com/example/authsvc/store/cached"
	"github.com/example/authsvc/store/postgres"
	"github.com/example/authsvc/store/postgres/pgtest"
)

// replica is one authserver's view of a shared PostgreSQL database: its own
// pool, its cache, and its listener.
type replica struct {
	db    *postgres.AuthDB
	cache *cached.Store
	pids  chan uint32 // the listener's backend, at each (re)connection
}

func startReplica(t *testing.T, dsn string, retry time.Duration) *replica {
	t.Helper()
	db, err := postgres.OpenAuth(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	r := &replica{db: db, cache: cached.New(db, cached.Config{}), pids: make(chan uint32, 16)}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		db.Listen(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)), r.cache, postgres.ListenConfig{
			Heartbeat: 200 * time.Millisecond, Retry: retry,
			OnConnect: func(pid uint32) { r.pids <- pid },
		})
	})
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		_ = db.Close()
	})
	r.waitCurrent(t, true)
	return r
}

func (r *replica) waitCurrent(t *testing.T, want bool) {
	t.Helper()
	if !testkit.Poll(10*time.Second, nil, func() bool { return r.cache.Current() == want }) {
		t.Fatalf("replica current = %v after 10 s, want %v", r.cache.Current(), want)
	}
}

// pgFixture is a fresh database with the fixture's client, user and token,
// written through a plain connection.
func pgFixture(t *testing.T) (string, store.Token) {
	t.Helper()
	dsn := pgtest.FreshDatabase(t, "authsvc_cached_")
	db, err := postgres.OpenAuth(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	seed(t, db)
	return dsn, issue(t, db, "alice-1")
}

// TestReplicaInvalidation: a revocation through replica A reaches replica
// B's cache through LISTEN/NOTIFY, without B being told anything else.
func TestReplicaInvalidation(t *testing.T) {
	pgtest.AdminURL(t)
	dsn, tok := pgFixture(t)
	a, b := startReplica(t, dsn, 50*time.Millisecond), startReplica(t, dsn, 50*time.Millisecond)
	usable(t, b.cache, tok.Hash)
	if !usable(t, b.cache, tok.Hash) || b.cache.Stats().Hits != 1 {
		t.Fatalf("B does not serve the live token from memory: %+v", b.cache.Stats())
	}
	start := time.Now()
	if err := a.cache.DeleteToken(t.Context(), tok.Hash); err != nil {
		t.Fatal(err)
	}
	if usable(t, a.cache, tok.Hash) {
		t.Fatal("A answers a token it revoked itself")
	}
	if !testkit.Poll(5*time.Second, nil, func() bool { return !usable(t, b.cache, tok.Hash) }) {
		t.Fatal("B still answers the token revoked on A after 5 s")
	}
	t.Logf("revoke on A to inactive on B: %v", time.Since(start))

	// A user-wide change reaches B as well (the trigger of users and the
	// cascade of tokens).
	tok2 := issue(t, a.db, "alice-2")
	usable(t, b.cache, tok2.Hash)
	u, err := a.cache.GetUser(t.Context(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	u.Disabled = true
	if err := a.cache.UpdateUser(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	if !testkit.Poll(5*time.Second, nil, func() bool { return !usable(t, b.cache, tok2.Hash) }) {
		t.Fatal("B still answers a token of the user disabled on A after 5 s")
	}
}

// TestReplicaFailsClosed: with its notification connection terminated from
// SQL, replica B bypasses its cache, so a revocation it cannot hear of is
// still seen at once; once it is back it serves again, from empty.
func TestReplicaFailsClosed(t *testing.T) {
	pgtest.AdminURL(t)
	dsn, tok := pgFixture(t)
	// B reconnects only after a long pause, so the test sees it down.
	b := startReplica(t, dsn, time.Hour)
	pid := <-b.pids
	usable(t, b.cache, tok.Hash)
	if !usable(t, b.cache, tok.Hash) || b.cache.Stats().Hits != 1 {
		t.Fatalf("B does not serve the live token from memory: %+v", b.cache.Stats())
	}

	pgtest.Exec(t, dsn, "SELECT pg_terminate_backend("+itoa(pid)+")")
	b.waitCurrent(t, false)
	// Revoke behind B's back: B's connection is gone, nothing reaches it.
	plain, err := postgres.OpenAuth(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if err := plain.DeleteToken(t.Context(), tok.Hash); err != nil {
		t.Fatal(err)
	}
	before := b.cache.Stats().Bypassed
	if usable(t, b.cache, tok.Hash) {
		t.Fatal("B answered from memory a token revoked while its notification connection was down")
	}
	if b.cache.Stats().Bypassed != before+1 {
		t.Fatalf("B did not bypass its cache: %+v", b.cache.Stats())
	}

	// Reconnection: a replica whose listener comes back serves again,
	// starting empty.
	c := startReplica(t, dsn, 20*time.Millisecond)
	tok2 := issue(t, plain, "alice-2")
	usable(t, c.cache, tok2.Hash)
	pid = <-c.pids
	pgtest.Exec(t, dsn, "SELECT pg_terminate_backend("+itoa(pid)+")")
	select {
	case <-c.pids:
	case <-time.After(10 * time.Second):
		t.Fatal("the listener did not reconnect within 10 s")
	}
	c.waitCurrent(t, true)
	if st := c.cache.Stats(); st.Entries != 0 {
		t.Fatalf("after reconnecting, the cache holds %d entries from before; want it flushed", st.Entries)
	}
	usable(t, c.cache, tok2.Hash)
	if !usable(t, c.cache, tok2.Hash) || c.cache.Stats().Hits != 1 {
		t.Fatalf("after reconnecting, C does not serve from memory again: %+v", c.cache.Stats())
	}
}

func itoa(n uint32) string { return strconv.FormatUint(uint64(n), 10) }
