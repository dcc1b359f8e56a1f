package authserver

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jellydator/ttlcache/v3"

	"github.com/example/authsvc/store"
)

// Login attempts are counted before the password is checked (store.Logins),
// so every attempt writes a login record. For a name that a user has, that
// record must hold across restarts and replicas: it is what keeps a guesser
// out. For a name that no user has, it protects nothing; it only has to make
// the answers look the same as for a real name, and every answer (wrong
// password, unknown name, locked name) is the same text after the same
// bcrypt time. Stored, such records were a table anyone could grow with
// made-up names. So the attempts at names no user has are counted here, in
// memory, by the same rule (store.LoginPolicy.Attempt), in an LRU bounded
// by maxUnknownLogins: a flood of names evicts the oldest, and an evicted
// or restarted count only starts again from zero, which a name without an
// account can afford.

// maxUnknownLogins bounds the names counted in memory: at most 255 bytes of
// name and a few dozen of state each, so about 30 MB when full.
const maxUnknownLogins = 100_000

// unknownLogins counts the password attempts at names no user has.
type unknownLogins struct {
	mu    sync.Mutex // one attempt at a time, as the store's row lock does
	names *ttlcache.Cache[string, store.LoginState]
}

func newUnknownLogins(capacity int) *unknownLogins {
	return &unknownLogins{names: ttlcache.New(
		// As store.StaleLoginAge for stored records; a lock outlives it
		// only if p.MaxLockout does, and then the entry's TTL is the
		// lock's (see begin).
		ttlcache.WithTTL[string, store.LoginState](store.StaleLoginAge),
		ttlcache.WithCapacity[string, store.LoginState](uint64(capacity)),
	)}
}

// begin is store.Logins.BeginLogin for a name no user has.
func (l *unknownLogins) begin(name string, now time.Time, p store.LoginPolicy) (store.LoginAttempt, error) {
	if err := p.Validate(); err != nil {
		return store.LoginAttempt{}, fmt.Errorf("begin login: %w", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var s store.LoginState
	if item := l.names.Get(name); item != nil {
		s = item.Value()
	}
	next, a := p.Attempt(s, now)
	if a.Allowed {
		l.names.Set(name, next, max(store.StaleLoginAge, next.LockedUntil.Sub(now)))
	}
	return a, nil
}

// len is the number of names counted.
func (l *unknownLogins) len() int { return l.names.Len() }

// beginLogin reserves one password attempt at username: in the store for
// a user's name, in memory for a name no user has (see unknownLogins).
func (s *server) beginLogin(ctx context.Context, username string, known bool) (store.LoginAttempt, error) {
	var (
		a   store.LoginAttempt
		err error
	)
	if known {
		a, err = s.store.BeginLogin(ctx, username, s.now(), s.cfg.Lockout)
	} else {
		a, err = s.unknownLogins.begin(username, s.now(), s.cfg.Lockout)
	}
	if err != nil {
		return store.LoginAttempt{}, err
	}
	switch {
	case a.Locked:
		s.metrics.lockouts.Inc()
	case !a.Allowed:
		s.metrics.lockedRefusals.Inc()
	}
	return a, nil
}
