package squash

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strings"
)

// This file says where an image's bytes go: a Tally apportions every byte of the image among
// owners (store paths, say) that the caller names for its entries, and the image-wide parts.
//
// What an owner is charged:
//   - Data: the data blocks of its files, as stored (compressed). Contents stored once for
//     several files (deduplicated) are charged once, to one owner (see below); the others' files
//     are counted as Duplicates.
//   - Fragments: its share of each fragment block its files' tails are in: the block's stored
//     bytes split in proportion to the bytes of tails each owner has in it (bytes of the block
//     no tail refers to are the image's).
//   - Inodes: its share of the inode table's metadata blocks. An inode's records run from its
//     start to the next inode's (its fixed part, a symlink's target, a file's block list, a
//     directory's index); each metadata block's stored bytes (its 2-byte header included) are
//     split in proportion to the decoded bytes of each owner's inodes in it.
//   - Directories: its share of the directory table's metadata blocks, split the same way: a
//     listing's headers are its directory's owner's, and each entry's record (8 bytes and the
//     name) the owner's of the entry it names.
//
// Shares are rounded so that, block by block, they add up to the block's stored bytes exactly
// (largest remainders): the owners' bytes and the image-wide parts add up to the image's
// BytesUsed. Contents several owners' files share are charged to the owner with whose data they
// lie in the image: the owner of the nearest contents stored for one owner only, before them
// (else after them), if it is one of the sharers; else a sharer with no contents of its own;
// else the first sharer added. In an image where each owner's data is a contiguous stretch
// (gonixiso's segments, one per store path) this is the owner in whose stretch they lie, up to
// the case the bytes cannot tell apart: a stretch that holds nothing but shared contents, next to
// another sharer's.

// Usage is where an image's bytes go (Tally.Usage): by owner, and the image-wide parts. The
// owners' totals and the image-wide parts add up to Size.
type Usage struct {
	// Owners are the bytes each owner's entries take, by the owner names given to Tally.Add.
	Owners map[string]OwnerUsage
	// Superblock is the superblock's bytes and the compressor options'.
	Superblock int64
	// Unreferenced is the bytes of the data area that no added file's data refers to (data of
	// entries not added, gaps, bytes of fragment blocks no tail refers to).
	Unreferenced int64
	// Metadata is the bytes of the inode and directory tables that no added entry's records
	// take (records of entries not added, gaps).
	Metadata int64
	// Tables is the bytes after the directory table: the fragment, export, id and xattr
	// tables and their indexes.
	Tables int64
	// Size is the image's BytesUsed.
	Size int64

	// FragmentBlocks counts the fragment blocks added files' tails are in; SharedFragmentBlocks
	// those holding tails of several owners, whose bytes are split by estimate.
	FragmentBlocks, SharedFragmentBlocks int
	// SharedData counts the stored contents that files of several owners share.
	SharedData int
}

// OwnerUsage is the bytes of an image an owner's entries take.
type OwnerUsage struct {
	Data        int64 // data blocks, as stored
	Fragments   int64 // share of fragment blocks
	Inodes      int64 // share of the inode table
	Directories int64 // share of the directory table
	// Files counts its regular files, Duplicates those whose contents another owner is
	// charged for.
	Files, Duplicates int
	// Stored and Tails are the bytes of the data blocks (as stored) and of the tails (decoded)
	// of the contents first met in its files, in the order the entries were added: what
	// Storage says of its files, each contents counted once, for the first file that has it.
	Stored, Tails int64
}

// Total is the bytes the owner takes.
func (o OwnerUsage) Total() int64 { return o.Data + o.Fragments + o.Inodes + o.Directories }

// Metadata is the owner's share of the inode and directory tables.
func (o OwnerUsage) Metadata() int64 { return o.Inodes + o.Directories }

