package resource

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/example/authsvc/internal/revocation"
	"github.com/example/authsvc/store"
	"github.com/jellydator/ttlcache/v3"
	"golang.org/x/sync/singleflight"
)

// Defaults of CacheConfig.
const (
	DefaultCacheTTL      = 10 * time.Second
	DefaultCacheCapacity = 10_000
)

// CacheConfig configures NewCache.
type CacheConfig struct {
	// TTL bounds how long a positive answer is reused, and so how long a
	// revoked token keeps working here. 0 disables caching (concurrent
	// calls for one token are still merged).
	TTL time.Duration
	// Capacity bounds the number of cached answers; the least recently
	// used goes first. 0 means DefaultCacheCapacity.
	Capacity uint64
	// Now is the clock the TTL is measured with; nil means time.Now.
	Now func() time.Time
	// Metrics counts hits and misses; nil counts nothing.
	Metrics *Metrics
}

// Cache is an Introspector that remembers positive answers of another one
// and merges concurrent calls for the same token into one.
//
// Entries are keyed by the hex SHA-256 of the token, never the token itself
// (RFC 9700 §4.9.3), live for min(TTL, exp − now), and only active answers
// are kept: an inactive token is asked about again, so a token that becomes
// valid later, or a transient "no", costs one call rather than a stale cache.
//
// Subscribed to the authorization server's revocation stream (Cache is a
// revocation.Handler), it drops what each event names on receipt, and while
// the stream is ready (connected and caught up) an answer lives until the
// token's exp instead of the TTL. When the stream goes down the cache is
// flushed and the TTL applies again, until the stream is ready once more.
// An answer whose introspection began before an event (or a flush) is not
// stored: it may predate the revocation.
type Cache struct {
	next    Introspector
	ttl     time.Duration
	now     func() time.Time
	entries *ttlcache.Cache[string, cacheEntry]
	flights singleflight.Group
	metrics *Metrics

	// streaming: the revocation stream is ready. mu orders stores after
	// the events and flushes that gen counts.
	streaming atomic.Bool
	mu        sync.Mutex
	gen       uint64
}

// cacheEntry carries its own deadline on the injected clock; ttlcache's
// own expiry (real time, same length) only reclaims memory.
type cacheEntry struct {
	answer     Introspection
	validUntil time.Time
}

// NewCache wraps next.
func NewCache(next Introspector, cfg CacheConfig) *Cache {
	capacity := cfg.Capacity
	if capacity == 0 {
		capacity = DefaultCacheCapacity
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Cache{
		next:    next,
		ttl:     max(cfg.TTL, 0),
		now:     now,
		metrics: cfg.Metrics,
		entries: ttlcache.New(
			ttlcache.WithCapacity[string, cacheEntry](capacity),
			// A hit must not extend the life of an answer.
			ttlcache.WithDisableTouchOnHit[string, cacheEntry](),
		),
	}
}

// Introspect answers from the cache or asks next, once per token however
// many requests wait for it.
func (c *Cache) Introspect(ctx context.Context, token string) (Introspection, error) {
	key := store.HashToken(token)
	in, ok := c.lookup(key)
	c.metrics.cacheResult(ok)
	if ok {
		return in, nil
	}
	// The flight outlives a caller that gives up: the others still wait for
	// it, and the client's own timeout bounds it.
	flightCtx := context.WithoutCancel(ctx)
	ch := c.flights.DoChan(key, func() (any, error) {
		// A flight that ended between our lookup and DoChan has filled
		// the cache; do not ask again.
		if in, ok := c.lookup(key); ok {
			return in, nil
		}
		gen := c.generation()
		in, err := c.next.Introspect(flightCtx, token)
		if err != nil {
			return Introspection{}, err
		}
		c.store(key, in, gen)
		return in, nil
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return Introspection{}, res.Err
		}
		return res.Val.(Introspection), nil
	case <-ctx.Done():
		return Introspection{}, ctx.Err()
	}
}

// Len reports how many answers are cached (tests, metrics).
func (c *Cache) Len() int { return c.entries.Len() }

func (c *Cache) lookup(key string) (Introspection, bool) {
	if c.ttl == 0 {
		return Introspection{}, false
	}
	item := c.entries.Get(key)
	if item == nil {
		return Introspection{}, false
	}
	entry := item.Value()
	if !c.now().Before(entry.validUntil) {
		c.entries.Delete(key)
		return Introspection{}, false
	}
	return entry.answer, true
}

func (c *Cache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// store keeps an answer obtained by an introspection begun at generation
// gen, unless an event or a flush came since.
func (c *Cache) store(key string, in Introspection, gen uint64) {
	now := c.now()
	if c.ttl == 0 || !in.usable(now) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	ttl := c.ttl
	if !in.ExpiresAt.IsZero() {
		if c.streaming.Load() {
			ttl = in.ExpiresAt.Sub(now)
		} else {
			ttl = min(ttl, in.ExpiresAt.Sub(now))
		}
	}
	if ttl <= 0 {
		return
	}
	c.entries.Set(key, cacheEntry{answer: in, validUntil: now.Add(ttl)}, ttl)
}

// Revoke drops the answers ev names (revocation.Handler).
func (c *Cache) Revoke(ev revocation.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	var match func(Introspection) bool
	switch ev.Kind {
	case revocation.KindToken:
		c.entries.Delete(ev.Key)
		return
	case revocation.KindGrant:
		match = func(in Introspection) bool { return in.Grant == ev.Key }
	case revocation.KindUser:
		match = func(in Introspection) bool { return in.Username == ev.Key }
	case revocation.KindClient:
		match = func(in Introspection) bool { return in.ClientID == ev.Key }
	default:
		c.entries.DeleteAll()
		return
	}
	var doomed []string
	c.entries.Range(func(item *ttlcache.Item[string, cacheEntry]) bool {
		if match(item.Value().answer) {
			doomed = append(doomed, item.Key())
		}
		return true
	})
	for _, k := range doomed {
		c.entries.Delete(k)
	}
}

// Reset drops every answer (revocation.Handler): the stream cannot tell
// what was missed.
func (c *Cache) Reset() { c.Revoke(revocation.Event{Kind: revocation.KindAll}) }

// Ready says the stream is caught up (revocation.Handler): answers stored
// from now on live until the token's exp.
func (c *Cache) Ready() { c.streaming.Store(true) }

// Down says the stream is not (revocation.Handler): if it was ready, every
// answer goes, those kept until exp with them, and the TTL applies again.
func (c *Cache) Down() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.streaming.Swap(false) {
		return // nothing was kept past the TTL
	}
	c.gen++
	c.entries.DeleteAll()
}

// Streaming reports whether the revocation stream is ready.
func (c *Cache) Streaming() bool { return c.streaming.Load() }
