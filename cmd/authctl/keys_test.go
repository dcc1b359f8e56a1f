package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/example/authsvc/store"
)

func TestClientTokenSettings(t *testing.T) {
	e := newTestEnv(t)
	e.mustRun(t, "", "client", "add", "api", "--grants", "client_credentials", "--scopes", "items:read",
		"--access-token-format", "jwt", "--require-dpop", "--resource", "https://api.example/", "--resource", "urn:example:items")
	ctx := context.Background()
	c, err := e.store(t).GetClient(ctx, "api")
	if err != nil {
		t.Fatal(err)
	}
	if !c.IssuesJWT() || !c.RequireDPoP || !slices.Equal(c.Resources, []string{"https://api.example/", "urn:example:items"}) {
		t.Fatalf("stored %+v", c)
	}
	show := e.mustRun(t, "", "client", "show", "api").stdout
	for _, want := range []string{"jwt", "require-dpop", "https://api.example/ urn:example:items"} {
		if !strings.Contains(show, want) {
			t.Errorf("show lacks %q:\n%s", want, show)
		}
	}
	// Starting to require DPoP, or losing a resource, ends the client's
	// tokens; the format alone does not.
	r := e.mustRun(t, "", "client", "update", "api", "--access-token-format", "opaque")
	if strings.Contains(r.stderr, "revoked") {
		t.Fatalf("a format change revoked tokens: %s", r.stderr)
	}
	r = e.mustRun(t, "", "client", "update", "api", "--no-resources")
	if !strings.Contains(r.stderr, "revoked") {
		t.Fatalf("losing resources revoked nothing: %s", r.stderr)
	}
	c, _ = e.store(t).GetClient(ctx, "api")
	if c.IssuesJWT() || len(c.Resources) != 0 || !c.RequireDPoP {
		t.Fatalf("after update: %+v", c)
	}
	for _, bad := range [][]string{
		{"client", "update", "api", "--access-token-format", "paseto"},
		{"client", "update", "api", "--resource", "not-a-uri"},
		{"client", "update", "api", "--resource", "https://a.example/", "--no-resources"},
	} {
		if r := e.run(t, "", bad...); r.code == 0 {
			t.Errorf("authctl %s succeeded", strings.Join(bad, " "))
		}
	}
}

func newKEK() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

func TestKeysRotateListRetire(t *testing.T) {
	e := newTestEnv(t)
	// Without the key-encryption key nothing can be sealed: a usage error
	// that says what to set.
	r := e.run(t, "", "keys", "rotate")
	if r.code != 2 || !strings.Contains(r.msg, "AUTH_KEY_ENCRYPTION_KEY") {
		t.Fatalf("rotate without a KEK: %d %q", r.code, r.msg)
	}
	kek := newKEK()
	e.env["AUTH_KEY_ENCRYPTION_KEY"] = kek
	e.env["AUTHCTL_AUDIT"] = "1"
	first := strings.TrimSpace(e.mustRun(t, "", "keys", "rotate", "--publish-for", "0s").stdout)
	r = e.mustRun(t, "", "keys", "rotate", "--alg", "EdDSA")
	second := strings.TrimSpace(r.stdout)
	if first == "" || second == "" || first == second {
		t.Fatalf("kids %q, %q", first, second)
	}
	if !strings.Contains(r.stderr, `"event":"signing_key_rotated"`) || !strings.Contains(r.stderr, second) {
		t.Fatalf("no audit event of the rotation: %s", r.stderr)
	}

	list := e.mustRun(t, "", "keys", "list").stdout
	if !strings.Contains(list, first) || !strings.Contains(list, "signing") || !strings.Contains(list, "published") {
		t.Fatalf("list:\n%s", list)
	}
	var views []keyView
	if err := json.Unmarshal([]byte(e.mustRun(t, "", "keys", "list", "-o", "json").stdout), &views); err != nil {
		t.Fatal(err)
	}
	if len(views) != 2 || views[0].ID != first || views[0].State != "signing" || views[1].ID != second || views[1].State != "published" ||
		views[0].RetiredAt == nil || !views[0].RetiredAt.Equal(views[1].ActiveAt) {
		t.Fatalf("list -o json: %+v", views)
	}
	// No listing carries key material, nor the KEK.
	all := list + e.mustRun(t, "", "keys", "list", "-o", "json").stdout
	for _, secret := range []string{`"d"`, "PRIVATE", kek} {
		if strings.Contains(all, secret) {
			t.Fatalf("a listing shows %q", secret)
		}
	}
	// The sealed key opens with that KEK only (checked by the store's
	// reader, the ring); what is stored is not a plain PKCS #8.
	keys, _ := e.store(t).SigningKeys(context.Background())
	if len(keys) != 2 || len(keys[0].SealedPrivate) == 0 || keys[0].SealedPrivate[0] != 1 {
		t.Fatalf("stored keys %+v", keys)
	}

	// A kid is base64url and may begin with "-": "--" keeps it from being
	// read as a flag (a run in 64 or so failed without it).
	//
	// The one signing key cannot be retired while the next is only
	// published; once retired, a key stays published until its tokens
	// expire.
	if r := e.run(t, "", "keys", "retire", "--", first); r.code != 1 || !strings.Contains(r.msg, "rotate first") {
		t.Fatalf("retire the only signing key: %d %q", r.code, r.msg)
	}
	e.mustRun(t, "", "keys", "rotate", "--publish-for", "0s")
	r = e.mustRun(t, "", "keys", "retire", "--", first)
	if !strings.Contains(r.stderr, `"event":"signing_key_retired"`) {
		t.Fatalf("no audit event of the retirement: %s", r.stderr)
	}
	keys, _ = e.store(t).SigningKeys(context.Background())
	for _, k := range keys {
		if k.ID == first && (k.RetiredAt.IsZero() || !k.PublishedAt(time.Now()) || k.PublishedAt(time.Now().Add(store.MaxSignedTokenLifetime+2*time.Minute))) {
			t.Fatalf("retired key %+v", k)
		}
	}
	if r := e.run(t, "", "keys", "retire", "no-such-kid"); r.code != 1 || !strings.Contains(r.msg, "no signing key") {
		t.Fatalf("retire an unknown kid: %d %q", r.code, r.msg)
	}
	e.mustRun(t, "", "keys", "retire", "--compromised", "--", second)
	keys, _ = e.store(t).SigningKeys(context.Background())
	for _, k := range keys {
		if k.ID == second && k.PublishedAt(time.Now()) {
			t.Fatalf("a compromised key is still published: %+v", k)
		}
	}
}
