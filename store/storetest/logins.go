package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/example/authsvc/store"
)

// begin calls BeginLogin and fails t unless it answers want; it returns
// whether the attempt started a lock.
func begin(t *testing.T, s store.AuthStore, username string, now time.Time, p store.LoginPolicy, want bool) (locked bool) {
	t.Helper()
	a, err := s.BeginLogin(t.Context(), username, now, p)
	ok(t, fmt.Sprintf("BeginLogin(%q, base%+v)", username, now.Sub(base)), err)
	if a.Allowed != want {
		t.Fatalf("BeginLogin(%q, base%+v) = %+v, want allowed %v", username, now.Sub(base), a, want)
	}
	if a.Locked && !a.Allowed {
		t.Fatalf("BeginLogin(%q, base%+v) = %+v: a refused attempt cannot start a lock", username, now.Sub(base), a)
	}
	return a.Locked
}

// lockOut makes p.Threshold attempts at now, all allowed, the last of which
// (and only it) reports that it locked username, and checks that the next
// attempt is refused.
func lockOut(t *testing.T, s store.AuthStore, username string, now time.Time, p store.LoginPolicy) {
	t.Helper()
	for i := range p.Threshold {
		if locked := begin(t, s, username, now, p, true); locked != (i == p.Threshold-1) {
			t.Fatalf("attempt %d of %d: locked = %v", i+1, p.Threshold, locked)
		}
	}
	begin(t, s, username, now, p, false)
}

// lockedUntil checks that username is refused until just before end, without
// looking at end itself (which would count an attempt).
func lockedUntil(t *testing.T, s store.AuthStore, username string, end time.Time, p store.LoginPolicy) {
	t.Helper()
	begin(t, s, username, end.Add(-time.Microsecond), p, false)
}

func testLoginThreshold(t *testing.T, s store.AuthStore) {
	p := store.LoginPolicy{Threshold: 3, Lockout: time.Minute, MaxLockout: 10 * time.Minute}

	// Attempts 1..Threshold are allowed, spread over time; the one
	// reaching the threshold locks from its own now.
	begin(t, s, "alice", base, p, true)
	begin(t, s, "alice", base.Add(10*time.Second), p, true)
	locked := base.Add(20 * time.Second)
	begin(t, s, "alice", locked, p, true)

	// While locked: refused, not counted, and the lock is not extended.
	for _, at := range []time.Time{locked, locked.Add(30 * time.Second), locked.Add(30 * time.Second), locked.Add(time.Minute - time.Microsecond)} {
		begin(t, s, "alice", at, p, false)
	}

	// The lock ends exactly Lockout after it began, and the username has
	// the full Threshold again: the refused attempts counted nothing.
	unlocked := locked.Add(time.Minute)
	lockOut(t, s, "alice", unlocked, p)
	// Second lockout: twice as long.
	lockedUntil(t, s, "alice", unlocked.Add(2*time.Minute), p)
	begin(t, s, "alice", unlocked.Add(2*time.Minute), p, true)
}

func testLoginLockoutGrowth(t *testing.T, s store.AuthStore) {
	p := store.LoginPolicy{Threshold: 2, Lockout: time.Minute, MaxLockout: 5 * time.Minute}
	at := base
	for i, d := range []time.Duration{1, 2, 4, 5, 5, 5} {
		d *= time.Minute
		t.Logf("lockout %d: %v", i+1, d)
		lockOut(t, s, "alice", at, p)
		lockedUntil(t, s, "alice", at.Add(d), p)
		at = at.Add(d)
	}
	begin(t, s, "alice", at, p, true)

	// Many lockouts must not overflow the doubling into a short or
	// negative lock.
	for range 70 {
		lockOut(t, s, "bob", at, p)
		at = at.Add(p.MaxLockout)
	}
	lockOut(t, s, "bob", at, p)
	lockedUntil(t, s, "bob", at.Add(p.MaxLockout), p)
}

