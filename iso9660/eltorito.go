package iso9660

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"path"
)

// maxBIOSBootFile bounds the BIOS boot file, which is read into memory to patch its boot info
// table (isolinux.bin is about 40 KiB; a no-emulation loader can address at most 640 KiB).
const maxBIOSBootFile = 1 << 20

// resolveBoot finds the boot entries and reads the BIOS boot file.
func (l *layout) resolveBoot(b *Boot, all []*entry) error {
	byPath := map[string]*entry{}
	for _, e := range all {
		byPath[e.path] = e
	}
	find := func(what, p string) (*entry, error) {
		e := byPath[path.Clean("/" + p)[1:]]
		if e == nil {
			return nil, fmt.Errorf("iso9660: boot %s %s: not in the image", what, p)
		}
		if e.n.kind != kindFile {
			return nil, fmt.Errorf("iso9660: boot %s %s: not a regular file", what, p)
		}
		return e, nil
	}
	var err error
	if l.catalog, err = find("catalog", b.Catalog); err != nil {
		return err
	}
	l.bootRecord = true
	if b.EFI != "" {
		if l.efi, err = find("EFI image", b.EFI); err != nil {
			return err
		}
		if l.efi.n.size == 0 {
			return fmt.Errorf("iso9660: boot EFI image %s: empty", b.EFI)
		}
	}
	if b.BIOS != "" {
		if l.bios, err = find("BIOS boot file", b.BIOS); err != nil {
			return err
		}
		if l.bios == l.efi {
			return fmt.Errorf("iso9660: boot: %s is both the BIOS boot file and the EFI image", b.BIOS)
		}
		if err := l.readBIOS(); err != nil {
			return err
		}
		if b.HybridMBR != nil && !bytes.Equal(l.bios.data[bitEnd:bitEnd+len(isolinuxHybridMagic)], isolinuxHybridMagic) {
			return fmt.Errorf("iso9660: boot BIOS boot file %s: not isohybrid-capable (no isolinux signature at byte 64)", b.BIOS)
		}
	}
	l.hybridMBR = b.HybridMBR
	return nil
}

// readBIOS reads the BIOS boot file into memory; its boot info table is patched in the copy.
func (l *layout) readBIOS() error {
	e := l.bios
	p := "/" + e.path
	if e.n.size < bitEnd+int64(len(isolinuxHybridMagic)) || e.n.size > maxBIOSBootFile {
		return fmt.Errorf("iso9660: boot BIOS boot file %s: %d bytes, want %d to %d", p, e.n.size, bitEnd+4, maxBIOSBootFile)
	}
	if e.n.read == nil { // a Writer with a streamed file lays out twice; the source is read once
		rc, err := e.n.src.Open()
		if err != nil {
			return fmt.Errorf("iso9660: %s: %w", p, err)
		}
		defer rc.Close()
		data, err := io.ReadAll(io.LimitReader(rc, e.n.size+1))
		if err != nil {
			return fmt.Errorf("iso9660: %s: %w", p, err)
		}
		if int64(len(data)) != e.n.size {
			return fmt.Errorf("iso9660: %s: source has changed size: read %d bytes, declared %d", p, len(data), e.n.size)
		}
		e.n.read = data
	}
	e.data = bytes.Clone(e.n.read) // patched with this layout's boot info table
	return nil
}

// renderBoot writes the boot catalog and the BIOS boot file's boot info table.
func (l *layout) renderBoot() error {
	if l.catalog == nil {
		return nil
	}
	cat := make([]byte, SectorSize)
	val := cat[:catalogEntryLen]
	val[valHeaderID] = valHeaderOne
	val[valPlatform] = platformX86
	if l.bios == nil {
		val[valPlatform] = platformEFI
	}
	val[valKey55], val[valKeyAA] = 0x55, 0xAA
	binary.LittleEndian.PutUint16(val[valChecksum:], catalogChecksum(val))

	next := cat[catalogEntryLen:]
	if l.bios != nil {
		putBootEntry(next, biosLoadSectors, l.bios.dataLBA)
		next = next[catalogEntryLen:]
		l.patchBootInfoTable()
	}
	if l.efi != nil {
		count := efiLoadSectors(l.efi.n.size)
		if l.bios != nil {
			next[secHeaderIndicator] = sectionFinal
			next[secPlatform] = platformEFI
			binary.LittleEndian.PutUint16(next[secEntryCount:], 1)
			next = next[catalogEntryLen:]
		}
		putBootEntry(next, count, l.efi.dataLBA)
	}
	l.catalog.data = cat
	return nil
}

// efiLoadSectors is the sector count of the EFI entry: the image's size in 512-byte sectors, or
// 0 when that does not fit in 16 bits (firmware then loads the whole image, as with xorriso).
func efiLoadSectors(size int64) uint16 {
	n := (size + virtualSectorSize - 1) / virtualSectorSize
	if n > 0xFFFF {
		return 0
	}
	return uint16(n)
}

func putBootEntry(b []byte, sectors uint16, lba uint32) {
	b[entBootIndicator] = bootable
	b[entMediaType] = mediaNoEmulation
	binary.LittleEndian.PutUint16(b[entSectorCount:], sectors)
	binary.LittleEndian.PutUint32(b[entLoadRBA:], lba)
}

// catalogChecksum is the word that makes the validation entry's 16-bit words sum to zero.
func catalogChecksum(val []byte) uint16 {
	var sum uint16
	for i := 0; i < catalogEntryLen; i += 2 {
		if i == valChecksum {
			continue
		}
		sum += binary.LittleEndian.Uint16(val[i:])
	}
	return -sum
}

// patchBootInfoTable fills bytes 8-63 of the in-memory copy of the BIOS boot file.
func (l *layout) patchBootInfoTable() {
	b := l.bios.data
	clear(b[bitPVDLBA:bitEnd])
	binary.LittleEndian.PutUint32(b[bitPVDLBA:], firstDescriptorLBA)
	binary.LittleEndian.PutUint32(b[bitFileLBA:], l.bios.dataLBA)
	binary.LittleEndian.PutUint32(b[bitFileLen:], uint32(len(b)))
	binary.LittleEndian.PutUint32(b[bitChecksum:], bootInfoChecksum(b))
}

// bootInfoChecksum sums the file's little-endian 32-bit words from byte 64 on; a short last
// word counts as if padded with zeros.
func bootInfoChecksum(b []byte) uint32 {
	var sum uint32
	for i := bitChecksumFrom; i < len(b); i += 4 {
		var w [4]byte
		copy(w[:], b[i:])
		sum += binary.LittleEndian.Uint32(w[:])
	}
	return sum
}
