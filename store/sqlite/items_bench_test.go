package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/example/authsvc/store"
	"github.com/example/authsvc/store/sqlite"
)

// itemIndexes are the indexes the item reads can be served by, each made
// on a database of its own so that one run compares them: the page index
// of migration items/00002, and the same index covering name too, so
// that a page is read from the index alone.
var itemIndexes = []struct{ name, create string }{
	{"page index", `CREATE INDEX bench_items_page ON items (owner, created_at DESC, id DESC)`},
	{"covering index", `CREATE INDEX bench_items_page ON items (owner, created_at DESC, id DESC, name)`},
}

// benchOwner has benchOwnerItems items among those of 20 other owners.
const (
	benchOwner      = "user:alice"
	benchOwnerItems = 1000
)

// openBenchItems opens a fresh item database whose only index on items
// besides the primary key is create, filled with 11,000 items.
func openBenchItems(b *testing.B, create string) *sqlite.ItemDB {
	b.Helper()
	ctx := b.Context()
	db, err := sqlite.OpenItems(ctx, filepath.Join(b.TempDir(), "items.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	sqldb := db.SQLDB()
	rows, err := sqldb.QueryContext(ctx, `SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'items' AND sql IS NOT NULL`)
	if err != nil {
		b.Fatal(err)
	}
	var indexes []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			b.Fatal(err)
		}
		indexes = append(indexes, name)
	}
	if err := rows.Close(); err != nil {
		b.Fatal(err)
	}
	for _, name := range indexes {
		if _, err := sqldb.ExecContext(ctx, `DROP INDEX "`+name+`"`); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := sqldb.ExecContext(ctx, create); err != nil {
		b.Fatal(err)
	}
	// Names of 20 to 40 bytes, owners' items interleaved in time.
	if _, err := sqldb.ExecContext(ctx, `
		WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 10999)
		INSERT INTO items (id, owner, name, created_at)
		SELECT printf('item-%08d', i),
		       CASE WHEN i % 11 = 0 THEN ? ELSE printf('user:other%02d', i % 20) END,
		       printf('a thing to remember, number %d', i * 7919),
		       ? + i * 1000
		FROM n`, benchOwner, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()); err != nil {
		b.Fatal(err)
	}
	// Every page in the database file, none left in the WAL, so that reads
	// of both databases take the same path (they had differed by 20 % on
	// a lookup by primary key, where their plans are the same).
	if _, err := sqldb.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		b.Fatal(err)
	}
	return db
}

// paired runs each of reads once per iteration, taking turns as to which
// goes first, and reports each one's ns per call (unit "ns/"+name) and the
// second's as a ratio to the first (ratio). Pairing them in one loop keeps
// the comparison fair on a machine whose load changes during the run.
func paired(b *testing.B, ratio string, names []string, reads []func() error) {
	b.Helper()
	elapsed := make([]time.Duration, len(reads))
	b.ReportAllocs()
	turn := 0
	for b.Loop() {
		turn++
		for k := range reads {
			i := k
			if turn%2 == 0 {
				i = len(reads) - 1 - k
			}
			start := time.Now()
			if err := reads[i](); err != nil {
				b.Fatal(err)
			}
			elapsed[i] += time.Since(start)
		}
	}
	for i, name := range names {
		b.ReportMetric(float64(elapsed[i].Nanoseconds())/float64(b.N), "ns/"+name)
	}
	b.ReportMetric(float64(elapsed[1])/float64(elapsed[0]), ratio)
}

// BenchmarkItemReads compares the item reads of the resource service on
// the page index and on the covering index, paired in one run: the first
// and a middle page of 51 items (the default page of 50 and the one that
// tells whether there is a next), and one item. ns/op is the pair's;
// "x-page-index" is the covering index's time as a ratio to the page
// index's. allocs/op is the pair's too: the two plans allocate alike.
func BenchmarkItemReads(b *testing.B) {
	const limit = 51
	dbs := make([]*sqlite.ItemDB, len(itemIndexes))
	names := make([]string, len(itemIndexes))
	for i, index := range itemIndexes {
		dbs[i] = openBenchItems(b, index.create)
		names[i] = strings.ReplaceAll(index.name, " ", "-")
	}
	page, err := dbs[0].ListItems(b.Context(), benchOwner, nil, store.MaxItemsPage)
	if err != nil || len(page) != benchOwnerItems {
		b.Fatal(len(page), err)
	}
	middle := page[benchOwnerItems/2].Cursor()

	reads := []struct {
		name string
		read func(ctx context.Context, db *sqlite.ItemDB) error
	}{
		{"first page", func(ctx context.Context, db *sqlite.ItemDB) error {
			items, err := db.ListItems(ctx, benchOwner, nil, limit)
			if err == nil && len(items) != limit {
				return fmt.Errorf("%d items", len(items))
			}
			return err
		}},
		{"middle page", func(ctx context.Context, db *sqlite.ItemDB) error {
			items, err := db.ListItems(ctx, benchOwner, &middle, limit)
			if err == nil && len(items) != limit {
				return fmt.Errorf("%d items", len(items))
			}
			return err
		}},
		{"one item", func(ctx context.Context, db *sqlite.ItemDB) error {
			_, err := db.GetItem(ctx, benchOwner, middle.ID)
			return err
		}},
	}
	for _, read := range reads {
		b.Run(read.name, func(b *testing.B) {
			ctx := b.Context()
			fns := make([]func() error, len(dbs))
			for i, db := range dbs {
				fns[i] = func() error { return read.read(ctx, db) }
			}
			paired(b, "x-page-index", names, fns)
		})
	}
}

// BenchmarkItemPagePrepared shows what preparing the page query once
// saves (ItemDB prepares its reads when it opens): modernc's driver keeps
// a statement's compiled program only as long as the *sql.Stmt lives, so
// a query run through *sql.DB is parsed and planned every time. The two
// are paired in one run; "x-prepared" is the unprepared query's time as a
// ratio to the prepared one's.
func BenchmarkItemPagePrepared(b *testing.B) {
	const limit = 51
	db := openBenchItems(b, itemIndexes[0].create)
	ctx := context.WithoutCancel(b.Context()) // as ItemDB's reads run
	sqldb := db.SQLDB()
	prepared := func() error {
		items, err := db.ListItems(ctx, benchOwner, nil, limit)
		if err == nil && len(items) != limit {
			return fmt.Errorf("%d items", len(items))
		}
		return err
	}
	unprepared := func() error {
		rows, err := sqldb.QueryContext(ctx, `
			SELECT id, owner, name, created_at FROM items
			WHERE owner = ? ORDER BY created_at DESC, id DESC LIMIT ?`, benchOwner, limit)
		if err != nil {
			return err
		}
		var items []store.Item
		for rows.Next() {
			var row struct {
				it        store.Item
				createdAt int64
			}
			if err := rows.Scan(&row.it.ID, &row.it.Owner, &row.it.Name, &row.createdAt); err != nil {
				rows.Close()
				return err
			}
			row.it.CreatedAt = time.UnixMicro(row.createdAt).UTC()
			items = append(items, row.it)
		}
		if err := rows.Close(); err != nil {
			return err
		}
		if len(items) != limit {
			return fmt.Errorf("%d items", len(items))
		}
		return nil
	}
	paired(b, "x-prepared", []string{"prepared", "unprepared"}, []func() error{prepared, unprepared})
}
