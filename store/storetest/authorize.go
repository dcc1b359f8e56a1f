package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/example/authsvc/store"
)

// Browser and device login (store.Authorizations).

var authorizeTests = []subtest[store.AuthStore]{
	{"Authorize/ClientRedirects", testClientRedirects},
	{"Authorize/CodeRoundTrip", testCodeRoundTrip},
	{"Authorize/CodeRedeemOnce", testCodeRedeemOnce},
	{"Authorize/CodeExpired", testCodeExpired},
	{"Authorize/CodeUserChanged", testCodeUserChanged},
	{"Authorize/CodeForeignTokens", testCodeForeignTokens},
	{"Authorize/CodeConcurrent", testCodeConcurrent},
	{"Authorize/DeviceDecideAndPoll", testDeviceDecideAndPoll},
	{"Authorize/DeviceConcurrent", testDeviceConcurrent},
	{"Authorize/SessionsEndWithUser", testSessionsEndWithUser},
	{"Authorize/Consents", testConsents},
	{"Authorize/DeleteExpired", testAuthorizeDeleteExpired},
	{"Authorize/ClientDeleteCascades", testAuthorizeClientDelete},
	{"Authorize/RevocationReachesPending", testRevocationReachesPending},
}

func testClientRedirects(t *testing.T, s store.AuthStore) {
	ctx := t.Context()
	c := newClient("spa")
	c.RedirectURIs, c.FirstParty = []string{"https://a.example/cb", "http://127.0.0.1/cb"}, true
	ok(t, "CreateClient", s.CreateClient(ctx, c))
	got, err := s.GetClient(ctx, "spa")
	ok(t, "GetClient", err)
	if !sameStrings(got.RedirectURIs, c.RedirectURIs) || !got.FirstParty {
		t.Fatalf("GetClient: %+v", got)
	}
	list, err := s.ListClients(ctx)
	ok(t, "ListClients", err)
	if len(list) != 1 || !sameStrings(list[0].RedirectURIs, c.RedirectURIs) || !list[0].FirstParty {
		t.Fatalf("ListClients: %+v", list)
	}
	lc, _, _, err := s.IntrospectionLookup(ctx, "spa", "")
	ok(t, "IntrospectionLookup", err)
	if !sameStrings(lc.RedirectURIs, c.RedirectURIs) || !lc.FirstParty {
		t.Fatalf("IntrospectionLookup: %+v", lc)
	}
	got.RedirectURIs, got.FirstParty = []string{"https://b.example/cb"}, false
	ok(t, "UpdateClient", s.UpdateClient(ctx, got))
	again, err := s.GetClient(ctx, "spa")
	ok(t, "GetClient", err)
	if !sameStrings(again.RedirectURIs, []string{"https://b.example/cb"}) || again.FirstParty {
		t.Fatalf("after UpdateClient: %+v", again)
	}
}

// newCode is a code of alice for web, in family.
func newCode(name, family string) store.AuthCode {
	return store.AuthCode{
		Hash: hashOf("code-" + name), ClientID: testClientID, Username: "alice", RedirectURI: "https://a.example/cb",
		Challenge: store.S256Challenge("verifier-" + name + "-0123456789-0123456789-0123"), Scope: "items:read",
		FamilyID: family, IssuedAt: base, ExpiresAt: base.Add(store.AuthCodeTTL),
	}
}

// createCode stores a code of alice (at her current version) for web.
func createCode(t *testing.T, s store.AuthStore, name, family string) store.AuthCode {
	t.Helper()
	c := newCode(name, family)
	c.UserVersion = reread(t, s, store.User{Username: "alice"}).Version
	ok(t, "CreateAuthCode", s.CreateAuthCode(t.Context(), c))
	return c
}

// redeem redeems c with a fresh pair of its family named name, as a request
// that checked the client and the user would.
func redeem(t *testing.T, s store.AuthStore, c store.AuthCode, name string, now time.Time) ([]store.Token, error) {
	a, r := pair(c.FamilyID, name, now)
	v := VersionsOf(t.Context(), s, a)
	return []store.Token{a, r}, s.RedeemAuthCode(t.Context(), c.Hash, now, v, a, r)
}

