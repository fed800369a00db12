// Package gonixiso is the assembly pipeline: it turns a built NixOS toplevel into a bootable
// hybrid ISO by way of the format packages, the only place that knows them all. Data flows one
// way: toplevel → closure → squash → boot → iso9660 → file.
//
//	res, err := gonixiso.Assemble(ctx, gonixiso.Config{Toplevel: "./result", Output: "nixos.iso"})
//
// The defaults give what nixpkgs' iso-image.nix gives: zstd at level 19 in 1 MiB blocks,
// isolinux and GRUB menus with the specialisations and the Options submenu, an El Torito catalog
// for BIOS and UEFI, and isohybrid MBR and GPT tables.
package gonixiso

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/gonixiso/gonixiso/boot"
	"github.com/gonixiso/gonixiso/closure"
	"github.com/gonixiso/gonixiso/closure/nar"
	"github.com/gonixiso/gonixiso/iso9660"
	"github.com/gonixiso/gonixiso/squash"
)

// DefaultEpoch is nixpkgs' SOURCE_DATE_EPOCH, 1980-01-01T00:00:00Z: every date in an image
// when neither Config.Epoch nor the environment gives one.
var DefaultEpoch = time.Unix(315532800, 0).UTC()

// Config says what to assemble and how. The zero value of every field but Toplevel and Output
// means nixpkgs' default.
type Config struct {
	// Toplevel is the system: a result link, a store path, or a path inside one.
	Toplevel string
	// ExtraPaths are more store paths whose closures the image carries
	// (isoImage.storeContents).
	ExtraPaths []string
	// Output is the ISO file to write. It appears only when complete.
	Output string
	// StoreDir is the Nix store (default /nix/store).
	StoreDir string
	// ClosureSource picks where the closure's hashes and references come from (default: the
	// Nix database, then `nix path-info`, then a native scan); DBPath overrides the database.
	ClosureSource closure.Source
	DBPath        string
	// Compression and BlockSize shape the SquashFS (default zstd 19, 1 MiB).
	Compression squash.Compression
	BlockSize   int
	// Jobs is the number of compressing workers (default: one per core). The image does not
	// depend on it.
	Jobs int
	// Epoch is every date in the image (SOURCE_DATE_EPOCH); zero means DefaultEpoch.
	Epoch time.Time
	// Boot holds the menus' and bootloaders' options (volume id, timeout, default entry,
	// BIOS/UEFI switches, labels, bootloader folders). Its Time and StorePaths are set here.
	Boot boot.Options
	// Progress, if set, is updated as the work goes on.
	Progress *Progress
	// Log, if set, receives a line at each step (for --verbose).
	Log func(format string, args ...any)
	// Cache, if set, keeps each store path's compressed data for later builds and gives back
	// what earlier builds kept: a warm build compresses only new store paths, and its bytes
	// equal a cold build's.
	Cache *Cache
}

// Result describes an assembled image.
type Result struct {
	Output        string
	Toplevel      string
	VolumeID      string
	StorePaths    int
	ClosureSource string
	Compression   string
	NarSize       int64 // bytes of the closure's NAR serialisations
	BytesIn       int64 // bytes of file contents packed
	SquashFSSize  int64
	ISOSize       int64
	CachedPaths   int   // store paths placed from the cache
	CachedBytes   int64 // their bytes of file contents
	Stages        []Stage
}

// Stage is one step of the pipeline and its wall time.
type Stage struct {
	Name     string
	Duration time.Duration
}

// Ratio is the bytes of files packed per byte of SquashFS, as inspect reports it.
func (r *Result) Ratio() float64 {
	if r.SquashFSSize == 0 {
		return 0
	}
	return float64(r.BytesIn) / float64(r.SquashFSSize)
}

