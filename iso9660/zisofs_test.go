package iso9660_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/gonixiso/gonixiso/iso9660"
)

// zisofsImage returns a seed image with the file /Z/F holding stored, marked by the ZF entry zf,
// and the image's reader.
func zisofsImage(t testing.TB, stored, zf []byte) ([]byte, *iso9660.Image) {
	t.Helper()
	img, lba := withData(seedImage(t, false), stored)
	img, _ = withDir(t, img, "Z", [][]byte{record("F;1", lba, uint32(len(stored)), 0, zf)})
	im, err := iso9660.Open(bytes.NewReader(img), int64(len(img)))
	if err != nil {
		t.Fatal(err)
	}
	return img, im
}

// TestZisofsRoundTrip reads files encoded as xorriso encodes them, every block size of both
// versions, through ReadAt at block boundaries and through iotest.TestReader.
func TestZisofsRoundTrip(t *testing.T) {
	var b strings.Builder
	for i := 0; b.Len() < 300_000; i++ {
		fmt.Fprintf(&b, "%d ", i*i%65521)
	}
	data := []byte(b.String())
	copy(data[40_000:], make([]byte, 140_000)) // whole blocks of zeros
	for _, c := range []struct {
		version byte
		alg     string
		shifts  []uint8
	}{{1, "pz", []uint8{12, 15, 16, 17}}, {2, "PZ", []uint8{15, 17, 20}}} {
		for _, shift := range c.shifts {
			stored := zisofsFile(data, c.version, shift)
			_, im := zisofsImage(t, stored, zfEntry(c.version, c.alg, shift, uint64(len(data))))
			tree, err := im.ReadTree()
			if err != nil {
				t.Fatalf("version %d, 2^%d: %v", c.version, shift, err)
			}
			e := tree.Lookup("/Z/F")
			if e.Size != int64(len(data)) || e.Extents[0].Size != uint32(len(stored)) {
				t.Fatalf("version %d, 2^%d: size %d, extent %+v", c.version, shift, e.Size, e.Extents)
			}
			f, err := im.Open(e)
			if err != nil {
				t.Fatal(err)
			}
			bs := 1 << shift
			for _, off := range []int{0, bs - 1, bs, 40_000, 3*bs + 5, len(data) - 1} {
				if off >= len(data) {
					continue
				}
				p := make([]byte, min(2*bs+3, len(data)-off))
				if n, err := f.ReadAt(p, int64(off)); n != len(p) || err != nil || !bytes.Equal(p, data[off:off+n]) {
					t.Fatalf("version %d, 2^%d: ReadAt at %d: %d, %v", c.version, shift, off, n, err)
				}
			}
			if err := iotest.TestReader(f, data); err != nil {
				t.Errorf("version %d, 2^%d: %v", c.version, shift, err)
			}
		}
	}
}

