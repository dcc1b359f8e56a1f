package cached_test

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/example/authsvc/store"
	"github.com/example/authsvc/store/cached"
	"github.com/example/authsvc/store/sqlite"
	"github.com/example/authsvc/store/storetest"
)

func openItems(t testing.TB) *sqlite.ItemDB {
	t.Helper()
	db, err := sqlite.OpenItems(context.Background(), filepath.Join(t.TempDir(), "items.db"))
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// TestItemsConformance runs the item store contract through the cache:
// ListAfterWrite and ListVersusWrite prove that a write is listed as soon
// as it returns.
func TestItemsConformance(t *testing.T) {
	storetest.RunItemStoreTests(t, func(t *testing.T) store.ItemStore {
		return cached.NewItems(openItems(t), cached.ItemsConfig{})
	})
}

// slowList holds a ListItems after it has read the store, until released.
type slowList struct {
	store.ItemStore
	read, release chan struct{}
}

func (s *slowList) ListItems(ctx context.Context, owner string, after *store.ItemCursor, limit int) ([]store.Item, error) {
	items, err := s.ItemStore.ListItems(ctx, owner, after, limit)
	if s.read != nil {
		s.read <- struct{}{}
		<-s.release
	}
	return items, err
}

func item(owner, id string, at time.Time) store.Item {
	return store.Item{ID: id, Owner: owner, Name: "name of " + id, CreatedAt: at.UTC().Truncate(time.Microsecond)}
}

func listIDs(t *testing.T, s store.ItemStore, owner string) []string {
	t.Helper()
	items, err := s.ListItems(t.Context(), owner, nil, 10)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, it := range items {
		ids = append(ids, it.ID)
	}
	return ids
}

// TestItemsFillRacingWrite: a miss reads the page, a create commits and
// returns, then the miss fills. The next list must show the new item.
func TestItemsFillRacingWrite(t *testing.T) {
	db := openItems(t)
	now := time.Now()
	if err := db.CreateItem(t.Context(), item("user:alice", "a1", now), 100); err != nil {
		t.Fatal(err)
	}
	slow := &slowList{ItemStore: db}
	c := cached.NewItems(slow, cached.ItemsConfig{})
	// Positive case first: without a write in between, the fill serves.
	for range 2 {
		if got := listIDs(t, c, "user:alice"); !slices.Equal(got, []string{"a1"}) {
			t.Fatalf("list %v", got)
		}
	}
	if st := c.Stats(); st.Hits != 1 || st.Misses != 1 || st.Entries != 1 {
		t.Fatalf("stats %+v, want 1 hit, 1 miss, 1 entry", st)
	}

	slow.read, slow.release = make(chan struct{}), make(chan struct{})
	done := make(chan []store.Item)
	go func() {
		// Another page size: a miss.
		items, _ := c.ListItems(context.Background(), "user:alice", nil, 5)
		done <- items
	}()
	<-slow.read // the miss has read the page without a2
	if err := c.CreateItem(t.Context(), item("user:alice", "a2", now.Add(time.Second)), 100); err != nil {
		t.Fatal(err)
	}
	close(slow.release)
	if got := <-done; len(got) != 1 {
		t.Fatalf("the list begun before the create got %d items, want 1", len(got))
	}
	slow.read = nil
	for _, limit := range []int{5, 10} {
		items, err := c.ListItems(t.Context(), "user:alice", nil, limit)
		if err != nil || len(items) != 2 {
			t.Fatalf("limit %d: %d items, %v: a fill that read before the create put the old page back", limit, len(items), err)
		}
	}
}

// TestItemsBounds: the estimate of bytes held stays within MaxBytes, the
// least recently listed owners go first, and an owner keeps at most a few
// page sizes.
func TestItemsBounds(t *testing.T) {
	db := openItems(t)
	now := time.Now()
	const owners = 40
	for i := range owners {
		owner := fmt.Sprintf("user:u%02d", i)
		for j := range 3 {
			if err := db.CreateItem(t.Context(), item(owner, fmt.Sprintf("%s-%d", owner, j), now.Add(time.Duration(j)*time.Second)), 100); err != nil {
				t.Fatal(err)
			}
		}
	}
	const bound = 8000
	c := cached.NewItems(db, cached.ItemsConfig{MaxBytes: bound})
	for i := range owners {
		listIDs(t, c, fmt.Sprintf("user:u%02d", i))
	}
	st := c.Stats()
	if st.Bytes > bound || st.Entries < 2 || st.Entries >= owners {
		t.Fatalf("bytes bound: %+v", st)
	}
	before := c.Stats().Hits
	listIDs(t, c, fmt.Sprintf("user:u%02d", owners-1))
	listIDs(t, c, "user:u00")
	if got := c.Stats().Hits - before; got != 1 {
		t.Fatalf("hits %d, want 1: the newest is held, the oldest evicted", got)
	}

	// One owner cycling through page sizes holds a few at a time.
	one := cached.NewItems(db, cached.ItemsConfig{})
	for limit := 1; limit <= 50; limit++ {
		if _, err := one.ListItems(t.Context(), "user:u00", nil, limit); err != nil {
			t.Fatal(err)
		}
	}
	if st := one.Stats(); st.Entries != 1 || st.Bytes > 2000 {
		t.Fatalf("one owner, 50 page sizes: %+v", st)
	}
}

// BenchmarkItemsMemory fills a cache with the first pages of 10,000
// owners of 1 and of 10 items each and reports the heap they take per item
// beside the cache's estimate, which RESOURCE_ITEM_CACHE_BYTES bounds: the
// estimate must not be the smaller of the two.
func BenchmarkItemsMemory(b *testing.B) {
	const owners = 10_000
	for _, perOwner := range []int{1, 10} {
		b.Run(fmt.Sprintf("items=%d", perOwner), func(b *testing.B) {
			for b.Loop() {
				runtime.GC()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				c := cached.NewItems(syntheticItems{perOwner: perOwner}, cached.ItemsConfig{MaxBytes: 1 << 40})
				for i := range owners {
					if _, err := c.ListItems(context.Background(), fmt.Sprintf("user:someone-%05d", i), nil, perOwner+1); err != nil {
						b.Fatal(err)
					}
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				st := c.Stats()
				if st.Entries != owners {
					b.Fatalf("%d entries", st.Entries)
				}
				b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(owners*perOwner), "heap-B/item")
				b.ReportMetric(float64(st.Bytes)/float64(owners*perOwner), "estimate-B/item")
				runtime.KeepAlive(c)
			}
		})
	}
}

// syntheticItems answers every first page with perOwner items of fresh
// strings, as a store's scan makes them.
type syntheticItems struct {
	store.ItemStore
	perOwner int
}

func (s syntheticItems) ListItems(_ context.Context, owner string, _ *store.ItemCursor, _ int) ([]store.Item, error) {
	items := make([]store.Item, s.perOwner)
	for i := range items {
		items[i] = store.Item{ID: fmt.Sprintf("0193%04x-0000-7000-8000-%012d", i, i), Owner: strings.Clone(owner),
			Name: fmt.Sprintf("an item named %d", i), CreatedAt: time.Now()}
	}
	return items, nil
}
