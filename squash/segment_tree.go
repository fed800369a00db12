package squash

import (
	"fmt"
	"io/fs"
	"os"
	"slices"
	"syscall"

	"golang.org/x/sys/unix"
)

// CheckTree reports whether the segment describes the tree at dir as AddTree(name, dir, fix, tee)
// followed by Flush would add it now: the same entries, in the same order, with the same types,
// modes, owners, times, sizes and device numbers. A stored segment was made from a tree; its
// contents are the caller's to vouch for (a cache keys them by a hash of the tree, as a NAR hash
// covers files' bytes and symlinks' targets), and CheckTree covers what such a hash may not (a
// NAR records no times or owners), so that placing the segment gives the bytes adding the tree
// again would. It reads no file and no link target: a target's length (lstat's size) is checked,
// not its bytes.
func (s *Segment) CheckTree(name, dir string, fix func(*Header) error) error {
	i := 0
	err := walkTree(name, dir, func(p string, hdr *Header, size int64) error {
		if fix != nil {
			if err := fix(hdr); err != nil {
				return err
			}
		}
		if i >= len(s.Entries) {
			return fmt.Errorf("%s: not in the segment", p)
		}
		e := &s.Entries[i].Header
		i++
		switch {
		case e.Name != hdr.Name:
			return fmt.Errorf("%s: the segment has %q here", p, e.Name)
		case e.Mode != hdr.Mode:
			return fmt.Errorf("%s: mode %v, the segment's %v", p, hdr.Mode, e.Mode)
		case e.ModTime != hdr.ModTime:
			return fmt.Errorf("%s: modification time changed", p)
		case e.Size != hdr.Size:
			return fmt.Errorf("%s: size changed", p)
		case e.Mode&fs.ModeSymlink != 0 && int64(len(e.Linkname)) != size:
			return fmt.Errorf("%s: link target changed", p)
		case e.UID != hdr.UID || e.GID != hdr.GID:
			return fmt.Errorf("%s: owner changed", p)
		case e.Devmajor != hdr.Devmajor || e.Devminor != hdr.Devminor:
			return fmt.Errorf("%s: device number changed", p)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("squash: the tree differs from the segment: %w", err)
	}
	if i != len(s.Entries) {
		return fmt.Errorf("squash: the tree differs from the segment: %d entries in %s, %d in the segment", i, dir, len(s.Entries))
	}
	return nil
}

// walkTree calls fn with the header of every entry of the tree at dir, named under name, in the
// order AddTree adds them: a directory, then its entries by name; and lstat's size, which for a
// symlink, whose header has no target, is its target's length.
func walkTree(name, dir string, fn func(p string, hdr *Header, size int64) error) error {
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("%s: no stat", dir)
	}
	hdr, err := statHeader(name, dir, rawStat{st.Mode, st.Uid, st.Gid, st.Rdev, st.Size, st.Mtim.Sec})
	if err != nil {
		return err
	}
	if err := fn(dir, hdr, st.Size); err != nil {
		return err
	}
	if !fi.IsDir() {
		return nil
	}
	return walkDir(name, dir, fn)
}

// walkDir calls fn for the entries of the directory dir, named under name, and their trees: each
// looked up relative to the open directory (fstatat, readlinkat), not by its whole path again.
func walkDir(name, dir string, fn func(p string, hdr *Header, size int64) error) error {
	fd, err := syscall.Open(dir, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: dir, Err: err}
	}
	d := os.NewFile(uintptr(fd), dir)
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return err
	}
	slices.Sort(names) // as addTree reads them
	for _, base := range names {
		child := base
		if name != "" && name != "." {
			child = name + "/" + base
		}
		p := dir + "/" + base
		var st unix.Stat_t
		if err := unix.Fstatat(fd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return &os.PathError{Op: "lstat", Path: p, Err: err}
		}
		hdr, err := statHeader(child, p, rawStat{st.Mode, st.Uid, st.Gid, st.Rdev, st.Size, st.Mtim.Sec})
		if err != nil {
			return err
		}
		if err := fn(p, hdr, st.Size); err != nil {
			return err
		}
		if hdr.Mode.IsDir() {
			if err := walkDir(child, p, fn); err != nil {
				return err
			}
		}
	}
	return nil
}

// statHeader is the header of an entry from its lstat alone: a symlink's without its target.
func statHeader(name, p string, st rawStat) (*Header, error) {
	return headerFromStat(name, p, st, func() (string, error) { return "", nil })
}
