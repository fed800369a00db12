package iso9660_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/gonixiso/gonixiso/internal/testsystem"
	"github.com/gonixiso/gonixiso/iso9660"
)

// TestFileReadAt reads a file of three extents, out of order in the image, at every offset and
// length, and through Read and Seek (iotest.TestReader).
func TestFileReadAt(t *testing.T) {
	img := seedImage(t, false)
	im, err := iso9660.Open(bytes.NewReader(img), int64(len(img)))
	if err != nil {
		t.Fatal(err)
	}
	// 10 bytes at sector 20, 2048+15 at sector 2 (two sectors), 5 at sector 7.
	e := &iso9660.Entry{Path: "/x", Size: 10 + 2048 + 15 + 5,
		Extents: []iso9660.Extent{{LBA: 20, Size: 10}, {LBA: 2, Size: 2048 + 15}, {LBA: 7, Size: 5}}}
	var want []byte
	for _, x := range e.Extents {
		off := int(x.LBA) * 2048
		want = append(want, img[off:off+int(x.Size)]...)
	}
	f, err := im.Open(e)
	if err != nil {
		t.Fatal(err)
	}
	if f.Size() != int64(len(want)) {
		t.Fatalf("Size %d, want %d", f.Size(), len(want))
	}
	size := len(want)
	for _, off := range []int{0, 1, 9, 10, 11, 2000, 2072, 2073, 2074, size - 1, size} {
		for _, n := range []int{0, 1, 5, 10, 2048, 3000, size} {
			p := make([]byte, n)
			k, err := f.ReadAt(p, int64(off))
			end := min(off+n, size)
			if k != end-off || !bytes.Equal(p[:k], want[off:end]) {
				t.Fatalf("ReadAt(%d bytes at %d) = %d, wrong bytes", n, off, k)
			}
			if short := off+n > size || off == size; short != (err == io.EOF) || !short && err != nil {
				t.Fatalf("ReadAt(%d bytes at %d): %v", n, off, err)
			}
		}
	}
	if err := iotest.TestReader(f, want); err != nil {
		t.Error(err)
	}
	// An extent that leaves the image is refused by Open, before any read.
	bad := &iso9660.Entry{Path: "/bad", Size: 4096, Extents: []iso9660.Extent{{LBA: uint32(len(img)/2048) - 1, Size: 4096}}}
	if _, err := im.Open(bad); !errors.Is(err, iso9660.ErrFormat) || !strings.Contains(err.Error(), "/bad") {
		t.Errorf("extent beyond the end: %v", err)
	}
}

