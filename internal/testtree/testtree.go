// Package testtree makes directory trees on disk with the file shapes that image writers must
// get right: every file type, sizes around block and fragment boundaries, sparse and
// incompressible data, duplicates, odd names, large directories. Tests of squash/ and iso9660/
// pack such trees and compare what real tools extract with the source.
package testtree

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Options choose what a tree holds.
type Options struct {
	BlockSize   int  // the writer's block size, for sizes around its boundaries (default 1 MiB)
	BigDir      int  // entries in the large directory (0: none)
	Devices     bool // device nodes, a fifo and a socket (needs root for devices)
	OddNames    bool // names with spaces, newlines, control bytes, invalid UTF-8, 255 bytes
	Seed        uint64
	ModTimeBase int64 // mtimes are ModTimeBase + small offsets (default 1, as in the Nix store)
}

// Make fills dir (which must exist) and returns the number of entries it made.
func Make(t testing.TB, dir string, o Options) int {
	t.Helper()
	if o.BlockSize == 0 {
		o.BlockSize = 1 << 20
	}
	if o.ModTimeBase == 0 {
		o.ModTimeBase = 1
	}
	rng := rand.New(rand.NewPCG(o.Seed, 0x9e3779b97f4a7c15))
	count := 0
	mtime := o.ModTimeBase
	put := func(rel string, data []byte, mode os.FileMode) {
		t.Helper()
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		mtime++
		touch(t, p, mtime)
		count++
	}
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := 0; i+8 <= n; i += 8 {
			v := rng.Uint64()
			for k := 0; k < 8; k++ {
				b[i+k] = byte(v >> (8 * k))
			}
		}
		for i := n &^ 7; i < n; i++ {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	text := func(n int) []byte {
		var buf bytes.Buffer
		for buf.Len() < n {
			fmt.Fprintf(&buf, "line %d of some compressible text %x\n", buf.Len(), rng.Uint32()%97)
		}
		return buf.Bytes()[:n]
	}

	bs := o.BlockSize
	sizes := []int{0, 1, 2, 100, 4095, 4096, 4097, bs - 1, bs, bs + 1, 2*bs - 1, 3*bs + 17}
	for _, n := range sizes {
		put(fmt.Sprintf("sizes/text-%d", n), text(n), 0o644)
		put(fmt.Sprintf("sizes/random-%d", n), random(n), 0o644)
	}
	// Duplicates: a large and a small file, each three times, one in another directory.
	big := text(2*bs + 333)
	small := []byte("the same small contents\n")
	for _, d := range []string{"dups/a", "dups/b", "dups/c/deeper"} {
		put(d+"/big", big, 0o644)
		put(d+"/small", small, 0o644)
	}
	// Same tail, different heads; same head, different tails.
	put("dups/tail1", append(random(bs), small...), 0o644)
	put("dups/tail2", append(random(bs), small...), 0o644)
	// Modes.
	put("modes/exec", text(300), 0o755)
	put("modes/readonly", text(300), 0o444)
	put("modes/setuid", text(10), os.ModeSetuid|0o755)
	put("modes/setgid", text(10), os.ModeSetgid|0o755)
	put("modes/none", text(10), 0o000)
	// Sparse: holes at the start, the middle and the end, and an all-zero file.
	sparse := filepath.Join(dir, "sparse/holes")
	if err := os.MkdirAll(filepath.Dir(sparse), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(sparse)
	if err != nil {
		t.Fatal(err)
	}
	for _, off := range []int64{int64(3 * bs), int64(5*bs + 100)} {
		if _, err := f.WriteAt(random(1000), off); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Truncate(int64(8*bs + 12345)); err != nil {
		t.Fatal(err)
	}
	f.Close()
	touch(t, sparse, mtime)
	count++
	put("sparse/zeros", make([]byte, 2*bs+7), 0o644)
	put("sparse/zero-tail", append(text(bs), make([]byte, 1000)...), 0o644)
	// Symlinks.
	for name, target := range map[string]string{
		"links/relative": "../sizes/text-100",
		"links/absolute": "/nix/store/00000000000000000000000000000000-x/bin/sh",
		"links/dangling": "does/not/exist",
		"links/dir":      "../dups",
		"links/long":     strings.Repeat("very-long-target/", 200),
	} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
		lutimes(t, p, mtime)
		count++
	}
	// Empty directories, nested.
	for _, d := range []string{"empty", "nested/a/b/c/d/e/f/g/h/i/j/empty"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
		count++
	}
	if err := os.Chmod(filepath.Join(dir, "empty"), 0o700); err != nil {
		t.Fatal(err)
	}
	if o.OddNames {
		names := []string{
			"with space", "tab\there", "new\nline", "-dash", "*star*", "back\\slash", "quote\"'",
			"ünïcödé", "日本語", "\x01\x02\x1f", "invalid-\xff\xfe-utf8", strings.Repeat("n", 255),
			"colon:semi;", "percent%20", ".hidden", "..dots",
		}
		for i, n := range names {
			put("odd/"+n, text(10+i), 0o644)
		}
	}
	if o.BigDir > 0 {
		bigDir := filepath.Join(dir, "bigdir")
		if err := os.MkdirAll(bigDir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < o.BigDir; i++ {
			// Names of varying length so headers and index entries land anywhere.
			name := fmt.Sprintf("entry-%05d%s", i, strings.Repeat("x", i%23))
			p := filepath.Join(bigDir, name)
			if err := os.WriteFile(p, []byte(name), 0o644); err != nil {
				t.Fatal(err)
			}
			touch(t, p, o.ModTimeBase)
			count++
		}
	}
	if o.Devices {
		dev := filepath.Join(dir, "dev")
		if err := os.MkdirAll(dev, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Mkfifo(filepath.Join(dev, "fifo"), 0o644); err != nil {
			t.Fatal(err)
		}
		count++
		for _, d := range []struct {
			name         string
			mode         uint32
			major, minor uint32
		}{
			{"null", syscall.S_IFCHR | 0o666, 1, 3},
			{"big-minor", syscall.S_IFCHR | 0o600, 240, 70000},
			{"sda", syscall.S_IFBLK | 0o660, 8, 0},
		} {
			rdev := int(d.minor&0xff | d.major<<8 | (d.minor&^0xff)<<12)
			if err := syscall.Mknod(filepath.Join(dev, d.name), d.mode, rdev); err != nil {
				t.Fatalf("mknod %s (the tests run as root): %v", d.name, err)
			}
			count++
		}
		l, err := net.Listen("unix", filepath.Join(dev, "socket"))
		if err != nil {
			t.Fatal(err)
		}
		l.(*net.UnixListener).SetUnlinkOnClose(false)
		l.Close()
		count++
		for _, n := range []string{"fifo", "null", "big-minor", "sda", "socket"} {
			touch(t, filepath.Join(dev, n), mtime)
		}
	}
	// Directory times last: adding entries changed them.
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.IsDir() {
			touch(t, p, o.ModTimeBase)
		}
		return nil
	})
	return count
}

func touch(t testing.TB, p string, mtime int64) {
	t.Helper()
	tm := time.Unix(mtime, 0)
	if err := os.Chtimes(p, tm, tm); err != nil {
		t.Fatal(err)
	}
}

func lutimes(t testing.TB, p string, mtime int64) {
	t.Helper()
	ts := []unix.Timespec{{Sec: mtime}, {Sec: mtime}}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		t.Fatal(err)
	}
}
