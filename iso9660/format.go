// Package iso9660 writes and reads ISO 9660 images of the kind that boot a NixOS live system:
// an ECMA-119 volume (ISO level 3, multi-extent files over 4 GiB) with Rock Ridge and Joliet
// trees, an El Torito boot catalog for BIOS and UEFI, and the isohybrid MBR and GPT that make
// the same file boot when it is written to a USB stick.
//
// The Writer is deterministic: every date comes from Options.ModTime, every owner is root, the
// GPT GUIDs and the MBR disk signature derive from a seed, and the layout is computed in full
// before any byte is written, so the same entries give the same image whatever the machine, the
// clock or the number of cores. File data is streamed from its Source into the image once, with
// copy_file_range when both ends are files.
//
// The Reader (Open) reads images from any tool: volume descriptors, the Rock Ridge (or plain
// ISO 9660) tree, the Joliet tree, the El Torito catalog, and the MBR and GPT in the system area.
// ReadTree reads the tree as the Linux kernel mounts it, and a File reads a file's data over all
// its extents, zisofs-compressed files uncompressed. The reader treats its input as untrusted:
// every offset and length is checked, and what it reads and holds is bounded by the image's size.
//
// What the package does not do: ISO 9660:1999, UDF, HFS+, Apple partition maps, zisofs2's
// algorithms but zlib, and Rock Ridge relocation of directories deeper than ECMA-119's eight
// levels (the Writer returns an error for such a tree; NixOS images are shallow).
//
// The on-disk layouts below use the words of the standards: ECMA-119 (ISO 9660), IEEE P1281
// (SUSP) and P1282 (RRIP, Rock Ridge), Microsoft's Joliet specification, the El Torito Bootable
// CD-ROM Format Specification 1.0, the MBR as syslinux's isohybrid writes it, and UEFI's GPT.
package iso9660

import "encoding/binary"

// SectorSize is the logical block size of an ISO 9660 volume: every extent starts on a
// multiple of it.
const SectorSize = 2048

// The system area and the volume descriptor set (ECMA-119 6.2, 8).
const (
	systemAreaSectors  = 16 // sectors 0-15, free for the MBR and GPT
	systemAreaSize     = systemAreaSectors * SectorSize
	firstDescriptorLBA = 16 // the primary volume descriptor
)

// Volume descriptor types (ECMA-119 8.1.1).
const (
	vdTypeBootRecord    = 0
	vdTypePrimary       = 1
	vdTypeSupplementary = 2
	vdTypePartition     = 3
	vdTypeTerminator    = 255
)

// standardID is the Standard Identifier of every volume descriptor (ECMA-119 8.1.2).
const standardID = "CD001"

// Field offsets of a volume descriptor: the common header (ECMA-119 8.1) and the primary and
// supplementary descriptors (8.4, 8.5). Multi-byte numbers are stored both little- and big-endian
// ("both-byte order", 7.2.3, 7.3.3) unless the field says LE or BE.
const (
	vdType              = 0   // 1 byte
	vdStandardID        = 1   // 5 bytes "CD001"
	vdVersion           = 6   // 1 byte, 1
	vdFlags             = 7   // 1 byte (SVD: volume flags)
	vdSystemID          = 8   // 32 a-characters
	vdVolumeID          = 40  // 32 d-characters
	vdVolumeSpaceSize   = 80  // 8 bytes both-endian, in sectors
	vdEscapeSequences   = 88  // 32 bytes (SVD: Joliet's UCS-2 level)
	vdVolumeSetSize     = 120 // 4 bytes both-endian
	vdVolumeSeqNumber   = 124 // 4 bytes both-endian
	vdLogicalBlockSize  = 128 // 4 bytes both-endian
	vdPathTableSize     = 132 // 8 bytes both-endian
	vdPathTableL        = 140 // 4 bytes LE: location of the type L path table
	vdPathTableLOpt     = 144 // 4 bytes LE
	vdPathTableM        = 148 // 4 bytes BE: location of the type M path table
	vdPathTableMOpt     = 152 // 4 bytes BE
	vdRootRecord        = 156 // 34 bytes: the root directory's record
	vdVolumeSetID       = 190 // 128 d-characters
	vdPublisherID       = 318 // 128 a-characters
	vdPreparerID        = 446 // 128 a-characters
	vdApplicationID     = 574 // 128 a-characters
	vdCopyrightFileID   = 702 // 37
	vdAbstractFileID    = 739 // 37
	vdBibliographicID   = 776 // 37
	vdCreationDate      = 813 // 17-byte date (8.4.26.1)
	vdModificationDate  = 830 // 17
	vdExpirationDate    = 847 // 17
	vdEffectiveDate     = 864 // 17
	vdFileStructVersion = 881 // 1 byte, 1

	vdSystemIDLen    = 32
	vdVolumeIDLen    = 32
	vdLongIDLen      = 128
	vdFileIDLen      = 37
	longDateLen      = 17
	rootRecordLen    = 34
	vdEscapeSeqLen   = 32
	vdFileStructVers = 1
)

