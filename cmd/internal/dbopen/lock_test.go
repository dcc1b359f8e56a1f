package dbopen_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/example/authsvc/cmd/internal/dbopen"
)

func TestServerLock(t *testing.T) {
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "auth.db")
	// Nobody runs: a write may go ahead, and releases the lock after.
	release, err := dbopen.LockForWrite(dsn)
	if err != nil {
		t.Fatalf("write with no server: %v", err)
	}
	// A server starting during the write waits for it, and gives up.
	if _, err := dbopen.HoldServerLock(context.Background(), dsn, 100*time.Millisecond); err == nil {
		t.Fatal("a server took the lock during a write")
	}
	if err := release(); err != nil {
		t.Fatal(err)
	}

	// One server owns the file: a second one is refused (its cache would
	// not hear of the first one's changes), and so is a write until the
	// server has stopped.
	stop, err := dbopen.HoldServerLock(context.Background(), dsn, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dbopen.HoldServerLock(context.Background(), dsn, 100*time.Millisecond); err == nil || !strings.Contains(err.Error(), "PostgreSQL") {
		t.Fatalf("a second server on the file: %v, want a refusal that points to PostgreSQL", err)
	}
	if _, err := dbopen.LockForWrite(dsn); !errors.Is(err, dbopen.ErrServerRunning) {
		t.Fatalf("write while a server runs: %v, want ErrServerRunning", err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	release, err = dbopen.LockForWrite(dsn)
	if err != nil {
		t.Fatalf("write after the servers stopped: %v", err)
	}
	release()

	// A missing directory holds no server; opening the store reports it.
	if release, err := dbopen.LockForWrite("sqlite:" + filepath.Join(t.TempDir(), "typo", "auth.db")); err != nil || release() != nil {
		t.Fatalf("missing directory: %v", err)
	}

	// PostgreSQL needs no lock.
	if release, err := dbopen.LockForWrite("postgres://u@h/db"); err != nil || release() != nil {
		t.Fatalf("postgres: %v", err)
	}
}
