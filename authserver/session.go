package authserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/example/authsvc/store"
)

// A login at the sign-in page starts a session: a random cookie value whose
// hash is stored with the user and the user's version. It lets a second
// authorization in the same browser skip the password, until it expires, the
// user logs out, or the user's password changes or the user is disabled
// (the version moves on, and the store deletes the user's sessions).

// currentSession returns the signed-in user of the request's session
// cookie; ok is false when there is none or it has ended.
func (s *server) currentSession(r *http.Request) (store.User, bool, error) {
	value := s.cookie(r, sessionCookie)
	if value == "" {
		return store.User{}, false, nil
	}
	ctx := r.Context()
	sess, err := s.store.GetSession(ctx, store.HashToken(value))
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, false, nil
	}
	if err != nil {
		return store.User{}, false, fmt.Errorf("load session: %w", err)
	}
	if !s.now().Before(sess.ExpiresAt) {
		return store.User{}, false, nil
	}
	user, err := s.store.GetUser(ctx, sess.Username)
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, false, nil
	}
	if err != nil {
		return store.User{}, false, fmt.Errorf("load session user: %w", err)
	}
	if user.Disabled || user.Version != sess.UserVersion {
		return store.User{}, false, nil
	}
	setLogUser(ctx, user.Username)
	return user, true, nil
}

// pageLogin checks the login form's username and password through the
// server's one password check (login) and starts a session. failed is the
// message to show again with the form; err a refusal shown as a page
// (throttled, busy) or a failure.
func (s *server) pageLogin(w http.ResponseWriter, r *http.Request, clientID string, form url.Values) (user store.User, failed string, err error) {
	src, err := s.admit(r)
	if err != nil {
		return store.User{}, "", err
	}
	if err := s.refuseLoginEarly(src); err != nil {
		return store.User{}, "", err
	}
	username, password := form.Get("username"), form.Get("password")
	if username == "" || password == "" {
		return store.User{}, "Enter your username and password.", nil
	}
	user, err = s.login(r.Context(), src, clientID, username, password)
	var oe *oauthError
	if errors.As(err, &oe) && oe.code == "invalid_grant" {
		s.metrics.pageLogins.WithLabelValues("failed").Inc()
		return store.User{}, "Wrong username or password.", nil
	}
	if err != nil {
		return store.User{}, "", err
	}
	if err := s.startSession(w, r, user); err != nil {
		return store.User{}, "", err
	}
	s.metrics.pageLogins.WithLabelValues("succeeded").Inc()
	return user, "", nil
}

// startSession stores a new session for user and sets its cookie; a
// session the browser had is ended first (a login never reuses a session
// id: no fixation).
func (s *server) startSession(w http.ResponseWriter, r *http.Request, user store.User) error {
	ctx := context.WithoutCancel(r.Context())
	if old := s.cookie(r, sessionCookie); old != "" {
		if err := s.store.DeleteSession(ctx, store.HashToken(old)); err != nil {
			return fmt.Errorf("end previous session: %w", err)
		}
	}
	value, err := store.NewOpaqueValue()
	if err != nil {
		return err
	}
	now := s.now()
	err = s.store.CreateSession(ctx, store.Session{
		Hash: store.HashToken(value), Username: user.Username, UserVersion: user.Version,
		CreatedAt: now, ExpiresAt: now.Add(s.cfg.SessionTTL),
	})
	if err != nil {
		return fmt.Errorf("store session: %w", err)
	}
	s.setCookie(w, sessionCookie, value, s.cfg.SessionTTL)
	// The same request goes on as the new session's (the consent form's
	// token is bound to it).
	r.AddCookie(&http.Cookie{Name: s.cookieName(sessionCookie), Value: value})
	return nil
}

// consentNeeded reports whether username must be asked before client gets
// scope: always for a public client; for a confidential one, not if it is
// first party, nor when an earlier consent covers the scope.
//
// A public client's identity is not assured (RFC 8252 §8.6): nothing but
// its redirect URI says who gets the code, and on a loopback URI any
// program of the machine may be the one listening, on the registered port
// (the app not running) as on any other (RFC 8252 §7.3). So its requests
// are never approved without the user, whatever was allowed before and
// however first party it is, and the consent page names where the browser
// goes.
func (s *server) consentNeeded(ctx context.Context, client store.Client, username, scope string) (bool, error) {
	if client.Public() {
		return true, nil
	}
	if client.FirstParty {
		return false, nil
	}
	c, err := s.store.GetConsent(ctx, username, client.ID)
	if errors.Is(err, store.ErrNotFound) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("load consent: %w", err)
	}
	return !c.Covers(scope, s.now()), nil
}

// rememberConsent adds scope to what username has allowed clientID.
func (s *server) rememberConsent(ctx context.Context, username, clientID, scope string) error {
	ctx = context.WithoutCancel(ctx)
	now := s.now()
	scopes := strings.Fields(scope)
	if c, err := s.store.GetConsent(ctx, username, clientID); err == nil && now.Before(c.ExpiresAt) {
		for _, v := range c.Scopes {
			if !slices.Contains(scopes, v) {
				scopes = append(scopes, v)
			}
		}
	} else if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("load consent: %w", err)
	}
	slices.Sort(scopes)
	err := s.store.SaveConsent(ctx, store.Consent{Username: username, ClientID: clientID, Scopes: scopes,
		GrantedAt: now, ExpiresAt: now.Add(s.cfg.ConsentTTL)})
	if err != nil {
		return fmt.Errorf("save consent: %w", err)
	}
	return nil
}

// handleLogoutPage is GET /logout: a form, since a GET must not end a
// session (a cross-site image could).
func (s *server) handleLogoutPage(w http.ResponseWriter, r *http.Request) error {
	user, _, err := s.currentSession(r)
	if err != nil {
		return err
	}
	secret := s.csrfSecret(w, r)
	return writePage(w, http.StatusOK, "logout", page{Title: "Sign out", Username: user.Username, CSRF: formToken(secret, "logout")})
}

// handleLogout is POST /logout: the session ends in the store and its
// cookie is deleted.
func (s *server) handleLogout(w http.ResponseWriter, r *http.Request) error {
	form, err := readPageForm(w, r)
	if err != nil {
		return err
	}
	if err := s.checkFormToken(r, form, "logout"); err != nil {
		return err
	}
	if value := s.cookie(r, sessionCookie); value != "" {
		user, _, err := s.currentSession(r)
		if err != nil {
			return err
		}
		if err := s.store.DeleteSession(context.WithoutCancel(r.Context()), store.HashToken(value)); err != nil {
			return fmt.Errorf("end session: %w", err)
		}
		if user.Username != "" {
			s.audit(r.Context(), eventLogout, "username", user.Username)
		}
	}
	s.setCookie(w, sessionCookie, "", -1)
	return writePage(w, http.StatusOK, "result", page{Title: "Signed out", Message: "You are signed out of this server."})
}
