// Package testsystem gives tests the fixtures every part of gonixiso is judged by: the test
// system's toplevel, built by real Nix from testdata/system, and the baseline ISO made from it
// the nixpkgs way (mksquashfs + xorriso, scripts/nixpkgs-iso).
//
// Fixtures are built once per machine and kept in $GONIXISO_CACHE/test (default
// /var/cache/gonixiso/test); a file lock serialises test processes that want the same fixture.
// Where a real part is missing, the test fails and says to run scripts/setup: it never pretends.
package testsystem

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// Name is the test system's attribute under nixosConfigurations.
const Name = "gonixiso-test"

// VolumeID is the test system's ISO volume id (root=LABEL= in its kernel parameters).
const VolumeID = "gonixiso-test-x86_64"

// Specialisation is the name of the test system's specialisation.
const Specialisation = "alt"

// Root returns the repository's top directory (the one holding go.mod).
func Root(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			if _, err := os.Stat(filepath.Join(dir, "testdata", "system", "flake.nix")); err == nil {
				return dir
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("testsystem: cannot find the repository root (go.mod with testdata/system)")
		}
		dir = parent
	}
}

// CacheDir returns the folder for test fixtures, outside git.
func CacheDir(t testing.TB) string {
	t.Helper()
	base := os.Getenv("GONIXISO_CACHE")
	if base == "" {
		base = "/var/cache/gonixiso"
	}
	dir := filepath.Join(base, "test")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("testsystem: %v (run scripts/setup as root, or set GONIXISO_CACHE)", err)
	}
	return dir
}

// Require fails the test with a clear message when a tool the fixtures need is not installed.
func Require(t testing.TB, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed: run scripts/setup (it installs every tool the tests use)", tool)
		}
	}
}

var (
	toplevelOnce sync.Once
	toplevelPath string
	toplevelErr  error
)

// Toplevel builds the test system's toplevel with `nix build` (a no-op once built) and returns
// its store path. The result link in the cache folder is a GC root, so the closure stays.
func Toplevel(t testing.TB) string {
	t.Helper()
	Require(t, "nix", "nix-store")
	toplevelOnce.Do(func() {
		root := Root(t)
		link := filepath.Join(CacheDir(t), "toplevel")
		unlock, err := lock(link + ".lock")
		if err != nil {
			toplevelErr = err
			return
		}
		defer unlock()
		cmd := exec.Command("nix", "build", "-o", link,
			fmt.Sprintf("%s#nixosConfigurations.%s.config.system.build.toplevel", FlakeRef(root), Name))
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			toplevelErr = fmt.Errorf("nix build of the test system failed (run scripts/setup first): %v\n%s", err, out)
			return
		}
		toplevelPath, toplevelErr = filepath.EvalSymlinks(link)
	})
	if toplevelErr != nil {
		t.Fatal(toplevelErr)
	}
	return toplevelPath
}

// FlakeRef returns the flake reference of testdata/system for a repository at root.
func FlakeRef(root string) string {
	return filepath.Join(root, "testdata", "system")
}

// Closure returns the store paths of the toplevel's closure, sorted.
func Closure(t testing.TB, toplevel string) []string {
	t.Helper()
	out, err := exec.Command("nix-store", "-qR", toplevel).Output()
	if err != nil {
		t.Fatalf("nix-store -qR %s: %v", toplevel, err)
	}
	paths := strings.Fields(string(out))
	sort.Strings(paths)
	return paths
}

// BaselineISO returns the test system's ISO built the nixpkgs way by scripts/nixpkgs-iso with
// extra arguments args (none for the reference ISO). It is built once per toplevel, script
// version and arguments.
func BaselineISO(t testing.TB, args ...string) string {
	t.Helper()
	iso, _ := baseline(t, args)
	return iso
}

// BaselineParts returns the folder in which scripts/nixpkgs-iso left the parts of the reference
// ISO: nix-store.squashfs, nix-path-registration, store-paths, efi.img, efiDir/EFI, isolinux.cfg,
// grub.cfg, loopback.cfg, version.txt and the xorriso pathlist.
func BaselineParts(t testing.TB) string {
	t.Helper()
	_, parts := baseline(t, nil)
	return parts
}

