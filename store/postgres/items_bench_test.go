package postgres

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/example/authsvc/internal/testkit"
	"github.com/example/authsvc/store"
)

// itemIndexes are the indexes the item reads can be served by, each made
// in a schema of its own so that one run compares them: the page index of
// migration items/00001, and the same index carrying name too, so that a
// page can be an index-only scan.
var itemIndexes = []struct{ name, create string }{
	{"page index", `CREATE INDEX bench_items_page ON items (owner, created_at DESC, id DESC)`},
	{"covering index", `CREATE INDEX bench_items_page ON items (owner, created_at DESC, id DESC) INCLUDE (name)`},
}

// benchOwner has benchOwnerItems items among those of 20 other owners.
const (
	benchOwner      = "user:alice"
	benchOwnerItems = 1000
)

// openBenchItems opens an item store in a fresh schema whose only index on
// items besides the primary key is create, filled with 11,000 items and
// vacuumed, as autovacuum leaves a table that is mostly inserted into (an
// index-only scan reads the heap for pages not known all-visible).
func openBenchItems(b *testing.B, create string) *ItemDB {
	b.Helper()
	ctx := b.Context()
	db := openWith(b, OpenItems, freshDSN(b))
	rows, err := db.pool.Query(ctx, `
		SELECT indexname FROM pg_indexes
		WHERE schemaname = current_schema() AND tablename = 'items' AND indexname <> 'items_pkey'`)
	if err != nil {
		b.Fatal(err)
	}
	indexes, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		b.Fatal(err)
	}
	for _, name := range indexes {
		if _, err := db.pool.Exec(ctx, `DROP INDEX "`+name+`"`); err != nil {
			b.Fatal(err)
		}
	}
	for _, sql := range []string{create, `
		INSERT INTO items (id, owner, name, created_at)
		SELECT format('item-%s', lpad(i::text, 8, '0')),
		       CASE WHEN i % 11 = 0 THEN $1 ELSE format('user:other%s', lpad((i % 20)::text, 2, '0')) END,
		       format('a thing to remember, number %s', i * 7919),
		       $2::timestamptz + i * interval '1 millisecond'
		FROM generate_series(0, 10999) AS i`,
		`VACUUM ANALYZE items`,
	} {
		var args []any
		if strings.Contains(sql, "$1") {
			args = []any{benchOwner, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
		}
		if _, err := db.pool.Exec(ctx, sql, args...); err != nil {
			b.Fatal(err)
		}
	}
	return db
}

// BenchmarkItemReads compares the item reads on the page index and on the
// covering index, paired in one run: the first and a middle page of 51
// items, and one item. "x-page-index" is the covering index's time as a
// ratio to the page index's; ns/op and allocs/op are those of an
// iteration, four reads.
func BenchmarkItemReads(b *testing.B) {
	const limit = 51
	// Two databases of each, built alike: see testkit.Paired.
	dbs := make([][]*ItemDB, len(itemIndexes))
	for i, index := range itemIndexes {
		dbs[i] = []*ItemDB{openBenchItems(b, index.create), openBenchItems(b, index.create)}
	}
	// Every database has served a whole list (and so has its connection
	// and statements) before the timing starts.
	var page []store.Item
	for _, side := range dbs {
		for _, db := range side {
			var err error
			page, err = db.ListItems(b.Context(), benchOwner, nil, store.MaxItemsPage)
			if err != nil || len(page) != benchOwnerItems {
				b.Fatal(len(page), err)
			}
		}
	}
	middle := page[benchOwnerItems/2].Cursor()

	reads := []struct {
		name string
		read func(ctx context.Context, db *ItemDB) error
	}{
		{"first page", func(ctx context.Context, db *ItemDB) error {
			items, err := db.ListItems(ctx, benchOwner, nil, limit)
			if err == nil && len(items) != limit {
				return fmt.Errorf("%d items", len(items))
			}
			return err
		}},
		{"middle page", func(ctx context.Context, db *ItemDB) error {
			items, err := db.ListItems(ctx, benchOwner, &middle, limit)
			if err == nil && len(items) != limit {
				return fmt.Errorf("%d items", len(items))
			}
			return err
		}},
		{"one item", func(ctx context.Context, db *ItemDB) error {
			_, err := db.GetItem(ctx, benchOwner, middle.ID)
			return err
		}},
	}
	for _, read := range reads {
		b.Run(read.name, func(b *testing.B) {
			ctx := b.Context()
			sides := make([]testkit.Pair, len(itemIndexes))
			for i, index := range itemIndexes {
				sides[i].Name = strings.ReplaceAll(index.name, " ", "-")
				for _, db := range dbs[i] {
					sides[i].Instances = append(sides[i].Instances, func() error { return read.read(ctx, db) })
				}
			}
			testkit.Paired(b, "x-page-index", sides[0], sides[1])
		})
	}
}

// BenchmarkItemPageExecMode shows what pgx's statement cache saves on the
// page query: by default (QueryExecModeCacheStatement, kept by this
// package) each pooled connection prepares a query the first time it runs
// it and reuses the prepared statement after; QueryExecModeExec parses and
// plans it every time. Paired in one run; "x-cached" is the uncached
// mode's time as a ratio to the default's.
func BenchmarkItemPageExecMode(b *testing.B) {
	const limit = 51
	db := openBenchItems(b, itemIndexes[0].create)
	ctx := b.Context()
	page := func(mode pgx.QueryExecMode) func() error {
		return func() error {
			rows, err := db.pool.Query(ctx, `
				SELECT id, owner, name, created_at FROM items
				WHERE owner = $1 ORDER BY created_at DESC, id DESC LIMIT $2`, mode, benchOwner, limit)
			if err != nil {
				return err
			}
			items, err := collect(rows, scanItem)
			if err == nil && len(items) != limit {
				return fmt.Errorf("%d items", len(items))
			}
			return err
		}
	}
	testkit.Paired(b, "x-cached",
		testkit.Pair{Name: "cache-statement", Instances: []func() error{page(pgx.QueryExecModeCacheStatement)}},
		testkit.Pair{Name: "exec", Instances: []func() error{page(pgx.QueryExecModeExec)}})
}
