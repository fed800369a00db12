package boot_test

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gonixiso/gonixiso/boot"
	"github.com/gonixiso/gonixiso/internal/testsystem"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/<name>, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		must(t, os.MkdirAll(filepath.Dir(path), 0o755))
		must(t, os.WriteFile(path, got, 0o644))
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		gotPath := filepath.Join(t.TempDir(), filepath.Base(name))
		must(t, os.WriteFile(gotPath, got, 0o644))
		out, _ := exec.Command("diff", "-u", path, gotPath).CombinedOutput()
		t.Errorf("%s differs from the golden file (go test -update rewrites it):\n%s", name, out)
	}
}

// grubScriptCheck checks a GRUB configuration with grub-script-check.
func grubScriptCheck(t *testing.T, name string, cfg []byte) {
	t.Helper()
	testsystem.Require(t, "grub-script-check")
	p := filepath.Join(t.TempDir(), name)
	must(t, os.WriteFile(p, cfg, 0o644))
	if out, err := exec.Command("grub-script-check", p).CombinedOutput(); err != nil {
		t.Errorf("grub-script-check %s: %v\n%s", name, err, out)
	}
}

// TestGolden renders the menus of the test system, of a system with two specialisations and
// a systemd initrd, and of the test flake's custom configuration, and compares them with the
// golden files. The "nixpkgs" case is nixpkgs' configuration (no serial menu, splash images): its
// files were checked byte for byte against Nix's own evaluation of iso-image.nix's templates
// (faukah/nixpkgs@3b20077) for the same system. The "custom" case takes every option from the
// custom configuration's spec, with BIOS boot added so that isolinux.cfg shows its syslinux
// theme, splash image and memtest86+ entry; "hidden-main" hides the main configuration of the
// two-specialisation system and has a GRUB theme with three fonts and memtest86+ without
// parameters. Their new parts (hidden configurations, per-configuration labels, syslinux
// theme, GRUB theme, memtest86+ in both menus) were compared once, for a mock system without
// serial menu, with Nix's evaluation of current iso-image.nix's templates
// (NixOS/nixpkgs@ccdd20e, run through bash as its heredoc is): the same bytes but for the two
// documented differences, DEFAULT with the main configuration hidden and the fonts' order
// (find's, which put sub/c.pf2 before fonts/b.pf2 there).
func TestGolden(t *testing.T) {
	real := testsystem.Toplevel(t)
	root := t.TempDir()
	fixtureTop := twoSpecsSystemd.build(t, root)
	wait := -1
	customSys, custom, customSpec := customSystem(t)
	custom.NoBIOS = false
	theme, err := boot.ReadGrubTheme(boot.HostStore, fixtureTheme(t, filepath.Join(root, fixtureHash+"-theme")))
	must(t, err)
	for _, tc := range []struct {
		name, top string
		opts      boot.Options
		volumeID  string
		systemd   bool
	}{
		{"testsystem", real, boot.Options{}, testsystem.VolumeID, false},
		{"testsystem-nixpkgs", real, boot.Options{NoSerial: true, SplashImage: "/nix/store/bios-boot.png",
			EFISplashImage: "/nix/store/efi-background.png"}, testsystem.VolumeID, false},
		{"custom", customSys.Toplevel, custom, customSpec.ISOImage.VolumeID, false},
		{"hidden-main", fixtureTop, boot.Options{
			VolumeID:  "fixture",
			Entries:   map[string]boot.EntryOptions{"": {Hidden: true}},
			GrubTheme: theme,
			Memtest:   "/nix/store/memtest.efi",
		}, "fixture", true},
		{"two-specialisations-systemd-initrd", fixtureTop, boot.Options{
			VolumeID:          "nixos-fixture-25.11-x86_64",
			Timeout:           &wait,
			DefaultEntry:      "zeta",
			ConfigurationName: "(Linux LTS)",
			Entries:           map[string]boot.EntryOptions{"latest_kernel": {ConfigurationName: ptr("(Linux latest)")}},
		}, "nixos-fixture-25.11-x86_64", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sys, err := boot.ReadSystem(boot.HostStore, tc.top)
			if err != nil {
				t.Fatal(err)
			}
			m, err := boot.Render(sys, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if m.VolumeID != tc.volumeID || m.SystemdInitrd != tc.systemd {
				t.Errorf("volume id %q, systemd initrd %v; want %q, %v", m.VolumeID, m.SystemdInitrd, tc.volumeID, tc.systemd)
			}
			if (m.Loopback == nil) != tc.systemd {
				t.Errorf("loopback.cfg %q with systemd initrd %v", m.Loopback, tc.systemd)
			}
			norm := func(b []byte) []byte { return bytes.ReplaceAll(b, []byte(root), []byte("/nix/store")) }
			golden(t, tc.name+"/isolinux.cfg", norm(m.Isolinux))
			golden(t, tc.name+"/grub.cfg", norm(m.Grub))
			golden(t, tc.name+"/grub-embedded.cfg", m.GrubEmbedded)
			grubScriptCheck(t, "grub.cfg", m.Grub)
			grubScriptCheck(t, "grub-embedded.cfg", m.GrubEmbedded)
		})
	}
}

