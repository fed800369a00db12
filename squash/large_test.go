package squash_test

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gonixiso/gonixiso/internal/testsystem"
	"github.com/gonixiso/gonixiso/squash"
)

// TestWriterLargeSparseFile packs a file of 4.5 GiB, sparse on disk, with data at its start, in
// its middle, past 4 GiB and at its end: it needs an extended inode (64-bit size), and its holes
// must come back as sparse blocks. unsquashfs extracts it identical to the source.
func TestWriterLargeSparseFile(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: reads 4.5 GiB")
	}
	testsystem.Require(t, "unsquashfs")
	src := t.TempDir()
	p := filepath.Join(src, "big.img")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	const size = 4<<30 + 512<<20 + 12345
	for _, off := range []int64{0, 2 << 30, 4<<30 + 1000, size - 5000} {
		if _, err := f.WriteAt([]byte(strings.Repeat("gonixiso large file marker ", 180)), off); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.WriteFile(filepath.Join(src, "after"), []byte("a file after the large one\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	img := pack(t, src, squash.Options{Compression: squash.Compression{Level: 1, PureGo: true}})
	fi, err := os.Stat(img)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() > 1<<20 {
		t.Errorf("image is %d bytes: the holes were not stored as sparse blocks", fi.Size())
	}
	listing := run(t, "unsquashfs", "-lln", img)
	if want := fmt.Sprintf(" %d ", size); !strings.Contains(listing, want) {
		t.Errorf("unsquashfs -lln does not show the size %d:\n%s", int64(size), listing)
	}
	out := filepath.Join(t.TempDir(), "x")
	run(t, "unsquashfs", "-no-progress", "-d", out, img)
	sameSparse(t, p, filepath.Join(out, "big.img"))
	if b, err := os.ReadFile(filepath.Join(out, "after")); err != nil || string(b) != "a file after the large one\n" {
		t.Errorf("after: %q %v", b, err)
	}
}

// sameSparse compares two files that are mostly holes without reading the holes: the data
// regions of each (SEEK_DATA/SEEK_HOLE) are compared with the other file's bytes there, which
// must be zeros wherever only one of them has data.
func sameSparse(t *testing.T, a, b string) {
	t.Helper()
	fa, err := os.Open(a)
	if err != nil {
		t.Fatal(err)
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		t.Fatal(err)
	}
	defer fb.Close()
	sa, _ := fa.Stat()
	sb, _ := fb.Stat()
	if sa.Size() != sb.Size() {
		t.Fatalf("%s is %d bytes, %s is %d", a, sa.Size(), b, sb.Size())
	}
	compared := int64(0)
	for _, pair := range [][2]*os.File{{fa, fb}, {fb, fa}} {
		for _, r := range dataRegions(t, pair[0], sa.Size()) {
			x := make([]byte, r[1]-r[0])
			y := make([]byte, r[1]-r[0])
			if _, err := pair[0].ReadAt(x, r[0]); err != nil && err != io.EOF {
				t.Fatal(err)
			}
			if _, err := pair[1].ReadAt(y, r[0]); err != nil && err != io.EOF {
				t.Fatal(err)
			}
			if !bytes.Equal(x, y) {
				t.Fatalf("%s and %s differ in [%d, %d)", a, b, r[0], r[1])
			}
			compared += r[1] - r[0]
		}
	}
	if compared == 0 || compared > 1<<30 {
		t.Fatalf("compared %d bytes of data regions: the files are not sparse as expected", compared)
	}
}

// dataRegions lists [start, end) of the data regions of a file, by SEEK_DATA and SEEK_HOLE.
func dataRegions(t *testing.T, f *os.File, size int64) [][2]int64 {
	t.Helper()
	var out [][2]int64
	for off := int64(0); off < size; {
		start, err := unix.Seek(int(f.Fd()), off, unix.SEEK_DATA)
		if err == unix.ENXIO {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		end, err := unix.Seek(int(f.Fd()), start, unix.SEEK_HOLE)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, [2]int64{start, end})
		off = end
	}
	return out
}

// TestWriterHolesDoNotChangeBytes packs the same contents twice, once written out with zeros and
// once with holes on disk: the images must be identical, since a store's files may or may not be
// sparse depending on the filesystem.
func TestWriterHolesDoNotChangeBytes(t *testing.T) {
	var imgs [2][]byte
	for i, sparse := range []bool{false, true} {
		src := t.TempDir()
		for _, name := range []string{"a", "b"} {
			f, err := os.Create(filepath.Join(src, name))
			if err != nil {
				t.Fatal(err)
			}
			const size = 5<<20 + 300
			if !sparse {
				if _, err := f.Write(make([]byte, size)); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := f.WriteAt([]byte("data in the middle"), 2<<20+7); err != nil {
				t.Fatal(err)
			}
			if err := f.Truncate(size); err != nil {
				t.Fatal(err)
			}
			f.Close()
			os.Chtimes(filepath.Join(src, name), time.Unix(1, 0), time.Unix(1, 0))
		}
		os.Chtimes(src, time.Unix(1, 0), time.Unix(1, 0))
		b, err := os.ReadFile(pack(t, src, squash.Options{Compression: squash.Compression{Level: 1, PureGo: true}}))
		if err != nil {
			t.Fatal(err)
		}
		imgs[i] = b
	}
	if !bytes.Equal(imgs[0], imgs[1]) {
		t.Fatal("a tree written with zeros and the same tree with holes give different images")
	}
}
