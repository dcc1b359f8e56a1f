package dbopen

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/gofrs/flock"
)

// ErrServerRunning is LockForWrite's answer while a server holds the
// database.
var ErrServerRunning = errors.New("a server is running on this database")

// A SQLite database's lock is a sidecar file next to it, PATH.lock: the
// database file itself is SQLite's to lock. A running server holds it
// exclusively, and so do authctl's direct writes, without waiting, so that
// they are refused while a server runs. A change made behind a running
// server's back (by authctl, or by a second server on the same file) would
// bypass the cache the server keeps of the state it owns (the authorization
// server's introspection cache, the resource service's item pages): one
// server owns an embedded database, and replicas run on PostgreSQL.
func lockPath(dsn string) (string, bool) {
	path, ok := strings.CutPrefix(dsn, "sqlite:")
	if !ok || path == "" {
		return "", false
	}
	return path + ".lock", true
}

// HoldServerLock takes the lock of dsn's SQLite database for a server's
// lifetime, waiting up to wait for an authctl write in progress to end;
// another server holding it is refused the same way. For any other store it
// does nothing. Call release on shutdown.
func HoldServerLock(ctx context.Context, dsn string, wait time.Duration) (release func() error, err error) {
	path, ok := lockPath(dsn)
	if !ok {
		return func() error { return nil }, nil
	}
	fl := flock.New(path)
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	locked, err := fl.TryLockContext(ctx, 50*time.Millisecond)
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if !locked {
		return nil, fmt.Errorf("lock %s: another server runs on this database, or authctl is writing to it; one server owns an SQLite database (run replicas on PostgreSQL)", path)
	}
	return fl.Unlock, nil
}

// LockForWrite takes the exclusive lock of dsn's SQLite database for one
// authctl write, or answers ErrServerRunning, naming the lock file, when a
// server holds it. For any other store it does nothing: PostgreSQL servers
// take row locks and replicas see each other's writes.
func LockForWrite(dsn string) (release func() error, err error) {
	path, ok := lockPath(dsn)
	if !ok {
		return func() error { return nil }, nil
	}
	fl := flock.New(path)
	locked, err := fl.TryLock()
	if errors.Is(err, fs.ErrNotExist) {
		// No directory, so no server on it either: opening the store
		// reports the missing directory in its own words.
		return func() error { return nil }, nil
	}
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if !locked {
		return nil, fmt.Errorf("%w (it holds %s)", ErrServerRunning, path)
	}
	return fl.Unlock, nil
}

// SingleWriter reports whether a server that holds dsn's lock is the only
// process writing to it (SQLite), so that it may cache what it reads.
func SingleWriter(dsn string) bool {
	_, ok := lockPath(dsn)
	return ok
}
