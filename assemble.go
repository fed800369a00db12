// Package gonixiso is the assembly pipeline: it turns a built NixOS toplevel into a bootable
// hybrid ISO by way of the format packages, and it is the only package that knows them all.
// Data flows one way: toplevel → closure → boot plan → squash → iso9660 → file.
//
//	res, err := gonixiso.Assemble(ctx, gonixiso.Config{Toplevel: "./result", Output: "nixos.iso"})
//
// The defaults give what nixpkgs' iso-image.nix gives: zstd at level 19 in 1 MiB blocks,
// isolinux and GRUB menus with the specialisations and the Options submenu, an El Torito catalog
// for BIOS and UEFI, and isohybrid MBR and GPT tables.
//
// A toplevel is untrusted input: everything the pipeline reads of it goes through one view of
// the store (closure.FS), which shows the store paths of its closure, their symlinks followed
// within the store, and the host files the caller named; a bootspec naming a host file is an
// error. Reading images back (inspect, diff, manifest) is package liveiso's.
package gonixiso

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/gonixiso/gonixiso/boot"
	"github.com/gonixiso/gonixiso/cache"
	"github.com/gonixiso/gonixiso/closure"
	"github.com/gonixiso/gonixiso/squash"
)

// DefaultEpoch is nixpkgs' SOURCE_DATE_EPOCH, 1980-01-01T00:00:00Z: every date in an image
// when neither Config.Epoch nor the environment gives one.
var DefaultEpoch = boot.DefaultEpoch

// MaxJobs bounds Config.Jobs: each worker holds a few blocks, so a mistyped -j 100000 would
// take gigabytes for nothing.
const MaxJobs = 1024

// Config says what to assemble and how. The zero value of every field but Toplevel and Output
// means nixpkgs' default; Assemble resolves every default in one place (normalise).
type Config struct {
	// Toplevel is the system: a result link, a store path, or a path inside one.
	Toplevel string
	// ExtraPaths are more store paths whose closures the image carries
	// (isoImage.storeContents).
	ExtraPaths []string
	// Output is the ISO file to write, or a symlink to where it goes; "" means nixpkgs' name,
	// nixos-<label>-<system>.iso, in the current folder (DefaultOutput). It appears only when
	// complete; it may not be in the store, nor be anything but a regular file.
	Output string
	// StoreDir is the store directory store paths are named by (default /nix/store);
	// StoreRoot, if set, is where that store is on this machine, as `nix --store ROOT` keeps a
	// chroot store (closure.Store). Every file of the system is read through them.
	StoreDir, StoreRoot string
	// ClosureSource picks where the closure's hashes and references come from (default: the
	// Nix database, then `nix path-info`, then a native scan); DBPath overrides the database.
	ClosureSource closure.Source
	DBPath        string
	// ClosureInfo, if set, is a file of path information the closure comes from
	// (closure.SourceInfo): a derivation's .attrs.json with exportReferencesGraph.closure, where
	// a build in Nix's sandbox has no database.
	ClosureInfo string
	// Compression and BlockSize shape the SquashFS (default zstd 19, 1 MiB).
	Compression squash.Compression
	BlockSize   int
	// Jobs is the number of compressing workers (default: one per core; at most MaxJobs). The
	// image does not depend on it.
	Jobs int
	// Epoch is every date in the image (SOURCE_DATE_EPOCH); zero means DefaultEpoch.
	Epoch time.Time
	// Boot holds the menus' and bootloaders' options (volume id, timeout, default entry,
	// BIOS/UEFI switches, labels, bootloader folders). Its Time and StorePaths are set here.
	// The files it names (Syslinux, Grub, the splash images) are the caller's: they are read
	// even when they are not in the closure.
	Boot boot.Options
	// Progress, if set, is updated as the work goes on.
	Progress *Progress
	// Log, if set, receives a line at each step (for --verbose).
	Log func(format string, args ...any)
	// Cache, if set, keeps each store path's compressed data for later builds and gives back
	// what earlier builds kept: a warm build compresses only new store paths, and its bytes
	// equal a cold build's.
	Cache *cache.Cache
	// Contents are files and folders of the store placed on the ISO (isoImage.contents). Their
	// sources must be in the closure of the roots or of BootRoots.
	Contents []Content
	// BootRoots are store paths the ISO's boot files and Contents come from whose closures do
	// not go into the SquashFS: a spec's bootloaders, splash images, theme, memtest86+ and
	// contents. Files of their closures may be read; nothing else beyond the roots' closure.
	BootRoots []string
	// CompressImage writes the ISO zstd-compressed, as isoImage.compressImage does (the Output
	// then names an .iso.zst); the bytes do not depend on Jobs.
	CompressImage bool
	// GrubTheme is a GRUB theme folder (isoImage.grubTheme): in the store, or a host folder the
	// caller names; "" none. It is read into Boot.GrubTheme.
	GrubTheme string
	// NoSandbox runs the programs a system's closure brings (grub-mkimage) as the caller, not in
	// a sandbox that sees only the store (internal/sandbox): for machines without user
	// namespaces. A hostile closure's grub-mkimage could then read any file the caller can.
	NoSandbox bool
	// NixCache, if set, makes Nix the segment cache instead of Cache: each store path's segment
	// is a derivation that Nix substitutes from a binary cache or builds, and that goes to the
	// binary cache after the build (see NixCache). The closure must be known before packing.
	NixCache *NixCache
	// OutputInStore lets Output be in the store, though never in a store path the image is made
	// from: for a derivation that writes its own output ($out), as gonixiso's module's do.
	OutputInStore bool
}

