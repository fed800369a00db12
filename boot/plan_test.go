package boot_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gonixiso/gonixiso/boot"
	"github.com/gonixiso/gonixiso/boot/fat"
	"github.com/gonixiso/gonixiso/internal/testsystem"
)

func testPlan(t *testing.T, opts boot.Options) (*boot.System, *boot.Plan) {
	t.Helper()
	top := testsystem.Toplevel(t)
	sys, err := boot.ReadSystem(boot.HostStore, top)
	if err != nil {
		t.Fatal(err)
	}
	if opts.StorePaths == nil {
		opts.StorePaths = testsystem.Closure(t, top)
	}
	plan, err := boot.NewPlan(context.Background(), boot.HostStore, sys, opts)
	if err != nil {
		t.Fatal(err)
	}
	return sys, plan
}

func planPaths(p *boot.Plan) []string {
	var paths []string
	for _, f := range p.Files {
		paths = append(paths, f.Path)
	}
	return paths
}

func readAll(t *testing.T, f *boot.File) []byte {
	t.Helper()
	r, err := f.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestPlanTestSystem plans the test system's boot files and holds them against the ISO that
// scripts/nixpkgs-iso makes the nixpkgs way: the same files at the same paths, from the same
// store paths, with the same version.txt and loopback.cfg, and an efi.img of the same size.
func TestPlanTestSystem(t *testing.T) {
	testsystem.Require(t, "xorriso", "fsck.fat")
	sys, plan := testPlan(t, boot.Options{})
	if plan.VolumeID != testsystem.VolumeID {
		t.Errorf("volume id %q, want %q", plan.VolumeID, testsystem.VolumeID)
	}
	if l := plan.Loaders; l.SyslinuxFrom != boot.FromClosure || l.GrubFrom != boot.FromClosure ||
		!strings.HasPrefix(l.SyslinuxDir, "/nix/store/") || !strings.HasPrefix(l.GrubMkimage, sys.ExtraDependencies[0]) {
		t.Errorf("loaders not from the closure: %+v", l)
	}
	mbr, err := os.ReadFile(filepath.Join(plan.Loaders.SyslinuxDir, "isohdpfx.bin"))
	if err != nil {
		t.Fatal(err)
	}
	want := boot.BootConfig{
		BIOSBootFile: "/isolinux/isolinux.bin", Catalog: "/.boot.cat", HybridMBR: mbr,
		EFIImage: "/boot/efi.img", Marker: "/EFI/nixos-installer-image",
	}
	if !reflect.DeepEqual(plan.Boot, want) {
		t.Errorf("boot config %+v, want %+v", plan.Boot, want)
	}
	if !slices.IsSortedFunc(plan.Files, func(a, b boot.File) int { return strings.Compare(a.Path, b.Path) }) {
		t.Error("files not sorted")
	}

	// The same files as the reference ISO, but for the SquashFS.
	ref := testsystem.BaselineISO(t)
	out, err := exec.Command("xorriso", "-indev", ref, "-find", "/", "-type", "f").Output()
	if err != nil {
		t.Fatal(err)
	}
	var refFiles []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if p := strings.Trim(l, "'"); p != "/nix-store.squashfs" {
			refFiles = append(refFiles, p)
		}
	}
	slices.Sort(refFiles)
	if got := planPaths(plan); !slices.Equal(got, refFiles) {
		t.Errorf("plan files\n%q\nreference ISO's\n%q", got, refFiles)
	}

	parts := testsystem.BaselineParts(t)
	for path, part := range map[string]string{
		"/version.txt":            "version.txt",
		"/boot/grub/loopback.cfg": "loopback.cfg",
		"/EFI/BOOT/unicode.pf2":   "efiDir/EFI/BOOT/unicode.pf2",
	} {
		refData, err := os.ReadFile(filepath.Join(parts, part))
		if err != nil {
			t.Fatal(err)
		}
		if got := readAll(t, plan.File(path)); !bytes.Equal(got, refData) {
			t.Errorf("%s: %q, want %q", path, trim(got), trim(refData))
		}
	}
	for _, src := range []string{sys.Kernel, sys.Initrd} {
		if f := plan.File("/boot" + src); f == nil || f.Source != src {
			t.Errorf("no /boot%s from %s: %+v", src, src, f)
		}
	}
	for _, f := range plan.Files {
		if f.Mode != 0o444 {
			t.Errorf("%s: mode %o", f.Path, f.Mode)
		}
	}
	refESP, err := os.Stat(filepath.Join(parts, "efi.img"))
	if err != nil {
		t.Fatal(err)
	}
	esp := plan.File("/boot/efi.img")
	if int64(len(esp.Data)) != refESP.Size() {
		t.Errorf("efi.img of %d bytes, nixpkgs' of %d", len(esp.Data), refESP.Size())
	}
	checkESP(t, plan, boot.DefaultEpoch)

	// BOOTX64.EFI carries the embedded configuration.
	bootx := plan.File("/EFI/BOOT/BOOTX64.EFI").Data
	if !bytes.Contains(bootx, plan.Menus.GrubEmbedded) {
		t.Error("BOOTX64.EFI does not hold the embedded configuration")
	}
}

