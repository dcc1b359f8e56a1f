// Package cached answers introspection from memory: it wraps a
// store.AuthStore and keeps, for live tokens, what IntrospectionLookup
// reads (the token, that its user may use it, and the introspecting
// client), so that an introspection costs no store round trip.
//
// The cache is exact on one node. Every method that can end a token (a
// revocation, a refresh rotation or its reuse, a password change, a
// disable, a client change or deletion, a reused authorization code) drops
// the entries it concerns after the store has committed and before it
// returns, so an introspection that starts after the change was
// acknowledged never finds the old answer. A lookup that read the store
// while a change was being made cannot put its now-stale answer back: every
// invalidation moves a generation on, and a fill whose read began in an
// older generation is discarded.
//
// Across replicas (PostgreSQL) the other replicas' changes arrive through
// Invalidate, from the store's notifications. While that path is not known
// to be current (SetCurrent(false): the connection is down, or it has just
// come back and the cache has not been flushed yet), the cache is bypassed:
// every lookup goes to the store, and nothing is filled.
//
// Only answers about usable tokens are kept: an unknown token, or one whose
// user is disabled, is asked about again every time. Memory is bounded by a
// count and by an estimate of the bytes held, least recently used first.
//
// Items does the same for the resource service's first pages of items, on
// the same rules, where that service is the items' only writer.
package cached

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/example/authsvc/store"
	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// Defaults of Config.
const (
	DefaultMaxEntries = 100_000
	DefaultMaxBytes   = 64 << 20
	// maxClients bounds the cached client records (the introspecting
	// resource servers: a handful).
	maxClients = 1024
	// entryOverhead is what an entry costs beyond its strings: the
	// Token's other fields, the LRU's element and map slot, and the grant
	// index's. BenchmarkMemoryPerEntry keeps the estimate above the heap
	// an entry really takes (about 500 estimated for 450 measured).
	entryOverhead = 250
)

// Config configures New.
type Config struct {
	// MaxEntries bounds the number of cached tokens; 0 means
	// DefaultMaxEntries, a negative value disables the cache.
	MaxEntries int
	// MaxBytes bounds the estimated memory of the cached tokens; 0 means
	// DefaultMaxBytes.
	MaxBytes int64
	// Current is whether the cache may serve from the start: true for a
	// single node, false when a notification listener will call
	// SetCurrent(true) once it has subscribed.
	Current bool
	// OnInvalidate, if set, is called with every invalidation applied,
	// local or remote, after the entries are dropped (the revocation
	// stream to resource services listens here). It must not block.
	OnInvalidate func(store.Invalidation)
}

// Store is a store.AuthStore that answers IntrospectionLookup from memory.
// Every other read goes to the wrapped store.
type Store struct {
	store.AuthStore
	onInvalidate func(store.Invalidation)
	disabled     bool
	maxBytes     int64

	current atomic.Bool
	hits    atomic.Uint64
	misses  atomic.Uint64
	bypass  atomic.Uint64

	mu      sync.Mutex
	gen     uint64
	tokens  *simplelru.LRU[string, *entry]
	clients *simplelru.LRU[string, store.Client]
	bytes   int64
	// byFamily indexes tokens by grant: a refresh rotation ends a grant's
	// tokens, and is frequent. A grant holds a few tokens at most. The
	// rare user-wide and client-wide changes scan the entries instead of
	// keeping two more indexes of every entry.
	byFamily map[string][]string
}

type entry struct {
	token store.Token
	size  int64
}

// New wraps next.
func New(next store.AuthStore, cfg Config) *Store {
	maxEntries := cfg.MaxEntries
	if maxEntries == 0 {
		maxEntries = DefaultMaxEntries
	}
	maxBytes := cfg.MaxBytes
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	s := &Store{
		AuthStore:    next,
		onInvalidate: cfg.OnInvalidate,
		disabled:     maxEntries < 0,
		maxBytes:     maxBytes,
		byFamily:     make(map[string][]string),
	}
	// simplelru refuses only a size below 1.
	s.tokens, _ = simplelru.NewLRU(max(maxEntries, 1), s.evicted)
	s.clients, _ = simplelru.NewLRU[string, store.Client](maxClients, nil)
	s.current.Store(cfg.Current)
	return s
}

