package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gonixiso/gonixiso/internal/boottest"
	"github.com/gonixiso/gonixiso/internal/testsystem"
	"github.com/gonixiso/gonixiso/liveiso"
	"github.com/gonixiso/gonixiso/spec"
	"github.com/gonixiso/gonixiso/squash"
)

// TestSpecDefaultsEqualBareToplevel: the default configuration's spec (nixpkgs' defaults
// written down by nix/spec.nix) gives the ISO that the bare toplevel gives with gonixiso's
// defaults, byte for byte, through assemble --spec and through build --flake, which builds the
// spec itself.
func TestSpecDefaultsEqualBareToplevel(t *testing.T) {
	dir := t.TempDir()
	bare, fromSpec := filepath.Join(dir, "bare.iso"), filepath.Join(dir, "spec.iso")
	if log, code := runCLI(t, "assemble", "--no-cache", "--toplevel", testsystem.Toplevel(t), "-o", bare); code != 0 {
		t.Fatalf("assemble --toplevel: exit %d\n%s", code, log)
	}
	if log, code := runCLI(t, "assemble", "--no-cache", "--spec", testsystem.Spec(t, testsystem.Name), "-o", fromSpec); code != 0 {
		t.Fatalf("assemble --spec: exit %d\n%s", code, log)
	}
	if !sameBytes(t, bare, fromSpec) {
		t.Error("assemble --spec of the default configuration differs from assemble --toplevel")
	}
	if !sameBytes(t, bare, builtISO(t)) {
		t.Error("build --flake differs from assemble --toplevel")
	}
}

func sameBytes(t *testing.T, a, b string) bool {
	t.Helper()
	same, _, err := sameFiles(a, b)
	if err != nil {
		t.Fatal(err)
	}
	return same
}

// TestSpecOverrides: each flag given overrides its field of the spec, and the command says
// which did.
func TestSpecOverrides(t *testing.T) {
	iso := filepath.Join(t.TempDir(), "x.iso")
	log, code := runCLI(t, "assemble", "--no-cache", "--spec", testsystem.Spec(t, testsystem.Name), "-o", iso,
		"--comp", "gzip", "--level", "1", "--timeout", "3", "--label", " Live")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, log)
	}
	for _, flag := range []string{"--output", "--comp", "--timeout", "--label"} {
		if !strings.Contains(log, flag) {
			t.Errorf("the summary does not name %s:\n%s", flag, log)
		}
	}
	ins, err := liveiso.Inspect(context.Background(), iso)
	if err != nil {
		t.Fatal(err)
	}
	if ins.SquashFS.Compression != "gzip" || ins.SquashFS.Options.Level != 1 {
		t.Errorf("SquashFS %+v, want gzip level 1", ins.SquashFS)
	}
	if !strings.HasSuffix(ins.Boot.Grub[0].Title, " Live") {
		t.Errorf("GRUB's first entry %q, want the label from --label", ins.Boot.Grub[0].Title)
	}
	grub := extractFile(t, iso, "/EFI/BOOT/grub.cfg")
	if !strings.Contains(grub, "\nset timeout=3\n") {
		t.Errorf("grub.cfg has not the timeout from --timeout")
	}
	// Flags that contradict the spec's own checks are errors, as without a spec.
	if log, code := runCLI(t, "assemble", "--spec", testsystem.Spec(t, testsystem.Name), "-o", iso, "--toplevel", "x"); code != 2 ||
		!strings.Contains(log, "exclude each other") {
		t.Errorf("--spec with --toplevel: exit %d\n%s", code, log)
	}
}