// Boot record fields (ECMA-119 8.2; El Torito figure 7).
const (
	brBootSystemID = 7  // 32 bytes: "EL TORITO SPECIFICATION"
	brCatalogLBA   = 71 // 4 bytes LE: the boot catalog's sector

	elToritoSystemID = "EL TORITO SPECIFICATION"
)

// Joliet escape sequences for UCS-2 levels 1, 2 and 3 (Joliet specification, "%/@", "%/C",
// "%/E"). The writer uses level 3.
var (
	jolietLevel1 = []byte("%/@")
	jolietLevel2 = []byte("%/C")
	jolietLevel3 = []byte("%/E")
)

// Directory record fields (ECMA-119 9.1).
const (
	drLength          = 0  // 1 byte: length of the record
	drExtAttrLength   = 1  // 1 byte
	drExtentLBA       = 2  // 8 bytes both-endian
	drDataLength      = 10 // 8 bytes both-endian
	drRecordingDate   = 18 // 7-byte date (9.1.5)
	drFileFlags       = 25 // 1 byte
	drFileUnitSize    = 26 // 1 byte
	drInterleaveGap   = 27 // 1 byte
	drVolumeSeqNumber = 28 // 4 bytes both-endian
	drFileIDLength    = 32 // 1 byte
	drFileID          = 33 // the identifier, then a pad byte if its length is even, then System Use

	drFixedLen   = 33
	maxRecordLen = 255
	shortDateLen = 7
)

// File flags of a directory record (ECMA-119 9.1.6).
const (
	flagHidden      = 0x01
	flagDirectory   = 0x02
	flagAssociated  = 0x04
	flagRecord      = 0x08
	flagProtection  = 0x10
	flagMultiExtent = 0x80
)

// maxExtentSize is the largest extent a multi-extent file gets: 4 GiB less one sector, so that
// every extent but the last is a whole number of sectors (as libisofs writes them).
const maxExtentSize = 0xFFFFF800

// maxDepth is the deepest directory level ECMA-119 allows (6.8.2.1): the root is level 1.
const maxDepth = 8

// Path table record fields (ECMA-119 9.4).
const (
	ptIDLength      = 0 // 1 byte
	ptExtAttrLength = 1 // 1 byte
	ptExtentLBA     = 2 // 4 bytes, LE in an L table, BE in an M table
	ptParentNumber  = 6 // 2 bytes, same order
	ptDirectoryID   = 8 // the identifier, then a pad byte if its length is odd

	ptFixedLen = 8
)

// System Use Sharing Protocol (SUSP, IEEE P1281) entry header: two signature bytes, the length
// of the entry, its version.
const (
	suspSignature = 0
	suspLength    = 2
	suspVersion   = 3
	suspHeaderLen = 4

	suspCELen = 28 // CE: continuation area, 3 both-endian numbers
	suspSPLen = 7  // SP: the SUSP indicator, in the root's "." record
	suspSTLen = 4  // ST: terminator
)

// Rock Ridge (RRIP 1.10, IEEE P1282 draft as written by mkisofs and libisofs).
const (
	rrPXLen = 36 // PX: mode, links, uid, gid, each both-endian
	rrTFLen = 5 + 3*shortDateLen

	// TF flags: which times follow, and their format.
	tfCreation   = 0x01
	tfModify     = 0x02
	tfAccess     = 0x04
	tfAttributes = 0x08
	tfLongForm   = 0x80

	// NM and SL component flags.
	nmContinue = 0x01
	nmCurrent  = 0x02
	nmParent   = 0x04
	slContinue = 0x01
	slCurrent  = 0x02
	slParent   = 0x04
	slRoot     = 0x08

	maxNMPayload = maxRecordLen - 5 // one NM entry: header and flags byte
)

