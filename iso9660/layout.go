package iso9660

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// entry is a node during layout: its identifiers in both trees, its place in the image and its
// System Use entries.
type entry struct {
	n      *node
	path   string // slash-separated, without a leading slash; "" for the root
	parent *entry
	depth  int // the root is 1

	iso      isoID
	isoBytes []byte
	joliet   []byte // UCS-2 big-endian

	children  []*entry // primary tree order
	jchildren []*entry // Joliet tree order (no symbolic links)

	// Directories.
	ptNumber, jptNumber int // 1-based numbers in the primary and Joliet path tables
	lba, size           uint32
	jlba, jsize         uint32
	nlink               uint32

	// Files.
	dataLBA uint32
	data    []byte // contents from memory: the boot catalog, the patched BIOS boot file

	rrAttr   [][]byte // Rock Ridge attributes (PX, TF): also in "." and ".." records
	rr       [][]byte // the attributes, then NM and SL: the entry's own record
	plan     suspPlan // for the record in the parent directory (and every extent of it)
	dotPlan  suspPlan // directories: the "." record
	dot2Plan suspPlan // directories: the ".." record
}

func (e *entry) isDir() bool { return e.n.kind == kindDir }

// extents is the number of directory records (extents) of a file: one per 4 GiB - 2 KiB.
func (e *entry) extents() int {
	if e.n.kind != kindFile || e.n.size == 0 {
		return 1
	}
	return int((e.n.size + maxExtentSize - 1) / maxExtentSize)
}

// layout is the fully computed image: everything but file data is rendered in memory.
type layout struct {
	opts Options

	root  *entry
	dirs  []*entry // primary path table order
	jdirs []*entry // Joliet path table order
	files []*entry // data in sector order

	ce    ceArea
	ceLBA uint32

	ptLBA, ptMLBA, ptSize    uint32 // primary path tables
	jptLBA, jptMLBA, jptSize uint32 // Joliet path tables

	streamed *entry // the file of Writer.Stream: its data comes last

	bootRecord bool
	catalog    *entry
	bios, efi  *entry
	hybridMBR  []byte

	metaEnd      uint32 // first sector after the metadata
	dataEnd      uint32 // first sector after the file data
	totalSectors uint32 // the whole image, padding and backup GPT included
	geometry     geometry
	gpt          bool

	meta []byte // sectors 16 to metaEnd
	sys  []byte // sectors 0 to 15
	tail []byte // the backup GPT: the last gptBackupBlocks sectors
}

