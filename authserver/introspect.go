package authserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/example/authsvc/internal/revocation"
	"github.com/example/authsvc/store"
)

// readTokenRequest reads a revocation request (RFC 7009 §2.1): an
// authenticated client and a token. Introspection (RFC 7662 §2.1) reads the
// same in the same order, with the token fetched along with the client.
func (s *server) readTokenRequest(w http.ResponseWriter, r *http.Request) (store.Client, string, error) {
	form, err := readForm(w, r)
	if err != nil {
		return store.Client{}, "", err
	}
	src, err := s.admit(r)
	if err != nil {
		return store.Client{}, "", err
	}
	client, _, err := s.authenticateClient(r, form, src)
	if err != nil {
		return store.Client{}, "", err
	}
	token := form.Get("token")
	if token == "" {
		return store.Client{}, "", errInvalidRequest("missing token")
	}
	return client, token, nil
}

// handleIntrospect is RFC 7662. Only clients with the introspection
// permission may ask; every token that is not usable right now (unknown,
// malformed, expired, rotated, revoked) gets exactly {"active":false}.
//
// The client, the token and whether the token's user may still use it are
// read in one store round trip (IntrospectionLookup), and judged in the
// order a separate client lookup would have been: throttle, client
// authentication, the token parameter, the permission, then the token.
func (s *server) handleIntrospect(w http.ResponseWriter, r *http.Request) error {
	form, err := readForm(w, r)
	if err != nil {
		return err
	}
	src, err := s.admit(r)
	if err != nil {
		return err
	}
	// A malformed token never reaches the store: the query then reads the
	// client alone.
	token := form.Get("token")
	tokenHash := ""
	if store.PlausibleToken(token) {
		tokenHash = store.HashToken(token)
	}
	var (
		t      store.Token
		userOK bool
	)
	client, _, err := s.authenticateClientWith(r, form, src, func(id string) (store.Client, error) {
		c, tok, ok, err := s.store.IntrospectionLookup(r.Context(), id, tokenHash)
		t, userOK = tok, ok
		return c, err
	})
	if err != nil {
		return err
	}
	if token == "" {
		return errInvalidRequest("missing token")
	}
	if !client.Introspect || client.Public() {
		return &oauthError{status: http.StatusForbidden, code: "unauthorized_client", description: "this client may not introspect tokens"}
	}
	// An unknown or malformed token is the zero Token, never active. A
	// disabled (or removed) user's tokens stop working at once, not when
	// they expire.
	if !t.Active(s.now()) || !userOK {
		writeJSON(w, http.StatusOK, inactive)
		return nil
	}
	resp := introspection{
		Active:    true,
		Scope:     t.Scope,
		ClientID:  t.ClientID,
		Subject:   t.ClientID,
		TokenType: "Bearer",
		ExpiresAt: t.ExpiresAt.Unix(),
		IssuedAt:  t.IssuedAt.Unix(),
		Issuer:    s.cfg.Issuer,
		TokenUse:  string(t.Kind),
		Username:  t.Username,
		Grant:     revocation.GrantHash(t.FamilyID),
	}
	if t.Kind == store.RefreshToken {
		// A resource server that knows only RFC 7662 checks token_type, if
		// anything, not our token_use: a refresh token must not call
		// itself a Bearer access token there (RFC 6750 would accept it).
		resp.TokenType = string(store.RefreshToken)
	}
	if t.Username != "" {
		resp.Subject = t.Username
	}
	if aud := strings.Fields(t.Audience); len(aud) == 1 {
		resp.Audience = aud[0]
	} else if len(aud) > 1 {
		resp.Audience = aud
	}
	if t.JKT != "" {
		// RFC 9449 §6.2: the key the token is bound to.
		resp.Confirmation = &confirmation{JKT: t.JKT}
		if t.Kind == store.AccessToken {
			resp.TokenType = tokenTypeDPoP
		}
	}
	writeJSON(w, http.StatusOK, &resp)
	return nil
}

