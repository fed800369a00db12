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
// `nix-store --dump` does: directories walked in sorted order, symlinks stored as they are, a
// regular file executable when its owner may execute it (Nix tests S_IXUSR only; in a store,
// whose files are 0444 or 0555, that is the same as any execute bit). It reads each file once.
// Anything else (a device, a socket, a pipe) is an error naming its path.
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

func dump(nw *Writer, name, narPath string, buf []byte) error {
	fi, err := os.Lstat(name)
	if err != nil {
		return fmt.Errorf("nar: %w", err)
	}
	hdr := Header{Path: narPath}
	switch mode := fi.Mode(); {
	case mode.IsRegular():
		hdr.Type = TypeRegular
		hdr.Size = uint64(fi.Size())
		hdr.Executable = mode.Perm()&execBit != 0
		return dumpFile(nw, name, &hdr, buf)
	case mode.IsDir():
		hdr.Type = TypeDirectory
		names, err := readDirNames(name)
		if err != nil {
			return err
		}
		if err := nw.WriteHeader(&hdr); err != nil {
			return fmt.Errorf("nar: %s: %w", name, err)
		}
		for _, n := range names {
			if err := dump(nw, filepath.Join(name, n), path.Join(narPath, n), buf); err != nil {
				return err
			}
		}
		return nil
	case mode&fs.ModeSymlink != 0:
		hdr.Type = TypeSymlink
		if hdr.LinkTarget, err = os.Readlink(name); err != nil {
			return fmt.Errorf("nar: %w", err)
		}
		if err := nw.WriteHeader(&hdr); err != nil {
			return fmt.Errorf("nar: %s: %w", name, err)
		}
		return nil
	default:
		return fmt.Errorf("nar: %s: unsupported file type %s (a NAR holds only regular files, directories and symlinks)", name, mode.Type())
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
