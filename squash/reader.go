package squash

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"math/bits"
	"path"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gonixiso/gonixiso/internal/parallel"
)

// Constants the reader needs besides those of format.go.
const (
	// TableAbsent is a Superblock table offset for a table the image does not have.
	TableAbsent = tableAbsent
	// NoXattr is an Entry's Xattr when the inode has no extended attributes.
	NoXattr = noXattr
	// BlockUncompressed is set in a block's size word (Entry.Blocks) when the block is stored
	// as it is; the rest of the word is its length on disk, and a word of 0 is a sparse block.
	BlockUncompressed = dataUncompressed

	// sModeType are the file type bits of a Unix mode, which mksquashfs stores in an inode's
	// mode beside the permissions.
	sModeType = 0o170000

	// maxSymlink is the longest symlink target the kernel reads (PAGE_SIZE on x86).
	maxSymlink = 4096
	// maxBlockLog is the block log of MaxBlockSize.
	maxBlockLog = 20

	// maxDepth bounds directory nesting: a path of PATH_MAX (4096) bytes has at most 2048
	// components.
	maxDepth = 2048
	// A lookup table (id, fragment, export) is entries of a fixed size in full metadata
	// blocks, then an index of the blocks' image offsets (u64 each).
	lookupIndexEntrySize = 8
	idEntrySize          = 4 // u32 uid or gid
	exportEntrySize      = 8 // u64 inode reference
)

// Superblock is an image's superblock, with its compressor options decoded.
type Superblock struct {
	Inodes       uint32
	ModTime      int64 // seconds since the epoch
	BlockSize    int
	BlockLog     uint16
	Fragments    uint32
	Compression  Algorithm // "gzip", "lzma", "lzo", "xz", "lz4" or "zstd"
	CompressorID uint16
	Flags        uint16 // Flag* bits
	IDs          uint16
	VersionMajor uint16
	VersionMinor uint16
	RootInode    uint64 // inode reference: metadata block << 16 | offset
	BytesUsed    int64
	// Table offsets from the image's start, TableAbsent for tables the image does not have.
	IDTable, XattrTable, InodeTable, DirectoryTable, FragmentTable, ExportTable uint64
	// Options are the compressor options, stored or default.
	Options CompressorOptions
}

// CompressorOptions are the compressor options an image stores after its superblock, or the
// defaults mksquashfs and the kernel assume when it stores none.
type CompressorOptions struct {
	Stored bool // the image stores options (FlagCompressorOptions)
	// Level is the compression level of zstd (default 15) and gzip (default 9).
	Level int
	// GzipWindow is gzip's window size in bits (default 15), GzipStrategies its strategy flags.
	GzipWindow     int
	GzipStrategies uint16
	// XZDictSize is xz's dictionary size (default: the block size); XZFilters lists the BCJ
	// filters the image was made with ("x86", "arm", ...), as the options name them.
	XZDictSize int
	XZFilters  []string
	// LZ4Version is lz4's format version (1, legacy); LZ4HC is set for high compression.
	LZ4Version uint32
	LZ4HC      bool
}

// Entry is an entry of an image: its Header, and where and how the image stores it.
type Entry struct {
	Header
	Inode uint32 // inode number, from 1
	Type  uint16 // inode type as stored: InodeDir to InodeExtSocket
	Ref   uint64 // inode reference: inode table offset of its metadata block << 16 | offset
	Nlink uint32
	Xattr uint32 // extended inodes: index of the extended attributes, or NoXattr

	// Regular files.
	StartBlock     uint64   // image offset of the first data block
	Blocks         []uint32 // size word of each data block (see BlockUncompressed)
	Fragment       uint32   // fragment block of the tail, or NoFragment
	FragmentOffset uint32   // offset of the tail in the fragment block
	Sparse         uint64   // extended file inodes: bytes of sparse blocks, as recorded

	// Directories.
	Children      int    // entries in the listing (set by Walk, Open and Lookup)
	Parent        uint32 // the parent's inode number
	ListingBlock  uint32 // directory table offset of the listing's first metadata block
	ListingOffset uint16 // offset of the listing in that block
	ListingSize   uint32 // the inode's file size: bytes of the listing + 3
	IndexCount    int    // extended directories: entries of the directory index

	index []dirIndex // the directory index, read for Check
}

// Extended reports whether the entry's inode has the extended form.
func (e *Entry) Extended() bool { return e.Type >= InodeExtDir }

// Reader reads a SquashFS 4.0 image, made by gonixiso's Writer, mksquashfs or any other tool:
// Walk lists its entries, Open and FS read them, Check holds the image to the kernel's rules.
//
// It reads untrusted bytes: every length and offset is bounded by the image before use, metadata
// is read only forward, allocations grow with what the image really holds (not with what a
// header claims), and a directory reached twice is an error, not a loop. An image the kernel
// would refuse but that is readable reads, as with unsquashfs; Check says what the kernel would
// refuse. Extended attributes are not read. A Reader is safe for concurrent use.
type Reader struct {
	ra   io.ReaderAt
	size int64 // bytes of the image, BytesUsed
	sb   Superblock
	dec  *decoder
	bs   int

	dataStart int64 // first byte after the superblock and compressor options
	dirEnd    int64 // end of the directory table: the start of the next table
	ids       []uint32
	fragIndex []uint64 // image offsets of the fragment table's metadata blocks

	meta     lru[int64, metaBlock]
	frags    lru[uint32, []byte]
	listings lru[uint64, *listing]
}

// metaBlock is a decoded metadata block and the offset of the block after it.
type metaBlock struct {
	data []byte
	next int64
}

// NewReader reads the superblock, compressor options, id table and fragment table index of
// the image of size bytes in ra, and checks them. Everything else is read when needed.
func NewReader(ra io.ReaderAt, size int64) (*Reader, error) {
	return newReader(ra, size, false)
}

