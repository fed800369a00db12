package squash_test

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
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"unicode/utf8"

	calebsquashfs "github.com/CalebQ42/squashfs"

	"github.com/gonixiso/gonixiso/internal/testsystem"
	"github.com/gonixiso/gonixiso/internal/testtree"
	"github.com/gonixiso/gonixiso/squash"
)

// pack writes the tree at src into a new image and returns its path.
func pack(t *testing.T, src string, opts squash.Options) string {
	t.Helper()
	img := filepath.Join(t.TempDir(), "image.sqfs")
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := squash.NewWriter(f, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.AddTree(".", src, nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return img
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "TZ=UTC")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// dirSize masks the size column of directories in `unsquashfs -lln` output: a directory's size is
// the length of its listing, which depends on how a writer cuts it into headers.
var dirSize = regexp.MustCompile(`(?m)^(d[-rwxsStT]{9} \d+/\d+ +)\d+`)

// unsquashListing is `unsquashfs -lln` of an image, directory sizes masked.
func unsquashListing(t *testing.T, img string) string {
	t.Helper()
	out := run(t, "unsquashfs", "-lln", img)
	return dirSize.ReplaceAllString(out, "${1}DIR")
}

// findListing describes every entry under root: type and mode, owner, size (not for
// directories), mtime, device numbers, link target.
func findListing(t *testing.T, root string) string {
	t.Helper()
	// Path first, for sorting; SquashFS keeps whole seconds.
	out := run(t, "find", root, "-printf", `%P\001%y %#m %U/%G %s %Ts -> %l\000`)
	lines := strings.Split(strings.TrimSuffix(out, "\x00"), "\x00")
	sort.Strings(lines)
	var b strings.Builder
	for _, l := range lines {
		name, rest, _ := strings.Cut(l, "\x01")
		f := strings.SplitN(rest, " ", 6)
		if f[0] == "d" {
			f[3] = "DIR"
		}
		fmt.Fprintf(&b, "%q %s\n", name, strings.Join(f, " "))
	}
	return b.String()
}

// devNumbers lists major,minor of device nodes under root (find cannot print them).
func devNumbers(t *testing.T, root string) string {
	t.Helper()
	var b strings.Builder
	filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode()&os.ModeDevice != 0 {
			st := fi.Sys().(*syscall.Stat_t)
			rel, _ := filepath.Rel(root, p)
			fmt.Fprintf(&b, "%s %d\n", rel, st.Rdev)
		}
		return nil
	})
	return b.String()
}

// checkImage checks an image of the tree src with real tools: unsquashfs lists what mksquashfs's
// image of the same tree lists; unsquashfs extracts a tree identical to src (contents, types,
// modes, owners, mtimes, link targets, device numbers); CalebQ42/squashfs reads every file.
func checkImage(t *testing.T, img, src, refListing string) {
	t.Helper()
	if refListing != "" {
		if got := unsquashListing(t, img); got != refListing {
			t.Errorf("unsquashfs -lln differs from mksquashfs's image of the same tree:\n%s", diffText(refListing, got))
		}
	}
	out := filepath.Join(t.TempDir(), "x")
	run(t, "unsquashfs", "-no-progress", "-d", out, img)
	diffTrees(t, src, out)
	if a, b := findListing(t, src), findListing(t, out); a != b {
		t.Errorf("extracted tree's metadata differs from the source's:\n%s", diffText(a, b))
	}
	if a, b := devNumbers(t, src), devNumbers(t, out); a != b {
		t.Errorf("device numbers differ:\n%s", diffText(a, b))
	}
	if readSuperblockCompression(t, img) == squash.LZ4 {
		// CalebQ42/squashfs v1.4.1 decodes lz4 as an LZ4 frame, not the raw block that
		// mksquashfs and the kernel use: it cannot read mksquashfs's lz4 images either.
		return
	}
	checkWithCaleb(t, img, src)
}

func readSuperblockCompression(t *testing.T, img string) squash.Algorithm {
	t.Helper()
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	r, err := squash.NewReader(f, fi.Size())
	if err != nil {
		t.Fatal(err)
	}
	return r.Superblock().Compression
}

