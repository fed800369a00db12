package squash

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/gonixiso/gonixiso/internal/fuzzrecipe"
)

// fuzzSeeds returns small valid images of a tree of every entry type, one per compressor.
func fuzzSeeds(t testing.TB) [][]byte {
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
	for _, args := range [][]string{{"-noI", "-noD", "-noF", "-noX", "-b", "4K"}, {"-comp", "zstd", "-b", "4K"}, {"-comp", "xz", "-Xbcj", "x86", "-b", "8K"}} {
		b, err := os.ReadFile(mksquashfs(t, dir, append(args, "-all-root")...))
		if err != nil {
			t.Fatal(err)
		}
		seeds = append(seeds, b[:binary.LittleEndian.Uint64(b[sbBytesUsed:])])
	}
	return seeds
}

// FuzzReader reads corrupt images: NewReader, Walk, reading every file every way, the fs.FS
// view and Check must return errors, never panic or hang.
//
// An input is a recipe, as gonixiso's FuzzImage has them: a byte that picks one of the seed
// images (and the images under testdata/reader/fuzz-*), then patches (see patchImage), at most
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
		for _, pureGo := range []bool{false, true} {
			r, err := newReader(bytes.NewReader(data), int64(len(data)), pureGo)
			if err != nil {
				return
			}
			exercise(r)
			if r.t.compressorID != compressionXZ {
				return
			}
		}
	})
}

// patchImage builds a fuzz input's image: bases[recipe[0] % len(bases)] patched by the records
// that follow (fuzzrecipe.Patch). Bytes after the first fuzzrecipe.MaxLen are ignored.
func patchImage(bases [][]byte, recipe []byte) []byte {
	if len(recipe) == 0 {
		return bases[0]
	}
	recipe = recipe[:min(len(recipe), fuzzrecipe.MaxLen)]
	return fuzzrecipe.Patch(bases[int(recipe[0])%len(bases)], recipe[1:])
}

// exercise reads everything of an image, every way, ignoring errors.
func exercise(r *Reader) {
	r.Superblock()
	entries := 0
	r.Walk(func(name string, e *Entry) error {
		if entries++; entries > 5000 {
			return fs.SkipAll
		}
		f, err := r.open(e)
		if err != nil {
			return nil
		}
		defer f.Close()
		if e.Mode.IsDir() {
			f.ReadDir(2)
			f.ReadDir(-1)
			return nil
		}
		// A file's contents, at most 1 MiB of them each way: a fuzzed size can be huge.
		io.Copy(io.Discard, io.LimitReader(f, 1<<20))
		var buf [100]byte
		f.ReadAt(buf[:], max(0, e.Size-50))
		f.Seek(0, io.SeekStart)
		f.WriteTo(&limitWriter{n: 1 << 20})
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

// limitWriter takes n bytes, then fails.
type limitWriter struct{ n int }

func (w *limitWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		k := w.n
		w.n = 0
		return k, errors.New("enough")
	}
	w.n -= len(p)
	return len(p), nil
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
