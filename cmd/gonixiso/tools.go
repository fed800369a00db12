package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/urfave/cli/v2"

	"github.com/gonixiso/gonixiso/iso9660"
	"github.com/gonixiso/gonixiso/liveiso"
)

// The reproducibility tools: inspect, diff and manifest. They read ISO images (gonixiso's, and
// those xorriso and mksquashfs make for nixpkgs) and print what the root package returns.

var jsonFlag = &cli.BoolFlag{Name: "json", Usage: "print JSON (a stable schema) instead of text"}

var htmlFlag = &cli.StringFlag{Name: "html", Usage: "also write a report to this file: one self-contained HTML page (a treemap " +
	"of the SquashFS by store path, the boot records and menus, a searchable table of the store paths)"}

// writeReport writes an HTML report to name, whole or not at all.
func writeReport(name string, write func(io.Writer) error) error {
	var buf bytes.Buffer
	if err := write(&buf); err != nil {
		return err
	}
	tmp := name + ".tmp"
	if err := os.WriteFile(tmp, buf.Bytes(), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, name); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// isoArgs returns the command's n ISO file arguments, or a usage error.
func isoArgs(c *cli.Context, n int) ([]string, error) {
	args := c.Args().Slice()
	if len(args) != n {
		return nil, &exitError{exitFailure, fmt.Errorf("%s: want %d ISO file%s, got %d (usage: %s)", c.Command.Name, n,
			map[bool]string{true: "s"}[n > 1], len(args), c.Command.UsageText)}
	}
	for _, a := range args {
		if strings.HasPrefix(a, "-") && a != "-" {
			return nil, &exitError{exitFailure, fmt.Errorf("%s: flag %s after the files: put flags first (usage: %s)",
				c.Command.Name, a, c.Command.UsageText)}
		}
	}
	return args, nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func inspectCommand() *cli.Command {
	return &cli.Command{
		Name:         "inspect",
		OnUsageError: usageError,
		Usage:        "describe an ISO image: descriptors, boot records, menus, SquashFS, store paths",
		UsageText:    "gonixiso inspect [--json] [--sort name|size|uncompressed] [--read-limit L] [--html REPORT.html] FILE.iso",
		Description: "Reads the volume descriptors, the El Torito catalog, the MBR and GPT, the isolinux and\n" +
			"GRUB menus, the EFI system partition image, the SquashFS's superblock and compressor, and\n" +
			"every store path with its size, its cost in the SquashFS and its registration (NAR hash\n" +
			"and references). It reads metadata only, and ISOs made by nixpkgs (xorriso and mksquashfs)\n" +
			"as well as gonixiso's.\n\n" +
			"A store path's cost is the compressed bytes it takes in the SquashFS: its files' data\n" +
			"blocks, its share of the fragment blocks holding its files' tails, and its share of the\n" +
			"inode and directory tables (metadata blocks split by the decoded bytes of each path's\n" +
			"records). Contents stored once for files of several paths are charged to the path they lie\n" +
			"with. The costs and the image-wide parts add up to the SquashFS's size exactly, as inspect\n" +
			"shows. They are exact for gonixiso's images, whose blocks each belong to one store path,\n" +
			"and an estimate for mksquashfs's, which packs tails of several paths into one fragment\n" +
			"block; inspect says which.",
		Flags: []cli.Flag{
			jsonFlag,
			&cli.StringFlag{Name: "sort", Value: "name", Usage: "order of the store paths: name, size (cost in the SquashFS, largest first) or uncompressed (bytes of files, largest first)"},
			readLimitFlag,
			htmlFlag,
		},
		Action: func(c *cli.Context) error {
			args, err := isoArgs(c, 1)
			if err != nil {
				return err
			}
			order := c.String("sort")
			if order != "name" && order != "size" && order != "uncompressed" {
				return &exitError{exitFailure, fmt.Errorf("--sort %q: want name, size or uncompressed", order)}
			}
			limits, err := readLimits(c, args)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
			defer stop()
			ins, err := liveiso.Inspect(ctx, args[0], limits)
			if err != nil {
				return limitError(inputError(err))
			}
			switch order {
			case "size":
				sort.SliceStable(ins.StorePaths, func(i, j int) bool { return ins.StorePaths[i].Cost > ins.StorePaths[j].Cost })
			case "uncompressed":
				sort.SliceStable(ins.StorePaths, func(i, j int) bool { return ins.StorePaths[i].Size > ins.StorePaths[j].Size })
			}
			if name := c.String("html"); name != "" {
				if err := writeReport(name, func(w io.Writer) error { return liveiso.WriteInspectionHTML(w, ins) }); err != nil {
					return &exitError{exitFailure, fmt.Errorf("--html: %w", err)}
				}
			}
			if c.Bool("json") {
				return writeJSON(c.App.Writer, ins)
			}
			return printInspection(c.App.Writer, ins)
		},
	}
}

// inputError makes an error about an unreadable input a usage-class error (exit status 2): the
// file is missing, unreadable, or no ISO image.
func inputError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) || errors.Is(err, iso9660.ErrFormat) {
		return &exitError{exitFailure, err}
	}
	return err
}