func newReader(ra io.ReaderAt, size int64, xzPureGo bool) (*Reader, error) {
	if size < SuperblockSize {
		return nil, fmt.Errorf("squash: image of %d bytes is smaller than a superblock", size)
	}
	var b [SuperblockSize]byte
	if _, err := ra.ReadAt(b[:], 0); err != nil {
		return nil, fmt.Errorf("squash: reading the superblock: %w", err)
	}
	u16 := func(off int) uint16 { return binary.LittleEndian.Uint16(b[off:]) }
	u32 := func(off int) uint32 { return binary.LittleEndian.Uint32(b[off:]) }
	u64 := func(off int) uint64 { return binary.LittleEndian.Uint64(b[off:]) }
	if m := u32(sbMagic); m != Magic {
		return nil, fmt.Errorf("squash: not a SquashFS image (magic %#08x)", m)
	}
	sb := Superblock{
		Inodes: u32(sbInodeCount), ModTime: int64(u32(sbModTime)), BlockSize: int(u32(sbBlockSize)),
		BlockLog: u16(sbBlockLog), Fragments: u32(sbFragmentCount), CompressorID: u16(sbCompression),
		Flags: u16(sbFlags), IDs: u16(sbIDCount), VersionMajor: u16(sbVersionMajor),
		VersionMinor: u16(sbVersionMinor), RootInode: u64(sbRootInode), IDTable: u64(sbIDTable),
		XattrTable: u64(sbXattrTable), InodeTable: u64(sbInodeTable), DirectoryTable: u64(sbDirectoryTable),
		FragmentTable: u64(sbFragmentTable), ExportTable: u64(sbExportTable),
	}
	sb.Compression = algorithmName(sb.CompressorID)
	if sb.VersionMajor != VersionMajor || sb.VersionMinor != VersionMinor {
		return nil, fmt.Errorf("squash: SquashFS version %d.%d (want %d.%d)", sb.VersionMajor, sb.VersionMinor, VersionMajor, VersionMinor)
	}
	used := u64(sbBytesUsed)
	if used > uint64(size) || used < SuperblockSize {
		return nil, fmt.Errorf("squash: superblock says %d bytes used, image has %d (truncated?)", used, size)
	}
	sb.BytesUsed = int64(used)
	bs := sb.BlockSize
	if bs < MinBlockSize || bs > MaxBlockSize || bs&(bs-1) != 0 {
		return nil, fmt.Errorf("squash: block size %d: want a power of two from %d to %d", bs, MinBlockSize, MaxBlockSize)
	}
	if int(sb.BlockLog) != bits.TrailingZeros(uint(bs)) {
		return nil, fmt.Errorf("squash: block log %d does not match the block size %d", sb.BlockLog, bs)
	}
	if sb.RootInode&0xFFFF >= MetadataSize {
		return nil, fmt.Errorf("squash: root inode reference %#x: offset beyond a metadata block", sb.RootInode)
	}
	dec, err := newDecoder(sb.CompressorID, xzPureGo)
	if err != nil {
		return nil, err
	}
	r := &Reader{ra: ra, size: sb.BytesUsed, sb: sb, dec: dec, bs: bs, dataStart: SuperblockSize}
	r.meta.max = 64
	r.frags.max = max(4, 2*runtime.GOMAXPROCS(0))
	r.listings.max = 16

	if err := r.readOptions(); err != nil {
		return nil, err
	}
	if err := r.checkTables(); err != nil {
		return nil, err
	}
	if err := r.readIDs(); err != nil {
		return nil, fmt.Errorf("squash: %w", err)
	}
	if err := r.readFragmentIndex(); err != nil {
		return nil, fmt.Errorf("squash: %w", err)
	}
	return r, nil
}

// Superblock returns the image's superblock.
func (r *Reader) Superblock() Superblock {
	sb := r.sb
	sb.Options.XZFilters = slices.Clone(sb.Options.XZFilters)
	return sb
}

// readOptions decodes the compressor options, or fills in the defaults.
func (r *Reader) readOptions() error {
	o := &r.sb.Options
	switch r.sb.CompressorID {
	case CompressionZstd:
		o.Level = 15
	case CompressionGzip:
		o.Level, o.GzipWindow = 9, 15
	case CompressionXZ:
		o.XZDictSize = r.bs
	}
	if r.sb.Flags&FlagCompressorOptions == 0 {
		return nil
	}
	o.Stored = true
	mb, err := r.metaBlockAt(SuperblockSize, SuperblockSize, r.size)
	if err != nil {
		return fmt.Errorf("squash: compressor options: %w", err)
	}
	r.dataStart = mb.next
	b := mb.data
	want := map[uint16]int{CompressionGzip: gzipOptSize, CompressionXZ: xzOptSize, CompressionLZ4: lz4OptSize, CompressionZstd: zstdOptSize}[r.sb.CompressorID]
	if len(b) != want {
		return fmt.Errorf("squash: %s compressor options of %d bytes, want %d", r.sb.Compression, len(b), want)
	}
	le := binary.LittleEndian
	switch r.sb.CompressorID {
	case CompressionZstd:
		o.Level = int(le.Uint32(b[zstdOptLevel:]))
	case CompressionGzip:
		o.Level = int(le.Uint32(b[gzipOptLevel:]))
		o.GzipWindow = int(le.Uint16(b[gzipOptWindowSize:]))
		o.GzipStrategies = le.Uint16(b[gzipOptStrategies:])
	case CompressionXZ:
		d := le.Uint32(b[xzOptDictSize:])
		if d > math.MaxInt32 {
			return fmt.Errorf("squash: xz dictionary size %d out of range", d)
		}
		o.XZDictSize = int(d)
		flags := le.Uint32(b[xzOptFilters:])
		for _, f := range bcjFilters {
			if flags&f.flag != 0 {
				o.XZFilters = append(o.XZFilters, f.name)
				flags &^= f.flag
			}
		}
		if flags != 0 {
			return fmt.Errorf("squash: unknown xz filter flags %#x", flags)
		}
	case CompressionLZ4:
		o.LZ4Version = le.Uint32(b[lz4OptVersion:])
		o.LZ4HC = le.Uint32(b[lz4OptFlags:])&lz4FlagHC != 0
	}
	return nil
}

