package squash

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
)

// A reusable is a file of a segment offered to Reuse: its blocks as stored, from off in data.
type reusable struct {
	size   int64
	blocks []uint32
	data   io.ReaderAt
	off    int64 // of the first block in data
}

// Reuse offers the compressed blocks of a segment that a writer with the same options wrote
// earlier (Options.SegmentKey equal; for example a cached segment of an earlier version of the
// store path being added), with its own data, seg.Size() bytes, in data. Until the current
// segment ends, a file whose contents one of seg's files has takes that file's blocks as they
// are stored instead of compressing its own, and so does a fragment block whose contents one of
// seg's has: compression is a function of a block's bytes and the options, so the image's bytes
// are those the writer would have made, in less time. Files read past the duplicate check's
// lookahead (16 MiB) are compressed as usual.
//
// seg may be an unfinished segment (Writer.Unfinished): the blocks a writer that failed had
// written, which a rerun takes instead of compressing them again. It is checked as CheckSegment
// checks a segment; data is read while the current segment's files are added, on the caller's
// goroutine.
func (w *Writer) Reuse(seg *Segment, data io.ReaderAt) error {
	if err := w.ready(); err != nil {
		return err
	}
	if w.opts.NoDedup {
		return nil // no contents hashes to find files by
	}
	if err := w.checkStored(seg); err != nil {
		return err
	}
	if w.reuse == nil {
		w.reuse = map[[sha256.Size]byte]reusable{}
		w.reuseFrags = map[[sha256.Size]byte]reusable{}
	}
	for _, f := range seg.Fragments {
		if _, ok := w.reuseFrags[f.Hash]; !ok {
			w.reuseFrags[f.Hash] = reusable{blocks: []uint32{f.Size}, data: data, off: f.Offset}
		}
	}
	if seg.Unfinished {
		// Its files are offered by name too: a file the writer was in the middle of has no
		// contents hash, and a file past the duplicate check's lookahead is not found by it.
		if err := w.partDecoder(); err != nil {
			return err
		}
		if w.reuseParts == nil {
			w.reuseParts = map[string]reusable{}
		}
	}
	for i := range seg.Entries {
		e := &seg.Entries[i]
		if !e.Mode.IsRegular() || len(e.Blocks) == 0 || dataLength(e.Blocks) == 0 {
			continue
		}
		r := reusable{size: e.Size, blocks: e.Blocks, data: data, off: e.Offset}
		if seg.Unfinished {
			w.reuseParts[e.Name] = r
		}
		if _, ok := w.reuse[e.Hash]; !ok && e.Hash != ([32]byte{}) {
			w.reuse[e.Hash] = r
		}
	}
	return nil
}

// partDecoder makes the decoder that checks blocks offered by name (sameAsStored).
func (w *Writer) partDecoder() error {
	if w.dec != nil {
		return nil
	}
	_, dec, err := newDecoder(w.comp.id(), false)
	if err != nil {
		return fmt.Errorf("squash: reusing blocks: %w", err)
	}
	w.dec = dec
	return nil
}

// partBlock returns the file's next block as the unfinished segment Reuse offered stores it, with
// its size word, if that has the block and it is not a hole, read when read is set; either way
// it steps past it.
func (w *Writer) partBlock(f *fileState, read bool) ([]byte, uint32) {
	p := f.part
	if p == nil || f.blocks >= len(p.blocks) {
		return nil, 0
	}
	size := p.blocks[f.blocks]
	l := int64(size &^ dataUncompressed)
	at := f.partAt
	f.partAt += l
	if !read || l == 0 || l > int64(w.blockSize) {
		return nil, 0
	}
	b := w.getBuf()[:l]
	if _, err := p.data.ReadAt(b, at); err != nil {
		w.putBuf(b)
		return nil, 0 // compressed as usual
	}
	return b, size
}

// sameAsStored makes the block job j the block an unfinished segment stored for it (j.was) if
// that holds j's bytes, decoded to check: on the workers. Compression is a function of the
// bytes and the options, so the stored block is the one compressing would give.
func (w *Writer) sameAsStored(j *job) bool {
	was, size := j.was, j.wasSize
	j.was = nil
	same := false
	if size&dataUncompressed != 0 {
		same = bytes.Equal(was, j.data)
	} else {
		dst := w.getBuf()[:w.blockSize]
		n, err := w.dec.decode(dst, was)
		same = err == nil && bytes.Equal(dst[:n], j.data)
		w.putBuf(dst)
	}
	if !same {
		w.putBuf(was)
		return false
	}
	j.out, j.size, j.reused = was, size, true
	w.bytesReused.Add(int64(len(j.data)))
	return true
}

// reused turns the held-back block jobs of the file f, whose contents are known, into the
// blocks of a file that Reuse offered with those contents, read from its segment's data.
func (w *Writer) reused(f *fileState) error {
	r, ok := w.reuse[f.n.hash]
	if !ok || r.size != f.n.hdr.Size || len(r.blocks) < len(f.pending) {
		return nil
	}
	// The offered file's blocks past the held-back ones (a tail stored as a block when fragments
	// are off) are not needed: the writer sends those itself.
	for i, j := range f.pending {
		if j.sparse != (r.blocks[i]&^dataUncompressed == 0) {
			return nil // cannot be, for equal contents; compress rather than guess
		}
	}
	off := r.off
	for i, j := range f.pending {
		size := r.blocks[i]
		l := int64(size &^ dataUncompressed)
		if !j.sparse {
			// The block's buffer takes the stored block, which is no larger.
			if _, err := r.data.ReadAt(j.data[:l], off); err != nil {
				return fmt.Errorf("squash: %s: reading a reused block: %w", f.n.path(), err)
			}
			j.out, j.size, j.reused = j.data[:l], size, true
			w.bytesReused.Add(int64(w.blockSize))
			if j.was != nil {
				w.putBuf(j.was)
				j.was = nil
			}
		}
		off += l
	}
	return nil
}

// reusedFragment makes the fragment block job j, whose contents hash is known, the stored block
// of a segment Reuse offered, if one has those contents.
func (w *Writer) reusedFragment(j *job) error {
	r, ok := w.reuseFrags[j.hash]
	if !ok {
		return nil
	}
	size := r.blocks[0]
	l := int64(size &^ dataUncompressed)
	if l > int64(cap(j.data)) {
		return nil // cannot be: checked against the block size
	}
	raw := len(j.data)
	out := j.data[:l]
	if _, err := r.data.ReadAt(out, r.off); err != nil {
		return fmt.Errorf("squash: fragment block %d: reading a reused block: %w", j.frag, err)
	}
	j.data, j.out, j.size, j.reused = out, out, size, true
	w.bytesReused.Add(int64(raw))
	return nil
}

// Reused is how many bytes of file data (blocks, and fragment blocks of tails) the writer took
// as stored from Reuse's segments instead of compressing them.
func (w *Writer) Reused() int64 { return w.bytesReused.Load() }
