package squash

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/gonixiso/gonixiso/squash/internal/lzo"
)

// lzo: each block an LZO1X stream, as squashfs-tools' lzo_wrapper.c writes it with liblzo
// (lzo1x_999 at level 8 by default). The reader decodes it in Go (squash/internal/lzo); the
// Writer does not write it. The kernel (fs/squashfs/lzo_wrapper.c) decodes it with
// lzo1x_decompress_safe, whatever the options say.

// compressionLZO is lzo's compression id.
const compressionLZO = 3

// Compressor options: the algorithm and the level (of lzo1x_999), stored only when they are not
// lzo1x_999 at level 8.
const (
	lzoOptAlgorithm = 0 // u32, an index in lzoAlgorithms
	lzoOptLevel     = 4 // u32
	lzoOptSize      = 8
	lzoDefaultLevel = 8
)

// lzoAlgorithms are squashfs-tools' lzo compressors, by their index in the options.
var lzoAlgorithms = []string{"lzo1x_1", "lzo1x_1_11", "lzo1x_1_12", "lzo1x_1_15", "lzo1x_999"}

func init() { register(lzoCodec{}) }

type lzoCodec struct{}

func (lzoCodec) id() uint16      { return compressionLZO }
func (lzoCodec) name() Algorithm { return "lzo" }

func (lzoCodec) defaults(o *CompressorOptions, blockSize int) {
	o.LZOAlgorithm, o.Level = "lzo1x_999", lzoDefaultLevel
}

func (l lzoCodec) parseOptions(o *CompressorOptions, b []byte) error {
	if err := optionsLen(l, b, lzoOptSize); err != nil {
		return err
	}
	a := binary.LittleEndian.Uint32(b[lzoOptAlgorithm:])
	if a >= uint32(len(lzoAlgorithms)) {
		return fmt.Errorf("squash: unknown lzo algorithm %d", a)
	}
	o.LZOAlgorithm = lzoAlgorithms[a]
	o.Level = int(binary.LittleEndian.Uint32(b[lzoOptLevel:]))
	return nil
}

func (lzoCodec) checkOptions(*Superblock) error { return nil }

type lzoDecoder struct{}

func (lzoCodec) newDecoder(bool) (decoder, error) { return lzoDecoder{}, nil }

func (lzoDecoder) decode(dst, src []byte) (int, error) {
	if len(src) == 0 {
		return 0, errors.New("empty compressed block")
	}
	n, err := lzo.Decode(dst, src)
	if errors.Is(err, lzo.ErrTooLarge) {
		return 0, fmt.Errorf("lzo: %w", errTooLarge)
	}
	return n, err
}

// decodeKernel: lzo1x_decompress_safe takes any stream that decodes, as Decode does.
func (d lzoDecoder) decodeKernel(dst, src []byte, sb *Superblock) (int, error) {
	return d.decode(dst, src)
}

// contentSize: an LZO stream does not record it.
func (lzoDecoder) contentSize([]byte) (int, bool) { return 0, false }
