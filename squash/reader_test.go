package squash

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"testing/fstest"
	"time"
	"unsafe"

	"github.com/klauspost/compress/zstd"
	ulzma "github.com/ulikunitz/xz"

	"github.com/gonixiso/gonixiso/internal/parallel"
	"github.com/gonixiso/gonixiso/internal/testsystem"
	"github.com/gonixiso/gonixiso/squash/internal/xz"
)

// testBlockSize is the block size of the trees' images: small, so that files of a few blocks
// are cheap and every boundary is crossed many times.
const testBlockSize = 4096

// makeTree builds a tree with the shapes a SquashFS reader must get right, and returns its path.
func makeTree(t testing.TB, big bool) string {
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
		var b bytes.Buffer
		for i := 0; b.Len() < n; i++ {
			fmt.Fprintf(&b, "line %d of some compressible text %x\n", i, i*i)
		}
		return b.Bytes()[:n]
	}
	write := func(name string, data []byte, mode os.FileMode) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // past the umask
			t.Fatal(err)
		}
	}
	bs := testBlockSize
	for _, n := range []int{0, 1, 2, 100, bs - 1, bs, bs + 1, 2*bs - 1, 2 * bs, 2*bs + 1, 3*bs + 17, 7*bs + bs/2} {
		write(fmt.Sprintf("sizes/random-%06d", n), random(n), 0o644)
		write(fmt.Sprintf("sizes/text-%06d", n), text(n), 0o755)
	}
	multi := random(5*bs + 123)
	write("dups/a", multi, 0o644)
	write("dups/b", multi, 0o644)
	write("dups/small-a", []byte("the same small file\n"), 0o644)
	write("dups/small-b", []byte("the same small file\n"), 0o600)
	whole := text(3 * bs)
	write("dups/whole-a", whole, 0o644)
	write("dups/whole-b", whole, 0o644)

	// Sparse: a hole in the middle, a hole at the end, all zeros.
	sparse := append(append(random(bs), make([]byte, 3*bs)...), random(bs/2)...)
	write("sparse/middle", sparse, 0o644)
	write("sparse/tail-zeros", append(random(2*bs), make([]byte, bs+7)...), 0o644)
	write("sparse/all-zeros", make([]byte, 4*bs+5), 0o644)

	if err := os.MkdirAll(filepath.Join(dir, "empty/dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	write("empty/file", nil, 0o644)
	for name, target := range map[string]string{
		"links/relative": "../sizes/text-000100", "links/absolute": "/nix/store/abc-foo/bin/sh",
		"links/dangling": "nowhere", "links/dir": "../sizes", "links/long": strings.Repeat("x/", 600) + "end",
	} {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	}
	odd := []string{"with space", "ünïcödé", "tab\there", "new\nline", `back\slash`, "-dash", "a:b", "B", "a", "_", "~",
		strings.Repeat("n", 255), "\x01ctl", "quote\"'", "é", "E", "latin1-caf\xe9", "\xff\xfe-not-utf8"}
	for i, n := range odd {
		write("odd/"+n, []byte(fmt.Sprintf("odd %d\n", i)), 0o644)
	}
	write("deep/a/b/c/d/e/f/g/h/file", text(bs+3), 0o644)
	write("modes/setuid", []byte("#!/bin/sh\n"), 0o4755)
	write("modes/setgid", []byte("#!/bin/sh\n"), 0o2711)
	write("modes/private", []byte("secret\n"), 0o400)
	if err := os.MkdirAll(filepath.Join(dir, "modes/sticky"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Join(dir, "modes/sticky"), 0o1777|os.ModeSticky)
	if err := syscall.Mkfifo(filepath.Join(dir, "special/fifo"), 0o644); err != nil {
		os.MkdirAll(filepath.Join(dir, "special"), 0o755)
		if err := syscall.Mkfifo(filepath.Join(dir, "special/fifo"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.Mknod(filepath.Join(dir, "special/null"), syscall.S_IFCHR|0o666, int(1<<8|3)); err != nil {
		t.Fatalf("mknod (the tests run as root, as scripts/test does): %v", err)
	}
	if err := syscall.Mknod(filepath.Join(dir, "special/loop"), syscall.S_IFBLK|0o660, int(7<<8|300&0xff|(300&^0xff)<<12)); err != nil {
		t.Fatal(err)
	}
	if err := os.Lchown(filepath.Join(dir, "modes/private"), 1000, 100); err != nil {
		t.Fatal(err)
	}
	// Extended attributes, which mksquashfs stores and the reader skips (Check checks them).
	write("xattrs/one", []byte("one\n"), 0o644)
	write("xattrs/two", []byte("two\n"), 0o644)
	for name, attrs := range map[string][]string{"xattrs/one": {"user.a"}, "xattrs/two": {"user.b", "user.c"}} {
		for _, a := range attrs {
			if err := syscall.Setxattr(filepath.Join(dir, name), a, []byte("value of "+a), 0); err != nil {
				t.Fatalf("setxattr (the test directory must allow user xattrs): %v", err)
			}
		}
	}
	// Machine code, on which xz's BCJ x86 filter wins: the head of the Go toolchain's binary.
	goBin, err := os.ReadFile(filepath.Join(runtime.GOROOT(), "bin", "go"))
	if err != nil {
		t.Fatal(err)
	}
	write("bin/go-head", goBin[:min(len(goBin), 512<<10)], 0o755)
	if err := os.Link(filepath.Join(dir, "dups/a"), filepath.Join(dir, "dups/hardlink")); err != nil {
		t.Fatal(err)
	}
	if big {
		for i := 0; i < 10000; i++ {
			write(fmt.Sprintf("big/entry-%05d", i), []byte(fmt.Sprint(i)), 0o644)
		}
	}
	// Times last, once every entry of each directory exists; symlinks get theirs too.
	base := time.Unix(1_700_000_000, 0)
	i := 0
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		i++
		ts := base.Add(time.Duration(i*7919) * time.Second)
		return lutimes(p, ts)
	})
	if err != nil {
		t.Fatal(err)
	}
	// Directories after their entries, deepest first.
	var dirs []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	for j := len(dirs) - 1; j >= 0; j-- {
		if err := lutimes(dirs[j], base.Add(time.Duration(j)*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func lutimes(p string, ts time.Time) error {
	tv := []syscall.Timespec{syscall.NsecToTimespec(ts.UnixNano()), syscall.NsecToTimespec(ts.UnixNano())}
	return utimensat(p, tv)
}

// utimensat sets times without following a symlink.
func utimensat(p string, ts []syscall.Timespec) error {
	const atSymlinkNofollow = 0x100
	pb, err := syscall.BytePtrFromString(p)
	if err != nil {
		return err
	}
	_, _, e := syscall.Syscall6(syscall.SYS_UTIMENSAT, uintptr(0xFFFFFF9C), uintptr(unsafe.Pointer(pb)), uintptr(unsafe.Pointer(&ts[0])), atSymlinkNofollow, 0, 0)
	if e != 0 {
		return &os.PathError{Op: "utimensat", Path: p, Err: e}
	}
	return nil
}

// record is what a test compares of an entry.
type record struct {
	Header
	sum string // sha256 of the contents
}

func (r record) String() string {
	link := r.Linkname
	if len(link) > 40 {
		link = fmt.Sprintf("%s...(%d bytes, sha256 %x)", link[:20], len(link), sha256.Sum256([]byte(link)))
	}
	return fmt.Sprintf("%q %v uid=%d gid=%d mtime=%d size=%d link=%q dev=%d,%d sha256=%.16s",
		r.Name, r.Mode, r.UID, r.GID, r.ModTime, r.Size, link, r.Devmajor, r.Devminor, r.sum)
}

// diskRecords describes the tree at dir as an image of it should; allRoot makes every owner 0.
func diskRecords(t testing.TB, dir string, allRoot bool) []record {
	t.Helper()
	var out []record
	var walk func(name, p string)
	walk = func(name, p string) {
		fi, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		h, err := headerFromFile(name, p, fi)
		if err != nil {
			t.Fatal(err)
		}
		if allRoot {
			h.UID, h.GID = 0, 0
		}
		rec := record{Header: *h}
		if fi.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			s := sha256.Sum256(b)
			rec.sum = hex.EncodeToString(s[:])
		}
		out = append(out, rec)
		if fi.IsDir() {
			ents, err := os.ReadDir(p)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range ents {
				child := e.Name()
				if name != "." {
					child = name + "/" + child
				}
				walk(child, filepath.Join(p, e.Name()))
			}
		}
	}
	walk(".", dir)
	return out
}

// imageRecords reads every entry of an image with Walk, and every regular file's contents
// with WriteTo.
func imageRecords(t testing.TB, r *Reader) []record {
	t.Helper()
	var out []record
	err := r.Walk(func(name string, e *Entry) error {
		if name != e.Name {
			return fmt.Errorf("walk name %q, entry name %q", name, e.Name)
		}
		rec := record{Header: e.Header}
		if e.Mode.IsRegular() {
			f, err := r.OpenEntry(e) // names are bytes: Open(name) refuses those not UTF-8
			if err != nil {
				return err
			}
			h := sha256.New()
			n, err := f.WriteTo(h)
			f.Close()
			if err != nil {
				return err
			}
			if n != e.Size {
				return fmt.Errorf("%s: WriteTo wrote %d bytes of %d", name, n, e.Size)
			}
			rec.sum = hex.EncodeToString(h.Sum(nil))
		}
		out = append(out, rec)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func compareRecords(t testing.TB, want, got []record) {
	t.Helper()
	n := 0
	for i := 0; i < max(len(want), len(got)); i++ {
		var w, g string
		if i < len(want) {
			w = want[i].String()
		}
		if i < len(got) {
			g = got[i].String()
		}
		if w != g {
			t.Errorf("entry %d:\n\twant %s\n\tgot  %s", i, w, g)
			if n++; n > 10 {
				t.Fatal("too many differences")
			}
		}
	}
}

// writeImage writes the tree at dir as an image with the writer.
func writeImage(t testing.TB, dir string, opts Options) string {
	t.Helper()
	img := filepath.Join(t.TempDir(), "img.squashfs")
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := NewWriter(f, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.AddTree(".", dir, nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return img
}

// openImage opens an image file with a Reader.
func openImage(t testing.TB, img string, xzPureGo bool) *Reader {
	t.Helper()
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	r, err := newReader(f, fi.Size(), xzPureGo)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// writerCompressions are the writer's compressors, each read back.
var writerCompressions = []struct {
	name string
	c    Compression
}{
	{"zstd-libzstd", Compression{Algorithm: Zstd, Level: 3}},
	{"zstd-go", Compression{Algorithm: Zstd, Level: 3, PureGo: true}},
	{"xz-liblzma-bcj", Compression{Algorithm: XZ, Level: 1, BCJ: []string{"x86", "arm"}}},
	{"xz-go", Compression{Algorithm: XZ, PureGo: true}},
	{"gzip", Compression{Algorithm: Gzip, Level: 6}},
	{"lz4", Compression{Algorithm: LZ4}},
	{"lz4-hc", Compression{Algorithm: LZ4, Level: 1}},
	{"none", Compression{Algorithm: None}},
}

func TestReaderRoundTrip(t *testing.T) {
	dir := makeTree(t, true)
	want := diskRecords(t, dir, false)
	for _, c := range writerCompressions {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			img := writeImage(t, dir, Options{BlockSize: testBlockSize, Compression: c.c, ModTime: 1})
			pureGo := []bool{false}
			if c.c.Algorithm == XZ {
				pureGo = []bool{false, true}
			}
			for _, p := range pureGo {
				r := openImage(t, img, p)
				compareRecords(t, want, imageRecords(t, r))
				if err := r.Check(); err != nil {
					t.Errorf("Check (xz in Go %v): %v", p, err)
				}
			}
		})
	}
}

func TestReaderFS(t *testing.T) {
	dir := makeTree(t, false)
	// fstest.TestFS refuses backslashes in names, which SquashFS allows, and names that are
	// not UTF-8, which an fs.FS cannot name.
	for _, n := range []string{`odd/back\slash`, "odd/latin1-caf\xe9", "odd/\xff\xfe-not-utf8"} {
		if err := os.Remove(filepath.Join(dir, n)); err != nil {
			t.Fatal(err)
		}
	}
	img := writeImage(t, dir, Options{BlockSize: testBlockSize, Compression: Compression{Algorithm: Zstd, Level: 3}, ModTime: 1})
	r := openImage(t, img, false)
	// fstest reads every file many ways, a byte at a time too: each read decodes a block,
	// which counts against the limits (far more than the tree holds).
	r.SetLimits(Limits{Contents: 1 << 40, Metadata: 1 << 40})
	var expected []string
	for _, rec := range diskRecords(t, dir, false) {
		if rec.Name != "." {
			expected = append(expected, rec.Name)
		}
	}
	if err := fstest.TestFS(r.FS(), expected...); err != nil {
		t.Fatal(err)
	}
}

// mksquashfsVariants are the ways the tests have mksquashfs make images of a tree.
var mksquashfsVariants = []struct {
	name string
	args []string
}{
	{"zstd-19-1M", []string{"-comp", "zstd", "-Xcompression-level", "19", "-b", "1M", "-no-hardlinks", "-all-root"}},
	{"zstd-4K-hardlinks", []string{"-comp", "zstd", "-b", "4K", "-all-root"}},
	{"xz-bcj-x86", []string{"-comp", "xz", "-Xbcj", "x86", "-Xdict-size", "100%", "-b", "8K", "-no-hardlinks", "-all-root"}},
	{"xz-dict-50", []string{"-comp", "xz", "-Xdict-size", "50%", "-b", "64K", "-no-hardlinks", "-all-root"}},
	{"gzip", []string{"-comp", "gzip", "-b", "4K", "-no-hardlinks", "-all-root"}},
	{"lz4", []string{"-comp", "lz4", "-Xhc", "-b", "4K", "-no-hardlinks", "-all-root"}},
	{"lzo-999", []string{"-comp", "lzo", "-b", "4K", "-no-hardlinks", "-all-root"}},
	{"lzo-1x-1-128K", []string{"-comp", "lzo", "-Xalgorithm", "lzo1x_1", "-b", "128K", "-no-hardlinks", "-all-root"}},
	{"uncompressed", []string{"-noI", "-noD", "-noF", "-noX", "-b", "4K", "-no-hardlinks", "-all-root"}},
	{"no-fragments", []string{"-comp", "zstd", "-no-fragments", "-b", "4K", "-no-hardlinks", "-all-root"}},
	{"always-fragments", []string{"-comp", "gzip", "-always-use-fragments", "-b", "4K", "-no-hardlinks", "-all-root", "-no-exports"}},
}

// mksquashfs makes an image of dir with mksquashfs.
func mksquashfs(t testing.TB, dir string, args ...string) string {
	t.Helper()
	testsystem.Require(t, "mksquashfs")
	img := filepath.Join(t.TempDir(), "mk.squashfs")
	cmd := exec.Command("mksquashfs", append([]string{dir, img, "-noappend", "-quiet", "-no-progress", "-processors", "2"}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mksquashfs %v: %v\n%s", args, err, out)
	}
	return img
}

// mksquashfsSound makes an image with mksquashfs that unsquashfs extracts to the source's
// contents. mksquashfs 4.5.1 now and then writes a fragment block that does not decode, or that
// decodes to the wrong bytes (seen with -always-use-fragments, about one run in ten, even with
// -processors 1; unsquashfs then fails with "gzip uncompress failed", or extracts wrong files):
// the reader must refuse an image that does not decode too, and another run makes a sound one.
func mksquashfsSound(t testing.TB, dir string, args ...string) string {
	t.Helper()
	testsystem.Require(t, "unsquashfs")
	for attempt := 1; ; attempt++ {
		img := mksquashfs(t, dir, args...)
		x := filepath.Join(t.TempDir(), "x")
		out, err := exec.Command("unsquashfs", "-q", "-n", "-d", x, img).CombinedOutput()
		if err == nil {
			if bad := differentFiles(t, dir, x); bad == "" {
				return img
			} else if attempt == 5 {
				t.Fatalf("mksquashfs wrote 5 wrong images in a row; the last extracts %s wrong", bad)
			} else {
				t.Logf("mksquashfs %v wrote wrong bytes (attempt %d): unsquashfs extracts %s wrong", args, attempt, bad)
				continue
			}
		}
		if err := readAll(openImage(t, img, false)); err == nil {
			t.Fatalf("unsquashfs refuses an image the reader reads: %s", out)
		} else {
			t.Logf("mksquashfs %v wrote a corrupt image (attempt %d); unsquashfs: %s; the reader: %v", args, attempt, bytes.TrimSpace(out), err)
		}
		if attempt == 5 {
			t.Fatal("mksquashfs wrote 5 corrupt images in a row")
		}
	}
}

// differentFiles returns the first regular file under src whose copy under dst has other
// contents, or "".
func differentFiles(t testing.TB, src, dst string) string {
	t.Helper()
	bad := ""
	filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil || bad != "" || !d.Type().IsRegular() {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		a, errA := os.ReadFile(p)
		b, errB := os.ReadFile(filepath.Join(dst, rel))
		if errA != nil || errB != nil || !bytes.Equal(a, b) {
			bad = rel
		}
		return nil
	})
	return bad
}

// readAll reads every file of an image and returns the first error.
func readAll(r *Reader) error {
	return r.Walk(func(_ string, e *Entry) error {
		if !e.Mode.IsRegular() {
			return nil
		}
		f, err := r.open(e)
		if err != nil {
			return err
		}
		_, err = f.WriteTo(io.Discard)
		return err
	})
}

func TestReaderMksquashfs(t *testing.T) {
	dir := makeTree(t, true)
	want := diskRecords(t, dir, true)
	for _, v := range mksquashfsVariants {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			img := mksquashfsSound(t, dir, v.args...)
			pureGo := []bool{false}
			if slices.Contains(v.args, "xz") {
				pureGo = []bool{false, true}
			}
			for _, p := range pureGo {
				r := openImage(t, img, p)
				compareRecords(t, want, imageRecords(t, r))
				if err := r.Check(); err != nil {
					t.Errorf("Check (xz in Go %v): %v", p, err)
				}
			}
			if e, err := openImage(t, img, false).Lookup("xattrs/two"); err != nil || e.xattr == noXattr {
				t.Errorf("xattrs/two: %v, xattr index %#x: mksquashfs stored no xattrs, Check's xattr rules went untested", err, e.xattr)
			}
			if got := openImage(t, img, false).Superblock().Compression; (v.name == "uncompressed") != (got == None) {
				t.Errorf("Superblock().Compression = %q", got)
			}
			if v.name == "xz-bcj-x86" {
				if n := bcjBlocks(t, openImage(t, img, false), "bin/go-head"); n == 0 {
					t.Error("no block of bin/go-head has a BCJ filter: the test does not test BCJ")
				}
			}
		})
	}
}

// bcjBlocks counts the data blocks of name stored with a BCJ filter.
func bcjBlocks(t testing.TB, r *Reader, name string) int {
	t.Helper()
	e, err := r.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for b, err := range r.Blocks(e) {
		if err != nil {
			t.Fatal(err)
		}
		if !b.Sparse && !b.Tail && !b.Uncompressed {
			raw := make([]byte, b.StoredSize)
			if _, err := r.ra.ReadAt(raw, b.ImageOffset); err != nil {
				t.Fatal(err)
			}
			s, err := xz.Parse(raw)
			if err != nil {
				t.Fatal(err)
			}
			if len(s.Blocks[0].Filters) == 2 {
				n++
			}
		}
	}
	return n
}

// TestReaderBaseline reads the SquashFS of the ISO nixpkgs' tools made and compares it with
// what unsquashfs extracts.
func TestReaderBaseline(t *testing.T) {
	testsystem.Require(t, "unsquashfs")
	img := filepath.Join(testsystem.BaselineParts(t), "nix-store.squashfs")
	r := openImage(t, img, false)
	sb := r.Superblock()
	if sb.Compression != Zstd || sb.Options.Level != 19 || sb.BlockSize != 1<<20 {
		t.Errorf("superblock: %s level %d, %d-byte blocks; want zstd level 19, 1 MiB blocks (nixpkgs' defaults)", sb.Compression, sb.Options.Level, sb.BlockSize)
	}
	if err := r.Check(); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "x")
	if b, err := exec.Command("unsquashfs", "-q", "-n", "-d", out, img).CombinedOutput(); err != nil {
		t.Fatalf("unsquashfs: %v\n%s", err, b)
	}
	want := diskRecords(t, out, false)
	compareRecords(t, want, imageRecords(t, r))

	// Files read concurrently, from one Reader, give the same contents.
	sums, _, err := hashAll(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range want {
		if rec.Mode.IsRegular() && sums[rec.Name] != rec.sum {
			t.Errorf("%s: read concurrently, sha256 %s, want %s", rec.Name, sums[rec.Name], rec.sum)
		}
	}
}

// testCompressor is a compressor whose compress the test chooses, to make images the kernel
// would refuse.
type testCompressor struct {
	compressor
	fn func(dst, src []byte) ([]byte, bool, error)
}

func (c testCompressor) compress(dst, src []byte) ([]byte, bool, error) { return c.fn(dst, src) }
func (c testCompressor) slow() bool                                     { return false }

// writeImageWith writes the tree at dir with a compressor whose compress is fn.
func writeImageWith(t testing.TB, dir string, c Compression, fn func(dst, src []byte) ([]byte, bool, error)) string {
	t.Helper()
	img := filepath.Join(t.TempDir(), "img.squashfs")
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := NewWriter(f, Options{BlockSize: testBlockSize, Compression: c, ModTime: 1})
	if err != nil {
		t.Fatal(err)
	}
	w.comp = testCompressor{w.comp, fn} // before any block: the pipeline reads it per job
	if err := w.AddTree(".", dir, nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return img
}

// smallTree is a tree of a few compressible files.
func smallTree(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	var text bytes.Buffer
	for i := 0; text.Len() < 3*testBlockSize+100; i++ {
		fmt.Fprintf(&text, "compressible line %d\n", i)
	}
	for name, data := range map[string][]byte{
		"big": text.Bytes(), "unsorted-1": []byte("one\n"), "unsorted-2": []byte("two\n"), "sub/file": text.Bytes()[:999],
	} {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestCheckRefuses makes images that unsquashfs reads and the kernel refuses, and expects
// Check to say why, and the reader to read them anyway.
func TestCheckRefuses(t *testing.T) {
	testsystem.Require(t, "unsquashfs")
	dir := smallTree(t)
	want := diskRecords(t, dir, false)
	xzWith := func(cfg ulzma.WriterConfig) func(dst, src []byte) ([]byte, bool, error) {
		return func(dst, src []byte) ([]byte, bool, error) {
			var b bytes.Buffer
			w, err := cfg.NewWriter(&b)
			if err != nil {
				return nil, false, err
			}
			w.Write(src)
			if err := w.Close(); err != nil {
				return nil, false, err
			}
			return b.Bytes(), b.Len() < len(src), nil
		}
	}
	testsystem.Require(t, "zstd")
	plain, err := zstd.NewWriter(nil, zstd.WithEncoderCRC(false))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	for _, tc := range []struct {
		name string
		c    Compression
		fn   func(dst, src []byte) ([]byte, bool, error)
		want string
	}{
		{"xz-crc64", Compression{Algorithm: XZ, PureGo: true}, xzWith(ulzma.WriterConfig{DictCap: testBlockSize, CheckSum: ulzma.CRC64}), "check type 0x4"},
		{"xz-sha256", Compression{Algorithm: XZ, PureGo: true}, xzWith(ulzma.WriterConfig{DictCap: testBlockSize, CheckSum: ulzma.SHA256}), "check type 0xa"},
		{"xz-dict-8M", Compression{Algorithm: XZ, PureGo: true}, xzWith(ulzma.WriterConfig{DictCap: 8 << 20, CheckSum: ulzma.CRC32}), "LZMA2 dictionary of 8388608 bytes, larger than the kernel's 8192"},
		{"zstd-window", Compression{Algorithm: Zstd, PureGo: true}, func(dst, src []byte) ([]byte, bool, error) {
			// From a pipe, the zstd command knows no content size: its frame keeps the
			// window of --long, 1 MiB.
			cmd := exec.Command("zstd", "-q", "-c", "--no-check", "-3", "--long=20")
			cmd.Stdin = bytes.NewReader(src)
			out, err := cmd.Output()
			return out, len(out) < len(src), err
		}, "frame window of 1048576 bytes, larger than the kernel's 8192"},
		{"zstd-two-frames", Compression{Algorithm: Zstd, PureGo: true}, func(dst, src []byte) ([]byte, bool, error) {
			h := len(src) / 2
			out := plain.EncodeAll(src[h:], plain.EncodeAll(src[:h], dst[:0]))
			return out, len(out) < len(src), nil
		}, "after the block's first frame"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := writeImageWith(t, dir, tc.c, tc.fn)
			for _, pureGo := range []bool{false, true} {
				r := openImage(t, img, pureGo)
				compareRecords(t, want, imageRecords(t, r))
				err := r.Check()
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("Check = %v, want an error with %q", err, tc.want)
				}
			}
			out := filepath.Join(t.TempDir(), "x")
			if b, err := exec.Command("unsquashfs", "-q", "-n", "-d", out, img).CombinedOutput(); err != nil {
				t.Errorf("unsquashfs refuses the image too (the test wants one only the kernel refuses): %v\n%s", err, b)
			}
		})
	}

	// mksquashfs with 4 KiB blocks and a BCJ filter stores a 4 KiB dictionary in the options
	// (the kernel allocates that) but compresses metadata with an 8 KiB one.
	t.Run("mksquashfs-xz-4K-bcj", func(t *testing.T) {
		r := openImage(t, mksquashfs(t, dir, "-comp", "xz", "-Xbcj", "x86", "-b", "4K", "-all-root"), false)
		compareRecords(t, diskRecords(t, dir, true), imageRecords(t, r))
		if err := r.Check(); err == nil || !strings.Contains(err.Error(), "LZMA2 dictionary of 8192 bytes, larger than the kernel's 4096") {
			t.Errorf("Check = %v, want the metadata's dictionary refused", err)
		}
	})

	t.Run("xattr-index", func(t *testing.T) {
		xdir := smallTree(t)
		if err := syscall.Setxattr(filepath.Join(xdir, "big"), "user.k", []byte("v"), 0); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(mksquashfs(t, xdir, "-noI", "-noD", "-noF", "-noX", "-b", "4K", "-all-root"))
		if err != nil {
			t.Fatal(err)
		}
		r, err := NewReader(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Fatal(err)
		}
		e, err := r.Lookup("big")
		if err != nil {
			t.Fatal(err)
		}
		if e.typ != inodeExtFile || e.xattr == noXattr {
			t.Fatalf("big: inode type %d, xattr %#x; want an extended file with xattrs", e.typ, e.xattr)
		}
		if err := r.Check(); err != nil {
			t.Fatal(err)
		}
		// The inode table is stored: its block at offset B holds its bytes after a 2-byte header.
		at := r.t.inodeTable + e.ref>>16 + metadataHeaderSize + e.ref&0xFFFF + xfileXattr
		putU32(b[at:], 99)
		r, err = NewReader(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Check(); err == nil || !strings.Contains(err.Error(), "big: xattr index 99 beyond the 1 of the xattr id table") {
			t.Errorf("Check = %v, want the xattr index refused", err)
		}
	})

	stored := func(dst, src []byte) ([]byte, bool, error) { return nil, false, nil }
	t.Run("unsorted", func(t *testing.T) {
		img := writeImageWith(t, dir, Compression{Algorithm: Gzip}, stored)
		b, err := os.ReadFile(img)
		if err != nil {
			t.Fatal(err)
		}
		i, j := bytes.Index(b, []byte("unsorted-1")), bytes.Index(b, []byte("unsorted-2"))
		if i < 0 || j < 0 {
			t.Fatal("names not found in the stored directory table")
		}
		b[i+9], b[j+9] = '2', '1'
		r, err := NewReader(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Lookup("unsorted-1"); err != nil {
			t.Errorf("the reader does not read an unsorted directory: %v", err)
		}
		if err := r.Check(); err == nil || !strings.Contains(err.Error(), `directory not sorted: "unsorted-1" after "unsorted-2"`) {
			t.Errorf("Check = %v, want an unsorted directory", err)
		}
	})
	t.Run("cycle", func(t *testing.T) {
		img := writeImageWith(t, dir, Compression{Algorithm: Gzip}, stored)
		b, err := os.ReadFile(img)
		if err != nil {
			t.Fatal(err)
		}
		r, err := NewReader(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Fatal(err)
		}
		root, err := r.root()
		if err != nil {
			t.Fatal(err)
		}
		// Point the root's entry "sub" at the root itself: its offset, and its inode number.
		l, err := r.listing(root)
		if err != nil {
			t.Fatal(err)
		}
		if root.ref>>16 != 0 || root.listBlock != 0 || len(l.headers) != 1 {
			t.Fatal("the test wants the root's inode and listing in the first metadata blocks")
		}
		// Metadata blocks are stored: the listing's bytes follow the block's 2-byte header.
		listing := b[r.t.directoryTable+metadataHeaderSize+uint64(l.headers[0].off):]
		base := binary.LittleEndian.Uint32(listing[dhInodeNumber:])
		p := bytes.Index(listing, []byte{inodeDir, 0, byte(len("sub") - 1), 0, 's', 'u', 'b'})
		if p < 0 {
			t.Fatal("entry sub not found")
		}
		e := listing[p-deType:]
		putU16(e[deOffset:], uint16(root.ref))
		putU16(e[deInodeDelta:], uint16(int16(int64(root.Inode)-int64(base))))
		r, err = NewReader(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Fatal(err)
		}
		err = r.Walk(func(string, *Entry) error { return nil })
		if err == nil {
			t.Fatal("Walk of a directory that contains itself succeeded")
		}
		if err := r.Check(); err == nil {
			t.Fatal("Check of a directory that contains itself succeeded")
		}
	})
}

// benchImage returns the path of a cached image of about 200 MB of generated files, many
// small and a few large, of text, binary and random data, written with zstd level 3.
func benchImage(b *testing.B) string {
	img := filepath.Join(testsystem.CacheDir(b), "squash-reader-bench-200MB-v1.squashfs")
	if _, err := os.Stat(img); err == nil {
		return img
	}
	dir := b.TempDir()
	rng := rand.New(rand.NewPCG(5, 6))
	words := strings.Fields("the quick brown fox jumps over lazy dog nix store path derivation output hash closure kernel initrd squashfs block fragment inode directory")
	total := 0
	for i := 0; total < 200<<20; i++ {
		var n int
		switch {
		case i%100 == 0:
			n = 4<<20 + rng.IntN(16<<20)
		case i%10 == 0:
			n = 64<<10 + rng.IntN(1<<20)
		default:
			n = rng.IntN(16 << 10)
		}
		data := make([]byte, n)
		switch i % 5 {
		case 0, 1, 2: // text
			for p := 0; p < n; {
				w := words[rng.IntN(len(words))]
				p += copy(data[p:], w+" ")
			}
		case 3: // random
			for p := range data {
				data[p] = byte(rng.Uint32())
			}
		case 4: // structured binary
			for p := range data {
				data[p] = byte(p*p>>7) & byte(rng.IntN(256)|0x0F)
			}
		}
		p := filepath.Join(dir, fmt.Sprintf("d%02d/f%05d", i%37, i))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			b.Fatal(err)
		}
		total += n
	}
	tmp := writeImage(b, dir, Options{Compression: Compression{Algorithm: Zstd, Level: 3}, ModTime: 1})
	if err := os.Rename(tmp, img); err != nil {
		b.Fatal(err)
	}
	return img
}

// baselineXZ returns a cached image of the baseline store's files made as NixOS makes its xz
// images: mksquashfs -comp xz -Xdict-size 100% -Xbcj x86.
func baselineXZ(b *testing.B) string {
	img := filepath.Join(testsystem.CacheDir(b), "squash-reader-bench-baseline-xz-v1.squashfs")
	if _, err := os.Stat(img); err == nil {
		return img
	}
	out := filepath.Join(b.TempDir(), "x")
	src := filepath.Join(testsystem.BaselineParts(b), "nix-store.squashfs")
	if o, err := exec.Command("unsquashfs", "-q", "-n", "-d", out, src).CombinedOutput(); err != nil {
		b.Fatalf("unsquashfs: %v\n%s", err, o)
	}
	tmp := mksquashfs(b, out, "-comp", "xz", "-Xdict-size", "100%", "-Xbcj", "x86", "-b", "1M", "-no-hardlinks", "-all-root")
	if err := os.Rename(tmp, img); err != nil {
		b.Fatal(err)
	}
	return img
}

// hashAll reads and hashes every regular file of an image, files in parallel (as a manifest
// does) through parallel.Ordered, and returns the sums by name and the bytes read.
func hashAll(r *Reader) (map[string]string, int64, error) {
	var files []*Entry
	if err := r.Walk(func(_ string, e *Entry) error {
		if e.Mode.IsRegular() {
			files = append(files, e)
		}
		return nil
	}); err != nil {
		return nil, 0, err
	}
	type result struct {
		name string
		sum  []byte
		n    int64
	}
	sums := map[string]string{}
	var total int64
	err := parallel.Ordered(context.Background(), parallel.Options{},
		func(emit func(*Entry) error) error {
			for _, e := range files {
				if err := emit(e); err != nil {
					return err
				}
			}
			return nil
		},
		func(e *Entry) (result, error) {
			f, err := r.open(e)
			if err != nil {
				return result{}, err
			}
			h := sha256.New()
			n, err := f.WriteTo(h)
			return result{e.Name, h.Sum(nil), n}, err
		},
		func(res result) error {
			sums[res.name] = hex.EncodeToString(res.sum)
			total += res.n
			return nil
		})
	return sums, total, err
}

// BenchmarkReadAll reads and hashes every file of an image, and, for comparison, extracts it
// with unsquashfs -d (multithreaded, writing to the page cache). MB/s are of file contents.
func BenchmarkReadAll(b *testing.B) {
	testsystem.Require(b, "unsquashfs", "mksquashfs")
	images := []struct {
		name   string
		path   func(*testing.B) string
		pureGo bool
	}{
		{"baseline-zstd19", func(b *testing.B) string { return filepath.Join(testsystem.BaselineParts(b), "nix-store.squashfs") }, false},
		{"baseline-xz-bcj-liblzma", baselineXZ, false},
		{"baseline-xz-bcj-go", baselineXZ, true},
		{"200MB-zstd3", benchImage, false},
	}
	for _, im := range images {
		b.Run(im.name, func(b *testing.B) {
			img := im.path(b)
			r := openImage(b, img, im.pureGo)
			_, size, err := hashAll(r)
			if err != nil {
				b.Fatal(err)
			}
			b.Run("reader", func(b *testing.B) {
				b.SetBytes(size)
				for b.Loop() {
					r := openImage(b, img, im.pureGo) // no warm caches
					if _, _, err := hashAll(r); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("check", func(b *testing.B) {
				b.SetBytes(size)
				for b.Loop() {
					if err := openImage(b, img, im.pureGo).Check(); err != nil {
						b.Fatal(err)
					}
				}
			})
			if im.pureGo {
				return
			}
			b.Run("unsquashfs", func(b *testing.B) {
				b.SetBytes(size)
				out := filepath.Join(b.TempDir(), "x")
				for b.Loop() {
					if o, err := exec.Command("unsquashfs", "-q", "-n", "-f", "-d", out, img).CombinedOutput(); err != nil {
						b.Fatalf("unsquashfs: %v\n%s", err, o)
					}
				}
			})
		})
	}
}

// TestReaderUnsupported expects a clear error, not a misreading, for a compressor id squash
// does not know.
func TestReaderUnsupported(t *testing.T) {
	dir := smallTree(t)
	b, err := os.ReadFile(writeImage(t, dir, Options{BlockSize: testBlockSize, Compression: Compression{Algorithm: Gzip}}))
	if err != nil {
		t.Fatal(err)
	}
	putU16(b[sbCompression:], 7)
	if _, err := NewReader(bytes.NewReader(b), int64(len(b))); err == nil || !strings.Contains(err.Error(), "unknown compressor id 7") {
		t.Errorf("NewReader of an image of compressor 7 = %v, want an unknown compressor", err)
	}
}

// refuseDecoder decodes no block: a reader given it reads only what is stored uncompressed.
type refuseDecoder struct{}

var errCompressedBlock = errors.New("a compressed block")

func (refuseDecoder) decode([]byte, []byte) (int, error) { return 0, errCompressedBlock }
func (refuseDecoder) decodeKernel([]byte, []byte, *Superblock) (int, error) {
	return 0, errCompressedBlock
}
func (refuseDecoder) contentSize([]byte) (int, bool) { return 0, false }

// TestNoCompression writes images with None, in each layout, and reads them with a decoder that
// refuses every block: Check reads every metadata, data and fragment block, so none is
// compressed. The superblock says so as mksquashfs -no-compression does: gzip's id, no
// compressor options, the flags of -noI -noD -noF -noX (and not -noId's).
func TestNoCompression(t *testing.T) {
	dir := makeTree(t, true)
	want := diskRecords(t, dir, false)
	for _, o := range []Options{{}, {NoFragments: true}, {NoDedup: true}, {BlockSize: MaxBlockSize}} {
		t.Run(fmt.Sprintf("nofrag=%v,nodedup=%v,bs=%d", o.NoFragments, o.NoDedup, o.BlockSize), func(t *testing.T) {
			if o.BlockSize == 0 {
				o.BlockSize = testBlockSize
			}
			o.Compression, o.ModTime = Compression{Algorithm: None}, 1
			r := openImage(t, writeImage(t, dir, o), false)
			sb := r.Superblock()
			if sb.Compression != None || r.t.compressorID != compressionGzip || !reflect.DeepEqual(sb.Options, CompressorOptions{}) {
				t.Errorf("compression %q, id %d, options %+v: want none, gzip's id, no options", sb.Compression, r.t.compressorID, sb.Options)
			}
			if got := sb.flags & (flagsNoCompression | flagUncompressedIDs | flagCompressorOptions); got != flagsNoCompression {
				t.Errorf("flags %v, want uncompressed-inodes, -data, -fragments and -xattrs", sb.FlagNames())
			}
			r.dec = refuseDecoder{}
			// What NewReader decoded (the id table, the fragment index) is read again.
			r.meta.items, r.meta.order = nil, nil
			compareRecords(t, want, imageRecords(t, r))
			if err := r.Check(); err != nil {
				t.Error(err)
			}
			stored := 0
			err := r.Walk(func(_ string, e *Entry) error {
				if !e.Mode.IsRegular() {
					return nil
				}
				for b, err := range r.Blocks(e) {
					if err != nil {
						return err
					}
					if !b.Sparse && !b.Uncompressed {
						return fmt.Errorf("%s: block at %d stored compressed", e.Name, b.Offset)
					}
					if !b.Sparse {
						stored++
					}
				}
				return nil
			})
			if err != nil {
				t.Error(err)
			}
			if stored == 0 {
				t.Error("no stored block: the test tests nothing")
			}
		})
	}
}

// TestNoCompressionFlags reads an image whose flags say nothing is compressed though its blocks
// are: the Reader reports None, as the flags say, and still decodes what is compressed with the
// compressor the superblock names, as the kernel does.
func TestNoCompressionFlags(t *testing.T) {
	dir := smallTree(t)
	b, err := os.ReadFile(writeImage(t, dir, Options{BlockSize: testBlockSize, Compression: Compression{Algorithm: Gzip}}))
	if err != nil {
		t.Fatal(err)
	}
	putU16(b[sbFlags:], binary.LittleEndian.Uint16(b[sbFlags:])|flagsNoCompression)
	r, err := NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	if c := r.Superblock().Compression; c != None {
		t.Errorf("Compression %q, want none", c)
	}
	compareRecords(t, diskRecords(t, dir, false), imageRecords(t, r))
	if err := r.Check(); err != nil {
		t.Error(err)
	}
}

// TestReaderLZMA reads mksquashfs's lzma images, which the kernel cannot mount: Check says so.
func TestReaderLZMA(t *testing.T) {
	dir := makeTree(t, false)
	want := diskRecords(t, dir, true)
	for _, bs := range []string{"4K", "1M"} {
		r := openImage(t, mksquashfs(t, dir, "-comp", "lzma", "-b", bs, "-no-hardlinks", "-all-root"), false)
		compareRecords(t, want, imageRecords(t, r))
		if err := r.Check(); err == nil || !strings.Contains(err.Error(), "no lzma decompressor") {
			t.Errorf("Check of an lzma image = %v, want the kernel's refusal", err)
		}
	}
}

// TestReaderLargeSparse reads a file of more than 4 GiB, mostly a hole: an extended inode with
// 64-bit sizes and thousands of sparse blocks.
func TestReaderLargeSparse(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "large")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	const size = 5<<30 + 12345
	head, tail := []byte("head of a large file"), []byte("its tail, past 4 GiB")
	f.Write(head)
	if _, err := f.WriteAt(tail, size-int64(len(tail))); err != nil {
		t.Fatal(err)
	}
	f.Close()
	img := writeImage(t, dir, Options{Compression: Compression{Algorithm: Zstd, Level: 1}, ModTime: 1})
	r := openImage(t, img, false)
	e, err := r.Lookup("large")
	if err != nil {
		t.Fatal(err)
	}
	if !e.extended() || e.Size != size || e.sparse == 0 || e.nblocks != size>>20 || e.fragment == noFragment {
		t.Fatalf("entry: extended %v, size %d, sparse %d, %d blocks; want an extended inode of %d bytes with sparse blocks and its tail in a fragment",
			e.extended(), e.Size, e.sparse, e.nblocks, size)
	}
	rf, err := r.Open("large")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		off  int64
		want []byte
	}{{0, head}, {size - int64(len(tail)), tail}, {3 << 30, make([]byte, 4096)}, {size - int64(len(tail)) - 3, append([]byte{0, 0, 0}, tail...)}} {
		got := make([]byte, len(c.want))
		if _, err := rf.ReadAt(got, c.off); err != nil {
			t.Fatalf("ReadAt %d: %v", c.off, err)
		}
		if !bytes.Equal(got, c.want) {
			t.Errorf("ReadAt %d = %q, want %q", c.off, got, c.want)
		}
	}
	if n, err := rf.ReadAt(make([]byte, 10), size-5); n != 5 || err != io.EOF {
		t.Errorf("ReadAt past the end = %d, %v; want 5, EOF", n, err)
	}
	if err := r.Check(); err != nil {
		t.Fatal(err)
	}
}

// TestReaderFileAccess reads files every way a caller can: Read with odd buffer sizes, ReadAt
// at offsets around block and fragment boundaries, Seek then WriteTo from the middle.
func TestReaderFileAccess(t *testing.T) {
	dir := makeTree(t, false)
	img := writeImage(t, dir, Options{BlockSize: testBlockSize, Compression: Compression{Algorithm: LZ4}, ModTime: 1})
	r := openImage(t, img, false)
	bs := int64(testBlockSize)
	for _, name := range []string{"sizes/random-012305", "sizes/text-030720", "sparse/middle", "sparse/tail-zeros", "dups/b", "sizes/text-000100", "empty/file"} {
		want, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		f, err := r.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []int{1, 7, 4095, 4096, 10000} {
			f.Seek(0, io.SeekStart)
			var got []byte
			buf := make([]byte, n)
			for {
				k, err := f.Read(buf)
				got = append(got, buf[:k]...)
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s: Read in %d-byte pieces differs", name, n)
			}
		}
		size := int64(len(want))
		for _, off := range []int64{0, 1, bs - 1, bs, bs + 1, 2*bs - 3, size / 2, size - 1, size} {
			for _, n := range []int64{1, 5, bs, 2*bs + 3} {
				if off > size || off < 0 {
					continue
				}
				got := make([]byte, n)
				k, err := f.ReadAt(got, off)
				end := min(off+n, size)
				if int64(k) != end-off || !bytes.Equal(got[:k], want[off:end]) {
					t.Errorf("%s: ReadAt(%d bytes, %d) = %d bytes, differ", name, n, off, k)
				}
				if (off+n > size) != (err == io.EOF) {
					t.Errorf("%s: ReadAt(%d bytes, %d): error %v", name, n, off, err)
				}
			}
			if off >= 0 && off < size {
				f.Seek(off, io.SeekStart)
				var b bytes.Buffer
				if k, err := f.WriteTo(&b); err != nil || k != size-off || !bytes.Equal(b.Bytes(), want[off:]) {
					t.Errorf("%s: WriteTo from %d = %d bytes, %v", name, off, k, err)
				}
			}
		}
		f.Close()
	}
	// A symlink reads as its target; a directory does not read.
	f, err := r.Open("links/relative")
	if err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(f); err != nil || string(b) != "../sizes/text-000100" {
		t.Errorf("symlink reads %q, %v", b, err)
	}
	d, err := r.Open("sizes")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Read(make([]byte, 1)); err == nil {
		t.Error("Read of a directory succeeded")
	}
}

// TestReadInNameOrder reads every file of an image in the order Walk gives them, as manifest and
// diff do, within a contents limit of the files' sizes and each fragment block decoded about
// once: the Writer sorts tails by extension, so the files of one directory have their tails in
// fragment blocks all over a window, and a cache smaller than that window decoded a block for
// nearly every file (on the 2 GB corpus, manifest passed its 24 GB limit).
func TestReadInNameOrder(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(9, 10))
	exts := []string{".svg", ".png", ".txt", ".so", ".py", ".h", "", ".gz"}
	var total int64
	for i := range 3000 {
		p := filepath.Join(dir, fmt.Sprintf("d%02d", i%30), fmt.Sprintf("f%04d%s", i, exts[i%len(exts)]))
		os.MkdirAll(filepath.Dir(p), 0o755)
		b := make([]byte, 100+rng.IntN(3000))
		for j := range b {
			b[j] = byte(rng.IntN(256))
		}
		total += int64(len(b))
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const bs = 4096
	img := writeImage(t, dir, Options{BlockSize: bs, Compression: Compression{Algorithm: Zstd, Level: 3, PureGo: true}})
	r := openImage(t, img, false)
	frags := int64(r.Superblock().Fragments)
	r.SetLimits(Limits{Contents: total + frags*bs*5/4})
	err := r.Walk(func(name string, e *Entry) error {
		if !e.Mode.IsRegular() {
			return nil
		}
		f, err := r.OpenEntry(e)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(io.Discard, f)
		return err
	})
	if err != nil {
		t.Fatalf("reading %d bytes of files in %d fragment blocks: %v", total, frags, err)
	}
}
