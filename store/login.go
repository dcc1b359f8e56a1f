package store

import (
	"fmt"
	"time"
)

// StaleLoginAge is how long after its last update an unlocked login record
// is kept: DeleteExpired may remove it after that, forgetting its failure
// count and lockout history as LoginSucceeded does.
const StaleLoginAge = 24 * time.Hour

// LoginState is one username's record of password attempts.
type LoginState struct {
	// Failures counts attempts since the last lock or success.
	Failures int
	// Lockouts counts locks so far; each doubles the next one.
	Lockouts int
	// LockedUntil is the end of the current or last lock; zero if never locked.
	LockedUntil time.Time
}

// Validate reports a policy that would never lock: backends refuse every
// attempt under it rather than allow them all.
func (p LoginPolicy) Validate() error {
	if p.Threshold < 1 || p.Lockout <= 0 || p.MaxLockout < p.Lockout {
		return fmt.Errorf("invalid login policy %+v", p)
	}
	return nil
}

// Attempt decides one password attempt at now against the recorded state s.
// While s is locked at now it returns allowed false and s unchanged: refused
// attempts count nothing and do not extend the lock. Otherwise the attempt is
// counted as a failure before the password is checked (so parallel guesses
// cannot slip past the threshold), and the one that reaches p.Threshold locks
// the username from now for min(p.Lockout << s.Lockouts, p.MaxLockout) and
// starts a new count; that attempt is itself still allowed.
//
// The caller must have checked p with Validate.
func (p LoginPolicy) Attempt(s LoginState, now time.Time) (next LoginState, a LoginAttempt) {
	if s.LockedUntil.After(now) {
		return s, LoginAttempt{}
	}
	a.Allowed = true
	s.Failures++
	if s.Failures >= p.Threshold {
		s.LockedUntil = now.Add(p.lockoutAfter(s.Lockouts))
		s.Lockouts++
		s.Failures = 0
		a.Locked = true
	}
	return s, a
}

// lockoutAfter returns min(p.Lockout << previous, p.MaxLockout) without the
// overflow of a plain shift, which after enough lockouts would wrap to zero
// or a negative duration and so unlock the username.
func (p LoginPolicy) lockoutAfter(previous int) time.Duration {
	d := p.Lockout
	for i := 0; i < previous && d < p.MaxLockout; i++ {
		if d > p.MaxLockout/2 {
			return p.MaxLockout
		}
		d *= 2
	}
	return min(d, p.MaxLockout)
}

// LoginAttempt is the decision on one password attempt (see
// LoginPolicy.Attempt).
type LoginAttempt struct {
	// Allowed: the password may be checked; the attempt was counted.
	Allowed bool
	// Locked: this attempt reached the threshold and locked the name (it
	// is itself still allowed). Metrics count lock starts from it.
	Locked bool
}
