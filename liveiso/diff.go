package liveiso

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"github.com/gonixiso/gonixiso/closure"
	"io"
	"io/fs"
	"iter"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gonixiso/gonixiso/boot/fat"
	"github.com/gonixiso/gonixiso/internal/parallel"
	"github.com/gonixiso/gonixiso/iso9660"
	"github.com/gonixiso/gonixiso/squash"
)

// Level says where in an image a difference lies. Diff reports them from the top down, in this
// order.
type Level string

const (
	LevelISO       Level = "iso"       // volume descriptors, El Torito, system area, the ISO tree
	LevelBoot      Level = "boot"      // the boot menus and the EFI system partition image
	LevelSquashFS  Level = "squashfs"  // the SquashFS's superblock and its entries outside store paths
	LevelStorePath Level = "storepath" // store paths added, removed, or registered differently
	LevelFile      Level = "file"      // the entries of store paths present in both images
)

// Levels are the levels in report order.
var Levels = []Level{LevelISO, LevelBoot, LevelSquashFS, LevelStorePath, LevelFile}

// Difference is one way in which two images differ. Messages give A's value, then B's.
type Difference struct {
	Level Level `json:"level"`
	// Path is what differs: a path in the ISO tree, a store path or a file under StoreDir,
	// or a structure ("primary volume descriptor", "gpt partition 2", "superblock").
	Path    string `json:"path"`
	Message string `json:"message"`
	// Offset is the first byte at which contents differ, counted from the start of the file
	// (or of the image); -1 when the difference is not one of contents.
	Offset int64 `json:"offset"`
}

// DiffReport is what Diff found: the differences, grouped by level and in path order within a
// level. Its JSON form is a stable schema.
type DiffReport struct {
	A           string       `json:"a"`
	B           string       `json:"b"`
	Identical   bool         `json:"identical"`
	Differences []Difference `json:"differences"`
	// Sizes says how the image's size changed and why: the store paths added, removed and
	// changed, largest change first.
	Sizes *SizeDeltas `json:"sizes,omitempty"`
}

// SizeDelta is a size in A, in B, and B's minus A's.
type SizeDelta struct {
	A     int64 `json:"a"`
	B     int64 `json:"b"`
	Delta int64 `json:"delta"`
}

func sizeDelta(a, b int64) SizeDelta { return SizeDelta{A: a, B: b, Delta: b - a} }

// SizeDeltas are the size changes between two images, and their reasons. The SquashFS's delta
// is exactly the sum of the store paths' cost deltas, Unchanged's and Other's (see CostInfo
// for how costs are apportioned).
type SizeDeltas struct {
	ISO SizeDelta `json:"iso"` // the ISO files
	// SquashFS is the SquashFS files' sizes (zero on a side without one).
	SquashFS SizeDelta `json:"squashfs"`
	// Basis is CostExact when both images' costs are exact, else CostEstimate.
	Basis string `json:"basis,omitempty"`
	// StorePaths are the store paths added, removed or changed, the largest cost delta (in
	// absolute value) first.
	StorePaths []StorePathDelta `json:"store_paths"`
	// Unchanged is the cost of the store paths both images hold alike: their shares of blocks
	// they share with changed paths move (metadata blocks; mksquashfs's fragment blocks), and
	// all of it when the images' compressors differ.
	Unchanged SizeDelta `json:"unchanged"`
	// Other is the image-wide parts: registration, root directory, superblock, lookup tables,
	// padding.
	Other SizeDelta `json:"other"`
}

// StorePathDelta is a store path added, removed or changed, and what it costs.
type StorePathDelta struct {
	// Change is "added", "removed" or "changed": a path both images hold whose contents
	// differ, or two paths of one package (by name and output, as `nix store diff-closures`
	// pairs them) that only one image holds each.
	Change string `json:"change"`
	// Name is the package's name and output ("openssh", "glibc-dev"); VersionA and VersionB
	// its versions.
	Name     string `json:"name"`
	VersionA string `json:"version_a,omitempty"`
	VersionB string `json:"version_b,omitempty"`
	// A and B are the store paths ("" on the side without one).
	A string `json:"a,omitempty"`
	B string `json:"b,omitempty"`
	// Cost is the bytes the path takes in the SquashFS (StorePathInfo.Cost); Size the bytes of
	// its files.
	Cost SizeDelta `json:"cost"`
	Size SizeDelta `json:"size"`
	// Files counts the entries that differ (changed paths), or the regular files.
	Files int `json:"files"`
}

// Diff compares the ISO images at a and b from the top down: volume descriptors and boot
// records, the system area, the ISO tree, the boot menus (line by line) and the EFI image, then
// the SquashFS: superblock, registration, store paths added and removed, and within the store
// paths both hold, the entries that differ, with the first differing byte of their contents.
//
// Identical files are found by comparing bytes alone. Otherwise the SquashFS is compared by its
// metadata and block lists first, then by the compressed bytes of the blocks (equal compressed
// bytes with the same compressor are equal contents); only blocks whose compressed bytes differ
// are decompressed, so two 2 GB images that differ in one file compare in seconds. Images with
// different compressors or block sizes are compared by their decompressed contents.
func Diff(ctx context.Context, a, b string, limits ...Limits) (*DiffReport, error) {
	rep := &DiffReport{A: a, B: b, Differences: []Difference{}}
	ia, err := openImage(a)
	if err != nil {
		return nil, err
	}
	defer ia.Close()
	ia.limit(limits)
	ib, err := openImage(b)
	if err != nil {
		return nil, err
	}
	defer ib.Close()
	ib.limit(limits)

	first, err := firstDifference(ctx, ia, ib)
	if err != nil {
		return nil, err
	}
	if first < 0 {
		rep.Identical = true
		rep.Sizes = &SizeDeltas{ISO: sizeDelta(ia.size, ia.size), StorePaths: []StorePathDelta{}}
		if e := ia.tree.Lookup(SquashFSPath); e != nil && ia.sq != nil {
			rep.Sizes.SquashFS = sizeDelta(e.Size, e.Size)
		}
		return rep, nil
	}
	d := &differ{ctx: ctx, a: ia, b: ib, sizes: SizeDeltas{ISO: sizeDelta(ia.size, ib.size), StorePaths: []StorePathDelta{}}}
	if err := d.run(); err != nil {
		return nil, err
	}
	rep.Sizes = &d.sizes
	if len(d.diffs) == 0 {
		// Every structure compared equal, yet the bytes differ: say where.
		d.add(LevelISO, "image", first, "bytes differ from offset %d (sector %d), outside what diff compares",
			first, first/iso9660.SectorSize)
	}
	rep.Differences = d.sorted()
	return rep, nil
}

// compareChunk is how many bytes of each side are compared at once.
const compareChunk = 8 << 20

// compareBuf is the length of the buffers that compare ISO files, or as much as the files hold.
const compareBuf = 1 << 20

