package issuer

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/example/authsvc/store"
)

// These tests pin each behaviour of go-oauth2 v4's manage.Manager that the
// package relies on. If an upgrade changes one, a test here fails before
// anything reaches a user.

const secret = "s3cret-s3cret-s3cret-s3cret-s3cret"

var (
	t0      = time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC) // long before time.Now
	confCli = store.Client{ID: "conf", SecretHash: store.HashClientSecret(secret),
		GrantTypes: []string{store.GrantPassword, store.GrantRefreshToken, store.GrantClientCredentials}}
	noRefreshCli = store.Client{ID: "norefresh", SecretHash: store.HashClientSecret(secret),
		GrantTypes: []string{store.GrantPassword}}
)

// recordingTokens is a Store that records what it is asked to store.
type recordingTokens struct {
	created   [][]store.Token
	versions  []store.Versions // of each call that created tokens
	rotated   []string
	redeemed  []string // code and device hashes
	rotateErr error
}

func (r *recordingTokens) RedeemAuthCode(_ context.Context, hash string, _ time.Time, v store.Versions, tokens ...store.Token) error {
	r.redeemed = append(r.redeemed, "code:"+hash)
	r.created = append(r.created, tokens)
	r.versions = append(r.versions, v)
	return nil
}

func (r *recordingTokens) RedeemDeviceGrant(_ context.Context, hash string, _ time.Time, v store.Versions, tokens ...store.Token) error {
	r.redeemed = append(r.redeemed, "device:"+hash)
	r.created = append(r.created, tokens)
	r.versions = append(r.versions, v)
	return nil
}

func (r *recordingTokens) CreateTokens(_ context.Context, v store.Versions, tokens ...store.Token) error {
	r.created = append(r.created, tokens)
	r.versions = append(r.versions, v)
	return nil
}

func (r *recordingTokens) RotateRefreshToken(_ context.Context, _, oldHash string, _ time.Time, v store.Versions, tokens ...store.Token) error {
	if r.rotateErr != nil {
		return r.rotateErr
	}
	r.rotated = append(r.rotated, oldHash)
	r.created = append(r.created, tokens)
	r.versions = append(r.versions, v)
	return nil
}

func newIssuer(t *testing.T, tokens Store) *Issuer {
	t.Helper()
	i, err := New(tokens, time.Minute, time.Hour, 24*time.Hour, func() time.Time { return t0 })
	if err != nil {
		t.Fatal(err)
	}
	return i
}

// The manager must verify the secret through ClientPasswordVerifier: its
// fallback compares GetSecret(), which is "" here, and an empty stored
// secret matches anything in that fallback.
func TestManagerVerifiesSecretThroughVerifier(t *testing.T) {
	rec := &recordingTokens{}
	i := newIssuer(t, rec)
	if _, err := i.Issue(context.Background(), Grant{Client: confCli, Secret: secret, Username: "alice"}); err != nil {
		t.Fatalf("right secret: %v", err)
	}
	_, err := i.Issue(context.Background(), Grant{Client: confCli, Secret: "wrong", Username: "alice"})
	if !errors.Is(err, ErrInvalidClient) {
		t.Fatalf("wrong secret: got %v, want ErrInvalidClient", err)
	}
	if len(rec.created) != 1 {
		t.Fatalf("stored %d times, want once (the wrong secret must store nothing)", len(rec.created))
	}
}

// Times and lifetimes come from our clock and settings, not the manager's
// time.Now; tokens are fresh 256-bit values stored only as hashes, all in
// one new family.
func TestIssueStoresOurTimesAndHashes(t *testing.T) {
	rec := &recordingTokens{}
	i := newIssuer(t, rec)
	client := confCli
	client.Version = 5
	got, err := i.Issue(context.Background(), Grant{Client: client, Secret: secret, Username: "alice", UserVersion: 42, Scope: "a b", WithRefresh: true})
	if err != nil {
		t.Fatal(err)
	}
	// The store is told what was checked, to refuse if it has changed.
	if want := (store.Versions{Client: 5, User: 42}); len(rec.versions) != 1 || rec.versions[0] != want {
		t.Errorf("versions passed to the store: %+v, want [%+v]", rec.versions, want)
	}
	if got.Access == "" || got.Refresh == "" || got.Access == got.Refresh || len(got.Access) != 43 {
		t.Fatalf("issued %+v: want two distinct 43-character values", got)
	}
	if got.Scope != "a b" || got.ExpiresIn != time.Minute {
		t.Errorf("issued scope %q expires_in %v", got.Scope, got.ExpiresIn)
	}
	if len(rec.created) != 1 || len(rec.created[0]) != 2 {
		t.Fatalf("stored %v, want one call with two tokens", rec.created)
	}
	access, refresh := rec.created[0][0], rec.created[0][1]
	if access.Hash != store.HashToken(got.Access) || refresh.Hash != store.HashToken(got.Refresh) {
		t.Error("stored hashes are not HashToken of the issued values")
	}
	if access.Kind != store.AccessToken || refresh.Kind != store.RefreshToken {
		t.Errorf("kinds %s, %s", access.Kind, refresh.Kind)
	}
	if access.FamilyID == "" || access.FamilyID != refresh.FamilyID {
		t.Errorf("families %q, %q: want one new family", access.FamilyID, refresh.FamilyID)
	}
	if family, ok := store.RefreshTokenFamily(got.Refresh); !ok || family != refresh.FamilyID {
		t.Error("the refresh token value does not name its grant")
	}
	if !access.IssuedAt.Equal(t0) || !access.ExpiresAt.Equal(t0.Add(time.Minute)) || !refresh.ExpiresAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("times: access %v..%v refresh ..%v, want from the injected clock", access.IssuedAt, access.ExpiresAt, refresh.ExpiresAt)
	}
	if access.Username != "alice" || access.ClientID != "conf" || access.Scope != "a b" {
		t.Errorf("access token %+v", access)
	}
}