func (w *Writer) layout() (*layout, error) {
	l := &layout{opts: w.opts}
	date := shortDate(w.opts.ModTime)

	// The boot catalog is a file of the tree, added here so that it gets names and a place.
	if w.boot != nil && w.catalog == nil {
		if err := w.addCatalog(); err != nil {
			return nil, err
		}
	}

	// Build the entries, depth first in name order.
	var build func(n *node, parent *entry, p string, depth int) (*entry, error)
	build = func(n *node, parent *entry, p string, depth int) (*entry, error) {
		e := &entry{n: n, path: p, parent: parent, depth: depth}
		if n.kind != kindDir {
			return e, nil
		}
		if depth > maxDepth {
			return nil, fmt.Errorf("iso9660: %s: directory deeper than %d levels (Rock Ridge relocation is not supported)", p, maxDepth)
		}
		names := make([]string, 0, len(n.children))
		for name := range n.children {
			names = append(names, name)
		}
		sort.Strings(names)
		e.nlink = 2
		for _, name := range names {
			cp := name
			if p != "" {
				cp = p + "/" + name
			}
			c, err := build(n.children[name], e, cp, depth+1)
			if err != nil {
				return nil, err
			}
			if c.isDir() {
				e.nlink++
			}
			e.children = append(e.children, c)
		}
		return e, nil
	}
	root, err := build(w.root, nil, "", 1)
	if err != nil {
		return nil, err
	}
	root.parent = root
	l.root = root

	// Names, orders and Rock Ridge entries.
	var all []*entry
	var walk func(e *entry)
	walk = func(e *entry) {
		all = append(all, e)
		if w.streamed != nil && e.n == w.streamed {
			l.streamed = e
		}
		for _, c := range e.children {
			walk(c)
		}
	}
	walk(root)
	for _, e := range all {
		if !e.isDir() {
			continue
		}
		used, jused := map[string]bool{}, map[string]bool{}
		for _, c := range e.children { // in full-name order, so collisions resolve the same way every time
			c.iso = uniqueISOID(baseISOID(c.n.name, !c.isDir()), used)
			c.isoBytes = c.iso.bytes()
			if c.n.kind != kindSymlink {
				c.joliet = ucs2Bytes(uniqueJolietID(baseJolietID(c.n.name, !c.isDir()), !c.isDir(), jused))
				e.jchildren = append(e.jchildren, c)
			}
		}
		sort.SliceStable(e.children, func(i, j int) bool { return compareISO(e.children[i].iso, e.children[j].iso) < 0 })
		sort.SliceStable(e.jchildren, func(i, j int) bool { return compareJoliet(e.jchildren[i].joliet, e.jchildren[j].joliet) < 0 })
	}
	for _, e := range all {
		e.rrAttr, e.rr = rockRidge(e, date)
	}

	// Path table orders: level by level, by parent number, then by identifier; the children
	// lists are already in identifier order.
	l.dirs = pathTableOrder(root, func(e *entry) []*entry { return e.children })
	if len(l.dirs) > 0xFFFF {
		return nil, fmt.Errorf("iso9660: %d directories: a path table holds at most 65535", len(l.dirs))
	}
	for i, d := range l.dirs {
		d.ptNumber = i + 1
	}
	if l.opts.Joliet {
		l.jdirs = pathTableOrder(root, func(e *entry) []*entry { return e.jchildren })
		for i, d := range l.jdirs {
			d.jptNumber = i + 1
		}
	}

	// System Use plans and directory sizes.
	for _, d := range l.dirs {
		d.dotPlan = l.ce.plan(dotEntries(d), suspRoom(1))
		d.dot2Plan = l.ce.plan(d.parent.rrAttr, suspRoom(1))
		for _, c := range d.children {
			c.plan = l.ce.plan(c.rr, suspRoom(len(c.isoBytes)))
		}
		size := newSectorPacker()
		size.add(recordLen(1, d.dotPlan.length()))
		size.add(recordLen(1, d.dot2Plan.length()))
		for _, c := range d.children {
			for i := 0; i < c.extents(); i++ {
				size.add(recordLen(len(c.isoBytes), c.plan.length()))
			}
		}
		if d.size, err = size.bytes(d.path); err != nil {
			return nil, err
		}
	}
	for _, d := range l.jdirs {
		size := newSectorPacker()
		size.add(recordLen(1, 0))
		size.add(recordLen(1, 0))
		for _, c := range d.jchildren {
			for i := 0; i < c.extents(); i++ {
				size.add(recordLen(len(c.joliet), 0))
			}
		}
		if d.jsize, err = size.bytes(d.path); err != nil {
			return nil, err
		}
	}

	// Boot entries.
	if w.boot != nil {
		if err := l.resolveBoot(w.boot, all); err != nil {
			return nil, err
		}
	}

	if err := l.assignSectors(all); err != nil {
		return nil, err
	}
	if err := l.renderBoot(); err != nil {
		return nil, err
	}
	if err := l.renderMeta(date); err != nil {
		return nil, err
	}
	l.renderSystemArea()
	return l, nil
}

// addCatalog adds the boot catalog's file to the tree.
func (w *Writer) addCatalog() error {
	n := &node{kind: kindFile, src: bytesSource(nil), size: SectorSize}
	if err := w.addNode(w.boot.Catalog, n); err != nil {
		return err
	}
	w.catalog = n
	return nil
}

