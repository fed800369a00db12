package iso9660

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
)

// Limits of the reader, which reads untrusted images: beyond them it returns errors instead of
// allocating or looping.
//
// maxEntries bounds what reading a tree holds: a Tree takes about 240 bytes an entry, and a
// tool that lists every entry with a hash (gonixiso manifest) about 400 more, so that an image
// of 2^18 34-byte records (9 MB) is listed in under 256 MiB, and one of more is refused. A NixOS live
// ISO's tree holds a few dozen entries, a distribution's DVD tens of thousands.
const (
	maxDescriptors  = 256      // volume descriptors before the terminator
	maxDirBytes     = 32 << 20 // one directory's extent
	maxEntries      = 1 << 18  // entries in one tree: see above
	maxWalkDepth    = 64       // nested directories
	maxCEHops       = 64       // continuation areas of one record
	maxRRName       = 4096     // an NM name or SL target
	maxGPTEntryData = 1 << 20  // the GPT's partition entry array
	walkSlack       = 16 << 20 // directory and continuation bytes a walk may read beyond the image size
	pathsPerByte    = 2        // path bytes a walk may build per byte of the image...
	pathSlack       = 1 << 20  // ...and beyond
)

// ErrFormat is wrapped by the errors that describe malformed images.
var ErrFormat = errors.New("iso9660: malformed image")

func formatErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrFormat}, args...)...)
}

// Image is an opened ISO 9660 image.
type Image struct {
	r    io.ReaderAt
	size int64

	// Primary is the primary volume descriptor.
	Primary *Volume
	// Joliet is the Joliet supplementary volume descriptor, or nil.
	Joliet *Volume
	// ElTorito is the boot catalog, or nil when there is no El Torito boot record.
	ElTorito *ElTorito
	// MBR is the master boot record in sector 0, or nil when sector 0 does not end in 0x55AA.
	MBR *MBR
	// GPT is the GUID partition table at LBA 1, or nil.
	GPT *GPT
	// RockRidge reports whether the primary tree carries SUSP and Rock Ridge entries.
	RockRidge bool

	suspSkip int
}

// Volume is a primary or supplementary volume descriptor.
type Volume struct {
	LBA             uint32
	SystemID        string
	VolumeID        string
	VolumeSetID     string
	Publisher       string
	Preparer        string
	Application     string
	VolumeSpaceSize uint32 // sectors
	BlockSize       uint16
	PathTableSize   uint32
	PathTableL      uint32
	PathTableM      uint32
	Created         time.Time
	Modified        time.Time
	Root            Extent
	// EscapeSequences is a supplementary descriptor's character set (Joliet's "%/E").
	EscapeSequences []byte
}

// Extent is a stretch of contiguous sectors holding a file's data or a directory.
type Extent struct {
	LBA  uint32
	Size uint32
}

// ElTorito is the boot catalog.
type ElTorito struct {
	CatalogLBA uint32
	// Platform is the validation entry's platform id (0 x86, 0xEF EFI).
	Platform byte
	// ID is the validation entry's manufacturer id.
	ID string
	// Entries are the default entry and the section entries, in catalog order.
	Entries []BootEntry
}

// BootEntry is one boot image of the catalog.
type BootEntry struct {
	Platform    byte // of the section (the validation entry's for the default entry)
	Bootable    bool
	Media       byte // 0 no emulation
	LoadSegment uint16
	SystemType  byte
	SectorCount uint16 // 512-byte sectors to load
	LBA         uint32
}

// MBR is a master boot record.
type MBR struct {
	// BootLBA is the 64-bit number at byte 432, where isohybrid's boot code finds the BIOS boot
	// file (in 512-byte sectors).
	BootLBA       uint64
	DiskSignature uint32
	Partitions    [4]MBRPartition
}

// MBRPartition is an entry of the MBR's partition table.
type MBRPartition struct {
	Status   byte
	StartCHS [3]byte
	Type     byte
	EndCHS   [3]byte
	Start    uint32 // 512-byte sectors
	Sectors  uint32
}

// GPT is a GUID partition table.
type GPT struct {
	Header     GPTHeader
	Backup     *GPTHeader // the header at Header.AlternateLBA, or nil when it is not there
	Partitions []GPTPartition
}

