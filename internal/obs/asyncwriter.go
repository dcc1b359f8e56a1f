package obs

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// DefaultLogBuffer bounds the bytes of log lines waiting to be written.
const DefaultLogBuffer = 1 << 20

// AsyncWriter hands what is written to it to one goroutine that writes it
// on to the underlying writer, so that a request never waits on the log's
// file or pipe, nor on another request's line: Write copies p and returns.
// Lines are written in the order they came, as soon as the goroutine is
// free, and many at once when they pile up; none is dropped. When limit
// bytes are waiting (the log's reader is slower than the service), Write
// waits for room: back pressure rather than silent sampling.
//
// Close writes what is waiting and stops the goroutine; a Write after Close
// goes straight to the underlying writer, so a line logged late in a
// shutdown is not lost either.
//
// After each write the goroutine rests for writeInterval, so that a busy
// service makes one write call per interval rather than one per line (at
// 15,000 requests a second the per-line system calls were 5% of the
// authorization server's CPU). Lines wait in the buffer at most that long
// plus the write of earlier ones; a crash in that window loses them (a
// panic's own report goes to stderr directly, as always). A line that
// comes after a quiet spell is written at once. Only a reader slower than
// the service (a stalled log collector) lets up to limit bytes pile up.
type AsyncWriter struct {
	w            io.Writer
	limit        int
	closeTimeout time.Duration

	mu      sync.Mutex
	room    *sync.Cond // signalled after each write to w
	pending []byte     // waiting to be written
	spare   []byte     // the buffer written last, reused for the next batch
	closed  bool
	err     error // the first error w returned

	wake    chan struct{} // capacity 1: there is something to write, or closed
	closing chan struct{} // closed by Close: no more resting
	done    chan struct{} // closed when the goroutine has returned
}

// NewAsyncWriter starts the goroutine writing to w; limit (bytes) bounds
// what may wait.
func NewAsyncWriter(w io.Writer, limit int) *AsyncWriter {
	a := &AsyncWriter{w: w, limit: max(limit, 1), closeTimeout: closeTimeout, wake: make(chan struct{}, 1), closing: make(chan struct{}), done: make(chan struct{})}
	a.room = sync.NewCond(&a.mu)
	go a.run()
	return a
}

// Write queues a copy of p. It returns an error only after Close, when the
// underlying writer's is returned.
func (a *AsyncWriter) Write(p []byte) (int, error) {
	a.mu.Lock()
	// A line longer than the limit still goes, alone.
	for !a.closed && len(a.pending) > 0 && len(a.pending)+len(p) > a.limit {
		a.room.Wait()
	}
	if a.closed {
		a.mu.Unlock()
		<-a.done // after the last batch
		return a.w.Write(p)
	}
	a.pending = append(a.pending, p...)
	a.mu.Unlock()
	select {
	case a.wake <- struct{}{}:
	default: // the goroutine is already due to look
	}
	return len(p), nil
}

func (a *AsyncWriter) run() {
	defer close(a.done)
	for range a.wake {
		a.mu.Lock()
		batch, closed := a.pending, a.closed
		a.pending = a.spare[:0]
		a.mu.Unlock()

		var err error
		if len(batch) > 0 {
			_, err = a.w.Write(batch)
		}

		a.mu.Lock()
		a.spare = batch[:0]
		if err != nil && a.err == nil {
			a.err = err
		}
		a.room.Broadcast()
		a.mu.Unlock()
		// Close sets closed before its wake-up, under mu: the batch
		// read with closed set holds every line written before Close.
		if closed {
			return
		}
		if len(batch) > 0 {
			a.rest()
		}
	}
}

// writeInterval is the rest after each write: lines that come meanwhile go
// out together in the next one.
const writeInterval = time.Millisecond

// rest waits writeInterval, or less if Close is called.
func (a *AsyncWriter) rest() {
	t := time.NewTimer(writeInterval)
	defer t.Stop()
	select {
	case <-t.C:
	case <-a.closing:
	}
}

// closeTimeout bounds how long Close waits for a blocked underlying
// writer, so that a stalled log reader cannot keep a process from exiting.
const closeTimeout = 5 * time.Second

// Close writes what is waiting, stops the goroutine and returns the first
// error the underlying writer returned, if any. If the underlying writer
// is still blocked after closeTimeout, Close gives up and says so.
func (a *AsyncWriter) Close() error {
	a.mu.Lock()
	if !a.closed {
		a.closed = true
		close(a.closing)
		a.room.Broadcast()
		select {
		case a.wake <- struct{}{}:
		default: // a wake-up is pending: the goroutine will see closed
		}
	}
	a.mu.Unlock()
	select {
	case <-a.done:
	case <-time.After(a.closeTimeout):
		return fmt.Errorf("log writer: still blocked after %v; lines waiting were not written", a.closeTimeout)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.err
}
