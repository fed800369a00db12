package squash

import (
	"fmt"
	"io/fs"
	"math"
	"sort"
	"strings"
)

// Header describes one entry of the image, like archive/tar's Header.
type Header struct {
	// Name is the entry's slash-separated path from the image's root, without a leading
	// slash; "." names the root. Any bytes but "/" and NUL may appear in a name.
	Name string
	// Mode holds the permission bits (with setuid, setgid and sticky) and the type: 0 for a
	// regular file, fs.ModeDir, fs.ModeSymlink, fs.ModeDevice (block device), fs.ModeDevice|
	// fs.ModeCharDevice, fs.ModeNamedPipe or fs.ModeSocket.
	Mode     fs.FileMode
	UID, GID uint32
	// ModTime is the modification time in seconds since the epoch (0 to 2^32-1).
	ModTime int64
	// Size is a regular file's length.
	Size int64
	// Linkname is a symlink's target.
	Linkname string
	// Devmajor and Devminor number a device.
	Devmajor, Devminor uint32
}

// node is an entry of the tree the writer builds; tables are written from it at Close.
type node struct {
	name     string // base name; "" for the root
	hdr      Header // without its Name, which path gives (a full name per node would double the tree)
	parent   *node
	explicit bool             // added by the caller, not made for a descendant
	children map[string]*node // directories
	sorted   []*node          // children in name order, made at Close

	// Regular file data, filled in by the pipeline's consumer.
	start    int64    // offset of the first block (0 when the file has no blocks)
	blocks   []uint32 // on-disk size word of each block
	fragment uint32   // fragment index, or noFragment
	fragOff  uint32   // offset of the tail in the fragment block
	sparse   int64    // bytes of sparse blocks
	hash     [32]byte // contents, as duplicate detection hashes them (zero for empty files)
	self     int64    // offset of the first block in its segment's own data (see Segment)

	// Set while writing the tables.
	ino      uint32
	ref      uint64 // inode reference (the root's only: the superblock's)
	refBlock uint64 // index of the inode's block in the inode table
	refOff   uint16
}

func (n *node) isDir() bool    { return n.hdr.Mode.IsDir() }
func (n *node) implicit() bool { return !n.explicit }

// path returns the node's full name as a Header names it: "." for the root.
func (n *node) path() string {
	if n.parent == nil {
		return "."
	}
	var parts []string
	for m := n; m.parent != nil; m = m.parent {
		parts = append(parts, m.name)
	}
	for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
		parts[i], parts[j] = parts[j], parts[i]
	}
	return strings.Join(parts, "/")
}

// splitName checks an entry name and splits it into its components.
func splitName(name string) ([]string, error) {
	if strings.HasPrefix(name, "/") {
		return nil, fmt.Errorf("squash: %q: absolute name (names are relative to the root)", name)
	}
	if strings.IndexByte(name, 0) >= 0 {
		return nil, fmt.Errorf("squash: %q: NUL in name", name)
	}
	name = strings.TrimSuffix(name, "/")
	if name == "." || name == "" {
		return nil, nil
	}
	parts := strings.Split(name, "/")
	for _, p := range parts {
		switch {
		case p == "" || p == "." || p == "..":
			return nil, fmt.Errorf("squash: %q: empty, '.' or '..' component", name)
		case len(p) > maxDirEntryName:
			return nil, fmt.Errorf("squash: %q: component of %d bytes, more than %d", name, len(p), maxDirEntryName)
		}
	}
	return parts, nil
}

