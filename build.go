package gonixiso

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"slices"
	"strings"

	"github.com/gonixiso/gonixiso/boot"
	"github.com/gonixiso/gonixiso/cache"
	"github.com/gonixiso/gonixiso/closure"
	"github.com/gonixiso/gonixiso/closure/nar"
	"github.com/gonixiso/gonixiso/internal/atomicfile"
	"github.com/gonixiso/gonixiso/internal/fsname"
	"github.com/gonixiso/gonixiso/internal/livestore"
	"github.com/gonixiso/gonixiso/internal/sandbox"
	"github.com/gonixiso/gonixiso/internal/zstdfile"
	"github.com/gonixiso/gonixiso/iso9660"
	"github.com/gonixiso/gonixiso/squash"
)

// build is one run of Assemble: its normalised configuration, what each stage found, and the
// files it holds. Its stages run in order: readSystem, planBoot, writeSquashFS, writeISO.
type build struct {
	ctx  context.Context
	cfg  Config
	prog *Progress
	logf func(format string, args ...any)
	res  *Result

	store  closure.Store
	output string      // the file the ISO is renamed to (resolveOutput)
	fsys   *closure.FS // every file of the system is read through it
	// callerPaths are the store paths the caller named in cfg.Boot: read even when not in
	// the closure.
	callerPaths []string
	top         string   // the toplevel's store path
	roots       []string // top, then the extra paths
	sys         *boot.System
	clo         *closure.Closure // nil until known: a native scan learns it while packing
	bootClo     *closure.Closure // the closure of cfg.BootRoots, nil without
	plan        *boot.Plan
	iso         *atomicfile.File     // the temporary ISO beside the output
	isoWriter   *iso9660.Writer      // its layout, open until writeISO
	squashfs    *iso9660.Stream      // the SquashFS, written in place in the ISO
	costs       chan error           // the tally of the SquashFS's costs, while the ISO is laid out
	sc          *segmentCache        // the cache's segments, with Config.Cache
	ahead       func(p string) found // the cache's entry of each store path in turn, looked up ahead
	// The store paths the cache lacks, compressed ahead in a warm build (ahead.go), and what
	// those placed read and reused.
	aheadOf              map[string]chan aheadSegment
	aheadIn, aheadReused int64
	// With Config.NixCache: the segment derivations' outputs, and that the build's cache is
	// theirs (nothing to store in it).
	segments []string
	noStore  bool
	cleanup  []func()
}

func (b *build) close() {
	b.waitCosts()
	if b.iso != nil {
		b.iso.Abandon()
	}
	for _, f := range b.cleanup {
		f()
	}
	if b.fsys != nil {
		b.fsys.Close()
	}
}

// readSystem resolves the output and the toplevel, finds the closure where the Nix database or
// CLI knows it, and reads the system's boot configuration, all through one view of the store.
func (b *build) readSystem() error {
	b.prog.begin("closure", 0)
	if err := b.resolveRoots(); err != nil {
		return err
	}
	var err error
	if b.clo, err = b.knownClosure(); err != nil {
		return err
	}
	if b.clo != nil {
		b.logf("closure of %s: %d store paths from the %s", b.top, len(b.clo.Paths), b.clo.Source)
	} else {
		b.logf("closure of %s: found by reading the store paths as they are packed", b.top)
	}

	if len(b.cfg.BootRoots) > 0 {
		if b.bootClo, err = b.closureOf(b.cfg.BootRoots); err != nil {
			return fmt.Errorf("closure of the boot files' store paths: %w", err)
		}
	}

	// The view: the closure's store paths once known (until then any store path, checked
	// against the closure when it is known: verifyReads), the boot roots' closure, and what
	// the caller named.
	allow := func(sp string) bool { return b.clo == nil || b.allowed(sp) }
	if b.fsys, err = b.store.FS(allow); err != nil {
		return err
	}
	bo := &b.cfg.Boot
	for _, p := range []string{bo.Syslinux, bo.Grub, bo.SplashImage, bo.EFISplashImage, b.cfg.GrubTheme} {
		if p == "" {
			continue
		}
		if sp, ok := b.store.StorePathOf(p); ok {
			b.callerPaths = append(b.callerPaths, sp)
		} else {
			b.fsys.Trust(p)
		}
	}
	if bo.HostBootloaders {
		b.fsys.Trust(boot.HostBootloaderPaths()...)
	}
	if b.sys, err = boot.ReadSystem(b.fsys, b.top); err != nil {
		return err
	}
	out := b.cfg.Output
	if out == "" {
		out = DefaultOutput(b.sys)
	}
	if b.output, err = resolveOutput(out, b.store, b.cfg.OutputInStore); err != nil {
		return err
	}
	if sp, ok := b.store.StorePathOf(b.output); ok && (b.clo == nil || b.allowed(sp) || slices.Contains(b.roots, sp)) {
		// Only a derivation's own output may be written in the store (OutputInStore), and only
		// where nothing the image is made from is.
		return fmt.Errorf("output %s: inside %s, which the image is made from", out, sp)
	}
	b.res.Output = out
	if stale, err := atomicfile.CleanStale(b.output); err == nil && len(stale) > 0 {
		b.logf("removed %d temporary files that an interrupted run left: %s", len(stale), strings.Join(stale, ", "))
	}
	if b.cfg.NixCache == nil {
		// The cache holds what it will hold: its entries are checked while the boot files
		// are made. (With Nix's cache, the segment derivations fill it first.)
		return b.openCache()
	}
	return nil
}

