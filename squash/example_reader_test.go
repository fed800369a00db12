package squash_test

import (
	"fmt"
	"io"
	"io/fs"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/gonixiso/gonixiso/squash"
)

// exampleImage writes a small image and returns its path, for the examples.
func exampleImage() (path string, cleanup func()) {
	dir, err := os.MkdirTemp("", "squash-example")
	if err != nil {
		log.Fatal(err)
	}
	path = filepath.Join(dir, "example.squashfs")
	f, err := os.Create(path)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	w, err := squash.NewWriter(f, squash.Options{ModTime: 1})
	if err != nil {
		log.Fatal(err)
	}
	for _, h := range []*squash.Header{
		{Name: "bin", Mode: fs.ModeDir | 0o755, ModTime: 1},
		{Name: "bin/hello", Mode: 0o755, ModTime: 1, Size: 27},
		{Name: "share/doc/README", Mode: 0o644, ModTime: 1, Size: 12},
		{Name: "sh", Mode: fs.ModeSymlink | 0o777, ModTime: 1, Linkname: "bin/hello"},
	} {
		if err := w.WriteHeader(h); err != nil {
			log.Fatal(err)
		}
		switch h.Name {
		case "bin/hello":
			io.WriteString(w, "#!/bin/sh\necho hello world\n")
		case "share/doc/README":
			io.WriteString(w, "Hello world\n")
		}
	}
	if err := w.Close(); err != nil {
		log.Fatal(err)
	}
	return path, func() { os.RemoveAll(dir) }
}

// Walk lists an image the way inspect does: every entry, in order, with its size.
func ExampleReader_Walk() {
	path, cleanup := exampleImage()
	defer cleanup()
	f, err := os.Open(path)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		log.Fatal(err)
	}
	r, err := squash.NewReader(f, fi.Size())
	if err != nil {
		log.Fatal(err)
	}
	sb := r.Superblock()
	fmt.Printf("%s, %d-byte blocks, %d inodes\n", sb.Compression, sb.BlockSize, sb.Inodes)
	err = r.Walk(func(name string, e *squash.Entry) error {
		switch {
		case e.Mode.IsDir():
			fmt.Printf("%-18s %v %d entries\n", name, e.Mode, e.Children)
		case e.Mode&fs.ModeSymlink != 0:
			fmt.Printf("%-18s %v -> %s\n", name, e.Mode, e.Linkname)
		default:
			fmt.Printf("%-18s %v %d bytes\n", name, e.Mode, e.Size)
		}
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := r.Check(); err != nil {
		log.Fatal(err)
	}
	fmt.Println("the kernel would mount it")
	// Output:
	// zstd, 1048576-byte blocks, 7 inodes
	// .                  drwxr-xr-x 3 entries
	// bin                drwxr-xr-x 1 entries
	// bin/hello          -rwxr-xr-x 27 bytes
	// sh                 Lrwxrwxrwx -> bin/hello
	// share              drwxr-xr-x 1 entries
	// share/doc          drwxr-xr-x 1 entries
	// share/doc/README   -rw-r--r-- 12 bytes
	// the kernel would mount it
}

// FS gives the image to anything that reads an fs.FS.
func ExampleReader_FS() {
	path, cleanup := exampleImage()
	defer cleanup()
	f, err := os.Open(path)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		log.Fatal(err)
	}
	r, err := squash.NewReader(f, fi.Size())
	if err != nil {
		log.Fatal(err)
	}
	fsys := r.FS()
	b, err := fs.ReadFile(fsys, "bin/hello")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(string(b))
	target, err := fs.ReadLink(fsys, "sh")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("sh ->", target)
	matches, err := fs.Glob(fsys, "share/*/*")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(strings.Join(matches, " "))
	// Output:
	// #!/bin/sh
	// echo hello world
	// sh -> bin/hello
	// share/doc/README
}

// Blocks, Storage and DataID tell how a file is stored without exposing the image's layout:
// what diff compares without decoding, what inspect adds up, what manifest reads once.
func ExampleReader_Blocks() {
	dir, err := os.MkdirTemp("", "squash-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	f, err := os.Create(filepath.Join(dir, "example.squashfs"))
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	w, err := squash.NewWriter(f, squash.Options{BlockSize: 4096, Compression: squash.Compression{Level: 3, PureGo: true}})
	if err != nil {
		log.Fatal(err)
	}
	// A block of text, two blocks of zeros, and a tail; then the same contents again.
	data := []byte(strings.Repeat("some text\n", 410)[:4096] + strings.Repeat("\x00", 8192) + "the end\n")
	for _, name := range []string{"a", "b"} {
		if err := w.WriteHeader(&squash.Header{Name: name, Mode: 0o644, Size: int64(len(data))}); err != nil {
			log.Fatal(err)
		}
		if _, err := w.Write(data); err != nil {
			log.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		log.Fatal(err)
	}
	fi, err := f.Stat()
	if err != nil {
		log.Fatal(err)
	}
	r, err := squash.NewReader(f, fi.Size())
	if err != nil {
		log.Fatal(err)
	}
	a, err := r.Lookup("a")
	if err != nil {
		log.Fatal(err)
	}
	for b, err := range r.Blocks(a) {
		if err != nil {
			log.Fatal(err)
		}
		switch {
		case b.Sparse:
			fmt.Printf("at %5d, %4d bytes: zeros, not stored\n", b.Offset, b.Size)
		case b.Tail:
			fmt.Printf("at %5d, %4d bytes: the tail, in a fragment block of %d bytes\n", b.Offset, b.Size, b.StoredSize)
		default:
			fmt.Printf("at %5d, %4d bytes: stored in %d bytes, compressed %v\n", b.Offset, b.Size, b.StoredSize, !b.Uncompressed)
		}
	}
	st, err := r.Storage(a)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%+v\n", st)
	b, err := r.Lookup("b")
	if err != nil {
		log.Fatal(err)
	}
	ida, _ := r.DataID(a)
	idb, _ := r.DataID(b)
	fmt.Println("a and b share their data:", ida == idb)
	// Output:
	// at     0, 4096 bytes: stored in 28 bytes, compressed true
	// at  4096, 8192 bytes: zeros, not stored
	// at 12288,    8 bytes: the tail, in a fragment block of 8 bytes
	// {Blocks:4096 Sparse:8192 Tail:8 Stored:28 TailStored:8}
	// a and b share their data: true
}
