package authserver

// Adapters that put our store behind go-oauth2's ClientStore, TokenStore and
// AccessGenerate interfaces, so its manage.Manager runs the grant flow while
// every unsafe default is replaced:
//   - tokens are 256-bit crypto/rand values (its generator hashes a UUID with MD5);
//   - only SHA-256 hashes of tokens reach the database;
//   - client secrets are compared in constant time against a stored hash;
//   - refresh rotation is one atomic store operation, with reuse detection.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	oauth2 "github.com/go-oauth2/oauth2/v4"
	"github.com/go-oauth2/oauth2/v4/models"

	"github.com/example/authsvc/store"
)

// requestState carries what the handler has already loaded for this request,
// so the manager's calls back into the adapters cost no second database read.
type requestState struct {
	client  *store.Client
	refresh *store.Token // the presented refresh token (refresh grant only)
}

type requestStateKey struct{}

func withRequestState(ctx context.Context, rs *requestState) context.Context {
	return context.WithValue(ctx, requestStateKey{}, rs)
}

func requestStateFrom(ctx context.Context) *requestState {
	rs, _ := ctx.Value(requestStateKey{}).(*requestState)
	return rs
}

// clientInfo is a store.Client seen through oauth2.ClientInfo.
type clientInfo struct{ c store.Client }

var (
	_ oauth2.ClientInfo             = clientInfo{}
	_ oauth2.ClientPasswordVerifier = clientInfo{}
)

func (ci clientInfo) GetID() string     { return ci.c.ID }
func (ci clientInfo) GetSecret() string { return "" } // never exposed; see VerifyPassword
func (ci clientInfo) GetDomain() string { return "" }
func (ci clientInfo) IsPublic() bool    { return ci.c.Public() }
func (ci clientInfo) GetUserID() string { return "" }

// VerifyPassword replaces go-oauth2's `secret != stored` (and its "an empty
// stored secret matches anything") with a constant-time hash comparison.
func (ci clientInfo) VerifyPassword(secret string) bool {
	return ci.c.VerifySecret(secret)
}

type clientStore struct{ st store.Clients }

func (cs clientStore) GetByID(ctx context.Context, id string) (oauth2.ClientInfo, error) {
	if rs := requestStateFrom(ctx); rs != nil && rs.client != nil && rs.client.ID == id {
		return clientInfo{*rs.client}, nil
	}
	c, err := cs.st.GetClient(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("load client: %w", err)
	}
	return clientInfo{c}, nil
}

// tokenGenerator issues opaque 256-bit tokens. A refresh token is issued only
// to clients allowed the refresh_token grant.
type tokenGenerator struct{}

func (tokenGenerator) Token(_ context.Context, data *oauth2.GenerateBasic, isGenRefresh bool) (string, string, error) {
	access, err := store.NewOpaqueValue()
	if err != nil {
		return "", "", err
	}
	if !isGenRefresh {
		return access, "", nil
	}
	if ci, ok := data.Client.(clientInfo); !ok || !slices.Contains(ci.c.GrantTypes, store.GrantRefreshToken) {
		return access, "", nil
	}
	refresh, err := store.NewOpaqueValue()
	if err != nil {
		return "", "", err
	}
	return access, refresh, nil
}

// rotatingToken is what GetByRefresh hands the manager. The manager mutates
// it in place and passes it back to Create, which is how Create knows the
// call is a rotation of a particular refresh token.
type rotatingToken struct {
	*models.Token
	old store.Token
}

// tokenStore implements oauth2.TokenStore on store.Tokens.
type tokenStore struct {
	st  store.Tokens
	now func() time.Time
}

var _ oauth2.TokenStore = (*tokenStore)(nil)

