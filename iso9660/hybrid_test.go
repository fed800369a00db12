package iso9660_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gonixiso/gonixiso/internal/testsystem"
	"github.com/gonixiso/gonixiso/iso9660"
)

// xorrisoISO writes the tree under dir the way nixpkgs' make-iso9660-image.sh does.
// Without efi, it leaves out the EFI entry and the GPT.
func xorrisoISO(t testing.TB, dir, volid string, efi bool) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "xorriso.iso")
	args := []string{"-as", "mkisofs", "-iso-level", "3", "-volid", volid,
		"-appid", "nixos", "-publisher", "nixos", "-full-iso9660-filenames", "-joliet",
		"-eltorito-boot", "isolinux/isolinux.bin", "-eltorito-catalog", ".boot.cat",
		"-no-emul-boot", "-boot-load-size", "4", "-boot-info-table",
		"-isohybrid-mbr", debianIsohdpfx}
	if efi {
		args = append(args, "-eltorito-alt-boot", "-e", "boot/efi.img", "-no-emul-boot", "-isohybrid-gpt-basdat")
	}
	cmd := exec.Command("xorriso", append(args, "-r", "-o", out, dir)...)
	cmd.Env = append(os.Environ(), "SOURCE_DATE_EPOCH=315532800")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("xorriso: %v\n%s", err, b)
	}
	return out
}

// systemAreaReport is xorriso's -report_system_area with what must differ between two writers
// taken out: GUIDs are each writer's own, and positions are named after what they are (S: the
// image's size in 512-byte sectors, E: the EFI image's first sector).
func systemAreaReport(t testing.TB, iso string) []string {
	t.Helper()
	im := openImage(t, iso)
	s := int64(im.Primary.VolumeSpaceSize) * 4
	e := int64(im.MBR.Partitions[1].Start)
	names := map[string]string{
		strconv.FormatInt(s, 10):    "S",
		strconv.FormatInt(s-1, 10):  "S-1",
		strconv.FormatInt(s-64, 10): "S-64",
	}
	if e != 0 {
		names[strconv.FormatInt(e, 10)] = "E"
	}
	var out []string
	for _, line := range strings.Split(run(t, "xorriso", "-indev", iso, "-report_system_area", "plain"), "\n") {
		if strings.HasPrefix(line, "xorriso") || strings.Contains(line, "GUID ") || !strings.Contains(line, " : ") {
			continue
		}
		f := strings.Fields(line)
		for i, w := range f {
			if n, ok := names[w]; ok {
				f[i] = n
			}
		}
		out = append(out, strings.Join(f, " "))
	}
	return out
}

