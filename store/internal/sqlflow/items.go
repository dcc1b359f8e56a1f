package sqlflow

import (
	"context"
	"fmt"

	"github.com/example/authsvc/store"
)

// ItemTx is one open write transaction of an items database.
type ItemTx interface {
	Commit(ctx context.Context) error
	Rollback(ctx context.Context) error

	// LockOwner makes the other transactions that lock owner wait until
	// this one ends, and so take turns; it locks nothing else.
	LockOwner(ctx context.Context, owner string) error
	// CountItems returns how many items owner has, counting no further
	// than upTo.
	CountItems(ctx context.Context, owner string, upTo int) (int, error)
	// InsertItem inserts it; store.ErrAlreadyExists if its id is taken.
	InsertItem(ctx context.Context, it store.Item) error
}

// BeginItems starts a write transaction on an items database.
type BeginItems func(ctx context.Context) (ItemTx, error)

// CreateItem is store.Items.CreateItem. The quota is exact because the
// count and the insert happen under the owner's lock: a second create of
// the same owner counts only once the first has committed or rolled back.
// Creates of different owners do not wait for each other (on PostgreSQL;
// SQLite serializes every write anyway).
func CreateItem(ctx context.Context, begin BeginItems, it store.Item, maxPerOwner int) error {
	if maxPerOwner < 1 {
		// Fail closed: a zero quota from a forgotten setting would
		// otherwise read as "no limit" somewhere.
		return fmt.Errorf("create item %q: quota %d is below 1", it.ID, maxPerOwner)
	}
	if err := store.ValidateItemName(it.Name); err != nil {
		return fmt.Errorf("create item %q: %w", it.ID, err)
	}
	err := inTx(ctx, begin, func(tx ItemTx) error {
		if err := tx.LockOwner(ctx, it.Owner); err != nil {
			return fmt.Errorf("lock owner: %w", err)
		}
		n, err := tx.CountItems(ctx, it.Owner, maxPerOwner)
		if err != nil {
			return fmt.Errorf("count items: %w", err)
		}
		if n >= maxPerOwner {
			return fmt.Errorf("owner has %d items, the most allowed: %w", n, store.ErrQuotaExceeded)
		}
		return tx.InsertItem(ctx, it)
	})
	if err != nil {
		return fmt.Errorf("create item %q: %w", it.ID, err)
	}
	return nil
}

// CheckPageLimit refuses a ListItems limit outside 1 to store.MaxItemsPage.
func CheckPageLimit(limit int) error {
	if limit < 1 || limit > store.MaxItemsPage {
		return fmt.Errorf("list items: limit %d is outside 1 to %d", limit, store.MaxItemsPage)
	}
	return nil
}
