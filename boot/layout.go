package boot

// The layout of a NixOS live ISO, as iso-image.nix makes it and its initrd and bootloaders read
// it: the one table of ISO paths for every package that writes an ISO (boot, the pipeline) or
// reads one (liveiso, the boot test harness).
const (
	// SquashFSPath is the SquashFS of the store, which the initrd mounts at /nix/.ro-store under
	// an overlay at /nix/store.
	SquashFSPath = "/nix-store.squashfs"
	// StoreDir is where the SquashFS's root appears on the booted system.
	StoreDir = "/nix/store"
	// RegistrationName is the file at the SquashFS's root from which the booted system
	// registers its store (nix-store --load-db < /nix/store/nix-path-registration).
	RegistrationName = "nix-path-registration"
	// VersionPath holds system.nixos.label, no newline.
	VersionPath = "/version.txt"
	// KernelDir holds every configuration's kernel and initrd, at KernelDir + <store path>/<file>
	// ("/boot/nix/store/…-linux/bzImage"; the menus write "/boot//nix/store/…").
	KernelDir = "/boot"
	// MemtestPath is memtest86+, when the system enables it.
	MemtestPath = "/boot/memtest.bin"

	// BIOS: isolinux, its menu and splash image, and the El Torito catalog.
	IsolinuxDir        = "/isolinux"
	IsolinuxConfigPath = IsolinuxDir + "/isolinux.cfg"
	BIOSBootFile       = IsolinuxDir + "/" + isolinuxBin
	SplashPath         = IsolinuxDir + "/background.png"
	CatalogPath        = "/.boot.cat"

	// UEFI: the EFI system partition, and GRUB's folder on the ISO volume, which the marker file
	// lets GRUB find.
	EFIImagePath       = "/boot/efi.img"
	GrubDir            = "/EFI/BOOT"
	BootxPath          = GrubDir + "/BOOTX64.EFI"
	GrubConfigPath     = GrubDir + "/grub.cfg"
	GrubFontPath       = GrubDir + "/unicode.pf2"
	EFISplashPath      = GrubDir + "/efi-background.png"
	GrubThemeDir       = GrubDir + "/grub-theme"
	MarkerPath         = "/EFI/nixos-installer-image"
	LoopbackConfigPath = "/boot/grub/loopback.cfg"
)
