package squash

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/gonixiso/gonixiso/internal/parallel"
)

// CheckTree reports whether the segment describes the tree at dir as AddTree(name, dir, fix, tee)
// followed by Flush would add it now: the same entries, with the same types, modes, owners,
// times, sizes and device numbers. A stored segment was made from a tree; its contents are the
// caller's to vouch for (a cache keys them by a hash of the tree, as a NAR hash covers files'
// bytes and symlinks' targets), and CheckTree covers what such a hash may not (a NAR records no
// times or owners), so that placing the segment gives the bytes adding the tree again would. It
// reads no file and no link target: a target's length (lstat's size) is checked, not its bytes.
//
// It looks up each of the segment's entries on disk (the segment's order is AddTree's, which
// the names fix) and counts each directory's entries, in stretches of the segment checked in
// parallel: a store path of tens of thousands of files is checked on every core.
func (s *Segment) CheckTree(name, dir string, fix func(*Header) error) error {
	if err := s.checkTree(name, dir, fix); err != nil {
		return fmt.Errorf("squash: the tree differs from the segment: %w", err)
	}
	return nil
}

// checkChunk is how many entries one job of CheckTree looks up.
const checkChunk = 2048

// treeEntry is an entry of a segment as CheckTree finds it on disk: where it is below the tree's
// top, and, for a directory, how many entries the segment gives it.
type treeEntry struct {
	rel      string // "" for the top
	children int
}

func (s *Segment) checkTree(name, dir string, fix func(*Header) error) error {
	if len(s.Entries) == 0 || s.Entries[0].Name != name && !(isRootName(name) && isRootName(s.Entries[0].Name)) {
		return fmt.Errorf("%s: the segment's first entry is not %q", dir, name)
	}
	ents := make([]treeEntry, len(s.Entries))
	// The segment's order is AddTree's: a directory, then its entries by name, each followed by
	// its own. A stack of the open directories gives each entry's parent.
	stack := []int{0}
	for i := 1; i < len(s.Entries); i++ {
		rel, ok := relName(name, s.Entries[i].Name)
		if !ok {
			return fmt.Errorf("%s: the segment's entry %q is not under %q", dir, s.Entries[i].Name, name)
		}
		ents[i].rel = rel
		parent := path.Dir(rel)
		if parent == "." {
			parent = ""
		}
		for len(stack) > 0 && ents[stack[len(stack)-1]].rel != parent {
			stack = stack[:len(stack)-1]
		}
		if len(stack) == 0 || !s.Entries[stack[len(stack)-1]].Mode.IsDir() {
			return fmt.Errorf("%s: the segment's entry %q is out of AddTree's order", dir, s.Entries[i].Name)
		}
		ents[stack[len(stack)-1]].children++
		if s.Entries[i].Mode.IsDir() {
			stack = append(stack, i)
		}
	}
	top, err := syscall.Open(dir, syscall.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC|unix.O_PATH, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: dir, Err: err}
	}
	defer syscall.Close(top)
	c := &treeCheck{s: s, ents: ents, dir: dir, top: top, fix: fix}
	if len(ents) <= checkChunk {
		return c.check(0, len(ents))
	}
	return parallel.Ordered(context.Background(), parallel.Options{},
		func(emit func([2]int) error) error {
			for i := 0; i < len(ents); i += checkChunk {
				if err := emit([2]int{i, min(i+checkChunk, len(ents))}); err != nil {
					return err
				}
			}
			return nil
		},
		func(r [2]int) (error, error) { return c.check(r[0], r[1]), nil },
		func(err error) error { return err })
}

func isRootName(n string) bool { return n == "" || n == "." }

// relName returns where the entry named n is below the tree named name.
func relName(name, n string) (string, bool) {
	if isRootName(name) {
		return n, n != "" && n != "."
	}
	return strings.CutPrefix(n, name+"/")
}

// treeCheck is a CheckTree under way.
type treeCheck struct {
	s    *Segment
	ents []treeEntry
	dir  string
	top  int // the tree's top, an O_PATH descriptor
	fix  func(*Header) error
}

