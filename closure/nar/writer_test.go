package nar_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/gonixiso/gonixiso/closure/nar"
	"github.com/gonixiso/gonixiso/internal/testsystem"
)

// nixDump returns `nix-store --dump path`: the reference NAR.
func nixDump(t *testing.T, path string) []byte {
	t.Helper()
	testsystem.Require(t, "nix-store")
	var stderr bytes.Buffer
	cmd := exec.Command("nix-store", "--dump", path)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("nix-store --dump %s: %v\n%s", path, err, stderr.Bytes())
	}
	return out
}

func dumpPath(t *testing.T, path string) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := nar.DumpPath(&b, path); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// makeTree lays out the shapes a NAR writer must get right.
func makeTree(t *testing.T) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "tree")
	rnd := rand.New(rand.NewPCG(1, 2))
	big := make([]byte, 3<<20+5) // several read buffers, length not a multiple of 8
	for i := range big {
		big[i] = byte(rnd.Uint32())
	}
	files := map[string]struct {
		data string
		mode os.FileMode
	}{
		"empty":               {"", 0o444},
		"eight":               {"12345678", 0o444},
		"nine":                {"123456789", 0o644},
		"exec-user":           {"#!/bin/sh\n", 0o555},
		"exec-user-only":      {"x", 0o544},
		"exec-other-only":     {"x", 0o445},
		"exec-group-only":     {"x", 0o454},
		"B-upper":             {"sorted before lowercase", 0o444},
		"a":                   {"a", 0o444},
		"a-b":                 {"a-b", 0o444},
		"a.b":                 {"a.b", 0o444},
		"sub/deeper/file":     {"deep", 0o444},
		"sub/z":               {"z", 0o444},
		"name with spaces":    {"spaces", 0o444},
		"ünïcödé":             {"utf-8 name", 0o444},
		"sub/deeper/big.bin":  {string(big), 0o444},
		"sub2/only-child.txt": {"alone", 0o444},
	}
	for name, f := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(f.data), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, f.mode); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"empty-dir", "sub/empty-too"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	links := map[string]string{
		"link-rel":      "a",
		"link-abs":      "/nix/store/00000000000000000000000000000000-nothing",
		"link-dangling": "does/not/exist",
		"sub/up":        "../a",
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestDumpPathMatchesNix(t *testing.T) {
	root := makeTree(t)
	for _, p := range []string{root, filepath.Join(root, "nine"), filepath.Join(root, "exec-user"),
		filepath.Join(root, "link-rel"), filepath.Join(root, "empty-dir"), filepath.Join(root, "sub")} {
		got, want := dumpPath(t, p), nixDump(t, p)
		if !bytes.Equal(got, want) {
			t.Errorf("%s: NAR differs from nix-store --dump: %d bytes (sha256 %x), want %d bytes (sha256 %x)",
				p, len(got), sha256.Sum256(got), len(want), sha256.Sum256(want))
		}
	}
}

// TestDumpPathTestSystem dumps every path of the test system's closure, as nix-store --dump does.
func TestDumpPathTestSystem(t *testing.T) {
	top := testsystem.Toplevel(t)
	for _, p := range testsystem.Closure(t, top) {
		got, want := dumpPath(t, p), nixDump(t, p)
		if !bytes.Equal(got, want) {
			t.Errorf("%s: NAR differs from nix-store --dump (%d bytes, want %d)", p, len(got), len(want))
		}
	}
}

func TestDumpPathErrors(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, want string }{
		{fifo, "unsupported file type"},
		{filepath.Join(dir, "missing"), "no such file"},
	} {
		err := nar.DumpPath(new(bytes.Buffer), tc.path)
		if err == nil || !strings.Contains(err.Error(), tc.path) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("DumpPath(%s) = %v, want an error naming the path and %q", tc.path, err, tc.want)
		}
	}
}