// TestSpecNullCompression: isoImage.squashfsCompression = null, for which nixpkgs has mksquashfs
// write with -no-compression, gives an ISO whose SquashFS is uncompressed as mksquashfs's is
// (inspect says none, with the flags of -noI -noD -noF -noX) and that Check passes; --comp none
// over the default spec gives the same bytes. (The kernel reading such a SquashFS is in the
// squash package's TestWriterNoCompression, by a loop mount.)
func TestSpecNullCompression(t *testing.T) {
	m := specJSON(t, testsystem.Spec(t, testsystem.Name))
	m["isoImage"].(map[string]any)["squashfsCompression"] = nil
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "spec.json")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	iso := filepath.Join(dir, "null.iso")
	if log, code := runCLI(t, "assemble", "--no-cache", "--spec", p, "-o", iso); code != 0 {
		t.Fatalf("assemble --spec with squashfsCompression null: exit %d\n%s", code, log)
	}
	ins, err := liveiso.Inspect(context.Background(), iso)
	if err != nil {
		t.Fatal(err)
	}
	sq := ins.SquashFS
	if sq.Compression != "none" || sq.Options.String() != "" {
		t.Errorf("SquashFS compression %q, options %q; want none, no options", sq.Compression, sq.Options)
	}
	for _, f := range []string{"uncompressed-inodes", "uncompressed-data", "uncompressed-fragments", "uncompressed-xattrs"} {
		if !slices.Contains(sq.Flags, f) {
			t.Errorf("SquashFS flags %v, no %s", sq.Flags, f)
		}
	}
	// Check reads every block and holds it to the kernel's rules.
	img := filepath.Join(dir, "nix-store.squashfs")
	if out, err := exec.Command("xorriso", "-osirrox", "on", "-indev", iso, "-extract", sq.Path, img).CombinedOutput(); err != nil {
		t.Fatalf("xorriso -extract %s: %v\n%s", sq.Path, err, out)
	}
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	r, err := squash.NewReader(f, fi.Size())
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Check(); err != nil {
		t.Error(err)
	}

	flag := filepath.Join(dir, "flag.iso")
	if log, code := runCLI(t, "assemble", "--no-cache", "--spec", testsystem.Spec(t, testsystem.Name), "-o", flag,
		"--comp", "none"); code != 0 {
		t.Fatalf("assemble --comp none: exit %d\n%s", code, log)
	}
	if !sameBytes(t, iso, flag) {
		t.Error("--comp none over the default spec differs from the spec with squashfsCompression null")
	}
	if log, code := runCLI(t, "assemble", "--no-cache", "--spec", p, "-o", flag, "--level", "3"); code != 2 ||
		!strings.Contains(log, "none compresses nothing") {
		t.Errorf("--level 3 over squashfsCompression null: exit %d, want 2 and an error:\n%s", code, log)
	}
}

func extractFile(t *testing.T, iso, p string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "file")
	if out, err := exec.Command("xorriso", "-osirrox", "on", "-indev", iso, "-extract", p, dst).CombinedOutput(); err != nil {
		t.Fatalf("xorriso -extract %s: %v\n%s", p, err, out)
	}
	b, err := os.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var (
	customOnce sync.Once
	customISO  string // the custom configuration's ISO, decompressed
	customZst  string
	customLog  string
)

// customImage builds the custom configuration with gonixiso build --flake, once: an .iso.zst,
// and the ISO zstd -d gives of it.
func customImage(t *testing.T) (iso, zst string) {
	t.Helper()
	customOnce.Do(func() {
		dir, err := os.MkdirTemp("", "gonixiso-custom-")
		if err != nil {
			t.Fatal(err)
		}
		ref := testsystem.FlakeRef(testsystem.Root(t)) + "#" + testsystem.CustomName
		cmd := exec.Command(gonixisoBin(t), "build", "--no-cache", "--flake", ref)
		cmd.Dir = dir
		cmd.Env = testEnv()
		out, err := cmd.CombinedOutput()
		customLog = string(out)
		if err != nil {
			return
		}
		zst := filepath.Join(dir, "gonixiso-custom-test.iso.zst")
		if out, err := exec.Command("zstd", "-q", "-d", zst, "-o", filepath.Join(dir, "custom.iso")).CombinedOutput(); err != nil {
			customLog += "\nzstd -d: " + err.Error() + "\n" + string(out)
			return
		}
		customISO, customZst = filepath.Join(dir, "custom.iso"), zst
	})
	if customISO == "" {
		t.Fatalf("gonixiso build of the custom configuration:\n%s", customLog)
	}
	return customISO, customZst
}

