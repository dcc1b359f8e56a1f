package admin

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/example/authsvc/authserver/keys"
	"github.com/example/authsvc/store"
)

// DefaultPublishWindow is how long a rotated-in key is published before it
// signs: longer than the JWKS max-age, so that every resource has it
// before it meets a token it signed.
const DefaultPublishWindow = 10 * time.Minute

// SigningKeys lists the stored signing keys by activation. The sealed
// private halves are dropped: no listing carries key material.
func (s *Service) SigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	list, err := s.store.SigningKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("list signing keys: %w", err)
	}
	for i := range list {
		list[i].SealedPrivate = nil
	}
	return list, nil
}

// RotateSigningKey makes a new key of alg, sealed with kek, published now
// and signing after window; every other key stops signing then and stays
// published until the tokens it signed have expired. A zero window makes
// the new key sign at once (after a compromise; resources fetch a kid
// they do not know).
func (s *Service) RotateSigningKey(ctx context.Context, kek *keys.KEK, alg string, window time.Duration) (store.SigningKey, error) {
	if window < 0 {
		return store.SigningKey{}, invalid(fmt.Errorf("publication window %v: must not be negative", window))
	}
	if err := keys.ValidateAlgorithm(alg); err != nil {
		return store.SigningKey{}, invalid(err)
	}
	if kek == nil {
		return store.SigningKey{}, invalid(keys.ErrNoKEK)
	}
	now := s.now().UTC()
	k, err := keys.Generate(kek, alg, now, now.Add(window))
	if err != nil {
		return store.SigningKey{}, err
	}
	if err := s.store.RotateSigningKey(ctx, k); err != nil {
		return store.SigningKey{}, fmt.Errorf("rotate signing keys: %w", err)
	}
	s.audit(ctx, eventKeyRotated, "kid", k.ID, "alg", alg, "active_at", k.ActiveAt)
	k.SealedPrivate = nil
	return k, nil
}

// RetireSigningKey stops kid signing now; compromised also takes it out of
// the JWKS at once, so the tokens it signed stop working at resources that
// check locally. store.ErrNotFound, or ErrInvalid when no other key signs.
func (s *Service) RetireSigningKey(ctx context.Context, kid string, compromised bool) error {
	err := s.store.RetireSigningKey(ctx, kid, s.now().UTC(), compromised)
	if errors.Is(err, store.ErrLastSigningKey) {
		return invalid(err)
	}
	if err != nil {
		return fmt.Errorf("retire signing key %q: %w", kid, err)
	}
	s.audit(ctx, eventKeyRetired, "kid", kid, "compromised", compromised)
	return nil
}
