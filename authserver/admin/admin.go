// Package admin is the one place where users and clients are created and
// changed: authctl and the server's bootstrap both call it, so every rule
// (validation, password policy, hashing) is applied the same way whichever
// door an administrator uses. It depends on the store contract only, never
// on an HTTP server.
package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/example/authsvc/store"
)

// ErrInvalid marks a request the rules refuse (a bad name, password, grant
// or scope): the caller's mistake, not a failure of the store.
var ErrInvalid = errors.New("invalid")

// invalidError carries the rule's own message and matches ErrInvalid.
type invalidError struct{ err error }

func (e invalidError) Error() string        { return e.err.Error() }
func (e invalidError) Unwrap() error        { return e.err }
func (e invalidError) Is(target error) bool { return target == ErrInvalid }

func invalid(err error) error {
	if err == nil {
		return nil
	}
	return invalidError{err}
}

// Service administers the authorization server's users and clients.
type Service struct {
	store      store.AuthStore
	logger     *slog.Logger
	bcryptCost int
	now        func() time.Time
}

// New returns the admin service; passwords are hashed at bcryptCost.
func New(st store.AuthStore, logger *slog.Logger, bcryptCost int) (*Service, error) {
	if err := store.ValidateBcryptCost(bcryptCost); err != nil {
		return nil, invalid(err)
	}
	return &Service{store: st, logger: logger, bcryptCost: bcryptCost, now: time.Now}, nil
}

// WeakBcryptCost reports whether new hashes are cheaper than
// store.MinBcryptCost (acceptable in tests only); callers warn.
func (s *Service) WeakBcryptCost() bool { return s.bcryptCost < store.MinBcryptCost }

// User returns one user; store.ErrNotFound if there is none.
func (s *Service) User(ctx context.Context, name string) (store.User, error) {
	u, err := s.store.GetUser(ctx, name)
	if err != nil {
		return store.User{}, fmt.Errorf("user %q: %w", name, err)
	}
	return u, nil
}

// Users lists every user by name.
func (s *Service) Users(ctx context.Context) ([]store.User, error) {
	users, err := s.store.ListUsers(ctx)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return users, nil
}

// CheckNewUsername refuses a name that is taken, by a user or by a client
// (store.ErrAlreadyExists either way): a token's sub is the username or,
// for client credentials, the client id, and the two must never name the
// same principal (RFC 9700 §4.15). authctl asks before it prompts for a
// password; the store enforces it when CreateUser or ImportUser inserts.
func (s *Service) CheckNewUsername(ctx context.Context, name string) error {
	return s.nameFree(ctx, kindUser, name)
}

// The two kinds of principal that share one namespace of names.
const (
	kindUser   = "user"
	kindClient = "client"
)

// nameFree returns nil if neither a user nor a client holds name, and
// otherwise the nameTaken answer. It only spares an administrator a prompt
// or a hash: the store's names table is what refuses the second of two
// creations racing for one name.
func (s *Service) nameFree(ctx context.Context, kind, name string) error {
	holder, err := s.holderOf(ctx, name)
	if err != nil {
		return err
	}
	if holder != "" {
		return nameTaken(kind, name, holder)
	}
	return nil
}

// refusedName explains a store.ErrAlreadyExists for a kind creating name:
// which kind holds the name.
func (s *Service) refusedName(ctx context.Context, kind, name string) error {
	holder, _ := s.holderOf(ctx, name) // on error, the answer just names no holder
	return nameTaken(kind, name, holder)
}

// holderOf reports which kind holds name: kindUser, kindClient or "".
func (s *Service) holderOf(ctx context.Context, name string) (string, error) {
	if _, err := s.store.GetUser(ctx, name); err == nil {
		return kindUser, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return "", fmt.Errorf("look up user %q: %w", name, err)
	}
	if _, err := s.store.GetClient(ctx, name); err == nil {
		return kindClient, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return "", fmt.Errorf("look up client %q: %w", name, err)
	}
	return "", nil
}

// nameTaken is the answer to a kind that may not have name, held by holder
// (or, if holder is empty, by whoever held it a moment ago); it wraps
// store.ErrAlreadyExists.
func nameTaken(kind, name, holder string) error {
	switch holder {
	case kind:
		return fmt.Errorf("%s %q %w", kind, name, store.ErrAlreadyExists)
	case "":
		return fmt.Errorf("%s %q: the name was taken: %w", kind, name, store.ErrAlreadyExists)
	}
	return fmt.Errorf("%s %q: a %s has that name, and the two would share one token subject: %w",
		kind, name, holder, store.ErrAlreadyExists)
}

// CreateUser creates a user with a new password; store.ErrAlreadyExists if
// the name is taken by a user or a client.
func (s *Service) CreateUser(ctx context.Context, name, password string) error {
	if err := store.ValidateUsername(name); err != nil {
		return invalid(err)
	}
	if err := s.nameFree(ctx, kindUser, name); err != nil {
		return err
	}
	hash, err := s.hashPassword(password)
	if err != nil {
		return err
	}
	return s.insertUser(ctx, name, hash)
}

