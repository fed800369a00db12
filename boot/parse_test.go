package boot_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gonixiso/gonixiso/boot"
	"github.com/gonixiso/gonixiso/internal/testsystem"
)

func TestParseIsolinux(t *testing.T) {
	cfg := `SERIAL 0 115200
# a comment
DEFAULT boot
LABEL boot
MENU LABEL NixOS Installer
LINUX /boot/k
APPEND init=/x/init quiet  
INITRD /boot/i

menu begin Options
MENU TITLE Options
label boot-ram
  menu label RAM
  kernel /boot/k
  append copytoram
MENU BEGIN Deeper
LABEL deep
MENU END
MENU END
LABEL hidden
MENU HIDE
LABEL last
`
	got := boot.ParseIsolinux([]byte(cfg))
	want := []boot.MenuEntry{
		{Label: "boot", Title: "NixOS Installer", Kernel: "/boot/k", Initrd: "/boot/i", Params: "init=/x/init quiet"},
		{Menu: []string{"Options"}, Label: "boot-ram", Title: "RAM", Kernel: "/boot/k", Params: "copytoram"},
		{Menu: []string{"Options", "Deeper"}, Label: "deep", Title: "deep"},
		{Position: 2, Label: "last", Title: "last"},
	}
	if len(got) != len(want) {
		t.Fatalf("%d entries %+v, want %d", len(got), got, len(want))
	}
	for i := range want {
		if !entryEqual(got[i], want[i]) {
			t.Errorf("entry %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}

func entryEqual(a, b boot.MenuEntry) bool {
	return slices.Equal(a.Menu, b.Menu) && a.Position == b.Position && a.Label == b.Label && a.Title == b.Title && a.Kernel == b.Kernel &&
		a.Initrd == b.Initrd && a.Params == b.Params
}

func TestParseGrub(t *testing.T) {
	cfg := `set timeout=10
if [ "$textmode" == "false" ]; then
  terminal_output gfxterm
fi
hiddenentry 'Text mode' --hotkey 't' {
  set textmode=true
}
menuentry 'NixOS "one"' --class installer --id main {
  # comment { not a block
  linux /boot//nix/store/k/bzImage ${isoboot} init=/x/init a=b  
  initrd /boot//nix/store/i/initrd
}
submenu "Options" --class submenu {
  submenu "Copy \"to\" RAM" --class copytoram {
    menuentry 'RAM' {
      linux /k copytoram
    }
  }
}
menuentry Shutdown --class shutdown {
  halt
}
`
	got := boot.ParseGrub([]byte(cfg))
	want := []boot.MenuEntry{
		{Label: "main", Title: `NixOS "one"`, Kernel: "/boot//nix/store/k/bzImage", Initrd: "/boot//nix/store/i/initrd",
			Params: "${isoboot} init=/x/init a=b"},
		{Menu: []string{"Options", `Copy "to" RAM`}, Title: "RAM", Kernel: "/k", Params: "copytoram"},
		{Position: 2, Title: "Shutdown"},
	}
	if len(got) != len(want) {
		t.Fatalf("%d entries %+v, want %d", len(got), got, len(want))
	}
	for i := range want {
		if !entryEqual(got[i], want[i]) {
			t.Errorf("entry %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}

// TestParseMenusRendered reads the menus the boot package renders for the test system.
func TestParseMenusGolden(t *testing.T) {
	iso, err := os.ReadFile(filepath.Join("testdata", "testsystem", "isolinux.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	grub, err := os.ReadFile(filepath.Join("testdata", "testsystem", "grub.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	if n, want := len(boot.ParseIsolinux(iso)), bytes.Count(iso, []byte("\nLABEL ")); n != want || n == 0 {
		t.Errorf("isolinux.cfg: %d entries, %d LABEL lines", n, want)
	}
	if n, want := len(boot.ParseGrub(grub)), bytes.Count(grub, []byte("menuentry ")); n != want || n == 0 {
		t.Errorf("grub.cfg: %d entries, %d menuentry lines", n, want)
	}
}

// TestParseRendered is the render → parse round trip: the menus Render makes for the test
// system and for a fixture with two specialisations, in every shape of options, read back as
// the entries Render meant, at the positions the harness's arrow keys count.
func TestParseRendered(t *testing.T) {
	real, err := boot.ReadSystem(boot.HostStore, testsystem.Toplevel(t))
	if err != nil {
		t.Fatal(err)
	}
	two, err := boot.ReadSystem(boot.HostStore, twoSpecsSystemd.build(t, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	append_ := " Live"
	for _, tc := range []struct {
		name string
		sys  *boot.System
		opts boot.Options
	}{
		{"testsystem", real, boot.Options{}},
		{"labels", real, boot.Options{PrependToMenuLabel: "Try ", AppendToMenuLabel: &append_, ConfigurationName: "(Main)",
			ConfigurationNames: map[string]string{testsystem.Specialisation: "(Alt 'quoted')"}, NoSerial: true}},
		{"two specialisations", two, boot.Options{VolumeID: "fixture", DefaultEntry: "zeta"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			menus, err := boot.Render(tc.sys, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			configs := append([]*boot.System{tc.sys}, tc.sys.Specialisations...)
			for _, m := range []struct {
				name    string
				entries []boot.MenuEntry
			}{{"isolinux", boot.ParseIsolinux(menus.Isolinux)}, {"grub", boot.ParseGrub(menus.Grub)}} {
				var top []boot.MenuEntry
				options := map[string]int{}
				for _, e := range m.entries {
					switch {
					case len(e.Menu) == 0:
						top = append(top, e)
					case len(e.Menu) == 2 && e.Menu[0] == "Options":
						options[e.Menu[1]]++
					}
				}
				// The main entry and each specialisation's, in order, then the Options
				// submenu (and in GRUB Firmware Setup and Shutdown).
				if len(top) < len(configs) {
					t.Fatalf("%s: %d top-level entries, want at least %d", m.name, len(top), len(configs))
				}
				for i, s := range configs {
					e := top[i]
					title := tc.opts.PrependToMenuLabel + s.DistroName + " " + s.Label
					if tc.opts.AppendToMenuLabel != nil {
						title += *tc.opts.AppendToMenuLabel
					} else {
						title += " Installer"
					}
					if name := tc.opts.ConfigurationNames[s.Name]; s.Name != "" && name != "" {
						title += " " + name
					} else if tc.opts.ConfigurationName != "" && (s.Name == "" || tc.opts.ConfigurationNames[s.Name] == "") {
						title += " " + tc.opts.ConfigurationName
					}
					if e.Position != i || e.Title != title || e.Kernel != "/boot/"+s.Kernel || e.Initrd != "/boot/"+s.Initrd ||
						!strings.Contains(e.Params, "init="+s.Init+" ") {
						t.Errorf("%s: entry %d %+v, want %q booting %s", m.name, i, e, title, s.Init)
					}
				}
				if n := len(options); n != 8 {
					t.Errorf("%s: %d option submenus, want 8: %v", m.name, n, options)
				}
				for sub, n := range options {
					if n != len(configs) {
						t.Errorf("%s: Options/%s has %d entries, want %d", m.name, sub, n, len(configs))
					}
				}
			}
		})
	}
}

// ExampleParseGrub reads a GRUB menu: each entry with the submenus that hold it and its place
// among its menu's items.
func ExampleParseGrub() {
	cfg := `menuentry 'NixOS' --class installer {
  linux /boot/bzImage init=/nix/store/x/init
  initrd /boot/initrd
}
submenu "Options" {
  menuentry 'NixOS (copytoram)' {
    linux /boot/bzImage init=/nix/store/x/init copytoram
  }
}
menuentry 'Shutdown' {
  halt
}
`
	for _, e := range boot.ParseGrub([]byte(cfg)) {
		fmt.Printf("%v %d %q %s\n", e.Menu, e.Position, e.Title, e.Params)
	}
	// Output:
	// [] 0 "NixOS" init=/nix/store/x/init
	// [Options] 0 "NixOS (copytoram)" init=/nix/store/x/init copytoram
	// [] 2 "Shutdown"
}