// rockRidge returns an entry's Rock Ridge attributes (PX, TF), and those followed by the NM and
// SL entries of its own record.
func rockRidge(e *entry, date [shortDateLen]byte) (attrs, own [][]byte) {
	var mode, nlink uint32
	switch e.n.kind {
	case kindDir:
		mode, nlink = sIFDIR|0o555, e.nlink
	case kindSymlink:
		mode, nlink = sIFLNK|0o555, 1
	default:
		mode, nlink = sIFREG|0o444, 1
		if e.n.exec {
			mode = sIFREG | 0o555
		}
	}
	attrs = [][]byte{pxEntry(mode, nlink), tfEntry(date)}
	own = attrs[:len(attrs):len(attrs)]
	if e.parent != e { // not the root
		own = append(own, nmEntries(e.n.name)...)
	}
	if e.n.kind == kindSymlink {
		own = append(own, slEntries(e.n.target)...)
	}
	return attrs, own
}

// dotEntries are the System Use entries of a directory's "." record: its attributes, and in the
// root's the SUSP indicator first and the Rock Ridge extension reference last.
func dotEntries(d *entry) [][]byte {
	if d.parent != d {
		return d.rrAttr
	}
	out := [][]byte{spEntry()}
	out = append(out, d.rrAttr...)
	return append(out, erEntry())
}

// recordLen is the length of a directory record with an identifier of idLen bytes and suLen
// bytes of System Use, padded to an even length.
func recordLen(idLen, suLen int) int {
	n := drFixedLen + idLen
	if n%2 == 1 {
		n++
	}
	n += suLen
	if n%2 == 1 {
		n++
	}
	return n
}

// suspRoom is the System Use room of a record whose identifier is idLen bytes long.
func suspRoom(idLen int) int {
	return maxRecordLen - 1 - recordLen(idLen, 0)
}

// sectorPacker sums record lengths the way they are laid out: a record never crosses a
// sector boundary.
type sectorPacker struct {
	total uint64
}

func newSectorPacker() *sectorPacker { return &sectorPacker{} }

func (p *sectorPacker) add(n int) {
	if rest := SectorSize - p.total%SectorSize; uint64(n) > rest {
		p.total += rest
	}
	p.total += uint64(n)
}

func (p *sectorPacker) bytes(path string) (uint32, error) {
	size := (p.total + SectorSize - 1) / SectorSize * SectorSize
	if size > maxExtentSize {
		return 0, fmt.Errorf("iso9660: /%s: directory of %d bytes is too large", path, size)
	}
	return uint32(size), nil
}

// pathTableOrder lists the directories level by level; within a level by parent, then in
// children order.
func pathTableOrder(root *entry, children func(*entry) []*entry) []*entry {
	out := []*entry{root}
	for i := 0; i < len(out); i++ {
		for _, c := range children(out[i]) {
			if c.isDir() {
				out = append(out, c)
			}
		}
	}
	return out
}

func sectorsFor(n int64) int64 { return (n + SectorSize - 1) / SectorSize }

// assignSectors places every structure: descriptors at 16, path tables, directories, the
// continuation area, the Joliet directories, then file data: the boot catalog, the EFI image
// and the BIOS boot file first, the other files in path order, a streamed file last.
func (l *layout) assignSectors(all []*entry) error {
	next := int64(firstDescriptorLBA + 1) // after the PVD
	if l.bootRecord {
		next++
	}
	if l.opts.Joliet {
		next++
	}
	next++ // terminator

	ptSize := func(dirs []*entry, id func(*entry) []byte) uint32 {
		n := 0
		for _, d := range dirs {
			n += ptFixedLen + len(id(d)) + len(id(d))%2
		}
		return uint32(n)
	}
	l.ptSize = ptSize(l.dirs, func(e *entry) []byte { return dirID(e, e.isoBytes) })
	l.ptLBA = uint32(next)
	next += sectorsFor(int64(l.ptSize))
	l.ptMLBA = uint32(next)
	next += sectorsFor(int64(l.ptSize))
	if l.opts.Joliet {
		l.jptSize = ptSize(l.jdirs, func(e *entry) []byte { return dirID(e, e.joliet) })
		l.jptLBA = uint32(next)
		next += sectorsFor(int64(l.jptSize))
		l.jptMLBA = uint32(next)
		next += sectorsFor(int64(l.jptSize))
	}
	for _, d := range l.dirs {
		d.lba = uint32(next)
		next += int64(d.size) / SectorSize
	}
	l.ceLBA = uint32(next)
	next += int64(l.ce.sectors)
	for _, d := range l.jdirs {
		d.jlba = uint32(next)
		next += int64(d.jsize) / SectorSize
	}
	l.metaEnd = uint32(next)

	var files []*entry
	for _, e := range all {
		if e.n.kind == kindFile && e != l.catalog && e != l.efi && e != l.bios {
			files = append(files, e)
		}
	}
	sort.Slice(files, func(i, j int) bool { return files[i].path < files[j].path })
	for _, e := range []*entry{l.bios, l.efi, l.catalog} {
		if e != nil {
			files = append([]*entry{e}, files...)
		}
	}
	if i := slices.Index(files, l.streamed); i >= 0 {
		files = append(append(files[:i:i], files[i+1:]...), l.streamed)
	}
	for _, e := range files {
		if e.n.size == 0 {
			continue // empty files point at sector 0, as they hold no data
		}
		e.dataLBA = uint32(next)
		next += sectorsFor(e.n.size)
		if next > 0xFFFFFFFF {
			return fmt.Errorf("iso9660: /%s: image larger than 2^32 sectors", e.path)
		}
		l.files = append(l.files, e)
	}
	l.dataEnd = uint32(next)
	l.totalSectors = l.dataEnd
	if l.hybridMBR != nil {
		l.gpt = l.efi != nil
		blocks := int64(l.dataEnd)
		if l.gpt {
			blocks += gptBackupBlocks
		}
		l.geometry, blocks = hybridGeometry(blocks)
		if blocks > 0xFFFFFFFF {
			return fmt.Errorf("iso9660: image of %d sectors is too large", blocks)
		}
		l.totalSectors = uint32(blocks)
	}
	return nil
}