func testCodeRoundTrip(t *testing.T, s store.AuthStore) {
	ctx := t.Context()
	setupUsersAndClients(t, s)
	want := createCode(t, s, "c1", "fam-1")
	got, err := s.GetAuthCode(ctx, want.Hash)
	ok(t, "GetAuthCode", err)
	if got.ClientID != want.ClientID || got.Username != want.Username || got.UserVersion != want.UserVersion ||
		got.RedirectURI != want.RedirectURI || got.Challenge != want.Challenge || got.Scope != want.Scope ||
		got.FamilyID != want.FamilyID || !got.IssuedAt.Equal(want.IssuedAt) || !got.ExpiresAt.Equal(want.ExpiresAt) || got.Redeemed {
		t.Fatalf("GetAuthCode = %+v, want %+v", got, want)
	}
	wantErr(t, "CreateAuthCode again", s.CreateAuthCode(ctx, want), store.ErrAlreadyExists, want.Hash)
	_, err = s.GetAuthCode(ctx, hashOf("no such code"))
	wantErr(t, "GetAuthCode unknown", err, store.ErrNotFound, hashOf("no such code"))
}

func testCodeRedeemOnce(t *testing.T, s store.AuthStore) {
	ctx := t.Context()
	setupUsersAndClients(t, s)
	c := createCode(t, s, "c1", "fam-1")
	first, err := redeem(t, s, c, "first", base.Add(time.Second))
	ok(t, "RedeemAuthCode", err)
	present(t, s, first[0])
	if g, err := s.GetGrant(ctx, c.FamilyID); err != nil || g.Hash != first[1].Hash {
		t.Fatalf("GetGrant after redemption: %+v, %v", g, err)
	}
	if got, err := s.GetAuthCode(ctx, c.Hash); err != nil || !got.Redeemed {
		t.Fatalf("the code after redemption: %+v, %v", got, err)
	}
	second, err := redeem(t, s, c, "second", base.Add(2*time.Second))
	wantErr(t, "RedeemAuthCode again", err, store.ErrCodeReused, c.Hash, c.FamilyID)
	absent(t, s, first[0])
	absent(t, s, second...)
	if _, err := s.GetGrant(ctx, c.FamilyID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the reused code's grant lives on: %v", err)
	}
}

func testCodeExpired(t *testing.T, s store.AuthStore) {
	setupUsersAndClients(t, s)
	c := createCode(t, s, "c1", "fam-1")
	toks, err := redeem(t, s, c, "late", c.ExpiresAt)
	wantErr(t, "RedeemAuthCode at expiry", err, store.ErrNotFound, c.Hash)
	absent(t, s, toks[0])
	// Just before expiry it works: the refusal above was the time.
	_, err = redeem(t, s, c, "in-time", c.ExpiresAt.Add(-time.Microsecond))
	ok(t, "RedeemAuthCode in time", err)
}

// A redemption checked against a user version that has moved on stores
// nothing and leaves the code as it was.
func testCodeUserChanged(t *testing.T, s store.AuthStore) {
	ctx := t.Context()
	setupUsersAndClients(t, s)
	c := createCode(t, s, "c1", "fam-1")
	a, r := pair(c.FamilyID, "stale", base)
	v := VersionsOf(ctx, s, a)
	v.User-- // the version a request read before a change
	wantErr(t, "RedeemAuthCode over an old user version", s.RedeemAuthCode(ctx, c.Hash, base, v, a, r), store.ErrUserChanged)
	absent(t, s, a)
	if got, err := s.GetAuthCode(ctx, c.Hash); err != nil || got.Redeemed {
		t.Fatalf("the code after a refused redemption: %+v, %v", got, err)
	}
	_, err := redeem(t, s, c, "fresh", base)
	ok(t, "RedeemAuthCode over the current version", err)

	// A password change ends the user's codes outright.
	c2 := createCode(t, s, "c2", "fam-2")
	u := reread(t, s, store.User{Username: "alice"})
	u.PasswordHash = []byte("$2a$10$another-hash")
	ok(t, "UpdateUser", s.UpdateUser(ctx, u))
	_, err = s.GetAuthCode(ctx, c2.Hash)
	wantErr(t, "GetAuthCode after passwd", err, store.ErrNotFound, c2.Hash)
}

