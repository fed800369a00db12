package liveiso

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/gonixiso/gonixiso/boot"
	"github.com/gonixiso/gonixiso/boot/fat"
	"github.com/gonixiso/gonixiso/closure"
	"github.com/gonixiso/gonixiso/iso9660"
	"github.com/gonixiso/gonixiso/squash"
)

// Where a NixOS ISO keeps what inspect, diff and manifest read: boot's table of the live ISO's
// layout.
const (
	SquashFSPath     = boot.SquashFSPath
	RegistrationName = boot.RegistrationName
	StoreDir         = boot.StoreDir
	IsolinuxConfig   = boot.IsolinuxConfigPath
	GrubConfig       = boot.GrubConfigPath
	LoopbackConfig   = boot.LoopbackConfigPath
)

// maxConfigSize bounds the boot configuration files read into memory: a NixOS menu is a few
// tens of kilobytes.
const maxConfigSize = 16 << 20

// Inspection describes an ISO image: what `gonixiso inspect` prints, and with --json, this
// structure as it is. Its JSON form is a stable schema: fields are added, never renamed.
type Inspection struct {
	File string `json:"file"`
	Size int64  `json:"size"` // bytes
	// Primary is the primary volume descriptor; Joliet the Joliet one, if any.
	Primary   VolumeInfo  `json:"primary"`
	Joliet    *VolumeInfo `json:"joliet,omitempty"`
	RockRidge bool        `json:"rock_ridge"`
	// ElTorito is the boot catalog, MBR and GPT the tables of the system area (isohybrid).
	ElTorito *ElToritoInfo `json:"el_torito,omitempty"`
	MBR      *MBRInfo      `json:"mbr,omitempty"`
	GPT      *GPTInfo      `json:"gpt,omitempty"`
	// Boot holds the menus and the EFI system partition image.
	Boot BootInfo `json:"boot"`
	// SquashFS is the store's image, nil when the ISO has no SquashFSPath.
	SquashFS *SquashFSInfo `json:"squashfs,omitempty"`
	// StorePaths are the SquashFS root's entries but the registration, sorted by name.
	StorePaths []StorePathInfo `json:"store_paths"`
}

// VolumeInfo is a volume descriptor's identifying fields.
type VolumeInfo struct {
	SystemID    string    `json:"system_id"`
	VolumeID    string    `json:"volume_id"`
	VolumeSetID string    `json:"volume_set_id"`
	Publisher   string    `json:"publisher"`
	Preparer    string    `json:"preparer"`
	Application string    `json:"application"`
	Created     time.Time `json:"created"`
	Modified    time.Time `json:"modified"`
	Sectors     uint32    `json:"sectors"` // volume space size, in BlockSize units
	BlockSize   uint16    `json:"block_size"`
}

// ElToritoInfo is the El Torito boot catalog.
type ElToritoInfo struct {
	CatalogLBA  uint32          `json:"catalog_lba"`
	CatalogPath string          `json:"catalog_path,omitempty"` // the ISO file that shows the catalog
	ID          string          `json:"id,omitempty"`           // the validation entry's manufacturer id
	Entries     []BootEntryInfo `json:"entries"`
}

// BootEntryInfo is a boot image of the catalog.
type BootEntryInfo struct {
	Platform    string `json:"platform"` // "BIOS", "UEFI", "PowerPC", "Mac" or the id in hex
	PlatformID  byte   `json:"platform_id"`
	Bootable    bool   `json:"bootable"`
	Emulation   string `json:"emulation"` // "none", "1.2M floppy", "1.44M floppy", "2.88M floppy", "hard disk"
	LoadSegment uint16 `json:"load_segment"`
	SystemType  byte   `json:"system_type"`
	LoadSectors uint16 `json:"load_sectors"` // 512-byte sectors the firmware loads
	LBA         uint32 `json:"lba"`
	Path        string `json:"path,omitempty"` // the ISO file at LBA
}

// MBRInfo is the master boot record of an isohybrid image.
type MBRInfo struct {
	BootLBA       uint64             `json:"boot_lba"` // where isohybrid's code finds the BIOS boot file, in 512-byte sectors
	DiskSignature uint32             `json:"disk_signature"`
	Partitions    []MBRPartitionInfo `json:"partitions"` // the used entries
}