func trim(b []byte) []byte {
	if len(b) > 60 {
		return b[:60]
	}
	return b
}

// checkESP reads efi.img back: a clean FAT volume EFIBOOT 1234-5678 holding the plan's
// BOOTX64.EFI and grub.cfg, nothing else.
func checkESP(t *testing.T, plan *boot.Plan, date time.Time) {
	t.Helper()
	esp := plan.File("/boot/efi.img").Data
	r, err := fat.NewReader(bytes.NewReader(esp), int64(len(esp)))
	if err != nil {
		t.Fatal(err)
	}
	if r.Label != "EFIBOOT" || r.VolumeID != 0x12345678 {
		t.Errorf("efi.img label %q serial %08X", r.Label, r.VolumeID)
	}
	for name, want := range map[string][]byte{
		"EFI/BOOT/BOOTX64.EFI": plan.File("/EFI/BOOT/BOOTX64.EFI").Data,
		"EFI/BOOT/grub.cfg":    plan.Menus.Grub,
	} {
		got, err := r.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(got)
		info, _ := got.Stat()
		if !bytes.Equal(data, want) || !info.ModTime().Equal(date) {
			t.Errorf("efi.img %s: %d bytes dated %s", name, len(data), info.ModTime())
		}
	}
	ents, err := r.ReadDir("EFI/BOOT")
	if err != nil || len(ents) != 2 {
		t.Errorf("efi.img EFI/BOOT holds %d entries (%v)", len(ents), err)
	}
	p := filepath.Join(t.TempDir(), "efi.img")
	must(t, os.WriteFile(p, esp, 0o644))
	if out, err := exec.Command("fsck.fat", "-n", "-v", p).CombinedOutput(); err != nil ||
		bytes.Contains(out, []byte("Reclaim")) || bytes.Contains(out, []byte("arning")) {
		t.Errorf("fsck.fat -n -v efi.img: %v\n%s", err, out)
	}
}

// TestPlanDeterministic: two plans of the same system are the same bytes, grub-mkimage's
// BOOTX64.EFI and the EFI system partition included.
func TestPlanDeterministic(t *testing.T) {
	_, a := testPlan(t, boot.Options{})
	_, b := testPlan(t, boot.Options{})
	if !slices.Equal(planPaths(a), planPaths(b)) {
		t.Fatal("file lists differ")
	}
	for i := range a.Files {
		if !bytes.Equal(readAll(t, &a.Files[i]), readAll(t, &b.Files[i])) {
			t.Errorf("%s differs between two plans", a.Files[i].Path)
		}
	}
}

