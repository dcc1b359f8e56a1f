package main

import (
	"context"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// maxRequestsPerLoad bounds every load in count as well as in time, whatever
// the flags say.
const maxRequestsPerLoad = 5_000_000

// load is a closed-loop load generator: each worker sends one request, waits
// for its answer, and sends the next, so the offered load adapts to the
// server instead of piling up in the client.
type load struct {
	workers  int
	duration time.Duration // no new request starts after this
	// limiter, if set, is shared by all workers: each takes a token before
	// each request, which caps the rate of the whole load.
	limiter *rate.Limiter
	// do sends one request on behalf of a worker and reports the HTTP
	// status. An error with no status is counted apart.
	do func(ctx context.Context, worker int) (status int, err error)
	// before, if set, prepares each turn of takeTurns, unmeasured.
	before func()
}

// result is what one load measured.
type result struct {
	elapsed   time.Duration
	answers   int         // requests that got an HTTP status
	status    map[int]int // answers by status code
	errors    int         // requests that failed without a status
	firstErr  error
	latencies []time.Duration // of the answers, sorted ascending
}

// run starts l.workers workers and returns when all have stopped: after
// l.duration, after maxRequestsPerLoad requests, or as soon as ctx ends. A
// request cut off by ctx is neither an answer nor an error: the caller ended
// it.
func (l load) run(ctx context.Context) result {
	perWorker := make([]result, l.workers)
	var started atomic.Int64
	start := time.Now()
	deadline := start.Add(l.duration)
	var wg sync.WaitGroup
	for w := range l.workers {
		wg.Go(func() {
			wr := result{status: map[int]int{}}
			for ctx.Err() == nil && time.Now().Before(deadline) && started.Add(1) <= maxRequestsPerLoad {
				if l.limiter != nil {
					if l.limiter.Wait(ctx) != nil {
						break
					}
				}
				t0 := time.Now()
				status, err := l.do(ctx, w)
				latency := time.Since(t0)
				switch {
				case status != 0:
					wr.status[status]++
					wr.latencies = append(wr.latencies, latency)
				case ctx.Err() != nil:
					// Cut off by the caller, not by the server: the
					// error may or may not wrap ctx.Err(), depending on
					// where in the transport the cancel caught it.
				default:
					wr.errors++
					if wr.firstErr == nil {
						wr.firstErr = err
					}
				}
			}
			perWorker[w] = wr
		})
	}
	wg.Wait()

	r := merge(perWorker...)
	r.elapsed = time.Since(start) // the workers ran side by side
	return r
}

// throughput is answers per second over the whole run.
func (r result) throughput() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.answers) / r.elapsed.Seconds()
}

// percentile is the nearest-rank percentile (0 < p ≤ 100) of the answers'
// latencies: the smallest latency that at least p% of answers did not exceed.
func (r result) percentile(p float64) time.Duration {
	n := len(r.latencies)
	if n == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(n)))
	return r.latencies[min(max(rank, 1), n)-1]
}

// merge is the results of several loads as one: their times, answers and
// latencies added up (run sets elapsed itself for its workers, which ran
// side by side).
func merge(rs ...result) result {
	m := result{status: map[int]int{}}
	for _, r := range rs {
		m.elapsed += r.elapsed
		for code, n := range r.status {
			m.status[code] += n
		}
		m.errors += r.errors
		if m.firstErr == nil {
			m.firstErr = r.firstErr
		}
		m.latencies = append(m.latencies, r.latencies...)
	}
	slices.Sort(m.latencies)
	m.answers = len(m.latencies)
	return m
}
