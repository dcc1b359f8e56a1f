package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/example/authsvc/store"
	"github.com/example/authsvc/store/sqlite"
	"github.com/example/authsvc/store/storetest"
)

// open opens the authorization server's database in a fresh temporary
// directory that does not exist yet, so OpenAuth has to create it.
func open(t testing.TB) (*sqlite.AuthDB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "data", "store.db")
	return openAt(t, sqlite.OpenAuth, path), path
}

// openAt opens the database at path with open (sqlite.OpenAuth or
// sqlite.OpenItems) and closes it when t ends.
func openAt[DB interface{ Close() error }](t testing.TB, open func(context.Context, string, ...store.OpenOption) (DB, error), path string) DB {
	t.Helper()
	db, err := open(t.Context(), path)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}

func TestAuthStore(t *testing.T) {
	storetest.RunAuthStoreTests(t, func(t *testing.T) store.AuthStore {
		db, _ := open(t)
		return db
	})
}

// TestStressRotation runs the suite's concurrent rotation cases over and
// over under CPU contention (bounded in time), as CI should.
func TestStressRotation(t *testing.T) {
	if testing.Short() {
		t.Skip("stress test")
	}
	db, _ := open(t)
	rounds := storetest.StressRotation(t, db, 6*time.Second)
	t.Logf("%d rounds under contention", rounds)
}

func TestItemStore(t *testing.T) {
	storetest.RunItemStoreTests(t, func(t *testing.T) store.ItemStore {
		return openAt(t, sqlite.OpenItems, filepath.Join(t.TempDir(), "data", "items.db"))
	})
}

