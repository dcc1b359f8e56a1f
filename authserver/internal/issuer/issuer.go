// Package issuer is the only code that imports go-oauth2
// (github.com/go-oauth2/oauth2/v4), which the project uses to run token
// issuance: its manage.Manager generates a token pair through our generator
// and hands it to our token store. Everything go-oauth2 gets wrong by
// default is decided elsewhere or replaced here:
//   - the HTTP handlers authenticate the client, check the grant, the user
//     and the presented refresh token before the manager is called;
//   - tokens are 256-bit crypto/rand values (its generator hashes a UUID
//     with MD5), stored only as SHA-256 hashes;
//   - the client secret is verified in constant time against its stored
//     hash (its own check is `secret != stored`, and an empty stored secret
//     matches anything);
//   - a refresh is one atomic store operation with reuse detection (its own
//     remove-after-create steps would reopen the race);
//   - expiry is decided on our injected clock, never its time.Now.
//
// Each call gets a manager of its own, wired to adapters bound to that call
// (the client already authenticated, the refresh token already loaded), so
// nothing travels through the context and nothing depends on the manager
// handing back the object it was given. Every behaviour of the library
// relied on is pinned by a test in this package: an upgrade that changes
// one fails there.
package issuer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	oauth2 "github.com/go-oauth2/oauth2/v4"
	oerrors "github.com/go-oauth2/oauth2/v4/errors"
	"github.com/go-oauth2/oauth2/v4/manage"
	"github.com/go-oauth2/oauth2/v4/models"

	"github.com/example/authsvc/authserver/keys"
	"github.com/example/authsvc/store"
)

// ErrInvalidClient: the manager refused the client (its secret, or a public
// client asking for client credentials). The handlers check both first, so
// this only ever surfaces if that order breaks.
var ErrInvalidClient = errors.New("client refused by the token manager")

// Store is what the issuer writes tokens through: new grants, rotations,
// and the redemptions of codes and device authorizations that start a
// grant.
type Store interface {
	CreateTokens(ctx context.Context, v store.Versions, tokens ...store.Token) error
	RotateRefreshToken(ctx context.Context, familyID, oldHash string, now time.Time, v store.Versions, newTokens ...store.Token) error
	RedeemAuthCode(ctx context.Context, hash string, now time.Time, v store.Versions, tokens ...store.Token) error
	RedeemDeviceGrant(ctx context.Context, hash string, now time.Time, v store.Versions, tokens ...store.Token) error
}

// Signer signs JWT access tokens (keys.Ring).
type Signer interface {
	Sign(t keys.AccessToken) (token, kid string, err error)
}

// Issuer issues token pairs into the store.
type Issuer struct {
	tokens      Store
	accessTTL   time.Duration
	refreshTTL  time.Duration
	grantMaxAge time.Duration
	now         func() time.Time
	// signer and jwtTTL make the access tokens of clients that ask for
	// JWTs (store.Client.IssuesJWT); without a signer they get none.
	signer Signer
	jwtTTL time.Duration
}

// ErrNoSigner: a client asked for JWT access tokens, and this server has
// no signing key to make them with.
var ErrNoSigner = errors.New("JWT access tokens are not available: no signing key")

// WithJWT makes i sign the access tokens of JWT clients with s, each valid
// for ttl (at most store.MaxSignedTokenLifetime).
func (i *Issuer) WithJWT(s Signer, ttl time.Duration) error {
	if ttl <= 0 || ttl > store.MaxSignedTokenLifetime {
		return fmt.Errorf("JWT access token lifetime %v: must be positive and at most %v", ttl, store.MaxSignedTokenLifetime)
	}
	i.signer, i.jwtTTL = s, ttl
	return nil
}

// accessTTLFor is the lifetime of client's access tokens.
func (i *Issuer) accessTTLFor(client store.Client) time.Duration {
	if client.IssuesJWT() {
		return i.jwtTTL
	}
	return i.accessTTL
}