// checkTables checks that the tables lie in the image, in the order the kernel requires, and
// finds where the directory table ends.
func (r *Reader) checkTables() error {
	sb := &r.sb
	end := uint64(r.size)
	for _, t := range []struct {
		name string
		at   uint64
		must bool
	}{
		{"inode", sb.InodeTable, true}, {"directory", sb.DirectoryTable, true}, {"id", sb.IDTable, true},
		{"fragment", sb.FragmentTable, sb.Fragments > 0}, {"export", sb.ExportTable, false}, {"xattr", sb.XattrTable, false},
	} {
		if t.at == tableAbsent && !t.must {
			continue
		}
		if t.at < uint64(r.dataStart) || t.at >= end {
			return fmt.Errorf("squash: %s table at %d outside the image's %d..%d", t.name, t.at, r.dataStart, end)
		}
	}
	if sb.InodeTable >= sb.DirectoryTable {
		return fmt.Errorf("squash: inode table at %d not before the directory table at %d", sb.InodeTable, sb.DirectoryTable)
	}
	// The directory table ends where the first later table starts: the first metadata block of
	// a lookup table, read from its index, or the index itself.
	r.dirEnd = int64(end)
	for _, t := range []uint64{sb.IDTable, sb.FragmentTable, sb.ExportTable, sb.XattrTable} {
		if t == tableAbsent || t <= sb.DirectoryTable {
			continue
		}
		r.dirEnd = min(r.dirEnd, int64(t))
		if t+lookupIndexEntrySize <= end {
			var first [lookupIndexEntrySize]byte
			if _, err := r.ra.ReadAt(first[:], int64(t)); err != nil {
				return fmt.Errorf("squash: reading a table index: %w", err)
			}
			if f := binary.LittleEndian.Uint64(first[:]); f > sb.DirectoryTable && f < uint64(r.dirEnd) {
				r.dirEnd = int64(f)
			}
		}
	}
	if int64(sb.DirectoryTable) >= r.dirEnd {
		return fmt.Errorf("squash: directory table at %d overlaps the next table at %d", sb.DirectoryTable, r.dirEnd)
	}
	return nil
}

// lookupIndex reads the index of a lookup table of count entries of entrySize bytes at at:
// the image offsets of its metadata blocks.
func (r *Reader) lookupIndex(name string, at uint64, count, entrySize int64) ([]uint64, error) {
	blocks := (count*entrySize + MetadataSize - 1) / MetadataSize
	if blocks*lookupIndexEntrySize > r.size-int64(at) {
		return nil, fmt.Errorf("%s table index of %d blocks does not fit the image", name, blocks)
	}
	b := make([]byte, blocks*lookupIndexEntrySize)
	if _, err := r.ra.ReadAt(b, int64(at)); err != nil {
		return nil, fmt.Errorf("reading the %s table index: %w", name, err)
	}
	idx := make([]uint64, blocks)
	for i := range idx {
		idx[i] = binary.LittleEndian.Uint64(b[i*lookupIndexEntrySize:])
		if idx[i] < uint64(r.dataStart) || idx[i] >= at {
			return nil, fmt.Errorf("%s table block %d at %d outside %d..%d", name, i, idx[i], r.dataStart, at)
		}
	}
	return idx, nil
}

// lookupBlock reads metadata block i of a lookup table and checks its length: full, but for
// the last, which holds the rest of the entries.
func (r *Reader) lookupBlock(name string, idx []uint64, i int, at uint64, count, entrySize int64) ([]byte, error) {
	mb, err := r.metaBlockAt(int64(idx[i]), int64(idx[i]), int64(at))
	if err != nil {
		return nil, fmt.Errorf("%s table block %d: %w", name, i, err)
	}
	want := int64(MetadataSize)
	if i == len(idx)-1 {
		want = count*entrySize - int64(i)*MetadataSize
	}
	if int64(len(mb.data)) != want {
		return nil, fmt.Errorf("%s table block %d holds %d bytes, want %d", name, i, len(mb.data), want)
	}
	return mb.data, nil
}

func (r *Reader) readIDs() error {
	n := int64(r.sb.IDs)
	idx, err := r.lookupIndex("id", r.sb.IDTable, n, idEntrySize)
	if err != nil {
		return err
	}
	r.ids = make([]uint32, 0, n)
	for i := range idx {
		b, err := r.lookupBlock("id", idx, i, r.sb.IDTable, n, idEntrySize)
		if err != nil {
			return err
		}
		for p := 0; p < len(b); p += idEntrySize {
			r.ids = append(r.ids, binary.LittleEndian.Uint32(b[p:]))
		}
	}
	return nil
}

func (r *Reader) readFragmentIndex() error {
	if r.sb.Fragments == 0 {
		return nil
	}
	idx, err := r.lookupIndex("fragment", r.sb.FragmentTable, int64(r.sb.Fragments), fragmentEntrySize)
	if err != nil {
		return err
	}
	r.fragIndex = idx
	return nil
}

// fragmentEntry returns where fragment block i lies and its size word.
func (r *Reader) fragmentEntry(i uint32) (start int64, size uint32, err error) {
	if i >= r.sb.Fragments {
		return 0, 0, fmt.Errorf("fragment %d out of the image's %d", i, r.sb.Fragments)
	}
	const perBlock = MetadataSize / fragmentEntrySize
	b, err := r.lookupBlock("fragment", r.fragIndex, int(i/perBlock), r.sb.FragmentTable, int64(r.sb.Fragments), fragmentEntrySize)
	if err != nil {
		return 0, 0, err
	}
	e := b[(i%perBlock)*fragmentEntrySize:]
	s := binary.LittleEndian.Uint64(e[fragStart:])
	size = binary.LittleEndian.Uint32(e[fragSize:])
	if err := r.checkDataBlock(s, size); err != nil {
		return 0, 0, fmt.Errorf("fragment %d: %w", i, err)
	}
	return int64(s), size, nil
}

// checkDataBlock checks that a data or fragment block of size word size at start lies in the
// data area and is not longer than a block.
func (r *Reader) checkDataBlock(start uint64, size uint32) error {
	n := uint64(size &^ dataUncompressed)
	if size&^(dataUncompressed|(dataUncompressed-1)) != 0 || n > uint64(r.bs) {
		return fmt.Errorf("block size word %#x: longer than a block", size)
	}
	if n == 0 {
		return fmt.Errorf("block of 0 bytes at %d", start)
	}
	if start < uint64(r.dataStart) || start+n > r.sb.InodeTable {
		return fmt.Errorf("block at %d of %d bytes outside the data area %d..%d", start, n, r.dataStart, r.sb.InodeTable)
	}
	return nil
}

