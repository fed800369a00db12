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
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return headerFromStat(name, p, rawStat{st.Mode, st.Uid, st.Gid, st.Rdev, st.Size, st.Mtim.Sec},
			func() (string, error) { return os.Readlink(p) })
	}
	h := &Header{Name: name, Mode: fi.Mode() & headerModeBits, ModTime: fi.ModTime().Unix()}
	return h, fillHeader(h, p, fi.Size(), func() (string, error) { return os.Readlink(p) })
}

// headerModeBits are the bits of an fs.FileMode that a Header keeps.
const headerModeBits = fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky | fs.ModeType | fs.ModeCharDevice

// rawStat is what a Header takes from a stat(2) result.
type rawStat struct {
	mode, uid, gid uint32
	rdev           uint64
	size, mtime    int64
}

// headerFromStat makes the header of the file at p that st describes, named name in the image;
// readlink reads its target if it is a symbolic link.
func headerFromStat(name, p string, st rawStat, readlink func() (string, error)) (*Header, error) {
	mode := fs.FileMode(st.mode & 0o777)
	switch st.mode & syscall.S_IFMT {
	case syscall.S_IFBLK:
		mode |= fs.ModeDevice
	case syscall.S_IFCHR:
		mode |= fs.ModeDevice | fs.ModeCharDevice
	case syscall.S_IFDIR:
		mode |= fs.ModeDir
	case syscall.S_IFIFO:
		mode |= fs.ModeNamedPipe
	case syscall.S_IFLNK:
		mode |= fs.ModeSymlink
	case syscall.S_IFSOCK:
		mode |= fs.ModeSocket
	case syscall.S_IFREG:
	default:
		mode |= fs.ModeIrregular
	}
	if st.mode&syscall.S_ISUID != 0 {
		mode |= fs.ModeSetuid
	}
	if st.mode&syscall.S_ISGID != 0 {
		mode |= fs.ModeSetgid
	}
	if st.mode&syscall.S_ISVTX != 0 {
		mode |= fs.ModeSticky
	}
	h := &Header{Name: name, Mode: mode & headerModeBits, ModTime: st.mtime, UID: st.uid, GID: st.gid}
	if mode&fs.ModeDevice != 0 {
		rdev := st.rdev
		h.Devmajor = uint32((rdev>>8)&0xfff | (rdev>>32)&^0xfff)
		h.Devminor = uint32(rdev&0xff | (rdev>>12)&^0xff)
	}
	return h, fillHeader(h, p, st.size, readlink)
}

// fillHeader sets h's size or link target, which its mode says it needs.
func fillHeader(h *Header, p string, size int64, readlink func() (string, error)) error {
	switch m := h.Mode; {
	case m.IsRegular():
		h.Size = size
	case m&fs.ModeSymlink != 0:
		target, err := readlink()
		if err != nil {
			return fmt.Errorf("squash: %w", err)
		}
		h.Linkname = target
	case m.IsDir(), m&(fs.ModeDevice|fs.ModeNamedPipe|fs.ModeSocket) != 0:
	default:
		return fmt.Errorf("squash: %s: unsupported file type %v", p, m.Type())
	}
	return nil
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
