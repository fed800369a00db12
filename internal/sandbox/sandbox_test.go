package sandbox_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gonixiso/gonixiso/internal/sandbox"
	"github.com/gonixiso/gonixiso/internal/testsystem"
)

// busybox is the test system's busybox: a static program of the store.
func busybox(t *testing.T) string {
	t.Helper()
	for _, p := range testsystem.Closure(t, testsystem.Toplevel(t)) {
		if strings.HasSuffix(p, "-busybox-static") {
			return p + "/bin/busybox"
		}
	}
	t.Fatal("no busybox in the test system's closure")
	return ""
}

func run(t *testing.T, work, script string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := sandbox.Run(ctx, sandbox.Spec{StoreDir: "/nix/store", StoreReal: "/nix/store", Work: work,
		Prog: busybox(t), Args: []string{"sh", "-c", script}}, &out, &out)
	return out.String(), err
}

// TestSandbox: a program of the store sees the store and its work folder, and nothing else of
// the host's: no host file, no network, no other process; what it writes lands in the work
// folder.
func TestSandbox(t *testing.T) {
	work := t.TempDir()
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte("host secret"), 0o644)
	bb := busybox(t)
	out, err := run(t, work, strings.Join([]string{
		bb + " echo made > made.txt",
		bb + " cat " + secret + " /etc/passwd /etc/shadow 2>&1",
		bb + " ls / | " + bb + " tr '\\n' ' '",
		bb + " echo",
		bb + " echo pid=$$",
		bb + " echo uid=$(" + bb + " id -u)",
		bb + " ls /proc 2>&1 | " + bb + " head -1",
		bb + " wget -q -T 2 -O - http://1.1.1.1/ 2>&1 || " + bb + " echo no-network",
		bb + " touch " + filepath.Dir(bb) + "/x 2>/dev/null && " + bb + " echo store-writable || " + bb + " echo store-read-only",
	}, "; "))
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{"pid=1", "no-network", "store-read-only"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	for _, leak := range []string{"host secret", "root:"} {
		if strings.Contains(out, leak) {
			t.Errorf("the sandbox leaked %q:\n%s", leak, out)
		}
	}
	if strings.Contains(out, "etc ") || strings.Contains(out, "home ") {
		t.Errorf("the root shows more than the store and the work folder:\n%s", out)
	}
	if b, err := os.ReadFile(filepath.Join(work, "made.txt")); err != nil || string(b) != "made\n" {
		t.Errorf("made.txt in the work folder: %q, %v", b, err)
	}
	if os.Getuid() == 0 {
		// Root's program runs as nobody: what it makes is nobody's.
		fi, err := os.Stat(filepath.Join(work, "made.txt"))
		if !strings.Contains(out, "uid=65534") || err != nil || fi.Sys().(*syscall.Stat_t).Uid != 65534 {
			t.Errorf("run as root, the program is not nobody: %v\n%s", err, out)
		}
	}
}

// TestSandboxRefusesOutsideStore: only programs of the store run.
func TestSandboxRefusesOutsideStore(t *testing.T) {
	err := sandbox.Run(context.Background(), sandbox.Spec{StoreDir: "/nix/store", StoreReal: "/nix/store", Work: t.TempDir(),
		Prog: "/bin/sh"}, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "not in the store") {
		t.Errorf("error %v", err)
	}
}

// TestSandboxKilled: the context's end kills the program.
func TestSandboxKilled(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start := time.Now()
	err := sandbox.Run(ctx, sandbox.Spec{StoreDir: "/nix/store", StoreReal: "/nix/store", Work: t.TempDir(),
		Prog: busybox(t), Args: []string{"sleep", "60"}}, nil, nil)
	if err == nil || time.Since(start) > 30*time.Second {
		t.Errorf("error %v after %s", err, time.Since(start))
	}
}