// A Tally apportions an image's bytes among owners: Add every entry of the image (from Walk,
// the root too) with its owner's name, then Usage. It reads block lists as entries are added,
// and the metadata tables' block headers and the directory listings in Usage; it decodes no
// data block (but fragment blocks whose compressor does not record their size, as Storage).
// It holds a few tens of bytes per entry. A Tally is not safe for concurrent use.
type Tally struct {
	r         *Reader
	owners    []string
	ownerOf   map[string]int32
	inodes    []tallyInode // in the order added; sorted by reference in Usage
	dirs      []tallyDir
	ids       map[dataKey]int32 // index in data, by the stored part's identity
	data      []tallyData
	more      map[int32][]ownerFiles // owners of shared parts but the first, by index in data
	files     []int                  // regular files, by owner
	parts     []fileParts            // of each regular file with stored data
	fragStart map[uint32]int64       // where fragment blocks lie, by index
}

// fileParts are the stored parts of a regular file: indexes in Tally.data, -1 for none.
type fileParts struct {
	owner, run, tail int32
}

type tallyInode struct {
	ref   uint64
	owner int32
}

type tallyDir struct {
	e     *Entry
	owner int32
	recs  []dirRecord // its listing's records, in the image's order
}

// dirRecord is a record of a directory listing: a header, or an entry naming the inode ref.
type dirRecord struct {
	pos uint32 // offset in the listing
	n   uint32 // bytes
	ref uint64 // the inode an entry names; headerRecord for a header
}

const headerRecord = math.MaxUint64

// dataKey identifies a stored part of files' contents: a digest of where it lies.
type dataKey [16]byte

// tallyData is a stored part of files' contents, which files may share: a run of data blocks
// (length > 0), or a tail in a fragment block. Files share both parts when their contents are
// stored once (mksquashfs, and gonixiso within a store path), or only the blocks (gonixiso's
// files whose contents an earlier store path has: the tail is each path's own). It records
// where the part lies, and the first owner whose files refer to it (Tally.more has the others).
type tallyData struct {
	start  int64  // of the data blocks in the image
	length int64  // bytes of the data blocks
	tail   int64  // the tail's bytes
	pos    int64  // where the part lies: start, or its fragment block's offset
	frag   uint32 // fragment block of the tail, or noFragment
	off    uint32 // the tail's offset in it
	owner  int32  // the first owner; after Usage's first pass, the one charged
	files  int32  // the first owner's files
}

type ownerFiles struct {
	owner int32
	files int32
}

// Tally returns a new Tally of the image.
func (r *Reader) Tally() *Tally {
	return &Tally{r: r, ownerOf: map[string]int32{}, ids: map[dataKey]int32{}, more: map[int32][]ownerFiles{},
		fragStart: map[uint32]int64{}}
}

func (t *Tally) owner(name string) int32 {
	if i, ok := t.ownerOf[name]; ok {
		return i
	}
	i := int32(len(t.owners))
	t.owners = append(t.owners, name)
	t.ownerOf[name] = i
	t.files = append(t.files, 0)
	return i
}

// Add counts the entry e (from Walk or Lookup) as owner's. Another name of an inode added
// already (a hard link) counts its inode once, for the first owner, and its data as shared.
func (t *Tally) Add(owner string, e *Entry) error {
	o := t.owner(owner)
	t.inodes = append(grow(t.inodes), tallyInode{e.ref, o})
	switch {
	case e.Mode.IsDir():
		d := tallyDir{e: e, owner: o}
		if e.listSize > 3 {
			var err error
			if d.recs, err = t.r.listingRecords(e); err != nil {
				return err
			}
		}
		t.dirs = append(grow(t.dirs), d)
	case e.Mode.IsRegular():
		return t.addFile(o, e)
	}
	return nil
}

