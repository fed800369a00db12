// Package xz decodes xz streams (the .xz file format 1.1.0) in Go, as SquashFS stores them one
// per block: LZMA2 with ulikunitz/xz's decoder, then the BCJ filters the Linux kernel has (x86,
// powerpc, ia64, arm, armthumb, sparc), which ulikunitz/xz lacks. Parse reads a stream's
// container without decoding it, so that a caller can hold it to rules of its own (squash's
// Check holds it to the kernel's).
//
// Both read untrusted bytes: every length is checked against the stream before use, and the
// memory a stream asks for is bounded by the output's room, whatever dictionary it declares.
// It knows nothing of SquashFS.
package xz

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// Stream layout.
var (
	headerMagic = []byte{0xFD, '7', 'z', 'X', 'Z', 0x00}
	footerMagic = []byte{'Y', 'Z'}
)

const (
	streamHeaderSize = 12 // magic, flags (2), CRC32 of the flags
	streamFooterSize = 12 // CRC32, backward size (u32), flags (2), magic
)

// Check types, the low four bits of the stream flags.
const (
	CheckNone   = 0x00
	CheckCRC32  = 0x01
	CheckCRC64  = 0x04
	CheckSHA256 = 0x0A
)

// Filter ids.
const (
	FilterDelta    = 0x03
	FilterX86      = 0x04
	FilterPowerPC  = 0x05
	FilterIA64     = 0x06
	FilterARM      = 0x07
	FilterARMThumb = 0x08
	FilterSPARC    = 0x09
	FilterARM64    = 0x0A
	FilterLZMA2    = 0x21
)

// filterNames names the filters by their ids.
var filterNames = map[uint64]string{
	FilterX86: "x86", FilterPowerPC: "powerpc", FilterIA64: "ia64", FilterARM: "arm",
	FilterARMThumb: "armthumb", FilterSPARC: "sparc", FilterARM64: "arm64",
	FilterDelta: "delta", FilterLZMA2: "lzma2",
}

// FilterName names a filter id ("x86", "lzma2"), or gives it in hex.
func FilterName(id uint64) string {
	if n, ok := filterNames[id]; ok {
		return n
	}
	return fmt.Sprintf("%#x", id)
}

// checkSize is the size of each check type's field (the format reserves sizes for unknown ids).
func checkSize(check byte) int {
	if check == 0 {
		return 0
	}
	return 4 << ((check - 1) / 3)
}

// A Filter is an entry of a block's filter chain: its id and properties.
type Filter struct {
	ID    uint64
	Props []byte
}

// A Block is an xz block: its header's filter chain, and where its parts lie in the stream.
type Block struct {
	Filters          []Filter
	DataStart        int // the compressed data
	DataEnd          int
	CheckStart       int   // the check of the uncompressed data
	UncompressedSize int64 // as the index records it
}

// A Stream is an xz stream parsed without decoding.
type Stream struct {
	Check  byte // CheckNone, CheckCRC32, ...
	Blocks []Block
}

// lzma2DictSize decodes an LZMA2 dictionary size property (0-40).
func lzma2DictSize(p byte) (uint64, error) {
	if p > 40 {
		return 0, fmt.Errorf("xz: LZMA2 dictionary property %d out of range", p)
	}
	if p == 40 {
		return 1<<32 - 1, nil
	}
	return uint64(2|p&1) << (p/2 + 11), nil
}

// DictSize returns the dictionary size of a filter chain's last filter, which must be LZMA2.
func DictSize(filters []Filter) (uint64, error) {
	if len(filters) == 0 {
		return 0, errors.New("xz: empty filter chain")
	}
	last := filters[len(filters)-1]
	if last.ID != FilterLZMA2 || len(last.Props) != 1 {
		return 0, fmt.Errorf("xz: last filter %#x is not LZMA2", last.ID)
	}
	return lzma2DictSize(last.Props[0])
}

// varint reads a multibyte integer of the xz format (at most 9 bytes, no trailing zeros).
func varint(b []byte) (uint64, int, error) {
	var v uint64
	for i := 0; i < len(b) && i < 9; i++ {
		v |= uint64(b[i]&0x7F) << (7 * i)
		if b[i]&0x80 == 0 {
			if b[i] == 0 && i > 0 {
				return 0, 0, errors.New("xz: non-minimal integer")
			}
			return v, i + 1, nil
		}
	}
	return 0, 0, errors.New("xz: bad integer")
}

