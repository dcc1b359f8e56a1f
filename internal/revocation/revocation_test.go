package revocation_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/example/authsvc/internal/revocation"
	"github.com/example/authsvc/internal/testkit"
	"github.com/example/authsvc/store"
)

func tokenInv(n int) store.Invalidation {
	return store.Invalidation{Kind: store.InvalidateToken, Key: fmt.Sprintf("hash-%d", n)}
}

func keys(evs []revocation.Event) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, ev.Key)
	}
	return out
}

func TestEventOf(t *testing.T) {
	for _, tc := range []struct {
		inv  store.Invalidation
		want revocation.Event
	}{
		{store.Invalidation{Kind: store.InvalidateToken, Key: "abc"}, revocation.Event{Kind: "token", Key: "abc"}},
		// A grant is named by the hash of its id, never the id.
		{store.Invalidation{Kind: store.InvalidateGrant, Key: "fam"}, revocation.Event{Kind: "grant", Key: revocation.GrantHash("fam")}},
		{store.Invalidation{Kind: store.InvalidateUser, Key: "alice"}, revocation.Event{Kind: "user", Key: "alice"}},
		{store.Invalidation{Kind: store.InvalidateClient, Key: "web"}, revocation.Event{Kind: "client", Key: "web"}},
		{store.Invalidation{Kind: store.InvalidateAll}, revocation.Event{Kind: "all"}},
	} {
		if got := revocation.EventOf(tc.inv); got != tc.want {
			t.Errorf("EventOf(%v) = %+v, want %+v", tc.inv, got, tc.want)
		}
	}
	if g := revocation.GrantHash("fam"); len(g) != 64 || strings.Contains(g, "fam") {
		t.Errorf("GrantHash = %q", g)
	}
}

// TestHubResume: a subscriber that comes back with the id of the last event
// it saw gets exactly what it missed; any other id, or one older than the
// backlog, gets a reset.
func TestHubResume(t *testing.T) {
	h := revocation.NewHub(4, 8)
	sub, missed, current, reset, ok := h.Subscribe("")
	if !ok || !reset || len(missed) != 0 {
		t.Fatalf("first subscription: ok %v reset %v missed %v; want a reset and nothing missed", ok, reset, missed)
	}
	for i := 1; i <= 3; i++ {
		h.Publish(tokenInv(i))
	}
	var seen []revocation.Event
	for range 3 {
		seen = append(seen, <-sub.C)
	}
	sub.Close()
	if got := keys(seen); !slices.Equal(got, []string{"hash-1", "hash-2", "hash-3"}) {
		t.Fatalf("live events %v", got)
	}
	// Resume after the first: the two after it, in order.
	_, missed, now, reset, _ := h.Subscribe(seen[0].ID)
	if reset || !slices.Equal(keys(missed), []string{"hash-2", "hash-3"}) || now != seen[2].ID {
		t.Fatalf("resume: reset %v missed %v current %q; want hash-2, hash-3 up to %q", reset, keys(missed), now, seen[2].ID)
	}
	// Resume from the id of the connection's start: all three.
	if _, missed, _, reset, _ := h.Subscribe(current); reset || len(missed) != 3 {
		t.Fatalf("resume from the start: reset %v, %d missed; want 3", reset, len(missed))
	}
	// Caught up: nothing.
	if _, missed, _, reset, _ := h.Subscribe(seen[2].ID); reset || len(missed) != 0 {
		t.Fatalf("caught up: reset %v, missed %v", reset, missed)
	}
	// Past the backlog (4): a reset.
	for i := 4; i <= 9; i++ {
		h.Publish(tokenInv(i))
	}
	if _, missed, _, reset, _ := h.Subscribe(seen[2].ID); !reset || len(missed) != 0 {
		t.Fatalf("older than the backlog: reset %v, missed %v; want a reset", reset, keys(missed))
	}
	if _, missed, _, reset, _ := h.Subscribe(h2id(t, h)); reset || len(missed) != 0 {
		t.Fatalf("at the tip: reset %v, missed %v", reset, keys(missed))
	}
	// Ids of another process, or garbage: a reset.
	for _, id := range []string{"otherepoch-3", "garbage", strings.Repeat("9", 40)} {
		if _, _, _, reset, _ := revocation.NewHub(4, 8).Subscribe(id); !reset {
			t.Errorf("Subscribe(%q): no reset", id)
		}
	}
}

// h2id returns the hub's current id, as a new subscription reports it.
func h2id(t *testing.T, h *revocation.Hub) string {
	t.Helper()
	sub, _, current, _, ok := h.Subscribe("")
	if !ok {
		t.Fatal("subscribe refused")
	}
	sub.Close()
	return current
}

// TestHubWrapAround: the backlog keeps the newest events in order after it
// has wrapped.
func TestHubWrapAround(t *testing.T) {
	h := revocation.NewHub(4, 8)
	sub, _, _, _, _ := h.Subscribe("")
	var ids []string
	for i := 1; i <= 10; i++ {
		h.Publish(tokenInv(i))
		ids = append(ids, (<-sub.C).ID)
	}
	_, missed, _, reset, _ := h.Subscribe(ids[6]) // saw hash-7
	if reset || !slices.Equal(keys(missed), []string{"hash-8", "hash-9", "hash-10"}) {
		t.Fatalf("after wrap-around: reset %v, missed %v", reset, keys(missed))
	}
	_, missed, _, reset, _ = h.Subscribe(ids[5]) // saw hash-6: hash-7..10 are the whole backlog
	if reset || !slices.Equal(keys(missed), []string{"hash-7", "hash-8", "hash-9", "hash-10"}) {
		t.Fatalf("the whole backlog: reset %v, missed %v", reset, keys(missed))
	}
}