// Assemble builds the ISO that cfg describes. On error, including ctx's cancellation, no file is
// left at cfg.Output and the temporary files are removed.
func Assemble(ctx context.Context, cfg Config) (*Result, error) {
	if cfg.Toplevel == "" {
		return nil, errors.New("no toplevel given")
	}
	if cfg.Output == "" {
		return nil, errors.New("no output file given")
	}
	if cfg.StoreDir == "" {
		cfg.StoreDir = closure.DefaultStoreDir
	}
	if cfg.Epoch.IsZero() {
		cfg.Epoch = DefaultEpoch
	}
	if cfg.Epoch.Unix() < 0 || cfg.Epoch.Unix() > 1<<32-1 {
		return nil, fmt.Errorf("source date epoch %d outside 0..2^32-1", cfg.Epoch.Unix())
	}
	prog := cfg.Progress
	if prog == nil {
		prog = &Progress{}
	}
	logf := cfg.Log
	if logf == nil {
		logf = func(string, ...any) {}
	}
	res := &Result{Output: cfg.Output}
	stage := func(name string, total int64) func() {
		logf("%s", name)
		prog.begin(name, total)
		start := time.Now()
		return func() { res.Stages = append(res.Stages, Stage{name, time.Since(start)}) }
	}

	// toplevel → closure: from the Nix database or `nix path-info`. With neither, the closure
	// is found while the SquashFS is written, from the same reads (writeSquashFS).
	done := stage("closure", 0)
	top, err := closure.Resolve(cfg.Toplevel, cfg.StoreDir)
	if err != nil {
		return nil, err
	}
	res.Toplevel = top
	sys, err := boot.ReadSystem(top)
	if err != nil {
		return nil, err
	}
	roots := []string{top}
	for _, p := range cfg.ExtraPaths {
		r, err := closure.Resolve(p, cfg.StoreDir)
		if err != nil {
			return nil, fmt.Errorf("extra path: %w", err)
		}
		roots = append(roots, r)
	}
	clo, err := knownClosure(ctx, roots, cfg, logf)
	if err != nil {
		return nil, err
	}
	if clo != nil {
		logf("closure of %s: %d store paths from the %s", top, len(clo.Paths), clo.Source)
	} else {
		logf("closure of %s: found by reading the store paths as they are packed", top)
	}
	done()

	// closure → boot plan, before the long part when the closure is known: a bad menu option
	// fails at once.
	var plan *boot.Plan
	planBoot := func(clo *closure.Closure) error {
		done := stage("boot", 0)
		bopts := cfg.Boot
		bopts.Time = cfg.Epoch
		for _, p := range clo.Paths {
			bopts.StorePaths = append(bopts.StorePaths, p.Path)
		}
		var err error
		if plan, err = boot.NewPlan(ctx, sys, bopts); err != nil {
			return err
		}
		res.VolumeID = plan.VolumeID
		logf("boot: volume id %s; syslinux from the %s (%s), GRUB from the %s (%s)", plan.VolumeID,
			plan.Loaders.SyslinuxFrom, plan.Loaders.SyslinuxDir, plan.Loaders.GrubFrom, plan.Loaders.GrubMkimage)
		done()
		return nil
	}
	if clo != nil {
		if err := planBoot(clo); err != nil {
			return nil, err
		}
	}

	// closure → squash, into a temporary file beside the output
	dir := filepath.Dir(cfg.Output)
	sqf, err := os.CreateTemp(dir, "."+filepath.Base(cfg.Output)+".*.squashfs.tmp")
	if err != nil {
		return nil, fmt.Errorf("temporary SquashFS beside the output: %w", err)
	}
	defer func() {
		sqf.Close()
		os.Remove(sqf.Name())
	}()
	logf("SquashFS in %s", sqf.Name())
	var narSize int64
	if clo != nil {
		narSize = int64(clo.NarSize())
	}
	done = stage("squashfs", narSize)
	sq, clo, err := writeSquashFS(ctx, sqf, clo, roots, cfg, prog, res, logf)
	if err != nil {
		return nil, err
	}
	res.SquashFSSize = sq
	res.StorePaths = len(clo.Paths)
	res.ClosureSource = clo.Source.String()
	res.NarSize = int64(clo.NarSize())
	done()
	if plan == nil {
		if err := planBoot(clo); err != nil {
			return nil, err
		}
	}

	// boot plan + squash → iso9660 → file
	done = stage("iso", sq)
	isoSize, err := writeISO(ctx, cfg, plan, sqf.Name(), top, roots, prog)
	if err != nil {
		return nil, err
	}
	res.ISOSize = isoSize
	done()
	prog.begin("done", 0)
	return res, nil
}

// knownClosure returns the closure of roots from the Nix database or `nix path-info`, as
// cfg.ClosureSource says; nil for a native scan, which writeSquashFS does as it packs the paths.
func knownClosure(ctx context.Context, roots []string, cfg Config, logf func(string, ...any)) (*closure.Closure, error) {
	opts := closure.Options{StoreDir: cfg.StoreDir, Source: cfg.ClosureSource, DBPath: cfg.DBPath, Jobs: cfg.Jobs}
	switch cfg.ClosureSource {
	case closure.SourceScan:
		return nil, nil
	case closure.SourceAuto:
		for _, src := range []closure.Source{closure.SourceDB, closure.SourceCLI} {
			opts.Source = src
			clo, err := closure.Compute(ctx, roots, opts)
			if err == nil {
				return clo, nil
			}
			if ctx.Err() != nil {
				return nil, err
			}
			logf("closure: no answer from the %s: %v", src, err)
		}
		return nil, nil
	}
	return closure.Compute(ctx, roots, opts)
}