// A refresh token is issued only when the grant asks for one and the client
// may use the refresh_token grant; the manager's IsGenerateRefresh reaches
// our generator as isGenRefresh.
func TestRefreshTokenOnlyWhenAskedAndAllowed(t *testing.T) {
	for _, tc := range []struct {
		name        string
		client      store.Client
		username    string
		withRefresh bool
		want        bool
	}{
		{"password, allowed", confCli, "alice", true, true},
		{"password, client without refresh grant", noRefreshCli, "alice", true, false},
		{"client credentials", confCli, "", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recordingTokens{}
			got, err := newIssuer(t, rec).Issue(context.Background(), Grant{Client: tc.client, Secret: secret, Username: tc.username, WithRefresh: tc.withRefresh})
			if err != nil {
				t.Fatal(err)
			}
			if (got.Refresh != "") != tc.want || (len(rec.created[0]) == 2) != tc.want {
				t.Errorf("refresh issued %v (stored %d tokens), want %v", got.Refresh != "", len(rec.created[0]), tc.want)
			}
		})
	}
}

// Rotation: the manager gives the refresh token we hand it no lifetime
// check of its own when its lifetime is zero (it was issued in 2001, long
// expired by time.Now), calls Create exactly once and none of the remove
// steps (which return errors here), narrows the access token's scope to the
// one asked for, and the new refresh token keeps the original scope.
func TestRotate(t *testing.T) {
	rec := &recordingTokens{}
	i := newIssuer(t, rec)
	const presented = "old-refresh-value"
	old := store.Token{Hash: store.HashToken(presented), Kind: store.RefreshToken, FamilyID: "fam", ClientID: "conf",
		Username: "alice", Scope: "a b", IssuedAt: t0, ExpiresAt: t0.Add(time.Hour), GrantedAt: t0}

	got, err := i.Rotate(context.Background(), confCli, old, 7, presented, "a", Binding{})
	if want := (store.Versions{Client: confCli.Version, User: 7}); err == nil && (len(rec.versions) != 1 || rec.versions[0] != want) {
		t.Errorf("versions passed to the store: %+v, want [%+v]", rec.versions, want)
	}
	if err != nil {
		t.Fatalf("rotate: %v", err)
	}
	if !slices.Equal(rec.rotated, []string{old.Hash}) || len(rec.created) != 1 || len(rec.created[0]) != 2 {
		t.Fatalf("rotated %v, stored %v: want one rotation of the old hash with a new pair", rec.rotated, rec.created)
	}
	access, refresh := rec.created[0][0], rec.created[0][1]
	if got.Refresh == "" || got.Refresh == presented || refresh.Hash != store.HashToken(got.Refresh) {
		t.Error("the new refresh token is not a fresh value")
	}
	if got.Scope != "a" || access.Scope != "a" || refresh.Scope != "a b" {
		t.Errorf("scopes: issued %q, access %q, refresh %q; want a, a, a b", got.Scope, access.Scope, refresh.Scope)
	}
	if access.FamilyID != "fam" || refresh.FamilyID != "fam" || access.Username != "alice" {
		t.Errorf("new pair %+v / %+v: want family fam, user alice", access, refresh)
	}
	if !refresh.ExpiresAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("new refresh expires %v, want our clock + refresh TTL", refresh.ExpiresAt)
	}

	// With no scope asked for, the access token keeps the original.
	rec2 := &recordingTokens{}
	if got, err := newIssuer(t, rec2).Rotate(context.Background(), confCli, old, 7, presented, "", Binding{}); err != nil || got.Scope != "a b" {
		t.Errorf("rotate without scope: %+v, %v; want scope a b", got, err)
	}
}

// The store's verdicts come back unchanged, so the handler can tell reuse
// from a token that is simply gone.
func TestRotatePassesStoreVerdicts(t *testing.T) {
	old := store.Token{Hash: store.HashToken("v"), Kind: store.RefreshToken, FamilyID: "fam", ClientID: "conf", Scope: "a", IssuedAt: t0, ExpiresAt: t0.Add(time.Hour), GrantedAt: t0}
	for _, want := range []error{store.ErrTokenReused, store.ErrNotFound} {
		_, err := newIssuer(t, &recordingTokens{rotateErr: want}).Rotate(context.Background(), confCli, old, 7, "v", "", Binding{})
		if !errors.Is(err, want) {
			t.Errorf("got %v, want %v", err, want)
		}
	}
}

