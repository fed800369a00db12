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
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/gonixiso/gonixiso/boot"
	"github.com/gonixiso/gonixiso/closure"
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

	// toplevel → closure
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
	clo, err := closure.Compute(ctx, roots, closure.Options{StoreDir: cfg.StoreDir, Source: cfg.ClosureSource,
		DBPath: cfg.DBPath, Jobs: cfg.Jobs})
	if err != nil {
		return nil, err
	}
	res.StorePaths = len(clo.Paths)
	res.ClosureSource = clo.Source.String()
	logf("closure of %s: %d store paths from the %s", top, len(clo.Paths), res.ClosureSource)
	res.NarSize = int64(clo.NarSize())
	var reg bytes.Buffer
	if err := clo.WriteRegistration(&reg); err != nil {
		return nil, err
	}
	done()

	// closure → boot plan (before the long part: a bad menu option fails at once)
	done = stage("boot", 0)
	bopts := cfg.Boot
	bopts.Time = cfg.Epoch
	for _, p := range clo.Paths {
		bopts.StorePaths = append(bopts.StorePaths, p.Path)
	}
	plan, err := boot.NewPlan(ctx, sys, bopts)
	if err != nil {
		return nil, err
	}
	res.VolumeID = plan.VolumeID
	logf("boot: volume id %s; syslinux from the %s (%s), GRUB from the %s (%s)", plan.VolumeID,
		plan.Loaders.SyslinuxFrom, plan.Loaders.SyslinuxDir, plan.Loaders.GrubFrom, plan.Loaders.GrubMkimage)
	done()

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
	done = stage("squashfs", res.NarSize)
	sq, err := writeSquashFS(ctx, sqf, clo, reg.Bytes(), cfg, prog, res, logf)
	if err != nil {
		return nil, err
	}
	res.SquashFSSize = sq
	done()

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

// writeSquashFS packs the registration and every store path of clo into f, each store path a
// segment of its own (so that the cache can keep and place it), and returns the image's size.
func writeSquashFS(ctx context.Context, f *os.File, clo *closure.Closure, reg []byte, cfg Config, prog *Progress, res *Result, logf func(string, ...any)) (int64, error) {
	epoch := cfg.Epoch.Unix()
	// Store paths being compressed, by their segment's first entry, for the cache.
	pending := map[string]*closure.Path{}
	var pendingMu sync.Mutex
	var key func(*closure.Path) cacheKey
	opts := squash.Options{
		BlockSize:   cfg.BlockSize,
		Compression: cfg.Compression,
		Workers:     cfg.Jobs,
		ModTime:     epoch,
		Context:     ctx,
	}
	if cfg.Cache != nil {
		key = keyer(cfg.Compression, cfg.BlockSize)
		opts.OnSegment = func(seg *squash.Segment) error {
			pendingMu.Lock()
			p := pending[seg.Entries[0].Name]
			delete(pending, seg.Entries[0].Name)
			pendingMu.Unlock()
			if p != nil {
				cfg.Cache.store(key(p), seg, f)
			}
			return nil
		}
	}
	w, err := squash.NewWriter(f, opts)
	if err != nil {
		return 0, err
	}
	res.Compression = opts.Compression.String()
	fail := func(err error) (int64, error) {
		w.Close()
		return 0, err
	}
	stop := prog.track(w.Stats)
	defer stop()

	if err := w.AddStoreRoot(reg); err != nil {
		return fail(err)
	}
	for i := range clo.Paths {
		p := &clo.Paths[i]
		name := strings.TrimPrefix(p.Path, clo.StoreDir+"/")
		if cfg.Cache != nil {
			seg, err := placeFromCache(w, cfg.Cache, key(p), p.Path, logf)
			if err != nil {
				return fail(err)
			}
			if seg != nil {
				res.CachedPaths++
				for _, e := range seg.Entries {
					res.CachedBytes += e.Size
				}
				prog.add(int64(p.NarSize))
				continue
			}
			pendingMu.Lock()
			pending[name] = p
			pendingMu.Unlock()
		}
		if err := w.AddStorePath(p.Path); err != nil {
			return fail(err)
		}
	}
	if err := w.Close(); err != nil {
		return 0, err
	}
	in, _ := w.Stats()
	res.BytesIn = in + res.CachedBytes
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// placeFromCache places the cached segment of the store path p, if the cache has a sound one
// that fits the image so far, and returns it; nil means the store path must be compressed.
func placeFromCache(w *squash.Writer, c *Cache, k cacheKey, p string, logf func(string, ...any)) (*squash.Segment, error) {
	seg, data, ok := c.lookup(k, p)
	if !ok {
		return nil, nil
	}
	if err := w.CheckSegment(seg); err != nil {
		// Stored by a build whose earlier store paths held other contents.
		data.Close()
		logf("cache: %s: %v; compressing it again", p, err)
		return nil, nil
	}
	if err := w.AddSegment(seg, data); err != nil {
		return nil, err
	}
	return seg, nil
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
