package gonixiso

import (
	"context"
	"fmt"
	"io"

	"github.com/gonixiso/gonixiso/closure"
	"github.com/gonixiso/gonixiso/internal/atomicfile"
	"github.com/gonixiso/gonixiso/internal/livestore"
	"github.com/gonixiso/gonixiso/squash"
)

// A warm build places most store paths from the cache and compresses a few: a new etc and
// toplevel, a changed package. The writer takes the store paths in the closure's order, so it
// would stop at each of those while it is compressed (a package's last fragment block alone may
// take a second at zstd 19), with a core idle. Instead, the paths the cache lacks are compressed
// ahead, one after another from the build's start, each into a segment of its own in a scratch
// file, stored in the cache from there, and placed by the writer when it comes to them
// (squash.Writer.AddSegment gives the bytes adding the path would). A cold build compresses
// every path in the writer itself: compressing ahead would only copy its data once more.

// aheadSegment is a store path compressed ahead: its segment, in the scratch file f.
type aheadSegment struct {
	seg    *squash.Segment
	f      *atomicfile.File
	in     int64 // bytes of files read
	reused int64 // bytes of files whose blocks came from an earlier version in the cache
	err    error
}

// aheadShare bounds the store paths a build compresses ahead: at most this share of the
// closure's bytes (NAR sizes). Each is compressed whole (its last fragment block, then tables of
// its own) before the next starts, which costs little against the idle core it fills when a few
// paths changed; when much is missing (a rerun after an interrupted cold build), the writer's
// own pipeline, which runs on from one path into the next, is the better one.
const aheadShare = 0.05

// compressAhead starts compressing ahead the store paths of the known closure that the cache
// lacks, if they are few.
func (b *build) compressAhead(ctx context.Context, sc *segmentCache) {
	var missing []*closure.Path
	var bytes uint64
	for _, p := range b.clo.WalkOrder() {
		if !sc.has(p.Path, p.NarHash) {
			missing = append(missing, p)
			bytes += p.NarSize
		}
	}
	if len(missing) == 0 || float64(bytes) > aheadShare*float64(b.clo.NarSize()) {
		return
	}
	b.aheadOf = map[string]chan aheadSegment{}
	chans := make([]chan aheadSegment, len(missing))
	for i, p := range missing {
		chans[i] = make(chan aheadSegment, 1)
		b.aheadOf[p.Path] = chans[i]
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		i := 0
		defer func() {
			for ; i < len(chans); i++ {
				close(chans[i]) // not compressed ahead: the writer compresses it in turn
			}
		}()
		for ; i < len(missing); i++ {
			a := b.compressOne(ctx, sc, missing[i])
			if a.err != nil {
				if ctx.Err() == nil { // else the build is over
					b.logf("%s: compressing it ahead: %v; the writer compresses it in turn", missing[i].Path, a.err)
				}
				return
			}
			chans[i] <- a
		}
	}()
	b.cleanup = append(b.cleanup, func() {
		cancel()
		<-done
		for _, ch := range chans {
			select {
			case a, ok := <-ch:
				if ok {
					a.f.Abandon()
				}
			default:
			}
		}
	})
}

// compressOne compresses the store path p into a scratch file beside the output and stores its
// segment in the cache.
func (b *build) compressOne(ctx context.Context, sc *segmentCache, p *closure.Path) (a aheadSegment) {
	f, err := atomicfile.Create(b.output, atomicfile.Options{Kind: "segment"})
	if err != nil {
		return aheadSegment{err: err}
	}
	defer func() {
		if a.err != nil {
			f.Abandon()
		}
	}()
	opts := b.cfg.squashOptions()
	opts.Context = ctx
	var seg *squash.Segment
	opts.OnSegment = func(s *squash.Segment) error { seg = s; return nil }
	w, err := squash.NewWriter(f.File, opts)
	if err != nil {
		return aheadSegment{err: err}
	}
	defer b.offerEarlier(w, sc, p.Path)()
	err = livestore.AddPath(w, b.store.Real(p.Path), nil)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		sc.keepUnfinished(w, b.store.StoreDir(), f.File, 0) // what it compressed of p, if anything
		return aheadSegment{err: err}
	}
	if seg == nil {
		return aheadSegment{err: fmt.Errorf("%s: no segment", p.Path)}
	}
	if err := sc.put(p, seg, f.File, 0); err != nil {
		b.logf("%v", err) // as a storer's failure: the build goes on
	} else {
		b.logf("cache: stored %s (compressed ahead)", p.Path)
	}
	in, _ := w.Stats()
	return aheadSegment{seg: seg, f: f, in: in, reused: w.Reused()}
}

// placeAhead places the store path p from its segment compressed ahead, if it was, and reports
// whether it did.
func (b *build) placeAhead(w *squash.Writer, p string) (bool, error) {
	ch, ok := b.aheadOf[p]
	if !ok {
		return false, nil
	}
	delete(b.aheadOf, p)
	a, ok := <-ch
	if !ok {
		return false, nil
	}
	if err := w.CheckSegment(a.seg); err != nil {
		a.f.Abandon()
		b.logf("%s: its segment compressed ahead: %v; compressing it in turn", p, err)
		return false, nil
	}
	var parts []io.Reader
	for _, pc := range a.seg.Pieces() {
		parts = append(parts, io.NewSectionReader(a.f, pc.Offset, pc.Length))
	}
	data := &scratchReader{io.MultiReader(parts...), a.f}
	if err := w.AddSegment(a.seg, data); err != nil { // AddSegment closes data
		return false, err
	}
	b.aheadIn += a.in
	b.aheadReused += a.reused
	return true, nil
}

// scratchReader reads a segment's data from its scratch file, which Close removes.
type scratchReader struct {
	io.Reader
	f *atomicfile.File
}

func (r *scratchReader) Close() error {
	r.f.Abandon()
	return nil
}
