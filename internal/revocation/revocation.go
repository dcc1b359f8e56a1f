// Package revocation carries the authorization server's revocation events
// to resource services over Server-Sent Events, so that a resource's cache
// of introspection answers drops a revoked token within milliseconds
// instead of at the end of its TTL. The idea is that of the Shared Signals
// Framework's CAEP "session revoked" events; the wire is simpler, and it is
// ours.
//
// Events carry hashes and names, never a token: the hex SHA-256 of a token
// (as stores and caches key it), the hex SHA-256 of a grant's id (as
// introspection answers name it in authsvc_grant), a username or a client
// id.
//
// The stream (text/event-stream):
//
//	event: reset       the server cannot replay what the client missed: drop everything
//	event: revoke      data: {"kind":"token","key":"<hash>"} (or grant, user, client, all)
//	event: ready       the backlog is sent: the client is caught up
//	event: heartbeat   nothing happened; sent every Heartbeat
//
// Every event but the heartbeat has an id; a client reconnects with the
// last one in Last-Event-ID and gets what it missed, if the server still
// holds it (a bounded ring), or a reset.
package revocation

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"sync"

	"github.com/example/authsvc/store"
)

// Kinds of event.
const (
	KindToken  = "token"  // Key: the hex SHA-256 of the token
	KindGrant  = "grant"  // Key: GrantHash of the grant's id
	KindUser   = "user"   // Key: the username
	KindClient = "client" // Key: the client id
	KindAll    = "all"    // no key: everything
)

// Event is one revocation.
type Event struct {
	ID   string `json:"-"`
	Kind string `json:"kind"`
	Key  string `json:"key,omitempty"`
}

// GrantHash is how events and introspection answers name a grant: the hex
// SHA-256 of its id, which the refresh tokens of the grant contain.
func GrantHash(familyID string) string {
	sum := sha256.Sum256([]byte(familyID))
	return hex.EncodeToString(sum[:])
}

// EventOf is the event of an invalidation of the store.
func EventOf(inv store.Invalidation) Event {
	switch inv.Kind {
	case store.InvalidateToken:
		return Event{Kind: KindToken, Key: inv.Key}
	case store.InvalidateGrant:
		return Event{Kind: KindGrant, Key: GrantHash(inv.Key)}
	case store.InvalidateUser:
		return Event{Kind: KindUser, Key: inv.Key}
	case store.InvalidateClient:
		return Event{Kind: KindClient, Key: inv.Key}
	default:
		return Event{Kind: KindAll}
	}
}

// Defaults of NewHub.
const (
	DefaultBacklog     = 16384
	DefaultSubscribers = 64
	// subscriberBuffer bounds the events waiting for one subscriber; one
	// that falls further behind is cut off, and resumes from the backlog.
	subscriberBuffer = 1024
)

// Hub fans the events out to the subscribed streams and keeps the last
// ones for a stream that reconnects.
type Hub struct {
	mu      sync.Mutex
	epoch   string // random per process: ids of another process never match
	seq     uint64 // the id of the last event
	backlog []Event
	start   int // index of the oldest event in backlog, once it is full
	subs    map[*Subscription]struct{}
	maxSubs int
	closed  bool
}

// NewHub keeps backlog events (0: DefaultBacklog) for resumption and
// accepts at most subscribers streams at once (0: DefaultSubscribers).
func NewHub(backlog, subscribers int) *Hub {
	if backlog <= 0 {
		backlog = DefaultBacklog
	}
	if subscribers <= 0 {
		subscribers = DefaultSubscribers
	}
	return &Hub{
		epoch:   rand.Text()[:10],
		backlog: make([]Event, 0, backlog),
		subs:    make(map[*Subscription]struct{}),
		maxSubs: subscribers,
	}
}

// Subscription is one stream's feed.
type Subscription struct {
	// C delivers the events; it is closed when the subscriber fell too far
	// behind (the stream then ends, and the client resumes).
	C   chan Event
	hub *Hub
}

// Publish sends the event of inv to every subscriber. It never blocks: a
// subscriber whose buffer is full is cut off.
func (h *Hub) Publish(inv store.Invalidation) {
	ev := EventOf(inv)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seq++
	ev.ID = h.id(h.seq)
	if len(h.backlog) < cap(h.backlog) {
		h.backlog = append(h.backlog, ev)
	} else {
		h.backlog[h.start] = ev
		h.start = (h.start + 1) % len(h.backlog)
	}
	for s := range h.subs {
		select {
		case s.C <- ev:
		default:
			close(s.C)
			delete(h.subs, s)
		}
	}
}

func (h *Hub) id(seq uint64) string { return h.epoch + "-" + strconv.FormatUint(seq, 10) }

// Subscribe starts a feed after lastID (the client's Last-Event-ID, "" for
// a first connection). It returns the events the client missed and the id
// the client is caught up to once it has them (for the ready event); reset
// is true when the missed events cannot be told (lastID is of another
// process, or older than the backlog), and the client must drop
// everything. ok is false when the hub has its maximum of subscribers, or
// is closed.
func (h *Hub) Subscribe(lastID string) (sub *Subscription, missed []Event, current string, reset, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed || len(h.subs) >= h.maxSubs {
		return nil, nil, "", false, false
	}
	sub = &Subscription{C: make(chan Event, subscriberBuffer), hub: h}
	h.subs[sub] = struct{}{}
	current = h.id(h.seq)
	seq, known := h.parse(lastID)
	oldest := h.seq - uint64(len(h.backlog)) // the last seq no longer held
	// A first connection is told to reset too: whatever the client
	// cached before it was connected may have been revoked since.
	if !known || seq > h.seq || seq < oldest {
		return sub, nil, current, true, true
	}
	n := int(h.seq - seq)
	missed = make([]Event, 0, n)
	for i := len(h.backlog) - n; i < len(h.backlog); i++ {
		missed = append(missed, h.backlog[(h.start+i)%len(h.backlog)])
	}
	return sub, missed, current, false, true
}

func (h *Hub) parse(id string) (uint64, bool) {
	epoch, n, ok := strings.Cut(id, "-")
	if !ok || epoch != h.epoch {
		return 0, false
	}
	seq, err := strconv.ParseUint(n, 10, 64)
	return seq, err == nil
}

// Close ends every subscription and refuses new ones: a server shutting
// down calls it (http.Server.RegisterOnShutdown), or its streams would keep
// it waiting.
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for s := range h.subs {
		delete(h.subs, s)
		close(s.C)
	}
}

// Close ends the subscription.
func (s *Subscription) Close() {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	if _, ok := s.hub.subs[s]; ok {
		delete(s.hub.subs, s)
		close(s.C)
	}
}