// New returns an Issuer; lifetimes must be positive (go-oauth2 reads zero as
// "never expires"). A refresh token's lifetime slides with each rotation,
// but never past grantMaxAge from the start of its grant, however long
// refreshTTL is.
func New(tokens Store, accessTTL, refreshTTL, grantMaxAge time.Duration, now func() time.Time) (*Issuer, error) {
	if accessTTL <= 0 || refreshTTL <= 0 || grantMaxAge <= 0 {
		return nil, fmt.Errorf("token lifetimes must be positive: access %v, refresh %v, grant %v", accessTTL, refreshTTL, grantMaxAge)
	}
	return &Issuer{tokens: tokens, accessTTL: accessTTL, refreshTTL: refreshTTL, grantMaxAge: grantMaxAge, now: now}, nil
}

// ErrGrantTooOld: the grant began longer ago than the maximum grant age, so
// it cannot be refreshed however recently it was.
var ErrGrantTooOld = fmt.Errorf("grant past its maximum age: %w", store.ErrNotFound)

// Grant is a new grant to issue tokens for: the client (authenticated by
// the caller with Secret), the user ("" for client credentials) at the
// version the caller checked, and the scope decided by the caller. The
// store issues nothing unless the client and the user are still at the
// versions the caller read them at (store.Versions).
type Grant struct {
	Client      store.Client
	Secret      string
	Username    string
	UserVersion int64
	Scope       string
	// WithRefresh asks for a refresh token; one is issued only if the
	// client may also use the refresh_token grant.
	WithRefresh bool
	// Code or Device, when set, is the authorization code or the approved
	// device authorization the grant comes from: its tokens start the
	// grant named there, and are stored only together with the
	// redemption (store.Authorizations), so that exactly one redemption
	// gets them.
	Code   *store.AuthCode
	Device *store.DeviceGrant
	// Binding is what the tokens are for and bound to.
	Binding Binding
}

// Binding is the audience and DPoP binding of issued tokens.
type Binding struct {
	// Audience is the space-delimited resources (RFC 8707) the access
	// token is for; on a new grant also its refresh token's.
	Audience string
	// JKT binds the access token to a DPoP key (RFC 9449 §6).
	JKT string
	// RefreshJKT binds a new grant's refresh token (public clients,
	// RFC 9449 §5); a rotation keeps the grant's.
	RefreshJKT string
}

// Issued is what the token endpoint answers (RFC 6749 §5.1).
type Issued struct {
	Access    string
	Refresh   string // empty when none was issued
	Scope     string
	ExpiresIn time.Duration
	// KeyID is the kid that signed a JWT access token; "" for opaque.
	KeyID string
	// TokenType is "DPoP" for an access token bound to a key, else
	// "Bearer" (RFC 9449 §5).
	TokenType string
}

// Issue creates the tokens of a new grant, in a new family.
func (i *Issuer) Issue(ctx context.Context, g Grant) (Issued, error) {
	var family string
	switch {
	case g.Code != nil && g.Device != nil:
		return Issued{}, errors.New("a grant comes from a code or a device authorization, not both")
	case g.Code != nil:
		family = g.Code.FamilyID
	case g.Device != nil:
		family = g.Device.FamilyID
	default:
		var err error
		if family, err = store.NewOpaqueValue(); err != nil {
			return Issued{}, err
		}
	}
	call := &call{issuer: i, client: g.Client, family: family, code: g.Code, device: g.Device,
		versions: store.Versions{Client: g.Client.Version, User: g.UserVersion}, binding: g.Binding,
		grantAudience: g.Binding.Audience}
	gt, cfg := oauth2.ClientCredentials, &manage.Config{AccessTokenExp: i.accessTTLFor(g.Client)}
	if g.Username != "" {
		gt = oauth2.PasswordCredentials
	}
	if g.WithRefresh {
		cfg.IsGenerateRefresh, cfg.RefreshTokenExp = true, i.refreshTTL
	}
	m := call.manager()
	m.SetPasswordTokenCfg(cfg)
	m.SetClientTokenCfg(cfg)
	_, err := m.GenerateAccessToken(ctx, gt, &oauth2.TokenGenerateRequest{
		ClientID:     g.Client.ID,
		ClientSecret: g.Secret,
		UserID:       g.Username,
		Scope:        g.Scope,
	})
	if err != nil {
		return Issued{}, call.translate(err)
	}
	return call.issued, nil
}