func testCodeForeignTokens(t *testing.T, s store.AuthStore) {
	ctx := t.Context()
	setupUsersAndClients(t, s)
	c := createCode(t, s, "c1", "fam-1")
	a, r := pair("another-family", "foreign", base)
	if err := s.RedeemAuthCode(ctx, c.Hash, base, VersionsOf(ctx, s, a), a, r); err == nil {
		t.Fatal("tokens of another family were stored for the code")
	}
	absent(t, s, a)
	if got, _ := s.GetAuthCode(ctx, c.Hash); got.Redeemed {
		t.Fatal("a refused redemption spent the code")
	}
}

// Of concurrent redemptions of one code exactly one gets tokens; every
// other is reuse, which ends the grant the winner started (RFC 6749
// §4.1.2): the server cannot tell a race from a stolen code.
func testCodeConcurrent(t *testing.T, s store.AuthStore) {
	setupUsersAndClients(t, s)
	c := createCode(t, s, "c1", "fam-1")
	const n = 20
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		won     [][]store.Token
		reused  int
		unknown []error
	)
	for i := range n {
		wg.Go(func() {
			toks, err := redeem(t, s, c, fmt.Sprintf("racer-%d", i), base.Add(time.Second))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won = append(won, toks)
			case errors.Is(err, store.ErrCodeReused):
				reused++
			default:
				unknown = append(unknown, err)
			}
		})
	}
	wg.Wait()
	if len(won) != 1 || reused != n-1 || len(unknown) > 0 {
		t.Fatalf("%d won, %d reused, other errors %v; want 1 and %d", len(won), reused, unknown, n-1)
	}
	absent(t, s, won[0]...)
}

func newDevice(name string) store.DeviceGrant {
	return store.DeviceGrant{
		Hash: hashOf("device-" + name), UserCodeHash: hashOf("user-code-" + name), ClientID: testClientID, Scope: "items:read",
		IssuedAt: base, ExpiresAt: base.Add(10 * time.Minute), Interval: 5 * time.Second, Status: store.DevicePending, FamilyID: "fam-" + name,
	}
}

