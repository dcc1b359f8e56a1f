package sqlite

import (
	"path/filepath"
	"strings"
	"testing"
)

// The item pages are read from the covering index alone (migration
// items/00003), and an item by its primary key: a plan that looked each
// item of a page up in the table again, or scanned, would pass every other
// test and only be slower.
func TestItemQueryPlans(t *testing.T) {
	db, err := OpenItems(t.Context(), filepath.Join(t.TempDir(), "items.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for _, tc := range []struct {
		name, query string
		args        []any
		want        string
	}{
		{"first page", selectItemsFirstPage, []any{"o", 51},
			"SEARCH items USING COVERING INDEX items_owner_created_at_id_name (owner=?)"},
		{"next page", selectItemsNextPage, []any{"o", 1, "i", 51},
			"SEARCH items USING COVERING INDEX items_owner_created_at_id_name (owner=? AND (created_at,id)<(?,?))"},
		{"one item", selectItem, []any{"o", "i"},
			"SEARCH items USING INDEX sqlite_autoindex_items_1 (id=?)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rows, err := db.db.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+tc.query, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var plan []string
			for rows.Next() {
				var id, parent, unused int
				var detail string
				if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, detail)
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(plan, "; "); got != tc.want {
				t.Errorf("plan %q, want %q", got, tc.want)
			}
		})
	}
}
