package iso9660_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/gonixiso/gonixiso/internal/fuzzrecipe"
	"github.com/gonixiso/gonixiso/iso9660"
)

// seedImage writes a small image: Rock Ridge with continuation areas (long names and link
// targets), Joliet, El Torito, and with hybrid the MBR and GPT (padded to 1 MiB).
func seedImage(t testing.TB, hybrid bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := iso9660.NewWriter(&buf, iso9660.Options{VolumeID: "SEED", ModTime: epoch, Joliet: true})
	if err != nil {
		t.Fatal(err)
	}
	boot := make([]byte, 2048)
	copy(boot[64:], []byte{0xfb, 0xc0, 0x78, 0x70})
	w.AddFile("isolinux/isolinux.bin", iso9660.Header{}, iso9660.FromBytes(boot))
	w.AddFile("boot/efi.img", iso9660.Header{}, iso9660.FromBytes(make([]byte, 4096)))
	w.AddFile(strings.Repeat("n", 240), iso9660.Header{Mode: 0o755}, iso9660.FromBytes([]byte("x")))
	w.Symlink("a/b/link", "/"+strings.Repeat("t/", 150), iso9660.Header{})
	w.Mkdir("empty", iso9660.Header{})
	b := iso9660.Boot{BIOS: "isolinux/isolinux.bin", Catalog: "boot.cat", EFI: "boot/efi.img"}
	if hybrid {
		b.HybridMBR = make([]byte, 432)
	}
	w.SetBoot(b)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// corruptions returns variants of a valid image that a reader must survive: truncation, huge
// extents, continuation loops, directory loops, bad GPT geometry.
func corruptions(img []byte) [][]byte {
	mutate := func(f func(b []byte)) []byte {
		b := append([]byte(nil), img...)
		f(b)
		return b
	}
	pvd := 16 * 2048
	rootLBA := int(binary.LittleEndian.Uint32(img[pvd+156+2:]))
	root := rootLBA * 2048
	out := [][]byte{
		img[:len(img)/2],
		img[:17*2048],
		// The root directory claims 4 GiB.
		mutate(func(b []byte) { binary.LittleEndian.PutUint32(b[pvd+156+10:], 0xFFFFFFFF) }),
		// The root directory starts past the end.
		mutate(func(b []byte) { binary.LittleEndian.PutUint32(b[pvd+156+2:], 0x7FFFFFFF) }),
		// No terminator: descriptors all the way.
		mutate(func(b []byte) {
			for s := 17; s < 40 && (s+1)*2048 <= len(b); s++ {
				copy(b[s*2048:], b[pvd:pvd+2048])
			}
		}),
	}
	// Every directory record's extent made huge, one at a time.
	for off := root; off < root+2048 && img[off] != 0; off += int(img[off]) {
		o := off
		out = append(out, mutate(func(b []byte) { binary.LittleEndian.PutUint32(b[o+10:], 0xFFFFF800) }))
		// And pointing back at the root: a directory loop.
		out = append(out, mutate(func(b []byte) {
			binary.LittleEndian.PutUint32(b[o+2:], uint32(rootLBA))
			b[o+25] |= 2
		}))
	}
	// A continuation area that points at itself.
	if i := bytes.Index(img[root:root+2048], []byte("CE\x1c\x01")); i >= 0 {
		ce := root + i
		lba := binary.LittleEndian.Uint32(img[ce+4:])
		out = append(out, mutate(func(b []byte) {
			at := int(lba) * 2048
			copy(b[at:], b[ce:ce+28])
			binary.LittleEndian.PutUint32(b[at+12:], 0)
			binary.LittleEndian.PutUint32(b[at+20:], 28)
		}))
	}
	// GPT header with absurd entry counts and sizes, and an alternate header past the end.
	if bytes.HasPrefix(img[512:], []byte("EFI PART")) {
		out = append(out,
			mutate(func(b []byte) { binary.LittleEndian.PutUint32(b[512+80:], 0xFFFFFFFF) }),
			mutate(func(b []byte) { binary.LittleEndian.PutUint32(b[512+84:], 0) }),
			mutate(func(b []byte) { binary.LittleEndian.PutUint64(b[512+72:], 1<<62) }),
			mutate(func(b []byte) { binary.LittleEndian.PutUint64(b[512+32:], 1<<40) }),
		)
	}
	return out
}

// fuzzBases are the images FuzzOpen's recipes patch: the seed images, with and without the
// hybrid tables, one with zisofs files of both versions, and the hostile shapes at 32 KiB.
func fuzzBases(t testing.TB) [][]byte {
	bases := [][]byte{seedImage(t, false), seedImage(t, true)}
	text := bytes.Repeat([]byte("zisofs "), 30_000)
	img := bases[0]
	var recs [][]byte
	for i, z := range []struct {
		version byte
		alg     string
		shift   uint8
	}{{1, "pz", 15}, {2, "PZ", 17}, {2, "XZ", 15}} {
		stored := zisofsFile(text, z.version, z.shift)
		var lba uint32
		img, lba = withData(img, stored)
		recs = append(recs, record(fmt.Sprintf("Z%d;1", i), lba, uint32(len(stored)), 0,
			zfEntry(z.version, z.alg, z.shift, uint64(len(text)))))
	}
	img, _ = withDir(t, img, "Z", recs)
	bases = append(bases, img)
	for _, h := range hostileImages(t, 32<<10) {
		bases = append(bases, h.img)
	}
	return bases
}

// maxInflation is the reader's bound on what a tree's zisofs files hold uncompressed, in times
// the image's size (see ReadTree).
const maxInflation = 64

// fuzzAllocLimit bounds what FuzzOpen may allocate for an image of n bytes: maxAllocRatio for
// the tree, and maxInflation for the zisofs blocks its files decode, times the image; and for
// each of its three walks, the paths the reader builds (twice the image and 1 MiB) and a window
// of 64 KiB for each of 64 directory levels.
func fuzzAllocLimit(n int) uint64 {
	return uint64((maxAllocRatio+maxInflation)*n + 3*(2*n+1<<20+64*64<<10) + 4<<20)
}

// FuzzOpen feeds the reader corrupt images: it must return errors, never panic, and stay within
// its limits: each input allocates at most fuzzAllocLimit. `go test -fuzz=FuzzOpen` explores;
// plain `go test` runs the seeds.
//
// Images are hundreds of kilobytes, and Go's fuzzer stalls minimising inputs that large, so an
// input is a recipe: its first byte picks raw bytes (the rest of the input is the image) or one
// of the base images, which the rest of the input patches and may truncate (see patchImage).
// The fuzzer thus mutates short inputs that land anywhere in a real image's structures.
func FuzzOpen(f *testing.F) {
	bases := fuzzBases(f)
	for i, base := range bases {
		f.Add([]byte{byte(1 + i)})
		if i < 2 {
			for _, c := range corruptions(base) {
				f.Add(recipe(byte(1+i), base, c))
			}
		}
	}
	f.Add(append([]byte{0}, bases[0][:40000]...))
	f.Fuzz(func(t *testing.T, data []byte) {
		img := patchImage(bases, data)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		defer func() {
			runtime.ReadMemStats(&after)
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > fuzzAllocLimit(len(img)) {
				t.Errorf("allocated %d bytes for an image of %d", alloc, len(img))
			}
		}()
		im, err := iso9660.Open(bytes.NewReader(img), int64(len(img)))
		if err != nil {
			return
		}
		// Many records may name the same data: read at most 1 MiB of file data in all, so that
		// one input costs no more than a few image reads.
		budget := int64(1 << 20)
		for _, walk := range []func(func(*iso9660.Entry) error) error{im.Walk, im.WalkJoliet} {
			walk(func(e *iso9660.Entry) error {
				if e.Mode.IsRegular() && budget > 0 {
					if r, err := im.Open(e); err == nil {
						n, _ := io.Copy(io.Discard, io.LimitReader(r, budget))
						budget -= n
					}
				}
				return nil
			})
		}
		// A tree's files, each read once with its hard links, read at most the image (their
		// stored bytes; zisofs files at most maxInflation times as much in all), through Read
		// and through ReadAt alike.
		tree, err := im.ReadTree()
		if err != nil {
			return
		}
		var read, inflated int64
		buf := make([]byte, 4096)
		for _, e := range tree.Entries() {
			if !e.Mode.IsRegular() || tree.Link(e) != e {
				continue
			}
			if tree.Lookup(e.Path) == nil {
				t.Fatalf("Lookup(%q) finds nothing", e.Path)
			}
			f, err := im.Open(e)
			if err != nil {
				continue
			}
			n, err := io.CopyBuffer(io.Discard, f, buf)
			if err == nil && n != e.Size {
				t.Fatalf("%s: read %d bytes of %d", e.Path, n, e.Size)
			}
			if k, _ := f.ReadAt(buf[:min(len(buf), int(e.Size))], 0); err == nil && k != min(len(buf), int(e.Size)) {
				t.Fatalf("%s: ReadAt read %d bytes", e.Path, k)
			}
			if stored := storedBytes(e); n > stored {
				inflated += n
			} else {
				read += n
			}
		}
		if read > int64(len(img)) || inflated > maxInflation*int64(len(img)) {
			t.Fatalf("a tree's files read %d bytes, and %d uncompressed, of a %d-byte image", read, inflated, len(img))
		}
	})
}

// storedBytes is the bytes of a file's extents.
func storedBytes(e *iso9660.Entry) int64 {
	var n int64
	for _, x := range e.Extents {
		n += int64(x.Size)
	}
	return n
}

// patchImage builds a fuzz input's image. data[0] == 0: the image is data[1:]. Otherwise it is
// bases[(data[0]-1) % len(bases)] patched by the records that follow (fuzzrecipe.Patch).
func patchImage(bases [][]byte, data []byte) []byte {
	if len(data) == 0 {
		return nil
	}
	if data[0] == 0 {
		return data[1:]
	}
	return fuzzrecipe.Patch(bases[int(data[0]-1)%len(bases)], data[1:])
}

// recipe encodes corrupt, a variant of base, as a patchImage input.
func recipe(mode byte, base, corrupt []byte) []byte {
	return append([]byte{mode}, fuzzrecipe.Records(base, corrupt)...)
}

// TestCorruptImages checks the reader's verdicts on the corrupt seeds: errors, not panics, and
// the valid seeds read completely.
func TestCorruptImages(t *testing.T) {
	for _, hybrid := range []bool{false, true} {
		img := seedImage(t, hybrid)
		im, err := iso9660.Open(bytes.NewReader(img), int64(len(img)))
		if err != nil {
			t.Fatal(err)
		}
		n := len(entries(t, im))
		if n != 11 {
			t.Errorf("seed image has %d entries, want 11", n)
		}
		walkErrors := 0
		for _, c := range corruptions(img) {
			if r := patchImage([][]byte{img}, recipe(1, img, c)); !bytes.Equal(r, c) {
				t.Fatal("a recipe does not give back its corrupt image")
			}
			im, err := iso9660.Open(bytes.NewReader(c), int64(len(c)))
			if err != nil {
				continue
			}
			if err := im.Walk(func(*iso9660.Entry) error { return nil }); err != nil {
				walkErrors++
			}
		}
		if walkErrors < 5 {
			t.Errorf("only %d corrupt images failed to walk", walkErrors)
		}
	}
}