// addFile records where a regular file's contents are stored, reading its block list once.
func (t *Tally) addFile(o int32, e *Entry) error {
	t.files[o]++
	if e.Size == 0 {
		return nil
	}
	id, length, err := t.r.dataExtent(e)
	if err != nil {
		return err
	}
	fp := fileParts{owner: o, run: -1, tail: -1}
	if length > 0 {
		var b [1 + 8 + 8 + sha256.Size]byte
		b[0] = 'r'
		binary.LittleEndian.PutUint64(b[1:], id.start)
		binary.LittleEndian.PutUint64(b[9:], uint64(length))
		copy(b[17:], id.list[:])
		fp.run = t.part(o, b[:], tallyData{start: int64(id.start), length: length, frag: noFragment})
	}
	if e.fragment != noFragment {
		// By where the block lies: two fragment entries may name one block (gonixiso's
		// segments share a block identical to an earlier one's).
		start, ok := t.fragStart[e.fragment]
		if !ok {
			if start, _, err = t.r.fragmentEntry(e.fragment); err != nil {
				return fmt.Errorf("squash: %w", err)
			}
			t.fragStart[e.fragment] = start
		}
		tail := e.Size - int64(e.nblocks)*int64(t.r.bs)
		var b [1 + 8 + 4 + 8]byte
		b[0] = 't'
		binary.LittleEndian.PutUint64(b[1:], uint64(start))
		binary.LittleEndian.PutUint32(b[9:], e.fragOff)
		binary.LittleEndian.PutUint64(b[13:], uint64(tail))
		fp.tail = t.part(o, b[:], tallyData{tail: tail, frag: e.fragment, off: e.fragOff})
	}
	if fp.run >= 0 || fp.tail >= 0 {
		t.parts = append(grow(t.parts), fp)
	}
	return nil
}

// part records that a file of owner o refers to the stored part d, identified by key, and
// returns its index in data.
func (t *Tally) part(o int32, key []byte, d tallyData) int32 {
	sum := sha256.Sum256(key)
	k := dataKey(sum[:16])
	i, ok := t.ids[k]
	if !ok {
		d.owner, d.files = o, 1
		i = int32(len(t.data))
		t.ids[k] = i
		t.data = append(grow(t.data), d)
		return i
	}
	d0 := &t.data[i]
	if d0.owner == o {
		d0.files++
		return i
	}
	m := t.more[i]
	if j := slices.IndexFunc(m, func(x ownerFiles) bool { return x.owner == o }); j >= 0 {
		m[j].files++
	} else {
		t.more[i] = append(m, ownerFiles{o, 1})
	}
	return i
}

// dataExtent returns the DataID of the regular file e and the bytes of its data blocks, which
// lie one after the other from its start, from one read of its block list.
func (r *Reader) dataExtent(e *Entry) (DataID, int64, error) {
	id := DataID{size: e.Size, fragment: e.fragment, fragOff: e.fragOff}
	l, err := r.blockList(e)
	if err != nil {
		return DataID{}, 0, err
	}
	h := sha256.New()
	var length int64
	var word [4]byte
	for {
		w, _, err := l.next()
		if err == errBlockListEnd {
			break
		}
		if err != nil {
			return DataID{}, 0, err
		}
		if w != 0 {
			id.start = e.start
			length += int64(w &^ dataUncompressed)
		}
		binary.LittleEndian.PutUint32(word[:], w)
		h.Write(word[:])
	}
	h.Sum(id.list[:0])
	return id, length, nil
}

// sharers returns the owners of the contents data[i], the first one first.
func (t *Tally) sharers(i int32) []int32 {
	out := []int32{t.data[i].owner}
	for _, m := range t.more[i] {
		out = append(out, m.owner)
	}
	return out
}

