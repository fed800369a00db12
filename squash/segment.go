package squash

import (
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
)

// Segment describes a stretch of an image's data area and the entries added while it was
// written (see Writer.Flush): its own data, which depends on nothing but its entries and the
// writer's options (Options.SegmentKey), so that it can be placed in any later image with
// AddSegment, after any other segments, and give the same bytes as adding its entries again.
//
// A segment's own data holds every block of its files, the tails of its files packed in its own
// fragment blocks, and each contents once. In the image that wrote it, the blocks of a file
// identical to a file of an earlier segment are that file's, and a fragment block identical to an
// earlier segment's is that one: neither is stored again, and Pieces says where in that image the
// segment's own data lies. Offsets are relative to the segment's own data.
type Segment struct {
	// Start and End are the segment's data offsets in the image that wrote it; the image
	// holds End-Start bytes of the segment, which are Size() bytes of its own data with the
	// shared blocks left out.
	Start, End int64
	// FragmentBase is the index of the segment's first fragment block in that image.
	FragmentBase uint32
	// Fragments are the segment's fragment blocks.
	Fragments []SegmentFragment
	// Entries are the entries added in the segment, in the order they were added.
	Entries []SegmentEntry
	// Unfinished marks what the image holds of a segment that a failed writer did not end
	// (Writer.Unfinished): blocks for a later writer to Reuse, not a segment to place.
	Unfinished bool

	splices []splice // the shared blocks, in order
}

// A splice is a file's blocks that a segment's own data has at image offset at, and the image has
// at src, n bytes, from an earlier segment.
type splice struct{ at, src, n int64 }

// A run is a stretch of a segment's own data, from its offset self, that placing the segment
// leaves out because the image has it already.
type run struct{ self, n int64 }

// SegmentFragment is a fragment block of a segment.
type SegmentFragment struct {
	Offset int64  // from the segment's start
	Size   uint32 // on-disk size word, with bit 24 set when stored uncompressed
	// Hash identifies the block's contents (zero when the writer did not detect duplicates):
	// a block identical to an earlier segment's is stored once.
	Hash [32]byte
}

// SegmentEntry is an entry of a segment with, for a regular file, where its data lies.
type SegmentEntry struct {
	Header
	Offset         int64    // of the first block, from the segment's start (0 without blocks)
	Blocks         []uint32 // on-disk size word of each block; 0 for a sparse block
	Fragment       uint32   // fragment block, from the segment's first; NoFragment for none
	FragmentOffset uint32   // of the tail in the fragment block
	Sparse         int64    // bytes of sparse blocks
	// Hash identifies a non-empty file's contents for duplicate detection (zero for an empty
	// file, or when the writer did not detect duplicates).
	Hash [32]byte
}

// NoFragment is a SegmentEntry's Fragment when the file has no tail in a fragment block.
const NoFragment = noFragment

// Size is the length of the segment's own data.
func (s *Segment) Size() int64 {
	n := s.End - s.Start
	for _, sp := range s.splices {
		n += sp.n
	}
	return n
}

// A Piece is a stretch of an image: Length bytes from Offset.
type Piece struct{ Offset, Length int64 }

// Pieces says where the segment's own data lies in the image that wrote it: read in order, the
// pieces give its Size() bytes. A segment read back with UnmarshalBinary is one piece, its own
// data from 0.
func (s *Segment) Pieces() []Piece {
	var ps []Piece
	pos := s.Start
	for _, sp := range s.splices {
		if sp.at > pos {
			ps = append(ps, Piece{pos, sp.at - pos})
		}
		ps = append(ps, Piece{sp.src, sp.n})
		pos = sp.at
	}
	if s.End > pos {
		ps = append(ps, Piece{pos, s.End - pos})
	}
	return ps
}