// Rotate exchanges old, a refresh token the caller has loaded and found
// active and bound to client, for a new pair in its family, if client and
// old's user (checked by the caller at userVersion) have not changed
// since (store.ErrClientChanged, store.ErrUserChanged). scope narrows
// the new access token ("" keeps old's scope); the new refresh token keeps
// old's scope (RFC 6749 §6), audience and DPoP binding. b is the new
// access token's audience and binding (its RefreshJKT is ignored). The store's rotation is atomic: of concurrent
// rotations of old exactly one succeeds, and a rotated token presented
// again ends the family with store.ErrTokenReused.
func (i *Issuer) Rotate(ctx context.Context, client store.Client, old store.Token, userVersion int64, presented, scope string, b Binding) (Issued, error) {
	if !i.now().Before(old.GrantedAt.Add(i.grantMaxAge)) {
		return Issued{}, ErrGrantTooOld
	}
	b.RefreshJKT = old.JKT
	call := &call{issuer: i, client: client, family: old.FamilyID, rotating: &old, presented: presented,
		versions: store.Versions{Client: client.Version, User: userVersion}, binding: b, grantAudience: old.Audience}
	m := call.manager()
	// Rotation happens atomically inside call.Create; the manager's own
	// remove-after-create steps would reopen the race, so they stay off.
	m.SetRefreshTokenCfg(&manage.RefreshingConfig{
		AccessTokenExp:     i.accessTTLFor(client),
		RefreshTokenExp:    i.refreshTTL,
		IsGenerateRefresh:  true,
		IsResetRefreshTime: true,
	})
	_, err := m.RefreshAccessToken(ctx, &oauth2.TokenGenerateRequest{
		ClientID: client.ID,
		Refresh:  presented,
		Scope:    scope,
	})
	if err != nil {
		return Issued{}, call.translate(err)
	}
	return call.issued, nil
}

// call is one issuance: the adapters the manager calls back into, bound to
// what the caller has already decided.
type call struct {
	issuer    *Issuer
	client    store.Client
	versions  store.Versions // what the caller checked
	family    string
	rotating  *store.Token // the refresh token being rotated; nil for a new grant
	presented string       // its value
	code      *store.AuthCode
	device    *store.DeviceGrant
	binding   Binding
	// grantAudience is the audience the grant's refresh token keeps.
	grantAudience string
	// at is when the access token was generated; Create stores it so.
	at      time.Time
	kid     string
	issued  Issued
	created int // calls of Create, which must be exactly one
}

func (c *call) manager() *manage.Manager {
	m := manage.NewManager()
	m.MapAccessGenerate(c)
	m.MapClientStorage(c)
	m.MapTokenStorage(c)
	return m
}

// translate maps the manager's refusals to ours; store errors pass through.
func (c *call) translate(err error) error {
	switch {
	case errors.Is(err, oerrors.ErrInvalidClient):
		return ErrInvalidClient
	case errors.Is(err, oerrors.ErrInvalidRefreshToken), errors.Is(err, oerrors.ErrExpiredRefreshToken):
		// GetByRefresh answers only for the token the caller loaded:
		// anything else is a token the store does not know.
		return fmt.Errorf("refresh token: %w", store.ErrNotFound)
	}
	return err
}

// clientInfo is the authenticated client seen through oauth2.ClientInfo.
type clientInfo struct{ c store.Client }

// The manager consults ClientPasswordVerifier in preference to GetSecret
// (pinned by TestManagerVerifiesSecretThroughVerifier), so GetSecret is never
// read: it returns "" because only a hash of the secret exists.
var (
	_ oauth2.ClientInfo             = clientInfo{}
	_ oauth2.ClientPasswordVerifier = clientInfo{}
)

