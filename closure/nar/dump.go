package nar

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"sync"
)

// execBit is the permission bit that makes a regular file executable in a NAR: the owner's.
const execBit = 0o100

// bufferSize is the size of the buffer DumpPath reads files with.
const bufferSize = 256 << 10

var buffers = sync.Pool{New: func() any { b := make([]byte, bufferSize); return &b }}

// DumpPath writes the NAR of the file, directory or symlink at name to w, as
// `nix-store --dump` does: directories walked in sorted order, symlinks stored as they are,
// headers made by FileInfoHeader. It reads each file once. Anything but a regular file, a
// directory or a symlink (a device, a socket, a pipe) is an error naming its path.
func DumpPath(w io.Writer, name string) error {
	nw := NewWriter(w)
	buf := buffers.Get().(*[]byte)
	defer buffers.Put(buf)
	if err := dump(nw, name, "/", *buf); err != nil {
		return err
	}
	if err := nw.Close(); err != nil {
		return fmt.Errorf("nar: %s: %w", name, err)
	}
	return nil
}

// FileInfoHeader returns the header of the file fi describes, at path p in the archive, as
// tar.FileInfoHeader does for tar: link is a symlink's target, executable means the owner may
// execute it (Nix tests S_IXUSR only; in a store, whose files are 0444 or 0555, that is the same
// as any execute bit). A file that is not a regular file, a directory or a symlink is an error.
// A caller that walks a store path for another reason (a SquashFS writer) can, with it, write
// the path's NAR as it goes.
func FileInfoHeader(fi fs.FileInfo, p, link string) (*Header, error) {
	hdr := &Header{Path: p}
	switch mode := fi.Mode(); {
	case mode.IsRegular():
		hdr.Type = TypeRegular
		hdr.Size = uint64(fi.Size())
		hdr.Executable = mode.Perm()&execBit != 0
	case mode.IsDir():
		hdr.Type = TypeDirectory
	case mode&fs.ModeSymlink != 0:
		hdr.Type = TypeSymlink
		hdr.LinkTarget = link
	default:
		return nil, fmt.Errorf("unsupported file type %s (a NAR holds only regular files, directories and symlinks)", mode.Type())
	}
	return hdr, nil
}

func dump(nw *Writer, name, narPath string, buf []byte) error {
	fi, err := os.Lstat(name)
	if err != nil {
		return fmt.Errorf("nar: %w", err)
	}
	var link string
	if fi.Mode()&fs.ModeSymlink != 0 {
		if link, err = os.Readlink(name); err != nil {
			return fmt.Errorf("nar: %w", err)
		}
	}
	hdr, err := FileInfoHeader(fi, narPath, link)
	if err != nil {
		return fmt.Errorf("nar: %s: %w", name, err)
	}
	switch hdr.Type {
	case TypeRegular:
		return dumpFile(nw, name, hdr, buf)
	case TypeDirectory:
		names, err := readDirNames(name)
		if err != nil {
			return err
		}
		if err := nw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("nar: %s: %w", name, err)
		}
		for _, n := range names {
			if err := dump(nw, filepath.Join(name, n), path.Join(narPath, n), buf); err != nil {
				return err
			}
		}
		return nil
	default:
		if err := nw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("nar: %s: %w", name, err)
		}
		return nil
	}
}

// readDirNames returns the names in a directory, sorted bytewise as NAR orders them.
func readDirNames(name string) ([]string, error) {
	d, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("nar: %w", err)
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("nar: %s: %w", name, err)
	}
	sort.Strings(names)
	return names, nil
}

func dumpFile(nw *Writer, name string, hdr *Header, buf []byte) error {
	f, err := os.Open(name)
	if err != nil {
		return fmt.Errorf("nar: %w", err)
	}
	defer f.Close()
	if err := nw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("nar: %s: %w", name, err)
	}
	var total uint64
	for {
		n, err := f.Read(buf)
		if n > 0 {
			total += uint64(n)
			if total > hdr.Size {
				return fmt.Errorf("nar: %s: file grew while being read (size was %d)", name, hdr.Size)
			}
			if _, err := nw.Write(buf[:n]); err != nil {
				return fmt.Errorf("nar: %s: %w", name, err)
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("nar: %s: %w", name, err)
		}
	}
	if total != hdr.Size {
		return fmt.Errorf("nar: %s: file shrank while being read (%d of %d bytes)", name, total, hdr.Size)
	}
	return nil
}