// ImportUser creates a user from an existing bcrypt hash (bootstrap's
// password_hash); store.ErrAlreadyExists if the name is taken by a user or
// a client.
func (s *Service) ImportUser(ctx context.Context, name string, hash []byte) error {
	if err := errors.Join(store.ValidateUsername(name), store.ValidatePasswordHash(hash)); err != nil {
		return invalid(err)
	}
	if err := s.nameFree(ctx, kindUser, name); err != nil {
		return err
	}
	return s.insertUser(ctx, name, slices.Clone(hash))
}

func (s *Service) insertUser(ctx context.Context, name string, hash []byte) error {
	now := s.now().UTC()
	err := s.store.CreateUser(ctx, store.User{Username: name, PasswordHash: hash, CreatedAt: now, UpdatedAt: now})
	if errors.Is(err, store.ErrAlreadyExists) {
		return s.refusedName(ctx, kindUser, name)
	}
	if err != nil {
		return fmt.Errorf("create user %q: %w", name, err)
	}
	s.audit(ctx, eventUserCreated, "username", name)
	return nil
}

// SetPassword replaces a user's password and, in the same store write,
// ends every grant of the user: whoever held the old password, or a token
// obtained with it, holds nothing any more (OWASP ASVS V3.3.3, RFC 6819
// §5.2.2.3). store.ErrNotFound if there is no such user.
func (s *Service) SetPassword(ctx context.Context, name, password string) error {
	hash, err := s.hashPassword(password)
	if err != nil {
		return err
	}
	return s.updateUser(ctx, name, eventUserPasswordChanged, func(u *store.User) bool {
		u.PasswordHash = hash
		return true
	})
}

// SetDisabled disables or enables a user's logins; it reports whether
// anything changed. Disabling ends every grant of the user in the same
// store write, so enabling again brings no token back.
func (s *Service) SetDisabled(ctx context.Context, name string, disabled bool) (changed bool, err error) {
	event := map[bool]string{true: eventUserDisabled, false: eventUserEnabled}[disabled]
	err = s.updateUser(ctx, name, event, func(u *store.User) bool {
		changed = u.Disabled != disabled
		u.Disabled = disabled
		return changed
	})
	return changed, err
}

// updateUser applies change to the stored user and saves it when change
// reports a difference, over the version it read: if another change came
// in between, nothing is written and the error says so (store.ErrConflict).
func (s *Service) updateUser(ctx context.Context, name, event string, change func(*store.User) bool) error {
	u, err := s.User(ctx, name)
	if err != nil {
		return err
	}
	if !change(&u) {
		return nil
	}
	u.UpdatedAt = s.now().UTC()
	if err := s.store.UpdateUser(ctx, u); err != nil {
		return fmt.Errorf("update user %q: %w", name, conflict(err))
	}
	s.audit(ctx, event, "username", name)
	return nil
}

// RevokeUser ends every grant of an existing user, refresh and access
// tokens alike ("sign out everywhere"); store.ErrNotFound if there is no
// such user.
func (s *Service) RevokeUser(ctx context.Context, name string) error {
	if _, err := s.User(ctx, name); err != nil {
		return err
	}
	if err := s.store.RevokeUserGrants(ctx, name); err != nil {
		return fmt.Errorf("revoke grants of user %q: %w", name, err)
	}
	s.audit(ctx, eventUserGrantsRevoked, "username", name)
	return nil
}

// Unlock clears a user's failed logins and lockout, for a user locked out by
// someone guessing at their name.
func (s *Service) Unlock(ctx context.Context, name string) error {
	if _, err := s.User(ctx, name); err != nil {
		return err
	}
	if err := s.store.LoginSucceeded(ctx, name); err != nil {
		return fmt.Errorf("unlock user %q: %w", name, err)
	}
	s.audit(ctx, eventUserUnlocked, "username", name)
	return nil
}

// DeleteUser removes a user with every grant and token of the user and its
// failed-login record; store.ErrNotFound if there is no such user.
func (s *Service) DeleteUser(ctx context.Context, name string) error {
	if err := s.store.DeleteUser(ctx, name); err != nil {
		return fmt.Errorf("delete user %q: %w", name, err)
	}
	s.audit(ctx, eventUserDeleted, "username", name)
	return nil
}

// conflict makes store.ErrConflict say what happened and what to do; it
// still matches store.ErrConflict.
func conflict(err error) error {
	if errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("changed by someone else meanwhile, so nothing was written; look again and retry: %w", err)
	}
	return err
}

func (s *Service) hashPassword(password string) ([]byte, error) {
	if err := store.ValidatePassword(password); err != nil {
		return nil, invalid(err)
	}
	return store.HashPassword(password, s.bcryptCost)
}