// metaBlockAt reads and decodes the metadata block at pos, which must lie within lo..hi.
func (r *Reader) metaBlockAt(pos, lo, hi int64) (metaBlock, error) {
	if pos < lo || pos+metadataHeaderSize > hi {
		return metaBlock{}, fmt.Errorf("metadata block at %d outside its table %d..%d", pos, lo, hi)
	}
	mb, err := r.meta.get(pos, func() (metaBlock, error) { return r.readMetaBlock(pos) })
	if err != nil {
		return metaBlock{}, err
	}
	if mb.next > hi {
		return metaBlock{}, fmt.Errorf("metadata block at %d ends beyond its table %d..%d", pos, lo, hi)
	}
	return mb, nil
}

// readMetaBlock reads and decodes the metadata block at pos.
func (r *Reader) readMetaBlock(pos int64) (metaBlock, error) {
	var h [metadataHeaderSize]byte
	if _, err := r.ra.ReadAt(h[:], pos); err != nil {
		return metaBlock{}, fmt.Errorf("metadata block at %d: %w", pos, err)
	}
	word := binary.LittleEndian.Uint16(h[:])
	n := int64(word &^ metadataUncompressed)
	start := pos + metadataHeaderSize
	if n == 0 || n > MetadataSize || start+n > r.size {
		return metaBlock{}, fmt.Errorf("metadata block at %d: length %d out of bounds", pos, n)
	}
	raw := make([]byte, n)
	if _, err := r.ra.ReadAt(raw, start); err != nil {
		return metaBlock{}, fmt.Errorf("metadata block at %d: %w", pos, err)
	}
	if word&metadataUncompressed != 0 {
		return metaBlock{data: raw, next: start + n}, nil
	}
	out := make([]byte, MetadataSize)
	k, err := r.dec.decode(out, raw)
	if err != nil {
		return metaBlock{}, fmt.Errorf("metadata block at %d: %w", pos, err)
	}
	if k == 0 {
		return metaBlock{}, fmt.Errorf("metadata block at %d decodes to nothing", pos)
	}
	return metaBlock{data: out[:k:k], next: start + n}, nil
}

// metaReader reads a stream of metadata blocks of one table, from a position in it.
type metaReader struct {
	r      *Reader
	lo, hi int64 // the table
	block  int64 // image offset of the current block
	off    int   // in its decoded bytes
	cur    *metaBlock
}

func (r *Reader) newMetaReader(lo, hi int64, block uint64, off int) (*metaReader, error) {
	if block > uint64(hi-lo) {
		return nil, fmt.Errorf("metadata reference %d beyond its table", block)
	}
	return &metaReader{r: r, lo: lo, hi: hi, block: lo + int64(block), off: off}, nil
}

// pos returns the position of the next byte: the table offset of its block, and the offset in
// that block.
func (m *metaReader) pos() (uint64, int) { return uint64(m.block - m.lo), m.off }

func (m *metaReader) read(p []byte) error {
	for len(p) > 0 {
		if m.cur == nil {
			mb, err := m.r.metaBlockAt(m.block, m.lo, m.hi)
			if err != nil {
				return err
			}
			m.cur = &mb
		}
		if m.off >= len(m.cur.data) {
			return fmt.Errorf("offset %d beyond the %d bytes of the metadata block at %d", m.off, len(m.cur.data), m.block)
		}
		k := copy(p, m.cur.data[m.off:])
		p = p[k:]
		m.off += k
		if m.off == len(m.cur.data) {
			m.block, m.off, m.cur = m.cur.next, 0, nil
		}
	}
	return nil
}

// readN reads n bytes, in steps, so that a length read from the image allocates only as much as
// the table really holds.
func (m *metaReader) readN(n uint64) ([]byte, error) {
	var b []byte
	for n > 0 {
		k := min(n, MetadataSize)
		l := len(b)
		b = append(b, make([]byte, k)...)
		if err := m.read(b[l:]); err != nil {
			return nil, err
		}
		n -= k
	}
	return b, nil
}

// inodeReader returns a reader of the inode table at an inode reference.
func (r *Reader) inodeReader(ref uint64) (*metaReader, error) {
	off := int(ref & 0xFFFF)
	if off >= MetadataSize {
		return nil, fmt.Errorf("inode reference %#x: offset beyond a metadata block", ref)
	}
	return r.newMetaReader(int64(r.sb.InodeTable), int64(r.sb.DirectoryTable), ref>>16, off)
}

// inode reads the inode at ref for the entry name.
func (r *Reader) inode(ref uint64, name string) (*Entry, error) {
	e, err := r.readInode(ref, name)
	if err != nil {
		return nil, fmt.Errorf("squash: %s: inode %#x: %w", name, ref, err)
	}
	return e, nil
}