func testDeviceDecideAndPoll(t *testing.T, s store.AuthStore) {
	ctx := t.Context()
	setupUsersAndClients(t, s)
	d := newDevice("d1")
	ok(t, "CreateDeviceGrant", s.CreateDeviceGrant(ctx, d))
	dupHash := newDevice("d2")
	dupHash.Hash = d.Hash
	wantErr(t, "CreateDeviceGrant same hash", s.CreateDeviceGrant(ctx, dupHash), store.ErrAlreadyExists, d.Hash)
	dupCode := newDevice("d3")
	dupCode.UserCodeHash = d.UserCodeHash
	wantErr(t, "CreateDeviceGrant same user code", s.CreateDeviceGrant(ctx, dupCode), store.ErrAlreadyExists)

	got, err := s.GetDeviceGrantByUserCode(ctx, d.UserCodeHash, base)
	ok(t, "GetDeviceGrantByUserCode", err)
	if got.Hash != d.Hash || got.Status != store.DevicePending || got.Interval != d.Interval || !got.LastPolledAt.IsZero() || got.FamilyID != d.FamilyID {
		t.Fatalf("GetDeviceGrantByUserCode = %+v", got)
	}
	_, err = s.GetDeviceGrantByUserCode(ctx, d.UserCodeHash, d.ExpiresAt)
	wantErr(t, "GetDeviceGrantByUserCode at expiry", err, store.ErrNotFound)

	// Polls: the first is on time; one sooner than the interval slows the
	// device down by 5 s, for good; one after the interval is on time.
	p, slow, err := s.PollDeviceGrant(ctx, d.Hash, base)
	ok(t, "first poll", err)
	if slow || p.Interval != 5*time.Second {
		t.Fatalf("first poll: slow %v, interval %v", slow, p.Interval)
	}
	p, slow, err = s.PollDeviceGrant(ctx, d.Hash, base.Add(2*time.Second))
	ok(t, "early poll", err)
	if !slow || p.Interval != 10*time.Second {
		t.Fatalf("early poll: slow %v, interval %v; want slow_down and 10s", slow, p.Interval)
	}
	p, slow, err = s.PollDeviceGrant(ctx, d.Hash, base.Add(13*time.Second))
	ok(t, "poll after the interval", err)
	if slow || p.Interval != 10*time.Second || p.Status != store.DevicePending {
		t.Fatalf("poll after the interval: slow %v, %+v", slow, p)
	}
	_, _, err = s.PollDeviceGrant(ctx, hashOf("no such device"), base)
	wantErr(t, "poll unknown", err, store.ErrNotFound)

	// Pending: not redeemable.
	a, r := pair(d.FamilyID, "early", base)
	wantErr(t, "RedeemDeviceGrant pending", s.RedeemDeviceGrant(ctx, d.Hash, base, VersionsOf(ctx, s, a), a, r), store.ErrNotFound)
	absent(t, s, a)

	alice := reread(t, s, store.User{Username: "alice"})
	ok(t, "approve", s.DecideDeviceGrant(ctx, d.UserCodeHash, base, true, "alice", alice.Version))
	wantErr(t, "decide again", s.DecideDeviceGrant(ctx, d.UserCodeHash, base, false, "", 0), store.ErrNotFound)
	p, _, err = s.PollDeviceGrant(ctx, d.Hash, base.Add(30*time.Second))
	ok(t, "poll approved", err)
	if p.Status != store.DeviceApproved || p.Username != "alice" || p.UserVersion != alice.Version {
		t.Fatalf("approved: %+v", p)
	}
	ok(t, "RedeemDeviceGrant", s.RedeemDeviceGrant(ctx, d.Hash, base, VersionsOf(ctx, s, a), a, r))
	present(t, s, a)
	wantErr(t, "RedeemDeviceGrant again", s.RedeemDeviceGrant(ctx, d.Hash, base, VersionsOf(ctx, s, a), a, r), store.ErrNotFound)
	_, _, err = s.PollDeviceGrant(ctx, d.Hash, base.Add(time.Minute))
	wantErr(t, "poll after redemption", err, store.ErrNotFound)

	// Denied, and expired, are not redeemable; an expired one is not decided.
	denied := newDevice("denied")
	ok(t, "CreateDeviceGrant", s.CreateDeviceGrant(ctx, denied))
	ok(t, "deny", s.DecideDeviceGrant(ctx, denied.UserCodeHash, base, false, "", 0))
	a2, r2 := pair(denied.FamilyID, "denied", base)
	wantErr(t, "RedeemDeviceGrant denied", s.RedeemDeviceGrant(ctx, denied.Hash, base, VersionsOf(ctx, s, a2), a2, r2), store.ErrNotFound)
	late := newDevice("late")
	ok(t, "CreateDeviceGrant", s.CreateDeviceGrant(ctx, late))
	wantErr(t, "approve expired", s.DecideDeviceGrant(ctx, late.UserCodeHash, late.ExpiresAt, true, "alice", alice.Version), store.ErrNotFound)
}

func testDeviceConcurrent(t *testing.T, s store.AuthStore) {
	ctx := t.Context()
	setupUsersAndClients(t, s)
	d := newDevice("d1")
	ok(t, "CreateDeviceGrant", s.CreateDeviceGrant(ctx, d))
	alice := reread(t, s, store.User{Username: "alice"})
	ok(t, "approve", s.DecideDeviceGrant(ctx, d.UserCodeHash, base, true, "alice", alice.Version))
	const n = 20
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		won      [][]store.Token
		notFound int
		other    []error
	)
	for i := range n {
		wg.Go(func() {
			a, r := pair(d.FamilyID, fmt.Sprintf("racer-%d", i), base)
			err := s.RedeemDeviceGrant(ctx, d.Hash, base, VersionsOf(ctx, s, a), a, r)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won = append(won, []store.Token{a, r})
			case errors.Is(err, store.ErrNotFound):
				notFound++
			default:
				other = append(other, err)
			}
		})
	}
	wg.Wait()
	if len(won) != 1 || notFound != n-1 || len(other) > 0 {
		t.Fatalf("%d won, %d not found, other errors %v; want 1 and %d", len(won), notFound, other, n-1)
	}
	present(t, s, won[0][0])
}

