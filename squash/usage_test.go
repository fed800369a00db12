package squash

import (
	"bytes"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// storeTree makes a store-like tree: top-level folders ("store paths") of files that
// compress, files that do not, small files (tails in fragment blocks), symlinks, and a path
// whose files all repeat another's (but, with own, one file). It returns the folder and the
// paths' names, in order.
func storeTree(t testing.TB, own bool) (string, []string) {
	t.Helper()
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	text := func(n int) []byte {
		var b strings.Builder
		for b.Len() < n {
			fmt.Fprintf(&b, "line %d of some text that compresses\n", rng.IntN(1000))
		}
		return []byte(b.String()[:n])
	}
	write := func(p string, data []byte) {
		p = filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string][]byte{
		"bin/tool":         random(3*testBlockSize + 1234),
		"share/doc/README": text(5000),
		"share/small/a":    text(300),
		"share/small/b":    random(700),
		"lib/libx.so":      text(9 * testBlockSize),
	}
	for name, data := range files {
		write("aaaa-first-1.0/"+name, data)
		write("zzzz-copy-1.0/"+name, data) // every file repeats aaaa's
	}
	for i := range 40 {
		write(fmt.Sprintf("mmmm-many-2/share/f%02d", i), text(100+37*i))
	}
	write("mmmm-many-2/share/big", random(2*testBlockSize))
	if err := os.Symlink("../share/big", filepath.Join(dir, "mmmm-many-2/link")); err != nil {
		t.Fatal(err)
	}
	write("nnnn-empty/nothing", nil)
	if own {
		write("zzzz-copy-1.0/extra", random(testBlockSize+10))
	}
	return dir, []string{"aaaa-first-1.0", "mmmm-many-2", "nnnn-empty", "zzzz-copy-1.0"}
}

// registrationName is the registration file of a Nix store image (internal/livestore, which
// this package's own tests cannot import).
const registrationName = "nix-path-registration"

// writeStore writes the tree as gonixiso does a store: root, a segment per path, registration.
func writeStore(t testing.TB, dir string, names []string, opts Options) string {
	t.Helper()
	img := filepath.Join(t.TempDir(), "store.squashfs")
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := NewWriter(f, opts)
	if err != nil {
		t.Fatal(err)
	}
	step := func(err error) {
		t.Helper()
		if err == nil {
			err = w.Flush()
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	step(w.WriteHeader(&Header{Name: ".", Mode: fs.ModeDir | 0o755, ModTime: opts.ModTime}))
	for _, n := range names {
		step(w.AddTree(n, filepath.Join(dir, n), AllRoot, nil))
	}
	reg := []byte("a registration\n")
	if err := w.WriteHeader(&Header{Name: registrationName, Mode: 0o444, ModTime: opts.ModTime, Size: int64(len(reg))}); err != nil {
		t.Fatal(err)
	}
	_, err = w.Write(reg)
	step(err)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return img
}

// usageOf tallies an image by top-level entry ("" for the root).
func usageOf(t testing.TB, r *Reader) *Usage {
	t.Helper()
	tl := r.Tally()
	err := r.Walk(func(name string, e *Entry) error {
		owner, _, _ := strings.Cut(name, "/")
		if name == "." {
			owner = ""
		}
		return tl.Add(owner, e)
	})
	if err != nil {
		t.Fatal(err)
	}
	u, err := tl.Usage()
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// checkSum checks that the owners' bytes and the image-wide parts add up to the image.
func checkSum(t *testing.T, u *Usage) {
	t.Helper()
	sum := u.Superblock + u.Unreferenced + u.Metadata + u.Tables
	for _, o := range u.Owners {
		sum += o.Total()
		if o.Data < 0 || o.Fragments < 0 || o.Inodes < 0 || o.Directories < 0 {
			t.Errorf("negative bytes: %+v", o)
		}
	}
	if sum != u.Size {
		t.Errorf("the parts add up to %d bytes, the image has %d: %+v", sum, u.Size, u)
	}
	if u.Unreferenced < 0 || u.Metadata < 0 || u.Tables <= 0 || u.Superblock < superblockSize {
		t.Errorf("image-wide parts: %+v", u)
	}
}

func TestUsageSegments(t *testing.T) {
	dir, names := storeTree(t, false)
	for _, c := range writerCompressions {
		t.Run(c.name, func(t *testing.T) {
			img := writeStore(t, dir, names, Options{BlockSize: testBlockSize, Compression: c.c, ModTime: 1})
			u := usageOf(t, openImage(t, img, false))
			checkSum(t, u)
			if u.SharedFragmentBlocks != 0 || u.FragmentBlocks == 0 {
				t.Errorf("%d of %d fragment blocks shared: a segment's are its own", u.SharedFragmentBlocks, u.FragmentBlocks)
			}
			if u.Unreferenced != 0 || u.Metadata != 0 {
				t.Errorf("unreferenced data %d, unattributed metadata %d: want none", u.Unreferenced, u.Metadata)
			}
			first, copied := u.Owners["aaaa-first-1.0"], u.Owners["zzzz-copy-1.0"]
			// Its files share the first path's blocks, and its fragment block is the first
			// path's (the same tails, packed the same way).
			if copied.Data != 0 || copied.Fragments != 0 || copied.Inodes == 0 || copied.Directories == 0 ||
				copied.Duplicates != copied.Files || copied.Files != 5 || copied.Stored != 0 || copied.Tails != 0 {
				t.Errorf("a path whose files all repeat another's: %+v; want its metadata only", copied)
			}
			if first.Data == 0 || first.Fragments == 0 || first.Duplicates != 0 {
				t.Errorf("the first of two equal paths: %+v; want its data and tails", first)
			}
			if first.Data+first.Fragments <= 3*testBlockSize {
				t.Errorf("the first path's data, %d bytes, less than its random file's", first.Data+first.Fragments)
			}
			if e := u.Owners["nnnn-empty"]; e.Data+e.Fragments != 0 || e.Metadata() == 0 {
				t.Errorf("a path of an empty file: %+v", e)
			}
			reg := u.Owners[registrationName]
			if reg.Files != 1 || reg.Total() == 0 {
				t.Errorf("the registration: %+v", reg)
			}
			if root := u.Owners[""]; root.Inodes == 0 || root.Directories == 0 {
				t.Errorf("the root: %+v; want its inode and its listing's headers", root)
			}
		})
	}
}

// TestUsageOrder: shared blocks are charged to the path they lie with, whichever path comes
// first by name.
func TestUsageOrder(t *testing.T) {
	dir, _ := storeTree(t, true)
	// The copy first: it holds the data, the path named first repeats it.
	order := []string{"zzzz-copy-1.0", "mmmm-many-2", "aaaa-first-1.0", "nnnn-empty"}
	img := writeStore(t, dir, order, Options{BlockSize: testBlockSize, Compression: Compression{Algorithm: Zstd, Level: 3}, ModTime: 1})
	u := usageOf(t, openImage(t, img, false))
	checkSum(t, u)
	first, copied := u.Owners["aaaa-first-1.0"], u.Owners["zzzz-copy-1.0"]
	// Files with blocks repeat the copy's: the three with full blocks, and share/small/b, random
	// bytes shorter than a block, a block of its own where the trial tells it cannot shrink.
	dups := 3
	if cgoAvailable {
		dups = 4
	}
	if first.Data != 0 || first.Fragments == 0 || first.Duplicates != dups || copied.Data == 0 || copied.Fragments == 0 || copied.Duplicates != 0 {
		t.Errorf("written first: %+v; written second: %+v", copied, first)
	}
}

func TestUsageMksquashfs(t *testing.T) {
	dir, _ := storeTree(t, false)
	for _, v := range mksquashfsVariants {
		t.Run(v.name, func(t *testing.T) {
			img := mksquashfs(t, dir, v.args...)
			u := usageOf(t, openImage(t, img, false))
			checkSum(t, u)
			copied := u.Owners["zzzz-copy-1.0"]
			if u.SharedData == 0 || copied.Data+copied.Fragments != 0 || copied.Duplicates != copied.Files {
				t.Errorf("the copies: %+v, %d shared contents; want them charged to the first", copied, u.SharedData)
			}
			if slices.Contains(v.args, "-no-fragments") != (u.FragmentBlocks == 0) {
				t.Errorf("%d fragment blocks", u.FragmentBlocks)
			}
			t.Logf("%d of %d fragment blocks shared; image-wide: superblock %d, unreferenced %d, metadata %d, tables %d",
				u.SharedFragmentBlocks, u.FragmentBlocks, u.Superblock, u.Unreferenced, u.Metadata, u.Tables)
		})
	}
}

func TestSplit(t *testing.T) {
	for _, c := range []struct {
		total   int64
		weights []int64
		want    []int64
	}{
		{10, []int64{1, 1}, []int64{5, 5}},
		{10, []int64{1, 1, 1}, []int64{4, 3, 3}},
		{7, []int64{0, 5}, []int64{0, 7}},
		{3, []int64{1, 1, 1, 1}, []int64{1, 1, 1, 0}},
		{100, []int64{1, 2, 97}, []int64{1, 2, 97}},
		{8194, []int64{8000, 192}, []int64{8002, 192}},
		{5, []int64{0, 0}, []int64{5, 0}},
	} {
		got := split(c.total, c.weights)
		if !slices.Equal(got, c.want) {
			t.Errorf("split(%d, %v) = %v, want %v", c.total, c.weights, got, c.want)
		}
	}
}

// BenchmarkTally tallies an image of a store's shape: 300 top-level folders of 100 small files
// and 100 symlinks each, and a few files of several blocks, as gonixiso assemble does after
// every build to name the costliest store paths.
func BenchmarkTally(b *testing.B) {
	var img bytes.Buffer
	w, err := NewWriter(&seekBuffer{b: &img}, Options{BlockSize: testBlockSize, Compression: Compression{Algorithm: Gzip, Level: 1}})
	if err != nil {
		b.Fatal(err)
	}
	for p := range 300 {
		for f := range 100 {
			data := fmt.Appendf(nil, "file %d of path %d\n", f, p)
			if f == 0 {
				data = bytes.Repeat(data, 3*testBlockSize/len(data))
			}
			if err := w.WriteHeader(&Header{Name: fmt.Sprintf("p%03d/lib/f%03d", p, f), Mode: 0o444, Size: int64(len(data))}); err != nil {
				b.Fatal(err)
			}
			if _, err := w.Write(data); err != nil {
				b.Fatal(err)
			}
			if err := w.WriteHeader(&Header{Name: fmt.Sprintf("p%03d/bin/l%03d", p, f), Mode: fs.ModeSymlink | 0o777,
				Linkname: fmt.Sprintf("../lib/f%03d", f)}); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Flush(); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	ra := bytes.NewReader(img.Bytes())
	for b.Loop() {
		r, err := NewReader(ra, int64(img.Len()))
		if err != nil {
			b.Fatal(err)
		}
		t := r.Tally()
		err = r.Walk(func(name string, e *Entry) error {
			top, _, _ := strings.Cut(name, "/")
			return t.Add(top, e)
		})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := t.Usage(); err != nil {
			b.Fatal(err)
		}
	}
}
