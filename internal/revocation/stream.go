package revocation

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// DefaultHeartbeat is how often an idle stream says it is alive.
const DefaultHeartbeat = time.Second

// maxLine bounds a line of the stream a client reads: events are short.
const maxLine = 4 << 10

// Serve streams sub to w: a reset if the client must drop everything, the
// events it missed, ready, then every event as it comes and a heartbeat
// when there is none, until the client goes or the subscriber is cut off
// (a slow client, or the hub closed: the client resumes).
func Serve(w http.ResponseWriter, r *http.Request, sub *Subscription, missed []Event, current string, reset bool, heartbeat time.Duration) error {
	defer sub.Close()
	if heartbeat <= 0 {
		heartbeat = DefaultHeartbeat
	}
	rc := http.NewResponseController(w)
	// The server's read timeout would end the stream (net/http cancels a
	// request whose connection's read fails); the heartbeat bounds it.
	if err := rc.SetReadDeadline(time.Time{}); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return fmt.Errorf("revocation stream: %w", err)
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // a buffering proxy would hold events back
	w.WriteHeader(http.StatusOK)

	bw := bufio.NewWriter(w)
	send := func(write func()) error {
		// Each write may take up to two heartbeats; the server's write
		// timeout would end the stream.
		_ = rc.SetWriteDeadline(time.Now().Add(2*heartbeat + 5*time.Second))
		write()
		if err := bw.Flush(); err != nil {
			return err
		}
		return rc.Flush()
	}
	err := send(func() {
		if reset {
			fmt.Fprintf(bw, "event: reset\nid: %s\ndata: {}\n\n", current)
		}
		for _, ev := range missed {
			writeEvent(bw, ev)
		}
		fmt.Fprintf(bw, "event: ready\nid: %s\ndata: {\"heartbeat_ms\":%d}\n\n", current, heartbeat.Milliseconds())
	})
	if err != nil {
		return streamError(err)
	}
	tick := time.NewTicker(heartbeat)
	defer tick.Stop()
	for {
		select {
		case ev, ok := <-sub.C:
			if !ok {
				return nil
			}
			err = send(func() {
				writeEvent(bw, ev)
				// Send what piled up in the same write.
				for range len(sub.C) {
					if ev, ok := <-sub.C; ok {
						writeEvent(bw, ev)
					}
				}
			})
			tick.Reset(heartbeat)
		case <-tick.C:
			err = send(func() { io.WriteString(bw, "event: heartbeat\ndata: {}\n\n") })
		case <-r.Context().Done():
			return nil
		}
		if err != nil {
			return streamError(err)
		}
	}
}

// streamError is what Serve returns when a write fails: nil when the
// client went away (the usual end), an error when the writer cannot flush
// (a middleware that hides http.Flusher: a bug to see in the log).
func streamError(err error) error {
	if errors.Is(err, http.ErrNotSupported) {
		return fmt.Errorf("revocation stream: %w", err)
	}
	return nil
}

func writeEvent(w io.Writer, ev Event) {
	data, _ := json.Marshal(ev) // strings only: cannot fail
	fmt.Fprintf(w, "event: revoke\nid: %s\ndata: %s\n\n", ev.ID, data)
}

// Handler is what a client of the stream reports to: the resource
// service's cache.
type Handler interface {
	// Revoke drops what ev names.
	Revoke(ev Event)
	// Reset drops everything.
	Reset()
	// Ready says the client is caught up and, until Down, hears of every
	// revocation within the stream's delay.
	Ready()
	// Down says it may not: the stream ended or went silent.
	Down()
}

// Client keeps a stream open and reports to a Handler.
type Client struct {
	// URL is the stream's endpoint, Authorization the header sent with
	// it (the resource service's client credentials).
	URL, Authorization string
	// HTTP sends the request; it must not have a Timeout (the stream
	// lasts). Nil means a client of its own.
	HTTP *http.Client
	// Heartbeat is the server's until its ready event says otherwise;
	// the stream counts as gone after three of them without a line. 0
	// means DefaultHeartbeat.
	Heartbeat time.Duration
	// Retry is the pause between connection attempts; 0 means a second.
	Retry time.Duration
}

// Run connects, and again after each failure, until ctx ends. It calls
// h.Down whenever a connection ends, and onError (if set) with why, and
// whether the connection had been ready.
func (c *Client) Run(ctx context.Context, h Handler, onError func(err error, wasReady bool)) {
	retry := c.Retry
	if retry <= 0 {
		retry = time.Second
	}
	lastID := ""
	for ctx.Err() == nil {
		var (
			err   error
			ready bool
		)
		lastID, ready, err = c.once(ctx, h, lastID)
		h.Down()
		if ctx.Err() != nil {
			return
		}
		if onError != nil {
			onError(err, ready)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(retry):
		}
	}
}

// once runs one connection; it returns the last id seen, for resumption,
// and whether the stream got ready.
func (c *Client) once(ctx context.Context, h Handler, lastID string) (_ string, ready bool, _ error) {
	heartbeat := c.Heartbeat
	if heartbeat <= 0 {
		heartbeat = DefaultHeartbeat
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.URL, nil)
	if err != nil {
		return lastID, false, fmt.Errorf("revocation stream: %w", err)
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Authorization", c.Authorization)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	// Silence for three heartbeats ends the connection, whatever stage
	// it is in.
	watchdog := time.AfterFunc(3*heartbeat, cancel)
	defer watchdog.Stop()
	resp, err := hc.Do(req)
	if err != nil {
		return lastID, false, fmt.Errorf("revocation stream: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		return lastID, false, fmt.Errorf("revocation stream: status %d, content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 512), maxLine)
	var event, data, id string
	for sc.Scan() {
		watchdog.Reset(3 * heartbeat)
		line := sc.Text()
		if line != "" {
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "event":
				event = value
			case "data":
				data = value
			case "id":
				id = value
			}
			continue
		}
		switch event {
		case "reset":
			h.Reset()
		case "revoke":
			var ev Event
			if json.Unmarshal([]byte(data), &ev) != nil {
				// Unreadable: drop everything rather than guess.
				h.Reset()
				break
			}
			ev.ID = id
			h.Revoke(ev)
		case "ready":
			var hello struct {
				HeartbeatMS int64 `json:"heartbeat_ms"`
			}
			if json.Unmarshal([]byte(data), &hello) == nil && hello.HeartbeatMS > 0 {
				heartbeat = time.Duration(hello.HeartbeatMS) * time.Millisecond
				watchdog.Reset(3 * heartbeat)
			}
			ready = true
			h.Ready()
		}
		if id != "" {
			lastID = id
		}
		event, data, id = "", "", ""
	}
	if err := sc.Err(); err != nil {
		return lastID, ready, fmt.Errorf("revocation stream: %w", err)
	}
	return lastID, ready, errors.New("revocation stream: the server ended it")
}
