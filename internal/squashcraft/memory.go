package squashcraft

import (
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// PeakMemory runs f and returns the most memory the Go runtime held from the system while f
// ran, over what it held before: what a reader of a crafted image made the process grow by.
// It samples every millisecond.
func PeakMemory(f func()) uint64 {
	runtime.GC()
	debug.FreeOSMemory()
	held := func() uint64 {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.Sys - m.HeapReleased
	}
	base := held()
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			if h := held(); h > peak.Load() {
				peak.Store(h)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	f()
	close(done)
	wg.Wait()
	if h := held(); h > peak.Load() {
		peak.Store(h)
	}
	return max(peak.Load(), base) - base
}