// Content is a file or folder of the store placed on the ISO (an isoImage.contents entry).
type Content struct {
	Source string // a path in the store, by name
	Target string // its path on the ISO
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
	// CompressedSize is the zstd-compressed ISO's size, with Config.CompressImage.
	CompressedSize int64
	// Warnings are what the build went on despite (boot.Plan.Warnings: a system packed with
	// Boot.AllowNotLive).
	Warnings    []string
	CachedPaths int   // store paths placed from the cache
	CachedBytes int64 // their bytes of file contents
	// ReusedBytes are bytes of files compressed by an earlier build (of an earlier version of
	// their store path, or of the path itself by a build that was interrupted in it), whose
	// blocks the cache gave as they were stored.
	ReusedBytes int64
	// Costliest are the store paths that cost the SquashFS the most, most first (five, or
	// fewer in a smaller closure).
	Costliest []PathCost
	// With NixCache: the segment derivations Nix built, and the segments it fetched from a
	// binary cache (the others were in the store).
	SegmentsBuilt, SegmentsFetched int
	Stages                         []Stage
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
	cfg, err := cfg.normalise()
	if err != nil {
		return nil, err
	}
	b := &build{ctx: ctx, cfg: cfg, prog: cfg.Progress, logf: cfg.Log, res: &Result{}}
	defer b.close()
	for _, step := range []struct {
		name string
		run  func() error
	}{
		{"closure", b.readSystem},
		{"boot", b.planBoot},
		{"segments", b.nixSegments},
		{"squashfs", b.writeSquashFS},
		{"iso", b.writeISO},
		{"push", b.pushSegments},
	} {
		if (step.name == "segments" || step.name == "push") && cfg.NixCache == nil {
			continue
		}
		b.logf("%s", step.name)
		start := time.Now()
		if err := step.run(); err != nil {
			return nil, err
		}
		b.res.Stages = append(b.res.Stages, Stage{step.name, time.Since(start)})
	}
	b.prog.begin("done", 0)
	return b.res, nil
}

// normalise checks cfg and resolves its defaults, in this one place: everything after it
// (the image, the ISO's seed, the cache's keys) reads only normalised values.
func (cfg Config) normalise() (Config, error) {
	if cfg.Toplevel == "" {
		return cfg, errors.New("no toplevel given")
	}
	if cfg.NixCache != nil {
		if cfg.Cache != nil {
			return cfg, errors.New("a cache folder and Nix as the cache: one or the other")
		}
		if cfg.NixCache.Gonixiso == "" {
			return cfg, errors.New("Nix as the cache needs the gonixiso package's store path, which the segment derivations run")
		}
	}
	if cfg.StoreDir == "" {
		cfg.StoreDir = closure.DefaultStoreDir
	}
	if cfg.ClosureInfo != "" && cfg.ClosureSource == closure.SourceAuto {
		cfg.ClosureSource = closure.SourceInfo
	}
	if err := cfg.store().Check(); err != nil {
		return cfg, err
	}
	if cfg.Epoch.IsZero() {
		cfg.Epoch = DefaultEpoch
	}
	if cfg.Epoch.Unix() < 0 || cfg.Epoch.Unix() > 1<<32-1 {
		return cfg, fmt.Errorf("source date epoch %d outside 0..2^32-1", cfg.Epoch.Unix())
	}
	if cfg.BlockSize == 0 {
		cfg.BlockSize = squash.DefaultBlockSize
	}
	switch {
	case cfg.Jobs < 0 || cfg.Jobs > MaxJobs:
		return cfg, fmt.Errorf("%d jobs: want 1 to %d", cfg.Jobs, MaxJobs)
	case cfg.Jobs == 0:
		cfg.Jobs = runtime.GOMAXPROCS(0)
	}
	// Workers beyond a few per core only hold blocks: the image is the same with fewer.
	cfg.Jobs = min(cfg.Jobs, 4*runtime.NumCPU())
	if err := cfg.squashOptions().Check(); err != nil {
		return cfg, err
	}
	if cfg.Progress == nil {
		cfg.Progress = &Progress{}
	}
	if cfg.Log == nil {
		cfg.Log = func(string, ...any) {}
	}
	return cfg, nil
}

// store is the store every file of the system is read from.
func (cfg *Config) store() closure.Store {
	return closure.Store{Dir: cfg.StoreDir, Root: cfg.StoreRoot}
}

// squashOptions are the SquashFS writer's options for cfg.
func (cfg *Config) squashOptions() squash.Options {
	return squash.Options{
		BlockSize:   cfg.BlockSize,
		Compression: cfg.Compression,
		Workers:     cfg.Jobs,
		ModTime:     cfg.Epoch.Unix(),
	}
}
