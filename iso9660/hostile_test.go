package iso9660_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/gonixiso/gonixiso/iso9660"
)

// Hostile images: the shapes that make a reader read or hold much more than the image, built
// by Go helpers into a copy of a small valid image.

// nmEntry is a Rock Ridge NM entry holding name.
func nmEntry(name string) []byte { return susp("NM", append([]byte{0}, name...)) }

// appendSectors appends b to img at a sector boundary, padded to whole sectors, and returns the
// image and b's first sector.
func appendSectors(img, b []byte) ([]byte, uint32) { return withData(img, b) }

// dirOf lays out a directory's extent: its "." and ".." records, then recs.
func dirOf(lba, parent, parentSize uint32, recs [][]byte) []byte {
	all := append([][]byte{record("\x00", lba, 0, 2, nil), record("\x01", parent, parentSize, 2, nil)}, recs...)
	d := sectorsOf(all)
	binary.LittleEndian.PutUint32(d[10:], uint32(len(d)))
	binary.BigEndian.PutUint32(d[14:], uint32(len(d)))
	return d
}

// withRootDir returns img with a record in the root directory of a directory named name at
// sector lba, of size bytes.
func withRootDir(t testing.TB, img []byte, name string, lba, size uint32) []byte {
	t.Helper()
	img, _ = withDir(t, img, name, nil)
	rootLBA, _ := rootOf(img)
	for off := int(rootLBA) * 2048; img[off] != 0; off += int(img[off]) {
		if string(img[off+33:off+33+int(img[off+32])]) == name {
			copy(img[off+2:], both32(lba))
			copy(img[off+10:], both32(size))
			return img
		}
	}
	t.Fatal("no record of", name)
	return nil
}

// hostile is a crafted image and what reading it must come to.
type hostile struct {
	name string
	img  []byte
	// refused says what ReadTree's error says, "" when the image reads.
	refused string
}

// hostileImages builds the worst shapes, each of about extra bytes laid into a seed image.
func hostileImages(t testing.TB, extra int) []hostile {
	t.Helper()
	base := seedImage(t, false)
	size := len(base) + extra
	rootLBA, rootSize := rootOf(base)
	var out []hostile

	// Files of one-character names in 34-byte records, as many as the image holds, every one a
	// hard link of 64 KiB.
	{
		img, data := withData(base, make([]byte, 64<<10))
		n := max(size-len(img), extra/2) / 34
		recs := make([][]byte, 0, n)
		for i := range n {
			recs = append(recs, record(string(rune('A'+i%26)), data, 64<<10, 0, nil))
		}
		img, _ = withDir(t, img, "F", recs)
		out = append(out, hostile{name: "many records", img: img})
	}

	// The same, each record naming the whole image (and more): refused.
	{
		n := (size - len(base)) / 34
		recs := make([][]byte, 0, n)
		for i := range n {
			recs = append(recs, record(string(rune('A'+i%26)), uint32(i%16), uint32(size), 0, nil))
		}
		img, _ := withDir(t, base, "F", recs)
		out = append(out, hostile{name: "many overlapping records", img: img, refused: "data overlap"})
	}

	// Directories nested as deep as the reader goes, each named by 200 bytes of Rock Ridge NM,
	// the deepest full of files: paths of 12 KB each, if every file's path is built whole.
	{
		const depth = 63
		name := strings.Repeat("n", 200)
		first := uint32(len(base) / 2048) // the directories follow the image, one sector each but the last
		n := max(extra-depth*2048, extra/2) / 34
		files := make([][]byte, 0, n)
		for i := range n {
			files = append(files, record(string(rune('A'+i%26)), 0, 0, 0, nil))
		}
		last := first + depth - 1
		deepest := dirOf(last, last-1, 2048, files)
		img := base
		for d := range depth - 1 {
			lba := first + uint32(d)
			parent, parentSize := rootLBA, rootSize
			if d > 0 {
				parent, parentSize = lba-1, 2048
			}
			child := uint32(2048)
			if d == depth-2 {
				child = uint32(len(deepest))
			}
			img = append(img, dirOf(lba, parent, parentSize, [][]byte{record("D", lba+1, child, 2, nmEntry(name))})...)
		}
		img = append(img, deepest...)
		img = withRootDir(t, img, "X", first, 2048)
		out = append(out, hostile{name: "long paths", img: img, refused: "paths add up to more than 2 times the image"})
	}

	// Every record's System Use continues in a continuation area that continues in itself.
	{
		img, ce := appendSectors(base, make([]byte, 2048))
		loop := susp("CE", append(append(both32(ce), both32(0)...), both32(28)...))
		copy(img[int(ce)*2048:], loop)
		n := (size - len(img)) / 64
		recs := make([][]byte, 0, n)
		for i := range n {
			recs = append(recs, record(string(rune('A'+i%26)), 0, 0, 0, loop))
		}
		img, _ = withDir(t, img, "C", recs)
		out = append(out, hostile{name: "continuation loops", img: img, refused: "continuation"})
	}

	// Every record's System Use continues in the same continuation area, a sector long.
	{
		area := append(susp("PX", append(append(both32(0o100444), both32(1)...), make([]byte, 16)...)), susp("NM", []byte{0, 'x'})...)
		area = append(area, susp("PD", make([]byte, 2048-len(area)-4))...)
		img, ce := appendSectors(base, area)
		cont := susp("CE", append(append(both32(ce), both32(0)...), both32(2048)...))
		n := (size - len(img)) / 62
		recs := make([][]byte, 0, n)
		for i := range n {
			recs = append(recs, record(string(rune('A'+i%26)), 0, 0, 0, cont))
		}
		img, _ = withDir(t, img, "C", recs)
		out = append(out, hostile{name: "shared continuation area", img: img, refused: "add up to more than the image holds"})
	}

	// Directories whose extents overlap, each the rest of the image: every directory's records
	// read again from the next sector on.
	{
		img := base
		first := uint32(len(img) / 2048)
		sectors := (size - len(base)) / 2048
		for s := range sectors {
			lba := first + uint32(s)
			img = append(img, dirOf(lba, rootLBA, rootSize, [][]byte{
				record("S", lba+1, uint32(sectors-s-1)*2048, 2, nil),
			})...)
		}
		img = withRootDir(t, img, "O", first, uint32(sectors*2048))
		out = append(out, hostile{name: "overlapping directories", img: img, refused: "add up to more than the image holds"})
	}

	// One file of as many extents as records fit: each extent the same sector.
	{
		n := (size - len(base)) / 36
		recs := make([][]byte, 0, n)
		for i := range n {
			flags := byte(0x80)
			if i == n-1 {
				flags = 0
			}
			recs = append(recs, record("M;1", uint32(20+i%2), 2048, flags, nil))
		}
		img, _ := withDir(t, base, "M", recs)
		out = append(out, hostile{name: "extents of one file", img: img, refused: "data overlap"})
	}

	// zisofs files of zero blocks, each declaring as much as it may.
	{
		declared := uint64(size) * 60
		n := (declared + 1<<20 - 1) >> 20
		b := make([]byte, 24+8*(n+1))
		copy(b, []byte{0xEF, 0x22, 0x55, 0xA1, 0xBC, 0x1B, 0x95, 0xA0})
		b[9], b[10], b[11] = 6, 1, 20
		binary.LittleEndian.PutUint64(b[12:], declared)
		for j := range n + 1 {
			binary.LittleEndian.PutUint64(b[24+8*j:], uint64(len(b)))
		}
		b = append(b, make([]byte, (2048-len(b)%2048)%2048)...)
		files := (size - len(base)) / len(b)
		img, lba := withData(base, bytes.Repeat(b, files))
		var recs [][]byte
		for i := range files {
			recs = append(recs, record(fmt.Sprintf("Z%d;1", i), lba+uint32(i*len(b)/2048), uint32(len(b)), 0, zfEntry(2, "PZ", 20, declared)))
		}
		img, _ = withDir(t, img, "Z", recs)
		out = append(out, hostile{name: "zisofs bombs", img: img, refused: "zisofs files hold more"})
	}
	return out
}

