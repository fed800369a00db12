package squash

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
)

// This file reads directories: a directory's listing, and the walk and lookups over listings.

// dirent is a directory entry: a name and where its inode is.
type dirent struct {
	name string
	ref  uint64
	ino  uint32
	typ  uint16 // basic inode type
}

// dirHeaderInfo records a directory header of a listing, for Check.
type dirHeaderInfo struct {
	pos   uint32 // offset in the listing
	block uint64 // directory table offset of the metadata block it starts in
	off   int    // its offset there
	first string
	count int
}

// listing is a directory's entries, sorted by name.
type listing struct {
	ents    []dirent
	sorted  bool     // the image stores them sorted and without duplicates
	disk    []string // names in the image's order, when it is not sorted
	headers []dirHeaderInfo
}

// listing reads and caches the listing of directory e.
func (r *Reader) listing(e *Entry) (*listing, error) {
	l, err := r.listings.get(e.ref, func() (*listing, error) { return r.readListing(e) })
	if err != nil {
		return nil, fmt.Errorf("squash: %s: directory listing: %w", e.Name, err)
	}
	e.Children = len(l.ents)
	return l, nil
}

func (r *Reader) readListing(e *Entry) (*listing, error) {
	m, err := r.newMetaReader(int64(r.t.directoryTable), r.dirEnd, uint64(e.listBlock), int(e.listOffset))
	if err != nil {
		return nil, err
	}
	le := binary.LittleEndian
	size := uint64(e.listSize) - 3
	l := &listing{sorted: true}
	var done uint64
	for done < size {
		if size-done < dirHeaderSize {
			return nil, fmt.Errorf("%d bytes left, too few for a header", size-done)
		}
		block, off := m.pos()
		var h [dirHeaderSize]byte
		if err := m.read(h[:]); err != nil {
			return nil, err
		}
		done += dirHeaderSize
		count := uint64(le.Uint32(h[dhCount:])) + 1
		if count > maxDirEntries {
			return nil, fmt.Errorf("directory header of %d entries, more than %d", count, maxDirEntries)
		}
		hi := dirHeaderInfo{pos: uint32(done - dirHeaderSize), block: block, off: off, count: int(count)}
		start, base := le.Uint32(h[dhStart:]), le.Uint32(h[dhInodeNumber:])
		for i := uint64(0); i < count; i++ {
			if size-done < dirEntrySize+1 {
				return nil, errors.New("directory entries overrun the listing")
			}
			var d [dirEntrySize]byte
			if err := m.read(d[:]); err != nil {
				return nil, err
			}
			n := uint64(le.Uint16(d[deNameSize:])) + 1
			if n > maxDirEntryName {
				return nil, fmt.Errorf("name of %d bytes, more than %d", n, maxDirEntryName)
			}
			if size-done < dirEntrySize+n {
				return nil, errors.New("directory entries overrun the listing")
			}
			if err := r.chargeEntry(len(e.Name) + 1 + int(n)); err != nil {
				return nil, err
			}
			nb, err := m.readN(n)
			if err != nil {
				return nil, err
			}
			done += dirEntrySize + n
			name := string(nb)
			if err := checkName(name); err != nil {
				return nil, err
			}
			typ := le.Uint16(d[deType:])
			if typ < inodeDir || typ > inodeSocket {
				return nil, fmt.Errorf("%q: entry type %d", name, typ)
			}
			ino := uint32(int64(base) + int64(int16(le.Uint16(d[deInodeDelta:]))))
			if i == 0 {
				hi.first = name
			}
			if k := len(l.ents); k > 0 && l.sorted && name <= l.ents[k-1].name {
				l.sorted = false
			}
			l.ents = append(l.ents, dirent{name: name, ref: uint64(start)<<16 | uint64(le.Uint16(d[deOffset:])), ino: ino, typ: typ})
		}
		l.headers = append(l.headers, hi)
	}
	if !l.sorted {
		for _, d := range l.ents {
			l.disk = append(l.disk, d.name)
		}
		slices.SortStableFunc(l.ents, func(a, b dirent) int { return strings.Compare(a.name, b.name) })
		for i := 1; i < len(l.ents); i++ {
			if l.ents[i].name == l.ents[i-1].name {
				return nil, fmt.Errorf("%q: two entries of one name", l.ents[i].name)
			}
		}
	}
	return l, nil
}

// dirIndex reads an extended directory's index: where its listing's headers start, so that a
// lookup can skip the listing's earlier metadata blocks.
func (r *Reader) dirIndex(e *Entry) ([]dirIndex, error) {
	if e.indexCount == 0 {
		return nil, nil
	}
	m, err := r.inodeReader(e.index)
	if err != nil {
		return nil, err
	}
	le := binary.LittleEndian
	var index []dirIndex
	for i := 0; i < e.indexCount; i++ {
		var ih [dirIndexHeader]byte
		if err := m.read(ih[:]); err != nil {
			return nil, fmt.Errorf("directory index: %w", err)
		}
		n := le.Uint32(ih[dindexNameSize:]) + 1
		if n > maxDirEntryName {
			return nil, fmt.Errorf("directory index name of %d bytes", n)
		}
		nb, err := m.readN(uint64(n))
		if err != nil {
			return nil, fmt.Errorf("directory index: %w", err)
		}
		index = append(index, dirIndex{index: le.Uint32(ih[dindexIndex:]), start: le.Uint32(ih[dindexStart:]), name: string(nb)})
	}
	return index, nil
}

