package sqlflow

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/example/authsvc/store"
)

// AuthorizeTx is what the redemption flows of browser and device login
// need of a transaction, beyond Tx. The code or device row is locked after
// the principals and before any grant or token (see Tx's lock order).
type AuthorizeTx interface {
	Tx
	// LockAuthCode returns the code hash, locked against every other
	// redemption until the transaction ends; store.ErrNotFound.
	LockAuthCode(ctx context.Context, hash string) (store.AuthCode, error)
	// MarkAuthCodeRedeemed marks the code hash redeemed.
	MarkAuthCodeRedeemed(ctx context.Context, hash string) error
	// LockDeviceGrant returns the device authorization hash, locked as
	// LockAuthCode locks a code; store.ErrNotFound.
	LockDeviceGrant(ctx context.Context, hash string) (store.DeviceGrant, error)
	// SaveDevicePoll stores the device authorization's last poll and
	// interval.
	SaveDevicePoll(ctx context.Context, hash string, polledAt time.Time, interval time.Duration) error
	// DeleteDeviceGrant deletes the device authorization hash.
	DeleteDeviceGrant(ctx context.Context, hash string) error
	// DeleteExpiredAuthorizations deletes at most limit each of the codes,
	// device authorizations, sessions and consents expired before now,
	// and reports how many rows it deleted in all.
	DeleteExpiredAuthorizations(ctx context.Context, now time.Time, limit int) (int, error)
}

// BeginAuthorize starts a write transaction with the methods of
// AuthorizeTx.
type BeginAuthorize func(ctx context.Context) (AuthorizeTx, error)

// checkGrantTokens refuses tokens that are not the first of grant
// familyID, for client and user.
func checkGrantTokens(tokens []store.Token, familyID, clientID, username string) error {
	if len(tokens) == 0 {
		return errors.New("no tokens")
	}
	if err := checkNewTokens(tokens); err != nil {
		return err
	}
	for _, t := range tokens {
		if t.FamilyID != familyID || t.ClientID != clientID || t.Username != username {
			return errors.New("tokens of another grant, client or user than the one redeemed")
		}
	}
	return nil
}

// RedeemAuthCode is store.Authorizations.RedeemAuthCode. Concurrent
// redemptions of one code take turns on its row: the first marks it and
// inserts its tokens in one commit; every later one finds it redeemed and
// ends the grant the first one started (RFC 6749 §4.1.2).
func RedeemAuthCode(ctx context.Context, begin BeginAuthorize, hash string, now time.Time, v store.Versions, tokens []store.Token) error {
	if len(tokens) == 0 {
		return errors.New("redeem authorization code: no tokens")
	}
	var reused bool
	err := inTx(ctx, begin, func(tx AuthorizeTx) error {
		// The user and the client before the code: see the lock order.
		if err := checkVersions(ctx, tx, v, tokens[0]); err != nil {
			return err
		}
		code, err := tx.LockAuthCode(ctx, hash)
		if err != nil {
			return err
		}
		if err := checkGrantTokens(tokens, code.FamilyID, code.ClientID, code.Username); err != nil {
			return err
		}
		if code.Redeemed {
			if err := tx.RevokeFamily(ctx, code.FamilyID); err != nil {
				return fmt.Errorf("revoke the code's grant: %w", err)
			}
			// Returning nil commits: the revocation must outlive the error.
			reused = true
			return nil
		}
		if !now.Before(code.ExpiresAt) {
			return fmt.Errorf("expired: %w", store.ErrNotFound)
		}
		if err := tx.MarkAuthCodeRedeemed(ctx, hash); err != nil {
			return err
		}
		return tx.InsertTokens(ctx, tokens)
	})
	if err == nil && reused {
		err = store.ErrCodeReused
	}
	if err != nil {
		return fmt.Errorf("redeem authorization code: %w", err)
	}
	return nil
}

// RedeemDeviceGrant is store.Authorizations.RedeemDeviceGrant: the first of
// concurrent redemptions deletes the row and inserts its tokens; the others
// find no row.
func RedeemDeviceGrant(ctx context.Context, begin BeginAuthorize, hash string, now time.Time, v store.Versions, tokens []store.Token) error {
	if len(tokens) == 0 {
		return errors.New("redeem device authorization: no tokens")
	}
	err := inTx(ctx, begin, func(tx AuthorizeTx) error {
		if err := checkVersions(ctx, tx, v, tokens[0]); err != nil {
			return err
		}
		d, err := tx.LockDeviceGrant(ctx, hash)
		if err != nil {
			return err
		}
		if d.Status != store.DeviceApproved || !now.Before(d.ExpiresAt) {
			return fmt.Errorf("not approved, or expired: %w", store.ErrNotFound)
		}
		if err := checkGrantTokens(tokens, d.FamilyID, d.ClientID, d.Username); err != nil {
			return err
		}
		if err := tx.DeleteDeviceGrant(ctx, hash); err != nil {
			return err
		}
		return tx.InsertTokens(ctx, tokens)
	})
	if err != nil {
		return fmt.Errorf("redeem device authorization: %w", err)
	}
	return nil
}

// PollDeviceGrant is store.Authorizations.PollDeviceGrant: concurrent polls
// of one device take turns, so each sees the poll before it.
func PollDeviceGrant(ctx context.Context, begin BeginAuthorize, hash string, now time.Time) (d store.DeviceGrant, slowDown bool, err error) {
	err = inTx(ctx, begin, func(tx AuthorizeTx) error {
		if d, err = tx.LockDeviceGrant(ctx, hash); err != nil {
			return err
		}
		if !d.LastPolledAt.IsZero() && now.Before(d.LastPolledAt.Add(d.Interval)) {
			slowDown = true
			d.Interval += store.DeviceSlowDownStep
		}
		d.LastPolledAt = now
		return tx.SaveDevicePoll(ctx, hash, now, d.Interval)
	})
	if err != nil {
		return store.DeviceGrant{}, false, fmt.Errorf("poll device authorization: %w", err)
	}
	return d, slowDown, nil
}
