package iso9660_test

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/gonixiso/gonixiso/iso9660"
)

// lastName sorts after every path of genTree's tree, so that a file added under it has its data
// last, where a streamed file's goes.
const lastName = "ÿ-streamed.bin"

// TestStream writes a file's contents in place through a Stream (out of order, by Write, WriteAt,
// Seek and a copy from a file) and gets the very image that AddFile makes of the same contents
// when they sort last, boot tables and hybrid GPT included; the Stream reads back what it holds.
func TestStream(t *testing.T) {
	dir := t.TempDir()
	genTree(t, dir)
	mbr := bootFiles(t, dir, 1<<20)
	boot := nixBoot(mbr)
	rng := rand.New(rand.NewPCG(7, 8))
	for _, size := range []int{0, 1, 2048, 3<<20 + 17} {
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(rng.UintN(256))
		}
		src := filepath.Join(t.TempDir(), "src")
		if err := os.WriteFile(src, data, 0o644); err != nil {
			t.Fatal(err)
		}

		// The reference: the contents from a Source.
		ref := filepath.Join(t.TempDir(), "ref.iso")
		w, err := iso9660.Create(ref, nixOptions("STREAM"))
		if err != nil {
			t.Fatal(err)
		}
		addTree(t, w, dir, "")
		w.AddFile(lastName, iso9660.Header{Mode: 0o444}, iso9660.FromBytes(data))
		w.SetBoot(boot)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}

		// Streamed: the tail first, then the head, half of the middle from a file.
		out := filepath.Join(t.TempDir(), "streamed.iso")
		f, err := os.OpenFile(out, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		w, err = iso9660.NewWriter(f, nixOptions("STREAM"))
		if err != nil {
			t.Fatal(err)
		}
		addTree(t, w, dir, "")
		w.SetBoot(boot)
		s, err := w.Stream(lastName, iso9660.Header{Mode: 0o444})
		if err != nil {
			t.Fatal(err)
		}
		a, b := size/3, 2*size/3
		if _, err := s.Seek(int64(b), io.SeekStart); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Write(data[b:]); err != nil {
			t.Fatal(err)
		}
		if _, err := s.WriteAt(data[:a], 0); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Seek(int64(a), io.SeekStart); err != nil {
			t.Fatal(err)
		}
		sf, err := os.Open(src)
		if err != nil {
			t.Fatal(err)
		}
		sf.Seek(int64(a), io.SeekStart)
		if _, err := io.Copy(s, io.LimitReader(sf, int64(b-a))); err != nil {
			t.Fatal(err)
		}
		sf.Close()
		if s.Size() != int64(size) {
			t.Errorf("%d bytes: Size %d", size, s.Size())
		}
		back, err := io.ReadAll(io.NewSectionReader(s, 0, 1<<40))
		if err != nil || !bytes.Equal(back, data) {
			t.Errorf("%d bytes: read back %d bytes, equal %v, error %v", size, len(back), bytes.Equal(back, data), err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Write([]byte("x")); err == nil {
			t.Error("a write after Close succeeded")
		}
		f.Close()
		if got, want := fileSum(t, out), fileSum(t, ref); got != want {
			t.Errorf("%d bytes: the streamed image differs from the one with a Source", size)
		}
	}
}

// TestStreamErrors: a Stream needs a file to write into, only one file is streamed, and the tree
// and boot are final once it is; a misuse fails Close too.
func TestStreamErrors(t *testing.T) {
	var buf bytes.Buffer
	w, _ := iso9660.NewWriter(&buf, nixOptions("X"))
	if _, err := w.Stream("a", iso9660.Header{}); err == nil {
		t.Error("Stream into a bytes.Buffer succeeded")
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "x.iso"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, _ = iso9660.NewWriter(f, nixOptions("X"))
	if _, err := w.Stream("a", iso9660.Header{}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Stream("b", iso9660.Header{}); err == nil {
		t.Error("a second Stream succeeded")
	}
	if err := w.SetBoot(iso9660.Boot{BIOS: "a", Catalog: "c"}); err == nil {
		t.Error("SetBoot after Stream succeeded")
	}
	if err := w.AddFile("late", iso9660.Header{}, iso9660.FromBytes(nil)); err == nil {
		t.Error("AddFile after Stream succeeded")
	}
	if err := w.Close(); err == nil {
		t.Error("Close after a misuse succeeded")
	}
}

// TestStreamMultiExtent streams contents over 4 GiB (sparse on disk, markers around the extent
// boundary and at the end): they need two directory records where Stream laid out one. With
// enough other files in the root for that record to take another directory sector, Close moves
// the contents to their place, and the reader finds every marker where it belongs.
func TestStreamMultiExtent(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: moves 4 GiB of streamed contents")
	}
	const size = 1<<32 + 4096
	const extent = 0xFFFFF800
	markers := []int64{0, extent - 16, extent + 64, size - 32}
	marker := func(off int64) []byte { return bytes.Repeat([]byte{byte(off % 251)}, 32) }
	for others := 0; others < 100; others++ {
		out := filepath.Join(t.TempDir(), "big.iso")
		f, err := os.OpenFile(out, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		w, err := iso9660.NewWriter(f, nixOptions("BIG"))
		if err != nil {
			t.Fatal(err)
		}
		for i := range others {
			w.AddFile(fmt.Sprintf("other-%03d", i), iso9660.Header{}, iso9660.FromBytes([]byte("before")))
		}
		s, err := w.Stream("nix-store.squashfs", iso9660.Header{})
		if err != nil {
			t.Fatal(err)
		}
		laid := s.DataOffset()
		for _, off := range markers {
			if _, err := s.WriteAt(marker(off), off); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if s.DataOffset() == laid {
			f.Close()
			os.Remove(out)
			continue // the second record fitted: nothing moved
		}
		im := openImage(t, out)
		e := entries(t, im)["/nix-store.squashfs"]
		if e == nil || e.Size != size || len(e.Extents) != 2 {
			t.Fatalf("streamed file read as %+v", e)
		}
		if at := int64(e.Extents[0].LBA) * 2048; s.DataOffset() != at {
			t.Fatalf("contents moved to %d, the image says %d", s.DataOffset(), at)
		}
		for _, off := range markers {
			got := make([]byte, 32)
			if _, err := f.ReadAt(got, s.DataOffset()+off); err != nil || !bytes.Equal(got, marker(off)) {
				t.Errorf("marker at %d: %x, %v", off, got, err)
			}
		}
		if r, _ := im.Open(entries(t, im)["/other-000"]); others > 0 && string(readAll(t, r)) != "before" {
			t.Error("the file before the streamed one reads wrong")
		}
		return
	}
	t.Fatal("no number of other files made the second record take another sector")
}

// countingSource counts its Opens.
type countingSource struct {
	iso9660.Source
	opens *int
}

func (c countingSource) Open() (io.ReadCloser, error) { *c.opens++; return c.Source.Open() }

// TestStreamOpensOnce: Stream lays the image out before Close does again, and the BIOS boot file,
// which a layout reads to patch, is still opened once, as a Source's contract says.
func TestStreamOpensOnce(t *testing.T) {
	dir := t.TempDir()
	mbr := bootFiles(t, dir, 1<<20)
	f, err := os.Create(filepath.Join(t.TempDir(), "x.iso"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, _ := iso9660.NewWriter(f, nixOptions("ONCE"))
	opens := map[string]*int{}
	for _, p := range []string{"isolinux/isolinux.bin", "boot/efi.img"} {
		src, err := iso9660.FromFile(filepath.Join(dir, p))
		if err != nil {
			t.Fatal(err)
		}
		opens[p] = new(int)
		w.AddFile(p, iso9660.Header{}, countingSource{src, opens[p]})
	}
	w.SetBoot(nixBoot(mbr))
	s, err := w.Stream(lastName, iso9660.Header{})
	if err != nil {
		t.Fatal(err)
	}
	s.Write([]byte("streamed"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	for p, n := range opens {
		if *n != 1 {
			t.Errorf("%s opened %d times", p, *n)
		}
	}
}
