package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/example/authsvc/store"
	"github.com/example/authsvc/store/postgres/pgtest"
	"github.com/example/authsvc/store/storetest"
)

// The tests need a PostgreSQL server: TEST_POSTGRES_URL names a database on
// it whose user may CREATE SCHEMA and CREATE DATABASE (.ci/postgres.sh
// starts one). Every store gets a schema of its own, first on its
// search_path, dropped afterwards: an empty, unmigrated namespace (goose's
// version table included) in a few milliseconds, where CREATE DATABASE takes
// a few hundred.
// freshDSN creates an empty schema, drops it with everything in it when tb
// ends, and returns a DSN whose connections use it.
func freshDSN(tb testing.TB) string {
	tb.Helper()
	admin := pgtest.AdminURL(tb)
	name := pgtest.RandomName("authsvc_test_")
	pgtest.Exec(tb, admin, "CREATE SCHEMA "+name)
	tb.Cleanup(func() {
		pgtest.Exec(tb, admin, "DROP SCHEMA IF EXISTS "+name+" CASCADE")
	})
	return withSearchPath(tb, admin, name)
}

// freshDatabase is for the tests that need a whole database: production
// opens one, with its default search_path, where tests otherwise use a schema.
func freshDatabase(tb testing.TB) string {
	tb.Helper()
	return pgtest.FreshDatabase(tb, "authsvc_test_")
}

// withSearchPath returns dsn (a URL or key=value string) with search_path
// set to schema: pgx sends it as a run-time parameter on every connection,
// the migration's included.
func withSearchPath(tb testing.TB, dsn, schema string) string {
	tb.Helper()
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			tb.Fatalf("%s is not a valid URL", pgtest.Env)
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return dsn + " search_path=" + schema // the last setting wins
}

// openFresh opens an auth store on a fresh database, closed when tb ends.
func openFresh(tb testing.TB) *AuthDB {
	tb.Helper()
	return openDSN(tb, freshDSN(tb))
}

func openDSN(tb testing.TB, dsn string) *AuthDB {
	tb.Helper()
	return openWith(tb, OpenAuth, dsn)
}

