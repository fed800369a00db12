package iso9660

import (
	"crypto/sha256"
	"encoding/binary"
	"hash/crc32"
	"unicode/utf16"
)

// The isohybrid system area, as xorriso writes it for "-isohybrid-mbr isohdpfx.bin
// -isohybrid-gpt-basdat" (libisofs doc/boot_sectors.txt, "SYSLINUX isohybrid for MBR, UEFI and
// x86-Mac"):
//
//   - MBR bytes 0-431: isohdpfx.bin's boot code, which loads the BIOS boot file from the 512-byte
//     LBA stored at byte 432;
//   - partition 1: active, type 0x00 (0x17 without a GPT), from sector 0 over the whole image.
//     Type 0x00 makes UEFI firmware skip it, so that partition 2 may lie inside it;
//   - partition 2: type 0xEF over the EFI image, which UEFI firmware boots from a USB disk;
//   - a GPT at LBA 1 with its 248 entries in LBAs 2-63: "ISOHybrid" (Basic Data) from sector 0 over
//     the ISO, "ISOHybrid1" (Basic Data) over the EFI image, and its backup in the image's last
//     63 sectors. The MBR has no protective 0xEE entry, so this GPT is for firmware and tools
//     that look for it (Macs); UEFI PCs boot through partition 2.
//
// The image is padded to a whole number of cylinders. Where xorriso's choices are arbitrary the
// Writer makes its own, deterministic ones: the disk signature and the GUIDs come from the seed
// (Options.GUIDSeed) through SHA-256.

// geometry is the pseudo disk geometry of the MBR's CHS addresses.
type geometry struct {
	heads, sectors int64
}

// hybridGeometry returns the geometry for an image of blocks ISO sectors and the image's size
// padded to whole cylinders, as libisofs' iso_align_isohybrid computes them: 64 heads and 32
// sectors while that covers the image in 1024 cylinders; otherwise more heads, and 63 sectors
// per head when 255 heads of 32 do not suffice. An image too large for 1024 cylinders is not
// padded.
func hybridGeometry(blocks int64) (geometry, int64) {
	g := geometry{heads: hybridHeads, sectors: hybridSectors}
	imgSize := blocks * SectorSize
	if g.heads*g.sectors*maxCylinders*mbrSectorSize < imgSize {
		if h, ok := headsFor(imgSize, 32); ok {
			g = geometry{heads: h, sectors: 32}
		} else if h, ok := headsFor(imgSize, 63); ok {
			g = geometry{heads: h, sectors: 63}
		} else {
			g = geometry{heads: 255, sectors: 63}
		}
	}
	cyl := g.heads * g.sectors * mbrSectorSize
	if imgSize > cyl*maxCylinders {
		return g, blocks
	}
	padded := (imgSize + cyl - 1) / cyl * cyl
	if (padded-imgSize)%SectorSize != 0 {
		return g, blocks
	}
	return g, padded / SectorSize
}

// headsFor is libisofs' try_sph: the fewest heads (at most 255) with which 1024 cylinders of
// sectors-per-head sectors cover size bytes, with heads × sectors a multiple of 4.
func headsFor(size, sectors int64) (int64, bool) {
	hd := size / mbrSectorSize
	h := hd / sectors / maxCylinders
	if h*sectors*maxCylinders < hd {
		h++
	}
	switch {
	case sectors%4 == 0:
	case sectors%2 == 0:
		h += h % 2
	case h%4 != 0:
		h += 4 - h%4
	}
	return h, h <= 255
}

// chs is an LBA as a CHS address in MBR form (syslinux's LBA_to_CHS): head, sector with the
// cylinder's bits 8-9, cylinder bits 0-7; beyond cylinder 1023 the maximum address.
func (g geometry) chs(lba int64) [3]byte {
	s := lba%g.sectors + 1
	t := lba / g.sectors
	h := t % g.heads
	c := t / g.heads
	if c >= maxCylinders {
		c, h, s = maxCylinders-1, g.heads, g.sectors
	}
	return [3]byte{byte(h), byte(s) | byte((c&0x300)>>2), byte(c)}
}

// chsBeyond is the CHS address 1023/254/63 that isohybrid writes for the EFI partition.
var chsBeyond = [3]byte{0xfe, 0xff, 0xff}

