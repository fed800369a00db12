package squash

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// headerFromFile makes the header for the file at p, named name in the image.
func headerFromFile(name, p string, fi fs.FileInfo) (*Header, error) {
	h := &Header{Name: name, Mode: fi.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky | fs.ModeType | fs.ModeCharDevice), ModTime: fi.ModTime().Unix()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		h.UID, h.GID = st.Uid, st.Gid
		if fi.Mode()&fs.ModeDevice != 0 {
			rdev := uint64(st.Rdev)
			h.Devmajor = uint32((rdev>>8)&0xfff | (rdev>>32)&^0xfff)
			h.Devminor = uint32(rdev&0xff | (rdev>>12)&^0xff)
		}
	}
	switch {
	case fi.Mode().IsRegular():
		h.Size = fi.Size()
	case fi.Mode()&fs.ModeSymlink != 0:
		target, err := os.Readlink(p)
		if err != nil {
			return nil, fmt.Errorf("squash: %w", err)
		}
		h.Linkname = target
	case fi.IsDir(), fi.Mode()&(fs.ModeDevice|fs.ModeNamedPipe|fs.ModeSocket) != 0:
	default:
		return nil, fmt.Errorf("squash: %s: unsupported file type %v", p, fi.Mode().Type())
	}
	return h, nil
}

// mayHaveHoles returns, for a file on disk with fewer blocks allocated than its size, a probe
// that reports whether the next n bytes from the file's offset are a hole (SEEK_DATA finds no
// data in them), moving the offset past them if so; nil otherwise.
func mayHaveHoles(r io.Reader) func(n int64) (bool, error) {
	f, ok := r.(*os.File)
	if !ok {
		return nil
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return nil
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || st.Blocks*512 >= fi.Size() {
		return nil
	}
	return func(n int64) (bool, error) {
		off, err := f.Seek(0, io.SeekCurrent)
		if err != nil {
			return false, err
		}
		data, err := unix.Seek(int(f.Fd()), off, unix.SEEK_DATA)
		switch {
		case err == unix.ENXIO: // no data past off: the rest is a hole
			data = off + n
		case err != nil:
			return false, nil // no SEEK_DATA here: read it
		}
		if data >= off+n {
			_, err = f.Seek(off+n, io.SeekStart)
			return true, err
		}
		_, err = f.Seek(off, io.SeekStart)
		return false, err
	}
}

// AllRoot makes an entry owned by root, as mksquashfs -all-root does: a fix for AddTree.
func AllRoot(h *Header) error {
	h.UID, h.GID = 0, 0
	return nil
}
