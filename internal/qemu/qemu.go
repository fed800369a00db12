// Package qemu describes the virtual machines a NixOS live ISO is booted in: from a CD and from a
// USB stick, with BIOS (SeaBIOS) and with UEFI (OVMF) firmware, on x86_64. gonixiso run boots an
// image in one for a person to use; the boot test harness (internal/boottest) boots images in all
// of them and reads what they print. Both take their QEMU command line from here.
package qemu

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Mode is one way of booting an image.
type Mode string

// The boot modes. The CD modes attach the image as a CD-ROM (IDE on the i440FX machine for
// SeaBIOS, AHCI on q35 for OVMF), which boots through El Torito. The USB modes attach the same
// file as a raw USB disk on an xHCI controller, which must boot through the isohybrid MBR (BIOS)
// or the EFI system partition that the GPT and the MBR point at (UEFI). OVMF would also find
// El Torito on a disk and boot through it, hiding a broken GPT, so the USB modes show the
// firmware the image with the identifier and catalog pointer of its El Torito boot record
// (sector 17) zeroed, in a copy-on-write overlay: what boots from USB has booted through the
// partition tables. (The record keeps its type and "CD001": GRUB's and Linux's ISO 9660 readers
// stop at a descriptor without them.)
const (
	CDBIOS  Mode = "cd-bios"
	CDUEFI  Mode = "cd-uefi"
	USBBIOS Mode = "usb-bios"
	USBUEFI Mode = "usb-uefi"
)

// Modes lists every mode.
var Modes = []Mode{CDBIOS, CDUEFI, USBBIOS, USBUEFI}

// ParseMode returns the Mode named s.
func ParseMode(s string) (Mode, error) {
	for _, m := range Modes {
		if string(m) == s {
			return m, nil
		}
	}
	return "", fmt.Errorf("unknown boot mode %q (want one of cd-bios, cd-uefi, usb-bios, usb-uefi)", s)
}

// UEFI reports whether the mode boots with OVMF.
func (m Mode) UEFI() bool { return m == CDUEFI || m == USBUEFI }

// USB reports whether the mode attaches the image as a USB disk.
func (m Mode) USB() bool { return m == USBBIOS || m == USBUEFI }

// Firmware and tools, where Debian 12 installs them, and the packages that do.
var (
	ovmfCode = "/usr/share/OVMF/OVMF_CODE_4M.fd"
	ovmfVars = "/usr/share/OVMF/OVMF_VARS_4M.fd"
)

// ErrMissing is wrapped by the errors that say a part of QEMU is not installed.
var ErrMissing = errors.New("not installed")

// A Machine is a virtual machine to boot an image in.
type Machine struct {
	ISO       string
	Mode      Mode
	MemoryMiB int // default 1024
	CPUs      int // default 1
	// Disk, if set, is a disk image attached beside the medium (a throwaway disk to install to).
	Disk string
	// KVM runs the machine with KVM rather than TCG.
	KVM bool
	// Display shows the machine's screen in a window; without it the screen goes nowhere.
	// The serial console is always the process's standard input and output.
	Display bool
	// Monitor multiplexes QEMU's monitor on the serial console (Ctrl-a c), for a person.
	Monitor bool
}

// Check reports the first part of QEMU a mode needs that is not installed, saying which Debian
// package (or Nix package) has it.
func Check(m Mode) error {
	need := []struct{ what, pkg string }{{"qemu-system-x86_64", "qemu-system-x86 (nixpkgs: qemu)"}}
	if m.USB() {
		need = append(need, struct{ what, pkg string }{"qemu-img", "qemu-utils (nixpkgs: qemu-utils)"},
			struct{ what, pkg string }{"qemu-io", "qemu-utils (nixpkgs: qemu-utils)"})
	}
	for _, n := range need {
		if _, err := exec.LookPath(n.what); err != nil {
			return fmt.Errorf("qemu: %s %w: install %s", n.what, ErrMissing, n.pkg)
		}
	}
	if m.UEFI() {
		for _, f := range []string{ovmfCode, ovmfVars} {
			if _, err := os.Stat(f); err != nil {
				return fmt.Errorf("qemu: OVMF firmware (%s) %w: install ovmf (nixpkgs: OVMF)", f, ErrMissing)
			}
		}
	}
	return nil
}

