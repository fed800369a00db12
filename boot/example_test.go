package boot_test

import (
	"fmt"
	"log"
	"strings"

	"github.com/gonixiso/gonixiso/boot"
)

// The menus of a NixOS installer with one specialisation. (ReadSystem reads a System from a
// toplevel; this one is written out.)
func ExampleRender() {
	lts := &boot.System{
		Toplevel:     "/nix/store/2a1b...-nixos-system-nixos-25.11",
		Init:         "/nix/store/2a1b...-nixos-system-nixos-25.11/init",
		Kernel:       "/nix/store/9f3c...-linux-6.12.57/bzImage",
		Initrd:       "/nix/store/7d4e...-initrd-linux-6.12.57/initrd",
		KernelParams: []string{"boot.shell_on_fail", "root=LABEL=nixos-minimal-25.11-x86_64"},
		Label:        "25.11.20251125.abcdef0",
		DistroName:   "NixOS",
	}
	latest := *lts
	latest.Name = "latest_kernel"
	latest.Kernel = "/nix/store/5b6a...-linux-6.17.8/bzImage"
	lts.Specialisations = []*boot.System{&latest}

	latestName := "(Linux latest)"
	menus, err := boot.Render(lts, boot.Options{
		ConfigurationName: "(Linux LTS)",
		Entries:           map[string]boot.EntryOptions{"latest_kernel": {ConfigurationName: &latestName}},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("volume id:", menus.VolumeID)
	for _, line := range strings.Split(string(menus.Isolinux), "\n") {
		if strings.HasPrefix(line, "MENU LABEL") || strings.HasPrefix(line, "LINUX") {
			fmt.Println(line)
		}
		if line == "MENU BEGIN Options" {
			break
		}
	}
	// Output:
	// volume id: nixos-minimal-25.11-x86_64
	// MENU LABEL NixOS 25.11.20251125.abcdef0 Installer (Linux LTS)
	// LINUX /boot//nix/store/9f3c...-linux-6.12.57/bzImage
	// MENU LABEL NixOS 25.11.20251125.abcdef0 Installer (Linux latest)
	// LINUX /boot//nix/store/5b6a...-linux-6.17.8/bzImage
}

// nixpkgs' size rule for the EFI system partition image: a 1.08 MB BOOTX64.EFI and a 22 KB
// grub.cfg make a 3 MiB image.
func ExampleESPSize() {
	fmt.Println(boot.ESPSize(1081344+21786) >> 20)
	// Output: 3
}