// fixtureTheme writes a GRUB theme into dir: theme.txt, an image and three fonts, one with an
// upper-case extension and two in subfolders, and returns dir.
func fixtureTheme(t *testing.T, dir string) string {
	t.Helper()
	for name, content := range map[string]string{
		"theme.txt":      "title-text: \"fixture\"\n",
		"background.png": "PNG",
		"a.PF2":          "PFF2",
		"fonts/b.pf2":    "PFF2",
		"sub/c.pf2":      "PFF2",
		"sub/readme":     "not a font",
	} {
		p := filepath.Join(dir, name)
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		write(t, p, content)
	}
	return dir
}

// TestMenuStructure checks, independently of the golden files, what the issue asks of the
// menus: the main entry, then each specialisation sorted by name, the Options submenu with its
// eight entries per configuration, and the serial console.
func TestMenuStructure(t *testing.T) {
	top := twoSpecsSystemd.build(t, t.TempDir())
	sys, err := boot.ReadSystem(boot.HostStore, top)
	if err != nil {
		t.Fatal(err)
	}
	m, err := boot.Render(sys, boot.Options{VolumeID: "x"})
	if err != nil {
		t.Fatal(err)
	}
	iso, grub := string(m.Isolinux), string(m.Grub)
	var labels []string
	for _, line := range strings.Split(iso, "\n") {
		if l, ok := strings.CutPrefix(line, "LABEL "); ok {
			labels = append(labels, l)
		}
	}
	want := []string{"boot", "boot-latest_kernel", "boot-zeta"}
	for _, class := range []string{"copytoram", "nomodeset", "debug", "quirk-disable-displaymanager", "rotate-90cw", "rotate-180", "rotate-90ccw", "serial"} {
		want = append(want, "boot-"+class, "boot-"+class+"-latest_kernel", "boot-"+class+"-zeta")
	}
	if strings.Join(labels, " ") != strings.Join(want, " ") {
		t.Errorf("isolinux labels\n%q\nwant\n%q", labels, want)
	}
	for _, s := range []string{"SERIAL 0 115200\n", "TIMEOUT 100\n", "DEFAULT boot\n",
		"APPEND init=" + sys.Specialisations[1].Init + " console=ttyS0,115200 loglevel=4 rd.systemd.show_status=auto zeta=1 \n",
		"APPEND init=" + sys.Init + " console=ttyS0,115200 loglevel=4 rd.systemd.show_status=auto systemd.mask=display-manager.service plymouth.enable=0\n",
		"LINUX /boot/" + sys.Kernel + "\n", "INITRD /boot/" + sys.Initrd + "\n"} {
		if !strings.Contains(iso, s) {
			t.Errorf("isolinux.cfg lacks %q", s)
		}
	}
	// The top level and each of the eight Options submenus list the main entry and the two
	// specialisations; latest_kernel has a label of its own.
	if n := strings.Count(grub, "menuentry 'NixOS 25.11.20261125.fixture Installer' --class installer {"); n != 2*9 {
		t.Errorf("%d entries with the main label, want 18", n)
	}
	if n := strings.Count(grub, "menuentry 'NixOS 25.11.20261125.fixture-latest Installer' --class installer {"); n != 9 {
		t.Errorf("%d entries of latest_kernel, want 9", n)
	}
	for _, s := range []string{"set timeout=10\n", "serial --unit=0 --speed=115200\n",
		"  terminal_output gfxterm serial\n  terminal_input  console\n",
		"submenu \"Options\" --class submenu --class hidpi {\n",
		"submenu \"Serial console=ttyS0,115200n8\" --class serial {\n",
		"  linux /boot/" + sys.Kernel + " ${isoboot} init=" + sys.Init + " console=ttyS0,115200 loglevel=4 rd.systemd.show_status=auto copytoram\n"} {
		if !strings.Contains(grub, s) {
			t.Errorf("grub.cfg lacks %q", s)
		}
	}
	if strings.Contains(grub, "set default=") {
		t.Error("grub.cfg sets a default without Options.DefaultEntry")
	}
}