// firstDifference compares the two files byte for byte and returns the offset of the first
// difference, -1 if they are identical, or the shorter length if one is a prefix of the other.
func firstDifference(ctx context.Context, a, b *isoImage) (int64, error) {
	n := min(a.size, b.size)
	type chunk struct {
		off  int64
		diff int64 // offset of the first differing byte, -1 for none
	}
	size := min(compareChunk, n) // small images get small buffers
	pool := sync.Pool{New: func() any { b := make([]byte, 2*size); return &b }}
	first := int64(-1)
	errFound := errors.New("found")
	err := parallel.Ordered(ctx, parallel.Options{},
		func(emit func(chunk) error) error {
			for off := int64(0); off < n; off += size {
				if err := emit(chunk{off: off}); err != nil {
					return err
				}
			}
			return nil
		},
		func(c chunk) (chunk, error) {
			bufp := pool.Get().(*[]byte)
			defer pool.Put(bufp)
			k := min(size, n-c.off)
			ba, bb := (*bufp)[:k], (*bufp)[size:size+k]
			if err := readFull(a.file, ba, c.off); err != nil {
				return c, fmt.Errorf("%s: %w", a.name, err)
			}
			if err := readFull(b.file, bb, c.off); err != nil {
				return c, fmt.Errorf("%s: %w", b.name, err)
			}
			c.diff = -1
			if !bytes.Equal(ba, bb) {
				c.diff = c.off + int64(firstDiff(ba, bb))
			}
			return c, nil
		},
		func(c chunk) error {
			if c.diff >= 0 {
				first = c.diff
				return errFound
			}
			return nil
		})
	switch {
	case errors.Is(err, errFound):
		return first, nil
	case err != nil:
		return 0, err
	case a.size != b.size:
		return n, nil
	}
	return -1, nil
}

// readFull reads len(p) bytes at off.
func readFull(ra io.ReaderAt, p []byte, off int64) error {
	n, err := ra.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("read %d bytes at %d: %w", len(p), off, err)
}

// differ compares two opened images.
type differ struct {
	ctx   context.Context
	a, b  *isoImage
	diffs []Difference
	sizes SizeDeltas
	// reencoded counts files whose contents are equal but whose compressed blocks are not, and
	// the store paths that hold them.
	reencoded, reencodedPaths int
}

func (d *differ) add(level Level, p string, offset int64, format string, args ...any) {
	d.diffs = append(d.diffs, Difference{Level: level, Path: p, Message: fmt.Sprintf(format, args...), Offset: offset})
}

// sorted returns the differences by level, then by path (bytewise), keeping the order in which
// they were found for the same path.
func (d *differ) sorted() []Difference {
	rank := map[Level]int{}
	for i, l := range Levels {
		rank[l] = i
	}
	out := slices.Clone(d.diffs)
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Level != out[j].Level {
			return rank[out[i].Level] < rank[out[j].Level]
		}
		// Structures (no leading slash) come before paths, in the order found.
		si, sj := strings.HasPrefix(out[i].Path, "/"), strings.HasPrefix(out[j].Path, "/")
		if si != sj {
			return !si
		}
		return si && out[i].Path < out[j].Path
	})
	return out
}

func (d *differ) run() error {
	if d.a.size != d.b.size {
		d.add(LevelISO, "image", -1, "size %d → %d bytes", d.a.size, d.b.size)
	}
	d.descriptors()
	d.elTorito()
	d.systemArea()
	if err := d.tree(); err != nil {
		return err
	}
	if err := d.bootConfigs(); err != nil {
		return err
	}
	if err := d.efiImage(); err != nil {
		return err
	}
	if err := d.ctx.Err(); err != nil {
		return err
	}
	return d.squashFS()
}

// field compares one named value.
func (d *differ) field(level Level, p, name string, a, b any) {
	if a != b {
		d.add(level, p, -1, "%s %s → %s", name, quoteValue(a), quoteValue(b))
	}
}

func quoteValue(v any) string {
	switch v := v.(type) {
	case string:
		return fmt.Sprintf("%q", v)
	case time.Time:
		if v.IsZero() {
			return "unset"
		}
		return v.UTC().Format(time.RFC3339Nano)
	}
	return fmt.Sprint(v)
}

func (d *differ) volume(p string, a, b *iso9660.Volume) {
	switch {
	case a == nil && b == nil:
		return
	case a == nil:
		d.add(LevelISO, p, -1, "added")
		return
	case b == nil:
		d.add(LevelISO, p, -1, "removed")
		return
	}
	d.field(LevelISO, p, "volume id", a.VolumeID, b.VolumeID)
	d.field(LevelISO, p, "system id", a.SystemID, b.SystemID)
	d.field(LevelISO, p, "volume set id", a.VolumeSetID, b.VolumeSetID)
	d.field(LevelISO, p, "publisher", a.Publisher, b.Publisher)
	d.field(LevelISO, p, "data preparer", a.Preparer, b.Preparer)
	d.field(LevelISO, p, "application", a.Application, b.Application)
	d.field(LevelISO, p, "creation date", a.Created, b.Created)
	d.field(LevelISO, p, "modification date", a.Modified, b.Modified)
	d.field(LevelISO, p, "volume space size", a.VolumeSpaceSize, b.VolumeSpaceSize)
	d.field(LevelISO, p, "logical block size", a.BlockSize, b.BlockSize)
	d.field(LevelISO, p, "path table size", a.PathTableSize, b.PathTableSize)
}

func (d *differ) descriptors() {
	d.volume("primary volume descriptor", d.a.img.Primary, d.b.img.Primary)
	d.volume("joliet volume descriptor", d.a.img.Joliet, d.b.img.Joliet)
	d.field(LevelISO, "rock ridge", "present", d.a.img.RockRidge, d.b.img.RockRidge)
}

func (d *differ) elTorito() {
	const p = "el torito"
	ea, eb := d.a.elToritoInfo(), d.b.elToritoInfo()
	switch {
	case ea == nil && eb == nil:
		return
	case ea == nil:
		d.add(LevelISO, p, -1, "boot record added")
		return
	case eb == nil:
		d.add(LevelISO, p, -1, "boot record removed")
		return
	}
	d.field(LevelISO, p, "catalog sector", ea.CatalogLBA, eb.CatalogLBA)
	d.field(LevelISO, p, "catalog path", ea.CatalogPath, eb.CatalogPath)
	d.field(LevelISO, p, "id", ea.ID, eb.ID)
	d.field(LevelISO, p, "entries", len(ea.Entries), len(eb.Entries))
	for i := range min(len(ea.Entries), len(eb.Entries)) {
		x, y := ea.Entries[i], eb.Entries[i]
		q := fmt.Sprintf("el torito entry %d", i+1)
		d.field(LevelISO, q, "platform", x.Platform, y.Platform)
		d.field(LevelISO, q, "bootable", x.Bootable, y.Bootable)
		d.field(LevelISO, q, "emulation", x.Emulation, y.Emulation)
		d.field(LevelISO, q, "load segment", x.LoadSegment, y.LoadSegment)
		d.field(LevelISO, q, "system type", x.SystemType, y.SystemType)
		d.field(LevelISO, q, "load sectors", x.LoadSectors, y.LoadSectors)
		d.field(LevelISO, q, "image", x.Path, y.Path)
		d.field(LevelISO, q, "image sector", x.LBA, y.LBA)
	}
}

// mbrBootCode is the length of the MBR's boot code, before isohybrid's boot file address.
const mbrBootCode = 432