// MBRPartitionInfo is a used entry of the MBR's partition table.
type MBRPartitionInfo struct {
	Index    int    `json:"index"` // 1 to 4
	Bootable bool   `json:"bootable"`
	Type     byte   `json:"type"`
	TypeName string `json:"type_name,omitempty"`
	Start    uint32 `json:"start"` // 512-byte sectors
	Sectors  uint32 `json:"sectors"`
	Path     string `json:"path,omitempty"` // the ISO file the partition is, if any
}

// GPTInfo is a GUID partition table.
type GPTInfo struct {
	DiskGUID        string             `json:"disk_guid"`
	FirstUsableLBA  uint64             `json:"first_usable_lba"`
	LastUsableLBA   uint64             `json:"last_usable_lba"`
	AlternateLBA    uint64             `json:"alternate_lba"`
	EntryCount      uint32             `json:"entry_count"`
	HeaderCRCValid  bool               `json:"header_crc_valid"`
	EntriesCRCValid bool               `json:"entries_crc_valid"`
	Backup          bool               `json:"backup"` // a backup header is at AlternateLBA
	Partitions      []GPTPartitionInfo `json:"partitions"`
}

// GPTPartitionInfo is a used GPT entry.
type GPTPartitionInfo struct {
	Index    int    `json:"index"`
	Type     string `json:"type"`
	TypeName string `json:"type_name,omitempty"`
	GUID     string `json:"guid"`
	FirstLBA uint64 `json:"first_lba"` // 512-byte sectors
	LastLBA  uint64 `json:"last_lba"`  // inclusive
	Flags    uint64 `json:"flags"`
	Name     string `json:"name"`
	Path     string `json:"path,omitempty"` // the ISO file the partition is, if any
}

// BootInfo is what the firmware and the bootloaders read.
type BootInfo struct {
	// Isolinux and Grub are the entries of IsolinuxConfig and GrubConfig, in file order; nil
	// when the image has no such file.
	Isolinux []MenuEntry `json:"isolinux"`
	Grub     []MenuEntry `json:"grub"`
	// EFIImage is the El Torito UEFI boot image: the EFI system partition.
	EFIImage *EFIImageInfo `json:"efi_image,omitempty"`
}

// MenuEntry is a boot menu entry, as boot's parsers read it.
type MenuEntry = boot.MenuEntry

// EFIImageInfo describes the EFI system partition image.
type EFIImageInfo struct {
	Path     string         `json:"path"`
	Size     int64          `json:"size"`
	FAT      string         `json:"fat,omitempty"` // "FAT12" or "FAT16"
	Label    string         `json:"label,omitempty"`
	VolumeID string         `json:"volume_id,omitempty"` // as blkid shows it, XXXX-XXXX
	OEMName  string         `json:"oem_name,omitempty"`
	Files    []EFIImageFile `json:"files,omitempty"`
	// Error says why the image could not be read as FAT (the rest of the image is still described).
	Error string `json:"error,omitempty"`
}

// EFIImageFile is a regular file of the EFI system partition.
type EFIImageFile struct {
	Path string `json:"path"`
	Size int64  `json:"size"`
}

// SquashFSInfo describes the store's SquashFS. Its Compression is the compressor ("zstd", "xz",
// ...), or "none" when the flags say nothing is compressed (mksquashfs -no-compression, for
// isoImage.squashfsCompression = null).
type SquashFSInfo struct {
	Path        string `json:"path"` // in the ISO
	Size        int64  `json:"size"` // of the ISO file
	Compression string `json:"compression"`
	// Options are the compressor options: stored in the image, or the defaults (none for none).
	Options     CompressorInfo `json:"options"`
	BlockSize   int            `json:"block_size"`
	Inodes      uint32         `json:"inodes"`
	Fragments   uint32         `json:"fragments"` // fragment blocks
	Flags       []string       `json:"flags"`
	BytesUsed   int64          `json:"bytes_used"`
	ModTime     time.Time      `json:"mod_time"`
	Files       int            `json:"files"` // regular files
	Directories int            `json:"directories"`
	Symlinks    int            `json:"symlinks"`
	FileBytes   int64          `json:"file_bytes"` // the sum of the regular files' sizes
	// Ratio is FileBytes / BytesUsed: how many bytes of files each byte of the image holds.
	Ratio float64 `json:"ratio"`
	// Registered tells that the image has a RegistrationName file.
	Registered bool `json:"registered"`
	// Costs says where the SquashFS's bytes go: the store paths' costs (StorePathInfo.Cost)
	// and the image-wide parts, adding up to Size, and how exact the apportioning is.
	Costs *CostInfo `json:"costs,omitempty"`
}