func TestNewRefusesZeroLifetimes(t *testing.T) {
	if _, err := New(&recordingTokens{}, 0, time.Hour, time.Hour, time.Now); err == nil {
		t.Error("zero access lifetime accepted; go-oauth2 reads it as never expiring")
	}
	if _, err := New(&recordingTokens{}, time.Minute, 0, time.Hour, time.Now); err == nil {
		t.Error("zero refresh lifetime accepted")
	}
	if _, err := New(&recordingTokens{}, time.Minute, time.Hour, 0, time.Now); err == nil {
		t.Error("zero grant age accepted")
	}
}

// The refresh lifetime slides with each rotation but stops at the grant's
// maximum age (24h in newIssuer), even though each rotation would grant an
// hour more; at the maximum age the grant cannot be refreshed at all.
func TestRotateStopsAtGrantMaxAge(t *testing.T) {
	const presented = "v"
	old := store.Token{Hash: store.HashToken(presented), Kind: store.RefreshToken, FamilyID: "fam", ClientID: "conf",
		Username: "alice", Scope: "a", IssuedAt: t0.Add(-time.Minute), ExpiresAt: t0.Add(time.Minute)}

	// Young grant: a full refresh lifetime.
	rec := &recordingTokens{}
	old.GrantedAt = t0.Add(-time.Hour)
	if _, err := newIssuer(t, rec).Rotate(context.Background(), confCli, old, 7, presented, "", Binding{}); err != nil {
		t.Fatalf("rotate a young grant: %v", err)
	}
	if got := rec.created[0][1].ExpiresAt; !got.Equal(t0.Add(time.Hour)) {
		t.Errorf("refresh of a young grant expires %v, want %v", got, t0.Add(time.Hour))
	}

	// Half an hour before its maximum age: the lifetime is cut short.
	rec = &recordingTokens{}
	old.GrantedAt = t0.Add(-24*time.Hour + 30*time.Minute)
	if _, err := newIssuer(t, rec).Rotate(context.Background(), confCli, old, 7, presented, "", Binding{}); err != nil {
		t.Fatalf("rotate an old grant: %v", err)
	}
	if got := rec.created[0][1].ExpiresAt; !got.Equal(t0.Add(30 * time.Minute)) {
		t.Errorf("refresh of an old grant expires %v, want at the grant's end %v", got, t0.Add(30*time.Minute))
	}

	// At its maximum age: refused, and nothing stored.
	rec = &recordingTokens{}
	old.GrantedAt = t0.Add(-24 * time.Hour)
	_, err := newIssuer(t, rec).Rotate(context.Background(), confCli, old, 7, presented, "", Binding{})
	if !errors.Is(err, ErrGrantTooOld) || !errors.Is(err, store.ErrNotFound) || len(rec.created) != 0 {
		t.Errorf("rotate at the maximum age: %v, stored %v; want ErrGrantTooOld and nothing", err, rec.created)
	}
}

// A grant from a code or a device authorization stores its tokens through
// the redemption, in the family the code named, and never as a new grant.
func TestIssueFromCodeAndDeviceRedeems(t *testing.T) {
	pub := store.Client{ID: "spa", GrantTypes: []string{store.GrantAuthorizationCode, store.GrantDeviceCode, store.GrantRefreshToken}, Version: 7}
	rec := &recordingTokens{}
	i := newIssuer(t, rec)
	code := &store.AuthCode{Hash: "codehash", FamilyID: "fam1"}
	if _, err := i.Issue(context.Background(), Grant{Client: pub, Username: "alice", UserVersion: 3, Scope: "a", WithRefresh: true, Code: code}); err != nil {
		t.Fatal(err)
	}
	device := &store.DeviceGrant{Hash: "devhash", FamilyID: "fam2"}
	if _, err := i.Issue(context.Background(), Grant{Client: pub, Username: "alice", UserVersion: 3, Scope: "a", WithRefresh: true, Device: device}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"code:codehash", "device:devhash"}; !slices.Equal(rec.redeemed, want) {
		t.Fatalf("redeemed %v, want %v", rec.redeemed, want)
	}
	for n, family := range []string{"fam1", "fam2"} {
		if len(rec.created[n]) != 2 {
			t.Fatalf("call %d stored %d tokens, want access and refresh", n, len(rec.created[n]))
		}
		for _, tok := range rec.created[n] {
			if tok.FamilyID != family || tok.Username != "alice" || tok.ClientID != "spa" {
				t.Errorf("call %d stored %+v, want family %s of alice and spa", n, tok, family)
			}
		}
		if rec.versions[n] != (store.Versions{Client: 7, User: 3}) {
			t.Errorf("call %d versions %+v", n, rec.versions[n])
		}
	}
	if _, err := i.Issue(context.Background(), Grant{Client: pub, Username: "alice", Code: code, Device: device}); err == nil {
		t.Fatal("a grant from both a code and a device was issued")
	}
}
