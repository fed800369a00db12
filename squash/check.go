package squash

import (
	"context"
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/gonixiso/gonixiso/internal/parallel"
)

// Check reads the whole image, decoding every metadata block, data block and fragment block,
// and holds it to the rules the Linux kernel's SquashFS driver depends on, which unsquashfs
// does not enforce:
//
//   - zstd: exactly one frame per block, with no dictionary and a window (for a single-segment
//     frame, its content size) no larger than max(block size, 8 KiB).
//   - xz: exactly one stream per block, with no check or CRC32; at most two filters, an optional
//     BCJ (x86, powerpc, ia64, arm, armthumb, sparc) without a start offset and then LZMA2, whose
//     dictionary is no larger than the one the kernel allocates: the compressor options' (2^n or
//     2^n + 2^(n+1)) or max(block size, 8 KiB).
//   - gzip: a zlib stream with a 32 KiB window or less and no preset dictionary, filling its block.
//   - lz4: compressor options stored, format version 1.
//   - lzo: any LZO1X stream that fills its block (lzo1x_decompress_safe).
//   - lzma: none (the kernel has no lzma decompressor for SquashFS).
//
// and to the format's own: block lists that match file sizes and fragments, data blocks that
// decode to exactly a block (a file's last to the rest of the file), uncompressed blocks of
// exactly that length, tails within their fragment blocks, lookup tables of full metadata
// blocks, directories sorted bytewise by name with valid names, headers of at most 256 entries,
// index entries that point at headers whose first name they repeat, inode numbers in range and
// not shared by two inodes, owners in the id table, entries whose type and inode number match
// their inodes, and an export table that maps each inode number to its inode.
//
// It returns the first problem found, naming the path or table.
func (r *Reader) Check() error {
	c := &checker{r: r, inodes: map[uint32]uint64{}, blocks: map[int64]int64{}, xattrs: map[uint32]string{}}
	steps := []func() error{
		c.superblock,
		func() error {
			return c.metadataTable("inode table", int64(r.t.inodeTable), int64(r.t.directoryTable), false)
		},
		// The kernel's directory index lookup assumes full blocks in the directory table.
		func() error { return c.metadataTable("directory table", int64(r.t.directoryTable), r.dirEnd, true) },
		c.lookupTables,
		c.fragments,
		c.tree,
		func() error {
			if n := len(c.inodes); n != int(r.sb.Inodes) {
				return fmt.Errorf("superblock: %d inodes, the tree has %d", r.sb.Inodes, n)
			}
			return nil
		},
		c.exportTable,
		c.xattrTable,
	}
	for _, step := range steps {
		if err := step(); err != nil {
			// The reader's own errors (reading an entry Check visits) name what failed
			// already; Check's findings say they are Check's.
			if strings.HasPrefix(err.Error(), "squash: ") {
				return err
			}
			return fmt.Errorf("squash: check: %w", err)
		}
	}
	return nil
}

type checker struct {
	r         *Reader
	fragSizes []int             // decoded size of each fragment block
	inodes    map[uint32]uint64 // inode number → reference
	blocks    map[int64]int64   // data blocks checked: image offset → decoded length
	xattrs    map[uint32]string // xattr indexes the inodes use → an entry using it
}

func (c *checker) superblock() error {
	return c.r.codec.checkOptions(&c.r.sb)
}

// metadataTable decodes every metadata block of a table, in order, to the table's end.
func (c *checker) metadataTable(name string, lo, hi int64, full bool) error {
	r := c.r
	pos := lo
	for i := 0; pos < hi; i++ {
		if err := c.metadataBlock(name, i, pos, lo, hi); err != nil {
			return err
		}
		mb, err := r.metaBlockAt(pos, lo, hi)
		if err != nil {
			return fmt.Errorf("%s block %d: %w", name, i, err)
		}
		if full && mb.next < hi && len(mb.data) != metadataSize {
			return fmt.Errorf("%s block %d at %d holds %d bytes, not %d", name, i, pos, len(mb.data), metadataSize)
		}
		pos = mb.next
	}
	if pos != hi {
		return fmt.Errorf("%s: blocks end at %d, beyond the table's end at %d", name, pos, hi)
	}
	return nil
}

