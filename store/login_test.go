package store

import (
	"math"
	"testing"
	"time"
)

func TestLoginPolicyValidate(t *testing.T) {
	for _, tc := range []struct {
		p     LoginPolicy
		valid bool
	}{
		{LoginPolicy{Threshold: 3, Lockout: time.Minute, MaxLockout: time.Hour}, true},
		{LoginPolicy{Threshold: 1, Lockout: time.Minute, MaxLockout: time.Minute}, true},
		{LoginPolicy{}, false},
		{LoginPolicy{Threshold: 0, Lockout: time.Minute, MaxLockout: time.Hour}, false},
		{LoginPolicy{Threshold: 3, Lockout: 0, MaxLockout: time.Hour}, false},
		{LoginPolicy{Threshold: 3, Lockout: -time.Minute, MaxLockout: time.Hour}, false},
		{LoginPolicy{Threshold: 3, Lockout: time.Hour, MaxLockout: time.Minute}, false},
	} {
		if err := tc.p.Validate(); (err == nil) != tc.valid {
			t.Errorf("%+v.Validate() = %v, want valid %v", tc.p, err, tc.valid)
		}
	}
}

func TestLockoutAfter(t *testing.T) {
	p := LoginPolicy{Threshold: 3, Lockout: time.Minute, MaxLockout: time.Hour}
	for _, tc := range []struct {
		previous int
		want     time.Duration
	}{
		{0, time.Minute},
		{1, 2 * time.Minute},
		{2, 4 * time.Minute},
		{5, 32 * time.Minute},
		{6, time.Hour}, // 64m, capped
		{7, time.Hour},
		{64, time.Hour},   // a plain shift would have wrapped to zero
		{1000, time.Hour}, // and to anything at all
		{math.MaxInt, time.Hour},
	} {
		if got := p.lockoutAfter(tc.previous); got != tc.want {
			t.Errorf("lockoutAfter(%d) = %v, want %v", tc.previous, got, tc.want)
		}
	}

	// A cap near the largest Duration must not overflow while doubling.
	huge := LoginPolicy{Threshold: 1, Lockout: time.Hour, MaxLockout: math.MaxInt64}
	for previous := range 100 {
		if got := huge.lockoutAfter(previous); got < time.Hour {
			t.Fatalf("lockoutAfter(%d) with MaxLockout = MaxInt64: %v, want at least 1h", previous, got)
		}
	}
	if got := huge.lockoutAfter(100); got != math.MaxInt64 {
		t.Errorf("lockoutAfter(100) = %v, want the cap", got)
	}
}

func TestAttempt(t *testing.T) {
	p := LoginPolicy{Threshold: 3, Lockout: time.Minute, MaxLockout: time.Hour}
	now := time.Date(2031, time.March, 4, 5, 6, 7, 0, time.UTC)

	var s LoginState
	for i := 1; i <= 2; i++ {
		var a LoginAttempt
		s, a = p.Attempt(s, now)
		if a != (LoginAttempt{Allowed: true}) || s != (LoginState{Failures: i}) {
			t.Fatalf("attempt %d: %+v, %+v; want allowed, not locking, with %d failures", i, s, a, i)
		}
	}

	// The third reaches the threshold: allowed, and it locks for 1m.
	s, a := p.Attempt(s, now)
	want := LoginState{Failures: 0, Lockouts: 1, LockedUntil: now.Add(time.Minute)}
	if a != (LoginAttempt{Allowed: true, Locked: true}) || s != want {
		t.Fatalf("attempt at threshold: %+v, %+v; want allowed, locking, and %+v", s, a, want)
	}

	// Locked: refused, nothing counted, lock not extended, up to its end.
	for _, at := range []time.Time{now, now.Add(time.Minute - time.Microsecond)} {
		got, a := p.Attempt(s, at)
		if a != (LoginAttempt{}) || got != s {
			t.Errorf("attempt at %v while locked: %+v, %+v; want refused and unchanged", at, got, a)
		}
	}

	// The lock ends exactly at its end time; the count starts afresh, and
	// the next lock lasts twice as long.
	at := now.Add(time.Minute)
	for i := 1; i <= 2; i++ {
		s, a = p.Attempt(s, at)
		if !a.Allowed || a.Locked || s.Failures != i || s.Lockouts != 1 {
			t.Fatalf("attempt %d after the lock: %+v, %+v; want allowed with %d failures", i, s, a, i)
		}
	}
	s, a = p.Attempt(s, at)
	want = LoginState{Failures: 0, Lockouts: 2, LockedUntil: at.Add(2 * time.Minute)}
	if !a.Allowed || !a.Locked || s != want {
		t.Errorf("second lock: %+v, %+v; want allowed, locking, and %+v", s, a, want)
	}
}

func TestAttemptThresholdOne(t *testing.T) {
	p := LoginPolicy{Threshold: 1, Lockout: time.Minute, MaxLockout: time.Hour}
	now := time.Date(2031, time.March, 4, 5, 6, 7, 0, time.UTC)
	s, a := p.Attempt(LoginState{Lockouts: 100}, now)
	want := LoginState{Lockouts: 101, LockedUntil: now.Add(time.Hour)}
	if !a.Allowed || !a.Locked || s != want {
		t.Errorf("Attempt = %+v, %+v; want allowed, locking, and %+v", s, a, want)
	}
}
