package storetest

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/example/authsvc/store"
)

// Stress versions of the races in versions.go: issuers loop as token
// requests do (read the versions, then store), while a change commits once
// in their midst. Run them many times under CPU contention (README,
// "Concurrency tests").

// raceIssuers is how many requests issue at once in the stress tests.
const raceIssuers = 6

// issued is one issuance of a stress test and its result.
type issued struct {
	v      store.Versions
	tokens []store.Token
	err    error
}

// issueWhile runs raceIssuers goroutines that issue tokens(n) for n = 1,
// 2, ... over the versions read() returns just before each, while change
// runs once: after every issuer has stored something, so that the change
// lands among issuances in flight. Each issuer stops after its first
// issuance that began once change had returned. It returns every
// issuance.
func issueWhile(t *testing.T, s store.AuthStore, read func() store.Versions, tokens func(n int64) []store.Token, change func() error) []issued {
	t.Helper()
	ctx := t.Context()
	var (
		mu      sync.Mutex
		all     []issued
		n       atomic.Int64
		changed atomic.Bool
		wg      sync.WaitGroup
		ready   sync.WaitGroup
	)
	ready.Add(raceIssuers)
	for range raceIssuers {
		wg.Go(func() {
			first := true
			for {
				after := changed.Load()
				v := read()
				runtime.Gosched() // widen the window between the check and the store
				toks := tokens(n.Add(1))
				err := s.CreateTokens(ctx, v, toks...)
				mu.Lock()
				all = append(all, issued{v: v, tokens: toks, err: err})
				mu.Unlock()
				if first {
					first = false
					ready.Done()
				}
				if after || ctx.Err() != nil {
					return
				}
			}
		})
	}
	ready.Wait()
	ok(t, "change", change())
	changed.Store(true)
	wg.Wait()
	return all
}

// testRaceIssueVersusPasswd: logins race a password change. Every one
// that stored tokens over the old version committed before the change,
// whose revocation then took them; every refusal is ErrUserChanged and
// stored nothing; logins over the new version keep their tokens.
func testRaceIssueVersusPasswd(t *testing.T, s store.AuthStore) {
	ctx := t.Context()
	setupUsersAndClients(t, s)
	read := func() store.Versions { return VersionsOf(ctx, s, store.Token{ClientID: "web", Username: "alice"}) }
	tokens := func(n int64) []store.Token {
		a, r := pair(fmt.Sprintf("family-%d", n), fmt.Sprintf("login-%d", n), base)
		return []store.Token{a, r}
	}
	before := read()
	all := issueWhile(t, s, read, tokens, func() error {
		u := reread(t, s, store.User{Username: "alice"})
		u.PasswordHash = []byte("$2a$10$the-password-after-the-leak")
		return s.UpdateUser(ctx, u)
	})
	after := read()
	if after.User == before.User {
		t.Fatal("the password change left the version")
	}
	var old, refused, fresh int
	for _, is := range all {
		switch {
		case is.err != nil:
			refused++
			if !errors.Is(is.err, store.ErrUserChanged) || is.v.User == after.User {
				t.Errorf("an issuance over version %d failed with %v, want ErrUserChanged over the old version", is.v.User, is.err)
			}
			absent(t, s, is.tokens...)
		case is.v.User == before.User:
			old++
			absent(t, s, is.tokens...) // ended by the change, or never stored
		default:
			fresh++
			present(t, s, is.tokens...)
		}
	}
	t.Logf("%d issuances: %d over the old version before the change, %d refused, %d over the new one", len(all), old, refused, fresh)
	if old == 0 || fresh == 0 {
		t.Errorf("issuances: %d old, %d new; want both", old, fresh)
	}
}

// testRaceIssueVersusClientDelete: client-credentials requests, each
// authenticated once, race the client's deletion: every refusal is
// ErrClientChanged (never a foreign-key error), and nothing of the client
// is left.
func testRaceIssueVersusClientDelete(t *testing.T, s store.AuthStore) {
	ctx := t.Context()
	ok(t, "CreateClient", s.CreateClient(ctx, newClient("svc")))
	authenticated := VersionsOf(ctx, s, store.Token{ClientID: "svc"})
	tokens := func(n int64) []store.Token {
		return []store.Token{{Hash: hashOf(fmt.Sprint("svc-", n)), Kind: store.AccessToken, FamilyID: fmt.Sprint("svc-", n),
			ClientID: "svc", IssuedAt: base, ExpiresAt: base.Add(time.Hour)}}
	}
	all := issueWhile(t, s, func() store.Versions { return authenticated }, tokens, func() error {
		return s.DeleteClient(ctx, "svc")
	})
	var stored, refused int
	for _, is := range all {
		if is.err == nil {
			stored++
		} else if refused++; !errors.Is(is.err, store.ErrClientChanged) {
			t.Errorf("an issuance racing the delete failed with %v, want ErrClientChanged", is.err)
		}
		absent(t, s, is.tokens...)
	}
	t.Logf("%d issuances: %d stored before the delete, %d refused", len(all), stored, refused)
	if stored == 0 || refused == 0 {
		t.Errorf("%d stored, %d refused; want both", stored, refused)
	}
}

// testRaceRefreshVersusDisable: refreshes of several grants race the
// user's disable: once it has returned, no token of the user is left,
// and every refusal is the contract's.
func testRaceRefreshVersusDisable(t *testing.T, s store.AuthStore) {
	ctx := t.Context()
	setupUsersAndClients(t, s)
	const grants = 4
	var (
		mu       sync.Mutex
		all      []store.Token
		rotated  atomic.Int64
		disabled atomic.Bool
		wg       sync.WaitGroup
	)
	for g := range grants {
		family := fmt.Sprint("family-", g)
		a, r := pair(family, fmt.Sprintf("g%d-0", g), base)
		ok(t, "CreateTokens", Create(ctx, s, a, r))
		mu.Lock()
		all = append(all, a, r)
		mu.Unlock()
		wg.Go(func() {
			current := r
			for i := 1; ; i++ {
				after := disabled.Load()
				v := VersionsOf(ctx, s, current)
				runtime.Gosched()
				na, nr := pair(family, fmt.Sprintf("g%d-%d", g, i), base)
				err := s.RotateRefreshToken(ctx, family, current.Hash, base, v, na, nr)
				mu.Lock()
				all = append(all, na, nr)
				mu.Unlock()
				switch {
				case err == nil:
					current = nr
					rotated.Add(1)
					if after {
						t.Errorf("grant %d rotated after the disable had returned", g)
						return
					}
				case errors.Is(err, store.ErrUserChanged), errors.Is(err, store.ErrNotFound):
					return
				default:
					t.Errorf("grant %d: rotation racing the disable: %v", g, err)
					return
				}
			}
		})
	}
	// Poll, sleeping, so as not to take the CPU from the rotations; on
	// time-out, disable anyway (which stops them) rather than leave them
	// running past the test.
	for deadline := time.Now().Add(30 * time.Second); rotated.Load() < 2*grants && !t.Failed() && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if n := rotated.Load(); n < 2*grants {
		t.Errorf("%d rotations before the disable, want %d", n, 2*grants)
	}
	u := reread(t, s, store.User{Username: "alice"})
	u.Disabled = true
	ok(t, "UpdateUser disable", s.UpdateUser(ctx, u))
	disabled.Store(true)
	wg.Wait()
	absent(t, s, all...)
	t.Logf("%d rotations before the disable", rotated.Load())
}
