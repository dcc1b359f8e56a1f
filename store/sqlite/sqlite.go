// Package sqlite is the embedded backend of the storage contract in package
// store, on modernc.org/sqlite (pure Go, no cgo).
//
// Each service opens its own database file and migrates only its own tables:
// OpenAuth for the authorization server, OpenItems for the resource service.
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
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pressly/goose/v3"
	"modernc.org/sqlite"
	sqlitelib "modernc.org/sqlite/lib"

	"github.com/example/authsvc/store"
	"github.com/example/authsvc/store/internal/sqlflow"
)

var (
	_ store.AuthStore = (*AuthDB)(nil)
	_ store.ItemStore = (*ItemDB)(nil)
)

//go:embed migrations
var migrations embed.FS

// busyTimeout is how long a connection waits for another one's write lock
// before failing with SQLITE_BUSY.
const busyTimeout = 5 * time.Second

// maxIdleConns bounds the connections the pool keeps open while idle (see
// openDB).
const maxIdleConns = 64

// AuthDB is the authorization server's database: users, clients, tokens and
// login failures.
type AuthDB struct {
	conn
	inserts *tokenInserts // CreateTokens calls waiting for a group commit
}

// ItemDB is the resource service's database: items.
type ItemDB struct{ conn }

// conn is what both databases have in common.
type conn struct {
	db *sql.DB
	// prepared holds the statements of the hot reads (client
	// authentication, introspection, item pages), prepared once: with
	// modernc, parsing and planning a statement costs more than running a
	// point lookup, and database/sql does not cache statements.
	prepared map[string]*sql.Stmt
	// writer admits one write transaction of this process at a time (see
	// beginQueued).
	writer chan struct{}
}

// OpenAuth opens (creating it, and by default its directory, if missing)
// the database file at path and brings the authorization server's schema
// up to date, or with store.RequireCurrentSchema checks that it is.
func OpenAuth(ctx context.Context, path string, opts ...store.OpenOption) (*AuthDB, error) {
	c, err := open(ctx, path, store.AuthSchema, store.NewOpenConfig(opts...))
	if err != nil {
		return nil, err
	}
	if err := c.prepare(ctx, selectClient, selectUser, selectToken, selectTokenForIntrospection, selectIntrospection,
		insertToken, insertGrant, selectPrincipals, savepoint, rollbackToSavepoint, releaseSavepoint); err != nil {
		return nil, err
	}
	return &AuthDB{conn: c, inserts: &tokenInserts{}}, nil
}

// OpenItems opens the database file at path as OpenAuth does, for the
// resource service's schema.
func OpenItems(ctx context.Context, path string, opts ...store.OpenOption) (*ItemDB, error) {
	c, err := open(ctx, path, store.ItemsSchema, store.NewOpenConfig(opts...))
	if err != nil {
		return nil, err
	}
	if err := c.prepare(ctx, selectItemsFirstPage, selectItemsNextPage, selectItem); err != nil {
		return nil, err
	}
	return &ItemDB{conn: c}, nil
}

// MigrationStatus reports where the database at path stands in schema's
// migrations, applying none (opts as for OpenAuth; migration is ignored).
func MigrationStatus(ctx context.Context, path string, schema store.Schema, opts ...store.OpenOption) (store.SchemaStatus, error) {
	return withDB(ctx, path, schema, opts, func(sqldb *sql.DB, s sqlflow.Schema) (store.SchemaStatus, error) {
		return sqlflow.Status(ctx, goose.DialectSQLite3, sqldb, migrations, s)
	})
}

// Migrate applies schema's pending migrations to the database at path and
// reports where it then stands.
func Migrate(ctx context.Context, path string, schema store.Schema, opts ...store.OpenOption) (store.SchemaStatus, error) {
	return withDB(ctx, path, schema, opts, func(sqldb *sql.DB, s sqlflow.Schema) (store.SchemaStatus, error) {
		if err := sqlflow.Migrate(ctx, goose.DialectSQLite3, sqldb, migrations, s); err != nil {
			return store.SchemaStatus{}, err
		}
		return sqlflow.Status(ctx, goose.DialectSQLite3, sqldb, migrations, s)
	})
}

