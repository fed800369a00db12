package fat_test

import (
	"bytes"
	"io"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/gonixiso/gonixiso/boot/fat"
)

// shareClusters builds an image of files, then points the entry of every short name in from at
// the clusters of the entry just before it, which the writer makes the one that sorts first.
func shareClusters(t *testing.T, files tree, from string) []byte {
	t.Helper()
	img := build(t, files, fat.Options{Size: 256 << 10, ModTime: modTime}, nil)
	name := []byte(from)
	patched := 0
	for off := 32; off+32 <= len(img); off += 32 {
		if bytes.Equal(img[off:off+11], name) {
			copy(img[off+26:off+28], img[off-32+26:off-32+28])
			patched++
		}
	}
	if patched == 0 {
		t.Fatalf("no entry %q in the image", from)
	}
	return img
}

// TestReaderRefusesNonTrees checks that NewReader refuses, quickly and saying why, directory
// trees whose walk would not end in reasonable time or would read more than the volume: a
// directory reached by two entries at each of 30 levels (2^30 paths), files whose data are the
// same clusters, and directories nested deeper than the reader follows.
func TestReaderRefusesNonTrees(t *testing.T) {
	dag, deep := tree{}, tree{}
	p := ""
	for range 30 {
		dag[p+"b"] = nil
		p += "a/"
	}
	dag[p+"leaf"] = []byte("leaf")
	p = ""
	for range 70 {
		p += "d/"
	}
	deep[p+"f"] = []byte("deep")
	for _, c := range []struct {
		name string
		img  []byte
		want string
	}{
		{"shared directories", shareClusters(t, dag, "B          "), "a directory reached twice"},
		{"cross-linked files", shareClusters(t, tree{"a.bin": bytes.Repeat([]byte("a"), 5000), "b.bin": bytes.Repeat([]byte("b"), 5000)}, "B       BIN"), "cross-linked"},
		{"deep directories", build(t, deep, fat.Options{Size: 256 << 10, ModTime: modTime}, nil), "nested deeper than 64"},
	} {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			_, err := fat.NewReader(bytes.NewReader(c.img), int64(len(c.img)))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("NewReader: %v, want an error saying %q", err, c.want)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("NewReader took %v", d)
			}
		})
	}
	// What the writer makes is a tree: it reads, and every file's bytes add up to less than
	// the image.
	img := build(t, dag, fat.Options{Size: 256 << 10, ModTime: modTime}, nil)
	r, err := fat.NewReader(bytes.NewReader(img), int64(len(img)))
	if err != nil {
		t.Fatal(err)
	}
	var dirs, total int
	err = fs.WalkDir(r, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			dirs++
			return err
		}
		f, err := r.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		n, err := io.Copy(io.Discard, f)
		total += int(n)
		return err
	})
	if err != nil || dirs != 61 || total != 4 {
		t.Errorf("walk of the unpatched tree: %d directories, %d bytes, %v", dirs, total, err)
	}
}
