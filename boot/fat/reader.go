package fat

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"time"
	"unicode/utf16"
)

// A Reader reads a FAT12 or FAT16 volume: its own images and those other formatters made. It
// implements fs.FS and fs.ReadDirFS, with long names where the volume has them. The bytes are
// untrusted: every offset is checked against the image, cluster chains that loop or leave the
// volume are errors, and nothing is read or allocated beyond the image's size. NewReader checks
// that the directories make a tree (no directory reached twice, no cluster in two chains, at
// most 64 levels), so that walking it and reading every file reads at most the volume.
type Reader struct {
	OEMName  string // the formatter's name from the boot sector
	VolumeID uint32
	Label    string // the volume label, trailing spaces removed ("" for none)
	FAT16    bool   // FAT16, or else FAT12
	Clusters int    // data clusters
	// ClusterSize is the size of a cluster in bytes.
	ClusterSize int

	r       io.ReaderAt
	rootOff int64 // the fixed root directory
	rootLen int64
	dataOff int64 // cluster 2
	fat     []byte
}

// NewReader reads the boot sector and the first FAT of the volume in r, size bytes long.
func NewReader(r io.ReaderAt, size int64) (*Reader, error) {
	if size < bootSectorLength {
		return nil, errors.New("fat: image smaller than a boot sector")
	}
	b := make([]byte, bootSectorLength)
	if err := readAt(r, b, 0); err != nil {
		return nil, fmt.Errorf("fat: boot sector: %w", err)
	}
	if b[bsSignature] != signature0 || b[bsSignature+1] != signature1 {
		return nil, errors.New("fat: no boot sector signature")
	}
	bps := int64(le.Uint16(b[bpbBytsPerSec:]))
	spc := int64(b[bpbSecPerClus])
	rsvd := int64(le.Uint16(b[bpbRsvdSecCnt:]))
	nfats := int64(b[bpbNumFATs])
	rootEnts := int64(le.Uint16(b[bpbRootEntCnt:]))
	fatSz := int64(le.Uint16(b[bpbFATSz16:]))
	total := int64(le.Uint16(b[bpbTotSec16:]))
	if total == 0 {
		total = int64(le.Uint32(b[bpbTotSec32:]))
	}
	switch {
	case bps != 512 && bps != 1024 && bps != 2048 && bps != 4096:
		return nil, fmt.Errorf("fat: %d bytes per sector", bps)
	case spc == 0 || spc&(spc-1) != 0:
		return nil, fmt.Errorf("fat: %d sectors per cluster", spc)
	case rsvd == 0 || nfats == 0:
		return nil, errors.New("fat: no reserved sectors or no FAT")
	case rootEnts == 0 || fatSz == 0:
		return nil, errors.New("fat: a FAT32 volume (not supported)")
	case total*bps > size:
		return nil, fmt.Errorf("fat: volume of %d bytes in an image of %d", total*bps, size)
	}
	rootSecs := (rootEnts*dirEntrySize + bps - 1) / bps
	meta := rsvd + nfats*fatSz + rootSecs
	if meta >= total {
		return nil, errors.New("fat: no data region")
	}
	clusters := (total - meta) / spc
	if clusters > maxClustersFAT16 {
		return nil, fmt.Errorf("fat: %d clusters make a FAT32 volume (not supported)", clusters)
	}
	fr := &Reader{
		OEMName:     strings.TrimRight(latin1(b[bsOEMName:bsOEMName+8]), " \x00"),
		FAT16:       clusters > maxClustersFAT12,
		Clusters:    int(clusters),
		ClusterSize: int(spc * bps),
		r:           r,
		rootOff:     (rsvd + nfats*fatSz) * bps,
		rootLen:     rootEnts * dirEntrySize,
		dataOff:     meta * bps,
	}
	if fatBytes(uint32(clusters), fr.FAT16) > uint64(fatSz*bps) {
		return nil, fmt.Errorf("fat: a FAT of %d bytes is too small for %d clusters", fatSz*bps, clusters)
	}
	if b[bsBootSig] == bootSig {
		fr.VolumeID = le.Uint32(b[bsVolID:])
		fr.Label = strings.TrimRight(latin1(b[bsVolLab:bsVolLab+11]), " ")
		if fr.Label == "NO NAME" {
			fr.Label = ""
		}
	}
	fr.fat = make([]byte, fatSz*bps)
	if err := readAt(r, fr.fat, rsvd*bps); err != nil {
		return nil, fmt.Errorf("fat: FAT: %w", err)
	}
	// The label in the root directory is the one formatters and mlabel keep current.
	root, err := fr.readDir(0, true)
	if err != nil {
		return nil, err
	}
	for _, e := range root {
		if e.label {
			fr.Label = strings.TrimRight(e.name, " ")
		}
	}
	if err := fr.checkTree(root); err != nil {
		return nil, err
	}
	return fr, nil
}

