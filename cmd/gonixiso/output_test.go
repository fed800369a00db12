package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/gonixiso/gonixiso/internal/testsystem"
)

// quick are assemble's flags for tests whose subject is not the image.
var quick = []string{"--comp", "gzip", "--level", "1", "--no-cache"}

func assembleArgs(top, out string, more ...string) []string {
	return append(append([]string{"assemble", "--toplevel", top, "-o", out}, quick...), more...)
}

// TestOutputs: -o names a file to write, and nothing else: a device or a FIFO is refused (as
// root a rename would replace the node), a symlink is written through, the store is refused.
func TestOutputs(t *testing.T) {
	top := testsystem.Toplevel(t)
	dir := t.TempDir()

	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ out, want string }{
		{"/dev/null", "/dev/null is a character device"},
		{fifo, fifo + " is a named pipe"},
		{dir, dir + " is a folder"},
		{top + "/x.iso", "inside the store"},
		{filepath.Join(testsystem.Closure(t, top)[0], "x.iso"), "inside the store"},
	} {
		log, code := runCLI(t, assembleArgs(top, tc.out)...)
		if code != 2 || !strings.Contains(log, tc.want) {
			t.Errorf("-o %s: exit %d, want 2 and %q:\n%s", tc.out, code, tc.want, log)
		}
	}
	if fi, err := os.Lstat("/dev/null"); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		t.Fatalf("/dev/null is no longer a character device: %v %v", fi.Mode(), err)
	}
	if fi, err := os.Lstat(fifo); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		t.Errorf("the FIFO was replaced: %v", err)
	}

	// A symlink, to a file that does not exist yet in another folder: the ISO goes there, its
	// temporary files beside it, and the link stays a link.
	elsewhere := t.TempDir()
	link := filepath.Join(dir, "nixos.iso")
	if err := os.Symlink(filepath.Join(elsewhere, "real.iso"), link); err != nil {
		t.Fatal(err)
	}
	if log, code := runCLI(t, assembleArgs(top, link)...); code != 0 {
		t.Fatalf("through a symlink: exit %d\n%s", code, log)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link was replaced: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(elsewhere, "real.iso")); err != nil || fi.Size() == 0 {
		t.Errorf("the link's target was not written: %v", err)
	}
	if ents, _ := os.ReadDir(elsewhere); len(ents) != 1 {
		t.Errorf("beside the target: %v", ents)
	}
}

// TestStaleTemporaries: a temporary SquashFS that a killed run left beside the output is removed
// by the next run; one that a live run holds is not.
func TestStaleTemporaries(t *testing.T) {
	top := testsystem.Toplevel(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "x.iso")
	// A run killed while it wrote its SquashFS (SIGKILL: no cleanup runs).
	cmd := exec.Command(gonixisoBin(t), assembleArgs(top, out, "--verbose", "--comp", "zstd", "--level", "19", "-j", "1")...)
	cmd.Env = testEnv()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var stale string
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		if p, ok := strings.CutPrefix(sc.Text(), "gonixiso: SquashFS in "); ok {
			stale = p
			break
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	if stale == "" {
		t.Fatal("the killed run never said where its SquashFS was")
	}
	if _, err := os.Stat(stale); err != nil {
		t.Fatalf("the killed run left nothing to clean: %v", err)
	}
	// A live run's temporary file, held locked by another process.
	held := filepath.Join(dir, ".x.iso.squashfs.999.gonixiso-tmp")
	if err := os.WriteFile(held, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	holder := exec.Command("flock", held, "sleep", "60")
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { holder.Process.Kill(); holder.Wait() }()
	for range 100 { // until flock holds it
		if exec.Command("flock", "-n", held, "true").Run() != nil {
			break
		}
	}

	log, code := runCLI(t, assembleArgs(top, out, "--verbose")...)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, log)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) || !strings.Contains(log, "removed 1 temporary files") {
		t.Errorf("the stale %s is still there (%v):\n%s", stale, err, log)
	}
	if _, err := os.Stat(held); err != nil {
		t.Errorf("the held temporary file was removed: %v", err)
	}
}

// TestBadNumbers: numbers out of range are usage errors, exit 2, before any work.
func TestBadNumbers(t *testing.T) {
	top := testsystem.Toplevel(t)
	out := filepath.Join(t.TempDir(), "x.iso")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-j", "1000000"}, "--jobs 1000000: want 1 to 1024"},
		{[]string{"-j", "0"}, "--jobs 0"},
		{[]string{"--block-size", "3K"}, "block size 3072"},
		{[]string{"--block-size", "9999999999999M"}, `"9999999999999M" is not a block size`},
		{[]string{"--block-size", "-1M"}, "not a block size"},
		{[]string{"--level", "999"}, "level 999"},
		{[]string{"--comp", "xz", "--level", "10"}, "xz level 10"},
	} {
		args := append([]string{"assemble", "--toplevel", top, "-o", out, "--no-cache"}, tc.args...)
		log, code := runCLI(t, args...)
		if code != 2 || !strings.Contains(log, tc.want) {
			t.Errorf("%v: exit %d, want 2 and %q:\n%s", tc.args, code, tc.want, log)
		}
	}
}

// TestCacheFaults: cache info creates nothing; a cache folder that cannot be made costs a
// warning, not the build.
func TestCacheFaults(t *testing.T) {
	dir := t.TempDir()
	cache := filepath.Join(dir, "never-made")
	if log, code := runCLI(t, "cache", "info", "--cache", cache); code != 0 || !strings.Contains(log, "0 entries") {
		t.Errorf("cache info: exit %d\n%s", code, log)
	}
	if _, err := os.Stat(cache); !os.IsNotExist(err) {
		t.Errorf("cache info made %s: %v", cache, err)
	}
	blocker := filepath.Join(dir, "a-file")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "x.iso")
	log, code := runCLI(t, "assemble", "--toplevel", testsystem.Toplevel(t), "-o", out, "--comp", "gzip", "--level", "1",
		"--cache", filepath.Join(blocker, "cache"))
	if code != 0 || !strings.Contains(log, "building without the cache") {
		t.Errorf("exit %d, want 0 and a warning:\n%s", code, log)
	}
}