// dirID is a directory's identifier in a path table: the root's is a single zero byte.
func dirID(e *entry, id []byte) []byte {
	if e.parent == e {
		return []byte{0}
	}
	return id
}

// renderMeta renders the volume descriptors, path tables, directories and continuation area.
func (l *layout) renderMeta(date [shortDateLen]byte) error {
	buf := make([]byte, (int64(l.metaEnd)-firstDescriptorLBA)*SectorSize)
	at := func(lba uint32) []byte { return buf[(int64(lba)-firstDescriptorLBA)*SectorSize:] }

	vd := firstDescriptorLBA
	l.primaryDescriptor(at(uint32(vd)))
	vd++
	if l.bootRecord {
		b := at(uint32(vd))
		b[vdType] = vdTypeBootRecord
		copy(b[vdStandardID:], standardID)
		b[vdVersion] = 1
		copy(b[brBootSystemID:], elToritoSystemID)
		binary.LittleEndian.PutUint32(b[brCatalogLBA:], l.catalog.dataLBA)
		vd++
	}
	if l.opts.Joliet {
		l.jolietDescriptor(at(uint32(vd)))
		vd++
	}
	t := at(uint32(vd))
	t[vdType] = vdTypeTerminator
	copy(t[vdStandardID:], standardID)
	t[vdVersion] = 1

	pathTable(at(l.ptLBA), at(l.ptMLBA), l.dirs, func(e *entry) ([]byte, uint32, int) {
		return dirID(e, e.isoBytes), e.lba, e.parent.ptNumber
	})
	if l.opts.Joliet {
		pathTable(at(l.jptLBA), at(l.jptMLBA), l.jdirs, func(e *entry) ([]byte, uint32, int) {
			return dirID(e, e.joliet), e.jlba, e.parent.jptNumber
		})
	}

	for _, d := range l.dirs {
		out := at(d.lba)[:d.size]
		off := 0
		put := func(id []byte, lba, size uint32, flags byte, su []byte) {
			n := recordLen(len(id), len(su))
			if off%SectorSize+n > SectorSize {
				off += SectorSize - off%SectorSize
			}
			putRecord(out[off:off+n], id, lba, size, flags, date, su)
			off += n
		}
		put([]byte{0}, d.lba, d.size, flagDirectory, d.dotPlan.systemUse(l.ceLBA))
		put([]byte{1}, d.parent.lba, d.parent.size, flagDirectory, d.dot2Plan.systemUse(l.ceLBA))
		for _, c := range d.children {
			su := c.plan.systemUse(l.ceLBA)
			for _, x := range c.extentList() {
				put(c.isoBytes, x.lba, x.size, x.flags, su)
			}
		}
	}
	copy(at(l.ceLBA), l.ce.render(l.ceLBA))
	for _, d := range l.jdirs {
		out := at(d.jlba)[:d.jsize]
		off := 0
		put := func(id []byte, lba, size uint32, flags byte) {
			n := recordLen(len(id), 0)
			if off%SectorSize+n > SectorSize {
				off += SectorSize - off%SectorSize
			}
			putRecord(out[off:off+n], id, lba, size, flags, date, nil)
			off += n
		}
		put([]byte{0}, d.jlba, d.jsize, flagDirectory)
		put([]byte{1}, d.parent.jlba, d.parent.jsize, flagDirectory)
		for _, c := range d.jchildren {
			for _, x := range c.extentList() {
				if c.isDir() {
					x.lba, x.size = c.jlba, c.jsize
				}
				put(c.joliet, x.lba, x.size, x.flags)
			}
		}
	}
	l.meta = buf
	return nil
}

