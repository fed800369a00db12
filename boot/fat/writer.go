package fat

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf16"
)

var le = binary.LittleEndian

// Options configure a Writer. Nothing else goes into the image: the same options and files give
// the same bytes.
type Options struct {
	// Size is the size of the image in bytes, a multiple of SectorSize. It decides the FAT type
	// (see the package documentation).
	Size int64
	// Label is the volume label: up to 11 characters allowed in short names, or spaces; lower
	// case is stored upper case. Empty means none ("NO NAME").
	Label string
	// VolumeID is the volume serial number (mkfs.fat -i), shown by blkid as XXXX-XXXX.
	VolumeID uint32
	// ModTime is every date of the image: creation, modification and access of every entry. It
	// must fall in the years 1980 to 2107.
	ModTime time.Time
}

// A Writer builds a FAT12 or FAT16 image. Files and directories are added by slash-separated
// path in any order, held in memory, and laid out by Close: every directory's entries sorted by
// name, each directory and file in one contiguous run of clusters, in a depth-first walk. An
// image for an EFI system partition holds a few megabytes; a Writer is not meant for much more.
type Writer struct {
	w      io.Writer
	opts   Options
	root   *node
	closed bool
}

// node is a file or directory of the tree being built.
type node struct {
	name     string
	dir      bool
	data     bytes.Buffer     // a file's content
	children map[string]*node // a directory's entries, by folded name

	// Set by Close.
	short         [11]byte
	ntRes         byte
	long          bool   // the name needs long name entries
	cluster       uint32 // first cluster, 0 for an empty file and for the root
	clusters      uint32 // clusters allocated
	parentCluster uint32 // a directory's parent's first cluster, for ".."
	content       []byte // a directory's entries
}

// NewWriter returns a Writer that writes the image to w when it is closed.
func NewWriter(w io.Writer, opts Options) *Writer {
	return &Writer{w: w, opts: opts, root: &node{dir: true, children: map[string]*node{}}}
}

// fold is the key under which a name is unique in a directory: FAT compares names without case.
func fold(name string) string { return strings.ToUpper(name) }

// lookup walks to the directory holding path's last element, creating the directories on the
// way, and returns it with the last element.
func (w *Writer) lookup(path string) (*node, string, error) {
	if w.closed {
		return nil, "", errors.New("writer is closed")
	}
	if !fs.ValidPath(path) || path == "." {
		return nil, "", errors.New("invalid path")
	}
	elems := strings.Split(path, "/")
	dir := w.root
	for _, e := range elems[:len(elems)-1] {
		next, err := dir.child(e)
		if err != nil {
			return nil, "", err
		}
		if next == nil {
			if next, err = dir.add(e, true); err != nil {
				return nil, "", err
			}
		}
		if !next.dir {
			return nil, "", fmt.Errorf("%s is a file", e)
		}
		dir = next
	}
	return dir, elems[len(elems)-1], nil
}

// child returns dir's entry named name, nil if there is none, or an error if an entry's name
// differs from it only in case.
func (dir *node) child(name string) (*node, error) {
	n := dir.children[fold(name)]
	if n != nil && n.name != name {
		return nil, fmt.Errorf("%s clashes with %s: FAT names do not differ in case", name, n.name)
	}
	return n, nil
}

func (dir *node) add(name string, isDir bool) (*node, error) {
	if err := checkLongName(name); err != nil {
		return nil, fmt.Errorf("%q: %w", name, err)
	}
	n := &node{name: name, dir: isDir}
	if isDir {
		n.children = map[string]*node{}
	}
	dir.children[fold(name)] = n
	return n, nil
}

// Mkdir adds the directory path and any missing parents. Adding a directory that exists does
// nothing.
func (w *Writer) Mkdir(path string) error {
	dir, name, err := w.lookup(path)
	if err != nil {
		return fmt.Errorf("fat: %s: %w", path, err)
	}
	n, err := dir.child(name)
	if err == nil && n == nil {
		_, err = dir.add(name, true)
	} else if err == nil && !n.dir {
		err = errors.New("a file of that name exists")
	}
	if err != nil {
		return fmt.Errorf("fat: %s: %w", path, err)
	}
	return nil
}

