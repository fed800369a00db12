package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"

	"github.com/gonixiso/gonixiso/internal/testsystem"
)

// sameBytes is testdata/same-bytes.json.
type sameBytesRecord struct {
	Commit       string `json:"commit"`
	Registration string `json:"registration"`
	Images       map[string]struct {
		Args   []string `json:"args"`
		SHA256 string   `json:"sha256"`
	} `json:"images"`
}

// TestSameBytes holds the test system's ISO, for a few option sets, to the bytes recorded with
// the binary of an earlier commit: a restructure must not change an image, and a change that
// does must record them again, on purpose. Where this machine's test system is not the one
// recorded (another Debian kernel), the test builds that commit's gonixiso from git and
// compares with what it makes.
func TestSameBytes(t *testing.T) {
	root := testsystem.Root(t)
	b, err := os.ReadFile(filepath.Join(root, "testdata", "same-bytes.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rec sameBytesRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatal(err)
	}
	top := testsystem.Toplevel(t)
	dir := t.TempDir()
	names := make([]string, 0, len(rec.Images))
	for n := range rec.Images {
		names = append(names, n)
	}
	sort.Strings(names)
	var reference string // the recorded commit's binary, built only if needed
	for _, name := range names {
		img := rec.Images[name]
		iso := filepath.Join(dir, name+".iso")
		args := append([]string{"assemble", "-q", "--no-cache", "--toplevel", top, "-o", iso}, img.Args...)
		if log, code := runCLI(t, args...); code != 0 {
			t.Fatalf("%s: exit %d\n%s", name, code, log)
		}
		want := img.SHA256
		if registrationSum(t, iso) != rec.Registration {
			if reference == "" {
				reference = buildCommit(t, root, rec.Commit)
			}
			ref := filepath.Join(dir, name+".reference.iso")
			cmd := exec.Command(reference, append([]string{"assemble", "-q", "--no-cache", "--toplevel", top, "-o", ref}, img.Args...)...)
			cmd.Env = testEnv()
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%s with commit %s's gonixiso: %v\n%s", name, rec.Commit, err, out)
			}
			want = fileSum(t, ref)
		}
		if got := fileSum(t, iso); got != want {
			t.Errorf("%s (%v): sha256 %s, want %s, as commit %s makes it: run gonixiso diff against that commit's image, and record the bytes again only if the change is meant",
				name, img.Args, got, want, rec.Commit)
		}
	}
}

func fileSum(t *testing.T, p string) string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// registrationSum is the sha256 of the registration in an image's SquashFS: it names the test
// system's contents, which host files (Debian's kernel) make.
func registrationSum(t *testing.T, iso string) string {
	t.Helper()
	dir := t.TempDir()
	sq := filepath.Join(dir, "store.squashfs")
	if out, err := exec.Command("xorriso", "-osirrox", "on", "-indev", iso, "-extract", "/nix-store.squashfs", sq).CombinedOutput(); err != nil {
		t.Fatalf("xorriso: %v\n%s", err, out)
	}
	out, err := exec.Command("unsquashfs", "-cat", sq, "nix-path-registration").Output()
	if err != nil {
		t.Fatalf("unsquashfs: %v", err)
	}
	sum := sha256.Sum256(out)
	return hex.EncodeToString(sum[:])
}

// buildCommit builds gonixiso as it was at commit, in a git worktree.
func buildCommit(t *testing.T, root, commit string) string {
	t.Helper()
	wt := filepath.Join(t.TempDir(), "worktree")
	if out, err := exec.Command("git", "-C", root, "worktree", "add", "--detach", wt, commit).CombinedOutput(); err != nil {
		t.Fatalf("git worktree add %s: %v\n%s", commit, err, out)
	}
	t.Cleanup(func() { exec.Command("git", "-C", root, "worktree", "remove", "--force", wt).Run() })
	bin := filepath.Join(t.TempDir(), "gonixiso-"+commit)
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/gonixiso")
	cmd.Dir = wt
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build at %s: %v\n%s", commit, err, out)
	}
	return bin
}