// GPTHeader is a GPT header and the verdict on its checksums.
type GPTHeader struct {
	Revision        uint32
	HeaderSize      uint32
	HeaderCRCValid  bool
	MyLBA           uint64
	AlternateLBA    uint64
	FirstUsableLBA  uint64
	LastUsableLBA   uint64
	DiskGUID        GUID
	EntriesLBA      uint64
	EntryCount      uint32
	EntrySize       uint32
	EntriesCRCValid bool
}

// GPTPartition is a used entry of a GPT.
type GPTPartition struct {
	Index    int // 1-based
	Type     GUID
	GUID     GUID
	FirstLBA uint64
	LastLBA  uint64 // inclusive
	Flags    uint64
	Name     string
}

// GUID is a GUID in GPT's on-disk (mixed-endian) byte order.
type GUID [16]byte

// String formats the GUID the usual way (EBD0A0A2-B9E5-4433-87C0-68B6B72699C7).
func (g GUID) String() string {
	return fmt.Sprintf("%08X-%04X-%04X-%X-%X", binary.LittleEndian.Uint32(g[0:]),
		binary.LittleEndian.Uint16(g[4:]), binary.LittleEndian.Uint16(g[6:]), g[8:10], g[10:])
}

// Entry is a file, directory or symbolic link of a tree. Without Rock Ridge, files and
// directories have mode 0555 and are owned by root.
type Entry struct {
	Path    string // absolute, slash-separated; "/" for the root
	Name    string // the Rock Ridge or Joliet name; the primary identifier without Rock Ridge
	ISOName string // the identifier as recorded in the directory record
	Mode    fs.FileMode
	Size    int64
	ModTime time.Time
	Link    string // a symbolic link's target
	UID     uint32
	GID     uint32
	Nlink   uint32
	// Extents hold the file's data as the image stores it: compressed, for a zisofs file,
	// whose Size is the uncompressed size.
	Extents []Extent

	zf   *zisofs // the ZF entry of a zisofs-compressed file
	link *Entry  // the first of its hard links, set by ReadTree
}

// Open reads the image of size bytes from r: its volume descriptors, El Torito catalog, MBR and
// GPT. The trees are read by ReadTree, Walk and WalkJoliet.
func Open(r io.ReaderAt, size int64) (*Image, error) {
	im := &Image{r: r, size: size}
	if size < (firstDescriptorLBA+1)*SectorSize {
		return nil, formatErr("%d bytes is too small for an ISO 9660 image", size)
	}
	var bootCatalog uint32
	haveBoot := false
	for i := 0; ; i++ {
		lba := uint32(firstDescriptorLBA + i)
		if i >= maxDescriptors {
			return nil, formatErr("no volume descriptor set terminator in %d sectors", maxDescriptors)
		}
		b, err := im.read(int64(lba)*SectorSize, SectorSize)
		if err != nil {
			return nil, fmt.Errorf("iso9660: volume descriptor %d: %w", lba, err)
		}
		if string(b[vdStandardID:vdStandardID+5]) != standardID {
			return nil, formatErr("sector %d: no CD001 volume descriptor", lba)
		}
		switch b[vdType] {
		case vdTypeTerminator:
			if im.Primary == nil {
				return nil, formatErr("no primary volume descriptor")
			}
			if haveBoot {
				im.ElTorito = im.readCatalog(bootCatalog)
			}
			im.readSystemArea()
			im.detectRockRidge()
			return im, nil
		case vdTypePrimary:
			if im.Primary == nil {
				im.Primary = parseVolume(b, lba, false)
			}
		case vdTypeSupplementary:
			esc := b[vdEscapeSequences : vdEscapeSequences+3]
			if im.Joliet == nil && (bytes.Equal(esc, jolietLevel1) || bytes.Equal(esc, jolietLevel2) || bytes.Equal(esc, jolietLevel3)) {
				im.Joliet = parseVolume(b, lba, true)
			}
		case vdTypeBootRecord:
			if strings.TrimRight(string(b[brBootSystemID:brBootSystemID+32]), "\x00") == elToritoSystemID {
				bootCatalog, haveBoot = binary.LittleEndian.Uint32(b[brCatalogLBA:]), true
			}
		}
	}
}