// zisofs: a file's data compressed in blocks, each a zlib stream, behind a header and a table of
// block pointers (zisofs-tools, and libisofs's doc/zisofs_format.txt and zisofs2_format.txt). A
// Rock Ridge ZF entry (zisofs2 also Z2) marks such a file and gives its uncompressed size. A
// block of zeros is recorded as a block of no bytes: two equal pointers.
const (
	zfLen = 16 // ZF and Z2 entries

	// ZF entry fields, from the start of the entry.
	zfAlgorithm  = 4  // 2 bytes: "pz" zisofs; zisofs2's "PZ" zlib, "XZ", "L4", "ZD", "B2"
	zfHeaderSize = 6  // 1 byte: the file header's size / 4
	zfBlockShift = 7  // 1 byte: log2 of the block size
	zfSize       = 8  // zisofs: uncompressed size, both-endian 32; zisofs2: 64 bits LE
	zfVersion1   = 1  // the entry's version for zisofs
	zfVersion2   = 2  // for zisofs2
	zfMinShift1  = 12 // block sizes the Linux kernel reads (fs/isofs/rock.c): 4 KiB to 128 KiB
	zfMaxShift1  = 17
	zfMinShift2  = 15 // zisofs2 block sizes xorriso writes: 32 KiB to 1 MiB
	zfMaxShift2  = 20

	// The zisofs file header: magic, uncompressed size (32 bits LE), header size / 4, block
	// shift, 2 reserved bytes; then 32-bit LE block pointers.
	zisofsHeaderLen  = 16
	zisofsSize       = 8
	zisofsHdrSize    = 12
	zisofsBlockShift = 13
	zisofsPointerLen = 4

	// The zisofs2 file header: magic, version 0, header size / 4, algorithm id (1 zlib), block
	// shift, uncompressed size (64 bits LE), 4 bytes of padding; then 64-bit LE block pointers.
	zisofs2HeaderLen  = 24
	zisofs2Version    = 8
	zisofs2HdrSize    = 9
	zisofs2Algorithm  = 10
	zisofs2BlockShift = 11
	zisofs2Size       = 12
	zisofs2PointerLen = 8
	zisofs2Zlib       = 1
)

var (
	zisofsMagic  = []byte{0x37, 0xE4, 0x53, 0x96, 0xC9, 0xDB, 0xD6, 0x07}
	zisofs2Magic = []byte{0xEF, 0x22, 0x55, 0xA1, 0xBC, 0x1B, 0x95, 0xA0}
)

// The ER entry announcing RRIP 1.10 (RRIP 4.3), with the texts every RRIP producer writes.
const (
	rrExtensionID         = "RRIP_1991A"
	rrExtensionDescriptor = "THE ROCK RIDGE INTERCHANGE PROTOCOL PROVIDES SUPPORT FOR POSIX FILE SYSTEM SEMANTICS"
	rrExtensionSource     = "PLEASE CONTACT DISC PUBLISHER FOR SPECIFICATION SOURCE.  SEE PUBLISHER IDENTIFIER IN PRIMARY VOLUME DESCRIPTOR FOR CONTACT INFORMATION."
	rrExtensionVersion    = 1
)

// POSIX file type bits of a Rock Ridge PX mode (RRIP 4.1.1).
const (
	sIFMT  = 0o170000
	sIFDIR = 0o040000
	sIFREG = 0o100000
	sIFLNK = 0o120000
)

// El Torito boot catalog (El Torito 2.x): 32-byte entries in one sector.
const (
	catalogEntryLen = 32

	// Validation entry.
	valHeaderID  = 0 // 1 byte: 1
	valPlatform  = 1 // 1 byte
	valIDString  = 4 // 24 bytes
	valChecksum  = 28
	valKey55     = 30
	valKeyAA     = 31
	valIDLen     = 24
	valHeaderOne = 1

	// Initial/default and section entries.
	entBootIndicator = 0 // 0x88 bootable, 0x00 not
	entMediaType     = 1
	entLoadSegment   = 2 // 2 bytes LE
	entSystemType    = 4
	entSectorCount   = 6 // 2 bytes LE: 512-byte virtual sectors to load
	entLoadRBA       = 8 // 4 bytes LE

	// Section header entry.
	secHeaderIndicator = 0 // 0x90 more headers follow, 0x91 final
	secPlatform        = 1
	secEntryCount      = 2 // 2 bytes LE
	secIDString        = 4

	bootable          = 0x88
	notBootable       = 0x00
	mediaNoEmulation  = 0
	sectionMore       = 0x90
	sectionFinal      = 0x91
	platformX86       = 0x00
	platformPowerPC   = 0x01
	platformMac       = 0x02
	platformEFI       = 0xEF
	biosLoadSectors   = 4 // -boot-load-size 4
	virtualSectorSize = 512
)

// The boot info table that -boot-info-table patches into the BIOS boot file at byte 8
// (mkisofs; isolinux reads it to find itself).
const (
	bitPVDLBA       = 8  // 4 bytes LE: sector of the primary volume descriptor
	bitFileLBA      = 12 // 4 bytes LE: sector of the boot file
	bitFileLen      = 16 // 4 bytes LE: length of the boot file
	bitChecksum     = 20 // 4 bytes LE: sum of the 32-bit LE words from byte 64 on
	bitEnd          = 64
	bitChecksumFrom = 64
)