// readAllFiles reads a tree and each of its files once, and returns the bytes read.
func readAllFiles(img []byte) (int64, error) {
	im, err := iso9660.Open(bytes.NewReader(img), int64(len(img)))
	if err != nil {
		return 0, err
	}
	tree, err := im.ReadTree()
	if err != nil {
		return 0, err
	}
	var read int64
	for _, e := range tree.Entries() {
		if e.Mode.IsRegular() && tree.Link(e) == e {
			f, err := im.Open(e)
			if err != nil {
				return read, err
			}
			n, err := io.Copy(io.Discard, f)
			read += n
			if err != nil {
				return read, err
			}
		}
	}
	return read, nil
}

// maxAllocRatio bounds what reading an image and each of its files once allocates, in bytes
// per byte of the image (and 4 MiB besides). The worst shape is a directory of 34-byte records:
// an Entry and its share of a Tree's indexes take about 240 bytes.
const maxAllocRatio = 8

// TestHostileImages reads the worst shapes of a few megabytes: each is read, or refused with an
// error that says why, allocating at most maxAllocRatio times the image's size.
func TestHostileImages(t *testing.T) {
	const size = 4 << 20
	for _, h := range hostileImages(t, size) {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		read, err := readAllFiles(h.img)
		runtime.ReadMemStats(&after)
		alloc := after.TotalAlloc - before.TotalAlloc
		t.Logf("%s: %d bytes: read %d, allocated %d (%.1f times the image): %v", h.name, len(h.img), read, alloc,
			float64(alloc)/float64(len(h.img)), err)
		if !errorSays(err, h.refused) {
			t.Errorf("%s: %v, want an error saying %q", h.name, err, h.refused)
		}
		if limit := uint64(maxAllocRatio*len(h.img) + 4<<20); alloc > limit {
			t.Errorf("%s: allocated %d bytes reading a %d-byte image, more than %d", h.name, alloc, len(h.img), limit)
		}
	}
}

// TestTooManyEntries checks that a tree of more entries than the reader holds is refused, and
// that finding out allocates no more than reading a tree.
func TestTooManyEntries(t *testing.T) {
	img := seedImage(t, false)
	for d := range 2 {
		recs := make([][]byte, 0, 1<<17+10)
		for i := range 1<<17 + 10 {
			recs = append(recs, record(string(rune('A'+i%26)), 0, 0, 0, nil))
		}
		img, _ = withDir(t, img, fmt.Sprintf("D%d", d), recs)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := readAllFiles(img)
	runtime.ReadMemStats(&after)
	if !errorSays(err, "more than 262144 entries") {
		t.Errorf("2^18 + 20 entries: %v", err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > uint64(maxAllocRatio*len(img)+4<<20) {
		t.Errorf("allocated %d bytes for a %d-byte image", alloc, len(img))
	}
}
