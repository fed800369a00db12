package squash

import (
	"errors"
	"fmt"
	"io"
	"math"
)

// Segment describes a stretch of an image's data area and the entries added while it was
// written (see Writer.Flush). Offsets are relative to the segment, so the same segment can be
// placed anywhere in a later image with AddSegment and give the same bytes.
type Segment struct {
	// Start and End are the segment's data offsets in the image that wrote it.
	Start, End int64
	// FragmentBase is the index of the segment's first fragment block in that image.
	FragmentBase uint32
	// Fragments are the segment's fragment blocks.
	Fragments []SegmentFragment
	// Entries are the entries added in the segment, in the order they were added.
	Entries []SegmentEntry
}

// SegmentFragment is a fragment block of a segment.
type SegmentFragment struct {
	Offset int64  // from the segment's start
	Size   uint32 // on-disk size word, with bit 24 set when stored uncompressed
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
	// External marks a file identical to one of an earlier segment: its data is that file's,
	// found by Hash where the segment is placed; it has no blocks or fragment of its own.
	External bool
}

// NoFragment is a SegmentEntry's Fragment when the file has no tail in a fragment block.
const NoFragment = noFragment

// Size is the length of the segment's data.
func (s *Segment) Size() int64 { return s.End - s.Start }

// describe fills the segment's entries and fragments from the writer's nodes: on the consumer.
func (s *Segment) describe(nodes []*node, frags []fragEntry) {
	s.Fragments = make([]SegmentFragment, len(frags))
	for i, f := range frags {
		s.Fragments[i] = SegmentFragment{Offset: f.start - s.Start, Size: f.size}
	}
	s.Entries = make([]SegmentEntry, len(nodes))
	for i, n := range nodes {
		e := SegmentEntry{Header: n.hdr, Fragment: noFragment}
		if n.hdr.Mode.IsRegular() {
			e.Hash = n.hash
			if n.external {
				e.External = true
				s.Entries[i] = e
				continue
			}
			if len(n.blocks) > 0 {
				e.Offset = n.start - s.Start
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
// corrupt description cannot produce a corrupt image.
func (s *Segment) check(blockSize int) error {
	size := s.Size()
	if size < 0 {
		return fmt.Errorf("negative size %d", size)
	}
	onDisk := func(word uint32) int64 { return int64(word &^ dataUncompressed) }
	for i, f := range s.Fragments {
		l := onDisk(f.Size)
		if l == 0 || l > int64(blockSize) || f.Offset < 0 || f.Offset+l > size {
			return fmt.Errorf("fragment %d out of bounds", i)
		}
	}
	for _, e := range s.Entries {
		if err := checkHeader(&e.Header); err != nil {
			return err
		}
		if !e.Mode.IsRegular() {
			if len(e.Blocks) > 0 || e.Fragment != noFragment {
				return fmt.Errorf("%s: data on a non-regular entry", e.Name)
			}
			continue
		}
		if e.External {
			if e.Size == 0 || len(e.Blocks) > 0 || e.Fragment != noFragment || e.Offset != 0 || e.Sparse != 0 {
				return fmt.Errorf("%s: data on a duplicate of an earlier segment's file", e.Name)
			}
			continue
		}
		bs := int64(blockSize)
		want := e.Size / bs
		if e.Fragment == noFragment && e.Size%bs != 0 {
			want++
		}
		if int64(len(e.Blocks)) != want {
			return fmt.Errorf("%s: %d blocks for %d bytes", e.Name, len(e.Blocks), e.Size)
		}
		end, sparse := e.Offset, int64(0)
		for _, b := range e.Blocks {
			l := onDisk(b)
			if l > bs {
				return fmt.Errorf("%s: block larger than the block size", e.Name)
			}
			if l == 0 {
				sparse += bs
			}
			end += l
		}
		if e.Offset < 0 || end > size {
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

// CheckSegment tells whether seg can be placed next in this image with the same bytes as adding
// its entries again would give: its description must be sound for the writer's block size, the
// files it records as duplicates of earlier segments must be in this image's earlier segments,
// and the files it stores must not be (they would be duplicates here). An error says why not;
// the writer is unaffected.
func (w *Writer) CheckSegment(seg *Segment) error {
	if err := seg.check(w.blockSize); err != nil {
		return fmt.Errorf("squash: stored segment: %w", err)
	}
	for i := range seg.Entries {
		e := &seg.Entries[i]
		if !e.Mode.IsRegular() || e.Size == 0 {
			continue
		}
		if w.opts.NoDedup {
			if e.External {
				return fmt.Errorf("squash: stored segment: %s is a duplicate, and this image does not detect them", e.Name)
			}
			continue
		}
		if e.Hash == ([32]byte{}) {
			return fmt.Errorf("squash: stored segment: %s has no contents hash (written without duplicate detection)", e.Name)
		}
		orig := w.dups[e.Hash]
		have := orig != nil && orig.hdr.Size == e.Size
		switch {
		case e.External && !have:
			return fmt.Errorf("squash: stored segment: %s duplicates a file this image's earlier segments do not have", e.Name)
		case !e.External && have:
			return fmt.Errorf("squash: stored segment: %s duplicates %s, earlier in this image", e.Name, orig.hdr.Name)
		}
	}
	return nil
}

// AddSegment places a segment written by an earlier image (see Options.OnSegment) with its
// entries: its data, seg.Size() bytes read from data, is copied into the image as it is (with
// copy_file_range when both are files), and only the tables are made anew. The current segment
// is ended first. The result is byte-identical to adding the same entries again.
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
	for i := range seg.Entries {
		e := &seg.Entries[i]
		n, err := w.addNode(&e.Header)
		if err != nil {
			return w.fail(err)
		}
		n.segNo = w.segNo
		n.hash = e.Hash
		if e.External {
			// Its data is the earlier file's: the consumer copies where that lies.
			n.external = true
			origs[i] = w.dups[e.Hash]
			nodes = append(nodes, n)
			continue
		}
		if n.hdr.Mode.IsRegular() && n.hdr.Size > 0 && !w.opts.NoDedup {
			if _, ok := w.dups[e.Hash]; !ok {
				w.dups[e.Hash] = n
			}
		}
		if n.hdr.Mode.IsRegular() {
			n.start = e.Offset // the consumer adds where the segment lands
			n.blocks = append([]uint32(nil), e.Blocks...)
			n.sparse = e.Sparse
			if e.Fragment != noFragment {
				n.fragment, n.fragOff = base+e.Fragment, e.FragmentOffset
			}
		}
		nodes = append(nodes, n)
	}
	w.fragCount += uint32(len(seg.Fragments))
	placed := *seg
	sent = true
	if err := w.send(&job{kind: jobRaw, seg: &placed, nodes: nodes, origs: origs, raw: data}); err != nil {
		// The pipeline has stopped: nobody will read data.
		if c, ok := data.(io.Closer); ok {
			c.Close()
		}
		return w.fail(err)
	}
	w.startSegment()
	return nil
}

// placeSegment copies a stored segment's data and fixes its entries' offsets: on the consumer.
func (w *Writer) placeSegment(j *job) error {
	if c, ok := j.raw.(io.Closer); ok {
		defer c.Close()
	}
	seg := j.seg
	base := w.pos
	n, err := io.CopyN(w.out, j.raw, seg.Size())
	w.pos += n
	w.maxEnd = max(w.maxEnd, w.pos)
	if err != nil {
		return fmt.Errorf("squash: placing a stored segment: %d of %d bytes: %w", n, seg.Size(), err)
	}
	for i, nd := range j.nodes {
		if o := j.origs[i]; o != nil {
			nd.start, nd.blocks, nd.sparse = o.start, o.blocks, o.sparse
			nd.fragment, nd.fragOff = o.fragment, o.fragOff
			continue
		}
		if nd.hdr.Mode.IsRegular() && len(nd.blocks) > 0 {
			nd.start += base
		}
	}
	for _, f := range seg.Fragments {
		w.fragments = append(w.fragments, fragEntry{start: base + f.Offset, size: f.Size})
	}
	w.segStart = w.pos
	return nil
}
