package dbopen

import (
	"path/filepath"
	"testing"
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
