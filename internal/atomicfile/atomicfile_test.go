package atomicfile

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestCommitAndAbandon(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "x.iso")
	f, err := Create(target, Options{Kind: "iso"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(filepath.Base(f.Name()), ".x.iso.iso.") || !strings.HasSuffix(f.Name(), tmpSuffix) {
		t.Errorf("temporary name %s", f.Name())
	}
	if _, err := f.WriteString("data"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(target); !os.IsNotExist(err) {
		t.Fatalf("target exists before Commit: %v", err)
	}
	if err := f.Commit(Options{Sync: true, Mode: 0o444}); err != nil {
		t.Fatal(err)
	}
	f.Abandon() // after Commit: nothing
	if b, err := os.ReadFile(target); err != nil || string(b) != "data" {
		t.Fatalf("target %q, %v", b, err)
	}
	if fi, _ := os.Stat(target); fi.Mode().Perm() != 0o444 {
		t.Errorf("mode %v", fi.Mode())
	}
	g, err := Create(target, Options{})
	if err != nil {
		t.Fatal(err)
	}
	g.WriteString("other")
	g.Abandon()
	if b, _ := os.ReadFile(target); string(b) != "data" {
		t.Errorf("abandoned file replaced the target: %q", b)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("left behind: %v", ents)
	}
	if err := g.Commit(Options{}); err == nil {
		t.Error("Commit after Abandon succeeded")
	}
}

// TestCleanStale: a temporary file that a killed run left is removed; one that a live run holds,
// and files of other names, are not.
// childFile is the file TestCleanStale's child process holds.
var childFile *File

func TestCleanStale(t *testing.T) {
	if os.Getenv("ATOMICFILE_CHILD") != "" {
		f, err := Create(os.Getenv("ATOMICFILE_CHILD"), Options{Kind: "squashfs"})
		if err != nil {
			os.Exit(3)
		}
		// Held in a package variable: a File no longer used could be collected, and its
		// finalizer would close it and release the lock while this process lives.
		childFile = f
		os.Stdout.WriteString(f.Name() + "\n")
		// Until killed. Not select{}: with no timer pending (a test binary run by hand has no
		// -test.timeout), the runtime finds every goroutine asleep, ends the process as
		// deadlocked and so releases the lock, at a moment of its own: the flake CI met twice.
		time.Sleep(time.Hour)
		os.Exit(4)
	}
	dir := t.TempDir()
	target := filepath.Join(dir, "nixos.iso")
	start := func() (*exec.Cmd, string) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCleanStale$")
		cmd.Env = append(os.Environ(), "ATOMICFILE_CHILD="+target)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		name, err := bufio.NewReader(out).ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		return cmd, strings.TrimSpace(name)
	}
	killed, stale := start()
	killed.Process.Kill()
	killed.Wait()
	live, held := start()
	defer func() { live.Process.Kill(); live.Wait() }()
	own, err := Create(target, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer own.Abandon()
	other := filepath.Join(dir, ".other.iso.part.1"+tmpSuffix)
	unrelated := filepath.Join(dir, ".nixos.iso.notours")
	for _, p := range []string{other, unrelated} {
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	removed, err := CleanStale(target)
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 1 || removed[0] != stale {
		t.Errorf("removed %v, want [%s]", removed, stale)
	}
	for _, p := range []string{held, own.Name(), other, unrelated} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	if removed, _ := CleanStaleIn(dir); len(removed) != 1 || removed[0] != other {
		t.Errorf("CleanStaleIn removed %v, want [%s]", removed, other)
	}
}
