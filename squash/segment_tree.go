package squash

import (
	"fmt"
	"os"
	"path/filepath"
)

// CheckTree reports whether the segment describes the tree at dir as AddTree(name, dir, fix, tee)
// followed by Flush would add it now: the same entries, in the same order, with the same types,
// modes, owners, times, sizes, link targets and device numbers. A stored segment was made from a
// tree; its contents are the caller's to vouch for (a cache keys them by a hash of the tree), and
// CheckTree covers what such a hash may not (a NAR records no times or owners), so that placing
// the segment gives the bytes adding the tree again would.
func (s *Segment) CheckTree(name, dir string, fix func(*Header) error) error {
	i := 0
	err := walkTree(name, dir, func(p string, hdr *Header) error {
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
		case e.Linkname != hdr.Linkname:
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
// order AddTree adds them: a directory, then its entries by name.
func walkTree(name, dir string, fn func(p string, hdr *Header) error) error {
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	hdr, err := headerFromFile(name, dir, fi)
	if err != nil {
		return err
	}
	if err := fn(dir, hdr); err != nil {
		return err
	}
	if !fi.IsDir() {
		return nil
	}
	entries, err := os.ReadDir(dir) // sorted by name, as addTree reads them
	if err != nil {
		return err
	}
	for _, e := range entries {
		child := e.Name()
		if name != "" && name != "." {
			child = name + "/" + child
		}
		if err := walkTree(child, filepath.Join(dir, e.Name()), fn); err != nil {
			return err
		}
	}
	return nil
}
