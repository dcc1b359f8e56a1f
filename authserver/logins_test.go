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
	if unknownLoginKey("alice") != unknownLoginKey("alice") || !strings.HasPrefix(unknownLoginKey("alice"), "\x01") {
		t.Error("the key of a name is not stable")
	}
}
