package authserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/example/authsvc/authserver/internal/issuer"
	"github.com/example/authsvc/store"
)

// deviceCodeGrant is the polling of RFC 8628 §3.4 and §3.5.
type deviceCodeGrant struct{ s *server }

func errDevice(code, desc string) *oauthError {
	return &oauthError{status: http.StatusBadRequest, code: code, description: desc}
}

func (g deviceCodeGrant) issue(ctx context.Context, req tokenRequest) (issuer.Issued, error) {
	s := g.s
	value := req.form.Get("device_code")
	if value == "" {
		return issuer.Issued{}, errInvalidRequest("device_code is required")
	}
	if !store.PlausibleToken(value) {
		return issuer.Issued{}, errInvalidGrant("invalid device_code")
	}
	now := s.now()
	// Every poll is recorded before it is answered, so a client polling
	// too fast is slowed down whatever the answer (§3.5).
	d, slowDown, err := s.store.PollDeviceGrant(context.WithoutCancel(ctx), store.HashToken(value), now)
	if errors.Is(err, store.ErrNotFound) {
		return issuer.Issued{}, errInvalidGrant("invalid device_code")
	}
	if err != nil {
		return issuer.Issued{}, fmt.Errorf("poll device authorization: %w", err)
	}
	if d.ClientID != req.client.ID {
		e := errInvalidGrant("invalid device_code")
		e.cause = errors.New("device code of another client")
		return issuer.Issued{}, e
	}
	switch {
	case !now.Before(d.ExpiresAt):
		return issuer.Issued{}, errDevice("expired_token", "the device code has expired; start again")
	case d.Status == store.DeviceDenied:
		return issuer.Issued{}, errDevice("access_denied", "the user denied the request")
	case d.Status == store.DevicePending && slowDown:
		return issuer.Issued{}, errDevice("slow_down", "polling too fast; wait longer between requests")
	case d.Status == store.DevicePending:
		return issuer.Issued{}, errDevice("authorization_pending", "the user has not yet approved the request")
	}
	if !req.client.AllowsScope(d.Scope) {
		e := errInvalidGrant("the client's permissions changed since the approval; start again")
		e.cause = errors.New("the client lost a scope of the device authorization since it was approved")
		return issuer.Issued{}, e
	}
	issued, err := s.issuer.Issue(context.WithoutCancel(ctx), issuer.Grant{
		Client:      req.client,
		Secret:      req.secret,
		Binding:     req.binding,
		Username:    d.Username,
		UserVersion: d.UserVersion,
		Scope:       d.Scope,
		WithRefresh: true,
		Device:      &d,
	})
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrUserChanged):
		// Redeemed by a concurrent poll, expired meanwhile, or the user
		// changed since approving.
		e := errInvalidGrant("invalid device_code")
		e.cause = err
		return issuer.Issued{}, e
	case err != nil:
		return issuer.Issued{}, fmt.Errorf("redeem device authorization: %w", err)
	}
	setLogUser(ctx, d.Username)
	return issued, nil
}