// writeSquashFS packs every store path of the closure of roots into f in a closure.Walk's
// order, each store path a segment of its own (so that the cache can keep and place it), then
// the registration, and returns the image's size and the closure. Given no closure (a native
// scan), it reads each store path once: the SquashFS writer's reads also make the path's NAR
// serialisation, which gives its NAR hash and references.
func writeSquashFS(ctx context.Context, f *os.File, clo *closure.Closure, roots []string, cfg Config, prog *Progress, res *Result, logf func(string, ...any)) (int64, *closure.Closure, error) {
	opts := squash.Options{
		BlockSize:   cfg.BlockSize,
		Compression: cfg.Compression,
		Workers:     cfg.Jobs,
		ModTime:     cfg.Epoch.Unix(),
		Context:     ctx,
	}
	// The segments of the store paths compressed here, by name, for the cache.
	segs := map[string]*squash.Segment{}
	var segsMu sync.Mutex
	var ks keys
	if cfg.Cache != nil {
		ks = keyer(cfg.Compression, cfg.BlockSize)
		opts.OnSegment = func(seg *squash.Segment) error {
			segsMu.Lock()
			segs[seg.Entries[0].Name] = seg
			segsMu.Unlock()
			return nil
		}
	}
	w, err := squash.NewWriter(f, opts)
	if err != nil {
		return 0, nil, err
	}
	res.Compression = opts.Compression.String()
	fail := func(err error) (int64, *closure.Closure, error) {
		w.Close()
		return 0, nil, err
	}
	stop := prog.track(w.Stats)
	defer stop()
	placed := func(seg *squash.Segment, p *closure.Path) {
		res.CachedPaths++
		for _, e := range seg.Entries {
			res.CachedBytes += e.Size
		}
		prog.add(int64(p.NarSize))
	}

	if err := w.AddStoreRoot(); err != nil {
		return fail(err)
	}
	var packed []*closure.Path // compressed here: their segments go to the cache
	if clo != nil {
		for _, p := range clo.WalkOrder() {
			if cfg.Cache != nil {
				seg, err := placeFromCache(w, cfg.Cache, ks.entry(p.Path, p.NarHash), p.Path, logf)
				if err != nil {
					return fail(err)
				}
				if seg != nil {
					placed(seg, p)
					continue
				}
			}
			if err := w.AddStorePath(p.Path); err != nil {
				return fail(err)
			}
			packed = append(packed, p)
		}
	} else {
		walk, err := closure.NewWalk(roots, cfg.StoreDir)
		if err != nil {
			return fail(err)
		}
		for {
			p, ok := walk.Next()
			if !ok {
				break
			}
			if cfg.Cache != nil {
				seg, info, err := placeScannedFromCache(w, cfg.Cache, ks, walk, p, logf)
				if err != nil {
					return fail(err)
				}
				if seg != nil {
					placed(seg, &info)
					walk.Report(info)
					continue
				}
			}
			h := walk.Hasher()
			nw := nar.NewWriter(h)
			if err := w.AddStorePathTee(p, narTee{nw}); err != nil {
				return fail(err)
			}
			if err := nw.Close(); err != nil {
				return fail(fmt.Errorf("closure: %s: %w", p, err))
			}
			info := h.Sum(p)
			packed = append(packed, &info)
			walk.Report(info)
		}
		if clo, err = walk.Closure(); err != nil {
			return fail(err)
		}
	}
	var reg bytes.Buffer
	if err := clo.WriteRegistration(&reg); err != nil {
		return fail(err)
	}
	if err := w.AddRegistration(reg.Bytes()); err != nil {
		return fail(err)
	}
	if err := w.Close(); err != nil {
		return 0, nil, err
	}
	in, _ := w.Stats()
	res.BytesIn = in + res.CachedBytes
	if cfg.Cache != nil {
		for _, p := range packed {
			if seg := segs[filepath.Base(p.Path)]; seg != nil {
				cfg.Cache.store(ks, p, seg, f)
			}
		}
	}
	fi, err := f.Stat()
	if err != nil {
		return 0, nil, err
	}
	return fi.Size(), clo, nil
}

// narTee serialises a store path as a NAR from the SquashFS writer's reads of it.
type narTee struct{ nw *nar.Writer }

func (t narTee) Entry(rel string, fi fs.FileInfo, link string) error {
	hdr, err := nar.FileInfoHeader(fi, "/"+rel, link)
	if err != nil {
		return err
	}
	return t.nw.WriteHeader(hdr)
}

