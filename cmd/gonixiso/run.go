package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/gonixiso/gonixiso/internal/qemu"
)

func runCommand() *cli.Command {
	return &cli.Command{
		Name:      "run",
		Usage:     "boot an ISO in QEMU, with its serial console on this terminal and a throwaway disk",
		UsageText: "gonixiso run [--bios] [--usb] X.iso\n   gonixiso run --flake .#name [build options]",
		Description: "Boots the image the way a user would: from a CD (or with --usb, a USB stick), with UEFI\n" +
			"firmware (OVMF; --bios for SeaBIOS), on a machine with an empty disk to install to, which is\n" +
			"thrown away afterwards, as nixos-rebuild build-vm does for a system. The serial console is\n" +
			"this terminal (Ctrl-a x quits, Ctrl-a c is QEMU's monitor); the screen is a window when\n" +
			"there is a display. KVM is used where /dev/kvm works. With --flake, the configuration's ISO\n" +
			"is built first, as gonixiso build does, into a temporary folder.",
		Flags: append([]cli.Flag{
			&cli.BoolFlag{Name: "bios", Usage: "boot with BIOS firmware (SeaBIOS) rather than UEFI (OVMF)"},
			&cli.BoolFlag{Name: "uefi", Usage: "boot with UEFI firmware (the default)"},
			&cli.BoolFlag{Name: "usb", Usage: "attach the image as a USB stick rather than a CD"},
			&cli.IntFlag{Name: "memory", Value: 2048, Usage: "the machine's memory, in MiB"},
			&cli.IntFlag{Name: "cpus", Value: 2, Usage: "the machine's processors"},
			&cli.StringFlag{Name: "disk-size", Value: "16G", Usage: "the throwaway disk's size (0 for none)"},
			&cli.BoolFlag{Name: "no-kvm", Usage: "emulate the processor (TCG) even where KVM works"},
			&cli.BoolFlag{Name: "no-display", Usage: "no window, the serial console only"},
			&cli.StringFlag{Name: "flake", Aliases: []string{"f"}, Usage: "build this configuration's ISO first (.#name)"},
			&cli.StringSliceFlag{Name: "nix-option", Usage: "extra argument for nix build (repeatable)"},
		}, imageFlags()...),
		OnUsageError: usageError,
		Action:       runISO,
	}
}

func runISO(c *cli.Context) error {
	if c.Bool("bios") && c.Bool("uefi") {
		return &exitError{exitFailure, errors.New("--bios and --uefi exclude each other")}
	}
	mode := qemu.CDUEFI
	switch {
	case c.Bool("bios") && c.Bool("usb"):
		mode = qemu.USBBIOS
	case c.Bool("bios"):
		mode = qemu.CDBIOS
	case c.Bool("usb"):
		mode = qemu.USBUEFI
	}
	if err := qemu.Check(mode); err != nil {
		return &exitError{exitFailure, err}
	}
	tmp, err := os.MkdirTemp("", "gonixiso-run-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	var iso string
	switch {
	case c.String("flake") != "" && c.NArg() > 0:
		return &exitError{exitFailure, errors.New("run takes an ISO or --flake, not both")}
	case c.String("flake") != "":
		if !c.IsSet("output") {
			c.Set("output", filepath.Join(tmp, "image.iso"))
		}
		if err := buildFlake(c); err != nil {
			return err
		}
		iso = c.String("output")
	case c.NArg() == 1:
		iso = c.Args().First()
	default:
		return &exitError{exitFailure, errors.New("run needs an ISO or --flake (see gonixiso run --help)")}
	}
	if fi, err := os.Stat(iso); err != nil {
		return &exitError{exitFailure, err}
	} else if !fi.Mode().IsRegular() {
		return &exitError{exitFailure, fmt.Errorf("%s is not a file", iso)}
	}

	m := qemu.Machine{
		ISO: iso, Mode: mode, MemoryMiB: c.Int("memory"), CPUs: c.Int("cpus"),
		KVM:     !c.Bool("no-kvm") && qemu.KVMUsable(),
		Display: !c.Bool("no-display") && (os.Getenv("DISPLAY") != "" || os.Getenv("WAYLAND_DISPLAY") != ""),
		Monitor: true,
	}
	size, err := parseBytes(c.String("disk-size"))
	if err != nil {
		return &exitError{exitFailure, fmt.Errorf("--disk-size: %w", err)}
	}
	if size > 0 {
		m.Disk = filepath.Join(tmp, "disk.qcow2")
		if err := qemu.NewDisk(m.Disk, size); err != nil {
			return err
		}
	}
	args, err := m.Args(tmp)
	if err != nil {
		return &exitError{exitFailure, err}
	}
	if !globalBool(c, "quiet") {
		accel := "TCG (no KVM)"
		if m.KVM {
			accel = "KVM"
		}
		fmt.Fprintf(c.App.ErrWriter, "gonixiso: booting %s as %s with %s; Ctrl-a x quits\n", iso, mode, accel)
	}
	cmd := exec.CommandContext(c.Context, "qemu-system-x86_64", args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, c.App.Writer, c.App.ErrWriter
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("qemu: %w", err)
	}
	return nil
}
