// Command squashbench packs store paths into a SquashFS the way NixOS lays out its live store
// (the registration at the root, each store path a top-level directory, owners root), with
// gonixiso's squash package: the same job as `mksquashfs REG PATHS... -keep-as-directory
// -all-root -no-hardlinks -root-mode 0755`, so scripts/bench-squash can time the two side by
// side on the same inputs.
//
//	squashbench -o OUT -registration FILE [-comp zstd] [-level 19] [-pure-go] [-b 1048576] [-j N] PATH...
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/gonixiso/gonixiso/internal/livestore"
	"github.com/gonixiso/gonixiso/squash"
)

func main() {
	out := flag.String("o", "", "the image to write")
	reg := flag.String("registration", "", "the nix-path-registration to put at the root")
	comp := flag.String("comp", "zstd", "compressor: zstd, xz, gzip, lz4")
	level := flag.Int("level", 0, "compression level (0: the compressor's default)")
	bcj := flag.String("bcj", "", "xz BCJ filter, e.g. x86")
	pureGo := flag.Bool("pure-go", false, "pure-Go zstd or xz")
	bs := flag.Int("b", squash.DefaultBlockSize, "block size")
	jobs := flag.Int("j", runtime.NumCPU(), "workers")
	epoch := flag.Int64("epoch", 315532800, "SOURCE_DATE_EPOCH")
	noDedup := flag.Bool("no-dedup", false, "store identical files again")
	noFrag := flag.Bool("no-fragments", false, "no fragment blocks")
	oneSegment := flag.Bool("one-segment", false, "pack all store paths in one segment (sharing fragment blocks and dedup, as mksquashfs; not cacheable per store path)")
	flag.Parse()
	if *out == "" || *reg == "" || flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*out, *reg, flag.Args(), *oneSegment, squash.Options{
		BlockSize: *bs, Workers: *jobs, ModTime: *epoch, NoDedup: *noDedup, NoFragments: *noFrag,
		Compression: squash.Compression{Algorithm: squash.Algorithm(*comp), Level: *level, PureGo: *pureGo, BCJ: nonEmpty(*bcj)},
	}); err != nil {
		fmt.Fprintln(os.Stderr, "squashbench:", err)
		os.Exit(1)
	}
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

func run(out, regPath string, paths []string, oneSegment bool, opts squash.Options) error {
	reg, err := os.ReadFile(regPath)
	if err != nil {
		return err
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	w, err := squash.NewWriter(f, opts)
	if err != nil {
		return err
	}
	if err := livestore.AddRoot(w, opts.ModTime); err != nil {
		return err
	}
	for _, p := range paths {
		if oneSegment {
			if err := w.AddTree(filepath.Base(p), p, squash.AllRoot, nil); err != nil {
				return err
			}
			continue
		}
		if err := livestore.AddPath(w, p, nil); err != nil {
			return err
		}
	}
	if err := livestore.AddRegistration(w, reg, opts.ModTime); err != nil {
		return err
	}
	return w.Close()
}
