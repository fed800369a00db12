package liveiso

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gonixiso/gonixiso/closure"
	"github.com/gonixiso/gonixiso/internal/testsystem"
	"github.com/gonixiso/gonixiso/iso9660"
)

// xorrisoReport returns the lines of `xorriso -report_el_torito plain -report_system_area plain`
// for iso, keyed by their label ("El Torito boot img", "GPT type GUID", ...), the fields after
// the colon of each.
func xorrisoReport(t *testing.T, iso string) map[string][][]string {
	t.Helper()
	testsystem.Require(t, "xorriso")
	out, err := exec.Command("xorriso", "-indev", iso, "-report_el_torito", "plain", "-report_system_area", "plain").Output()
	if err != nil {
		t.Fatalf("xorriso -report_el_torito: %v", err)
	}
	rep := map[string][][]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		label, rest, ok := strings.Cut(sc.Text(), ":")
		if ok {
			rep[strings.TrimSpace(label)] = append(rep[strings.TrimSpace(label)], strings.Fields(rest))
		}
	}
	return rep
}

// byIndex returns the report lines of label whose first field is index i.
func byIndex(rep map[string][][]string, label string, i int) []string {
	for _, f := range rep[label] {
		if len(f) > 0 && f[0] == strconv.Itoa(i) {
			return f[1:]
		}
	}
	return nil
}

func num(t *testing.T, s string) uint64 {
	t.Helper()
	n, err := strconv.ParseUint(s, 0, 64)
	if err != nil {
		t.Fatalf("xorriso report: %q is not a number", s)
	}
	return n
}

