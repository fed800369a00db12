package boot_test

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gonixiso/gonixiso/internal/testsystem"
)

// Fixture toplevels are folders in a temporary root whose names look like store paths; the
// test system's kernel, initrd and init are linked in. In golden files the root reads /nix/store.

// config describes one configuration of a fixture.
type config struct {
	params []string
	label  string // nixos-version
	distro string // NAME in etc/os-release; "" for no os-release
	fstab  string // etc/fstab; "" for none
	// kernel and initrd are files whose bytes the configuration's kernel and initrd have,
	// copied into the fixture's root; "" for the test system's own.
	kernel, initrd string
}

// fixture is a fixture toplevel and its specialisations.
type fixture struct {
	name     string
	main     config
	specs    map[string]config
	bootspec bool // write boot.json, or only the files older toplevels have
}

const fixtureHash = "0123456789abcdfghijklmnpqrsvwxyz"

// build writes the fixture into root and returns its toplevel.
func (f fixture) build(t *testing.T, root string) string {
	t.Helper()
	real := testsystem.Toplevel(t)
	kernel, err := filepath.EvalSymlinks(filepath.Join(real, "kernel"))
	if err != nil {
		t.Fatal(err)
	}
	initrd, err := filepath.EvalSymlinks(filepath.Join(real, "initrd"))
	if err != nil {
		t.Fatal(err)
	}
	dirOf := func(spec string) string {
		name := "nixos-system-" + f.name
		if spec != "" {
			name += "-" + spec
		}
		return filepath.Join(root, fixtureHash+"-"+name)
	}
	// own places a configuration's own kernel or initrd in a store path of the fixture, one
	// per source file.
	own := func(src, name string) string {
		sum := sha256.Sum256([]byte(src))
		dir := filepath.Join(root, fmt.Sprintf("%s-%s-%s-%x", fixtureHash, f.name, name, sum[:4]))
		must(t, os.MkdirAll(dir, 0o755))
		data, err := os.ReadFile(src)
		must(t, err)
		dst := filepath.Join(dir, filepath.Base(src))
		if _, err := os.Stat(dst); err != nil {
			write(t, dst, string(data))
		}
		return dst
	}
	files := func(c config) (k, i string) {
		k, i = kernel, initrd
		if c.kernel != "" {
			k = own(c.kernel, "kernel")
		}
		if c.initrd != "" {
			i = own(c.initrd, "initrd")
		}
		return k, i
	}
	bootspecOf := func(dir string, c config) map[string]any {
		kernel, initrd := files(c)
		return map[string]any{
			"init":         dir + "/init",
			"initrd":       initrd,
			"kernel":       kernel,
			"kernelParams": c.params,
			"label":        c.distro + " 25.11 (Fixture) " + c.label + " (Linux debian)",
			"system":       "x86_64-linux",
			"toplevel":     dir,
		}
	}
	writeConfig := func(dir string, c config, specs map[string]any) {
		must(t, os.MkdirAll(filepath.Join(dir, "etc"), 0o755))
		must(t, os.Symlink(filepath.Join(real, "init"), filepath.Join(dir, "init")))
		write(t, filepath.Join(dir, "nixos-version"), c.label)
		if c.distro != "" {
			write(t, filepath.Join(dir, "etc", "os-release"), "ID=nixos\nNAME=\""+c.distro+"\"\nVERSION_ID=\"25.11\"\n")
		}
		if c.fstab != "" {
			write(t, filepath.Join(dir, "etc", "fstab"), c.fstab)
		}
		if !f.bootspec {
			kernel, initrd := files(c)
			must(t, os.Symlink(kernel, filepath.Join(dir, "kernel")))
			must(t, os.Symlink(initrd, filepath.Join(dir, "initrd")))
			write(t, filepath.Join(dir, "kernel-params"), strings.Join(c.params, " "))
			write(t, filepath.Join(dir, "system"), "x86_64-linux")
			return
		}
		doc := map[string]any{
			"org.nixos.bootspec.v1": bootspecOf(dir, c),
			"org.example.extension": map[string]any{"ignored": true},
		}
		if specs != nil {
			doc["org.nixos.specialisation.v1"] = specs
		}
		data, err := json.MarshalIndent(doc, "", "  ")
		must(t, err)
		write(t, filepath.Join(dir, "boot.json"), string(data)+"\n")
	}
	top := dirOf("")
	specDocs := map[string]any{}
	for name, c := range f.specs {
		dir := dirOf(name)
		writeConfig(dir, c, nil)
		specDocs[name] = map[string]any{"org.nixos.bootspec.v1": bootspecOf(dir, c)}
	}
	writeConfig(top, f.main, specDocs)
	if len(f.specs) > 0 {
		must(t, os.MkdirAll(filepath.Join(top, "specialisation"), 0o755))
		for name := range f.specs {
			must(t, os.Symlink(dirOf(name), filepath.Join(top, "specialisation", name)))
		}
	}
	return top
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	must(t, os.WriteFile(path, []byte(content), 0o444))
}

// twoSpecsSystemd is a system with two specialisations (given out of order) and a systemd
// initrd: no root= and no boot.shell_on_fail in its kernel parameters, so the volume id must
// come from the options. Its etc/fstab mounts the volume "fixture" at /iso by label, as
// iso-image.nix's lib.isoFileSystems has NixOS write it.
var twoSpecsSystemd = fixture{
	name:     "fixture",
	bootspec: true,
	main: config{
		params: []string{"console=ttyS0,115200", "loglevel=4", "rd.systemd.show_status=auto"},
		label:  "25.11.20261125.fixture", distro: "NixOS", fstab: liveFstab("fixture"),
	},
	specs: map[string]config{
		"zeta": {
			params: []string{"console=ttyS0,115200", "loglevel=4", "rd.systemd.show_status=auto", "zeta=1"},
			label:  "25.11.20261125.fixture", distro: "NixOS", fstab: liveFstab("fixture"),
		},
		"latest_kernel": {
			params: []string{"console=ttyS0,115200", "loglevel=7"},
			label:  "25.11.20261125.fixture-latest", distro: "NixOS", fstab: liveFstab("fixture"),
		},
	},
}

// liveFstab is the etc/fstab NixOS writes for iso-image.nix's file systems with a systemd
// initrd and volume id vol (nixos/modules/tasks/filesystems.nix, makeFstabEntries).
func liveFstab(vol string) string {
	return `# This is a generated file.  Do not edit!
#
# To make changes, edit the fileSystems and swapDevices NixOS options
# in your /etc/nixos/configuration.nix file.
#
# <file system> <mount point>   <type>    <options>       <dump> <pass>

# Filesystems.
tmpfs / tmpfs mode=0755 0 0
/dev/disk/by-label/` + vol + ` /iso iso9660 defaults 0 0
/sysroot/iso/nix-store.squashfs /nix/.ro-store squashfs loop,threads=multi 0 0
tmpfs /nix/.rw-store tmpfs mode=0755 0 0
overlay /nix/store overlay lowerdir=/nix/.ro-store,upperdir=/nix/.rw-store/store,workdir=/nix/.rw-store/work 0 0


`
}
