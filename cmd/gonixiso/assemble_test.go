package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gonixiso/gonixiso/internal/boottest"
	"github.com/gonixiso/gonixiso/internal/testsystem"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// gonixisoBin builds the command once per test process.
func gonixisoBin(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "gonixiso-bin-")
		if err != nil {
			binErr = err
			return
		}
		os.Chmod(dir, 0o755)
		binPath = filepath.Join(dir, "gonixiso")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// runCLI runs the command and returns its standard error and exit status.
func runCLI(t *testing.T, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(gonixisoBin(t), args...)
	cmd.Env = testEnv()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Stdout = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return stderr.String(), 0
	case errors.As(err, &ee):
		return stderr.String(), ee.ExitCode()
	}
	t.Fatalf("gonixiso %s: %v", strings.Join(args, " "), err)
	return "", 0
}

var (
	cacheHomeOnce sync.Once
	cacheHome     string
)

// testEnv keeps the command's default cache out of the user's: a folder for this test process.
func testEnv() []string {
	cacheHomeOnce.Do(func() {
		cacheHome, _ = os.MkdirTemp("", "gonixiso-test-cache-")
	})
	return append(os.Environ(), "XDG_CACHE_HOME="+cacheHome)
}

var (
	flakeISOOnce sync.Once
	flakeISO     string
	flakeISOLog  string
)

// builtISO is the test system's ISO made by `gonixiso build --flake`, with the defaults.
func builtISO(t *testing.T) string {
	t.Helper()
	flakeISOOnce.Do(func() {
		dir, err := os.MkdirTemp("", "gonixiso-flake-iso-")
		if err != nil {
			t.Fatal(err)
		}
		iso := filepath.Join(dir, "test.iso")
		ref := testsystem.FlakeRef(testsystem.Root(t)) + "#" + testsystem.Name
		log, code := runCLI(t, "build", "--flake", ref, "-o", iso)
		if code != 0 {
			flakeISOLog = log
			return
		}
		flakeISO = iso
	})
	if flakeISO == "" {
		t.Fatalf("gonixiso build --flake failed:\n%s", flakeISOLog)
	}
	return flakeISO
}

// TestBuildFlakeBoots (slow: QEMU) builds the test system with `gonixiso build --flake` and
// boots the ISO in all four modes and into its specialisation from isolinux and from GRUB.
func TestBuildFlakeBoots(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: boots QEMU")
	}
	iso := builtISO(t)
	type bootCase struct {
		mode  boottest.Mode
		entry string
	}
	cases := []bootCase{{boottest.CDBIOS, ""}, {boottest.CDUEFI, ""}, {boottest.USBBIOS, ""}, {boottest.USBUEFI, ""},
		{boottest.USBBIOS, testsystem.Specialisation}, {boottest.CDUEFI, testsystem.Specialisation}}
	for _, c := range cases {
		name := string(c.mode)
		want := "main"
		if c.entry != "" {
			name += "/" + c.entry
			want = c.entry
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			res, err := boottest.Boot(context.Background(), boottest.Options{ISO: iso, Mode: c.mode, Entry: c.entry})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %s in %.1fs: %s", name, res.Outcome, res.Duration.Seconds(), res.Reason)
			if res.Outcome != boottest.Pass || res.Config != want {
				t.Fatalf("boot %s: %s\n%s", res.Outcome, res.Reason, res.Tail)
			}
		})
	}
}

// TestRegistrationLoads extracts the ISO's SquashFS with unsquashfs, loads its
// nix-path-registration into a fresh store with nix-store --load-db, and checks every path's
// contents against its registered NAR hash.
func TestRegistrationLoads(t *testing.T) {
	testsystem.Require(t, "xorriso", "unsquashfs", "nix-store")
	iso := builtISO(t)
	dir := t.TempDir()
	sq := filepath.Join(dir, "nix-store.squashfs")
	runTool(t, "", "xorriso", "-osirrox", "on", "-indev", iso, "-extract", "/nix-store.squashfs", sq)
	root := filepath.Join(dir, "root")
	store := filepath.Join(root, "nix", "store")
	if err := os.MkdirAll(filepath.Dir(store), 0o755); err != nil {
		t.Fatal(err)
	}
	runTool(t, "", "unsquashfs", "-no-progress", "-d", store, sq)
	reg, err := os.ReadFile(filepath.Join(store, "nix-path-registration"))
	if err != nil {
		t.Fatal(err)
	}
	runTool(t, string(reg), "nix-store", "--store", root, "--load-db")
	out := runTool(t, "", "nix-store", "--store", root, "--verify", "--check-contents")
	if strings.Contains(out, "error") || strings.Contains(out, "modified") {
		t.Fatalf("nix-store --verify --check-contents:\n%s", out)
	}
	// Every path of the closure is registered.
	got := runTool(t, "", "nix-store", "--store", root, "-qR", testsystem.Toplevel(t))
	if n, want := len(strings.Fields(got)), len(testsystem.Closure(t, testsystem.Toplevel(t))); n != want {
		t.Fatalf("the loaded store has %d paths in the closure, want %d", n, want)
	}
	// A negative control: a changed file is found.
	victim := filepath.Join(root, strings.TrimPrefix(testsystem.Toplevel(t), "/"), "nixos-version")
	os.Chmod(filepath.Dir(victim), 0o755)
	os.Chmod(victim, 0o644)
	if err := os.WriteFile(victim, []byte("changed"), 0o444); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("nix-store", "--store", root, "--verify", "--check-contents")
	b, _ := cmd.CombinedOutput()
	if !strings.Contains(string(b), "modified") {
		t.Fatalf("nix-store --verify did not notice a changed file:\n%s", b)
	}
}

