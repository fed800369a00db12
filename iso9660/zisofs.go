package iso9660

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"
)

// Reading zisofs-compressed files (see the constants in format.go): Entry.Size is the
// uncompressed size, and a File reads the uncompressed bytes, one block at a time.
//
// A crafted image could declare a file of many gigabytes in a few bytes: a block of zeros is
// recorded as two equal pointers. So a file may declare at most maxInflation times the image's
// size, and the files of a Tree, each read once, at most as much in all; one block at a time is
// held in memory.
const maxInflation = 64

// zisofs is what a ZF (or Z2) entry says of a file.
type zisofs struct {
	version byte    // zfVersion1 or zfVersion2
	alg     [2]byte // "pz", or zisofs2's algorithm
	hdrLen  int64   // the file header's length
	shift   uint8   // log2 of the block size
	size    int64   // uncompressed
}

// parseZF reads a ZF or Z2 entry (all of it, SUSP header included); nil for a version this
// reader does not know.
func parseZF(b []byte) (*zisofs, error) {
	if len(b) < zfLen {
		return nil, nil
	}
	z := &zisofs{version: b[suspVersion], alg: [2]byte{b[zfAlgorithm], b[zfAlgorithm+1]},
		hdrLen: 4 * int64(b[zfHeaderSize]), shift: b[zfBlockShift]}
	switch z.version {
	case zfVersion1:
		z.size = int64(binary.LittleEndian.Uint32(b[zfSize:]))
	case zfVersion2:
		n := binary.LittleEndian.Uint64(b[zfSize:])
		if n > math.MaxInt64 {
			return nil, formatErr("zisofs2 file of %d bytes", n)
		}
		z.size = int64(n)
	default:
		return nil, nil
	}
	return z, nil
}

// layout returns the length of the file header and of a block pointer, and the range of block
// shifts, of z's version.
func (z *zisofs) layout() (hdr, ptr int64, minShift, maxShift uint8) {
	if z.version == zfVersion1 {
		return zisofsHeaderLen, zisofsPointerLen, zfMinShift1, zfMaxShift1
	}
	return zisofs2HeaderLen, zisofs2PointerLen, zfMinShift2, zfMaxShift2
}

// blocks is the number of blocks of the uncompressed data.
func (z *zisofs) blocks() int64 {
	bs := int64(1) << z.shift
	return (z.size + bs - 1) / bs
}

// check tells whether z fits a file of stored bytes in an image of imageSize bytes: a known
// header and block size, room for the header and the block pointers, and at most maxInflation
// times the image.
func (z *zisofs) check(stored, imageSize int64) error {
	hdr, ptr, minShift, maxShift := z.layout()
	if z.hdrLen != hdr {
		return formatErr("zisofs header of %d bytes, want %d", z.hdrLen, hdr)
	}
	if z.shift < minShift || z.shift > maxShift {
		return formatErr("zisofs blocks of 2^%d bytes", z.shift)
	}
	if z.size > maxInflation*imageSize {
		return formatErr("zisofs file of %d bytes, more than %d times the image's %d", z.size, maxInflation, imageSize)
	}
	if need := z.hdrLen + (z.blocks()+1)*ptr; need > stored {
		return formatErr("zisofs file of %d bytes needs %d bytes of header and block pointers, has %d", z.size, need, stored)
	}
	return nil
}

// algorithm names z's compression, as xorriso does.
func (z *zisofs) algorithm() string {
	if z.version == zfVersion1 {
		return "zisofs " + string(z.alg[:])
	}
	return "zisofs2 " + string(z.alg[:])
}

// supported tells whether the reader decodes z: zisofs, and zisofs2 with zlib ("PZ"), the
// algorithm xorriso writes (its "XZ", "L4", "ZD" and "B2" are reserved, not written).
func (z *zisofs) supported() bool {
	return z.version == zfVersion1 && z.alg == [2]byte{'p', 'z'} || z.version == zfVersion2 && z.alg == [2]byte{'P', 'Z'}
}

// zisofsReader reads the uncompressed bytes of a zisofs file whose stored bytes are data.
type zisofsReader struct {
	z      *zisofs
	data   io.ReaderAt
	stored int64
	ptr    int64 // a block pointer's length

	mu    sync.Mutex
	block int64  // the block in out, -1 for none
	out   []byte // a block, uncompressed
}

// Decoding a block borrows a zlib reader and a buffer for the compressed block: a File holds
// only the block it decoded last.
var (
	zlibReaders   sync.Pool // of io.ReadCloser
	zisofsBuffers sync.Pool // of *[]byte
)