// Usage apportions the image's bytes among the owners of the entries added.
func (t *Tally) Usage() (*Usage, error) {
	r := t.r
	u := &Usage{Owners: map[string]OwnerUsage{}, Size: r.size, Superblock: r.dataStart}
	acc := make([]OwnerUsage, len(t.owners))
	for i, n := range t.files {
		acc[i].Files = n
	}
	for i := range t.data {
		acc[t.data[i].owner].Stored += t.data[i].length
		acc[t.data[i].owner].Tails += t.data[i].tail
	}
	// Hard links: an inode counts once, for its first owner.
	slices.SortStableFunc(t.inodes, func(a, b tallyInode) int { return cmp.Compare(a.ref, b.ref) })
	t.inodes = slices.CompactFunc(t.inodes, func(a, b tallyInode) bool { return a.ref == b.ref })

	// Where each stored contents lie, in image order (tails by their offset in their
	// fragment block), to find their owner.
	frags := map[uint32]fragInfo{}
	fragAt := func(i uint32) (fragInfo, error) {
		if f, ok := frags[i]; ok {
			return f, nil
		}
		start, w, err := r.fragmentEntry(i)
		if err != nil {
			return fragInfo{}, fmt.Errorf("squash: %w", err)
		}
		f := fragInfo{start: start, word: w}
		frags[i] = f
		return f, nil
	}
	order := make([]int32, 0, len(t.data))
	for i := range t.data {
		d := &t.data[i]
		d.pos = d.start
		if d.length == 0 {
			if d.frag == noFragment {
				continue // all sparse: nothing stored
			}
			f, err := fragAt(d.frag)
			if err != nil {
				return nil, err
			}
			d.pos = f.start
		}
		order = append(order, int32(i))
	}
	where := func(i int32) (int64, int64) {
		d := &t.data[i]
		if d.length == 0 {
			return d.pos, int64(d.off)
		}
		return d.pos, -1
	}
	slices.SortFunc(order, func(a, b int32) int {
		pa, sa := where(a)
		pb, sb := where(b)
		return cmp.Or(cmp.Compare(pa, pb), cmp.Compare(sa, sb), cmp.Compare(a, b))
	})
	// The owner of shared contents: by their neighbours among the contents of one owner.
	own := make([]int32, 0, len(order)) // contents of one owner, in image order
	hasOwn := make([]bool, len(t.owners))
	for _, i := range order {
		if t.more[i] == nil {
			own = append(own, i)
			hasOwn[t.data[i].owner] = true
		}
	}
	for _, i := range order {
		if t.more[i] == nil {
			continue
		}
		u.SharedData++
		sharers := t.sharers(i)
		pi, si := where(i)
		k, _ := slices.BinarySearchFunc(own, i, func(a, _ int32) int {
			pa, sa := where(a)
			return cmp.Or(cmp.Compare(pa, pi), cmp.Compare(sa, si))
		})
		o := int32(-1)
		if k > 0 && slices.Contains(sharers, t.data[own[k-1]].owner) {
			o = t.data[own[k-1]].owner
		} else if k < len(own) && slices.Contains(sharers, t.data[own[k]].owner) {
			o = t.data[own[k]].owner
		} else {
			for _, s := range sharers {
				if !hasOwn[s] {
					o = s
					break
				}
			}
			if o < 0 {
				o = sharers[0]
			}
		}
		t.data[i].owner = o
	}
	// A file with a stored part another owner is charged for is a duplicate.
	for _, fp := range t.parts {
		if fp.run >= 0 && t.data[fp.run].owner != fp.owner || fp.tail >= 0 && t.data[fp.tail].owner != fp.owner {
			acc[fp.owner].Duplicates++
		}
	}

	// The stored stretches: data blocks, and fragment blocks split by their tails.
	type stretch struct {
		start, length int64
		data          int32 // index in t.data, or -1 for a fragment block
		frag          int32 // index in blocks
	}
	exts := make([]stretch, 0, len(order))
	type tail struct {
		frag  uint32
		off   uint32
		size  int64
		owner int32
	}
	tails := make([]tail, 0, len(order))
	for _, i := range order {
		d := &t.data[i]
		if d.length > 0 {
			exts = append(exts, stretch{start: d.start, length: d.length, data: i})
		}
		if d.frag != noFragment {
			tails = append(tails, tail{d.frag, d.off, d.tail, d.owner})
		}
	}
	// A tail met twice (contents stored as different DataIDs that share it) counts once.
	slices.SortStableFunc(tails, func(a, b tail) int {
		return cmp.Or(cmp.Compare(a.frag, b.frag), cmp.Compare(a.off, b.off), cmp.Compare(a.size, b.size))
	})
	tails = slices.CompactFunc(tails, func(a, b tail) bool { return a.frag == b.frag && a.off == b.off && a.size == b.size })
	// Fragment blocks, by where they lie: two fragment entries may name one block.
	type fragBlock struct {
		f       fragInfo
		index   uint32
		owners  []int32
		weights []int64
	}
	var blocks []*fragBlock
	byStart := map[int64]*fragBlock{}
	for _, tl := range tails {
		f, err := fragAt(tl.frag)
		if err != nil {
			return nil, err
		}
		b := byStart[f.start]
		if b == nil {
			b = &fragBlock{f: f, index: tl.frag}
			byStart[f.start] = b
			blocks = append(blocks, b)
		}
		if k := slices.Index(b.owners, tl.owner); k >= 0 {
			b.weights[k] += tl.size
		} else {
			b.owners = append(b.owners, tl.owner)
			b.weights = append(b.weights, tl.size)
		}
	}
	tails = nil
	for k, b := range blocks {
		stored := int64(b.f.word &^ dataUncompressed)
		holds, err := r.fragmentHolds(b.index, Block{ImageOffset: b.f.start, StoredSize: stored, Uncompressed: b.f.word&dataUncompressed != 0})
		if err != nil {
			return nil, fmt.Errorf("squash: %w", err)
		}
		var held int64
		for _, w := range b.weights {
			held += w
		}
		if len(b.owners) > 1 {
			u.SharedFragmentBlocks++
		}
		if holds > held {
			b.owners, b.weights = append(b.owners, -1), append(b.weights, holds-held)
		}
		u.FragmentBlocks++
		exts = append(exts, stretch{start: b.f.start, length: stored, data: -1, frag: int32(k)})
	}
	// Charge the stretches in image order, each byte once (stretches of a sound image do not
	// overlap; a crafted one's are cut where an earlier one ends).
	slices.SortStableFunc(exts, func(a, b stretch) int { return cmp.Compare(a.start, b.start) })
	var referenced, end int64
	for _, x := range exts {
		s, e := max(x.start, end), x.start+x.length
		if e <= s {
			continue
		}
		end = e
		if x.data >= 0 {
			acc[t.data[x.data].owner].Data += e - s
			referenced += e - s
			continue
		}
		b := blocks[x.frag]
		for i, n := range split(e-s, b.weights) {
			if o := b.owners[i]; o >= 0 { // else bytes of the block no tail refers to
				acc[o].Fragments += n
				referenced += n
			}
		}
	}
	u.Unreferenced = int64(r.t.inodeTable) - r.dataStart - referenced

	// The metadata tables.
	inodes, err := t.inodeUsage(acc)
	if err != nil {
		return nil, err
	}
	dirs, err := t.directoryUsage(acc)
	if err != nil {
		return nil, err
	}
	u.Metadata = inodes + dirs
	u.Tables = r.size - r.dirEnd
	for i, name := range t.owners {
		a := u.Owners[name]
		a.Data += acc[i].Data
		a.Fragments += acc[i].Fragments
		a.Inodes += acc[i].Inodes
		a.Directories += acc[i].Directories
		a.Files += acc[i].Files
		a.Duplicates += acc[i].Duplicates
		a.Stored += acc[i].Stored
		a.Tails += acc[i].Tails
		u.Owners[name] = a
	}
	return u, nil
}

