package dbopen

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/example/authsvc/store"
)

func TestOpenEachService(t *testing.T) {
	dir := t.TempDir()
	auth, err := OpenAuth(t.Context(), "sqlite:"+filepath.Join(dir, "auth.db"))
	if err != nil {
		t.Fatalf("OpenAuth: %v", err)
	}
	defer auth.Close()
	items, err := OpenItems(t.Context(), "sqlite:"+filepath.Join(dir, "items.db"))
	if err != nil {
		t.Fatalf("OpenItems: %v", err)
	}
	defer items.Close()
	if err := auth.Ping(t.Context()); err != nil {
		t.Errorf("auth Ping: %v", err)
	}
	if err := items.Ping(t.Context()); err != nil {
		t.Errorf("items Ping: %v", err)
	}
}

// TestFailedOpenReturnsNil: a failed open must not hand back a nil pointer
// inside a non-nil interface, which a caller's `st != nil` would miss.
func TestFailedOpenReturnsNil(t *testing.T) {
	bad := "sqlite:" + filepath.Join(t.TempDir(), "x.db?mode=ro") // refused by the backend
	if st, err := OpenAuth(t.Context(), bad); err == nil || st != nil {
		t.Errorf("OpenAuth(%q) = %v, %v; want nil and an error", bad, st, err)
	}
	if st, err := OpenItems(t.Context(), bad); err == nil || st != nil {
		t.Errorf("OpenItems(%q) = %v, %v; want nil and an error", bad, st, err)
	}
}

// Without auto-migration, the error names the command that fixes it.
func TestOutdatedSchemaNamesTheFix(t *testing.T) {
	dir := t.TempDir()
	_, err := OpenAuth(t.Context(), "sqlite:"+filepath.Join(dir, "auth.db"), AutoMigrate(false)...)
	if !errors.Is(err, store.ErrSchemaOutdated) || !strings.Contains(err.Error(), `"authctl migrate up"`) {
		t.Errorf("auth: %v", err)
	}
	_, err = OpenItems(t.Context(), "sqlite:"+filepath.Join(dir, "items.db"), AutoMigrate(false)...)
	if !errors.Is(err, store.ErrSchemaOutdated) || !strings.Contains(err.Error(), `"authctl migrate up --schema items"`) {
		t.Errorf("items: %v", err)
	}
	if _, err := Migrate(t.Context(), "sqlite:"+filepath.Join(dir, "items.db"), store.ItemsSchema); err != nil {
		t.Fatal(err)
	}
	st, err := OpenItems(t.Context(), "sqlite:"+filepath.Join(dir, "items.db"), AutoMigrate(false)...)
	if err != nil {
		t.Fatalf("items after Migrate: %v", err)
	}
	st.Close()
}
