package postgres

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/example/authsvc/store"
)

// TestItemQuotaAcrossReplicas races creates of one owner on two pools, as
// two resource service replicas would: the quota holds across them, exactly.
func TestItemQuotaAcrossReplicas(t *testing.T) {
	dsn := freshDSN(t)
	dbs := []*ItemDB{openWith(t, OpenItems, dsn), openWith(t, OpenItems, dsn)}
	for _, tc := range []struct {
		quota, existing, wantCreated int
	}{
		{quota: 10, existing: 9, wantCreated: 1},
		{quota: 30, existing: 0, wantCreated: 20},
	} {
		owner := fmt.Sprintf("user:replicas-%d", tc.quota)
		for i := range tc.existing {
			it := store.Item{ID: fmt.Sprintf("%s-existing-%d", owner, i), Owner: owner, Name: "n", CreatedAt: now}
			if err := dbs[0].CreateItem(t.Context(), it, tc.quota); err != nil {
				t.Fatalf("CreateItem: %v", err)
			}
		}
		errs := make([]error, 20)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range errs {
			db := dbs[i%2]
			it := store.Item{ID: fmt.Sprintf("%s-racer-%d", owner, i), Owner: owner, Name: "n", CreatedAt: now}
			wg.Go(func() {
				<-start
				errs[i] = db.CreateItem(t.Context(), it, tc.quota)
			})
		}
		close(start)
		wg.Wait()

		var created, refused int
		for i, err := range errs {
			switch {
			case err == nil:
				created++
			case errors.Is(err, store.ErrQuotaExceeded):
				refused++
			default:
				t.Errorf("create %d: %v", i, err)
			}
		}
		if created != tc.wantCreated || created+refused != len(errs) {
			t.Errorf("quota %d, %d existing: %d created, %d refused; want %d created, the rest refused",
				tc.quota, tc.existing, created, refused, tc.wantCreated)
		}
		all, err := dbs[1].ListItems(t.Context(), owner, nil, store.MaxItemsPage)
		if err != nil {
			t.Fatalf("ListItems: %v", err)
		}
		if want := tc.existing + tc.wantCreated; len(all) != want {
			t.Errorf("quota %d: %d items stored, want %d", tc.quota, len(all), want)
		}
	}
}