// maxDepth bounds the nesting of directories. Opening a path reads every directory on it, so a
// walk costs the square of the depth; an EFI system partition nests a few levels.
const maxDepth = 64

// checkTree reads every directory once and checks that the volume holds a tree: each directory
// is reached by one entry, no cluster is in two chains (of directories, or of the clusters that
// files' sizes use), and directories nest at most maxDepth deep. Without this, entries that
// share a directory make a walk exponential (each level doubling the paths below it), and
// files that share clusters make reading every file read more than the volume holds. Chains
// that end early or leave the volume are left to Open to report, for the file they belong to.
func (r *Reader) checkTree(root []entry) error {
	owner := make([]string, r.Clusters) // the path that each cluster's chain belongs to
	claim := func(p string, chain []uint32) error {
		for _, c := range chain {
			if o := owner[c-firstCluster]; o != "" {
				return fmt.Errorf("fat: %s: cluster %d is also in %s (cross-linked, or a directory reached twice)", p, c, o)
			}
			owner[c-firstCluster] = p
		}
		return nil
	}
	type dir struct {
		path  string
		depth int
		ents  []entry
	}
	stack := []dir{{path: "/", ents: root}}
	for len(stack) > 0 {
		d := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, e := range d.ents {
			if e.label {
				continue
			}
			p := path.Join(d.path, e.name)
			if !e.dir {
				if e.size == 0 {
					continue
				}
				n := (int64(e.size) + int64(r.ClusterSize) - 1) / int64(r.ClusterSize)
				if chain, err := r.chain(e.cluster, int(min(n, int64(r.Clusters)))); err == nil {
					if err := claim(p, chain); err != nil {
						return err
					}
				}
				continue
			}
			if d.depth+1 > maxDepth {
				return fmt.Errorf("fat: %s: directories nested deeper than %d", p, maxDepth)
			}
			if e.cluster < firstCluster {
				return fmt.Errorf("fat: %s: directory at cluster %d loops back to the root", p, e.cluster)
			}
			chain, err := r.chain(e.cluster, r.Clusters)
			if err != nil {
				return fmt.Errorf("fat: %s: directory at cluster %d: %w", p, e.cluster, err)
			}
			if err := claim(p, chain); err != nil {
				return err
			}
			ents, err := r.readDir(e.cluster, false)
			if err != nil {
				return fmt.Errorf("fat: %s: %w", p, err)
			}
			stack = append(stack, dir{path: p, depth: d.depth + 1, ents: ents})
		}
	}
	return nil
}

// readAt fills p from r at off; io.EOF with p filled is success, as io.ReaderAt allows.
func readAt(r io.ReaderAt, p []byte, off int64) error {
	n, err := r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}

func latin1(b []byte) string {
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return string(r)
}

// entry is one file, directory or volume label read from a directory.
type entry struct {
	name    string
	dir     bool
	label   bool
	cluster uint32
	size    uint32
	mod     time.Time
}

// next returns the FAT entry of cluster c.
func (r *Reader) next(c uint32) uint32 {
	if r.FAT16 {
		return uint32(le.Uint16(r.fat[2*c:]))
	}
	off := c * 3 / 2
	v := uint32(le.Uint16(r.fat[off:]))
	if c%2 == 1 {
		return v >> 4
	}
	return v & 0xFFF
}

// chain returns up to max clusters of the chain starting at c.
func (r *Reader) chain(c uint32, max int) ([]uint32, error) {
	eoc, bad := uint32(0xFF8), uint32(badFAT12)
	if r.FAT16 {
		eoc, bad = 0xFFF8, badFAT16
	}
	var out []uint32
	for len(out) < max {
		if c < firstCluster || c >= firstCluster+uint32(r.Clusters) {
			return nil, fmt.Errorf("cluster %d outside the volume", c)
		}
		out = append(out, c)
		n := r.next(c)
		switch {
		case n >= eoc:
			return out, nil
		case n == bad:
			return nil, fmt.Errorf("chain reaches bad cluster after %d", c)
		}
		c = n
	}
	if len(out) >= r.Clusters {
		return nil, errors.New("cluster chain loops")
	}
	return out, nil
}

