package closure_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gonixiso/gonixiso/closure"
	"github.com/gonixiso/gonixiso/internal/testsystem"
)

// storeRoot lays out a fresh store root: the baseline ISO's SquashFS extracted with unsquashfs
// into root/nix/store, as the booted system sees it at /nix/store.
func storeRoot(t *testing.T) string {
	t.Helper()
	testsystem.Require(t, "unsquashfs", "nix-store")
	squashfs := filepath.Join(testsystem.BaselineParts(t), "nix-store.squashfs")
	root := filepath.Join(t.TempDir(), "root")
	if err := os.MkdirAll(filepath.Join(root, "nix"), 0o755); err != nil {
		t.Fatal(err)
	}
	run(t, nil, "unsquashfs", "-q", "-n", "-d", filepath.Join(root, "nix", "store"), squashfs)
	return root
}

func run(t *testing.T, stdin []byte, name string, args ...string) string {
	t.Helper()
	out, err := runErr(stdin, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

func runErr(stdin []byte, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestRegistrationLoadsAndVerifies is the proof that every NAR hash in the registration is
// right: the image's store, loaded with nix-store --load-db from the registration into a
// fresh store root, passes nix-store --verify --check-contents. A corrupted file or a wrong
// hash in the registration fails it: the check can fail.
func TestRegistrationLoadsAndVerifies(t *testing.T) {
	top := testsystem.Toplevel(t)
	c := compute(t, []string{top}, closure.Options{Source: closure.SourceScan})
	reg := registration(t, c)
	pristine := storeRoot(t)

	fresh := func(t *testing.T) string {
		root := filepath.Join(t.TempDir(), "root")
		run(t, nil, "cp", "-a", pristine, root)
		return root
	}
	verify := func(root string) (string, error) {
		return runErr(nil, "nix-store", "--store", root, "--verify", "--check-contents")
	}

	t.Run("good", func(t *testing.T) {
		root := fresh(t)
		run(t, reg, "nix-store", "--store", root, "--load-db")
		if out, err := verify(root); err != nil {
			t.Fatalf("nix-store --verify --check-contents failed: %v\n%s", err, out)
		}
		// The loaded database knows the closure, references included.
		got := strings.Fields(run(t, nil, "nix-store", "--store", root, "-qR", top))
		slices.Sort(got)
		if want := testsystem.Closure(t, top); !slices.Equal(got, want) {
			t.Errorf("loaded closure of %s:\n%v\nwant\n%v", top, got, want)
		}
	})

	// The payload path: the test system's path with the most files.
	var victim closure.Path
	for _, p := range c.Paths {
		if strings.HasSuffix(p.Path, "-gonixiso-test-payload") {
			victim = p
		}
	}
	if victim.Path == "" {
		t.Fatal("no payload path in the test system's closure")
	}

	t.Run("wrong hash", func(t *testing.T) {
		root := fresh(t)
		bad := *c
		bad.Paths = slices.Clone(c.Paths)
		for i := range bad.Paths {
			if bad.Paths[i].Path == victim.Path {
				bad.Paths[i].NarHash[0] ^= 1
			}
		}
		run(t, registration(t, &bad), "nix-store", "--store", root, "--load-db")
		out, err := verify(root)
		if err == nil || !strings.Contains(out, victim.Path) || !strings.Contains(out, "was modified") {
			t.Fatalf("verify with a wrong hash for %s: err %v\n%s", victim.Path, err, out)
		}
	})

	t.Run("corrupt file", func(t *testing.T) {
		root := fresh(t)
		run(t, reg, "nix-store", "--store", root, "--load-db")
		var file string
		filepath.WalkDir(filepath.Join(root, victim.Path), func(p string, d os.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() && file == "" {
				file = p
			}
			return nil
		})
		if err := os.Chmod(file, 0o644); err != nil {
			t.Fatal(err)
		}
		f, err := os.OpenFile(file, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.Write([]byte{0})
		f.Close()
		out, err := verify(root)
		if err == nil || !strings.Contains(out, victim.Path) || !strings.Contains(out, "was modified") {
			t.Fatalf("verify with %s corrupted: err %v\n%s", file, err, out)
		}
	})
}
