package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/example/authsvc/store"
)

func testItemQuota(t *testing.T, s store.ItemStore) {
	ctx := t.Context()
	const max = 3
	var mine []store.Item
	for i := range max {
		it := newItem(alice, fmt.Sprintf("item-%d", i), base.Add(-time.Duration(i)*time.Second))
		ok(t, "CreateItem below the quota", s.CreateItem(ctx, it, max))
		mine = append(mine, it)
	}
	over := newItem(alice, "item-over", base)
	wantErr(t, "CreateItem at the quota", s.CreateItem(ctx, over, max), store.ErrQuotaExceeded)
	_, err := s.GetItem(ctx, alice, over.ID)
	wantErr(t, "GetItem of the refused item", err, store.ErrNotFound)
	checkItems(t, s, alice, mine...)

	// The quota is per owner.
	ok(t, "CreateItem of another owner", s.CreateItem(ctx, newItem(bob, "bobs", base), max))
	// A raised quota, or a deleted item, makes room again.
	ok(t, "CreateItem under a higher quota", s.CreateItem(ctx, over, max+1))
	wantErr(t, "CreateItem at the higher quota", s.CreateItem(ctx, newItem(alice, "item-5", base), max+1), store.ErrQuotaExceeded)
	ok(t, "DeleteItem", s.DeleteItem(ctx, alice, mine[0].ID))
	ok(t, "CreateItem after a delete", s.CreateItem(ctx, newItem(alice, "item-5", base), max+1))

	// A quota below 1 is a mistake, not "unlimited".
	for _, q := range []int{0, -1} {
		it := newItem("user:carol", "carols", base)
		if err := s.CreateItem(ctx, it, q); err == nil || errors.Is(err, store.ErrQuotaExceeded) {
			t.Errorf("CreateItem with quota %d: error %v, want a plain error", q, err)
		}
	}
	checkItems(t, s, "user:carol")
}

// quotaRounds is how often each concurrent case runs per store; -count
// repeats the whole subtest.
const quotaRounds = 3

// testItemQuotaConcurrent: creates racing for the last places get exactly
// that many of them, and creates with room for all never fail.
func testItemQuotaConcurrent(t *testing.T, s store.ItemStore) {
	for round := range quotaRounds {
		for _, tc := range []struct {
			quota, existing, racers, wantCreated int
		}{
			{quota: 30, existing: 0, racers: 20, wantCreated: 20},
			{quota: 10, existing: 9, racers: 20, wantCreated: 1},
			{quota: 10, existing: 5, racers: 20, wantCreated: 5},
		} {
			owner := fmt.Sprintf("user:racer-%d-%d-%d", round, tc.quota, tc.existing)
			for i := range tc.existing {
				it := newItem(owner, fmt.Sprintf("%s-existing-%d", owner, i), base)
				ok(t, "CreateItem", s.CreateItem(t.Context(), it, tc.quota))
			}
			created, refused := raceCreates(t, s, owner, tc.quota, tc.racers)
			if created != tc.wantCreated || refused != tc.racers-tc.wantCreated {
				t.Errorf("quota %d, %d existing, %d racers: %d created, %d refused; want %d created, the rest refused",
					tc.quota, tc.existing, tc.racers, created, refused, tc.wantCreated)
			}
			all, err := s.ListItems(t.Context(), owner, nil, store.MaxItemsPage)
			ok(t, "ListItems", err)
			if want := tc.existing + tc.wantCreated; len(all) != want {
				t.Errorf("quota %d: %d items stored, want %d", tc.quota, len(all), want)
			}
		}
	}
}

// raceCreates starts racers creates of owner's items at once and counts
// the successes and the ErrQuotaExceeded; any other error fails t.
func raceCreates(t *testing.T, s store.ItemStore, owner string, quota, racers int) (created, refused int) {
	t.Helper()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		start = make(chan struct{})
		other []error
	)
	for i := range racers {
		wg.Go(func() {
			it := newItem(owner, fmt.Sprintf("%s-racer-%d", owner, i), base)
			<-start
			err := s.CreateItem(t.Context(), it, quota)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				created++
			case errors.Is(err, store.ErrQuotaExceeded):
				refused++
			default:
				other = append(other, err)
			}
		})
	}
	close(start)
	wg.Wait()
	for _, err := range other {
		t.Errorf("CreateItem racing for the quota: %v", err)
	}
	return created, refused
}

// burstRacers is a burst of creates far beyond any pool or lock queue, as
// one token can send: every one of them is below the quota and must be
// stored, none refused or failed by a lock that gave up waiting.
const burstRacers = 400

func testItemCreateBurst(t *testing.T, s store.ItemStore) {
	created, refused := raceCreates(t, s, alice, burstRacers, burstRacers)
	if created != burstRacers || refused != 0 {
		t.Errorf("%d concurrent creates below the quota: %d created, %d refused; want all created", burstRacers, created, refused)
	}
}
