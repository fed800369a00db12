package liveiso_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gonixiso/gonixiso/boot/fat"
	"github.com/gonixiso/gonixiso/closure"
	"github.com/gonixiso/gonixiso/internal/fuzzrecipe"
	"github.com/gonixiso/gonixiso/iso9660"
	"github.com/gonixiso/gonixiso/liveiso"
	"github.com/gonixiso/gonixiso/squash"
)

// tinyStorePath is the store path of the images writeTinyISO makes.
const tinyStorePath = "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-hello"

// writeTinyISO writes a small NixOS-shaped ISO at name: an isolinux menu and a SquashFS with a
// registration and one store path, whose share/hello.txt holds text.
func writeTinyISO(name, text string) error {
	return writeISO(name, text, false)
}

// writeBootISO writes a NixOS-shaped ISO at name as writeTinyISO does, and bootable as NixOS's
// are: El Torito BIOS and UEFI entries, a FAT EFI image, GRUB menus, an isohybrid MBR and GPT,
// and a SquashFS of 4 KiB blocks with files of several blocks, a fragment tail and a sparse
// block.
func writeBootISO(name string) error {
	return writeISO(name, "hello, boot\n", true)
}

func writeISO(name, text string, boot bool) error {
	dir := filepath.Dir(name)
	sqf, err := os.CreateTemp(dir, "tiny-*.squashfs")
	if err != nil {
		return err
	}
	defer os.Remove(sqf.Name())
	defer sqf.Close()
	sum := sha256.Sum256([]byte(text))
	reg := fmt.Sprintf("%s\nsha256:%s\n%d\n\n0\n", tinyStorePath, closure.EncodeNix32(sum[:]), 112+len(text))
	opts := squash.Options{ModTime: 315532800, Workers: 1}
	if boot {
		opts.BlockSize = 4096
		opts.Compression = squash.Compression{Algorithm: squash.Zstd, Level: 3}
	}
	sw, err := squash.NewWriter(sqf, opts)
	if err != nil {
		return err
	}
	base := filepath.Base(tinyStorePath)
	type file struct {
		hdr  squash.Header
		data string
	}
	files := []file{
		{squash.Header{Name: ".", Mode: fs.ModeDir | 0o755}, ""},
		{squash.Header{Name: liveiso.RegistrationName, Mode: 0o444, Size: int64(len(reg))}, reg},
		{squash.Header{Name: base, Mode: fs.ModeDir | 0o555, ModTime: 1}, ""},
		{squash.Header{Name: base + "/share", Mode: fs.ModeDir | 0o555, ModTime: 1}, ""},
		{squash.Header{Name: base + "/share/hello.txt", Mode: 0o444, ModTime: 1, Size: int64(len(text))}, text},
		{squash.Header{Name: base + "/share/link", Mode: fs.ModeSymlink | 0o777, ModTime: 1, Linkname: "hello.txt"}, ""},
	}
	if boot {
		var big strings.Builder
		for i := 0; big.Len() < 3*4096+100; i++ {
			fmt.Fprintf(&big, "line %d of a file of several blocks\n", i*i%9973)
		}
		sparse := strings.Repeat("\x00", 4096) + "tail"
		files = append(files[:4],
			file{squash.Header{Name: base + "/share/big", Mode: 0o444, ModTime: 1, Size: int64(big.Len())}, big.String()},
			file{squash.Header{Name: base + "/share/hello.txt", Mode: 0o444, ModTime: 1, Size: int64(len(text))}, text},
			file{squash.Header{Name: base + "/share/link", Mode: fs.ModeSymlink | 0o777, ModTime: 1, Linkname: "hello.txt"}, ""},
			file{squash.Header{Name: base + "/share/sparse", Mode: 0o444, ModTime: 1, Size: int64(len(sparse))}, sparse},
		)
	}
	for _, e := range files {
		if err := sw.WriteHeader(&e.hdr); err != nil {
			return err
		}
		if e.hdr.Mode.IsRegular() {
			if _, err := sw.Write([]byte(e.data)); err != nil {
				return err
			}
		}
	}
	if err := sw.Close(); err != nil {
		return err
	}
	src, err := iso9660.FromFile(sqf.Name())
	if err != nil {
		return err
	}
	w, err := iso9660.Create(name, iso9660.Options{VolumeID: "tiny-x86_64", Publisher: "nixos", Application: "nixos",
		ModTime: time.Unix(315532800, 0), Joliet: true, GUIDSeed: []byte("tiny")})
	if err != nil {
		return err
	}
	menu := "DEFAULT boot\nLABEL boot\nMENU LABEL NixOS tiny\nLINUX /boot/bzImage\nAPPEND init=/init root=LABEL=tiny-x86_64\nINITRD /boot/initrd\n"
	w.AddFile(liveiso.IsolinuxConfig, iso9660.Header{Mode: 0o444}, iso9660.FromBytes([]byte(menu)))
	w.AddFile("/version.txt", iso9660.Header{Mode: 0o444}, iso9660.FromBytes([]byte("25.05")))
	w.AddFile(liveiso.SquashFSPath, iso9660.Header{Mode: 0o444}, src)
	if boot {
		grub := "menuentry 'NixOS tiny' --class nixos {\n  linux /boot/bzImage init=/init root=LABEL=tiny-x86_64\n  initrd /boot/initrd\n}\n" +
			"submenu 'Options' {\n  menuentry 'NixOS tiny, nomodeset' {\n    linux /boot/bzImage init=/init nomodeset\n  }\n}\n"
		var esp bytes.Buffer
		fw := fat.NewWriter(&esp, fat.Options{Size: 64 << 10, Label: "EFIBOOT", VolumeID: 7, ModTime: time.Unix(315532800, 0)})
		for _, f := range []struct{ name, data string }{
			{"EFI/BOOT/BOOTX64.EFI", strings.Repeat("MZ efi loader ", 200)},
			{"EFI/BOOT/grub.cfg", "search --set=root --label tiny-x86_64\nconfigfile /EFI/BOOT/grub.cfg\n"},
			{"A Long Name.txt", "long"},
		} {
			fwr, err := fw.Create(f.name)
			if err != nil {
				return err
			}
			fwr.Write([]byte(f.data))
		}
		if err := fw.Close(); err != nil {
			return err
		}
		isolinux := make([]byte, 2048)
		copy(isolinux[64:], []byte{0xfb, 0xc0, 0x78, 0x70})
		w.AddFile("/isolinux/isolinux.bin", iso9660.Header{Mode: 0o444}, iso9660.FromBytes(isolinux))
		w.AddFile(liveiso.GrubConfig, iso9660.Header{Mode: 0o444}, iso9660.FromBytes([]byte(grub)))
		w.AddFile(liveiso.LoopbackConfig, iso9660.Header{Mode: 0o444}, iso9660.FromBytes([]byte(grub)))
		w.AddFile("/boot/efi.img", iso9660.Header{Mode: 0o444}, iso9660.FromBytes(esp.Bytes()))
		w.SetBoot(iso9660.Boot{BIOS: "/isolinux/isolinux.bin", Catalog: "/isolinux/boot.cat", EFI: "/boot/efi.img",
			HybridMBR: make([]byte, 432)})
	}
	return w.Close()
}