// Create adds the file path, creating missing parent directories, and returns a writer for its
// content, which may be written until Close.
func (w *Writer) Create(path string) (io.Writer, error) {
	dir, name, err := w.lookup(path)
	if err == nil {
		var n *node
		if n, err = dir.child(name); err == nil && n != nil {
			err = fs.ErrExist
		} else if err == nil {
			if n, err = dir.add(name, false); err == nil {
				return &n.data, nil
			}
		}
	}
	return nil, fmt.Errorf("fat: %s: %w", path, err)
}

// geometry is the layout of a volume.
type geometry struct {
	totalSectors uint32
	secPerClus   uint32
	fatSectors   uint32
	clusters     uint32 // data clusters, numbered from firstCluster
	fat16        bool
}

const rootDirSectors = rootEntries * dirEntrySize / SectorSize

func (g geometry) clusterSize() int { return int(g.secPerClus) * SectorSize }

// The boundaries of the FAT types are kept at a distance: fatgen103 warns that not every
// implementation agrees on them to the cluster.
const typeMargin = 16

// fat16Threshold is the size in sectors (4.1 MiB) up to which fatgen103 makes FAT12, and
// fat16SecPerClus its table of cluster sizes for FAT16 by volume size.
const fat16Threshold = 8400

var fat16SecPerClus = []struct{ upTo, secPerClus uint32 }{
	{32680, 2}, {262144, 4}, {524288, 8}, {1048576, 16}, {2097152, 32}, {4194304, 64},
}

// layout chooses the geometry of a volume of the given size: FAT12 up to 8400 sectors with the
// smallest clusters that keep it FAT12, FAT16 above that with fatgen103's cluster sizes.
func layout(size int64) (geometry, error) {
	if size <= 0 || size%SectorSize != 0 {
		return geometry{}, fmt.Errorf("size %d is not a positive multiple of %d", size, SectorSize)
	}
	if size/SectorSize > math.MaxUint32 {
		return geometry{}, fmt.Errorf("size %d too large", size)
	}
	total := uint32(size / SectorSize)
	if total <= fat16Threshold {
		for spc := uint32(1); spc <= 64; spc *= 2 {
			g, ok := fit(total, spc, false)
			if ok && g.clusters <= maxClustersFAT12-typeMargin {
				return g, nil
			}
		}
		return geometry{}, fmt.Errorf("size %d too small for a FAT volume", size)
	}
	for _, row := range fat16SecPerClus {
		if total > row.upTo {
			continue
		}
		for spc := row.secPerClus; spc <= 128; spc *= 2 {
			g, ok := fit(total, spc, true)
			if ok && g.clusters <= maxClustersFAT16-typeMargin {
				if g.clusters < maxClustersFAT12+1+typeMargin {
					break
				}
				return g, nil
			}
		}
		break
	}
	return geometry{}, fmt.Errorf("size %d too large for FAT16 (FAT32 is not written)", size)
}

// fit sizes the FATs of a volume of total sectors and clusters of spc sectors.
func fit(total, spc uint32, fat16 bool) (geometry, bool) {
	g := geometry{totalSectors: total, secPerClus: spc, fat16: fat16, fatSectors: 1}
	for {
		overhead := uint64(reservedSectors) + numFATs*uint64(g.fatSectors) + rootDirSectors
		if uint64(total) <= overhead+uint64(spc) {
			return g, false
		}
		g.clusters = (total - uint32(overhead)) / spc
		need := uint32(fatBytes(g.clusters, fat16)+SectorSize-1) / SectorSize
		if need <= g.fatSectors {
			return g, true
		}
		g.fatSectors = need
	}
}

// fatBytes is the size of a FAT for clusters data clusters and the two reserved entries.
func fatBytes(clusters uint32, fat16 bool) uint64 {
	n := uint64(clusters) + firstCluster
	if fat16 {
		return 2 * n
	}
	return (3*n + 1) / 2
}

