package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/example/authsvc/store"
)

// testItemListAfterWrite: a first page read twice (the second time from
// memory, through a cache) shows a create and a delete as soon as they
// return, for each page size asked with, and only for their owner.
func testItemListAfterWrite(t *testing.T, s store.ItemStore) {
	ctx := t.Context()
	first := newItem(alice, "item-1", base)
	ok(t, "CreateItem", s.CreateItem(ctx, first, quota))
	bobs := newItem(bob, "item-b", base)
	ok(t, "CreateItem", s.CreateItem(ctx, bobs, quota))
	lists := func(want ...store.Item) {
		t.Helper()
		for _, limit := range []int{1, 2, store.MaxItemsPage} {
			for range 2 {
				got, err := s.ListItems(ctx, alice, nil, limit)
				ok(t, "ListItems", err)
				if w := want[:min(limit, len(want))]; !slices.Equal(ids(got), ids(w)) {
					t.Fatalf("ListItems(limit %d) = %v, want %v", limit, ids(got), ids(w))
				}
			}
		}
		checkItems(t, s, bob, bobs)
	}
	lists(first)

	second := newItem(alice, "item-2", base.Add(time.Second))
	ok(t, "CreateItem", s.CreateItem(ctx, second, quota))
	lists(second, first)

	ok(t, "DeleteItem", s.DeleteItem(ctx, alice, second.ID))
	lists(first)

	// A page handed out is the caller's: editing it changes no later
	// answer.
	got, err := s.ListItems(ctx, alice, nil, 2)
	ok(t, "ListItems", err)
	got[0].Name = "edited by the caller"
	_ = append(got[:1], newItem(alice, "appended", base))
	lists(first)
	again, err := s.ListItems(ctx, alice, nil, 2)
	ok(t, "ListItems", err)
	checkItem(t, again[0], first)
}

// testItemListVersusWrite: readers list the first page without pause
// while a writer creates and deletes items, one after another; no list that
// starts after a write has returned may miss it. Through store/cached this
// is the proof that a fill racing a write cannot bring an old page back.
func testItemListVersusWrite(t *testing.T, s store.ItemStore) {
	ctx := t.Context()
	ok(t, "CreateItem", s.CreateItem(ctx, newItem(alice, "item-0", base), quota))
	const rounds, readers = 16, 4
	for round := range rounds {
		it := newItem(alice, fmt.Sprintf("item-%d", round+1), base.Add(time.Duration(round+1)*time.Second))
		for _, write := range []struct {
			name    string
			do      func() error
			present bool // whether it is listed after the write
		}{
			{"CreateItem", func() error { return s.CreateItem(ctx, it, quota) }, true},
			{"DeleteItem", func() error { return s.DeleteItem(ctx, alice, it.ID) }, false},
		} {
			n, err := readersVersusWrite(t, readers, write.do, func() (bool, error) {
				page, err := s.ListItems(ctx, alice, nil, 10)
				return slices.Contains(ids(page), it.ID) != write.present, err
			})
			ok(t, write.name, err)
			if n > 0 {
				t.Fatalf("round %d, %s: %d lists begun after the write returned showed the page before it", round, write.name, n)
			}
		}
	}
}
