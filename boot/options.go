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
	// the main configuration, or the first configuration shown if the main one is hidden. It
	// may not name a hidden specialisation.
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
	// ConfigurationName ends every entry's title (isoImage.configurationName; "" for none).
	ConfigurationName string
	// Entries holds what each configuration's own isoImage options say, by configuration: ""
	// is the main configuration, else a specialisation's name (specialisation.<name>.
	// configuration.isoImage.*). A specialisation's labels, configurationName and
	// showConfiguration may differ from the main configuration's; a configuration Entries does
	// not name, and a nil field, take the Options-wide value. A name that is not one of the
	// system's configurations is an error.
	Entries map[string]EntryOptions
	// ForceTextMode starts GRUB's menu on the text console (isoImage.forceTextMode).
	ForceTextMode bool
	// SplashImage and EFISplashImage are files of the Store shown behind the menus, placed at
	// /isolinux/background.png and /EFI/BOOT/efi-background.png (isoImage.splashImage and
	// isoImage.efiSplashImage, which nixpkgs fetches from nixos-artwork). Without them the
	// menus have plain colours: isolinux.cfg has no MENU BACKGROUND line, and grub.cfg does
	// not try to load a background (GRUB would print an error on every boot). With a
	// GrubTheme, grub.cfg uses the theme and not EFISplashImage, as nixpkgs' does (the file is
	// still placed, as nixpkgs places it).
	SplashImage, EFISplashImage string
	// SyslinuxTheme is isoImage.syslinuxTheme, the text isolinux.cfg has between its header
	// and DEFAULT, as given; nil means nixpkgs' default (MENU TITLE <distro>, the resolution,
	// rows and colours).
	SyslinuxTheme *string
	// GrubTheme is isoImage.grubTheme, as ReadGrubTheme reads it from the Store: its files go
	// to /EFI/BOOT/grub-theme, and grub.cfg sets it and loads its fonts. nil means no theme
	// (nixpkgs' default is pkgs.nixos-grub2-theme, which a toplevel does not carry).
	GrubTheme *GrubTheme
	// Memtest is memtest86+, a file of the Store placed at /boot/memtest.bin, with a
	// Memtest86+ entry in isolinux's menu (with BIOS boot) and GRUB's (with UEFI boot), as
	// iso-image.nix writes them when boot.loader.grub.memtest86.enable is set; "" for none.
	// nixpkgs copies pkgs.memtest86plus.efi (memtest.efi) there, and both isolinux's LINUX and
	// GRUB's linux boot that one file (it speaks the Linux boot protocols and, on UEFI, the EFI
	// handover); older nixpkgs copied memtest.bin, which GRUB on UEFI cannot boot. gonixiso
	// takes the one file it is given (the spec's packages.memtest86plusFile) for both menus.
	// nixpkgs places the file with BIOS boot only, though its GRUB menu has the entry too;
	// gonixiso places it whenever a menu has the entry.
	Memtest string
	// MemtestParams are memtest86+'s parameters (boot.loader.grub.memtest86.params).
	MemtestParams []string
	// NoUSB leaves out the isohybrid MBR (isoImage.makeUsbBootable = false): BootConfig.HybridMBR
	// is nil, and the ISO boots from a CD only (the ISO writer then makes no GPT either, as
	// xorriso without -isohybrid-mbr). nixpkgs makes the MBR only with BIOS boot, as boot does.
	NoUSB bool
	// AllowNotLive lets NewPlan plan a toplevel that cannot boot live from this ISO (see
	// ErrNotLive): the reasons go to Plan.Warnings instead of failing.
	AllowNotLive bool
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
	// Run runs the programs of the Store boot needs (grub-mkimage); nil runs them directly, at
	// their HostPath. A program of a system's closure is the system's code: gonixiso's pipeline
	// runs it in a sandbox.
	Run Runner
	// Memo, if set, may keep the result of a slow step (grub-mkimage) between builds: it returns
	// what produce returns, made from the files or folders of the Store named by paths and from
	// key, which holds everything else the result depends on. Memo keeps a result only where
	// those paths cannot change (store paths whose hashes it knows), and calls produce
	// otherwise.
	Memo Memo
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

// EntryOptions are one configuration's own isoImage options. nil means the Options-wide
// value.
type EntryOptions struct {
	// PrependToMenuLabel, AppendToMenuLabel and ConfigurationName make the configuration's
	// entry titles (isoImage.prependToMenuLabel, isoImage.appendToMenuLabel,
	// isoImage.configurationName; "" for no name).
	PrependToMenuLabel, AppendToMenuLabel, ConfigurationName *string
	// Hidden is isoImage.showConfiguration = false: the configuration has no entry in either
	// menu (in the Options submenus neither), and its kernel and initrd stay off the ISO unless
	// a shown configuration shares them. A hidden main configuration leaves its
	// specialisations' entries in place, as nixpkgs' templates do.
	Hidden bool
}

// label returns the title parts of configuration s: prepend, append and configuration name.
func (o *Options) label(s *System) (prepend, append, name string) {
	prepend, append, name = o.PrependToMenuLabel, o.appendToMenuLabel(), o.ConfigurationName
	e := o.Entries[s.Name]
	if e.PrependToMenuLabel != nil {
		prepend = *e.PrependToMenuLabel
	}
	if e.AppendToMenuLabel != nil {
		append = *e.AppendToMenuLabel
	}
	if e.ConfigurationName != nil {
		name = *e.ConfigurationName
	}
	return prepend, append, name
}

// shown tells whether configuration s has menu entries.
func (o *Options) shown(s *System) bool { return !o.Entries[s.Name].Hidden }

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
