package resource

import (
	"context"
	"testing"
	"time"

	"github.com/example/authsvc/internal/revocation"
	"github.com/example/authsvc/store"
)

// withGrant adds the authsvc_grant member to an answer.
func withGrant(a map[string]any, family string) map[string]any {
	a["authsvc_grant"] = revocation.GrantHash(family)
	return a
}

// TestCacheStreamLifetimes: without the stream an answer lives for the TTL;
// while the stream is ready, until exp; when it goes down, everything
// cached is dropped and the TTL applies again.
func TestCacheStreamLifetimes(t *testing.T) {
	e := newEnv(t, envConfig{cacheTTL: 10 * time.Second})
	exp := e.clock.Now().Add(time.Hour)
	e.as.set("tok", userToken("alice", "items:read", exp))

	// No stream: the TTL.
	e.expectCalls("tok", 200, 1)
	e.clock.Advance(11 * time.Second)
	e.expectCalls("tok", 200, 2)

	// Ready: answers stored from now on live until exp.
	e.cache.Ready()
	e.clock.Advance(11 * time.Second) // the TTL entry is gone
	e.expectCalls("tok", 200, 3)
	e.clock.Advance(30 * time.Minute)
	e.expectCalls("tok", 200, 3)
	if !e.cache.Streaming() {
		t.Fatal("not streaming after Ready")
	}

	// Down: flushed at once, and the TTL again.
	e.cache.Down()
	if e.cache.Streaming() {
		t.Fatal("streaming after Down")
	}
	e.expectCalls("tok", 200, 4)
	e.clock.Advance(11 * time.Second)
	e.expectCalls("tok", 200, 5)
	// A Down that finds the stream already down drops nothing.
	e.cache.Down()
	e.expectCalls("tok", 200, 5)
	// Never past exp, stream or not.
	e.cache.Ready()
	e.clock.Set(exp)
	e.expectCalls("tok", 401, 6)
}

// TestCacheRevokeEvents: each kind of event drops exactly the answers it
// names.
func TestCacheRevokeEvents(t *testing.T) {
	e := newEnv(t, envConfig{cacheTTL: 10 * time.Second})
	e.cache.Ready()
	exp := e.clock.Now().Add(time.Hour)
	answers := map[string]map[string]any{
		"a1": withGrant(userToken("alice", "items:read", exp), "fam-a"),
		"a2": withGrant(userToken("alice", "items:read", exp), "fam-b"),
		"b1": withGrant(userToken("bob", "items:read", exp), "fam-c"),
		"c1": withGrant(clientToken("svc", "items:read", exp), "fam-d"),
	}
	for tok, a := range answers {
		e.as.set(tok, a)
	}
	calls := int64(0)
	warm := func() {
		t.Helper()
		for tok := range answers {
			if _, ok := e.cache.lookup(store.HashToken(tok)); !ok {
				calls++
			}
			e.expectCalls(tok, 200, calls)
		}
	}
	dropped := func(ev revocation.Event, want ...string) {
		t.Helper()
		warm()
		e.cache.Revoke(ev)
		for tok := range answers {
			_, held := e.cache.lookup(store.HashToken(tok))
			gone := false
			for _, w := range want {
				gone = gone || w == tok
			}
			if held == gone {
				t.Errorf("after %s %q: %s held = %v, want %v", ev.Kind, ev.Key, tok, held, !gone)
			}
		}
	}
	dropped(revocation.Event{Kind: revocation.KindToken, Key: store.HashToken("a1")}, "a1")
	dropped(revocation.Event{Kind: revocation.KindGrant, Key: revocation.GrantHash("fam-b")}, "a2")
	dropped(revocation.Event{Kind: revocation.KindUser, Key: "alice"}, "a1", "a2")
	dropped(revocation.Event{Kind: revocation.KindClient, Key: "svc"}, "c1")
	dropped(revocation.Event{Kind: revocation.KindClient, Key: "app"}, "a1", "a2", "b1")
	dropped(revocation.Event{Kind: revocation.KindAll}, "a1", "a2", "b1", "c1")
	warm()
	e.cache.Reset()
	if e.cache.Len() != 0 {
		t.Fatalf("Reset left %d answers", e.cache.Len())
	}
}

// TestCacheEventDuringIntrospection: an answer whose introspection began
// before an event is not stored (it may predate the revocation), so the
// next request asks again.
func TestCacheEventDuringIntrospection(t *testing.T) {
	as := newFakeAS(t)
	as.set("tok", userToken("alice", "items:read", time.Now().Add(time.Hour)))
	client, err := NewIntrospectionClient(IntrospectionClientConfig{URL: as.URL(), ClientID: testClientID, ClientSecret: testClientSecret})
	if err != nil {
		t.Fatal(err)
	}
	cache := NewCache(client, CacheConfig{TTL: time.Minute})
	cache.Ready()
	// Positive case: without an event the answer is stored.
	if _, err := cache.Introspect(context.Background(), "tok"); err != nil {
		t.Fatal(err)
	}
	if cache.Len() != 1 {
		t.Fatalf("answer not stored: %d", cache.Len())
	}
	cache.Reset()

	release, started := make(chan struct{}), make(chan struct{}, 1)
	as.release, as.started = release, started
	done := make(chan Introspection, 1)
	go func() {
		in, _ := cache.Introspect(context.Background(), "tok")
		done <- in
	}()
	<-started // the authorization server has been asked
	cache.Revoke(revocation.Event{Kind: revocation.KindToken, Key: store.HashToken("tok")})
	close(release)
	if in := <-done; !in.Active {
		t.Fatalf("the request begun before the event: %+v", in)
	}
	if cache.Len() != 0 {
		t.Fatal("an answer begun before a revocation event was stored")
	}
}

func TestRevocationsURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://localhost:9096/introspect":          "http://localhost:9096/revocations",
		"https://auth.example/oauth/introspect?x=1": "https://auth.example/oauth/revocations",
		"http://auth:9096":                          "http://auth:9096/revocations",
	} {
		if got, err := RevocationsURL(in); err != nil || got != want {
			t.Errorf("RevocationsURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := RevocationsURL("localhost:9096"); err == nil {
		t.Error("a URL without a host was accepted")
	}
}

// TestIntrospectionSurvivesAClosedKeepAlive: the authorization server
// closes the connection the client keeps alive (a restart does); the next
// introspection goes through on a new one.
func TestIntrospectionSurvivesAClosedKeepAlive(t *testing.T) {
	as := newFakeAS(t)
	as.set("tok", userToken("alice", "items:read", time.Now().Add(time.Hour)))
	client, err := NewIntrospectionClient(IntrospectionClientConfig{URL: as.URL(), ClientID: testClientID, ClientSecret: testClientSecret})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if in, err := client.Introspect(context.Background(), "tok"); err != nil || !in.Active {
			t.Fatalf("call %d: %+v, %v", i, in, err)
		}
		as.srv.CloseClientConnections()
	}
}
