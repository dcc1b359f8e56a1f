package sqlflow

import (
	"context"
	"fmt"

	"github.com/example/authsvc/store"
)

// DeleteUser is store.Users.DeleteUser. The user's row is locked first, as
// UpdateUser does, so that lock order stays user, then grants, then tokens.
func DeleteUser(ctx context.Context, begin Begin, username string) error {
	err := inTx(ctx, begin, func(tx Tx) error {
		if _, err := tx.LockUser(ctx, username); err != nil {
			return err
		}
		if err := tx.RevokeUser(ctx, username); err != nil {
			return fmt.Errorf("revoke grants: %w", err)
		}
		return tx.DeleteUserRecord(ctx, username)
	})
	if err != nil {
		return fmt.Errorf("delete user %q: %w", username, err)
	}
	return nil
}

// UpdateClient is store.Clients.UpdateClient: the revocation a narrowing
// entails commits with it or not at all, and so does the new version that
// keeps tokens authenticated against the old record out.
func UpdateClient(ctx context.Context, begin Begin, c store.Client) error {
	err := inTx(ctx, begin, func(tx Tx) error {
		old, err := tx.LockClient(ctx, c.ID)
		if err != nil {
			return err
		}
		if old.Version != c.Version {
			return store.ErrConflict
		}
		c.Version++
		if err := tx.SaveClient(ctx, c); err != nil {
			return err
		}
		if old.Narrows(c) {
			if err := tx.RevokeClient(ctx, c.ID); err != nil {
				return fmt.Errorf("revoke grants: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("update client %q: %w", c.ID, err)
	}
	return nil
}

// DeleteClient is store.Clients.DeleteClient.
func DeleteClient(ctx context.Context, begin Begin, clientID string) error {
	err := inTx(ctx, begin, func(tx Tx) error {
		if _, err := tx.LockClient(ctx, clientID); err != nil {
			return err
		}
		if err := tx.RevokeClient(ctx, clientID); err != nil {
			return fmt.Errorf("revoke grants: %w", err)
		}
		return tx.DeleteClientRecord(ctx, clientID)
	})
	if err != nil {
		return fmt.Errorf("delete client %q: %w", clientID, err)
	}
	return nil
}