// readClusters reads length bytes from the chain starting at c.
func (r *Reader) readClusters(c uint32, length int64) ([]byte, error) {
	cs := int64(r.ClusterSize)
	n := (length + cs - 1) / cs
	if n > int64(r.Clusters) {
		return nil, fmt.Errorf("%d bytes do not fit in the volume", length)
	}
	chain, err := r.chain(c, int(n))
	if err != nil {
		return nil, err
	}
	if int64(len(chain)) < n {
		return nil, fmt.Errorf("cluster chain of %d bytes holds %d", int64(len(chain))*cs, length)
	}
	buf := make([]byte, length)
	for i, c := range chain {
		part := buf[int64(i)*cs:]
		if int64(len(part)) > cs {
			part = part[:cs]
		}
		if err := readAt(r.r, part, r.dataOff+int64(c-firstCluster)*cs); err != nil {
			return nil, err
		}
	}
	return buf, nil
}

// readDir reads the directory at cluster c (the root if root is set) and returns its entries,
// without "." and "..".
func (r *Reader) readDir(c uint32, root bool) ([]entry, error) {
	var raw []byte
	if root {
		raw = make([]byte, r.rootLen)
		if err := readAt(r.r, raw, r.rootOff); err != nil {
			return nil, fmt.Errorf("fat: root directory: %w", err)
		}
	} else {
		chain, err := r.chain(c, r.Clusters)
		if err != nil {
			return nil, fmt.Errorf("fat: directory at cluster %d: %w", c, err)
		}
		if raw, err = r.readClusters(c, int64(len(chain))*int64(r.ClusterSize)); err != nil {
			return nil, fmt.Errorf("fat: directory at cluster %d: %w", c, err)
		}
	}
	var out []entry
	var long longName
	for len(raw) >= dirEntrySize {
		e := raw[:dirEntrySize]
		raw = raw[dirEntrySize:]
		switch {
		case e[dirName] == dirFree:
			return out, nil
		case e[dirName] == dirDeleted:
			long.reset()
			continue
		case e[dirAttr]&attrLongMask == attrLongName:
			long.add(e)
			continue
		}
		name := decodeShort(e)
		if ln, ok := long.name(shortNameChecksum(e[dirName : dirName+11])); ok {
			name = ln
		}
		long.reset()
		ent := entry{
			name:    name,
			dir:     e[dirAttr]&attrDirectory != 0,
			label:   e[dirAttr]&attrVolumeID != 0,
			cluster: uint32(le.Uint16(e[dirFstClusLO:])),
			size:    le.Uint32(e[dirFileSize:]),
			mod:     unpackTime(le.Uint16(e[dirWrtDate:]), le.Uint16(e[dirWrtTime:])),
		}
		if ent.label {
			if root {
				ent.name = latin1(e[dirName : dirName+11])
				out = append(out, ent)
			}
			continue
		}
		if name == "." || name == ".." {
			continue
		}
		if name == "" || strings.ContainsAny(name, "/\x00") {
			return nil, fmt.Errorf("fat: invalid name %q in a directory", name)
		}
		out = append(out, ent)
	}
	return out, nil
}

// decodeShort returns the name a short entry stores, with its NT case bits applied.
func decodeShort(e []byte) string {
	n := slices.Clone(e[dirName : dirName+11])
	if n[0] == dirKanjiE5 {
		n[0] = dirDeleted
	}
	lower := func(b []byte) {
		for i, c := range b {
			if 'A' <= c && c <= 'Z' {
				b[i] = c - 'A' + 'a'
			}
		}
	}
	if e[dirNTRes]&ntLowerBase != 0 {
		lower(n[:8])
	}
	if e[dirNTRes]&ntLowerExt != 0 {
		lower(n[8:])
	}
	base := strings.TrimRight(latin1(n[:8]), " ")
	ext := strings.TrimRight(latin1(n[8:]), " ")
	if ext == "" {
		return base
	}
	return base + "." + ext
}

// longName collects the long entries before a short entry.
type longName struct {
	parts    [][]uint16 // by sequence number - 1
	want     int        // the sequence number expected next, 0 when collecting nothing
	checksum byte
}

func (l *longName) reset() { *l = longName{} }

func (l *longName) add(e []byte) {
	seq := int(e[ldirOrd] &^ ldirLast)
	if e[ldirOrd]&ldirLast != 0 {
		if seq < 1 || seq*ldirChars > maxLongName+ldirChars-1 {
			l.reset()
			return
		}
		*l = longName{parts: make([][]uint16, seq), want: seq, checksum: e[ldirChksum]}
	}
	if l.want == 0 || seq != l.want || e[ldirChksum] != l.checksum {
		l.reset()
		return
	}
	units := make([]uint16, 0, ldirChars)
	for _, run := range ldirRuns {
		for i := 0; i < run.n; i++ {
			units = append(units, le.Uint16(e[run.off+2*i:]))
		}
	}
	l.parts[seq-1] = units
	l.want--
}