func testSessionsEndWithUser(t *testing.T, s store.AuthStore) {
	ctx := t.Context()
	for _, end := range []string{"passwd", "disable", "revoke", "delete", "logout"} {
		t.Run(end, func(t *testing.T) {
			name := "user-" + end
			ok(t, "CreateUser", s.CreateUser(ctx, newUser(name)))
			u := reread(t, s, store.User{Username: name})
			sess := store.Session{Hash: hashOf("session-" + end), Username: name, UserVersion: u.Version, CreatedAt: base, ExpiresAt: base.Add(time.Hour)}
			ok(t, "CreateSession", s.CreateSession(ctx, sess))
			wantErr(t, "CreateSession again", s.CreateSession(ctx, sess), store.ErrAlreadyExists, sess.Hash)
			got, err := s.GetSession(ctx, sess.Hash)
			ok(t, "GetSession", err)
			if got.Username != name || got.UserVersion != u.Version || !got.CreatedAt.Equal(base) || !got.ExpiresAt.Equal(sess.ExpiresAt) {
				t.Fatalf("GetSession = %+v", got)
			}
			switch end {
			case "passwd":
				u.PasswordHash = []byte("$2a$10$new")
				err = s.UpdateUser(ctx, u)
			case "disable":
				u.Disabled = true
				err = s.UpdateUser(ctx, u)
			case "revoke":
				err = s.RevokeUserGrants(ctx, name)
			case "delete":
				err = s.DeleteUser(ctx, name)
			case "logout":
				err = s.DeleteSession(ctx, sess.Hash)
			}
			ok(t, end, err)
			_, err = s.GetSession(ctx, sess.Hash)
			wantErr(t, "GetSession after "+end, err, store.ErrNotFound, sess.Hash)
			ok(t, "DeleteSession of none", s.DeleteSession(ctx, sess.Hash))
		})
	}
}

func testConsents(t *testing.T, s store.AuthStore) {
	ctx := t.Context()
	setupUsersAndClients(t, s)
	c := store.Consent{Username: "alice", ClientID: "web", Scopes: []string{"items:read"}, GrantedAt: base, ExpiresAt: base.Add(time.Hour)}
	ok(t, "SaveConsent", s.SaveConsent(ctx, c))
	got, err := s.GetConsent(ctx, "alice", "web")
	ok(t, "GetConsent", err)
	if !sameStrings(got.Scopes, c.Scopes) || !got.GrantedAt.Equal(base) || !got.ExpiresAt.Equal(c.ExpiresAt) {
		t.Fatalf("GetConsent = %+v", got)
	}
	c.Scopes, c.GrantedAt = []string{"items:read", "items:write"}, base.Add(time.Minute)
	ok(t, "SaveConsent again", s.SaveConsent(ctx, c))
	got, err = s.GetConsent(ctx, "alice", "web")
	ok(t, "GetConsent", err)
	if !sameStrings(got.Scopes, c.Scopes) || !got.GrantedAt.Equal(c.GrantedAt) {
		t.Fatalf("after replacing: %+v", got)
	}
	_, err = s.GetConsent(ctx, "bob", "web")
	wantErr(t, "GetConsent of another user", err, store.ErrNotFound)
	ok(t, "RevokeConsent", s.RevokeConsent(ctx, "alice", "web"))
	_, err = s.GetConsent(ctx, "alice", "web")
	wantErr(t, "GetConsent after revoke", err, store.ErrNotFound)
	ok(t, "RevokeConsent of none", s.RevokeConsent(ctx, "alice", "web"))

	ok(t, "SaveConsent", s.SaveConsent(ctx, c))
	ok(t, "DeleteUser", s.DeleteUser(ctx, "alice"))
	_, err = s.GetConsent(ctx, "alice", "web")
	wantErr(t, "GetConsent after the user's deletion", err, store.ErrNotFound)
}

