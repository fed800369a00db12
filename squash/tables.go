package squash

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"runtime"
)

func parallelDefault() int { return runtime.GOMAXPROCS(0) }

func putU16(b []byte, v uint16) { binary.LittleEndian.PutUint16(b, v) }
func putU32(b []byte, v uint32) { binary.LittleEndian.PutUint32(b, v) }
func putU64(b []byte, v uint64) { binary.LittleEndian.PutUint64(b, v) }

// tableWriter builds the inode, directory, fragment and id tables from the tree.
type tableWriter struct {
	w      *Writer
	inodes *metaWriter
	dirs   *metaWriter
	ids    []uint32
	idIdx  map[uint32]uint16
	count  uint32 // inodes numbered
}

// basicType is the inode type a directory entry records for n.
func basicType(n *node) uint16 {
	switch t := n.hdr.Mode.Type(); {
	case t == fs.ModeDir:
		return inodeDir
	case t == fs.ModeSymlink:
		return inodeSymlink
	case t == fs.ModeDevice|fs.ModeCharDevice:
		return inodeCharDev
	case t == fs.ModeDevice:
		return inodeBlockDev
	case t == fs.ModeNamedPipe:
		return inodeFifo
	case t == fs.ModeSocket:
		return inodeSocket
	}
	return inodeFile
}

// squashMode is the 16-bit mode an inode stores: permissions, setuid, setgid and sticky.
func squashMode(m fs.FileMode) uint16 {
	v := uint16(m.Perm())
	if m&fs.ModeSetuid != 0 {
		v |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		v |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		v |= 0o1000
	}
	return v
}

// The inode and directory tables, as tables linked to each other (metatable.go).
const (
	inodeTable = iota
	directoryTable
)

// The layout of the inode and directory tables. The inodes of everything but directories come
// first, in the order of the tree (for each directory, its subdirectories' entries, then its
// own), and refer to nothing in the tables: their blocks compress at once, in parallel. The
// directories' inodes follow, each after its subdirectories' (the root last), and each
// directory's listing is written to the directory table just before its inode: a listing names
// inodes written before it, a directory inode the listing just written, so each of those blocks
// waits only for the blocks of the other table finished before it. Inode numbers follow the
// inode table.

// eachOther calls fn for every entry of d's subtree but the directories, in the inode table's
// order: for each directory, its subdirectories' entries, then its own.
func eachOther(d *node, fn func(*node) error) error {
	for _, c := range d.sorted {
		if c.isDir() {
			if err := eachOther(c, fn); err != nil {
				return err
			}
		}
	}
	for _, c := range d.sorted {
		if !c.isDir() {
			if err := fn(c); err != nil {
				return err
			}
		}
	}
	return nil
}

// eachDir calls fn for every directory of d's subtree, each after its subdirectories: d last.
func eachDir(d *node, fn func(*node) error) error {
	for _, c := range d.sorted {
		if c.isDir() {
			if err := eachDir(c, fn); err != nil {
				return err
			}
		}
	}
	return fn(d)
}

// number gives every inode its number, in the order of the inode table.
func (t *tableWriter) number(root *node) error {
	if err := eachOther(root, t.assign); err != nil {
		return err
	}
	return eachDir(root, t.assign)
}

// write lays out the inode and directory tables.
func (t *tableWriter) write(root *node) error {
	if err := eachOther(root, t.writeInode); err != nil {
		return err
	}
	return eachDir(root, t.writeDirInode)
}

func (t *tableWriter) assign(n *node) error {
	if t.count == maxInodeNumber {
		return errors.New("squash: more than 2^32-1 inodes")
	}
	t.count++
	n.ino = t.count
	for _, id := range []uint32{n.hdr.UID, n.hdr.GID} {
		if _, ok := t.idIdx[id]; !ok {
			if len(t.ids) == maxIDs {
				return fmt.Errorf("squash: %s: more than %d distinct uids and gids", n.path(), maxIDs)
			}
			t.idIdx[id] = uint16(len(t.ids))
			t.ids = append(t.ids, id)
		}
	}
	return nil
}

// header fills the common inode header.
func (t *tableWriter) header(b []byte, n *node, typ uint16) {
	putU16(b[inoType:], typ)
	putU16(b[inoMode:], squashMode(n.hdr.Mode))
	putU16(b[inoUID:], t.idIdx[n.hdr.UID])
	putU16(b[inoGID:], t.idIdx[n.hdr.GID])
	putU32(b[inoModTime:], uint32(n.hdr.ModTime))
	putU32(b[inoNumber:], n.ino)
}