// describe fills the segment's entries and fragments from the writer's nodes: on the consumer.
func (s *Segment) describe(nodes []*node, frags []fragEntry) {
	s.Fragments = make([]SegmentFragment, len(frags))
	for i, f := range frags {
		s.Fragments[i] = SegmentFragment{Offset: f.self, Size: f.size, Hash: f.hash}
	}
	s.Entries = make([]SegmentEntry, len(nodes))
	for i, n := range nodes {
		e := SegmentEntry{Header: n.hdr, Fragment: noFragment}
		e.Name = n.path()
		if n.hdr.Mode.IsRegular() {
			e.Hash = n.hash
			if len(n.blocks) > 0 {
				e.Offset = n.self
			}
			e.Blocks = append([]uint32(nil), n.blocks...)
			if n.fragment != noFragment {
				e.Fragment = n.fragment - s.FragmentBase
			}
			e.FragmentOffset = n.fragOff
			e.Sparse = n.sparse
		}
		s.Entries[i] = e
	}
}

// check validates a segment read back from storage against the writer's block size, so that a
// corrupt description cannot produce a corrupt image. An unfinished segment's first entry has
// no data; the others are regular files without their tails: each has some of its whole blocks,
// the first ones, and no fragment.
func (s *Segment) check(blockSize int) error {
	size := s.Size()
	if size < 0 {
		return fmt.Errorf("negative size %d", size)
	}
	for i, f := range s.Fragments {
		l := int64(f.Size &^ dataUncompressed)
		if l == 0 || l > int64(blockSize) || f.Offset < 0 || f.Offset+l > size {
			return fmt.Errorf("fragment %d out of bounds", i)
		}
	}
	for i, e := range s.Entries {
		if err := checkHeader(&e.Header); err != nil {
			return err
		}
		if s.Unfinished && i == 0 {
			if len(e.Blocks) > 0 || e.Fragment != noFragment {
				return fmt.Errorf("%s: data on the first entry of an unfinished segment", e.Name)
			}
			continue
		}
		bs := int64(blockSize)
		if s.Unfinished && (!e.Mode.IsRegular() || e.Fragment != noFragment || e.Size < bs) {
			return fmt.Errorf("%s: not a file's whole blocks in an unfinished segment", e.Name)
		}
		if !e.Mode.IsRegular() {
			if len(e.Blocks) > 0 || e.Fragment != noFragment {
				return fmt.Errorf("%s: data on a non-regular entry", e.Name)
			}
			continue
		}
		want := e.Size / bs
		switch {
		case s.Unfinished && len(e.Blocks) > 0 && int64(len(e.Blocks)) <= want:
			want = int64(len(e.Blocks)) // some of its whole blocks, the first ones
		case !s.Unfinished && e.Fragment == noFragment && e.Size%bs != 0:
			want++ // the tail is a block
		}
		if int64(len(e.Blocks)) != want {
			return fmt.Errorf("%s: %d blocks for %d bytes", e.Name, len(e.Blocks), e.Size)
		}
		sparse := int64(0)
		for _, b := range e.Blocks {
			l := int64(b &^ dataUncompressed)
			if l > bs {
				return fmt.Errorf("%s: block larger than the block size", e.Name)
			}
			if l == 0 {
				sparse += bs
			}
		}
		if e.Offset < 0 || e.Offset+dataLength(e.Blocks) > size {
			return fmt.Errorf("%s: blocks out of bounds", e.Name)
		}
		if e.Sparse < 0 || e.Sparse > sparse {
			return fmt.Errorf("%s: bad sparse count", e.Name)
		}
		if e.Fragment != noFragment {
			if int(e.Fragment) >= len(s.Fragments) || e.Size%bs == 0 {
				return fmt.Errorf("%s: bad fragment", e.Name)
			}
			if int64(e.FragmentOffset)+e.Size%bs > bs {
				return fmt.Errorf("%s: tail out of its fragment block", e.Name)
			}
		}
	}
	return nil
}