// TestZisofsCrafted checks crafted zisofs files: the reader refuses declared sizes beyond the
// image's bounds, block pointers outside the file and blocks that do not decode to a block, and
// reports what it does not decode.
func TestZisofsCrafted(t *testing.T) {
	text := bytes.Repeat([]byte("zisofs block "), 20_000) // 260 kB
	good := zisofsFile(text, 1, 15)
	patched := func(f func(b []byte)) []byte {
		b := bytes.Clone(good)
		f(b)
		return b
	}
	ptr := func(b []byte, i int, v uint32) { binary.LittleEndian.PutUint32(b[16+4*i:], v) }
	ptrAt := func(i int) uint32 { return binary.LittleEndian.Uint32(good[16+4*i:]) }
	zf := zfEntry(1, "pz", 15, uint64(len(text)))
	// A zisofs2 file of only zero blocks: a pointer table and nothing else.
	zeros := func(size uint64) []byte {
		n := (size + 1<<20 - 1) >> 20
		b := make([]byte, 24+8*(n+1))
		copy(b, []byte{0xEF, 0x22, 0x55, 0xA1, 0xBC, 0x1B, 0x95, 0xA0})
		b[9], b[10], b[11] = 6, 1, 20
		binary.LittleEndian.PutUint64(b[12:], size)
		for i := range n + 1 {
			binary.LittleEndian.PutUint64(b[24+8*i:], uint64(len(b)))
		}
		return b
	}
	for _, c := range []struct {
		name         string
		stored, zf   []byte
		tree, open   string // the error ReadTree, and Open, return: "" for none
		read         string // the error reading the whole file returns
		unsupported  bool
		size         int64
		readsAsBytes []byte
	}{
		{name: "good", stored: good, zf: zf, readsAsBytes: text},
		{name: "pointer past the end", stored: patched(func(b []byte) { ptr(b, 3, uint32(len(b)+1)) }), zf: zf, read: "zisofs block 2"},
		{name: "pointers backwards", stored: patched(func(b []byte) { ptr(b, 3, ptrAt(2)-1) }), zf: zf, read: "zisofs block 2"},
		{name: "block too long", stored: patched(func(b []byte) { ptr(b, 0, 0) }), zf: zf, read: "zisofs block 0"},
		{name: "block into the next", stored: patched(func(b []byte) { ptr(b, 1, ptrAt(1)+7) }), zf: zf, read: "zisofs block 1"},
		{name: "checksum", stored: patched(func(b []byte) { b[ptrAt(1)-1] ^= 1 }), zf: zf, read: "zisofs block 0"},
		{name: "block too short", stored: patched(func(b []byte) { ptr(b, 1, ptrAt(0)+10) }), zf: zf, read: "zisofs block 0"},
		{name: "header", stored: patched(func(b []byte) { b[0] = 0 }), zf: zf, open: "does not match"},
		{name: "header's size", stored: patched(func(b []byte) { b[8]++ }), zf: zf, open: "does not match"},
		{name: "larger than the file says", stored: good, zf: zfEntry(1, "pz", 15, uint64(len(text))+1), open: "does not match"},
		{name: "no room for the pointers", stored: good[:40], zf: zf, tree: "needs"},
		{name: "block size", stored: good, zf: zfEntry(1, "pz", 18, uint64(len(text))), tree: "2^18"},
		{name: "zisofs2 algorithm not decoded", stored: zeros(1 << 20), zf: zfEntry(2, "XZ", 20, 1<<20), unsupported: true, size: 1 << 20},
		{name: "unknown ZF version", stored: good, zf: zfEntry(3, "pz", 15, uint64(len(text))), readsAsBytes: good},
		{name: "zeros within bounds", stored: zeros(4 << 20), zf: zfEntry(2, "PZ", 20, 4<<20), size: 4 << 20},
		{name: "zeros beyond bounds", stored: zeros(1 << 30), zf: zfEntry(2, "PZ", 20, 1<<30), tree: "more than 64 times"},
		{name: "zisofs2 size beyond int64", stored: good, zf: zfEntry(2, "PZ", 20, 1<<63), tree: "zisofs2 file of"},
	} {
		img, im := zisofsImage(t, c.stored, c.zf)
		tree, err := im.ReadTree()
		if !errorSays(err, c.tree) {
			t.Errorf("%s: ReadTree: %v, want %q", c.name, err, c.tree)
			continue
		}
		if err != nil {
			continue
		}
		e := tree.Lookup("/Z/F")
		f, err := im.Open(e)
		if c.unsupported {
			if !errors.Is(err, errors.ErrUnsupported) || !strings.Contains(err.Error(), "/Z/F") || e.Size != c.size {
				t.Errorf("%s: size %d, Open: %v", c.name, e.Size, err)
			}
			continue
		}
		if !errorSays(err, c.open) {
			t.Errorf("%s: Open: %v, want %q", c.name, err, c.open)
			continue
		}
		if err != nil {
			continue
		}
		var b bytes.Buffer
		n, err := io.Copy(&b, f)
		if !errorSays(err, c.read) {
			t.Errorf("%s: read %d bytes: %v, want %q", c.name, n, err, c.read)
		}
		if c.readsAsBytes != nil && !bytes.Equal(b.Bytes(), c.readsAsBytes) || c.size != 0 && n != c.size {
			t.Errorf("%s: read %d bytes", c.name, n)
		}
		if c.size > int64(64*len(img)) {
			t.Errorf("%s: %d bytes from %d", c.name, c.size, len(img))
		}
	}
}

// TestZisofsManyBombs checks the bound on a tree's zisofs files in all: files each within the
// bound that add up to more are refused, and so are links that differ only in their ZF entry.
func TestZisofsManyBombs(t *testing.T) {
	img := seedImage(t, false)
	var recs [][]byte
	for i := range 100 {
		size := uint64(len(img)) * 63 // each within the bound, once the image has grown
		n := (size + 1<<20 - 1) >> 20
		b := make([]byte, 24+8*(n+1))
		copy(b, []byte{0xEF, 0x22, 0x55, 0xA1, 0xBC, 0x1B, 0x95, 0xA0})
		b[9], b[10], b[11] = 6, 1, 20
		binary.LittleEndian.PutUint64(b[12:], size)
		for j := range n + 1 {
			binary.LittleEndian.PutUint64(b[24+8*j:], uint64(len(b)))
		}
		var lba uint32
		img, lba = withData(img, b)
		recs = append(recs, record(fmt.Sprintf("F%d;1", i), lba, uint32(len(b)), 0, zfEntry(2, "PZ", 20, size)))
	}
	crafted, _ := withDir(t, img, "Z", recs)
	im, err := iso9660.Open(bytes.NewReader(crafted), int64(len(crafted)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := im.ReadTree(); !errorSays(err, "zisofs files hold more than 64 times") {
		t.Errorf("100 files of 63 times the image: %v", err)
	}

	// Two names for the same data, one compressed and one not.
	stored := zisofsFile([]byte(strings.Repeat("x", 100_000)), 1, 15)
	img, lba := withData(seedImage(t, false), stored)
	img, _ = withDir(t, img, "Z", [][]byte{
		record("A;1", lba, uint32(len(stored)), 0, zfEntry(1, "pz", 15, 100_000)),
		record("B;1", lba, uint32(len(stored)), 0, nil),
	})
	im, err = iso9660.Open(bytes.NewReader(img), int64(len(img)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := im.ReadTree(); !errorSays(err, "data overlap") {
		t.Errorf("a compressed and an uncompressed link: %v", err)
	}
}

// errorSays tells whether err is nil when want is "", or says want and is a format error or an
// I/O error of the image's data.
func errorSays(err error, want string) bool {
	if want == "" || err == nil {
		return (err == nil) == (want == "")
	}
	return strings.Contains(err.Error(), want)
}