// Close lays out the image and writes it. It writes nothing if the files do not fit in
// Options.Size or the options are invalid.
func (w *Writer) Close() error {
	if w.closed {
		return errors.New("fat: writer is closed")
	}
	w.closed = true
	img, err := w.build()
	if err != nil {
		return fmt.Errorf("fat: %w", err)
	}
	return img.writeTo(w.w)
}

// image is a laid-out volume, ready to be written.
type image struct {
	g     geometry
	boot  []byte
	fat   []byte
	root  []byte
	order []*node // directories and files with clusters, in cluster order
}

func (w *Writer) build() (*image, error) {
	g, err := layout(w.opts.Size)
	if err != nil {
		return nil, err
	}
	label, err := volumeLabel(w.opts.Label)
	if err != nil {
		return nil, err
	}
	stamp, err := newStamp(w.opts.ModTime)
	if err != nil {
		return nil, err
	}
	img := &image{g: g}

	// Names, sizes and clusters, in a depth-first walk of sorted entries.
	csize := uint64(g.clusterSize())
	next := uint64(firstCluster)
	var walk func(dir *node) error
	walk = func(dir *node) error {
		kids := dir.sorted()
		if err := assignShortNames(kids); err != nil {
			return err
		}
		entries := 0
		for _, k := range kids {
			entries += k.entryCount()
		}
		if dir == w.root {
			if label != noLabel {
				entries++
			}
			if entries > rootEntries {
				return fmt.Errorf("the root directory holds %d entries, more than %d", entries, rootEntries)
			}
		} else {
			entries += 2 // "." and ".."
			dir.clusters = uint32((uint64(entries)*dirEntrySize + csize - 1) / csize)
			dir.cluster = uint32(next)
			next += uint64(dir.clusters)
			img.order = append(img.order, dir)
		}
		for _, k := range kids {
			if k.dir {
				if err := walk(k); err != nil {
					return err
				}
				continue
			}
			size := uint64(k.data.Len())
			if size > math.MaxUint32 {
				return fmt.Errorf("%s: %d bytes is more than a FAT file holds", k.name, size)
			}
			if size > 0 {
				k.clusters = uint32((size + csize - 1) / csize)
				k.cluster = uint32(next)
				next += uint64(k.clusters)
				img.order = append(img.order, k)
			}
		}
		return nil
	}
	if err := walk(w.root); err != nil {
		return nil, err
	}
	if used := next - firstCluster; used > uint64(g.clusters) {
		return nil, fmt.Errorf("contents need %d clusters of %d bytes, the image of %d bytes has %d",
			used, csize, w.opts.Size, g.clusters)
	}

	// Directory contents, now that every cluster is known.
	img.root = make([]byte, rootEntries*dirEntrySize)
	off := 0
	if label != noLabel {
		var short [11]byte
		copy(short[:], label)
		stamp.put(img.root, short, 0, attrVolumeID, 0, 0)
		off = dirEntrySize
	}
	w.root.fill(img.root[off:], stamp)
	for _, n := range img.order {
		if !n.dir {
			continue
		}
		n.content = make([]byte, int(n.clusters)*g.clusterSize())
		var dot, dotdot [11]byte
		copy(dot[:], ".          ")
		copy(dotdot[:], "..         ")
		stamp.put(n.content, dot, 0, attrDirectory, n.cluster, 0)
		stamp.put(n.content[dirEntrySize:], dotdot, 0, attrDirectory, n.parentCluster, 0)
		n.fill(n.content[2*dirEntrySize:], stamp)
	}

	// The FAT: one chain per directory and file.
	img.fat = make([]byte, int(g.fatSectors)*SectorSize)
	set := img.setFAT
	if g.fat16 {
		set(0, 0xFF00|mediaFixed)
		set(1, eocFAT16)
	} else {
		set(0, 0xF00|mediaFixed)
		set(1, eocFAT12)
	}
	eoc := uint32(eocFAT12)
	if g.fat16 {
		eoc = eocFAT16
	}
	for _, n := range img.order {
		for c := n.cluster; c < n.cluster+n.clusters-1; c++ {
			set(c, c+1)
		}
		set(n.cluster+n.clusters-1, eoc)
	}

	img.boot = bootSector(g, w.opts.VolumeID, label)
	return img, nil
}