type fragInfo struct {
	start int64
	word  uint32
}

// metaTable is a metadata table's blocks: where each lies, its stored bytes, and where its
// decoded bytes start in the table's decoded stream.
type metaTable struct {
	offsets []int64 // from the table's start
	stored  []int64
	starts  []int64 // decoded; one more, the table's decoded length
}

// readMetaTable reads the block headers of the metadata table from lo to hi, and the decoded
// length of each block (from its container when it says so, else by decoding it).
func (r *Reader) readMetaTable(name string, lo, hi int64) (*metaTable, error) {
	mt := &metaTable{starts: []int64{0}}
	var decoded int64
	var buf [metadataSize]byte
	for pos := lo; pos < hi; {
		var h [metadataHeaderSize]byte
		if pos+metadataHeaderSize > hi {
			return nil, fmt.Errorf("squash: %s table: %d bytes at its end, too few for a block", name, hi-pos)
		}
		if _, err := r.ra.ReadAt(h[:], pos); err != nil {
			return nil, fmt.Errorf("squash: %s table: %w", name, err)
		}
		word := binary.LittleEndian.Uint16(h[:])
		n := int64(word &^ metadataUncompressed)
		if n == 0 || n > metadataSize || pos+metadataHeaderSize+n > hi {
			return nil, fmt.Errorf("squash: %s table: metadata block at %d: length %d out of bounds", name, pos, n)
		}
		size := n
		if word&metadataUncompressed == 0 {
			src := buf[:n]
			if _, err := r.ra.ReadAt(src, pos+metadataHeaderSize); err != nil {
				return nil, fmt.Errorf("squash: %s table: %w", name, err)
			}
			if k, ok := r.dec.contentSize(src); ok && k > 0 && k <= metadataSize {
				size = int64(k)
			} else {
				mb, err := r.metaBlockAt(pos, lo, hi)
				if err != nil {
					return nil, fmt.Errorf("squash: %s table: %w", name, err)
				}
				size = int64(len(mb.data))
			}
		}
		mt.offsets = append(mt.offsets, pos-lo)
		mt.stored = append(mt.stored, metadataHeaderSize+n)
		decoded += size
		mt.starts = append(mt.starts, decoded)
		pos += metadataHeaderSize + n
	}
	return mt, nil
}

