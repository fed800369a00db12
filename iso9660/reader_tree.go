package iso9660

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"sort"
	"strings"
	"time"
)

// Walk calls fn for every entry of the primary tree, the root first, then depth first in
// directory order. Names, modes, owners, times and link targets come from Rock Ridge where the
// image has it. A multi-extent file is one Entry with several Extents. Relocated directories
// (Rock Ridge RE/CL) are followed to their place in the Rock Ridge tree.
func (im *Image) Walk(fn func(*Entry) error) error {
	return im.walk(im.Primary, false, fn)
}

// WalkJoliet is Walk for the Joliet tree.
func (im *Image) WalkJoliet(fn func(*Entry) error) error {
	if im.Joliet == nil {
		return errors.New("iso9660: the image has no Joliet tree")
	}
	return im.walk(im.Joliet, true, fn)
}

// A Tree is the directory tree of an image as an operating system mounts it, read whole: the
// Rock Ridge tree when the image has Rock Ridge, else the Joliet tree, else the primary tree
// with its ISO 9660 names, as the Linux kernel chooses (fs/isofs/inode.c). Its entries are in
// walk order: the root first, then depth first in directory order.
//
// Reading a tree checks that its regular files hold data of their own: two files share data
// only when their extents are the same (hard links: xorriso and mkisofs record a file's links
// so), and no file holds a byte twice. Directory records are cheap and an extent may be as long
// as the image, so without this rule a crafted image of a megabyte could hold thousands of files
// that each are the whole image. With it, reading each file of a tree once, with its hard links
// read once for all (see Link), reads at most the image; zisofs-compressed files hold at most 64
// times the image uncompressed, in all.
type Tree struct {
	entries []*Entry
	byPath  []int32 // entries sorted by path, in walk order among equal paths
	byLBA   []int32 // regular files with data, sorted by first sector, then in walk order
}

