package sqlite

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/example/authsvc/internal/testkit"
	"github.com/example/authsvc/store"
)

// webVersions are the versions of a request for the client "web" that
// checked it just before (client tokens have no user).
func webVersions(t *testing.T, db *AuthDB) store.Versions {
	t.Helper()
	c, err := db.GetClient(t.Context(), "web")
	if err != nil {
		t.Fatal(err)
	}
	return store.Versions{Client: c.Version}
}

func openGroupCommit(t *testing.T) *AuthDB {
	t.Helper()
	db, err := OpenAuth(t.Context(), filepath.Join(t.TempDir(), "auth.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.CreateClient(t.Context(), store.Client{ID: "web", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	return db
}

func accessToken(hash string) store.Token {
	now := time.Now()
	return store.Token{Hash: hash, Kind: store.AccessToken, FamilyID: "f-" + hash, ClientID: "web",
		IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
}

// holdWriter takes the writer, so that CreateTokens calls wait; the
// returned func gives it back.
func holdWriter(t *testing.T, db *AuthDB) func() {
	t.Helper()
	db.writer <- struct{}{}
	var once sync.Once
	release := func() { once.Do(func() { <-db.writer }) }
	t.Cleanup(release)
	return release
}

func waitPending(t *testing.T, db *AuthDB, n int) {
	t.Helper()
	pending := func() int {
		db.inserts.mu.Lock()
		defer db.inserts.mu.Unlock()
		return len(db.inserts.pending)
	}
	if !testkit.Poll(10*time.Second, nil, func() bool { return pending() == n }) {
		t.Fatalf("%d calls waiting, want %d", pending(), n)
	}
}

// Calls that wait together share one transaction, yet each gets its own
// result and keeps or loses only its own rows.
func TestGroupCommitGivesEachCallItsOwnResult(t *testing.T) {
	db := openGroupCommit(t)
	ctx := t.Context()
	v := webVersions(t, db)
	if err := db.CreateTokens(ctx, v, accessToken("taken")); err != nil {
		t.Fatal(err)
	}
	spent := accessToken("spent")
	spent.Rotated = true
	noClient := accessToken("no-client")
	noClient.ClientID = "nobody"
	calls := map[string][]store.Token{
		"ok-1":      {accessToken("ok-1a"), accessToken("ok-1b")},
		"ok-2":      {accessToken("ok-2")},
		"duplicate": {accessToken("dup-fresh"), accessToken("taken")}, // the first row must go too
		"rotated":   {spent},
		"no-client": {noClient},
		"ok-3":      {accessToken("ok-3")},
		"stale":     {accessToken("stale")},
	}

	release := holdWriter(t, db)
	errs := make(map[string]error)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for name, tokens := range calls {
		wg.Go(func() {
			v := v
			if name == "stale" {
				v.Client-- // checked against the client as it was before a change
			}
			err := db.CreateTokens(ctx, v, tokens...)
			mu.Lock()
			errs[name] = err
			mu.Unlock()
		})
	}
	waitPending(t, db, len(calls))
	release()
	wg.Wait()

	for _, name := range []string{"ok-1", "ok-2", "ok-3"} {
		if errs[name] != nil {
			t.Errorf("%s: %v", name, errs[name])
		}
		for _, tok := range calls[name] {
			if _, err := db.GetToken(ctx, tok.Hash); err != nil {
				t.Errorf("%s: token %s: %v", name, tok.Hash, err)
			}
		}
	}
	if !errors.Is(errs["duplicate"], store.ErrAlreadyExists) {
		t.Errorf("duplicate: %v, want ErrAlreadyExists", errs["duplicate"])
	}
	if !errors.Is(errs["stale"], store.ErrClientChanged) {
		t.Errorf("stale: %v, want ErrClientChanged", errs["stale"])
	}
	for _, name := range []string{"rotated", "no-client"} {
		if errs[name] == nil {
			t.Errorf("%s: no error", name)
		}
	}
	for _, hash := range []string{"dup-fresh", "spent", "no-client", "stale"} {
		if _, err := db.GetToken(ctx, hash); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("token %s of a failed call: %v, want ErrNotFound", hash, err)
		}
	}
}

func TestGroupCommitCallCanceledWhileWaitingInsertsNothing(t *testing.T) {
	db := openGroupCommit(t)
	release := holdWriter(t, db)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	v := webVersions(t, db)
	go func() { done <- db.CreateTokens(ctx, v, accessToken("abandoned")) }()
	waitPending(t, db, 1)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("CreateTokens = %v, want context.Canceled", err)
	}
	release()
	waitPending(t, db, 0)
	if err := db.CreateTokens(t.Context(), v, accessToken("later")); err != nil {
		t.Fatal(err)
	}
	if _, err := db.GetToken(t.Context(), "later"); err != nil {
		t.Errorf("a later call: %v", err)
	}
	if _, err := db.GetToken(t.Context(), "abandoned"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the canceled call's token: %v, want ErrNotFound", err)
	}
}

// More callers than one transaction takes: all are written, in several.
func TestGroupCommitManyCallers(t *testing.T) {
	db := openGroupCommit(t)
	release := holdWriter(t, db)
	n := 2*maxInsertsPerCommit + 5
	errs := make(chan error, n)
	v := webVersions(t, db)
	for i := range n {
		go func() { errs <- db.CreateTokens(t.Context(), v, accessToken(fmt.Sprint("many-", i))) }()
	}
	waitPending(t, db, n)
	release()
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		if _, err := db.GetToken(t.Context(), fmt.Sprint("many-", i)); err != nil {
			t.Fatalf("token %d: %v", i, err)
		}
	}
}