// The master boot record (sector 0) as isohybrid writes it.
const (
	mbrSize           = 512
	mbrCodeLen        = 432 // boot code taken from isohdpfx.bin
	mbrBootLBA        = 432 // 8 bytes LE: the BIOS boot file's 512-byte LBA, for isohdpfx.bin
	mbrDiskSignature  = 440 // 4 bytes LE
	mbrPartitionTable = 446
	mbrPartitionLen   = 16
	mbrPartitions     = 4
	mbrBootSignature  = 510 // 0x55 0xAA
	mbrSectorSize     = 512

	// Partition entry fields.
	mpStatus   = 0
	mpStartCHS = 1 // head, sector | cylinder bits 8-9 << 6, cylinder bits 0-7
	mpType     = 4
	mpEndCHS   = 5
	mpStartLBA = 8  // 4 bytes LE
	mpSectors  = 12 // 4 bytes LE

	mbrActive         = 0x80
	mbrTypeEmpty      = 0x00
	mbrTypeHidden     = 0x17 // isohybrid's partition type without a GPT
	mbrTypeEFI        = 0xEF
	mbrTypeProtective = 0xEE

	// isohybrid's default geometry: 64 heads, 32 sectors per track (1 MiB cylinders).
	hybridHeads   = 64
	hybridSectors = 32
	maxCylinders  = 1024
)

// isolinuxHybridMagic is what isolinux.bin carries at byte 64 when it can boot through
// isohdpfx.bin (libisofs calls such a boot file "isohybrid-suitable").
var isolinuxHybridMagic = []byte{0xfb, 0xc0, 0x78, 0x70}

// The GUID partition table (UEFI 2.x, chapter 5) as xorriso's -isohybrid-gpt-basdat lays it out
// in the system area: the header at LBA 1, 248 entries filling LBAs 2-63, the first usable LBA
// 64, and a backup of the entries and the header in the last 63 sectors of the image.
const (
	gptSignature      = "EFI PART"
	gptRevision       = 0x00010000
	gptHeaderSize     = 92
	gptEntrySize      = 128
	gptEntries        = 248
	gptEntriesLBA     = 2
	gptFirstUsableLBA = 64
	gptEntriesSectors = gptEntries * gptEntrySize / mbrSectorSize // 62
	gptBackupBlocks   = 16                                        // ISO sectors reserved at the end of the image for the backup GPT

	// Header fields.
	ghSignature    = 0  // 8 bytes
	ghRevision     = 8  // 4 bytes LE
	ghHeaderSize   = 12 // 4 bytes LE
	ghHeaderCRC    = 16 // 4 bytes LE, CRC-32 of the header with this field zero
	ghReserved     = 20
	ghMyLBA        = 24 // 8 bytes LE
	ghAlternateLBA = 32
	ghFirstUsable  = 40
	ghLastUsable   = 48
	ghDiskGUID     = 56 // 16 bytes
	ghEntriesLBA   = 72 // 8 bytes LE
	ghEntryCount   = 80 // 4 bytes LE
	ghEntrySize    = 84 // 4 bytes LE
	ghEntriesCRC   = 88 // 4 bytes LE

	// Partition entry fields.
	geType     = 0  // 16 bytes
	geGUID     = 16 // 16 bytes
	geFirstLBA = 32 // 8 bytes LE
	geLastLBA  = 40 // 8 bytes LE, inclusive
	geFlags    = 48 // 8 bytes LE
	geName     = 56 // 72 bytes UTF-16LE
	geNameLen  = 72

	// xorriso's flags for its isohybrid partitions: bit 0 "required by the platform" and bit 60
	// "read-only".
	gptHybridFlags = 1<<60 | 1
)

// gptBasicData is the Basic Data partition type EBD0A0A2-B9E5-4433-87C0-68B6B72699C7 in the
// mixed-endian byte order GPT stores GUIDs in.
var gptBasicData = [16]byte{0xa2, 0xa0, 0xd0, 0xeb, 0xe5, 0xb9, 0x33, 0x44,
	0x87, 0xc0, 0x68, 0xb6, 0xb7, 0x26, 0x99, 0xc7}

// Both-byte order helpers (ECMA-119 7.2.3 and 7.3.3).

func putBoth16(b []byte, v uint16) {
	binary.LittleEndian.PutUint16(b, v)
	binary.BigEndian.PutUint16(b[2:], v)
}

func putBoth32(b []byte, v uint32) {
	binary.LittleEndian.PutUint32(b, v)
	binary.BigEndian.PutUint32(b[4:], v)
}
