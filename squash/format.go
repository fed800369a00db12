package squash

// This file describes SquashFS 4.0 as the Linux kernel reads it (fs/squashfs/squashfs_fs.h),
// in the order an image lays it out:
//
//	superblock                 96 bytes at offset 0
//	compression options        a metadata block, only with flagCompressorOptions; its
//	                           layout, and the compression id, are the compressor's (one file
//	                           each: gzip.go, xz.go, lz4.go, zstd.go; lzma.go, lzo.go;
//	                           none.go names gzip's)
//	data blocks and fragments  file contents, each block compressed on its own
//	inode table                metadata blocks of inodes
//	directory table            metadata blocks of directory listings
//	fragment table             metadata blocks of fragment entries, then their index
//	export table               (not written: no NFS export)
//	id table                   metadata blocks of uids/gids, then their index
//	xattr table                (not written: no extended attributes)
//
// All integers are little endian.

// LayoutVersion numbers the writer's choices: it changes whenever the bytes the Writer makes for
// the same entries and Options change (block and fragment layout, what is stored raw, how
// duplicates are recorded, the segment description), so that stored segments of an older layout
// (see Segment) are not placed in a newer image.
const LayoutVersion = 7

// magic is the superblock's first four bytes, "hsqs" on disk.
const magic = 0x73717368

// Format version written and read.
const (
	versionMajor = 4
	versionMinor = 0
)

// Block sizes: a power of two from 4 KiB to 1 MiB.
const (
	MinBlockSize     = 4 << 10
	MaxBlockSize     = 1 << 20
	DefaultBlockSize = 1 << 20
)

// metadataSize is the uncompressed size of a metadata block (inode, directory, fragment, id
// tables); the last block of a table may be shorter.
const metadataSize = 8192

// A metadata block on disk is a 16-bit header followed by its bytes. The header holds the
// on-disk length, with metadataUncompressed set when the bytes are stored as they are.
const (
	metadataHeaderSize   = 2
	metadataUncompressed = 1 << 15
)

// A data block's size in a file's block list or a fragment entry: the on-disk length, with
// dataUncompressed set when the block is stored as it is. A length of 0 in a file's block list
// is a sparse block: block size bytes of zeros (or the rest of the file), not stored.
const dataUncompressed = 1 << 24

// noFragment is a file inode's fragment index when its tail is not in a fragment block.
const noFragment = 0xFFFFFFFF

// tableAbsent is a superblock table offset for a table the image does not have.
const tableAbsent = 0xFFFFFFFFFFFFFFFF

// Superblock flags.
const (
	flagUncompressedInodes    = 0x0001
	flagUncompressedData      = 0x0002
	flagCheck                 = 0x0004 // unused in 4.0
	flagUncompressedFragments = 0x0008
	flagNoFragments           = 0x0010
	flagAlwaysFragments       = 0x0020 // tails of files larger than a block are packed too
	flagDuplicates            = 0x0040 // identical files were stored once
	flagExportable            = 0x0080
	flagUncompressedXattrs    = 0x0100
	flagNoXattrs              = 0x0200
	flagCompressorOptions     = 0x0400
	flagUncompressedIDs       = 0x0800
)

// flagsNoCompression are the flags mksquashfs -no-compression sets (-noI -noD -noF -noX): the
// inode, directory, fragment and export tables, the data and fragment blocks and the xattrs
// are stored uncompressed. (The id table too, with the inodes, though flagUncompressedIDs is
// not set.)
const flagsNoCompression = flagUncompressedInodes | flagUncompressedData | flagUncompressedFragments |
	flagUncompressedXattrs

// flagNames are the flags' names, as mksquashfs's options name them.
var flagNames = []struct {
	bit  uint16
	name string
}{
	{flagUncompressedInodes, "uncompressed-inodes"},
	{flagUncompressedData, "uncompressed-data"},
	{flagCheck, "check"},
	{flagUncompressedFragments, "uncompressed-fragments"},
	{flagNoFragments, "no-fragments"},
	{flagAlwaysFragments, "always-fragments"},
	{flagDuplicates, "duplicates"},
	{flagExportable, "exportable"},
	{flagUncompressedXattrs, "uncompressed-xattrs"},
	{flagNoXattrs, "no-xattrs"},
	{flagCompressorOptions, "compressor-options"},
	{flagUncompressedIDs, "uncompressed-ids"},
}

// Superblock field offsets.
const (
	sbMagic            = 0  // u32
	sbInodeCount       = 4  // u32
	sbModTime          = 8  // u32, seconds since the epoch
	sbBlockSize        = 12 // u32
	sbFragmentCount    = 16 // u32
	sbCompression      = 20 // u16
	sbBlockLog         = 22 // u16
	sbFlags            = 24 // u16
	sbIDCount          = 26 // u16
	sbVersionMajor     = 28 // u16
	sbVersionMinor     = 30 // u16
	sbRootInode        = 32 // u64 inode reference
	sbBytesUsed        = 40 // u64
	sbIDTable          = 48 // u64
	sbXattrTable       = 56 // u64
	sbInodeTable       = 64 // u64
	sbDirectoryTable   = 72 // u64
	sbFragmentTable    = 80 // u64
	sbExportTable      = 88 // u64
	superblockSize     = 96
	maxIDs             = 65535 // id_count is a u16
	maxInodeNumber     = 1<<32 - 1
	maxFragmentEntries = 1<<32 - 1
)

