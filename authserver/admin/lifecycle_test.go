package admin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/example/authsvc/authserver/admin"
	"github.com/example/authsvc/store"
)

// auditEnv is newAdminEnv whose service logs JSON into a buffer.
func auditEnv(t *testing.T) (adminEnv, *bytes.Buffer) {
	t.Helper()
	e := newAdminEnv(t)
	var logs bytes.Buffer
	svc, err := admin.New(e.st, slog.New(slog.NewJSONHandler(&logs, nil)), testCost)
	if err != nil {
		t.Fatal(err)
	}
	e.svc = svc
	return e, &logs
}

// auditEvents parses the log and returns its audit records in order.
func auditEvents(t *testing.T, logs *bytes.Buffer) []map[string]any {
	t.Helper()
	var events []map[string]any
	for line := range strings.Lines(logs.String()) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec["msg"] == "audit" {
			events = append(events, rec)
		}
	}
	return events
}

func TestDeleteUser(t *testing.T) {
	e := newAdminEnv(t)
	ctx := context.Background()
	tokens := e.grant(t, "g1", "alice")
	if n := e.alive(t, tokens); n != 2 {
		t.Fatalf("%d of 2 tokens alive before the delete", n)
	}
	if err := e.svc.DeleteUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if n := e.alive(t, tokens); n != 0 {
		t.Errorf("%d tokens alive after the delete, want 0", n)
	}
	if _, err := e.svc.User(ctx, "alice"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("User after delete: %v, want ErrNotFound", err)
	}
	if err := e.svc.DeleteUser(ctx, "alice"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second DeleteUser: %v, want ErrNotFound", err)
	}
}

func TestUpdateClient(t *testing.T) {
	e := newAdminEnv(t) // web: password, refresh_token, client_credentials; no scopes
	ctx := context.Background()
	tokens := e.grant(t, "g1", "alice")

	// Widening keeps the grants.
	scopes, yes := []string{"items:read", "items:write"}, true
	revoked, err := e.svc.UpdateClient(ctx, "web", admin.ClientChange{Scopes: &scopes, Introspect: &yes})
	if err != nil || revoked {
		t.Fatalf("widening: revoked=%v err=%v", revoked, err)
	}
	c, _ := e.svc.Client(ctx, "web")
	if !c.Introspect || strings.Join(c.Scopes, " ") != "items:read items:write" || len(c.GrantTypes) != 3 {
		t.Errorf("after widening: %+v", c)
	}
	if n := e.alive(t, tokens); n != 2 {
		t.Fatalf("%d of 2 tokens alive after widening", n)
	}

	// Narrowing ends them.
	scopes = scopes[:1]
	revoked, err = e.svc.UpdateClient(ctx, "web", admin.ClientChange{Scopes: &scopes})
	if err != nil || !revoked {
		t.Fatalf("narrowing: revoked=%v err=%v", revoked, err)
	}
	if n := e.alive(t, tokens); n != 0 {
		t.Errorf("%d tokens alive after narrowing the scopes, want 0", n)
	}

	// A rule broken is refused, and nothing changes.
	if err := e.svc.CreateUser(ctx, "bob", "bob-pass-123"); err != nil {
		t.Fatal(err)
	}
	bad := []string{"implicit"}
	if _, err := e.svc.UpdateClient(ctx, "web", admin.ClientChange{Grants: &bad}); !errors.Is(err, admin.ErrInvalid) {
		t.Errorf("unknown grant: %v, want ErrInvalid", err)
	}
	if c, _ := e.svc.Client(ctx, "web"); len(c.GrantTypes) != 3 {
		t.Errorf("a refused update changed the client: %+v", c)
	}
	if _, err := e.svc.UpdateClient(ctx, "nothing", admin.ClientChange{}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown client: %v, want ErrNotFound", err)
	}
}

