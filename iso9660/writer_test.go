package iso9660_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gonixiso/gonixiso/internal/testsystem"
	"github.com/gonixiso/gonixiso/iso9660"
)

// generated writes the generated tree with a bootable setup into an image, once per test.
func generated(t *testing.T) (src, iso string) {
	t.Helper()
	src = t.TempDir()
	genTree(t, src)
	boot := nixBoot(bootFiles(t, src, 3<<20))
	return src, writeISO(t, src, nixOptions("gonixiso-test-x86_64"), &boot)
}

// TestXorrisoListsTree checks the image with xorriso: every entry with its Rock Ridge name,
// mode, size and link target, and nothing else.
func TestXorrisoListsTree(t *testing.T) {
	testsystem.Require(t, "xorriso")
	src, iso := generated(t)
	wantList := expect(t, src)
	wantList["/.boot.cat"] = want{mode: "-r--r--r--", size: 2048}
	got := xorrisoList(t, iso)
	for _, p := range sortedKeys(wantList) {
		w, g := wantList[p], got[p]
		if p == "/.boot.cat" && strings.HasPrefix(g.mode, "e") {
			g.mode = "-" + g.mode[1:] // xorriso marks the boot catalog with "e"
		}
		w.sum = ""
		if g != w {
			t.Errorf("%s: xorriso lists %+v, want %+v", p, g, w)
		}
	}
	for _, p := range sortedKeys(got) {
		if _, ok := wantList[p]; !ok {
			t.Errorf("xorriso lists %s, which was not added", p)
		}
	}
}

// TestOsirroxExtractsFiles extracts the image with osirrox and compares every file, link and
// directory with the source tree.
func TestOsirroxExtractsFiles(t *testing.T) {
	testsystem.Require(t, "xorriso")
	src, iso := generated(t)
	out := filepath.Join(t.TempDir(), "x")
	run(t, "xorriso", "-osirrox", "on", "-indev", iso, "-extract", "/", out)
	wantList := expect(t, src)
	gotList := expect(t, out)
	delete(gotList, "/.boot.cat")
	for _, p := range sortedKeys(wantList) {
		w, g := wantList[p], gotList[p]
		if p == "/isolinux/isolinux.bin" {
			// The image's copy carries the boot info table (bytes 8-63); the rest is the source's.
			a, _ := os.ReadFile(filepath.Join(src, p))
			b, _ := os.ReadFile(filepath.Join(out, p))
			if len(a) != len(b) || !bytes.Equal(a[:8], b[:8]) || !bytes.Equal(a[64:], b[64:]) {
				t.Errorf("%s differs outside the boot info table", p)
			}
			continue
		}
		if g != w {
			t.Errorf("%s: extracted %+v, want %+v", p, g, w)
		}
	}
	for _, p := range sortedKeys(gotList) {
		if _, ok := wantList[p]; !ok {
			t.Errorf("extracted %s, which was not added", p)
		}
	}
}

// Test7zExtractsJoliet extracts the image with 7-Zip, which reads the Joliet tree: the files come
// back with their full names, symbolic links are absent.
func Test7zExtractsJoliet(t *testing.T) {
	testsystem.Require(t, "7z")
	src, iso := generated(t)
	out := filepath.Join(t.TempDir(), "x")
	run(t, "7z", "x", "-y", "-o"+out, iso)
	wantList := expect(t, src)
	for _, p := range sortedKeys(wantList) {
		w := wantList[p]
		if w.link != "" || p == "/" || p == "/isolinux/isolinux.bin" {
			continue
		}
		if len(filepath.Base(p)) > 64 {
			continue // Joliet shortens names to 64 characters
		}
		fi, err := os.Lstat(filepath.Join(out, p))
		if err != nil {
			t.Errorf("7z did not extract %s: %v", p, err)
			continue
		}
		if w.sum != "" && fileSum(t, filepath.Join(out, p)) != w.sum {
			t.Errorf("%s: 7z extracted other contents", p)
		}
		if fi.IsDir() != strings.HasPrefix(w.mode, "d") {
			t.Errorf("%s: 7z extracted mode %s, want %s", p, fi.Mode(), w.mode)
		}
	}
}