func withDB(ctx context.Context, path string, schema store.Schema, opts []store.OpenOption,
	fn func(*sql.DB, sqlflow.Schema) (store.SchemaStatus, error)) (status store.SchemaStatus, err error) {
	s, err := sqlflow.SchemaOf(schema)
	if err != nil {
		return store.SchemaStatus{}, err
	}
	sqldb, err := openDB(path, store.NewOpenConfig(opts...))
	if err != nil {
		return store.SchemaStatus{}, err
	}
	defer func() {
		if cerr := sqldb.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close sqlite: %w", cerr)
		}
	}()
	status, err = fn(sqldb, s)
	if err != nil {
		return store.SchemaStatus{}, fmt.Errorf("sqlite: %w", err)
	}
	return status, nil
}

func open(ctx context.Context, path string, schema store.Schema, cfg store.OpenConfig) (conn, error) {
	s, err := sqlflow.SchemaOf(schema)
	if err != nil {
		return conn{}, err
	}
	sqldb, err := openDB(path, cfg)
	if err != nil {
		return conn{}, err
	}
	if cfg.Migrate {
		err = sqlflow.Migrate(ctx, goose.DialectSQLite3, sqldb, migrations, s)
	} else {
		var status store.SchemaStatus
		if status, err = sqlflow.Status(ctx, goose.DialectSQLite3, sqldb, migrations, s); err == nil {
			err = status.Check(schema)
		}
	}
	if err != nil {
		sqldb.Close()
		return conn{}, fmt.Errorf("open sqlite: %w", err)
	}
	return conn{db: sqldb, writer: make(chan struct{}, 1)}, nil
}

// openDB opens the file at path, creating it (and, if cfg allows, its
// directory) when missing.
func openDB(path string, cfg store.OpenConfig) (*sql.DB, error) {
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") || strings.ContainsRune(path, '?') {
		// An in-memory database would be one per pooled connection, and the
		// driver reads everything after '?' as parameters.
		return nil, fmt.Errorf("open sqlite: %q is not a plain file path", path)
	}
	dir := filepath.Dir(path)
	if cfg.CreateDir {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("open sqlite: create directory: %w", err)
		}
	} else if fi, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("open sqlite: directory %s: %w", dir, err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("open sqlite: %s is not a directory", dir)
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
	// In WAL mode, NORMAL syncs the WAL at checkpoints, not at every
	// commit: a commit survives a crash of the process (it is in the OS's
	// cache) but not of the OS or the power. It cut a client_credentials
	// grant from about 1.1ms to 0.35ms (BenchmarkClientCredentialsGrant);
	// README "Durability" says what an OS crash can lose.
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Set("_txlock", "immediate")

	sqldb, err := sql.Open("sqlite", path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	// The pool keeps up to maxIdleConns connections idle. With
	// database/sql's default of two, concurrent requests kept opening
	// fresh connections, each re-running the pragmas above and
	// re-preparing the hot statements: 15% of the resource service's CPU
	// under `make loadbench` (32 connections; with 8 idle it was still 4%).
	// The number open is not capped: the hot reads wait for nothing but
	// SQLite (see queryRow), and a capped pool would have them wait for a
	// connection, which a write can hold for up to busyTimeout. Beyond
	// maxIdleConns a connection is closed when it is put back, and an idle
	// one after five minutes.
	sqldb.SetMaxIdleConns(maxIdleConns)
	sqldb.SetConnMaxIdleTime(5 * time.Minute)
	return sqldb, nil
}

// prepare prepares queries once for queryRow and query; on failure it
// closes the database.
func (db *conn) prepare(ctx context.Context, queries ...string) error {
	db.prepared = make(map[string]*sql.Stmt, len(queries))
	for _, q := range queries {
		stmt, err := db.db.PrepareContext(ctx, q)
		if err != nil {
			db.Close()
			return fmt.Errorf("open sqlite: prepare: %w", err)
		}
		db.prepared[q] = stmt
	}
	return nil
}

// queryRow runs a single-statement read, prepared once if it is one of the
// hot ones. A *sql.Stmt of the DB prepares itself on each pooled connection
// the first time it runs there, then reuses it.
//
// The hot reads are index lookups of a row or a bounded page, over in tens
// of microseconds; a WAL reader never waits for a writer, nor (the pool
// being uncapped, see openDB) for a connection. So they run detached from
// ctx's cancellation, because watching it (the driver and database/sql
// each start a goroutine per query for that) cost more than an abandoned
// lookup could save. ctx still carries its values.
func (db *conn) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	if stmt, ok := db.prepared[query]; ok {
		return stmt.QueryRowContext(context.WithoutCancel(ctx), args...)
	}
	return db.db.QueryRowContext(ctx, query, args...)
}

