package boot_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/gonixiso/gonixiso/boot"
)

// TestNotLive: a toplevel that cannot boot live from the ISO (its initrd would not find the
// volume) is refused with ErrNotLive and a message that names the reason and the module to
// import, unless AllowNotLive packs it with the reason as a warning. Shapes: a scripted initrd
// booting a disk or a UUID, a systemd initrd without fstab, with a disk's fstab, or with /iso
// on another label; and the shapes NixOS writes for iso-image.nix, which pass.
func TestNotLive(t *testing.T) {
	scripted := func(root string) config {
		return config{params: []string{"boot.shell_on_fail", "root=" + root, "console=ttyS0,115200"}, label: "1", distro: "NixOS"}
	}
	systemd := func(fstab string) config {
		return config{params: []string{"console=ttyS0,115200"}, label: "1", distro: "NixOS", fstab: fstab}
	}
	live := scripted("LABEL=vol")
	for _, tc := range []struct {
		name     string
		main     config
		specs    map[string]config
		opts     boot.Options
		want     []string // in the error; nil: live
		noVolume bool     // the error comes before a volume id is known: AllowNotLive cannot help
	}{
		{"scripted, root=LABEL=", live, nil, boot.Options{}, nil, false},
		{"scripted, a disk", scripted("/dev/sda1"), nil, boot.Options{VolumeID: "vol"},
			[]string{"TOP " + boot.ErrNotLive.Error(), "kernel parameters have root=/dev/sda1", "root=LABEL=vol",
				"installer/cd-dvd/iso-image.nix", "gonixiso's NixOS module"}, false},
		{"scripted, a disk, no volume id", scripted("/dev/sda1"), nil, boot.Options{},
			[]string{"TOP " + boot.ErrNotLive.Error(), "root=/dev/sda1", "iso-image.nix", "give a volume id"}, true},
		{"scripted, a UUID", scripted("UUID=1234-5678"), nil, boot.Options{VolumeID: "vol"}, []string{"root=UUID=1234-5678"}, false},
		{"scripted, the last root= counts", config{params: []string{"root=LABEL=vol", "root=/dev/vda"}, label: "1"}, nil,
			boot.Options{}, []string{"root=/dev/vda"}, true},
		{"systemd, no fstab", systemd(""), nil, boot.Options{VolumeID: "vol"},
			[]string{"TOP " + boot.ErrNotLive.Error(), "no root= in its kernel parameters", "no TOP/etc/fstab", "iso-image.nix"}, false},
		{"systemd, a disk's fstab", systemd("/dev/disk/by-label/nixos / ext4 defaults 0 1\n"), nil, boot.Options{VolumeID: "vol"},
			[]string{"TOP/etc/fstab mounts no /iso", "/dev/disk/by-label/vol", "iso-image.nix"}, false},
		{"systemd, another label", systemd(liveFstab("other")), nil, boot.Options{VolumeID: "vol"},
			[]string{"mounts /iso from /dev/disk/by-label/other, not from the ISO by its label, /dev/disk/by-label/vol"}, false},
		{"systemd, lib.isoFileSystems", systemd(liveFstab("vol")), nil, boot.Options{VolumeID: "vol"}, nil, false},
		{"systemd, LABEL=", systemd("LABEL=vol /iso iso9660 defaults 0 0\n"), nil, boot.Options{VolumeID: "vol"}, nil, false},
		{"systemd, escapes", systemd("# /dev/disk/by-label/x /iso\n/dev/disk/by-label/a\\x2fb /is\\157 iso9660 defaults 0 0\n"), nil,
			boot.Options{VolumeID: "a/b"}, nil, false},
		{"a specialisation shown", live, map[string]config{"disk": scripted("/dev/sda1")}, boot.Options{},
			[]string{"TOP-disk " + boot.ErrNotLive.Error(), "root=/dev/sda1"}, false},
		{"a specialisation hidden", live, map[string]config{"disk": scripted("/dev/sda1")},
			boot.Options{Entries: map[string]boot.EntryOptions{"disk": {Hidden: true}}}, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			top := fixture{name: "live", bootspec: true, main: tc.main, specs: tc.specs}.build(t, t.TempDir())
			sys, err := boot.ReadSystem(boot.HostStore, top)
			must(t, err)
			opts := tc.opts
			opts.NoBIOS, opts.HostBootloaders = true, true
			plan, err := boot.NewPlan(context.Background(), boot.HostStore, sys, opts)
			if tc.want == nil {
				if err != nil || len(plan.Warnings) != 0 {
					t.Fatalf("error %v, warnings %v; want a live system", err, plan.Warnings)
				}
				return
			}
			if !errors.Is(err, boot.ErrNotLive) {
				t.Fatalf("error %v, want one wrapping ErrNotLive", err)
			}
			for _, w := range tc.want {
				if w = strings.ReplaceAll(w, "TOP", top); !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			// AllowNotLive packs it anyway, the reason as a warning, if the volume id is known.
			opts.AllowNotLive = true
			plan, err2 := boot.NewPlan(context.Background(), boot.HostStore, sys, opts)
			switch {
			case tc.noVolume:
				if !errors.Is(err2, boot.ErrNotLive) {
					t.Errorf("AllowNotLive without a volume id: error %v, want ErrNotLive", err2)
				}
			case err2 != nil:
				t.Errorf("AllowNotLive: %v", err2)
			case len(plan.Warnings) != 1 || plan.Warnings[0] != err.Error():
				t.Errorf("AllowNotLive: warnings %q, want %q", plan.Warnings, err)
			}
		})
	}
}