// FuzzImage feeds Inspect, Manifest and Diff images that are mutations of two small
// NixOS-shaped ISOs, writeTinyISO's and writeBootISO's: they return errors, never panic, and on
// a readable image agree with each other.
//
// An input is a recipe: its first byte picks one of the base images, which the rest of the input
// patches and may truncate (see patchImage). Whole images as inputs made the fuzzer stall: each
// input that found new coverage was minimised for a minute (-fuzzminimizetime's default), one
// byte removed at a time from 64 KiB, while no new inputs ran. Go's minimiser takes time
// quadratic in an input's length, so a recipe is at most fuzzrecipe.MaxLen bytes (the rest is ignored,
// and the minimiser cuts it first): minimising one takes seconds, and it still reaches every
// byte of the images.
func FuzzImage(f *testing.F) {
	dir := f.TempDir()
	var bases [][]byte
	var baseNames []string
	for i, write := range []func(string) error{
		func(name string) error { return writeTinyISO(name, "hello, world\n") },
		writeBootISO,
	} {
		name := filepath.Join(dir, fmt.Sprintf("base%d.iso", i))
		if err := write(name); err != nil {
			f.Fatal(err)
		}
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		bases, baseNames = append(bases, data), append(baseNames, name)
	}
	for i, base := range bases {
		f.Add([]byte{byte(i)})
		for _, c := range imageCorruptions(base) {
			r := recipe(byte(i), base, c)
			if len(r) > fuzzrecipe.MaxLen {
				f.Fatalf("a seed recipe of %d bytes", len(r))
			}
			f.Add(r)
		}
	}
	// One file for every input: a worker runs its inputs one at a time.
	name := filepath.Join(dir, "fuzz.iso")
	file, err := os.Create(name)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { file.Close() })
	out := &imageFile{f: file}
	f.Fuzz(func(t *testing.T, data []byte) {
		img, k := patchImage(bases, data)
		if err := out.write(img); err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		ins, errI := liveiso.Inspect(ctx, name)
		_, errM := liveiso.Manifest(ctx, name)
		rep, errD := liveiso.Diff(ctx, name, baseNames[k])
		if errI == nil && ins.Size != int64(len(img)) {
			t.Errorf("Inspect says %d bytes of %d", ins.Size, len(img))
		}
		if errD == nil && rep.Identical != bytes.Equal(img, bases[k]) {
			t.Errorf("Diff says identical %v", rep.Identical)
		}
		_ = errM
	})
}