// metadataBlock holds the metadata block at pos to the kernel's rules.
func (c *checker) metadataBlock(name string, i int, pos, lo, hi int64) error {
	r := c.r
	if pos < lo || pos+metadataHeaderSize > hi {
		return fmt.Errorf("%s block %d at %d outside the table %d..%d", name, i, pos, lo, hi)
	}
	var h [metadataHeaderSize]byte
	if _, err := r.ra.ReadAt(h[:], pos); err != nil {
		return fmt.Errorf("%s block %d: %w", name, i, err)
	}
	word := binary.LittleEndian.Uint16(h[:])
	n := int64(word &^ metadataUncompressed)
	if n == 0 || n > metadataSize || pos+metadataHeaderSize+n > hi {
		return fmt.Errorf("%s block %d at %d: length %d out of bounds", name, i, pos, n)
	}
	if word&metadataUncompressed != 0 {
		return nil
	}
	raw := make([]byte, n)
	if _, err := r.ra.ReadAt(raw, pos+metadataHeaderSize); err != nil {
		return fmt.Errorf("%s block %d: %w", name, i, err)
	}
	if _, err := c.decode(make([]byte, metadataSize), raw); err != nil {
		return fmt.Errorf("%s block %d at %d: %w", name, i, pos, err)
	}
	return nil
}

// lookupTables checks the blocks of the id and fragment tables (NewReader checked their
// lengths for the id table; the fragment table is read here in full).
func (c *checker) lookupTables() error {
	r := c.r
	sb := &r.sb
	type table struct {
		name      string
		at        uint64
		count     int64
		entrySize int64
	}
	tables := []table{{"id table", r.t.idTable, int64(sb.IDs), idEntrySize}}
	if sb.Fragments > 0 {
		tables = append(tables, table{"fragment table", r.t.fragmentTable, int64(sb.Fragments), fragmentEntrySize})
	}
	for _, t := range tables {
		idx, err := r.lookupIndex(t.name, t.at, t.count, t.entrySize)
		if err != nil {
			return err
		}
		for i := range idx {
			if err := c.metadataBlock(t.name, i, int64(idx[i]), int64(idx[i]), int64(t.at)); err != nil {
				return err
			}
			if _, err := r.lookupBlock(t.name, idx, i, t.at, t.count, t.entrySize); err != nil {
				return err
			}
		}
	}
	return nil
}

// fragments decodes every fragment block, on every core, and records its size.
func (c *checker) fragments() error {
	r := c.r
	type job struct {
		i   uint32
		buf *[]byte
		raw *[]byte
		n   int
	}
	return parallel.Ordered(context.Background(), parallel.Options{},
		func(emit func(*job) error) error {
			for i := uint32(0); i < r.sb.Fragments; i++ {
				if err := emit(&job{i: i}); err != nil {
					return err
				}
			}
			return nil
		},
		func(j *job) (*job, error) {
			start, w, err := r.fragmentEntry(j.i)
			if err != nil {
				return nil, err
			}
			buf := r.getBuf()
			defer r.putBuf(buf)
			n, err := c.readBlock(start, w, *buf)
			if err != nil {
				return nil, fmt.Errorf("fragment block %d at %d: %w", j.i, start, err)
			}
			j.n = n
			return j, nil
		},
		func(j *job) error {
			c.fragSizes = append(c.fragSizes, j.n)
			return nil
		})
}

// readBlock reads a data or fragment block and decodes it under the kernel's rules.
func (c *checker) readBlock(off int64, w uint32, buf []byte) (int, error) {
	return c.r.readBlockWith(off, w, buf, c.decode)
}

// decode decodes a block, first holding its container to the kernel's rules.
func (c *checker) decode(dst, src []byte) (int, error) {
	return c.r.dec.decodeKernel(dst, src, &c.r.sb)
}

// dataJob is a data block to decode and check.
type dataJob struct {
	name string
	i    int
	off  int64
	word uint32
	want int64
	skip bool // decoded for an earlier file
}

// tree walks every entry and checks it; data blocks are decoded on every core.
func (c *checker) tree() error {
	r := c.r
	root, err := r.root()
	if err != nil {
		return err
	}
	return parallel.Ordered(context.Background(), parallel.Options{},
		func(emit func(*dataJob) error) error {
			w := walker{r: r, seen: map[uint64]string{}, visit: func(e, parent *Entry) error {
				return c.entry(e, parent, emit)
			}}
			return w.dir(root, nil, 0)
		},
		func(j *dataJob) (*dataJob, error) {
			if j.skip {
				return j, nil
			}
			buf := r.getBuf()
			n, err := c.readBlock(j.off, j.word, *buf)
			r.putBuf(buf)
			if err != nil {
				return nil, fmt.Errorf("%s: data block %d at %d: %w", j.name, j.i, j.off, err)
			}
			if int64(n) != j.want {
				return nil, fmt.Errorf("%s: data block %d at %d decodes to %d bytes, want %d", j.name, j.i, j.off, n, j.want)
			}
			return j, nil
		},
		func(*dataJob) error { return nil })
}

