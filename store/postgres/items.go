package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/example/authsvc/store"
	"github.com/example/authsvc/store/internal/sqlflow"
)

// CreateItem is store.Items.CreateItem; the quota decision is sqlflow's.
func (db *ItemDB) CreateItem(ctx context.Context, it store.Item, maxPerOwner int) error {
	return sqlflow.CreateItem(ctx, db.begin, it, maxPerOwner)
}

// begin starts a READ COMMITTED transaction (txOptions) for package
// sqlflow: each statement after LockOwner sees what the owner's previous
// lock holder committed.
func (db *ItemDB) begin(ctx context.Context) (sqlflow.ItemTx, error) {
	tx, err := db.pool.BeginTx(ctx, txOptions)
	if err != nil {
		return nil, translate(err)
	}
	return flowTx{tx}, nil
}

// ownerLockClass is the first key of the owner locks, "item" in ASCII: the
// two-key advisory locks are a key space apart from the one-key ones
// (goose's migration lock), and this class keeps them apart from any other
// two-key use.
const ownerLockClass = 0x6974656d

// LockOwner takes a transaction-level advisory lock on the owner's hash,
// shared by every replica of the database and released at commit or
// rollback. Two owners whose hashes collide merely take turns. An advisory
// lock rather than a row lock: there is no owner table to lock a row of,
// and one that only served as a lock would need keeping in step.
func (t flowTx) LockOwner(ctx context.Context, owner string) error {
	_, err := t.tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, ownerLockClass, owner)
	return translate(err)
}

func (t flowTx) CountItems(ctx context.Context, owner string, upTo int) (int, error) {
	var n int
	err := t.tx.QueryRow(ctx, `
		SELECT count(*) FROM (SELECT 1 FROM items WHERE owner = $1 LIMIT $2) AS upto`, owner, upTo).Scan(&n)
	return n, translate(err)
}

func (t flowTx) InsertItem(ctx context.Context, it store.Item) error {
	_, err := t.tx.Exec(ctx, `
		INSERT INTO items (id, owner, name, created_at) VALUES ($1, $2, $3, $4)`,
		it.ID, it.Owner, it.Name, it.CreatedAt)
	return translate(err)
}

// ListItems is store.Items.ListItems. The row comparison walks the index
// (owner, created_at DESC, id DESC) from the cursor on.
func (db *ItemDB) ListItems(ctx context.Context, owner string, after *store.ItemCursor, limit int) ([]store.Item, error) {
	if err := sqlflow.CheckPageLimit(limit); err != nil {
		return nil, err
	}
	var (
		rows pgx.Rows
		err  error
	)
	if after == nil {
		rows, err = db.pool.Query(ctx, `
			SELECT id, owner, name, created_at FROM items
			WHERE owner = $1 ORDER BY created_at DESC, id DESC LIMIT $2`, owner, limit)
	} else {
		rows, err = db.pool.Query(ctx, `
			SELECT id, owner, name, created_at FROM items
			WHERE owner = $1 AND (created_at, id) < ($2, $3)
			ORDER BY created_at DESC, id DESC LIMIT $4`, owner, after.CreatedAt, after.ID, limit)
	}
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