func baseline(t testing.TB, args []string) (iso, parts string) {
	t.Helper()
	return baselineOf(t, Toplevel(t), args)
}

func baselineOf(t testing.TB, top string, args []string) (iso, parts string) {
	t.Helper()
	Require(t, "mksquashfs", "xorriso", "mkfs.vfat", "mcopy", "faketime", "grub-script-check", "uuidgen", "jq")
	root := Root(t)
	script := filepath.Join(root, "scripts", "nixpkgs-iso")
	body, err := os.ReadFile(script)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%q\x00", top, body, args)
	key := hex.EncodeToString(h.Sum(nil))[:16]
	iso = filepath.Join(CacheDir(t), "baseline-"+key+".iso")
	parts = filepath.Join(CacheDir(t), "baseline-"+key+".parts")
	unlock, err := lock(iso + ".lock")
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	if _, err := os.Stat(iso); err == nil {
		if _, err := os.Stat(filepath.Join(parts, "nix-store.squashfs")); err == nil {
			return iso, parts
		}
	}
	os.RemoveAll(parts)
	cmd := exec.Command(script, append(append([]string{"--work", parts}, args...), top, iso)...)
	cmd.Env = append(os.Environ(), "SOURCE_DATE_EPOCH=315532800")
	if out, err := cmd.CombinedOutput(); err != nil {
		os.Remove(iso)
		t.Fatalf("scripts/nixpkgs-iso failed: %v\n%s", err, out)
	}
	return iso, parts
}

// lock takes an exclusive flock on path and returns its release.
func lock(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil
}

// StoreCopy copies the test system's closure into root/nix/store, as a chroot store
// that `nix --store root` would keep (closure.Store{Root: root}): tests change files of it
// without touching the real store. Its store paths keep their /nix/store names.
func StoreCopy(t testing.TB, root string) {
	t.Helper()
	store := filepath.Join(root, "nix", "store")
	if err := os.MkdirAll(store, 0o755); err != nil {
		t.Fatal(err)
	}
	for d := root; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		os.Chmod(d, 0o755) // traversable by tests that run as another user
	}
	args := append([]string{"-a"}, Closure(t, Toplevel(t))...)
	if out, err := exec.Command("cp", append(args, store)...).CombinedOutput(); err != nil {
		t.Fatalf("cp -a: %v\n%s", err, out)
	}
	// Folders writable, so that tests can add and replace files; files keep their modes.
	if out, err := exec.Command("find", store, "-type", "d", "-exec", "chmod", "u+w", "{}", "+").CombinedOutput(); err != nil {
		t.Fatalf("chmod: %v\n%s", err, out)
	}
}

// CustomName is the test flake's configuration that sets every isoImage option away from its
// default (see testdata/system/flake.nix).
const CustomName = "gonixiso-test-custom"

var (
	specMu    sync.Mutex
	specPaths = map[string]string{}
)

// Spec builds the ISO spec (config.system.build.gonixiso) of the test flake's configuration
// name, with everything it names, and returns its store path. The result link in the cache
// folder is a GC root.
func Spec(t testing.TB, name string) string {
	t.Helper()
	Require(t, "nix")
	specMu.Lock()
	defer specMu.Unlock()
	if p, ok := specPaths[name]; ok {
		return p
	}
	root := Root(t)
	link := filepath.Join(CacheDir(t), "spec-"+name)
	unlock, err := lock(link + ".lock")
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	cmd := exec.Command("nix", "build", "-o", link,
		fmt.Sprintf("%s#nixosConfigurations.%s.config.system.build.gonixiso", FlakeRef(root), name))
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nix build of the spec of %s failed (run scripts/setup first): %v\n%s", name, err, out)
	}
	p, err := filepath.EvalSymlinks(link)
	if err != nil {
		t.Fatal(err)
	}
	specPaths[name] = p
	return p
}