// read returns n bytes at off, or an error when they are not all inside the image.
func (im *Image) read(off, n int64) ([]byte, error) {
	if off < 0 || n < 0 || off > im.size || n > im.size-off {
		return nil, formatErr("%d bytes at %d: beyond the end of the image (%d bytes)", n, off, im.size)
	}
	b := make([]byte, n)
	if err := im.readAt(b, off); err != nil {
		return nil, err
	}
	return b, nil
}

// readAt fills p from the image at off, or returns an error when p is not all inside it.
func (im *Image) readAt(p []byte, off int64) error {
	n := int64(len(p))
	if off < 0 || off > im.size || n > im.size-off {
		return formatErr("%d bytes at %d: beyond the end of the image (%d bytes)", n, off, im.size)
	}
	if _, err := im.r.ReadAt(p, off); err != nil && !(errors.Is(err, io.EOF) && n == 0) {
		return fmt.Errorf("iso9660: read %d bytes at %d: %w", n, off, err)
	}
	return nil
}

func parseVolume(b []byte, lba uint32, joliet bool) *Volume {
	str := func(off, n int) string {
		f := b[off : off+n]
		if joliet {
			return strings.TrimRight(decodeUCS2(f), " \x00")
		}
		return strings.TrimRight(string(f), " \x00")
	}
	v := &Volume{
		LBA:             lba,
		SystemID:        str(vdSystemID, vdSystemIDLen),
		VolumeID:        str(vdVolumeID, vdVolumeIDLen),
		VolumeSetID:     str(vdVolumeSetID, vdLongIDLen),
		Publisher:       str(vdPublisherID, vdLongIDLen),
		Preparer:        str(vdPreparerID, vdLongIDLen),
		Application:     str(vdApplicationID, vdLongIDLen),
		VolumeSpaceSize: binary.LittleEndian.Uint32(b[vdVolumeSpaceSize:]),
		BlockSize:       binary.LittleEndian.Uint16(b[vdLogicalBlockSize:]),
		PathTableSize:   binary.LittleEndian.Uint32(b[vdPathTableSize:]),
		PathTableL:      binary.LittleEndian.Uint32(b[vdPathTableL:]),
		PathTableM:      binary.BigEndian.Uint32(b[vdPathTableM:]),
		Created:         parseLongDate(b[vdCreationDate : vdCreationDate+longDateLen]),
		Modified:        parseLongDate(b[vdModificationDate : vdModificationDate+longDateLen]),
		Root: Extent{
			LBA:  binary.LittleEndian.Uint32(b[vdRootRecord+drExtentLBA:]),
			Size: binary.LittleEndian.Uint32(b[vdRootRecord+drDataLength:]),
		},
	}
	if joliet {
		v.EscapeSequences = bytes.TrimRight(b[vdEscapeSequences:vdEscapeSequences+vdEscapeSeqLen], "\x00")
	}
	return v
}

func decodeUCS2(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.BigEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u))
}

// parseLongDate reads a 17-byte volume date; the unset or malformed date is the zero Time.
func parseLongDate(b []byte) time.Time {
	n := func(i, w int) int {
		v, err := strconv.Atoi(string(b[i : i+w]))
		if err != nil {
			return -1
		}
		return v
	}
	y, mo, d, h, mi, s, cs := n(0, 4), n(4, 2), n(6, 2), n(8, 2), n(10, 2), n(12, 2), n(14, 2)
	if y <= 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || mi < 0 || s < 0 || cs < 0 {
		return time.Time{}
	}
	zone := time.FixedZone("", int(int8(b[16]))*15*60)
	return time.Date(y, time.Month(mo), d, h, mi, s, cs*1e7, zone).UTC()
}

// parseShortDate reads a 7-byte recording date.
func parseShortDate(b []byte) time.Time {
	if b[1] == 0 || b[2] == 0 {
		return time.Time{}
	}
	zone := time.FixedZone("", int(int8(b[6]))*15*60)
	return time.Date(1900+int(b[0]), time.Month(b[1]), int(b[2]), int(b[3]), int(b[4]), int(b[5]), 0, zone).UTC()
}

