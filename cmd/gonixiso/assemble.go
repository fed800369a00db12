package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/gonixiso/gonixiso"
	"github.com/gonixiso/gonixiso/boot"
	"github.com/gonixiso/gonixiso/cache"
	"github.com/gonixiso/gonixiso/closure"
	"github.com/gonixiso/gonixiso/spec"
	"github.com/gonixiso/gonixiso/squash"
)

// imageFlags are the options of assemble and build: iso-image.nix's, with nixpkgs' defaults.
func imageFlags() []cli.Flag {
	return []cli.Flag{
		verboseFlag, quietFlag,
		&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "the ISO to write (default: nixos-<label>-<system>.iso, as nixpkgs names it)"},
		&cli.StringSliceFlag{Name: "extra-path", Usage: "also carry this store path and its closure (isoImage.storeContents; repeatable)"},
		&cli.StringFlag{Name: "volume-id", Usage: "the ISO's volume id (default: root=LABEL= of the kernel parameters; required for a systemd initrd)"},
		&cli.StringFlag{Name: "comp", Value: "zstd", Usage: "SquashFS compressor: zstd, xz, gzip or lz4, or none for an uncompressed SquashFS (isoImage.squashfsCompression = null)"},
		&cli.StringFlag{Name: "level", Usage: "compression level (default: zstd 19, xz 6, gzip 9, lz4 0); pure-Go zstd has 1, 3, 7 and 11"},
		&cli.StringFlag{Name: "bcj", Usage: "xz branch filters tried per block, comma-separated (default with xz: x86, as nixpkgs' -Xbcj x86; \"none\" for none)"},
		&cli.BoolFlag{Name: "pure-go", Usage: "compress with the pure-Go zstd or xz even when the C libraries are built in"},
		&cli.StringFlag{Name: "block-size", Value: "1M", Usage: "SquashFS block size: 4K to 1M, a power of two"},
		&cli.BoolFlag{Name: "compress", Usage: "write the ISO zstd-compressed (isoImage.compressImage; name it .iso.zst)"},
		&cli.IntFlag{Name: "jobs", Aliases: []string{"j"}, Value: runtime.NumCPU(), Usage: fmt.Sprintf("compressing workers, 1 to %d (the image does not depend on it)", gonixiso.MaxJobs)},
		&cli.StringFlag{Name: "label", Usage: "text after \"<distro> <version>\" in menu entries (isoImage.appendToMenuLabel)", Value: " Installer"},
		&cli.StringFlag{Name: "prepend-label", Usage: "text before \"<distro> <version>\" in menu entries (isoImage.prependToMenuLabel)"},
		&cli.StringFlag{Name: "configuration-name", Usage: "name at the end of the main entry's title (isoImage.configurationName)"},
		&cli.IntFlag{Name: "timeout", Value: boot.DefaultTimeout, Usage: "seconds before the default entry boots; -1 waits for a choice"},
		&cli.StringFlag{Name: "default-entry", Usage: "specialisation booted when the timeout runs out (default: the main configuration)"},
		&cli.BoolFlag{Name: "no-bios", Usage: "no BIOS boot: no isolinux, no isohybrid MBR (isoImage.makeBiosBootable = false)"},
		&cli.BoolFlag{Name: "no-uefi", Usage: "no UEFI boot: no GRUB, no EFI system partition (isoImage.makeEfiBootable = false)"},
		&cli.BoolFlag{Name: "no-usb", Usage: "no isohybrid MBR and GPT: a CD-only image (isoImage.makeUsbBootable = false)"},
		&cli.StringSliceFlag{Name: "hide", Usage: "leave this configuration out of the menus: main, or a specialisation's name (isoImage.showConfiguration = false; repeatable)"},
		&cli.StringFlag{Name: "grub-theme", Usage: "GRUB theme folder with theme.txt and .pf2 fonts (isoImage.grubTheme)"},
		&cli.BoolFlag{Name: "no-sandbox", Usage: "run the closure's grub-mkimage as yourself, not in a sandbox that sees only the store (for machines without user namespaces)"},
		&cli.BoolFlag{Name: "force", Usage: "pack a system that cannot boot live from this ISO anyway (no root=LABEL= of the volume id), with a warning"},
		&cli.BoolFlag{Name: "no-serial", Usage: "keep GRUB's menu off the serial line, as nixpkgs has it"},
		&cli.BoolFlag{Name: "text-mode", Usage: "start GRUB's menu in text mode (isoImage.forceTextMode)"},
		&cli.StringFlag{Name: "splash", Usage: "PNG shown behind the isolinux menu (isoImage.splashImage)"},
		&cli.StringFlag{Name: "efi-splash", Usage: "PNG shown behind the GRUB menu (isoImage.efiSplashImage)"},
		&cli.StringFlag{Name: "syslinux", Usage: "folder laid out like ${syslinux}/share/syslinux (default: from the closure)"},
		&cli.StringFlag{Name: "grub", Usage: "grub2_efi prefix with bin/grub-mkimage and lib/grub/x86_64-efi (default: from the closure)"},
		&cli.BoolFlag{Name: "host-bootloaders", Usage: "take this machine's syslinux and GRUB (Debian's packages) where the closure has none"},
		&cli.StringFlag{Name: "source-date-epoch", Usage: "seconds since 1970 for every date in the image (default: $SOURCE_DATE_EPOCH, else 315532800 as NixOS)"},
		&cli.StringFlag{Name: "store-dir", Value: closure.DefaultStoreDir, Usage: "the store directory store paths are named by"},
		&cli.StringFlag{Name: "store-root", Usage: "read the store from this folder, as `nix --store ROOT` keeps a chroot store (ROOT/nix/store/...)"},
		&cli.StringFlag{Name: "closure-source", Value: "auto", Usage: "where hashes and references come from: auto, db, cli or scan"},
		&cli.StringFlag{Name: "nix-db", Usage: "the Nix database (default " + closure.DefaultDBPath + ")"},
		&cli.StringFlag{Name: "cache", Usage: "keep each store path's compressed data here for later builds (default: $XDG_CACHE_HOME/gonixiso); `nix` to have Nix build or substitute each store path's segment as a derivation, or a binary cache URL (file://, s3://, ssh://, https://) to also fetch them from it and copy them to it"},
		&cli.StringFlag{Name: "nix-gonixiso", Usage: "with --cache nix or a URL: the gonixiso package's store path, which the segment derivations run (default: this gonixiso, if it is in the store)"},
		&cli.BoolFlag{Name: "no-cache", Usage: "neither use nor fill the cache"},
		&cli.BoolFlag{Name: "check", Usage: "build a second time (without the cache if the first used it, else from it; with other worker counts) and fail if the bytes differ"},
	}
}