// openWith opens dsn with open (OpenAuth or OpenItems), closed when tb ends.
func openWith[DB interface{ Close() error }](tb testing.TB, open func(context.Context, string, ...store.OpenOption) (DB, error), dsn string) DB {
	tb.Helper()
	db, err := open(context.Background(), dsn)
	if err != nil {
		tb.Fatalf("open: %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func TestAuthStore(t *testing.T) {
	pgtest.AdminURL(t)
	storetest.RunAuthStoreTests(t, func(t *testing.T) store.AuthStore { return openFresh(t) })
}

// TestStressRotation runs the suite's concurrent rotation cases over and
// over under CPU contention (bounded in time), as CI should: this is how
// the deadlock of issue 9 showed (3 failures in 120 runs beside two
// CPU-burning processes).
func TestStressRotation(t *testing.T) {
	pgtest.AdminURL(t)
	if testing.Short() {
		t.Skip("stress test")
	}
	rounds := storetest.StressRotation(t, openFresh(t), 12*time.Second)
	t.Logf("%d rounds under contention", rounds)
}

func TestItemStore(t *testing.T) {
	pgtest.AdminURL(t)
	storetest.RunItemStoreTests(t, func(t *testing.T) store.ItemStore { return openWith(t, OpenItems, freshDSN(t)) })
}

// TestOpenConcurrently starts two replicas of each service on one empty
// database at once: the advisory lock lets one migrate while the others
// wait, and those then find nothing to do instead of failing on tables that
// exist.
func TestOpenConcurrently(t *testing.T) {
	dsn := freshDatabase(t)
	const replicas = 2
	auths := make([]*AuthDB, replicas)
	items := make([]*ItemDB, replicas)
	errs := make([]error, 2*replicas)
	var wg sync.WaitGroup
	for i := range replicas {
		wg.Go(func() { auths[i], errs[i] = OpenAuth(t.Context(), dsn) })
		wg.Go(func() { items[i], errs[replicas+i] = OpenItems(t.Context(), dsn) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("open replica %d: %v", i, err)
		}
	}
	for i := range replicas {
		t.Cleanup(func() { auths[i].Close(); items[i].Close() })
	}

	for table, dir := range map[string]string{"goose_db_version": "migrations/auth", "items_schema_version": "migrations/items"} {
		var applied, versions int
		err := auths[0].pool.QueryRow(t.Context(), `
			SELECT count(*), count(DISTINCT version_id) FROM `+table+` WHERE version_id > 0`).
			Scan(&applied, &versions)
		if err != nil {
			t.Fatalf("read %s: %v", table, err)
		}
		files, err := migrations.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if applied != len(files) || versions != len(files) {
			t.Errorf("%s holds %d rows of %d versions, want each of the %d migrations once", table, applied, versions, len(files))
		}
	}
	for i := range replicas {
		if err := auths[i].CreateUser(t.Context(), store.User{Username: fmt.Sprintf("u%d", i)}); err != nil {
			t.Errorf("replica %d: CreateUser: %v", i, err)
		}
		if err := items[i].CreateItem(t.Context(), store.Item{ID: fmt.Sprintf("i%d", i), Owner: "o", Name: "n", CreatedAt: now}, 10); err != nil {
			t.Errorf("replica %d: CreateItem: %v", i, err)
		}
	}

	// A third start, after the fact, is a no-op.
	openDSN(t, dsn)
	openWith(t, OpenItems, dsn)
}

// replicas opens n stores (n connection pools, as n processes would have)
// on one fresh schema.
func replicas(t *testing.T, n int) []*AuthDB {
	t.Helper()
	dsn := freshDSN(t)
	dbs := make([]*AuthDB, n)
	for i := range dbs {
		dbs[i] = openDSN(t, dsn)
	}
	return dbs
}

var now = time.Date(2031, time.March, 4, 5, 6, 7, 891011000, time.UTC)

func tokenHash(name string) string {
	sum := sha256.Sum256([]byte(name))
	return hex.EncodeToString(sum[:])
}

func newToken(name string, kind store.TokenKind, family string, expiresAt time.Time) store.Token {
	return store.Token{
		Hash:      tokenHash(name),
		Kind:      kind,
		FamilyID:  family,
		ClientID:  "web",
		Username:  "alice",
		Scope:     "items:read",
		IssuedAt:  now.Add(-time.Hour),
		ExpiresAt: expiresAt,
	}
}

// createClient creates the client "web" and the user "alice" that
// newToken's tokens name (issuing checks both: see store.Versions).
func createClient(t testing.TB, db *AuthDB) {
	t.Helper()
	if err := db.CreateClient(context.Background(), store.Client{ID: "web", CreatedAt: now}); err != nil {
		t.Fatalf("CreateClient: %v", err)
	}
	if err := db.CreateUser(context.Background(), store.User{Username: "alice", CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
}

// TestRotateAcrossReplicas races 10 rotations of one refresh token on each
// of two pools: the row lock, not anything in the process, picks the winner.
func TestRotateAcrossReplicas(t *testing.T) {
	dbs := replicas(t, 2)
	createClient(t, dbs[0])
	old := newToken("r1", store.RefreshToken, "family-1", now.Add(time.Hour))
	if err := storetest.Create(t.Context(), dbs[0], newToken("a1", store.AccessToken, "family-1", now.Add(time.Hour)), old); err != nil {
		t.Fatalf("CreateTokens: %v", err)
	}

	const perReplica = 10
	errs := make([]error, 2*perReplica)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range errs {
		db := dbs[i%2]
		access := newToken(fmt.Sprintf("a2-%d", i), store.AccessToken, "family-1", now.Add(2*time.Hour))
		refresh := newToken(fmt.Sprintf("r2-%d", i), store.RefreshToken, "family-1", now.Add(2*time.Hour))
		wg.Go(func() {
			<-start
			errs[i] = storetest.Rotate(t.Context(), db, "family-1", old.Hash, now, access, refresh)
		})
	}
	close(start)
	wg.Wait()

	var won, reused, notFound int
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case errors.Is(err, store.ErrTokenReused):
			reused++
		case errors.Is(err, store.ErrNotFound):
			notFound++
		default:
			t.Errorf("rotation %d: %v", i, err)
		}
	}
	t.Logf("won %d, reused %d, not found %d", won, reused, notFound)
	if won != 1 || reused == 0 {
		t.Fatalf("won %d, reused %d; want exactly one winner and the family revoked by a loser", won, reused)
	}
	if _, err := dbs[1].GetToken(t.Context(), old.Hash); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetToken of the raced token after reuse: %v, want ErrNotFound", err)
	}
}

// TestReuseRacesRotation races, on two pools, the legitimate rotation of a
// family's current refresh token against a reuse of the one before it. The
// reuse always wins the argument: whichever commits first, the family ends
// with no token at all (not the rotation's new pair either), and neither
// side fails with anything but the contract's errors (no deadlock).
func TestReuseRacesRotation(t *testing.T) {
	dbs := replicas(t, 2)
	createClient(t, dbs[0])
	ctx := t.Context()
	expires := now.Add(time.Hour)
	for round := range 30 {
		family := fmt.Sprintf("family-%d", round)
		token := func(name string, kind store.TokenKind) store.Token {
			return newToken(family+name, kind, family, expires)
		}
		r1 := token("r1", store.RefreshToken)
		if err := storetest.Create(ctx, dbs[0], token("a1", store.AccessToken), r1); err != nil {
			t.Fatalf("CreateTokens: %v", err)
		}
		r2 := token("r2", store.RefreshToken)
		if err := storetest.Rotate(ctx, dbs[0], family, r1.Hash, now, token("a2", store.AccessToken), r2); err != nil {
			t.Fatalf("RotateRefreshToken: %v", err)
		}

		var rotateErr, reuseErr error
		start := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			<-start
			rotateErr = storetest.Rotate(ctx, dbs[0], family, r2.Hash, now, token("a3", store.AccessToken), token("r3", store.RefreshToken))
		})
		wg.Go(func() {
			<-start
			reuseErr = storetest.Rotate(ctx, dbs[1], family, r1.Hash, now, token("a4", store.AccessToken), token("r4", store.RefreshToken))
		})
		close(start)
		wg.Wait()

		if rotateErr != nil && !errors.Is(rotateErr, store.ErrNotFound) {
			t.Errorf("round %d: rotation: %v, want nil or ErrNotFound", round, rotateErr)
		}
		if !errors.Is(reuseErr, store.ErrTokenReused) {
			t.Errorf("round %d: reuse: %v, want ErrTokenReused", round, reuseErr)
		}
		var left int
		if err := dbs[0].pool.QueryRow(ctx, `
			SELECT (SELECT count(*) FROM tokens WHERE family_id = $1) + (SELECT count(*) FROM grants WHERE id = $1)`,
			family).Scan(&left); err != nil {
			t.Fatal(err)
		}
		if left != 0 {
			t.Errorf("round %d: %d tokens of the revoked family left", round, left)
		}
	}
}