// openCache opens the segment cache, if the build has one, and starts looking up and checking
// the entries of a closure known beforehand, in the order the SquashFS takes its store paths.
func (b *build) openCache() error {
	if b.cfg.Cache == nil || b.sc != nil {
		return nil
	}
	sc, err := newSegmentCache(b.cfg.Cache, b.cfg.squashOptions(), b.logf)
	if err != nil {
		return err
	}
	b.sc = sc
	if b.clo != nil {
		next, stop := sc.lookAhead(b.ctx, b.clo, b.store.Real, b.cfg.Jobs)
		b.ahead = next
		b.cleanup = append(b.cleanup, stop)
		if !b.noStore {
			b.compressAhead(b.ctx, sc)
		}
	}
	return nil
}

// DefaultOutput names a system's ISO as nixpkgs does (image.fileName's default without an
// edition): nixos-<label>-<system>.iso, in the current folder.
func DefaultOutput(sys *boot.System) string {
	platform := sys.Platform
	if platform == "" {
		platform = "x86_64-linux"
	}
	return fmt.Sprintf("nixos-%s-%s.iso", sys.Label, platform)
}

// allowed tells whether files of the store path sp may be read: it is in the closure, in the
// boot roots' closure, or named by the caller.
func (b *build) allowed(sp string) bool {
	for _, c := range []*closure.Closure{b.clo, b.bootClo} {
		if c != nil {
			if _, ok := c.Lookup(sp); ok {
				return true
			}
		}
	}
	return slices.Contains(b.callerPaths, sp)
}

// closureOf returns the closure of roots that are not packed: from the Nix database or CLI as
// the configuration says, else a native scan of them alone (a few small store paths).
func (b *build) closureOf(roots []string) (*closure.Closure, error) {
	var resolved []string
	for _, r := range roots {
		sp, err := b.store.Resolve(r)
		if err != nil {
			return nil, err
		}
		resolved = append(resolved, sp)
	}
	opts := closure.Options{Store: b.store, Source: b.cfg.ClosureSource, DBPath: b.cfg.DBPath, Jobs: b.cfg.Jobs, InfoFile: b.cfg.ClosureInfo}
	return closure.Compute(b.ctx, resolved, opts)
}

// knownClosure returns the closure of the roots from the Nix database or `nix path-info`, as
// the configuration's source says; nil for a native scan, which writeSquashFS does as it packs.
// resolveRoots finds the toplevel's and the extra paths' store paths: the image's roots.
func (b *build) resolveRoots() error {
	b.store = b.cfg.store()
	var err error
	if b.top, err = b.store.Resolve(b.cfg.Toplevel); err != nil {
		return err
	}
	b.res.Toplevel = b.top
	b.roots = []string{b.top}
	for _, p := range b.cfg.ExtraPaths {
		r, err := b.store.Resolve(p)
		if err != nil {
			return fmt.Errorf("extra path: %w", err)
		}
		b.roots = append(b.roots, r)
	}
	return nil
}

func (b *build) knownClosure() (*closure.Closure, error) {
	opts := closure.Options{Store: b.store, Source: b.cfg.ClosureSource, DBPath: b.cfg.DBPath, Jobs: b.cfg.Jobs, InfoFile: b.cfg.ClosureInfo}
	switch b.cfg.ClosureSource {
	case closure.SourceScan:
		return nil, nil
	case closure.SourceAuto:
		for _, src := range []closure.Source{closure.SourceDB, closure.SourceCLI} {
			opts.Source = src
			clo, err := closure.Compute(b.ctx, b.roots, opts)
			if err == nil {
				return clo, nil
			}
			if b.ctx.Err() != nil {
				return nil, err
			}
			b.logf("closure: no answer from the %s: %v", src, err)
		}
		return nil, nil
	}
	return closure.Compute(b.ctx, b.roots, opts)
}

