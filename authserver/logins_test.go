package authserver

import (
	"fmt"
	"strings"
	"testing"

	"github.com/example/authsvc/store"
)

// The records of names no user has are bounded by the number of buckets,
// and none can be a user's record.
func TestUnknownLoginKeys(t *testing.T) {
	keys := map[string]bool{}
	for i := range 4 * unknownLoginBuckets {
		k := unknownLoginKey(fmt.Sprint("made-up-", i))
		if store.ValidateUsername(k) == nil {
			t.Fatalf("key %q is a valid username", k)
		}
		keys[k] = true
	}
	if len(keys) > unknownLoginBuckets || len(keys) < unknownLoginBuckets*9/10 {
		t.Errorf("%d keys for %d names, want about %d (the bound)", len(keys), 4*unknownLoginBuckets, unknownLoginBuckets)
	}
	// A control character, then four hex digits: 65,536 keys at most.
	if got, want := unknownLoginKey("alice"), "\x01unknown-2bd8"; !strings.HasPrefix(got, "\x01unknown-") || len(got) != len(want) {
		t.Errorf("key %q, want the shape %q", got, want)
	}
}