// TestBeginLoginAcrossReplicas: 20 parallel wrong passwords for one username
// over two pools get exactly Threshold attempts past the lock.
func TestBeginLoginAcrossReplicas(t *testing.T) {
	dbs := replicas(t, 2)
	policy := store.LoginPolicy{Threshold: 5, Lockout: time.Minute, MaxLockout: time.Hour}

	const perReplica = 10
	var allowed atomic.Int32
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 2 * perReplica {
		db := dbs[i%2]
		wg.Go(func() {
			<-start
			a, err := db.BeginLogin(t.Context(), "alice", now, policy)
			if err != nil {
				t.Errorf("BeginLogin: %v", err)
			}
			if a.Allowed {
				allowed.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()

	if got := allowed.Load(); got != int32(policy.Threshold) {
		t.Fatalf("%d of %d parallel attempts allowed, want the threshold %d", got, 2*perReplica, policy.Threshold)
	}
	for i, db := range dbs {
		a, err := db.BeginLogin(t.Context(), "alice", now.Add(policy.Lockout-time.Microsecond), policy)
		if err != nil || a.Allowed {
			t.Errorf("replica %d: BeginLogin while locked = %+v, %v; want refused", i, a, err)
		}
	}
	a, err := dbs[0].BeginLogin(t.Context(), "alice", now.Add(policy.Lockout), policy)
	if err != nil || !a.Allowed {
		t.Errorf("BeginLogin once the lock has passed = %+v, %v; want allowed", a, err)
	}
}

// TestDeleteExpiredAcrossReplicas sweeps from two pools at once, each
// looping until a call returns less than the limit, as every replica's
// sweeper does: each expired token is deleted exactly once, none missed.
func TestDeleteExpiredAcrossReplicas(t *testing.T) {
	dbs := replicas(t, 2)
	createClient(t, dbs[0])
	const expired, live, limit = 1000, 50, 25
	var tokens []store.Token
	for i := range expired {
		tokens = append(tokens, newToken(fmt.Sprintf("expired-%d", i), store.AccessToken, fmt.Sprintf("f%d", i%7), now.Add(-time.Duration(i+1)*time.Second)))
	}
	for i := range live {
		tokens = append(tokens, newToken(fmt.Sprintf("live-%d", i), store.AccessToken, fmt.Sprintf("f%d", i%7), now.Add(time.Duration(i)*time.Second)))
	}
	if err := storetest.Create(t.Context(), dbs[0], tokens...); err != nil {
		t.Fatalf("CreateTokens: %v", err)
	}

	deleted := make([]int, len(dbs))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, db := range dbs {
		wg.Go(func() {
			<-start
			for {
				n, err := db.DeleteExpired(t.Context(), now, limit)
				if err != nil {
					t.Errorf("replica %d: DeleteExpired: %v", i, err)
					return
				}
				if n > limit {
					t.Errorf("replica %d: DeleteExpired(limit %d) = %d", i, limit, n)
				}
				deleted[i] += n
				if n < limit {
					return
				}
			}
		})
	}
	close(start)
	wg.Wait()

	t.Logf("deleted per replica: %v", deleted)
	if total := deleted[0] + deleted[1]; total != expired {
		t.Errorf("replicas deleted %v = %d tokens, want %d", deleted, total, expired)
	}
	var remaining, remainingExpired int
	if err := dbs[0].pool.QueryRow(t.Context(), `
		SELECT count(*), count(*) FILTER (WHERE expires_at < $1) FROM tokens`, now).
		Scan(&remaining, &remainingExpired); err != nil {
		t.Fatal(err)
	}
	if remaining != live || remainingExpired != 0 {
		t.Errorf("%d tokens left, %d of them expired; want %d live ones", remaining, remainingExpired, live)
	}
}

// TestOpenErrorsHideThePassword needs no server: neither a malformed DSN nor
// a refused connection may echo the password into an error that gets logged.
func TestOpenErrorsHideThePassword(t *testing.T) {
	const password = "s3cr3t-pa55"
	for _, dsn := range []string{
		"postgres://authsvc:" + password + "@127.0.0.1:1/authsvc?sslmode=disable&connect_timeout=5",
		"postgres://authsvc:" + password + "@[::1/authsvc",
		"postgres://authsvc:" + password + "@127.0.0.1:1/authsvc?sslmode=bogus",
		"host=127.0.0.1 port=1 user=authsvc password=" + password + " sslmode=disable connect_timeout=5",
		"host=127.0.0.1 port=x password='" + password,
	} {
		for _, open := range []func(context.Context, string) error{
			func(ctx context.Context, dsn string) error { _, err := OpenAuth(ctx, dsn); return err },
			func(ctx context.Context, dsn string) error { _, err := OpenItems(ctx, dsn); return err },
		} {
			err := open(t.Context(), dsn)
			if err == nil {
				t.Errorf("open of an unreachable server succeeded")
				continue
			}
			if strings.Contains(err.Error(), password) || strings.Contains(fmt.Sprintf("%+v", err), password) {
				t.Errorf("open error quotes the password: %v", err)
			}
		}
	}
}

// TestErrorsHideServerDetail: a failed insert's server error carries a
// Detail that quotes the row, hash included; nothing in the returned error
// chain may.
func TestErrorsHideServerDetail(t *testing.T) {
	db := openFresh(t)
	createClient(t, db)
	tok := newToken("bad-kind", "bogus", "f", now.Add(time.Hour)) // violates the CHECK on kind
	err := storetest.Create(t.Context(), db, tok)
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "23514" {
		t.Fatalf("CreateTokens of kind bogus: %v, want a check violation", err)
	}
	for _, e := range chain(err) {
		if s := fmt.Sprintf("%v %#v", e, e); strings.Contains(s, tok.Hash) {
			t.Errorf("error chain quotes the token hash: %s", s)
		}
	}
}

// chain lists err and everything it wraps.
func chain(err error) []error {
	if err == nil {
		return nil
	}
	out := []error{err}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		out = append(out, chain(u.Unwrap())...)
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			out = append(out, chain(e)...)
		}
	}
	return out
}

// TestRetry: a transaction aborted as a deadlock victim or a serialization
// failure runs again, a bounded number of times; other errors do not.
func TestRetry(t *testing.T) {
	var c conn
	for _, tc := range []struct {
		name     string
		failures int
		err      error
		want     int // attempts
		wantErr  bool
	}{
		{"deadlock once", 1, &pgconn.PgError{Code: deadlockDetected}, 2, false},
		{"serialization twice", 2, fmt.Errorf("commit: %w", &pgconn.PgError{Code: serializationFailure}), 3, false},
		{"deadlock forever", 100, &pgconn.PgError{Code: deadlockDetected}, maxTxAttempts, true},
		{"other error", 100, &pgconn.PgError{Code: uniqueViolation}, 1, true},
		{"no error", 0, nil, 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			attempts := 0
			err := c.retry(t.Context(), func() error {
				attempts++
				if attempts <= tc.failures {
					return tc.err
				}
				return nil
			})
			if attempts != tc.want || (err != nil) != tc.wantErr {
				t.Errorf("retry: %d attempts, error %v; want %d attempts, error %v", attempts, err, tc.want, tc.wantErr)
			}
		})
	}
}