// planBoot renders the menus, finds the bootloaders and builds the EFI system partition,
// before any compression: a bad option or a missing bootloader fails at once.
func (b *build) planBoot() error {
	b.prog.begin("boot", 0)
	bopts := b.cfg.Boot
	bopts.Time = b.cfg.Epoch
	if !b.cfg.NoSandbox {
		bopts.Run = b.runTool
	}
	bopts.Memo = b.memo
	if b.clo != nil {
		for _, p := range b.clo.Paths {
			bopts.StorePaths = append(bopts.StorePaths, p.Path)
		}
	}
	var err error
	if b.cfg.GrubTheme != "" {
		if bopts.GrubTheme, err = boot.ReadGrubTheme(b.fsys, b.cfg.GrubTheme); err != nil {
			return err
		}
	}
	if b.plan, err = boot.NewPlan(b.ctx, b.fsys, b.sys, bopts); err != nil {
		return err
	}
	b.res.VolumeID = b.plan.VolumeID
	b.res.Warnings = b.plan.Warnings
	for _, w := range b.plan.Warnings {
		b.logf("boot: %s", w)
	}
	l := b.plan.Loaders
	b.logf("boot: volume id %s; syslinux from the %s (%s), GRUB from the %s (%s)", b.plan.VolumeID,
		l.SyslinuxFrom, l.SyslinuxDir, l.GrubFrom, l.GrubMkimage)
	return nil
}

// memo keeps a boot step's result (grub-mkimage's image: 0.2 s before anything else of a
// build can start) in the cache, under its other inputs and the NAR hashes of the store paths
// it is made from, which the closure from Nix's database gives; without them it makes it.
func (b *build) memo(paths []string, key string, produce func() ([]byte, error)) ([]byte, error) {
	c := b.cfg.Cache
	if c == nil || b.clo == nil {
		return produce()
	}
	parts := []string{"gonixiso boot memo v1", key}
	for _, p := range paths {
		sp, ok := b.store.StorePathOf(p)
		if !ok {
			return produce()
		}
		info, ok := b.clo.Lookup(sp)
		if !ok || info.NarHash == (closure.Hash{}) {
			return produce()
		}
		parts = append(parts, p, info.NarHash.String())
	}
	k := cache.KeyOf(parts...)
	if e, ok := c.Get(k); ok {
		e.Close()
		b.logf("boot: %s from the cache", path.Base(paths[0]))
		return e.Desc, nil
	}
	data, err := produce()
	if err == nil && !b.noStore {
		if err := c.Put(k, data, nil, nil); err != nil {
			c.Warnf("%v", err)
		}
	}
	return data, err
}

// offerEarlier offers w the compressed blocks that the cache holds of the store path p: what an
// interrupted build had compressed of it, and its earlier version's, for the files this one did
// not change. It returns what to call once p is added (the entries are read while it is).
func (b *build) offerEarlier(w *squash.Writer, sc *segmentCache, p string) (done func()) {
	var closers []io.Closer
	for _, of := range []struct {
		what   string
		lookup func(string) (*squash.Segment, io.ReaderAt, io.Closer, bool)
	}{{"what an interrupted build compressed of it", sc.unfinished}, {"its earlier version", sc.earlier}} {
		seg, data, c, ok := of.lookup(p)
		if !ok {
			continue
		}
		closers = append(closers, c)
		if err := w.Reuse(seg, data); err != nil {
			b.logf("cache: %s: not reusing the blocks of %s: %v", p, of.what, err)
		} else if seg.Unfinished {
			b.logf("cache: %s: reusing the blocks of %d files and %d fragment blocks an interrupted build compressed", p, len(seg.Entries)-1, len(seg.Fragments))
		}
	}
	return func() {
		for _, c := range closers {
			c.Close()
		}
	}
}

