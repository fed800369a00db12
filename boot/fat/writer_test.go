package fat_test

import (
	"bytes"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/gonixiso/gonixiso/boot/fat"
	"github.com/gonixiso/gonixiso/internal/testsystem"
)

var modTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// tree is a set of files (path → content) and empty directories (path → nil).
type tree map[string][]byte

func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)}))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// espTree is what an EFI system partition of a NixOS ISO holds, with a rEFInd binary whose
// name needs a long name entry.
func espTree() tree {
	return tree{
		"EFI/BOOT/BOOTX64.EFI":    randomBytes(1, 1081344),
		"EFI/BOOT/grub.cfg":       []byte("set timeout=10\n"),
		"EFI/BOOT/refind_x64.efi": randomBytes(2, 250000),
	}
}

// oddTree has the names and shapes a FAT writer must get right: long and unicode names, names
// that differ from their short form only in case, mixed case, empty files and directories, a
// file that ends on a cluster boundary, and a directory that spans several clusters.
func oddTree() tree {
	t := tree{
		"README":                        []byte("short name, no extension\n"),
		"lower.txt":                     []byte("lower case base and extension\n"),
		"MiXed.Txt":                     []byte("mixed case needs a long name\n"),
		"a long file name with spaces.": nil, // replaced below: names may not end in a dot
		"ünïcödé ✓.md":                  []byte("unicode\n"),
		"empty":                         {},
		"dir.with.dots/x":               []byte("x"),
		"deep/a/b/c/d/e/f/g/h/i/file":   []byte("deep\n"),
		"emptydir":                      nil,
		"exact/cluster.bin":             randomBytes(3, 4096),
		"verylongnamenumber1.dat":       []byte("1"),
		"verylongnamenumber2.dat":       []byte("2"),
	}
	delete(t, "a long file name with spaces.")
	t["a long file name with spaces"] = []byte("spaces\n")
	for i := 0; i < 150; i++ {
		t[fmt.Sprintf("many/file-%03d.txt", i)] = []byte(fmt.Sprintf("%d\n", i))
	}
	return t
}

func build(t testing.TB, files tree, opts fat.Options, order []string) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := fat.NewWriter(&buf, opts)
	if order == nil {
		order = keys(files)
	}
	for _, name := range order {
		data := files[name]
		if data == nil {
			if err := w.Mkdir(name); err != nil {
				t.Fatal(err)
			}
			continue
		}
		f, err := w.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if int64(buf.Len()) != opts.Size {
		t.Fatalf("image is %d bytes, want %d", buf.Len(), opts.Size)
	}
	return buf.Bytes()
}