func testAuthorizeDeleteExpired(t *testing.T, s store.AuthStore) {
	ctx := t.Context()
	setupUsersAndClients(t, s)
	alice := reread(t, s, store.User{Username: "alice"})
	soon, later := base.Add(time.Minute), base.Add(time.Hour)
	for i, exp := range []time.Time{soon, soon, later} {
		c := newCode(fmt.Sprint(i), fmt.Sprint("fam-", i))
		c.ExpiresAt, c.UserVersion = exp, alice.Version
		ok(t, "CreateAuthCode", s.CreateAuthCode(ctx, c))
		d := newDevice(fmt.Sprint(i))
		d.ExpiresAt = exp
		ok(t, "CreateDeviceGrant", s.CreateDeviceGrant(ctx, d))
		ok(t, "CreateSession", s.CreateSession(ctx, store.Session{Hash: hashOf(fmt.Sprint("s", i)), Username: "alice", UserVersion: alice.Version, CreatedAt: base, ExpiresAt: exp}))
	}
	ok(t, "SaveConsent", s.SaveConsent(ctx, store.Consent{Username: "alice", ClientID: "web", GrantedAt: base, ExpiresAt: soon}))
	ok(t, "SaveConsent", s.SaveConsent(ctx, store.Consent{Username: "bob", ClientID: "web", GrantedAt: base, ExpiresAt: later}))

	// Limit 1: at most one of each kind a call, and the caller's loop ends.
	now := soon.Add(time.Second)
	calls, total := 0, 0
	for {
		n, err := s.DeleteExpired(ctx, now, 1)
		ok(t, "DeleteExpired", err)
		if n > 4 {
			t.Fatalf("DeleteExpired(limit 1) removed %d rows, more than one of each kind", n)
		}
		total += n
		if calls++; n < 1 || calls > 10 {
			break
		}
	}
	if total != 7 {
		t.Errorf("removed %d rows in %d calls, want 7 (2 codes, 2 devices, 2 sessions, 1 consent)", total, calls)
	}
	for i := range 2 {
		_, err := s.GetAuthCode(ctx, newCode(fmt.Sprint(i), "").Hash)
		wantErr(t, "expired code", err, store.ErrNotFound)
		_, err = s.GetSession(ctx, hashOf(fmt.Sprint("s", i)))
		wantErr(t, "expired session", err, store.ErrNotFound)
		_, _, err = s.PollDeviceGrant(ctx, newDevice(fmt.Sprint(i)).Hash, now)
		wantErr(t, "expired device", err, store.ErrNotFound)
	}
	_, err := s.GetAuthCode(ctx, newCode("2", "").Hash)
	ok(t, "unexpired code", err)
	_, err = s.GetSession(ctx, hashOf("s2"))
	ok(t, "unexpired session", err)
	_, err = s.GetDeviceGrantByUserCode(ctx, newDevice("2").UserCodeHash, now)
	ok(t, "unexpired device", err)
	_, err = s.GetConsent(ctx, "bob", "web")
	ok(t, "unexpired consent", err)
	_, err = s.GetConsent(ctx, "alice", "web")
	wantErr(t, "expired consent", err, store.ErrNotFound)
}

func testAuthorizeClientDelete(t *testing.T, s store.AuthStore) {
	ctx := t.Context()
	setupUsersAndClients(t, s)
	c := createCode(t, s, "c1", "fam-1")
	d := newDevice("d1")
	ok(t, "CreateDeviceGrant", s.CreateDeviceGrant(ctx, d))
	ok(t, "SaveConsent", s.SaveConsent(ctx, store.Consent{Username: "alice", ClientID: "web", GrantedAt: base, ExpiresAt: base.Add(time.Hour)}))
	_, err := s.GetConsent(ctx, "alice", "web")
	ok(t, "GetConsent before", err)
	ok(t, "DeleteClient", s.DeleteClient(ctx, "web"))
	_, err = s.GetAuthCode(ctx, c.Hash)
	wantErr(t, "code after client delete", err, store.ErrNotFound)
	_, err = s.GetDeviceGrantByUserCode(ctx, d.UserCodeHash, base)
	wantErr(t, "device after client delete", err, store.ErrNotFound)
	_, err = s.GetConsent(ctx, "alice", "web")
	wantErr(t, "consent after client delete", err, store.ErrNotFound)
}