// TestLegacyToplevel reads a toplevel without boot.json (older NixOS): links to the test
// system's kernel, initrd and init, its kernel-params, nixos-version and os-release, and a
// specialisation link. It must give the same system and the same menus as the test system's
// boot.json, but for the toplevel paths.
func TestLegacyToplevel(t *testing.T) {
	realTop := testsystem.Toplevel(t)
	real, err := boot.ReadSystem(boot.HostStore, realTop)
	if err != nil {
		t.Fatal(err)
	}
	if !real.Bootspec || len(real.Specialisations) != 1 || !real.Specialisations[0].Bootspec {
		t.Fatalf("the test system was not read from boot.json: %+v", real)
	}
	alt := real.Specialisations[0]
	legacy := fixture{
		name: "legacy",
		main: config{params: real.KernelParams, label: real.Label, distro: real.DistroName},
		specs: map[string]config{
			alt.Name: {params: alt.KernelParams, label: alt.Label, distro: alt.DistroName},
		},
	}
	top := legacy.build(t, t.TempDir())
	sys, err := boot.ReadSystem(boot.HostStore, top)
	if err != nil {
		t.Fatal(err)
	}
	if sys.Bootspec || sys.Specialisations[0].Bootspec {
		t.Fatal("the legacy fixture was read as bootspec")
	}
	for _, pair := range [][2]*boot.System{{sys, real}, {sys.Specialisations[0], alt}} {
		got, want := *pair[0], *pair[1]
		if got.Init != got.Toplevel+"/init" {
			t.Errorf("init %s, want %s/init", got.Init, got.Toplevel)
		}
		got.Toplevel, got.Init, got.Bootspec, got.Specialisations = want.Toplevel, want.Init, want.Bootspec, want.Specialisations
		got.ExtraDependencies = want.ExtraDependencies
		if !equalSystems(&got, &want) {
			t.Errorf("legacy read\n%+v\nwant\n%+v", got, want)
		}
	}
	mLegacy, err := boot.Render(sys, boot.Options{})
	if err != nil {
		t.Fatal(err)
	}
	mReal, err := boot.Render(real, boot.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// The specialisation's path first: the main one is a prefix of it.
	r := strings.NewReplacer(sys.Specialisations[0].Toplevel, alt.Toplevel, sys.Toplevel, real.Toplevel)
	if r.Replace(string(mLegacy.Isolinux)) != string(mReal.Isolinux) || r.Replace(string(mLegacy.Grub)) != string(mReal.Grub) {
		t.Error("the legacy toplevel's menus differ from boot.json's")
	}
}

func equalSystems(a, b *boot.System) bool {
	return a.Toplevel == b.Toplevel && a.Name == b.Name && a.Init == b.Init && a.Kernel == b.Kernel &&
		a.Initrd == b.Initrd && strings.Join(a.KernelParams, " ") == strings.Join(b.KernelParams, " ") &&
		a.Label == b.Label && a.DistroName == b.DistroName && a.Platform == b.Platform && a.Bootspec == b.Bootspec
}

// TestRenderErrors: the volume id must be known and agree, and the options must make sense.
func TestRenderErrors(t *testing.T) {
	sys := func(params ...string) *boot.System {
		return &boot.System{Toplevel: "/nix/store/x-system", Init: "/nix/store/x-system/init", Kernel: "/k", Initrd: "/i",
			KernelParams: params, Label: "25.11", DistroName: "NixOS"}
	}
	withSpec := sys("root=LABEL=a")
	withSpec.Specialisations = []*boot.System{sys("root=LABEL=b")}
	withSpec.Specialisations[0].Name = "b"
	twoConfigs := sys("root=LABEL=a")
	twoConfigs.Specialisations = []*boot.System{sys("root=LABEL=a")}
	twoConfigs.Specialisations[0].Name = "b"
	long := strings.Repeat("x", 33)
	big, negative := 4000, -5
	for _, tc := range []struct {
		name string
		sys  *boot.System
		opts boot.Options
		want string
	}{
		{"systemd without volume id", sys("quiet"), boot.Options{}, "the volume id must be given"},
		{"volume id disagrees", sys("root=LABEL=a"), boot.Options{VolumeID: "b"}, `volume id "b" does not match root=LABEL=a`},
		{"specialisations disagree", withSpec, boot.Options{}, "all specialisations must use the same volume id"},
		{"volume id too long", sys(), boot.Options{VolumeID: long}, "want 1 to 32 bytes"},
		{"volume id with space", sys(), boot.Options{VolumeID: "a b"}, "printable ASCII"},
		{"unknown default", sys("root=LABEL=a"), boot.Options{DefaultEntry: "nope"}, `default entry "nope"`},
		{"timeout", sys("root=LABEL=a"), boot.Options{Timeout: &big}, "timeout of 4000 s"},
		{"nothing to boot", sys("root=LABEL=a"), boot.Options{NoBIOS: true, NoUEFI: true}, "neither BIOS nor UEFI"},
		{"control character", sys("root=LABEL=a"), boot.Options{ConfigurationName: "a\nb"}, "control character"},
		{"control character of a specialisation", twoConfigs, boot.Options{Entries: map[string]boot.EntryOptions{
			"b": {AppendToMenuLabel: ptr("\x1b")}}}, "control character"},
		{"unknown entry", twoConfigs, boot.Options{Entries: map[string]boot.EntryOptions{"c": {}}},
			`options of entry "c": /nix/store/x-system has no such specialisation`},
		{"all hidden", twoConfigs, boot.Options{Entries: map[string]boot.EntryOptions{"": {Hidden: true}, "b": {Hidden: true}}},
			"every configuration of /nix/store/x-system is hidden"},
		{"hidden default", twoConfigs, boot.Options{DefaultEntry: "b", Entries: map[string]boot.EntryOptions{"b": {Hidden: true}}},
			`default entry "b" is hidden`},
		{"syslinux theme", sys("root=LABEL=a"), boot.Options{SyslinuxTheme: ptr("MENU TITLE \x00")}, "syslinux theme"},
		{"memtest parameter", sys("root=LABEL=a"), boot.Options{Memtest: "/m", MemtestParams: []string{"a b"}}, "memtest86+: kernel parameter \"a b\""},
		{"theme font", sys("root=LABEL=a"), boot.Options{GrubTheme: &boot.GrubTheme{Dir: "/t", Files: []string{"theme.txt"}, Fonts: []string{"../a.pf2"}}},
			"GRUB theme /t: file name \"../a.pf2\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := boot.Render(tc.sys, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	// A negative timeout waits: nixpkgs' null.
	m, err := boot.Render(sys("root=LABEL=a"), boot.Options{Timeout: &negative})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(m.Isolinux, []byte("\nTIMEOUT 35996\n")) || !bytes.Contains(m.Grub, []byte("\nset timeout=-1\n")) {
		t.Error("a negative timeout does not wait")
	}
}

// TestGrubQuoting: odd text stays one word for GRUB, and grub-script-check accepts it.
func TestGrubQuoting(t *testing.T) {
	s := &boot.System{Toplevel: "/nix/store/x-system", Init: "/nix/store/x-system/init", Kernel: "/nix/store/k/bzImage",
		Initrd: "/nix/store/i/initrd", KernelParams: []string{"root=LABEL=a", `x="$y;{z}"`, "it's"},
		Label: "25.11 'quoted'", DistroName: "NixOS"}
	m, err := boot.Render(s, boot.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`'x="$y;{z}"' 'it'\''s'`, `menuentry 'NixOS 25.11 '\''quoted'\'' Installer'`} {
		if !bytes.Contains(m.Grub, []byte(want)) {
			t.Errorf("grub.cfg lacks %s", want)
		}
	}
	grubScriptCheck(t, "grub.cfg", m.Grub)
}

// TestMenuOptions checks, independently of the golden files, what each option of the spec
// changes in the menus: the splash images, the syslinux and GRUB themes, memtest86+ and the
// default entry of a system whose main configuration is hidden.
func TestMenuOptions(t *testing.T) {
	root := t.TempDir()
	two, err := boot.ReadSystem(boot.HostStore, twoSpecsSystemd.build(t, root))
	must(t, err)
	theme, err := boot.ReadGrubTheme(boot.HostStore, fixtureTheme(t, filepath.Join(root, "theme")))
	must(t, err)
	render := func(opts boot.Options) (iso, grub string) {
		t.Helper()
		opts.VolumeID = "fixture"
		m, err := boot.Render(two, opts)
		must(t, err)
		grubScriptCheck(t, "grub.cfg", m.Grub)
		return string(m.Isolinux), string(m.Grub)
	}
	has := func(name, text, s string, want bool) {
		t.Helper()
		if strings.Contains(text, s) != want {
			t.Errorf("%s has %q: %v, want %v", name, s, !want, want)
		}
	}

	iso, grub := render(boot.Options{})
	has("isolinux.cfg", iso, "MENU BACKGROUND", false)
	has("isolinux.cfg", iso, "UI vesamenu.c32\n\nMENU TITLE NixOS\nMENU RESOLUTION 800 600\n", true)
	has("grub.cfg", grub, "background_image", false)
	for _, s := range []string{"memtest", "Memtest", "theme", "GUI mode"} {
		has("isolinux.cfg", iso, s, false)
		has("grub.cfg", grub, s, false)
	}

	iso, grub = render(boot.Options{SplashImage: "/s.png", EFISplashImage: "/e.png", SyslinuxTheme: ptr("MENU TITLE x\n")})
	has("isolinux.cfg", iso, "UI vesamenu.c32\nMENU BACKGROUND /isolinux/background.png\n\nMENU TITLE x\n\n\nDEFAULT boot\n", true)
	has("grub.cfg", grub, "if background_image ($root)/EFI/BOOT/efi-background.png; then\n", true)

	// A theme takes the place of the background image, in every submenu too (ten copies of
	// the menu configuration).
	_, grub = render(boot.Options{EFISplashImage: "/e.png", GrubTheme: theme})
	has("grub.cfg", grub, "background_image", false)
	fonts := "loadfont ($root)/EFI/BOOT/grub-theme/a.PF2\nloadfont ($root)/EFI/BOOT/grub-theme/fonts/b.pf2\nloadfont ($root)/EFI/BOOT/grub-theme/sub/c.pf2\n"
	for _, s := range []string{
		"# Sets theme.\nset theme=($root)/EFI/BOOT/grub-theme/theme.txt\n# Load theme fonts\n" + fonts,
		"hiddenentry 'GUI mode' --hotkey 'g' {\n  " + fonts + "  set textmode=false\n  terminal_output gfxterm serial\n}\n",
	} {
		if n := strings.Count(grub, s); n != 10 {
			t.Errorf("grub.cfg has %d times %q, want 10", n, s)
		}
	}

	iso, grub = render(boot.Options{Memtest: "/nix/store/m/memtest.efi", MemtestParams: []string{"console=ttyS0,115200", "smp"}})
	if !strings.HasSuffix(iso, "MENU END\n\nLABEL memtest\nMENU LABEL Memtest86+\nLINUX /boot/memtest.bin\nAPPEND console=ttyS0,115200 smp\n") {
		t.Errorf("isolinux.cfg does not end with the memtest86+ entry:\n%s", iso[max(0, len(iso)-200):])
	}
	has("grub.cfg", grub, "}\n\n\nmenuentry 'Memtest86+' --class debug {\n  linux ($root)/boot/memtest.bin console=ttyS0,115200 smp\n}\n\nmenuentry 'Firmware Setup'", true)

	// With the main configuration hidden, the first entry shown is the default, unless one is
	// named.
	hideMain := map[string]boot.EntryOptions{"": {Hidden: true}}
	iso, grub = render(boot.Options{Entries: hideMain})
	has("isolinux.cfg", iso, "\nDEFAULT boot-latest_kernel\n", true)
	has("isolinux.cfg", iso, "\nLABEL boot\n", false)
	has("grub.cfg", grub, "set default=", false)
	iso, grub = render(boot.Options{Entries: hideMain, DefaultEntry: "zeta"})
	has("isolinux.cfg", iso, "\nDEFAULT boot-zeta\n", true)
	has("grub.cfg", grub, "\nset default=1\n", true)
	_, grub = render(boot.Options{Entries: map[string]boot.EntryOptions{"latest_kernel": {Hidden: true}}, DefaultEntry: "zeta"})
	has("grub.cfg", grub, "\nset default=1\n", true)
}