// place records where n's inode goes (its block's index) and writes it.
func (t *tableWriter) place(n *node, b []byte, links ...link) error {
	n.refBlock, n.refOff = t.inodes.block(), t.inodes.offset()
	return t.inodes.write(b, links...)
}

func (t *tableWriter) writeInode(n *node) error {
	bs := int64(t.w.blockSize)
	switch basicType(n) {
	case inodeFile:
		size := n.hdr.Size
		want := size / bs
		if n.fragment == noFragment && size%bs != 0 {
			want++
		}
		if int64(len(n.blocks)) != want {
			return fmt.Errorf("squash: internal error: %s has %d blocks, want %d", n.path(), len(n.blocks), want)
		}
		start := uint64(n.start)
		if size <= math.MaxUint32 && start <= math.MaxUint32 && n.sparse == 0 {
			b := make([]byte, basicFileSize+4*len(n.blocks))
			t.header(b, n, inodeFile)
			putU32(b[fileStartBlock:], uint32(start))
			putU32(b[fileFragment:], n.fragment)
			putU32(b[fileOffset:], n.fragOff)
			putU32(b[fileSize:], uint32(size))
			for i, s := range n.blocks {
				putU32(b[basicFileSize+4*i:], s)
			}
			return t.place(n, b)
		}
		b := make([]byte, extFileSize+4*len(n.blocks))
		t.header(b, n, inodeExtFile)
		putU64(b[xfileStartBlock:], start)
		putU64(b[xfileSize:], uint64(size))
		putU64(b[xfileSparse:], uint64(n.sparse))
		putU32(b[xfileLinkCount:], 1)
		putU32(b[xfileFragment:], n.fragment)
		putU32(b[xfileOffset:], n.fragOff)
		putU32(b[xfileXattr:], noXattr)
		for i, s := range n.blocks {
			putU32(b[extFileSize+4*i:], s)
		}
		return t.place(n, b)
	case inodeSymlink:
		b := make([]byte, symlinkSize+len(n.hdr.Linkname))
		t.header(b, n, inodeSymlink)
		putU32(b[symLinkCount:], 1)
		putU32(b[symTargetSize:], uint32(len(n.hdr.Linkname)))
		copy(b[symlinkSize:], n.hdr.Linkname)
		return t.place(n, b)
	case inodeBlockDev, inodeCharDev:
		b := make([]byte, deviceSize)
		t.header(b, n, basicType(n))
		putU32(b[devLinkCount:], 1)
		putU32(b[devRdev:], encodeDev(n.hdr.Devmajor, n.hdr.Devminor))
		return t.place(n, b)
	default: // fifo, socket
		b := make([]byte, ipcSize)
		t.header(b, n, basicType(n))
		putU32(b[ipcLinkCount:], 1)
		return t.place(n, b)
	}
}

type dirIndex struct {
	index uint32 // offset of a header in the listing
	start uint32 // directory table offset of its metadata block
	name  string // its first entry's name
}

// indexEntry is an entry of a directory index as the writer lays it out: the block named by
// its index in the directory table.
type indexEntry struct {
	index uint32
	block uint64
	name  string
}

