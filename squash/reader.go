package squash

import (
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"
	"runtime"
	"slices"
	"sync"
)

// This file is the Reader and what it reads first: the superblock, the compressor options and
// the lookup tables (ids, fragments). metadata.go reads metadata blocks, inode.go inodes,
// dir.go directories, file.go file data, fs.go is the fs.FS view, check.go is Check.

// Constants the reader needs besides those of format.go.
const (
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

// Superblock is what an image's superblock says, with its compressor options decoded.
type Superblock struct {
	Inodes    uint32
	ModTime   int64 // seconds since the epoch
	BlockSize int
	Fragments uint32 // fragment blocks
	// Compression names the compressor of the superblock's compression id ("gzip", "lzma",
	// "lzo", "xz", "lz4" or "zstd"), or is None when the flags say that nothing is compressed,
	// as mksquashfs -no-compression records it (with the id of its default compressor, gzip).
	Compression Algorithm
	IDs         uint16 // distinct owners (uids and gids)
	BytesUsed   int64
	// Options are the compressor options: stored, or the named compressor's defaults (none
	// with None, which decodes nothing by them).
	Options CompressorOptions

	flags uint16 // flag* bits
}

// FlagNames names the flags the superblock sets, as mksquashfs's options name them
// ("no-fragments", "duplicates", "exportable", ...), and unknown bits in hex.
func (sb Superblock) FlagNames() []string {
	flags := sb.flags
	names := []string{}
	for _, f := range flagNames {
		if flags&f.bit != 0 {
			names = append(names, f.name)
			flags &^= f.bit
		}
	}
	if flags != 0 {
		names = append(names, fmt.Sprintf("%#04x", flags))
	}
	return names
}

// layout is where the superblock says the image's parts are: the reader's own.
type layout struct {
	compressorID uint16
	blockLog     uint16
	rootInode    uint64 // inode reference: metadata block << 16 | offset
	// Table offsets from the image's start, tableAbsent for tables the image does not have.
	idTable, xattrTable, inodeTable, directoryTable, fragmentTable, exportTable uint64
}

// CompressorOptions are the compressor options an image stores after its superblock, or the
// defaults mksquashfs and the kernel assume when it stores none.
type CompressorOptions struct {
	Stored bool // the image stores options (flagCompressorOptions)
	// Level is the compression level of zstd (default 15), gzip (default 9) and lzo.
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
	// LZOAlgorithm is lzo's compressor ("lzo1x_999", default, or "lzo1x_1", ...); Level is
	// lzo1x_999's level (default 8).
	LZOAlgorithm string
}

// Reader reads a SquashFS 4.0 image, made by gonixiso's Writer, mksquashfs or any other tool:
// Walk lists its entries, Open and FS read them, Check holds the image to the kernel's rules.
//
// It reads untrusted bytes: every length and offset is bounded by the image before use, metadata
// is read only forward, allocations grow with what the image really holds (not with what a
// header claims: a block list is read as a stream, never held), a directory reached twice is
// an error, not a loop, and the work it does is bounded by its Limits. An image the kernel
// would refuse but that is readable reads, as with unsquashfs; Check says what the kernel would
// refuse. Extended attributes are not read. A Reader is safe for concurrent use.
type Reader struct {
	ra    io.ReaderAt
	size  int64 // bytes of the image, BytesUsed
	sb    Superblock
	t     layout
	codec codec
	dec   decoder
	bs    int

	dataStart int64 // first byte after the superblock and compressor options
	dirEnd    int64 // end of the directory table: the start of the next table
	ids       []uint32
	fragIndex []uint64 // image offsets of the fragment table's metadata blocks

	lim  Limits
	used counters

	holdsMu sync.Mutex
	holds   map[fragKey]int64 // bytes each fragment block holds, for Storage

	meta     lru[int64, metaBlock]
	frags    lru[fragKey, []byte]
	listings lru[uint64, *listing]
}

// NewReader reads the superblock, compressor options, id table and fragment table index of
// the image of size bytes in ra, and checks them. Everything else is read when needed.
func NewReader(ra io.ReaderAt, size int64) (*Reader, error) {
	return newReader(ra, size, false)
}

func newReader(ra io.ReaderAt, size int64, xzPureGo bool) (*Reader, error) {
	if size < superblockSize {
		return nil, fmt.Errorf("squash: image of %d bytes is smaller than a superblock", size)
	}
	var b [superblockSize]byte
	if _, err := ra.ReadAt(b[:], 0); err != nil {
		return nil, fmt.Errorf("squash: reading the superblock: %w", err)
	}
	u16 := func(off int) uint16 { return binary.LittleEndian.Uint16(b[off:]) }
	u32 := func(off int) uint32 { return binary.LittleEndian.Uint32(b[off:]) }
	u64 := func(off int) uint64 { return binary.LittleEndian.Uint64(b[off:]) }
	if m := u32(sbMagic); m != magic {
		return nil, fmt.Errorf("squash: not a SquashFS image (magic %#08x)", m)
	}
	sb := Superblock{
		Inodes: u32(sbInodeCount), ModTime: int64(u32(sbModTime)), BlockSize: int(u32(sbBlockSize)),
		Fragments: u32(sbFragmentCount), flags: u16(sbFlags), IDs: u16(sbIDCount),
	}
	t := layout{
		compressorID: u16(sbCompression), blockLog: u16(sbBlockLog), rootInode: u64(sbRootInode),
		idTable: u64(sbIDTable), xattrTable: u64(sbXattrTable), inodeTable: u64(sbInodeTable),
		directoryTable: u64(sbDirectoryTable), fragmentTable: u64(sbFragmentTable), exportTable: u64(sbExportTable),
	}
	sb.Compression = algorithmName(t.compressorID)
	if sb.flags&flagsNoCompression == flagsNoCompression {
		sb.Compression = None
	}
	if major, minor := u16(sbVersionMajor), u16(sbVersionMinor); major != versionMajor || minor != versionMinor {
		return nil, fmt.Errorf("squash: SquashFS version %d.%d (want %d.%d)", major, minor, versionMajor, versionMinor)
	}
	used := u64(sbBytesUsed)
	if used > uint64(size) || used < superblockSize {
		return nil, fmt.Errorf("squash: superblock says %d bytes used, image has %d (truncated?)", used, size)
	}
	sb.BytesUsed = int64(used)
	bs := sb.BlockSize
	if bs < MinBlockSize || bs > MaxBlockSize || bs&(bs-1) != 0 {
		return nil, fmt.Errorf("squash: block size %d: want a power of two from %d to %d", bs, MinBlockSize, MaxBlockSize)
	}
	if int(t.blockLog) != bits.TrailingZeros(uint(bs)) {
		return nil, fmt.Errorf("squash: block log %d does not match the block size %d", t.blockLog, bs)
	}
	if t.rootInode&0xFFFF >= metadataSize {
		return nil, fmt.Errorf("squash: root inode reference %#x: offset beyond a metadata block", t.rootInode)
	}
	codec, dec, err := newDecoder(t.compressorID, xzPureGo)
	if err != nil {
		return nil, err
	}
	r := &Reader{ra: ra, size: sb.BytesUsed, sb: sb, t: t, codec: codec, dec: dec, bs: bs, dataStart: superblockSize,
		lim: DefaultLimits(sb.BytesUsed)}
	r.meta.max = 64
	// The Writer sorts a window of tails (tailWindow) before packing them, so the files of one
	// directory, read in order, have their tails in any of that window's fragment blocks: the
	// cache holds two windows' worth (32 MiB at most), so that each is decoded about once.
	r.frags.max = max(4, 2*runtime.GOMAXPROCS(0), 2*tailWindow/int(bs))
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
	if r.sb.Compression != None {
		r.codec.defaults(o, r.bs)
	}
	if r.sb.flags&flagCompressorOptions == 0 {
		return nil
	}
	o.Stored = true
	mb, err := r.metaBlockAt(superblockSize, superblockSize, r.size)
	if err != nil {
		return fmt.Errorf("squash: compressor options: %w", err)
	}
	r.dataStart = mb.next
	return r.codec.parseOptions(o, mb.data)
}

// checkTables checks that the tables lie in the image, in the order the kernel requires, and
// finds where the directory table ends.
func (r *Reader) checkTables() error {
	sb := &r.t
	end := uint64(r.size)
	for _, t := range []struct {
		name string
		at   uint64
		must bool
	}{
		{"inode", sb.inodeTable, true}, {"directory", sb.directoryTable, true}, {"id", sb.idTable, true},
		{"fragment", sb.fragmentTable, r.sb.Fragments > 0}, {"export", sb.exportTable, false}, {"xattr", sb.xattrTable, false},
	} {
		if t.at == tableAbsent && !t.must {
			continue
		}
		if t.at < uint64(r.dataStart) || t.at >= end {
			return fmt.Errorf("squash: %s table at %d outside the image's %d..%d", t.name, t.at, r.dataStart, end)
		}
	}
	if sb.inodeTable >= sb.directoryTable {
		return fmt.Errorf("squash: inode table at %d not before the directory table at %d", sb.inodeTable, sb.directoryTable)
	}
	// The directory table ends where the first later table starts: the first metadata block of
	// a lookup table, read from its index, or the index itself.
	r.dirEnd = int64(end)
	for _, t := range []uint64{sb.idTable, sb.fragmentTable, sb.exportTable, sb.xattrTable} {
		if t == tableAbsent || t <= sb.directoryTable {
			continue
		}
		r.dirEnd = min(r.dirEnd, int64(t))
		if t+lookupIndexEntrySize <= end {
			var first [lookupIndexEntrySize]byte
			if _, err := r.ra.ReadAt(first[:], int64(t)); err != nil {
				return fmt.Errorf("squash: reading a table index: %w", err)
			}
			if f := binary.LittleEndian.Uint64(first[:]); f > sb.directoryTable && f < uint64(r.dirEnd) {
				r.dirEnd = int64(f)
			}
		}
	}
	if int64(sb.directoryTable) >= r.dirEnd {
		return fmt.Errorf("squash: directory table at %d overlaps the next table at %d", sb.directoryTable, r.dirEnd)
	}
	return nil
}

// lookupIndex reads the index of a lookup table of count entries of entrySize bytes at at:
// the image offsets of its metadata blocks.
func (r *Reader) lookupIndex(name string, at uint64, count, entrySize int64) ([]uint64, error) {
	blocks := (count*entrySize + metadataSize - 1) / metadataSize
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
	want := int64(metadataSize)
	if i == len(idx)-1 {
		want = count*entrySize - int64(i)*metadataSize
	}
	if int64(len(mb.data)) != want {
		return nil, fmt.Errorf("%s table block %d holds %d bytes, want %d", name, i, len(mb.data), want)
	}
	return mb.data, nil
}

func (r *Reader) readIDs() error {
	n := int64(r.sb.IDs)
	idx, err := r.lookupIndex("id", r.t.idTable, n, idEntrySize)
	if err != nil {
		return err
	}
	r.ids = make([]uint32, 0, n)
	for i := range idx {
		b, err := r.lookupBlock("id", idx, i, r.t.idTable, n, idEntrySize)
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
	idx, err := r.lookupIndex("fragment", r.t.fragmentTable, int64(r.sb.Fragments), fragmentEntrySize)
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
	const perBlock = metadataSize / fragmentEntrySize
	b, err := r.lookupBlock("fragment", r.fragIndex, int(i/perBlock), r.t.fragmentTable, int64(r.sb.Fragments), fragmentEntrySize)
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
	if start < uint64(r.dataStart) || start+n > r.t.inodeTable {
		return fmt.Errorf("block at %d of %d bytes outside the data area %d..%d", start, n, r.dataStart, r.t.inodeTable)
	}
	return nil
}