// TestCustomSpec holds the ISO of the configuration that sets every isoImage option away from
// its default to what the spec says: its file name and compression, the SquashFS's compressor,
// BIOS off, the contents at their targets, storeContents in the store, the volume id, timeout
// and labels.
func TestCustomSpec(t *testing.T) {
	iso, _ := customImage(t)
	f, err := os.Open(testsystem.Spec(t, testsystem.CustomName))
	if err != nil {
		t.Fatal(err)
	}
	s, err := spec.Read(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	ins, err := liveiso.Inspect(context.Background(), iso)
	if err != nil {
		t.Fatal(err)
	}
	if ins.Primary.VolumeID != s.ISOImage.VolumeID {
		t.Errorf("volume id %q, want %q", ins.Primary.VolumeID, s.ISOImage.VolumeID)
	}
	if sq := ins.SquashFS; sq.Compression != "xz" || !strings.Contains(strings.Join(sq.Options.XZFilters, ","), "x86") {
		t.Errorf("SquashFS %s %+v, want xz with BCJ x86", sq.Compression, sq.Options)
	}
	// BIOS off: no isolinux, no BIOS El Torito entry, no isohybrid MBR.
	for _, e := range ins.ElTorito.Entries {
		if e.Platform == "BIOS" {
			t.Errorf("a BIOS El Torito entry: %+v", e)
		}
	}
	if ins.MBR != nil || len(ins.Boot.Isolinux) != 0 {
		t.Errorf("BIOS off, but MBR %+v, isolinux entries %d", ins.MBR, len(ins.Boot.Isolinux))
	}
	if !strings.Contains(extractFile(t, iso, "/EFI/BOOT/grub.cfg"), "\nset timeout=3\n") {
		t.Error("grub.cfg has not the spec's timeout")
	}
	// The menus: each configuration titled with its own labels and name, the hidden
	// specialisation nowhere, memtest86+ at the top level.
	var top []string
	for _, e := range ins.Boot.Grub {
		if len(e.Menu) == 0 {
			top = append(top, e.Title)
		}
		if strings.Contains(e.Params, "specialisation=hidden") {
			t.Errorf("the hidden specialisation has an entry: %+v", e)
		}
	}
	alt := s.Specialisation["alt"].Configuration.ISOImage
	wantTop := []string{
		s.ISOImage.PrependToMenuLabel + "NixOS 25.11.20261125.gonixiso" + s.ISOImage.AppendToMenuLabel + " " + *s.ISOImage.ConfigurationName,
		alt.PrependToMenuLabel + "NixOS 25.11.20261125.gonixiso" + alt.AppendToMenuLabel + " " + *alt.ConfigurationName,
		"Memtest86+", "Firmware Setup", "Shutdown",
	}
	if strings.Join(top, "|") != strings.Join(wantTop, "|") {
		t.Errorf("GRUB's top-level entries\n%q\nwant\n%q", top, wantTop)
	}
	grubCfg := extractFile(t, iso, "/EFI/BOOT/grub.cfg")
	for _, want := range []string{"set theme=($root)/EFI/BOOT/grub-theme/theme.txt", "set textmode=true",
		"linux ($root)/boot/memtest.bin " + strings.Join(custom(t).Boot.Loader.Grub.Memtest86.Params, " ")} {
		if !strings.Contains(grubCfg, want) {
			t.Errorf("grub.cfg has no %q", want)
		}
	}
	memtest, err := os.ReadFile(*s.Packages.Memtest86plusFile)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(memtest)
	if got := manifestSum(t, iso, "/boot/memtest.bin"); got != hex.EncodeToString(sum[:]) {
		t.Errorf("/boot/memtest.bin: sha256 %s, want the spec's memtest86+ file's", got)
	}
	if got := manifestSum(t, iso, "/EFI/BOOT/grub-theme/theme.txt"); got == "" {
		t.Error("the GRUB theme is not on the ISO")
	}
	// storeContents: in the SquashFS, though not in the toplevel's closure.
	found := false
	for _, p := range ins.StorePaths {
		found = found || p.Path == s.ISOImage.StoreContents[0]
	}
	if !found {
		t.Errorf("storeContents %s is not in the SquashFS", s.ISOImage.StoreContents[0])
	}
	// contents: every file of each source, at its target, with its bytes.
	m, err := liveiso.Manifest(context.Background(), iso)
	if err != nil {
		t.Fatal(err)
	}
	onISO := map[string]string{}
	for _, e := range m {
		onISO[e.Path] = e.SHA256
	}
	for _, c := range s.ISOImage.Contents {
		filepath.WalkDir(c.Source, func(p string, d os.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			target := filepath.Join(c.Target, strings.TrimPrefix(p, c.Source))
			if got := onISO[target]; got != hex.EncodeToString(sum[:]) {
				t.Errorf("contents %s at %s: sha256 %q, want %x", p, target, got, sum)
			}
			return nil
		})
	}
}

// custom is the custom configuration's spec.
func custom(t *testing.T) *spec.Spec {
	t.Helper()
	f, err := os.Open(testsystem.Spec(t, testsystem.CustomName))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s, err := spec.Read(f)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// manifestSum returns the sha256 of a file of the ISO, "" if it has none.
func manifestSum(t *testing.T, iso, p string) string {
	t.Helper()
	m, err := liveiso.Manifest(context.Background(), iso)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range m {
		if e.Path == p {
			return e.SHA256
		}
	}
	return ""
}

// TestCustomSpecBoots (slow: QEMU): the custom configuration's ISO, UEFI only, boots from a CD
// into its main configuration and, by its entry, into the alt specialisation.
func TestCustomSpecBoots(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: boots QEMU")
	}
	iso, _ := customImage(t)
	for _, entry := range []string{"", "alt"} {
		res, err := boottest.Boot(context.Background(), boottest.Options{ISO: iso, Mode: boottest.CDUEFI, Entry: entry})
		if err != nil {
			t.Fatal(err)
		}
		want := "main"
		if entry != "" {
			want = entry
		}
		if res.Outcome != boottest.Pass || res.Config != want {
			t.Errorf("cd-uefi %q: %s: %s\n%s", entry, res.Outcome, res.Reason, res.Tail)
		}
	}
}

// TestCustomSpecCompressed: compressImage gives an .iso.zst that zstd decompresses, and the
// same bytes with other worker counts.
func TestCustomSpecCompressed(t *testing.T) {
	_, zst := customImage(t)
	dir := t.TempDir()
	other := filepath.Join(dir, "other.iso.zst")
	if log, code := runCLI(t, "assemble", "--no-cache", "--spec", testsystem.Spec(t, testsystem.CustomName), "-o", other, "-j", "1"); code != 0 {
		t.Fatalf("exit %d\n%s", code, log)
	}
	if !sameBytes(t, zst, other) {
		t.Error("the .iso.zst differs with one worker")
	}
}

// TestBuildWithoutModule: a configuration that imports neither gonixiso's module nor nixpkgs'
// iso-image.nix cannot boot from an ISO; build stops and shows the two lines to add.
func TestBuildWithoutModule(t *testing.T) {
	dir := t.TempDir()
	flake := `{ outputs = { self }: { nixosConfigurations.plain = { config.system.build = { }; options = { }; }; }; }`
	if err := os.WriteFile(filepath.Join(dir, "flake.nix"), []byte(flake), 0o644); err != nil {
		t.Fatal(err)
	}
	log, code := runCLI(t, "build", "--flake", dir+"#plain", "-o", filepath.Join(dir, "x.iso"))
	if code != 2 || !strings.Contains(log, "installation-cd-minimal.nix") || !strings.Contains(log, "gonixiso.nixosModules.default") {
		t.Errorf("exit %d, want 2 and the lines to add:\n%s", code, log)
	}
}

// specJSON is a spec read back as JSON, for cases that edit it.
func specJSON(t *testing.T, p string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(bytes.TrimSpace(b), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestHostileSpec: a spec is untrusted input: one that names a host file as a splash image, or
// a store path outside its closure as contents, gets an error, never the file on the ISO.
func TestHostileSpec(t *testing.T) {
	shadow := filepath.Join(t.TempDir(), "shadow")
	os.WriteFile(shadow, []byte("host secret"), 0o600)
	for _, tc := range []struct {
		name string
		edit func(m map[string]any)
		want string
	}{
		{"host splash", func(m map[string]any) { m["isoImage"].(map[string]any)["splashImage"] = shadow }, "not in the store"},
		{"host contents", func(m map[string]any) {
			m["isoImage"].(map[string]any)["contents"] = []any{map[string]any{"source": shadow, "target": "/x"}}
		}, "not in the store"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := specJSON(t, testsystem.Spec(t, testsystem.Name))
			tc.edit(m)
			b, _ := json.Marshal(m)
			p := filepath.Join(t.TempDir(), "spec.json")
			os.WriteFile(p, b, 0o644)
			out := t.TempDir()
			log, code := runCLI(t, "assemble", "--no-cache", "--spec", p, "-o", filepath.Join(out, "x.iso"))
			if code != 2 || !strings.Contains(log, tc.want) || !strings.Contains(log, shadow) {
				t.Errorf("exit %d, want 2 and an error naming %s:\n%s", code, shadow, log)
			}
			assertNothingLeft(t, out)
		})
	}
}