// Parse parses one xz stream that fills src exactly: header, blocks, index and footer.
func Parse(src []byte) (*Stream, error) {
	if len(src) < streamHeaderSize+streamFooterSize {
		return nil, errors.New("xz: stream shorter than its header and footer")
	}
	if !bytes.Equal(src[:6], headerMagic) {
		return nil, errors.New("xz: bad stream header magic")
	}
	flags := src[6:8]
	if flags[0] != 0 || flags[1]&0xF0 != 0 {
		return nil, errors.New("xz: unsupported stream flags")
	}
	if crc32.ChecksumIEEE(flags) != binary.LittleEndian.Uint32(src[8:12]) {
		return nil, errors.New("xz: stream header CRC32 mismatch")
	}
	s := &Stream{Check: flags[1] & 0x0F}
	checkLen := checkSize(s.Check)

	foot := src[len(src)-streamFooterSize:]
	if !bytes.Equal(foot[10:12], footerMagic) {
		return nil, errors.New("xz: bad stream footer magic (not exactly one stream)")
	}
	if !bytes.Equal(foot[8:10], flags) {
		return nil, errors.New("xz: stream footer flags differ from the header's")
	}
	if crc32.ChecksumIEEE(foot[4:10]) != binary.LittleEndian.Uint32(foot[0:4]) {
		return nil, errors.New("xz: stream footer CRC32 mismatch")
	}
	indexSize := (int64(binary.LittleEndian.Uint32(foot[4:8])) + 1) * 4
	indexStart := int64(len(src)-streamFooterSize) - indexSize
	if indexStart < streamHeaderSize {
		return nil, errors.New("xz: index size out of bounds")
	}
	index := src[indexStart : len(src)-streamFooterSize]
	if crc32.ChecksumIEEE(index[:len(index)-4]) != binary.LittleEndian.Uint32(index[len(index)-4:]) {
		return nil, errors.New("xz: index CRC32 mismatch")
	}
	if index[0] != 0 {
		return nil, errors.New("xz: bad index indicator")
	}
	p := 1
	count, n, err := varint(index[p:])
	if err != nil {
		return nil, err
	}
	p += n
	if count > uint64(len(index)) {
		return nil, errors.New("xz: index record count out of bounds")
	}
	pos := streamHeaderSize
	for i := uint64(0); i < count; i++ {
		unpadded, n, err := varint(index[p : len(index)-4])
		if err != nil {
			return nil, err
		}
		p += n
		usize, n, err := varint(index[p : len(index)-4])
		if err != nil {
			return nil, err
		}
		p += n
		if unpadded > uint64(indexStart) || usize > 1<<62 {
			return nil, errors.New("xz: index record out of bounds")
		}
		b, err := parseBlock(src[:indexStart], pos, int(unpadded), checkLen)
		if err != nil {
			return nil, err
		}
		b.UncompressedSize = int64(usize)
		s.Blocks = append(s.Blocks, b)
		pos += (int(unpadded) + 3) &^ 3
	}
	if int64(pos) != indexStart {
		return nil, errors.New("xz: blocks do not end where the index starts")
	}
	for ; p < len(index)-4; p++ {
		if index[p] != 0 {
			return nil, errors.New("xz: nonzero index padding")
		}
	}
	return s, nil
}

// parseBlock parses the block header at pos of a block whose unpadded size the index gives.
func parseBlock(src []byte, pos, unpadded, checkLen int) (Block, error) {
	var b Block
	if pos >= len(src) || src[pos] == 0 {
		return b, errors.New("xz: missing block header")
	}
	hsize := (int(src[pos]) + 1) * 4
	end := pos + (unpadded+3)&^3
	if unpadded < hsize+checkLen+1 || end > len(src) {
		return b, errors.New("xz: block size out of bounds")
	}
	h := src[pos : pos+hsize]
	if crc32.ChecksumIEEE(h[:hsize-4]) != binary.LittleEndian.Uint32(h[hsize-4:]) {
		return b, errors.New("xz: block header CRC32 mismatch")
	}
	flags := h[1]
	if flags&0x3C != 0 {
		return b, errors.New("xz: reserved block flags set")
	}
	p := 2
	body := h[:hsize-4]
	var csize, usize uint64 = 0, 0
	hasC, hasU := flags&0x40 != 0, flags&0x80 != 0
	if hasC {
		v, n, err := varint(body[p:])
		if err != nil {
			return b, err
		}
		csize, p = v, p+n
	}
	if hasU {
		v, n, err := varint(body[p:])
		if err != nil {
			return b, err
		}
		usize, p = v, p+n
	}
	nf := int(flags&3) + 1
	for i := 0; i < nf; i++ {
		id, n, err := varint(body[p:])
		if err != nil {
			return b, err
		}
		p += n
		psize, n, err := varint(body[p:])
		if err != nil {
			return b, err
		}
		p += n
		if psize > uint64(len(body)-p) {
			return b, errors.New("xz: filter properties out of the block header")
		}
		b.Filters = append(b.Filters, Filter{ID: id, Props: body[p : p+int(psize)]})
		p += int(psize)
	}
	for ; p < len(body); p++ {
		if body[p] != 0 {
			return b, errors.New("xz: nonzero block header padding")
		}
	}
	// The block: header, compressed data, padding to a multiple of four bytes, check.
	b.DataStart = pos + hsize
	b.DataEnd = pos + unpadded - checkLen
	b.CheckStart = end - checkLen
	if hasC && csize != uint64(b.DataEnd-b.DataStart) {
		return b, errors.New("xz: block header's compressed size disagrees with the index")
	}
	for i := b.DataEnd; i < b.CheckStart; i++ {
		if src[i] != 0 {
			return b, errors.New("xz: nonzero block padding")
		}
	}
	b.UncompressedSize = -1
	if hasU {
		b.UncompressedSize = int64(usize)
	}
	return b, nil
}