func runTool(t *testing.T, stdin, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestReproducible assembles the test system again with one worker and with the closure from the
// native scan instead of the Nix database: the bytes equal those of `gonixiso build`'s ISO.
func TestReproducible(t *testing.T) {
	first, err := os.ReadFile(builtISO(t))
	if err != nil {
		t.Fatal(err)
	}
	iso := filepath.Join(t.TempDir(), "again.iso")
	log, code := runCLI(t, "assemble", "--toplevel", testsystem.Toplevel(t), "-o", iso, "--jobs", "1", "--closure-source", "scan", "--no-cache")
	if code != 0 {
		t.Fatalf("assemble: exit %d\n%s", code, log)
	}
	second, err := os.ReadFile(iso)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first, second) {
		t.Fatalf("two builds of the same toplevel differ (%d and %d bytes)", len(first), len(second))
	}
}

// TestAssembleErrors checks that bad input gets a clear error naming the path and the problem, a
// non-zero exit, and no file at the output path nor temporary files beside it.
func TestAssembleErrors(t *testing.T) {
	top := testsystem.Toplevel(t)
	payload := ""
	for _, p := range testsystem.Closure(t, top) {
		if strings.HasSuffix(p, "-gonixiso-test-payload") {
			payload = p
		}
	}
	out := t.TempDir()
	iso := filepath.Join(out, "x.iso")
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"missing toplevel", []string{"assemble", "--toplevel", "/nix/store/00000000000000000000000000000000-nope", "-o", iso}, 2, "00000000000000000000000000000000-nope"},
		{"not a store path", []string{"assemble", "--toplevel", "/etc", "-o", iso}, 2, "/etc"},
		{"not NixOS", []string{"assemble", "--toplevel", payload, "-o", iso}, 2, payload},
		{"no toplevel flag", []string{"assemble", "-o", iso}, 2, "toplevel"},
		{"bad compressor", []string{"assemble", "--toplevel", top, "-o", iso, "--comp", "lzo"}, 2, `--comp "lzo"`},
		{"bad level", []string{"assemble", "--toplevel", top, "-o", iso, "--level", "99"}, 2, "zstd level 99"},
		{"bad block size", []string{"assemble", "--toplevel", top, "-o", iso, "--block-size", "3000"}, 2, "block size 3000"},
		{"bad epoch", []string{"assemble", "--toplevel", top, "-o", iso, "--source-date-epoch", "yesterday"}, 2, "yesterday"},
		{"volume id disagrees", []string{"assemble", "--toplevel", top, "-o", iso, "--volume-id", "other"}, 2, "other"},
		{"missing output folder", []string{"assemble", "--toplevel", top, "-o", "/does/not/exist/x.iso"}, 2, "/does/not/exist"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			log, code := runCLI(t, c.args...)
			if code != c.code || !strings.Contains(log, c.want) {
				t.Errorf("exit %d, want %d; output should name %q:\n%s", code, c.code, c.want, log)
			}
			assertNothingLeft(t, out)
		})
	}
}

// assertNothingLeft fails if dir holds anything: an output or a temporary file.
func assertNothingLeft(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("left behind: %s", filepath.Join(dir, e.Name()))
	}
}