func (d *differ) systemArea() {
	ma, mb := d.a.mbrInfo(), d.b.mbrInfo()
	switch {
	case ma == nil && mb != nil:
		d.add(LevelISO, "mbr", -1, "added")
	case ma != nil && mb == nil:
		d.add(LevelISO, "mbr", -1, "removed")
	case ma != nil:
		ca, cb := make([]byte, mbrBootCode), make([]byte, mbrBootCode)
		if readFull(d.a.file, ca, 0) == nil && readFull(d.b.file, cb, 0) == nil && !bytes.Equal(ca, cb) {
			i := firstDiff(ca, cb)
			d.add(LevelISO, "mbr", int64(i), "boot code differs from byte %d", i)
		}
		d.field(LevelISO, "mbr", "boot file sector", ma.BootLBA, mb.BootLBA)
		d.field(LevelISO, "mbr", "disk signature", fmt.Sprintf("%08x", ma.DiskSignature), fmt.Sprintf("%08x", mb.DiskSignature))
		pa, pb := map[int]MBRPartitionInfo{}, map[int]MBRPartitionInfo{}
		for _, p := range ma.Partitions {
			pa[p.Index] = p
		}
		for _, p := range mb.Partitions {
			pb[p.Index] = p
		}
		for i := 1; i <= 4; i++ {
			x, okx := pa[i]
			y, oky := pb[i]
			q := fmt.Sprintf("mbr partition %d", i)
			switch {
			case okx && !oky:
				d.add(LevelISO, q, -1, "removed")
			case !okx && oky:
				d.add(LevelISO, q, -1, "added")
			case okx:
				d.field(LevelISO, q, "bootable", x.Bootable, y.Bootable)
				d.field(LevelISO, q, "type", fmt.Sprintf("%#02x", x.Type), fmt.Sprintf("%#02x", y.Type))
				d.field(LevelISO, q, "start", x.Start, y.Start)
				d.field(LevelISO, q, "sectors", x.Sectors, y.Sectors)
			}
		}
	}
	ga, gb := d.a.gptInfo(), d.b.gptInfo()
	switch {
	case ga == nil && gb != nil:
		d.add(LevelISO, "gpt", -1, "added")
	case ga != nil && gb == nil:
		d.add(LevelISO, "gpt", -1, "removed")
	case ga != nil:
		d.field(LevelISO, "gpt", "disk guid", ga.DiskGUID, gb.DiskGUID)
		d.field(LevelISO, "gpt", "first usable sector", ga.FirstUsableLBA, gb.FirstUsableLBA)
		d.field(LevelISO, "gpt", "last usable sector", ga.LastUsableLBA, gb.LastUsableLBA)
		d.field(LevelISO, "gpt", "backup header sector", ga.AlternateLBA, gb.AlternateLBA)
		d.field(LevelISO, "gpt", "entries", ga.EntryCount, gb.EntryCount)
		d.field(LevelISO, "gpt", "header checksum valid", ga.HeaderCRCValid, gb.HeaderCRCValid)
		d.field(LevelISO, "gpt", "entries checksum valid", ga.EntriesCRCValid, gb.EntriesCRCValid)
		d.field(LevelISO, "gpt", "backup header present", ga.Backup, gb.Backup)
		pa, pb := map[int]GPTPartitionInfo{}, map[int]GPTPartitionInfo{}
		var idx []int
		for _, p := range ga.Partitions {
			pa[p.Index] = p
			idx = append(idx, p.Index)
		}
		for _, p := range gb.Partitions {
			if _, ok := pa[p.Index]; !ok {
				idx = append(idx, p.Index)
			}
			pb[p.Index] = p
		}
		sort.Ints(idx)
		for _, i := range idx {
			x, okx := pa[i]
			y, oky := pb[i]
			q := fmt.Sprintf("gpt partition %d", i)
			switch {
			case okx && !oky:
				d.add(LevelISO, q, -1, "removed")
			case !okx && oky:
				d.add(LevelISO, q, -1, "added")
			default:
				d.field(LevelISO, q, "type", x.Type, y.Type)
				d.field(LevelISO, q, "guid", x.GUID, y.GUID)
				d.field(LevelISO, q, "first sector", x.FirstLBA, y.FirstLBA)
				d.field(LevelISO, q, "last sector", x.LastLBA, y.LastLBA)
				d.field(LevelISO, q, "flags", fmt.Sprintf("%#x", x.Flags), fmt.Sprintf("%#x", y.Flags))
				d.field(LevelISO, q, "name", x.Name, y.Name)
			}
		}
	}
}

// comparedElsewhere are the ISO files whose contents later steps compare in their own terms.
func (d *differ) comparedElsewhere(p string) bool {
	switch p {
	case SquashFSPath, IsolinuxConfig, GrubConfig, LoopbackConfig:
		return true
	}
	if e := d.a.efiImage(); e != nil && e.Path == p {
		return true
	}
	return false
}

// change is one changed attribute of an entry, kept apart so that a date that changed on many
// entries alike can be said once.
type change struct {
	what     string
	from, to string
}

// entryChanges collects an entry's changes and says them as one Difference.
type entryChanges struct {
	level   Level
	path    string
	changes []change
	offset  int64
}

func (c *entryChanges) add(what string, a, b any) {
	if a != b {
		c.changes = append(c.changes, change{what, quoteValue(a), quoteValue(b)})
	}
}

func (c *entryChanges) note(s string) { c.changes = append(c.changes, change{what: s}) }

func (c *entryChanges) message() string {
	parts := make([]string, len(c.changes))
	for i, ch := range c.changes {
		if ch.from == "" && ch.to == "" {
			parts[i] = ch.what
		} else {
			parts[i] = fmt.Sprintf("%s %s → %s", ch.what, ch.from, ch.to)
		}
	}
	return strings.Join(parts, "; ")
}

// sameDateLimit is how many entries must share a date change for it to be said once for all.
const sameDateLimit = 3

// addEntries adds the entries' differences; a modification time change shared by at least
// sameDateLimit entries is said once, at root.
func (d *differ) addEntries(level Level, root string, ents []*entryChanges) {
	type key struct{ from, to string }
	count := map[key]int{}
	for _, e := range ents {
		for _, ch := range e.changes {
			if ch.what == "modification time" {
				count[key{ch.from, ch.to}]++
			}
		}
	}
	var keys []key
	for k, n := range count {
		if n >= sameDateLimit {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].from+keys[i].to < keys[j].from+keys[j].to })
	for _, k := range keys {
		d.add(level, root, -1, "modification time of %d entries %s → %s", count[k], k.from, k.to)
	}
	for _, e := range ents {
		e.changes = slices.DeleteFunc(e.changes, func(ch change) bool {
			return ch.what == "modification time" && count[key{ch.from, ch.to}] >= sameDateLimit
		})
		if len(e.changes) > 0 {
			d.diffs = append(d.diffs, Difference{Level: level, Path: e.path, Message: e.message(), Offset: e.offset})
		}
	}
}

func typeName(m fs.FileMode) string {
	switch m.Type() {
	case 0:
		return "file"
	case fs.ModeDir:
		return "directory"
	case fs.ModeSymlink:
		return "symlink"
	case fs.ModeNamedPipe:
		return "fifo"
	case fs.ModeSocket:
		return "socket"
	case fs.ModeDevice:
		return "block-device"
	case fs.ModeDevice | fs.ModeCharDevice:
		return "char-device"
	}
	return m.Type().String()
}

