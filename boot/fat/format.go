package fat

// The on-disk layout of a FAT12 or FAT16 volume, in the words of Microsoft's "FAT: General Overview
// of On-Disk Format" (fatgen103): a boot sector holding the BIOS parameter block (BPB), the
// reserved region, NumFATs copies of the file allocation table, the fixed-size root directory,
// then the data region, cut into clusters numbered from 2. All integers are little-endian.

// SectorSize is the sector size this package writes. The reader accepts 512, 1024, 2048 and 4096.
const SectorSize = 512

// Boot sector fields (fatgen103 "Boot Sector and BPB Structure"; the fields from 36 on are the
// FAT12/FAT16 extended BPB).
const (
	bsJmpBoot        = 0  // [3]byte: a jump over the BPB to the boot code
	bsOEMName        = 3  // [8]byte: the name of the formatting program
	bpbBytsPerSec    = 11 // uint16
	bpbSecPerClus    = 13 // uint8: a power of 2
	bpbRsvdSecCnt    = 14 // uint16: sectors before the first FAT
	bpbNumFATs       = 16 // uint8
	bpbRootEntCnt    = 17 // uint16: 32-byte entries in the root directory (0 on FAT32)
	bpbTotSec16      = 19 // uint16: total sectors, or 0 when they do not fit
	bpbMedia         = 21 // uint8
	bpbFATSz16       = 22 // uint16: sectors per FAT (0 on FAT32)
	bpbSecPerTrk     = 24 // uint16
	bpbNumHeads      = 26 // uint16
	bpbHiddSec       = 28 // uint32: sectors before this volume on its disk
	bpbTotSec32      = 32 // uint32: total sectors when bpbTotSec16 is 0
	bsDrvNum         = 36 // uint8
	bsReserved1      = 37 // uint8
	bsBootSig        = 38 // uint8: bootSig when the next three fields are present
	bsVolID          = 39 // uint32: the volume serial number
	bsVolLab         = 43 // [11]byte: the volume label, padded with spaces
	bsFilSysType     = 54 // [8]byte: "FAT12   " or "FAT16   ", informational only
	bsBootCode       = 62 // the boot code, up to the signature
	bsSignature      = 510
	bootSectorLength = 512
)

// Boot sector values.
const (
	jmpBoot0    = 0xEB // short jump ...
	jmpBoot1    = bsBootCode - 2
	jmpBoot2    = 0x90 // ... and a NOP
	mediaFixed  = 0xF8 // a fixed (non-removable) medium
	driveHard   = 0x80 // BIOS drive number of the first hard disk
	bootSig     = 0x29
	signature0  = 0x55
	signature1  = 0xAA
	oemName     = "GONIXISO"
	noLabel     = "NO NAME    "
	typeFAT12   = "FAT12   "
	typeFAT16   = "FAT16   "
	sectorsHead = 32 // CHS geometry in the BPB: 64 heads of 32 sectors, as on isohybrid images
	numHeads    = 64
)

// bootCode is what runs if a BIOS ever boots this volume: int 0x18 ("boot failed, try the next
// device"), then halt in a loop.
var bootCode = []byte{
	0xCD, 0x18, // int 0x18
	0xF4,       // hlt
	0xEB, 0xFD, // jmp back to hlt
}

// Layout choices of the writer.
const (
	reservedSectors = 1   // the boot sector alone
	numFATs         = 2   // a primary and a backup FAT, as every formatter writes
	rootEntries     = 512 // the root directory's fixed size: 512 entries, 16 KiB
)

// The cluster count decides the FAT type, and nothing else does (fatgen103 "FAT Type
// Determination"): fewer than 4085 clusters is FAT12, fewer than 65525 FAT16, more FAT32.
const (
	maxClustersFAT12 = 4084
	maxClustersFAT16 = 65524
	firstCluster     = 2 // clusters 0 and 1 do not exist; FAT entries 0 and 1 are reserved
)

// Special FAT entry values.
const (
	eocFAT12 = 0xFFF  // end of a cluster chain (any value ≥ 0xFF8)
	eocFAT16 = 0xFFFF // (any value ≥ 0xFFF8)
	badFAT12 = 0xFF7
	badFAT16 = 0xFFF7
)

// Directory entry fields (fatgen103 "FAT Directory Structure"). Every entry is 32 bytes.
const (
	dirName         = 0  // [11]byte: 8.3 name, space padded, no dot
	dirAttr         = 11 // uint8: attr* bits
	dirNTRes        = 12 // uint8: Windows NT's case bits (ntLowerBase, ntLowerExt)
	dirCrtTimeTenth = 13 // uint8: creation time, count of 10 ms units (0-199)
	dirCrtTime      = 14 // uint16: creation time
	dirCrtDate      = 16 // uint16: creation date
	dirLstAccDate   = 18 // uint16: last access date
	dirFstClusHI    = 20 // uint16: high word of the first cluster (0 on FAT12/FAT16)
	dirWrtTime      = 22 // uint16: last write time
	dirWrtDate      = 24 // uint16: last write date
	dirFstClusLO    = 26 // uint16: first cluster
	dirFileSize     = 28 // uint32: size in bytes (0 for directories)
	dirEntrySize    = 32
)

// Directory entry attributes.
const (
	attrReadOnly  = 0x01
	attrHidden    = 0x02
	attrSystem    = 0x04
	attrVolumeID  = 0x08
	attrDirectory = 0x10
	attrArchive   = 0x20
	attrLongName  = attrReadOnly | attrHidden | attrSystem | attrVolumeID
	attrLongMask  = attrLongName | attrDirectory | attrArchive
)

// Values of the first name byte.
const (
	dirFree     = 0x00 // this entry and all after it are free
	dirDeleted  = 0xE5 // this entry is free
	dirKanjiE5  = 0x05 // stands for a name that really starts with 0xE5
	ntLowerBase = 0x08 // dirNTRes: the base name is lower case
	ntLowerExt  = 0x10 // dirNTRes: the extension is lower case
)

// Long name (VFAT) entries precede the short entry they name, last part first. Each holds 13
// UTF-16 code units in three runs; the name ends with 0x0000 and the rest is padded with 0xFFFF.
const (
	ldirOrd       = 0  // uint8: the sequence number, 1-based; ldirLast marks the last part
	ldirName1     = 1  // [5]uint16
	ldirAttr      = 11 // uint8: attrLongName
	ldirType      = 12 // uint8: 0
	ldirChksum    = 13 // uint8: checksum of the short name (shortNameChecksum)
	ldirName2     = 14 // [6]uint16
	ldirFstClusLO = 26 // uint16: 0
	ldirName3     = 28 // [2]uint16
	ldirLast      = 0x40
	ldirChars     = 13  // UTF-16 units per entry
	maxLongName   = 255 // UTF-16 units in a long name
)

// ldirRuns are the offsets and lengths (in UTF-16 units) of the three name runs of a long entry.
var ldirRuns = [3]struct{ off, n int }{{ldirName1, 5}, {ldirName2, 6}, {ldirName3, 2}}

// Dates and times are packed into 16 bits each: date = (year-1980)<<9 | month<<5 | day and
// time = hour<<11 | minute<<5 | second/2. They have no time zone; this package reads and writes UTC.
const (
	epochYear = 1980
	lastYear  = epochYear + 127
)
