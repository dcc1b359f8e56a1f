package authserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"time"

	"github.com/example/authsvc/store"
)

// login is the one password check of the server: the password grant and
// the login page both call it, so both get the same bcrypt pool, the same
// per-source throttle, the same lockout and the same dummy comparison for
// names no user has, and an attacker flooding either gets the same
// answers. It returns the user as checked, whose version whatever it
// grants must still find (store.Versions); a refusal is an *oauthError:
// invalid_grant (errBadCredentials) for every wrong, unknown, disabled or
// locked login, 429 for a throttled source, 503 for a full pool.
func (s *server) login(ctx context.Context, src netip.Addr, clientID, username, password string) (store.User, error) {
	// A malformed name is answered as an unknown one, and never reaches
	// the store.
	if store.ValidateUsername(username) != nil {
		s.throttle.fail(src)
		return store.User{}, errBadCredentials()
	}

	// Wait for a bcrypt slot while a caller who hangs up still stops the
	// wait; nothing has been read or written yet.
	if err := s.pool.acquire(ctx, throttleKey(src), s.throttle.clean(src)); err != nil {
		if errors.Is(err, errPoolBusy) {
			return store.User{}, s.loginBusy(src)
		}
		return store.User{}, err
	}
	// The source may have used up its failures while it waited.
	if retry, blocked := s.throttle.blocked(src); blocked {
		s.pool.release()
		return store.User{}, errThrottled(retry)
	}
	// From here on the login counters change: see grant.
	user, locked, err := func() (store.User, bool, error) {
		defer s.pool.release() // even if the check panics
		return s.checkPassword(context.WithoutCancel(ctx), username, password)
	}()
	if locked {
		// Answer a locked name no sooner than a real check would, so the
		// timing does not tell that it is locked (nor that a real login
		// happened since); the wait holds no slot.
		sleepCtx(ctx, s.bcryptTime.get())
	}
	var oe *oauthError
	if errors.As(err, &oe) && oe.code == "invalid_grant" {
		s.throttle.fail(src)
		event := eventLoginFailed
		if locked {
			event = eventLoginLocked
		}
		// A name that is no user's is not written down: it is often a
		// password typed into the wrong field.
		who := []any{"username", username}
		if errors.Is(err, errNoSuchUser) {
			who = []any{"username_known", false}
		}
		s.audit(ctx, event, append([]any{"client_id", clientID}, who...)...)
	}
	if err != nil {
		return store.User{}, err
	}
	s.audit(ctx, eventLoginSucceeded, "client_id", clientID, "username", username)
	setLogUser(ctx, username)
	return user, nil
}

// refuseLoginEarly answers 503 at once when the password pool could not
// even queue a login from src: it would be refused anyway, and now costs
// no store access.
func (s *server) refuseLoginEarly(src netip.Addr) error {
	if !s.pool.mayQueue(throttleKey(src), s.throttle.clean(src)) {
		return s.loginBusy(src)
	}
	return nil
}

// loginBusy answers a login that found no password slot. The refusal
// counts as a failure of its source: a source that keeps the pool full is
// what the throttle is for, and it then queues behind sources that do not.
func (s *server) loginBusy(src netip.Addr) error {
	s.throttle.fail(src)
	return errBusy(s.cfg.PasswordQueueTimeout)
}

// checkPassword counts the attempt before spending bcrypt on it, so parallel
// guesses cannot slip past the lockout threshold, and returns the user as
// checked, whose version the issuance must still find. It runs holding a
// password-pool slot; locked reports a refusal that skipped bcrypt.
func (s *server) checkPassword(ctx context.Context, username, password string) (_ store.User, locked bool, err error) {
	user, err := s.store.GetUser(ctx, username)
	known := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return store.User{}, false, fmt.Errorf("load user: %w", err)
	}
	attempt, err := s.beginLogin(ctx, username, known)
	if err != nil {
		return store.User{}, false, fmt.Errorf("begin login: %w", err)
	}
	if !attempt.Allowed {
		return store.User{}, true, &oauthError{status: http.StatusBadRequest, code: "invalid_grant", description: errBadCredentials().description,
			cause: errors.New("username locked")}
	}
	if !known {
		s.comparePassword(s.dummyUser, password)
		e := errBadCredentials()
		e.cause = errNoSuchUser
		return store.User{}, false, e
	}
	// Compare even for a disabled user, so the answer takes the same time.
	if !s.comparePassword(user, password) || user.Disabled {
		return store.User{}, false, errBadCredentials()
	}
	if err := s.store.LoginSucceeded(ctx, username); err != nil {
		return store.User{}, false, fmt.Errorf("reset login failures: %w", err)
	}
	// A hash made at another cost is redone at the configured one, so every
	// user's check costs what the dummy comparison for unknown names costs.
	// The password is the same, so the version stays and no grant ends;
	// a change since the read wins (ErrConflict), and the rehash waits
	// for the next login.
	if user.NeedsRehash(s.cfg.BcryptCost) {
		if h, err := store.HashPassword(password, s.cfg.BcryptCost); err == nil {
			if err := s.store.RehashPassword(ctx, username, user.Version, h); err != nil {
				s.logger.WarnContext(ctx, "rehash password", "username", username, "err", err)
			}
		}
	}
	return user, false, nil
}

// comparePassword is one bcrypt comparison, timed for the refusals that
// must take as long without spending one.
func (s *server) comparePassword(u store.User, password string) bool {
	start := time.Now()
	ok := u.PasswordMatches(password)
	s.bcryptTime.observe(time.Since(start))
	return ok
}
