package sqlite

import (
	"context"
	"fmt"

	"github.com/example/authsvc/store"
)

// CreateItem inserts it; store.ErrAlreadyExists if the id is taken (by any
// owner: ids are unique across the table).
func (db *ItemDB) CreateItem(ctx context.Context, it store.Item) error {
	_, err := db.db.ExecContext(ctx, `
		INSERT INTO items (id, owner, name, created_at) VALUES (?, ?, ?, ?)`,
		it.ID, it.Owner, it.Name, micros(it.CreatedAt))
	if err != nil {
		return fmt.Errorf("create item %q: %w", it.ID, translate(err))
	}
	return nil
}

// ListItems returns owner's items, newest first.
func (db *ItemDB) ListItems(ctx context.Context, owner string) ([]store.Item, error) {
	rows, err := db.db.QueryContext(ctx, `
		SELECT id, owner, name, created_at FROM items
		WHERE owner = ? ORDER BY created_at DESC, id DESC`, owner)
	if err != nil {
		return nil, fmt.Errorf("list items: %w", err)
	}
	defer rows.Close()
	var items []store.Item
	for rows.Next() {
		it, err := scanItem(rows)
		if err != nil {
			return nil, fmt.Errorf("list items: %w", err)
		}
		items = append(items, it)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list items: %w", err)
	}
	return items, nil
}

// GetItem returns owner's item id; store.ErrNotFound if there is none or it
// is another owner's.
func (db *ItemDB) GetItem(ctx context.Context, owner, id string) (store.Item, error) {
	it, err := scanItem(db.db.QueryRowContext(ctx, `
		SELECT id, owner, name, created_at FROM items
		WHERE owner = ? AND id = ?`, owner, id))
	if err != nil {
		return store.Item{}, fmt.Errorf("get item %q: %w", id, translate(err))
	}
	return it, nil
}

// DeleteItem removes owner's item id; store.ErrNotFound if there is none or
// it is another owner's.
func (db *ItemDB) DeleteItem(ctx context.Context, owner, id string) error {
	res, err := db.db.ExecContext(ctx, `DELETE FROM items WHERE owner = ? AND id = ?`, owner, id)
	if err != nil {
		return fmt.Errorf("delete item %q: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("delete item %q: %w", id, err)
	} else if n == 0 {
		return fmt.Errorf("delete item %q: %w", id, store.ErrNotFound)
	}
	return nil
}

func scanItem(s scanner) (store.Item, error) {
	var (
		it        store.Item
		createdAt int64
	)
	if err := s.Scan(&it.ID, &it.Owner, &it.Name, &createdAt); err != nil {
		return store.Item{}, err
	}
	it.CreatedAt = fromMicros(createdAt)
	return it, nil
}