// checkWithCaleb reads every regular file with github.com/CalebQ42/squashfs v1.4.1 (with its two
// known workarounds: skip empty files, read through a plain io.Reader). In a directory named
// bigdir it reads one file in 50: that reader decompresses a whole fragment block for every
// small file, and all of them are read by unsquashfs and the kernel anyway.
func checkWithCaleb(t *testing.T, img, src string) {
	t.Helper()
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := calebsquashfs.NewReader(f)
	if err != nil {
		t.Fatalf("CalebQ42/squashfs: %v", err)
	}
	files, bigdirSeen := 0, 0
	err = fs.WalkDir(r, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		if !utf8.ValidString(p) {
			return nil // io/fs cannot name it; unsquashfs and the kernel checked it
		}
		if strings.HasPrefix(p, "bigdir/") {
			if bigdirSeen++; bigdirSeen%50 != 1 {
				return nil
			}
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		want, err := os.ReadFile(filepath.Join(src, p))
		if err != nil {
			return err
		}
		if fi.Size() != int64(len(want)) {
			return fmt.Errorf("%s: size %d, want %d", p, fi.Size(), len(want))
		}
		files++
		if fi.Size() == 0 {
			return nil
		}
		sf, err := r.Open(p)
		if err != nil {
			return err
		}
		defer sf.Close()
		h := sha256.New()
		if _, err := io.Copy(h, struct{ io.Reader }{sf}); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		if !bytes.Equal(h.Sum(nil), sha(want)) {
			return fmt.Errorf("%s: contents differ", p)
		}
		return nil
	})
	if err != nil {
		t.Errorf("CalebQ42/squashfs: %v", err)
	}
	if files == 0 {
		t.Errorf("CalebQ42/squashfs found no regular file")
	}
}

// sameSpecial is how diff reports two special files of the same type, which it cannot compare
// (findListing and devNumbers compare them).
var sameSpecial = regexp.MustCompile(`^File .* is a (character special file|block special file|fifo|socket) while file .* is a (character special file|block special file|fifo|socket)$`)

// diffTrees runs diff -r on two trees, symlinks compared as links.
func diffTrees(t *testing.T, a, b string) {
	t.Helper()
	out, err := exec.Command("diff", "-r", "--no-dereference", a, b).CombinedOutput()
	if err == nil {
		return
	}
	var real []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if m := sameSpecial.FindStringSubmatch(l); m != nil && m[1] == m[2] {
			continue
		}
		real = append(real, l)
	}
	if len(real) > 0 {
		t.Errorf("diff -r %s %s:\n%s", a, b, strings.Join(real, "\n"))
	}
}

func sha(b []byte) []byte { s := sha256.Sum256(b); return s[:] }

func diffText(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	var out strings.Builder
	n := 0
	for i := 0; i < max(len(al), len(bl)) && n < 20; i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			fmt.Fprintf(&out, "  line %d:\n    want %q\n    got  %q\n", i+1, x, y)
			n++
		}
	}
	return out.String()
}

// mksquashfsListing is `unsquashfs -lln` of mksquashfs's image of src, the oracle for names,
// modes, owners, sizes, times and link targets.
func mksquashfsListing(t *testing.T, src string, blockSize int) string {
	t.Helper()
	img := filepath.Join(t.TempDir(), "ref.sqfs")
	run(t, "mksquashfs", src, img, "-no-progress", "-quiet", "-comp", "gzip", "-b", fmt.Sprint(blockSize), "-no-xattrs")
	return unsquashListing(t, img)
}

// TestWriterTree packs a tree of every file shape and checks it with unsquashfs, mksquashfs's
// listing, CalebQ42/squashfs and, where the machine allows loop mounts, the kernel.
func TestWriterTree(t *testing.T) {
	testsystem.Require(t, "unsquashfs", "mksquashfs", "diff", "find")
	src := t.TempDir()
	testtree.Make(t, src, testtree.Options{BlockSize: 128 << 10, BigDir: 10000, Devices: true, OddNames: true})
	ref := mksquashfsListing(t, src, 128<<10)
	img := pack(t, src, squash.Options{BlockSize: 128 << 10, ModTime: 315532800,
		Compression: squash.Compression{Algorithm: squash.Zstd, Level: 3, PureGo: true}})
	checkImage(t, img, src, ref)
	mountCheck(t, img, src)
}