// tree compares the ISO trees: entries added and removed, attributes, and the contents of the
// files that no later step compares.
func (d *differ) tree() error {
	var ents []*entryChanges
	var bufA, bufB []byte // grown to the longest comparison, at most compareBuf
	// Files with the same data on both sides (hard links, or a path listed twice) are compared
	// once: the first differing byte by the first links (iso9660.Tree.Link) of both sides.
	compared := map[[2]*iso9660.Entry]int64{}
	for _, ea := range d.a.tree.Entries() {
		eb := d.b.tree.Lookup(ea.Path)
		if eb == nil {
			ents = append(ents, &entryChanges{level: LevelISO, path: ea.Path, offset: -1,
				changes: []change{{what: "removed (" + typeName(ea.Mode) + ")"}}})
			continue
		}
		c := &entryChanges{level: LevelISO, path: ea.Path, offset: -1}
		c.add("type", typeName(ea.Mode), typeName(eb.Mode))
		c.add("mode", fmt.Sprintf("%04o", ea.Mode.Perm()), fmt.Sprintf("%04o", eb.Mode.Perm()))
		c.add("owner", fmt.Sprintf("%d:%d", ea.UID, ea.GID), fmt.Sprintf("%d:%d", eb.UID, eb.GID))
		c.add("modification time", ea.ModTime, eb.ModTime)
		c.add("symlink target", ea.Link, eb.Link)
		if ea.Mode.IsRegular() && eb.Mode.IsRegular() {
			c.add("size", ea.Size, eb.Size)
			if !d.comparedElsewhere(ea.Path) {
				key := [2]*iso9660.Entry{d.a.tree.Link(ea), d.b.tree.Link(eb)}
				off, ok := compared[key]
				if !ok {
					if n := int(min(compareBuf, ea.Size, eb.Size)); len(bufA) < n {
						bufA, bufB = make([]byte, n), make([]byte, n)
					}
					var err error
					if off, err = d.isoContents(ea, eb, bufA, bufB); err != nil {
						return err
					}
					compared[key] = off
				}
				if off >= 0 {
					c.offset = off
					c.note(fmt.Sprintf("contents differ from byte %d", off))
				}
			}
		}
		if len(c.changes) > 0 {
			ents = append(ents, c)
		}
	}
	for _, eb := range d.b.tree.Entries() {
		if d.a.tree.Lookup(eb.Path) == nil {
			ents = append(ents, &entryChanges{level: LevelISO, path: eb.Path, offset: -1,
				changes: []change{{what: "added (" + typeName(eb.Mode) + ")"}}})
		}
	}
	d.addEntries(LevelISO, "/", ents)
	return nil
}

// isoContents returns the first differing byte of two ISO files, -1 if they are equal.
func (d *differ) isoContents(ea, eb *iso9660.Entry, bufA, bufB []byte) (int64, error) {
	ra, err := d.a.section(ea)
	if err != nil {
		return 0, err
	}
	rb, err := d.b.section(eb)
	if err != nil {
		return 0, err
	}
	n := min(ea.Size, eb.Size)
	eq, off, err := equalBytes(ra, rb, 0, 0, n, bufA, bufB)
	if err != nil {
		return 0, fmt.Errorf("%s or %s: %s: %w", d.a.name, d.b.name, ea.Path, err)
	}
	switch {
	case !eq:
		return off, nil
	case ea.Size != eb.Size:
		return n, nil
	}
	return -1, nil
}

// bootConfigs compares the boot menus line by line.
func (d *differ) bootConfigs() error {
	for _, p := range []string{IsolinuxConfig, GrubConfig, LoopbackConfig} {
		a, oka, err := d.a.readFile(p, maxConfigSize)
		if err != nil {
			return err
		}
		b, okb, err := d.b.readFile(p, maxConfigSize)
		if err != nil {
			return err
		}
		switch {
		case !oka && !okb:
		case !oka:
			d.add(LevelBoot, p, -1, "added")
		case !okb:
			d.add(LevelBoot, p, -1, "removed")
		case !bytes.Equal(a, b):
			hunks := lineDiff(a, b)
			for _, h := range hunks {
				d.add(LevelBoot, p, -1, "%s", h)
			}
			if len(hunks) == 0 { // the lines are equal: line endings differ
				i := firstDiff(a, b)
				d.add(LevelBoot, p, int64(i), "contents differ from byte %d (line endings)", i)
			}
		}
	}
	return nil
}

// efiImage compares the EFI system partition images as FAT volumes: labels, files and dates.
func (d *differ) efiImage() error {
	ea, eb := d.a.efiImage(), d.b.efiImage()
	switch {
	case ea == nil && eb == nil:
		return nil
	case ea == nil:
		d.add(LevelBoot, eb.Path, -1, "EFI image added")
		return nil
	case eb == nil:
		d.add(LevelBoot, ea.Path, -1, "EFI image removed")
		return nil
	}
	p := ea.Path
	if ea.Path != eb.Path {
		d.add(LevelBoot, p, -1, "EFI image %s → %s", ea.Path, eb.Path)
	}
	room := int(min(compareBuf, ea.Size, eb.Size))
	first, err := d.isoContents(ea, eb, make([]byte, room), make([]byte, room))
	if err != nil || first < 0 {
		return err
	}
	fa, errA := d.a.openFAT(ea)
	fb, errB := d.b.openFAT(eb)
	if errA != nil || errB != nil {
		d.add(LevelBoot, p, first, "contents differ from byte %d (not both readable as FAT: %v; %v)", first, errA, errB)
		return nil
	}
	n := len(d.diffs)
	d.field(LevelBoot, p, "FAT16", fa.FAT16, fb.FAT16)
	d.field(LevelBoot, p, "label", fa.Label, fb.Label)
	d.field(LevelBoot, p, "volume id", fmt.Sprintf("%08X", fa.VolumeID), fmt.Sprintf("%08X", fb.VolumeID))
	d.field(LevelBoot, p, "formatter", fa.OEMName, fb.OEMName)
	d.field(LevelBoot, p, "clusters", fa.Clusters, fb.Clusters)
	d.field(LevelBoot, p, "cluster size", fa.ClusterSize, fb.ClusterSize)
	ta, err := fatTree(fa)
	if err != nil {
		d.add(LevelBoot, p, first, "contents differ from byte %d (%s: %v)", first, d.a.name, err)
		return nil
	}
	tb, err := fatTree(fb)
	if err != nil {
		d.add(LevelBoot, p, first, "contents differ from byte %d (%s: %v)", first, d.b.name, err)
		return nil
	}
	var ents []*entryChanges
	for _, name := range ta.names {
		x, y := ta.files[name], tb.files[name]
		q := p + ":/" + name
		if y == nil {
			ents = append(ents, &entryChanges{path: q, offset: -1, changes: []change{{what: "removed"}}})
			continue
		}
		c := &entryChanges{path: q, offset: -1}
		c.add("type", typeName(x.mode), typeName(y.mode))
		c.add("size", x.size, y.size)
		c.add("modification time", x.mod, y.mod)
		if x.mode.IsRegular() && y.mode.IsRegular() && !bytes.Equal(x.data, y.data) {
			c.offset = int64(firstDiff(x.data, y.data))
			c.note(fmt.Sprintf("contents differ from byte %d", c.offset))
		}
		if len(c.changes) > 0 {
			ents = append(ents, c)
		}
	}
	for _, name := range tb.names {
		if ta.files[name] == nil {
			ents = append(ents, &entryChanges{path: p + ":/" + name, offset: -1, changes: []change{{what: "added"}}})
		}
	}
	d.addEntries(LevelBoot, p, ents)
	if len(d.diffs) == n {
		d.add(LevelBoot, p, first, "FAT structures differ from byte %d (files, names and dates are equal)", first)
	}
	return nil
}

