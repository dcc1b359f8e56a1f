package authserver

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/example/authsvc/authserver/internal/issuer"
	"github.com/example/authsvc/store"
)

// refreshGrant is RFC 6749 §6 with rotation: the presented token must
// belong to this client (§10.4), the scope may only narrow, exactly one of
// concurrent uses wins, and a second use of a rotated token ends the grant
// (RFC 9700 §4.14.2).
type refreshGrant struct{ s *server }

func (g refreshGrant) issue(ctx context.Context, req tokenRequest) (issuer.Issued, error) {
	s := g.s
	ctx = context.WithoutCancel(ctx)
	refresh := req.form.Get("refresh_token")
	if refresh == "" {
		return issuer.Issued{}, errInvalidRequest("missing refresh_token")
	}
	invalid := errInvalidGrant("invalid refresh token")
	if !store.PlausibleToken(refresh) {
		return issuer.Issued{}, invalid
	}
	hash := store.HashToken(refresh)
	old, err := s.store.GetToken(ctx, hash)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return issuer.Issued{}, g.endIfReused(ctx, req.client, refresh, invalid)
	case err != nil:
		return issuer.Issued{}, fmt.Errorf("load refresh token: %w", err)
	}
	if old.Kind != store.RefreshToken || old.ClientID != req.client.ID {
		return issuer.Issued{}, invalid
	}
	if old.Rotated {
		// Spent before grants were kept as one record (migration 00002).
		if err := s.store.DeleteFamily(ctx, old.FamilyID); err != nil {
			return issuer.Issued{}, fmt.Errorf("revoke reused grant: %w", err)
		}
		s.audit(ctx, eventRefreshReuseDetected, "client_id", req.client.ID, "username", old.Username, "grant_revoked", true)
		return issuer.Issued{}, invalid
	}
	if !old.Active(s.now()) {
		return issuer.Issued{}, invalid
	}
	var userVersion int64
	if old.Username != "" {
		u, err := s.store.GetUser(ctx, old.Username)
		if errors.Is(err, store.ErrNotFound) || (err == nil && u.Disabled) {
			return issuer.Issued{}, invalid
		}
		if err != nil {
			return issuer.Issued{}, fmt.Errorf("load user: %w", err)
		}
		// The rotation stores nothing unless the user is still as read
		// here: a disable racing this refresh wins (store.Versions).
		userVersion = u.Version
	}

	setLogUser(ctx, old.Username)
	scope := ""
	if want := strings.TrimSpace(req.form.Get("scope")); want != "" {
		if scope, err = grantScope(want, parseScope(old.Scope)); err != nil {
			return issuer.Issued{}, errInvalidScope("the requested scope exceeds the original grant")
		}
	}

	binding, err := s.refreshBinding(req, old)
	if err != nil {
		return issuer.Issued{}, err
	}
	issued, err := s.issuer.Rotate(ctx, req.client, old, userVersion, refresh, scope, binding)
	switch {
	case errors.Is(err, store.ErrUserChanged):
		return issuer.Issued{}, invalid
	case errors.Is(err, issuer.ErrGrantTooOld):
		return issuer.Issued{}, errInvalidGrant("the grant has reached its maximum age; sign in again")
	case errors.Is(err, store.ErrTokenReused):
		s.audit(ctx, eventRefreshReuseDetected, "client_id", req.client.ID, "username", old.Username, "grant_revoked", true, "concurrent", true)
		return issuer.Issued{}, invalid
	case errors.Is(err, store.ErrNotFound):
		return issuer.Issued{}, invalid
	case err != nil:
		return issuer.Issued{}, fmt.Errorf("refresh: %w", err)
	}
	return issued, nil
}

// endIfReused handles a refresh token the store does not know. If its value
// names a live grant of this client, it is an earlier refresh token of that
// grant, rotated since (no row of it is kept): reuse, which ends the grant
// (RFC 9700 §4.14.2). Either way the answer is invalid.
func (g refreshGrant) endIfReused(ctx context.Context, client store.Client, refresh string, invalid error) error {
	s := g.s
	family, ok := store.RefreshTokenFamily(refresh)
	if !ok {
		return invalid
	}
	current, err := s.store.GetGrant(ctx, family)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return invalid
	case err != nil:
		return fmt.Errorf("load grant: %w", err)
	}
	// Only the grant's own client can reuse its tokens: another client
	// presenting one learns nothing and ends nothing (RFC 6749 §10.4).
	if current.ClientID != client.ID {
		return invalid
	}
	if err := s.store.DeleteFamily(ctx, family); err != nil {
		return fmt.Errorf("revoke reused grant: %w", err)
	}
	s.audit(ctx, eventRefreshReuseDetected, "client_id", client.ID, "username", current.Username, "grant_revoked", true)
	return invalid
}