// entry checks one entry and emits its data blocks.
func (c *checker) entry(e *Entry, parent *Entry, emit func(*dataJob) error) error {
	r := c.r
	name := e.Name
	if e.Inode == 0 || e.Inode > r.sb.Inodes {
		return fmt.Errorf("%s: inode number %d outside 1..%d", name, e.Inode, r.sb.Inodes)
	}
	if ref, ok := c.inodes[e.Inode]; ok && ref != e.ref {
		return fmt.Errorf("%s: inode number %d also numbers the inode at %#x (the kernel would show one for the other)", name, e.Inode, ref)
	}
	c.inodes[e.Inode] = e.ref
	if e.xattr != noXattr {
		if _, ok := c.xattrs[e.xattr]; !ok {
			c.xattrs[e.xattr] = name
		}
	}
	if err := c.modeBits(e); err != nil {
		return err
	}
	switch {
	case e.Mode.IsDir():
		return c.dir(e, parent)
	case e.Mode.IsRegular():
		return c.file(e, emit)
	}
	return nil
}

// modeBits checks that the file type bits mksquashfs stores in an inode's mode, when present,
// agree with its type: the kernel ORs the type into the stored mode.
func (c *checker) modeBits(e *Entry) error {
	m, err := c.r.inodeReader(e.ref)
	if err != nil {
		return fmt.Errorf("%s: %w", e.Name, err)
	}
	var h [inodeHeader]byte
	if err := m.read(h[:]); err != nil {
		return fmt.Errorf("%s: %w", e.Name, err)
	}
	mode := binary.LittleEndian.Uint16(h[inoMode:])
	typ := uint16(mode) & sModeType
	if typ == 0 {
		return nil
	}
	if want := unixType[basicInodeType(e.typ)]; typ != want {
		return fmt.Errorf("%s: mode %#o has file type bits %#o, the inode is type %d", e.Name, mode, typ, e.typ)
	}
	return nil
}

// unixType are the file type bits of a Unix mode, by basic inode type.
var unixType = [...]uint16{
	inodeDir: 0o040000, inodeFile: 0o100000, inodeSymlink: 0o120000, inodeBlockDev: 0o060000,
	inodeCharDev: 0o020000, inodeFifo: 0o010000, inodeSocket: 0o140000,
}

func (c *checker) dir(e *Entry, parent *Entry) error {
	r := c.r
	if parent != nil && e.parent != parent.Inode {
		return fmt.Errorf("%s: parent inode number %d, the parent is inode %d", e.Name, e.parent, parent.Inode)
	}
	l, err := r.listing(e)
	if err != nil {
		return err
	}
	if !l.sorted {
		for i := 1; i < len(l.disk); i++ {
			if l.disk[i] <= l.disk[i-1] {
				return fmt.Errorf("%s: directory not sorted: %q after %q (the kernel's lookup would miss entries)", e.Name, l.disk[i], l.disk[i-1])
			}
		}
	}
	index, err := r.dirIndex(e)
	if err != nil {
		return fmt.Errorf("%s: %w", e.Name, err)
	}
	prev := int64(-1)
	for _, ix := range index {
		if int64(ix.index) <= prev {
			return fmt.Errorf("%s: directory index entries out of order", e.Name)
		}
		prev = int64(ix.index)
		found := false
		for _, h := range l.headers {
			if h.pos != ix.index {
				continue
			}
			found = true
			if h.block != uint64(ix.start) || h.off != int((ix.index+uint32(e.listOffset))%metadataSize) {
				return fmt.Errorf("%s: directory index entry for offset %d says block %d, the header is in block %d at %d", e.Name, ix.index, ix.start, h.block, h.off)
			}
			if h.first != ix.name {
				return fmt.Errorf("%s: directory index entry for offset %d names %q, the header's first entry is %q", e.Name, ix.index, ix.name, h.first)
			}
		}
		if !found {
			return fmt.Errorf("%s: directory index entry points at offset %d, where no header starts", e.Name, ix.index)
		}
	}
	return nil
}

func (c *checker) file(e *Entry, emit func(*dataJob) error) error {
	r := c.r
	bs := int64(r.bs)
	if e.extended() && e.sparse > uint64(e.Size) {
		return fmt.Errorf("%s: %d sparse bytes in a file of %d", e.Name, e.sparse, e.Size)
	}
	l, err := r.blockList(e)
	if err != nil {
		return err
	}
	for i := int64(0); ; i++ {
		w, off, err := l.next()
		if err == errBlockListEnd {
			break
		}
		if err != nil {
			return err
		}
		want := min(bs, e.Size-i*bs)
		if w == 0 {
			continue
		}
		n := int64(w &^ dataUncompressed)
		if w&dataUncompressed != 0 && n != want {
			return fmt.Errorf("%s: uncompressed data block %d of %d bytes, want %d", e.Name, i, n, want)
		}
		j := &dataJob{name: e.Name, i: int(i), off: off, word: w, want: want}
		if seen, ok := c.blocks[off]; ok {
			if seen != want {
				return fmt.Errorf("%s: data block %d at %d read as %d bytes, and as %d by an earlier file", e.Name, i, off, want, seen)
			}
			j.skip = true
		} else {
			c.blocks[off] = want
		}
		if err := emit(j); err != nil {
			return err
		}
	}
	if e.fragment != noFragment {
		tail := e.Size % bs
		if int(e.fragment) >= len(c.fragSizes) {
			return fmt.Errorf("%s: fragment %d beyond the %d fragment blocks", e.Name, e.fragment, len(c.fragSizes))
		}
		if size := int64(c.fragSizes[e.fragment]); int64(e.fragOff)+tail > size {
			return fmt.Errorf("%s: tail of %d bytes at %d beyond the %d bytes of fragment block %d", e.Name, tail, e.fragOff, size, e.fragment)
		}
	}
	return nil
}

