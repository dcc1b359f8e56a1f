package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/example/authsvc/store"
	"github.com/example/authsvc/store/internal/sqlflow"
)

// CreateItem is store.Items.CreateItem; the quota decision is sqlflow's.
func (db *ItemDB) CreateItem(ctx context.Context, it store.Item, maxPerOwner int) error {
	return sqlflow.CreateItem(ctx, db.begin, it, maxPerOwner)
}

// begin starts a write transaction for package sqlflow (see beginQueued).
func (db *ItemDB) begin(ctx context.Context) (sqlflow.ItemTx, error) {
	tx, err := db.beginQueued(ctx)
	if err != nil {
		return nil, err // not a typed nil inside the interface
	}
	return tx, nil
}

// queuedTx is a write transaction that gives db.writer back when it ends;
// AuthDB's transactions are queuedTx too.
type queuedTx struct {
	flowTx
	release func()
	done    bool
}

func (t *queuedTx) Commit(ctx context.Context) error {
	err := t.flowTx.Commit(ctx)
	t.end()
	return err
}

// Rollback after Commit is a no-op, as sqlflow's deferred call expects.
func (t *queuedTx) Rollback(ctx context.Context) error {
	err := t.flowTx.Rollback(ctx)
	t.end()
	return err
}

func (t *queuedTx) end() {
	if !t.done {
		t.done = true
		t.release()
	}
}

// LockOwner has nothing to do: the transaction holds the write lock of the
// whole database already.
func (flowTx) LockOwner(context.Context, string) error { return nil }

func (t flowTx) CountItems(ctx context.Context, owner string, upTo int) (int, error) {
	var n int
	err := t.tx.QueryRowContext(ctx, `
		SELECT count(*) FROM (SELECT 1 FROM items WHERE owner = ? LIMIT ?)`, owner, upTo).Scan(&n)
	return n, err
}

func (t flowTx) InsertItem(ctx context.Context, it store.Item) error {
	_, err := t.tx.ExecContext(ctx, `
		INSERT INTO items (id, owner, name, created_at) VALUES (?, ?, ?, ?)`,
		it.ID, it.Owner, it.Name, micros(it.CreatedAt))
	return translate(err)
}

// ListItems is store.Items.ListItems.
func (db *ItemDB) ListItems(ctx context.Context, owner string, after *store.ItemCursor, limit int) ([]store.Item, error) {
	if err := sqlflow.CheckPageLimit(limit); err != nil {
		return nil, err
	}
	var (
		rows *sql.Rows
		err  error
	)
	// A row value comparison walks the index (owner, created_at DESC, id
	// DESC, name) from the cursor on; the index covers the page, so no
	// item is looked up in the table (migration items/00003).
	if after == nil {
		rows, err = db.query(ctx, selectItemsFirstPage, owner, limit)
	} else {
		rows, err = db.query(ctx, selectItemsNextPage, owner, micros(after.CreatedAt), after.ID, limit)
	}
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
	it, err := scanOneItem(db.queryRow(ctx, selectItem, owner, id))
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

const (
	selectItemsFirstPage = `
		SELECT id, owner, name, created_at FROM items
		WHERE owner = ? ORDER BY created_at DESC, id DESC LIMIT ?`
	selectItemsNextPage = `
		SELECT id, owner, name, created_at FROM items
		WHERE owner = ? AND (created_at, id) < (?, ?)
		ORDER BY created_at DESC, id DESC LIMIT ?`
	selectItem = `
		SELECT id, owner, name, created_at FROM items
		WHERE owner = ? AND id = ?`
)

// itemRow is what a row of an item query is scanned into: one variable,
// so that the four destinations are one allocation, not two.
type itemRow struct {
	item      store.Item
	createdAt int64
}

func (r *itemRow) done() store.Item {
	r.item.CreatedAt = fromMicros(r.createdAt)
	return r.item
}

// scanItem scans the current row of a page. It takes *sql.Rows, not the
// scanner interface: through an interface the argument slice escapes too.
// Three allocations per item of a page became one (BenchmarkItemReads).
func scanItem(rows *sql.Rows) (store.Item, error) {
	var r itemRow
	if err := rows.Scan(&r.item.ID, &r.item.Owner, &r.item.Name, &r.createdAt); err != nil {
		return store.Item{}, err
	}
	return r.done(), nil
}

// scanOneItem is scanItem for a single-row query.
func scanOneItem(row *sql.Row) (store.Item, error) {
	var r itemRow
	if err := row.Scan(&r.item.ID, &r.item.Owner, &r.item.Name, &r.createdAt); err != nil {
		return store.Item{}, err
	}
	return r.done(), nil
}