// TestReaderRoundTrip reads the image back with the package's reader: the same tree, names,
// modes, targets and contents.
func TestReaderRoundTrip(t *testing.T) {
	src, iso := generated(t)
	im := openImage(t, iso)
	if !im.RockRidge {
		t.Fatal("no Rock Ridge")
	}
	got := entries(t, im)
	wantList := expect(t, src)
	wantList["/.boot.cat"] = want{mode: "-r--r--r--", size: 2048}
	for _, p := range sortedKeys(wantList) {
		w, e := wantList[p], got[p]
		if e == nil {
			t.Errorf("%s: not in the image", p)
			continue
		}
		g := want{mode: modeString(e.Mode), link: e.Link}
		if e.Mode.IsRegular() {
			g.size = e.Size
			r, err := im.Open(e)
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(readAll(t, r))
			g.sum = hex.EncodeToString(sum[:])
		}
		if w.sum == "" || p == "/isolinux/isolinux.bin" {
			g.sum, w.sum = "", ""
		}
		if g != w {
			t.Errorf("%s: read %+v, want %+v", p, g, w)
		}
		if !e.ModTime.Equal(epoch) || e.UID != 0 || e.GID != 0 {
			t.Errorf("%s: time %s, owner %d:%d, want %s, 0:0", p, e.ModTime, e.UID, e.GID, epoch)
		}
	}
	if len(got) != len(wantList) {
		t.Errorf("%d entries in the image, want %d", len(got), len(wantList))
	}
	// The Joliet tree: everything but the links, names of up to 64 characters.
	n := 0
	if err := im.WalkJoliet(func(e *iso9660.Entry) error {
		n++
		if len([]rune(e.Name)) > 64 {
			t.Errorf("Joliet name %q longer than 64 characters", e.Name)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	links := 0
	for _, w := range wantList {
		if w.link != "" {
			links++
		}
	}
	if n != len(wantList)-links {
		t.Errorf("Joliet tree has %d entries, want %d", n, len(wantList)-links)
	}
}

// TestIsoinfoDescriptors checks the volume descriptors and the boot catalog with isoinfo.
func TestIsoinfoDescriptors(t *testing.T) {
	testsystem.Require(t, "isoinfo")
	_, iso := generated(t)
	out := run(t, "isoinfo", "-d", "-i", iso)
	for _, line := range []string{
		"Volume id: gonixiso-test-x86_64",
		"Publisher id: NIXOS",
		"Data preparer id: GONIXISO",
		"Application id: NIXOS",
		"Logical block size is: 2048",
		"El Torito VD version 1 found, boot catalog is in sector",
		"Joliet with UCS level 3 found",
		"Rock Ridge signatures version 1 found",
		"Bootid 88 (bootable)",
		"Boot media 0 (No Emulation Boot)",
		"Nsect 4",
	} {
		if !strings.Contains(out, line) {
			t.Errorf("isoinfo -d lacks %q:\n%s", line, out)
		}
	}
	fi, _ := os.Stat(iso)
	im := openImage(t, iso)
	if int64(im.Primary.VolumeSpaceSize)*2048 != fi.Size() {
		t.Errorf("volume space %d sectors, image %d bytes", im.Primary.VolumeSpaceSize, fi.Size())
	}
	if im.Joliet == nil || im.Joliet.VolumeID != "gonixiso-test-x8" {
		t.Errorf("Joliet volume id: %+v, want the first 16 characters", im.Joliet)
	}
}

// TestElTorito checks the boot catalog as xorriso reports it, and the boot info table.
func TestElTorito(t *testing.T) {
	testsystem.Require(t, "xorriso")
	_, iso := generated(t)
	out := run(t, "xorriso", "-indev", iso, "-report_el_torito", "plain")
	im := openImage(t, iso)
	all := entries(t, im)
	bios, efi, cat := all["/isolinux/isolinux.bin"], all["/boot/efi.img"], all["/.boot.cat"]
	for _, re := range []string{
		"El Torito catalog  : " + uitoa(cat.Extents[0].LBA) + "  1",
		"El Torito cat path : /.boot.cat",
		"El Torito boot img :   1  BIOS  y   none  0x0000  0x00      4 ",
		"El Torito boot img :   2  UEFI  y   none  0x0000  0x00   6144 ",
		"El Torito img path :   1  /isolinux/isolinux.bin",
		"El Torito img opts :   1  boot-info-table isohybrid-suitable",
		"El Torito img path :   2  /boot/efi.img",
	} {
		if !strings.Contains(out, re) {
			t.Errorf("xorriso -report_el_torito lacks %q:\n%s", re, out)
		}
	}
	et := im.ElTorito
	if et == nil || len(et.Entries) != 2 || et.Platform != 0 ||
		et.Entries[0] != (iso9660.BootEntry{Platform: 0, Bootable: true, SectorCount: 4, LBA: bios.Extents[0].LBA}) ||
		et.Entries[1] != (iso9660.BootEntry{Platform: 0xEF, Bootable: true, SectorCount: 6144, LBA: efi.Extents[0].LBA}) {
		t.Errorf("El Torito catalog %+v", et)
	}
	r, _ := im.Open(bios)
	b := readAll(t, r)
	var sum uint32
	for i := 64; i < len(b); i += 4 {
		var w [4]byte
		copy(w[:], b[i:])
		sum += le(w[:])
	}
	if le(b[8:]) != 16 || le(b[12:]) != bios.Extents[0].LBA || le(b[16:]) != uint32(len(b)) || le(b[20:]) != sum {
		t.Errorf("boot info table %x, want pvd 16, lba %d, len %d, sum %#x", b[8:24], bios.Extents[0].LBA, len(b), sum)
	}
}

func le(b []byte) uint32 { return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24 }

func uitoa(n uint32) string { return strconv.FormatUint(uint64(n), 10) }

// TestPartitionTablesAccepted runs sgdisk -v and fdisk -l: they read the MBR and the GPT, and
// sgdisk finds nothing but the overlaps that are the isohybrid layout itself (it reports the same
// two on xorriso's images).
func TestPartitionTablesAccepted(t *testing.T) {
	testsystem.Require(t, "sgdisk", "fdisk")
	_, iso := generated(t)
	checkPartitionTools(t, iso)
}

func checkPartitionTools(t *testing.T, iso string) {
	t.Helper()
	out, err := execOutput("sgdisk", "-v", iso)
	problems := []string{}
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "Problem:") || strings.HasPrefix(line, "Warning!") || strings.HasPrefix(line, "Caution: invalid") ||
			strings.Contains(line, "CRC") || strings.Contains(line, "backup") {
			problems = append(problems, line)
		}
	}
	wantProblems := []string{
		"Problem: MBR partitions 1 and 2 overlap!",
		"Warning! Main partition table overlaps the first partition by 64 blocks!",
	}
	if strings.Join(problems, "\n") != strings.Join(wantProblems, "\n") || !strings.Contains(out, "Identified 2 problems!") {
		t.Errorf("sgdisk -v (%v) found %q, want only the isohybrid overlaps %q:\n%s", err, problems, wantProblems, out)
	}
	out = run(t, "fdisk", "-l", iso)
	im := openImage(t, iso)
	size := int64(im.Primary.VolumeSpaceSize) * 4
	efi := im.MBR.Partitions[1]
	var rows []string
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, iso) {
			rows = append(rows, strings.Join(strings.Fields(line)[1:], " "))
		}
	}
	wantRows := []string{
		"* 0 " + uitoa(uint32(size-1)) + " " + uitoa(uint32(size)),
		uitoa(efi.Start) + " " + uitoa(efi.Start+efi.Sectors-1) + " " + uitoa(efi.Sectors),
	}
	if !strings.Contains(out, "Disklabel type: dos") || len(rows) != 2 ||
		!strings.HasPrefix(rows[0], wantRows[0]) || !strings.HasPrefix(rows[1], wantRows[1]) ||
		!strings.HasSuffix(rows[0], " 0 Empty") || !strings.HasSuffix(rows[1], " ef EFI (FAT-12/16/32)") {
		t.Errorf("fdisk -l lists %q, want %q:\n%s", rows, wantRows, out)
	}
	g := im.GPT
	if g == nil || !g.Header.HeaderCRCValid || !g.Header.EntriesCRCValid || g.Backup == nil ||
		!g.Backup.HeaderCRCValid || !g.Backup.EntriesCRCValid {
		t.Errorf("GPT %+v", g)
	}
}