func printInspection(out io.Writer, ins *liveiso.Inspection) error {
	w := &errWriter{w: out}
	w.printf("%s: %s (%d bytes)\n", ins.File, humanBytes(ins.Size), ins.Size)
	v := ins.Primary
	w.printf("\nPrimary volume descriptor\n")
	t := w.table()
	fmt.Fprintf(t, "  volume id\t%q\n", v.VolumeID)
	fmt.Fprintf(t, "  system id\t%q\n", v.SystemID)
	fmt.Fprintf(t, "  volume set id\t%q\n", v.VolumeSetID)
	fmt.Fprintf(t, "  publisher\t%q\n", v.Publisher)
	fmt.Fprintf(t, "  data preparer\t%q\n", v.Preparer)
	fmt.Fprintf(t, "  application\t%q\n", v.Application)
	fmt.Fprintf(t, "  created\t%s\n", timeText(v.Created))
	fmt.Fprintf(t, "  modified\t%s\n", timeText(v.Modified))
	fmt.Fprintf(t, "  size\t%d sectors of %d bytes\n", v.Sectors, v.BlockSize)
	if ins.Joliet != nil {
		fmt.Fprintf(t, "  joliet\tvolume id %q\n", ins.Joliet.VolumeID)
	} else {
		fmt.Fprintf(t, "  joliet\tnone\n")
	}
	fmt.Fprintf(t, "  rock ridge\t%s\n", yesNo(ins.RockRidge))
	w.flush(t)

	if et := ins.ElTorito; et != nil {
		w.printf("\nEl Torito boot catalog at sector %d %s\n", et.CatalogLBA, et.CatalogPath)
		t := w.table()
		for i, e := range et.Entries {
			fmt.Fprintf(t, "  %d\t%s\t%s\temulation %s\tload %d sectors at segment %#04x\tsector %d\t%s\n", i+1, e.Platform,
				map[bool]string{true: "bootable", false: "not bootable"}[e.Bootable], e.Emulation, e.LoadSectors,
				e.LoadSegment, e.LBA, e.Path)
		}
		w.flush(t)
	} else {
		w.printf("\nNo El Torito boot record\n")
	}
	if m := ins.MBR; m != nil {
		w.printf("\nMBR: disk signature %08x, BIOS boot file at 512-byte sector %d\n", m.DiskSignature, m.BootLBA)
		t := w.table()
		for _, p := range m.Partitions {
			fmt.Fprintf(t, "  %d\t%s\ttype %#02x %s\tstart %d\tsectors %d\t%s\n", p.Index,
				map[bool]string{true: "bootable", false: "-"}[p.Bootable], p.Type, p.TypeName, p.Start, p.Sectors, p.Path)
		}
		w.flush(t)
	}
	if g := ins.GPT; g != nil {
		w.printf("\nGPT: disk %s, %d entries, usable sectors %d-%d, backup header at %d (%s), checksums %s\n",
			g.DiskGUID, g.EntryCount, g.FirstUsableLBA, g.LastUsableLBA, g.AlternateLBA,
			map[bool]string{true: "present", false: "missing"}[g.Backup],
			map[bool]string{true: "valid", false: "INVALID"}[g.HeaderCRCValid && g.EntriesCRCValid])
		t := w.table()
		for _, p := range g.Partitions {
			fmt.Fprintf(t, "  %d\t%q\t%s %s\tsectors %d-%d\tflags %#x\tguid %s\t%s\n", p.Index, p.Name, p.TypeName, p.Type,
				p.FirstLBA, p.LastLBA, p.Flags, p.GUID, p.Path)
		}
		w.flush(t)
	}

	printMenu(w, "isolinux", liveiso.IsolinuxConfig, ins.Boot.Isolinux)
	printMenu(w, "GRUB", liveiso.GrubConfig, ins.Boot.Grub)
	if e := ins.Boot.EFIImage; e != nil {
		w.printf("\nEFI image %s: %s", e.Path, humanBytes(e.Size))
		if e.Error != "" {
			w.printf(", unreadable as FAT: %s\n", e.Error)
		} else {
			w.printf(", %s, label %q, volume id %s, formatter %q\n", e.FAT, e.Label, e.VolumeID, e.OEMName)
			t := w.table()
			for _, f := range e.Files {
				fmt.Fprintf(t, "  %s\t%d\n", escape(f.Path), f.Size)
			}
			w.flush(t)
		}
	}

	if s := ins.SquashFS; s != nil {
		w.printf("\nSquashFS %s: %s\n", s.Path, humanBytes(s.Size))
		t := w.table()
		fmt.Fprintf(t, "  compression\t%s\n", strings.TrimSpace(s.Compression+" "+s.Options.String()))
		fmt.Fprintf(t, "  block size\t%d\n", s.BlockSize)
		fmt.Fprintf(t, "  inodes\t%d\n", s.Inodes)
		fmt.Fprintf(t, "  fragment blocks\t%d\n", s.Fragments)
		fmt.Fprintf(t, "  flags\t%s\n", strings.Join(s.Flags, " "))
		fmt.Fprintf(t, "  bytes used\t%d (%s)\n", s.BytesUsed, humanBytes(s.BytesUsed))
		fmt.Fprintf(t, "  created\t%s\n", timeText(s.ModTime))
		fmt.Fprintf(t, "  contents\t%d files (%s), %d directories, %d symlinks\n", s.Files, humanBytes(s.FileBytes),
			s.Directories, s.Symlinks)
		fmt.Fprintf(t, "  ratio\t%.3f (bytes of files per byte of image)\n", s.Ratio)
		fmt.Fprintf(t, "  registration\t%s\n", map[bool]string{true: "/nix/store/" + liveiso.RegistrationName,
			false: "none"}[s.Registered])
		w.flush(t)

		if k := s.Costs; k != nil {
			printCosts(w, s, len(ins.StorePaths))
		}

		w.printf("\nStore paths: %d (cost: compressed bytes in the SquashFS; size: bytes of files)\n", len(ins.StorePaths))
		t = w.table()
		fmt.Fprintf(t, "  cost\tshare\tdata\tfragments\tmetadata\tsize\tratio\tfiles\tNAR hash\tpath\n")
		for _, p := range ins.StorePaths {
			hash := p.NarHash
			if hash == "" {
				hash = "(not registered)"
			}
			files := fmt.Sprint(p.Files)
			if p.Duplicates > 0 {
				files += fmt.Sprintf(" (%d dup)", p.Duplicates)
			}
			fmt.Fprintf(t, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", humanBytes(p.Cost), percent(p.Cost, s.Size),
				humanBytes(p.CostData), humanBytes(p.CostFragments), humanBytes(p.CostMetadata), humanBytes(p.Size),
				ratio(p.Size, p.Cost), files, hash, escape(p.Path))
		}
		w.flush(t)
	} else {
		w.printf("\nNo SquashFS at %s\n", liveiso.SquashFSPath)
	}
	return w.err
}