// sorted returns a directory's entries sorted by name, and records their parent's cluster.
func (dir *node) sorted() []*node {
	kids := make([]*node, 0, len(dir.children))
	for _, k := range dir.children {
		kids = append(kids, k)
	}
	slices.SortFunc(kids, func(a, b *node) int { return strings.Compare(a.name, b.name) })
	return kids
}

// assignShortNames gives each entry of a directory its short name: its own where it has one,
// else a generated basis~n name that no other entry has.
func assignShortNames(kids []*node) error {
	taken := map[[11]byte]bool{}
	for _, k := range kids {
		if short, nt, ok := shortName(k.name); ok {
			k.short, k.ntRes, k.long = short, nt, false
			taken[short] = true
		} else {
			k.long = true
		}
	}
	for _, k := range kids {
		if !k.long {
			continue
		}
		base, ext := basisName(k.name)
		if base == "" {
			base = "_"
		}
		for n := 1; ; n++ {
			if n > 999999 {
				return fmt.Errorf("%s: no free short name", k.name)
			}
			short := numericTail(base, ext, n)
			if !taken[short] {
				k.short = short
				taken[short] = true
				break
			}
		}
	}
	return nil
}

// entryCount is the number of 32-byte entries that name n.
func (n *node) entryCount() int {
	if !n.long {
		return 1
	}
	return 1 + (len(utf16.Encode([]rune(n.name)))+ldirChars-1)/ldirChars
}

// fill writes a directory's entries (after "." and "..") into buf, sorted by name, and tells
// each subdirectory its parent's cluster (0 for the root).
func (dir *node) fill(buf []byte, s stamp) {
	off := 0
	for _, k := range dir.sorted() {
		if k.long {
			lfn := longEntries(k.name, shortNameChecksum(k.short[:]))
			off += copy(buf[off:], lfn)
		}
		attr := byte(attrArchive)
		size := uint32(k.data.Len())
		if k.dir {
			attr, size = attrDirectory, 0
			k.parentCluster = dir.cluster
		}
		s.put(buf[off:], k.short, k.ntRes, attr, k.cluster, size)
		off += dirEntrySize
	}
}

// stamp holds the packed form of Options.ModTime.
type stamp struct {
	date, time uint16
	tenth      uint8
}

func newStamp(t time.Time) (stamp, error) {
	d, tm, tenth, err := packTime(t)
	return stamp{d, tm, tenth}, err
}

// put writes a short directory entry.
func (s stamp) put(e []byte, short [11]byte, ntRes, attr byte, cluster, size uint32) {
	copy(e[dirName:], short[:])
	e[dirAttr] = attr
	e[dirNTRes] = ntRes
	if attr&attrVolumeID == 0 {
		e[dirCrtTimeTenth] = s.tenth
		le.PutUint16(e[dirCrtTime:], s.time)
		le.PutUint16(e[dirCrtDate:], s.date)
		le.PutUint16(e[dirLstAccDate:], s.date)
	}
	le.PutUint16(e[dirWrtTime:], s.time)
	le.PutUint16(e[dirWrtDate:], s.date)
	le.PutUint16(e[dirFstClusLO:], uint16(cluster))
	le.PutUint32(e[dirFileSize:], size)
}

func (img *image) setFAT(cluster, value uint32) {
	if img.g.fat16 {
		le.PutUint16(img.fat[2*cluster:], uint16(value))
		return
	}
	off := cluster * 3 / 2
	if cluster%2 == 0 {
		img.fat[off] = byte(value)
		img.fat[off+1] = img.fat[off+1]&0xF0 | byte(value>>8)&0x0F
	} else {
		img.fat[off] = img.fat[off]&0x0F | byte(value<<4)
		img.fat[off+1] = byte(value >> 4)
	}
}

