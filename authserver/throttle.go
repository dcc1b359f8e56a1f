package authserver

import (
	"math"
	"net/netip"
	"time"

	"github.com/jellydator/ttlcache/v3"
	"golang.org/x/time/rate"
)

// throttle limits failures per source (RFC 6749 §4.3.2): every failed
// client authentication or password check takes a token from the source's
// bucket, and a source whose bucket is empty is refused before any bcrypt
// or store access until it refills. Successes take nothing, so a user who
// logs in correctly is never throttled. Nothing is keyed by client or
// username: anyone could then lock every user of a public client out.
//
// Memory is bounded: buckets live in an LRU of at most maxBuckets entries,
// each dropped once it would have refilled completely (a fresh bucket is
// the same thing). A flood from more addresses than that evicts the least
// recently failing ones, which then start again with a full burst.
type throttle struct {
	burst   int
	refill  rate.Limit // tokens per second
	now     func() time.Time
	buckets *ttlcache.Cache[netip.Prefix, *rate.Limiter]
}

// maxBuckets bounds the throttle's memory: about 100 bytes a bucket.
const maxBuckets = 100_000

func newThrottle(burst int, perMinute float64, now func() time.Time) *throttle {
	refill := rate.Limit(perMinute / 60)
	full := time.Duration(float64(burst) / perMinute * float64(time.Minute))
	return &throttle{
		burst:  burst,
		refill: refill,
		now:    now,
		buckets: ttlcache.New(
			ttlcache.WithTTL[netip.Prefix, *rate.Limiter](full),
			ttlcache.WithCapacity[netip.Prefix, *rate.Limiter](maxBuckets),
		),
	}
}

// blocked reports whether src has no failures left, and when it will have
// one again.
func (t *throttle) blocked(src netip.Addr) (retryAfter time.Duration, blocked bool) {
	item := t.buckets.Get(throttleKey(src), ttlcache.WithDisableTouchOnHit[netip.Prefix, *rate.Limiter]())
	if item == nil {
		return 0, false
	}
	tokens := item.Value().TokensAt(t.now())
	if tokens >= 1 {
		return 0, false
	}
	wait := time.Duration(math.Ceil((1 - tokens) / float64(t.refill) * float64(time.Second)))
	return wait, true
}

// fail takes one token from src's bucket.
func (t *throttle) fail(src netip.Addr) {
	item, _ := t.buckets.GetOrSetFunc(throttleKey(src), func() *rate.Limiter {
		return rate.NewLimiter(t.refill, t.burst)
	})
	item.Value().AllowN(t.now(), 1)
}

// clean reports whether src has no recent failures: its bucket is full.
// Password checks from clean sources go ahead of the others.
func (t *throttle) clean(src netip.Addr) bool {
	item := t.buckets.Get(throttleKey(src), ttlcache.WithDisableTouchOnHit[netip.Prefix, *rate.Limiter]())
	return item == nil || item.Value().TokensAt(t.now()) >= float64(t.burst)
}