// writeDirInode writes d's listing to the directory table, then d's inode.
//
// A listing is cut into headers of at most 256 entries whose inodes share a metadata block and
// lie within ±32767 inode numbers of the header's base; a header also ends where its next
// entry would cross into another directory-table metadata block, so that each header starts an
// index entry for the lookups of large directories.
func (t *tableWriter) writeDirInode(d *node) error {
	startBlock, startOff := t.dirs.block(), t.dirs.offset()
	var size uint32
	var index []indexEntry
	kids := d.sorted
	for i := 0; i < len(kids); {
		first := kids[i]
		hdrBlock := t.dirs.block()
		hdrPos := t.dirs.total
		if hdrBlock != startBlock && (len(index) == 0 || index[len(index)-1].block != hdrBlock) {
			index = append(index, indexEntry{index: size, block: hdrBlock, name: first.name})
		}
		j := i
		length := int64(dirHeaderSize)
		for j < len(kids) {
			c := kids[j]
			delta := int64(c.ino) - int64(first.ino)
			entryLen := int64(dirEntrySize + len(c.name))
			if j > i && (j-i == maxDirEntries || c.refBlock != first.refBlock || delta < math.MinInt16 || delta > math.MaxInt16 ||
				(hdrPos+length+entryLen-1)/metadataSize != hdrPos/metadataSize) {
				break
			}
			length += entryLen
			j++
		}
		b := make([]byte, 0, length)
		var h [dirHeaderSize]byte
		putU32(h[dhCount:], uint32(j-i-1))
		putU32(h[dhInodeNumber:], first.ino) // dhStart: the link below
		b = append(b, h[:]...)
		for _, c := range kids[i:j] {
			var e [dirEntrySize]byte
			putU16(e[deOffset:], c.refOff)
			putU16(e[deInodeDelta:], uint16(int16(int64(c.ino)-int64(first.ino))))
			putU16(e[deType:], basicType(c))
			putU16(e[deNameSize:], uint16(len(c.name)-1))
			b = append(append(b, e[:]...), c.name...)
		}
		if int64(size)+int64(len(b)) > math.MaxUint32-3 {
			return fmt.Errorf("squash: %s: directory listing larger than 4 GiB", d.path())
		}
		size += uint32(len(b))
		if err := t.dirs.write(b, link{at: dhStart, table: inodeTable, block: first.refBlock}); err != nil {
			return err
		}
		i = j
	}

	nlink := uint32(2)
	for _, c := range d.sorted {
		if c.isDir() {
			nlink++
		}
	}
	parent := t.count + 1 // the root's parent, by mksquashfs's convention
	if d.parent != nil {
		parent = d.parent.ino
	}
	fileSize := size + 3 // the listing and the "." and ".." it does not store
	if len(index) == 0 && fileSize <= math.MaxUint16 {
		b := make([]byte, basicDirSize)
		t.header(b, d, inodeDir)
		putU32(b[dirLinkCount:], nlink)
		putU16(b[dirFileSize:], uint16(fileSize))
		putU16(b[dirOffset:], startOff)
		putU32(b[dirParentInode:], parent)
		return t.place(d, b, link{at: dirStartBlock, table: directoryTable, block: startBlock})
	}
	if len(index) > math.MaxUint16 {
		return fmt.Errorf("squash: %s: directory too large for its index", d.path())
	}
	b := make([]byte, extDirSize, extDirSize+len(index)*(dirIndexHeader+16))
	t.header(b, d, inodeExtDir)
	putU32(b[xdirLinkCount:], nlink)
	putU32(b[xdirFileSize:], fileSize)
	putU32(b[xdirParentInode:], parent)
	putU16(b[xdirIndexCount:], uint16(len(index)))
	putU16(b[xdirOffset:], startOff)
	putU32(b[xdirXattr:], noXattr)
	links := []link{{at: xdirStartBlock, table: directoryTable, block: startBlock}}
	for _, ix := range index {
		var e [dirIndexHeader]byte
		putU32(e[dindexIndex:], ix.index)
		putU32(e[dindexNameSize:], uint32(len(ix.name)-1))
		links = append(links, link{at: int64(len(b) + dindexStart), table: directoryTable, block: ix.block})
		b = append(append(b, e[:]...), ix.name...)
	}
	return t.place(d, b, links...)
}

// lookupTable writes entries of fixed size as metadata blocks at pos, then the index of those
// blocks (their absolute offsets, as u64), and returns the index's offset and the bytes.
func lookupTable(comp compressor, pos int64, entries []byte) (indexAt int64, out []byte, err error) {
	var starts []uint64
	for off := 0; off < len(entries); off += metadataSize {
		starts = append(starts, uint64(pos)+uint64(len(out)))
		b, err := storeMeta(comp, entries[off:min(off+metadataSize, len(entries))])
		if err != nil {
			return 0, nil, err
		}
		out = append(out, b...)
	}
	indexAt = pos + int64(len(out))
	for _, s := range starts {
		out = binary.LittleEndian.AppendUint64(out, s)
	}
	return indexAt, out, nil
}