// check looks up the entries from i to j on disk.
func (c *treeCheck) check(i, j int) error {
	parentRel, parent := "\x00", -1 // the open directory of the last entry's parent
	defer func() {
		if parent >= 0 {
			syscall.Close(parent)
		}
	}()
	for k := i; k < j; k++ {
		rel := c.ents[k].rel
		p := c.dir
		if rel != "" {
			p = c.dir + "/" + rel
		}
		var st unix.Stat_t
		if rel == "" {
			if err := unix.Fstat(c.top, &st); err != nil {
				return &os.PathError{Op: "lstat", Path: p, Err: err}
			}
		} else {
			dirRel, base := path.Split(rel)
			dirRel = strings.TrimSuffix(dirRel, "/")
			if dirRel != parentRel {
				if parent >= 0 {
					syscall.Close(parent)
					parent = -1
				}
				fd, err := openBeneath(c.top, dirRel)
				if err != nil {
					return &os.PathError{Op: "open", Path: path.Join(c.dir, dirRel), Err: err}
				}
				parentRel, parent = dirRel, fd
			}
			if err := unix.Fstatat(parent, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				if errors.Is(err, syscall.ENOENT) {
					return fmt.Errorf("%s: not in the tree", p)
				}
				return &os.PathError{Op: "lstat", Path: p, Err: err}
			}
		}
		e := &c.s.Entries[k].Header
		hdr, err := headerFromStat(e.Name, p, rawStat{st.Mode, st.Uid, st.Gid, st.Rdev, st.Size, st.Mtim.Sec},
			func() (string, error) { return "", nil })
		if err != nil {
			return err
		}
		if c.fix != nil {
			if err := c.fix(hdr); err != nil {
				return err
			}
		}
		switch {
		case e.Mode != hdr.Mode:
			return fmt.Errorf("%s: mode %v, the segment's %v", p, hdr.Mode, e.Mode)
		case e.ModTime != hdr.ModTime:
			return fmt.Errorf("%s: modification time changed", p)
		case e.Size != hdr.Size:
			return fmt.Errorf("%s: size changed", p)
		case e.Mode&fs.ModeSymlink != 0 && int64(len(e.Linkname)) != st.Size:
			return fmt.Errorf("%s: link target changed", p)
		case e.UID != hdr.UID || e.GID != hdr.GID:
			return fmt.Errorf("%s: owner changed", p)
		case e.Devmajor != hdr.Devmajor || e.Devminor != hdr.Devminor:
			return fmt.Errorf("%s: device number changed", p)
		}
		if hdr.Mode.IsDir() {
			// Its entries follow: it is the next entries' parent.
			if parent >= 0 {
				syscall.Close(parent)
				parent = -1
			}
			fd, err := openBeneath(c.top, rel)
			if err != nil {
				return &os.PathError{Op: "open", Path: p, Err: err}
			}
			parentRel, parent = rel, fd
			if err := c.checkCount(k, fd, p); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkCount reports whether the directory of entry k, open as fd at p, holds as many entries as
// the segment gives it: with each of those found on disk, the same entries. Else it names one
// that is not in the segment.
func (c *treeCheck) checkCount(k, fd int, p string) error {
	var names []string
	buf := make([]byte, 32<<10)
	for {
		n, err := unix.Getdents(fd, buf)
		if err != nil {
			return &os.PathError{Op: "readdir", Path: p, Err: err}
		}
		if n <= 0 {
			break
		}
		_, _, names = unix.ParseDirent(buf[:n], -1, names)
	}
	if len(names) == c.ents[k].children {
		return nil
	}
	// Name the first of the segment's entries it lacks, else one it has more.
	onDisk := make(map[string]bool, len(names))
	for _, n := range names {
		onDisk[n] = true
	}
	in := map[string]bool{}
	prefix := c.ents[k].rel + "/"
	if c.ents[k].rel == "" {
		prefix = ""
	}
	for m := k + 1; m < len(c.ents) && strings.HasPrefix(c.ents[m].rel, prefix); m++ {
		if rest := c.ents[m].rel[len(prefix):]; !strings.Contains(rest, "/") {
			if !onDisk[rest] {
				return fmt.Errorf("%s/%s: not in the tree", p, rest)
			}
			in[rest] = true
		}
	}
	slices.Sort(names)
	for _, n := range names {
		if !in[n] {
			return fmt.Errorf("%s/%s: not in the segment", p, n)
		}
	}
	return fmt.Errorf("%s: %d entries, the segment's %d", p, len(names), c.ents[k].children)
}

// openBeneath opens the directory rel below the tree's top without following a symlink on the
// way: a tree changed since its segment was written makes an error, never a look outside it.
func openBeneath(top int, rel string) (int, error) {
	if rel == "" {
		rel = "."
	}
	fd, err := unix.Openat2(top, rel, &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	})
	if !errors.Is(err, syscall.ENOSYS) && !errors.Is(err, syscall.EPERM) {
		return fd, err
	}
	// A kernel before 5.6, or a seccomp filter that refuses openat2: one component at a time.
	fd, err = unix.Openat(top, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	if rel == "." {
		return fd, nil
	}
	for _, part := range strings.Split(rel, "/") {
		next, err := unix.Openat(fd, part, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		syscall.Close(fd)
		if err != nil {
			return -1, err
		}
		fd = next
	}
	return fd, nil
}
