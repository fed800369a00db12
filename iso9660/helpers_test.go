package iso9660_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gonixiso/gonixiso/internal/testsystem"
	"github.com/gonixiso/gonixiso/iso9660"
)

// epoch is NixOS's SOURCE_DATE_EPOCH, 1980-01-01T00:00:00Z.
var epoch = time.Unix(315532800, 0).UTC()

// Debian's isolinux files, installed by scripts/setup (package isolinux).
const (
	debianIsolinux = "/usr/lib/ISOLINUX/isolinux.bin"
	debianIsohdpfx = "/usr/lib/ISOLINUX/isohdpfx.bin"
)

func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// genTree writes a generated tree under dir: the shapes an ISO writer must get right (long and
// Unicode names, names that collide once mangled to ISO 9660, executables, empty files and
// directories, a directory eight levels deep, symbolic links of every form, directories with
// enough entries to span sectors and continuation areas, files that end on and off sector
// boundaries), and random files from a fixed seed.
func genTree(t testing.TB, dir string) {
	t.Helper()
	rng := rand.New(rand.NewPCG(4, 9660))
	file := func(name string, size int, mode os.FileMode) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, size)
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
		if err := os.WriteFile(p, b, mode); err != nil {
			t.Fatal(err)
		}
	}
	link := func(name, target string) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	}
	file("hello.txt", 6, 0o644)
	file("bin/run", 3000, 0o755)
	file("bin/tool.sh", 2048, 0o700)
	file("empty", 0, 0o644)
	file("Makefile", 100, 0o644)
	file("a-b.txt", 1, 0o644)
	file("a_b.txt", 2, 0o644)
	file("A-B.TXT", 3, 0o644)
	file("archive.tar.gz", 4097, 0o644)
	file(".hidden", 10, 0o644)
	file("no-dot-but-a-rather-long-name-beyond-thirty-one-characters", 5, 0o644)
	file("été/日本語のファイル名.txt", 12, 0o644)
	file(strings.Repeat("l", 200)+".data", 7, 0o644)
	file(strings.Repeat("m", 255), 8, 0o644)
	file("nix/store/0123456789abcdfghijklmnpqrsvwxyz0-linux-6.12.57/bzImage", 2*2048+17, 0o444)
	file("a/b/c/d/e/f/g/deep.txt", 9, 0o644)
	link("link", "hello.txt")
	link("abs", "/nix/store/0123456789abcdfghijklmnpqrsvwxyz0-linux-6.12.57/bzImage")
	link("dots", "./a/../bin/./run")
	link("dangling", "does/not/exist")
	link("long", strings.Repeat("x/", 200)+strings.Repeat("y", 300))
	if err := os.MkdirAll(filepath.Join(dir, "empty-dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 150; i++ {
		file(fmt.Sprintf("many/entry-%03d-%s.bin", i, strings.Repeat("n", i%60)), int(rng.UintN(5000)), 0o644)
	}
}

