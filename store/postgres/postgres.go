// Package postgres is the scale-out backend of the storage contract in
// package store, on PostgreSQL through github.com/jackc/pgx/v5.
//
// Any number of replicas may share one database: every guarantee the
// contract makes across processes (one winner per refresh rotation, no more
// than the threshold of parallel password attempts, concurrent expiry
// sweeps) rests on row locks and conditional updates in the database, never
// on in-process state. Each service migrates only its own schema (OpenAuth,
// OpenItems), on open and under a PostgreSQL advisory lock, so replicas that
// start together migrate once.
//
// Times are stored as timestamptz: a time read back is in UTC and equals the
// one written when that one had whole microseconds, and is its truncation
// otherwise (as on store/sqlite).
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/example/authsvc/store"
	"github.com/example/authsvc/store/internal/sqlflow"
)

var (
	_ store.AuthStore = (*AuthDB)(nil)
	_ store.ItemStore = (*ItemDB)(nil)
)

//go:embed migrations
var migrations embed.FS

// migrationLockTimeout bounds how long OpenAuth and OpenItems wait for
// another replica's migration: the advisory lock is polled every second for
// this many tries.
const migrationLockTimeout = 300

// AuthDB is the authorization server's database: users, clients, tokens and
// login failures.
type AuthDB struct{ conn }

// ItemDB is the resource service's database: items.
type ItemDB struct{ conn }

// conn is what both databases have in common.
type conn struct {
	pool *pgxpool.Pool
}

// OpenAuth connects to the database at dsn (a postgres:// URL or a
// key=value connection string, as pgx accepts) and brings the authorization
// server's schema up to date, or with store.RequireCurrentSchema checks
// that it is. Errors never quote dsn: it may carry a password.
func OpenAuth(ctx context.Context, dsn string, opts ...store.OpenOption) (*AuthDB, error) {
	c, err := open(ctx, dsn, store.AuthSchema, store.NewOpenConfig(opts...))
	if err != nil {
		return nil, err
	}
	return &AuthDB{c}, nil
}

// OpenItems connects to the database at dsn, as OpenAuth does, for the
// resource service's schema.
func OpenItems(ctx context.Context, dsn string, opts ...store.OpenOption) (*ItemDB, error) {
	c, err := open(ctx, dsn, store.ItemsSchema, store.NewOpenConfig(opts...))
	if err != nil {
		return nil, err
	}
	return &ItemDB{c}, nil
}

// MigrationStatus reports where the database at dsn stands in schema's
// migrations, applying none.
func MigrationStatus(ctx context.Context, dsn string, schema store.Schema, _ ...store.OpenOption) (store.SchemaStatus, error) {
	return withDB(ctx, dsn, schema, false)
}

// Migrate applies schema's pending migrations to the database at dsn and
// reports where it then stands.
func Migrate(ctx context.Context, dsn string, schema store.Schema, _ ...store.OpenOption) (store.SchemaStatus, error) {
	return withDB(ctx, dsn, schema, true)
}

func withDB(ctx context.Context, dsn string, schema store.Schema, up bool) (store.SchemaStatus, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return store.SchemaStatus{}, errors.New("postgres: invalid connection string")
	}
	status, err := migrate(ctx, cfg.ConnConfig, schema, up)
	if err != nil {
		return store.SchemaStatus{}, fmt.Errorf("postgres: %w", err)
	}
	return status, nil
}

func open(ctx context.Context, dsn string, schema store.Schema, oc store.OpenConfig) (conn, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx redacts passwords from parse errors only on a best-effort
		// basis and keeps the raw string in the error value, so drop it.
		return conn{}, errors.New("open postgres: invalid connection string")
	}
	status, err := migrate(ctx, cfg.ConnConfig, schema, oc.Migrate)
	if err == nil && !oc.Migrate {
		err = status.Check(schema)
	}
	if err != nil {
		return conn{}, fmt.Errorf("open postgres: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return conn{}, fmt.Errorf("open postgres: %w", err)
	}
	return conn{pool: pool}, nil
}

// migrate applies schema's migrations if up is set, and reports where the
// database then stands, over a database/sql handle of its own, which goose
// needs and which is closed again once they are done.
func migrate(ctx context.Context, connConfig *pgx.ConnConfig, schema store.Schema, up bool) (status store.SchemaStatus, err error) {
	s, err := sqlflow.SchemaOf(schema)
	if err != nil {
		return store.SchemaStatus{}, err
	}
	sqlDB := stdlib.OpenDB(*connConfig.Copy())
	defer func() {
		if cerr := sqlDB.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("migrate: close: %w", cerr)
		}
	}()
	if up {
		// A session-level advisory lock (per database, the same for both
		// schemas) makes replicas that start together take turns; the
		// second finds nothing left to apply.
		locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, migrationLockTimeout))
		if err != nil {
			return store.SchemaStatus{}, fmt.Errorf("migrations: %w", err)
		}
		if err := sqlflow.Migrate(ctx, goose.DialectPostgres, sqlDB, migrations, s, goose.WithSessionLocker(locker)); err != nil {
			return store.SchemaStatus{}, err
		}
	}
	return sqlflow.Status(ctx, goose.DialectPostgres, sqlDB, migrations, s)
}