// TestWriterCompressors packs the same tree with every compressor and level family.
func TestWriterCompressors(t *testing.T) {
	testsystem.Require(t, "unsquashfs", "mksquashfs")
	src := t.TempDir()
	testtree.Make(t, src, testtree.Options{BlockSize: 64 << 10, BigDir: 300, OddNames: true})
	ref := mksquashfsListing(t, src, 64<<10)
	cases := []squash.Compression{
		{Algorithm: squash.Zstd, Level: 1, PureGo: true},
		{Algorithm: squash.Zstd, Level: 11, PureGo: true},
		{Algorithm: squash.XZ, PureGo: true},
		{Algorithm: squash.Gzip, Level: 6},
		{Algorithm: squash.Gzip},
		{Algorithm: squash.LZ4},
		{Algorithm: squash.LZ4, Level: 1},
	}
	if squash.CgoAvailable() {
		cases = append(cases,
			squash.Compression{Algorithm: squash.Zstd, Level: 19},
			squash.Compression{Algorithm: squash.Zstd, Level: 3},
			squash.Compression{Algorithm: squash.XZ},
			squash.Compression{Algorithm: squash.XZ, Level: 9, BCJ: []string{"x86"}},
		)
	}
	for _, c := range cases {
		t.Run(c.String(), func(t *testing.T) {
			t.Parallel()
			img := pack(t, src, squash.Options{BlockSize: 64 << 10, Compression: c})
			checkImage(t, img, src, ref)
		})
	}
}

// TestWriterNoCompression packs a tree with None, as nixpkgs' isoImage.squashfsCompression =
// null has mksquashfs -no-compression pack it: unsquashfs -s says what it says of mksquashfs's
// image (the compressor id, gzip, and what is stored uncompressed), the superblock's flags of
// compression are mksquashfs's, and unsquashfs, CalebQ42/squashfs and the kernel read the tree.
func TestWriterNoCompression(t *testing.T) {
	testsystem.Require(t, "unsquashfs", "mksquashfs", "diff", "find")
	src := t.TempDir()
	testtree.Make(t, src, testtree.Options{BlockSize: 128 << 10, BigDir: 10000, Devices: true, OddNames: true})
	img := pack(t, src, squash.Options{BlockSize: 128 << 10, ModTime: 315532800,
		Compression: squash.Compression{Algorithm: squash.None}})

	// mksquashfs 4.6 and later take -no-compression: -noI -noD -noF -noX (mksquashfs.c), which
	// older ones take alone. -no-xattrs: the Writer stores none.
	args := []string{"-noI", "-noD", "-noF", "-noX"}
	if help, _ := exec.Command("mksquashfs", "-help").CombinedOutput(); bytes.Contains(help, []byte("-no-compression")) {
		args = []string{"-no-compression"}
	}
	ref := filepath.Join(t.TempDir(), "ref.sqfs")
	run(t, "mksquashfs", append([]string{src, ref, "-no-progress", "-quiet", "-b", "128K", "-no-xattrs"}, args...)...)

	compression := regexp.MustCompile(`(?m)^(Compression|Inodes|Data|Uids/Gids|Fragments|Xattrs) .*$`)
	stat := func(img string) string {
		return strings.Join(compression.FindAllString(run(t, "unsquashfs", "-s", img), -1), "\n")
	}
	if got, want := stat(img), stat(ref); got != want {
		t.Errorf("unsquashfs -s says\n%s\nof the image, and of mksquashfs's\n%s", got, want)
	}
	for _, l := range []string{"Compression gzip", "Inodes are uncompressed", "Data is uncompressed",
		"Fragments are uncompressed", "Uids/Gids (Id table) are uncompressed"} {
		if !strings.Contains(stat(img), l) {
			t.Errorf("unsquashfs -s does not say %q", l)
		}
	}

	// The compression id and the flags of compression, as mksquashfs's superblock has them.
	superblock := func(img string) (id []byte, flags []string) {
		b := make([]byte, 96)
		f, err := os.Open(img)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := io.ReadFull(f, b); err != nil {
			t.Fatal(err)
		}
		fi, err := f.Stat()
		if err != nil {
			t.Fatal(err)
		}
		r, err := squash.NewReader(f, fi.Size())
		if err != nil {
			t.Fatal(err)
		}
		if c := r.Superblock().Compression; c != squash.None {
			t.Errorf("%s: Superblock().Compression = %q, want none", filepath.Base(img), c)
		}
		for _, n := range r.Superblock().FlagNames() {
			if strings.HasPrefix(n, "uncompressed-") || n == "compressor-options" {
				flags = append(flags, n)
			}
		}
		return b[20:22], flags // compression id: u16 at 20
	}
	id, flags := superblock(img)
	refID, refFlags := superblock(ref)
	if !bytes.Equal(id, refID) || !slices.Equal(flags, refFlags) {
		t.Errorf("compression id %x, flags %v; mksquashfs's %x, %v", id, flags, refID, refFlags)
	}

	checkImage(t, img, src, mksquashfsListing(t, src, 128<<10))
	mountCheck(t, img, src)
}