func assembleCommand() *cli.Command {
	return &cli.Command{
		Name:      "assemble",
		Usage:     "turn a built NixOS toplevel into a bootable hybrid ISO",
		UsageText: "gonixiso assemble --spec ./result [options]\n   gonixiso assemble --toplevel ./result [-o nixos.iso] [options]",
		Description: "Packs the toplevel's store closure into a SquashFS, renders the isolinux and GRUB menus\n" +
			"from its bootspec, builds the EFI system partition, and lays out an ISO that boots from CD\n" +
			"and USB stick in BIOS and UEFI mode, as nixpkgs' iso-image.nix does with mksquashfs and\n" +
			"xorriso. The output appears only when complete.",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "toplevel", Aliases: []string{"t"}, Usage: "the system: a result link, a store path, or a path inside one"},
			&cli.StringFlag{Name: "spec", Usage: "an ISO spec (config.system.build.gonixiso of gonixiso's NixOS module): its values, each flag given overriding its own"},
		}, imageFlags()...),
		OnUsageError: usageError,
		Action: func(c *cli.Context) error {
			top, specFile := c.String("toplevel"), c.String("spec")
			switch {
			case top != "" && specFile != "":
				return &exitError{exitFailure, errors.New("--toplevel and --spec exclude each other: a spec names its toplevel")}
			case specFile != "":
				s, err := readSpec(specFile)
				if err != nil {
					return &exitError{exitFailure, err}
				}
				return runAssemble(c, "", s)
			case top == "":
				return &exitError{exitFailure, errors.New("assemble needs --spec or --toplevel (see gonixiso assemble --help)")}
			}
			return runAssemble(c, top, nil)
		},
	}
}