// checkHeader validates a header against the format's limits.
func checkHeader(h *Header) error {
	if h.ModTime < 0 || h.ModTime > math.MaxUint32 {
		return fmt.Errorf("squash: %s: modification time %d outside 0..2^32-1", h.Name, h.ModTime)
	}
	if h.Mode&^(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky|fs.ModeType|fs.ModeCharDevice) != 0 {
		return fmt.Errorf("squash: %s: unsupported mode bits %v", h.Name, h.Mode)
	}
	switch h.Mode.Type() {
	case 0:
		if h.Size < 0 {
			return fmt.Errorf("squash: %s: negative size", h.Name)
		}
	case fs.ModeSymlink:
		if h.Linkname == "" {
			return fmt.Errorf("squash: %s: symlink without a target", h.Name)
		}
		if len(h.Linkname) > math.MaxUint32 {
			return fmt.Errorf("squash: %s: symlink target too long", h.Name)
		}
	case fs.ModeDir, fs.ModeNamedPipe, fs.ModeSocket, fs.ModeDevice, fs.ModeDevice | fs.ModeCharDevice:
	default:
		return fmt.Errorf("squash: %s: unsupported file type %v", h.Name, h.Mode.Type())
	}
	if h.Mode.Type()&fs.ModeDevice != 0 && (h.Devmajor > 0xfff || h.Devminor > 0xfffff) {
		return fmt.Errorf("squash: %s: device %d:%d does not fit SquashFS's 12-bit major, 20-bit minor", h.Name, h.Devmajor, h.Devminor)
	}
	return nil
}

// lookup finds or makes the parent directory of parts, creating missing directories with the
// writer's defaults, and returns it.
func (w *Writer) parentOf(parts []string, name string) (*node, error) {
	dir := w.root
	for _, p := range parts[:len(parts)-1] {
		child := dir.children[p]
		if child == nil {
			child = &node{name: strings.Clone(p), parent: dir, fragment: noFragment, hdr: Header{
				Mode: fs.ModeDir | 0o755, ModTime: w.opts.ModTime,
			}}
			dir.children[child.name] = child
			child.children = map[string]*node{}
		} else if !child.isDir() {
			return nil, fmt.Errorf("squash: %s: %s is not a directory", name, child.path())
		}
		dir = child
	}
	return dir, nil
}

// addNode adds an entry for hdr to the tree and returns it.
func (w *Writer) addNode(hdr *Header) (*node, error) {
	if err := checkHeader(hdr); err != nil {
		return nil, err
	}
	parts, err := splitName(hdr.Name)
	if err != nil {
		return nil, err
	}
	if parts == nil {
		if !hdr.Mode.IsDir() {
			return nil, fmt.Errorf("squash: the root must be a directory, not %v", hdr.Mode.Type())
		}
		if w.rootSet {
			return nil, fmt.Errorf("squash: the root was already added")
		}
		w.rootSet = true
		w.root.hdr = *hdr
		w.root.hdr.Name = ""
		return w.root, nil
	}
	dir, err := w.parentOf(parts, hdr.Name)
	if err != nil {
		return nil, err
	}
	base := parts[len(parts)-1]
	if old := dir.children[base]; old != nil {
		if old.isDir() && hdr.Mode.IsDir() && old.implicit() {
			// A directory made implicitly for an earlier entry takes the header it now gets.
			old.hdr = *hdr
			old.hdr.Name = ""
			old.explicit = true
			return old, nil
		}
		return nil, fmt.Errorf("squash: %s: entry already exists", hdr.Name)
	}
	// The base name is cloned, for the node and its parent's map: a substring would keep the
	// caller's full name alive.
	n := &node{name: strings.Clone(base), parent: dir, hdr: *hdr, fragment: noFragment, explicit: true}
	n.hdr.Name = ""
	if n.isDir() {
		n.children = map[string]*node{}
	}
	dir.children[n.name] = n
	return n, nil
}

// sortTree fixes the children of every directory in name order (bytewise, as the kernel's
// directory lookup compares names).
func sortTree(n *node) {
	if !n.isDir() {
		return
	}
	n.sorted = make([]*node, 0, len(n.children))
	for _, c := range n.children {
		n.sorted = append(n.sorted, c)
	}
	sort.Slice(n.sorted, func(i, j int) bool { return n.sorted[i].name < n.sorted[j].name })
	for _, c := range n.sorted {
		sortTree(c)
	}
}
