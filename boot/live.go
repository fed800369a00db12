package boot

import (
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
)

// ErrNotLive is wrapped by NewPlan's errors when a configuration cannot boot live from the
// ISO: its initrd would not find the ISO volume, and the boot would stop in stage 1. A NixOS
// configuration gets what a live ISO needs from nixpkgs' iso-image.nix (lib.isoFileSystems,
// root=LABEL=<volume id>); Options.AllowNotLive plans it anyway, with a warning.
var ErrNotLive = errors.New("cannot boot live from this ISO")

// importHint says where a configuration gets the live-boot contract.
const importHint = "import nixpkgs' nixos/modules/installer/cd-dvd/iso-image.nix " +
	"(directly, through an installation-cd-*.nix profile, or through gonixiso's NixOS module, which imports it)"

// checkLive checks that configuration s can boot live from an ISO with volume id vol, as
// iso-image.nix makes a configuration able to:
//
//   - with a scripted initrd (kernel parameters with root=), the last root= must be
//     root=LABEL=<vol>: stage 1 links /dev/root to /dev/disk/by-label/<vol> and mounts it at
//     /iso;
//   - with a systemd initrd (no root=), the toplevel's etc/fstab must mount /iso from the
//     volume by its label, /dev/disk/by-label/<vol> (lib.isoFileSystems) or LABEL=<vol>: the
//     initrd's fstab is made from the same fileSystems.
//
// Errors that say the configuration is not live wrap ErrNotLive; one that says the Store could
// not be read does not.
func checkLive(st Store, s *System, vol string) error {
	if root, ok := s.root(); ok {
		if root == "LABEL="+vol {
			return nil
		}
		return fmt.Errorf("boot: %s %w: its kernel parameters have root=%s, and its (scripted) initrd finds a live ISO by root=LABEL=%s; %s",
			s.Toplevel, ErrNotLive, root, vol, importHint)
	}
	fstab := path.Join(s.Toplevel, "etc", "fstab")
	data, err := readText(st, fstab)
	if isNotExist(err) {
		return fmt.Errorf("boot: %s %w: it has no root= in its kernel parameters (a systemd initrd) and no %s to mount the ISO at /iso by its label %s; %s",
			s.Toplevel, ErrNotLive, fstab, vol, importHint)
	}
	if err != nil {
		return fmt.Errorf("boot: %w", err)
	}
	var isoDevices []string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || strings.HasPrefix(f[0], "#") || unescapeFstab(f[1]) != "/iso" {
			continue
		}
		dev := unescapeFstab(f[0])
		for _, want := range []string{"/dev/disk/by-label/" + vol, "/dev/disk/by-label/" + encodeLabel(vol), "LABEL=" + vol} {
			if dev == want {
				return nil
			}
		}
		isoDevices = append(isoDevices, dev)
	}
	if isoDevices == nil {
		return fmt.Errorf("boot: %s %w: it has no root= in its kernel parameters (a systemd initrd), and %s mounts no /iso (a live system mounts the ISO at /iso by its label, /dev/disk/by-label/%s); %s",
			s.Toplevel, ErrNotLive, fstab, vol, importHint)
	}
	return fmt.Errorf("boot: %s %w: it has no root= in its kernel parameters (a systemd initrd), and %s mounts /iso from %s, not from the ISO by its label, /dev/disk/by-label/%s; %s",
		s.Toplevel, ErrNotLive, fstab, strings.Join(isoDevices, " and "), vol, importHint)
}

// root returns the value of the last root= in the kernel parameters (the one Linux and stage 1
// use), and whether there is one.
func (s *System) root() (string, bool) {
	for i := len(s.KernelParams) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(s.KernelParams[i], "root="); ok {
			return v, true
		}
	}
	return "", false
}

// unescapeFstab undoes fstab's octal escapes (NixOS writes a space as \040, a tab as \011).
func unescapeFstab(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// encodeLabel is a label as udev names its link in /dev/disk/by-label: bytes other than
// letters, digits and #+-.:=@_ written as \xNN.
func encodeLabel(label string) string {
	var b strings.Builder
	for i := 0; i < len(label); i++ {
		c := label[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("#+-.:=@_", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, `\x%02x`, c)
		}
	}
	return b.String()
}
