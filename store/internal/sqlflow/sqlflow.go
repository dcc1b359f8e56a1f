// Package sqlflow holds the decisions the SQL backends share: each exported
// function is one store method's control flow, written once against Tx,
// which every backend implements in its own SQL (placeholders, time
// representation, row locks). Only store/sqlite and store/postgres import it.
package sqlflow

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"time"

	"github.com/example/authsvc/store"
)

// Tx is one open transaction of a backend. Its methods return the
// contract's sentinels (store.ErrNotFound, store.ErrAlreadyExists) where the
// comments say so, and never quote a token hash or a family id (a family id
// is the first half of every refresh token of its grant).
//
// Lock order, which every flow keeps so that PostgreSQL cannot deadlock:
// the user record, then the client record, then an authorization code or
// device authorization (AuthorizeTx), then grant records (several in id
// order), then token rows.
type Tx interface {
	Commit(ctx context.Context) error
	Rollback(ctx context.Context) error

	// LockGrant returns the current refresh token of grant familyID (with
	// GrantedAt), locked against every other writer until the transaction
	// ends; legacy reports a token issued before refresh tokens named their
	// grant. store.ErrNotFound if there is no such grant.
	LockGrant(ctx context.Context, familyID string) (current store.Token, legacy bool, err error)
	// ReplaceRefreshToken makes t the current refresh token of its grant
	// (hash, issue and expiry time; the grant's scope and start stay) and
	// counts one more generation.
	ReplaceRefreshToken(ctx context.Context, t store.Token) error
	// RevokeFamily deletes the grant record of familyID and every token of
	// the family.
	RevokeFamily(ctx context.Context, familyID string) error
	// DeleteAccessTokens deletes the access tokens of familyID.
	DeleteAccessTokens(ctx context.Context, familyID string) error
	// InsertTokens inserts access tokens (and spent legacy refresh tokens,
	// Rotated) as rows and starts a grant record for each other refresh
	// token; store.ErrAlreadyExists if a hash or a grant is taken.
	InsertTokens(ctx context.Context, tokens []store.Token) error

	// LockPrincipals returns the versions of clientID and, unless username
	// is empty, of username, each 0 if there is no such record (and the
	// user's 0 too if the user is disabled), read so that no change or
	// deletion of either can commit until the transaction ends.
	// Issuing tokens calls it first (see checkVersions).
	LockPrincipals(ctx context.Context, clientID, username string) (clientVersion, userVersion int64, err error)

	// LockUser returns username's record, locked against every other
	// change of it and against issuing tokens for it (LockPrincipals)
	// until the transaction ends; store.ErrNotFound if there is none.
	LockUser(ctx context.Context, username string) (store.User, error)
	// SaveUser stores u's PasswordHash, Disabled, UpdatedAt and Version.
	SaveUser(ctx context.Context, u store.User) error
	// DeleteUserRecord deletes username's row and login record.
	DeleteUserRecord(ctx context.Context, username string) error
	// LockClient returns clientID's record, locked against every other
	// change of it and against issuing tokens for it (LockPrincipals)
	// until the transaction ends; store.ErrNotFound if there is none.
	LockClient(ctx context.Context, clientID string) (store.Client, error)
	// SaveClient stores c's SecretHash, GrantTypes, Scopes, Introspect and
	// Version.
	SaveClient(ctx context.Context, c store.Client) error
	// DeleteClientRecord deletes clientID's row.
	DeleteClientRecord(ctx context.Context, clientID string) error
	// RevokeUser deletes every authorization code, device authorization
	// approved by, grant record, token and session of username, in lock
	// order.
	RevokeUser(ctx context.Context, username string) error
	// RevokeClient deletes every authorization code, device
	// authorization, grant record and token of clientID, in lock order.
	RevokeClient(ctx context.Context, clientID string) error

	// LockLogin returns username's login state (the zero state if it has
	// none), so locked that a parallel attempt reads it only after this
	// transaction ends.
	LockLogin(ctx context.Context, username string, now time.Time) (store.LoginState, error)
	// SaveLogin stores username's login state, last updated at now.
	SaveLogin(ctx context.Context, username string, s store.LoginState, now time.Time) error

	// DeleteExpiredTokens deletes at most limit tokens and grant records
	// that expired before now and reports how many it deleted.
	DeleteExpiredTokens(ctx context.Context, now time.Time, limit int) (int, error)
	// DeleteStaleLogins deletes at most limit login records last updated
	// before updatedBefore and not locked at now.
	DeleteStaleLogins(ctx context.Context, updatedBefore, now time.Time, limit int) error
}

