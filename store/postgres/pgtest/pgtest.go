// Package pgtest gives tests throwaway PostgreSQL databases on the server
// named by TEST_POSTGRES_URL (.ci/postgres.sh starts one). Every test that
// needs PostgreSQL goes through it, so they all skip, create and drop the
// same way.
package pgtest

import (
	"context"
	"crypto/rand"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Env is the variable naming the test server; its user may CREATE DATABASE
// and CREATE SCHEMA.
const Env = "TEST_POSTGRES_URL"

// AdminURL returns TEST_POSTGRES_URL, or skips tb when it is unset: the only
// reason a PostgreSQL test may skip.
func AdminURL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv(Env)
	if u == "" {
		tb.Skipf("%s is not set; to run the PostgreSQL tests: eval \"$(.ci/postgres.sh)\"", Env)
	}
	return u
}

// RandomName returns prefix plus a random lower-case suffix, a valid
// unquoted identifier for a database, schema or role.
func RandomName(prefix string) string {
	return prefix + strings.ToLower(rand.Text()[:12])
}

// FreshDatabase creates an empty database named prefix+random, dropped
// (with any connection left to it) when tb ends, and returns a DSN for it.
func FreshDatabase(tb testing.TB, prefix string) string {
	tb.Helper()
	admin := AdminURL(tb)
	name := RandomName(prefix)
	Exec(tb, admin, "CREATE DATABASE "+name+" TEMPLATE template0")
	tb.Cleanup(func() { Exec(tb, admin, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)") })
	return WithDatabase(tb, admin, name)
}

// WithDatabase returns dsn (a URL or a key=value string) pointed at database name.
func WithDatabase(tb testing.TB, dsn, name string) string {
	tb.Helper()
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		return dsn + " dbname=" + name // the last setting wins
	}
	u, err := url.Parse(dsn)
	if err != nil {
		tb.Fatalf("%s is not a valid URL", Env)
	}
	u.Path = "/" + name
	return u.String()
}

// Exec runs one statement on dsn and fails tb if it errors.
func Exec(tb testing.TB, dsn, sql string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		tb.Fatalf("connect to %s: %v", Env, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		tb.Fatalf("%s: %v", sql, err)
	}
}