// CompressorInfo are a SquashFS's compressor options, those of its compressor only.
type CompressorInfo struct {
	// Stored tells that the image stores them; otherwise they are the defaults mksquashfs and
	// the kernel assume.
	Stored         bool     `json:"stored"`
	Level          int      `json:"level,omitempty"`           // zstd, gzip, lzo
	GzipWindow     int      `json:"gzip_window,omitempty"`     // bits
	GzipStrategies uint16   `json:"gzip_strategies,omitempty"` // flags
	XZDictSize     int      `json:"xz_dict_size,omitempty"`
	XZFilters      []string `json:"xz_filters,omitempty"` // BCJ filters: "x86", "arm", ...
	LZ4Version     uint32   `json:"lz4_version,omitempty"`
	LZ4HC          bool     `json:"lz4_hc,omitempty"`
	LZOAlgorithm   string   `json:"lzo_algorithm,omitempty"` // "lzo1x_999", "lzo1x_1", ...
}

// compressorInfo copies the options squash read: those of the image's compressor only.
func compressorInfo(o squash.CompressorOptions) CompressorInfo {
	return CompressorInfo{Stored: o.Stored, Level: o.Level, GzipWindow: o.GzipWindow, GzipStrategies: o.GzipStrategies,
		XZDictSize: o.XZDictSize, XZFilters: o.XZFilters, LZ4Version: o.LZ4Version, LZ4HC: o.LZ4HC,
		LZOAlgorithm: o.LZOAlgorithm}
}

// String says the options as mksquashfs's -X options would: "level 19", "dict 1048576 bcj x86";
// "" for none.
func (c CompressorInfo) String() string {
	var parts []string
	if c.Level != 0 {
		parts = append(parts, fmt.Sprintf("level %d", c.Level))
	}
	if c.GzipWindow != 0 {
		parts = append(parts, fmt.Sprintf("window %d", c.GzipWindow))
	}
	if c.GzipStrategies != 0 {
		parts = append(parts, fmt.Sprintf("strategies %#x", c.GzipStrategies))
	}
	if c.XZDictSize != 0 {
		parts = append(parts, fmt.Sprintf("dict %d", c.XZDictSize))
	}
	if len(c.XZFilters) > 0 {
		parts = append(parts, "bcj "+strings.Join(c.XZFilters, ","))
	}
	if c.LZ4Version != 0 {
		parts = append(parts, fmt.Sprintf("version %d", c.LZ4Version))
	}
	if c.LZ4HC {
		parts = append(parts, "hc")
	}
	if c.LZOAlgorithm != "" {
		parts = append(parts, c.LZOAlgorithm)
	}
	if !c.Stored && len(parts) > 0 { // none: a SquashFS of no compression has no options
		parts = append(parts, "(defaults)")
	}
	return strings.Join(parts, " ")
}

// StorePathInfo is a store path in the SquashFS.
type StorePathInfo struct {
	Path string `json:"path"` // under StoreDir
	// Size is the bytes of its regular files; Files counts them (a store path that is a file
	// counts as one).
	Size  int64 `json:"size"`
	Files int   `json:"files"`
	// Stored is the bytes of the data blocks it owns on disk, compressed: data shared with a
	// file met earlier (deduplicated contents) counts there. Tails is the bytes of its files'
	// tails packed, uncompressed, into fragment blocks shared with other files.
	Stored int64 `json:"stored"`
	Tails  int64 `json:"tails"`
	// NarHash, NarSize and References come from the registration ("" and nil when the path
	// is not registered).
	NarHash    string   `json:"nar_hash,omitempty"`
	NarSize    uint64   `json:"nar_size,omitempty"`
	References []string `json:"references,omitempty"`
	// Cost is the bytes of the SquashFS the store path takes (CostInfo says how they are
	// apportioned): CostData, its files' data blocks as stored; CostFragments, its share of
	// the fragment blocks its tails are in; CostMetadata, its share of the inode and directory
	// tables. Duplicates counts its files whose contents another store path holds, and pays for.
	Cost          int64 `json:"cost"`
	CostData      int64 `json:"cost_data"`
	CostFragments int64 `json:"cost_fragments"`
	CostMetadata  int64 `json:"cost_metadata"`
	Duplicates    int   `json:"duplicates"`
}

