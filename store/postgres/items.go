package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/example/authsvc/store"
)

// CreateItem inserts it; store.ErrAlreadyExists if the id is taken (by any
// owner: ids are unique across the table).
func (db *ItemDB) CreateItem(ctx context.Context, it store.Item) error {
	_, err := db.pool.Exec(ctx, `
		INSERT INTO items (id, owner, name, created_at) VALUES ($1, $2, $3, $4)`,
		it.ID, it.Owner, it.Name, it.CreatedAt)
	if err != nil {
		return fmt.Errorf("create item %q: %w", it.ID, translate(err))
	}
	return nil
}

// ListItems returns owner's items, newest first (ties by id, descending).
func (db *ItemDB) ListItems(ctx context.Context, owner string) ([]store.Item, error) {
	rows, err := db.pool.Query(ctx, `
		SELECT id, owner, name, created_at FROM items
		WHERE owner = $1 ORDER BY created_at DESC, id DESC`, owner)
	if err != nil {
		return nil, fmt.Errorf("list items: %w", translate(err))
	}
	items, err := collect(rows, scanItem)
	if err != nil {
		return nil, fmt.Errorf("list items: %w", translate(err))
	}
	return items, nil
}

// GetItem returns owner's item id; store.ErrNotFound if there is none or it
// is another owner's.
func (db *ItemDB) GetItem(ctx context.Context, owner, id string) (store.Item, error) {
	it, err := scanItem(db.pool.QueryRow(ctx, `
		SELECT id, owner, name, created_at FROM items
		WHERE owner = $1 AND id = $2`, owner, id))
	if err != nil {
		return store.Item{}, fmt.Errorf("get item %q: %w", id, translate(err))
	}
	return it, nil
}

// DeleteItem removes owner's item id; store.ErrNotFound if there is none or
// it is another owner's.
func (db *ItemDB) DeleteItem(ctx context.Context, owner, id string) error {
	tag, err := db.pool.Exec(ctx, `DELETE FROM items WHERE owner = $1 AND id = $2`, owner, id)
	if err != nil {
		return fmt.Errorf("delete item %q: %w", id, translate(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("delete item %q: %w", id, store.ErrNotFound)
	}
	return nil
}

func scanItem(row pgx.Row) (store.Item, error) {
	var it store.Item
	if err := row.Scan(&it.ID, &it.Owner, &it.Name, &it.CreatedAt); err != nil {
		return store.Item{}, err
	}
	it.CreatedAt = it.CreatedAt.UTC()
	return it, nil
}