type fatFile struct {
	mode fs.FileMode
	size int64
	mod  time.Time
	data []byte
}

type fatFiles struct {
	names []string
	files map[string]*fatFile
}

// fatTree reads every entry of a FAT volume: an ESP holds a few megabytes.
func fatTree(r *fat.Reader) (*fatFiles, error) {
	t := &fatFiles{files: map[string]*fatFile{}}
	err := fs.WalkDir(r, ".", func(p string, de fs.DirEntry, err error) error {
		if err != nil || p == "." {
			return err
		}
		fi, err := de.Info()
		if err != nil {
			return err
		}
		f := &fatFile{mode: fi.Mode(), size: fi.Size(), mod: fi.ModTime()}
		if fi.Mode().IsRegular() {
			if f.data, err = fs.ReadFile(r, p); err != nil {
				return err
			}
		}
		t.names = append(t.names, p)
		t.files[p] = f
		return nil
	})
	return t, err
}

// lineDiff returns the hunks of a line diff of a and b, each as "@@ -l,n +l,n @@" and its
// lines, "-" for a's and "+" for b's.
func lineDiff(a, b []byte) []string {
	la, lb := splitLines(a), splitLines(b)
	// Common prefix and suffix first: menus differ in a few lines.
	pre := 0
	for pre < len(la) && pre < len(lb) && la[pre] == lb[pre] {
		pre++
	}
	suf := 0
	for suf < len(la)-pre && suf < len(lb)-pre && la[len(la)-1-suf] == lb[len(lb)-1-suf] {
		suf++
	}
	ops := lcsOps(la[pre:len(la)-suf], lb[pre:len(lb)-suf])
	var hunks []string
	i, j := pre, pre // line indexes in a and b
	for k := 0; k < len(ops); {
		if ops[k] == '=' {
			i, j, k = i+1, j+1, k+1
			continue
		}
		var lines []string
		si, sj := i, j
		for ; k < len(ops) && ops[k] != '='; k++ {
			if ops[k] == '-' {
				lines = append(lines, "-"+la[i])
				i++
			} else {
				lines = append(lines, "+"+lb[j])
				j++
			}
		}
		// Removed lines first, then added ones, as diff -u shows a change.
		sort.SliceStable(lines, func(x, y int) bool { return lines[x][0] == '-' && lines[y][0] == '+' })
		hunks = append(hunks, fmt.Sprintf("@@ -%s +%s @@\n%s", hunkRange(si, i-si), hunkRange(sj, j-sj), strings.Join(lines, "\n")))
	}
	return hunks
}

func hunkRange(start, n int) string {
	if n == 1 {
		return fmt.Sprint(start + 1)
	}
	if n == 0 {
		return fmt.Sprintf("%d,0", start)
	}
	return fmt.Sprintf("%d,%d", start+1, n)
}

func splitLines(b []byte) []string {
	s := strings.Split(string(b), "\n")
	if len(s) > 0 && s[len(s)-1] == "" {
		s = s[:len(s)-1]
	}
	return s
}

// maxLCSCells bounds the table of lcsOps; past it the differing middle is one replacement.
const maxLCSCells = 16 << 20

// lcsOps returns the edit script from a to b ('=' keep, '-' remove, '+' add) along a longest
// common subsequence of lines.
func lcsOps(a, b []string) []byte {
	n, m := len(a), len(b)
	if n*m > maxLCSCells {
		ops := bytes.Repeat([]byte{'-'}, n)
		return append(ops, bytes.Repeat([]byte{'+'}, m)...)
	}
	// t[i][j] is the LCS length of a[i:] and b[j:].
	t := make([][]int32, n+1)
	for i := range t {
		t[i] = make([]int32, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				t[i][j] = t[i+1][j+1] + 1
			} else {
				t[i][j] = max(t[i+1][j], t[i][j+1])
			}
		}
	}
	ops := make([]byte, 0, n+m)
	i, j := 0, 0
	for i < n && j < m {
		switch {
		case a[i] == b[j]:
			ops = append(ops, '=')
			i, j = i+1, j+1
		case t[i+1][j] >= t[i][j+1]:
			ops = append(ops, '-')
			i++
		default:
			ops = append(ops, '+')
			j++
		}
	}
	for ; i < n; i++ {
		ops = append(ops, '-')
	}
	for ; j < m; j++ {
		ops = append(ops, '+')
	}
	return ops
}

// sqSide is one image's SquashFS, as the comparison reads it.
type sqSide struct {
	name string // the ISO file
	r    *squash.Reader
	ra   io.ReaderAt // the SquashFS's bytes
	sb   squash.Superblock
	st   *storeTree
	// cost and costs are where the SquashFS's bytes go, and each store path's, by name.
	cost  *CostInfo
	costs map[string]squash.OwnerUsage
}

func (s *sqSide) err(p string, err error) error {
	return fmt.Errorf("%s: %s: %s: %w", s.name, SquashFSPath, p, err)
}

func (d *differ) squashFS() error {
	switch {
	case d.a.sq == nil && d.b.sq == nil:
		return nil
	case d.a.sq == nil:
		d.add(LevelSquashFS, SquashFSPath, -1, "added")
		d.sizes.SquashFS = sizeDelta(0, d.b.tree.Lookup(SquashFSPath).Size)
		d.sizes.Other = d.sizes.SquashFS
		return nil
	case d.b.sq == nil:
		d.add(LevelSquashFS, SquashFSPath, -1, "removed")
		d.sizes.SquashFS = sizeDelta(d.a.tree.Lookup(SquashFSPath).Size, 0)
		d.sizes.Other = d.sizes.SquashFS
		return nil
	}
	sides := [2]*sqSide{}
	for i, im := range []*isoImage{d.a, d.b} {
		ra, err := im.section(im.tree.Lookup(SquashFSPath))
		if err != nil {
			return err
		}
		st, err := readStore(im.sq)
		if err != nil {
			return im.sqErr(err)
		}
		e := im.tree.Lookup(SquashFSPath)
		cost, costs, err := tallyStore(im.sq, st, e.Size)
		if err != nil {
			return im.sqErr(err)
		}
		sides[i] = &sqSide{name: im.name, r: im.sq, ra: ra, sb: im.sq.Superblock(), st: st, cost: cost, costs: costs}
	}
	sa, sb := sides[0], sides[1]
	d.sizes.SquashFS = sizeDelta(sa.cost.Total, sb.cost.Total)
	d.sizes.Other = sizeDelta(sa.cost.Total-sa.cost.StorePaths, sb.cost.Total-sb.cost.StorePaths)
	d.sizes.Basis = CostEstimate
	if sa.cost.Basis == CostExact && sb.cost.Basis == CostExact {
		d.sizes.Basis = CostExact
	}
	c := &sqCompare{a: sa, b: sb,
		raw: sa.sb.Compression == sb.sb.Compression && sa.sb.BlockSize == sb.sb.BlockSize}
	d.superblock(sa, sb)
	if err := d.squashTop(c); err != nil {
		return err
	}
	d.registration(sa, sb)
	return d.storePaths(c)
}