// TestAssembleUnreadableFile runs gonixiso as an unprivileged user on a copy of the closure in
// which one file cannot be read: the error names that file.
func TestAssembleUnreadableFile(t *testing.T) {
	if os.Getuid() != 0 {
		t.Fatal("this test makes a file unreadable for another user: run the tests as root (scripts/test)")
	}
	top := testsystem.Toplevel(t)
	base := t.TempDir()
	os.Chmod(base, 0o755)
	for d := filepath.Dir(base); d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		os.Chmod(d, 0o755)
	}
	root := filepath.Join(base, "root")
	testsystem.StoreCopy(t, root)
	var victim string
	for _, p := range testsystem.Closure(t, top) {
		if strings.HasSuffix(p, "-gonixiso-test-payload") {
			victim = filepath.Join(root, p, "share", "data", "numbers.txt")
		}
	}
	if err := os.Chmod(victim, 0o000); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(base, "out")
	if err := os.Mkdir(out, 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(out, 0o777)
	cmd := exec.Command(gonixisoBin(t), "assemble", "--toplevel", top,
		"--store-root", root, "--closure-source", "scan", "-o", filepath.Join(out, "x.iso"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	cmd.Env = append(os.Environ(), "HOME="+out, "XDG_CACHE_HOME="+filepath.Join(base, "cache"))
	os.MkdirAll(filepath.Join(base, "cache"), 0o777)
	os.Chmod(filepath.Join(base, "cache"), 0o777)
	b, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("assemble succeeded with an unreadable file:\n%s", b)
	}
	if !strings.Contains(string(b), victim) || !strings.Contains(string(b), "permission denied") {
		t.Errorf("the error does not name %s and the problem:\n%s", victim, b)
	}
	assertNothingLeft(t, out)
}

// TestAssembleDiskFull writes the ISO to a file system too small for it: a clear error, and
// neither the output nor a temporary file is left.
func TestAssembleDiskFull(t *testing.T) {
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=12m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small tmpfs here to fill: %v: %s", err, out)
	}
	defer exec.Command("umount", mnt).Run()
	log, code := runCLI(t, "assemble", "--toplevel", testsystem.Toplevel(t), "-o", filepath.Join(mnt, "x.iso"),
		"--comp", "gzip", "--level", "1")
	if code == 0 || !strings.Contains(log, "no space left on device") {
		t.Errorf("exit %d; want a failure saying the disk is full:\n%s", code, log)
	}
	assertNothingLeft(t, mnt)
}

// TestAssembleInterrupt sends SIGINT while the SquashFS is being written: gonixiso stops with
// status 130, says so, and leaves nothing behind.
func TestAssembleInterrupt(t *testing.T) {
	out := t.TempDir()
	cmd := exec.Command(gonixisoBin(t), "--verbose", "assemble", "--toplevel", testsystem.Toplevel(t),
		"-o", filepath.Join(out, "x.iso"), "--comp", "xz", "--level", "9", "--jobs", "1", "--no-cache")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	sc := bufio.NewScanner(stderr)
	sent := false
	for sc.Scan() {
		log.WriteString(sc.Text() + "\n")
		if !sent && strings.HasPrefix(sc.Text(), "gonixiso: squashfs") {
			time.Sleep(time.Second)
			cmd.Process.Signal(os.Interrupt)
			sent = true
		}
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !sent || !errors.As(err, &ee) || ee.ExitCode() != 130 || !strings.Contains(log.String(), "interrupted") {
		t.Fatalf("sent SIGINT: %v; exit %v; want status 130 and \"interrupted\":\n%s", sent, err, log.String())
	}
	assertNothingLeft(t, out)
}

// TestCheck builds with --check into an empty cache (the second build is warm from it) and from a
// full one (the second build is cold): both pass, and the second image is removed.
func TestCheck(t *testing.T) {
	cache := t.TempDir()
	out := t.TempDir()
	iso := filepath.Join(out, "x.iso")
	for _, want := range []string{"from the cache", "without the cache"} {
		log, code := runCLI(t, "assemble", "--toplevel", testsystem.Toplevel(t), "-o", iso, "--cache", cache,
			"--comp", "zstd", "--level", "3", "--pure-go", "--check")
		if code != 0 || !strings.Contains(log, "check: the second build ("+want) {
			t.Fatalf("--check: exit %d, want 0 and a second build %s:\n%s", code, want, log)
		}
		if _, err := os.Stat(filepath.Join(out, "x.check.iso")); !os.IsNotExist(err) {
			t.Errorf("the check's second image was left behind: %v", err)
		}
	}
}

// TestCacheCommand lists and trims a cache from the command line.
func TestCacheCommand(t *testing.T) {
	cache := t.TempDir()
	iso := filepath.Join(t.TempDir(), "x.iso")
	if log, code := runCLI(t, "assemble", "--toplevel", testsystem.Toplevel(t), "-o", iso, "--cache", cache,
		"--comp", "gzip", "--level", "1"); code != 0 {
		t.Fatalf("assemble: exit %d\n%s", code, log)
	}
	// An entry per store path (11), and GRUB's image.
	log, code := runCLI(t, "cache", "info", "--cache", cache)
	if code != 0 || !strings.Contains(log, "12 entries") {
		t.Errorf("cache info: exit %d:\n%s", code, log)
	}
	log, code = runCLI(t, "cache", "gc", "--cache", cache, "--max-size", "0")
	if code != 0 || !strings.Contains(log, "removed 12 entries") {
		t.Errorf("cache gc: exit %d:\n%s", code, log)
	}
	if _, code := runCLI(t, "cache", "gc", "--cache", cache); code != 2 {
		t.Errorf("cache gc without --max-size: exit %d, want 2", code)
	}
	if _, code := runCLI(t, "cache", "gc", "--cache", cache, "--max-size", "lots"); code != 2 {
		t.Errorf("cache gc --max-size lots: exit %d, want 2", code)
	}
}
