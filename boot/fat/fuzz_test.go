package fat_test

import (
	"bytes"
	"encoding/binary"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/gonixiso/gonixiso/boot/fat"
	"github.com/gonixiso/gonixiso/internal/fuzzrecipe"
	"github.com/gonixiso/gonixiso/internal/testsystem"
)

// FuzzReader feeds NewReader and the fs.FS it returns corrupt images: small images from this
// package's Writer (FAT12, with long names and subdirectories) and from mkfs.fat and mtools,
// patched. Nothing may panic or loop, and reading every file reads no more than the image.
//
// An input is a recipe, as FuzzImage's are: a byte that picks one of the images, then patches
// (see patchImage), at most fuzzrecipe.MaxLen bytes in all. Whole 64 KiB images as inputs made the
// fuzzer stall: Go's minimiser, quadratic in an input's length, spent its minute on each input
// that found new coverage while no new inputs ran.
func FuzzReader(f *testing.F) {
	testsystem.Require(f, "mkfs.fat", "mcopy")
	var bases [][]byte
	seed := func(files tree) {
		var buf bytes.Buffer
		w := fat.NewWriter(&buf, fat.Options{Size: 64 << 10, Label: "SEED", VolumeID: 7, ModTime: modTime})
		for _, name := range keys(files) {
			if files[name] == nil {
				w.Mkdir(name)
				continue
			}
			fw, _ := w.Create(name)
			fw.Write(files[name])
		}
		if err := w.Close(); err != nil {
			f.Fatal(err)
		}
		bases = append(bases, buf.Bytes())
	}
	seed(tree{"EFI/BOOT/BOOTX64.EFI": randomBytes(1, 3000), "EFI/BOOT/grub.cfg": []byte("x\n")})
	seed(tree{"A Long Name.txt": []byte("long"), "d/e/f": []byte("deep"), "empty": nil, "z": {}})

	dir := f.TempDir()
	img := filepath.Join(dir, "mkfs.img")
	if err := os.WriteFile(img, make([]byte, 64<<10), 0o644); err != nil {
		f.Fatal(err)
	}
	src := filepath.Join(dir, "Long Name From mtools.txt")
	os.WriteFile(src, []byte("mtools\n"), 0o644)
	for _, c := range [][]string{{"mkfs.fat", "-n", "MKFS", img}, {"mcopy", "-i", img, src, "::/"}} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			f.Fatalf("%v: %v\n%s", c, err, out)
		}
	}
	data, err := os.ReadFile(img)
	if err != nil {
		f.Fatal(err)
	}
	bases = append(bases, data)
	for i, base := range bases {
		f.Add([]byte{byte(i)})
		// Each field of the BPB, every bit flipped; and the image cut in half.
		for _, fld := range []struct{ off, n int }{{11, 2}, {13, 1}, {14, 2}, {16, 1}, {17, 2}, {19, 2}, {22, 2}, {32, 4}} {
			b := []byte{byte(i)}
			b = binary.LittleEndian.AppendUint32(b, uint32(fld.off))
			b = append(b, byte(fld.n))
			for j := range fld.n {
				b = append(b, ^base[fld.off+j])
			}
			f.Add(b)
		}
		f.Add(binary.LittleEndian.AppendUint32([]byte{byte(i)}, uint32(len(base)/2)))
	}

	f.Fuzz(func(t *testing.T, recipe []byte) {
		data := patchImage(bases, recipe)
		r, err := fat.NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		// NewReader accepts only trees, so the walk ends, and the files' bytes add up to no
		// more than the image.
		var total int64
		fs.WalkDir(r, ".", func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return fs.SkipAll
			}
			if d.IsDir() {
				return nil
			}
			f, err := r.Open(path)
			if err != nil {
				return nil
			}
			defer f.Close()
			n, _ := io.Copy(io.Discard, f)
			if total += n; total > int64(len(data)) {
				t.Fatalf("%s: read %d bytes in all from an image of %d", path, total, len(data))
			}
			return nil
		})
	})
}

// patchImage builds a fuzz input's image: bases[recipe[0] % len(bases)] patched by the records
// that follow (fuzzrecipe.Patch). Bytes after the first fuzzrecipe.MaxLen are ignored.
func patchImage(bases [][]byte, recipe []byte) []byte {
	if len(recipe) == 0 {
		return bases[0]
	}
	recipe = recipe[:min(len(recipe), fuzzrecipe.MaxLen)]
	return fuzzrecipe.Patch(bases[int(recipe[0])%len(bases)], recipe[1:])
}