// testRevocationReachesPending: every way of revoking a client's grants
// or a user's ends the codes and device authorizations not yet redeemed,
// so none can start a grant afterwards; another client's or user's
// revocation leaves them alone.
func testRevocationReachesPending(t *testing.T, s store.AuthStore) {
	ctx := t.Context()
	setupUsersAndClients(t, s)
	// pending stores a code and an approved device authorization of
	// client web for alice.
	pending := func(name string) (store.AuthCode, store.DeviceGrant) {
		t.Helper()
		c := createCode(t, s, name, "fam-code-"+name)
		d := newDevice(name)
		ok(t, "CreateDeviceGrant", s.CreateDeviceGrant(ctx, d))
		alice := reread(t, s, store.User{Username: "alice"})
		ok(t, "approve", s.DecideDeviceGrant(ctx, d.UserCodeHash, base, true, "alice", alice.Version))
		return c, d
	}
	redeemDevice := func(d store.DeviceGrant, name string) error {
		a, r := pair(d.FamilyID, name, base)
		return s.RedeemDeviceGrant(ctx, d.Hash, base, VersionsOf(ctx, s, a), a, r)
	}
	stored := func(what string, c store.AuthCode, d store.DeviceGrant) {
		t.Helper()
		_, err := s.GetAuthCode(ctx, c.Hash)
		ok(t, what+": code", err)
		got, _, err := s.PollDeviceGrant(ctx, d.Hash, base)
		ok(t, what+": device", err)
		if got.Status != store.DeviceApproved {
			t.Fatalf("%s: device %+v, want approved", what, got)
		}
	}
	gone := func(what string, c store.AuthCode, d store.DeviceGrant) {
		t.Helper()
		_, err := s.GetAuthCode(ctx, c.Hash)
		wantErr(t, what+": code", err, store.ErrNotFound)
		_, err = redeem(t, s, c, what+"-code", base)
		wantErr(t, what+": redeem code", err, store.ErrNotFound)
		wantErr(t, what+": redeem device", redeemDevice(d, what+"-device"), store.ErrNotFound)
	}

	// With nothing revoked, such a pair redeems.
	c, d := pending("before")
	_, err := redeem(t, s, c, "before-code", base)
	ok(t, "redeem code before any revocation", err)
	ok(t, "redeem device before any revocation", redeemDevice(d, "before-device"))

	// Another client's and another user's revocations leave them alone.
	c, d = pending("others")
	ok(t, "RevokeClientGrants cli", s.RevokeClientGrants(ctx, "cli"))
	ok(t, "RevokeUserGrants bob", s.RevokeUserGrants(ctx, "bob"))
	stored("after revoking cli and bob", c, d)
	ok(t, "RevokeClientGrants", s.RevokeClientGrants(ctx, testClientID))
	gone("after RevokeClientGrants", c, d)

	for _, end := range []struct {
		name string
		do   func() error
	}{
		{"a narrowing UpdateClient", func() error {
			web, err := s.GetClient(ctx, testClientID)
			ok(t, "GetClient", err)
			web.Scopes = []string{"items:read"}
			return s.UpdateClient(ctx, web)
		}},
		{"RevokeUserGrants", func() error { return s.RevokeUserGrants(ctx, "alice") }},
		{"a password change", func() error {
			alice := reread(t, s, store.User{Username: "alice"})
			alice.PasswordHash = []byte("$2a$10$alice-new-bcrypt-hash")
			return s.UpdateUser(ctx, alice)
		}},
	} {
		c, d := pending(end.name)
		stored("before "+end.name, c, d)
		ok(t, end.name, end.do())
		gone("after "+end.name, c, d)
	}
}
