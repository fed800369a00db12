package testsystem

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestToplevelShape checks that real Nix built a toplevel with the shape of a NixOS live system's:
// the files NixOS writes, a bootspec with a specialisation whose kernel parameters differ, and a
// closure of several store paths holding syslinux and grub2_efi.
func TestToplevelShape(t *testing.T) {
	top := Toplevel(t)
	for _, f := range []string{"kernel", "initrd", "init", "kernel-params", "nixos-version", "boot.json",
		"sw", "etc", "extra-dependencies", "system", "specialisation/" + Specialisation} {
		if _, err := os.Stat(filepath.Join(top, f)); err != nil {
			t.Errorf("toplevel lacks %s: %v", f, err)
		}
	}

	closure := Closure(t, top)
	if len(closure) < 6 {
		t.Errorf("closure has %d store paths, want at least 6", len(closure))
	}
	var syslinux, grub string
	for _, p := range closure {
		if _, err := os.Stat(filepath.Join(p, "share/syslinux/isolinux.bin")); err == nil {
			syslinux = p
		}
		if _, err := os.Stat(filepath.Join(p, "bin/grub-mkimage")); err == nil {
			grub = p
		}
	}
	if syslinux == "" || grub == "" {
		t.Fatalf("closure lacks syslinux (%q) or grub2_efi (%q): %v", syslinux, grub, closure)
	}
	for _, f := range []string{"isohdpfx.bin", "ldlinux.c32", "vesamenu.c32", "libcom32.c32", "libutil.c32"} {
		if _, err := os.Stat(filepath.Join(syslinux, "share/syslinux", f)); err != nil {
			t.Errorf("syslinux lacks %s", f)
		}
	}
	if _, err := os.Stat(filepath.Join(grub, "lib/grub/x86_64-efi/linux.mod")); err != nil {
		t.Errorf("grub2_efi lacks lib/grub/x86_64-efi: %v", err)
	}
	extra, _ := os.ReadFile(filepath.Join(top, "extra-dependencies"))
	if !strings.Contains(string(extra), grub) {
		t.Errorf("extra-dependencies %q does not list grub2_efi %s", extra, grub)
	}

	type v1 struct {
		Init, Initrd, Kernel, Label, System, Toplevel string
		KernelParams                                  []string
	}
	var doc struct {
		V1    v1                       `json:"org.nixos.bootspec.v1"`
		Specs map[string]map[string]v1 `json:"org.nixos.specialisation.v1"`
	}
	data, err := os.ReadFile(filepath.Join(top, "boot.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("boot.json: %v", err)
	}
	if doc.V1.Toplevel != top || doc.V1.Init != top+"/init" {
		t.Errorf("bootspec toplevel/init = %q, %q; want %s", doc.V1.Toplevel, doc.V1.Init, top)
	}
	spec, ok := doc.Specs[Specialisation]["org.nixos.bootspec.v1"]
	if !ok {
		t.Fatalf("boot.json has no specialisation %q", Specialisation)
	}
	specTop, _ := filepath.EvalSymlinks(filepath.Join(top, "specialisation", Specialisation))
	if spec.Toplevel != specTop {
		t.Errorf("specialisation toplevel %q, want %q", spec.Toplevel, specTop)
	}
	if strings.Join(spec.KernelParams, " ") == strings.Join(doc.V1.KernelParams, " ") {
		t.Errorf("the specialisation's kernel parameters equal the main ones: %v", spec.KernelParams)
	}
	if !strings.Contains(strings.Join(doc.V1.KernelParams, " "), "root=LABEL="+VolumeID) {
		t.Errorf("kernelParams %v lack root=LABEL=%s", doc.V1.KernelParams, VolumeID)
	}
}
