package storetest

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// readersVersusWrite runs readers goroutines that call read without pause,
// lets each have a few turns (filling a cache, if there is one), runs
// write once, lets them have a few more, and returns how many reads that
// began after write had returned reported the state from before it (read
// answers whether what it saw is that old state).
func readersVersusWrite(t *testing.T, readers int, write func() error, read func() (old bool, err error)) (stale int64, err error) {
	t.Helper()
	var (
		done   atomic.Bool
		failed atomic.Bool
		old    atomic.Int64
		reads  atomic.Int64
		stop   = make(chan struct{})
		wg     sync.WaitGroup
	)
	for range readers {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				after := done.Load()
				o, err := read()
				reads.Add(1)
				if err != nil {
					t.Errorf("read: %v", err)
					failed.Store(true)
					return
				}
				if after && o {
					old.Add(1)
				}
			}
		})
	}
	// Until the readers had their turns, or one of them failed (the
	// others may then never read again).
	waitReads := func() {
		for n := reads.Load(); reads.Load() < n+int64(readers)*4 && !failed.Load(); {
			time.Sleep(100 * time.Microsecond)
		}
	}
	waitReads()
	err = write()
	done.Store(true)
	if err == nil {
		waitReads()
	}
	close(stop)
	wg.Wait()
	return old.Load(), err
}