// ReadTree reads the tree an operating system mounts (see Tree) and checks that its files do not
// share data but as hard links.
func (im *Image) ReadTree() (*Tree, error) {
	v, joliet := im.Primary, false
	if !im.RockRidge && im.Joliet != nil {
		v, joliet = im.Joliet, true
	}
	t := &Tree{}
	err := im.walk(v, joliet, func(e *Entry) error {
		t.entries = append(t.entries, e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := t.link(im.size); err != nil {
		return nil, err
	}
	t.byPath = make([]int32, len(t.entries))
	for i := range t.byPath {
		t.byPath[i] = int32(i)
	}
	slices.SortStableFunc(t.byPath, func(a, b int32) int { return strings.Compare(t.entries[a].Path, t.entries[b].Path) })
	n := 0
	for _, e := range t.entries {
		if e.link != nil {
			n++
		}
	}
	t.byLBA = make([]int32, 0, n)
	for i, e := range t.entries {
		if e.link != nil {
			t.byLBA = append(t.byLBA, int32(i))
		}
	}
	slices.SortStableFunc(t.byLBA, func(a, b int32) int {
		return cmp.Compare(t.entries[a].Extents[0].LBA, t.entries[b].Extents[0].LBA)
	})
	return t, nil
}

// Entries returns the tree's entries in walk order. The caller must not modify them.
func (t *Tree) Entries() []*Entry { return t.entries }

// Lookup returns the entry at the absolute path name ("/" for the root), or nil. Should a
// crafted image name two entries alike, it returns the first in walk order.
func (t *Tree) Lookup(name string) *Entry {
	i := sort.Search(len(t.byPath), func(i int) bool { return t.entries[t.byPath[i]].Path >= name })
	if i < len(t.byPath) && t.entries[t.byPath[i]].Path == name {
		return t.entries[t.byPath[i]]
	}
	return nil
}

// FileAt returns the regular file whose data start at sector lba (the first in walk order when
// hard links do), or nil: what a boot catalog entry or a partition table names.
func (t *Tree) FileAt(lba uint32) *Entry {
	i := sort.Search(len(t.byLBA), func(i int) bool { return t.entries[t.byLBA[i]].Extents[0].LBA >= lba })
	if i < len(t.byLBA) && t.entries[t.byLBA[i]].Extents[0].LBA == lba {
		return t.entries[t.byLBA[i]]
	}
	return nil
}

// Link returns the first regular file of the tree, in walk order, that holds the same data as
// e: e itself unless e is a hard link of a file before it. Reading only the files that are
// their own Link reads every file's data once. For an entry that is not a regular file with
// data, Link returns e.
func (t *Tree) Link(e *Entry) *Entry {
	if e.link == nil {
		return e
	}
	return e.link
}

// link checks that regular files share data only as hard links, and points each at its first
// link.
func (t *Tree) link(imageSize int64) error {
	// The files with data, grouped by their extents: a group is a file and its hard links.
	n, spans := 0, 0
	for _, e := range t.entries {
		if e.Mode.IsRegular() && storedSize(e) > 0 {
			n++
			spans += len(e.Extents)
		}
	}
	files := make([]int32, 0, n)
	for i, e := range t.entries {
		if e.Mode.IsRegular() && storedSize(e) > 0 {
			files = append(files, int32(i))
		}
	}
	same := func(a, b int32) int {
		ea, eb := t.entries[a], t.entries[b]
		return cmp.Or(slices.CompareFunc(ea.Extents, eb.Extents, func(x, y Extent) int {
			return cmp.Or(cmp.Compare(x.LBA, y.LBA), cmp.Compare(x.Size, y.Size))
		}), compareZF(ea.zf, eb.zf))
	}
	slices.SortFunc(files, func(a, b int32) int { return cmp.Or(same(a, b), cmp.Compare(a, b)) })
	var inflated int64 // what the zisofs files hold uncompressed
	for k, i := range files {
		e := t.entries[i]
		e.link = e
		if k > 0 && same(files[k-1], i) == 0 {
			e.link = t.entries[files[k-1]].link
		} else if e.zf != nil {
			if inflated += e.Size; inflated > maxInflation*imageSize {
				return formatErr("zisofs files hold more than %d times the image's %d bytes", maxInflation, imageSize)
			}
		}
	}
	// Every extent of every file, by where it lies in the image: an extent may overlap the one
	// before it only when both are the same extent of two links of one file.
	type span struct {
		start, end int64 // bytes in the image
		entry      int32
	}
	all := make([]span, 0, spans)
	for _, i := range files {
		for _, x := range t.entries[i].Extents {
			if x.Size > 0 {
				start := int64(x.LBA) * SectorSize
				all = append(all, span{start, start + int64(x.Size), i})
			}
		}
	}
	slices.SortFunc(all, func(a, b span) int {
		return cmp.Or(cmp.Compare(a.start, b.start), cmp.Compare(a.end, b.end), cmp.Compare(a.entry, b.entry))
	})
	end := int64(-1) // the furthest end of the spans so far
	for k := 1; k < len(all); k++ {
		a, b := all[k-1], all[k]
		end = max(end, a.end)
		ea, eb := t.entries[a.entry], t.entries[b.entry]
		if b.start >= end || b.start == a.start && b.end == a.end && a.entry != b.entry && ea.link == eb.link {
			continue
		}
		return formatErr("%s and %s: data overlap at sector %d, and are not the same file", ea.Path, eb.Path, b.start/SectorSize)
	}
	return nil
}

// compareZF orders ZF entries, none first.
func compareZF(a, b *zisofs) int {
	switch {
	case a == nil || b == nil:
		return cmp.Compare(btoi(a != nil), btoi(b != nil))
	}
	return cmp.Or(cmp.Compare(a.version, b.version), bytes.Compare(a.alg[:], b.alg[:]),
		cmp.Compare(a.hdrLen, b.hdrLen), cmp.Compare(a.shift, b.shift), cmp.Compare(a.size, b.size))
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// storedSize is the bytes of a file's extents.
func storedSize(e *Entry) int64 {
	var n int64
	for _, x := range e.Extents {
		n += int64(x.Size)
	}
	return n
}

type walker struct {
	im      *Image
	joliet  bool
	rr      bool
	visited map[uint32]bool
	count   int
	fn      func(*Entry) error
	// budget bounds the bytes one walk reads: directories and continuation areas. A
	// well-formed image reads each of them once, so they add up to less than the image; a
	// crafted one could make every record follow a long chain of continuation areas.
	budget int64
	// paths bounds the bytes of the paths the walk builds. A well-formed image's paths add up
	// to about its directories' bytes, which are part of it; a crafted one could nest
	// directories of long names deep and fill the deepest with files, each of whose paths
	// repeats the directories' names.
	paths int64
	bufs  [][]byte // a directory window for each depth
	ce    []byte   // a continuation area
}

// spend takes n bytes from the walk's read budget.
func (w *walker) spend(n int64) error {
	w.budget -= n
	if w.budget < 0 {
		return formatErr("directories and continuation areas add up to more than the image holds")
	}
	return nil
}

// spendPath takes n bytes from the walk's path budget.
func (w *walker) spendPath(n int64) error {
	w.paths -= n
	if w.paths < 0 {
		return formatErr("paths add up to more than %d times the image's size", pathsPerByte)
	}
	return nil
}

func (im *Image) walk(v *Volume, joliet bool, fn func(*Entry) error) error {
	w := &walker{im: im, joliet: joliet, rr: !joliet && im.RockRidge, visited: map[uint32]bool{}, fn: fn,
		budget: im.size + walkSlack, paths: pathsPerByte*im.size + pathSlack}
	root := &Entry{Path: "/", Mode: fs.ModeDir | defaultMode, Size: int64(v.Root.Size), Extents: []Extent{v.Root}, Nlink: 1}
	// The root's attributes are in its "." record.
	if v.Root.Size > 0 {
		if b, err := im.read(int64(v.Root.LBA)*SectorSize, min(int64(v.Root.Size), SectorSize)); err == nil {
			if rec, ok := nextRecord(b, 0); ok {
				root.ModTime = parseShortDate(rec[drRecordingDate:])
				if w.rr {
					if _, err := w.susp(systemUse(rec), root); err != nil {
						return err
					}
				}
			}
		}
	}
	root.Name, root.Path = "", "/"
	if err := fn(root); err != nil {
		return err
	}
	return w.dir(root, v.Root, 1)
}

// defaultMode is the permissions of files and directories without a Rock Ridge PX entry: read
// and execute for all, as the Linux kernel gives them (fs/isofs/inode.c, isofs_read_inode: "the
// disc could be shared with DOS machines so virtually anything could be a valid executable")
// and osirrox extracts them.
const defaultMode = 0o555

// rrInfo is what a record's Rock Ridge entries say beyond the Entry fields.
type rrInfo struct {
	relocated bool   // RE: the entry is shown elsewhere
	childLink uint32 // CL: the directory's real place
	hasChild  bool
}

// dirWindow is how much of a directory the walk holds at once.
const dirWindow = 64 << 10

func (w *walker) dir(parent *Entry, ext Extent, depth int) error {
	if depth > maxWalkDepth {
		return formatErr("%s: directories nested deeper than %d", parent.Path, maxWalkDepth)
	}
	if ext.Size > maxDirBytes {
		return formatErr("%s: directory of %d bytes", parent.Path, ext.Size)
	}
	if w.visited[ext.LBA] {
		return formatErr("%s: directory loop at sector %d", parent.Path, ext.LBA)
	}
	w.visited[ext.LBA] = true
	if err := w.spend(int64(ext.Size)); err != nil {
		return err
	}
	start, size := int64(ext.LBA)*SectorSize, int(ext.Size)
	if start > w.im.size || int64(size) > w.im.size-start {
		return formatErr("%s: directory of %d bytes at sector %d is beyond the end of the image (%d bytes)",
			parent.Path, size, ext.LBA, w.im.size)
	}
	// The directory is read a window at a time: [lo, hi) of its bytes are in win. A record
	// lies within a sector; a record that crosses one anyway (the Linux kernel reads those) is
	// read from a window that starts at its sector.
	for len(w.bufs) <= depth {
		w.bufs = append(w.bufs, nil)
	}
	var win []byte
	lo, hi := 0, 0
	load := func(off int) error {
		lo = off &^ (SectorSize - 1)
		hi = min(lo+dirWindow, size)
		if cap(w.bufs[depth]) < hi-lo {
			w.bufs[depth] = make([]byte, hi-lo)
		}
		win = w.bufs[depth][:hi-lo]
		if err := w.im.readAt(win, start+int64(lo)); err != nil {
			return fmt.Errorf("iso9660: %s: %w", parent.Path, err)
		}
		return nil
	}
	var pending *Entry // a multi-extent file whose last record is still to come
	var pendingInfo rrInfo
	for off := 0; off < size; {
		if off >= hi || off+int(win[off-lo]) > hi && hi < size {
			if err := load(off); err != nil {
				return err
			}
		}
		if win[off-lo] == 0 { // the rest of the sector is padding
			off = (off/SectorSize + 1) * SectorSize
			continue
		}
		rec, ok := nextRecord(win, off-lo)
		if !ok {
			return formatErr("%s: bad directory record at byte %d of sector %d", parent.Path, off%SectorSize, int(ext.LBA)+off/SectorSize)
		}
		off += len(rec)
		id := rec[drFileID : drFileID+int(rec[drFileIDLength])]
		if len(id) == 1 && (id[0] == 0 || id[0] == 1) {
			continue // "." and ".."
		}
		flags := rec[drFileFlags]
		x := Extent{LBA: binary.LittleEndian.Uint32(rec[drExtentLBA:]), Size: binary.LittleEndian.Uint32(rec[drDataLength:])}
		var e *Entry
		var info rrInfo
		if pending != nil {
			if pending.ISOName != w.idString(id) {
				return formatErr("%s: multi-extent file %s ends without its last record", parent.Path, pending.Path)
			}
			e, info = pending, pendingInfo
			e.Extents = append(e.Extents, x)
			e.Size += int64(x.Size)
		} else {
			var err error
			e, info, err = w.entry(parent, rec, id, x)
			if err != nil {
				return err
			}
		}
		if flags&flagMultiExtent != 0 && flags&flagDirectory == 0 {
			pending, pendingInfo = e, info
			continue
		}
		pending = nil
		if info.relocated {
			continue
		}
		w.count++
		if w.count > maxEntries {
			return formatErr("more than %d entries", maxEntries)
		}
		if err := w.finish(e); err != nil {
			return err
		}
		if err := w.fn(e); err != nil {
			return err
		}
		if e.Mode.IsDir() {
			sub := e.Extents[0]
			if info.hasChild {
				var err error
				if sub, err = w.childExtent(info.childLink); err != nil {
					return fmt.Errorf("iso9660: %s: %w", e.Path, err)
				}
			}
			if err := w.dir(e, sub, depth+1); err != nil {
				return err
			}
		}
	}
	if pending != nil {
		return formatErr("%s: multi-extent file %s ends without its last record", parent.Path, pending.Path)
	}
	return nil
}

// finish completes an entry whose records have all been read: a zisofs file's Size becomes its
// uncompressed size.
func (w *walker) finish(e *Entry) error {
	if e.zf == nil {
		return nil
	}
	if !e.Mode.IsRegular() {
		e.zf = nil
		return nil
	}
	if err := e.zf.check(e.Size, w.im.size); err != nil {
		return fmt.Errorf("%s: %w", e.Path, err)
	}
	e.Size = e.zf.size
	return nil
}

// childExtent reads the extent of a relocated directory from its "." record.
func (w *walker) childExtent(lba uint32) (Extent, error) {
	b, err := w.im.read(int64(lba)*SectorSize, SectorSize)
	if err != nil {
		return Extent{}, err
	}
	rec, ok := nextRecord(b, 0)
	if !ok {
		return Extent{}, formatErr("no directory at sector %d", lba)
	}
	return Extent{LBA: lba, Size: binary.LittleEndian.Uint32(rec[drDataLength:])}, nil
}

func (w *walker) idString(id []byte) string {
	if w.joliet {
		return decodeUCS2(id)
	}
	return string(id)
}

// entry builds the Entry of a record.
func (w *walker) entry(parent *Entry, rec, id []byte, x Extent) (*Entry, rrInfo, error) {
	flags := rec[drFileFlags]
	e := &Entry{
		ISOName: w.idString(id),
		Size:    int64(x.Size),
		ModTime: parseShortDate(rec[drRecordingDate:]),
		Extents: []Extent{x},
		Mode:    defaultMode,
		Nlink:   1,
	}
	if flags&flagDirectory != 0 {
		e.Mode = fs.ModeDir | defaultMode
	}
	e.Name = e.ISOName
	if i := strings.LastIndexByte(e.Name, ';'); i >= 0 && flags&flagDirectory == 0 {
		e.Name = e.Name[:i]
	}
	if !w.joliet && flags&flagDirectory == 0 {
		e.Name = strings.TrimSuffix(e.Name, ".")
	}
	var info rrInfo
	if w.rr {
		su := systemUse(rec)
		if len(su) >= w.im.suspSkip {
			su = su[w.im.suspSkip:]
		}
		var err error
		if info, err = w.susp(su, e); err != nil {
			return nil, info, err
		}
		if info.hasChild {
			e.Mode = fs.ModeDir | e.Mode.Perm()
		}
	}
	if e.Name == "" || e.Name == "." || e.Name == ".." || strings.ContainsAny(e.Name, "/\x00") {
		return nil, info, formatErr("%s: invalid name %q", parent.Path, e.Name)
	}
	if parent.Path == "/" {
		e.Path = "/" + e.Name
	} else {
		if err := w.spendPath(int64(len(parent.Path) + 1 + len(e.Name))); err != nil {
			return nil, info, err
		}
		e.Path = parent.Path + "/" + e.Name
	}
	e.Name = e.Path[len(e.Path)-len(e.Name):]
	if e.Mode.IsDir() {
		e.Size = int64(x.Size)
	} else if e.Mode&fs.ModeSymlink != 0 {
		e.Size = 0
	}
	return e, info, nil
}

// susp reads the SUSP and Rock Ridge entries of a System Use field, following continuation
// areas, into e.
func (w *walker) susp(su []byte, e *Entry) (rrInfo, error) {
	var info rrInfo
	var name, link []byte
	haveName, haveLink := false, false
	for hops := 0; ; hops++ {
		var next *Extent
		var nextOff uint32
	entries:
		for len(su) >= suspHeaderLen {
			n := int(su[suspLength])
			if n < suspHeaderLen || n > len(su) {
				break
			}
			body := su[suspHeaderLen:n]
			switch string(su[:2]) {
			case "ST":
				break entries
			case "CE":
				if len(body) >= 24 {
					next = &Extent{LBA: binary.LittleEndian.Uint32(body[0:]), Size: binary.LittleEndian.Uint32(body[16:])}
					nextOff = binary.LittleEndian.Uint32(body[8:])
				}
			case "PX":
				if len(body) >= 32 {
					e.Mode = posixMode(binary.LittleEndian.Uint32(body[0:]))
					e.Nlink = binary.LittleEndian.Uint32(body[8:])
					e.UID = binary.LittleEndian.Uint32(body[16:])
					e.GID = binary.LittleEndian.Uint32(body[24:])
				}
			case "TF":
				if t, ok := tfModTime(body); ok {
					e.ModTime = t
				}
			case "NM":
				if len(body) >= 1 && body[0]&(nmCurrent|nmParent) == 0 {
					if len(name)+len(body)-1 > maxRRName {
						return info, formatErr("Rock Ridge name longer than %d bytes", maxRRName)
					}
					name = append(name, body[1:]...)
					haveName = true
				}
			case "SL":
				if len(body) < 1 {
					break
				}
				haveLink = true
				if link = appendSL(link, body); len(link) > maxRRName {
					return info, formatErr("Rock Ridge link target longer than %d bytes", maxRRName)
				}
			case "ZF", "Z2":
				z, err := parseZF(su[:n])
				if err != nil {
					return info, err
				}
				if z != nil {
					e.zf = z
				}
			case "RE":
				info.relocated = true
			case "CL":
				if len(body) >= 8 {
					info.childLink, info.hasChild = binary.LittleEndian.Uint32(body[0:]), true
				}
			}
			su = su[n:]
		}
		if next == nil {
			break
		}
		if hops >= maxCEHops {
			return info, formatErr("more than %d continuation areas in one record", maxCEHops)
		}
		if next.Size > SectorSize || nextOff >= SectorSize {
			return info, formatErr("continuation area of %d bytes at offset %d", next.Size, nextOff)
		}
		if err := w.spend(int64(next.Size)); err != nil {
			return info, err
		}
		if cap(w.ce) < int(next.Size) {
			w.ce = make([]byte, SectorSize)
		}
		su = w.ce[:next.Size]
		if err := w.im.readAt(su, int64(next.LBA)*SectorSize+int64(nextOff)); err != nil {
			return info, err
		}
	}
	if haveName {
		e.Name = string(name)
	}
	if haveLink {
		e.Link = string(link)
		if e.Mode&fs.ModeType == 0 {
			e.Mode |= fs.ModeSymlink
		}
	}
	return info, nil
}

// appendSL appends the target an SL entry's body records to link, as the Linux kernel reads it
// (fs/isofs/rock.c, get_symlink_chunk): each component adds its text ("." and ".." for the
// current and parent flags, "/" for the root flag, nothing for flags it does not know), then a
// slash, unless it is a root component, is flagged to continue in the next component, or is the
// last of the entry and the entry is not flagged to continue in the next SL entry. So ROOT ROOT
// "a" ROOT "b", which xorriso and genisoimage write for "//a//b/", reads "//a//b".
func appendSL(link, body []byte) []byte {
	more := body[0]&slContinue != 0
	for c := body[1:]; len(c) >= 2 && 2+int(c[1]) <= len(c); {
		flags, data := c[0], c[2:2+int(c[1])]
		c = c[2+int(c[1]):]
		switch flags &^ slContinue {
		case 0:
			link = append(link, data...)
		case slCurrent:
			link = append(link, '.')
		case slParent:
			link = append(link, ".."...)
		case slRoot:
			link = append(link, '/')
			continue
		}
		if last := len(c) < 2; flags&slContinue == 0 && (!last || more) {
			link = append(link, '/')
		}
	}
	return link
}

// posixMode converts a Rock Ridge PX mode.
func posixMode(m uint32) fs.FileMode {
	mode := fs.FileMode(m & 0o777)
	switch m & sIFMT {
	case sIFDIR:
		mode |= fs.ModeDir
	case sIFLNK:
		mode |= fs.ModeSymlink
	case 0o010000:
		mode |= fs.ModeNamedPipe
	case 0o140000:
		mode |= fs.ModeSocket
	case 0o020000:
		mode |= fs.ModeDevice | fs.ModeCharDevice
	case 0o060000:
		mode |= fs.ModeDevice
	}
	if m&0o4000 != 0 {
		mode |= fs.ModeSetuid
	}
	if m&0o2000 != 0 {
		mode |= fs.ModeSetgid
	}
	if m&0o1000 != 0 {
		mode |= fs.ModeSticky
	}
	return mode
}

// tfModTime returns the modification time of a TF entry's body.
func tfModTime(body []byte) (time.Time, bool) {
	if len(body) < 1 {
		return time.Time{}, false
	}
	flags := body[0]
	size := shortDateLen
	if flags&tfLongForm != 0 {
		size = longDateLen
	}
	off := 1
	for bit := byte(1); bit < tfLongForm; bit <<= 1 {
		if flags&bit == 0 {
			continue
		}
		if off+size > len(body) {
			return time.Time{}, false
		}
		if bit == tfModify {
			if size == longDateLen {
				return parseLongDate(body[off : off+size]), true
			}
			return parseShortDate(body[off : off+size]), true
		}
		off += size
	}
	return time.Time{}, false
}