func (ts *tokenStore) Create(ctx context.Context, info oauth2.TokenInfo) error {
	now := ts.now()
	access := store.Token{
		Hash:      store.HashToken(info.GetAccess()),
		Kind:      store.AccessToken,
		ClientID:  info.GetClientID(),
		Username:  info.GetUserID(),
		Scope:     info.GetScope(),
		IssuedAt:  now,
		ExpiresAt: now.Add(info.GetAccessExpiresIn()),
	}
	var tokens []store.Token
	if rt := info.GetRefresh(); rt != "" {
		tokens = append(tokens, store.Token{
			Hash:      store.HashToken(rt),
			Kind:      store.RefreshToken,
			ClientID:  info.GetClientID(),
			Username:  info.GetUserID(),
			Scope:     info.GetScope(),
			IssuedAt:  now,
			ExpiresAt: now.Add(info.GetRefreshExpiresIn()),
		})
	}

	if rot, ok := info.(*rotatingToken); ok {
		// RFC 6749 §6: a new refresh token keeps the scope of the one it
		// replaces, even when the access token's scope was narrowed.
		access.FamilyID = rot.old.FamilyID
		for i := range tokens {
			tokens[i].FamilyID = rot.old.FamilyID
			tokens[i].Scope = rot.old.Scope
		}
		if err := ts.st.RotateRefreshToken(ctx, rot.old.Hash, now, append([]store.Token{access}, tokens...)...); err != nil {
			return fmt.Errorf("rotate refresh token: %w", err)
		}
		return nil
	}

	family, err := store.NewOpaqueValue()
	if err != nil {
		return err
	}
	access.FamilyID = family
	for i := range tokens {
		tokens[i].FamilyID = family
	}
	if err := ts.st.CreateTokens(ctx, append([]store.Token{access}, tokens...)...); err != nil {
		return fmt.Errorf("store tokens: %w", err)
	}
	return nil
}

// errNoCodes: this server has no authorization endpoint.
var errNoCodes = errors.New("authorization codes are not supported")

func (ts *tokenStore) RemoveByCode(context.Context, string) error { return errNoCodes }
func (ts *tokenStore) GetByCode(context.Context, string) (oauth2.TokenInfo, error) {
	return nil, errNoCodes
}

// RemoveByAccess revokes one access token.
func (ts *tokenStore) RemoveByAccess(ctx context.Context, access string) error {
	return ts.st.DeleteToken(ctx, store.HashToken(access))
}

// RemoveByRefresh revokes a refresh token together with every token of its
// grant; go-oauth2's own stores leave the access token alive.
func (ts *tokenStore) RemoveByRefresh(ctx context.Context, refresh string) error {
	t, err := ts.st.GetToken(ctx, store.HashToken(refresh))
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("load refresh token: %w", err)
	}
	return ts.st.DeleteFamily(ctx, t.FamilyID)
}

func (ts *tokenStore) GetByAccess(ctx context.Context, access string) (oauth2.TokenInfo, error) {
	t, err := ts.st.GetToken(ctx, store.HashToken(access))
	if err != nil {
		return nil, fmt.Errorf("load access token: %w", err)
	}
	if t.Kind != store.AccessToken || !t.Active(ts.now()) {
		return nil, nil // the manager reports nil as an invalid token
	}
	return &models.Token{
		ClientID:        t.ClientID,
		UserID:          t.Username,
		Scope:           t.Scope,
		Access:          access,
		AccessCreateAt:  t.IssuedAt,
		AccessExpiresIn: t.ExpiresAt.Sub(t.IssuedAt),
	}, nil
}

func (ts *tokenStore) GetByRefresh(ctx context.Context, refresh string) (oauth2.TokenInfo, error) {
	hash := store.HashToken(refresh)
	var t store.Token
	if rs := requestStateFrom(ctx); rs != nil && rs.refresh != nil && rs.refresh.Hash == hash {
		t = *rs.refresh
	} else {
		var err error
		if t, err = ts.st.GetToken(ctx, hash); err != nil {
			return nil, fmt.Errorf("load refresh token: %w", err)
		}
	}
	if t.Kind != store.RefreshToken || !t.Active(ts.now()) {
		return nil, nil
	}
	return &rotatingToken{
		Token: &models.Token{
			ClientID:        t.ClientID,
			UserID:          t.Username,
			Scope:           t.Scope,
			Refresh:         refresh,
			RefreshCreateAt: t.IssuedAt,
			// Expiry was just checked against our clock; zero keeps the
			// manager from checking again against time.Now. Rotation sets
			// the new token's lifetime from the refreshing config.
			RefreshExpiresIn: 0,
		},
		old: t,
	}, nil
}