// runAssemble assembles top with the command's flags, showing progress and a summary.
func runAssemble(c *cli.Context, top string, s *spec.Spec) error {
	cfg, overrides, err := configFromFlags(c, top, s)
	if err != nil {
		return &exitError{exitFailure, err}
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	out := newReporter(c)
	if out.verbose {
		cfg.Log = func(format string, args ...any) {
			fmt.Fprintf(out.w, "gonixiso: "+format+"\n", args...)
		}
	}
	if v := c.String("cache"); v == "nix" || strings.Contains(v, "://") {
		if c.Bool("no-cache") {
			return &exitError{exitFailure, errors.New("--cache and --no-cache exclude each other")}
		}
		nc, err := nixCache(c, v)
		if err != nil {
			return &exitError{exitFailure, err}
		}
		cfg.NixCache = nc
	} else if !c.Bool("no-cache") {
		warn := func(format string, args ...any) { fmt.Fprintf(out.w, "gonixiso: "+format+"\n", args...) }
		// A cache that cannot be used is worth a warning, never a failed build.
		cc, err := cache.Open(c.String("cache"), warn)
		if err == nil {
			err = cc.Prepare()
		}
		if err != nil {
			warn("%v; building without the cache", err)
		} else {
			cfg.Cache = cc
		}
	} else if c.String("cache") != "" {
		return &exitError{exitFailure, errors.New("--cache and --no-cache exclude each other")}
	}
	if len(overrides) > 0 && !out.quiet {
		fmt.Fprintf(out.w, "gonixiso: flags over the spec: %s\n", strings.Join(overrides, ", "))
	}
	res, err := assembleOnce(ctx, cfg, out)
	if err != nil {
		return err
	}
	out.summary(res, overrides)
	if c.Bool("check") {
		return checkRebuild(ctx, cfg, res, out)
	}
	return nil
}

func assembleOnce(ctx context.Context, cfg gonixiso.Config, out *reporter) (*gonixiso.Result, error) {
	cfg.Progress = &gonixiso.Progress{}
	done := out.showProgress(cfg.Progress)
	res, err := gonixiso.Assemble(ctx, cfg)
	done()
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			return nil, &exitError{exitInterrupted, errors.New("interrupted; the ISO was not written")}
		}
		return nil, err
	}
	return res, nil
}

// checkRebuild builds the image a second time, in the other way (cold if the first build used the
// cache, warm from the cache the first build filled otherwise; another number of workers), and
// fails if the bytes differ, leaving the second image beside the first for gonixiso diff.
func checkRebuild(ctx context.Context, cfg gonixiso.Config, first *gonixiso.Result, out *reporter) error {
	second := cfg
	cfg.Output = first.Output
	second.Output = strings.TrimSuffix(first.Output, ".iso") + ".check.iso"
	how := ""
	switch {
	case cfg.Cache != nil && first.CachedPaths > 0:
		second.Cache = nil
		how = "without the cache"
	case cfg.Cache != nil:
		how = "from the cache"
	default:
		how = "again"
	}
	second.Jobs = 1
	if cfg.Jobs == 1 {
		second.Jobs = 2
	}
	if !out.quiet {
		fmt.Fprintf(out.w, "check: building %s %s, with %d workers\n", second.Output, how, second.Jobs)
	}
	if _, err := assembleOnce(ctx, second, out); err != nil {
		return fmt.Errorf("check: %w", err)
	}
	same, off, err := sameFiles(cfg.Output, second.Output)
	if err != nil {
		return fmt.Errorf("check: %w", err)
	}
	if !same {
		return fmt.Errorf("check: %s and %s differ from byte %d: the build is not reproducible (see gonixiso diff %s %s)",
			cfg.Output, second.Output, off, cfg.Output, second.Output)
	}
	os.Remove(second.Output)
	if !out.quiet {
		fmt.Fprintf(out.w, "check: the second build (%s, %d workers) has the same bytes\n", how, second.Jobs)
	}
	return nil
}

// sameFiles compares two files and returns the first differing offset.
func sameFiles(a, b string) (bool, int64, error) {
	fa, err := os.Open(a)
	if err != nil {
		return false, 0, err
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		return false, 0, err
	}
	defer fb.Close()
	ba, bb := make([]byte, 1<<20), make([]byte, 1<<20)
	var off int64
	for {
		na, ea := io.ReadFull(fa, ba)
		nb, eb := io.ReadFull(fb, bb)
		for i := 0; i < min(na, nb); i++ {
			if ba[i] != bb[i] {
				return false, off + int64(i), nil
			}
		}
		if na != nb {
			return false, off + int64(min(na, nb)), nil
		}
		off += int64(na)
		if ea == io.EOF || ea == io.ErrUnexpectedEOF {
			return eb == io.EOF || eb == io.ErrUnexpectedEOF, off, nil
		}
		if ea != nil {
			return false, off, ea
		}
		if eb != nil {
			return false, off, eb
		}
	}
}