// runTool runs a program boot needs (grub-mkimage): one of the store in a sandbox that sees only
// the store and its work folder (a system's closure brings it, and gonixiso often runs as root);
// one the caller named on this machine (--grub, --host-bootloaders) as it is.
func (b *build) runTool(ctx context.Context, prog string, args []string, dir string, stderr io.Writer) error {
	if _, ok := b.store.StorePathOf(prog); ok {
		err := sandbox.Run(ctx, sandbox.Spec{StoreDir: b.store.StoreDir(), StoreReal: b.store.Real(b.store.StoreDir()),
			Work: dir, Prog: prog, Args: args}, nil, stderr)
		if errors.Is(err, sandbox.ErrUnavailable) {
			return fmt.Errorf("%w (--no-sandbox runs it without one)", err)
		}
		return err
	}
	bin, err := b.fsys.HostPath(strings.TrimPrefix(prog, "/"))
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir, cmd.Env, cmd.Stderr = dir, []string{}, stderr
	return cmd.Run()
}

// writeSquashFS packs every store path of the closure of the roots, in a closure.Walk's order,
// each store path a segment of its own (so that the cache can keep and place it), then the
// registration, into a temporary file beside the output. Without a known closure (a native
// scan), it reads each store path once: the SquashFS writer's reads also make the path's NAR
// serialisation, which gives its NAR hash and references.
func (b *build) writeSquashFS() error {
	var narSize int64
	if b.clo != nil {
		narSize = int64(b.clo.NarSize())
	}
	if err := b.openISO(); err != nil {
		return err
	}
	b.prog.begin("squashfs", narSize)
	var err error
	b.logf("SquashFS in %s", b.iso.Name())
	b.logf("SquashFS from byte %d of the ISO", b.squashfs.DataOffset())
	opts := b.cfg.squashOptions()
	opts.Context = b.ctx
	// The segments of the store paths compressed here go to the cache as each ends.
	if err := b.openCache(); err != nil {
		return err
	}
	sc := b.sc
	var st *storer
	if sc != nil && !b.noStore {
		st = sc.newStorer(b.iso.File, b.squashfs.DataOffset(), b.logf)
		defer st.wait()
		opts.OnSegment = func(seg *squash.Segment) error {
			st.segment(seg) // on the writer's consumer goroutine, in order
			return nil
		}
	}
	w, err := squash.NewWriter(b.squashfs, opts)
	if err != nil {
		return err
	}
	b.res.Compression = b.cfg.Compression.String()
	// What a failed writer compressed of the store path it was writing is kept too.
	keep := func() {
		if st != nil {
			sc.keepUnfinished(w, b.store.StoreDir(), b.iso.File, b.squashfs.DataOffset())
		}
	}
	fail := func(err error) error {
		w.Close()
		keep()
		return err
	}
	stop := b.prog.track(w.Stats)
	defer stop()

	if err := livestore.AddRoot(w, b.cfg.Epoch.Unix()); err != nil {
		return fail(err)
	}
	walk := (*closure.Walk)(nil)
	if b.clo != nil {
		walk = b.clo.Walk()
	} else if walk, err = closure.NewWalk(b.roots, b.store); err != nil {
		return fail(err)
	}
	for {
		p, ok := walk.Next()
		if !ok {
			break
		}
		info, placed, err := b.addStorePath(w, walk, sc, p)
		if err != nil {
			return fail(err)
		}
		if !placed && st != nil {
			st.packed(info)
		}
		walk.Report(info)
	}
	if b.clo, err = walk.Closure(); err != nil {
		return fail(err)
	}
	var reg bytes.Buffer
	if err := b.clo.WriteRegistration(&reg); err != nil {
		return fail(err)
	}
	if err := livestore.AddRegistration(w, reg.Bytes(), b.cfg.Epoch.Unix()); err != nil {
		return fail(err)
	}
	if err := w.Close(); err != nil {
		keep()
		return err
	}
	in, _ := w.Stats()
	b.res.BytesIn = in + b.res.CachedBytes + b.aheadIn
	b.res.ReusedBytes = w.Reused() + b.aheadReused
	b.res.SquashFSSize = b.squashfs.Size()
	b.res.StorePaths = len(b.clo.Paths)
	b.res.ClosureSource = b.clo.Source.String()
	b.res.NarSize = int64(b.clo.NarSize())
	if err := b.verifyReads(); err != nil {
		return err
	}
	// The SquashFS is read back for its costs while the ISO stage copies it.
	b.costs = make(chan error, 1)
	go func() { b.costs <- b.tallyCosts() }()
	return nil
}