// checkTablesAgainstXorriso holds the El Torito catalog, MBR and GPT that Inspect reports to
// what xorriso reports of the same image.
func checkTablesAgainstXorriso(t *testing.T, iso string, ins *Inspection) {
	rep := xorrisoReport(t, iso)

	et := ins.ElTorito
	if et == nil {
		t.Fatal("no El Torito catalog")
	}
	if c := rep["El Torito catalog"]; len(c) != 1 || num(t, c[0][0]) != uint64(et.CatalogLBA) {
		t.Errorf("catalog at sector %d, xorriso says %v", et.CatalogLBA, c)
	}
	if p := rep["El Torito cat path"]; len(p) != 1 || p[0][0] != et.CatalogPath {
		t.Errorf("catalog path %q, xorriso says %v", et.CatalogPath, p)
	}
	if len(et.Entries) != len(rep["El Torito boot img"]) {
		t.Fatalf("%d El Torito entries, xorriso reports %d", len(et.Entries), len(rep["El Torito boot img"]))
	}
	for i, e := range et.Entries {
		// N Pltf B Emul Ld_seg Hdpt Ldsiz LBA
		f := byIndex(rep, "El Torito boot img", i+1)
		if len(f) != 7 {
			t.Fatalf("xorriso's entry %d: %v", i+1, f)
		}
		if f[0] != e.Platform || (f[1] == "y") != e.Bootable || f[2] != e.Emulation ||
			num(t, f[3]) != uint64(e.LoadSegment) || num(t, f[4]) != uint64(e.SystemType) ||
			num(t, f[5]) != uint64(e.LoadSectors) || num(t, f[6]) != uint64(e.LBA) {
			t.Errorf("El Torito entry %d: %+v; xorriso says %v", i+1, e, f)
		}
		if p := byIndex(rep, "El Torito img path", i+1); len(p) != 1 || p[0] != e.Path {
			t.Errorf("El Torito entry %d's image %q, xorriso says %v", i+1, e.Path, p)
		}
	}
	if et.Entries[0].Platform != "BIOS" || et.Entries[0].LoadSectors != 4 || et.Entries[0].Path != "/isolinux/isolinux.bin" {
		t.Errorf("first El Torito entry %+v, want BIOS loading 4 sectors of /isolinux/isolinux.bin", et.Entries[0])
	}
	if len(et.Entries) < 2 || et.Entries[1].Platform != "UEFI" || et.Entries[1].Path != "/boot/efi.img" {
		t.Errorf("second El Torito entry %+v, want UEFI /boot/efi.img", et.Entries[1:])
	}

	m := ins.MBR
	if m == nil {
		t.Fatal("no MBR")
	}
	if len(m.Partitions) != len(rep["MBR partition"]) {
		t.Fatalf("%d MBR partitions, xorriso reports %v", len(m.Partitions), rep["MBR partition"])
	}
	for _, p := range m.Partitions {
		// N Status Type Start Blocks
		f := byIndex(rep, "MBR partition", p.Index)
		if len(f) != 4 || (num(t, f[0]) == 0x80) != p.Bootable || num(t, f[1]) != uint64(p.Type) ||
			num(t, f[2]) != uint64(p.Start) || num(t, f[3]) != uint64(p.Sectors) {
			t.Errorf("MBR partition %+v; xorriso says %v", p, f)
		}
		if f := byIndex(rep, "MBR partition path", p.Index); len(f) == 1 && f[0] != p.Path {
			t.Errorf("MBR partition %d is %q; xorriso says %s", p.Index, p.Path, f[0])
		}
	}

	g := ins.GPT
	if g == nil {
		t.Fatal("no GPT")
	}
	guid := func(s string) string {
		b, err := hex.DecodeString(s)
		if err != nil || len(b) != 16 {
			t.Fatalf("xorriso's GUID %q", s)
		}
		return iso9660.GUID(b).String()
	}
	if f := rep["GPT disk GUID"]; len(f) != 1 || guid(f[0][0]) != g.DiskGUID {
		t.Errorf("GPT disk GUID %s, xorriso says %v", g.DiskGUID, f)
	}
	if !g.HeaderCRCValid || !g.EntriesCRCValid || !g.Backup {
		t.Errorf("GPT checksums or backup: %+v", g)
	}
	if len(g.Partitions) != len(rep["GPT type GUID"]) {
		t.Fatalf("%d GPT partitions, xorriso reports %v", len(g.Partitions), rep["GPT type GUID"])
	}
	for _, p := range g.Partitions {
		se := byIndex(rep, "GPT start and size", p.Index)
		if len(se) != 2 || num(t, se[0]) != p.FirstLBA || num(t, se[0])+num(t, se[1])-1 != p.LastLBA {
			t.Errorf("GPT partition %d: sectors %d-%d; xorriso says start and size %v", p.Index, p.FirstLBA, p.LastLBA, se)
		}
		if f := byIndex(rep, "GPT type GUID", p.Index); len(f) != 1 || guid(f[0]) != p.Type {
			t.Errorf("GPT partition %d: type %s; xorriso says %v", p.Index, p.Type, f)
		}
		if f := byIndex(rep, "GPT partition GUID", p.Index); len(f) != 1 || guid(f[0]) != p.GUID {
			t.Errorf("GPT partition %d: GUID %s; xorriso says %v", p.Index, p.GUID, f)
		}
		if f := byIndex(rep, "GPT partition flags", p.Index); len(f) != 1 || num(t, f[0]) != p.Flags {
			t.Errorf("GPT partition %d: flags %#x; xorriso says %v", p.Index, p.Flags, f)
		}
		if f := byIndex(rep, "GPT partname local", p.Index); len(f) != 1 || f[0] != p.Name {
			t.Errorf("GPT partition %d: name %q; xorriso says %v", p.Index, p.Name, f)
		}
	}
}