// configFromFlags makes the Config of the command's flags: on top of the spec's, if one is
// given (every flag given overrides its field and is named in overrides), else from the flags
// and their defaults alone. Errors are usage errors.
func configFromFlags(c *cli.Context, top string, s *spec.Spec) (cfg gonixiso.Config, overrides []string, err error) {
	if s != nil {
		if cfg, err = gonixiso.ConfigFromSpec(s, c.String("store-dir")); err != nil {
			return cfg, nil, err
		}
	} else {
		cfg.Toplevel = top
	}
	// gonixiso's own settings, which a spec does not hold.
	cfg.StoreDir, cfg.StoreRoot, cfg.DBPath = c.String("store-dir"), c.String("store-root"), c.String("nix-db")
	cfg.Jobs = c.Int("jobs")
	if cfg.Jobs < 1 || cfg.Jobs > gonixiso.MaxJobs {
		return cfg, nil, fmt.Errorf("--jobs %d: want 1 to %d", cfg.Jobs, gonixiso.MaxJobs)
	}
	if cfg.ClosureSource, err = closure.ParseSource(c.String("closure-source")); err != nil {
		return cfg, nil, err
	}
	if cfg.BlockSize, err = parseSize(c.String("block-size")); err != nil {
		return cfg, nil, fmt.Errorf("--block-size: %w", err)
	}
	epoch := c.String("source-date-epoch")
	if epoch == "" {
		epoch = os.Getenv("SOURCE_DATE_EPOCH")
	}
	if epoch != "" {
		if cfg.Epoch, err = parseEpoch(epoch); err != nil {
			return cfg, nil, err
		}
	}
	b := &cfg.Boot
	b.DefaultEntry = c.String("default-entry")
	b.NoSerial = c.Bool("no-serial")
	b.HostBootloaders = c.Bool("host-bootloaders")

	// The spec's fields: a flag given, or every flag's default without a spec.
	given := func(flags ...string) bool {
		if s == nil {
			return true
		}
		for _, f := range flags {
			if c.IsSet(f) {
				overrides = append(overrides, "--"+f)
				return true
			}
		}
		return false
	}
	hostPath := func(flag string) (string, error) {
		p := c.String(flag)
		if p == "" {
			return "", nil
		}
		abs, err := filepath.Abs(p)
		if err != nil {
			return "", fmt.Errorf("--%s: %w", flag, err)
		}
		return abs, nil
	}
	if given("output") {
		cfg.Output = c.String("output")
	}
	if c.IsSet("extra-path") || s == nil {
		cfg.ExtraPaths = append(cfg.ExtraPaths, c.StringSlice("extra-path")...)
		given("extra-path")
	}
	if given("comp", "level", "bcj", "pure-go") {
		if cfg.Compression, err = compressionFromFlags(c, cfg.Compression, s != nil); err != nil {
			return cfg, nil, err
		}
	}
	if given("compress") {
		cfg.CompressImage = c.Bool("compress")
	}
	if given("volume-id") {
		b.VolumeID = c.String("volume-id")
	}
	if given("timeout") {
		t := c.Int("timeout")
		b.Timeout = &t
	}
	if given("no-bios") {
		b.NoBIOS = c.Bool("no-bios")
	}
	if given("no-uefi") {
		b.NoUEFI = c.Bool("no-uefi")
	}
	if given("prepend-label") {
		b.PrependToMenuLabel = c.String("prepend-label")
	}
	if given("label") {
		label := c.String("label")
		b.AppendToMenuLabel = &label
	}
	if given("configuration-name") {
		// isoImage.configurationName of the main configuration: a specialisation has its own.
		name := c.String("configuration-name")
		if b.Entries == nil {
			b.Entries = map[string]boot.EntryOptions{}
		}
		e := b.Entries[""]
		e.ConfigurationName = &name
		b.Entries[""] = e
	}
	if given("no-usb") {
		b.NoUSB = c.Bool("no-usb")
	}
	if given("hide") {
		for _, name := range c.StringSlice("hide") {
			if name == "main" {
				name = ""
			}
			if b.Entries == nil {
				b.Entries = map[string]boot.EntryOptions{}
			}
			e := b.Entries[name]
			e.Hidden = true
			b.Entries[name] = e
		}
	}
	if given("grub-theme") {
		if cfg.GrubTheme, err = hostPath("grub-theme"); err != nil {
			return cfg, nil, err
		}
	}
	b.AllowNotLive = c.Bool("force")
	cfg.NoSandbox = c.Bool("no-sandbox")
	if given("text-mode") {
		b.ForceTextMode = c.Bool("text-mode")
	}
	for _, f := range []struct {
		flag string
		dst  *string
	}{{"syslinux", &b.Syslinux}, {"grub", &b.Grub}, {"splash", &b.SplashImage}, {"efi-splash", &b.EFISplashImage}} {
		if given(f.flag) {
			if *f.dst, err = hostPath(f.flag); err != nil {
				return cfg, nil, err
			}
		}
	}
	if b.NoBIOS && b.NoUEFI {
		return cfg, nil, errors.New("--no-bios and --no-uefi together leave nothing to boot")
	}
	return cfg, overrides, nil
}

