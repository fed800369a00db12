package gonixiso

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gonixiso/gonixiso/cache"
	"github.com/gonixiso/gonixiso/closure"
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

// get returns the stored segment of a store path with that NAR hash, if the cache has a sound
// one that describes the path as it is on disk at real, with its data positioned at the start.
func (s *segmentCache) get(storePath string, narHash closure.Hash, real string) (*squash.Segment, *os.File, bool) {
	k := s.entryKey(storePath, narHash)
	e, ok := s.c.Get(k)
	if !ok {
		return nil, nil, false
	}
	seg := new(squash.Segment)
	err := seg.UnmarshalBinary(e.Desc)
	if err == nil && seg.Size() != e.Size {
		err = errors.New("description and data lengths differ")
	}
	if err == nil {
		// The NAR hash in the key covers contents; this covers what a NAR does not record.
		err = seg.CheckTree(filepath.Base(storePath), real, squash.AllRoot)
	}
	if err != nil {
		e.Close()
		s.c.Discard(k, fmt.Sprintf("%v; compressing %s again", err, storePath))
		return nil, nil, false
	}
	return seg, e.Data, true
}

// put stores a store path's segment, whose data lies at seg.Start in the image file img, and
// notes its NAR hash. A failure to store is reported and does not fail the build.
func (s *segmentCache) put(p *closure.Path, seg *squash.Segment, img *os.File) {
	desc, err := seg.MarshalBinary()
	k := s.entryKey(p.Path, p.NarHash)
	if err == nil {
		err = s.c.Put(k, desc, img, seg.Start, seg.Size())
	}
	if err == nil {
		err = s.c.SetNote(s.lastKey(p.Path), p.NarHash.String(), k)
	}
	if err != nil {
		s.c.Warnf("cache: cannot store %s: %v", p.Path, err)
	}
}