// TestReopen opens both services' schemas in one file (each has its own
// version table, so they do not get in each other's way), then reopens it.
func TestReopen(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "store.db")
	now := time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)

	auth, err := sqlite.OpenAuth(ctx, path)
	if err != nil {
		t.Fatalf("OpenAuth: %v", err)
	}
	items, err := sqlite.OpenItems(ctx, path)
	if err != nil {
		t.Fatalf("OpenItems: %v", err)
	}
	if err := auth.CreateUser(ctx, store.User{Username: "alice", PasswordHash: []byte("hash"), CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	if err := items.CreateItem(ctx, store.Item{ID: "item-1", Owner: "user:alice", Name: "one", CreatedAt: now}, 10); err != nil {
		t.Fatalf("CreateItem: %v", err)
	}
	for _, db := range []interface{ Close() error }{auth, items} {
		if err := db.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}

	// Twice: the second and third opens find both schemas up to date.
	for i := range 2 {
		auth, err := sqlite.OpenAuth(ctx, path)
		if err != nil {
			t.Fatalf("reopen %d: OpenAuth: %v", i, err)
		}
		u, err := auth.GetUser(ctx, "alice")
		if err != nil || !u.CreatedAt.Equal(now) || string(u.PasswordHash) != "hash" {
			t.Errorf("reopen %d: GetUser = %+v, %v", i, u, err)
		}
		items, err := sqlite.OpenItems(ctx, path)
		if err != nil {
			t.Fatalf("reopen %d: OpenItems: %v", i, err)
		}
		if _, err := items.GetItem(ctx, "user:alice", "item-1"); err != nil {
			t.Errorf("reopen %d: GetItem: %v", i, err)
		}
		for _, db := range []interface{ Close() error }{auth, items} {
			if err := db.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
		}
	}
}

// TestEachServiceMigratesOnlyItsOwnSchema: a fresh file opened for one
// service has none of the other's tables.
func TestEachServiceMigratesOnlyItsOwnSchema(t *testing.T) {
	dir := t.TempDir()
	authPath, itemsPath := filepath.Join(dir, "auth.db"), filepath.Join(dir, "items.db")
	openAt(t, sqlite.OpenAuth, authPath)
	openAt(t, sqlite.OpenItems, itemsPath)
	for _, tc := range []struct {
		path       string
		want, lack []string
	}{
		{authPath, []string{"users", "clients", "tokens", "logins", "goose_db_version"}, []string{"items", "items_schema_version"}},
		{itemsPath, []string{"items", "items_schema_version"}, []string{"users", "clients", "tokens", "logins", "goose_db_version"}},
	} {
		tables := tablesOf(t, tc.path)
		for _, name := range tc.want {
			if !tables[name] {
				t.Errorf("%s: no table %s", filepath.Base(tc.path), name)
			}
		}
		for _, name := range tc.lack {
			if tables[name] {
				t.Errorf("%s: has table %s, which belongs to the other service", filepath.Base(tc.path), name)
			}
		}
	}
}

func tablesOf(t *testing.T, path string) map[string]bool {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.QueryContext(t.Context(), `SELECT name FROM sqlite_schema WHERE type = 'table'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	tables := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		tables[name] = true
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return tables
}

func TestOpenRejectsNonFilePaths(t *testing.T) {
	for _, path := range []string{"", ":memory:", "file:x.db", filepath.Join(t.TempDir(), "x.db?mode=ro")} {
		if db, err := sqlite.OpenAuth(t.Context(), path); err == nil {
			db.Close()
			t.Errorf("OpenAuth(%q) succeeded, want an error", path)
		}
		if db, err := sqlite.OpenItems(t.Context(), path); err == nil {
			db.Close()
			t.Errorf("OpenItems(%q) succeeded, want an error", path)
		}
	}
}

func TestBeginLoginRejectsInvalidPolicy(t *testing.T) {
	db, _ := open(t)
	for _, p := range []store.LoginPolicy{
		{},
		{Threshold: 0, Lockout: time.Minute, MaxLockout: time.Hour},
		{Threshold: 3, Lockout: 0, MaxLockout: time.Hour},
		{Threshold: 3, Lockout: time.Hour, MaxLockout: time.Minute},
	} {
		a, err := db.BeginLogin(t.Context(), "alice", time.Now(), p)
		if err == nil || a.Allowed {
			t.Errorf("BeginLogin with %+v = %+v, %v; want refused with an error", p, a, err)
		}
	}
}

func TestCanceledContext(t *testing.T) {
	db, _ := open(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := storetest.Create(ctx, db, store.Token{Hash: "h", Kind: store.AccessToken})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("CreateTokens with a canceled context: %v, want context.Canceled", err)
	}
}

func BenchmarkGetToken(b *testing.B) {
	db, _ := open(b)
	ctx := b.Context()
	now := time.Now()
	if err := db.CreateClient(ctx, store.Client{ID: "web", CreatedAt: now}); err != nil {
		b.Fatal(err)
	}
	const n = 1000
	for i := range n {
		tok := store.Token{Hash: fmt.Sprintf("%064x", i), Kind: store.AccessToken, FamilyID: "f", ClientID: "web",
			IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
		if err := storetest.Create(ctx, db, tok); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	i := 0
	for b.Loop() {
		if _, err := db.GetToken(ctx, fmt.Sprintf("%064x", i%n)); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkCreateTokens(b *testing.B) {
	db, _ := open(b)
	ctx := b.Context()
	now := time.Now()
	v := benchPrincipals(b, db)
	i := 0
	for b.Loop() {
		access := store.Token{Hash: fmt.Sprintf("a%063x", i), Kind: store.AccessToken, FamilyID: fmt.Sprint(i),
			ClientID: "web", Username: "alice", IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
		refresh := access
		refresh.Hash, refresh.Kind, refresh.ExpiresAt = fmt.Sprintf("r%063x", i), store.RefreshToken, now.Add(24*time.Hour)
		if err := db.CreateTokens(ctx, v, access, refresh); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func TestRotateRejectsForeignFamily(t *testing.T) {
	db, _ := open(t)
	ctx := t.Context()
	now := time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)
	if err := db.CreateClient(ctx, store.Client{ID: "web", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	old := store.Token{Hash: "old", Kind: store.RefreshToken, FamilyID: "f1", ClientID: "web", IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := storetest.Create(ctx, db, old); err != nil {
		t.Fatal(err)
	}
	stray := store.Token{Hash: "new", Kind: store.RefreshToken, FamilyID: "f2", ClientID: "web", IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := storetest.Rotate(ctx, db, "f1", "old", now, stray); err == nil {
		t.Fatal("RotateRefreshToken into another family succeeded")
	}
	// Nothing happened: the old token is still unrotated.
	got, err := db.GetToken(ctx, "old")
	if err != nil || got.Rotated {
		t.Errorf("GetToken(old) = %+v, %v; want unrotated", got, err)
	}
	if _, err := db.GetToken(ctx, "new"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetToken(new): %v, want ErrNotFound", err)
	}
}

// benchPrincipals creates the client "web" and the user "alice" and returns
// their versions, read once: the benchmarks time the store's writes, not a
// request's reads before them.
func benchPrincipals(b *testing.B, db *sqlite.AuthDB) store.Versions {
	b.Helper()
	now := time.Now()
	if err := db.CreateClient(b.Context(), store.Client{ID: "web", CreatedAt: now}); err != nil {
		b.Fatal(err)
	}
	if err := db.CreateUser(b.Context(), store.User{Username: "alice", CreatedAt: now, UpdatedAt: now}); err != nil {
		b.Fatal(err)
	}
	return storetest.VersionsOf(b.Context(), db, store.Token{ClientID: "web", Username: "alice"})
}

// BenchmarkRotateRefreshToken rotates one grant's refresh token again and
// again, as a long-lived client does.
func BenchmarkRotateRefreshToken(b *testing.B) {
	db, _ := open(b)
	ctx := b.Context()
	now := time.Now()
	v := benchPrincipals(b, db)
	token := func(i int, kind store.TokenKind) store.Token {
		return store.Token{Hash: fmt.Sprintf("%s%062x", kind[:1], i), Kind: kind, FamilyID: "f", ClientID: "web",
			Username: "alice", IssuedAt: now, ExpiresAt: now.Add(24 * time.Hour)}
	}
	refresh := token(0, store.RefreshToken)
	if err := db.CreateTokens(ctx, v, token(0, store.AccessToken), refresh); err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		i++
		next := token(i, store.RefreshToken)
		if err := db.RotateRefreshToken(ctx, "f", refresh.Hash, now, v, token(i, store.AccessToken), next); err != nil {
			b.Fatalf("RotateRefreshToken %d: %v", i, err)
		}
		refresh = next
	}
}

// Tokens of a disabled or a missing user can no longer be stored through the
// store (store.Versions), but a database older than that guard, or one
// restored from a backup, may hold some: introspection must still say the
// user may not use them. Rows are written here behind the store's back.
func TestIntrospectionRefusesTokensOfDisabledOrMissingUsers(t *testing.T) {
	db, path := open(t)
	ctx := t.Context()
	now := time.Now()
	if err := db.CreateClient(ctx, store.Client{ID: "rs", SecretHash: store.HashClientSecret("s"), Introspect: true, CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	for _, u := range []store.User{{Username: "alice", CreatedAt: now}, {Username: "dave", Disabled: true, CreatedAt: now}} {
		if err := db.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	for _, user := range []string{"alice", "dave", "ghost"} {
		_, err := raw.ExecContext(ctx, `INSERT INTO tokens (hash, kind, family_id, client_id, username, scope, issued_at, expires_at)
			VALUES (?, 'access_token', ?, 'rs', ?, '', ?, ?)`, "hash-"+user, "f-"+user, user, now.UnixMicro(), now.Add(time.Hour).UnixMicro())
		if err != nil {
			t.Fatal(err)
		}
	}
	for user, want := range map[string]bool{"alice": true, "dave": false, "ghost": false} {
		_, tok, userOK, err := db.IntrospectionLookup(ctx, "rs", "hash-"+user)
		if err != nil || tok.Username != user || userOK != want {
			t.Errorf("IntrospectionLookup of %s's token: %+v, userOK %v, %v; want found, userOK %v", user, tok, userOK, err, want)
		}
		if _, userOK, err := db.GetTokenForIntrospection(ctx, "hash-"+user); err != nil || userOK != want {
			t.Errorf("GetTokenForIntrospection of %s's token: userOK %v, %v; want %v", user, userOK, err, want)
		}
	}
}
