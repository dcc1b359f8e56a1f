package authserver

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"github.com/example/authsvc/store"
)

// Login attempts are counted before the password is checked (store.Logins),
// so every attempt writes a login record. For a name that a user has, that
// record is what keeps a guesser out, across restarts and replicas. For a
// name that no user has it protects nothing: it only has to cost the same,
// so that neither the answer nor its timing tells the two apart. Stored
// under the name itself, such records were a table anyone could grow
// without bound by trying made-up names.
//
// So an attempt at a name no user has is counted, through the same store
// write, under one of unknownLoginBuckets records chosen by a hash of the
// name: the table holds at most that many such records, and the cost of
// the attempt is the cost of a real one. A bucket locks like a name does
// (its lock is answered as every lock is, after a bcrypt time); that locks
// no account.

// unknownLoginBuckets bounds the login records of names no user has.
const unknownLoginBuckets = 1 << 16

// unknownLoginKey is the login record counting name, a name no user has.
// It starts with a control character, which no username may contain
// (store.ValidateUsername), so it can never be a user's record.
func unknownLoginKey(name string) string {
	sum := sha256.Sum256([]byte(name))
	return fmt.Sprintf("\x01unknown-%04x", binary.BigEndian.Uint32(sum[:])%unknownLoginBuckets)
}

// beginLogin reserves one password attempt at username in the store: under
// the name itself for a user's name, under its bucket for a name no user
// has (see unknownLoginKey). It counts lock starts and locked refusals.
func (s *server) beginLogin(ctx context.Context, username string, known bool) (store.LoginAttempt, error) {
	key := username
	if !known {
		key = unknownLoginKey(username)
	}
	a, err := s.store.BeginLogin(ctx, key, s.now(), s.cfg.Lockout)
	if err != nil {
		return store.LoginAttempt{}, err
	}
	switch {
	case a.Locked:
		s.metrics.lockouts.Inc()
	case !a.Allowed:
		s.metrics.lockedRefusals.Inc()
	}
	return a, nil
}