// CheckSegment tells whether seg can be placed in this image: its description must be sound for
// the writer's block size and, where the writer detects duplicates, name each file's contents.
// A segment does not depend on the segments before it, so one that was sound when stored can be
// placed after any others. An error says why not; the writer is unaffected.
func (w *Writer) CheckSegment(seg *Segment) error {
	if seg.Unfinished {
		return errors.New("squash: stored segment: unfinished (its blocks can be reused, not placed)")
	}
	return w.checkStored(seg)
}

// checkStored tells whether seg, finished or not, is sound for this writer (see CheckSegment).
func (w *Writer) checkStored(seg *Segment) error {
	if err := seg.check(w.blockSize); err != nil {
		return fmt.Errorf("squash: stored segment: %w", err)
	}
	if w.opts.NoDedup {
		return nil
	}
	for i := range seg.Entries {
		e := &seg.Entries[i]
		// An unfinished segment's files written in part have no contents hash.
		if e.Mode.IsRegular() && e.Size > 0 && e.Hash == ([32]byte{}) && !seg.Unfinished {
			return fmt.Errorf("squash: stored segment: %s has no contents hash (written without duplicate detection)", e.Name)
		}
	}
	for i, f := range seg.Fragments {
		if f.Hash == ([32]byte{}) {
			return fmt.Errorf("squash: stored segment: fragment block %d has no contents hash (written without duplicate detection)", i)
		}
	}
	return nil
}

// AddSegment places a segment written by an earlier image (see Options.OnSegment) with its
// entries: its own data, seg.Size() bytes read from data, is copied into the image (with
// copy_file_range when both are files) except for the blocks of files the image has already,
// and only the tables are made anew. The result is byte-identical to adding the same entries
// again, whatever came before. The current segment is ended first.
//
// data is read by the writer's pipeline after AddSegment returns; if it is an io.Closer, it is
// closed once read (or when the writer fails).
func (w *Writer) AddSegment(seg *Segment, data io.Reader) (err error) {
	sent := false
	defer func() {
		if c, ok := data.(io.Closer); ok && !sent {
			c.Close()
		}
	}()
	if err := w.ready(); err != nil {
		return err
	}
	if err := w.endSegment(); err != nil {
		return w.fail(err)
	}
	if err := w.CheckSegment(seg); err != nil {
		return err
	}
	if uint64(w.fragCount)+uint64(len(seg.Fragments)) > math.MaxUint32-1 {
		return w.fail(errors.New("squash: too many fragment blocks"))
	}
	base := w.fragCount
	nodes := make([]*node, 0, len(seg.Entries))
	origs := make([]*node, len(seg.Entries))
	var runs []run
	first := map[[32]byte]int{} // the first entry of each contents in the segment
	for i := range seg.Entries {
		e := &seg.Entries[i]
		n, err := w.addNode(&e.Header)
		if err != nil {
			return w.fail(err)
		}
		nodes = append(nodes, n)
		if !n.hdr.Mode.IsRegular() {
			continue
		}
		n.hash = e.Hash
		n.start = e.Offset // the consumer places it
		n.blocks = append([]uint32(nil), e.Blocks...)
		n.sparse = e.Sparse
		if e.Fragment != noFragment {
			n.fragment, n.fragOff = base+e.Fragment, e.FragmentOffset
		}
		if w.opts.NoDedup || e.Size == 0 {
			continue
		}
		// As the writer decided when it wrote the segment (finishFile): a file with the
		// contents of an earlier one of the segment is that one's; a file with a block whose
		// contents are an earlier segment's file's shares its blocks.
		if j, ok := first[e.Hash]; ok {
			origs[i] = origs[j]
			continue
		}
		first[e.Hash] = i
		if sharedBlocks(e, w.blockSize) == 0 {
			continue
		}
		if o := w.shared[e.Hash]; o != nil && o.hdr.Size == e.Size {
			origs[i] = o
			runs = append(runs, run{self: e.Offset, n: dataLength(e.Blocks)})
		} else if o == nil {
			w.shared[e.Hash] = n
		}
	}
	// Fragment blocks, as flushFragment decided.
	fragOrigs := make([]int64, len(seg.Fragments)) // index of the earlier block it is, or -1
	for i, f := range seg.Fragments {
		fragOrigs[i] = -1
		if w.opts.NoDedup {
			continue
		}
		if o, ok := w.frags[f.Hash]; ok {
			fragOrigs[i] = int64(o)
			runs = append(runs, run{self: f.Offset, n: int64(f.Size &^ dataUncompressed)})
		} else {
			w.frags[f.Hash] = base + uint32(i)
		}
	}
	sort.Slice(runs, func(i, j int) bool { return runs[i].self < runs[j].self })
	for i := 1; i < len(runs); i++ {
		if runs[i].self < runs[i-1].self+runs[i-1].n {
			return w.fail(fmt.Errorf("squash: stored segment: shared blocks overlap at %d", runs[i].self))
		}
	}
	w.fragCount += uint32(len(seg.Fragments))
	placed := *seg
	sent = true
	if err := w.send(&job{kind: jobRaw, seg: &placed, nodes: nodes, origs: origs, fragOrigs: fragOrigs, runs: runs, raw: data}); err != nil {
		// The pipeline has stopped: nobody will read data.
		if c, ok := data.(io.Closer); ok {
			c.Close()
		}
		return w.fail(err)
	}
	w.startSegment()
	return nil
}

