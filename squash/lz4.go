package squash

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/pierrec/lz4/v4"
)

// lz4: each block a raw LZ4 block (no frame), as squashfs-tools' lz4_wrapper.c writes it;
// pierrec/lz4 compresses and decodes it. The kernel (fs/squashfs/lz4_wrapper.c) calls
// LZ4_decompress_safe, and requires the compressor options, which name the legacy format.

// compressionLZ4 is lz4's compression id.
const compressionLZ4 = 5

// Compressor options, always stored: the format version (1, legacy) and flags (1, high
// compression).
const (
	lz4OptVersion = 0 // u32
	lz4OptFlags   = 4 // u32
	lz4OptSize    = 8
	lz4Legacy     = 1
	lz4FlagHC     = 1
)

func init() { register(lz4Codec{}) }

type lz4Codec struct{}

func (lz4Codec) id() uint16      { return compressionLZ4 }
func (lz4Codec) name() Algorithm { return LZ4 }

func (lz4Codec) newCompressor(c Compression, blockSize, workers int) (compressor, error) {
	if c.Level < 0 || c.Level > 1 {
		return nil, fmt.Errorf("squash: lz4 level %d: want 0 (fast) or 1 (high compression)", c.Level)
	}
	return lz4Compressor{hc: c.Level == 1}, nil
}

func (lz4Codec) defaults(o *CompressorOptions, blockSize int) {}

func (l lz4Codec) parseOptions(o *CompressorOptions, b []byte) error {
	if err := optionsLen(l, b, lz4OptSize); err != nil {
		return err
	}
	o.LZ4Version = binary.LittleEndian.Uint32(b[lz4OptVersion:])
	o.LZ4HC = binary.LittleEndian.Uint32(b[lz4OptFlags:])&lz4FlagHC != 0
	return nil
}

// checkOptions requires the options the kernel requires.
func (lz4Codec) checkOptions(sb *Superblock) error {
	if !sb.Options.Stored {
		return errors.New("superblock: lz4 without compressor options (the kernel requires them)")
	}
	if sb.Options.LZ4Version != lz4Legacy {
		return fmt.Errorf("superblock: lz4 format version %d (the kernel reads %d)", sb.Options.LZ4Version, lz4Legacy)
	}
	return nil
}

type lz4Compressor struct{ hc bool }

func (l lz4Compressor) id() uint16 { return compressionLZ4 }
func (l lz4Compressor) options() []byte {
	b := make([]byte, lz4OptSize)
	binary.LittleEndian.PutUint32(b[lz4OptVersion:], lz4Legacy)
	if l.hc {
		binary.LittleEndian.PutUint32(b[lz4OptFlags:], lz4FlagHC)
	}
	return b
}
func (l lz4Compressor) compress(dst, src []byte) ([]byte, bool, error) {
	bound := lz4.CompressBlockBound(len(src))
	if cap(dst) < bound {
		dst = make([]byte, bound)
	}
	dst = dst[:bound]
	var n int
	var err error
	if l.hc {
		n, err = lz4.CompressBlockHC(src, dst, lz4.Level9, nil, nil)
	} else {
		n, err = lz4.CompressBlock(src, dst, nil)
	}
	if err != nil {
		return nil, false, fmt.Errorf("squash: lz4: %w", err)
	}
	if n == 0 || n >= len(src) {
		return nil, false, nil
	}
	return dst[:n], true, nil
}
func (l lz4Compressor) slow() bool { return false }
func (l lz4Compressor) String() string {
	if l.hc {
		return "lz4 (high compression)"
	}
	return "lz4"
}
func (l lz4Compressor) close() {}

// Reading.

type lz4Decoder struct{}

func (lz4Codec) newDecoder(bool) (decoder, error) { return lz4Decoder{}, nil }

func (lz4Decoder) decode(dst, src []byte) (int, error) {
	if len(src) == 0 {
		return 0, errors.New("empty compressed block")
	}
	n, err := lz4.UncompressBlock(src, dst)
	if err != nil {
		return 0, fmt.Errorf("lz4: %w", err)
	}
	return n, nil
}

// decodeKernel: LZ4_decompress_safe takes any block that decodes.
func (d lz4Decoder) decodeKernel(dst, src []byte, sb *Superblock) (int, error) {
	return d.decode(dst, src)
}

// contentSize: a raw LZ4 block does not record it.
func (lz4Decoder) contentSize([]byte) (int, bool) { return 0, false }
