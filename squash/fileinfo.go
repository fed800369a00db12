package squash

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
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