// position returns where the reference (block offset from the table's start, offset in the
// block) is in the table's decoded stream.
func (mt *metaTable) position(block uint64, off int) (int64, bool) {
	i, ok := slices.BinarySearch(mt.offsets, int64(block))
	if !ok || int64(off) > mt.starts[i+1]-mt.starts[i] {
		return 0, false
	}
	return mt.starts[i] + int64(off), true
}

// metaSpan is a run of a table's decoded bytes that an owner's records take.
type metaSpan struct {
	start, end int64
	owner      int32
}

// apportion splits each block's stored bytes among the owners of the spans in it, in
// proportion to their decoded bytes, and returns the bytes no span takes.
func (mt *metaTable) apportion(spans []metaSpan, charge func(owner int32, n int64)) int64 {
	slices.SortFunc(spans, func(a, b metaSpan) int { return cmp.Compare(a.start, b.start) })
	var unattributed int64
	k := 0
	for b := range mt.stored {
		lo, hi := mt.starts[b], mt.starts[b+1]
		var owners []int32
		var weights []int64
		var covered int64
		for k < len(spans) && spans[k].end <= lo {
			k++
		}
		for j := k; j < len(spans) && spans[j].start < hi; j++ {
			s, e := max(spans[j].start, lo), min(spans[j].end, hi)
			if e <= s {
				continue
			}
			covered += e - s
			if n := len(owners); n > 0 && owners[n-1] == spans[j].owner {
				weights[n-1] += e - s
			} else {
				owners = append(owners, spans[j].owner)
				weights = append(weights, e-s)
			}
		}
		if free := hi - lo - covered; free > 0 || len(owners) == 0 {
			owners, weights = append(owners, -1), append(weights, max(free, 1))
		}
		shares := split(mt.stored[b], weights)
		for i, o := range owners {
			if o < 0 {
				unattributed += shares[i]
			} else {
				charge(o, shares[i])
			}
		}
	}
	return unattributed
}

// inodeUsage charges the inode table: each inode from its start to the next one's.
func (t *Tally) inodeUsage(acc []OwnerUsage) (int64, error) {
	r := t.r
	mt, err := r.readMetaTable("inode", int64(r.t.inodeTable), int64(r.t.directoryTable))
	if err != nil {
		return 0, err
	}
	spans := make([]metaSpan, 0, len(t.inodes))
	for _, in := range t.inodes {
		p, ok := mt.position(in.ref>>16, int(in.ref&0xFFFF))
		if !ok {
			return 0, fmt.Errorf("squash: inode reference %#x: not at a metadata block of the inode table", in.ref)
		}
		spans = append(spans, metaSpan{start: p, owner: in.owner})
	}
	slices.SortFunc(spans, func(a, b metaSpan) int { return cmp.Compare(a.start, b.start) })
	for i := range spans {
		if i+1 < len(spans) {
			spans[i].end = spans[i+1].start
		} else {
			spans[i].end = mt.starts[len(mt.starts)-1]
		}
	}
	return mt.apportion(spans, func(o int32, n int64) { acc[o].Inodes += n }), nil
}