// dirRecord is an ISO 9660 directory record of a file or directory.
func dirRecord(name string, lba, size uint32, dir bool) []byte {
	n := 33 + len(name)
	n += n % 2
	r := make([]byte, n)
	r[0] = byte(n)
	binary.LittleEndian.PutUint32(r[2:], lba)
	binary.BigEndian.PutUint32(r[6:], lba)
	binary.LittleEndian.PutUint32(r[10:], size)
	binary.BigEndian.PutUint32(r[14:], size)
	r[18], r[19], r[20] = 80, 1, 1 // 1980-01-01
	if dir {
		r[25] = 2
	}
	r[28] = 1 // volume sequence number
	r[32] = byte(len(name))
	copy(r[33:], name)
	return r
}

// manyFiles adds a directory /MANY to img's primary tree, in the count sectors from sector
// first (which must be zeros), full of records of files whose data are size bytes at sector
// lba. It returns the number of files.
func manyFiles(t *testing.T, img []byte, first, count int, lba, size uint32) int {
	t.Helper()
	const pvd = 16 * 2048
	root := int(binary.LittleEndian.Uint32(img[pvd+156+2:])) * 2048
	end := root
	for img[end] != 0 {
		end += int(img[end])
	}
	if !bytes.Equal(img[first*2048:(first+count)*2048], make([]byte, count*2048)) || end+40 > root+2048 {
		t.Fatal("no room for the directory")
	}
	copy(img[end:], dirRecord("MANY", uint32(first), uint32(count*2048), true))
	n := 0
	for s := first; s < first+count; s++ {
		for p := s * 2048; p+36 <= (s+1)*2048; p += 36 {
			copy(img[p:], dirRecord(fmt.Sprintf("%02X", n%256)+string(rune('A'+n/256%26)), lba, size, false))
			n++
		}
	}
	return n
}

