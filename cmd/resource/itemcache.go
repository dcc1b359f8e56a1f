package main

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/example/authsvc/cmd/internal/cachemetrics"
	"github.com/example/authsvc/cmd/internal/dbopen"
	"github.com/example/authsvc/store"
	"github.com/example/authsvc/store/cached"
)

// itemCache wraps items in the cache of first pages when this process is
// their only writer: on SQLite, whose lock it holds. On PostgreSQL other
// replicas write the same items, so every list reads the database. It
// returns the cache's bound, 0 when it is off.
func itemCache(cfg config, items store.ItemStore, reg prometheus.Registerer, logger *slog.Logger) (store.ItemStore, int64) {
	if cfg.ItemCacheBytes == 0 {
		return items, 0
	}
	if !dbopen.SingleWriter(cfg.DB) {
		logger.Info("item page cache off: the items are in PostgreSQL, which other replicas write too")
		return items, 0
	}
	c := cached.NewItems(items, cached.ItemsConfig{MaxBytes: cfg.ItemCacheBytes})
	for _, col := range cachemetrics.Collectors("resource_item_cache", cachemetrics.Help{
		Lookups: "Lists of an owner's first page of items by result: hit (answered from memory), miss (read from the store).",
		Entries: "Owners whose first pages are held in memory.",
		Bytes:   "Estimated memory those pages hold.",
	}, c.Stats) {
		reg.MustRegister(col)
	}
	return c, cfg.ItemCacheBytes
}