// TestPlanVariants: BIOS or UEFI alone, splash images, and a systemd initrd.
func TestPlanVariants(t *testing.T) {
	hasPrefix := func(p *boot.Plan, prefix string) bool {
		return slices.ContainsFunc(p.Files, func(f boot.File) bool { return strings.HasPrefix(f.Path, prefix) })
	}
	_, biosOnly := testPlan(t, boot.Options{NoUEFI: true})
	if hasPrefix(biosOnly, "/EFI") || biosOnly.File("/boot/efi.img") != nil || biosOnly.File("/boot/grub/loopback.cfg") != nil ||
		biosOnly.Boot.EFIImage != "" || biosOnly.Boot.Marker != "" || biosOnly.Boot.BIOSBootFile == "" {
		t.Errorf("BIOS-only plan: %q %+v", planPaths(biosOnly), biosOnly.Boot)
	}
	_, uefiOnly := testPlan(t, boot.Options{NoBIOS: true})
	if hasPrefix(uefiOnly, "/isolinux") || uefiOnly.Boot.BIOSBootFile != "" || uefiOnly.Boot.HybridMBR != nil ||
		uefiOnly.Boot.EFIImage == "" || uefiOnly.Loaders.Syslinux != nil {
		t.Errorf("UEFI-only plan: %q %+v", planPaths(uefiOnly), uefiOnly.Boot)
	}

	splash := filepath.Join(t.TempDir(), "splash.png")
	must(t, os.WriteFile(splash, []byte("PNG"), 0o644))
	_, withSplash := testPlan(t, boot.Options{SplashImage: splash, EFISplashImage: splash})
	for _, p := range []string{"/isolinux/background.png", "/EFI/BOOT/efi-background.png"} {
		if f := withSplash.File(p); f == nil || f.Source != splash || f.Mode != 0o644 {
			t.Errorf("%s: %+v", p, f)
		}
	}

	// Options.Time dates efi.img's files; FAT cannot go before 1980.
	for _, tc := range []struct{ time, want time.Time }{
		{time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC), time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)},
		{time.Unix(0, 0), boot.DefaultEpoch},
	} {
		_, dated := testPlan(t, boot.Options{Time: tc.time, NoBIOS: true})
		checkESP(t, dated, tc.want)
	}

	sys, err := boot.ReadSystem(boot.HostStore, twoSpecsSystemd.build(t, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	plan, err := boot.NewPlan(context.Background(), boot.HostStore, sys, boot.Options{VolumeID: "fixture", HostBootloaders: true})
	if err != nil {
		t.Fatal(err)
	}
	if plan.File("/boot/grub/loopback.cfg") != nil {
		t.Error("a systemd initrd system has a loopback.cfg")
	}
	// Three configurations share one kernel and one initrd: one copy each.
	if n := len(slices.DeleteFunc(planPaths(plan), func(p string) bool { return !strings.HasPrefix(p, "/boot/nix/store/") })); n != 2 {
		t.Errorf("%d kernels and initrds, want 2", n)
	}
	// The fixture has no sw and no extra-dependencies: the loaders come from the host.
	if plan.Loaders.SyslinuxFrom != boot.FromHost || plan.Loaders.GrubFrom != boot.FromHost {
		t.Errorf("loaders %+v, want the host's", plan.Loaders)
	}
	checkESP(t, plan, boot.DefaultEpoch)
}

// TestPlanLoaderOptions: folders given in the options win, and are checked.
func TestPlanLoaderOptions(t *testing.T) {
	_, ref := testPlan(t, boot.Options{})
	grubPrefix := strings.TrimSuffix(ref.Loaders.GrubMkimage, "/bin/grub-mkimage")
	_, plan := testPlan(t, boot.Options{Syslinux: ref.Loaders.SyslinuxDir, Grub: grubPrefix})
	if plan.Loaders.SyslinuxFrom != boot.FromOption || plan.Loaders.GrubFrom != boot.FromOption {
		t.Errorf("loaders %+v, want the options'", plan.Loaders)
	}

	sys, err := boot.ReadSystem(boot.HostStore, testsystem.Toplevel(t))
	if err != nil {
		t.Fatal(err)
	}
	partial := t.TempDir()
	must(t, os.WriteFile(filepath.Join(partial, "isolinux.bin"), []byte("x"), 0o644))
	for _, tc := range []struct {
		opts boot.Options
		want string
	}{
		{boot.Options{Syslinux: partial}, "lacks ldlinux.c32, vesamenu.c32, libcom32.c32, libutil.c32, isohdpfx.bin"},
		{boot.Options{Grub: partial}, "lacks " + partial + "/bin/grub-mkimage"},
		{boot.Options{Grub: t.TempDir() + "/nonexistent"}, "x86_64-efi/fat.mod"},
	} {
		_, err := boot.NewPlan(context.Background(), boot.HostStore, sys, tc.opts)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want one containing %q", err, tc.want)
		}
	}
}