// listingRecords returns the records of directory e's listing, in the image's order (a Walk has
// just read it: the listing comes from the reader's cache).
func (r *Reader) listingRecords(e *Entry) ([]dirRecord, error) {
	l, err := r.listing(e)
	if err != nil {
		return nil, err
	}
	// The entries in the image's order: the listing's, unless the image stores them unsorted
	// (l.disk).
	entry := func(k int) (string, uint64) {
		if l.disk == nil {
			return l.ents[k].name, l.ents[k].ref
		}
		name := l.disk[k]
		j, _ := slices.BinarySearchFunc(l.ents, name, func(c dirent, n string) int { return strings.Compare(c.name, n) })
		return name, l.ents[j].ref
	}
	recs := make([]dirRecord, 0, len(l.headers)+len(l.ents))
	next := 0
	for _, h := range l.headers {
		p := h.pos
		recs = append(recs, dirRecord{pos: p, n: dirHeaderSize, ref: headerRecord})
		p += dirHeaderSize
		for range h.count {
			if next >= len(l.ents) {
				break
			}
			name, ref := entry(next)
			next++
			n := uint32(dirEntrySize + len(name))
			recs = append(recs, dirRecord{pos: p, n: n, ref: ref})
			p += n
		}
	}
	return recs, nil
}

// directoryUsage charges the directory table: a listing's headers to its directory's owner,
// each entry's record to the owner of the entry it names.
func (t *Tally) directoryUsage(acc []OwnerUsage) (int64, error) {
	r := t.r
	mt, err := r.readMetaTable("directory", int64(r.t.directoryTable), r.dirEnd)
	if err != nil {
		return 0, err
	}
	var n int
	for _, d := range t.dirs {
		n += len(d.recs)
	}
	spans := make([]metaSpan, 0, n)
	for _, d := range t.dirs {
		if d.recs == nil {
			continue
		}
		e := d.e
		start, ok := mt.position(uint64(e.listBlock), int(e.listOffset))
		if !ok {
			return 0, fmt.Errorf("squash: %s: directory listing at %d:%d: not at a metadata block of the directory table",
				e.Name, e.listBlock, e.listOffset)
		}
		for _, rec := range d.recs {
			p := start + int64(rec.pos)
			o := d.owner
			if rec.ref != headerRecord {
				if k, ok := slices.BinarySearchFunc(t.inodes, rec.ref, func(in tallyInode, ref uint64) int {
					return cmp.Compare(in.ref, ref)
				}); ok {
					o = t.inodes[k].owner
				}
			}
			spans = append(spans, metaSpan{start: p, end: p + int64(rec.n), owner: o})
		}
	}
	return mt.apportion(spans, func(o int32, n int64) { acc[o].Directories += n }), nil
}

// grow returns s with room for one more element: twice its length when full, so that the
// tally's long lists are copied about once as they grow (append grows large slices by a
// quarter, copying each element some five times, on fresh pages).
func grow[T any](s []T) []T {
	if len(s) < cap(s) {
		return s
	}
	return slices.Grow(s, max(len(s), 64))
}

// split divides total in proportion to weights, rounding so that the parts add up to total:
// each part is rounded down, and the bytes left go one each to the largest remainders (the
// first on ties).
func split(total int64, weights []int64) []int64 {
	out := make([]int64, len(weights))
	var sum int64
	for _, w := range weights {
		sum += w
	}
	if sum <= 0 || len(weights) == 0 {
		if len(out) > 0 {
			out[0] = total
		}
		return out
	}
	type rem struct {
		i int
		r int64
	}
	rems := make([]rem, len(weights))
	var given int64
	for i, w := range weights {
		// total and w are at most an image's size: their product fits 128 bits, not always
		// 64; block-sized totals (the only ones given) keep it well within.
		q := total * w / sum
		out[i] = q
		given += q
		rems[i] = rem{i, total*w - q*sum}
	}
	slices.SortStableFunc(rems, func(a, b rem) int { return cmp.Compare(b.r, a.r) })
	for k := 0; given < total; k++ {
		out[rems[k%len(rems)].i]++
		given++
	}
	return out
}
