package squash_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/gonixiso/gonixiso/internal/livestore"
	"github.com/gonixiso/gonixiso/squash"
)

// A Writer is used like archive/tar's: a header, then the contents, for each entry; Close writes
// the tables. The image's bytes do not depend on Workers.
func ExampleWriter() {
	dir, err := os.MkdirTemp("", "squash-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	f, err := os.Create(filepath.Join(dir, "image.squashfs"))
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()

	w, err := squash.NewWriter(f, squash.Options{
		Compression: squash.Compression{Algorithm: squash.Zstd, Level: 3, PureGo: true},
		ModTime:     315532800, // SOURCE_DATE_EPOCH
	})
	if err != nil {
		log.Fatal(err)
	}
	files := []struct{ name, body string }{
		{"etc/motd", "welcome\n"},
		{"etc/copy-of-motd", "welcome\n"}, // stored once
	}
	for _, file := range files {
		hdr := &squash.Header{Name: file.name, Mode: 0o444, ModTime: 1, Size: int64(len(file.body))}
		if err := w.WriteHeader(hdr); err != nil {
			log.Fatal(err)
		}
		if _, err := io.WriteString(w, file.body); err != nil {
			log.Fatal(err)
		}
	}
	if err := w.WriteHeader(&squash.Header{Name: "etc/issue", Mode: fs.ModeSymlink | 0o777, ModTime: 1, Linkname: "motd"}); err != nil {
		log.Fatal(err)
	}
	if err := w.Close(); err != nil {
		log.Fatal(err)
	}

	fi, _ := f.Stat()
	r, err := squash.NewReader(f, fi.Size())
	if err != nil {
		log.Fatal(err)
	}
	b, _ := fs.ReadFile(r.FS(), "etc/copy-of-motd")
	fmt.Printf("etc/copy-of-motd: %q\n", b)
	fmt.Println(r.Check())
	// Output:
	// etc/copy-of-motd: "welcome\n"
	// <nil>
}

// Segments let a later image reuse an earlier image's compressed bytes: here a store path's
// segment is kept aside as it is written, then placed again instead of being compressed. The two
// images are identical.
func ExampleWriter_AddSegment() {
	dir, err := os.MkdirTemp("", "squash-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	store := filepath.Join(dir, "0123456789abcdfghijklmnpqrsvwxyz-hello")
	os.MkdirAll(filepath.Join(store, "bin"), 0o755)
	os.WriteFile(filepath.Join(store, "bin", "hello"), []byte("#!/bin/sh\necho hello\n"), 0o555)

	var kept []byte // the segment's description
	var keptData []byte
	build := func(name string, reuse bool) []byte {
		p := filepath.Join(dir, name)
		f, err := os.Create(p)
		if err != nil {
			log.Fatal(err)
		}
		defer f.Close()
		opts := squash.Options{Compression: squash.Compression{Level: 3, PureGo: true}, ModTime: 1}
		opts.OnSegment = func(seg *squash.Segment) error {
			if seg.Entries[0].Name == filepath.Base(store) {
				kept, _ = seg.MarshalBinary()
				keptData = make([]byte, seg.Size())
				_, err := f.ReadAt(keptData, seg.Start)
				return err
			}
			return nil
		}
		w, err := squash.NewWriter(f, opts)
		if err != nil {
			log.Fatal(err)
		}
		if err := livestore.AddRoot(w, 1); err != nil {
			log.Fatal(err)
		}
		if reuse {
			var seg squash.Segment
			if err := seg.UnmarshalBinary(kept); err != nil {
				log.Fatal(err)
			}
			if err := w.CheckSegment(&seg); err != nil {
				log.Fatal(err)
			}
			if err := w.AddSegment(&seg, bytes.NewReader(keptData)); err != nil {
				log.Fatal(err)
			}
		} else if err := livestore.AddPath(w, store, nil); err != nil {
			log.Fatal(err)
		}
		if err := livestore.AddRegistration(w, []byte("registration\n"), 1); err != nil {
			log.Fatal(err)
		}
		if err := w.Close(); err != nil {
			log.Fatal(err)
		}
		b, _ := os.ReadFile(p)
		return b
	}
	cold := build("cold.squashfs", false)
	warm := build("warm.squashfs", true)
	fmt.Println("identical:", string(cold) == string(warm))
	// Output:
	// identical: true
}

// A writer that fails in the middle of a segment (here its disk fills up) still describes what
// it wrote of it: a rerun offers that to Reuse and takes those blocks as stored instead of
// compressing them again, and its image is the one a writer that never failed makes.
func ExampleWriter_Unfinished() {
	data := make([]byte, 3<<17+1000) // 3 blocks of 128 KiB and a tail, which cannot shrink
	rand.NewChaCha8([32]byte{}).Read(data)
	opts := squash.Options{BlockSize: 128 << 10, Compression: squash.Compression{Level: 3, PureGo: true}}
	write := func(disk *memDisk, u *squash.Segment, kept []byte) *squash.Writer {
		w, err := squash.NewWriter(disk, opts)
		if err != nil {
			log.Fatal(err)
		}
		w.WriteHeader(&squash.Header{Name: ".", Mode: fs.ModeDir | 0o755})
		w.Flush() // the file is a segment of its own
		if u != nil {
			if err := w.Reuse(u, bytes.NewReader(kept)); err != nil {
				log.Fatal(err)
			}
		}
		w.WriteHeader(&squash.Header{Name: "big", Mode: 0o644, Size: int64(len(data))})
		w.Write(data)
		fmt.Println("Close:", w.Close())
		return w
	}

	// The first writer's disk has room for one block.
	first := &memDisk{room: 200 << 10}
	u := write(first, nil, nil).Unfinished()
	fmt.Println(u.Entries[1].Name, "blocks kept:", len(u.Entries[1].Blocks))
	// Its data lies where Pieces says; a build keeps it beside the description (MarshalBinary),
	// as it keeps a segment.
	var kept []byte
	for _, p := range u.Pieces() {
		kept = append(kept, first.b[p.Offset:p.Offset+p.Length]...)
	}
	rerun := &memDisk{room: 1 << 30}
	fmt.Println("bytes reused:", write(rerun, u, kept).Reused())
	never := &memDisk{room: 1 << 30}
	write(never, nil, nil)
	fmt.Println("same image:", bytes.Equal(rerun.b, never.b))
	// Output:
	// Close: squash: writing data: disk full
	// big blocks kept: 1
	// Close: <nil>
	// bytes reused: 131072
	// Close: <nil>
	// same image: true
}

// memDisk is an image file in memory (memFile) with room for so many bytes.
type memDisk struct {
	memFile
	room int64
}

func (d *memDisk) Write(p []byte) (int, error) {
	if d.pos+int64(len(p)) > d.room {
		return 0, errors.New("disk full")
	}
	return d.memFile.Write(p)
}