// Close closes every connection of the pool.
func (db *conn) Close() error {
	db.pool.Close()
	return nil
}

// PoolStat is the connection pool's statistics (cmd exports them as
// metrics).
func (db *conn) PoolStat() *pgxpool.Stat { return db.pool.Stat() }

// Ping checks that the database answers a query.
func (db *conn) Ping(ctx context.Context) error {
	if err := db.pool.Ping(ctx); err != nil {
		return fmt.Errorf("ping postgres: %w", err)
	}
	return nil
}

// txOptions pins READ COMMITTED whatever the server's default: the
// conditional updates below rely on a blocked UPDATE re-checking its WHERE
// against the row the other transaction committed, where REPEATABLE READ
// would fail with a serialization error instead.
var txOptions = pgx.TxOptions{IsoLevel: pgx.ReadCommitted}

// inTx runs fn in a transaction and commits it if fn returns nil,
// retrying as retry does.
func (db *conn) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return db.retry(ctx, func() error {
		tx, err := db.pool.BeginTx(ctx, txOptions)
		if err != nil {
			return fmt.Errorf("begin: %w", translate(err))
		}
		defer tx.Rollback(ctx) // error ignored: a no-op after Commit
		if err := fn(tx); err != nil {
			return err
		}
		if err := tx.Commit(ctx); err != nil {
			return fmt.Errorf("commit: %w", translate(err))
		}
		return nil
	})
}

// maxTxAttempts bounds retry: a transaction that keeps losing is reported
// rather than retried forever.
const maxTxAttempts = 5

// retry runs txn, a function that runs one or more whole transactions,
// again when PostgreSQL aborted it with a deadlock (40P01) or a
// serialization failure (40001), up to maxTxAttempts times in all. The lock
// order of package sqlflow rules deadlocks out among the flows themselves,
// but the server may still pick a victim among statements it cannot order
// (several rows locked by one statement, foreign-key checks); an aborted
// transaction changed nothing, so running it again is safe and turns what
// would be a 500 into the answer the caller is owed. Every write
// transaction of this package runs under it.
func (db *conn) retry(ctx context.Context, txn func() error) error {
	var err error
	for attempt := 1; ; attempt++ {
		err = txn()
		if err == nil || !retryable(err) || attempt == maxTxAttempts {
			return err
		}
		// A short randomized pause lets the winner finish first.
		pause := time.Duration(attempt) * (time.Millisecond + rand.N(5*time.Millisecond))
		select {
		case <-ctx.Done():
			return err
		case <-time.After(pause):
		}
	}
}

// retryable reports an abort that running the transaction again may avoid.
func retryable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == deadlockDetected || pgErr.Code == serializationFailure)
}

// flowTx is a transaction as package sqlflow drives it; its SQL lives next
// to the methods it serves (tokens.go, logins.go, items.go). Every error it returns
// has been through translate.
type flowTx struct{ tx pgx.Tx }

var _ sqlflow.Tx = flowTx{}

// begin starts a READ COMMITTED transaction (txOptions) for package sqlflow.
func (db *AuthDB) begin(ctx context.Context) (sqlflow.Tx, error) {
	tx, err := db.pool.BeginTx(ctx, txOptions)
	if err != nil {
		return nil, translate(err)
	}
	return flowTx{tx}, nil
}

func (t flowTx) Commit(ctx context.Context) error   { return translate(t.tx.Commit(ctx)) }
func (t flowTx) Rollback(ctx context.Context) error { return t.tx.Rollback(ctx) }

// SQLSTATE codes this package reacts to.
const (
	uniqueViolation      = "23505"
	deadlockDetected     = "40P01"
	serializationFailure = "40001"
)

// translate maps driver errors onto the contract's sentinels. A server error
// is reduced to its code, message and object names: its Detail can quote the
// offending row, token hash included, and errors end up in logs.
func translate(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return store.ErrNotFound
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		if pgErr.Code == uniqueViolation {
			return fmt.Errorf("%w (constraint %s)", store.ErrAlreadyExists, pgErr.ConstraintName)
		}
		return &pgconn.PgError{
			Severity:       pgErr.Severity,
			Code:           pgErr.Code,
			Message:        pgErr.Message,
			SchemaName:     pgErr.SchemaName,
			TableName:      pgErr.TableName,
			ColumnName:     pgErr.ColumnName,
			ConstraintName: pgErr.ConstraintName,
		}
	}
	return err
}

// collect scans every row with scan; nil when there are none, as on
// store/sqlite.
func collect[T any](rows pgx.Rows, scan func(pgx.Row) (T, error)) ([]T, error) {
	return pgx.AppendRows([]T(nil), rows, func(row pgx.CollectableRow) (T, error) {
		return scan(row)
	})
}