// addStorePath places the store path p from the cache if it has a sound entry that fits, or
// packs it, and returns its closure entry and whether it came from the cache. For a path of a
// scan, packing also gives its NAR hash and references, from the same reads.
func (b *build) addStorePath(w *squash.Writer, walk *closure.Walk, sc *segmentCache, p string) (closure.Path, bool, error) {
	info, known := walk.Known(p)
	real := b.store.Real(p)
	if sc != nil {
		seg, info, err := b.fromCache(w, walk, sc, p, info, known)
		if err != nil || seg != nil {
			if seg != nil {
				b.res.CachedPaths++
				for _, e := range seg.Entries {
					b.res.CachedBytes += e.Size
				}
				b.prog.add(int64(info.NarSize))
			}
			return info, seg != nil, err
		}
	}
	if placed, err := b.placeAhead(w, p); placed || err != nil {
		if placed {
			b.prog.add(int64(info.NarSize))
		}
		return info, placed, err
	}
	if sc != nil {
		defer b.offerEarlier(w, sc, p)()
	}
	if known {
		return info, false, livestore.AddPath(w, real, nil)
	}
	h := walk.Hasher()
	nw := nar.NewWriter(h)
	if err := livestore.AddPath(w, real, narTee{nw}); err != nil {
		return info, false, err
	}
	if err := nw.Close(); err != nil {
		return info, false, fmt.Errorf("closure: %s: %w", p, err)
	}
	return h.Sum(p), false, nil
}

// fromCache places the cached segment of the store path p if the cache has a sound one that
// fits the image so far, and returns it with p's closure entry; a nil segment means p must be
// packed. A path of a scan, whose NAR hash is not known yet, is looked up by the hash of the
// entry last stored for it, then hashed (its one read) to check that hash.
func (b *build) fromCache(w *squash.Writer, walk *closure.Walk, sc *segmentCache, p string, info closure.Path, known bool) (*squash.Segment, closure.Path, error) {
	hash := info.NarHash
	if !known {
		var ok bool
		if hash, ok = sc.lastHash(p); !ok {
			return nil, info, nil
		}
	}
	var seg *squash.Segment
	var data *os.File
	var ok bool
	if known && b.ahead != nil {
		f := b.ahead(p)
		seg, data, ok = f.seg, f.data, f.seg != nil
	} else {
		seg, data, ok = sc.get(p, hash, b.store.Real(p))
	}
	if !ok {
		return nil, info, nil
	}
	if !known {
		h := walk.Hasher()
		if err := nar.DumpPath(h, b.store.Real(p)); err != nil {
			data.Close()
			return nil, info, fmt.Errorf("closure: %s: %w", p, err)
		}
		if info = h.Sum(p); info.NarHash != hash {
			data.Close()
			b.logf("cache: %s: NAR hash %s, the entry's is %s; compressing it again", p, info.NarHash, hash)
			return nil, closure.Path{}, nil
		}
	}
	if err := w.CheckSegment(seg); err != nil {
		// Stored by a build whose earlier store paths held other contents.
		data.Close()
		b.logf("cache: %s: %v; compressing it again", p, err)
		return nil, closure.Path{}, nil
	}
	if err := w.AddSegment(seg, data); err != nil { // AddSegment closes data
		return nil, info, err
	}
	return seg, info, nil
}

