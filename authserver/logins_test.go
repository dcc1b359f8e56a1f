package authserver

import (
	"fmt"
	"testing"
	"time"

	"github.com/example/authsvc/store"
)

// Attempts at names no user has follow the store's rule exactly: the same
// threshold locks them, for the same time, and a locked name counts nothing.
func TestUnknownLoginsFollowTheRule(t *testing.T) {
	p := store.LoginPolicy{Threshold: 3, Lockout: time.Minute, MaxLockout: time.Hour}
	now := time.Date(2031, time.March, 4, 5, 6, 7, 0, time.UTC)
	l := newUnknownLogins(10)
	for i := 1; i <= 3; i++ {
		a, err := l.begin("nobody", now, p)
		if err != nil || !a.Allowed || a.Locked != (i == 3) {
			t.Fatalf("attempt %d: %+v, %v; want allowed, locking at the third", i, a, err)
		}
	}
	if a, _ := l.begin("nobody", now.Add(time.Minute-time.Microsecond), p); a.Allowed {
		t.Fatal("allowed while locked")
	}
	if a, _ := l.begin("somebody-else", now, p); !a.Allowed || a.Locked {
		t.Fatalf("another name: %+v, want allowed and counted apart", a)
	}
	if a, _ := l.begin("nobody", now.Add(time.Minute), p); !a.Allowed {
		t.Fatal("refused once the lock ended")
	}
	if _, err := l.begin("nobody", now, store.LoginPolicy{}); err == nil {
		t.Fatal("a policy that never locks was accepted")
	}
}

// A flood of made-up names cannot grow the memory past the bound: the
// oldest are forgotten.
func TestUnknownLoginsAreBounded(t *testing.T) {
	const capacity = 50
	p := store.LoginPolicy{Threshold: 2, Lockout: time.Minute, MaxLockout: time.Hour}
	now := time.Now()
	l := newUnknownLogins(capacity)
	if _, err := l.begin("first", now, p); err != nil {
		t.Fatal(err)
	}
	if l.len() != 1 {
		t.Fatalf("%d names counted after one attempt, want 1", l.len())
	}
	for i := range 10 * capacity {
		if _, err := l.begin(fmt.Sprint("made-up-", i), now, p); err != nil {
			t.Fatal(err)
		}
	}
	if n := l.len(); n != capacity {
		t.Errorf("%d names counted after a flood, want the bound %d", n, capacity)
	}
	// "first" was evicted: its count starts again.
	if a, _ := l.begin("first", now, p); !a.Allowed || a.Locked {
		t.Errorf("the evicted name: %+v, want a fresh count", a)
	}
}