// addTree adds the tree under dir to w, at prefix.
func addTree(t testing.TB, w *iso9660.Writer, dir, prefix string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		name := filepath.ToSlash(filepath.Join(prefix, rel))
		if rel == "." {
			if prefix == "" {
				return nil
			}
			return w.Mkdir(name, iso9660.Header{Mode: 0o755})
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return w.Mkdir(name, iso9660.Header{Mode: fi.Mode()})
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return w.Symlink(name, target, iso9660.Header{Mode: fi.Mode()})
		default:
			src, err := iso9660.FromFile(p)
			if err != nil {
				return err
			}
			return w.AddFile(name, iso9660.Header{Mode: fi.Mode()}, src)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
}

// want is what an entry of a source tree must look like in the image.
type want struct {
	mode string // ls -l form, as xorriso lists Rock Ridge modes
	size int64
	link string
	sum  string // sha256 of a file's contents
}

// expect lists the tree under dir as the image must show it, with the Writer's -r modes.
func expect(t testing.TB, dir string) map[string]want {
	t.Helper()
	out := map[string]want{"/": {mode: "dr-xr-xr-x"}}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		name := "/" + filepath.ToSlash(rel)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			out[name] = want{mode: "dr-xr-xr-x"}
		case fi.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			out[name] = want{mode: "lr-xr-xr-x", link: target}
		default:
			m := "-r--r--r--"
			if fi.Mode()&0o111 != 0 {
				m = "-r-xr-xr-x"
			}
			out[name] = want{mode: m, size: fi.Size(), sum: fileSum(t, p)}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func fileSum(t testing.TB, p string) string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// openImage opens an image file with the package's reader.
func openImage(t testing.TB, p string) *iso9660.Image {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	im, err := iso9660.Open(f, fi.Size())
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	return im
}

// entries walks an image's Rock Ridge tree.
func entries(t testing.TB, im *iso9660.Image) map[string]*iso9660.Entry {
	t.Helper()
	out := map[string]*iso9660.Entry{}
	if err := im.Walk(func(e *iso9660.Entry) error {
		if out[e.Path] != nil {
			return fmt.Errorf("%s listed twice", e.Path)
		}
		out[e.Path] = e
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// modeString is fs.FileMode's ls -l form with Go's "L" for links spelled "l".
func modeString(m fs.FileMode) string {
	s := m.String()
	if m&fs.ModeSymlink != 0 {
		s = "l" + s[1:]
	}
	return s
}

// xorrisoList parses `xorriso -indev X -find / -exec lsdl` into path -> mode, size, link.
func xorrisoList(t testing.TB, iso string) map[string]want {
	t.Helper()
	out := run(t, "xorriso", "-indev", iso, "-find", "/", "-exec", "lsdl")
	list := map[string]want{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 9 || !strings.Contains(line, "'/") || strings.HasPrefix(line, "xorriso") {
			continue
		}
		var size int64
		fmt.Sscan(f[4], &size)
		words := shellWords(line[strings.Index(line, "'/"):])
		w := want{mode: f[0], size: size}
		if len(words) == 3 && words[1] == "->" {
			w.link = words[2]
		}
		if strings.HasPrefix(w.mode, "d") {
			w.size = 0
		}
		list[words[0]] = w
	}
	return list
}

// shellWords splits xorriso's shell-quoted output ('a'"'"'b' -> 'c').
func shellWords(s string) []string {
	var words []string
	var cur strings.Builder
	in := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				j = len(s) - i - 1
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
			in = true
		case c == '"':
			j := strings.IndexByte(s[i+1:], '"')
			if j < 0 {
				j = len(s) - i - 1
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
			in = true
		case c == ' ':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteByte(c)
			in = true
		}
	}
	if in {
		words = append(words, cur.String())
	}
	return words
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// bootFiles lays out a minimal bootable tree in dir: Debian's isolinux.bin and an EFI system
// partition image made by mkfs.vfat, and returns the isohdpfx.bin MBR code.
func bootFiles(t testing.TB, dir string, efiSize int64) []byte {
	t.Helper()
	testsystem.Require(t, "mkfs.vfat", "xorriso")
	mbr, err := os.ReadFile(debianIsohdpfx)
	if err != nil {
		t.Fatalf("%v (the isolinux package is installed by scripts/setup)", err)
	}
	bin, err := os.ReadFile(debianIsolinux)
	if err != nil {
		t.Fatalf("%v (the isolinux package is installed by scripts/setup)", err)
	}
	for _, d := range []string{"isolinux", "boot"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "isolinux", "isolinux.bin"), bin, 0o644); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(dir, "boot", "efi.img")
	if err := os.WriteFile(img, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, efiSize); err != nil {
		t.Fatal(err)
	}
	run(t, "mkfs.vfat", "--invariant", "-i", "12345678", "-n", "EFIBOOT", img)
	return mbr
}

// nixBoot is the boot configuration nixpkgs uses, for a tree made by bootFiles.
func nixBoot(mbr []byte) iso9660.Boot {
	return iso9660.Boot{BIOS: "isolinux/isolinux.bin", Catalog: ".boot.cat", EFI: "boot/efi.img", HybridMBR: mbr}
}

// writeISO writes the tree under dir with boot (if not nil) into a new image and returns its path.
func writeISO(t testing.TB, dir string, opts iso9660.Options, boot *iso9660.Boot) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out.iso")
	w, err := iso9660.Create(out, opts)
	if err != nil {
		t.Fatal(err)
	}
	addTree(t, w, dir, "")
	if boot != nil {
		if err := w.SetBoot(*boot); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out
}

// nixOptions are the options nixpkgs passes to xorriso.
func nixOptions(volid string) iso9660.Options {
	return iso9660.Options{VolumeID: volid, Publisher: "nixos", Application: "nixos", ModTime: epoch, Joliet: true}
}

func readAll(t testing.TB, r io.Reader) []byte {
	t.Helper()
	var b bytes.Buffer
	if _, err := io.Copy(&b, r); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
