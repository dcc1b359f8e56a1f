package main

import (
	"context"
	"log/slog"

	"github.com/example/authsvc/cmd/internal/cachemetrics"
	"github.com/example/authsvc/internal/obs"
	"github.com/example/authsvc/internal/revocation"
	"github.com/example/authsvc/store"
	"github.com/example/authsvc/store/cached"
	"github.com/example/authsvc/store/postgres"
	"github.com/prometheus/client_golang/prometheus"
)

// listener is a store that announces every replica's changes
// (postgres.AuthDB).
type listener interface {
	Listen(ctx context.Context, logger *slog.Logger, sub postgres.Subscriber, cfg postgres.ListenConfig)
}

// introspectionCache wraps st in the introspection cache c asks for. It
// starts bypassed: run makes it current once it knows it hears of every
// change (at once on the embedded store, after LISTEN on PostgreSQL).
// Every invalidation it applies, local or announced by another replica,
// goes to the revocation stream's hub as well.
func introspectionCache(c config, st store.AuthStore, hub *revocation.Hub) *cached.Store {
	entries := c.cacheEntries
	if entries == 0 {
		entries = -1 // off
	}
	return cached.New(st, cached.Config{MaxEntries: entries, MaxBytes: c.cacheBytes, OnInvalidate: hub.Publish})
}

// cacheCollectors export the cache's counters.
func cacheCollectors(s *cached.Store) []prometheus.Collector {
	return append(cachemetrics.Collectors("introspection_cache", cachemetrics.Help{
		Lookups: "Introspection lookups by result: hit (answered from memory), miss (read from the store), bypass (the cache was not current).",
		Entries: "Live tokens whose introspection is held in memory.",
		Bytes:   "Estimated memory those entries hold.",
		Bypass:  true,
	}, s.Stats),
		obs.NewBoolGauge(prometheus.GaugeOpts{
			Namespace: obs.Namespace, Name: "introspection_cache_current",
			Help: "1 while the cache hears of every change and serves, 0 while introspection bypasses it.",
		}, s.Current))
}