type extent struct {
	lba, size uint32
	flags     byte
}

// extentList is the records an entry gets in its parent directory.
func (e *entry) extentList() []extent {
	switch e.n.kind {
	case kindDir:
		return []extent{{lba: e.lba, size: e.size, flags: flagDirectory}}
	case kindSymlink:
		return []extent{{}}
	}
	var out []extent
	lba, rest := e.dataLBA, e.n.size
	for {
		x := extent{lba: lba, size: uint32(min(rest, maxExtentSize))}
		rest -= int64(x.size)
		if rest > 0 {
			x.flags = flagMultiExtent
		}
		out = append(out, x)
		if rest <= 0 {
			return out
		}
		lba += x.size / SectorSize
	}
}

// putRecord writes a directory record into b, which is exactly its length.
func putRecord(b, id []byte, lba, size uint32, flags byte, date [shortDateLen]byte, su []byte) {
	b[drLength] = byte(len(b))
	putBoth32(b[drExtentLBA:], lba)
	putBoth32(b[drDataLength:], size)
	copy(b[drRecordingDate:], date[:])
	b[drFileFlags] = flags
	putBoth16(b[drVolumeSeqNumber:], 1)
	b[drFileIDLength] = byte(len(id))
	copy(b[drFileID:], id)
	off := drFixedLen + len(id)
	if off%2 == 1 {
		off++
	}
	copy(b[off:], su)
}

// pathTable writes the L (little-endian) and M (big-endian) path tables.
func pathTable(lt, mt []byte, dirs []*entry, rec func(*entry) ([]byte, uint32, int)) {
	off := 0
	for _, d := range dirs {
		id, lba, parent := rec(d)
		for _, t := range [][]byte{lt, mt} {
			t[off+ptIDLength] = byte(len(id))
			copy(t[off+ptDirectoryID:], id)
		}
		binary.LittleEndian.PutUint32(lt[off+ptExtentLBA:], lba)
		binary.LittleEndian.PutUint16(lt[off+ptParentNumber:], uint16(parent))
		binary.BigEndian.PutUint32(mt[off+ptExtentLBA:], lba)
		binary.BigEndian.PutUint16(mt[off+ptParentNumber:], uint16(parent))
		off += ptFixedLen + len(id) + len(id)%2
	}
}

// primaryDescriptor writes the primary volume descriptor (ECMA-119 8.4).
func (l *layout) primaryDescriptor(b []byte) {
	o := l.opts
	l.commonDescriptor(b, vdTypePrimary)
	padSpaces(b[vdSystemID:vdSystemID+vdSystemIDLen], "")
	padSpaces(b[vdVolumeID:vdVolumeID+vdVolumeIDLen], o.VolumeID)
	putBoth32(b[vdPathTableSize:], l.ptSize)
	binary.LittleEndian.PutUint32(b[vdPathTableL:], l.ptLBA)
	binary.BigEndian.PutUint32(b[vdPathTableM:], l.ptMLBA)
	putRecord(b[vdRootRecord:vdRootRecord+rootRecordLen], []byte{0}, l.root.lba, l.root.size,
		flagDirectory, shortDate(o.ModTime), nil)
	for _, f := range []struct {
		off, n int
		v      string
	}{
		{vdVolumeSetID, vdLongIDLen, ""},
		{vdPublisherID, vdLongIDLen, strings.ToUpper(o.Publisher)},
		{vdPreparerID, vdLongIDLen, strings.ToUpper(o.Preparer)},
		{vdApplicationID, vdLongIDLen, strings.ToUpper(o.Application)},
		{vdCopyrightFileID, vdFileIDLen, ""},
		{vdAbstractFileID, vdFileIDLen, ""},
		{vdBibliographicID, vdFileIDLen, ""},
	} {
		padSpaces(b[f.off:f.off+f.n], f.v)
	}
}

