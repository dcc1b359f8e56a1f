package authserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"time"

	"github.com/example/authsvc/authserver/internal/issuer"
	"github.com/example/authsvc/store"
)

// passwordGrant is RFC 6749 §4.3, with the brute-force protection §4.3.2
// requires.
type passwordGrant struct{ s *server }

// errBadCredentials is the one answer for an unknown user, a wrong password,
// a disabled user and a locked user, so none can be told from another.
func errBadCredentials() *oauthError {
	return errInvalidGrant("invalid username or password")
}

// errNoSuchUser is the logged cause of a refusal for a username no user
// has; the answer is errBadCredentials all the same.
var errNoSuchUser = errors.New("no such user")

// refuseEarly answers 503 at once when the password pool could not even
// queue the request: it would be refused anyway, and now costs no store
// access.
func (g passwordGrant) refuseEarly(src netip.Addr) error {
	if !g.s.pool.mayQueue(throttleKey(src), g.s.throttle.clean(src)) {
		return g.busy(src)
	}
	return nil
}

// busy answers a request that found no password slot. The refusal counts
// as a failure of its source: a source that keeps the pool full is what
// the throttle is for, and it then queues behind sources that do not.
func (g passwordGrant) busy(src netip.Addr) error {
	g.s.throttle.fail(src)
	return errBusy(g.s.cfg.PasswordQueueTimeout)
}

func (g passwordGrant) issue(ctx context.Context, req tokenRequest) (issuer.Issued, error) {
	s := g.s
	username, password := req.form.Get("username"), req.form.Get("password")
	if username == "" || password == "" {
		return issuer.Issued{}, errInvalidRequest("username and password are required")
	}
	scope, err := grantScope(req.form.Get("scope"), req.client.Scopes)
	if err != nil {
		return issuer.Issued{}, err
	}
	// A malformed name is answered as an unknown one, and never reaches
	// the store.
	if store.ValidateUsername(username) != nil {
		s.throttle.fail(req.source)
		return issuer.Issued{}, errBadCredentials()
	}

	// Wait for a bcrypt slot while a caller who hangs up still stops the
	// wait; nothing has been read or written yet.
	if err := s.pool.acquire(ctx, throttleKey(req.source), s.throttle.clean(req.source)); err != nil {
		if errors.Is(err, errPoolBusy) {
			return issuer.Issued{}, g.busy(req.source)
		}
		return issuer.Issued{}, err
	}
	// The source may have used up its failures while it waited.
	if retry, blocked := s.throttle.blocked(req.source); blocked {
		s.pool.release()
		return issuer.Issued{}, errThrottled(retry)
	}
	// From here on the login counters change: see grant.
	user, locked, err := func() (store.User, bool, error) {
		defer s.pool.release() // even if the check panics
		return g.checkPassword(context.WithoutCancel(ctx), username, password)
	}()
	if locked {
		// Answer a locked name no sooner than a real check would, so the
		// timing does not tell that it is locked (nor that a real login
		// happened since); the wait holds no slot.
		sleepCtx(ctx, s.bcryptTime.get())
	}
	var oe *oauthError
	if errors.As(err, &oe) && oe.code == "invalid_grant" {
		s.throttle.fail(req.source)
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
		s.audit(ctx, event, append([]any{"client_id", req.client.ID}, who...)...)
	}
	if err != nil {
		return issuer.Issued{}, err
	}
	s.audit(ctx, eventLoginSucceeded, "client_id", req.client.ID, "username", username)
	setLogUser(ctx, username)

	// The tokens are stored only if the user is still as checked: a
	// password change or a disable that committed since then wins, and
	// this login gets the answer a wrong password gets (store.Versions).
	issued, err := s.issuer.Issue(context.WithoutCancel(ctx), issuer.Grant{
		Client:      req.client,
		Secret:      req.secret,
		Username:    username,
		UserVersion: user.Version,
		Scope:       scope,
		WithRefresh: true,
	})
	if errors.Is(err, store.ErrUserChanged) {
		e := errBadCredentials()
		e.cause = err
		s.audit(ctx, eventLoginRaced, "client_id", req.client.ID, "username", username)
		return issuer.Issued{}, e
	}
	if err != nil {
		return issuer.Issued{}, fmt.Errorf("issue password grant: %w", err)
	}
	return issued, nil
}

// checkPassword counts the attempt before spending bcrypt on it, so parallel
// guesses cannot slip past the lockout threshold, and returns the user as
// checked, whose version the issuance must still find. It runs holding a
// password-pool slot; locked reports a refusal that skipped bcrypt.
func (g passwordGrant) checkPassword(ctx context.Context, username, password string) (_ store.User, locked bool, err error) {
	s := g.s
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