// Args returns QEMU's arguments for the machine; tmp is a folder for the files it needs (the
// firmware's variables, the USB stick's overlay), which lives as long as the machine.
func (mc Machine) Args(tmp string) ([]string, error) {
	if err := Check(mc.Mode); err != nil {
		return nil, err
	}
	iso, err := filepath.Abs(mc.ISO)
	if err != nil {
		return nil, err
	}
	if strings.ContainsAny(iso, ",") {
		// QEMU's option syntax cannot quote a comma in a file name: go through a link.
		link := filepath.Join(tmp, "image.iso")
		if err := os.Symlink(iso, link); err != nil {
			return nil, err
		}
		iso = link
	}
	mem, cpus := mc.MemoryMiB, mc.CPUs
	if mem == 0 {
		mem = 1024
	}
	if cpus == 0 {
		cpus = 1
	}
	serial := "stdio"
	if mc.Monitor {
		serial = "mon:stdio"
	}
	args := []string{
		"-m", fmt.Sprint(mem),
		"-smp", fmt.Sprint(cpus),
		"-vga", "std",
		"-serial", serial,
		"-nic", "none",
		"-no-reboot",
		// SeaBIOS with nothing to boot reboots after a second, which -no-reboot turns into
		// an exit: a fast, clear failure instead of a timeout.
		"-boot", "reboot-timeout=1000",
	}
	if !mc.Display {
		args = append(args, "-display", "none")
	}
	if !mc.Monitor {
		args = append(args, "-monitor", "none")
	}
	if mc.KVM {
		args = append(args, "-enable-kvm", "-cpu", "host")
	}
	if mc.Mode.UEFI() {
		vars := filepath.Join(tmp, "OVMF_VARS.fd")
		data, err := os.ReadFile(ovmfVars)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(vars, data, 0o644); err != nil {
			return nil, err
		}
		args = append(args, "-machine", "q35",
			"-drive", "if=pflash,format=raw,unit=0,readonly=on,file="+ovmfCode,
			"-drive", "if=pflash,format=raw,unit=1,file="+vars)
	} else {
		args = append(args, "-machine", "pc")
	}
	switch mc.Mode {
	case CDBIOS:
		args = append(args,
			"-drive", "file="+iso+",format=raw,media=cdrom,if=none,id=cd,readonly=on",
			"-device", "ide-cd,drive=cd,bus=ide.1,bootindex=0")
	case CDUEFI:
		args = append(args,
			"-drive", "file="+iso+",format=raw,media=cdrom,if=none,id=cd,readonly=on",
			"-device", "ide-cd,drive=cd,bus=ide.0,bootindex=0")
	case USBBIOS, USBUEFI:
		stick, err := usbOverlay(iso, tmp)
		if err != nil {
			return nil, err
		}
		args = append(args,
			"-device", "qemu-xhci,id=xhci",
			"-drive", "file="+stick+",format=qcow2,if=none,id=stick",
			"-device", "usb-storage,bus=xhci.0,drive=stick,bootindex=0")
	default:
		return nil, fmt.Errorf("qemu: unknown mode %q", mc.Mode)
	}
	if mc.Disk != "" {
		args = append(args,
			"-drive", "file="+mc.Disk+",format=qcow2,if=none,id=disk",
			"-device", "virtio-blk-pci,drive=disk,bootindex=1")
	}
	return args, nil
}

// The El Torito boot record volume descriptor is sector 17. Bytes 7-38 hold its boot system
// identifier ("EL TORITO SPECIFICATION"), 39-70 the boot identifier, 71-74 the catalog's LBA.
const (
	elToritoRecord  = 17*2048 + 7
	elToritoIDBytes = 68
)

// usbOverlay makes a qcow2 overlay of iso in tmp with the El Torito boot record's identifiers
// zeroed, so that firmware booting it as a disk can only use the MBR and GPT. The image itself is
// not touched.
func usbOverlay(iso, tmp string) (string, error) {
	overlay := filepath.Join(tmp, "usb-stick.qcow2")
	for _, c := range [][]string{
		{"qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", iso, overlay},
		{"qemu-io", "-f", "qcow2", "-c", fmt.Sprintf("write -q -P 0 %d %d", elToritoRecord, elToritoIDBytes), overlay},
	} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			return "", fmt.Errorf("qemu: %s: %v: %s", strings.Join(c, " "), err, out)
		}
	}
	return overlay, nil
}

// NewDisk makes an empty qcow2 disk of size bytes at p, for a machine to install to.
func NewDisk(p string, size int64) error {
	if out, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", p, fmt.Sprint(size)).CombinedOutput(); err != nil {
		return fmt.Errorf("qemu: qemu-img create: %v: %s", err, out)
	}
	return nil
}

// KVMUsable reports whether /dev/kvm can be opened for reading and writing.
func KVMUsable() bool {
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return false
	}
	f.Close()
	return true
}
