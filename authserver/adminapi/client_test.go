package adminapi_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/example/authsvc/authserver/admin"
	"github.com/example/authsvc/authserver/adminapi"
	"github.com/example/authsvc/store"
)

// TestClient drives the API through the Go client that authctl uses, and
// checks that its errors match the sentinels a direct call returns.
func TestClient(t *testing.T) {
	e := newAPIEnv(t)
	srv := httptest.NewServer(e.handler)
	t.Cleanup(srv.Close)
	ctx := context.Background()
	c, err := adminapi.NewClient(srv.URL, adminToken, nil)
	if err != nil {
		t.Fatal(err)
	}
	// More users than a page, to follow the cursor.
	for i := range adminapi.MaxLimit + 2 {
		if err := e.st.CreateUser(ctx, store.User{Username: fmt.Sprintf("u%04d", i), PasswordHash: []byte("$2a$04$placeholderplaceholderplaceholderplaceholderpl"),
			CreatedAt: time.Now(), UpdatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	users, err := c.Users(ctx)
	if err != nil || len(users) != adminapi.MaxLimit+2 {
		t.Fatalf("Users: %d, %v", len(users), err)
	}
	if err := c.CreateUser(ctx, "alice", "alice-pass-1"); err != nil {
		t.Fatal(err)
	}
	if err := c.CreateUser(ctx, "alice", "alice-pass-1"); !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("second CreateUser: %v, want ErrAlreadyExists", err)
	}
	if _, err := c.User(ctx, "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("User(nobody): %v, want ErrNotFound", err)
	}
	if err := c.SetPassword(ctx, "alice", "short"); !errors.Is(err, admin.ErrInvalid) {
		t.Fatalf("short password: %v, want ErrInvalid", err)
	}
	secret, err := c.CreateClient(ctx, admin.NewClient{ID: "web", Grants: []string{"password"}})
	if err != nil || secret == "" {
		t.Fatalf("CreateClient: %q, %v", secret, err)
	}
	scopes := []string{"items:read"}
	if _, err := c.UpdateClient(ctx, "web", admin.ClientChange{Scopes: &scopes}); err != nil {
		t.Fatal(err)
	}
	cl, err := c.Client(ctx, "web")
	if err != nil || len(cl.Scopes) != 1 {
		t.Fatalf("Client: %+v, %v", cl, err)
	}
	if _, err := c.MigrationStatus(ctx); err != nil {
		t.Fatal(err)
	}

	ro, _ := adminapi.NewClient(srv.URL, readToken, nil)
	var p *adminapi.Problem
	if err := ro.DeleteUser(ctx, "alice"); !errors.As(err, &p) || p.Status != 403 {
		t.Fatalf("read token deletes: %v", err)
	}
	if _, err := c.User(ctx, "alice"); err != nil {
		t.Fatalf("alice after a refused delete: %v", err)
	}
}