// Inode types. A directory entry records the basic type even for an extended inode.
const (
	inodeDir          = 1
	inodeFile         = 2
	inodeSymlink      = 3
	inodeBlockDev     = 4
	inodeCharDev      = 5
	inodeFifo         = 6
	inodeSocket       = 7
	inodeExtDir       = 8
	inodeExtFile      = 9
	inodeExtSymlink   = 10
	inodeExtBlockDev  = 11
	inodeExtCharDev   = 12
	inodeExtFifo      = 13
	inodeExtSocket    = 14
	extendedTypeDelta = inodeExtDir - inodeDir
)

// The header every inode starts with.
const (
	inoType     = 0  // u16
	inoMode     = 2  // u16 permission bits (and setuid, setgid, sticky)
	inoUID      = 4  // u16 index into the id table
	inoGID      = 6  // u16 index into the id table
	inoModTime  = 8  // u32
	inoNumber   = 12 // u32, from 1
	inodeHeader = 16
)

// Basic directory inode, after the header.
const (
	dirStartBlock  = 16 // u32 directory table offset of the metadata block of the listing
	dirLinkCount   = 20 // u32
	dirFileSize    = 24 // u16 listing size + 3
	dirOffset      = 26 // u16 offset of the listing in its uncompressed metadata block
	dirParentInode = 28 // u32
	basicDirSize   = 32
)

// Extended directory inode, after the header; then index entries.
const (
	xdirLinkCount   = 16 // u32
	xdirFileSize    = 20 // u32
	xdirStartBlock  = 24 // u32
	xdirParentInode = 28 // u32
	xdirIndexCount  = 32 // u16
	xdirOffset      = 34 // u16
	xdirXattr       = 36 // u32
	extDirSize      = 40
)

// A directory index entry (in an extended directory inode): where a directory header starts, so
// that a lookup can skip the listing's earlier metadata blocks.
const (
	dindexIndex     = 0 // u32 offset of the header in the listing
	dindexStart     = 4 // u32 directory table offset of its metadata block
	dindexNameSize  = 8 // u32 name length - 1
	dirIndexHeader  = 12
	maxDirEntryName = 256
)

// Basic file inode, after the header; then the block list (u32 per block).
const (
	fileStartBlock = 16 // u32 offset of the first data block
	fileFragment   = 20 // u32 fragment index, or noFragment
	fileOffset     = 24 // u32 offset of the tail in the fragment block
	fileSize       = 28 // u32
	basicFileSize  = 32
)

// Extended file inode, after the header; then the block list.
const (
	xfileStartBlock = 16 // u64
	xfileSize       = 24 // u64
	xfileSparse     = 32 // u64 bytes saved by sparse blocks
	xfileLinkCount  = 40 // u32
	xfileFragment   = 44 // u32
	xfileOffset     = 48 // u32
	xfileXattr      = 52 // u32
	extFileSize     = 56
)

// Symlink inode, after the header; then the target; the extended form adds a u32 xattr index.
const (
	symLinkCount  = 16 // u32
	symTargetSize = 20 // u32
	symlinkSize   = 24
)

// Device inode (block and character), after the header.
const (
	devLinkCount = 16 // u32
	devRdev      = 20 // u32, the old Linux encoding (see encodeDev)
	deviceSize   = 24
)

// IPC inode (fifo and socket), after the header.
const (
	ipcLinkCount = 16 // u32
	ipcSize      = 20
)

// noXattr is an extended inode's xattr index when it has none.
const noXattr = 0xFFFFFFFF

// A directory listing is a sequence of headers, each followed by up to 256 entries whose inodes
// share one inode table metadata block and whose inode numbers lie within ±32767 of the
// header's.
const (
	dhCount       = 0 // u32 entries - 1
	dhStart       = 4 // u32 inode table offset of the entries' metadata block
	dhInodeNumber = 8 // u32 base inode number
	dirHeaderSize = 12

	deOffset      = 0 // u16 offset of the inode in its uncompressed metadata block
	deInodeDelta  = 2 // i16 inode number - base
	deType        = 4 // u16 basic inode type
	deNameSize    = 6 // u16 name length - 1
	dirEntrySize  = 8
	maxDirEntries = 256
)

// A fragment table entry: where a fragment block is, and its on-disk size.
const (
	fragStart         = 0  // u64
	fragSize          = 8  // u32, with dataUncompressed
	fragUnused        = 12 // u32, zero
	fragmentEntrySize = 16
)

// inodeRef packs an inode's position: the offset of its metadata block from the start of the
// inode table, and its offset in that block's uncompressed bytes.
func inodeRef(block uint64, offset uint16) uint64 { return block<<16 | uint64(offset) }

// encodeDev encodes a device number as the kernel's old_encode_dev/new_encode_dev do for
// SquashFS: the low 8 bits of the minor, the major, then the rest of the minor.
func encodeDev(major, minor uint32) uint32 {
	return minor&0xff | major<<8 | (minor&^0xff)<<12
}

// decodeDev is the inverse of encodeDev.
func decodeDev(dev uint32) (major, minor uint32) {
	return (dev >> 8) & 0xfff, dev&0xff | (dev>>12)&0xfff00
}