func (t narTee) Write(b []byte) (int, error) { return t.nw.Write(b) }

// placeFromCache places the cached segment of the store path p, if the cache has a sound one
// that fits the image so far, and returns it; nil means the store path must be compressed.
func placeFromCache(w *squash.Writer, c *Cache, k cacheKey, p string, logf func(string, ...any)) (*squash.Segment, error) {
	seg, data, ok := c.lookup(k, p)
	if !ok {
		return nil, nil
	}
	return placeSegment(w, seg, data, p, logf)
}

// placeSegment places a cached segment if it fits the image so far, and returns it; nil means
// it does not fit and the store path p must be compressed. It closes data.
func placeSegment(w *squash.Writer, seg *squash.Segment, data *os.File, p string, logf func(string, ...any)) (*squash.Segment, error) {
	if err := w.CheckSegment(seg); err != nil {
		// Stored by a build whose earlier store paths held other contents.
		data.Close()
		logf("cache: %s: %v; compressing it again", p, err)
		return nil, nil
	}
	if err := w.AddSegment(seg, data); err != nil { // AddSegment closes data
		return nil, err
	}
	return seg, nil
}

// placeScannedFromCache is placeFromCache for a store path whose NAR hash is not known yet: if
// the cache has an entry for the path, it hashes the path (its one read) and places the entry
// if the hash is the entry's. It returns the segment placed, if any, and then the path's NAR
// hash, size and references.
func placeScannedFromCache(w *squash.Writer, c *Cache, ks keys, walk *closure.Walk, p string, logf func(string, ...any)) (*squash.Segment, closure.Path, error) {
	want, ok := c.lastHash(ks, p)
	if !ok {
		return nil, closure.Path{}, nil
	}
	seg, data, ok := c.lookup(ks.entry(p, want), p)
	if !ok {
		return nil, closure.Path{}, nil
	}
	h := walk.Hasher()
	if err := nar.DumpPath(h, p); err != nil {
		data.Close()
		return nil, closure.Path{}, fmt.Errorf("closure: %w", err)
	}
	info := h.Sum(p)
	if info.NarHash != want {
		data.Close()
		logf("cache: %s: NAR hash %s, the entry's is %s; compressing it again", p, info.NarHash, want)
		return nil, closure.Path{}, nil
	}
	seg, err := placeSegment(w, seg, data, p, logf)
	return seg, info, err
}

// writeISO lays out the ISO from the boot plan and the SquashFS at sqPath.
func writeISO(ctx context.Context, cfg Config, plan *boot.Plan, sqPath, top string, roots []string, prog *Progress) (int64, error) {
	// The GPT GUIDs and the MBR signature follow the system, as nixpkgs derives them from the
	// ISO's store path: here from the toplevel, the extra paths and the image's settings.
	seed := sha256.New()
	fmt.Fprintf(seed, "gonixiso iso seed v1\x00%s\x00%q\x00%s\x00%d\x00%s\x00", top, roots,
		cfg.Compression, cfg.BlockSize, plan.VolumeID)
	iw, err := iso9660.Create(cfg.Output, iso9660.Options{
		VolumeID:    plan.VolumeID,
		Publisher:   "nixos",
		Application: "nixos",
		ModTime:     cfg.Epoch,
		Joliet:      true,
		GUIDSeed:    seed.Sum(nil),
	})
	if err != nil {
		return 0, err
	}
	for i := range plan.Files {
		f := &plan.Files[i]
		var src iso9660.Source
		if f.Source != "" {
			src, err = iso9660.FromFile(f.Source)
			if err != nil {
				return 0, err
			}
		} else {
			src = iso9660.FromBytes(f.Data)
		}
		if err := iw.AddFile(f.Path, iso9660.Header{Mode: f.Mode}, src); err != nil {
			return 0, err
		}
	}
	sq, err := iso9660.FromFile(sqPath)
	if err != nil {
		return 0, err
	}
	if err := iw.AddFile("/nix-store.squashfs", iso9660.Header{Mode: 0o444}, sq); err != nil {
		return 0, err
	}
	bc := iso9660.Boot{BIOS: plan.Boot.BIOSBootFile, Catalog: plan.Boot.Catalog, EFI: plan.Boot.EFIImage}
	if plan.Boot.HybridMBR != "" {
		if bc.HybridMBR, err = os.ReadFile(plan.Boot.HybridMBR); err != nil {
			return 0, err
		}
	}
	if err := iw.SetBoot(bc); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := iw.Close(); err != nil {
		return 0, err
	}
	fi, err := os.Stat(cfg.Output)
	if err != nil {
		return 0, err
	}
	prog.add(fi.Size())
	return fi.Size(), nil
}