// TestWriterOptions covers the layouts without fragments and without deduplication.
func TestWriterOptions(t *testing.T) {
	testsystem.Require(t, "unsquashfs", "mksquashfs")
	src := t.TempDir()
	testtree.Make(t, src, testtree.Options{BlockSize: 16 << 10, BigDir: 50})
	ref := mksquashfsListing(t, src, 16<<10)
	for _, o := range []squash.Options{
		{NoFragments: true},
		{NoDedup: true},
		{NoFragments: true, NoDedup: true},
		{BlockSize: 4096},
	} {
		o.Compression = squash.Compression{Level: 3, PureGo: true}
		bs := 16 << 10
		if o.BlockSize == 0 {
			o.BlockSize = bs
		}
		t.Run(fmt.Sprintf("nofrag=%v,nodedup=%v,bs=%d", o.NoFragments, o.NoDedup, o.BlockSize), func(t *testing.T) {
			img := pack(t, src, o)
			want := ref
			if o.BlockSize != bs {
				want = mksquashfsListing(t, src, o.BlockSize)
			}
			checkImage(t, img, src, want)
		})
	}
}

// TestWriterWorkersDeterministic writes the same tree with 1, 2 and 16 workers: the images must
// be byte-identical.
func TestWriterWorkersDeterministic(t *testing.T) {
	src := t.TempDir()
	testtree.Make(t, src, testtree.Options{BlockSize: 64 << 10, BigDir: 2000, OddNames: true})
	comps := []squash.Compression{{Level: 3, PureGo: true}, {Algorithm: squash.XZ, PureGo: true}}
	if squash.CgoAvailable() {
		comps = append(comps, squash.Compression{Level: 19}, squash.Compression{Algorithm: squash.XZ, BCJ: []string{"x86"}})
	}
	for _, c := range comps {
		var first []byte
		for _, workers := range []int{1, 2, 16} {
			img := pack(t, src, squash.Options{BlockSize: 64 << 10, Workers: workers, ModTime: 42, Compression: c})
			b, err := os.ReadFile(img)
			if err != nil {
				t.Fatal(err)
			}
			if first == nil {
				first = b
			} else if !bytes.Equal(first, b) {
				t.Errorf("%s: %d workers give different bytes than 1 worker", c, workers)
			}
		}
	}
}

