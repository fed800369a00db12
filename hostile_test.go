package gonixiso_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gonixiso/gonixiso"
	"github.com/gonixiso/gonixiso/boot"
	"github.com/gonixiso/gonixiso/closure"
	"github.com/gonixiso/gonixiso/internal/testsystem"
	"github.com/gonixiso/gonixiso/iso9660"
	"github.com/gonixiso/gonixiso/squash"
)

// A hostile toplevel is packed as whoever runs gonixiso, often root: nothing it names may bring
// a file from outside its closure into the ISO. These tests copy the test system into a chroot
// store, make a toplevel there under a new store path name, break it the ways an attacker
// would, and check that the build fails with an error naming the path, writing nothing.

// secret is a host file no image may hold.
func secret(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "shadow")
	if err := os.WriteFile(p, []byte("host secret "+t.Name()), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// hostileSystem copies the test system into a chroot store under a new folder and copies its
// toplevel to a new store path there, <hash>-nixos-system-hostile, which mutate changes. It
// returns the store's root and the new toplevel's store path.
func hostileSystem(t *testing.T, mutate func(root, top string)) (string, string) {
	t.Helper()
	root := filepath.Join(t.TempDir(), "root")
	testsystem.StoreCopy(t, root)
	top := storePath("hostile", "nixos-system-hostile")
	runTool(t, "cp", "-a", filepath.Join(root, testsystem.Toplevel(t)), filepath.Join(root, top))
	runTool(t, "chmod", "-R", "u+w", filepath.Join(root, top))
	// Its own files name it, so that its own paths are its references.
	runTool(t, "sed", "-i", "s|"+testsystem.Toplevel(t)+"|"+top+"|g", filepath.Join(root, top, "boot.json"))
	mutate(root, top)
	return root, top
}

// storePath makes a well-formed store path name from a seed.
func storePath(seed, name string) string {
	h := sha256.Sum256([]byte(seed))
	var b strings.Builder
	for i := range 32 {
		b.WriteByte(closure.Nix32Alphabet[h[i]%32])
	}
	return closure.DefaultStoreDir + "/" + b.String() + "-" + name
}

func runTool(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := execCommand(name, args...); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// editBootspec rewrites the toplevel's boot.json.
func editBootspec(t *testing.T, root, top string, edit func(doc map[string]any)) {
	t.Helper()
	p := filepath.Join(root, top, "boot.json")
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	edit(doc)
	if data, err = json.Marshal(doc); err != nil {
		t.Fatal(err)
	}
	writeFile(t, p, data)
}

func writeFile(t *testing.T, p string, data []byte) {
	t.Helper()
	os.Remove(p)
	if err := os.WriteFile(p, data, 0o444); err != nil {
		t.Fatal(err)
	}
}

func relink(t *testing.T, target, link string) {
	t.Helper()
	os.Remove(link)
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

func v1(doc map[string]any) map[string]any { return doc["org.nixos.bootspec.v1"].(map[string]any) }

func spec1(doc map[string]any) map[string]any {
	return v1(doc["org.nixos.specialisation.v1"].(map[string]any)[testsystem.Specialisation].(map[string]any))
}

// assembleHostile assembles a hostile system and returns the error; the output folder must be
// left empty.
func assembleHostile(t *testing.T, root, top string, edit func(*gonixiso.Config)) error {
	t.Helper()
	out := t.TempDir()
	cfg := gonixiso.Config{Toplevel: top, StoreRoot: root, ClosureSource: closure.SourceScan,
		Output: filepath.Join(out, "x.iso"), Compression: squash.Compression{Algorithm: squash.Gzip, Level: 1}}
	if edit != nil {
		edit(&cfg)
	}
	_, err := gonixiso.Assemble(context.Background(), cfg)
	if ents, _ := os.ReadDir(out); err != nil && len(ents) > 0 {
		t.Errorf("left behind after the error: %v", ents)
	}
	return err
}

func TestHostileToplevel(t *testing.T) {
	shadow := secret(t)
	evil := storePath("evil", "evil") // in the store, in no one's closure
	for _, tc := range []struct {
		name   string
		mutate func(t *testing.T, root, top string)
		want   []string // in the error
	}{
		{"bootspec kernel is a host file", func(t *testing.T, root, top string) {
			editBootspec(t, root, top, func(doc map[string]any) { v1(doc)["kernel"] = shadow })
		}, []string{"org.nixos.bootspec.v1.kernel", shadow, "outside the store"}},
		{"specialisation initrd is a host file", func(t *testing.T, root, top string) {
			editBootspec(t, root, top, func(doc map[string]any) { spec1(doc)["initrd"] = shadow })
		}, []string{"org.nixos.specialisation.v1.alt.org.nixos.bootspec.v1.initrd", shadow}},
		{"bootspec kernel climbs out of the store", func(t *testing.T, root, top string) {
			editBootspec(t, root, top, func(doc map[string]any) {
				v1(doc)["kernel"] = top + "/../../.." + shadow
			})
		}, []string{"org.nixos.bootspec.v1.kernel", "outside the store"}},
		{"kernel link to a host file", func(t *testing.T, root, top string) {
			os.Remove(filepath.Join(root, top, "boot.json"))
			relink(t, shadow, filepath.Join(root, top, "kernel"))
		}, []string{"TOP/kernel", shadow, "outside the store"}},
		{"kernel link climbs with ..", func(t *testing.T, root, top string) {
			os.Remove(filepath.Join(root, top, "boot.json"))
			relink(t, "../../../../../../../../.."+shadow, filepath.Join(root, top, "initrd"))
		}, []string{"TOP/initrd", "outside the store"}},
		{"os-release links to a host file", func(t *testing.T, root, top string) {
			etc := filepath.Join(root, top, "etc")
			os.Remove(etc)
			os.Mkdir(etc, 0o755)
			relink(t, shadow, filepath.Join(etc, "os-release"))
		}, []string{"TOP/etc/os-release", "outside the store"}},
		{"kernel in the store but not in the closure", func(t *testing.T, root, top string) {
			// The bootspec hides the path's hash from the reference scan with a JSON escape.
			must(t, os.MkdirAll(filepath.Join(root, evil), 0o755))
			writeFile(t, filepath.Join(root, evil, "bzImage"), []byte("not the system's kernel"))
			p := filepath.Join(root, top, "boot.json")
			data, err := os.ReadFile(p)
			must(t, err)
			var doc map[string]any
			must(t, json.Unmarshal(data, &doc))
			v1(doc)["kernel"] = "KERNEL"
			data, err = json.Marshal(doc)
			must(t, err)
			escaped := fmt.Sprintf(`"%s/\u%04x%s/bzImage"`, closure.DefaultStoreDir, filepath.Base(evil)[0], filepath.Base(evil)[1:])
			writeFile(t, p, bytes.Replace(data, []byte(`"KERNEL"`), []byte(escaped), 1))
		}, []string{evil, "not in its closure"}},
		{"GRUB module links to a host file", func(t *testing.T, root, top string) {
			grub := ""
			for _, p := range testsystem.Closure(t, testsystem.Toplevel(t)) {
				if strings.HasSuffix(p, "-grub-efi-debian") {
					grub = p
				}
			}
			relink(t, shadow, filepath.Join(root, grub, "lib", "grub", "x86_64-efi", "normal.mod"))
		}, []string{"normal.mod"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root, top := hostileSystem(t, func(root, top string) { tc.mutate(t, root, top) })
			err := assembleHostile(t, root, top, func(c *gonixiso.Config) { c.Log = t.Logf })
			if err == nil {
				b, _ := os.ReadFile(filepath.Join(root, top, "boot.json"))
				t.Fatalf("assembled; boot.json %s", b)
			}
			for _, w := range tc.want {
				if w = strings.ReplaceAll(w, "TOP", top); !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

// TestNoHostBootloaders: a closure whose syslinux leads out of the store has no syslinux, and
// that is an error, not a silent fallback to this machine's; --host-bootloaders allows them.
func TestNoHostBootloaders(t *testing.T) {
	root, top := hostileSystem(t, func(root, top string) {
		sw := storePath("sw", "system-path")
		must(t, os.MkdirAll(filepath.Join(root, sw, "share"), 0o755))
		relink(t, "/usr/lib/ISOLINUX", filepath.Join(root, sw, "share", "syslinux"))
		relink(t, sw, filepath.Join(root, top, "sw"))
	})
	err := assembleHostile(t, root, top, nil)
	if !errors.Is(err, boot.ErrNoBootloader) || !strings.Contains(err.Error(), "no syslinux") {
		t.Fatalf("error %v, want one saying the closure has no syslinux", err)
	}
	if err := assembleHostile(t, root, top, func(c *gonixiso.Config) { c.Boot.HostBootloaders = true }); err != nil {
		t.Fatalf("with host bootloaders: %v", err)
	}
}

// TestStoreRootReadsOneStore: with a chroot store, every file comes from it, the kernel on the
// ISO as well as the one in the SquashFS, never from the host's /nix/store.
func TestStoreRootReadsOneStore(t *testing.T) {
	var kernel string
	root, top := hostileSystem(t, func(root, top string) {
		k, err := os.Readlink(filepath.Join(root, top, "kernel"))
		must(t, err)
		kernel = k
		data, err := os.ReadFile(filepath.Join(root, k))
		must(t, err)
		writeFile(t, filepath.Join(root, k), append(data, "root's copy"...))
	})
	out := filepath.Join(t.TempDir(), "x.iso")
	if _, err := gonixiso.Assemble(context.Background(), gonixiso.Config{Toplevel: top, StoreRoot: root,
		ClosureSource: closure.SourceScan, Output: out, Compression: squash.Compression{Algorithm: squash.Gzip, Level: 1}}); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(out)
	must(t, err)
	defer f.Close()
	fi, _ := f.Stat()
	im, err := iso9660.Open(f, fi.Size())
	must(t, err)
	var onISO, sqfs []byte
	must(t, im.Walk(func(e *iso9660.Entry) error {
		var dst *[]byte
		switch e.Path {
		case "/boot" + kernel:
			dst = &onISO
		case "/nix-store.squashfs":
			dst = &sqfs
		default:
			return nil
		}
		r, err := im.Open(e)
		if err == nil {
			*dst, err = io.ReadAll(r)
		}
		return err
	}))
	sq, err := squash.NewReader(bytes.NewReader(sqfs), int64(len(sqfs)))
	must(t, err)
	inStore, err := fsReadFile(sq, strings.TrimPrefix(kernel, closure.DefaultStoreDir+"/"))
	must(t, err)
	if !bytes.HasSuffix(onISO, []byte("root's copy")) || !bytes.Equal(onISO, inStore) {
		t.Errorf("the ISO's kernel (%d bytes) and the SquashFS's (%d bytes) are not both the root's copy", len(onISO), len(inStore))
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func execCommand(name string, args ...string) ([]byte, error) {
	return exec.Command(name, args...).CombinedOutput()
}

func fsReadFile(r *squash.Reader, name string) ([]byte, error) { return fs.ReadFile(r.FS(), name) }

// TestSandboxedGrubMkimage: a closure's grub-mkimage that copies a host file into BOOTX64.EFI.
// Run as the caller (NoSandbox), it does, and the host file is on the ISO: the attack works. Run
// in the sandbox, as gonixiso runs it, it sees no host file and makes nothing: an error.
func TestSandboxedGrubMkimage(t *testing.T) {
	shadow := secret(t)
	os.Chmod(shadow, 0o644) // readable by anyone: only the sandbox's walls keep it out
	root, top := hostileSystem(t, func(root, top string) {
		var grub, busybox string
		for _, p := range testsystem.Closure(t, testsystem.Toplevel(t)) {
			switch {
			case strings.HasSuffix(p, "-grub-efi-debian"):
				grub = p
			case strings.HasSuffix(p, "-busybox-static"):
				busybox = p + "/bin/busybox"
			}
		}
		writeFile(t, filepath.Join(root, grub, "bin", "grub-mkimage"),
			[]byte("#!"+busybox+" sh\n"+busybox+" cat "+shadow+" > BOOTX64.EFI\nexit 0\n"))
		must(t, os.Chmod(filepath.Join(root, grub, "bin", "grub-mkimage"), 0o555))
	})
	out := filepath.Join(t.TempDir(), "x.iso")
	cfg := gonixiso.Config{Toplevel: top, StoreRoot: root, ClosureSource: closure.SourceScan, Output: out,
		Compression: squash.Compression{Algorithm: squash.Gzip, Level: 1}, NoSandbox: true}
	if _, err := gonixiso.Assemble(context.Background(), cfg); err != nil {
		t.Fatalf("without the sandbox: %v", err)
	}
	iso, _ := os.ReadFile(out)
	want, _ := os.ReadFile(shadow)
	if !bytes.Contains(iso, want) {
		t.Fatal("without the sandbox the hostile grub-mkimage did not get the host file in: the test proves nothing")
	}
	err := assembleHostile(t, root, top, nil)
	if err == nil || !strings.Contains(err.Error(), "grub-mkimage wrote an empty image") {
		t.Errorf("in the sandbox: %v, want an empty image", err)
	}
}
