package iso9660_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gonixiso/gonixiso/internal/testsystem"
	"github.com/gonixiso/gonixiso/iso9660"
)

// TestMultiExtent writes a 4.5 GiB file (sparse on disk, with markers around the 4 GiB extent
// boundary) into an image and gets it back whole from xorriso and from the reader.
func TestMultiExtent(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: writes a 4.5 GiB image and extracts it")
	}
	testsystem.Require(t, "xorriso")
	dir := t.TempDir()
	const size = 4608 << 20
	const extent = 0xFFFFF800                                                              // the largest extent the Writer makes: 4 GiB - 2 KiB
	markers := []int64{0, 4096, extent - 64, extent - 16, extent + 64, 1 << 32, size - 32} // 32 bytes each, one across the boundary
	marker := func(off int64) []byte {
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], uint64(off))
		sum := sha256.Sum256(b[:])
		return sum[:]
	}
	big := filepath.Join(dir, "nix-store.squashfs")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	for _, off := range markers {
		if _, err := f.WriteAt(marker(off)[:min(32, size-off)], off); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()

	iso := filepath.Join(t.TempDir(), "big.iso")
	w, err := iso9660.Create(iso, nixOptions("BIG"))
	if err != nil {
		t.Fatal(err)
	}
	src, err := iso9660.FromFile(big)
	if err != nil {
		t.Fatal(err)
	}
	w.AddFile("nix-store.squashfs", iso9660.Header{}, src)
	w.AddFile("version.txt", iso9660.Header{}, iso9660.FromBytes([]byte("after the big file")))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	check := func(who string, r io.ReaderAt, base int64) {
		t.Helper()
		for _, off := range markers {
			got := make([]byte, min(32, size-off))
			if _, err := r.ReadAt(got, base+off); err != nil {
				t.Fatalf("%s: read at %d: %v", who, off, err)
			}
			if !bytes.Equal(got, marker(off)[:len(got)]) {
				t.Errorf("%s: marker at %d is %x", who, off, got)
			}
		}
	}

	// The reader: one entry of two extents, contiguous, with the data in place.
	im := openImage(t, iso)
	all := entries(t, im)
	e := all["/nix-store.squashfs"]
	if e == nil || e.Size != size || len(e.Extents) != 2 || e.Extents[0].Size != extent ||
		e.Extents[1].Size != size-extent || e.Extents[1].LBA != e.Extents[0].LBA+extent/2048 {
		t.Fatalf("big file read as %+v", e)
	}
	img, err := os.Open(iso)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	check("image", img, int64(e.Extents[0].LBA)*2048)
	if r, _ := im.Open(all["/version.txt"]); string(readAll(t, r)) != "after the big file" {
		t.Error("the file after the big one reads wrong")
	}

	// xorriso lists it at its full size and extracts it whole.
	if out := run(t, "xorriso", "-indev", iso, "-find", "/nix-store.squashfs", "-exec", "lsdl"); !strings.Contains(out, " "+strconv.Itoa(size)+" ") {
		t.Errorf("xorriso lists the file as:\n%s", out)
	}
	out := filepath.Join(t.TempDir(), "extracted")
	run(t, "xorriso", "-osirrox", "on", "-indev", iso, "-extract", "/nix-store.squashfs", out)
	x, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	if fi, _ := x.Stat(); fi.Size() != size {
		t.Fatalf("extracted %d bytes, want %d", fi.Size(), size)
	}
	check("extracted", x, 0)
	// A MiB on each side of the extent boundary, compared whole.
	a, b := make([]byte, 2<<20), make([]byte, 2<<20)
	src2, _ := os.Open(big)
	defer src2.Close()
	src2.ReadAt(a, extent-1<<20)
	x.ReadAt(b, extent-1<<20)
	if !bytes.Equal(a, b) {
		t.Error("the extracted file differs around the extent boundary")
	}
}