// compressionFromFlags makes the compression of the flags: from the spec's (base) where only
// some are given (--level alone keeps the spec's compressor), from their defaults otherwise.
func compressionFromFlags(c *cli.Context, base squash.Compression, fromSpec bool) (squash.Compression, error) {
	comp := base
	if !fromSpec || c.IsSet("comp") {
		comp = squash.Compression{Algorithm: squash.Algorithm(c.String("comp"))}
	}
	comp.PureGo = c.Bool("pure-go")
	switch comp.Algorithm {
	case squash.Zstd, squash.XZ, squash.Gzip, squash.LZ4, squash.None:
	default:
		return comp, fmt.Errorf("--comp %q: want zstd, xz, gzip, lz4 or none", comp.Algorithm)
	}
	if l := c.String("level"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil {
			return comp, fmt.Errorf("--level %q: want a number", l)
		}
		comp.Level = n
	}
	switch bcj := c.String("bcj"); {
	case bcj == "" && comp.Algorithm == squash.XZ && comp.BCJ == nil && !comp.PureGo && squash.CgoAvailable():
		comp.BCJ = []string{"x86"} // nixpkgs' "xz -Xdict-size 100% -Xbcj x86"
	case bcj == "none":
		comp.BCJ = nil
	case bcj == "":
	default:
		if comp.Algorithm != squash.XZ {
			return comp, fmt.Errorf("--bcj applies to --comp xz only")
		}
		comp.BCJ = strings.Split(bcj, ",")
	}
	if comp.Algorithm != squash.XZ {
		comp.BCJ = nil
	}
	if comp.Algorithm == squash.Zstd && comp.Level == 0 && !comp.PureGo && !squash.CgoAvailable() {
		fmt.Fprintln(c.App.ErrWriter, "gonixiso: this build has no libzstd (no cgo): using pure-Go zstd level 11, not NixOS's 19")
	}
	return comp, nil
}

// parseSize reads a SquashFS block size: "1M", "128K", "131072".
func parseSize(s string) (int, error) {
	n, err := parseBytes(s)
	if err != nil || n == 0 || n > 1<<30 {
		return 0, fmt.Errorf("%q is not a block size", s)
	}
	return int(n), nil
}

// reporter prints progress on a terminal and the summary at the end.
type reporter struct {
	w       io.Writer
	tty     bool
	quiet   bool
	verbose bool
}

func newReporter(c *cli.Context) *reporter {
	r := &reporter{w: c.App.ErrWriter, quiet: globalBool(c, "quiet"), verbose: globalBool(c, "verbose")}
	if f, ok := r.w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		r.tty = true
	}
	return r
}

// showProgress redraws one status line while the work goes on (on a terminal, not with --quiet)
// and returns the function that ends it.
func (r *reporter) showProgress(p *gonixiso.Progress) func() {
	if !r.tty || r.quiet {
		return func() {}
	}
	stop := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				fmt.Fprint(r.w, "\r\x1b[K")
				return
			case <-t.C:
				fmt.Fprintf(r.w, "\r\x1b[K%s", statusLine(p))
			}
		}
	}()
	return func() { close(stop); <-finished }
}

func statusLine(p *gonixiso.Progress) string {
	stage, done, total, elapsed := p.Snapshot()
	line := fmt.Sprintf("%-8s %6.1fs", stage, elapsed.Seconds())
	if total > 0 {
		rate := float64(done) / max(elapsed.Seconds(), 0.001)
		line += fmt.Sprintf("  %s / %s  %s/s", humanBytes(done), humanBytes(total), humanBytes(int64(rate)))
		if done > 0 && done < total && rate > 0 {
			line += fmt.Sprintf("  ETA %s", (time.Duration(float64(total-done)/rate) * time.Second).Round(time.Second))
		}
	}
	return line
}

