package squash_test

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gonixiso/gonixiso/internal/livestore"
	"github.com/gonixiso/gonixiso/internal/testtree"
	"github.com/gonixiso/gonixiso/squash"
)

// recordTee notes what a Tee is given, one line per entry, a regular file's contents by hash.
type recordTee struct {
	log     []string
	content bytes.Buffer
}

func (r *recordTee) Entry(rel string, fi fs.FileInfo, link string) error {
	r.flush()
	r.log = append(r.log, fmt.Sprintf("%q %v %d %q", rel, fi.Mode(), sizeOf(fi), link))
	return nil
}

func (r *recordTee) Write(b []byte) (int, error) { return r.content.Write(b) }

func (r *recordTee) flush() {
	if r.content.Len() > 0 {
		r.log = append(r.log, fmt.Sprintf("  %d bytes %x", r.content.Len(), sha(r.content.Bytes())))
		r.content.Reset()
	}
}

func sizeOf(fi fs.FileInfo) int64 {
	if fi.Mode().IsRegular() {
		return fi.Size()
	}
	return 0
}

// TestTee: a Tee sees every entry of a store path in NAR's order (a directory, then its entries
// sorted bytewise, recursively) and every byte of every regular file, holes as zeros, from the
// same reads the image is made of; the image is the same as without a Tee.
func TestTee(t *testing.T) {
	src := filepath.Join(t.TempDir(), "0123456789abcdfghijklmnpqrsvwxyz-tree")
	if err := os.Mkdir(src, 0o755); err != nil {
		t.Fatal(err)
	}
	testtree.Make(t, src, testtree.Options{BlockSize: 4096, OddNames: true})
	// A sparse file: its hole goes to the Tee as zeros.
	sparse := filepath.Join(src, "tee-sparse")
	f, err := os.Create(sparse)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte("end"), 1<<20)
	f.Close()

	var want recordTee
	err = filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if rel == "." {
			rel = ""
		}
		var link string
		if fi.Mode()&fs.ModeSymlink != 0 {
			link, _ = os.Readlink(p)
		}
		want.Entry(rel, fi, link)
		if fi.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			want.Write(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want.flush()

	build := func(tee squash.Tee) []byte {
		out, err := os.CreateTemp(t.TempDir(), "image")
		if err != nil {
			t.Fatal(err)
		}
		defer out.Close()
		w, err := squash.NewWriter(out, squash.Options{BlockSize: 4096,
			Compression: squash.Compression{Algorithm: squash.Gzip, Level: 1}, ModTime: 1})
		if err != nil {
			t.Fatal(err)
		}
		if err := livestore.AddRoot(w, 1); err != nil {
			t.Fatal(err)
		}
		if err := livestore.AddPath(w, src, tee); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(out.Name())
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var got recordTee
	withTee := build(&got)
	got.flush()
	if g, w := strings.Join(got.log, "\n"), strings.Join(want.log, "\n"); g != w {
		t.Errorf("the Tee saw\n%s\n\nwant\n%s", g, w)
	}
	if !bytes.Equal(withTee, build(nil)) {
		t.Error("the image with a Tee differs from the image without one")
	}
}

// TestTeeError: an error from the Tee stops the walk with an error that names the file.
func TestTeeError(t *testing.T) {
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := os.Create(filepath.Join(t.TempDir(), "image"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	w, err := squash.NewWriter(out, squash.Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = livestore.AddPath(w, src, failingTee{})
	if err == nil || !strings.Contains(err.Error(), src) || !strings.Contains(err.Error(), "no entries today") {
		t.Errorf("AddPath with a failing Tee: %v", err)
	}
}

type failingTee struct{}

func (failingTee) Entry(string, fs.FileInfo, string) error {
	return fmt.Errorf("no entries today")
}
func (failingTee) Write(b []byte) (int, error) { return len(b), nil }
