package boot_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gonixiso/gonixiso/boot"
	"github.com/gonixiso/gonixiso/internal/boottest"
	"github.com/gonixiso/gonixiso/internal/testsystem"
)

// assembleISO lays out an ISO from a plan's files and a SquashFS with xorriso and nixpkgs'
// flags (scripts/nixpkgs-iso), the boot files and boot catalog taken from plan.Boot, the boot
// flags only for what the plan boots. It stands
// in for the project's own ISO writer, which the pipeline will use.
func assembleISO(t *testing.T, plan *boot.Plan, squashfs string) string {
	t.Helper()
	testsystem.Require(t, "xorriso")
	dir := t.TempDir()
	esc := strings.NewReplacer(`\`, `\\`, `=`, `\=`)
	var pathlist strings.Builder
	for i, f := range plan.Files {
		src := f.Host
		if src == "" {
			src = filepath.Join(dir, "generated", fmt.Sprint(i))
			must(t, os.MkdirAll(filepath.Dir(src), 0o755))
			must(t, os.WriteFile(src, f.Data, 0o444))
		}
		fmt.Fprintf(&pathlist, "%s=%s\n", esc.Replace(strings.TrimPrefix(f.Path, "/")), esc.Replace(src))
	}
	fmt.Fprintf(&pathlist, "nix-store.squashfs=%s\n", esc.Replace(squashfs))
	must(t, os.WriteFile(filepath.Join(dir, "pathlist"), []byte(pathlist.String()), 0o644))

	rel := func(p string) string { return strings.TrimPrefix(p, "/") }
	iso := filepath.Join(dir, "boot-plan.iso")
	b := plan.Boot
	mbr := filepath.Join(dir, "isohdpfx.bin")
	must(t, os.WriteFile(mbr, b.HybridMBR, 0o444))
	args := []string{
		"-boot_image", "any", "gpt_disk_guid=" + "6f8ad2b9b1f45e0c9a2d7c3e10b4a5f1",
		"-volume_date", "all_file_dates", "=315532800",
		"-as", "mkisofs", "-iso-level", "3", "-volid", plan.VolumeID, "-appid", "nixos", "-publisher", "nixos",
		"-graft-points", "-full-iso9660-filenames", "-joliet",
	}
	// nixpkgs' isoBootFlags, usbBootFlags and efiBootFlags, each where the plan asks for it.
	if b.BIOSBootFile != "" {
		args = append(args, "-eltorito-boot", rel(b.BIOSBootFile), "-eltorito-catalog", rel(b.Catalog),
			"-no-emul-boot", "-boot-load-size", "4", "-boot-info-table", "--sort-weight", "1", "/isolinux")
	}
	if b.HybridMBR != nil {
		args = append(args, "-isohybrid-mbr", mbr)
	}
	if b.EFIImage != "" {
		args = append(args, "-eltorito-alt-boot", "-e", rel(b.EFIImage), "-no-emul-boot", "-isohybrid-gpt-basdat")
	}
	args = append(args, "-r", "-path-list", filepath.Join(dir, "pathlist"), "--sort-weight", "0", "/", "-output", iso)
	if out, err := exec.Command("xorriso", args...).CombinedOutput(); err != nil {
		t.Fatalf("xorriso: %v\n%s", err, out)
	}
	return iso
}

// TestBootISO (slow: QEMU boots) is the proof that boot's files boot: an ISO whose boot files
// all come from the test system's plan, with the reference SquashFS, boots the test system in
// all four modes, and the specialisation's entry boots the specialisation from isolinux and
// from GRUB. GRUB's menu must be on the serial console: its countdown shows there.
func TestBootISO(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: boots QEMU")
	}
	testsystem.Require(t, "qemu-system-x86_64")
	_, plan := testPlan(t, boot.Options{})
	iso := assembleISO(t, plan, filepath.Join(testsystem.BaselineParts(t), "nix-store.squashfs"))
	for _, c := range []struct {
		mode  boottest.Mode
		entry string
	}{
		{boottest.CDBIOS, ""}, {boottest.CDUEFI, ""}, {boottest.USBBIOS, ""}, {boottest.USBUEFI, ""},
		{boottest.USBBIOS, testsystem.Specialisation}, {boottest.CDUEFI, testsystem.Specialisation},
	} {
		name, want := string(c.mode), "main"
		if c.entry != "" {
			name, want = name+"/"+c.entry, c.entry
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			log := filepath.Join(t.TempDir(), "serial.log")
			res, err := boottest.Boot(context.Background(), boottest.Options{ISO: iso, Mode: c.mode, Entry: c.entry, Log: log})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s %s in %.1fs: %s", name, res.Outcome, res.Duration.Seconds(), res.Reason)
			if res.Outcome != boottest.Pass || res.Config != want {
				t.Fatalf("outcome %s (%s), want a pass of %s\nserial console:\n%s", res.Outcome, res.Reason, want, res.Tail)
			}
			if c.mode.UEFI() {
				serial, err := os.ReadFile(log)
				must(t, err)
				if !strings.Contains(string(serial), "executed automatically in") {
					t.Errorf("GRUB's countdown is not on the serial console:\n%s", res.Tail)
				}
			}
		})
	}
}

// TestBootCustomISO (slow: QEMU boots) pins the options of the custom test configuration to
// boot's layer: an ISO assembled with xorriso from the Plan of its spec (no BIOS boot, text
// mode, a GRUB theme, memtest86+, per-specialisation titles, the specialisation "hidden" left
// out) boots in cd-uefi into the main configuration and, by its entry, into "alt". The
// SquashFS is the custom toplevel's closure, packed by scripts/nixpkgs-iso.
func TestBootCustomISO(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: boots QEMU")
	}
	testsystem.Require(t, "qemu-system-x86_64")
	sys, opts, _ := customSystem(t)
	plan, err := boot.NewPlan(context.Background(), boot.HostStore, sys, opts)
	must(t, err)
	if plan.Boot.BIOSBootFile != "" || plan.File(boot.MemtestPath) == nil || plan.File(boot.GrubThemeDir+"/theme.txt") == nil {
		t.Fatalf("the custom plan lacks what it tests: %+v %q", plan.Boot, planPaths(plan))
	}
	hidden := sys.Specialisations[slices.IndexFunc(sys.Specialisations, func(s *boot.System) bool { return s.Name == "hidden" })]
	if bytes.Contains(plan.Menus.Grub, []byte(hidden.Init)) {
		t.Fatal("grub.cfg has an entry of the hidden specialisation")
	}
	squashfs := filepath.Join(testsystem.BaselinePartsOf(t, sys.Toplevel), "nix-store.squashfs")
	iso := assembleISO(t, plan, squashfs)
	for _, entry := range []string{"", testsystem.Specialisation} {
		name, want := "cd-uefi", "main"
		if entry != "" {
			name, want = name+"/"+entry, entry
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			res, err := boottest.Boot(context.Background(), boottest.Options{ISO: iso, Mode: boottest.CDUEFI, Entry: entry})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s %s in %.1fs: %s", name, res.Outcome, res.Duration.Seconds(), res.Reason)
			if res.Outcome != boottest.Pass || res.Config != want {
				t.Fatalf("outcome %s (%s), want a pass of %s\nserial console:\n%s", res.Outcome, res.Reason, want, res.Tail)
			}
		})
	}
}
