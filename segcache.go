package gonixiso

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"

	"github.com/gonixiso/gonixiso/cache"
	"github.com/gonixiso/gonixiso/closure"
	"github.com/gonixiso/gonixiso/internal/livestore"
	"github.com/gonixiso/gonixiso/internal/parallel"
	"github.com/gonixiso/gonixiso/squash"
)

// segmentCache keeps store paths' SquashFS segments in a cache.Cache, each keyed by everything
// that changes its bytes: the writer's settings (squash.Options.SegmentKey), the store path and
// its NAR hash. A warm build's bytes equal a cold build's.
type segmentCache struct {
	c        *cache.Cache
	settings string
	logf     func(format string, args ...any)
}

func newSegmentCache(c *cache.Cache, opts squash.Options, logf func(string, ...any)) (*segmentCache, error) {
	settings, err := opts.SegmentKey()
	if err != nil {
		return nil, err
	}
	return &segmentCache{c: c, settings: settings, logf: logf}, nil
}

// entryKey names a store path's segment.
func (s *segmentCache) entryKey(storePath string, narHash closure.Hash) cache.Key {
	return cache.KeyOf("segment", s.settings, storePath, narHash.String())
}

// lastKey names a store path's note of the NAR hash of its segment last stored: a build that
// learns a path's NAR hash only by reading it (a native scan) finds the segment from there,
// and reads the path once, to check that hash.
func (s *segmentCache) lastKey(storePath string) cache.Key {
	return cache.KeyOf("last NAR hash", s.settings, storePath)
}

// lastHash returns the NAR hash of the segment last stored for a store path, if any.
func (s *segmentCache) lastHash(storePath string) (closure.Hash, bool) {
	v, ok := s.c.Note(s.lastKey(storePath))
	if !ok {
		return closure.Hash{}, false
	}
	h, err := closure.ParseHash(v)
	if err != nil {
		s.c.Warnf("cache: note of %s: %v; ignoring it", storePath, err)
		return closure.Hash{}, false
	}
	return h, true
}

// versionKey names the note of the entry last stored for a store path of a package (name and
// output, closure.ParseName): a new version of the package reuses that entry's compressed blocks
// for the files it did not change (squash.Writer.Reuse).
func (s *segmentCache) versionKey(storePath string) cache.Key {
	return cache.KeyOf("last of package", s.settings, closure.ParseName(filepath.Base(storePath)).Key())
}

// unfinishedKey names what a build that failed or was interrupted had compressed of a store
// path (squash.Writer.Unfinished): its files' whole blocks, which a rerun takes instead of
// compressing them again. It is removed once the path's segment is stored.
func (s *segmentCache) unfinishedKey(storePath string) cache.Key {
	return cache.KeyOf("unfinished segment", s.settings, storePath)
}

// earlier returns the segment last stored for another version of the store path's package (or
// for the path itself with other contents), with its data, if the cache has a sound one: the
// entry's checksum covers its data, and the writer checks its description (Reuse).
func (s *segmentCache) earlier(storePath string) (*squash.Segment, io.ReaderAt, io.Closer, bool) {
	v, ok := s.c.Note(s.versionKey(storePath))
	if !ok {
		return nil, nil, nil, false
	}
	p, h, _ := strings.Cut(v, " ")
	hash, err := closure.ParseHash(h)
	if err != nil {
		s.c.Warnf("cache: note of the package of %s: %v; ignoring it", storePath, err)
		return nil, nil, nil, false
	}
	return s.reusable(s.entryKey(p, hash))
}

// unfinished returns what an interrupted build kept of the store path (unfinishedKey), with its
// data, if the cache has a sound one.
func (s *segmentCache) unfinished(storePath string) (*squash.Segment, io.ReaderAt, io.Closer, bool) {
	return s.reusable(s.unfinishedKey(storePath))
}

// open returns the segment stored under k and its entry, whose data is positioned at the start,
// if the cache has a sound one that check (if not nil) accepts; one that is not is discarded,
// with the reason and then why.
func (s *segmentCache) open(k cache.Key, check func(*squash.Segment) error, then string) (*squash.Segment, *cache.Entry, bool) {
	e, ok := s.c.Get(k)
	if !ok {
		return nil, nil, false
	}
	seg := new(squash.Segment)
	err := seg.UnmarshalBinary(e.Desc)
	if err == nil && seg.Size() != e.Size {
		err = errors.New("description and data lengths differ")
	}
	if err == nil && check != nil {
		err = check(seg)
	}
	if err != nil {
		e.Close()
		s.c.Discard(k, fmt.Sprintf("%v%s", err, then))
		return nil, nil, false
	}
	return seg, e, true
}