// verifyReads checks, once the closure is known, that every store path the system's files were
// read from is in it (or was named by the caller): until a native scan has found the closure,
// the view admits any store path.
func (b *build) verifyReads() error {
	for _, sp := range b.fsys.Used() {
		if !b.allowed(sp) {
			return fmt.Errorf("%s: %w: the system reads %s, which is not in its closure", b.top, closure.ErrOutsideStore, sp)
		}
	}
	return nil
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

// openISO lays out the ISO from the boot plan, all but the SquashFS, which the next stage
// writes in place (b.squashfs): at its final offset in the ISO's temporary file, so that the ISO
// stage has no copy to make.
func (b *build) openISO() error {
	// The GPT GUIDs and the MBR signature follow the system, as nixpkgs derives them from the
	// ISO's store path: here from the toplevel, the extra paths and the image's settings.
	seed := sha256.New()
	fmt.Fprintf(seed, "gonixiso iso seed v1\x00%s\x00%q\x00%s\x00%d\x00%s\x00", b.top, b.roots,
		b.cfg.Compression, b.cfg.BlockSize, b.plan.VolumeID)
	var err error
	if b.iso, err = atomicfile.Create(b.output, atomicfile.Options{Kind: "iso"}); err != nil {
		return fmt.Errorf("the ISO beside the output: %w", err)
	}
	iw, err := iso9660.NewWriter(b.iso.File, iso9660.Options{
		VolumeID:    b.plan.VolumeID,
		Publisher:   "nixos",
		Application: "nixos",
		ModTime:     b.cfg.Epoch,
		Joliet:      true,
		GUIDSeed:    seed.Sum(nil),
	})
	if err != nil {
		return err
	}
	for i := range b.plan.Files {
		f := &b.plan.Files[i]
		var src iso9660.Source
		if f.Source != "" {
			if src, err = iso9660.FromFile(f.Host); err != nil {
				return err
			}
		} else {
			src = iso9660.FromBytes(f.Data)
		}
		if err := iw.AddFile(f.Path, iso9660.Header{Mode: f.Mode}, src); err != nil {
			return err
		}
	}
	if err := b.addContents(iw); err != nil {
		return err
	}
	pb := b.plan.Boot
	if err := iw.SetBoot(iso9660.Boot{BIOS: pb.BIOSBootFile, Catalog: pb.Catalog, EFI: pb.EFIImage, HybridMBR: pb.HybridMBR}); err != nil {
		return err
	}
	if b.squashfs, err = iw.Stream(boot.SquashFSPath, iso9660.Header{Mode: 0o444}); err != nil {
		return err
	}
	b.isoWriter = iw
	return nil
}

// writeISO completes the ISO around the SquashFS and renames it into place.
func (b *build) writeISO() error {
	b.prog.begin("iso", b.res.SquashFSSize)
	if err := b.ctx.Err(); err != nil {
		return err
	}
	if err := b.isoWriter.Close(); err != nil {
		return err
	}
	fi, err := b.iso.Stat()
	if err != nil {
		return err
	}
	b.res.ISOSize = fi.Size()
	b.prog.add(fi.Size())
	if err := b.waitCosts(); err != nil {
		return err
	}
	if b.cfg.CompressImage {
		return b.compressImage(b.iso)
	}
	return b.iso.Commit(atomicfile.Options{Mode: 0o644})
}

// compressImage writes the ISO in iso zstd-compressed to the output, as isoImage.compressImage
// does, and drops iso.
func (b *build) compressImage(iso *atomicfile.File) error {
	b.logf("compressing the ISO with zstd")
	b.prog.begin("compress", b.res.ISOSize)
	zst, err := atomicfile.Create(b.output, atomicfile.Options{Kind: "zst"})
	if err != nil {
		return err
	}
	defer zst.Abandon()
	src := io.NewSectionReader(iso, 0, b.res.ISOSize)
	if err := zstdfile.Compress(zst, &ctxReader{b.ctx, src}); err != nil {
		return fmt.Errorf("compress the ISO: %w", err)
	}
	if err := zst.Commit(atomicfile.Options{Mode: 0o644}); err != nil {
		return err
	}
	iso.Abandon()
	if fi, err := os.Stat(b.output); err == nil {
		b.res.CompressedSize = fi.Size()
	}
	return nil
}

// ctxReader stops reading when its context is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// addContents places the caller's Contents on the ISO, each read through the view: a file at
// its target, a folder's tree under it (symlinks as symlinks, as xorriso grafts them).
func (b *build) addContents(iw *iso9660.Writer) error {
	for _, c := range b.cfg.Contents {
		target := path.Clean("/" + c.Target)
		root := strings.TrimPrefix(path.Clean(c.Source), "/")
		err := fs.WalkDir(b.fsys, root, func(name string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			dst := target
			if name != root {
				dst = target + "/" + strings.TrimPrefix(name, root+"/")
			}
			fi, err := d.Info()
			if name == root {
				fi, err = b.fsys.Stat(name) // a source that is a link counts as what it leads to
			}
			if err != nil {
				return err
			}
			hdr := iso9660.Header{Mode: fi.Mode().Perm()}
			switch {
			case fi.IsDir():
				return iw.Mkdir(dst, hdr)
			case fi.Mode()&fs.ModeSymlink != 0:
				link, err := b.fsys.ReadLink(name)
				if err != nil {
					return err
				}
				return iw.Symlink(dst, link, hdr)
			case fi.Mode().IsRegular():
				host, err := b.fsys.HostPath(name)
				if err != nil {
					return err
				}
				src, err := iso9660.FromFile(host)
				if err != nil {
					return err
				}
				return iw.AddFile(dst, hdr, src)
			}
			return fmt.Errorf("%s: a %s cannot go on an ISO", "/"+name, fsname.Type(fi.Mode()))
		})
		if err != nil {
			return fmt.Errorf("contents %s → %s: %w", c.Source, c.Target, err)
		}
	}
	return nil
}