func execOutput(name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestErrors checks that what cannot be written is refused with an error naming the path.
func TestErrors(t *testing.T) {
	dir := t.TempDir()
	opts := nixOptions("X")
	newW := func() *iso9660.Writer {
		w, err := iso9660.Create(filepath.Join(dir, "x.iso"), opts)
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	for _, o := range []iso9660.Options{
		{VolumeID: ""},
		{VolumeID: strings.Repeat("v", 33)},
		{VolumeID: "tab\there"},
		{VolumeID: "x", Publisher: "é"},
		{VolumeID: "x", Publisher: strings.Repeat("p", 129)},
		{VolumeID: "x", ModTime: epoch.AddDate(200, 0, 0)},
	} {
		if _, err := iso9660.NewWriter(io.Discard, o); err == nil {
			t.Errorf("options %+v accepted", o)
		}
	}

	w := newW()
	w.AddFile("a/b", iso9660.Header{}, iso9660.FromBytes([]byte("x")))
	if err := w.AddFile("a/b", iso9660.Header{}, iso9660.FromBytes(nil)); err == nil || !strings.Contains(err.Error(), "a/b") {
		t.Errorf("duplicate path: %v", err)
	}
	if err := w.AddFile("a/b/c", iso9660.Header{}, iso9660.FromBytes(nil)); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("file as a directory: %v", err)
	}
	if err := w.AddFile("/", iso9660.Header{}, iso9660.FromBytes(nil)); err == nil {
		t.Error("file at the root accepted")
	}
	if err := w.Close(); err == nil {
		t.Error("Close after a failed AddFile succeeded")
	}

	w = newW()
	w.AddFile("1/2/3/4/5/6/7/8/f", iso9660.Header{}, iso9660.FromBytes(nil))
	if err := w.Close(); err == nil || !strings.Contains(err.Error(), "1/2/3/4/5/6/7/8") {
		t.Errorf("directory nine levels deep: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "x.iso")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("failed Close left an image: %v", err)
	}

	// A source that changed size after it was added.
	p := filepath.Join(dir, "grows")
	os.WriteFile(p, []byte("12345"), 0o644)
	src, err := iso9660.FromFile(p)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(p, []byte("1234567"), 0o644)
	w = newW()
	w.AddFile("grows", iso9660.Header{}, src)
	if err := w.Close(); err == nil || !strings.Contains(err.Error(), "/grows") || !strings.Contains(err.Error(), "changed size") {
		t.Errorf("grown source: %v", err)
	}
	os.WriteFile(p, []byte("123"), 0o644)
	w = newW()
	w.AddFile("grows", iso9660.Header{}, src)
	if err := w.Close(); err == nil || !strings.Contains(err.Error(), "changed size") {
		t.Errorf("shrunk source: %v", err)
	}
	w = newW()
	w.AddFile("f", iso9660.Header{}, iso9660.FromFunc(10, func(w io.Writer) error {
		_, err := w.Write([]byte("short"))
		return err
	}))
	if err := w.Close(); err == nil || !strings.Contains(err.Error(), "/f") {
		t.Errorf("short FromFunc: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}

	// Boot configurations that cannot work.
	for _, b := range []iso9660.Boot{
		{Catalog: "c"},
		{BIOS: "b", Catalog: ""},
		{EFI: "e", Catalog: "c", HybridMBR: make([]byte, 432)},
		{BIOS: "b", Catalog: "c", HybridMBR: make([]byte, 100)},
	} {
		if err := newW().SetBoot(b); err == nil {
			t.Errorf("boot %+v accepted", b)
		}
	}
	w = newW()
	w.AddFile("b", iso9660.Header{}, iso9660.FromBytes(make([]byte, 2048)))
	w.SetBoot(iso9660.Boot{BIOS: "b", Catalog: "c", HybridMBR: make([]byte, 432)})
	if err := w.Close(); err == nil || !strings.Contains(err.Error(), "isohybrid") {
		t.Errorf("hybrid MBR with a boot file that is not isolinux: %v", err)
	}
	w = newW()
	w.SetBoot(iso9660.Boot{BIOS: "missing", Catalog: "c"})
	if err := w.Close(); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing boot file: %v", err)
	}
}

// TestFromFunc streams a file's data from a function straight into the image.
func TestFromFunc(t *testing.T) {
	data := bytes.Repeat([]byte("gonixiso"), 10000)
	srcFile := filepath.Join(t.TempDir(), "src")
	os.WriteFile(srcFile, data, 0o644)
	var buf bytes.Buffer
	w, err := iso9660.NewWriter(&buf, nixOptions("FUNC"))
	if err != nil {
		t.Fatal(err)
	}
	w.AddFile("written", iso9660.Header{}, iso9660.FromFunc(int64(len(data)), func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	}))
	w.AddFile("copied", iso9660.Header{}, iso9660.FromFunc(int64(len(data)), func(w io.Writer) error {
		f, err := os.Open(srcFile)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(w, f)
		return err
	}))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	im, err := iso9660.Open(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	for p, e := range entries(t, im) {
		if p == "/" {
			continue
		}
		r, _ := im.Open(e)
		if !bytes.Equal(readAll(t, r), data) {
			t.Errorf("%s: wrong contents", p)
		}
	}
}
