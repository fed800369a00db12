package squash

import (
	"bytes"
	"encoding/binary"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/gonixiso/gonixiso/internal/fuzzrecipe"
	"github.com/gonixiso/gonixiso/internal/squashcraft"
)

// fuzzTree makes a tree of every entry type, small.
func fuzzTree(t testing.TB) string {
	dir := t.TempDir()
	text := strings.Repeat("some text that compresses\n", 400)
	for name, data := range map[string]string{
		"a": text[:3000], "b": text[:testBlockSize+1000], "c": text[:2*testBlockSize], "d/e": "", "d/f/g": "tail",
	} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("a", filepath.Join(dir, "l")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Setxattr(filepath.Join(dir, "b"), "user.k", []byte("v"), 0); err != nil { // for mksquashfs's xattr tables
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "sparse"), make([]byte, 2*testBlockSize+10), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// fuzzSeeds returns small valid images of a tree of every entry type, one per compressor.
func fuzzSeeds(t testing.TB) [][]byte {
	dir := fuzzTree(t)
	var seeds [][]byte
	for _, c := range []Compression{
		{Algorithm: Zstd, Level: 3}, {Algorithm: Zstd, PureGo: true}, {Algorithm: XZ, Level: 0, BCJ: []string{"x86"}},
		{Algorithm: XZ, PureGo: true}, {Algorithm: Gzip}, {Algorithm: LZ4},
	} {
		for _, nofrag := range []bool{false, true} {
			img := writeImage(t, dir, Options{BlockSize: testBlockSize, Compression: c, ModTime: 1, NoFragments: nofrag})
			b, err := os.ReadFile(img)
			if err != nil {
				t.Fatal(err)
			}
			used := binary.LittleEndian.Uint64(b[sbBytesUsed:])
			seeds = append(seeds, b[:used]) // the padding says nothing
		}
	}
	// Every block stored as it is: mutations then reach inodes and listings, not only the
	// compressed streams around them.
	stored := writeImageWith(t, dir, Compression{Algorithm: Gzip}, func(dst, src []byte) ([]byte, bool, error) { return nil, false, nil })
	b, err := os.ReadFile(stored)
	if err != nil {
		t.Fatal(err)
	}
	seeds = append(seeds, b[:binary.LittleEndian.Uint64(b[sbBytesUsed:])])
	// mksquashfs lays images out its own way, with an export table. (Not xz with 4 KiB
	// blocks: with a BCJ filter it stores a 4 KiB dictionary in the options and compresses
	// metadata with 8 KiB, which the kernel refuses, and Check says so.)
	for _, args := range [][]string{{"-noI", "-noD", "-noF", "-noX", "-b", "4K"}, {"-comp", "zstd", "-b", "4K"},
		{"-comp", "xz", "-Xbcj", "x86", "-b", "8K"}, {"-comp", "lzo", "-b", "4K"}} {
		b, err := os.ReadFile(mksquashfs(t, dir, append(args, "-all-root")...))
		if err != nil {
			t.Fatal(err)
		}
		seeds = append(seeds, b[:binary.LittleEndian.Uint64(b[sbBytesUsed:])])
	}
	return seeds
}

// FuzzReader reads corrupt images: NewReader, Walk, reading every file every way (its blocks,
// storage and data identity too), the fs.FS view and Check must return errors, never panic or
// hang, within small limits (fuzzLimits) and allocating at most fuzzAlloc bytes per input.
//
// An input is a recipe, as gonixiso's FuzzImage has them: a byte that picks one of the seed
// images (the images under testdata/reader/fuzz-*, and the hostile shapes of squashcraft made
// small), then patches (see patchImage), at most
// fuzzrecipe.MaxLen bytes in all. Whole images of kilobytes as inputs made the fuzzer stall: Go's
// minimiser, quadratic in an input's length, spent seconds to a minute on each input that
// found new coverage while no new inputs ran (0 to 2 new inputs a minute; 500 in 30 s with
// minimisation off).
func FuzzReader(f *testing.F) {
	bases := fuzzSeeds(f)
	crashers, _ := filepath.Glob("testdata/reader/fuzz-*")
	for _, p := range crashers {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		bases = append(bases, b)
	}
	// The hostile shapes, small: block lists of zeros, hard links, deep directories, shared
	// fragments (the reader must bound what they cost, not read them).
	for _, s := range squashcraft.Hostile() {
		bases = append(bases, s.Build(100))
	}
	// lzma, which the reader reads and Check refuses.
	lzmaImg, err := os.ReadFile(mksquashfs(f, fuzzTree(f), "-comp", "lzma", "-b", "4K", "-all-root"))
	if err != nil {
		f.Fatal(err)
	}
	bases = append(bases, lzmaImg)
	for i, s := range bases {
		f.Add([]byte{byte(i)})
		// Truncated, and with a flipped bit in each of a few places.
		f.Add(binary.LittleEndian.AppendUint32([]byte{byte(i)}, uint32(len(s)*3/4)))
		for _, at := range []int{sbInodeCount, sbFragmentCount, sbRootInode, len(s) / 3, len(s) / 2, len(s) - 40} {
			f.Add(append(binary.LittleEndian.AppendUint32([]byte{byte(i)}, uint32(at)), 1, s[at]^0x10))
		}
	}
	f.Fuzz(func(t *testing.T, recipe []byte) {
		data := patchImage(bases, recipe)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for _, pureGo := range []bool{false, true} {
			r, err := newReader(bytes.NewReader(data), int64(len(data)), pureGo)
			if err != nil {
				break
			}
			r.SetLimits(fuzzLimits)
			exercise(r)
			if r.t.compressorID != compressionXZ {
				break
			}
		}
		runtime.ReadMemStats(&after)
		if a := after.TotalAlloc - before.TotalAlloc; a > fuzzAlloc {
			t.Fatalf("an image of %d bytes made the reader allocate %d MiB", len(data), a>>20)
		}
	})
}

// fuzzLimits are the limits of the readers of fuzz inputs: small, so that an input is read to
// its limits in a fraction of a second.
var fuzzLimits = Limits{Contents: 64 << 20, Metadata: 16 << 20, EntryBytes: 4 << 20}

// fuzzAlloc bounds what reading an input every way (twice for xz) may allocate in all: what
// the limits let through, decoded into fresh buffers, and the decoders' own.
const fuzzAlloc = 512 << 20

// patchImage builds a fuzz input's image: bases[recipe[0] % len(bases)] patched by the records
// that follow (fuzzrecipe.Patch). Bytes after the first fuzzrecipe.MaxLen are ignored.
func patchImage(bases [][]byte, recipe []byte) []byte {
	if len(recipe) == 0 {
		return bases[0]
	}
	recipe = recipe[:min(len(recipe), fuzzrecipe.MaxLen)]
	return fuzzrecipe.Patch(bases[int(recipe[0])%len(bases)], recipe[1:])
}

// exercise reads everything of an image, every way, ignoring errors (the reader's limits
// bound the work).
func exercise(r *Reader) {
	r.Superblock()
	entries := 0
	r.Walk(func(name string, e *Entry) error {
		entries++
		f, err := r.OpenEntry(e)
		if err != nil {
			return nil
		}
		defer f.Close()
		if e.Mode.IsDir() {
			f.ReadDir(2)
			f.ReadDir(-1)
			return nil
		}
		if e.Mode.IsRegular() {
			r.DataID(e)
			r.Storage(e)
			for _, err := range r.Blocks(e) {
				if err != nil {
					break
				}
			}
		}
		// A file's contents, 1 MiB of them read, then from its end, then all of them.
		io.Copy(io.Discard, io.LimitReader(f, 1<<20))
		var buf [100]byte
		f.ReadAt(buf[:], max(0, e.Size-50))
		f.Seek(0, io.SeekStart)
		f.WriteTo(io.Discard)
		return nil
	})
	fsys := r.FS()
	fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if entries--; entries < 0 {
			return fs.SkipAll
		}
		fs.Stat(fsys, p)
		if d.Type()&fs.ModeSymlink != 0 {
			fsys.(fs.ReadLinkFS).ReadLink(p)
		}
		return nil
	})
	r.Check()
}

// TestFuzzSeedsAreValid keeps the seeds honest: each is an image the reader reads and Check
// accepts, so that fuzzing starts from the paths that matter.
func TestFuzzSeedsAreValid(t *testing.T) {
	for i, s := range fuzzSeeds(t) {
		for _, pureGo := range []bool{false, true} {
			r, err := newReader(bytes.NewReader(s), int64(len(s)), pureGo)
			if err != nil {
				t.Fatalf("seed %d: %v", i, err)
			}
			if err := r.Walk(func(string, *Entry) error { return nil }); err != nil {
				t.Fatalf("seed %d: %v", i, err)
			}
			if err := r.Check(); err != nil {
				t.Fatalf("seed %d: %v", i, err)
			}
		}
	}
}
