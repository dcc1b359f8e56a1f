// Package testkit holds the helpers that tests across the module share: a
// fake clock, a buffer safe for concurrent writers, and polling for a
// condition (a listening line, a healthy endpoint) with a deadline. It is
// imported by tests only.
package testkit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// Clock is an injectable clock that moves only when told to.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock at a fixed, arbitrary instant in UTC.
func NewClock() *Clock {
	return &Clock{now: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
}

// Now is the clock's time; pass c.Now where a func() time.Time is wanted.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// SyncBuffer collects output written from many goroutines (a logger, a
// subprocess's stderr).
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Poll calls cond every 10ms until it reports true or timeout passes, and
// reports whether it did. It gives up early when stop (which may be nil)
// delivers, returning false.
func Poll(timeout time.Duration, stop <-chan struct{}, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		select {
		case <-stop:
			return false
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// RunUntilListening calls run (a service's run, with the context, stdout
// and stderr it is given) until it prints "listening on " on stdout, then
// cancels its context and waits for it to return. It reports whether run
// listened, everything it wrote to stderr, and what it returned: its
// start failure when it returned before listening. It fails t when run
// neither listens nor returns within timeout, or does not return within
// timeout once cancelled.
func RunUntilListening(t testing.TB, timeout time.Duration, run func(ctx context.Context, stdout, stderr io.Writer) error) (listened bool, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdoutBuf, stderrBuf SyncBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, &stdoutBuf, &stderrBuf) }()
	returned := false
	listened = Poll(timeout, nil, func() bool {
		select {
		case err = <-done:
			returned = true
			return true
		default:
			return strings.Contains(stdoutBuf.String(), "listening on ")
		}
	})
	switch {
	case returned:
		return false, stderrBuf.String(), err
	case !listened:
		t.Fatalf("run neither listened nor returned within %v; stderr:\n%s", timeout, stderrBuf.String())
	}
	cancel()
	select {
	case err = <-done:
	case <-time.After(timeout):
		t.Fatalf("run did not return within %v of cancellation; stderr:\n%s", timeout, stderrBuf.String())
	}
	return true, stderrBuf.String(), err
}

// WaitHealthy polls url with GET until it answers 200, failing the test
// after timeout. A nil client is http.DefaultClient.
func WaitHealthy(t testing.TB, client *http.Client, url string, timeout time.Duration) {
	t.Helper()
	var last string
	ok := Poll(timeout, nil, func() bool {
		var ok bool
		ok, last = Healthy(client, url)
		return ok
	})
	if !ok {
		t.Fatalf("%s not 200 within %v (last: %s)", url, timeout, last)
	}
}

// Healthy is one GET of url: it reports whether the answer was 200 and, for
// a failure message, what came instead. It is Poll's condition where
// WaitHealthy does not fit: in a goroutine other than the test's, which must
// not call t.Fatal, or where a failure should also show the server's log.
// A nil client is http.DefaultClient.
func Healthy(client *http.Client, url string) (ok bool, last string) {
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Get(url)
	if err != nil {
		return false, err.Error()
	}
	_ = resp.Body.Close()
	return resp.StatusCode == http.StatusOK, resp.Status
}

// JSONLines parses every line of logs as a JSON object, failing t on one
// that is not, or that lacks time, level, msg or service: the shape both
// services' JSON logs promise.
func JSONLines(t testing.TB, logs string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	sc := bufio.NewScanner(strings.NewReader(logs))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Errorf("log line is not JSON: %q", sc.Text())
			continue
		}
		for _, k := range []string{"time", "level", "msg", "service"} {
			if _, ok := m[k]; !ok {
				t.Errorf("log line without %s: %s", k, sc.Text())
			}
		}
		lines = append(lines, m)
	}
	return lines
}
