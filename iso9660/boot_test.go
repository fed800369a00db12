package iso9660_test

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gonixiso/gonixiso/internal/boottest"
	"github.com/gonixiso/gonixiso/internal/testsystem"
	"github.com/gonixiso/gonixiso/iso9660"
)

// graftPoints reads xorriso's -path-list file: "target=source" lines with "\=" and "\\" escaped.
func graftPoints(t testing.TB, pathlist string) [][2]string {
	t.Helper()
	f, err := os.Open(pathlist)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][2]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		var target strings.Builder
		i := 0
		for ; i < len(line) && line[i] != '='; i++ {
			if line[i] == '\\' && i+1 < len(line) {
				i++
			}
			target.WriteByte(line[i])
		}
		if i == len(line) {
			t.Fatalf("%s: no '=' in %q", pathlist, line)
		}
		source := strings.NewReplacer(`\=`, "=", `\\`, `\`).Replace(line[i+1:])
		out = append(out, [2]string{target.String(), source})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// baselineContents writes an image with the Writer from the parts of the test system's
// baseline ISO (its pathlist, as nixpkgs gives it to xorriso), with nixpkgs' boot setup.
func baselineContents(t testing.TB) string {
	t.Helper()
	parts := testsystem.BaselineParts(t)
	iso := filepath.Join(t.TempDir(), "gonixiso.iso")
	w, err := iso9660.Create(iso, nixOptions(testsystem.VolumeID))
	if err != nil {
		t.Fatal(err)
	}
	var mbr []byte
	for _, g := range graftPoints(t, filepath.Join(parts, "pathlist")) {
		target, source := g[0], g[1]
		fi, err := os.Stat(source)
		if err != nil {
			t.Fatal(err)
		}
		if fi.IsDir() {
			addTree(t, w, source, target)
			if target == "isolinux" {
				if mbr, err = os.ReadFile(filepath.Join(source, "isohdpfx.bin")); err != nil {
					t.Fatal(err)
				}
			}
			continue
		}
		src, err := iso9660.FromFile(source)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.AddFile(target, iso9660.Header{Mode: fi.Mode()}, src); err != nil {
			t.Fatal(err)
		}
	}
	if mbr == nil {
		t.Fatal("no isolinux directory (with isohdpfx.bin) in the pathlist")
	}
	if err := w.SetBoot(nixBoot(mbr)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return iso
}

// TestBaselineContents checks that the Writer's image of the baseline parts holds the same tree
// as the baseline ISO that xorriso made from them, and that the reader reads xorriso's tables.
func TestBaselineContents(t *testing.T) {
	iso := baselineContents(t)
	ours := entries(t, openImage(t, iso))
	base := openImage(t, testsystem.BaselineISO(t))
	theirs := entries(t, base)
	if et := base.ElTorito; et == nil || len(et.Entries) != 2 || et.Entries[0].LBA != theirs["/isolinux/isolinux.bin"].Extents[0].LBA ||
		et.Entries[1].Platform != 0xEF || et.Entries[1].LBA != theirs["/boot/efi.img"].Extents[0].LBA {
		t.Errorf("baseline El Torito catalog read as %+v", et)
	}
	if g := base.GPT; base.MBR == nil || g == nil || len(g.Partitions) != 2 || !g.Header.HeaderCRCValid ||
		!g.Header.EntriesCRCValid || g.Backup == nil || !g.Backup.HeaderCRCValid || g.Partitions[0].Name != "ISOHybrid" {
		t.Errorf("baseline MBR %+v, GPT %+v", base.MBR, g)
	}
	if !base.RockRidge || base.Joliet == nil || base.Primary.VolumeID != testsystem.VolumeID {
		t.Errorf("baseline: Rock Ridge %v, Joliet %+v, volume %q", base.RockRidge, base.Joliet, base.Primary.VolumeID)
	}
	testsystem.Require(t, "sgdisk", "fdisk")
	checkPartitionTools(t, iso)
	for _, p := range sortedKeys(theirs) {
		a, b := ours[p], theirs[p]
		if a == nil {
			t.Errorf("%s: in the baseline ISO, not in ours", p)
			continue
		}
		if a.Mode != b.Mode || a.Link != b.Link || (a.Mode.IsRegular() && a.Size != b.Size) || !a.ModTime.Equal(b.ModTime) {
			t.Errorf("%s: ours %v %d %q %s, baseline %v %d %q %s", p, a.Mode, a.Size, a.Link, a.ModTime, b.Mode, b.Size, b.Link, b.ModTime)
		}
	}
	for _, p := range sortedKeys(ours) {
		if theirs[p] == nil {
			t.Errorf("%s: in our ISO, not in the baseline", p)
		}
	}
}

// TestBoot boots the Writer's image of the baseline parts (the SquashFS from mksquashfs, the
// efi.img, the isolinux files) in all four modes: from a CD through El Torito, and from a USB
// disk, where the harness hides El Torito so that only the isohybrid MBR (BIOS) and the MBR's
// EFI partition or the GPT (UEFI) can boot it.
func TestBoot(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: boots QEMU")
	}
	iso := baselineContents(t)
	for _, m := range boottest.Modes {
		t.Run(string(m), func(t *testing.T) {
			t.Parallel()
			res, err := boottest.Boot(context.Background(), boottest.Options{
				ISO: iso, Mode: m, Log: filepath.Join(t.TempDir(), "serial.log"),
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s %s in %.1fs: %s", m, res.Outcome, res.Duration.Seconds(), res.Reason)
			if res.Outcome != boottest.Pass || !strings.Contains(res.Reason, "config=main") {
				t.Fatalf("outcome %s (%s), want a pass into config=main\nserial console:\n%s", res.Outcome, res.Reason, res.Tail)
			}
		})
	}
}
