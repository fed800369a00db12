package squash_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/gonixiso/gonixiso/internal/boottest"
	"github.com/gonixiso/gonixiso/internal/livestore"
	"github.com/gonixiso/gonixiso/internal/testsystem"
	"github.com/gonixiso/gonixiso/squash"
)

// packClosure packs the test system's closure the way NixOS lays out its live store: the
// registration and every store path as a top-level directory, owned by root, root directory
// 0755, the image time from SOURCE_DATE_EPOCH; one segment per store path.
func packClosure(t *testing.T, c squash.Compression) string {
	t.Helper()
	top := testsystem.Toplevel(t)
	reg, err := os.ReadFile(filepath.Join(testsystem.BaselineParts(t), "nix-path-registration"))
	if err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(t.TempDir(), "nix-store.squashfs")
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	const epoch = 315532800
	w, err := squash.NewWriter(f, squash.Options{Compression: c, ModTime: epoch})
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(livestore.AddRoot(w, epoch))
	for _, p := range testsystem.Closure(t, top) {
		must(livestore.AddPath(w, p, nil))
	}
	must(livestore.AddRegistration(w, reg, epoch))
	must(w.Close())
	return img
}

// TestBootSquashImages (slow: QEMU) puts the test system's closure, packed by this package, in
// place of the SquashFS of the nixpkgs-made ISO, and boots it: the kernel mounts the image and
// stage 2 checks the sha256 of every file. zstd at NixOS's level through libzstd, xz with the
// x86 BCJ filter through liblzma, pure-Go zstd, and none (isoImage.squashfsCompression = null),
// which the kernel mounts through its zlib decompressor, named but never called.
func TestBootSquashImages(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: boots QEMU")
	}
	cases := []struct {
		c    squash.Compression
		mode boottest.Mode
	}{
		{squash.Compression{Level: 11, PureGo: true}, boottest.USBBIOS},
		{squash.Compression{Algorithm: squash.None}, boottest.USBUEFI},
	}
	if squash.CgoAvailable() {
		cases = append(cases,
			struct {
				c    squash.Compression
				mode boottest.Mode
			}{squash.Compression{Algorithm: squash.Zstd, Level: 19}, boottest.CDBIOS},
			struct {
				c    squash.Compression
				mode boottest.Mode
			}{squash.Compression{Algorithm: squash.XZ, BCJ: []string{"x86"}}, boottest.CDUEFI})
	} else {
		t.Error("this build has no cgo: the libzstd and liblzma images are not tested")
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s/%s", c.c, c.mode), func(t *testing.T) {
			t.Parallel()
			img := packClosure(t, c.c)
			iso := filepath.Join(t.TempDir(), "test.iso")
			cmd := exec.Command(filepath.Join(testsystem.Root(t), "scripts", "nixpkgs-iso"), "--squashfs", img,
				testsystem.Toplevel(t), iso)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("scripts/nixpkgs-iso --squashfs: %v\n%s", err, out)
			}
			res, err := boottest.Boot(context.Background(), boottest.Options{ISO: iso, Mode: c.mode})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %s in %.1fs: %s", c.mode, res.Outcome, res.Duration.Seconds(), res.Reason)
			if res.Outcome != boottest.Pass {
				t.Fatalf("boot %s: %s\n%s", res.Outcome, res.Reason, res.Tail)
			}
		})
	}
}
