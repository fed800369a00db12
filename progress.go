package gonixiso

import (
	"sync"
	"sync/atomic"
	"time"
)

// Progress follows a running Assemble: the stage it is in, and for the long stages the bytes
// done out of a total. Its methods are safe for concurrent use; a display polls Snapshot.
type Progress struct {
	mu    sync.Mutex
	stage string
	start time.Time
	total int64
	base  int64 // bytes done by earlier trackers of the stage
	poll  func() (int64, int64)
	added atomic.Int64
}

// Snapshot reports the current stage, the bytes done and expected in it (0 when it has no byte
// count) and how long it has been running.
func (p *Progress) Snapshot() (stage string, done, total int64, elapsed time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	done = p.base + p.added.Load()
	if p.poll != nil {
		in, _ := p.poll()
		done += in
	}
	if !p.start.IsZero() {
		elapsed = time.Since(p.start)
	}
	return p.stage, done, p.total, elapsed
}

func (p *Progress) begin(stage string, total int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stage, p.total, p.start, p.base, p.poll = stage, total, time.Now(), 0, nil
	p.added.Store(0)
}

// track counts a writer's bytes read into the stage until the returned stop is called.
func (p *Progress) track(stats func() (in, out int64)) (stop func()) {
	p.mu.Lock()
	p.poll = stats
	p.mu.Unlock()
	return func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.poll != nil {
			in, _ := p.poll()
			p.base += in
			p.poll = nil
		}
	}
}

// add counts n bytes done in the stage.
func (p *Progress) add(n int64) { p.added.Add(n) }