// Begin starts a write transaction.
type Begin func(ctx context.Context) (Tx, error)

// txn is what inTx needs of a transaction.
type txn interface {
	Commit(ctx context.Context) error
	Rollback(ctx context.Context) error
}

// inTx runs fn in a transaction from begin and commits it if fn returns nil.
func inTx[T txn](ctx context.Context, begin func(context.Context) (T, error), fn func(tx T) error) error {
	tx, err := begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(ctx) // error ignored: a no-op after Commit
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// CreateTokens is store.Tokens.CreateTokens.
func CreateTokens(ctx context.Context, begin Begin, v store.Versions, tokens []store.Token) error {
	if len(tokens) == 0 {
		return nil
	}
	if err := checkNewTokens(tokens); err != nil {
		return err
	}
	err := inTx(ctx, begin, func(tx Tx) error { return insertChecked(ctx, tx, tx, v, tokens) })
	if err != nil {
		return fmt.Errorf("create tokens: %w", err)
	}
	return nil
}

// insertChecked inserts tokens if their client and user are still at the
// versions v names.
func insertChecked(ctx context.Context, tx Tx, principals principalLocker, v store.Versions, tokens []store.Token) error {
	if err := checkVersions(ctx, principals, v, tokens[0]); err != nil {
		return err
	}
	return tx.InsertTokens(ctx, tokens)
}

// checkVersions is the guard of every issuance (see store.Versions): the
// client and the user of t must still be at the versions v names, and stay
// so until the transaction ends. A change that committed first is seen
// here; one that comes later waits for this transaction and then ends
// what it stored.
func checkVersions(ctx context.Context, principals principalLocker, v store.Versions, t store.Token) error {
	clientVersion, userVersion, err := principals.LockPrincipals(ctx, t.ClientID, t.Username)
	switch {
	case err != nil:
		return fmt.Errorf("check versions: %w", err)
	case clientVersion == 0 || clientVersion != v.Client:
		return store.ErrClientChanged
	case t.Username != "" && (userVersion == 0 || userVersion != v.User):
		return store.ErrUserChanged
	}
	return nil
}

// checkNewTokens refuses what no issuance makes: a token spent already, or
// tokens of several clients or users in one call, whose versions one
// store.Versions could not name.
func checkNewTokens(tokens []store.Token) error {
	for _, t := range tokens {
		switch {
		case t.Rotated:
			return errors.New("create tokens: a new token cannot be rotated already")
		case t.ClientID != tokens[0].ClientID || t.Username != tokens[0].Username:
			return errors.New("create tokens: tokens of one call must share their client and user")
		}
	}
	return nil
}

// principalLocker is what checkVersions needs: Tx.LockPrincipals.
type principalLocker interface {
	LockPrincipals(ctx context.Context, clientID, username string) (clientVersion, userVersion int64, err error)
}

// lockedPrincipals is a transaction's LockPrincipals, asked once per
// client and user: a second read in the same transaction would find what
// the first one locked.
type lockedPrincipals struct {
	tx   Tx
	seen map[[2]string][2]int64
}

func (p *lockedPrincipals) LockPrincipals(ctx context.Context, clientID, username string) (int64, int64, error) {
	key := [2]string{clientID, username}
	if v, ok := p.seen[key]; ok {
		return v[0], v[1], nil
	}
	clientVersion, userVersion, err := p.tx.LockPrincipals(ctx, clientID, username)
	if err == nil {
		p.seen[key] = [2]int64{clientVersion, userVersion}
	}
	return clientVersion, userVersion, err
}

// TokenCall is one CreateTokens call: its tokens and the versions they
// were checked against.
type TokenCall struct {
	Versions store.Versions
	Tokens   []store.Token
}

// SavepointTx is a Tx that can undo part of itself: Savepoint marks it,
// RollbackToSavepoint undoes what was done since the mark, and
// ReleaseSavepoint drops the mark, keeping what was done.
type SavepointTx interface {
	Tx
	Savepoint(ctx context.Context) error
	RollbackToSavepoint(ctx context.Context) error
	ReleaseSavepoint(ctx context.Context) error
}

// CreateTokensTogether is CreateTokens for several callers at once, in one
// transaction and so one commit (a group commit): calls[i] are one caller's
// tokens and errs[i] its result. Each caller's tokens go in under a
// savepoint of their own, so that a failure of one caller (a hash or grant
// taken, a client just deleted) undoes only that caller's rows, as its own
// transaction would have. A failure to begin or commit is every caller's.
func CreateTokensTogether(ctx context.Context, begin func(context.Context) (SavepointTx, error), calls []TokenCall) (errs []error) {
	errs = make([]error, len(calls))
	failAll := func(err error) []error {
		for i := range errs {
			if errs[i] == nil {
				errs[i] = fmt.Errorf("create tokens: %w", err)
			}
		}
		return errs
	}
	tx, err := begin(ctx)
	if err != nil {
		return failAll(fmt.Errorf("begin: %w", err))
	}
	defer tx.Rollback(ctx) // error ignored: a no-op after Commit
	// The calls of a batch mostly name the same client (and user): read
	// each pair's versions once. Nothing can change them before the
	// transaction ends, the first read having locked both rows.
	principals := &lockedPrincipals{tx: tx, seen: map[[2]string][2]int64{}}
	for i, call := range calls {
		if len(call.Tokens) == 0 {
			continue
		}
		if err := checkNewTokens(call.Tokens); err != nil {
			errs[i] = err
			continue
		}
		if err := tx.Savepoint(ctx); err != nil {
			return failAll(err)
		}
		if err := insertChecked(ctx, tx, principals, call.Versions, call.Tokens); err != nil {
			errs[i] = fmt.Errorf("create tokens: %w", err)
			if err := tx.RollbackToSavepoint(ctx); err != nil {
				return failAll(err)
			}
		}
		if err := tx.ReleaseSavepoint(ctx); err != nil {
			return failAll(err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return failAll(fmt.Errorf("commit: %w", err))
	}
	return errs
}

// RotateRefreshToken is store.Tokens.RotateRefreshToken, in one transaction
// that begins by locking the grant record: concurrent rotations of one
// grant, from any replica, take turns on it, and each decides on the
// record the previous one committed. The first finds oldHash current and
// replaces it; the next finds another hash there, which is reuse, and ends
// the grant; any later one finds no grant (store.ErrNotFound).
func RotateRefreshToken(ctx context.Context, begin Begin, familyID, oldHash string, now time.Time, v store.Versions, newTokens []store.Token) error {
	if err := checkNewTokens(newTokens); err != nil {
		return fmt.Errorf("rotate refresh token: %w", err)
	}
	var next *store.Token
	for i, t := range newTokens {
		switch {
		case t.FamilyID != familyID:
			// A token outside the grant would survive reuse detection.
			return fmt.Errorf("rotate refresh token: new %s belongs to another family", t.Kind)
		case t.Kind == store.RefreshToken && next != nil:
			return errors.New("rotate refresh token: a grant has one refresh token")
		case t.Kind == store.RefreshToken:
			next = &newTokens[i]
		}
	}
	if next == nil {
		return errors.New("rotate refresh token: no new refresh token")
	}
	var reused bool
	err := inTx(ctx, begin, func(tx Tx) error {
		// The user and the client before the grant: see the lock order.
		if err := checkVersions(ctx, tx, v, *next); err != nil {
			return err
		}
		current, legacy, err := tx.LockGrant(ctx, familyID)
		if err != nil {
			return err
		}
		if current.ClientID != next.ClientID || current.Username != next.Username {
			// The versions checked were another grant's principals.
			return fmt.Errorf("grant of another client or user: %w", store.ErrNotFound)
		}
		// The hash of a secret is compared; constant time costs nothing.
		if subtle.ConstantTimeCompare([]byte(current.Hash), []byte(oldHash)) != 1 {
			if err := tx.RevokeFamily(ctx, familyID); err != nil {
				return fmt.Errorf("revoke reused grant: %w", err)
			}
			// Returning nil commits: the revocation must outlive the error.
			reused = true
			return nil
		}
		if !current.Active(now) {
			return fmt.Errorf("expired: %w", store.ErrNotFound)
		}
		if err := tx.DeleteAccessTokens(ctx, familyID); err != nil {
			return fmt.Errorf("delete access tokens: %w", err)
		}
		var access []store.Token
		for _, t := range newTokens {
			if t.Kind != store.RefreshToken {
				access = append(access, t)
			}
		}
		if legacy {
			// A value from before migration 00002 does not name its
			// grant, so its reuse can only be told by its hash: keep it,
			// spent, until it expires (once per converted grant).
			spent := current
			spent.Rotated = true
			access = append(access, spent)
		}
		if err := tx.InsertTokens(ctx, access); err != nil {
			return err
		}
		return tx.ReplaceRefreshToken(ctx, *next)
	})
	if err == nil && reused {
		err = store.ErrTokenReused
	}
	if err != nil {
		return fmt.Errorf("rotate refresh token: %w", err)
	}
	return nil
}

// UpdateUser is store.Users.UpdateUser: the revocation that a password
// change or a disable entails commits with it or not at all, and so does
// the new version that keeps tokens checked against the old record out.
func UpdateUser(ctx context.Context, begin Begin, u store.User) error {
	err := inTx(ctx, begin, func(tx Tx) error {
		old, err := tx.LockUser(ctx, u.Username)
		if err != nil {
			return err
		}
		if old.Version != u.Version {
			return store.ErrConflict
		}
		u.Version++
		if err := tx.SaveUser(ctx, u); err != nil {
			return err
		}
		if !bytes.Equal(old.PasswordHash, u.PasswordHash) || (u.Disabled && !old.Disabled) {
			if err := tx.RevokeUser(ctx, u.Username); err != nil {
				return fmt.Errorf("revoke grants: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("update user %q: %w", u.Username, err)
	}
	return nil
}

// RehashPassword is store.Users.RehashPassword: the same password under a
// new hash, so the version stays and nothing is revoked.
func RehashPassword(ctx context.Context, begin Begin, username string, version int64, hash []byte) error {
	err := inTx(ctx, begin, func(tx Tx) error {
		u, err := tx.LockUser(ctx, username)
		if err != nil {
			return err
		}
		if u.Version != version {
			return store.ErrConflict
		}
		u.PasswordHash = hash
		return tx.SaveUser(ctx, u)
	})
	if err != nil {
		return fmt.Errorf("rehash password of user %q: %w", username, err)
	}
	return nil
}

// RevokeUserGrants is store.Tokens.RevokeUserGrants.
func RevokeUserGrants(ctx context.Context, begin Begin, username string) error {
	err := inTx(ctx, begin, func(tx Tx) error { return tx.RevokeUser(ctx, username) })
	if err != nil {
		return fmt.Errorf("revoke grants of user %q: %w", username, err)
	}
	return nil
}

// RevokeClientGrants is store.Tokens.RevokeClientGrants.
func RevokeClientGrants(ctx context.Context, begin Begin, clientID string) error {
	err := inTx(ctx, begin, func(tx Tx) error { return tx.RevokeClient(ctx, clientID) })
	if err != nil {
		return fmt.Errorf("revoke grants of client %q: %w", clientID, err)
	}
	return nil
}

// DeleteFamily is store.Tokens.DeleteFamily.
func DeleteFamily(ctx context.Context, begin Begin, familyID string) error {
	err := inTx(ctx, begin, func(tx Tx) error { return tx.RevokeFamily(ctx, familyID) })
	if err != nil {
		return fmt.Errorf("delete family: %w", err)
	}
	return nil
}

// BeginLogin is store.Logins.BeginLogin: the decision is p.Attempt; the
// backend's LockLogin makes parallel attempts take turns, so no more than
// p.Threshold of them get through before the lock.
func BeginLogin(ctx context.Context, begin Begin, username string, now time.Time, p store.LoginPolicy) (a store.LoginAttempt, err error) {
	if err := p.Validate(); err != nil {
		// Fail closed: a zero policy would otherwise never lock.
		return store.LoginAttempt{}, fmt.Errorf("begin login %q: %w", username, err)
	}
	err = inTx(ctx, begin, func(tx Tx) error {
		s, err := tx.LockLogin(ctx, username, now)
		if err != nil {
			return err
		}
		if s, a = p.Attempt(s, now); !a.Allowed {
			return nil // locked: count nothing
		}
		return tx.SaveLogin(ctx, username, s, now)
	})
	if err != nil {
		return store.LoginAttempt{}, fmt.Errorf("begin login %q: %w", username, err)
	}
	return a, nil
}

// DeleteExpired is store.Tokens.DeleteExpired: at most limit expired tokens,
// at most limit each of expired codes, device authorizations, sessions and
// consents, and at most limit stale login records (not locked at now, last
// changed more than store.StaleLoginAge before now), in one short
// transaction. It reports the rows deleted but the login records: a caller
// that loops until fewer than limit come back stops only when no kind had
// limit rows to delete.
func DeleteExpired(ctx context.Context, begin BeginAuthorize, now time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	var n int
	err := inTx(ctx, begin, func(tx AuthorizeTx) (err error) {
		if n, err = tx.DeleteExpiredTokens(ctx, now, limit); err != nil {
			return fmt.Errorf("tokens: %w", err)
		}
		m, err := tx.DeleteExpiredAuthorizations(ctx, now, limit)
		if err != nil {
			return fmt.Errorf("authorizations: %w", err)
		}
		n += m
		if err := tx.DeleteStaleLogins(ctx, now.Add(-store.StaleLoginAge), now, limit); err != nil {
			return fmt.Errorf("logins: %w", err)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("delete expired: %w", err)
	}
	return n, nil
}
