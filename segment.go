package gonixiso

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/gonixiso/gonixiso/cache"
	"github.com/gonixiso/gonixiso/closure"
	"github.com/gonixiso/gonixiso/closure/nar"
	"github.com/gonixiso/gonixiso/internal/livestore"
	"github.com/gonixiso/gonixiso/squash"
)

// Segments as derivations (the module's system.build.gonixisoImageIncremental): a derivation per
// store path of the image compresses that path alone into the cache entry a build places
// (PackSegment), and the image's derivation places them all from a cache of those entries
// (cache.Cache.Import). Nix then rebuilds only the segments of changed store paths, builds them
// on remote builders, and serves them from binary caches. A segment depends on nothing but its
// store path and the SquashFS settings, so the image's bytes are a cold build's.

// StorePaths returns the store paths of cfg's image, in the order its SquashFS holds them: the
// closure of the toplevel and the extra paths. The closure must be known without reading the
// store paths (a closure info file, the Nix database or CLI): what a segment derivation per path
// needs to be planned.
func StorePaths(ctx context.Context, cfg Config) ([]string, error) {
	cfg, err := cfg.normalise()
	if err != nil {
		return nil, err
	}
	b := &build{ctx: ctx, cfg: cfg, prog: cfg.Progress, logf: cfg.Log, res: &Result{}}
	if err := b.resolveRoots(); err != nil {
		return nil, err
	}
	clo, err := b.knownClosure()
	if err != nil {
		return nil, err
	}
	if clo == nil {
		return nil, fmt.Errorf("closure of %s: not known without reading the store (no Nix database or closure info)", b.top)
	}
	return clo.Order(), nil
}

// PackSegment compresses the store path p as a build with cfg's SquashFS settings (Compression,
// BlockSize) compresses it, and writes to the file out the cache entry such a build places
// instead of compressing p again (cache.Cache.Export, Import). The entry is keyed by p's NAR hash,
// which PackSegment computes from the same reads.
func PackSegment(ctx context.Context, cfg Config, p, out string) error {
	cfg.Toplevel = p // a one-path image
	cfg, err := cfg.normalise()
	if err != nil {
		return err
	}
	store := cfg.store()
	sp, err := store.Resolve(p)
	if err != nil {
		return err
	}
	if strings.HasPrefix(path.Clean(p), sp+"/") {
		return fmt.Errorf("%s: inside the store path %s: a segment is a whole store path's", p, sp)
	}
	tmp, err := os.MkdirTemp("", "gonixiso-segment-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	img, err := os.Create(filepath.Join(tmp, "image"))
	if err != nil {
		return err
	}
	defer img.Close()
	var seg *squash.Segment
	opts := cfg.squashOptions()
	opts.Context = ctx
	opts.OnSegment = func(s *squash.Segment) error {
		if len(s.Entries) > 0 && s.Entries[0].Name == path.Base(sp) {
			seg = s
		}
		return nil
	}
	w, err := squash.NewWriter(img, opts)
	if err != nil {
		return err
	}
	h := sha256.New()
	nw := nar.NewWriter(h)
	err = livestore.AddRoot(w, cfg.Epoch.Unix())
	if err == nil {
		err = livestore.AddPath(w, store.Real(sp), narTee{nw})
	}
	if err == nil {
		err = nw.Close()
	}
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if seg == nil {
		return errors.New("squash: no segment for " + sp)
	}
	info := closure.Path{Path: sp}
	h.Sum(info.NarHash[:0])
	c, err := cache.Open(filepath.Join(tmp, "cache"), nil)
	if err != nil {
		return err
	}
	sc, err := newSegmentCache(c, opts, cfg.Log)
	if err != nil {
		return err
	}
	if err := sc.put(&info, seg, img, 0); err != nil {
		return err
	}
	cfg.Log("segment of %s: %d bytes, NAR hash %s", sp, seg.Size(), info.NarHash)
	return c.Export(sc.entryKey(sp, info.NarHash), out)
}