// sharedBlocks is how many of a file's blocks count for sharing them with a later segment, as the
// writer counted them (finishFile): all but a tail of zeros, which is a sparse block when it is not
// in a fragment block, and is stored nowhere.
func sharedBlocks(e *SegmentEntry, blockSize int) int {
	n := len(e.Blocks)
	if n > 0 && e.Size%int64(blockSize) != 0 && e.Fragment == noFragment && e.Blocks[n-1]&^dataUncompressed == 0 {
		n--
	}
	return n
}

// placeSegment copies a stored segment's own data but for the runs the image has already, and
// fixes its entries' offsets: on the consumer.
func (w *Writer) placeSegment(j *job) error {
	if c, ok := j.raw.(io.Closer); ok {
		defer c.Close()
	}
	seg := j.seg
	base := w.pos
	var self int64 // of the next byte of data
	copyTo := func(end int64) error {
		n, err := io.CopyN(w.out, j.raw, end-self)
		self += n
		w.pos += n
		w.maxEnd = max(w.maxEnd, w.pos)
		if err != nil {
			return fmt.Errorf("squash: placing a stored segment: %d of %d bytes: %w", self, seg.Size(), err)
		}
		return nil
	}
	for _, r := range j.runs {
		if err := copyTo(r.self); err != nil {
			return err
		}
		n, err := io.CopyN(io.Discard, j.raw, r.n)
		self += n
		if err != nil {
			return fmt.Errorf("squash: placing a stored segment: %d of %d bytes: %w", self, seg.Size(), err)
		}
	}
	if err := copyTo(seg.Size()); err != nil {
		return err
	}
	// where is the image offset of the segment's own data at self.
	where := func(self int64) int64 {
		at := base + self
		for _, r := range j.runs {
			if r.self >= self {
				break
			}
			at -= r.n
		}
		return at
	}
	for i, nd := range j.nodes {
		if o := j.origs[i]; o != nil {
			nd.start, nd.blocks, nd.sparse = o.start, o.blocks, o.sparse
			continue
		}
		if nd.hdr.Mode.IsRegular() && len(nd.blocks) > 0 {
			nd.start = where(nd.start)
		}
	}
	for i, f := range seg.Fragments {
		if o := j.fragOrigs[i]; o >= 0 {
			e := w.fragments[o]
			w.fragments = append(w.fragments, fragEntry{start: e.start, size: e.size})
			continue
		}
		w.fragments = append(w.fragments, fragEntry{start: where(f.Offset), size: f.Size})
	}
	w.nextSegment()
	return nil
}