// readCatalog reads the El Torito catalog; a catalog that fails validation gives no entries.
func (im *Image) readCatalog(lba uint32) *ElTorito {
	et := &ElTorito{CatalogLBA: lba}
	b, err := im.read(int64(lba)*SectorSize, SectorSize)
	if err != nil {
		return et
	}
	val := b[:catalogEntryLen]
	var sum uint16
	for i := 0; i < catalogEntryLen; i += 2 {
		sum += binary.LittleEndian.Uint16(val[i:])
	}
	if val[valHeaderID] != valHeaderOne || val[valKey55] != 0x55 || val[valKeyAA] != 0xAA || sum != 0 {
		return et
	}
	et.Platform = val[valPlatform]
	et.ID = strings.TrimRight(string(val[valIDString:valIDString+valIDLen]), "\x00 ")
	entry := func(e []byte, platform byte) BootEntry {
		return BootEntry{
			Platform:    platform,
			Bootable:    e[entBootIndicator] == bootable,
			Media:       e[entMediaType],
			LoadSegment: binary.LittleEndian.Uint16(e[entLoadSegment:]),
			SystemType:  e[entSystemType],
			SectorCount: binary.LittleEndian.Uint16(e[entSectorCount:]),
			LBA:         binary.LittleEndian.Uint32(e[entLoadRBA:]),
		}
	}
	et.Entries = append(et.Entries, entry(b[catalogEntryLen:], et.Platform))
	for off := 2 * catalogEntryLen; off+catalogEntryLen <= len(b); {
		h := b[off:]
		if h[secHeaderIndicator] != sectionMore && h[secHeaderIndicator] != sectionFinal {
			break
		}
		platform := h[secPlatform]
		count := int(binary.LittleEndian.Uint16(h[secEntryCount:]))
		off += catalogEntryLen
		for i := 0; i < count && off+catalogEntryLen <= len(b); i++ {
			e := b[off:]
			off += catalogEntryLen
			if e[entBootIndicator] != bootable && e[entBootIndicator] != notBootable {
				break
			}
			et.Entries = append(et.Entries, entry(e, platform))
			// Extension entries (0x44) follow an entry whose media byte has bit 5 set.
			for e[entMediaType]&0x20 != 0 && off+catalogEntryLen <= len(b) && b[off] == 0x44 {
				e = b[off:]
				off += catalogEntryLen
			}
		}
		if h[secHeaderIndicator] == sectionFinal {
			break
		}
	}
	return et
}

// readSystemArea reads the MBR and the GPT.
func (im *Image) readSystemArea() {
	b, err := im.read(0, 2*mbrSectorSize)
	if err != nil || b[mbrBootSignature] != 0x55 || b[mbrBootSignature+1] != 0xAA {
		return
	}
	m := &MBR{
		BootLBA:       binary.LittleEndian.Uint64(b[mbrBootLBA:]),
		DiskSignature: binary.LittleEndian.Uint32(b[mbrDiskSignature:]),
	}
	for i := range m.Partitions {
		p := b[mbrPartitionTable+i*mbrPartitionLen:]
		mp := MBRPartition{
			Status:  p[mpStatus],
			Type:    p[mpType],
			Start:   binary.LittleEndian.Uint32(p[mpStartLBA:]),
			Sectors: binary.LittleEndian.Uint32(p[mpSectors:]),
		}
		copy(mp.StartCHS[:], p[mpStartCHS:])
		copy(mp.EndCHS[:], p[mpEndCHS:])
		m.Partitions[i] = mp
	}
	im.MBR = m
	hdr, crc, ok := im.readGPTHeader(1)
	if !ok {
		return
	}
	g := &GPT{Header: hdr}
	backup, backupCRC, ok := im.readGPTHeader(hdr.AlternateLBA)
	if ok && hdr.AlternateLBA != 1 {
		g.Backup = &backup
	}
	entries, err := im.read(int64(hdr.EntriesLBA)*mbrSectorSize, int64(hdr.EntryCount)*int64(hdr.EntrySize))
	if err == nil {
		g.Header.EntriesCRCValid = crc32.ChecksumIEEE(entries) == crc
		for i := 0; i < int(hdr.EntryCount); i++ {
			e := entries[i*int(hdr.EntrySize):]
			var p GPTPartition
			copy(p.Type[:], e[geType:])
			if p.Type == (GUID{}) {
				continue
			}
			copy(p.GUID[:], e[geGUID:])
			p.Index = i + 1
			p.FirstLBA = binary.LittleEndian.Uint64(e[geFirstLBA:])
			p.LastLBA = binary.LittleEndian.Uint64(e[geLastLBA:])
			p.Flags = binary.LittleEndian.Uint64(e[geFlags:])
			name := make([]uint16, geNameLen/2)
			for j := range name {
				name[j] = binary.LittleEndian.Uint16(e[geName+2*j:])
			}
			p.Name = strings.TrimRight(string(utf16.Decode(name)), "\x00")
			g.Partitions = append(g.Partitions, p)
		}
	}
	if g.Backup != nil {
		if entries, err := im.read(int64(g.Backup.EntriesLBA)*mbrSectorSize, int64(g.Backup.EntryCount)*int64(g.Backup.EntrySize)); err == nil {
			g.Backup.EntriesCRCValid = crc32.ChecksumIEEE(entries) == backupCRC
		}
	}
	im.GPT = g
}

