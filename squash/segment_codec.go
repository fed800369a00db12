package squash

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math"
)

// segmentMagic starts a segment's binary description, unfinishedMagic an unfinished segment's;
// the digit is the version of what follows, the same for both.
const (
	segmentMagic    = "gonixiso squash segment 4\n"
	unfinishedMagic = "gonixiso squash unfinished segment 4\n"
)

// MarshalBinary encodes the segment's description (not its data) for storage: its size, its
// fragment blocks and its entries, all relative to the segment. Start, End and FragmentBase are
// not kept, since a stored segment is placed anew; Unfinished is.
func (s *Segment) MarshalBinary() ([]byte, error) {
	b := []byte(segmentMagic)
	if s.Unfinished {
		b = []byte(unfinishedMagic)
	}
	b = binary.AppendUvarint(b, uint64(s.Size()))
	b = binary.AppendUvarint(b, uint64(len(s.Fragments)))
	for _, f := range s.Fragments {
		b = binary.AppendUvarint(b, uint64(f.Offset))
		b = binary.LittleEndian.AppendUint32(b, f.Size)
		b = append(b, f.Hash[:]...)
	}
	b = binary.AppendUvarint(b, uint64(len(s.Entries)))
	for i := range s.Entries {
		e := &s.Entries[i]
		b = appendString(b, e.Name)
		b = binary.LittleEndian.AppendUint32(b, uint32(e.Mode))
		b = binary.LittleEndian.AppendUint32(b, e.UID)
		b = binary.LittleEndian.AppendUint32(b, e.GID)
		b = binary.AppendVarint(b, e.ModTime)
		b = binary.AppendVarint(b, e.Size)
		b = appendString(b, e.Linkname)
		b = binary.LittleEndian.AppendUint32(b, e.Devmajor)
		b = binary.LittleEndian.AppendUint32(b, e.Devminor)
		b = binary.AppendVarint(b, e.Offset)
		b = binary.AppendUvarint(b, uint64(len(e.Blocks)))
		for _, bl := range e.Blocks {
			b = binary.LittleEndian.AppendUint32(b, bl)
		}
		b = binary.LittleEndian.AppendUint32(b, e.Fragment)
		b = binary.LittleEndian.AppendUint32(b, e.FragmentOffset)
		b = binary.AppendVarint(b, e.Sparse)
		b = append(b, e.Hash[:]...)
	}
	return b, nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// errSegment reports a malformed segment description.
var errSegment = errors.New("squash: malformed segment description")

// segDecoder reads a segment description, refusing anything out of bounds.
type segDecoder struct {
	b   []byte
	err error
}

func (d *segDecoder) fail() {
	if d.err == nil {
		d.err = errSegment
	}
}

func (d *segDecoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		d.b = nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *segDecoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		d.b = nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *segDecoder) u32() uint32 {
	if len(d.b) < 4 {
		d.fail()
		d.b = nil
		return 0
	}
	v := binary.LittleEndian.Uint32(d.b)
	d.b = d.b[4:]
	return v
}

// count reads a count of items of at least min bytes each, which must fit what remains.
func (d *segDecoder) count(min int) int {
	n := d.uvarint()
	if n > uint64(len(d.b)/min) {
		d.fail()
		return 0
	}
	return int(n)
}

func (d *segDecoder) str() string {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail()
		d.b = nil
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

// UnmarshalBinary decodes a description made by MarshalBinary. Its Start is 0 and its End its
// size. The entries are checked again when the segment is placed (AddSegment).
func (s *Segment) UnmarshalBinary(data []byte) error {
	rest, ok := bytes.CutPrefix(data, []byte(segmentMagic))
	unfinished := false
	if !ok {
		rest, unfinished = bytes.CutPrefix(data, []byte(unfinishedMagic))
	}
	if !ok && !unfinished {
		return fmt.Errorf("%w: not a segment description (or another version)", errSegment)
	}
	d := &segDecoder{b: rest}
	size := d.uvarint()
	if size > math.MaxInt64 {
		d.fail()
	}
	out := Segment{End: int64(size), Unfinished: unfinished}
	out.Fragments = make([]SegmentFragment, d.count(37))
	for i := range out.Fragments {
		off := d.uvarint()
		if off > math.MaxInt64 {
			d.fail()
		}
		f := SegmentFragment{Offset: int64(off), Size: d.u32()}
		if len(d.b) < len(f.Hash) {
			d.fail()
			break
		}
		copy(f.Hash[:], d.b)
		d.b = d.b[len(f.Hash):]
		out.Fragments[i] = f
	}
	out.Entries = make([]SegmentEntry, d.count(67)) // an entry takes at least 67 bytes
	for i := range out.Entries {
		e := &out.Entries[i]
		e.Name = d.str()
		e.Mode = fs.FileMode(d.u32())
		e.UID = d.u32()
		e.GID = d.u32()
		e.ModTime = d.varint()
		e.Size = d.varint()
		e.Linkname = d.str()
		e.Devmajor = d.u32()
		e.Devminor = d.u32()
		e.Offset = d.varint()
		if n := d.count(4); n > 0 {
			e.Blocks = make([]uint32, n)
			for j := range e.Blocks {
				e.Blocks[j] = d.u32()
			}
		}
		e.Fragment = d.u32()
		e.FragmentOffset = d.u32()
		e.Sparse = d.varint()
		if len(d.b) < len(e.Hash) {
			d.fail()
			break
		}
		copy(e.Hash[:], d.b)
		d.b = d.b[len(e.Hash):]
		if d.err != nil {
			break
		}
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail()
	}
	if d.err != nil {
		return d.err
	}
	*s = out
	return nil
}
