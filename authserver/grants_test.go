package authserver

import (
	"maps"
	"slices"
	"testing"

	"github.com/example/authsvc/store"
)

// The grants the token endpoint dispatches on are exactly the grant types a
// client may be allowed: a name in one list and not the other is either a
// grant nobody can use or an allowed grant that answers
// unsupported_grant_type.
func TestGrantRegistryMatchesGrantTypes(t *testing.T) {
	registered := slices.Sorted(maps.Keys(newGrants(&server{})))
	known := slices.Sorted(slices.Values(store.GrantTypes))
	if len(registered) == 0 || !slices.Equal(registered, known) {
		t.Fatalf("registered grants %v, store.GrantTypes %v: want the same", registered, known)
	}
}
