package authserver

import (
	"context"
	"sync/atomic"
	"time"
)

// durationAverage is a moving average of how long something takes (a
// bcrypt comparison), safe for concurrent use.
type durationAverage struct{ nanos atomic.Int64 }

func newDurationAverage(initial time.Duration) *durationAverage {
	d := &durationAverage{}
	d.nanos.Store(int64(initial))
	return d
}

// observe folds one measurement in, with weight 1/8.
func (d *durationAverage) observe(took time.Duration) {
	for {
		old := d.nanos.Load()
		if d.nanos.CompareAndSwap(old, old+(int64(took)-old)/8) {
			return
		}
	}
}

func (d *durationAverage) get() time.Duration { return time.Duration(d.nanos.Load()) }

// sleepCtx waits for d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