func (d *differ) superblock(a, b *sqSide) {
	const p = "superblock"
	x, y := a.sb, b.sb
	d.field(LevelSquashFS, p, "compression", string(x.Compression), string(y.Compression))
	d.field(LevelSquashFS, p, "compressor options",
		compressorInfo(x.Options).String(), compressorInfo(y.Options).String())
	d.field(LevelSquashFS, p, "block size", x.BlockSize, y.BlockSize)
	d.field(LevelSquashFS, p, "inodes", x.Inodes, y.Inodes)
	d.field(LevelSquashFS, p, "fragment blocks", x.Fragments, y.Fragments)
	d.field(LevelSquashFS, p, "flags", strings.Join(x.FlagNames(), ","), strings.Join(y.FlagNames(), ","))
	d.field(LevelSquashFS, p, "ids", x.IDs, y.IDs)
	d.field(LevelSquashFS, p, "bytes used", x.BytesUsed, y.BytesUsed)
	d.field(LevelSquashFS, p, "modification time", time.Unix(x.ModTime, 0).UTC(), time.Unix(y.ModTime, 0).UTC())
}

// squashTop compares the entries outside store paths: the root and the registration file.
func (d *differ) squashTop(c *sqCompare) error {
	ta, tb := map[string]*squash.Entry{}, map[string]*squash.Entry{}
	for _, e := range c.a.st.top {
		ta[e.Name] = e
	}
	for _, e := range c.b.st.top {
		tb[e.Name] = e
	}
	for _, name := range []string{".", RegistrationName} {
		p := StoreDir
		if name != "." {
			p += "/" + name
		}
		x, y := ta[name], tb[name]
		switch {
		case x == nil && y == nil:
		case x == nil:
			d.add(LevelSquashFS, p, -1, "added")
		case y == nil:
			d.add(LevelSquashFS, p, -1, "removed")
		default:
			ch, err := c.entry(x, y, p, LevelSquashFS)
			if err != nil {
				return err
			}
			if name == RegistrationName && ch.offset >= 0 {
				// The registration's records are compared below; say the bytes only when the
				// records are equal.
				if equalRegistrations(c.a.st, c.b.st) {
					ch.note("records are equal")
				} else {
					ch.changes = slices.DeleteFunc(ch.changes, func(c change) bool { return strings.HasPrefix(c.what, "contents differ") })
					ch.offset = -1
				}
			}
			if len(ch.changes) > 0 {
				d.diffs = append(d.diffs, Difference{Level: LevelSquashFS, Path: p, Message: ch.message(), Offset: ch.offset})
			}
		}
	}
	return nil
}

func equalRegistrations(a, b *storeTree) bool {
	if a.registration == nil || b.registration == nil || len(a.registration) != len(b.registration) {
		return false
	}
	for name, x := range a.registration {
		y := b.registration[name]
		if y == nil || x.Path != y.Path || x.NarHash != y.NarHash || x.NarSize != y.NarSize ||
			!slices.Equal(x.References, y.References) {
			return false
		}
	}
	return true
}

// registration compares the registration's records of the store paths.
func (d *differ) registration(a, b *sqSide) {
	p := StoreDir + "/" + RegistrationName
	ra, rb := a.st.registration, b.st.registration
	if a.st.regErr != nil {
		d.add(LevelSquashFS, p, -1, "unreadable in %s: %v", a.name, a.st.regErr)
	}
	if b.st.regErr != nil {
		d.add(LevelSquashFS, p, -1, "unreadable in %s: %v", b.name, b.st.regErr)
	}
	if ra == nil || rb == nil {
		return
	}
	names := map[string]bool{}
	for n := range ra {
		names[n] = true
	}
	for n := range rb {
		names[n] = true
	}
	for _, n := range slices.Sorted(mapKeys(names)) {
		x, y := ra[n], rb[n]
		q := StoreDir + "/" + n
		switch {
		case x == nil:
			d.add(LevelStorePath, q, -1, "registered (%s)", RegistrationName)
		case y == nil:
			d.add(LevelStorePath, q, -1, "no longer registered (%s)", RegistrationName)
		default:
			if x.NarHash != y.NarHash {
				d.add(LevelStorePath, q, -1, "NAR hash %s → %s (%s)", x.NarHash, y.NarHash, RegistrationName)
			}
			if x.NarSize != y.NarSize {
				d.add(LevelStorePath, q, -1, "NAR size %d → %d (%s)", x.NarSize, y.NarSize, RegistrationName)
			}
			if x.Path != y.Path {
				d.add(LevelStorePath, q, -1, "registered as %s → %s (%s)", x.Path, y.Path, RegistrationName)
			}
			if !slices.Equal(x.References, y.References) {
				d.add(LevelStorePath, q, -1, "references %s (%s)", refChanges(x.References, y.References), RegistrationName)
			}
		}
	}
}

func mapKeys[K comparable, V any](m map[K]V) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func refChanges(a, b []string) string {
	var parts []string
	for _, r := range a {
		if !slices.Contains(b, r) {
			parts = append(parts, "-"+r)
		}
	}
	for _, r := range b {
		if !slices.Contains(a, r) {
			parts = append(parts, "+"+r)
		}
	}
	if len(parts) == 0 {
		return "reordered"
	}
	return strings.Join(parts, " ")
}

// storePaths reports store paths added and removed, pairs those that are one package in two
// versions, and compares the entries of those in both and of the pairs, a store path per work
// item of a parallel.Ordered pipeline. It adds up the size deltas.
func (d *differ) storePaths(c *sqCompare) error {
	a, b := c.a.st, c.b.st
	var both, onlyA, onlyB []string
	for _, n := range a.names {
		if _, ok := b.paths[n]; ok {
			both = append(both, n)
		} else {
			onlyA = append(onlyA, n)
		}
	}
	for _, n := range b.names {
		if _, ok := a.paths[n]; !ok {
			onlyB = append(onlyB, n)
		}
	}
	var work []pathPair
	for _, n := range both {
		work = append(work, pathPair{n, n})
	}
	for _, p := range pairStorePaths(onlyA, onlyB) {
		switch {
		case p.b == "":
			d.add(LevelStorePath, StoreDir+"/"+p.a, -1, "removed (%s, %s in the SquashFS)", pathSummary(a.paths[p.a]),
				signedBytes(-c.a.costs[p.a].Total()))
			d.sizes.StorePaths = append(d.sizes.StorePaths, c.pathDelta("removed", p))
		case p.a == "":
			d.add(LevelStorePath, StoreDir+"/"+p.b, -1, "added (%s, %s in the SquashFS)", pathSummary(b.paths[p.b]),
				signedBytes(c.b.costs[p.b].Total()))
			d.sizes.StorePaths = append(d.sizes.StorePaths, c.pathDelta("added", p))
		default:
			work = append(work, p)
		}
	}
	type result struct {
		p         pathPair
		diffs     []Difference
		reencoded int
	}
	err := parallel.Ordered(d.ctx, parallel.Options{},
		func(emit func(pathPair) error) error {
			for _, p := range work {
				if err := emit(p); err != nil {
					return err
				}
			}
			return nil
		},
		func(p pathPair) (result, error) {
			diffs, re, err := c.storePath(d.ctx, p.a, p.b)
			return result{p, diffs, re}, err
		},
		func(r result) error {
			delta := c.pathDelta("changed", r.p)
			delta.Files = len(r.diffs)
			if r.p.a != r.p.b {
				pa, pb := closure.ParseName(r.p.a), closure.ParseName(r.p.b)
				what := pa.Version + " → " + pb.Version
				if pa.Version == pb.Version {
					what = "a new hash"
					if pa.Version != "" {
						what = pa.Version + ", a new hash"
					}
				}
				d.add(LevelStorePath, StoreDir+"/"+r.p.b, -1, "%s: %s, %s (%s; was %s)", pa.String(), what,
					signedBytes(delta.Cost.Delta), plural(len(r.diffs), "entry differs", "entries differ"), StoreDir+"/"+r.p.a)
			}
			if len(r.diffs) > 0 || r.p.a != r.p.b {
				d.sizes.StorePaths = append(d.sizes.StorePaths, delta)
			} else {
				d.sizes.Unchanged.A += delta.Cost.A
				d.sizes.Unchanged.B += delta.Cost.B
			}
			d.diffs = append(d.diffs, r.diffs...)
			if r.reencoded > 0 {
				d.reencoded += r.reencoded
				d.reencodedPaths++
			}
			return nil
		})
	if err != nil {
		return err
	}
	d.sizes.Unchanged.Delta = d.sizes.Unchanged.B - d.sizes.Unchanged.A
	slices.SortStableFunc(d.sizes.StorePaths, func(x, y StorePathDelta) int {
		return cmp.Or(cmp.Compare(abs(y.Cost.Delta), abs(x.Cost.Delta)), cmp.Compare(abs(y.Size.Delta), abs(x.Size.Delta)),
			strings.Compare(x.Name, y.Name), strings.Compare(cmp.Or(x.B, x.A), cmp.Or(y.B, y.A)))
	})
	if d.reencoded > 0 {
		d.add(LevelSquashFS, "data", -1, "%d files in %d store paths have equal contents stored as different compressed bytes",
			d.reencoded, d.reencodedPaths)
	}
	return nil
}