// TestSystemAreaMatchesXorriso writes the same inputs with the Writer and with xorriso (nixpkgs'
// flags) and compares the system areas as xorriso reports them, then byte by byte where the
// layouts allow: MBR code, boot file pointer, partition entries, GPT header and entries.
func TestSystemAreaMatchesXorriso(t *testing.T) {
	testsystem.Require(t, "xorriso")
	small := func(t *testing.T, dir string) { os.WriteFile(filepath.Join(dir, "hello.txt"), []byte("hi\n"), 0o644) }
	cases := []struct {
		name  string
		tree  func(t *testing.T, dir string)
		slow  bool
		noEFI bool
	}{
		{"small", small, false, false},
		// BIOS only: the MBR without partition 2 and without a GPT.
		{"no-efi", small, false, true},
		// Over 1 GiB the 64-head geometry no longer reaches: xorriso picks more heads and pads to
		// the larger cylinder.
		{"1.3GiB", func(t *testing.T, dir string) {
			small(t, dir)
			f, err := os.Create(filepath.Join(dir, "big.sparse"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if err := f.Truncate(1300 << 20); err != nil {
				t.Fatal(err)
			}
		}, true, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.slow && testing.Short() {
				t.Skip("slow: writes two 1.3 GiB images")
			}
			dir := t.TempDir()
			boot := nixBoot(bootFiles(t, dir, 3<<20))
			if c.noEFI {
				os.Remove(filepath.Join(dir, "boot", "efi.img"))
				boot.EFI = ""
			}
			c.tree(t, dir)
			ours := writeISO(t, dir, nixOptions("gonixiso-test-x86_64"), &boot)
			theirs := xorrisoISO(t, dir, "gonixiso-test-x86_64", !c.noEFI)
			a, b := systemAreaReport(t, ours), systemAreaReport(t, theirs)
			if strings.Join(a, "\n") != strings.Join(b, "\n") {
				t.Errorf("system area report differs:\nours:\n%s\nxorriso:\n%s", strings.Join(a, "\n"), strings.Join(b, "\n"))
			}
			if c.noEFI {
				ia, ib := openImage(t, ours), openImage(t, theirs)
				pa, pb := readSystemArea(t, ours), readSystemArea(t, theirs)
				if ia.GPT != nil || ib.GPT != nil || string(pa[446:512]) != string(pb[446:512]) {
					t.Errorf("BIOS-only MBR partitions: % x, xorriso % x (GPT: %v, %v)", pa[446:512], pb[446:512], ia.GPT != nil, ib.GPT != nil)
				}
				return
			}
			compareSystemAreas(t, ours, theirs)
		})
	}
}

// compareSystemAreas compares the bytes of two isohybrid system areas, with the fields that
// depend on where each writer put the files replaced by what they must be.
func compareSystemAreas(t *testing.T, ours, theirs string) {
	a, b := readSystemArea(t, ours), readSystemArea(t, theirs)
	ia, ib := openImage(t, ours), openImage(t, theirs)
	ea, eb := entries(t, ia), entries(t, ib)
	hdpfx, _ := os.ReadFile(debianIsohdpfx)
	for name, x := range map[string]struct {
		b  []byte
		im *iso9660.Image
		e  map[string]*iso9660.Entry
	}{"ours": {a, ia, ea}, "xorriso": {b, ib, eb}} {
		if string(x.b[:432]) != string(hdpfx[:432]) {
			t.Errorf("%s: MBR code is not isohdpfx.bin's", name)
		}
		if got, want := x.im.MBR.BootLBA, uint64(x.e["/isolinux/isolinux.bin"].Extents[0].LBA)*4; got != want {
			t.Errorf("%s: MBR boot LBA %d, want %d", name, got, want)
		}
		if got, want := x.im.MBR.Partitions[1].Start, x.e["/boot/efi.img"].Extents[0].LBA*4; got != want {
			t.Errorf("%s: MBR partition 2 at %d, EFI image at %d", name, got, want)
		}
	}
	// Partition 1 is the same (both images are padded to the same cylinder); partition 2 but for
	// its start.
	if ia.Primary.VolumeSpaceSize != ib.Primary.VolumeSpaceSize {
		t.Fatalf("images of %d and %d sectors: the inputs were meant to give one size", ia.Primary.VolumeSpaceSize, ib.Primary.VolumeSpaceSize)
	}
	if string(a[446:462]) != string(b[446:462]) {
		t.Errorf("MBR partition 1: % x, xorriso % x", a[446:462], b[446:462])
	}
	if string(a[462:470])+string(a[474:510]) != string(b[462:470])+string(b[474:510]) {
		t.Errorf("MBR partitions 2-4: % x, xorriso % x", a[462:510], b[462:510])
	}
	ga, gb := ia.GPT, ib.GPT
	if ga == nil || gb == nil {
		t.Fatalf("GPT: ours %v, xorriso %v", ga != nil, gb != nil)
	}
	norm := func(g *iso9660.GPT, im *iso9660.Image) iso9660.GPT {
		c := *g
		h := c.Header
		h.DiskGUID = iso9660.GUID{}
		s := uint64(im.Primary.VolumeSpaceSize) * 4
		h.AlternateLBA -= s
		h.LastUsableLBA -= s
		c.Header = h
		c.Backup = nil
		c.Partitions = append([]iso9660.GPTPartition(nil), g.Partitions...)
		for i := range c.Partitions {
			c.Partitions[i].GUID = iso9660.GUID{}
			if i == 0 {
				c.Partitions[i].LastLBA -= s
			} else {
				c.Partitions[i].LastLBA -= c.Partitions[i].FirstLBA
				c.Partitions[i].FirstLBA = 0
			}
		}
		return c
	}
	na, nb := norm(ga, ia), norm(gb, ib)
	if na.Header != nb.Header || len(na.Partitions) != len(nb.Partitions) {
		t.Errorf("GPT header:\n%+v\nxorriso:\n%+v", na.Header, nb.Header)
	}
	for i := range min(len(na.Partitions), len(nb.Partitions)) {
		if na.Partitions[i] != nb.Partitions[i] {
			t.Errorf("GPT partition %d:\n%+v\nxorriso:\n%+v", i+1, na.Partitions[i], nb.Partitions[i])
		}
	}
	for name, g := range map[string]*iso9660.GPT{"ours": ga, "xorriso": gb} {
		if g.Backup == nil || g.Backup.MyLBA != g.Header.AlternateLBA || g.Backup.AlternateLBA != 1 ||
			!g.Backup.HeaderCRCValid || !g.Backup.EntriesCRCValid || g.Backup.EntriesLBA != g.Header.AlternateLBA-62 {
			t.Errorf("%s: backup GPT header %+v", name, g.Backup)
		}
	}
	// GPT entries 3-248 are empty, and the rest of the system area is zero.
	for i := 1024 + 2*128; i < 32768; i++ {
		if a[i] != 0 {
			t.Fatalf("system area byte %d is %#x, want 0", i, a[i])
		}
	}
}

func readSystemArea(t *testing.T, p string) []byte {
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 32768)
	if _, err := f.ReadAt(b, 0); err != nil {
		t.Fatal(err)
	}
	return b
}
