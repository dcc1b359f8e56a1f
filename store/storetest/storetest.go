// Package storetest is the conformance suite that every backend of package
// store runs, so that the authorization server and the resource service can
// rely on one behaviour whichever backend they are given.
//
// A backend's test file only supplies a constructor:
//
//	func TestAuthStore(t *testing.T) {
//		storetest.RunAuthStoreTests(t, func(t *testing.T) store.AuthStore { ... })
//	}
//
// newStore must return a fresh, empty store for every call and register its
// own cleanup (t.Cleanup), closing the store; the suite never calls Close.
// Subtests run one after the other, each on its own store.
//
// What the suite pins down beyond the comments of package store:
//
//   - Time precision: backends keep times to the microsecond at least. Every
//     time the suite writes has whole microseconds and is compared with
//     time.Equal, so a backend may return times in any location. (SQLite
//     stores unix microseconds, PostgreSQL timestamptz keeps microseconds.)
//   - Stale login records: DeleteExpired removes the failure record of a
//     username that is not locked at now and was last updated (an attempt
//     counted or a lock set) more than store.StaleLoginAge (24 hours)
//     before now. Removing it forgets the failure count and the lockout
//     history, as LoginSucceeded does. A username locked at now is kept
//     however old its record.
//   - Lockout: the attempt that reaches the threshold locks the username and
//     starts a new count, so once a lock has passed the username has
//     Threshold attempts again; attempts refused while locked count nothing
//     and do not extend the lock, which ends exactly at its end time
//     (locked while now is before it).
//   - Expiry: a token is expired at now when now is not before ExpiresAt
//     (store.Token.Active); RotateRefreshToken agrees with that.
//   - Error messages never contain a token hash.
//   - List orders compare strings byte-wise (PostgreSQL: COLLATE "C"); the
//     suite uses lower-case ASCII names, which sort alike under any collation.
package storetest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/example/authsvc/store"
)

// base is the suite's "now": a whole number of microseconds, far from the
// wall clock so that a backend consulting its own clock would fail.
var base = time.Date(2031, time.March, 4, 5, 6, 7, 891011000, time.UTC)

// elsewhere is a zone other than UTC, to check that backends store instants.
var elsewhere = time.FixedZone("UTC+5:30", 5*3600+30*60)

// subtest is one named case run on a fresh store.
type subtest[S any] struct {
	name string
	run  func(t *testing.T, s S)
}

func runAll[S any](t *testing.T, newStore func(t *testing.T) S, tests []subtest[S]) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t, newStore(t))
		})
	}
}

// hashOf returns the hex SHA-256 of name, the shape of a real token hash.
func hashOf(name string) string {
	sum := sha256.Sum256([]byte(name))
	return hex.EncodeToString(sum[:])
}

// wantErr fails t unless err wraps target; secrets must not appear in the
// message.
func wantErr(t *testing.T, what string, err, target error, secrets ...string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: error = %v, want %v", what, err, target)
	}
	noSecrets(t, what, err, secrets...)
}

// noSecrets fails t if err's message contains any of secrets.
func noSecrets(t *testing.T, what string, err error, secrets ...string) {
	t.Helper()
	if err == nil {
		return
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(err.Error(), s) {
			t.Errorf("%s: error message %q contains a token hash", what, err)
		}
	}
}

// ok fails t if err is not nil.
func ok(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func sameStrings(got, want []string) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}

// VersionsOf returns the versions that tok's client and user are at now,
// as a request that had just checked them would pass them on; zero for one
// that does not exist. Backends' own tests use it too.
func VersionsOf(ctx context.Context, s store.AuthStore, tok store.Token) store.Versions {
	var v store.Versions
	if c, err := s.GetClient(ctx, tok.ClientID); err == nil {
		v.Client = c.Version
	}
	if tok.Username == "" {
		return v
	}
	if u, err := s.GetUser(ctx, tok.Username); err == nil {
		v.User = u.Version
	}
	return v
}

// reread returns u as stored now, failing t if it is not.
func reread(t *testing.T, s store.AuthStore, u store.User) store.User {
	t.Helper()
	got, err := s.GetUser(t.Context(), u.Username)
	ok(t, "GetUser "+u.Username, err)
	return got
}

// Create is CreateTokens as a request makes it that checked the client and
// the user just before.
func Create(ctx context.Context, s store.AuthStore, tokens ...store.Token) error {
	var v store.Versions
	if len(tokens) > 0 {
		v = VersionsOf(ctx, s, tokens[0])
	}
	return s.CreateTokens(ctx, v, tokens...)
}

// Rotate is RotateRefreshToken as a request makes it that checked the
// client and the user just before.
func Rotate(ctx context.Context, s store.AuthStore, familyID, oldHash string, now time.Time, newTokens ...store.Token) error {
	var v store.Versions
	if len(newTokens) > 0 {
		v = VersionsOf(ctx, s, newTokens[0])
	}
	return s.RotateRefreshToken(ctx, familyID, oldHash, now, v, newTokens...)
}