// name returns the collected long name if it is complete and belongs to the short entry whose
// name has the given checksum.
func (l *longName) name(checksum byte) (string, bool) {
	if l.parts == nil || l.want != 0 || l.checksum != checksum {
		return "", false
	}
	var units []uint16
	for _, p := range l.parts {
		units = append(units, p...)
	}
	if i := slices.Index(units, 0); i >= 0 {
		units = units[:i]
	}
	if len(units) == 0 {
		return "", false
	}
	return string(utf16.Decode(units)), true
}

var rootEntry = entry{name: ".", dir: true}

// lookup finds the entry at name, a valid fs path. A directory whose cluster is one of its
// ancestors' (a cycle, which would make the tree infinite) is an error.
func (r *Reader) lookup(name string) (entry, error) {
	cur := rootEntry
	if name == "." {
		return cur, nil
	}
	var ancestors []uint32
	for _, elem := range strings.Split(name, "/") {
		if !cur.dir {
			return entry{}, fs.ErrNotExist
		}
		ents, err := r.readDir(cur.cluster, cur.cluster == 0)
		if err != nil {
			return entry{}, err
		}
		ancestors = append(ancestors, cur.cluster)
		i := slices.IndexFunc(ents, func(e entry) bool { return !e.label && e.name == elem })
		if i < 0 {
			return entry{}, fs.ErrNotExist
		}
		cur = ents[i]
		if cur.dir && (cur.cluster < firstCluster || slices.Contains(ancestors, cur.cluster)) {
			return entry{}, fmt.Errorf("fat: %s: directory at cluster %d loops back", elem, cur.cluster)
		}
	}
	return cur, nil
}

// entries returns the entries of the directory e, sorted by name.
func (r *Reader) entries(e entry) ([]entry, error) {
	ents, err := r.readDir(e.cluster, e.cluster == 0)
	if err != nil {
		return nil, err
	}
	ents = slices.DeleteFunc(ents, func(e entry) bool { return e.label })
	slices.SortFunc(ents, func(a, b entry) int { return strings.Compare(a.name, b.name) })
	return ents, nil
}

// Open opens the file or directory name.
func (r *Reader) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	e, err := r.lookup(name)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	info := fileInfo{e}
	if name == "." {
		info.e.name = "."
	}
	if e.dir {
		ents, err := r.entries(e)
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: name, Err: err}
		}
		return &dirFile{info: info, ents: ents}, nil
	}
	var data []byte
	if e.size > 0 {
		if data, err = r.readClusters(e.cluster, int64(e.size)); err != nil {
			return nil, &fs.PathError{Op: "open", Path: name, Err: err}
		}
	}
	return &file{Reader: bytes.NewReader(data), info: info}, nil
}

// ReadDir reads the directory name and returns its entries sorted by name.
func (r *Reader) ReadDir(name string) ([]fs.DirEntry, error) {
	f, err := r.Open(name)
	if err != nil {
		return nil, err
	}
	d, ok := f.(*dirFile)
	if !ok {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: errors.New("not a directory")}
	}
	return d.ReadDir(-1)
}

type fileInfo struct{ e entry }

func (fi fileInfo) Name() string       { return path.Base(fi.e.name) }
func (fi fileInfo) Size() int64        { return int64(fi.e.size) }
func (fi fileInfo) ModTime() time.Time { return fi.e.mod }
func (fi fileInfo) IsDir() bool        { return fi.e.dir }
func (fi fileInfo) Sys() any           { return nil }
func (fi fileInfo) Mode() fs.FileMode {
	if fi.e.dir {
		return fs.ModeDir | 0o555
	}
	return 0o444
}

type file struct {
	*bytes.Reader
	info fileInfo
}

func (f *file) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *file) Close() error               { return nil }

type dirFile struct {
	info fileInfo
	ents []entry
	off  int
}

func (d *dirFile) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *dirFile) Close() error               { return nil }
func (d *dirFile) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.info.e.name, Err: errors.New("is a directory")}
}

func (d *dirFile) ReadDir(n int) ([]fs.DirEntry, error) {
	rest := d.ents[d.off:]
	if n > 0 && len(rest) == 0 {
		return nil, io.EOF
	}
	if n > 0 && len(rest) > n {
		rest = rest[:n]
	}
	d.off += len(rest)
	out := make([]fs.DirEntry, len(rest))
	for i, e := range rest {
		out[i] = fs.FileInfoToDirEntry(fileInfo{e})
	}
	return out, nil
}
