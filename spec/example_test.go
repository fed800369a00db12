package spec_test

import (
	"fmt"
	"log"
	"strings"

	"github.com/gonixiso/gonixiso/spec"
)

// A spec read and its compression understood, as gonixiso assemble --spec does.
func Example() {
	json := `{"version":1,"system":"x86_64-linux","toplevel":"/nix/store/a-nixos-system",
	"isoImage":{"volumeID":"nixos-minimal-25.11-x86_64","edition":"minimal","squashfsCompression":"xz -Xdict-size 100% -Xbcj x86",
	"makeEfiBootable":true,"makeBiosBootable":true,"makeUsbBootable":true,"prependToMenuLabel":"","appendToMenuLabel":" Installer",
	"configurationName":null,"showConfiguration":true,"forceTextMode":false,"splashImage":null,"efiSplashImage":null,
	"grubTheme":null,"syslinuxTheme":"","contents":[{"source":"/nix/store/b-flake","target":"/flake"}],"storeContents":[],
	"includeSystemBuildDependencies":false,"compressImage":false},
	"image":{"fileName":"nixos-minimal.iso","baseName":"nixos-minimal"},
	"boot":{"loader":{"timeout":10,"grub":{"memtest86":{"enable":false,"params":[]}}},"initrd":{"systemd":{"enable":false}}},
	"specialisation":{},"packages":{"grub2_efi":"/nix/store/c-grub","syslinux":"/nix/store/d-syslinux","memtest86plus":null,"memtest86plusFile":null}}`
	s, err := spec.Read(strings.NewReader(json))
	if err != nil {
		log.Fatal(err)
	}
	c, err := s.ISOImage.Compression(1 << 20)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(s.ISOImage.VolumeID, s.Image.FileName, c.Algorithm, c.BCJ)
	fmt.Println(s.StorePaths())
	// Output:
	// nixos-minimal-25.11-x86_64 nixos-minimal.iso xz [x86]
	// [/nix/store/a-nixos-system /nix/store/b-flake /nix/store/c-grub /nix/store/d-syslinux]
}