// Stats are counters of lookups since New.
type Stats struct {
	Hits, Misses, Bypassed uint64
	Entries                int
	Bytes                  int64
}

// Stats reports the lookups so far and what is held.
func (s *Store) Stats() Stats {
	s.mu.Lock()
	n, b := s.tokens.Len(), s.bytes
	s.mu.Unlock()
	return Stats{Hits: s.hits.Load(), Misses: s.misses.Load(), Bypassed: s.bypass.Load(), Entries: n, Bytes: b}
}

// Current reports whether the cache serves.
func (s *Store) Current() bool { return s.current.Load() }

// SetCurrent turns serving from memory on or off. Turning it on flushes
// the cache first: whatever was missed while it was off is forgotten.
func (s *Store) SetCurrent(on bool) {
	if !on {
		s.current.Store(false)
		return
	}
	s.Invalidate(store.Invalidation{Kind: store.InvalidateAll})
	s.current.Store(true)
}

// IntrospectionLookup answers from memory when the client and the token are
// both cached, and otherwise asks the store and remembers a usable answer.
func (s *Store) IntrospectionLookup(ctx context.Context, clientID, tokenHash string) (store.Client, store.Token, bool, error) {
	if s.disabled || !s.current.Load() {
		s.bypass.Add(1)
		return s.AuthStore.IntrospectionLookup(ctx, clientID, tokenHash)
	}
	s.mu.Lock()
	c, cok := s.clients.Get(clientID)
	var e *entry
	tok := false
	if tokenHash != "" {
		e, tok = s.tokens.Get(tokenHash)
	}
	gen := s.gen
	s.mu.Unlock()
	if cok && (tokenHash == "" || tok) {
		s.hits.Add(1)
		if tok {
			return c, e.token, true, nil
		}
		return c, store.Token{}, false, nil
	}
	s.misses.Add(1)
	c, t, userOK, err := s.AuthStore.IntrospectionLookup(ctx, clientID, tokenHash)
	if err != nil {
		return c, t, userOK, err
	}
	s.fill(gen, c, t, userOK)
	return c, t, userOK, nil
}

// fill remembers what a lookup begun in generation gen read, unless an
// invalidation came in between (the read may predate the change) or the
// cache stopped serving.
func (s *Store) fill(gen uint64, c store.Client, t store.Token, userOK bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if gen != s.gen || !s.current.Load() {
		return
	}
	s.clients.Add(c.ID, c)
	if t.Hash == "" || !userOK || t.Rotated {
		return
	}
	if _, ok := s.tokens.Peek(t.Hash); ok {
		return
	}
	e := &entry{token: t, size: int64(entryOverhead + 2*len(t.Hash) + 2*len(t.FamilyID) + 2*len(t.ClientID) +
		2*len(t.Username) + len(t.Scope) + len(t.Audience) + len(t.JKT))}
	s.tokens.Add(t.Hash, e)
	s.bytes += e.size
	if t.FamilyID != "" {
		s.byFamily[t.FamilyID] = append(s.byFamily[t.FamilyID], t.Hash)
	}
	for s.bytes > s.maxBytes && s.tokens.Len() > 1 {
		s.tokens.RemoveOldest()
	}
}

// evicted keeps the index and the byte count in step with the LRU; it
// runs under s.mu (simplelru calls it from Add, Remove and Purge).
func (s *Store) evicted(hash string, e *entry) {
	s.bytes -= e.size
	f := e.token.FamilyID
	hashes := s.byFamily[f]
	if i := slices.Index(hashes, hash); i >= 0 {
		hashes = slices.Delete(hashes, i, i+1)
	}
	if len(hashes) == 0 {
		delete(s.byFamily, f)
	} else {
		s.byFamily[f] = hashes
	}
}

// Invalidate drops what inv names and moves the generation on, so that no
// lookup in flight puts back what it read before the change.
func (s *Store) Invalidate(inv store.Invalidation) {
	s.mu.Lock()
	s.gen++
	switch inv.Kind {
	case store.InvalidateToken:
		s.tokens.Remove(inv.Key)
	case store.InvalidateGrant:
		// Remove edits the index: remove a copy's hashes.
		for _, h := range slices.Clone(s.byFamily[inv.Key]) {
			s.tokens.Remove(h)
		}
	case store.InvalidateUser:
		s.removeWhere(func(t *store.Token) bool { return t.Username == inv.Key })
	case store.InvalidateClient:
		s.clients.Remove(inv.Key)
		s.removeWhere(func(t *store.Token) bool { return t.ClientID == inv.Key })
	default:
		s.tokens.Purge()
		s.clients.Purge()
	}
	s.mu.Unlock()
	if s.onInvalidate != nil {
		s.onInvalidate(inv)
	}
}

