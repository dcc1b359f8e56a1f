package store

import (
	"context"
	"errors"
	"slices"
	"time"
)

// SigningKey is a key that signs JWT access tokens. Its private half is
// stored only sealed with the operator's key-encryption key; the store
// never sees it in the clear.
//
// A key's life: it is published (in the JWKS) from its creation, signs from
// ActiveAt, stops signing at RetiredAt, and leaves the JWKS at
// PublishedUntil, after the last token it signed has expired. Rotation
// creates the next key with ActiveAt in the future, so every resource has
// had the chance to fetch it before any token it signs is seen.
type SigningKey struct {
	ID            string // kid: the RFC 7638 thumbprint of the public key
	Algorithm     string // JWS alg, e.g. ES256
	PublicJWK     []byte // JSON of the public JWK
	SealedPrivate []byte
	CreatedAt     time.Time
	ActiveAt      time.Time
	// RetiredAt is zero while the key is not retired.
	RetiredAt time.Time
	// PublishedUntil is zero while the key stays published indefinitely.
	PublishedUntil time.Time
}

// SignsAt reports whether the key may sign at now.
func (k SigningKey) SignsAt(now time.Time) bool {
	return !now.Before(k.ActiveAt) && (k.RetiredAt.IsZero() || now.Before(k.RetiredAt))
}

// PublishedAt reports whether the key belongs in the JWKS at now.
func (k SigningKey) PublishedAt(now time.Time) bool {
	return k.PublishedUntil.IsZero() || now.Before(k.PublishedUntil)
}

// CurrentSigningKey is the one key that signs at now: of the keys that
// may, the one that became active last (ties by ID), so that every replica
// reading the same keys picks the same one. ok is false if none may.
func CurrentSigningKey(keys []SigningKey, now time.Time) (k SigningKey, ok bool) {
	for _, c := range keys {
		if !c.SignsAt(now) {
			continue
		}
		if !ok || c.ActiveAt.After(k.ActiveAt) || (c.ActiveAt.Equal(k.ActiveAt) && c.ID > k.ID) {
			k, ok = c, true
		}
	}
	return k, ok
}

// MaxSignedTokenLifetime bounds the lifetime of a signed token, and with
// it how long a retired key must stay published (plus
// SignedTokenLeeway for the clocks of resources).
const (
	MaxSignedTokenLifetime = time.Hour
	SignedTokenLeeway      = time.Minute
)

// ErrLastSigningKey: retiring the key would leave nothing to sign with;
// rotate first (with no publication window in an emergency), and retire
// once the new key signs.
var ErrLastSigningKey = errors.New("no other key signs now: rotate first, and retire once the new key is active")

// SigningKeys stores the keys of JWT access tokens.
type SigningKeys interface {
	// SigningKeys lists every stored key, published or not yet deleted,
	// by ActiveAt.
	SigningKeys(ctx context.Context) ([]SigningKey, error)
	// EnsureSigningKey stores k, which must be active at once, only if
	// no stored key signs at now or later: of any number of replicas
	// starting at once, exactly one key results. It reports whether k
	// was stored.
	EnsureSigningKey(ctx context.Context, k SigningKey, now time.Time) (bool, error)
	// RotateSigningKey stores next and retires every other key that is
	// not retired yet at next.ActiveAt, keeping each published until
	// MaxSignedTokenLifetime + SignedTokenLeeway after its retirement.
	// ErrAlreadyExists if next.ID is taken.
	RotateSigningKey(ctx context.Context, next SigningKey) error
	// RetireSigningKey stops kid signing at now. It stays published
	// until the tokens it signed have expired, or leaves the JWKS at
	// once if compromised. ErrNotFound if there is no such key;
	// ErrLastSigningKey, and nothing changed, unless another key signs at
	// now and is not due to retire.
	RetireSigningKey(ctx context.Context, kid string, now time.Time, compromised bool) error
	// DeleteUnpublishedKeys deletes keys no longer published at now.
	DeleteUnpublishedKeys(ctx context.Context, now time.Time) (int, error)
}

// keysAfterRetirement is what RetireSigningKey needs: some key other than
// kid that signs at now and is not due to retire.
func keysAfterRetirement(keys []SigningKey, kid string, now time.Time) bool {
	return slices.ContainsFunc(keys, func(k SigningKey) bool {
		return k.ID != kid && k.SignsAt(now) && k.RetiredAt.IsZero()
	})
}

// PlanRetirement computes the retirement of kid among keys at now: the
// key as it is to be stored, ErrNotFound or ErrLastSigningKey. Both
// backends apply it inside their transaction, so the rule is written once.
func PlanRetirement(keys []SigningKey, kid string, now time.Time, compromised bool) (SigningKey, error) {
	i := slices.IndexFunc(keys, func(k SigningKey) bool { return k.ID == kid })
	if i < 0 {
		return SigningKey{}, ErrNotFound
	}
	if !keysAfterRetirement(keys, kid, now) {
		return SigningKey{}, ErrLastSigningKey
	}
	k := keys[i].retiredBy(now)
	if compromised && now.Before(k.PublishedUntil) {
		k.PublishedUntil = now
	}
	return k, nil
}

// retiredBy is k retired at t at the latest, and published until the last
// token it may have signed has expired: neither moves later than it was.
func (k SigningKey) retiredBy(t time.Time) SigningKey {
	if k.RetiredAt.IsZero() || t.Before(k.RetiredAt) {
		k.RetiredAt = t
	}
	if until := k.RetiredAt.Add(MaxSignedTokenLifetime + SignedTokenLeeway); k.PublishedUntil.IsZero() || until.Before(k.PublishedUntil) {
		k.PublishedUntil = until
	}
	return k
}

// PlanRotation computes what RotateSigningKey changes besides inserting
// next: every other key not retired by next.ActiveAt, retired then.
func PlanRotation(keys []SigningKey, next SigningKey) []SigningKey {
	var changed []SigningKey
	for _, k := range keys {
		if k.ID == next.ID || (!k.RetiredAt.IsZero() && !k.RetiredAt.After(next.ActiveAt)) {
			continue
		}
		changed = append(changed, k.retiredBy(next.ActiveAt))
	}
	return changed
}

// NeedsSigningKey reports whether no stored key signs at now or later
// (EnsureSigningKey's condition).
func NeedsSigningKey(keys []SigningKey, now time.Time) bool {
	return !slices.ContainsFunc(keys, func(k SigningKey) bool {
		return k.RetiredAt.IsZero() || now.Before(k.RetiredAt)
	})
}
