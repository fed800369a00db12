package boot

import (
	"fmt"
	"strings"
	"time"
)

// Options are what iso-image.nix takes from isoImage.* and boot.loader.* options, which a
// toplevel does not record, and where boot finds its tools. The zero value means nixpkgs'
// defaults.
type Options struct {
	// VolumeID is the ISO's volume id (isoImage.volumeID), at most 32 bytes. Where the kernel
	// parameters have root=LABEL=, it may be left empty and must agree if given; a system with
	// a systemd initrd has no root= and must be given one.
	VolumeID string
	// Timeout is boot.loader.timeout in seconds: nil means nixpkgs' 10, a negative value means
	// wait for a choice, 0 means boot the default entry at once.
	Timeout *int
	// DefaultEntry is the specialisation whose entry boots when the timeout runs out; "" is
	// the main configuration.
	DefaultEntry string
	// NoBIOS leaves out isolinux (isoImage.makeBiosBootable = false), and with it the
	// isohybrid MBR; NoUEFI leaves out GRUB and the EFI system partition
	// (isoImage.makeEfiBootable = false).
	NoBIOS, NoUEFI bool
	// NoSerial keeps GRUB's menu off the serial line, as nixpkgs has it. By default the menu
	// and GRUB's messages also go to the first serial port at 115200 baud, as isolinux's do
	// (its SERIAL 0 115200 is nixpkgs' own); keys are read from the firmware's console, which
	// carries serial input where the firmware redirects its console to the serial port.
	NoSerial bool
	// PrependToMenuLabel and AppendToMenuLabel surround "<distro> <label>" in every entry's
	// title (isoImage.prependToMenuLabel, isoImage.appendToMenuLabel; nil means " Installer").
	PrependToMenuLabel string
	AppendToMenuLabel  *string
	// ConfigurationName ends every entry's title (isoImage.configurationName);
	// ConfigurationNames overrides it for the specialisations it names, as a specialisation's
	// own isoImage.configurationName does ("" for none).
	ConfigurationName  string
	ConfigurationNames map[string]string
	// ForceTextMode starts GRUB's menu on the text console (isoImage.forceTextMode).
	ForceTextMode bool
	// SplashImage and EFISplashImage are files of the Store shown behind the menus, placed at
	// /isolinux/background.png and /EFI/BOOT/efi-background.png (isoImage.splashImage and
	// isoImage.efiSplashImage, which nixpkgs fetches from nixos-artwork). Without them the
	// menus have plain colours: vesamenu falls back by itself, and grub.cfg does not try to
	// load a background (GRUB would print an error on every boot).
	SplashImage, EFISplashImage string
	// Syslinux is a folder of the Store laid out like nixpkgs' ${syslinux}/share/syslinux
	// (isolinux.bin, isohdpfx.bin, ldlinux.c32, vesamenu.c32, ...). If empty, boot looks in the
	// system's store paths (see FindLoaders), then, with HostBootloaders, on this machine
	// (Debian's /usr/lib/ISOLINUX and /usr/lib/syslinux/modules/bios).
	Syslinux string
	// Grub is a grub2_efi prefix in the Store: bin/grub-mkimage, lib/grub/x86_64-efi and
	// share/grub/unicode.pf2. If empty, boot looks in the system's store paths, then, with
	// HostBootloaders, on this machine (/usr/bin/grub-mkimage, /usr/lib/grub/x86_64-efi,
	// /usr/share/grub/unicode.pf2).
	Grub string
	// HostBootloaders lets boot take this machine's bootloaders (Debian's packages) where the
	// system has none; the Store must show HostBootloaderPaths. Without it, a system without
	// bootloaders is an error wrapping ErrNoBootloader.
	HostBootloaders bool
	// StorePaths is the toplevel's closure, where the bootloaders are looked for first.
	StorePaths []string
	// Time is the moment every generated date records (SOURCE_DATE_EPOCH); the zero value
	// means 1980-01-01 00:00:00 UTC, nixpkgs' default. FAT has no dates before 1980: efi.img
	// records an earlier Time as 1980-01-01.
	Time time.Time
}

// DefaultTimeout is nixpkgs' boot.loader.timeout for ISOs, in seconds.
const DefaultTimeout = 10

// DefaultEpoch is the time generated dates record when Options.Time is zero: nixpkgs'
// default SOURCE_DATE_EPOCH, 315532800.
var DefaultEpoch = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)

// MaxVolumeID is the length limit of an ISO 9660 volume id, which iso-image.nix asserts.
const MaxVolumeID = 32

// maxTimeout keeps TIMEOUT in syslinux's range: nixpkgs' "wait" value is 35996 tenths.
const maxTimeout = 3599

func (o *Options) timeout() (syslinux, grub int, err error) {
	t := DefaultTimeout
	if o.Timeout != nil {
		t = *o.Timeout
	}
	switch {
	case t < 0:
		return 35996, -1, nil
	case t > maxTimeout:
		return 0, 0, fmt.Errorf("boot: timeout of %d s is more than syslinux waits (%d s); a negative timeout waits for ever", t, maxTimeout)
	}
	return t * 10, t, nil
}

func (o *Options) appendToMenuLabel() string {
	if o.AppendToMenuLabel == nil {
		return " Installer"
	}
	return *o.AppendToMenuLabel
}

func (o *Options) configurationName(s *System) string {
	if name, ok := o.ConfigurationNames[s.Name]; ok && s.Name != "" {
		return name
	}
	return o.ConfigurationName
}

func (o *Options) time() time.Time {
	if o.Time.IsZero() {
		return DefaultEpoch
	}
	return o.Time
}

// checkVolumeID accepts a volume id that fits the ISO's descriptor and a kernel command line.
func checkVolumeID(id string) error {
	if id == "" || len(id) > MaxVolumeID {
		return fmt.Errorf("volume id %q: want 1 to %d bytes", id, MaxVolumeID)
	}
	if strings.ContainsFunc(id, func(r rune) bool { return r <= ' ' || r >= 0x7F }) {
		return fmt.Errorf("volume id %q: only printable ASCII without spaces", id)
	}
	return nil
}