// introspection is the answer about an active token (RFC 7662 §2.2), a
// struct rather than a map: encoding/json caches a struct's encoder, and a
// map costs an allocation per key and a sort. The fields are in the order a
// map's keys were written, so the bytes did not change.
type introspection struct {
	Active    bool   `json:"active"`
	ClientID  string `json:"client_id"`
	ExpiresAt int64  `json:"exp"`
	IssuedAt  int64  `json:"iat"`
	Issuer    string `json:"iss"`
	Scope     string `json:"scope"`
	Subject   string `json:"sub"`
	TokenType string `json:"token_type"`
	// TokenUse lets a resource server refuse a refresh token presented as
	// a bearer token.
	TokenUse string `json:"token_use"`
	Username string `json:"username,omitempty"`
	// Audience is one string, or an array of several (RFC 7662 §2.2).
	Audience     any           `json:"aud,omitempty"`
	Confirmation *confirmation `json:"cnf,omitempty"`
	// Grant names the token's grant as revocation events do (the hex
	// SHA-256 of its id; never the id, which its refresh tokens contain),
	// so that a resource service can drop every token of a grant when
	// the grant ends. A private member (RFC 7662 §2.2 allows them).
	Grant string `json:"authsvc_grant,omitempty"`
}

// confirmation is the RFC 7800 cnf member of a DPoP-bound token.
type confirmation struct {
	JKT string `json:"jkt"`
}

// inactive is the whole answer about any token that is not usable now.
var inactive = &struct {
	Active bool `json:"active"`
}{}

// handleRevoke is RFC 7009. The answer is 200 whether or not the token
// existed or belonged to the caller, so it reveals nothing; only the
// caller's own tokens are affected. Revoking a refresh token ends its whole
// grant, access tokens included.
func (s *server) handleRevoke(w http.ResponseWriter, r *http.Request) error {
	client, token, err := s.readTokenRequest(w, r)
	if err != nil {
		return err
	}
	// token_type_hint is only an optimization (§2.1); one lookup by hash
	// finds either kind, so it is ignored.
	t, err := store.Token{}, store.ErrNotFound
	if store.PlausibleToken(token) {
		t, err = s.store.GetToken(r.Context(), store.HashToken(token))
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return fmt.Errorf("load token: %w", err)
	case t.ClientID != client.ID:
		s.logger.InfoContext(r.Context(), "revocation of another client's token ignored", "client_id", client.ID)
	case t.Kind == store.RefreshToken:
		if err := s.store.DeleteFamily(r.Context(), t.FamilyID); err != nil {
			return fmt.Errorf("revoke grant: %w", err)
		}
		s.audit(r.Context(), eventTokenRevoked, "client_id", client.ID, "username", t.Username, "token_use", string(t.Kind), "grant_revoked", true)
	default:
		if err := s.store.DeleteToken(r.Context(), t.Hash); err != nil {
			return fmt.Errorf("revoke token: %w", err)
		}
		s.audit(r.Context(), eventTokenRevoked, "client_id", client.ID, "username", t.Username, "token_use", string(t.Kind))
	}
	// Strict clients (simple-oauth2) refuse a 200 without a JSON body.
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}

// handleMetadata is RFC 8414 §3.
func (s *server) handleHealthz(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

func (s *server) handleReadyz(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		s.logger.WarnContext(r.Context(), "store not ready", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable"})
		return nil
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

// RunCleanup deletes expired tokens and stale login records every interval
// until ctx ends, in batches of batch rows so no statement holds its locks
// for long. Several replicas may run it at once.
func RunCleanup(ctx context.Context, logger *slog.Logger, st store.Tokens, interval time.Duration, batch int, now func() time.Time) {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		total, err := CleanupOnce(ctx, st, batch, now())
		if err != nil && ctx.Err() == nil {
			logger.ErrorContext(ctx, "token cleanup failed", "deleted", total, "err", err)
			continue
		}
		if total > 0 {
			logger.InfoContext(ctx, "expired tokens deleted", "count", total)
		}
	}
}

// CleanupOnce deletes everything expired at now, batch rows at a time.
func CleanupOnce(ctx context.Context, st store.Tokens, batch int, now time.Time) (int, error) {
	total := 0
	for {
		n, err := st.DeleteExpired(ctx, now, batch)
		total += n
		if err != nil {
			return total, fmt.Errorf("delete expired: %w", err)
		}
		if n < batch {
			return total, nil
		}
	}
}
