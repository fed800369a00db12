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
// system, a fixture with two specialisations and the custom configuration, in every shape of
// options, read back as the entries Render meant (titles written out here, not computed as
// Render does), at the positions the harness's arrow keys count: hidden configurations have no
// entry anywhere, and memtest86+ has one after the Options submenu.
func TestParseRendered(t *testing.T) {
	real, err := boot.ReadSystem(boot.HostStore, testsystem.Toplevel(t))
	if err != nil {
		t.Fatal(err)
	}
	two, err := boot.ReadSystem(boot.HostStore, twoSpecsSystemd.build(t, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	custom, customOpts, _ := customSystem(t)
	customOpts.NoBIOS = false // both menus
	customLabel := "Try NixOS 25.11.20261125.gonixiso Live"
	label := "NixOS 25.11.20261125.gonixiso"
	fixture, latest := "NixOS 25.11.20261125.fixture", "NixOS 25.11.20261125.fixture-latest"
	for _, tc := range []struct {
		name    string
		sys     *boot.System
		opts    boot.Options
		configs []string // the configurations with entries, in order ("" the main one)
		titles  []string // their titles
		memtest string   // memtest86+'s parameters, "-" for no entry
	}{
		{"testsystem", real, boot.Options{}, []string{"", "alt"},
			[]string{label + " Installer", label + " Installer"}, "-"},
		{"labels", real, boot.Options{PrependToMenuLabel: "Try ", AppendToMenuLabel: ptr(" Live"), ConfigurationName: "(Main)",
			Entries: map[string]boot.EntryOptions{testsystem.Specialisation: {ConfigurationName: ptr("(Alt 'quoted')"),
				PrependToMenuLabel: ptr("")}}, NoSerial: true},
			[]string{"", "alt"}, []string{"Try " + label + " Live (Main)", label + " Live (Alt 'quoted')"}, "-"},
		{"two specialisations", two, boot.Options{VolumeID: "fixture", DefaultEntry: "zeta"},
			[]string{"", "latest_kernel", "zeta"}, []string{fixture + " Installer", latest + " Installer", fixture + " Installer"}, "-"},
		{"hidden main", two, boot.Options{VolumeID: "fixture", Memtest: "/m", Entries: map[string]boot.EntryOptions{
			"": {Hidden: true}, "zeta": {AppendToMenuLabel: ptr(" Z"), ConfigurationName: ptr("")}}, ConfigurationName: "(C)"},
			[]string{"latest_kernel", "zeta"}, []string{latest + " Installer (C)", fixture + " Z"}, ""},
		{"hidden specialisation", two, boot.Options{VolumeID: "fixture", DefaultEntry: "zeta",
			Entries: map[string]boot.EntryOptions{"latest_kernel": {Hidden: true}}},
			[]string{"", "zeta"}, []string{fixture + " Installer", fixture + " Installer"}, "-"},
		{"custom", custom, customOpts, []string{"", "alt"},
			[]string{customLabel + " (Custom)", customLabel + " alt (Alternative)"}, "console=ttyS0,115200"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			menus, err := boot.Render(tc.sys, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			byName := map[string]*boot.System{}
			for _, s := range append([]*boot.System{tc.sys}, tc.sys.Specialisations...) {
				byName[s.Name] = s
			}
			hidden := map[string]bool{}
			for name, s := range byName {
				if !slices.Contains(tc.configs, name) {
					hidden["init="+s.Init] = true
				}
			}
			for _, m := range []struct {
				name    string
				entries []boot.MenuEntry
				memtest string // the memtest entry's kernel
			}{{"isolinux", boot.ParseIsolinux(menus.Isolinux), "/boot/memtest.bin"}, {"grub", boot.ParseGrub(menus.Grub), "($root)/boot/memtest.bin"}} {
				var top []boot.MenuEntry
				options := map[string]int{}
				for _, e := range m.entries {
					switch {
					case len(e.Menu) == 0:
						top = append(top, e)
					case len(e.Menu) == 2 && e.Menu[0] == "Options":
						options[e.Menu[1]]++
					}
					if init, _, _ := strings.Cut(strings.TrimPrefix(e.Params, "${isoboot} "), " "); hidden[init] {
						t.Errorf("%s: an entry boots a hidden configuration: %+v", m.name, e)
					}
				}
				// The entries of the configurations shown, in order, then the Options
				// submenu, memtest86+ (and in GRUB Firmware Setup and Shutdown).
				if len(top) < len(tc.configs) {
					t.Fatalf("%s: %d top-level entries, want at least %d", m.name, len(top), len(tc.configs))
				}
				for i, name := range tc.configs {
					s, e := byName[name], top[i]
					if e.Position != i || e.Title != tc.titles[i] || e.Kernel != "/boot/"+s.Kernel || e.Initrd != "/boot/"+s.Initrd ||
						!strings.Contains(e.Params, "init="+s.Init+" ") {
						t.Errorf("%s: entry %d %+v, want %q booting %s", m.name, i, e, tc.titles[i], s.Init)
					}
				}
				rest := top[len(tc.configs):]
				if tc.memtest == "-" {
					if slices.ContainsFunc(rest, func(e boot.MenuEntry) bool { return strings.Contains(e.Title, "Memtest") }) {
						t.Errorf("%s: a memtest86+ entry without Options.Memtest: %+v", m.name, rest)
					}
				} else if len(rest) == 0 || rest[0].Title != "Memtest86+" || rest[0].Kernel != m.memtest ||
					rest[0].Params != tc.memtest || rest[0].Position != len(tc.configs)+1 {
					t.Errorf("%s: entries after the configurations' %+v, want Memtest86+ booting %s %s at %d",
						m.name, rest, m.memtest, tc.memtest, len(tc.configs)+1)
				}
				if n := len(options); n != 8 {
					t.Errorf("%s: %d option submenus, want 8: %v", m.name, n, options)
				}
				for sub, n := range options {
					if n != len(tc.configs) {
						t.Errorf("%s: Options/%s has %d entries, want %d", m.name, sub, n, len(tc.configs))
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
