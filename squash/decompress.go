package squash

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"hash/crc64"
	"io"
	"runtime"
	"sync"

	"github.com/klauspost/compress/zlib"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/ulikunitz/xz/lzma"
)

// This file decodes the blocks of an image: one compressed block (a data block, a fragment
// block or a metadata block) at a time, into a buffer whose length is the most the block may
// hold. It also parses the containers the compressors wrap their output in (xz streams, zstd
// frames, zlib streams) far enough for Check to hold them to the Linux kernel's rules.

// errTooLarge is returned when a block decodes to more bytes than it may hold.
var errTooLarge = errors.New("decodes to more bytes than a block holds")

// decoder decodes blocks of one compressor; it is safe for concurrent use.
type decoder struct {
	id       uint16
	zstd     *zstd.Decoder
	zlib     sync.Pool // of io.ReadCloser implementing zlib.Resetter
	xzPureGo bool      // decode xz in Go even when liblzma is there
}

func newDecoder(id uint16, xzPureGo bool) (*decoder, error) {
	d := &decoder{id: id, xzPureGo: xzPureGo || !cgoAvailable}
	switch id {
	case CompressionGzip, CompressionXZ, CompressionLZ4:
	case CompressionZstd:
		// The kernel's window is max(block size, 8 KiB), and Check says so; the reader also
		// reads, as unsquashfs does, frames with the larger windows of zstd's own levels (up
		// to 8 MiB), but no larger: the window is memory a header asks for.
		z, err := zstd.NewReader(nil,
			zstd.WithDecoderConcurrency(runtime.GOMAXPROCS(0)),
			zstd.WithDecoderMaxWindow(zstdMaxReadWindow),
			zstd.WithDecodeAllCapLimit(true)) // output: at most the room the caller gives
		if err != nil {
			return nil, fmt.Errorf("squash: zstd: %w", err)
		}
		d.zstd = z
	case CompressionLZMA, CompressionLZO:
		return nil, fmt.Errorf("squash: unsupported compressor %s (id %d): gonixiso reads gzip, xz, lz4 and zstd", algorithmName(id), id)
	default:
		return nil, fmt.Errorf("squash: unknown compressor id %d", id)
	}
	return d, nil
}

// algorithmName names a compression id as mksquashfs does.
func algorithmName(id uint16) Algorithm {
	switch id {
	case CompressionGzip:
		return Gzip
	case CompressionLZMA:
		return "lzma"
	case CompressionLZO:
		return "lzo"
	case CompressionXZ:
		return XZ
	case CompressionLZ4:
		return LZ4
	case CompressionZstd:
		return Zstd
	}
	return Algorithm(fmt.Sprintf("unknown-%d", id))
}

// decode decodes one block, src, into dst and returns the number of bytes; a block that would
// decode to more than len(dst) bytes is an error.
func (d *decoder) decode(dst, src []byte) (int, error) {
	if len(src) == 0 {
		return 0, errors.New("empty compressed block")
	}
	switch d.id {
	case CompressionZstd:
		out, err := d.zstd.DecodeAll(src, dst[:0:len(dst)])
		if err != nil {
			if errors.Is(err, zstd.ErrDecoderSizeExceeded) {
				return 0, fmt.Errorf("zstd: %w", errTooLarge)
			}
			return 0, fmt.Errorf("zstd: %w", err)
		}
		if len(out) > 0 && &out[0] != &dst[0] {
			return 0, fmt.Errorf("zstd: %w", errTooLarge) // cannot happen with the cap limit
		}
		return len(out), nil
	case CompressionGzip:
		return d.inflate(dst, src)
	case CompressionLZ4:
		n, err := lz4.UncompressBlock(src, dst)
		if err != nil {
			return 0, fmt.Errorf("lz4: %w", err)
		}
		return n, nil
	case CompressionXZ:
		if d.xzPureGo {
			return xzDecode(dst, src)
		}
		n, err := xzDecodeC(dst, src)
		if err != nil {
			return 0, err
		}
		return n, nil
	}
	return 0, fmt.Errorf("compressor id %d cannot decode", d.id)
}

