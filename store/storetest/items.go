package storetest

import (
	"testing"
	"time"

	"github.com/example/authsvc/store"
)

// RunItemStoreTests runs the conformance suite of store.ItemStore; newStore
// returns a fresh empty store per subtest and registers its own cleanup.
func RunItemStoreTests(t *testing.T, newStore func(t *testing.T) store.ItemStore) {
	t.Helper()
	runAll(t, newStore, []subtest[store.ItemStore]{
		{"Ping", testItemPing},
		{"Items/CreateGet", testItemCreateGet},
		{"Items/AlreadyExists", testItemAlreadyExists},
		{"Items/List", testItemList},
		{"Items/OtherOwner", testItemOtherOwner},
		{"Items/Delete", testItemDelete},
		{"Items/ListPages", testItemListPages},
		{"Items/ListPagesConcurrentInserts", testItemListPagesConcurrentInserts},
		{"Items/ListLimitBounds", testItemListLimitBounds},
		{"Items/Quota", testItemQuota},
		{"Items/QuotaConcurrent", testItemQuotaConcurrent},
		{"Items/CreateBurst", testItemCreateBurst},
		{"Items/InvalidName", testItemInvalidName},
		{"Items/ListAfterWrite", testItemListAfterWrite},
		{"Races/ListVersusWrite", testItemListVersusWrite},
	})
}

// Owners as the resource service spells them: users and clients in
// separate namespaces.
const (
	alice = "user:alice"
	bob   = "user:bob"
)

// quota is the per-owner quota of the cases that are not about it.
const quota = 100

func newItem(owner, id string, createdAt time.Time) store.Item {
	return store.Item{ID: id, Owner: owner, Name: "name of " + id, CreatedAt: createdAt}
}

func checkItem(t *testing.T, got, want store.Item) {
	t.Helper()
	if got.ID != want.ID || got.Owner != want.Owner || got.Name != want.Name || !got.CreatedAt.Equal(want.CreatedAt) {
		t.Errorf("item = %+v, want %+v", got, want)
	}
}

func checkItems(t *testing.T, s store.ItemStore, owner string, want ...store.Item) {
	t.Helper()
	got, err := s.ListItems(t.Context(), owner, nil, store.MaxItemsPage)
	ok(t, "ListItems", err)
	if len(got) != len(want) {
		t.Fatalf("ListItems(%q) = %d items %+v, want %d", owner, len(got), got, len(want))
	}
	for i := range want {
		checkItem(t, got[i], want[i])
	}
}

func testItemPing(t *testing.T, s store.ItemStore) {
	ok(t, "Ping", s.Ping(t.Context()))
}

func testItemCreateGet(t *testing.T, s store.ItemStore) {
	ctx := t.Context()
	want := newItem(alice, "item-1", base.In(elsewhere))
	want.Name = "ünïcode, 'quotes' and \"more\""
	ok(t, "CreateItem", s.CreateItem(ctx, want, quota))
	got, err := s.GetItem(ctx, alice, "item-1")
	ok(t, "GetItem", err)
	checkItem(t, got, want)

	_, err = s.GetItem(ctx, alice, "item-2")
	wantErr(t, "GetItem of unknown item", err, store.ErrNotFound)
}

func testItemAlreadyExists(t *testing.T, s store.ItemStore) {
	ctx := t.Context()
	want := newItem(alice, "item-1", base)
	ok(t, "CreateItem", s.CreateItem(ctx, want, quota))
	dup := newItem(alice, "item-1", base.Add(time.Second))
	dup.Name = "another name"
	wantErr(t, "CreateItem again", s.CreateItem(ctx, dup, quota), store.ErrAlreadyExists)
	checkItems(t, s, alice, want)
}

func testItemList(t *testing.T, s store.ItemStore) {
	ctx := t.Context()
	checkItems(t, s, alice)

	first := newItem(alice, "b-first", base)
	second := newItem(alice, "c-second", base.Add(time.Microsecond))
	third := newItem(alice, "a-third", base.Add(time.Hour))
	other := newItem(bob, "d-bobs", base.Add(30*time.Minute))
	for _, it := range []store.Item{second, other, third, first} {
		ok(t, "CreateItem", s.CreateItem(ctx, it, quota))
	}
	checkItems(t, s, alice, third, second, first)
	checkItems(t, s, bob, other)
	checkItems(t, s, "user:carol")
}

func testItemOtherOwner(t *testing.T, s store.ItemStore) {
	ctx := t.Context()
	mine := newItem(alice, "item-1", base)
	ok(t, "CreateItem", s.CreateItem(ctx, mine, quota))

	_, err := s.GetItem(ctx, bob, "item-1")
	wantErr(t, "GetItem of another owner's item", err, store.ErrNotFound)
	wantErr(t, "DeleteItem of another owner's item", s.DeleteItem(ctx, bob, "item-1"), store.ErrNotFound)
	checkItems(t, s, bob)
	checkItems(t, s, alice, mine)
}

func testItemDelete(t *testing.T, s store.ItemStore) {
	ctx := t.Context()
	gone := newItem(alice, "item-1", base)
	kept := newItem(alice, "item-2", base.Add(time.Second))
	ok(t, "CreateItem", s.CreateItem(ctx, gone, quota))
	ok(t, "CreateItem", s.CreateItem(ctx, kept, quota))

	ok(t, "DeleteItem", s.DeleteItem(ctx, alice, "item-1"))
	_, err := s.GetItem(ctx, alice, "item-1")
	wantErr(t, "GetItem after DeleteItem", err, store.ErrNotFound)
	wantErr(t, "DeleteItem again", s.DeleteItem(ctx, alice, "item-1"), store.ErrNotFound)
	checkItems(t, s, alice, kept)
}