// jolietDescriptor writes the Joliet supplementary volume descriptor.
func (l *layout) jolietDescriptor(b []byte) {
	o := l.opts
	l.commonDescriptor(b, vdTypeSupplementary)
	copy(b[vdEscapeSequences:], jolietLevel3)
	padUCS2(b[vdSystemID:vdSystemID+vdSystemIDLen], "")
	padUCS2(b[vdVolumeID:vdVolumeID+vdVolumeIDLen], o.VolumeID)
	putBoth32(b[vdPathTableSize:], l.jptSize)
	binary.LittleEndian.PutUint32(b[vdPathTableL:], l.jptLBA)
	binary.BigEndian.PutUint32(b[vdPathTableM:], l.jptMLBA)
	putRecord(b[vdRootRecord:vdRootRecord+rootRecordLen], []byte{0}, l.root.jlba, l.root.jsize,
		flagDirectory, shortDate(o.ModTime), nil)
	for _, f := range []struct {
		off, n int
		v      string
	}{
		{vdVolumeSetID, vdLongIDLen, ""},
		{vdPublisherID, vdLongIDLen, o.Publisher},
		{vdPreparerID, vdLongIDLen, o.Preparer},
		{vdApplicationID, vdLongIDLen, o.Application},
		{vdCopyrightFileID, vdFileIDLen - 1, ""},
		{vdAbstractFileID, vdFileIDLen - 1, ""},
		{vdBibliographicID, vdFileIDLen - 1, ""},
	} {
		padUCS2(b[f.off:f.off+f.n], f.v)
	}
}

// commonDescriptor writes the fields the primary and supplementary descriptors share.
func (l *layout) commonDescriptor(b []byte, typ byte) {
	b[vdType] = typ
	copy(b[vdStandardID:], standardID)
	b[vdVersion] = 1
	putBoth32(b[vdVolumeSpaceSize:], l.totalSectors)
	putBoth16(b[vdVolumeSetSize:], 1)
	putBoth16(b[vdVolumeSeqNumber:], 1)
	putBoth16(b[vdLogicalBlockSize:], SectorSize)
	created := longDate(l.opts.ModTime)
	unset := longDate(time.Time{})
	copy(b[vdCreationDate:], created[:])
	copy(b[vdModificationDate:], created[:])
	copy(b[vdExpirationDate:], unset[:])
	copy(b[vdEffectiveDate:], unset[:])
	b[vdFileStructVersion] = vdFileStructVers
}

func padSpaces(b []byte, s string) {
	n := copy(b, s)
	for i := n; i < len(b); i++ {
		b[i] = ' '
	}
}

// padUCS2 writes s in UCS-2 big-endian, cut to the field, padded with UCS-2 spaces.
func padUCS2(b []byte, s string) {
	u := ucs2Bytes(jolietUnits(s))
	n := copy(b, u[:min(len(u), len(b)/2*2)])
	for i := n; i+1 < len(b); i += 2 {
		b[i], b[i+1] = 0, ' '
	}
}

// seed is the GUID seed: the caller's, or a hash of every metadata byte of the image.
func (l *layout) seed() []byte {
	if l.opts.GUIDSeed != nil {
		return l.opts.GUIDSeed
	}
	h := sha256.New()
	h.Write(l.meta)
	for _, e := range l.files {
		if e.data != nil {
			h.Write(e.data)
		}
	}
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(l.totalSectors))
	h.Write(n[:])
	return h.Sum(nil)
}