// TestHubBounds: a subscriber that does not read is cut off rather than
// blocking Publish; the number of subscribers is bounded; Close ends them.
func TestHubBounds(t *testing.T) {
	h := revocation.NewHub(0, 2)
	slow, _, _, _, _ := h.Subscribe("")
	done := make(chan struct{})
	go func() {
		for i := range 5000 {
			h.Publish(tokenInv(i))
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Publish blocked on a subscriber that does not read")
	}
	n := 0
	for range slow.C {
		n++
	}
	if n == 0 || n >= 5000 {
		t.Fatalf("the slow subscriber got %d events before being cut off", n)
	}

	a, _, _, _, ok1 := h.Subscribe("")
	_, _, _, _, ok2 := h.Subscribe("")
	_, _, _, _, ok3 := h.Subscribe("")
	if !ok1 || !ok2 || ok3 {
		t.Fatalf("subscriptions beyond the bound of 2: %v %v %v", ok1, ok2, ok3)
	}
	a.Close()
	if _, _, _, _, ok := h.Subscribe(""); !ok {
		t.Fatal("a closed subscription still counts")
	}
	h.Close()
	if _, _, _, _, ok := h.Subscribe(""); ok {
		t.Fatal("a closed hub accepts subscribers")
	}
}

// recorder is a Handler that records what it is told, in order.
type recorder struct {
	mu    sync.Mutex
	calls []string
	ready atomic.Bool
	downs atomic.Int64
}

func (r *recorder) add(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, s)
}
func (r *recorder) Revoke(ev revocation.Event) { r.add(ev.Kind + ":" + ev.Key) }
func (r *recorder) Reset()                     { r.add("reset") }
func (r *recorder) Ready()                     { r.add("ready"); r.ready.Store(true) }
func (r *recorder) Down()                      { r.add("down"); r.ready.Store(false); r.downs.Add(1) }
func (r *recorder) log() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

// streamServer serves a hub's stream as the authorization server does,
// with a switch to refuse subscriptions.
func streamServer(t *testing.T, hub *revocation.Hub, heartbeat time.Duration, refuse *atomic.Bool) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Basic creds" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		if refuse != nil && refuse.Load() {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		sub, missed, current, reset, ok := hub.Subscribe(r.Header.Get("Last-Event-ID"))
		if !ok {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		_ = revocation.Serve(w, r, sub, missed, current, reset, heartbeat)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	if !testkit.Poll(10*time.Second, nil, cond) {
		t.Fatalf("%s: not within 10 s", what)
	}
}

// TestStream: events reach the client in order; a severed stream is Down
// at once; the client resumes from its last id and hears what it missed
// before it is Ready again.
func TestStream(t *testing.T) {
	hub := revocation.NewHub(0, 0)
	var refuse atomic.Bool
	srv := streamServer(t, hub, 50*time.Millisecond, &refuse)
	rec := &recorder{}
	c := &revocation.Client{URL: srv.URL, Authorization: "Basic creds", Retry: 20 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { c.Run(ctx, rec, nil) })
	defer wg.Wait()
	defer cancel()

	waitFor(t, "ready", rec.ready.Load)
	if got := rec.log(); !slices.Equal(got, []string{"reset", "ready"}) {
		t.Fatalf("first connection: %v, want reset, ready", got)
	}
	hub.Publish(store.Invalidation{Kind: store.InvalidateToken, Key: "t1"})
	hub.Publish(store.Invalidation{Kind: store.InvalidateUser, Key: "alice"})
	waitFor(t, "two events", func() bool { return len(rec.log()) == 4 })
	if got := rec.log()[2:]; !slices.Equal(got, []string{"token:t1", "user:alice"}) {
		t.Fatalf("events %v", got)
	}

	// Sever, and keep it down while something happens.
	refuse.Store(true)
	srv.CloseClientConnections()
	waitFor(t, "down", func() bool { return !rec.ready.Load() })
	hub.Publish(store.Invalidation{Kind: store.InvalidateToken, Key: "t2"})
	hub.Publish(store.Invalidation{Kind: store.InvalidateClient, Key: "web"})
	time.Sleep(100 * time.Millisecond) // retries, refused
	if rec.ready.Load() {
		t.Fatal("ready while the server refuses")
	}
	before := len(rec.log())
	refuse.Store(false)
	waitFor(t, "ready again", rec.ready.Load)
	got := rec.log()[before:]
	// Possibly more downs from refused retries before; then the missed
	// events, then ready, and no reset.
	got = slices.DeleteFunc(got, func(s string) bool { return s == "down" })
	if !slices.Equal(got, []string{"token:t2", "client:web", "ready"}) {
		t.Fatalf("after resuming: %v, want the two missed events, then ready", got)
	}
}

// TestStreamSilence: a server that stops sending (no heartbeat) is counted
// gone after three heartbeats.
func TestStreamSilence(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "event: ready\nid: x-1\ndata: {\"heartbeat_ms\":30}\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	rec := &recorder{}
	c := &revocation.Client{URL: srv.URL, Authorization: "Basic creds", Retry: time.Hour}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { c.Run(ctx, rec, nil) })
	defer wg.Wait()
	defer cancel()
	waitFor(t, "ready", rec.ready.Load)
	// The server holds the connection open forever: only the watchdog
	// can end it.
	waitFor(t, "down after silence", func() bool { return rec.downs.Load() > 0 })
}