func keys(files tree) []string {
	var ks []string
	for k := range files {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func writeImage(t testing.TB, img []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "esp.img")
	if err := os.WriteFile(p, img, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// fsckProblems checks the image with fsck.fat and returns what it found wrong: without -v a
// clean volume gives its version line and one summary line, and every finding adds lines; with
// -v it must report the expected FAT type and no reclaimed clusters or warnings.
func fsckProblems(t *testing.T, path string, wantBits int) []string {
	t.Helper()
	var problems []string
	out, err := exec.Command("fsck.fat", "-n", path).CombinedOutput()
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if err != nil || len(lines) != 2 || !regexp.MustCompile(`^\S+: \d+ files, \d+/\d+ clusters$`).MatchString(lines[1]) {
		problems = append(problems, fmt.Sprintf("fsck.fat -n: %v\n%s", err, out))
	}
	out, err = exec.Command("fsck.fat", "-n", "-v", path).CombinedOutput()
	if err != nil {
		problems = append(problems, fmt.Sprintf("fsck.fat -n -v: %v\n%s", err, out))
	}
	for _, bad := range []string{"Reclaim", "arning", "differ", "wrong", "nvalid", "corrupt", "Free cluster"} {
		if strings.Contains(string(out), bad) {
			problems = append(problems, fmt.Sprintf("fsck.fat -n -v says %q:\n%s", bad, out))
		}
	}
	if want := fmt.Sprintf("%d bit entries", wantBits); !strings.Contains(string(out), want) {
		problems = append(problems, fmt.Sprintf("fsck.fat -n -v does not report %s:\n%s", want, out))
	}
	return problems
}

// mtoolsRoundTrip copies the whole volume out with mcopy and compares it with files.
func mtoolsRoundTrip(t *testing.T, path string, files tree) {
	t.Helper()
	out := t.TempDir()
	run(t, "mcopy", "-s", "-n", "-i", path, "::/", out)
	got := tree{}
	err := filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == out {
			return err
		}
		rel, _ := filepath.Rel(out, p)
		if d.IsDir() {
			if ents, _ := os.ReadDir(p); len(ents) == 0 {
				got[filepath.ToSlash(rel)] = nil
			}
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		got[filepath.ToSlash(rel)] = data
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	compareTrees(t, "mcopy", got, files)
}

func compareTrees(t *testing.T, what string, got, want tree) {
	t.Helper()
	if g, w := keys(got), keys(want); !slices.Equal(g, w) {
		t.Fatalf("%s lists\n%q\nwant\n%q", what, g, w)
	}
	for name, data := range want {
		if (data == nil) != (got[name] == nil) || !bytes.Equal(got[name], data) {
			t.Errorf("%s: %s differs (%d bytes, want %d)", what, name, len(got[name]), len(data))
		}
	}
}

// readBack reads the image with this package's Reader, checks it with fstest.TestFS, and
// compares its files.
func readBack(t *testing.T, img []byte, files tree, label string, volumeID uint32) *fat.Reader {
	t.Helper()
	r, err := fat.NewReader(bytes.NewReader(img), int64(len(img)))
	if err != nil {
		t.Fatal(err)
	}
	if r.Label != label || r.VolumeID != volumeID {
		t.Errorf("label %q id %08x, want %q %08x", r.Label, r.VolumeID, label, volumeID)
	}
	var want []string
	for _, k := range keys(files) {
		want = append(want, k)
	}
	if err := fstest.TestFS(r, want...); err != nil {
		t.Fatal(err)
	}
	got := tree{}
	err = fs.WalkDir(r, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == "." {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if !info.ModTime().Equal(modTime) {
			t.Errorf("%s: modified %s, want %s", p, info.ModTime(), modTime)
		}
		if d.IsDir() {
			if ents, _ := fs.ReadDir(r, p); len(ents) == 0 {
				got[p] = nil
			}
			return nil
		}
		data, err := fs.ReadFile(r, p)
		got[p] = data
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	compareTrees(t, "fat.Reader", got, files)
	return r
}

func TestWriterTools(t *testing.T) {
	testsystem.Require(t, "fsck.fat", "mcopy", "mdir", "minfo", "blkid")
	for _, tc := range []struct {
		name  string
		files tree
		size  int64
		bits  int
	}{
		{"esp-fat12", espTree(), 3 << 20, 12},
		{"esp-fat16", espTree(), 20 << 20, 16},
		{"odd-fat12", oddTree(), 2 << 20, 12},
		{"odd-fat16", oddTree(), 64 << 20, 16},
		{"tiny", tree{"a": []byte("a")}, 64 << 10, 12},
		{"empty", tree{}, 1 << 20, 12},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := fat.Options{Size: tc.size, Label: "EFIBOOT", VolumeID: 0x12345678, ModTime: modTime}
			img := build(t, tc.files, opts, nil)
			path := writeImage(t, img)
			if p := fsckProblems(t, path, tc.bits); len(p) > 0 {
				t.Fatal(strings.Join(p, "\n"))
			}
			mtoolsRoundTrip(t, path, tc.files)
			info := run(t, "minfo", "-i", path, "::")
			for _, want := range []string{`disk label="EFIBOOT    "`, "serial number: 12345678", `banner:"GONIXISO"`} {
				if !strings.Contains(info, want) {
					t.Errorf("minfo does not show %s:\n%s", want, info)
				}
			}
			blk := run(t, "blkid", "-p", "-o", "export", path)
			for _, want := range []string{"UUID=1234-5678", "LABEL=EFIBOOT", "TYPE=vfat", fmt.Sprintf("VERSION=FAT%d", tc.bits)} {
				if !strings.Contains(blk, want+"\n") {
					t.Errorf("blkid does not show %s:\n%s", want, blk)
				}
			}
			if len(tc.files) > 0 { // mdir fails on an empty volume
				listing := run(t, "mdir", "-i", path, "-/", "-a", "::")
				if !strings.Contains(listing, "2000-01-01   0:00") {
					t.Errorf("mdir does not show the dates of Options.ModTime:\n%s", listing)
				}
			}
			readBack(t, img, tc.files, "EFIBOOT", 0x12345678)
		})
	}
}

// TestFsckCatchesLeak is the negative control of fsckProblems: a cluster marked used in both
// FATs that no file owns (what go-diskfs's FAT16 writer leaves) must be found.
func TestFsckCatchesLeak(t *testing.T) {
	testsystem.Require(t, "fsck.fat")
	img := build(t, espTree(), fat.Options{Size: 3 << 20, Label: "EFIBOOT", ModTime: modTime}, nil)
	r, err := fat.NewReader(bytes.NewReader(img), int64(len(img)))
	if err != nil {
		t.Fatal(err)
	}
	// FAT12 entry of the last cluster, in both copies: 0xFFF (end of chain).
	last := uint32(r.Clusters + 1)
	fatSectors := int(img[22]) | int(img[23])<<8 // BPB_FATSz16
	for copyStart := 512; copyStart < 512+2*fatSectors*512; copyStart += fatSectors * 512 {
		off := copyStart + int(last*3/2)
		if last%2 == 0 {
			img[off], img[off+1] = 0xFF, img[off+1]|0x0F
		} else {
			img[off], img[off+1] = img[off]|0xF0, 0xFF
		}
	}
	if p := fsckProblems(t, writeImage(t, img), 12); len(p) == 0 {
		t.Fatal("fsck.fat found nothing wrong with a leaked cluster")
	}
}

// TestWriterDeterministic: the order files are added in does not change a byte.
func TestWriterDeterministic(t *testing.T) {
	files := oddTree()
	opts := fat.Options{Size: 4 << 20, Label: "x", VolumeID: 1, ModTime: modTime}
	order := keys(files)
	a := build(t, files, opts, order)
	slices.Reverse(order)
	b := build(t, files, opts, order)
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	c := build(t, files, opts, order)
	if !bytes.Equal(a, b) || !bytes.Equal(a, c) {
		t.Fatal("images differ with the order of Create calls")
	}
}

// TestWriterLayout pins the choices the package documents: boot sector fields, the FAT type
// and cluster size by volume size, and the packed date of Options.ModTime.
func TestWriterLayout(t *testing.T) {
	for _, tc := range []struct {
		size        int64
		fat16       bool
		clusterSize int
	}{
		{64 << 10, false, 512},
		{2 << 20, false, 512},
		{3 << 20, false, 1024},
		{4 << 20, false, 1024},
		{5 << 20, true, 1024},
		{16 << 20, true, 2048},
		{100 << 20, true, 2048},
		{200 << 20, true, 4096},
		{512 << 20, true, 8192},
		{1 << 30, true, 32768},
	} {
		h := &head{}
		w := fat.NewWriter(h, fat.Options{Size: tc.size, ModTime: modTime})
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if h.n != tc.size {
			t.Fatalf("wrote %d bytes, want %d", h.n, tc.size)
		}
		r, err := fat.NewReader(h, tc.size)
		if err != nil {
			t.Fatal(err)
		}
		if r.FAT16 != tc.fat16 || r.ClusterSize != tc.clusterSize {
			t.Errorf("size %d: FAT16 %v clusters of %d, want %v %d", tc.size, r.FAT16, r.ClusterSize, tc.fat16, tc.clusterSize)
		}
		if r.OEMName != "GONIXISO" || r.Label != "" {
			t.Errorf("size %d: OEM name %q label %q", tc.size, r.OEMName, r.Label)
		}
	}
}

// head keeps the first MiB written to it and counts the rest; reading beyond that gives zeros.
type head struct {
	b []byte
	n int64
}

func (h *head) Write(p []byte) (int, error) {
	if keep := 1<<20 - len(h.b); keep > 0 {
		h.b = append(h.b, p[:min(keep, len(p))]...)
	}
	h.n += int64(len(p))
	return len(p), nil
}

func (h *head) ReadAt(p []byte, off int64) (int, error) {
	clear(p)
	if off < int64(len(h.b)) {
		copy(p, h.b[off:])
	}
	return len(p), nil
}

func TestWriterErrors(t *testing.T) {
	ok := fat.Options{Size: 1 << 20, ModTime: modTime}
	for _, tc := range []struct {
		name  string
		opts  fat.Options
		files []string
		want  string
	}{
		{"size not sectors", fat.Options{Size: 1000, ModTime: modTime}, nil, "not a positive multiple"},
		{"too small", fat.Options{Size: 8 << 10, ModTime: modTime}, nil, "too small"},
		{"too large", fat.Options{Size: 4 << 30, ModTime: modTime}, nil, "too large for FAT16"},
		{"label", fat.Options{Size: 1 << 20, Label: "way too long!", ModTime: modTime}, nil, "volume label"},
		{"label char", fat.Options{Size: 1 << 20, Label: "a/b", ModTime: modTime}, nil, "not allowed"},
		{"before 1980", fat.Options{Size: 1 << 20}, nil, "outside FAT's range"},
		{"does not fit", fat.Options{Size: 64 << 10, ModTime: modTime}, []string{"big"}, "contents need"},
		{"case clash", ok, []string{"EFI/a", "efi/b"}, "do not differ in case"},
		{"duplicate", ok, []string{"a", "a"}, "file already exists"},
		{"file as dir", ok, []string{"a", "a/b"}, "a is a file"},
		{"bad char", ok, []string{"a:b"}, "not allowed"},
		{"trailing dot", ok, []string{"a."}, "ends in a dot"},
		{"invalid path", ok, []string{"/abs"}, "invalid path"},
		{"dot dot", ok, []string{"a/../b"}, "invalid path"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			w := fat.NewWriter(&buf, tc.opts)
			var err error
			for _, name := range tc.files {
				var f interface{ Write([]byte) (int, error) }
				if f, err = w.Create(name); err != nil {
					break
				}
				if name == "big" {
					f.Write(make([]byte, 100<<10))
				}
			}
			if err == nil {
				err = w.Close()
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			if buf.Len() != 0 {
				t.Errorf("a failed writer wrote %d bytes", buf.Len())
			}
		})
	}
	var buf bytes.Buffer
	w := fat.NewWriter(&buf, ok)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Create("x"); err == nil {
		t.Error("Create after Close succeeded")
	}
	if err := w.Close(); err == nil {
		t.Error("second Close succeeded")
	}
}

// TestReaderForeign reads images that mkfs.fat formatted and mtools filled, FAT12 and FAT16,
// with the long names mtools writes.
func TestReaderForeign(t *testing.T) {
	testsystem.Require(t, "mkfs.fat", "mcopy", "mmd")
	files := tree{
		"EFI/BOOT/BOOTX64.EFI":       randomBytes(4, 300000),
		"EFI/BOOT/grub.cfg":          []byte("grub\n"),
		"EFI/BOOT/refind_x64.efi":    randomBytes(5, 70000),
		"Mixed Case Long Name.TXT":   []byte("mixed\n"),
		"dir/sub/deeper/leaf.bin":    randomBytes(6, 5000),
		"dir/sub/another long name":  []byte("another\n"),
		"dir/sub/another long name2": []byte("another 2\n"),
	}
	for _, size := range []int64{2 << 20, 30 << 20} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			dir := t.TempDir()
			img := filepath.Join(dir, "foreign.img")
			if err := os.WriteFile(img, make([]byte, size), 0o644); err != nil {
				t.Fatal(err)
			}
			run(t, "mkfs.fat", "--invariant", "-i", "CAFE0001", "-n", "FOREIGN", img)
			for _, name := range keys(files) {
				src := filepath.Join(dir, "src", name)
				os.MkdirAll(filepath.Dir(src), 0o755)
				if err := os.WriteFile(src, files[name], 0o644); err != nil {
					t.Fatal(err)
				}
				parts := strings.Split(name, "/")
				for i := 1; i < len(parts); i++ {
					exec.Command("mmd", "-D", "s", "-i", img, "::/"+strings.Join(parts[:i], "/")).Run()
				}
				run(t, "mcopy", "-i", img, src, "::/"+name)
			}
			data, err := os.ReadFile(img)
			if err != nil {
				t.Fatal(err)
			}
			r, err := fat.NewReader(bytes.NewReader(data), size)
			if err != nil {
				t.Fatal(err)
			}
			if r.OEMName != "mkfs.fat" || r.Label != "FOREIGN" || r.VolumeID != 0xCAFE0001 || r.FAT16 != (size > 4<<20) {
				t.Errorf("OEM %q label %q id %08x FAT16 %v", r.OEMName, r.Label, r.VolumeID, r.FAT16)
			}
			if err := fstest.TestFS(r, keys(files)...); err != nil {
				t.Fatal(err)
			}
			for name, want := range files {
				got, err := fs.ReadFile(r, name)
				if err != nil || !bytes.Equal(got, want) {
					t.Errorf("%s: %d bytes, %v", name, len(got), err)
				}
			}
		})
	}
}
