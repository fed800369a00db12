// Package boot makes what boots a NixOS live ISO, from a toplevel and the isoImage options of
// its configuration (Options), the way nixpkgs' iso-image.nix does: the isolinux menu for BIOS,
// the GRUB menu, its theme and BOOTX64.EFI for UEFI, the EFI system partition image, memtest86+,
// and the kernels and initrds of every configuration the menus show.
//
// It works in three steps, each of which can be used and tested on its own:
//
//   - ReadSystem reads a toplevel: its boot.json (bootspec v1, with the specialisations'
//     documents), or the kernel, initrd, init, kernel-params, nixos-version and
//     specialisation/ links of toplevels older than bootspec.
//   - Render renders the menus as text: iso-image.nix's templates, with its entries, titles,
//     classes, order and parameters (the main entry; each specialisation, sorted by name; the
//     Options submenu with copy-to-RAM, no modesetting, debug, no display manager, three
//     framebuffer rotations and a serial console; memtest86+), character for character in
//     nixpkgs' configuration. Each configuration has its own labels and may be hidden
//     (Options.Entries, from each one's isoImage options). Two things differ by default: GRUB's
//     menu is also shown on the serial line (Options.NoSerial turns that off), and no menu line
//     names a file the ISO lacks (no MENU BACKGROUND without a splash image; plain colours
//     instead of a missing EFI splash image).
//   - NewPlan finds the bootloaders (in the closure, as an installer toplevel carries them;
//     on the host; or where the options say), checks that every configuration shown can boot
//     live from the ISO (ErrNotLive), makes BOOTX64.EFI with grub-mkimage and the EFI system
//     partition with package fat, and returns a Plan: files to place in the ISO and a
//     BootConfig for the ISO writer. boot writes no ISO.
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
// What iso-image.nix adds from outside the toplevel's closure comes in through Options, as
// files of the Store: the splash images, the GRUB theme (ReadGrubTheme) and memtest86+; the ISO
// spec names them all. rEFInd is left out. Only x86_64 systems are supported.
package boot