// checkName checks a directory entry's name.
func checkName(name string) error {
	if name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
		return fmt.Errorf("bad entry name %q", name)
	}
	return nil
}

// child reads the inode of d's entry c, checking that the entry describes it.
func (r *Reader) child(d *Entry, c dirent) (*Entry, error) {
	name := c.name
	if d.Name != "." {
		name = d.Name + "/" + c.name
	}
	e, err := r.inode(c.ref, name)
	if err != nil {
		return nil, err
	}
	if basicInodeType(e.typ) != c.typ {
		return nil, fmt.Errorf("squash: %s: directory entry says type %d, inode is type %d", name, c.typ, e.typ)
	}
	if e.Inode != c.ino {
		return nil, fmt.Errorf("squash: %s: directory entry says inode %d, inode is %d", name, c.ino, e.Inode)
	}
	return e, nil
}

// root reads the root directory's inode.
func (r *Reader) root() (*Entry, error) {
	e, err := r.inode(r.t.rootInode, ".")
	if err != nil {
		return nil, err
	}
	if !e.Mode.IsDir() {
		return nil, fmt.Errorf("squash: the root inode is not a directory (type %d)", e.typ)
	}
	return e, nil
}

// Walk calls fn for every entry of the image, depth first, each directory before its entries
// and entries in name order, with names as Header.Name has them ("." for the root). The Entry
// is fn's to keep. fn may return fs.SkipDir to skip a directory's entries (or, for another
// entry, the rest of its directory) and fs.SkipAll to stop. A directory reached twice (a cycle,
// or a directory hard link) is an error.
func (r *Reader) Walk(fn func(name string, e *Entry) error) error {
	root, err := r.root()
	if err != nil {
		return err
	}
	w := walker{r: r, seen: map[uint64]string{}, visit: func(e, _ *Entry) error { return fn(e.Name, e) }}
	err = w.dir(root, nil, 0)
	if err == fs.SkipDir || err == fs.SkipAll {
		return nil
	}
	return err
}

// walker walks a tree, calling visit for each entry with its parent directory (nil for the
// root), each directory's listing read before its visit.
type walker struct {
	r     *Reader
	visit func(e, parent *Entry) error
	seen  map[uint64]string // directories walked, by inode reference
}

func (w *walker) dir(d, parent *Entry, depth int) error {
	if first, ok := w.seen[d.ref]; ok {
		return fmt.Errorf("squash: %s: directory inode %#x already walked as %s", d.Name, d.ref, first)
	}
	w.seen[d.ref] = d.Name
	if depth > maxDepth {
		return fmt.Errorf("squash: %s: directories nested deeper than %d", d.Name, maxDepth)
	}
	l, err := w.r.listing(d)
	if err != nil {
		return err
	}
	if err := w.visit(d, parent); err != nil {
		if err == fs.SkipDir {
			return nil
		}
		return err
	}
	for _, c := range l.ents {
		e, err := w.r.child(d, c)
		if err != nil {
			return err
		}
		if e.Mode.IsDir() {
			err = w.dir(e, d, depth+1)
		} else {
			err = w.visit(e, d)
		}
		if err == fs.SkipDir {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Lookup returns the entry of name (a path as fs.ValidPath has it: "." for the root), without
// following symlinks.
func (r *Reader) Lookup(name string) (*Entry, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "lookup", Path: name, Err: fs.ErrInvalid}
	}
	e, err := r.root()
	if err != nil {
		return nil, err
	}
	if name == "." {
		if _, err := r.listing(e); err != nil {
			return nil, err
		}
		return e, nil
	}
	for i, part := range strings.Split(name, "/") {
		if !e.Mode.IsDir() {
			return nil, &fs.PathError{Op: "lookup", Path: name, Err: fmt.Errorf("%s is not a directory", e.Name)}
		}
		if i > maxDepth {
			return nil, &fs.PathError{Op: "lookup", Path: name, Err: fs.ErrNotExist}
		}
		l, err := r.listing(e)
		if err != nil {
			return nil, err
		}
		k, ok := slices.BinarySearchFunc(l.ents, part, func(d dirent, n string) int { return strings.Compare(d.name, n) })
		if !ok {
			return nil, &fs.PathError{Op: "lookup", Path: name, Err: fs.ErrNotExist}
		}
		if e, err = r.child(e, l.ents[k]); err != nil {
			return nil, err
		}
	}
	if e.Mode.IsDir() {
		if _, err := r.listing(e); err != nil {
			return nil, err
		}
	}
	return e, nil
}