func (r *Reader) readInode(ref uint64, name string) (*Entry, error) {
	m, err := r.inodeReader(ref)
	if err != nil {
		return nil, err
	}
	le := binary.LittleEndian
	var h [inodeHeader + extFileSize]byte // room for the largest fixed part
	if err := m.read(h[:inodeHeader]); err != nil {
		return nil, err
	}
	e := &Entry{Ref: ref, Type: le.Uint16(h[inoType:]), Inode: le.Uint32(h[inoNumber:]), Xattr: noXattr, Fragment: noFragment}
	e.Name = name
	e.ModTime = int64(le.Uint32(h[inoModTime:]))
	uidIdx, gidIdx := le.Uint16(h[inoUID:]), le.Uint16(h[inoGID:])
	if int(uidIdx) >= len(r.ids) || int(gidIdx) >= len(r.ids) {
		return nil, fmt.Errorf("owner index %d or %d beyond the %d ids", uidIdx, gidIdx, len(r.ids))
	}
	e.UID, e.GID = r.ids[uidIdx], r.ids[gidIdx]
	mode := le.Uint16(h[inoMode:])
	e.Mode = fs.FileMode(mode & 0o777)
	if mode&0o4000 != 0 {
		e.Mode |= fs.ModeSetuid
	}
	if mode&0o2000 != 0 {
		e.Mode |= fs.ModeSetgid
	}
	if mode&0o1000 != 0 {
		e.Mode |= fs.ModeSticky
	}
	var fixed int
	if int(e.Type) < len(inodeFixedSize) {
		fixed = inodeFixedSize[e.Type]
	}
	if fixed == 0 {
		return nil, fmt.Errorf("unknown inode type %d", e.Type)
	}
	b := h[:fixed]
	if err := m.read(b[inodeHeader:]); err != nil {
		return nil, err
	}
	switch e.Type {
	case InodeDir, InodeExtDir:
		e.Mode |= fs.ModeDir
		if e.Type == InodeDir {
			e.ListingBlock = le.Uint32(b[dirStartBlock:])
			e.Nlink = le.Uint32(b[dirLinkCount:])
			e.ListingSize = uint32(le.Uint16(b[dirFileSize:]))
			e.ListingOffset = le.Uint16(b[dirOffset:])
			e.Parent = le.Uint32(b[dirParentInode:])
		} else {
			e.Nlink = le.Uint32(b[xdirLinkCount:])
			e.ListingSize = le.Uint32(b[xdirFileSize:])
			e.ListingBlock = le.Uint32(b[xdirStartBlock:])
			e.Parent = le.Uint32(b[xdirParentInode:])
			e.IndexCount = int(le.Uint16(b[xdirIndexCount:]))
			e.ListingOffset = le.Uint16(b[xdirOffset:])
			e.Xattr = le.Uint32(b[xdirXattr:])
			for i := 0; i < e.IndexCount; i++ {
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
				e.index = append(e.index, dirIndex{index: le.Uint32(ih[dindexIndex:]), start: le.Uint32(ih[dindexStart:]), name: string(nb)})
			}
		}
		if e.ListingOffset >= MetadataSize {
			return nil, fmt.Errorf("directory listing offset %d beyond a metadata block", e.ListingOffset)
		}
		if e.ListingSize < 3 {
			return nil, fmt.Errorf("directory size %d, less than 3", e.ListingSize)
		}
	case InodeFile, InodeExtFile:
		var size uint64
		if e.Type == InodeFile {
			e.StartBlock = uint64(le.Uint32(b[fileStartBlock:]))
			e.Fragment = le.Uint32(b[fileFragment:])
			e.FragmentOffset = le.Uint32(b[fileOffset:])
			size = uint64(le.Uint32(b[fileSize:]))
			e.Nlink = 1
		} else {
			e.StartBlock = le.Uint64(b[xfileStartBlock:])
			size = le.Uint64(b[xfileSize:])
			e.Sparse = le.Uint64(b[xfileSparse:])
			e.Nlink = le.Uint32(b[xfileLinkCount:])
			e.Fragment = le.Uint32(b[xfileFragment:])
			e.FragmentOffset = le.Uint32(b[xfileOffset:])
			e.Xattr = le.Uint32(b[xfileXattr:])
		}
		if size > math.MaxInt64 {
			return nil, fmt.Errorf("file size %d out of range", size)
		}
		e.Size = int64(size)
		bs := uint64(r.bs)
		n := size / bs
		if size%bs != 0 {
			if e.Fragment == noFragment {
				n++
			} else if e.FragmentOffset >= uint32(r.bs) || uint64(e.FragmentOffset)+size%bs > bs {
				return nil, fmt.Errorf("tail at %d of a fragment block, %d bytes: beyond the block", e.FragmentOffset, size%bs)
			}
		} else if e.Fragment != noFragment {
			return nil, fmt.Errorf("fragment %d for a file of whole blocks", e.Fragment)
		}
		if e.Fragment != noFragment && e.Fragment >= r.sb.Fragments {
			return nil, fmt.Errorf("fragment %d beyond the image's %d", e.Fragment, r.sb.Fragments)
		}
		words, err := m.readN(n * 4)
		if err != nil {
			return nil, fmt.Errorf("block list: %w", err)
		}
		e.Blocks = make([]uint32, n)
		end := e.StartBlock
		for i := range e.Blocks {
			w := le.Uint32(words[4*i:])
			e.Blocks[i] = w
			if w == 0 {
				continue
			}
			if err := r.checkDataBlock(end, w); err != nil {
				return nil, fmt.Errorf("data block %d: %w", i, err)
			}
			end += uint64(w &^ dataUncompressed)
		}
	case InodeSymlink, InodeExtSymlink:
		e.Mode |= fs.ModeSymlink
		e.Nlink = le.Uint32(b[symLinkCount:])
		n := le.Uint32(b[symTargetSize:])
		if n == 0 || n > maxSymlink {
			return nil, fmt.Errorf("symlink target of %d bytes", n)
		}
		t, err := m.readN(uint64(n))
		if err != nil {
			return nil, fmt.Errorf("symlink target: %w", err)
		}
		e.Linkname = string(t)
		if e.Type == InodeExtSymlink {
			var x [4]byte
			if err := m.read(x[:]); err != nil {
				return nil, err
			}
			e.Xattr = le.Uint32(x[:])
		}
	case InodeBlockDev, InodeExtBlockDev, InodeCharDev, InodeExtCharDev:
		e.Mode |= fs.ModeDevice
		if e.Type == InodeCharDev || e.Type == InodeExtCharDev {
			e.Mode |= fs.ModeCharDevice
		}
		e.Nlink = le.Uint32(b[devLinkCount:])
		e.Devmajor, e.Devminor = decodeDev(le.Uint32(b[devRdev:]))
		if e.Type >= InodeExtDir {
			e.Xattr = le.Uint32(b[deviceSize:])
		}
	case InodeFifo, InodeExtFifo, InodeSocket, InodeExtSocket:
		if e.Type == InodeFifo || e.Type == InodeExtFifo {
			e.Mode |= fs.ModeNamedPipe
		} else {
			e.Mode |= fs.ModeSocket
		}
		e.Nlink = le.Uint32(b[ipcLinkCount:])
		if e.Type >= InodeExtDir {
			e.Xattr = le.Uint32(b[ipcSize:])
		}
	}
	return e, nil
}

// inodeFixedSize is the size of each inode type's fixed part, by type.
var inodeFixedSize = [...]int{
	InodeDir: basicDirSize, InodeExtDir: extDirSize, InodeFile: basicFileSize, InodeExtFile: extFileSize,
	InodeSymlink: symlinkSize, InodeExtSymlink: symlinkSize, InodeBlockDev: deviceSize, InodeExtBlockDev: deviceSize + 4,
	InodeCharDev: deviceSize, InodeExtCharDev: deviceSize + 4, InodeFifo: ipcSize, InodeExtFifo: ipcSize + 4,
	InodeSocket: ipcSize, InodeExtSocket: ipcSize + 4,
}