// newZisofsReader checks the file header against the ZF entry.
func newZisofsReader(z *zisofs, data io.ReaderAt, stored int64) (*zisofsReader, error) {
	if !z.supported() {
		return nil, fmt.Errorf("iso9660: %s compression: %w", z.algorithm(), errors.ErrUnsupported)
	}
	_, ptr, _, _ := z.layout()
	h := make([]byte, z.hdrLen)
	if err := readFullAt(data, h, 0); err != nil {
		return nil, fmt.Errorf("iso9660: zisofs header: %w", err)
	}
	var ok bool
	if z.version == zfVersion1 {
		ok = bytes.Equal(h[:8], zisofsMagic) && int64(binary.LittleEndian.Uint32(h[zisofsSize:])) == z.size &&
			h[zisofsHdrSize] == byte(z.hdrLen/4) && h[zisofsBlockShift] == z.shift
	} else {
		ok = bytes.Equal(h[:8], zisofs2Magic) && h[zisofs2Version] == 0 && h[zisofs2HdrSize] == byte(z.hdrLen/4) &&
			h[zisofs2Algorithm] == zisofs2Zlib && h[zisofs2BlockShift] == z.shift &&
			binary.LittleEndian.Uint64(h[zisofs2Size:]) == uint64(z.size)
	}
	if !ok {
		return nil, formatErr("the zisofs header (% x) does not match the Rock Ridge ZF entry", h)
	}
	return &zisofsReader{z: z, data: data, stored: stored, ptr: ptr, block: -1}, nil
}

// maxStoredBlock bounds a compressed block of bs bytes: zlib's worst case, stored blocks (5 bytes
// every 64 KiB) and its 6-byte wrapper, with room to spare. The Linux kernel refuses longer ones
// too (deflateBound).
func maxStoredBlock(bs int64) int64 { return bs + bs/8 + 64 }

func (r *zisofsReader) ReadAt(p []byte, off int64) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for n < len(p) && off < r.z.size {
		i := off >> r.z.shift
		start, end, err := r.pointers(i)
		if err != nil {
			return n, err
		}
		bs := int64(1) << r.z.shift
		k := int(min(int64(len(p)-n), min(bs, r.z.size-i*bs)-(off-i*bs)))
		if start == end { // a block of zeros
			clear(p[n : n+k])
		} else {
			if err := r.load(i, start, end); err != nil {
				return n, err
			}
			copy(p[n:n+k], r.out[off-i*bs:])
		}
		n += k
		off += int64(k)
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// pointers returns where block i lies in the stored bytes.
func (r *zisofsReader) pointers(i int64) (start, end int64, err error) {
	var pb [2 * zisofs2PointerLen]byte
	ps := pb[:2*r.ptr]
	if err := readFullAt(r.data, ps, r.z.hdrLen+i*r.ptr); err != nil {
		return 0, 0, fmt.Errorf("iso9660: zisofs block %d: %w", i, err)
	}
	var s, e uint64
	if r.ptr == zisofsPointerLen {
		s, e = uint64(binary.LittleEndian.Uint32(ps)), uint64(binary.LittleEndian.Uint32(ps[4:]))
	} else {
		s, e = binary.LittleEndian.Uint64(ps), binary.LittleEndian.Uint64(ps[8:])
	}
	if s > e || e > uint64(r.stored) || int64(e-s) > maxStoredBlock(int64(1)<<r.z.shift) {
		return 0, 0, formatErr("zisofs block %d at bytes %d to %d of %d", i, s, e, r.stored)
	}
	return int64(s), int64(e), nil
}

// load decodes block i, the stored bytes from start to end, into r.out.
func (r *zisofsReader) load(i, start, end int64) error {
	if r.block == i {
		return nil
	}
	r.block = -1
	bs := int64(1) << r.z.shift
	if r.out == nil {
		r.out = make([]byte, min(bs, r.z.size))
	}
	out := r.out[:min(bs, r.z.size-i*bs)]
	bp, _ := zisofsBuffers.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	defer zisofsBuffers.Put(bp)
	if cap(*bp) < int(end-start) {
		*bp = make([]byte, end-start)
	}
	in := (*bp)[:end-start]
	if err := readFullAt(r.data, in, start); err != nil {
		return fmt.Errorf("iso9660: zisofs block %d: %w", i, err)
	}
	zr, _ := zlibReaders.Get().(io.ReadCloser)
	var err error
	if zr == nil {
		zr, err = zlib.NewReader(bytes.NewReader(in))
	} else {
		err = zr.(zlib.Resetter).Reset(bytes.NewReader(in), nil)
	}
	if err == nil {
		defer zlibReaders.Put(zr)
		_, err = io.ReadFull(zr, out)
	}
	if err == nil {
		// The stream must end here, its checksum right.
		var one [1]byte
		if k, e := zr.Read(one[:]); k > 0 {
			err = fmt.Errorf("more than %d bytes", len(out))
		} else if e != io.EOF {
			err = e
		}
	}
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return formatErr("zisofs block %d: %v", i, err)
	}
	r.block = i
	return nil
}

// readFullAt reads len(p) bytes at off.
func readFullAt(r io.ReaderAt, p []byte, off int64) error {
	n, err := r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}
