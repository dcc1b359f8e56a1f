package storetest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/example/authsvc/store"
)

// listAll pages through owner's items limit at a time, calling between
// after each page but the last, and fails t if the pages do not end.
func listAll(t *testing.T, s store.ItemStore, owner string, limit int, between func(page int)) []store.Item {
	t.Helper()
	var (
		all   []store.Item
		after *store.ItemCursor
	)
	for page := 0; ; page++ {
		if page > 100 {
			t.Fatalf("ListItems(%q) pages do not end", owner)
		}
		got, err := s.ListItems(t.Context(), owner, after, limit)
		ok(t, "ListItems", err)
		if len(got) > limit {
			t.Fatalf("ListItems page %d: %d items, limit %d", page, len(got), limit)
		}
		all = append(all, got...)
		if len(got) < limit {
			return all
		}
		c := got[len(got)-1].Cursor()
		after = &c
		if between != nil {
			between(page)
		}
	}
}

func checkSame(t *testing.T, what string, got, want []store.Item) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d items %v, want %d %v", what, len(got), ids(got), len(want), ids(want))
	}
	for i := range want {
		checkItem(t, got[i], want[i])
	}
}

func ids(items []store.Item) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.ID
	}
	return out
}

// createOlderFirst creates n items of owner, a second apart from base on,
// two of them at the same instant (ties sort by id), and returns them
// newest first.
func createOlderFirst(t *testing.T, s store.ItemStore, owner, prefix string, n int) []store.Item {
	t.Helper()
	newestFirst := make([]store.Item, n)
	for i := range n {
		at := base.Add(time.Duration(i) * time.Second)
		if i == 3 {
			at = base.Add(2 * time.Second) // the same instant as item 2
		}
		it := newItem(owner, fmt.Sprintf("%s-%02d", prefix, i), at)
		ok(t, "CreateItem", s.CreateItem(t.Context(), it, quota))
		newestFirst[n-1-i] = it
	}
	return newestFirst
}

func testItemListPages(t *testing.T, s store.ItemStore) {
	ctx := t.Context()
	want := createOlderFirst(t, s, alice, "a", 7)
	bobs := createOlderFirst(t, s, bob, "b", 4)
	checkItems(t, s, alice, want...)

	for _, limit := range []int{1, 2, 3, 6, 7, 8} {
		checkSame(t, fmt.Sprintf("pages of %d", limit), listAll(t, s, alice, limit, nil), want)
	}
	first, err := s.ListItems(ctx, alice, nil, 3)
	ok(t, "ListItems", err)
	checkSame(t, "first page", first, want[:3])

	// A position, not an item: the page after a deleted item goes on
	// from where that item was.
	c := want[2].Cursor()
	ok(t, "DeleteItem", s.DeleteItem(ctx, alice, want[2].ID))
	next, err := s.ListItems(ctx, alice, &c, 3)
	ok(t, "ListItems after a deleted item", err)
	checkSame(t, "page after a deleted item", next, want[3:6])

	// The last item's position starts an empty page.
	last := want[len(want)-1].Cursor()
	got, err := s.ListItems(ctx, alice, &last, 3)
	ok(t, "ListItems after the last item", err)
	checkSame(t, "page after the last item", got, nil)

	// Another owner's position only says where to start in one's own list.
	// alice's a-02 and bob's b-02 and b-03 share an instant; ids break the tie.
	c = want[4].Cursor()
	got, err = s.ListItems(ctx, bob, &c, 10)
	ok(t, "ListItems with another owner's position", err)
	checkSame(t, "bob's page after alice's position", got, bobs[2:])

	got, err = s.ListItems(ctx, "user:carol", nil, 10)
	ok(t, "ListItems of an owner without items", err)
	checkSame(t, "carol's items", got, nil)
}

// Items inserted between pages are newer than every item already listed
// (as the resource service's clock makes them), so paging on returns each
// older item exactly once: none repeated, none skipped.
func testItemListPagesConcurrentInserts(t *testing.T, s store.ItemStore) {
	want := createOlderFirst(t, s, alice, "old", 10)
	added := 0
	got := listAll(t, s, alice, 3, func(page int) {
		for i := range 2 {
			added++
			at := base.Add(time.Hour + time.Duration(added)*time.Second)
			ok(t, "CreateItem", s.CreateItem(t.Context(), newItem(alice, fmt.Sprintf("new-%d-%d", page, i), at), quota))
		}
	})
	checkSame(t, "pages with inserts between them", got, want)
	if added == 0 {
		t.Fatal("no item was inserted between pages")
	}
	all := listAll(t, s, alice, store.MaxItemsPage, nil)
	if len(all) != len(want)+added {
		t.Errorf("%d items in the end, want %d", len(all), len(want)+added)
	}
}

func testItemListLimitBounds(t *testing.T, s store.ItemStore) {
	ctx := t.Context()
	it := newItem(alice, "item-1", base)
	ok(t, "CreateItem", s.CreateItem(ctx, it, quota))
	for _, limit := range []int{1, store.MaxItemsPage} {
		got, err := s.ListItems(ctx, alice, nil, limit)
		ok(t, fmt.Sprintf("ListItems limit %d", limit), err)
		checkSame(t, fmt.Sprintf("limit %d", limit), got, []store.Item{it})
	}
	for _, limit := range []int{0, -1, store.MaxItemsPage + 1} {
		if _, err := s.ListItems(ctx, alice, nil, limit); err == nil {
			t.Errorf("ListItems limit %d: no error", limit)
		}
	}
}

func testItemInvalidName(t *testing.T, s store.ItemStore) {
	ctx := t.Context()
	good := newItem(alice, "item-1", base)
	ok(t, "CreateItem", s.CreateItem(ctx, good, quota))
	for _, name := range []string{"", "a\u202eb", "a\nb", "\xff", strings.Repeat("a", store.MaxItemNameRunes+1)} {
		bad := newItem(alice, "item-2", base)
		bad.Name = name
		if err := s.CreateItem(ctx, bad, quota); err == nil {
			t.Errorf("CreateItem named %q: no error", name)
		}
	}
	checkItems(t, s, alice, good)
}