// readGPTHeader reads a GPT header at a 512-byte LBA, and the entries' CRC it records; ok is
// false when there is none or its geometry is unusable (entry array too large or entries too
// small).
func (im *Image) readGPTHeader(lba uint64) (h GPTHeader, entriesCRC uint32, ok bool) {
	if lba > uint64(im.size)/mbrSectorSize {
		return h, 0, false
	}
	b, err := im.read(int64(lba)*mbrSectorSize, mbrSectorSize)
	if err != nil || string(b[ghSignature:ghSignature+8]) != gptSignature {
		return h, 0, false
	}
	h = GPTHeader{
		Revision:       binary.LittleEndian.Uint32(b[ghRevision:]),
		HeaderSize:     binary.LittleEndian.Uint32(b[ghHeaderSize:]),
		MyLBA:          binary.LittleEndian.Uint64(b[ghMyLBA:]),
		AlternateLBA:   binary.LittleEndian.Uint64(b[ghAlternateLBA:]),
		FirstUsableLBA: binary.LittleEndian.Uint64(b[ghFirstUsable:]),
		LastUsableLBA:  binary.LittleEndian.Uint64(b[ghLastUsable:]),
		EntriesLBA:     binary.LittleEndian.Uint64(b[ghEntriesLBA:]),
		EntryCount:     binary.LittleEndian.Uint32(b[ghEntryCount:]),
		EntrySize:      binary.LittleEndian.Uint32(b[ghEntrySize:]),
	}
	copy(h.DiskGUID[:], b[ghDiskGUID:])
	if h.HeaderSize >= gptHeaderSize && h.HeaderSize <= mbrSectorSize {
		c := append([]byte(nil), b[:h.HeaderSize]...)
		binary.LittleEndian.PutUint32(c[ghHeaderCRC:], 0)
		h.HeaderCRCValid = crc32.ChecksumIEEE(c) == binary.LittleEndian.Uint32(b[ghHeaderCRC:])
	}
	entriesCRC = binary.LittleEndian.Uint32(b[ghEntriesCRC:])
	if h.EntrySize < gptEntrySize || h.EntrySize%8 != 0 ||
		uint64(h.EntryCount)*uint64(h.EntrySize) > maxGPTEntryData || h.EntriesLBA > uint64(im.size)/mbrSectorSize {
		return h, entriesCRC, false
	}
	return h, entriesCRC, true
}

// detectRockRidge looks for the SUSP indicator in the root directory's "." record.
func (im *Image) detectRockRidge() {
	root := im.Primary.Root
	if root.Size == 0 {
		return
	}
	b, err := im.read(int64(root.LBA)*SectorSize, min(int64(root.Size), SectorSize))
	if err != nil {
		return
	}
	rec, ok := nextRecord(b, 0)
	if !ok {
		return
	}
	su := systemUse(rec)
	if len(su) >= suspSPLen && string(su[0:2]) == "SP" && su[4] == 0xBE && su[5] == 0xEF {
		im.RockRidge = true
		im.suspSkip = int(su[6])
	}
}

// nextRecord returns the directory record at off, or false at the end of the data.
func nextRecord(b []byte, off int) ([]byte, bool) {
	if off >= len(b) {
		return nil, false
	}
	n := int(b[off])
	if n < drFixedLen+1 || off+n > len(b) || drFixedLen+int(b[off+drFileIDLength]) > n {
		return nil, false
	}
	return b[off : off+n], true
}

// systemUse is the System Use field of a record.
func systemUse(rec []byte) []byte {
	off := drFixedLen + int(rec[drFileIDLength])
	if off%2 == 1 {
		off++
	}
	if off > len(rec) {
		return nil
	}
	return rec[off:]
}