func (ci clientInfo) GetID() string     { return ci.c.ID }
func (ci clientInfo) GetSecret() string { return "" }
func (ci clientInfo) IsPublic() bool    { return ci.c.Public() }

// GetDomain is read only to validate redirect URIs, which the password,
// client-credentials and refresh grants do not have.
func (ci clientInfo) GetDomain() string { return "" }

// GetUserID is never read by the manager's token flows.
func (ci clientInfo) GetUserID() string { return "" }

// VerifyPassword is the constant-time hash comparison of store.Client.
func (ci clientInfo) VerifyPassword(secret string) bool { return ci.c.VerifySecret(secret) }

// GetByID answers only for the client of this call: the manager asks for
// no other.
func (c *call) GetByID(_ context.Context, id string) (oauth2.ClientInfo, error) {
	if id != c.client.ID {
		return nil, oerrors.ErrInvalidClient
	}
	return clientInfo{c.client}, nil
}

// Token generates opaque 256-bit values, or for a JWT client an RFC 9068
// JWT whose jti is such a value. A refresh token is issued only when the
// grant's config asks for one and the client may use the refresh_token
// grant.
func (c *call) Token(_ context.Context, data *oauth2.GenerateBasic, isGenRefresh bool) (access, refresh string, err error) {
	c.at = c.issuer.now()
	if access, err = store.NewOpaqueValue(); err != nil {
		return "", "", err
	}
	if c.client.IssuesJWT() {
		if access, err = c.signJWT(access, data.TokenInfo); err != nil {
			return "", "", err
		}
	}
	if !isGenRefresh || !c.client.MayUse(store.GrantRefreshToken) {
		return access, "", nil
	}
	// The value names its grant: see store.NewRefreshTokenValue.
	if refresh, err = store.NewRefreshTokenValue(c.family); err != nil {
		return "", "", err
	}
	return access, refresh, nil
}

// signJWT makes the JWT access token of this call, with jti.
func (c *call) signJWT(jti string, info oauth2.TokenInfo) (string, error) {
	if c.issuer.signer == nil {
		return "", ErrNoSigner
	}
	user := info.GetUserID()
	subject := user
	if subject == "" {
		subject = c.client.ID // RFC 9068 §2.2: no resource owner
	}
	token, kid, err := c.issuer.signer.Sign(keys.AccessToken{
		ID:       jti,
		Subject:  subject,
		ClientID: c.client.ID,
		Username: user,
		Scope:    info.GetScope(),
		Audience: strings.Fields(c.binding.Audience),
		IssuedAt: c.at,
		Expiry:   c.at.Add(c.issuer.jwtTTL),
		JKT:      c.binding.JKT,
	})
	if errors.Is(err, keys.ErrNoSigningKey) {
		return "", fmt.Errorf("%w: %w", ErrNoSigner, err)
	}
	if err != nil {
		return "", err
	}
	if len(token) > store.MaxTokenBytes {
		return "", fmt.Errorf("a signed access token of %d bytes is longer than any token accepted (%d)", len(token), store.MaxTokenBytes)
	}
	c.kid = kid
	return token, nil
}

// errUnused is returned by the TokenStore methods that the token flows this
// package runs never call: authorization codes, access-token loading and the
// remove-after-create steps (switched off). An upgrade that starts calling
// one fails loudly (TestManagerCallsOnlyCreateAndGetByRefresh) instead of
// silently doing something we did not decide.
var errUnused = errors.New("token store method not used by this server")

func (c *call) RemoveByCode(context.Context, string) error { return errUnused }
func (c *call) RemoveByAccess(context.Context, string) error {
	return errUnused
}
func (c *call) RemoveByRefresh(context.Context, string) error { return errUnused }
func (c *call) GetByCode(context.Context, string) (oauth2.TokenInfo, error) {
	return nil, errUnused
}
func (c *call) GetByAccess(context.Context, string) (oauth2.TokenInfo, error) {
	return nil, errUnused
}

