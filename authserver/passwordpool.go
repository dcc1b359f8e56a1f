package authserver

import (
	"container/list"
	"context"
	"errors"
	"net/netip"
	"sync"
	"time"
)

// errPoolBusy: no password-check slot could be had (the queue is full, or
// the wait timed out). The request is answered 503 without touching the
// store.
var errPoolBusy = errors.New("password checks busy")

// passwordPool bounds the bcrypt comparisons running at once, so a flood of
// password guesses cannot take the CPU that every other endpoint needs.
// Requests wait for a slot in two FIFO queues: sources with no recent
// failures first, so that during a guessing flood a real user still gets a
// slot; at most maxWait wait in all, at most maxWaitPerSource of them from
// one source (so one source cannot fill the queue), and a clean request
// arriving at a full queue displaces the newest waiter from a failing
// source. A waiter whose caller hangs up leaves at once and costs nothing.
type passwordPool struct {
	mu       sync.Mutex
	free     int
	queues   [2]list.List // of *poolWaiter: [0] clean sources, [1] the others
	waiting  int
	bySource map[netip.Prefix]int // waiters per source; at most maxWait entries
	maxWait  int
	timeout  time.Duration
	metrics  *metrics // in-flight checks and waits; nil in unit tests
}

// maxWaitPerSource is how many requests of one source may wait at once.
const maxWaitPerSource = 2

type poolWaiter struct {
	source  netip.Prefix
	granted chan bool // true: the slot is handed over; false: displaced
}

func newPasswordPool(slots, maxWait int, timeout time.Duration) *passwordPool {
	return &passwordPool{free: slots, maxWait: maxWait, timeout: timeout, bySource: map[netip.Prefix]int{}}
}

// observed makes the pool report its in-flight checks and waits to m.
func (p *passwordPool) observed(m *metrics) *passwordPool {
	p.metrics = m
	return p
}

// dequeue removes w, found at elem of queue class; p.mu is held.
func (p *passwordPool) dequeue(class int, elem *list.Element) {
	w := p.queues[class].Remove(elem).(*poolWaiter)
	p.waiting--
	if p.bySource[w.source]--; p.bySource[w.source] <= 0 {
		delete(p.bySource, w.source)
	}
}

// acquire waits for a slot for a request from source until ctx ends or the
// pool's timeout passes. On success the caller must call release exactly
// once.
func (p *passwordPool) acquire(ctx context.Context, source netip.Prefix, clean bool) (err error) {
	if p.metrics != nil {
		start := time.Now()
		defer func() {
			p.metrics.passwordWait.Observe(time.Since(start).Seconds())
			if err == nil {
				p.metrics.passwordInFlight.Inc()
			}
		}()
	}
	class := 1
	if clean {
		class = 0
	}
	p.mu.Lock()
	if p.free > 0 && p.waiting == 0 {
		p.free--
		p.mu.Unlock()
		return nil
	}
	if !p.mayQueueLocked(source, clean) {
		p.mu.Unlock()
		return errPoolBusy
	}
	if p.waiting >= p.maxWait {
		// Full: a clean request displaces the newest failing waiter, whose
		// source has had its chance.
		back := p.queues[1].Back()
		w := back.Value.(*poolWaiter)
		p.dequeue(1, back)
		w.granted <- false
	}
	w := &poolWaiter{source: source, granted: make(chan bool, 1)}
	elem := p.queues[class].PushBack(w)
	p.waiting++
	p.bySource[source]++
	p.mu.Unlock()

	timer := time.NewTimer(p.timeout)
	defer timer.Stop()
	select {
	case ok := <-w.granted:
		if ok {
			return nil
		}
		return errPoolBusy
	case <-timer.C:
		err = errPoolBusy
	case <-ctx.Done():
		err = ctx.Err()
	}

	p.mu.Lock()
	select {
	case ok := <-w.granted:
		// Handed a slot (or displaced) while giving up: pass the slot on.
		p.mu.Unlock()
		if ok {
			p.handOn()
		}
	default:
		p.dequeue(class, elem)
		p.mu.Unlock()
	}
	return err
}

// mayQueue reports whether acquire could currently get a slot or a place
// in the queue. It is advice (acquire decides again), for refusing early.
func (p *passwordPool) mayQueue(source netip.Prefix, clean bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return (p.free > 0 && p.waiting == 0) || p.mayQueueLocked(source, clean)
}

// mayQueueLocked: the source has room, and so has the queue (or a clean
// request can displace a failing one); p.mu is held.
func (p *passwordPool) mayQueueLocked(source netip.Prefix, clean bool) bool {
	if p.bySource[source] >= maxWaitPerSource {
		return false
	}
	return p.waiting < p.maxWait || (clean && p.queues[1].Len() > 0)
}

// release ends a check that acquire admitted.
func (p *passwordPool) release() {
	if p.metrics != nil {
		p.metrics.passwordInFlight.Dec()
	}
	p.handOn()
}

// handOn hands the slot to the first waiter, clean sources first, or
// frees it.
func (p *passwordPool) handOn() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range p.queues {
		if front := p.queues[i].Front(); front != nil {
			w := front.Value.(*poolWaiter)
			p.dequeue(i, front)
			w.granted <- true
			return
		}
	}
	p.free++
}