func TestWriterMatchesDumpPath(t *testing.T) {
	// The same tree written through headers gives the bytes DumpPath gives.
	dir := filepath.Join(t.TempDir(), "d")
	os.MkdirAll(filepath.Join(dir, "b"), 0o755)
	os.WriteFile(filepath.Join(dir, "a"), []byte("hello"), 0o755)
	os.WriteFile(filepath.Join(dir, "b", "c"), nil, 0o644)
	os.Symlink("../a", filepath.Join(dir, "b", "d"))
	var b bytes.Buffer
	nw := nar.NewWriter(&b)
	for _, h := range []nar.Header{
		{Path: "/", Type: nar.TypeDirectory},
		{Path: "/a", Type: nar.TypeRegular, Size: 5, Executable: true},
		{Path: "/b", Type: nar.TypeDirectory},
		{Path: "/b/c", Type: nar.TypeRegular},
		{Path: "/b/d", Type: nar.TypeSymlink, LinkTarget: "../a"},
	} {
		if err := nw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if h.Path == "/a" {
			if _, err := nw.Write([]byte("hello")); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := nw.Close(); err != nil {
		t.Fatal(err)
	}
	if want := nixDump(t, dir); !bytes.Equal(b.Bytes(), want) {
		t.Errorf("Writer output differs from nix-store --dump")
	}
}

func TestWriterRejects(t *testing.T) {
	type step struct {
		hdr   *nar.Header
		write string
	}
	dir := func(p string) step { return step{hdr: &nar.Header{Path: p, Type: nar.TypeDirectory}} }
	file := func(p string, size uint64, data string) step {
		return step{hdr: &nar.Header{Path: p, Type: nar.TypeRegular, Size: size}, write: data}
	}
	for _, tc := range []struct {
		name  string
		steps []step
		want  string
	}{
		{"root not first", []step{file("/a", 0, "")}, "first node must be the root"},
		{"unsorted", []step{dir("/"), file("/b", 0, ""), file("/a", 0, "")}, "sorted"},
		{"duplicate", []step{dir("/"), file("/a", 0, ""), file("/a", 0, "")}, "sorted"},
		{"outside open dirs", []step{dir("/"), file("/a/b", 0, "")}, "not in an open directory"},
		{"reopened dir", []step{dir("/"), dir("/a"), file("/b", 0, ""), file("/a/c", 0, "")}, "not in an open directory"},
		{"unclean path", []step{dir("/"), file("/a/../b", 0, "")}, "invalid path"},
		{"relative path", []step{dir("/"), file("a", 0, "")}, "invalid path"},
		{"empty name", []step{dir("/"), file("/a/", 0, "")}, "invalid path"},
		{"short contents", []step{dir("/"), file("/a", 4, "abc"), file("/b", 0, "")}, "1 bytes of contents missing"},
		{"second root", []step{dir("/"), dir("/")}, "already written"},
		{"empty symlink", []step{{hdr: &nar.Header{Path: "/", Type: nar.TypeSymlink}}}, "invalid symlink target"},
		{"bad type", []step{{hdr: &nar.Header{Path: "/"}}}, "invalid type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nw := nar.NewWriter(new(bytes.Buffer))
			var err error
			for _, s := range tc.steps {
				if err = nw.WriteHeader(s.hdr); err != nil {
					break
				}
				if s.write != "" {
					if _, err = nw.Write([]byte(s.write)); err != nil {
						break
					}
				}
			}
			if err == nil {
				err = nw.Close()
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
			// The error sticks.
			if err2 := nw.Close(); err2 == nil {
				t.Errorf("Close after an error succeeded")
			}
		})
	}

	nw := nar.NewWriter(new(bytes.Buffer))
	nw.WriteHeader(&nar.Header{Path: "/", Type: nar.TypeRegular, Size: 2})
	if _, err := nw.Write([]byte("abc")); !errors.Is(err, nar.ErrWriteTooLong) {
		t.Errorf("Write past Size = %v, want ErrWriteTooLong", err)
	}
	nw = nar.NewWriter(new(bytes.Buffer))
	nw.WriteHeader(&nar.Header{Path: "/", Type: nar.TypeDirectory})
	if err := nw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := nw.WriteHeader(&nar.Header{Path: "/a", Type: nar.TypeDirectory}); !errors.Is(err, nar.ErrWriteAfterClose) {
		t.Errorf("WriteHeader after Close = %v, want ErrWriteAfterClose", err)
	}
	if err := nar.NewWriter(new(bytes.Buffer)).Close(); err == nil {
		t.Errorf("Close of an empty archive succeeded")
	}
}

func TestFileInfoHeader(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		mode os.FileMode
		exec bool
	}{{0o444, false}, {0o555, true}, {0o544, true}, {0o454, false}, {0o445, false}} {
		p := filepath.Join(dir, tc.mode.String())
		os.WriteFile(p, []byte("abc"), 0o644)
		os.Chmod(p, tc.mode)
		fi, _ := os.Lstat(p)
		hdr, err := nar.FileInfoHeader(fi, "/f", "")
		if err != nil || hdr.Type != nar.TypeRegular || hdr.Size != 3 || hdr.Executable != tc.exec || hdr.Path != "/f" {
			t.Errorf("mode %v: %+v, %v; want a regular file of 3 bytes, executable %v", tc.mode, hdr, err, tc.exec)
		}
	}
	link := filepath.Join(dir, "link")
	os.Symlink("target", link)
	fi, _ := os.Lstat(link)
	if hdr, err := nar.FileInfoHeader(fi, "/", "target"); err != nil || hdr.Type != nar.TypeSymlink || hdr.LinkTarget != "target" {
		t.Errorf("symlink: %+v, %v", hdr, err)
	}
	fi, _ = os.Lstat(dir)
	if hdr, err := nar.FileInfoHeader(fi, "/", ""); err != nil || hdr.Type != nar.TypeDirectory {
		t.Errorf("directory: %+v, %v", hdr, err)
	}
	fi, _ = os.Lstat("/dev/null")
	if hdr, err := nar.FileInfoHeader(fi, "/", ""); err == nil {
		t.Errorf("a device: %+v, want an error", hdr)
	}
}