// writeTables writes everything after the data: the tables, then the superblock.
func (w *Writer) writeTables() error {
	sortTree(w.root)
	t := &tableWriter{w: w, idIdx: map[uint32]uint16{}}
	if err := t.number(w.root); err != nil {
		return err
	}
	ctx := w.opts.Context
	if ctx == nil {
		ctx = context.Background()
	}
	linked, starts, err := writeLinkedTables(ctx, w.comp, w.workers, 2, func(m []*metaWriter) error {
		t.inodes, t.dirs = m[inodeTable], m[directoryTable]
		return t.write(w.root)
	})
	if err != nil {
		return err
	}
	w.root.ref = inodeRef(starts[inodeTable][w.root.refBlock], w.root.refOff)

	var sb [superblockSize]byte
	pos := w.pos
	inodeAt := pos
	pos += int64(len(linked[inodeTable]))
	dirAt := pos
	pos += int64(len(linked[directoryTable]))
	tables := [][]byte{linked[inodeTable], linked[directoryTable]}

	fragAt := uint64(tableAbsent)
	if len(w.fragments) > 0 {
		entries := make([]byte, fragmentEntrySize*len(w.fragments))
		for i, f := range w.fragments {
			e := entries[i*fragmentEntrySize:]
			putU64(e[fragStart:], uint64(f.start))
			putU32(e[fragSize:], f.size)
		}
		at, out, err := lookupTable(w.comp, pos, entries)
		if err != nil {
			return err
		}
		fragAt = uint64(at)
		pos += int64(len(out))
		tables = append(tables, out)
	}
	ids := make([]byte, 4*len(t.ids))
	for i, id := range t.ids {
		putU32(ids[4*i:], id)
	}
	idAt, idOut, err := lookupTable(w.comp, pos, ids)
	if err != nil {
		return err
	}
	pos += int64(len(idOut))
	tables = append(tables, idOut)
	bytesUsed := pos

	if _, err := w.out.Seek(w.pos, io.SeekStart); err != nil {
		return fmt.Errorf("squash: %w", err)
	}
	for _, b := range tables {
		if _, err := w.out.Write(b); err != nil {
			return fmt.Errorf("squash: writing tables: %w", err)
		}
	}
	// Pad to 4 KiB, as mksquashfs does, for block devices.
	if pad := (4096 - bytesUsed%4096) % 4096; pad > 0 {
		if _, err := w.out.Write(make([]byte, pad)); err != nil {
			return fmt.Errorf("squash: %w", err)
		}
		pos += pad
	}
	if w.maxEnd > pos {
		tr, ok := w.out.(interface{ Truncate(int64) error })
		if !ok {
			return fmt.Errorf("squash: output has %d stale bytes past the image and cannot be truncated", w.maxEnd-pos)
		}
		if err := tr.Truncate(pos); err != nil {
			return fmt.Errorf("squash: %w", err)
		}
	}

	flags := uint16(flagNoXattrs)
	if w.opts.NoFragments {
		flags |= flagNoFragments
	} else {
		flags |= flagAlwaysFragments
	}
	if !w.opts.NoDedup {
		flags |= flagDuplicates
	}
	if f, ok := w.comp.(flagger); ok {
		flags |= f.superFlags()
	}
	opts := w.comp.options()
	if opts != nil {
		flags |= flagCompressorOptions
	}
	putU32(sb[sbMagic:], magic)
	putU32(sb[sbInodeCount:], t.count)
	putU32(sb[sbModTime:], uint32(w.opts.ModTime))
	putU32(sb[sbBlockSize:], uint32(w.blockSize))
	putU32(sb[sbFragmentCount:], uint32(len(w.fragments)))
	putU16(sb[sbCompression:], w.comp.id())
	putU16(sb[sbBlockLog:], uint16(log2(w.blockSize)))
	putU16(sb[sbFlags:], flags)
	putU16(sb[sbIDCount:], uint16(len(t.ids)))
	putU16(sb[sbVersionMajor:], versionMajor)
	putU16(sb[sbVersionMinor:], versionMinor)
	putU64(sb[sbRootInode:], w.root.ref)
	putU64(sb[sbBytesUsed:], uint64(bytesUsed))
	putU64(sb[sbIDTable:], uint64(idAt))
	putU64(sb[sbXattrTable:], tableAbsent)
	putU64(sb[sbInodeTable:], uint64(inodeAt))
	putU64(sb[sbDirectoryTable:], uint64(dirAt))
	putU64(sb[sbFragmentTable:], fragAt)
	putU64(sb[sbExportTable:], tableAbsent)
	head := sb[:]
	if opts != nil {
		var h [metadataHeaderSize]byte
		putU16(h[:], uint16(len(opts))|metadataUncompressed)
		head = append(append(head, h[:]...), opts...)
	}
	if _, err := w.out.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("squash: %w", err)
	}
	if _, err := w.out.Write(head); err != nil {
		return fmt.Errorf("squash: writing the superblock: %w", err)
	}
	if _, err := w.out.Seek(pos, io.SeekStart); err != nil {
		return fmt.Errorf("squash: %w", err)
	}
	return nil
}

func log2(n int) int {
	l := 0
	for n > 1 {
		n >>= 1
		l++
	}
	return l
}
