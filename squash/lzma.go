package squash

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/ulikunitz/xz/lzma"
)

// lzma: each block an LZMA1 stream in the .lzma ("alone") format: a header of the properties,
// the dictionary size and the uncompressed size, then the stream; squashfs-tools' lzma wrapper
// writes it with no compressor options. The reader decodes it with ulikunitz/xz; the Writer
// does not write it, and the Linux kernel has no lzma decompressor for SquashFS (Check says so).

// compressionLZMA is lzma's compression id.
const compressionLZMA = 2

// The .lzma header.
const (
	lzmaProps      = 0 // u8 lc, lp, pb
	lzmaDictSize   = 1 // u32
	lzmaSize       = 5 // u64, all ones when unknown
	lzmaHeaderSize = 13
)

func init() { register(lzmaCodec{}) }

type lzmaCodec struct{}

func (lzmaCodec) id() uint16                            { return compressionLZMA }
func (lzmaCodec) name() Algorithm                       { return "lzma" }
func (lzmaCodec) defaults(o *CompressorOptions, bs int) {}
func (lzmaCodec) parseOptions(*CompressorOptions, []byte) error {
	return errors.New("squash: lzma compressor options (lzma has none)")
}

// checkOptions: no image in lzma mounts.
func (lzmaCodec) checkOptions(*Superblock) error {
	return errors.New("superblock: lzma (the kernel has no lzma decompressor for SquashFS)")
}

type lzmaDecoder struct{}

func (lzmaCodec) newDecoder(bool) (decoder, error) { return lzmaDecoder{}, nil }

func (lzmaDecoder) decode(dst, src []byte) (int, error) {
	if len(src) < lzmaHeaderSize {
		return 0, errors.New("lzma: block shorter than its header")
	}
	// A dictionary larger than the output is never reached into: the header's is cut to the
	// output's room before the decoder allocates it.
	h := bytes.Clone(src[:lzmaHeaderSize])
	le := binary.LittleEndian
	if size := le.Uint64(h[lzmaSize:]); size != 1<<64-1 && size > uint64(len(dst)) {
		return 0, fmt.Errorf("lzma: %w", errTooLarge)
	}
	dict := min(le.Uint32(h[lzmaDictSize:]), uint32(max(len(dst), lzma.MinDictCap)))
	le.PutUint32(h[lzmaDictSize:], dict)
	zr, err := lzma.NewReader(io.MultiReader(bytes.NewReader(h), bytes.NewReader(src[lzmaHeaderSize:])))
	if err != nil {
		return 0, fmt.Errorf("lzma: %w", err)
	}
	n, err := readAllInto(zr, dst)
	if err != nil {
		return 0, fmt.Errorf("lzma: %w", err)
	}
	return n, nil
}

func (d lzmaDecoder) decodeKernel(dst, src []byte, sb *Superblock) (int, error) {
	return d.decode(dst, src)
}

// contentSize: the header gives it, when it is known.
func (lzmaDecoder) contentSize(src []byte) (int, bool) {
	if len(src) < lzmaHeaderSize {
		return 0, false
	}
	size := binary.LittleEndian.Uint64(src[lzmaSize:])
	if size > 1<<30 {
		return 0, false
	}
	return int(size), true
}