// removeWhere removes every token match reports, scanning them all (about
// 2 ms for 100,000 entries, for changes an administrator makes).
func (s *Store) removeWhere(match func(*store.Token) bool) {
	for _, h := range s.tokens.Keys() {
		if e, ok := s.tokens.Peek(h); ok && match(&e.token) {
			s.tokens.Remove(h)
		}
	}
}

// The methods below are the store's changes that can end a token. Each
// invalidates after the store returned, whatever it returned (a change may
// have committed even if its caller then sees an error), and before it
// returns to its caller.

func (s *Store) UpdateUser(ctx context.Context, u store.User) error {
	defer s.Invalidate(store.Invalidation{Kind: store.InvalidateUser, Key: u.Username})
	return s.AuthStore.UpdateUser(ctx, u)
}

func (s *Store) DeleteUser(ctx context.Context, username string) error {
	defer s.Invalidate(store.Invalidation{Kind: store.InvalidateUser, Key: username})
	return s.AuthStore.DeleteUser(ctx, username)
}

func (s *Store) UpdateClient(ctx context.Context, c store.Client) error {
	defer s.Invalidate(store.Invalidation{Kind: store.InvalidateClient, Key: c.ID})
	return s.AuthStore.UpdateClient(ctx, c)
}

func (s *Store) DeleteClient(ctx context.Context, id string) error {
	defer s.Invalidate(store.Invalidation{Kind: store.InvalidateClient, Key: id})
	return s.AuthStore.DeleteClient(ctx, id)
}

func (s *Store) RotateRefreshToken(ctx context.Context, familyID, oldHash string, now time.Time, v store.Versions, newTokens ...store.Token) error {
	defer s.Invalidate(store.Invalidation{Kind: store.InvalidateGrant, Key: familyID})
	return s.AuthStore.RotateRefreshToken(ctx, familyID, oldHash, now, v, newTokens...)
}

func (s *Store) DeleteToken(ctx context.Context, hash string) error {
	defer s.Invalidate(store.Invalidation{Kind: store.InvalidateToken, Key: hash})
	return s.AuthStore.DeleteToken(ctx, hash)
}

func (s *Store) DeleteFamily(ctx context.Context, familyID string) error {
	defer s.Invalidate(store.Invalidation{Kind: store.InvalidateGrant, Key: familyID})
	return s.AuthStore.DeleteFamily(ctx, familyID)
}

func (s *Store) RevokeUserGrants(ctx context.Context, username string) error {
	defer s.Invalidate(store.Invalidation{Kind: store.InvalidateUser, Key: username})
	return s.AuthStore.RevokeUserGrants(ctx, username)
}

func (s *Store) RevokeClientGrants(ctx context.Context, clientID string) error {
	defer s.Invalidate(store.Invalidation{Kind: store.InvalidateClient, Key: clientID})
	return s.AuthStore.RevokeClientGrants(ctx, clientID)
}

// RedeemAuthCode ends the grant its code started when the code is
// presented again (store.ErrCodeReused has deleted it); any other outcome
// ends no token.
func (s *Store) RedeemAuthCode(ctx context.Context, hash string, now time.Time, v store.Versions, tokens ...store.Token) error {
	err := s.AuthStore.RedeemAuthCode(ctx, hash, now, v, tokens...)
	if errors.Is(err, store.ErrCodeReused) {
		// The code is kept until it expires and names its grant; if it
		// cannot be read, forget everything rather than guess.
		inv := store.Invalidation{Kind: store.InvalidateAll}
		if code, gerr := s.AuthStore.GetAuthCode(ctx, hash); gerr == nil && code.FamilyID != "" {
			inv = store.Invalidation{Kind: store.InvalidateGrant, Key: code.FamilyID}
		}
		s.Invalidate(inv)
	}
	return err
}