// inflate decodes a zlib stream (SquashFS's "gzip").
func (d *decoder) inflate(dst, src []byte) (int, error) {
	n, _, err := d.inflateExact(dst, src)
	return n, err
}

// inflateExact decodes a zlib stream and also returns the number of bytes after it.
func (d *decoder) inflateExact(dst, src []byte) (n, left int, err error) {
	in := bytes.NewReader(src) // an io.ByteReader: the inflater reads no further than the stream
	var zr io.ReadCloser
	if v := d.zlib.Get(); v != nil {
		zr = v.(io.ReadCloser)
		if err := zr.(zlib.Resetter).Reset(in, nil); err != nil {
			return 0, 0, fmt.Errorf("gzip: %w", err)
		}
	} else if zr, err = zlib.NewReader(in); err != nil {
		return 0, 0, fmt.Errorf("gzip: %w", err)
	}
	n, err = readAllInto(zr, dst)
	if err != nil {
		return 0, 0, fmt.Errorf("gzip: %w", err)
	}
	d.zlib.Put(zr)
	return n, in.Len(), nil
}

// readAllInto reads r to its end into dst; more than len(dst) bytes is an error.
func readAllInto(r io.Reader, dst []byte) (int, error) {
	n := 0
	for n < len(dst) {
		k, err := r.Read(dst[n:])
		n += k
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		if k == 0 {
			return n, io.ErrNoProgress
		}
	}
	var one [1]byte
	for {
		k, err := r.Read(one[:])
		if k > 0 {
			return n, errTooLarge
		}
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// zstd frames (RFC 8878, section 3.1.1).

const (
	zstdMagic           = 0xFD2FB528
	zstdSkippableMagic  = 0x184D2A50 // to 0x184D2A5F
	zstdMinWindow       = 1 << 10
	zstdBlockHeaderSize = 3
	zstdMaxBlockSize    = 128 << 10
	zstdChecksumSize    = 4
	zstdMaxReadWindow   = 8 << 20
)

// zstdFrame is what a zstd frame's header says, and how long the frame is.
type zstdFrame struct {
	window        uint64 // bytes the decoder must keep: the window, or the content size
	singleSegment bool
	contentSize   int64 // -1 when not stored
	dictID        uint32
	checksum      bool
	size          int // of the whole frame
}

// parseZstdFrame reads the frame at the start of src and walks its blocks to find its end.
func parseZstdFrame(src []byte) (zstdFrame, error) {
	f := zstdFrame{contentSize: -1}
	if len(src) < 5 {
		return f, errors.New("zstd: frame shorter than its header")
	}
	magic := binary.LittleEndian.Uint32(src)
	if magic&0xFFFFFFF0 == zstdSkippableMagic {
		return f, errors.New("zstd: skippable frame where a block's frame belongs")
	}
	if magic != zstdMagic {
		return f, fmt.Errorf("zstd: bad frame magic %#x", magic)
	}
	fhd := src[4]
	fcsFlag := fhd >> 6
	f.singleSegment = fhd&0x20 != 0
	if fhd&0x08 != 0 {
		return f, errors.New("zstd: reserved frame header bit set")
	}
	f.checksum = fhd&0x04 != 0
	dictIDSize := [4]int{0, 1, 2, 4}[fhd&3]
	fcsSize := [4]int{0, 2, 4, 8}[fcsFlag]
	if fcsFlag == 0 && f.singleSegment {
		fcsSize = 1
	}
	p := 5
	if !f.singleSegment {
		if len(src) < p+1 {
			return f, errors.New("zstd: truncated frame header")
		}
		wd := src[p]
		p++
		exp, mantissa := uint64(wd>>3), uint64(wd&7)
		base := uint64(1) << (10 + exp)
		f.window = base + base/8*mantissa
	}
	if len(src) < p+dictIDSize+fcsSize {
		return f, errors.New("zstd: truncated frame header")
	}
	for i := 0; i < dictIDSize; i++ {
		f.dictID |= uint32(src[p+i]) << (8 * i)
	}
	p += dictIDSize
	if fcsSize > 0 {
		var v uint64
		for i := 0; i < fcsSize; i++ {
			v |= uint64(src[p+i]) << (8 * i)
		}
		if fcsSize == 2 {
			v += 256
		}
		if v > 1<<62 {
			return f, errors.New("zstd: content size out of range")
		}
		f.contentSize = int64(v)
		p += fcsSize
	}
	if f.singleSegment {
		f.window = uint64(f.contentSize)
	}
	for {
		if len(src) < p+zstdBlockHeaderSize {
			return f, errors.New("zstd: truncated block header")
		}
		h := uint32(src[p]) | uint32(src[p+1])<<8 | uint32(src[p+2])<<16
		p += zstdBlockHeaderSize
		last, typ, size := h&1 != 0, (h>>1)&3, int(h>>3)
		switch typ {
		case 0: // raw
		case 1: // RLE: one byte, repeated size times
			if size > zstdMaxBlockSize {
				return f, errors.New("zstd: block larger than 128 KiB")
			}
			size = 1
		case 2: // compressed
		default:
			return f, errors.New("zstd: reserved block type")
		}
		if size > zstdMaxBlockSize {
			return f, errors.New("zstd: block larger than 128 KiB")
		}
		if len(src) < p+size {
			return f, errors.New("zstd: truncated block")
		}
		p += size
		if last {
			break
		}
	}
	if f.checksum {
		if len(src) < p+zstdChecksumSize {
			return f, errors.New("zstd: truncated checksum")
		}
		p += zstdChecksumSize
	}
	f.size = p
	return f, nil
}

// xz streams (the .xz file format 1.1.0).

var (
	xzHeaderMagic = []byte{0xFD, '7', 'z', 'X', 'Z', 0x00}
	xzFooterMagic = []byte{'Y', 'Z'}
)

const (
	xzStreamHeaderSize = 12
	xzStreamFooterSize = 12
	xzMaxFilters       = 4

	xzCheckNone   = 0x00
	xzCheckCRC32  = 0x01
	xzCheckCRC64  = 0x04
	xzCheckSHA256 = 0x0A

	xzFilterIDDelta    = 0x03
	xzFilterIDX86      = 0x04
	xzFilterIDPowerPC  = 0x05
	xzFilterIDIA64     = 0x06
	xzFilterIDARM      = 0x07
	xzFilterIDARMThumb = 0x08
	xzFilterIDSPARC    = 0x09
	xzFilterIDARM64    = 0x0A
	xzFilterIDLZMA2    = 0x21
)

// xzCheckSize is the size of each check type's field (the format reserves sizes for unknown ids).
func xzCheckSize(check byte) int {
	if check == 0 {
		return 0
	}
	return 4 << ((check - 1) / 3)
}

// xzFilterNames names the BCJ filters by their xz ids.
var xzFilterNames = map[uint64]string{
	xzFilterIDX86: "x86", xzFilterIDPowerPC: "powerpc", xzFilterIDIA64: "ia64", xzFilterIDARM: "arm",
	xzFilterIDARMThumb: "armthumb", xzFilterIDSPARC: "sparc", xzFilterIDARM64: "arm64",
	xzFilterIDDelta: "delta", xzFilterIDLZMA2: "lzma2",
}

type xzFilter struct {
	id    uint64
	props []byte
}

// xzBlock is an xz block: its header's filters, and where its parts lie in the stream.
type xzBlock struct {
	filters          []xzFilter
	dataStart        int // the compressed data
	dataEnd          int
	checkStart       int
	uncompressedSize int64
}

// xzStream is an xz stream parsed without decoding.
type xzStream struct {
	check  byte
	blocks []xzBlock
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

// xzVarint reads a multibyte integer of the xz format (at most 9 bytes, no trailing zeros).
func xzVarint(b []byte) (uint64, int, error) {
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

// parseXZ parses one xz stream that fills src exactly: header, blocks, index and footer.
func parseXZ(src []byte) (*xzStream, error) {
	if len(src) < xzStreamHeaderSize+xzStreamFooterSize {
		return nil, errors.New("xz: stream shorter than its header and footer")
	}
	if !bytes.Equal(src[:6], xzHeaderMagic) {
		return nil, errors.New("xz: bad stream header magic")
	}
	flags := src[6:8]
	if flags[0] != 0 || flags[1]&0xF0 != 0 {
		return nil, errors.New("xz: unsupported stream flags")
	}
	if crc32.ChecksumIEEE(flags) != binary.LittleEndian.Uint32(src[8:12]) {
		return nil, errors.New("xz: stream header CRC32 mismatch")
	}
	s := &xzStream{check: flags[1] & 0x0F}
	checkSize := xzCheckSize(s.check)

	foot := src[len(src)-xzStreamFooterSize:]
	if !bytes.Equal(foot[10:12], xzFooterMagic) {
		return nil, errors.New("xz: bad stream footer magic (not exactly one stream)")
	}
	if !bytes.Equal(foot[8:10], flags) {
		return nil, errors.New("xz: stream footer flags differ from the header's")
	}
	if crc32.ChecksumIEEE(foot[4:10]) != binary.LittleEndian.Uint32(foot[0:4]) {
		return nil, errors.New("xz: stream footer CRC32 mismatch")
	}
	indexSize := (int64(binary.LittleEndian.Uint32(foot[4:8])) + 1) * 4
	indexStart := int64(len(src)-xzStreamFooterSize) - indexSize
	if indexStart < xzStreamHeaderSize {
		return nil, errors.New("xz: index size out of bounds")
	}
	index := src[indexStart : len(src)-xzStreamFooterSize]
	if crc32.ChecksumIEEE(index[:len(index)-4]) != binary.LittleEndian.Uint32(index[len(index)-4:]) {
		return nil, errors.New("xz: index CRC32 mismatch")
	}
	if index[0] != 0 {
		return nil, errors.New("xz: bad index indicator")
	}
	p := 1
	count, n, err := xzVarint(index[p:])
	if err != nil {
		return nil, err
	}
	p += n
	if count > uint64(len(index)) {
		return nil, errors.New("xz: index record count out of bounds")
	}
	pos := xzStreamHeaderSize
	for i := uint64(0); i < count; i++ {
		unpadded, n, err := xzVarint(index[p : len(index)-4])
		if err != nil {
			return nil, err
		}
		p += n
		usize, n, err := xzVarint(index[p : len(index)-4])
		if err != nil {
			return nil, err
		}
		p += n
		if unpadded > uint64(indexStart) || usize > 1<<62 {
			return nil, errors.New("xz: index record out of bounds")
		}
		b, err := parseXZBlock(src[:indexStart], pos, int(unpadded), checkSize)
		if err != nil {
			return nil, err
		}
		b.uncompressedSize = int64(usize)
		s.blocks = append(s.blocks, b)
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

// parseXZBlock parses the block header at pos of a block whose unpadded size the index gives.
func parseXZBlock(src []byte, pos, unpadded, checkSize int) (xzBlock, error) {
	var b xzBlock
	if pos >= len(src) || src[pos] == 0 {
		return b, errors.New("xz: missing block header")
	}
	hsize := (int(src[pos]) + 1) * 4
	end := pos + (unpadded+3)&^3
	if unpadded < hsize+checkSize+1 || end > len(src) {
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
		v, n, err := xzVarint(body[p:])
		if err != nil {
			return b, err
		}
		csize, p = v, p+n
	}
	if hasU {
		v, n, err := xzVarint(body[p:])
		if err != nil {
			return b, err
		}
		usize, p = v, p+n
	}
	nf := int(flags&3) + 1
	for i := 0; i < nf; i++ {
		id, n, err := xzVarint(body[p:])
		if err != nil {
			return b, err
		}
		p += n
		psize, n, err := xzVarint(body[p:])
		if err != nil {
			return b, err
		}
		p += n
		if psize > uint64(len(body)-p) {
			return b, errors.New("xz: filter properties out of the block header")
		}
		b.filters = append(b.filters, xzFilter{id: id, props: body[p : p+int(psize)]})
		p += int(psize)
	}
	for ; p < len(body); p++ {
		if body[p] != 0 {
			return b, errors.New("xz: nonzero block header padding")
		}
	}
	// The block: header, compressed data, padding to a multiple of four bytes, check.
	b.dataStart = pos + hsize
	b.dataEnd = pos + unpadded - checkSize
	b.checkStart = end - checkSize
	if hasC && csize != uint64(b.dataEnd-b.dataStart) {
		return b, errors.New("xz: block header's compressed size disagrees with the index")
	}
	for i := b.dataEnd; i < b.checkStart; i++ {
		if src[i] != 0 {
			return b, errors.New("xz: nonzero block padding")
		}
	}
	b.uncompressedSize = -1
	if hasU {
		b.uncompressedSize = int64(usize)
	}
	return b, nil
}

// xzDecode decodes an xz stream in Go: LZMA2 with ulikunitz/xz's decoder, then the BCJ filters.
func xzDecode(dst, src []byte) (int, error) {
	s, err := parseXZ(src)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, b := range s.blocks {
		if b.uncompressedSize > int64(len(dst)-n) {
			return 0, fmt.Errorf("xz: %w", errTooLarge)
		}
		out := dst[n : n+int(b.uncompressedSize)]
		if err := xzDecodeBlock(out, src[b.dataStart:b.dataEnd], b.filters); err != nil {
			return 0, err
		}
		if err := xzVerifyCheck(s.check, out, src[b.checkStart:b.checkStart+xzCheckSize(s.check)]); err != nil {
			return 0, err
		}
		n += len(out)
	}
	return n, nil
}

// lzma2Dict returns the dictionary size of a filter chain's last filter, which must be LZMA2.
func lzma2Dict(filters []xzFilter) (uint64, error) {
	last := filters[len(filters)-1]
	if last.id != xzFilterIDLZMA2 || len(last.props) != 1 {
		return 0, fmt.Errorf("xz: last filter %#x is not LZMA2", last.id)
	}
	return lzma2DictSize(last.props[0])
}

func xzDecodeBlock(out, data []byte, filters []xzFilter) error {
	dict, err := lzma2Dict(filters)
	if err != nil {
		return err
	}
	// A dictionary larger than the output is never reached into: do not allocate it.
	dictCap := int(min(dict, uint64(max(len(out), lzma.MinDictCap))))
	dictCap = max(dictCap, lzma.MinDictCap)
	in := bytes.NewReader(data)
	zr, err := lzma.Reader2Config{DictCap: dictCap}.NewReader2(in)
	if err != nil {
		return fmt.Errorf("xz: %w", err)
	}
	if _, err := io.ReadFull(zr, out); err != nil {
		return fmt.Errorf("xz: LZMA2: %w", err)
	}
	var one [1]byte
	if k, err := zr.Read(one[:]); k != 0 || err != io.EOF {
		if err == nil || err == io.EOF {
			return fmt.Errorf("xz: %w", errTooLarge)
		}
		return fmt.Errorf("xz: LZMA2: %w", err)
	}
	if in.Len() != 0 {
		return errors.New("xz: LZMA2 data ends before its block")
	}
	for i := len(filters) - 2; i >= 0; i-- {
		f := filters[i]
		var start uint32
		switch len(f.props) {
		case 0:
		case 4:
			start = binary.LittleEndian.Uint32(f.props)
		default:
			return fmt.Errorf("xz: BCJ filter %#x: bad properties", f.id)
		}
		if err := bcjDecode(f.id, out, start); err != nil {
			return err
		}
	}
	return nil
}

func xzVerifyCheck(check byte, data, sum []byte) error {
	switch check {
	case xzCheckNone:
		return nil
	case xzCheckCRC32:
		if crc32.ChecksumIEEE(data) != binary.LittleEndian.Uint32(sum) {
			return errors.New("xz: CRC32 mismatch")
		}
	case xzCheckCRC64:
		if crc64.Checksum(data, crc64ECMA) != binary.LittleEndian.Uint64(sum) {
			return errors.New("xz: CRC64 mismatch")
		}
	case xzCheckSHA256:
		h := sha256.Sum256(data)
		if !bytes.Equal(h[:], sum) {
			return errors.New("xz: SHA-256 mismatch")
		}
	default:
		return fmt.Errorf("xz: unsupported check type %#x", check)
	}
	return nil
}

var crc64ECMA = crc64.MakeTable(crc64.ECMA)

// BCJ filters: each undoes what its encoder did to the branch targets of one instruction set,
// which it turned from relative into absolute addresses so that repeated calls compress better.
// pos is the stream offset of buf[0] (the filter's start offset). The last bytes that cannot
// hold a whole instruction are left as they are, as the encoder left them.

func bcjDecode(id uint64, buf []byte, pos uint32) error {
	switch id {
	case xzFilterIDX86:
		bcjX86(buf, pos)
	case xzFilterIDPowerPC:
		bcjPowerPC(buf, pos)
	case xzFilterIDIA64:
		bcjIA64(buf, pos)
	case xzFilterIDARM:
		bcjARM(buf, pos)
	case xzFilterIDARMThumb:
		bcjARMThumb(buf, pos)
	case xzFilterIDSPARC:
		bcjSPARC(buf, pos)
	default:
		return fmt.Errorf("xz: filter %#x is not supported", id)
	}
	return nil
}

// bcjX86 converts the 32-bit operands of E8 (call) and E9 (jmp) opcodes. An operand is
// converted only when its top byte is 0x00 or 0xFF (a near target); a history of recent E8/E9
// bytes among the previous three positions decides, as in the encoder, which candidates are
// opcodes rather than parts of an earlier operand.
func bcjX86(buf []byte, pos uint32) {
	near := func(b byte) bool { return b == 0x00 || b == 0xFF }
	// For the 3-bit mask of recent E8/E9 bytes: whether a candidate may be converted, and
	// which byte of the operand to test.
	allowed := [8]bool{true, true, true, false, true, false, false, false}
	bitNum := [8]uint32{0, 1, 2, 2, 3, 3, 3, 3}
	if len(buf) < 5 {
		return
	}
	limit := len(buf) - 4
	prevPos := -1 // position of the last E8/E9 byte seen
	var mask uint32
	for i := 0; i < limit; i++ {
		if buf[i]&0xFE != 0xE8 {
			continue
		}
		d := i - prevPos
		if prevPos < 0 || d > 3 {
			mask = 0
		} else {
			mask = (mask << (d - 1)) & 7
			if mask != 0 {
				b := buf[i+4-int(bitNum[mask])]
				if !allowed[mask] || near(b) {
					prevPos = i
					mask = mask<<1 | 1
					continue
				}
			}
		}
		prevPos = i
		if !near(buf[i+4]) {
			mask = mask<<1 | 1
			continue
		}
		src := binary.LittleEndian.Uint32(buf[i+1:])
		var dest uint32
		for {
			dest = src - (pos + uint32(i) + 5)
			if mask == 0 {
				break
			}
			j := bitNum[mask] * 8
			if !near(byte(dest >> (24 - j))) {
				break
			}
			src = dest ^ (1<<(32-j) - 1)
		}
		dest &= 0x01FFFFFF
		dest |= 0 - dest&0x01000000
		binary.LittleEndian.PutUint32(buf[i+1:], dest)
		i += 4
	}
}

// bcjPowerPC converts the 24-bit targets of "bl" instructions (big endian, opcode 18, AA=0,
// LK=1).
func bcjPowerPC(buf []byte, pos uint32) {
	for i := 0; i+4 <= len(buf); i += 4 {
		if buf[i]>>2 != 0x12 || buf[i+3]&3 != 1 {
			continue
		}
		src := binary.BigEndian.Uint32(buf[i:]) & 0x03FFFFFC
		dest := src - (pos + uint32(i))
		binary.BigEndian.PutUint32(buf[i:], 0x48000000|dest&0x03FFFFFF|1)
	}
}

// bcjARM converts the 24-bit word targets of "bl" instructions (little endian, condition
// "always").
func bcjARM(buf []byte, pos uint32) {
	for i := 0; i+4 <= len(buf); i += 4 {
		if buf[i+3] != 0xEB {
			continue
		}
		src := (uint32(buf[i+2])<<16 | uint32(buf[i+1])<<8 | uint32(buf[i])) << 2
		dest := (src - (pos + uint32(i) + 8)) >> 2
		buf[i], buf[i+1], buf[i+2] = byte(dest), byte(dest>>8), byte(dest>>16)
	}
}

// bcjARMThumb converts the 22-bit halfword targets of Thumb "bl" instruction pairs.
func bcjARMThumb(buf []byte, pos uint32) {
	for i := 0; i+4 <= len(buf); i += 2 {
		if buf[i+1]&0xF8 != 0xF0 || buf[i+3]&0xF8 != 0xF8 {
			continue
		}
		src := (uint32(buf[i+1])&7)<<19 | uint32(buf[i])<<11 | (uint32(buf[i+3])&7)<<8 | uint32(buf[i+2])
		src <<= 1
		dest := (src - (pos + uint32(i) + 4)) >> 1
		buf[i+1] = 0xF0 | byte(dest>>19)&7
		buf[i] = byte(dest >> 11)
		buf[i+3] = 0xF8 | byte(dest>>8)&7
		buf[i+2] = byte(dest)
		i += 2
	}
}

// bcjSPARC converts the 30-bit word targets of "call" instructions (big endian) whose target
// fits 22 bits.
func bcjSPARC(buf []byte, pos uint32) {
	for i := 0; i+4 <= len(buf); i += 4 {
		if !(buf[i] == 0x40 && buf[i+1]&0xC0 == 0x00) && !(buf[i] == 0x7F && buf[i+1]&0xC0 == 0xC0) {
			continue
		}
		src := binary.BigEndian.Uint32(buf[i:]) << 2
		dest := (src - (pos + uint32(i))) >> 2
		dest = ((0-(dest>>22)&1)<<22)&0x3FFFFFFF | dest&0x3FFFFF | 0x40000000
		binary.BigEndian.PutUint32(buf[i:], dest)
	}
}

// bcjIA64 converts the 21-bit targets of branch slots in 16-byte IA-64 bundles; the bundle's
// template says which of its three 41-bit slots may hold a branch.
func bcjIA64(buf []byte, pos uint32) {
	branchTable := [32]uint32{
		0, 0, 0, 0, 0, 0, 0, 0,
		0, 0, 0, 0, 0, 0, 0, 0,
		4, 4, 6, 6, 0, 0, 7, 7,
		4, 4, 0, 0, 4, 4, 0, 0,
	}
	for i := 0; i+16 <= len(buf); i += 16 {
		mask := branchTable[buf[i]&0x1F]
		for slot, bitPos := 0, 5; slot < 3; slot, bitPos = slot+1, bitPos+41 {
			if (mask>>slot)&1 == 0 {
				continue
			}
			bytePos, bitRes := bitPos>>3, uint(bitPos&7)
			var instr uint64
			for j := 0; j < 6; j++ {
				instr |= uint64(buf[i+j+bytePos]) << (8 * j)
			}
			norm := instr >> bitRes
			if (norm>>37)&0xF != 0x5 || (norm>>9)&0x7 != 0 {
				continue
			}
			src := uint32((norm >> 13) & 0xFFFFF)
			src |= uint32((norm>>36)&1) << 20
			src <<= 4
			dest := (src - (pos + uint32(i))) >> 4
			norm &^= uint64(0x8FFFFF) << 13
			norm |= uint64(dest&0xFFFFF) << 13
			norm |= uint64(dest&0x100000) << (36 - 20)
			instr &= 1<<bitRes - 1
			instr |= norm << bitRes
			for j := 0; j < 6; j++ {
				buf[i+j+bytePos] = byte(instr >> (8 * j))
			}
		}
	}
}
