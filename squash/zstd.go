package squash

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"runtime"

	"github.com/klauspost/compress/zstd"
)

// zstd: each block one zstd frame (RFC 8878). The writer compresses with libzstd (zstd_cgo.go),
// as squashfs-tools' zstd_wrapper.c does, or with klauspost/compress in pure Go; the reader
// decodes with klauspost/compress. The kernel's decompressor (fs/squashfs/zstd_wrapper.c)
// allocates a window of max(block size, 8 KiB) and stops at the end of the first frame.

// compressionZstd is zstd's compression id.
const compressionZstd = 6

// Compressor options: the compression level (default 15, squashfs-tools' default), stored only
// when it is another.
const (
	zstdOptLevel     = 0 // u32
	zstdOptSize      = 4
	zstdDefaultLevel = 15
)

func init() { register(zstdCodec{}) }

type zstdCodec struct{}

func (zstdCodec) id() uint16      { return compressionZstd }
func (zstdCodec) name() Algorithm { return Zstd }

func (zstdCodec) newCompressor(c Compression, blockSize, workers int) (compressor, error) {
	level := c.Level
	if c.PureGo || !cgoAvailable {
		if level == 0 {
			level = 11
		}
		return newZstdGo(level, blockSize, workers, !cgoAvailable && !c.PureGo)
	}
	if level == 0 {
		level = 19
	}
	return newZstdC(level, workers)
}

func (zstdCodec) defaults(o *CompressorOptions, blockSize int) { o.Level = zstdDefaultLevel }

func (z zstdCodec) parseOptions(o *CompressorOptions, b []byte) error {
	if err := optionsLen(z, b, zstdOptSize); err != nil {
		return err
	}
	o.Level = int(binary.LittleEndian.Uint32(b[zstdOptLevel:]))
	return nil
}

func (zstdCodec) checkOptions(*Superblock) error { return nil }

// zstdOptions are the compressor options of a level.
func zstdOptions(level int) []byte {
	if level == zstdDefaultLevel {
		return nil
	}
	b := make([]byte, zstdOptSize)
	binary.LittleEndian.PutUint32(b[zstdOptLevel:], uint32(level))
	return b
}

// zstd in pure Go (klauspost/compress).

type zstdGo struct {
	enc    *zstd.Encoder
	level  int
	forced bool // chosen because this build has no cgo
}

func newZstdGo(level, blockSize, workers int, forced bool) (compressor, error) {
	var el zstd.EncoderLevel
	switch level {
	case 1:
		el = zstd.SpeedFastest
	case 3:
		el = zstd.SpeedDefault
	case 7:
		el = zstd.SpeedBetterCompression
	case 11:
		el = zstd.SpeedBestCompression
	default:
		if forced {
			return nil, fmt.Errorf("squash: zstd level %d needs libzstd, a cgo build; this build has the pure-Go levels 1, 3, 7 and 11", level)
		}
		return nil, fmt.Errorf("squash: pure-Go zstd has the levels 1 (fastest), 3 (default), 7 (better) and 11 (best), not %d", level)
	}
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(el), zstd.WithEncoderCRC(false),
		zstd.WithWindowSize(blockSize), zstd.WithEncoderConcurrency(max(workers, 1)))
	if err != nil {
		return nil, fmt.Errorf("squash: zstd: %w", err)
	}
	return &zstdGo{enc: enc, level: level, forced: forced}, nil
}

func (z *zstdGo) id() uint16      { return compressionZstd }
func (z *zstdGo) options() []byte { return zstdOptions(z.level) }
func (z *zstdGo) compress(dst, src []byte) ([]byte, bool, error) {
	out := z.enc.EncodeAll(src, dst[:0])
	return out, len(out) < len(src), nil
}
func (z *zstdGo) slow() bool { return z.level >= 11 }
func (z *zstdGo) String() string {
	names := map[int]string{1: "fastest", 3: "default", 7: "better", 11: "best"}
	return fmt.Sprintf("zstd level %d (pure Go, %s)", z.level, names[z.level])
}
func (z *zstdGo) close() { z.enc.Close() }

// Reading.

// zstdMaxReadWindow is the largest frame window the reader decodes. The kernel's is max(block
// size, 8 KiB), and Check says so; the reader also reads, as unsquashfs does, frames with the
// larger windows of zstd's own levels (up to 8 MiB), but no larger: the window is memory a
// header asks for.
const zstdMaxReadWindow = 8 << 20

type zstdDecoder struct{ d *zstd.Decoder }

func (zstdCodec) newDecoder(bool) (decoder, error) {
	z, err := zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(runtime.GOMAXPROCS(0)),
		zstd.WithDecoderMaxWindow(zstdMaxReadWindow),
		zstd.WithDecodeAllCapLimit(true)) // output: at most the room the caller gives
	if err != nil {
		return nil, fmt.Errorf("squash: zstd: %w", err)
	}
	return zstdDecoder{z}, nil
}

func (z zstdDecoder) decode(dst, src []byte) (int, error) {
	if len(src) == 0 {
		return 0, errors.New("empty compressed block")
	}
	out, err := z.d.DecodeAll(src, dst[:0:len(dst)])
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
}

// decodeKernel holds the block to one frame, without a dictionary, whose window the kernel's
// allocation holds.
func (z zstdDecoder) decodeKernel(dst, src []byte, sb *Superblock) (int, error) {
	f, err := parseZstdFrame(src)
	if err != nil {
		return 0, err
	}
	if f.size != len(src) {
		return 0, fmt.Errorf("zstd: %d bytes after the block's first frame (the kernel decodes one frame)", len(src)-f.size)
	}
	if f.dictID != 0 {
		return 0, fmt.Errorf("zstd: frame needs dictionary %d", f.dictID)
	}
	if limit := uint64(max(sb.BlockSize, metadataSize)); max(f.window, zstdMinWindow) > limit {
		return 0, fmt.Errorf("zstd: frame window of %d bytes, larger than the kernel's %d", f.window, limit)
	}
	return z.decode(dst, src)
}

// contentSize: a frame's header may give its content size (libzstd and klauspost/compress give
// it when they know it, as they do for a block).
func (zstdDecoder) contentSize(src []byte) (int, bool) {
	f, err := parseZstdFrame(src)
	if err != nil || f.size != len(src) || f.contentSize < 0 || f.contentSize > math.MaxInt32 {
		return 0, false
	}
	return int(f.contentSize), true
}

// zstd frames (RFC 8878, section 3.1.1).

const (
	zstdMagic           = 0xFD2FB528
	zstdSkippableMagic  = 0x184D2A50 // to 0x184D2A5F
	zstdMinWindow       = 1 << 10
	zstdBlockHeaderSize = 3
	zstdMaxBlockSize    = 128 << 10
	zstdChecksumSize    = 4
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