// reusable returns the segment stored under k with its data, for its blocks (squash.Writer.Reuse).
func (s *segmentCache) reusable(k cache.Key) (*squash.Segment, io.ReaderAt, io.Closer, bool) {
	seg, e, ok := s.open(k, nil, "")
	if !ok {
		return nil, nil, nil, false
	}
	at, err := e.Data.Seek(0, io.SeekCurrent)
	if err != nil {
		e.Close()
		return nil, nil, nil, false
	}
	return seg, io.NewSectionReader(e.Data, at, e.Size), e, true
}

// get returns the stored segment of a store path with that NAR hash, if the cache has a sound
// one that describes the path as it is on disk at real, with its data positioned at the start.
func (s *segmentCache) get(storePath string, narHash closure.Hash, real string) (*squash.Segment, *os.File, bool) {
	// The NAR hash in the key covers contents; CheckPath covers what a NAR does not record.
	seg, e, ok := s.open(s.entryKey(storePath, narHash), func(seg *squash.Segment) error { return livestore.CheckPath(seg, real) },
		fmt.Sprintf("; compressing %s again", storePath))
	if !ok {
		return nil, nil, false
	}
	return seg, e.Data, true
}

// has reports whether the cache has an entry for the store path with that NAR hash, sound or
// not: it only looks.
func (s *segmentCache) has(storePath string, narHash closure.Hash) bool {
	return s.c.Has(s.entryKey(storePath, narHash))
}

// put stores a store path's segment, whose data lies in the file img (seg.Pieces, from the
// image's start at base in img), and notes its NAR hash.
func (s *segmentCache) put(p *closure.Path, seg *squash.Segment, img *os.File, base int64) error {
	k := s.entryKey(p.Path, p.NarHash)
	err := s.store(k, seg, img, base)
	if err == nil {
		err = s.c.SetNote(s.lastKey(p.Path), p.NarHash.String(), k)
	}
	if err == nil {
		err = s.c.SetNote(s.versionKey(p.Path), p.Path+" "+p.NarHash.String(), k)
	}
	if err != nil {
		return fmt.Errorf("cache: cannot store %s: %w", p.Path, err)
	}
	s.c.Delete(s.unfinishedKey(p.Path))
	return nil
}

// store stores seg under k: its description, and its data, which lies in the file img
// (seg.Pieces, from the image's start at base in img).
func (s *segmentCache) store(k cache.Key, seg *squash.Segment, img *os.File, base int64) error {
	desc, err := seg.MarshalBinary()
	if err != nil {
		return err
	}
	var data []cache.Range
	for _, p := range seg.Pieces() {
		data = append(data, cache.Range{Off: base + p.Offset, N: p.Length})
	}
	return s.c.Put(k, desc, img, data)
}

// keepUnfinished stores what the failed writer w had compressed of the store path it was
// writing (squash.Writer.Unfinished), whose data lies in img from the image's start at base, for
// a rerun to take instead of compressing it again. A failure to store it is reported.
func (s *segmentCache) keepUnfinished(w *squash.Writer, storeDir string, img *os.File, base int64) {
	u := w.Unfinished()
	if u == nil {
		return
	}
	name, _, _ := strings.Cut(u.Entries[0].Name, "/") // entries are named from the store
	p := path.Join(storeDir, name)
	if err := s.store(s.unfinishedKey(p), u, img, base); err != nil {
		s.c.Warnf("cache: cannot keep what was compressed of %s: %v", p, err)
		return
	}
	s.logf("cache: kept the blocks of %d files and %d fragment blocks of %s, unfinished (%d bytes)", len(u.Entries)-1, len(u.Fragments), p, u.Size())
}