func TestRotateSecret(t *testing.T) {
	e := newAdminEnv(t)
	ctx := context.Background()
	tokens := e.grant(t, "g1", "alice")
	before, _ := e.svc.Client(ctx, "web")

	secret, err := e.svc.RotateSecret(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	after, _ := e.svc.Client(ctx, "web")
	if !after.VerifySecret(secret) {
		t.Error("the new secret does not verify")
	}
	if bytes.Equal(before.SecretHash, after.SecretHash) {
		t.Error("the secret hash did not change")
	}
	if n := e.alive(t, tokens); n != 2 {
		t.Errorf("%d of 2 tokens alive after a rotation; users keep their grants", n)
	}

	if _, err := e.svc.CreateClient(ctx, admin.NewClient{ID: "spa", Public: true, Grants: []string{"password"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.RotateSecret(ctx, "spa"); !errors.Is(err, admin.ErrInvalid) {
		t.Errorf("rotating a public client's secret: %v, want ErrInvalid", err)
	}
}

func TestDeleteClient(t *testing.T) {
	e := newAdminEnv(t)
	ctx := context.Background()
	tokens := append(e.grant(t, "g1", "alice"), e.grant(t, "cc", "")...)
	if n := e.alive(t, tokens); n != 3 {
		t.Fatalf("%d of 3 tokens alive before the delete", n)
	}
	if err := e.svc.DeleteClient(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	if n := e.alive(t, tokens); n != 0 {
		t.Errorf("%d tokens alive after the client's delete, want 0", n)
	}
	if err := e.svc.DeleteClient(ctx, "web"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second DeleteClient: %v, want ErrNotFound", err)
	}
}

// Every admin change is one audit event, with no secret or hash.
func TestAuditEvents(t *testing.T) {
	e, logs := auditEnv(t)
	ctx := context.Background()
	scopes := []string{"items:read"}
	var secrets []string
	steps := []struct {
		event string
		do    func() error
	}{
		{"user_created", func() error { return e.svc.CreateUser(ctx, "bob", "bob-secret-password") }},
		{"user_password_changed", func() error { return e.svc.SetPassword(ctx, "bob", "bob-other-password") }},
		{"user_disabled", func() error { _, err := e.svc.SetDisabled(ctx, "bob", true); return err }},
		{"user_enabled", func() error { _, err := e.svc.SetDisabled(ctx, "bob", false); return err }},
		{"user_unlocked", func() error { return e.svc.Unlock(ctx, "bob") }},
		{"user_grants_revoked", func() error { return e.svc.RevokeUser(ctx, "bob") }},
		{"user_deleted", func() error { return e.svc.DeleteUser(ctx, "bob") }},
		{"client_created", func() error {
			s, err := e.svc.CreateClient(ctx, admin.NewClient{ID: "rs", Grants: []string{"client_credentials"}})
			secrets = append(secrets, s)
			return err
		}},
		{"client_updated", func() error {
			_, err := e.svc.UpdateClient(ctx, "rs", admin.ClientChange{Scopes: &scopes})
			return err
		}},
		{"client_secret_rotated", func() error {
			s, err := e.svc.RotateSecret(ctx, "rs")
			secrets = append(secrets, s)
			return err
		}},
		{"client_grants_revoked", func() error { return e.svc.RevokeClient(ctx, "rs") }},
		{"client_deleted", func() error { return e.svc.DeleteClient(ctx, "rs") }},
	}
	for _, step := range steps {
		if err := step.do(); err != nil {
			t.Fatalf("%s: %v", step.event, err)
		}
	}
	events := auditEvents(t, logs)
	if len(events) != len(steps) {
		t.Fatalf("%d audit events, want %d:\n%s", len(events), len(steps), logs)
	}
	for i, step := range steps {
		if events[i]["event"] != step.event {
			t.Errorf("event %d = %v, want %s", i, events[i]["event"], step.event)
		}
		if events[i]["username"] == nil && events[i]["client_id"] == nil {
			t.Errorf("event %s names neither a user nor a client", step.event)
		}
	}
	for _, s := range append(secrets, "bob-secret-password", "bob-other-password", "$2a$") {
		if strings.Contains(logs.String(), s) {
			t.Errorf("the log contains a secret, password or hash %q", s)
		}
	}
}

// Bootstrap's creations are audit events too, marked as its own.
func TestBootstrapAuditEvents(t *testing.T) {
	st := openBootstrapStore(t)
	var logs bytes.Buffer
	doc := "users:\n  - username: carol\n    password: carol-bootstrap-pw\nclients:\n  - id: spa\n    public: true\n    grants: [password]\n"
	if err := bootstrap(context.Background(), slog.New(slog.NewJSONHandler(&logs, nil)), st, strings.NewReader(doc), testCost); err != nil {
		t.Fatal(err)
	}
	events := auditEvents(t, &logs)
	if len(events) != 2 || events[0]["event"] != "user_created" || events[1]["event"] != "client_created" {
		t.Fatalf("audit events %v, want user_created and client_created", events)
	}
	for _, ev := range events {
		if ev["via"] != "bootstrap" {
			t.Errorf("event %v does not say via bootstrap", ev)
		}
	}
	if strings.Contains(logs.String(), "carol-bootstrap-pw") {
		t.Error("the log contains the bootstrap password")
	}
}
