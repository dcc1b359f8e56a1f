package cached

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/example/authsvc/store"
	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// Defaults and bounds of ItemsConfig.
const (
	DefaultItemsMaxBytes = 32 << 20
	// maxOwners bounds the owners whose pages are held, whatever their
	// size.
	maxOwners = 100_000
	// pagesPerOwner bounds the page sizes (limits) remembered for one
	// owner: a client asks with one or two; one that cycles through many
	// only replaces its own.
	pagesPerOwner = 4
	// itemOverhead is what an item of a page costs beyond its strings:
	// the store.Item (three string headers and a time.Time) in the page's
	// array. ownerOverhead is an owner's entry in the LRU and its map;
	// pageOverhead a page's slot in that map and its slice header.
	// BenchmarkItemsMemory keeps the estimate above the heap really taken.
	itemOverhead  = 110
	ownerOverhead = 500
	pageOverhead  = 80
)

// ItemsConfig configures NewItems.
type ItemsConfig struct {
	// MaxBytes bounds the estimated memory of the cached pages; 0 means
	// DefaultItemsMaxBytes.
	MaxBytes int64
}

// Items is a store.ItemStore that answers the first page of an owner's
// items from memory, for the process that is its only writer: every create
// and delete goes through it and drops the owner's pages after the store
// has returned, and before it returns, so a list that starts after a write
// was acknowledged never finds the old page. As in Store, a list that read
// the store while a write was being made cannot put its page back: every
// write moves a generation on, and a fill begun in an older one is
// discarded.
//
// It is exact only if no other process writes the items: an SQLite file a
// server holds (cmd/internal/dbopen.HoldServerLock), never a database that
// replicas share. Later pages (a cursor) and single items are read from the
// store every time.
type Items struct {
	store.ItemStore
	maxBytes int64

	hits   atomic.Uint64
	misses atomic.Uint64

	mu     sync.Mutex
	gen    uint64
	owners *simplelru.LRU[string, *ownerPages]
	bytes  int64
}

// ownerPages are an owner's first pages, by the limit they were read with.
type ownerPages struct {
	pages map[int]page
	size  int64 // of the entry and all its pages
}

type page struct {
	items []store.Item
	size  int64
}

// NewItems wraps next.
func NewItems(next store.ItemStore, cfg ItemsConfig) *Items {
	maxBytes := cfg.MaxBytes
	if maxBytes <= 0 {
		maxBytes = DefaultItemsMaxBytes
	}
	c := &Items{ItemStore: next, maxBytes: maxBytes}
	c.owners, _ = simplelru.NewLRU(maxOwners, func(_ string, p *ownerPages) { c.bytes -= p.size })
	return c
}

// Stats reports the first-page lists so far and what is held (Bypassed
// is always 0: the cache has no notification path to lose).
func (c *Items) Stats() Stats {
	c.mu.Lock()
	n, b := c.owners.Len(), c.bytes
	c.mu.Unlock()
	return Stats{Hits: c.hits.Load(), Misses: c.misses.Load(), Entries: n, Bytes: b}
}

// ListItems answers a first page from memory when it is held, and
// otherwise asks the store and remembers its answer.
func (c *Items) ListItems(ctx context.Context, owner string, after *store.ItemCursor, limit int) ([]store.Item, error) {
	if after != nil {
		return c.ItemStore.ListItems(ctx, owner, after, limit)
	}
	c.mu.Lock()
	var held page
	p, ok := c.owners.Get(owner)
	if ok {
		held, ok = p.pages[limit]
	}
	gen := c.gen
	c.mu.Unlock()
	if ok {
		c.hits.Add(1)
		// A copy: the caller may edit or append to what it gets.
		return slices.Clone(held.items), nil
	}
	c.misses.Add(1)
	items, err := c.ItemStore.ListItems(ctx, owner, nil, limit)
	if err != nil {
		return nil, err
	}
	c.fill(gen, owner, limit, slices.Clone(items))
	return items, nil
}

// fill remembers a page that a list begun in generation gen read, unless
// a write came in between (the read may predate it). A page larger than
// its share of the bound (one of an owner's pagesPerOwner) is not kept.
func (c *Items) fill(gen uint64, owner string, limit int, items []store.Item) {
	pg := page{items: items, size: pageOverhead}
	for i := range items {
		pg.size += int64(itemOverhead + len(items[i].ID) + len(items[i].Owner) + len(items[i].Name))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen || pg.size > c.maxBytes/pagesPerOwner {
		return
	}
	p, ok := c.owners.Get(owner)
	if !ok {
		p = &ownerPages{pages: make(map[int]page, 1), size: int64(ownerOverhead + len(owner))}
		c.bytes += p.size
		c.owners.Add(owner, p)
	}
	if _, ok := p.pages[limit]; !ok && len(p.pages) >= pagesPerOwner {
		// Full: forget the owner's other page sizes.
		for l := range p.pages {
			p.drop(c, l)
		}
	}
	p.drop(c, limit)
	p.pages[limit] = pg
	p.size += pg.size
	c.bytes += pg.size
	// The owner just filled goes last, and goes too if it alone is over
	// the bound (pagesPerOwner pages of a full share each, and its
	// overhead).
	for c.bytes > c.maxBytes && c.owners.Len() > 0 {
		c.owners.RemoveOldest()
	}
}

// drop forgets the page of limit, if held; under c.mu.
func (p *ownerPages) drop(c *Items, limit int) {
	if pg, ok := p.pages[limit]; ok {
		delete(p.pages, limit)
		p.size -= pg.size
		c.bytes -= pg.size
	}
}

// forget drops owner's pages and moves the generation on.
func (c *Items) forget(owner string) {
	c.mu.Lock()
	c.gen++
	c.owners.Remove(owner)
	c.mu.Unlock()
}

// CreateItem and DeleteItem change an owner's list: each forgets the
// owner's pages after the store returned, whatever it returned (a write
// may have committed even if its caller then sees an error).

func (c *Items) CreateItem(ctx context.Context, it store.Item, maxPerOwner int) error {
	defer c.forget(it.Owner)
	return c.ItemStore.CreateItem(ctx, it, maxPerOwner)
}

func (c *Items) DeleteItem(ctx context.Context, owner, id string) error {
	defer c.forget(owner)
	return c.ItemStore.DeleteItem(ctx, owner, id)
}
