package authserver

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

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
	return g.s.refuseLoginEarly(src)
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
	user, err := s.login(ctx, req.source, req.client.ID, username, password)
	if err != nil {
		return issuer.Issued{}, err
	}

	// The tokens are stored only if the user is still as checked: a
	// password change or a disable that committed since then wins, and
	// this login gets the answer a wrong password gets (store.Versions).
	issued, err := s.issuer.Issue(context.WithoutCancel(ctx), issuer.Grant{
		Client:      req.client,
		Secret:      req.secret,
		Binding:     req.binding,
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