// printCosts prints where the SquashFS's bytes go: the store paths' costs and the image-wide
// parts, which add up to its size.
func printCosts(w *errWriter, s *liveiso.SquashFSInfo, paths int) {
	k := s.Costs
	w.printf("\nWhere the SquashFS's %s go: the store paths' costs are %s\n", humanBytes(s.Size), map[bool]string{
		true: "exact", false: "an estimate"}[k.Basis == liveiso.CostExact])
	w.printf("  (%s)\n", k.Why)
	t := w.table()
	line := func(what string, n int64) {
		fmt.Fprintf(t, "  %s\t%s\t%d\t%s\n", what, humanBytes(n), n, percent(n, k.Total))
	}
	line(fmt.Sprintf("%d store paths", paths), k.StorePaths)
	line("registration", k.Registration)
	line("root directory", k.Root)
	line("superblock and options", k.Superblock)
	line("fragment, id, export tables", k.Tables)
	if k.Unreferenced != 0 {
		line("unreferenced data", k.Unreferenced)
	}
	if k.Unattributed != 0 {
		line("unattributed metadata", k.Unattributed)
	}
	line("padding", k.Padding)
	fmt.Fprintf(t, "  total\t%s\t%d\t= the SquashFS's size\n", humanBytes(k.Total), k.Total)
	w.flush(t)
}

