// Package sqlite is the embedded backend of the storage contract in package
// store, on modernc.org/sqlite (pure Go, no cgo).
//
// One schema holds every table; each service opens its own database file.
// Times are stored as INTEGER unix microseconds in UTC, so a time read back
// equals the one written when that one had whole microseconds, and is its
// truncation otherwise.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pressly/goose/v3"
	"modernc.org/sqlite"
	sqlitelib "modernc.org/sqlite/lib"

	"github.com/example/authsvc/store"
)

// DB implements both contracts; which one a service uses decides which
// tables of its file ever get rows.
var (
	_ store.AuthStore = (*DB)(nil)
	_ store.ItemStore = (*DB)(nil)
)

//go:embed migrations/*.sql
var migrations embed.FS

// busyTimeout is how long a connection waits for another one's write lock
// before failing with SQLITE_BUSY.
const busyTimeout = 5 * time.Second

// DB is a SQLite database holding the tables of both services.
type DB struct {
	db *sql.DB
}

// Open opens (creating it and its directory if missing) the database file at
// path and brings its schema up to date.
func Open(ctx context.Context, path string) (*DB, error) {
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") || strings.ContainsRune(path, '?') {
		// An in-memory database would be one per pooled connection, and the
		// driver reads everything after '?' as parameters.
		return nil, fmt.Errorf("open sqlite: %q is not a plain file path", path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("open sqlite: create directory: %w", err)
	}

	// The file holds password hashes: create it readable by its owner only
	// (SQLite gives the -wal and -shm files the same mode). An existing
	// file keeps the mode its administrator chose.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	f.Close()

	// Pragmas go in the DSN so that every connection the pool opens gets
	// them, not only the first. _txlock=immediate makes BEGIN take the write
	// lock at once: a deferred transaction that reads and then writes can
	// fail with SQLITE_BUSY without waiting, whereas BEGIN IMMEDIATE waits
	// up to busy_timeout and so serializes writers. Read-only transactions
	// (sql.TxOptions.ReadOnly) still begin deferred.
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Set("_txlock", "immediate")

	sqldb, err := sql.Open("sqlite", path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	db := &DB{db: sqldb}
	if err := db.migrate(ctx); err != nil {
		sqldb.Close()
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	return db, nil
}

func (db *DB) migrate(ctx context.Context) error {
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	// The global registry holds Go migrations registered by any package in
	// the binary; this schema has SQL ones only.
	p, err := goose.NewProvider(goose.DialectSQLite3, db.db, fsys, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// Close closes the database.
func (db *DB) Close() error {
	return db.db.Close()
}

// Ping checks that the database answers a query.
func (db *DB) Ping(ctx context.Context) error {
	// PingContext alone only checks that a connection can be had; a query
	// also touches the file.
	var one int
	if err := db.db.QueryRowContext(ctx, `SELECT 1 FROM sqlite_schema LIMIT 1`).Scan(&one); err != nil {
		return fmt.Errorf("ping sqlite: %w", err)
	}
	return nil
}

// querier is what the unexported helpers need: a *sql.Tx inside a
// transaction, or the *sql.DB for a single-statement read.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// inTx runs fn in a write transaction and commits it if fn returns nil.
func (db *DB) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := db.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback() // error ignored: a no-op after Commit
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// translate maps driver errors onto the contract's sentinels, keeping the
// original in the chain for logs.
func translate(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	var serr *sqlite.Error
	if errors.As(err, &serr) {
		switch serr.Code() {
		case sqlitelib.SQLITE_CONSTRAINT_PRIMARYKEY, sqlitelib.SQLITE_CONSTRAINT_UNIQUE:
			return fmt.Errorf("%w: %w", store.ErrAlreadyExists, err)
		}
	}
	return err
}

// micros and fromMicros convert to and from the stored representation.
func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// boolInt is how booleans are stored (STRICT tables have no BOOLEAN).
func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
