// Command gonixiso assembles bootable NixOS ISO images natively: it turns a built NixOS toplevel
// into a hybrid ISO that boots from CD and USB, in BIOS and UEFI mode, without mksquashfs,
// xorriso or an iso-image.nix derivation.
//
// Run `gonixiso --help` for the commands.
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := newApp(os.Stdout, os.Stderr).Run(os.Args); err != nil {
		fmt.Fprintf(os.Stderr, "gonixiso: %v\n", err)
		os.Exit(exitCode(err))
	}
}
