// Package boot makes what boots a NixOS live ISO, from the toplevel alone, the way nixpkgs'
// iso-image.nix does: the isolinux menu for BIOS, the GRUB menu and BOOTX64.EFI for UEFI, the
// EFI system partition image, and the kernels and initrds of every configuration.
//
// It works in three steps, each of which can be used and tested on its own:
//
//   - ReadSystem reads a toplevel: its boot.json (bootspec v1, with the specialisations'
//     documents), or the kernel, initrd, init, kernel-params, nixos-version and
//     specialisation/ links of toplevels older than bootspec.
//   - Render renders the menus as text: iso-image.nix's templates, with its entries, titles,
//     classes, order and parameters (the main entry; each specialisation, sorted by name; the
//     Options submenu with copy-to-RAM, no modesetting, debug, no display manager, three
//     framebuffer rotations and a serial console), character for character in nixpkgs'
//     configuration. Two things differ by default: GRUB's menu is also shown on the serial
//     line (Options.NoSerial turns that off), and without an EFI splash image grub.cfg sets
//     plain colours instead of trying to load one.
//   - NewPlan finds the bootloaders (in the closure, as an installer toplevel carries them;
//     on the host; or where the options say), makes BOOTX64.EFI with grub-mkimage and the
//     EFI system partition with package fat, and returns a Plan: files to place in the ISO and
//     a BootConfig for the ISO writer. boot writes no ISO.
//
// The volume id, which the initrd looks the ISO up by, comes from root=LABEL= in the kernel
// parameters, or from Options.VolumeID for a system with a systemd initrd (which has no root=);
// where both exist they must agree, and every specialisation must agree with the main
// configuration, as iso-image.nix asserts.
//
// Everything boot makes depends only on its inputs: no clock (dates come from Options.Time),
// no map order, grub-mkimage run with an empty environment (its output is the same bytes run
// after run, which the tests check).
//
// What iso-image.nix adds from outside the toplevel's closure is left out: the GRUB theme,
// rEFInd and memtest86+; the splash images are options. Only x86_64 systems are supported.
package boot
