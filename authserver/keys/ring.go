package keys

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/example/authsvc/store"
)

// AccessToken is what a JWT access token says (RFC 9068 §2.2).
type AccessToken struct {
	ID       string // jti
	Subject  string // the username, or the client id of a client's own token
	ClientID string
	Username string // the resource owner; "" for a client's own token
	Scope    string
	Audience []string
	IssuedAt time.Time
	Expiry   time.Time
	// JKT binds the token to a DPoP key (RFC 9449 §6.1): cnf.jkt.
	JKT string
}

// claims is the JWT payload of an AccessToken.
type claims struct {
	jwt.Claims
	ClientID string `json:"client_id"`
	Scope    string `json:"scope,omitempty"`
	Username string `json:"username,omitempty"`
	Cnf      *cnf   `json:"cnf,omitempty"`
}

type cnf struct {
	JKT string `json:"jkt"`
}

// ErrNoSigningKey: no stored key signs now (none made yet, or no KEK to
// open it with).
var ErrNoSigningKey = errors.New("no signing key is available")

// Ring holds the stored keys of this process: it signs with the current
// one and serves the published ones. Reload reads the store again; Run
// does so periodically, so a key rotated by another process (authctl, a
// replica) is picked up well within its publication window.
type Ring struct {
	store  store.SigningKeys
	kek    *KEK
	issuer string
	logger *slog.Logger
	now    func() time.Time

	state    atomic.Pointer[ringState]
	reloadMu sync.Mutex
}

type ringState struct {
	keys    []store.SigningKey
	signers map[string]jose.Signer // by kid, for the keys that may still sign
	jwks    []byte
}

// NewRing returns a Ring over st for tokens of issuer; kek may be nil, and
// then the ring serves the published keys but signs nothing.
func NewRing(st store.SigningKeys, kek *KEK, issuer string, logger *slog.Logger, now func() time.Time) *Ring {
	r := &Ring{store: st, kek: kek, issuer: issuer, logger: logger, now: now}
	r.state.Store(&ringState{jwks: []byte(`{"keys":[]}`)})
	return r
}

// Ensure makes the first key if none signs now or later (ES256 unless alg
// says otherwise), then loads the keys. Replicas starting together end up
// with one key (store.SigningKeys.EnsureSigningKey). Without a KEK it
// only loads.
func (r *Ring) Ensure(ctx context.Context, alg string) error {
	if r.kek != nil {
		now := r.now()
		k, err := Generate(r.kek, alg, now, now)
		if err != nil {
			return err
		}
		created, err := r.store.EnsureSigningKey(ctx, k, now)
		if err != nil {
			return err
		}
		if created {
			r.logger.InfoContext(ctx, "created the first signing key of JWT access tokens", "kid", k.ID, "alg", alg)
		}
	}
	return r.Reload(ctx)
}

// Reload reads every key from the store and swaps in the new state.
func (r *Ring) Reload(ctx context.Context) error {
	r.reloadMu.Lock()
	defer r.reloadMu.Unlock()
	keys, err := r.store.SigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("load signing keys: %w", err)
	}
	now := r.now()
	old := r.state.Load()
	next := &ringState{keys: keys, signers: make(map[string]jose.Signer)}
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{}}
	for _, k := range keys {
		if k.PublishedAt(now) {
			var pub jose.JSONWebKey
			if err := pub.UnmarshalJSON(k.PublicJWK); err != nil || !pub.IsPublic() {
				r.logger.ErrorContext(ctx, "a stored signing key's public half is unreadable; it is not published", "kid", k.ID)
			} else {
				set.Keys = append(set.Keys, pub)
			}
		}
		if !k.RetiredAt.IsZero() && !now.Before(k.RetiredAt) {
			continue // will never sign again
		}
		if s, ok := old.signers[k.ID]; ok {
			next.signers[k.ID] = s
			continue
		}
		if r.kek == nil {
			continue
		}
		s, err := openSigner(r.kek, k)
		if err != nil {
			// Never the key material: only which key, and why.
			r.logger.ErrorContext(ctx, "a stored signing key cannot be opened; it will not sign", "kid", k.ID, "err", err)
			continue
		}
		next.signers[k.ID] = s
	}
	jwks, err := json.Marshal(set)
	if err != nil {
		return fmt.Errorf("encode the JWKS: %w", err)
	}
	next.jwks = jwks
	r.state.Store(next)
	return nil
}

// Run reloads every interval until ctx ends, logging failures (the keys
// loaded last stay in use), and now and then deletes the keys no longer
// published.
func (r *Ring) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for tick := 1; ; tick++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if tick%sweepEvery == 0 {
			if n, err := r.store.DeleteUnpublishedKeys(ctx, r.now()); err != nil && ctx.Err() == nil {
				r.logger.WarnContext(ctx, "deleting unpublished signing keys failed", "err", err)
			} else if n > 0 {
				r.logger.InfoContext(ctx, "signing keys past their publication deleted", "count", n)
			}
		}
		if err := r.Reload(ctx); err != nil && ctx.Err() == nil {
			r.logger.WarnContext(ctx, "reloading the signing keys failed; the keys loaded before stay in use", "err", err)
		}
	}
}

// sweepEvery is how many reloads pass between two sweeps of unpublished
// keys.
const sweepEvery = 30

// JWKS is the JSON of the published public keys.
func (r *Ring) JWKS() []byte { return r.state.Load().jwks }

// Sign returns t as a JWT signed with the current key, with typ at+jwt,
// and the kid that signed it.
func (r *Ring) Sign(t AccessToken) (token, kid string, err error) {
	st := r.state.Load()
	k, ok := store.CurrentSigningKey(st.keys, r.now())
	if !ok {
		return "", "", ErrNoSigningKey
	}
	signer, ok := st.signers[k.ID]
	if !ok {
		return "", "", fmt.Errorf("%w: key %s cannot be opened here", ErrNoSigningKey, k.ID)
	}
	c := claims{
		Claims: jwt.Claims{
			Issuer:   r.issuer,
			Subject:  t.Subject,
			Audience: jwt.Audience(t.Audience),
			Expiry:   jwt.NewNumericDate(t.Expiry),
			IssuedAt: jwt.NewNumericDate(t.IssuedAt),
			ID:       t.ID,
		},
		ClientID: t.ClientID,
		Scope:    t.Scope,
		Username: t.Username,
	}
	if t.JKT != "" {
		c.Cnf = &cnf{JKT: t.JKT}
	}
	token, err = jwt.Signed(signer).Claims(c).Serialize()
	if err != nil {
		return "", "", fmt.Errorf("sign an access token: %w", err)
	}
	return token, k.ID, nil
}
