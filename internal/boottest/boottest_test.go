package boottest_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gonixiso/gonixiso/boot"
	"github.com/gonixiso/gonixiso/internal/boottest"
	"github.com/gonixiso/gonixiso/internal/testsystem"
)

// bootCase boots iso in mode into entry and checks the outcome. It runs as a parallel subtest;
// QEMUs are limited machine-wide to one per core.
func bootCase(t *testing.T, iso string, mode boottest.Mode, entry string, want boottest.Outcome, wantReason string) {
	t.Helper()
	name := string(mode)
	if entry != "" {
		name += "/" + entry
	}
	t.Run(name, func(t *testing.T) {
		t.Parallel()
		res, err := boottest.Boot(context.Background(), boottest.Options{
			ISO: iso, Mode: mode, Entry: entry,
			Log: filepath.Join(t.TempDir(), "serial.log"),
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s %s in %.1fs: %s", mode, res.Outcome, res.Duration.Seconds(), res.Reason)
		if res.Outcome != want {
			t.Fatalf("outcome %s, want %s (%s)\nserial console:\n%s", res.Outcome, want, res.Reason, res.Tail)
		}
		if wantReason != "" && !strings.Contains(res.Reason, wantReason) {
			t.Fatalf("reason %q does not contain %q\nserial console:\n%s", res.Reason, wantReason, res.Tail)
		}
	})
}

// TestBootBaseline (slow: QEMU boots) proves the harness against the ISO that nixpkgs' own tools
// make: it boots in all four modes, and into the specialisation from isolinux and from GRUB.
func TestBootBaseline(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: boots QEMU")
	}
	iso := testsystem.BaselineISO(t)
	for _, m := range boottest.Modes {
		bootCase(t, iso, m, "", boottest.Pass, "config=main")
	}
	bootCase(t, iso, boottest.CDBIOS, testsystem.Specialisation, boottest.Pass, "config=alt")
	bootCase(t, iso, boottest.USBUEFI, testsystem.Specialisation, boottest.Pass, "config=alt")
}

// TestBootNegativeControls (slow) shows that the harness fails what must fail: an ISO whose
// volume label is not the one on the kernel command line fails in stage 1 within its bound, and
// an ISO without isohybrid tables does not boot from a USB disk.
func TestBootNegativeControls(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: boots QEMU")
	}
	wrongLabel := testsystem.BaselineISO(t, "--volume-id", "not-the-label")
	bootCase(t, wrongLabel, boottest.CDBIOS, "", boottest.Fail, "GONIXISO-STAGE1-FAIL: no block device with label "+testsystem.VolumeID)
	noHybrid := testsystem.BaselineISO(t, "--no-isohybrid")
	bootCase(t, noHybrid, boottest.USBBIOS, "", boottest.Fail, "")
	bootCase(t, noHybrid, boottest.USBUEFI, "", boottest.Fail, "")
}

// TestMenuTopLevel: the harness counts arrow presses by the positions boot's parsers give, among
// the items each menu shows (entries and submenus, not GRUB's hidden entries).
func TestMenuTopLevel(t *testing.T) {
	isolinux := `SERIAL 0 115200
DEFAULT boot

LABEL boot
MENU LABEL NixOS
LINUX /boot//nix/store/k/bzImage
APPEND init=/nix/store/main/init root=LABEL=x
INITRD /boot//nix/store/i/initrd


LABEL boot-alt
MENU LABEL NixOS
LINUX /boot//nix/store/k/bzImage
APPEND init=/nix/store/alt/init root=LABEL=x
INITRD /boot//nix/store/i/initrd

MENU BEGIN Options
MENU BEGIN Copy ISO Files to RAM
LABEL boot-copytoram
APPEND init=/nix/store/main/init copytoram
MENU END
MENU END
`
	got := topLevel(boot.ParseIsolinux([]byte(isolinux)))
	if want := "0:/nix/store/main/init,1:/nix/store/alt/init"; got != want {
		t.Errorf("isolinux items = %q, want %q", got, want)
	}
	grub := `set timeout=10
hiddenentry 'Text mode' --hotkey 't' {
  set textmode=true
}
if [ ${iso_path} ] ; then
  set isoboot="findiso=${iso_path}"
fi
menuentry 'NixOS' --class installer {
  linux /boot//nix/store/k/bzImage ${isoboot} init=/nix/store/main/init root=LABEL=x
  initrd /boot//nix/store/i/initrd
}
menuentry 'NixOS' --class installer {
  linux /boot//nix/store/k/bzImage ${isoboot} init=/nix/store/alt/init root=LABEL=x
}
submenu "Options" --class submenu {
  menuentry 'NixOS' --class installer {
    linux /boot//nix/store/k/bzImage ${isoboot} init=/nix/store/main/init copytoram
  }
}
menuentry 'Shutdown' --class shutdown {
  halt
}
`
	got = topLevel(boot.ParseGrub([]byte(grub)))
	if want := "0:/nix/store/main/init,1:/nix/store/alt/init,3:"; got != want {
		t.Errorf("grub items = %q, want %q", got, want)
	}
}

// topLevel lists the top-level entries' positions and init= values.
func topLevel(entries []boot.MenuEntry) string {
	var items []string
	for _, e := range entries {
		if len(e.Menu) == 0 {
			init := ""
			for _, w := range strings.Fields(e.Params) {
				if v, ok := strings.CutPrefix(w, "init="); ok {
					init = v
				}
			}
			items = append(items, fmt.Sprintf("%d:%s", e.Position, init))
		}
	}
	return strings.Join(items, ",")
}