// TestWriterDedup checks that identical contents are stored once, whatever the file size.
func TestWriterDedup(t *testing.T) {
	src := t.TempDir()
	data := bytes.Repeat([]byte("0123456789abcdef"), 300000) // 4.6 MiB
	for _, n := range []string{"a", "b", "c/d"} {
		os.MkdirAll(filepath.Join(src, filepath.Dir(n)), 0o755)
		if err := os.WriteFile(filepath.Join(src, n), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	size := func(o squash.Options) int64 {
		fi, err := os.Stat(pack(t, src, o))
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	c := squash.Compression{Algorithm: squash.Gzip, Level: 1}
	with, without := size(squash.Options{Compression: c}), size(squash.Options{Compression: c, NoDedup: true})
	if with*2 > without {
		t.Errorf("with dedup %d bytes, without %d: three identical files were not stored once", with, without)
	}
	checkImage(t, pack(t, src, squash.Options{Compression: c}), src, "")
}

// TestWriterErrors checks that bad input gets a clear error naming the entry.
func TestWriterErrors(t *testing.T) {
	newW := func() *squash.Writer {
		f, err := os.Create(filepath.Join(t.TempDir(), "x"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		w, err := squash.NewWriter(f, squash.Options{Compression: squash.Compression{Level: 1, PureGo: true}})
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	cases := []struct {
		name string
		do   func(w *squash.Writer) error
		want string
	}{
		{"absolute", func(w *squash.Writer) error { return w.WriteHeader(&squash.Header{Name: "/etc"}) }, "absolute"},
		{"dotdot", func(w *squash.Writer) error { return w.WriteHeader(&squash.Header{Name: "a/../b"}) }, "'..'"},
		{"dup", func(w *squash.Writer) error {
			w.WriteHeader(&squash.Header{Name: "a", Mode: fs.ModeDir | 0o755})
			return w.WriteHeader(&squash.Header{Name: "a", Mode: 0o644})
		}, "a: entry already exists"},
		{"under-file", func(w *squash.Writer) error {
			w.WriteHeader(&squash.Header{Name: "f", Mode: 0o644})
			return w.WriteHeader(&squash.Header{Name: "f/g", Mode: 0o644})
		}, "not a directory"},
		{"short", func(w *squash.Writer) error {
			w.WriteHeader(&squash.Header{Name: "f", Mode: 0o644, Size: 10})
			w.Write([]byte("abc"))
			return w.Close()
		}, "f: 3 bytes written, header says 10"},
		{"long", func(w *squash.Writer) error {
			w.WriteHeader(&squash.Header{Name: "f", Mode: 0o644, Size: 2})
			_, err := w.Write([]byte("abc"))
			return err
		}, "write too long"},
		{"time", func(w *squash.Writer) error {
			return w.WriteHeader(&squash.Header{Name: "f", Mode: 0o644, ModTime: -1})
		}, "modification time"},
		{"symlink", func(w *squash.Writer) error {
			return w.WriteHeader(&squash.Header{Name: "l", Mode: fs.ModeSymlink | 0o777})
		}, "symlink without a target"},
		{"longname", func(w *squash.Writer) error {
			return w.WriteHeader(&squash.Header{Name: strings.Repeat("x", 257), Mode: 0o644})
		}, "more than 256"},
		{"nul", func(w *squash.Writer) error { return w.WriteHeader(&squash.Header{Name: "a\x00b"}) }, "NUL"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := newW()
			err := c.do(w)
			w.Close()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one containing %q", err, c.want)
			}
		})
	}
	if _, err := squash.NewWriter(nil, squash.Options{BlockSize: 3000}); err == nil || !strings.Contains(err.Error(), "block size 3000") {
		t.Errorf("block size 3000: %v", err)
	}
	if _, err := squash.NewWriter(nil, squash.Options{Compression: squash.Compression{Algorithm: "lzo"}}); err == nil || !strings.Contains(err.Error(), `unknown compressor "lzo"`) {
		t.Errorf("lzo: %v", err)
	}
	w := newW()
	if err := w.AddTree("x", "/does/not/exist", nil, nil); err == nil || !strings.Contains(err.Error(), "/does/not/exist") {
		t.Errorf("AddTree of a missing folder: %v", err)
	}
	w.Close()
}

// mountCheck loop-mounts the image with the running kernel and compares it with src. Mounting
// needs privileges that some sandboxes lack: then the test says so and skips this part (the
// QEMU boot tests have the kernel read real images either way).
func mountCheck(t *testing.T, img, src string) {
	t.Helper()
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "squashfs", "-o", "loop,ro", img, mnt).CombinedOutput(); err != nil {
		t.Logf("kernel check skipped: cannot loop-mount here: %v: %s", err, out)
		return
	}
	defer exec.Command("umount", mnt).Run()
	diffTrees(t, src, mnt)
	if a, b := findListing(t, src), findListing(t, mnt); a != b {
		t.Errorf("kernel: metadata differs:\n%s", diffText(a, b))
	}
	// Look up names in the large directory one by one: the kernel uses the directory index.
	for _, i := range []int{0, 1, 777, 5000, 9999} {
		name := fmt.Sprintf("entry-%05d%s", i, strings.Repeat("x", i%23))
		b, err := os.ReadFile(filepath.Join(mnt, "bigdir", name))
		if err != nil || string(b) != name {
			t.Errorf("kernel: bigdir/%s: %q, %v", name, b, err)
		}
	}
	if _, err := os.Stat(filepath.Join(mnt, "bigdir", "entry-99999")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("kernel: a missing name: %v", err)
	}
}

// TestWriterContext stops a writer through its context: the next call fails with the context's
// error, and Close reports it.
func TestWriterContext(t *testing.T) {
	src := t.TempDir()
	testtree.Make(t, src, testtree.Options{BlockSize: 64 << 10})
	ctx, cancel := context.WithCancel(context.Background())
	f, err := os.Create(filepath.Join(t.TempDir(), "img"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := squash.NewWriter(f, squash.Options{BlockSize: 64 << 10, Context: ctx,
		Compression: squash.Compression{Level: 1, PureGo: true}})
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	err = w.AddTree(".", src, func(h *squash.Header) error {
		if seen++; seen == 20 {
			cancel()
		}
		return nil
	}, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("AddTree after cancel: %v, want context.Canceled", err)
	}
	in, _ := w.Stats()
	if in == 0 {
		t.Errorf("Stats reports no bytes read after 20 entries")
	}
	if err := w.Close(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Close after cancel: %v, want context.Canceled", err)
	}
}