func testLoginSucceededResets(t *testing.T, s store.AuthStore) {
	ctx := t.Context()
	p := store.LoginPolicy{Threshold: 3, Lockout: time.Minute, MaxLockout: time.Hour}

	// The failure count.
	begin(t, s, "alice", base, p, true)
	begin(t, s, "alice", base, p, true)
	ok(t, "LoginSucceeded", s.LoginSucceeded(ctx, "alice"))
	lockOut(t, s, "alice", base, p)

	// The lock.
	ok(t, "LoginSucceeded while locked", s.LoginSucceeded(ctx, "alice"))
	begin(t, s, "alice", base, p, true)

	// The lockout history: the next lock is a first one again.
	ok(t, "LoginSucceeded", s.LoginSucceeded(ctx, "alice"))
	lockOut(t, s, "alice", base, p)
	lockedUntil(t, s, "alice", base.Add(time.Minute), p)
	begin(t, s, "alice", base.Add(time.Minute), p, true)

	ok(t, "LoginSucceeded of a username without failures", s.LoginSucceeded(ctx, "bob"))
}

func testLoginPerUsername(t *testing.T, s store.AuthStore) {
	p := store.LoginPolicy{Threshold: 2, Lockout: time.Minute, MaxLockout: time.Hour}
	lockOut(t, s, "alice", base, p)
	begin(t, s, "bob", base, p, true)
	begin(t, s, "alice", base, p, false)
	begin(t, s, "bob", base, p, true)
	begin(t, s, "bob", base, p, false)
}

func testLoginConcurrent(t *testing.T, s store.AuthStore) {
	p := store.LoginPolicy{Threshold: 5, Lockout: time.Minute, MaxLockout: time.Hour}
	const n = 20
	allowed := make([]bool, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			var a store.LoginAttempt
			a, errs[i] = s.BeginLogin(t.Context(), "alice", base, p)
			allowed[i] = a.Allowed
		})
	}
	wg.Wait()

	got := 0
	for i := range n {
		if errs[i] != nil {
			t.Errorf("BeginLogin %d: %v", i, errs[i])
		}
		if allowed[i] {
			got++
		}
	}
	if got != p.Threshold {
		t.Fatalf("%d of %d parallel attempts allowed, want exactly %d", got, n, p.Threshold)
	}
	// One lockout, of the first length: the refused attempts counted nothing.
	lockedUntil(t, s, "alice", base.Add(p.Lockout), p)
	begin(t, s, "alice", base.Add(p.Lockout), p, true)
}

func testLoginDeleteExpired(t *testing.T, s store.AuthStore) {
	ctx := t.Context()
	p := store.LoginPolicy{Threshold: 2, Lockout: time.Minute, MaxLockout: 72 * time.Hour}
	long := store.LoginPolicy{Threshold: 2, Lockout: 48 * time.Hour, MaxLockout: 72 * time.Hour}

	lockOut(t, s, "lock-passed", base, p)                         // stale: its lock ended long ago
	begin(t, s, "old-failure", base, p, true)                     // stale: one failure, 25h ago
	lockOut(t, s, "still-locked", base, long)                     // old, but locked at now: kept
	begin(t, s, "recent-failure", base.Add(2*time.Hour), p, true) // 23h ago: kept

	now := base.Add(store.StaleLoginAge + time.Hour)
	n, err := s.DeleteExpired(ctx, now, 100)
	ok(t, "DeleteExpired", err)
	if n != 0 {
		t.Errorf("DeleteExpired = %d, want 0: it counts tokens only", n)
	}

	// Forgotten: a fresh count and a first-length lockout.
	for _, username := range []string{"lock-passed", "old-failure"} {
		lockOut(t, s, username, now, p)
		lockedUntil(t, s, username, now.Add(p.Lockout), p)
		begin(t, s, username, now.Add(p.Lockout), p, true)
	}
	// Kept.
	begin(t, s, "still-locked", now, long, false)
	begin(t, s, "recent-failure", now, p, true) // the second failure: locks
	begin(t, s, "recent-failure", now, p, false)
}