// A storer stores the segments of the store paths a build compresses as soon as each is whole in
// the image, so that an interrupted build keeps what it compressed: a rerun compresses only what
// the first did not finish. A segment's key needs its store path's NAR hash, which a native scan
// learns only once it has read the path, while the writer may end the segment before or after
// that: whichever of the two comes second sends the pair to a goroutine that stores it.
type storer struct {
	sc   *segmentCache
	img  *os.File // the file being written, which holds the segments' data
	base int64    // where the image starts in it
	logf func(format string, args ...any)

	mu    sync.Mutex
	infos map[string]closure.Path    // packed store paths whose segment has not ended, by name
	segs  map[string]*squash.Segment // ended segments whose NAR hash is not known yet, by name
	jobs  chan storeJob
	done  chan struct{}
}

type storeJob struct {
	info closure.Path
	seg  *squash.Segment
}

func (sc *segmentCache) newStorer(img *os.File, base int64, logf func(string, ...any)) *storer {
	s := &storer{sc: sc, img: img, base: base, logf: logf, infos: map[string]closure.Path{}, segs: map[string]*squash.Segment{},
		jobs: make(chan storeJob, 64), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for j := range s.jobs {
			// A failure to store is reported and does not fail the build.
			if err := s.sc.put(&j.info, j.seg, s.img, s.base); err != nil {
				s.sc.c.Warnf("%v", err)
			} else {
				s.logf("cache: stored %s", j.info.Path)
			}
		}
	}()
	return s
}

// segment takes a segment the writer has ended (Options.OnSegment: on its consumer goroutine).
func (s *storer) segment(seg *squash.Segment) {
	name := seg.Entries[0].Name
	s.mu.Lock()
	defer s.mu.Unlock()
	if info, ok := s.infos[name]; ok {
		delete(s.infos, name)
		s.jobs <- storeJob{info, seg}
		return
	}
	s.segs[name] = seg
}

// packed takes a store path the build compressed, with its NAR hash.
func (s *storer) packed(info closure.Path) {
	name := filepath.Base(info.Path)
	s.mu.Lock()
	defer s.mu.Unlock()
	if seg, ok := s.segs[name]; ok {
		delete(s.segs, name)
		s.jobs <- storeJob{info, seg}
		return
	}
	s.infos[name] = info
}

// wait stores what is left to store and returns when it is done.
func (s *storer) wait() {
	s.mu.Lock()
	close(s.jobs)
	s.mu.Unlock()
	<-s.done
}

// A found is a store path's cache entry looked up and checked ahead of the writer: its segment
// and data, or nil for a miss.
type found struct {
	path string
	seg  *squash.Segment
	data *os.File
}

// lookAhead looks up and checks the cache entries of the store paths of a closure known
// beforehand, in the order the writer takes them, on workers: reading an entry whole for its
// checksum and comparing its description with the tree on disk cost more than placing it, and
// a warm build is mostly that. next returns the store path's result, in order; stop ends the
// lookups and closes what was not taken.
func (s *segmentCache) lookAhead(ctx context.Context, clo *closure.Closure, real func(string) string, workers int) (next func(p string) found, stop func()) {
	order := clo.Order()
	ctx, cancel := context.WithCancel(ctx)
	ch := make(chan found, workers)
	go func() {
		defer close(ch)
		parallel.Ordered(ctx, parallel.Options{Workers: workers, Window: 64},
			func(emit func(string) error) error {
				for _, p := range order {
					if err := emit(p); err != nil {
						return err
					}
				}
				return nil
			},
			func(p string) (found, error) {
				info, ok := clo.Lookup(p)
				if !ok {
					return found{path: p}, nil
				}
				seg, data, ok := s.get(p, info.NarHash, real(p))
				if !ok {
					return found{path: p}, nil
				}
				return found{p, seg, data}, nil
			},
			func(f found) error {
				select {
				case ch <- f:
					return nil
				case <-ctx.Done():
					if f.data != nil {
						f.data.Close()
					}
					return ctx.Err()
				}
			})
	}()
	next = func(p string) found {
		f, ok := <-ch
		switch {
		case !ok:
			return found{path: p}
		case f.path != p:
			// Cannot be: the walks are the same. Look it up here instead.
			if f.data != nil {
				f.data.Close()
			}
			if info, ok := clo.Lookup(p); ok {
				if seg, data, ok := s.get(p, info.NarHash, real(p)); ok {
					return found{p, seg, data}
				}
			}
			return found{path: p}
		}
		return f
	}
	stop = func() {
		cancel()
		for f := range ch {
			if f.data != nil {
				f.data.Close()
			}
		}
	}
	return next, stop
}