// basicInodeType is the type a directory entry records for an inode type.
func basicInodeType(t uint16) uint16 {
	if t >= InodeExtDir {
		return t - extendedTypeDelta
	}
	return t
}

// Directories.

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
	l, err := r.listings.get(e.Ref, func() (*listing, error) { return r.readListing(e) })
	if err != nil {
		return nil, fmt.Errorf("squash: %s: directory listing: %w", e.Name, err)
	}
	e.Children = len(l.ents)
	return l, nil
}

func (r *Reader) readListing(e *Entry) (*listing, error) {
	m, err := r.newMetaReader(int64(r.sb.DirectoryTable), r.dirEnd, uint64(e.ListingBlock), int(e.ListingOffset))
	if err != nil {
		return nil, err
	}
	le := binary.LittleEndian
	size := uint64(e.ListingSize) - 3
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
			if typ < InodeDir || typ > InodeSocket {
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
	if basicInodeType(e.Type) != c.typ {
		return nil, fmt.Errorf("squash: %s: directory entry says type %d, inode is type %d", name, c.typ, e.Type)
	}
	if e.Inode != c.ino {
		return nil, fmt.Errorf("squash: %s: directory entry says inode %d, inode is %d", name, c.ino, e.Inode)
	}
	return e, nil
}

// root reads the root directory's inode.
func (r *Reader) root() (*Entry, error) {
	e, err := r.inode(r.sb.RootInode, ".")
	if err != nil {
		return nil, err
	}
	if !e.Mode.IsDir() {
		return nil, fmt.Errorf("squash: the root inode is not a directory (type %d)", e.Type)
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
	if first, ok := w.seen[d.Ref]; ok {
		return fmt.Errorf("squash: %s: directory inode %#x already walked as %s", d.Name, d.Ref, first)
	}
	w.seen[d.Ref] = d.Name
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

// Open opens the entry name for reading, without following symlinks: a regular file reads its
// contents, a symlink its target (as archive/zip's fs.FS does) and a directory its entries
// with ReadDir.
func (r *Reader) Open(name string) (*File, error) {
	e, err := r.Lookup(name)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			pe.Op = "open"
			return nil, pe
		}
		return nil, err
	}
	return r.open(e)
}

func (r *Reader) open(e *Entry) (*File, error) {
	f := &File{r: r, e: e, bufIdx: -1}
	if e.Mode.IsRegular() {
		f.offs = make([]int64, len(e.Blocks))
		off := int64(e.StartBlock)
		for i, w := range e.Blocks {
			f.offs[i] = off
			off += int64(w &^ dataUncompressed)
		}
	}
	return f, nil
}

// File is an open entry of an image. Its ReadAt is safe for concurrent use; its other methods
// are not.
type File struct {
	r      *Reader
	e      *Entry
	offs   []int64 // image offset of each data block
	pos    int64
	buf    []byte // a block's room, for Read
	cur    []byte // the block Read decoded last: in buf, or a fragment block's
	bufIdx int
	dir    []dirent // directories: entries not yet read by ReadDir
	dirRd  bool
	closed bool
}

var (
	_ fs.ReadDirFile = (*File)(nil)
	_ io.ReaderAt    = (*File)(nil)
	_ io.WriterTo    = (*File)(nil)
	_ io.Seeker      = (*File)(nil)
)

// Entry returns the file's entry.
func (f *File) Entry() *Entry { return f.e }

// Stat returns the file's FileInfo; its Sys is the *Entry.
func (f *File) Stat() (fs.FileInfo, error) { return fileInfo{f.e}, nil }

// Close closes the file.
func (f *File) Close() error {
	if f.closed {
		return fs.ErrClosed
	}
	f.closed = true
	f.buf, f.cur = nil, nil
	return nil
}

// size is the length of what Read reads: a symlink reads its target.
func (f *File) size() int64 { return fileInfo{f.e}.Size() }

func (f *File) readable() error {
	if f.closed {
		return &fs.PathError{Op: "read", Path: f.e.Name, Err: fs.ErrClosed}
	}
	if f.e.Mode.IsDir() {
		return &fs.PathError{Op: "read", Path: f.e.Name, Err: errors.New("is a directory")}
	}
	return nil
}

// Read reads the file's contents (a symlink's target) from its offset.
func (f *File) Read(p []byte) (int, error) {
	if err := f.readable(); err != nil {
		return 0, err
	}
	if f.pos >= f.size() {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	if f.e.Mode&fs.ModeSymlink != 0 {
		n := copy(p, f.e.Linkname[f.pos:])
		f.pos += int64(n)
		return n, nil
	}
	if !f.e.Mode.IsRegular() {
		return 0, io.EOF
	}
	bs := int64(f.r.bs)
	i := int(f.pos / bs)
	if f.bufIdx != i {
		if f.buf == nil {
			f.buf = make([]byte, min(bs, f.size())) // room for any block of the file
		}
		b, err := f.block(i, f.buf)
		if err != nil {
			f.bufIdx = -1
			return 0, err
		}
		f.cur, f.bufIdx = b, i
	}
	n := copy(p, f.cur[f.pos-int64(i)*bs:])
	f.pos += int64(n)
	return n, nil
}

// ReadAt reads len(p) bytes of the contents from off.
func (f *File) ReadAt(p []byte, off int64) (int, error) {
	if err := f.readable(); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, &fs.PathError{Op: "read", Path: f.e.Name, Err: errors.New("negative offset")}
	}
	if f.e.Mode&fs.ModeSymlink != 0 {
		if off >= f.size() {
			return 0, io.EOF
		}
		n := copy(p, f.e.Linkname[off:])
		if n < len(p) {
			return n, io.EOF
		}
		return n, nil
	}
	if !f.e.Mode.IsRegular() {
		return 0, io.EOF
	}
	bs := int64(f.r.bs)
	scratch := f.r.getBuf()
	defer f.r.putBuf(scratch)
	n := 0
	for n < len(p) && off < f.size() {
		i := int(off / bs)
		b, err := f.block(i, *scratch)
		if err != nil {
			return n, err
		}
		k := copy(p[n:], b[off-int64(i)*bs:])
		n += k
		off += int64(k)
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Seek sets the offset of the next Read.
func (f *File) Seek(offset int64, whence int) (int64, error) {
	if f.closed {
		return 0, &fs.PathError{Op: "seek", Path: f.e.Name, Err: fs.ErrClosed}
	}
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += f.pos
	case io.SeekEnd:
		offset += f.size()
	default:
		return 0, &fs.PathError{Op: "seek", Path: f.e.Name, Err: fs.ErrInvalid}
	}
	if offset < 0 {
		return 0, &fs.PathError{Op: "seek", Path: f.e.Name, Err: errors.New("negative offset")}
	}
	f.pos = offset
	return offset, nil
}

// WriteTo writes the rest of the contents to w. Data blocks are decoded on every core, and
// written in order.
func (f *File) WriteTo(w io.Writer) (int64, error) {
	if err := f.readable(); err != nil {
		return 0, err
	}
	if !f.e.Mode.IsRegular() || f.pos >= f.size() {
		n, err := io.Copy(w, struct{ io.Reader }{f})
		return n, err
	}
	bs := int64(f.r.bs)
	first := int(f.pos / bs)
	last := int((f.size() - 1) / bs)
	var written int64
	emitBlock := func(i int, b []byte) error {
		lo := int64(0)
		if i == first {
			lo = f.pos - int64(i)*bs
		}
		k, err := w.Write(b[lo:])
		written += int64(k)
		f.pos += int64(k)
		if err == nil && k < len(b[lo:]) {
			err = io.ErrShortWrite
		}
		return err
	}
	if last-first < 2 {
		buf := f.r.getBuf()
		defer f.r.putBuf(buf)
		for i := first; i <= last; i++ {
			b, err := f.block(i, *buf)
			if err != nil {
				return written, err
			}
			if err := emitBlock(i, b); err != nil {
				return written, err
			}
		}
		return written, nil
	}
	type job struct {
		i   int
		buf *[]byte
		out []byte
	}
	err := parallel.Ordered(context.Background(), parallel.Options{},
		func(emit func(*job) error) error {
			for i := first; i <= last; i++ {
				if err := emit(&job{i: i}); err != nil {
					return err
				}
			}
			return nil
		},
		func(j *job) (*job, error) {
			j.buf = f.r.getBuf()
			b, err := f.block(j.i, *j.buf)
			if err != nil {
				f.r.putBuf(j.buf)
				return nil, err
			}
			j.out = b
			return j, nil
		},
		func(j *job) error {
			defer f.r.putBuf(j.buf)
			return emitBlock(j.i, j.out)
		})
	return written, err
}

// block returns the contents of block i of the file: decoded into buf (of a block's length), or
// a slice of a cached fragment block, which the caller must not change.
func (f *File) block(i int, buf []byte) ([]byte, error) {
	bs := int64(f.r.bs)
	want := min(bs, f.size()-int64(i)*bs)
	if i >= len(f.e.Blocks) {
		frag, err := f.r.fragment(f.e.Fragment)
		if err != nil {
			return nil, fmt.Errorf("squash: %s: %w", f.e.Name, err)
		}
		off := int64(f.e.FragmentOffset)
		if off+want > int64(len(frag)) {
			return nil, fmt.Errorf("squash: %s: tail of %d bytes at %d beyond the %d bytes of fragment block %d", f.e.Name, want, off, len(frag), f.e.Fragment)
		}
		return frag[off : off+want], nil
	}
	w := f.e.Blocks[i]
	out := buf[:want]
	if w == 0 {
		clear(out)
		return out, nil
	}
	// The block decodes into the room its bytes of the file take, not a whole block's: a file
	// shorter than a block needs no more.
	n, err := f.r.readBlock(f.offs[i], w, out)
	if errors.Is(err, errTooLarge) {
		return nil, fmt.Errorf("squash: %s: data block %d holds more than the %d bytes of the file it should", f.e.Name, i, want)
	}
	if err != nil {
		return nil, fmt.Errorf("squash: %s: data block %d: %w", f.e.Name, i, err)
	}
	if int64(n) != want {
		return nil, fmt.Errorf("squash: %s: data block %d holds %d bytes, want %d", f.e.Name, i, n, want)
	}
	return out, nil
}

// readBlock reads the data block of size word w at off and decodes it into buf.
func (r *Reader) readBlock(off int64, w uint32, buf []byte) (int, error) {
	return r.readBlockWith(off, w, buf, r.dec.decode)
}

// readBlockWith reads the data block of size word w at off and decodes it into buf with decode
// (the reader's decoder, or Check's, which also holds the block to the kernel's rules). The
// block may hold at most len(buf) bytes: more is an error wrapping errTooLarge.
func (r *Reader) readBlockWith(off int64, w uint32, buf []byte, decode func(dst, src []byte) (int, error)) (int, error) {
	n := int(w &^ dataUncompressed)
	if n > r.bs {
		return 0, fmt.Errorf("block of %d bytes, more than a block", n)
	}
	if w&dataUncompressed != 0 {
		if n > len(buf) {
			return 0, fmt.Errorf("stored block of %d bytes: %w", n, errTooLarge)
		}
		if _, err := r.ra.ReadAt(buf[:n], off); err != nil {
			return 0, err
		}
		return n, nil
	}
	raw := r.getBuf()
	defer r.putBuf(raw)
	if _, err := r.ra.ReadAt((*raw)[:n], off); err != nil {
		return 0, err
	}
	return decode(buf, (*raw)[:n])
}

// fragment returns fragment block i, decoded, from the cache.
func (r *Reader) fragment(i uint32) ([]byte, error) {
	return r.frags.get(i, func() ([]byte, error) {
		start, w, err := r.fragmentEntry(i)
		if err != nil {
			return nil, err
		}
		// Decode into a block's room, and keep only what the block holds: a fragment block
		// of a small image holds a few tails.
		buf := r.getBuf()
		defer r.putBuf(buf)
		n, err := r.readBlock(start, w, *buf)
		if err != nil {
			return nil, fmt.Errorf("fragment block %d: %w", i, err)
		}
		return bytes.Clone((*buf)[:n]), nil
	})
}

// blockBufs pools the buffers of a block's length, by block size (the index is the block
// log), for every Reader: a Reader decodes each block into room for a whole block, and an image
// opened for a moment (inspect, diff) need not allocate its own.
var blockBufs [maxBlockLog + 1]sync.Pool

// getBuf returns a buffer of a block's length.
func (r *Reader) getBuf() *[]byte {
	if b, ok := blockBufs[r.sb.BlockLog].Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, r.bs)
	return &b
}

func (r *Reader) putBuf(b *[]byte) {
	if b != nil && len(*b) == r.bs {
		blockBufs[r.sb.BlockLog].Put(b)
	}
}

// ReadDir reads a directory's entries, in name order, as fs.ReadDirFile does.
func (f *File) ReadDir(n int) ([]fs.DirEntry, error) {
	if f.closed {
		return nil, &fs.PathError{Op: "readdir", Path: f.e.Name, Err: fs.ErrClosed}
	}
	if !f.e.Mode.IsDir() {
		return nil, &fs.PathError{Op: "readdir", Path: f.e.Name, Err: errors.New("not a directory")}
	}
	if !f.dirRd {
		l, err := f.r.listing(f.e)
		if err != nil {
			return nil, err
		}
		f.dir, f.dirRd = l.ents, true
	}
	k := len(f.dir)
	if n > 0 {
		if k == 0 {
			return nil, io.EOF
		}
		k = min(k, n)
	}
	out := make([]fs.DirEntry, 0, k)
	for _, c := range f.dir[:k] {
		e, err := f.r.child(f.e, c)
		if err != nil {
			return out, err
		}
		out = append(out, fs.FileInfoToDirEntry(fileInfo{e}))
		f.dir = f.dir[1:]
	}
	return out, nil
}

// fileInfo is an Entry as an fs.FileInfo.
type fileInfo struct{ e *Entry }

func (fi fileInfo) Name() string { return path.Base(fi.e.Name) }
func (fi fileInfo) Size() int64 {
	if fi.e.Mode&fs.ModeSymlink != 0 {
		return int64(len(fi.e.Linkname)) // as lstat(2) says
	}
	return fi.e.Size
}
func (fi fileInfo) Mode() fs.FileMode  { return fi.e.Mode }
func (fi fileInfo) ModTime() time.Time { return time.Unix(fi.e.ModTime, 0).UTC() }
func (fi fileInfo) IsDir() bool        { return fi.e.Mode.IsDir() }
func (fi fileInfo) Sys() any           { return fi.e }

// FS returns the image as an fs.FS, which also implements fs.StatFS, fs.ReadDirFS,
// fs.ReadFileFS and fs.ReadLinkFS. Open does not follow symlinks (see Reader.Open), so Stat
// and Lstat agree.
func (r *Reader) FS() fs.FS { return fsys{r} }

type fsys struct{ r *Reader }

var (
	_ fs.StatFS     = fsys{}
	_ fs.ReadDirFS  = fsys{}
	_ fs.ReadFileFS = fsys{}
	_ fs.ReadLinkFS = fsys{}
)

func (s fsys) Open(name string) (fs.File, error) {
	f, err := s.r.Open(name)
	if err != nil {
		return nil, err
	}
	return f, nil
}

func (s fsys) Stat(name string) (fs.FileInfo, error) {
	e, err := s.r.Lookup(name)
	if err != nil {
		return nil, relabel(err, "stat")
	}
	return fileInfo{e}, nil
}

func (s fsys) Lstat(name string) (fs.FileInfo, error) {
	e, err := s.r.Lookup(name)
	if err != nil {
		return nil, relabel(err, "lstat")
	}
	return fileInfo{e}, nil
}

func (s fsys) ReadLink(name string) (string, error) {
	e, err := s.r.Lookup(name)
	if err != nil {
		return "", relabel(err, "readlink")
	}
	if e.Mode&fs.ModeSymlink == 0 {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: fs.ErrInvalid}
	}
	return e.Linkname, nil
}