// percent says n as a share of total.
func percent(n, total int64) string {
	if total <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(n)/float64(total))
}

// ratio says how many bytes of files each byte of cost holds.
func ratio(size, cost int64) string {
	if cost <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", float64(size)/float64(cost))
}

func printMenu(w *errWriter, name, file string, entries []liveiso.MenuEntry) {
	if entries == nil {
		w.printf("\n%s menu: no %s\n", name, file)
		return
	}
	w.printf("\n%s menu %s: %d entries\n", name, file, len(entries))
	for _, e := range entries {
		where := strings.Join(append(append([]string{}, e.Menu...), e.Label), " > ")
		where = strings.TrimSuffix(where, " > ")
		if where != "" {
			where += "  "
		}
		w.printf("  %s%q\n", where, e.Title)
		if e.Kernel != "" {
			w.printf("      kernel  %s\n", e.Kernel)
		}
		if e.Initrd != "" {
			w.printf("      initrd  %s\n", e.Initrd)
		}
		if e.Params != "" {
			w.printf("      params  %s\n", e.Params)
		}
	}
}

func diffCommand() *cli.Command {
	return &cli.Command{
		Name:         "diff",
		OnUsageError: usageError,
		Usage:        "say how two ISO images differ, from the descriptors down to the files of store paths",
		UsageText:    "gonixiso diff [--json] [--read-limit L] [--html REPORT.html] A.iso B.iso",
		Description: "Compares two ISO images from the top down: volume descriptors and boot records, the\n" +
			"system area, the ISO tree, the boot menus (line by line) and the EFI image, then the\n" +
			"SquashFS: superblock, registration, store paths added and removed, and within the store\n" +
			"paths both hold, the files that differ with the first differing byte. Block lists and\n" +
			"compressed bytes are compared before anything is decompressed, so two 2 GB images that\n" +
			"differ in one file compare in seconds.\n\n" +
			"Exit status: 0 when the files are identical, 1 when they differ, 2 on a usage error or an\n" +
			"input that cannot be read.",
		Flags: []cli.Flag{jsonFlag, readLimitFlag, htmlFlag},
		Action: func(c *cli.Context) error {
			args, err := isoArgs(c, 2)
			if err != nil {
				return err
			}
			limits, err := readLimits(c, args)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
			defer stop()
			rep, err := liveiso.Diff(ctx, args[0], args[1], limits)
			if err != nil {
				return &exitError{exitFailure, limitError(err)}
			}
			if name := c.String("html"); name != "" {
				// The report shows every store path of both images and B's menus: what
				// inspect reads of each.
				var ins [2]*liveiso.Inspection
				for i, a := range args {
					if ins[i], err = liveiso.Inspect(ctx, a, limits); err != nil {
						return &exitError{exitFailure, limitError(err)}
					}
				}
				if err := writeReport(name, func(w io.Writer) error { return liveiso.WriteDiffHTML(w, rep, ins[0], ins[1]) }); err != nil {
					return &exitError{exitFailure, fmt.Errorf("--html: %w", err)}
				}
			}
			switch {
			case c.Bool("json"):
				if err := writeJSON(c.App.Writer, rep); err != nil {
					return &exitError{exitFailure, err}
				}
			case !globalBool(c, "quiet"):
				if err := printDiff(c.App.Writer, rep); err != nil {
					return &exitError{exitFailure, err}
				}
			}
			if !rep.Identical {
				return &exitError{exitDifferent, fmt.Errorf("%s and %s differ (%d differences)", rep.A, rep.B, len(rep.Differences))}
			}
			return nil
		},
	}
}