// renderSystemArea writes the MBR and the GPT into sectors 0-15, and the backup GPT.
func (l *layout) renderSystemArea() {
	l.sys = make([]byte, systemAreaSize)
	if l.hybridMBR == nil {
		return
	}
	seed := l.seed()
	mbr := l.sys[:mbrSize]
	copy(mbr, l.hybridMBR[:mbrCodeLen])
	binary.LittleEndian.PutUint64(mbr[mbrBootLBA:], uint64(l.bios.dataLBA)*4)
	binary.LittleEndian.PutUint32(mbr[mbrDiskSignature:], binary.LittleEndian.Uint32(derive(seed, "mbr disk signature")))

	total := int64(l.totalSectors) * 4 // in 512-byte sectors
	p1 := mbr[mbrPartitionTable:]
	p1[mpStatus] = mbrActive
	start, end := l.geometry.chs(0), l.geometry.chs(total-1)
	copy(p1[mpStartCHS:], start[:])
	copy(p1[mpEndCHS:], end[:])
	p1[mpType] = mbrTypeHidden
	binary.LittleEndian.PutUint32(p1[mpStartLBA:], 0)
	// An MBR counts 32-bit sectors: beyond 2 TiB it says "to the end" with the largest count, as
	// libisofs does; the GPT has the exact figures.
	binary.LittleEndian.PutUint32(p1[mpSectors:], uint32(min(total, 0xFFFFFFFF)))
	mbr[mbrBootSignature], mbr[mbrBootSignature+1] = 0x55, 0xAA
	if !l.gpt {
		return
	}
	p1[mpType] = mbrTypeEmpty
	efiStart := int64(l.efi.dataLBA) * 4
	efiSectors := (l.efi.n.size + mbrSectorSize - 1) / mbrSectorSize
	p2 := mbr[mbrPartitionTable+mbrPartitionLen:]
	copy(p2[mpStartCHS:], chsBeyond[:])
	p2[mpType] = mbrTypeEFI
	copy(p2[mpEndCHS:], chsBeyond[:])
	binary.LittleEndian.PutUint32(p2[mpStartLBA:], uint32(min(efiStart, 0xFFFFFFFF)))
	binary.LittleEndian.PutUint32(p2[mpSectors:], uint32(min(efiSectors, 0xFFFFFFFF)))

	// The GPT.
	entries := l.sys[gptEntriesLBA*mbrSectorSize : gptFirstUsableLBA*mbrSectorSize]
	isoEnd := (int64(l.totalSectors)-gptBackupBlocks)*4 - 1
	putGPTEntry(entries[0:], gptBasicData, guid(seed, "gpt partition 1"), 0, isoEnd, "ISOHybrid")
	putGPTEntry(entries[gptEntrySize:], gptBasicData, guid(seed, "gpt partition 2"), efiStart, efiStart+efiSectors-1, "ISOHybrid1")
	backupHeader := total - 1
	backupEntries := backupHeader - gptEntriesSectors
	hdr := l.sys[mbrSectorSize : 2*mbrSectorSize]
	putGPTHeader(hdr, 1, backupHeader, gptEntriesLBA, backupEntries-1, guid(seed, "gpt disk"), entries)

	// The backup: the entries, then the header with the two locations swapped, at the end.
	l.tail = make([]byte, gptBackupBlocks*SectorSize)
	tailStart := total - gptBackupBlocks*4
	copy(l.tail[(backupEntries-tailStart)*mbrSectorSize:], entries)
	putGPTHeader(l.tail[(backupHeader-tailStart)*mbrSectorSize:], backupHeader, 1, backupEntries,
		backupEntries-1, guid(seed, "gpt disk"), entries)
}

func putGPTEntry(b []byte, typ, id [16]byte, first, last int64, name string) {
	copy(b[geType:], typ[:])
	copy(b[geGUID:], id[:])
	binary.LittleEndian.PutUint64(b[geFirstLBA:], uint64(first))
	binary.LittleEndian.PutUint64(b[geLastLBA:], uint64(last))
	binary.LittleEndian.PutUint64(b[geFlags:], gptHybridFlags)
	for i, c := range utf16.Encode([]rune(name)) {
		binary.LittleEndian.PutUint16(b[geName+2*i:], c)
	}
}

func putGPTHeader(b []byte, my, alternate, entriesLBA, lastUsable int64, disk [16]byte, entries []byte) {
	copy(b[ghSignature:], gptSignature)
	binary.LittleEndian.PutUint32(b[ghRevision:], gptRevision)
	binary.LittleEndian.PutUint32(b[ghHeaderSize:], gptHeaderSize)
	binary.LittleEndian.PutUint64(b[ghMyLBA:], uint64(my))
	binary.LittleEndian.PutUint64(b[ghAlternateLBA:], uint64(alternate))
	binary.LittleEndian.PutUint64(b[ghFirstUsable:], gptFirstUsableLBA)
	binary.LittleEndian.PutUint64(b[ghLastUsable:], uint64(lastUsable))
	copy(b[ghDiskGUID:], disk[:])
	binary.LittleEndian.PutUint64(b[ghEntriesLBA:], uint64(entriesLBA))
	binary.LittleEndian.PutUint32(b[ghEntryCount:], gptEntries)
	binary.LittleEndian.PutUint32(b[ghEntrySize:], gptEntrySize)
	binary.LittleEndian.PutUint32(b[ghEntriesCRC:], crc32.ChecksumIEEE(entries))
	binary.LittleEndian.PutUint32(b[ghHeaderCRC:], 0)
	binary.LittleEndian.PutUint32(b[ghHeaderCRC:], crc32.ChecksumIEEE(b[:gptHeaderSize]))
}

// derive hashes the seed for one purpose.
func derive(seed []byte, purpose string) []byte {
	h := sha256.New()
	h.Write([]byte("gonixiso iso9660 " + purpose + "\x00"))
	h.Write(seed)
	return h.Sum(nil)
}

// guid derives an RFC 9562 version 8 (custom) UUID from the seed and returns it in GPT's
// mixed-endian byte order.
func guid(seed []byte, purpose string) [16]byte {
	var u [16]byte
	copy(u[:], derive(seed, purpose))
	u[6] = u[6]&0x0f | 0x80 // version 8
	u[8] = u[8]&0x3f | 0x80 // RFC 9562 variant
	u[0], u[1], u[2], u[3] = u[3], u[2], u[1], u[0]
	u[4], u[5] = u[5], u[4]
	u[6], u[7] = u[7], u[6]
	return u
}