// exportTable checks that the export table, when there is one, maps every inode number to its
// inode.
func (c *checker) exportTable() error {
	r := c.r
	at := r.t.exportTable
	if at == tableAbsent {
		return nil
	}
	const name, entrySize = "export table", exportEntrySize
	count := int64(r.sb.Inodes)
	idx, err := r.lookupIndex(name, at, count, entrySize)
	if err != nil {
		return err
	}
	for i := range idx {
		if err := c.metadataBlock(name, i, int64(idx[i]), int64(idx[i]), int64(at)); err != nil {
			return err
		}
		b, err := r.lookupBlock(name, idx, i, at, count, entrySize)
		if err != nil {
			return err
		}
		for k := 0; k+entrySize <= len(b); k += entrySize {
			ino := uint32(int64(i)*metadataSize/entrySize + int64(k/entrySize) + 1)
			ref := binary.LittleEndian.Uint64(b[k:])
			if want, ok := c.inodes[ino]; ok && ref != want {
				return fmt.Errorf("%s: inode %d at %#x, the tree has it at %#x", name, ino, ref, want)
			}
		}
	}
	return nil
}

// The xattr id table: a header, then the index of its metadata blocks of xattr ids, each the
// reference and size of an inode's extended attributes in the xattr table, which starts at
// xattrTableStart.
const (
	xattrTableStart  = 0 // u64 image offset of the first metadata block of keys and values
	xattrIDCount     = 8 // u32
	xattrIDHeader    = 16
	xattrIDEntrySize = 16
)

// xattrTable checks that the xattr tables decode under the kernel's rules and that every
// inode's xattr index is in the id table.
func (c *checker) xattrTable() error {
	r := c.r
	at := r.t.xattrTable
	if at == tableAbsent {
		if x, name := c.firstXattr(-1); name != "" {
			return fmt.Errorf("%s: xattr index %d, and the image has no xattr table", name, x)
		}
		return nil
	}
	if at+xattrIDHeader > uint64(r.size) {
		return fmt.Errorf("xattr id table at %d: header beyond the image", at)
	}
	var h [xattrIDHeader]byte
	if _, err := r.ra.ReadAt(h[:], int64(at)); err != nil {
		return fmt.Errorf("xattr id table: %w", err)
	}
	start := binary.LittleEndian.Uint64(h[xattrTableStart:])
	count := int64(binary.LittleEndian.Uint32(h[xattrIDCount:]))
	const name = "xattr id table"
	idx, err := r.lookupIndex(name, at+xattrIDHeader, count, xattrIDEntrySize)
	if err != nil {
		return err
	}
	if start < uint64(r.dataStart) || start > at || (len(idx) > 0 && start > idx[0]) {
		return fmt.Errorf("xattr table at %d outside %d..%d", start, r.dataStart, at)
	}
	// The keys and values, then the ids.
	end := int64(at)
	if len(idx) > 0 {
		end = int64(idx[0])
	}
	if int64(start) < end {
		if err := c.metadataTable("xattr table", int64(start), end, false); err != nil {
			return err
		}
	}
	for i := range idx {
		if err := c.metadataBlock(name, i, int64(idx[i]), int64(idx[i]), int64(at)); err != nil {
			return err
		}
		if _, err := r.lookupBlock(name, idx, i, at+xattrIDHeader, count, xattrIDEntrySize); err != nil {
			return err
		}
	}
	if x, name := c.firstXattr(count); name != "" {
		return fmt.Errorf("%s: xattr index %d beyond the %d of the xattr id table", name, x, count)
	}
	return nil
}

// firstXattr returns the xattr index at least limit (any, for -1) that the first entry by name
// uses, and the entry; "" when there is none.
func (c *checker) firstXattr(limit int64) (uint32, string) {
	var bad uint32
	var first string
	for x, name := range c.xattrs {
		if int64(x) >= limit && (first == "" || name < first) {
			bad, first = x, name
		}
	}
	return bad, first
}