func printDiff(out io.Writer, rep *liveiso.DiffReport) error {
	w := &errWriter{w: out}
	if rep.Identical {
		w.printf("%s and %s are identical\n", rep.A, rep.B)
		return w.err
	}
	w.printf("--- %s\n+++ %s\n", rep.A, rep.B)
	if z := rep.Sizes; z != nil {
		printSizes(w, z)
	}
	var level liveiso.Level
	for _, d := range rep.Differences {
		if d.Level != level {
			level = d.Level
			w.printf("%s:\n", level)
		}
		lines := strings.Split(d.Message, "\n")
		w.printf("  %s: %s\n", escape(d.Path), lines[0])
		for _, l := range lines[1:] {
			w.printf("      %s\n", l)
		}
	}
	return w.err
}

// printSizes prints how the image's size changed and why: the store paths' cost deltas, largest
// first, then the unchanged paths' and the image-wide parts', which add up to the SquashFS's.
func printSizes(w *errWriter, z *liveiso.SizeDeltas) {
	w.printf("sizes:\n")
	t := w.table()
	fmt.Fprintf(t, "  ISO\t%s → %s\t%s\t(%d → %d bytes)\n", humanBytes(z.ISO.A), humanBytes(z.ISO.B), signedBytes(z.ISO.Delta),
		z.ISO.A, z.ISO.B)
	fmt.Fprintf(t, "  SquashFS\t%s → %s\t%s\t(%d → %d bytes; store paths' costs %s)\n", humanBytes(z.SquashFS.A),
		humanBytes(z.SquashFS.B), signedBytes(z.SquashFS.Delta), z.SquashFS.A, z.SquashFS.B,
		map[bool]string{true: "exact", false: "estimated"}[z.Basis == liveiso.CostExact])
	w.flush(t)
	if len(z.StorePaths) == 0 && z.SquashFS.Delta == 0 {
		return
	}
	t = w.table()
	fmt.Fprintf(t, "  cost\tsize\t\t\n")
	for _, p := range z.StorePaths {
		what := p.Name
		switch {
		case p.Change == "added":
			what += ": " + versionText(p.VersionB) + " added (" + escape(p.B) + ")"
		case p.Change == "removed":
			what += ": " + versionText(p.VersionA) + " removed (" + escape(p.A) + ")"
		case p.A != p.B && p.VersionA != p.VersionB:
			what += ": " + versionText(p.VersionA) + " → " + versionText(p.VersionB) + ", " + entries(p.Files)
		case p.A != p.B:
			what += ": a new hash, " + entries(p.Files)
		default:
			what += ": " + entries(p.Files) + " (" + escape(p.B) + ")"
		}
		fmt.Fprintf(t, "  %s\t%s\t%s\t%s\n", signedBytes(p.Cost.Delta), signedBytes(p.Size.Delta), p.Change, what)
	}
	fmt.Fprintf(t, "  %s\t\t\tunchanged store paths (shares of blocks shared with changed ones, or compressed anew)\n", signedBytes(z.Unchanged.Delta))
	fmt.Fprintf(t, "  %s\t\t\tregistration, root, superblock, tables, padding\n", signedBytes(z.Other.Delta))
	w.flush(t)
}