// Inspect reads the ISO image at name and describes it: volume descriptors, El Torito catalog,
// MBR and GPT, boot menus and EFI image, the SquashFS's superblock and ratio, and every store
// path with its sizes, its cost in the SquashFS (CostInfo) and its registration. It reads
// metadata, not file contents (but the menus and
// the registration), so it takes about as long on a 2 GB image as on a small one with as many
// files. It reads ISOs that xorriso and mksquashfs made as well as gonixiso's.
func Inspect(ctx context.Context, name string, limits ...Limits) (*Inspection, error) {
	im, err := openImage(name)
	if err != nil {
		return nil, err
	}
	defer im.Close()
	im.limit(limits)
	ins := &Inspection{
		File:      name,
		Size:      im.size,
		Primary:   volumeInfo(im.img.Primary),
		RockRidge: im.img.RockRidge,
		ElTorito:  im.elToritoInfo(),
		MBR:       im.mbrInfo(),
		GPT:       im.gptInfo(),
	}
	if im.img.Joliet != nil {
		v := volumeInfo(im.img.Joliet)
		ins.Joliet = &v
	}
	if ins.Boot.Isolinux, err = im.menu(IsolinuxConfig, boot.ParseIsolinux); err != nil {
		return nil, err
	}
	if ins.Boot.Grub, err = im.menu(GrubConfig, boot.ParseGrub); err != nil {
		return nil, err
	}
	ins.Boot.EFIImage = im.efiImageInfo()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if im.sq == nil {
		return ins, nil
	}
	st, err := readStore(im.sq)
	if err != nil {
		return nil, im.sqErr(err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if ins.SquashFS, ins.StorePaths, err = im.squashInfo(st); err != nil {
		return nil, im.sqErr(err)
	}
	return ins, nil
}

// isoImage is an opened ISO file: its descriptors and tables, its tree, and the SquashFS in it.
type isoImage struct {
	name string
	file *os.File
	size int64
	img  *iso9660.Image
	tree *iso9660.Tree  // as the kernel mounts it: Rock Ridge, else Joliet, else ISO 9660 names
	sq   *squash.Reader // nil without SquashFSPath
}

// openImage opens the ISO at name and reads its tree; errors name the file.
func openImage(name string) (*isoImage, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() && fi.Mode()&fs.ModeDevice == 0 {
		f.Close()
		return nil, fmt.Errorf("%s: not a file", name)
	}
	size := fi.Size()
	if fi.Mode()&fs.ModeDevice != 0 {
		if size, err = f.Seek(0, io.SeekEnd); err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	im := &isoImage{name: name, file: f, size: size}
	if im.img, err = iso9660.Open(f, size); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if im.tree, err = im.img.ReadTree(); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if e := im.tree.Lookup(SquashFSPath); e != nil && e.Mode.IsRegular() {
		ra, err := im.section(e)
		if err == nil {
			im.sq, err = squash.NewReader(ra, e.Size)
		}
		if err != nil {
			f.Close()
			return nil, im.sqErr(err)
		}
	}
	return im, nil
}

func (im *isoImage) Close() error { return im.file.Close() }

// dataKey identifies the data of a regular file of the tree: hard links share it.
func (im *isoImage) dataKey(e *iso9660.Entry) string {
	return fmt.Sprintf("iso %p", im.tree.Link(e))
}

// sqErr names the image and its SquashFS in err.
func (im *isoImage) sqErr(err error) error {
	return fmt.Errorf("%s: %s: %w", im.name, SquashFSPath, err)
}

// section returns the data of the regular file e; errors name the image.
func (im *isoImage) section(e *iso9660.Entry) (*iso9660.File, error) {
	f, err := im.img.Open(e)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", im.name, err)
	}
	return f, nil
}

// readFile reads the regular file p of the ISO tree, at most limit bytes; ok is false when the
// tree has no regular file p.
func (im *isoImage) readFile(p string, limit int64) (data []byte, ok bool, err error) {
	e := im.tree.Lookup(p)
	if e == nil || !e.Mode.IsRegular() {
		return nil, false, nil
	}
	if e.Size > limit {
		return nil, true, fmt.Errorf("%s: %s: %d bytes, more than the %d expected", im.name, p, e.Size, limit)
	}
	f, err := im.section(e)
	if err != nil {
		return nil, true, err
	}
	data = make([]byte, e.Size)
	if _, err := io.ReadFull(f, data); err != nil {
		return nil, true, fmt.Errorf("%s: %s: %w", im.name, p, err)
	}
	return data, true, nil
}

func volumeInfo(v *iso9660.Volume) VolumeInfo {
	return VolumeInfo{
		SystemID: v.SystemID, VolumeID: v.VolumeID, VolumeSetID: v.VolumeSetID, Publisher: v.Publisher,
		Preparer: v.Preparer, Application: v.Application, Created: v.Created, Modified: v.Modified,
		Sectors: v.VolumeSpaceSize, BlockSize: v.BlockSize,
	}
}

// El Torito platform ids and media types, as the specification numbers them.
const (
	platformX86     = 0x00
	platformPowerPC = 0x01
	platformMac     = 0x02
	platformEFI     = 0xEF
)

func platformName(p byte) string {
	switch p {
	case platformX86:
		return "BIOS"
	case platformPowerPC:
		return "PowerPC"
	case platformMac:
		return "Mac"
	case platformEFI:
		return "UEFI"
	}
	return fmt.Sprintf("%#02x", p)
}

func emulationName(media byte) string {
	switch media & 0x0F {
	case 0:
		return "none"
	case 1:
		return "1.2M floppy"
	case 2:
		return "1.44M floppy"
	case 3:
		return "2.88M floppy"
	case 4:
		return "hard disk"
	}
	return fmt.Sprintf("%#02x", media&0x0F)
}

func (im *isoImage) elToritoInfo() *ElToritoInfo {
	et := im.img.ElTorito
	if et == nil {
		return nil
	}
	info := &ElToritoInfo{CatalogLBA: et.CatalogLBA, ID: et.ID, Entries: []BootEntryInfo{}}
	if e := im.tree.FileAt(et.CatalogLBA); e != nil {
		info.CatalogPath = e.Path
	}
	for _, b := range et.Entries {
		bi := BootEntryInfo{
			Platform: platformName(b.Platform), PlatformID: b.Platform, Bootable: b.Bootable,
			Emulation: emulationName(b.Media), LoadSegment: b.LoadSegment, SystemType: b.SystemType,
			LoadSectors: b.SectorCount, LBA: b.LBA,
		}
		if e := im.tree.FileAt(b.LBA); e != nil {
			bi.Path = e.Path
		}
		info.Entries = append(info.Entries, bi)
	}
	return info
}

// fileAtSector names the regular file whose data starts at the 512-byte sector s, if any.
func (im *isoImage) fileAtSector(s uint64) string {
	const perSector = iso9660.SectorSize / 512
	if s%perSector != 0 || s/perSector > 1<<32-1 {
		return ""
	}
	if e := im.tree.FileAt(uint32(s / perSector)); e != nil {
		return e.Path
	}
	return ""
}

func mbrTypeName(t byte) string {
	switch t {
	case 0x00:
		return "empty"
	case 0x0B:
		return "FAT32"
	case 0x0C:
		return "FAT32 LBA"
	case 0x0E:
		return "FAT16 LBA"
	case 0x17:
		return "hidden NTFS/HPFS"
	case 0x83:
		return "Linux"
	case 0xCD:
		return "ISO 9660"
	case 0xEE:
		return "GPT protective"
	case 0xEF:
		return "EFI system"
	}
	return ""
}

func (im *isoImage) mbrInfo() *MBRInfo {
	m := im.img.MBR
	if m == nil {
		return nil
	}
	info := &MBRInfo{BootLBA: m.BootLBA, DiskSignature: m.DiskSignature, Partitions: []MBRPartitionInfo{}}
	for i, p := range m.Partitions {
		if p.Type == 0 && p.Sectors == 0 && p.Start == 0 {
			continue
		}
		info.Partitions = append(info.Partitions, MBRPartitionInfo{
			Index: i + 1, Bootable: p.Status == 0x80, Type: p.Type, TypeName: mbrTypeName(p.Type),
			Start: p.Start, Sectors: p.Sectors, Path: im.fileAtSector(uint64(p.Start)),
		})
	}
	return info
}

// gptTypeNames names the partition types an ISO's GPT holds.
var gptTypeNames = map[string]string{
	"C12A7328-F81F-11D2-BA4B-00A0C93EC93B": "EFI system",
	"EBD0A0A2-B9E5-4433-87C0-68B6B72699C7": "basic data",
	"0FC63DAF-8483-4772-8E79-3D69D8477DE4": "Linux filesystem",
	"48465300-0000-11AA-AA11-00306543ECAC": "HFS+",
	"21686148-6449-6E6F-744E-656564454649": "BIOS boot",
}

func (im *isoImage) gptInfo() *GPTInfo {
	g := im.img.GPT
	if g == nil {
		return nil
	}
	h := g.Header
	info := &GPTInfo{
		DiskGUID: h.DiskGUID.String(), FirstUsableLBA: h.FirstUsableLBA, LastUsableLBA: h.LastUsableLBA,
		AlternateLBA: h.AlternateLBA, EntryCount: h.EntryCount, HeaderCRCValid: h.HeaderCRCValid,
		EntriesCRCValid: h.EntriesCRCValid, Backup: g.Backup != nil, Partitions: []GPTPartitionInfo{},
	}
	for _, p := range g.Partitions {
		t := p.Type.String()
		info.Partitions = append(info.Partitions, GPTPartitionInfo{
			Index: p.Index, Type: t, TypeName: gptTypeNames[t], GUID: p.GUID.String(), FirstLBA: p.FirstLBA,
			LastLBA: p.LastLBA, Flags: p.Flags, Name: p.Name, Path: im.fileAtSector(p.FirstLBA),
		})
	}
	return info
}

// menu reads and parses a boot menu of the tree; nil when the image has none.
func (im *isoImage) menu(p string, parse func([]byte) []MenuEntry) ([]MenuEntry, error) {
	data, ok, err := im.readFile(p, maxConfigSize)
	if !ok || err != nil {
		return nil, err
	}
	return parse(data), nil
}

// efiImage returns the ISO file that is the El Torito UEFI boot image, or nil.
func (im *isoImage) efiImage() *iso9660.Entry {
	if im.img.ElTorito == nil {
		return nil
	}
	for _, b := range im.img.ElTorito.Entries {
		if b.Platform == platformEFI {
			return im.tree.FileAt(b.LBA)
		}
	}
	return nil
}

// openFAT opens the EFI image as a FAT volume.
func (im *isoImage) openFAT(e *iso9660.Entry) (*fat.Reader, error) {
	ra, err := im.section(e)
	if err != nil {
		return nil, err
	}
	return fat.NewReader(ra, e.Size)
}

func (im *isoImage) efiImageInfo() *EFIImageInfo {
	e := im.efiImage()
	if e == nil {
		return nil
	}
	info := &EFIImageInfo{Path: e.Path, Size: e.Size}
	fr, err := im.openFAT(e)
	if err == nil {
		info.FAT = "FAT12"
		if fr.FAT16 {
			info.FAT = "FAT16"
		}
		info.Label, info.OEMName = fr.Label, fr.OEMName
		info.VolumeID = fmt.Sprintf("%04X-%04X", fr.VolumeID>>16, fr.VolumeID&0xFFFF)
		err = fs.WalkDir(fr, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return err
			}
			fi, err := d.Info()
			if err != nil {
				return err
			}
			info.Files = append(info.Files, EFIImageFile{Path: "/" + p, Size: fi.Size()})
			return nil
		})
	}
	if err != nil {
		info.Error = err.Error()
	}
	return info
}