// TestReadSystemErrors breaks toplevels in the ways the issue names and checks that the error
// names the file, and for boot.json the field.
func TestReadSystemErrors(t *testing.T) {
	legacy := fixture{name: "broken", main: config{params: []string{"root=LABEL=x"}, label: "1", distro: "NixOS"},
		specs: map[string]config{"alt": {params: []string{"root=LABEL=x"}, label: "1"}}}
	withBootspec := legacy
	withBootspec.bootspec = true
	editJSON := func(edit func(doc map[string]any)) func(t *testing.T, top string) {
		return func(t *testing.T, top string) {
			p := filepath.Join(top, "boot.json")
			data, err := os.ReadFile(p)
			must(t, err)
			var doc map[string]any
			must(t, json.Unmarshal(data, &doc))
			edit(doc)
			data, err = json.Marshal(doc)
			must(t, err)
			must(t, os.Remove(p))
			must(t, os.WriteFile(p, data, 0o644))
		}
	}
	v1 := func(doc map[string]any) map[string]any { return doc["org.nixos.bootspec.v1"].(map[string]any) }
	for _, tc := range []struct {
		name   string
		f      fixture
		break_ func(t *testing.T, top string)
		want   []string // substrings, with TOP for the toplevel's path
	}{
		{"no toplevel", legacy, func(t *testing.T, top string) { must(t, os.RemoveAll(top)) },
			[]string{"boot: toplevel: ", "TOP"}},
		{"no kernel", legacy, func(t *testing.T, top string) { must(t, os.Remove(filepath.Join(top, "kernel"))) },
			[]string{"not a NixOS toplevel", "TOP/kernel"}},
		{"broken kernel link", legacy, func(t *testing.T, top string) {
			must(t, os.Remove(filepath.Join(top, "kernel")))
			must(t, os.Symlink("/nix/store/nonexistent-linux/bzImage", filepath.Join(top, "kernel")))
		}, []string{"TOP/kernel: broken link", "/nix/store/nonexistent-linux/bzImage"}},
		{"no init", legacy, func(t *testing.T, top string) { must(t, os.Remove(filepath.Join(top, "init"))) },
			[]string{"TOP/init"}},
		{"no kernel-params", legacy, func(t *testing.T, top string) { must(t, os.Remove(filepath.Join(top, "kernel-params"))) },
			[]string{"TOP/kernel-params"}},
		{"no nixos-version", legacy, func(t *testing.T, top string) { must(t, os.Remove(filepath.Join(top, "nixos-version"))) },
			[]string{"TOP/nixos-version"}},
		{"broken specialisation link", legacy, func(t *testing.T, top string) {
			must(t, os.Remove(filepath.Join(top, "specialisation", "alt")))
			must(t, os.Symlink("/nix/store/nonexistent-system", filepath.Join(top, "specialisation", "alt")))
		}, []string{"specialisation", "TOP/specialisation/alt"}},
		{"malformed JSON", withBootspec, func(t *testing.T, top string) {
			p := filepath.Join(top, "boot.json")
			must(t, os.Remove(p))
			must(t, os.WriteFile(p, []byte(`{"org.nixos.bootspec.v1": {`), 0o644))
		}, []string{"TOP/boot.json: malformed JSON"}},
		{"data after the document", withBootspec, func(t *testing.T, top string) {
			p := filepath.Join(top, "boot.json")
			data, _ := os.ReadFile(p)
			must(t, os.Remove(p))
			must(t, os.WriteFile(p, append(data, "{}"...), 0o644))
		}, []string{"TOP/boot.json: malformed JSON: invalid character '{' after top-level value"}},
		{"no bootspec", withBootspec, editJSON(func(doc map[string]any) { delete(doc, "org.nixos.bootspec.v1") }),
			[]string{"TOP/boot.json: org.nixos.bootspec.v1: missing"}},
		{"no kernel field", withBootspec, editJSON(func(doc map[string]any) { delete(v1(doc), "kernel") }),
			[]string{"TOP/boot.json: org.nixos.bootspec.v1.kernel: missing"}},
		{"kernel not absolute", withBootspec, editJSON(func(doc map[string]any) { v1(doc)["kernel"] = "bzImage" }),
			[]string{"TOP/boot.json: org.nixos.bootspec.v1.kernel: \"bzImage\" is not an absolute path"}},
		{"kernel missing", withBootspec, editJSON(func(doc map[string]any) { v1(doc)["kernel"] = "/nix/store/nonexistent/bzImage" }),
			[]string{"TOP/boot.json: org.nixos.bootspec.v1.kernel: stat /nix/store/nonexistent/bzImage"}},
		{"kernelParams not a list", withBootspec, editJSON(func(doc map[string]any) { v1(doc)["kernelParams"] = "quiet" }),
			[]string{"TOP/boot.json: org.nixos.bootspec.v1.kernelParams: not a list of strings"}},
		{"bootspec in another case", withBootspec, editJSON(func(doc map[string]any) {
			doc["org.nixos.BOOTSPEC.v1"] = doc["org.nixos.bootspec.v1"]
			delete(doc, "org.nixos.bootspec.v1")
		}), []string{"TOP/boot.json: org.nixos.bootspec.v1: missing"}},
		{"specialisations not an object", withBootspec, editJSON(func(doc map[string]any) { doc["org.nixos.specialisation.v1"] = []int{1} }),
			[]string{"TOP/boot.json: org.nixos.specialisation.v1: not a JSON object"}},
		{"kernel parameter with a space", withBootspec, editJSON(func(doc map[string]any) { v1(doc)["kernelParams"] = []string{"a b"} }),
			[]string{"TOP/boot.json: org.nixos.bootspec.v1.kernelParams: kernel parameter \"a b\""}},
		{"specialisation without init", withBootspec, editJSON(func(doc map[string]any) {
			delete(doc["org.nixos.specialisation.v1"].(map[string]any)["alt"].(map[string]any)["org.nixos.bootspec.v1"].(map[string]any), "init")
		}), []string{"TOP/boot.json: org.nixos.specialisation.v1.alt.org.nixos.bootspec.v1.init: missing"}},
		{"specialisation toplevel missing", withBootspec, editJSON(func(doc map[string]any) {
			spec := doc["org.nixos.specialisation.v1"].(map[string]any)["alt"].(map[string]any)["org.nixos.bootspec.v1"].(map[string]any)
			spec["toplevel"] = "/nix/store/nonexistent-system"
		}), []string{"/nix/store/nonexistent-system/nixos-version", "org.nixos.specialisation.v1.alt.org.nixos.bootspec.v1.toplevel"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			top := tc.f.build(t, t.TempDir())
			tc.break_(t, top)
			_, err := boot.ReadSystem(boot.HostStore, top)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if w = strings.ReplaceAll(w, "TOP", top); !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// TestPlanOptions plans the custom configuration from its spec (no BIOS, splash images, a GRUB
// theme, memtest86+, a hidden specialisation), then with BIOS boot but no USB, and a fixture
// whose hidden configurations have kernels of their own: the files each option adds, and the
// kernels and initrds of the configurations shown only.
func TestPlanOptions(t *testing.T) {
	sys, opts, s := customSystem(t)
	plan, err := boot.NewPlan(context.Background(), boot.HostStore, sys, opts)
	must(t, err)
	theme := *s.ISOImage.GrubTheme
	for path, src := range map[string]string{
		"/boot/memtest.bin":                      *s.Packages.Memtest86plusFile,
		"/EFI/BOOT/grub-theme/theme.txt":         theme + "/theme.txt",
		"/EFI/BOOT/grub-theme/fonts/unicode.pf2": theme + "/fonts/unicode.pf2",
		"/EFI/BOOT/efi-background.png":           *s.ISOImage.EFISplashImage,
		"/boot" + sys.Kernel:                     sys.Kernel,
		"/boot" + sys.Specialisations[0].Initrd:  sys.Specialisations[0].Initrd,
		"/EFI/BOOT/unicode.pf2":                  *s.Packages.Grub2EFI + "/share/grub/unicode.pf2",
		"/isolinux/background.png":               "", // no BIOS boot: absent
		"/isolinux/isolinux.bin":                 "",
	} {
		if f := plan.File(path); (f == nil) != (src == "") || f != nil && f.Source != src {
			t.Errorf("%s: %+v, want from %q", path, f, src)
		}
	}
	if plan.Boot.BIOSBootFile != "" || plan.Boot.HybridMBR != nil || len(plan.Warnings) != 0 {
		t.Errorf("boot config %+v, warnings %q", plan.Boot, plan.Warnings)
	}
	checkESP(t, plan, boot.DefaultEpoch) // the theme is on the ISO volume, not in efi.img

	opts.NoBIOS, opts.NoUSB = false, true
	plan, err = boot.NewPlan(context.Background(), boot.HostStore, sys, opts)
	must(t, err)
	if plan.Boot.BIOSBootFile != boot.BIOSBootFile || plan.Boot.HybridMBR != nil || plan.Boot.EFIImage == "" {
		t.Errorf("a CD-only plan's boot config: %+v", plan.Boot)
	}
	for path, src := range map[string]string{
		"/isolinux/background.png": *s.ISOImage.SplashImage,
		"/boot/memtest.bin":        *s.Packages.Memtest86plusFile,
	} {
		if f := plan.File(path); f == nil || f.Source != src {
			t.Errorf("%s: %+v, want from %s", path, f, src)
		}
	}

	// The kernels and initrds of the configurations shown, and only theirs.
	own := func(name string) string {
		p := filepath.Join(t.TempDir(), name)
		write(t, p, name)
		return p
	}
	fx := fixture{name: "kernels", bootspec: true,
		main: config{params: []string{"root=LABEL=k"}, label: "1", distro: "NixOS", kernel: own("bzImage"), initrd: own("initrd")},
		specs: map[string]config{
			"shared": {params: []string{"root=LABEL=k"}, label: "1", distro: "NixOS"},
			"own":    {params: []string{"root=LABEL=k"}, label: "1", distro: "NixOS", kernel: own("bzImage"), initrd: own("initrd")},
		}}
	two, err := boot.ReadSystem(boot.HostStore, fx.build(t, t.TempDir()))
	must(t, err)
	mainSys, ownSys, sharedSys := two, two.Specialisations[0], two.Specialisations[1]
	if ownSys.Kernel == mainSys.Kernel || ownSys.Kernel == sharedSys.Kernel || mainSys.Kernel == sharedSys.Kernel {
		t.Fatalf("the fixture's kernels are not distinct: %s %s %s", mainSys.Kernel, ownSys.Kernel, sharedSys.Kernel)
	}
	for _, tc := range []struct {
		hidden []string
		shown  []*boot.System
	}{
		{nil, []*boot.System{mainSys, ownSys, sharedSys}},
		{[]string{"own"}, []*boot.System{mainSys, sharedSys}},
		{[]string{""}, []*boot.System{ownSys, sharedSys}},
		{[]string{"", "own"}, []*boot.System{sharedSys}},
	} {
		entries := map[string]boot.EntryOptions{}
		for _, h := range tc.hidden {
			entries[h] = boot.EntryOptions{Hidden: true}
		}
		plan, err := boot.NewPlan(context.Background(), boot.HostStore, two, boot.Options{Entries: entries, HostBootloaders: true, NoBIOS: true})
		must(t, err)
		var got, want []string
		for _, p := range planPaths(plan) {
			if strings.HasPrefix(p, "/boot/") && p != "/boot/efi.img" && p != "/boot/grub/loopback.cfg" {
				got = append(got, p)
			}
		}
		for _, s := range tc.shown {
			want = append(want, "/boot"+s.Kernel, "/boot"+s.Initrd)
		}
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("hidden %q: kernels and initrds\n%q\nwant\n%q", tc.hidden, got, want)
		}
	}
}