// TestCraftedImages checks what Inspect, Manifest and Diff make of directories crafted to make
// them read an image many times over: thousands of files that are each the whole image (a
// directory record is 36 bytes) are refused, and thousands of hard links to one file are read
// once.
func TestCraftedImages(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "base.iso")
	if err := writeBootISO(base); err != nil {
		t.Fatal(err)
	}
	img, err := os.ReadFile(base)
	if err != nil {
		t.Fatal(err)
	}
	crafted := filepath.Join(dir, "crafted.iso")

	// Overlapping files: the images' whole megabyte, 11200 times.
	overlap := bytes.Clone(img)
	manyFiles(t, overlap, 256, 200, 0, uint32(len(img)))
	if err := os.WriteFile(crafted, overlap, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, errI := liveiso.Inspect(ctx, crafted)
	_, errM := liveiso.Manifest(ctx, crafted)
	_, errD := liveiso.Diff(ctx, crafted, base)
	for _, err := range []error{errI, errM, errD} {
		if err == nil || !strings.Contains(err.Error(), "data overlap") {
			t.Errorf("overlapping files: %v, want an error saying the data overlap", err)
		}
	}

	// Hard links: 11200 files of the same 8 MiB, which the image gains at its end.
	const size = 8 << 20
	links := append(bytes.Clone(img), make([]byte, size)...)
	n := manyFiles(t, links, 256, 200, uint32(len(img)/2048), size)
	if err := os.WriteFile(crafted, links, 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := liveiso.Manifest(ctx, crafted)
	if err != nil {
		t.Fatalf("hard links: %v", err)
	}
	zeros := sha256.Sum256(make([]byte, size))
	got := 0
	for _, e := range m {
		if strings.HasPrefix(e.Path, "/MANY/") {
			if e.SHA256 != fmt.Sprintf("%x", zeros) || e.Size != size {
				t.Fatalf("hard links: %+v", e)
			}
			got++
		}
	}
	if got != n {
		t.Errorf("hard links: %d of %d files in the manifest", got, n)
	}
	if _, err := liveiso.Diff(ctx, crafted, base); err != nil {
		t.Errorf("hard links: diff: %v", err)
	}
}

// patchImage builds a fuzz input's image and says which base it was made from:
// bases[data[0] % len(bases)] patched by the records that follow (fuzzrecipe.Patch). Bytes
// after the first fuzzrecipe.MaxLen are ignored.
func patchImage(bases [][]byte, data []byte) ([]byte, int) {
	if len(data) == 0 {
		return bases[0], 0
	}
	data = data[:min(len(data), fuzzrecipe.MaxLen)]
	k := int(data[0]) % len(bases)
	return fuzzrecipe.Patch(bases[k], data[1:]), k
}

// imageFile is the file that the fuzz inputs' images are written to, one after the other: only
// the pages that differ from the last image's are written.
type imageFile struct {
	f    *os.File
	last []byte
}

func (w *imageFile) write(img []byte) error {
	const page = 4096
	for off := 0; off < len(img); off += page {
		end := min(off+page, len(img))
		if end <= len(w.last) && bytes.Equal(img[off:end], w.last[off:end]) {
			continue
		}
		if _, err := w.f.WriteAt(img[off:end], int64(off)); err != nil {
			return err
		}
	}
	if len(img) != len(w.last) {
		if err := w.f.Truncate(int64(len(img))); err != nil {
			return err
		}
	}
	w.last = append(w.last[:0], img...)
	return nil
}

// recipe encodes corrupt, a variant of base (bases[k]), as a patchImage input.
func recipe(k byte, base, corrupt []byte) []byte {
	return append([]byte{k}, fuzzrecipe.Records(base, corrupt)...)
}

// imageCorruptions returns variants of a base image that start the fuzzer at the fields a
// reader must not trust: sizes and counts of the ISO root directory, the GPT and the SquashFS.
func imageCorruptions(img []byte) [][]byte {
	mutate := func(f func(b []byte)) []byte {
		b := bytes.Clone(img)
		f(b)
		return b
	}
	const pvd = 16 * 2048
	out := [][]byte{
		img[:len(img)/2],
		// The root directory claims 4 GiB.
		mutate(func(b []byte) { binary.LittleEndian.PutUint32(b[pvd+156+10:], 0xFFFFFFFF) }),
	}
	if bytes.HasPrefix(img[512:], []byte("EFI PART")) {
		out = append(out,
			mutate(func(b []byte) { binary.LittleEndian.PutUint32(b[512+80:], 0xFFFFFFFF) }),
			mutate(func(b []byte) { binary.LittleEndian.PutUint64(b[512+72:], 1<<62) }),
		)
	}
	if sq := bytes.Index(img, []byte("hsqs")); sq >= 0 {
		for _, f := range []struct{ off, size int }{{4, 4}, {16, 4}, {26, 2}, {32, 8}, {40, 8}, {64, 8}, {72, 8}} {
			out = append(out, mutate(func(b []byte) {
				for i := range f.size {
					b[sq+f.off+i] ^= 0xFF
				}
			}))
		}
	}
	return out
}