// unsquashfsStats returns the facts of `unsquashfs -s`: block size, fragments and inodes.
func unsquashfsStats(t *testing.T, img string) map[string]int64 {
	t.Helper()
	testsystem.Require(t, "unsquashfs")
	out, err := exec.Command("unsquashfs", "-s", img).Output()
	if err != nil {
		t.Fatalf("unsquashfs -s %s: %v", img, err)
	}
	stats := map[string]int64{}
	for _, re := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^(Block size) (\d+)$`),
		regexp.MustCompile(`(?m)^(Number of fragments) (\d+)$`),
		regexp.MustCompile(`(?m)^(Number of inodes) (\d+)$`),
		regexp.MustCompile(`(?m)^(Filesystem size) (\d+) bytes`),
	} {
		m := re.FindSubmatch(out)
		if m == nil {
			t.Fatalf("unsquashfs -s says no %s:\n%s", re, out)
		}
		stats[string(m[1])], _ = strconv.ParseInt(string(m[2]), 10, 64)
	}
	return stats
}

// checkSquashFS holds the SquashFS facts and store paths of ins to unsquashfs's view of the
// image sq, to the closure and to the registration reg.
func checkSquashFS(t *testing.T, ins *Inspection, sq string, closurePaths []string, reg string) {
	t.Helper()
	s := ins.SquashFS
	if s == nil {
		t.Fatal("no SquashFS")
	}
	stats := unsquashfsStats(t, sq)
	if int64(s.BlockSize) != stats["Block size"] || int64(s.Fragments) != stats["Number of fragments"] ||
		int64(s.Inodes) != stats["Number of inodes"] || s.BytesUsed != stats["Filesystem size"] {
		t.Errorf("SquashFS %+v; unsquashfs -s says %v", s, stats)
	}
	if s.Ratio <= 1 || s.FileBytes <= s.BytesUsed || !s.Registered {
		t.Errorf("ratio %.3f of %d file bytes in %d, registered %v", s.Ratio, s.FileBytes, s.BytesUsed, s.Registered)
	}
	var names []string
	for _, p := range ins.StorePaths {
		names = append(names, p.Path)
	}
	var want []string
	for _, p := range closurePaths {
		want = append(want, StoreDir+"/"+filepath.Base(p))
	}
	if !slices.Equal(names, want) {
		t.Fatalf("store paths %v, want the closure %v", names, want)
	}
	f, err := os.Open(reg)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := closure.ReadRegistration(f)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]closure.Path{}
	for _, r := range recs {
		byName[filepath.Base(r.Path)] = r
	}
	for i, p := range ins.StorePaths {
		r := byName[filepath.Base(p.Path)]
		if p.NarHash != r.NarHash.String() || p.NarSize != r.NarSize || !slices.Equal(p.References, r.References) {
			t.Errorf("%s: registration %s %d %v, want %s %d %v", p.Path, p.NarHash, p.NarSize, p.References,
				r.NarHash, r.NarSize, r.References)
		}
		// Sizes from the store itself.
		var size int64
		var files int
		err := filepath.WalkDir(closurePaths[i], func(_ string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return err
			}
			fi, err := d.Info()
			if err == nil {
				size += fi.Size()
				files++
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if p.Size != size || p.Files != files {
			t.Errorf("%s: %d files of %d bytes, the store has %d of %d", p.Path, p.Files, p.Size, files, size)
		}
		if p.Stored+p.Tails > p.Size+int64(len(closurePaths)) && p.Stored > p.Size {
			t.Errorf("%s: stored %d and tails %d for %d bytes", p.Path, p.Stored, p.Tails, p.Size)
		}
	}
}

// checkMenus holds the menus of ins to the test system: the main entry and the specialisation's
// with its extra parameter, in both menus, and the Options submenus.
func checkMenus(t *testing.T, ins *Inspection, top string) {
	t.Helper()
	kernel, err := filepath.EvalSymlinks(filepath.Join(top, "kernel"))
	if err != nil {
		t.Fatal(err)
	}
	initrd, err := filepath.EvalSymlinks(filepath.Join(top, "initrd"))
	if err != nil {
		t.Fatal(err)
	}
	alt, err := filepath.EvalSymlinks(filepath.Join(top, "specialisation", testsystem.Specialisation))
	if err != nil {
		t.Fatal(err)
	}
	const options = 8 // iso-image.nix's optionsSubMenus
	for _, m := range []struct {
		name    string
		entries []MenuEntry
		extra   int // entries beyond the configurations' (GRUB's Firmware Setup and Shutdown)
	}{{"isolinux", ins.Boot.Isolinux, 0}, {"grub", ins.Boot.Grub, 2}} {
		if len(m.entries) != 2*(1+options)+m.extra {
			t.Errorf("%s: %d entries, want %d", m.name, len(m.entries), 2*(1+options)+m.extra)
			continue
		}
		main, spec := m.entries[0], m.entries[1]
		for _, e := range []MenuEntry{main, spec} {
			if e.Kernel != "/boot/"+kernel || e.Initrd != "/boot/"+initrd || len(e.Menu) != 0 ||
				!strings.HasPrefix(e.Title, "NixOS ") {
				t.Errorf("%s entry %+v: want kernel /boot/%s, initrd /boot/%s", m.name, e, kernel, initrd)
			}
		}
		if !strings.Contains(main.Params, "init="+top+"/init ") || strings.Contains(main.Params, "gonixiso.specialisation") {
			t.Errorf("%s main entry params %q", m.name, main.Params)
		}
		if !strings.Contains(spec.Params, "init="+alt+"/init ") || !strings.HasSuffix(spec.Params, "gonixiso.specialisation="+testsystem.Specialisation) {
			t.Errorf("%s specialisation entry params %q", m.name, spec.Params)
		}
		copyToRAM := m.entries[2]
		if !slices.Equal(copyToRAM.Menu, []string{"Options", "Copy ISO Files to RAM"}) || !strings.HasSuffix(copyToRAM.Params, " copytoram") {
			t.Errorf("%s: third entry %+v, want Options > Copy ISO Files to RAM", m.name, copyToRAM)
		}
	}
	if l := ins.Boot.Isolinux; len(l) > 1 && (l[0].Label != "boot" || l[1].Label != "boot-"+testsystem.Specialisation) {
		t.Errorf("isolinux labels %q, %q", l[0].Label, l[1].Label)
	}
	if g := ins.Boot.Grub; len(g) > 2 && (g[len(g)-2].Title != "Firmware Setup" || g[len(g)-1].Title != "Shutdown") {
		t.Errorf("GRUB's last entries %+v", g[len(g)-2:])
	}
}

func TestInspectBaseline(t *testing.T) {
	top := testsystem.Toplevel(t)
	iso := testsystem.BaselineISO(t)
	parts := testsystem.BaselineParts(t)
	ins, err := Inspect(context.Background(), iso)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(iso)
	if err != nil {
		t.Fatal(err)
	}
	epoch := time.Unix(315532800, 0).UTC()
	v := ins.Primary
	if ins.Size != fi.Size() || v.VolumeID != testsystem.VolumeID || v.Publisher != "NIXOS" || v.Application != "NIXOS" ||
		!v.Created.Equal(epoch) || !v.Modified.Equal(epoch) || v.BlockSize != iso9660.SectorSize ||
		int64(v.Sectors)*iso9660.SectorSize > ins.Size || !strings.HasPrefix(v.Preparer, "XORRISO") {
		t.Errorf("primary volume descriptor %+v", v)
	}
	if ins.Joliet == nil || ins.Joliet.VolumeID != testsystem.VolumeID[:16] || !ins.RockRidge {
		t.Errorf("Joliet %+v, Rock Ridge %v", ins.Joliet, ins.RockRidge)
	}
	checkTablesAgainstXorriso(t, iso, ins)
	checkMenus(t, ins, top)
	if e := ins.Boot.EFIImage; e == nil || e.Path != "/boot/efi.img" || e.Label != "EFIBOOT" || e.VolumeID != "1234-5678" ||
		e.Error != "" || len(e.Files) != 2 || e.Files[0].Path != "/EFI/BOOT/BOOTX64.EFI" || e.Files[1].Path != "/EFI/BOOT/grub.cfg" {
		t.Errorf("EFI image %+v, want mkfs.vfat's EFIBOOT 1234-5678 with BOOTX64.EFI and grub.cfg", e)
	}
	if s := ins.SquashFS; s == nil || s.Compression != "zstd" || s.Options.Level != 19 || !s.Options.Stored ||
		s.BlockSize != 1<<20 || s.Path != SquashFSPath {
		t.Errorf("SquashFS %+v, want zstd level 19 in 1 MiB blocks", s)
	}
	checkSquashFS(t, ins, filepath.Join(parts, "nix-store.squashfs"), testsystem.Closure(t, top),
		filepath.Join(parts, "nix-path-registration"))
}

func TestInspectBaselineXZ(t *testing.T) {
	top := testsystem.Toplevel(t)
	iso := testsystem.BaselineISO(t, "--comp", "xz -Xdict-size 100% -Xbcj x86")
	ins, err := Inspect(context.Background(), iso)
	if err != nil {
		t.Fatal(err)
	}
	s := ins.SquashFS
	if s == nil || s.Compression != "xz" || !slices.Equal(s.Options.XZFilters, []string{"x86"}) ||
		s.Options.XZDictSize != 1<<20 || s.BlockSize != 1<<20 {
		t.Fatalf("SquashFS %+v, want xz with the x86 BCJ filter and a 1 MiB dictionary", s)
	}
	if ins.Primary.VolumeID != testsystem.VolumeID {
		t.Errorf("volume id %q", ins.Primary.VolumeID)
	}
	checkMenus(t, ins, top)
	// The registration is read from the xz image: decompressed through the BCJ filter.
	parts := testsystem.BaselineParts(t)
	dir := t.TempDir()
	sq := filepath.Join(dir, "nix-store.squashfs")
	testsystem.Require(t, "osirrox")
	if out, err := exec.Command("osirrox", "-indev", iso, "-extract", SquashFSPath, sq).CombinedOutput(); err != nil {
		t.Fatalf("osirrox -extract: %v\n%s", err, out)
	}
	checkSquashFS(t, ins, sq, testsystem.Closure(t, top), filepath.Join(parts, "nix-path-registration"))
}

func TestInspectAssembled(t *testing.T) {
	im := buildImages(t)
	ins, err := Inspect(context.Background(), im.pristine)
	if err != nil {
		t.Fatal(err)
	}
	if ins.Primary.VolumeID != testsystem.VolumeID || ins.Primary.Application != "NIXOS" || !ins.RockRidge || ins.Joliet == nil {
		t.Errorf("volume %+v", ins.Primary)
	}
	checkTablesAgainstXorriso(t, im.pristine, ins)
	if s := ins.SquashFS; s == nil || s.Compression != "zstd" || s.BlockSize != 1<<20 || !s.Registered {
		t.Fatalf("SquashFS %+v", s)
	}
	var names []string
	for _, p := range ins.StorePaths {
		names = append(names, filepath.Base(p.Path))
		if p.NarHash == "" {
			t.Errorf("%s is not registered", p.Path)
		}
	}
	var want []string
	for _, p := range testsystem.Closure(t, testsystem.Toplevel(t)) {
		want = append(want, filepath.Base(p))
	}
	if !slices.Equal(names, want) {
		t.Errorf("store paths %v, want %v", names, want)
	}
}

func TestInspectNotISO(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.iso")
	if err := os.WriteFile(junk, bytes.Repeat([]byte("not an image "), 10000), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{junk, filepath.Join(dir, "missing.iso"), dir} {
		if _, err := Inspect(context.Background(), name); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("Inspect(%s): %v, want an error naming the file", name, err)
		}
	}
}