// TestTreeHardLinks reads images where xorriso and genisoimage record hard links as files with
// the same extents: the tree reads them, Link names the first, and their contents are what
// osirrox extracts.
func TestTreeHardLinks(t *testing.T) {
	testsystem.Require(t, "xorriso", "genisoimage", "osirrox")
	src := t.TempDir()
	for _, d := range []string{"a", "b"} {
		if err := os.Mkdir(filepath.Join(src, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	data := bytes.Repeat([]byte("hard link "), 500)
	if err := os.WriteFile(filepath.Join(src, "a", "f"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, l := range []string{"b/g", "h"} {
		if err := os.Link(filepath.Join(src, "a", "f"), filepath.Join(src, l)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(src, "other"), []byte("other"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, tool := range []string{"xorriso", "genisoimage"} {
		iso := filepath.Join(dir, tool+".iso")
		if tool == "xorriso" {
			run(t, "xorriso", "-outdev", iso, "-map", src, "/", "-commit")
		} else {
			run(t, "genisoimage", "-quiet", "-R", "-o", iso, src)
		}
		out := filepath.Join(dir, tool)
		run(t, "osirrox", "-indev", iso, "-extract", "/", out)
		im := openImage(t, iso)
		tree, err := im.ReadTree()
		if err != nil {
			t.Fatalf("%s: %v", tool, err)
		}
		first := tree.Lookup("/a/f")
		for _, p := range []string{"/a/f", "/b/g", "/h", "/other"} {
			e := tree.Lookup(p)
			if e == nil {
				t.Fatalf("%s: no %s", tool, p)
			}
			if link := tree.Link(e); (link == first) != (p != "/other") {
				t.Errorf("%s: Link(%s) = %s", tool, p, link.Path)
			}
			f, err := im.Open(e)
			if err != nil {
				t.Fatal(err)
			}
			extracted, err := os.ReadFile(filepath.Join(out, p))
			if err != nil {
				t.Fatal(err)
			}
			if got := readAll(t, f); !bytes.Equal(got, extracted) {
				t.Errorf("%s: %s reads %d bytes, osirrox extracts %d", tool, p, len(got), len(extracted))
			}
			if tree.FileAt(e.Extents[0].LBA) != tree.Link(e) {
				t.Errorf("%s: FileAt(%d) is not %s's first link", tool, e.Extents[0].LBA, p)
			}
		}
		if tree.Lookup("/nothing") != nil || tree.Lookup("/").Path != "/" || len(tree.Entries()) != 7 {
			t.Errorf("%s: lookups of a tree of %d entries", tool, len(tree.Entries()))
		}
	}
}

// TestTreeOverlap checks the rule that files share data only as hard links, on directories
// crafted into a valid image: files whose extents overlap without being the same, or a file
// that lists an extent twice, are refused; files with the same extents, however many, are read.
func TestTreeOverlap(t *testing.T) {
	base := seedImage(t, false)
	file := func(name string, lba, size uint32) []byte { return record(name+";1", lba, size, 0, nil) }
	more := func(name string, lba, size uint32) []byte { return record(name+";1", lba, size, 0x80, nil) }
	many := func(n int, lba, size uint32) [][]byte {
		var recs [][]byte
		for i := range n {
			recs = append(recs, file(fmt.Sprintf("F%04d", i), lba, size))
		}
		return recs
	}
	for _, c := range []struct {
		name string
		recs [][]byte
		ok   bool
	}{
		{"links", [][]byte{file("A", 20, 4096), file("B", 20, 4096)}, true},
		{"apart", [][]byte{file("A", 20, 4096), file("B", 22, 4096)}, true},
		{"many links", many(2000, 18, 8192), true},
		{"empty files anywhere", [][]byte{file("A", 20, 0), file("B", 20, 4096), file("C", 21, 0)}, true},
		{"multi-extent links", [][]byte{more("A", 20, 2048), file("A", 24, 10), more("B", 20, 2048), file("B", 24, 10)}, true},
		{"inside", [][]byte{file("A", 20, 4096), file("B", 21, 2048)}, false},
		{"same start", [][]byte{file("A", 20, 4096), file("B", 20, 2048)}, false},
		{"straddling", [][]byte{file("A", 20, 4096), file("B", 19, 4096)}, false},
		{"extent twice", [][]byte{more("A", 20, 2048), file("A", 20, 2048)}, false},
		{"links of a file with an extent twice", [][]byte{more("A", 20, 2048), file("A", 20, 2048), more("B", 20, 2048), file("B", 20, 2048)}, false},
		{"link of a part", [][]byte{more("A", 20, 2048), file("A", 24, 10), file("B", 20, 2048)}, false},
		{"many overlapping", append(many(1000, 18, 8192), file("Z", 19, 2048)), false},
	} {
		img, _ := withDir(t, base, "CRAFTED", c.recs)
		im, err := iso9660.Open(bytes.NewReader(img), int64(len(img)))
		if err != nil {
			t.Fatal(err)
		}
		tree, err := im.ReadTree()
		if c.ok != (err == nil) {
			t.Errorf("%s: ReadTree: %v", c.name, err)
			continue
		}
		if err != nil {
			if !errors.Is(err, iso9660.ErrFormat) || !strings.Contains(err.Error(), "data overlap") {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		// Reading each first link once reads at most the image.
		var read int64
		for _, e := range tree.Entries() {
			if e.Mode.IsRegular() && tree.Link(e) == e {
				f, err := im.Open(e)
				if err != nil {
					t.Fatal(err)
				}
				h := sha256.New()
				n, _ := io.Copy(h, f)
				read += n
			}
		}
		if read > int64(len(img)) {
			t.Errorf("%s: reading every file once reads %d bytes of a %d-byte image", c.name, read, len(img))
		}
	}
}
