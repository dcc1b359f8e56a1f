package obs

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// gatedWriter blocks every Write until open is closed, then appends.
type gatedWriter struct {
	open    chan struct{}
	entered chan struct{} // if not nil, gets a value as each Write starts
	mu      sync.Mutex
	buf     bytes.Buffer
	writes  int
	err     error
}

func (g *gatedWriter) Write(p []byte) (int, error) {
	if g.entered != nil {
		g.entered <- struct{}{}
	}
	<-g.open
	g.mu.Lock()
	defer g.mu.Unlock()
	g.writes++
	g.buf.Write(p)
	return len(p), g.err
}

func (g *gatedWriter) String() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.buf.String()
}

func TestAsyncWriterKeepsEveryLineInOrder(t *testing.T) {
	g := &gatedWriter{open: make(chan struct{})}
	close(g.open)
	a := NewAsyncWriter(g, 512) // small, so writers also wait for room
	const writers, lines = 8, 500
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range lines {
				fmt.Fprintf(a, "w%d %d\n", w, i)
			}
		})
	}
	wg.Wait()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	next := make([]int, writers)
	got := strings.Split(strings.TrimSuffix(g.String(), "\n"), "\n")
	for _, line := range got {
		var w, i int
		if _, err := fmt.Sscanf(line, "w%d %d", &w, &i); err != nil || w < 0 || w >= writers {
			t.Fatalf("garbled line %q", line)
		}
		if i != next[w] {
			t.Fatalf("writer %d: line %d after %d", w, i, next[w]-1)
		}
		next[w]++
	}
	if len(got) != writers*lines {
		t.Errorf("%d lines, want %d", len(got), writers*lines)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.writes >= writers*lines {
		t.Errorf("%d writes for %d lines: nothing was batched", g.writes, writers*lines)
	}
}

func TestAsyncWriterDoesNotWaitForTheWriterUntilFull(t *testing.T) {
	g := &gatedWriter{open: make(chan struct{}), entered: make(chan struct{}, 8)}
	a := NewAsyncWriter(g, 100)
	line := []byte(strings.Repeat("x", 39) + "\n")
	// The first line is taken by the goroutine, which then blocks in the
	// gated Write; the next two wait in the buffer (80 of 100 bytes).
	if _, err := a.Write(line); err != nil {
		t.Fatal(err)
	}
	<-g.entered
	for range 2 {
		returned := make(chan struct{})
		go func() { _, _ = a.Write(line); close(returned) }()
		select {
		case <-returned:
		case <-time.After(5 * time.Second):
			t.Fatal("Write waited for a blocked writer with room in the buffer")
		}
	}
	// The next one does not fit: it waits until the writer moves.
	returned := make(chan struct{})
	go func() { _, _ = a.Write(line); close(returned) }()
	select {
	case <-returned:
		t.Fatal("Write did not wait with the buffer full")
	case <-time.After(100 * time.Millisecond):
	}
	close(g.open)
	<-returned
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if got, want := g.String(), strings.Repeat(string(line), 4); got != want {
		t.Errorf("wrote %q, want %q", got, want)
	}
}

func TestAsyncWriterAfterCloseWritesThrough(t *testing.T) {
	g := &gatedWriter{open: make(chan struct{}), err: errors.New("disk full")}
	close(g.open)
	a := NewAsyncWriter(g, DefaultLogBuffer)
	if _, err := a.Write([]byte("before\n")); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err == nil || err.Error() != "disk full" {
		t.Errorf("Close = %v, want the writer's error", err)
	}
	if _, err := a.Write([]byte("after\n")); err == nil {
		t.Error("a Write after Close hid the writer's error")
	}
	if err := a.Close(); err == nil || err.Error() != "disk full" {
		t.Errorf("second Close = %v, want the writer's error again", err)
	}
	if got := g.String(); got != "before\nafter\n" {
		t.Errorf("wrote %q", got)
	}
}

func TestAsyncWriterCloseGivesUpOnABlockedWriter(t *testing.T) {
	g := &gatedWriter{open: make(chan struct{})}
	defer close(g.open)
	a := NewAsyncWriter(g, DefaultLogBuffer)
	a.closeTimeout = 50 * time.Millisecond
	if _, err := a.Write([]byte("stuck\n")); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err == nil || !strings.Contains(err.Error(), "still blocked") {
		t.Errorf("Close = %v, want a timeout error", err)
	}
}
