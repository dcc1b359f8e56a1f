package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/example/authsvc/internal/testkit"
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
	// Every page in the database file, none left in the WAL: the databases
	// compared are read alike.
	if _, err := sqldb.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		b.Fatal(err)
	}
	return db
}

// BenchmarkItemReads compares the item reads of the resource service on
// the page index and on the covering index, paired in one run: the first
// and a middle page of 51 items (the default page of 50 and the one that
// tells whether there is a next), and one item. "x-page-index" is the
// covering index's time as a ratio to the page index's; ns/op and
// allocs/op are those of an iteration, four reads (the plans allocate
// alike).
func BenchmarkItemReads(b *testing.B) {
	const limit = 51
	// Two databases of each, built alike: see testkit.Paired.
	dbs := make([][]*sqlite.ItemDB, len(itemIndexes))
	for i, index := range itemIndexes {
		dbs[i] = []*sqlite.ItemDB{openBenchItems(b, index.create), openBenchItems(b, index.create)}
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
	testkit.Paired(b, "x-prepared",
		testkit.Pair{Name: "prepared", Instances: []func() error{prepared}},
		testkit.Pair{Name: "unprepared", Instances: []func() error{unprepared}})
}

// BenchmarkItemPageIndexedBy compares the two indexes on one database
// holding both, each named by INDEXED BY in a statement prepared once:
// the same file, connection and statement path, only the plan differs.
// "x-page-index" is the covering index's time as a ratio to the page
// index's.
func BenchmarkItemPageIndexedBy(b *testing.B) {
	const limit = 51
	ctx := context.WithoutCancel(b.Context()) // as ItemDB's reads run
	db := openBenchItems(b, itemIndexes[0].create)
	sqldb := db.SQLDB()
	if _, err := sqldb.ExecContext(ctx, strings.Replace(itemIndexes[1].create, "bench_items_page", "bench_items_covering", 1)); err != nil {
		b.Fatal(err)
	}
	page := func(index string) func() error {
		stmt, err := sqldb.PrepareContext(ctx, `
			SELECT id, owner, name, created_at FROM items INDEXED BY `+index+`
			WHERE owner = ? ORDER BY created_at DESC, id DESC LIMIT ?`)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { stmt.Close() })
		return func() error {
			rows, err := stmt.QueryContext(ctx, benchOwner, limit)
			if err != nil {
				return err
			}
			n := 0
			for rows.Next() {
				var row struct {
					it        store.Item
					createdAt int64
				}
				if err := rows.Scan(&row.it.ID, &row.it.Owner, &row.it.Name, &row.createdAt); err != nil {
					rows.Close()
					return err
				}
				n++
			}
			if err := rows.Close(); err != nil {
				return err
			}
			if n != limit {
				return fmt.Errorf("%d items", n)
			}
			return nil
		}
	}
	pageIndex, covering := page("bench_items_page"), page("bench_items_covering")
	testkit.Paired(b, "x-page-index",
		testkit.Pair{Name: "page-index", Instances: []func() error{pageIndex, pageIndex}},
		testkit.Pair{Name: "covering-index", Instances: []func() error{covering, covering}})
}