func (r *reporter) summary(res *gonixiso.Result, overrides []string) {
	if r.quiet {
		return
	}
	size := humanBytes(res.ISOSize)
	if res.CompressedSize > 0 {
		size = fmt.Sprintf("%s, an ISO of %s", humanBytes(res.CompressedSize), size)
	}
	fmt.Fprintf(r.w, "wrote %s (%s, volume id %s)\n", res.Output, size, res.VolumeID)
	if len(overrides) > 0 {
		fmt.Fprintf(r.w, "  the spec's values, but for the flags %s\n", strings.Join(overrides, ", "))
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(r.w, "  warning: %s\n", w)
	}
	fmt.Fprintf(r.w, "  %d store paths of %s (closure from the %s), packed %s into %s: ratio %.2f, %s\n",
		res.StorePaths, filepath.Base(res.Toplevel), res.ClosureSource, humanBytes(res.BytesIn),
		humanBytes(res.SquashFSSize), res.Ratio(), res.Compression)
	if res.CachedPaths > 0 {
		fmt.Fprintf(r.w, "  %d of the store paths (%s) came from the cache\n", res.CachedPaths, humanBytes(res.CachedBytes))
	}
	if res.ReusedBytes > 0 {
		fmt.Fprintf(r.w, "  %s of files the cache had compressed in earlier builds (of earlier versions of their store paths, or interrupted)\n", humanBytes(res.ReusedBytes))
	}
	if res.SegmentsBuilt+res.SegmentsFetched > 0 {
		fmt.Fprintf(r.w, "  segments: Nix built %d and fetched %d\n", res.SegmentsBuilt, res.SegmentsFetched)
	}
	var parts []string
	var total time.Duration
	for _, s := range res.Stages {
		parts = append(parts, fmt.Sprintf("%s %.1fs", s.Name, s.Duration.Seconds()))
		total += s.Duration
	}
	fmt.Fprintf(r.w, "  time: %s; total %.1fs\n", strings.Join(parts, ", "), total.Seconds())
	if len(res.Costliest) > 0 {
		fmt.Fprintf(r.w, "  the %d store paths that cost the SquashFS most (gonixiso inspect --sort size lists all):\n", len(res.Costliest))
		for _, c := range res.Costliest {
			fmt.Fprintf(r.w, "    %9s  %5.1f%%  %s (%s of files)\n", humanBytes(c.Cost), 100*float64(c.Cost)/float64(max(res.SquashFSSize, 1)), c.Path, humanBytes(c.Size))
		}
	}
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// readSpec reads the ISO spec at p (a file, or a result link to one).
func readSpec(p string) (*spec.Spec, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	s, err := spec.Read(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return s, nil
}

// parseEpoch reads a SOURCE_DATE_EPOCH: seconds since 1970.
func parseEpoch(epoch string) (time.Time, error) {
	secs, err := strconv.ParseInt(epoch, 10, 64)
	if err != nil || secs < 0 || secs > 1<<32-1 {
		return time.Time{}, fmt.Errorf("source date epoch %q: want seconds since 1970, 0 to 4294967295", epoch)
	}
	return time.Unix(secs, 0).UTC(), nil
}

// nixCache is the NixCache of --cache nix or --cache URL: the segment derivations run the gonixiso
// of --nix-gonixiso, else this one if it is in the store.
func nixCache(c *cli.Context, v string) (*gonixiso.NixCache, error) {
	nc := &gonixiso.NixCache{Gonixiso: c.String("nix-gonixiso")}
	if v != "nix" {
		nc.URL = v
	}
	if nc.Gonixiso == "" {
		exe, err := os.Executable()
		if err == nil {
			exe, err = filepath.EvalSymlinks(exe)
		}
		if err != nil || filepath.Base(filepath.Dir(exe)) != "bin" || !strings.HasPrefix(exe, closure.DefaultStoreDir+"/") {
			return nil, fmt.Errorf("--cache %s: the segment derivations run a gonixiso of the store, and this one (%s) is not: run gonixiso from its flake (nix run), or name its store path with --nix-gonixiso", v, exe)
		}
		nc.Gonixiso = filepath.Dir(filepath.Dir(exe))
	}
	return nc, nil
}