// query is queryRow for several rows.
func (db *conn) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if stmt, ok := db.prepared[query]; ok {
		return stmt.QueryContext(context.WithoutCancel(ctx), args...)
	}
	return db.db.QueryContext(ctx, query, args...)
}

// Close closes the prepared statements and the database.
func (db *conn) Close() error {
	for _, stmt := range db.prepared {
		stmt.Close()
	}
	return db.db.Close()
}

// SQLDB is the connection pool, for its statistics (cmd exports them as
// metrics).
func (db *conn) SQLDB() *sql.DB { return db.db }

// Ping checks that the database answers a query.
func (db *conn) Ping(ctx context.Context) error {
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
func (db *conn) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
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

// flowTx is a write transaction as package sqlflow drives it; its SQL lives
// next to the methods it serves (tokens.go, logins.go, items.go).
type flowTx struct {
	tx       *sql.Tx
	prepared map[string]*sql.Stmt // the conn's
}

// exec runs a statement of the transaction, prepared once if it is one of
// the hot writes (see conn.prepared).
func (t flowTx) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if stmt, ok := t.prepared[query]; ok {
		return t.tx.StmtContext(ctx, stmt).ExecContext(ctx, args...)
	}
	return t.tx.ExecContext(ctx, query, args...)
}

// queryRow is exec for a single-row read of the transaction.
func (t flowTx) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	if stmt, ok := t.prepared[query]; ok {
		return t.tx.StmtContext(ctx, stmt).QueryRowContext(ctx, args...)
	}
	return t.tx.QueryRowContext(ctx, query, args...)
}

var _ sqlflow.Tx = flowTx{}

// begin starts a write transaction for package sqlflow (see beginQueued).
func (db *AuthDB) begin(ctx context.Context) (sqlflow.Tx, error) {
	tx, err := db.beginQueued(ctx)
	if err != nil {
		return nil, err // not a typed nil inside the interface
	}
	return tx, nil
}

// beginQueued starts a write transaction. Every write transaction begins
// IMMEDIATE (see open): it holds the database's one write lock from its
// first statement, so the flows run one after the other and each reads
// what the previous one committed.
//
// The transactions of this process first queue for c.writer. Left to
// SQLite alone, waiting writers poll with sleeps of up to 100ms and give up
// with SQLITE_BUSY after busyTimeout: under 32 concurrent client_credentials
// grants the p99 of POST /token was hundreds of milliseconds for a few
// milliseconds of work, and 500 concurrent item creates failed a fifth of
// the time. Queued in Go, a writer waits only for those before it (or its
// context); busyTimeout is left to arbitrate between processes.
func (c conn) beginQueued(ctx context.Context) (*queuedTx, error) {
	select {
	case c.writer <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	tx, err := c.db.BeginTx(ctx, nil)
	if err != nil {
		<-c.writer
		return nil, err
	}
	return &queuedTx{flowTx: flowTx{tx, c.prepared}, release: func() { <-c.writer }}, nil
}

func (t flowTx) Commit(context.Context) error   { return t.tx.Commit() }
func (t flowTx) Rollback(context.Context) error { return t.tx.Rollback() }

var _ sqlflow.SavepointTx = flowTx{}

const (
	savepoint           = `SAVEPOINT flow`
	rollbackToSavepoint = `ROLLBACK TO flow`
	releaseSavepoint    = `RELEASE flow`
)

func (t flowTx) Savepoint(ctx context.Context) error {
	_, err := t.exec(ctx, savepoint)
	return err
}

func (t flowTx) RollbackToSavepoint(ctx context.Context) error {
	_, err := t.exec(ctx, rollbackToSavepoint)
	return err
}

func (t flowTx) ReleaseSavepoint(ctx context.Context) error {
	_, err := t.exec(ctx, releaseSavepoint)
	return err
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