// pathDelta is the size delta of a pair of store paths (either may be "").
func (c *sqCompare) pathDelta(change string, p pathPair) StorePathDelta {
	var pa, pb closure.Name
	var sd StorePathDelta
	if p.a != "" {
		pa = closure.ParseName(p.a)
		sd.A = StoreDir + "/" + p.a
		sd.Cost.A = c.a.costs[p.a].Total()
		sd.Size.A = filesSize(c.a.st.paths[p.a])
		sd.Files = c.a.costs[p.a].Files
	}
	if p.b != "" {
		pb = closure.ParseName(p.b)
		sd.B = StoreDir + "/" + p.b
		sd.Cost.B = c.b.costs[p.b].Total()
		sd.Size.B = filesSize(c.b.st.paths[p.b])
		sd.Files = c.b.costs[p.b].Files
	}
	sd.Change, sd.Name, sd.VersionA, sd.VersionB = change, cmp.Or(pb, pa).String(), pa.Version, pb.Version
	sd.Cost.Delta, sd.Size.Delta = sd.Cost.B-sd.Cost.A, sd.Size.B-sd.Size.A
	return sd
}

func filesSize(ents []*squash.Entry) int64 {
	var n int64
	for _, e := range ents {
		if e.Mode.IsRegular() {
			n += e.Size
		}
	}
	return n
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}

// signedBytes says a size delta: "+23 B", "-1.5 MiB", "±0 B".
func signedBytes(n int64) string {
	sign := "+"
	switch {
	case n < 0:
		sign, n = "-", -n
	case n == 0:
		sign = "±"
	}
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%s%d B", sign, n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%s%.1f %ciB", sign, float64(n)/float64(div), "KMGTPE"[exp])
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func pathSummary(ents []*squash.Entry) string {
	var files int
	var size int64
	for _, e := range ents {
		if e.Mode.IsRegular() {
			files++
			size += e.Size
		}
	}
	return fmt.Sprintf("%d files, %d bytes", files, size)
}

// sqCompare compares entries of two SquashFS images.
type sqCompare struct {
	a, b *sqSide
	// raw is set when the images have the same compressor and block size: equal compressed
	// blocks are then equal contents.
	raw  bool
	bufs sync.Pool // of *cmpBufs
}

// cmpBufs are one comparison's buffers: raw runs of blocks and decoded blocks of each side.
// The decoded ones are made when a comparison needs them, as long as the files need.
type cmpBufs struct {
	rawA, rawB []byte
	blkA, blkB []byte
}

func (c *sqCompare) getBufs() *cmpBufs {
	if b, ok := c.bufs.Get().(*cmpBufs); ok {
		return b
	}
	// A run of raw blocks is at most a buffer long; a block lies in its image, so a buffer as
	// long as the longer image holds any.
	raw := min(compareChunk, max(c.a.sb.BytesUsed, c.b.sb.BytesUsed))
	return &cmpBufs{rawA: make([]byte, raw), rawB: make([]byte, raw)}
}

// storePath compares the entries of store path na of A and nb of B (the same path, or two of
// one package), by their paths inside the store path. Differences name B's entries (A's for
// entries B lacks).
func (c *sqCompare) storePath(ctx context.Context, na, nb string) ([]Difference, int, error) {
	ea, eb := c.a.st.paths[na], c.b.st.paths[nb]
	byName := make(map[string]*squash.Entry, len(eb))
	for _, e := range eb {
		byName[strings.TrimPrefix(e.Name, nb)] = e
	}
	var diffs []Difference
	reencoded := 0
	for _, x := range ea {
		if err := ctx.Err(); err != nil {
			return nil, 0, err
		}
		rel := strings.TrimPrefix(x.Name, na)
		y := byName[rel]
		if y == nil {
			diffs = append(diffs, Difference{Level: LevelFile, Path: StoreDir + "/" + x.Name, Offset: -1, Message: "removed (" + typeName(x.Mode) + ")"})
			continue
		}
		delete(byName, rel)
		p := StoreDir + "/" + y.Name
		ch, err := c.entry(x, y, p, LevelFile)
		if err != nil {
			return nil, 0, err
		}
		if ch.reencoded && len(ch.changes) == 0 {
			reencoded++
		}
		if len(ch.changes) > 0 {
			diffs = append(diffs, Difference{Level: LevelFile, Path: p, Message: ch.message(), Offset: ch.offset})
		}
	}
	for _, y := range eb {
		if byName[strings.TrimPrefix(y.Name, nb)] != nil {
			diffs = append(diffs, Difference{Level: LevelFile, Path: StoreDir + "/" + y.Name, Offset: -1,
				Message: "added (" + typeName(y.Mode) + ")"})
		}
	}
	sort.SliceStable(diffs, func(i, j int) bool { return diffs[i].Path < diffs[j].Path })
	return diffs, reencoded, nil
}

// sqChanges are an entry's changes and whether its compressed bytes differ where its contents
// do not.
type sqChanges struct {
	entryChanges
	reencoded bool
}

// entry compares two entries of the same name: metadata, then contents.
func (c *sqCompare) entry(x, y *squash.Entry, p string, level Level) (*sqChanges, error) {
	ch := &sqChanges{entryChanges: entryChanges{level: level, path: p, offset: -1}}
	ch.add("type", typeName(x.Mode), typeName(y.Mode))
	ch.add("mode", fmt.Sprintf("%04o", modeBits(x.Mode)), fmt.Sprintf("%04o", modeBits(y.Mode)))
	ch.add("owner", fmt.Sprintf("%d:%d", x.UID, x.GID), fmt.Sprintf("%d:%d", y.UID, y.GID))
	ch.add("modification time", time.Unix(x.ModTime, 0).UTC(), time.Unix(y.ModTime, 0).UTC())
	ch.add("symlink target", x.Linkname, y.Linkname)
	if x.Mode.Type()&fs.ModeDevice != 0 {
		ch.add("device", fmt.Sprintf("%d,%d", x.Devmajor, x.Devminor), fmt.Sprintf("%d,%d", y.Devmajor, y.Devminor))
	}
	if !x.Mode.IsRegular() || !y.Mode.IsRegular() {
		return ch, nil
	}
	ch.add("size", x.Size, y.Size)
	off, re, err := c.contents(x, y)
	if err != nil {
		return nil, err
	}
	if off >= 0 {
		ch.offset = off
		ch.note(fmt.Sprintf("contents differ from byte %d", off))
	}
	ch.reencoded = re && off < 0
	return ch, nil
}