// GetByRefresh hands the manager the refresh token the caller loaded and
// checked. Its lifetime is given as zero, which the manager reads as "does
// not expire" (pinned by TestManagerSkipsExpiryForZeroLifetime): expiry was
// decided on our clock, and must not be decided again on time.Now.
func (c *call) GetByRefresh(_ context.Context, refresh string) (oauth2.TokenInfo, error) {
	if c.rotating == nil || refresh != c.presented {
		return nil, nil // the manager reports nil as an invalid refresh token
	}
	return &models.Token{
		ClientID:        c.rotating.ClientID,
		UserID:          c.rotating.Username,
		Scope:           c.rotating.Scope,
		Refresh:         refresh,
		RefreshCreateAt: c.rotating.IssuedAt,
	}, nil
}

// Create stores what the manager generated: a new family, or the atomic
// rotation of c.rotating. Times come from our clock, lifetimes from our
// settings, so the manager's time.Now never reaches the store.
func (c *call) Create(ctx context.Context, info oauth2.TokenInfo) error {
	c.created++
	if c.created > 1 {
		return errors.New("token manager stored twice in one call")
	}
	now := c.at
	ttl := c.issuer.accessTTLFor(c.client)
	tokens := []store.Token{{
		Hash:      store.HashToken(info.GetAccess()),
		Kind:      store.AccessToken,
		FamilyID:  c.family,
		ClientID:  c.client.ID,
		Username:  info.GetUserID(),
		Scope:     info.GetScope(),
		IssuedAt:  now,
		ExpiresAt: now.Add(ttl),
		Audience:  c.binding.Audience,
		JKT:       c.binding.JKT,
	}}
	refreshScope, grantedAt := info.GetScope(), now
	if c.rotating != nil {
		// RFC 6749 §6: a new refresh token keeps the scope of the one it
		// replaces, even when the access token's scope was narrowed.
		refreshScope, grantedAt = c.rotating.Scope, c.rotating.GrantedAt
	}
	refreshExpiry := now.Add(c.issuer.refreshTTL)
	if end := grantedAt.Add(c.issuer.grantMaxAge); end.Before(refreshExpiry) {
		refreshExpiry = end
	}
	// When no new refresh token was generated, the manager still carries
	// the presented one at this point: it is not a new token.
	if rt := info.GetRefresh(); rt != "" && rt != c.presented {
		tokens = append(tokens, store.Token{
			Hash:      store.HashToken(rt),
			Kind:      store.RefreshToken,
			FamilyID:  c.family,
			ClientID:  c.client.ID,
			Username:  info.GetUserID(),
			Scope:     refreshScope,
			IssuedAt:  now,
			ExpiresAt: refreshExpiry,
			Audience:  c.grantAudience,
			JKT:       c.binding.RefreshJKT,
		})
	}
	var err error
	switch {
	case c.rotating != nil:
		err = c.issuer.tokens.RotateRefreshToken(ctx, c.family, c.rotating.Hash, now, c.versions, tokens...)
	case c.code != nil:
		err = c.issuer.tokens.RedeemAuthCode(ctx, c.code.Hash, now, c.versions, tokens...)
	case c.device != nil:
		err = c.issuer.tokens.RedeemDeviceGrant(ctx, c.device.Hash, now, c.versions, tokens...)
	default:
		err = c.issuer.tokens.CreateTokens(ctx, c.versions, tokens...)
	}
	if err != nil {
		return fmt.Errorf("store tokens: %w", err)
	}
	c.issued = Issued{Access: info.GetAccess(), Scope: info.GetScope(), ExpiresIn: ttl, KeyID: c.kid, TokenType: "Bearer"}
	if c.binding.JKT != "" {
		c.issued.TokenType = "DPoP"
	}
	if len(tokens) > 1 {
		c.issued.Refresh = info.GetRefresh()
	}
	return nil
}