// storeTree is a SquashFS's entries grouped by store path.
type storeTree struct {
	// top are the entries outside store paths: the root and the registration.
	top []*squash.Entry
	// names are the store paths' names (the root's entries but the registration), sorted.
	names []string
	// paths holds each store path's entries in walk order, the store path's own entry first.
	paths map[string][]*squash.Entry
	// registration is the registration's records by store path name; nil when there is none.
	registration map[string]*closure.Path
	regErr       error // why the registration could not be read
}

// readStore walks the SquashFS's metadata and reads its registration.
func readStore(r *squash.Reader) (*storeTree, error) {
	st := &storeTree{paths: map[string][]*squash.Entry{}}
	err := r.Walk(func(name string, e *squash.Entry) error {
		if name == "." || name == RegistrationName {
			st.top = append(st.top, e)
			return nil
		}
		top, _, _ := strings.Cut(name, "/")
		if _, ok := st.paths[top]; !ok {
			st.names = append(st.names, top)
		}
		st.paths[top] = append(st.paths[top], e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(st.names)
	reg, err := r.Lookup(RegistrationName)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return st, nil
		}
		return nil, err
	}
	if !reg.Mode.IsRegular() {
		st.regErr = fmt.Errorf("%s is not a regular file", RegistrationName)
		return st, nil
	}
	f, err := r.Open(RegistrationName)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	recs, err := closure.ReadRegistration(f)
	if err != nil {
		st.regErr = fmt.Errorf("%s: %w", RegistrationName, err)
		return st, nil
	}
	st.registration = map[string]*closure.Path{}
	for i := range recs {
		st.registration[path.Base(recs[i].Path)] = &recs[i]
	}
	return st, nil
}

// count adds up a store path's regular files: how many, and their bytes.
func count(sp *StorePathInfo, e *squash.Entry) {
	if e.Mode.IsRegular() {
		sp.Files++
		sp.Size += e.Size
	}
}

func (im *isoImage) squashInfo(st *storeTree) (*SquashFSInfo, []StorePathInfo, error) {
	sb := im.sq.Superblock()
	info := &SquashFSInfo{
		Path: SquashFSPath, Size: im.tree.Lookup(SquashFSPath).Size, Compression: string(sb.Compression),
		Options: compressorInfo(sb.Options), BlockSize: sb.BlockSize, Inodes: sb.Inodes, Fragments: sb.Fragments,
		Flags: sb.FlagNames(), BytesUsed: sb.BytesUsed, ModTime: time.Unix(sb.ModTime, 0).UTC(),
		Registered: st.registration != nil,
	}
	tally := func(e *squash.Entry) {
		switch {
		case e.Mode.IsRegular():
			info.Files++
			info.FileBytes += e.Size
		case e.Mode.IsDir():
			info.Directories++
		case e.Mode&fs.ModeSymlink != 0:
			info.Symlinks++
		}
	}
	for _, e := range st.top {
		tally(e)
	}
	paths := make([]StorePathInfo, 0, len(st.names))
	for _, name := range st.names {
		sp := StorePathInfo{Path: StoreDir + "/" + name}
		for _, e := range st.paths[name] {
			tally(e)
			count(&sp, e)
		}
		if rec := st.registration[name]; rec != nil {
			sp.NarHash, sp.NarSize, sp.References = rec.NarHash.String(), rec.NarSize, rec.References
		}
		paths = append(paths, sp)
	}
	if sb.BytesUsed > 0 {
		info.Ratio = float64(info.FileBytes) / float64(sb.BytesUsed)
	}
	var err error
	if info.Costs, err = costs(im.sq, st, paths, info.Size); err != nil {
		return nil, nil, err
	}
	return info, paths, nil
}

// equalBytes reports whether a at offA and b at offB hold the same n bytes, and if not the
// offset (from offA and offB) of the first differing byte. It reads in chunks of the buffers'
// length.
func equalBytes(a, b io.ReaderAt, offA, offB, n int64, bufA, bufB []byte) (bool, int64, error) {
	for done := int64(0); done < n; {
		k := min(int64(len(bufA)), n-done)
		if err := readFull(a, bufA[:k], offA+done); err != nil {
			return false, 0, err
		}
		if err := readFull(b, bufB[:k], offB+done); err != nil {
			return false, 0, err
		}
		if i := firstDiff(bufA[:k], bufB[:k]); i < int(k) {
			return false, done + int64(i), nil
		}
		done += k
	}
	return true, -1, nil
}

// firstDiff returns the index of the first byte at which a and b differ, or the length of the
// shorter one when it is a prefix of the other.
func firstDiff(a, b []byte) int {
	n := min(len(a), len(b))
	// Compare in runs first: bytes.Equal is vectorised, a byte loop is not.
	const run = 4096
	i := 0
	for ; i+run <= n && bytes.Equal(a[i:i+run], b[i:i+run]); i += run {
	}
	for ; i < n; i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}