// modeBits are the permission bits with setuid, setgid and sticky, as chmod numbers them.
func modeBits(m fs.FileMode) uint32 {
	b := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		b |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		b |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		b |= 0o1000
	}
	return b
}

// contents returns the first byte at which two regular files differ (-1 if they are equal) and
// whether equal blocks were found stored as different compressed bytes.
//
// With the same compressor and block size it walks the files' blocks as the images store them
// (squash's Blocks): data blocks whose stored sizes and bytes are equal on both sides are equal,
// and runs of such blocks are compared in one read; sparse runs on both sides are equal. Only
// blocks stored differently are decoded, and the tails (in fragment blocks) are compared
// decoded.
func (c *sqCompare) contents(x, y *squash.Entry) (int64, bool, error) {
	n := min(x.Size, y.Size)
	bufs := c.getBufs()
	defer c.bufs.Put(bufs)
	var fa, fb *squash.File
	defer func() {
		if fa != nil {
			fa.Close()
		}
		if fb != nil {
			fb.Close()
		}
	}()
	open := func() error {
		if fa != nil {
			return nil
		}
		var err error
		if fa, err = c.a.r.OpenEntry(x); err != nil {
			return c.a.err(x.Name, err)
		}
		if fb, err = c.b.r.OpenEntry(y); err != nil {
			fa.Close()
			fa = nil
			return c.b.err(y.Name, err)
		}
		return nil
	}
	// decoded compares [lo, hi) of the decoded contents, a block at a time.
	decoded := func(lo, hi int64) (int64, error) {
		if lo >= hi {
			return -1, nil
		}
		if err := open(); err != nil {
			return 0, err
		}
		// A block at a time, or the whole of files shorter than a block.
		bs := int64(max(c.a.sb.BlockSize, c.b.sb.BlockSize))
		if need := int(min(bs, max(x.Size, y.Size))); len(bufs.blkA) < need {
			bufs.blkA, bufs.blkB = make([]byte, need), make([]byte, need)
		}
		step := int64(len(bufs.blkA))
		for off := lo; off < hi; {
			k := min(step-off%step, hi-off)
			ba, bb := bufs.blkA[:k], bufs.blkB[:k]
			if err := readFull(fa, ba, off); err != nil {
				return 0, c.a.err(x.Name, err)
			}
			if err := readFull(fb, bb, off); err != nil {
				return 0, c.b.err(y.Name, err)
			}
			if i := firstDiff(ba, bb); i < len(ba) {
				return off + int64(i), nil
			}
			off += k
		}
		return -1, nil
	}
	end := func(off int64, err error) (int64, bool, error) {
		return off, false, err
	}
	if !c.raw {
		off, err := decoded(0, n)
		if err != nil || off >= 0 {
			return end(off, err)
		}
		if x.Size != y.Size {
			return n, false, nil
		}
		return -1, false, nil
	}

	reencoded := false
	// A run of pairs of data blocks stored alike, next to each other on both sides, compared
	// in one read of each side.
	type pair struct{ off, size, stored int64 }
	var run []pair
	var runA, runB, runLen int64
	flush := func() (int64, error) {
		if len(run) == 0 {
			return -1, nil
		}
		defer func() { run, runLen = run[:0], 0 }()
		ra, rb := bufs.rawA[:runLen], bufs.rawB[:runLen]
		if err := readFull(c.a.ra, ra, runA); err != nil {
			return 0, c.a.err(x.Name, err)
		}
		if err := readFull(c.b.ra, rb, runB); err != nil {
			return 0, c.b.err(y.Name, err)
		}
		if bytes.Equal(ra, rb) {
			return -1, nil
		}
		// Decode the blocks whose bytes differ.
		var at int64
		for _, p := range run {
			if !bytes.Equal(ra[at:at+p.stored], rb[at:at+p.stored]) {
				off, err := decoded(p.off, min(p.off+p.size, n))
				if err != nil || off >= 0 {
					return off, err
				}
				reencoded = true
			}
			at += p.stored
		}
		return -1, nil
	}
	nextA, stopA := iter.Pull2(c.a.r.Blocks(x))
	defer stopA()
	nextB, stopB := iter.Pull2(c.b.r.Blocks(y))
	defer stopB()
	var ba, bb squash.Block
	for pos := int64(0); pos < n; {
		// The blocks of each side that hold pos.
		for ba.Offset+ba.Size <= pos {
			var err error
			var ok bool
			if ba, err, ok = nextA(); !ok || err != nil {
				return end(0, c.a.err(x.Name, blocksEnd(err, pos)))
			}
		}
		for bb.Offset+bb.Size <= pos {
			var err error
			var ok bool
			if bb, err, ok = nextB(); !ok || err != nil {
				return end(0, c.b.err(y.Name, blocksEnd(err, pos)))
			}
		}
		stop := min(ba.Offset+ba.Size, bb.Offset+bb.Size, n)
		switch {
		case ba.Sparse && bb.Sparse:
			// Zeros on both sides.
		case !ba.Sparse && !bb.Sparse && !ba.Tail && !bb.Tail && ba.Offset == bb.Offset &&
			ba.Size == bb.Size && ba.StoredSize == bb.StoredSize && ba.Uncompressed == bb.Uncompressed:
			// Stored alike: compare the stored bytes, with the run's if they follow it.
			if len(run) > 0 && (ba.ImageOffset != runA+runLen || bb.ImageOffset != runB+runLen ||
				runLen+ba.StoredSize > int64(len(bufs.rawA))) {
				if off, err := flush(); err != nil || off >= 0 {
					return end(off, err)
				}
			}
			if ba.StoredSize > int64(len(bufs.rawA)) { // larger than the image: corrupt
				if off, err := decoded(pos, stop); err != nil || off >= 0 {
					return end(off, err)
				}
				break
			}
			if len(run) == 0 {
				runA, runB = ba.ImageOffset, bb.ImageOffset
			}
			run = append(run, pair{off: ba.Offset, size: ba.Size, stored: ba.StoredSize})
			runLen += ba.StoredSize
		default:
			// Stored differently, or a tail: compare the decoded contents.
			if off, err := flush(); err != nil || off >= 0 {
				return end(off, err)
			}
			off, err := decoded(pos, stop)
			if err != nil || off >= 0 {
				return end(off, err)
			}
			if !ba.Tail && !bb.Tail {
				reencoded = true
			}
		}
		pos = stop
	}
	if off, err := flush(); err != nil || off >= 0 {
		return end(off, err)
	}
	if x.Size != y.Size {
		return n, false, nil
	}
	return -1, reencoded, nil
}

// blocksEnd is the error of a file's blocks that end before pos, or fail.
func blocksEnd(err error, pos int64) error {
	if err != nil {
		return err
	}
	return fmt.Errorf("blocks end before byte %d of the file", pos)
}