// volumeLabel returns the 11-byte label for s.
func volumeLabel(s string) (string, error) {
	if s == "" {
		return noLabel, nil
	}
	u := strings.ToUpper(s)
	if len(u) > 11 || strings.TrimSpace(u) == "" {
		return "", fmt.Errorf("volume label %q: want 1 to 11 characters", s)
	}
	for i := 0; i < len(u); i++ {
		if u[i] != ' ' && !isShortChar(u[i]) {
			return "", fmt.Errorf("volume label %q: character %q not allowed", s, u[i])
		}
	}
	return u + strings.Repeat(" ", 11-len(u)), nil
}

func bootSector(g geometry, volumeID uint32, label string) []byte {
	b := make([]byte, bootSectorLength)
	b[bsJmpBoot], b[bsJmpBoot+1], b[bsJmpBoot+2] = jmpBoot0, jmpBoot1, jmpBoot2
	copy(b[bsOEMName:], oemName)
	le.PutUint16(b[bpbBytsPerSec:], SectorSize)
	b[bpbSecPerClus] = byte(g.secPerClus)
	le.PutUint16(b[bpbRsvdSecCnt:], reservedSectors)
	b[bpbNumFATs] = numFATs
	le.PutUint16(b[bpbRootEntCnt:], rootEntries)
	if g.totalSectors <= math.MaxUint16 {
		le.PutUint16(b[bpbTotSec16:], uint16(g.totalSectors))
	} else {
		le.PutUint32(b[bpbTotSec32:], g.totalSectors)
	}
	b[bpbMedia] = mediaFixed
	le.PutUint16(b[bpbFATSz16:], uint16(g.fatSectors))
	le.PutUint16(b[bpbSecPerTrk:], sectorsHead)
	le.PutUint16(b[bpbNumHeads:], numHeads)
	b[bsDrvNum] = driveHard
	b[bsBootSig] = bootSig
	le.PutUint32(b[bsVolID:], volumeID)
	copy(b[bsVolLab:], label)
	if g.fat16 {
		copy(b[bsFilSysType:], typeFAT16)
	} else {
		copy(b[bsFilSysType:], typeFAT12)
	}
	copy(b[bsBootCode:], bootCode)
	b[bsSignature], b[bsSignature+1] = signature0, signature1
	return b
}

// writeTo writes the image in one sequential pass.
func (img *image) writeTo(w io.Writer) error {
	g := img.g
	pad := func(n int64) error {
		for n > 0 {
			k, err := w.Write(zeros[:min(n, int64(len(zeros)))])
			if err != nil {
				return err
			}
			n -= int64(k)
		}
		return nil
	}
	write := func(b []byte) error {
		_, err := w.Write(b)
		return err
	}
	if err := write(img.boot); err != nil {
		return fmt.Errorf("fat: %w", err)
	}
	if err := pad(int64(reservedSectors*SectorSize - len(img.boot))); err != nil {
		return fmt.Errorf("fat: %w", err)
	}
	for i := 0; i < numFATs; i++ {
		if err := write(img.fat); err != nil {
			return fmt.Errorf("fat: %w", err)
		}
	}
	if err := write(img.root); err != nil {
		return fmt.Errorf("fat: %w", err)
	}
	written := int64(reservedSectors+numFATs*g.fatSectors+rootDirSectors) * SectorSize
	csize := int64(g.clusterSize())
	for _, n := range img.order {
		var err error
		if n.dir {
			err = write(n.content)
		} else {
			data := n.data.Bytes()
			if err = write(data); err == nil {
				err = pad(int64(n.clusters)*csize - int64(len(data)))
			}
		}
		if err != nil {
			return fmt.Errorf("fat: %s: %w", n.name, err)
		}
		written += int64(n.clusters) * csize
	}
	if err := pad(int64(g.totalSectors)*SectorSize - written); err != nil {
		return fmt.Errorf("fat: %w", err)
	}
	return nil
}

var zeros [64 << 10]byte
