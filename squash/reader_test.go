package squash

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"testing/fstest"
	"time"
	"unsafe"

	"github.com/gonixiso/gonixiso/internal/testsystem"
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
		strings.Repeat("n", 255), "\x01ctl", "quote\"'", "é", "E"}
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
			f, err := r.Open(name)
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
	if err := w.AddTree(".", dir, nil); err != nil {
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
	// fstest.TestFS refuses backslashes in names, which SquashFS allows.
	if err := os.Remove(filepath.Join(dir, `odd/back\slash`)); err != nil {
		t.Fatal(err)
	}
	img := writeImage(t, dir, Options{BlockSize: testBlockSize, Compression: Compression{Algorithm: Zstd, Level: 3}, ModTime: 1})
	r := openImage(t, img, false)
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

func TestReaderMksquashfs(t *testing.T) {
	dir := makeTree(t, true)
	want := diskRecords(t, dir, true)
	for _, v := range mksquashfsVariants {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			img := mksquashfs(t, dir, v.args...)
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
	off, n := int64(e.StartBlock), 0
	for _, w := range e.Blocks {
		size := int64(w &^ BlockUncompressed)
		if w != 0 && w&BlockUncompressed == 0 {
			raw := make([]byte, size)
			if _, err := r.ra.ReadAt(raw, off); err != nil {
				t.Fatal(err)
			}
			s, err := parseXZ(raw)
			if err != nil {
				t.Fatal(err)
			}
			if len(s.blocks[0].filters) == 2 {
				n++
			}
		}
		off += size
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
	compareRecords(t, diskRecords(t, out, false), imageRecords(t, r))
}