func entries(n int) string {
	if n == 1 {
		return "1 entry differs"
	}
	return fmt.Sprintf("%d entries differ", n)
}

// versionText says a version as nix store diff-closures does: "ε" for none.
func versionText(v string) string {
	if v == "" {
		return "ε"
	}
	return v
}

// signedBytes says a size delta: "+23 B", "-1.5 MiB", "±0 B".
func signedBytes(n int64) string {
	switch {
	case n < 0:
		return "-" + humanBytes(-n)
	case n == 0:
		return "±0 B"
	}
	return "+" + humanBytes(n)
}

func manifestCommand() *cli.Command {
	return &cli.Command{
		Name:         "manifest",
		OnUsageError: usageError,
		Usage:        "list every file of an ISO image and its SquashFS with mode, size and SHA-256",
		UsageText:    "gonixiso manifest [--json] [--read-limit L] FILE.iso",
		Description: "Lists every entry of the ISO tree and of the SquashFS (under /nix/store, as the booted\n" +
			"system sees them), sorted by path bytewise, for cheap comparison between builds and\n" +
			"machines. Text: one line per entry, tab-separated: path, type, mode (octal), size, and the\n" +
			"SHA-256 of a file, the target of a symlink or \"-\". Paths and targets are escaped the same\n" +
			"way in both forms: a backslash as \\\\, tab and newline as \\t and \\n, other control\n" +
			"characters and bytes that are not UTF-8 as \\xHH.",
		Flags: []cli.Flag{jsonFlag, readLimitFlag},
		Action: func(c *cli.Context) error {
			args, err := isoArgs(c, 1)
			if err != nil {
				return err
			}
			limits, err := readLimits(c, args)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
			defer stop()
			m, err := liveiso.Manifest(ctx, args[0], limits)
			if err != nil {
				return limitError(inputError(err))
			}
			for i := range m {
				m[i].Path, m[i].Target = escape(m[i].Path), escape(m[i].Target)
			}
			if c.Bool("json") {
				return writeJSON(c.App.Writer, m)
			}
			return printManifest(c.App.Writer, m)
		},
	}
}

func printManifest(out io.Writer, m []liveiso.ManifestEntry) error {
	w := &errWriter{w: out}
	for _, e := range m {
		last := "-"
		switch {
		case e.SHA256 != "":
			last = e.SHA256
		case e.Type == "symlink":
			last = e.Target
		}
		w.printf("%s\t%s\t%s\t%d\t%s\n", e.Path, e.Type, e.Mode, e.Size, last)
	}
	return w.err
}

// escape makes a path printable on one line of a tab-separated listing, losslessly: a backslash
// becomes \\, tab and newline \t and \n, other control characters and bytes that are not UTF-8
// \xHH.
func escape(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f || c == '\\' || c >= utf8.RuneSelf {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\n':
			b.WriteString(`\n`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func timeText(t time.Time) string {
	if t.IsZero() {
		return "unset"
	}
	return t.UTC().Format(time.RFC3339)
}

// errWriter keeps the first write error, so that printing can go on unchecked.
type errWriter struct {
	w   io.Writer
	err error
}

func (w *errWriter) printf(format string, args ...any) {
	if w.err == nil {
		_, w.err = fmt.Fprintf(w.w, format, args...)
	}
}

func (w *errWriter) table() *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
}

func (w *errWriter) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	n, err := w.w.Write(p)
	w.err = err
	return n, err
}

func (w *errWriter) flush(t *tabwriter.Writer) {
	if err := t.Flush(); err != nil && w.err == nil {
		w.err = err
	}
}