func (s fsys) ReadDir(name string) ([]fs.DirEntry, error) {
	f, err := s.r.Open(name)
	if err != nil {
		return nil, relabel(err, "readdir")
	}
	defer f.Close()
	return f.ReadDir(-1)
}

func (s fsys) ReadFile(name string) ([]byte, error) {
	f, err := s.r.Open(name)
	if err != nil {
		return nil, relabel(err, "readfile")
	}
	defer f.Close()
	if err := f.readable(); err != nil {
		return nil, err
	}
	b := make([]byte, f.size())
	if _, err := io.ReadFull(f, b); err != nil {
		return nil, err
	}
	return b, nil
}

func relabel(err error, op string) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		pe.Op = op
	}
	return err
}

// lru is a small cache of values by key that loads each value once: callers asking for a value
// being loaded wait for it. It holds at most max values, dropping the least recently used.
type lru[K comparable, V any] struct {
	mu    sync.Mutex
	max   int
	items map[K]*lruItem[V]
	order []K // least recently used first
}

type lruItem[V any] struct {
	done chan struct{}
	val  V
	err  error
}

func (c *lru[K, V]) get(k K, load func() (V, error)) (V, error) {
	c.mu.Lock()
	if c.items == nil {
		c.items = map[K]*lruItem[V]{}
	}
	if it, ok := c.items[k]; ok {
		c.touch(k)
		c.mu.Unlock()
		<-it.done
		return it.val, it.err
	}
	it := &lruItem[V]{done: make(chan struct{})}
	c.items[k] = it
	c.order = append(c.order, k)
	if len(c.order) > c.max {
		delete(c.items, c.order[0])
		c.order = c.order[1:]
	}
	c.mu.Unlock()

	it.val, it.err = load()
	close(it.done)
	if it.err != nil {
		c.mu.Lock()
		if c.items[k] == it {
			delete(c.items, k)
			c.order = slices.DeleteFunc(c.order, func(o K) bool { return o == k })
		}
		c.mu.Unlock()
	}
	return it.val, it.err
}

func (c *lru[K, V]) touch(k K) {
	i := slices.Index(c.order, k)
	if i >= 0 && i < len(c.order)-1 {
		copy(c.order[i:], c.order[i+1:])
		c.order[len(c.order)-1] = k
	}
}
