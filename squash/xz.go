package squash

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strings"

	ulzma "github.com/ulikunitz/xz"

	"github.com/gonixiso/gonixiso/squash/internal/xz"
)

// xz: each block one xz stream, as squashfs-tools' xz_wrapper.c writes it: a CRC32 check, one
// xz block of an optional BCJ filter and LZMA2. The writer compresses with liblzma
// (xz_cgo.go), trying each BCJ filter asked for, or with ulikunitz/xz in pure Go; the reader
// decodes with liblzma or in Go (squash/internal/xz, which has the BCJ filters). The kernel's
// decompressor (fs/squashfs/xz_wrapper.c, lib/xz) reads no check or CRC32, at most a BCJ filter
// and LZMA2, and allocates the dictionary of the compressor options or max(block size, 8 KiB).

// compressionXZ is xz's compression id.
const compressionXZ = 4

// Compressor options: the dictionary size (default: the block size) and the BCJ filters the
// image was made with, stored only when they are not the defaults.
const (
	xzOptDictSize = 0 // u32
	xzOptFilters  = 4 // u32, xzFilter* flags
	xzOptSize     = 8
)

// BCJ filter flags of the compressor options, as squashfs-tools numbers them.
const (
	xzFilterX86      = 0x01
	xzFilterPowerPC  = 0x02
	xzFilterIA64     = 0x04
	xzFilterARM      = 0x08
	xzFilterARMThumb = 0x10
	xzFilterSPARC    = 0x20
)

// The BCJ filters, by the names mksquashfs -Xbcj takes, with their option flags.
var bcjFilters = []struct {
	name string
	flag uint32
}{
	{"x86", xzFilterX86},
	{"powerpc", xzFilterPowerPC},
	{"ia64", xzFilterIA64},
	{"arm", xzFilterARM},
	{"armthumb", xzFilterARMThumb},
	{"sparc", xzFilterSPARC},
}

func parseBCJ(names []string) ([]uint32, error) {
	var flags []uint32
	for _, n := range names {
		found := false
		for _, f := range bcjFilters {
			if strings.EqualFold(n, f.name) {
				for _, have := range flags {
					if have == f.flag {
						return nil, fmt.Errorf("squash: BCJ filter %q given twice", n)
					}
				}
				flags = append(flags, f.flag)
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("squash: unknown BCJ filter %q (want x86, powerpc, ia64, arm, armthumb or sparc)", n)
		}
	}
	return flags, nil
}

func init() { register(xzCodec{}) }

type xzCodec struct{}

func (xzCodec) id() uint16      { return compressionXZ }
func (xzCodec) name() Algorithm { return XZ }

func (xzCodec) newCompressor(c Compression, blockSize, workers int) (compressor, error) {
	filters, err := parseBCJ(c.BCJ)
	if err != nil {
		return nil, err
	}
	level := c.Level
	if level == 0 {
		level = 6
	}
	if level < 0 || level > 9 {
		return nil, fmt.Errorf("squash: xz level %d out of range 0-9", level)
	}
	if c.PureGo || !cgoAvailable {
		if len(filters) > 0 {
			return nil, fmt.Errorf("squash: xz BCJ filters need liblzma, a cgo build (this build: pure Go)")
		}
		if c.Level != 0 {
			return nil, fmt.Errorf("squash: xz presets need liblzma, a cgo build; pure-Go xz has one level")
		}
		return newXZGo(blockSize), nil
	}
	return newXZC(level, blockSize, filters)
}

func (xzCodec) defaults(o *CompressorOptions, blockSize int) { o.XZDictSize = blockSize }

func (x xzCodec) parseOptions(o *CompressorOptions, b []byte) error {
	if err := optionsLen(x, b, xzOptSize); err != nil {
		return err
	}
	le := binary.LittleEndian
	d := le.Uint32(b[xzOptDictSize:])
	if d > math.MaxInt32 {
		return fmt.Errorf("squash: xz dictionary size %d out of range", d)
	}
	o.XZDictSize = int(d)
	flags := le.Uint32(b[xzOptFilters:])
	for _, f := range bcjFilters {
		if flags&f.flag != 0 {
			o.XZFilters = append(o.XZFilters, f.name)
			flags &^= f.flag
		}
	}
	if flags != 0 {
		return fmt.Errorf("squash: unknown xz filter flags %#x", flags)
	}
	return nil
}

// checkOptions holds a stored dictionary size to the shapes the kernel takes.
func (xzCodec) checkOptions(sb *Superblock) error {
	if !sb.Options.Stored {
		return nil
	}
	d := uint32(sb.Options.XZDictSize)
	n := bits.TrailingZeros32(d)
	if d == 0 || (d != 1<<n && d != 1<<n+1<<(n+1)) {
		return fmt.Errorf("superblock: xz dictionary size %d is not 2^n or 2^n+2^(n+1) (the kernel refuses it)", d)
	}
	return nil
}

// xzOptions are the compressor options of a dictionary size and BCJ filters, nil for the
// defaults.
func xzOptions(dictSize, blockSize int, filters []uint32) []byte {
	var flags uint32
	for _, f := range filters {
		flags |= f
	}
	if flags == 0 && dictSize == blockSize {
		return nil
	}
	b := make([]byte, xzOptSize)
	binary.LittleEndian.PutUint32(b[xzOptDictSize:], uint32(dictSize))
	binary.LittleEndian.PutUint32(b[xzOptFilters:], flags)
	return b
}

// xz in pure Go (ulikunitz/xz): CRC32 and a dictionary of the block size keep the kernel happy.

type xzGo struct{ cfg ulzma.WriterConfig }

func newXZGo(blockSize int) compressor {
	return xzGo{cfg: ulzma.WriterConfig{DictCap: blockSize, CheckSum: ulzma.CRC32}}
}

func (x xzGo) id() uint16      { return compressionXZ }
func (x xzGo) options() []byte { return nil } // dictionary = block size, no filters: the defaults
func (x xzGo) compress(dst, src []byte) ([]byte, bool, error) {
	buf := bytes.NewBuffer(dst[:0])
	w, err := x.cfg.NewWriter(buf)
	if err != nil {
		return nil, false, fmt.Errorf("squash: xz: %w", err)
	}
	if _, err := w.Write(src); err != nil {
		return nil, false, fmt.Errorf("squash: xz: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, false, fmt.Errorf("squash: xz: %w", err)
	}
	out := buf.Bytes()
	return out, len(out) < len(src), nil
}
func (x xzGo) slow() bool     { return true }
func (x xzGo) String() string { return "xz (pure Go)" }
func (x xzGo) close()         {}

// Reading.

// xzMemLimit is the memory liblzma may take to decode a block: a dictionary of 8 MiB and its
// buffers. mksquashfs's dictionary is at most the block size (1 MiB).
const xzMemLimit = 8<<20 + 1<<20

type xzDecoder struct{ pureGo bool }

func (xzCodec) newDecoder(pureGo bool) (decoder, error) {
	return xzDecoder{pureGo: pureGo || !cgoAvailable}, nil
}

func (x xzDecoder) decode(dst, src []byte) (int, error) {
	if len(src) == 0 {
		return 0, errors.New("empty compressed block")
	}
	if !x.pureGo {
		return xzDecodeC(dst, src)
	}
	return xzDecodeGo(dst, src)
}

// xzDecodeGo decodes a block in Go (squash/internal/xz).
func xzDecodeGo(dst, src []byte) (int, error) {
	n, err := xz.Decode(dst, src)
	if errors.Is(err, xz.ErrTooLarge) {
		return 0, fmt.Errorf("xz: %w", errTooLarge)
	}
	return n, err
}

// decodeKernel holds the block to one stream with no check or CRC32, each of its blocks to
// the kernel's filter chains and dictionary.
func (x xzDecoder) decodeKernel(dst, src []byte, sb *Superblock) (int, error) {
	s, err := xz.Parse(src)
	if err != nil {
		return 0, err
	}
	if s.Check != xz.CheckNone && s.Check != xz.CheckCRC32 {
		return 0, fmt.Errorf("xz: check type %#x (the kernel reads none or CRC32 only)", s.Check)
	}
	dictLimit := max(sb.BlockSize, metadataSize) // the kernel's dictionary
	if sb.Options.Stored {
		dictLimit = sb.Options.XZDictSize
	}
	for _, b := range s.Blocks {
		if err := xzKernelFilters(b.Filters, uint64(dictLimit)); err != nil {
			return 0, err
		}
	}
	return x.decode(dst, src)
}

// contentSize: the stream's index gives each of its blocks' uncompressed size.
func (xzDecoder) contentSize(src []byte) (int, bool) {
	s, err := xz.Parse(src)
	if err != nil {
		return 0, false
	}
	var n int64
	for _, b := range s.Blocks {
		n += b.UncompressedSize
		if n > math.MaxInt32 {
			return 0, false
		}
	}
	return int(n), true
}

// xzKernelFilters holds an xz block's filter chain to the kernel's xz decoder.
func xzKernelFilters(filters []xz.Filter, dictLimit uint64) error {
	if len(filters) > 2 {
		return fmt.Errorf("xz: %d filters (the kernel decodes a BCJ filter and LZMA2 at most)", len(filters))
	}
	if len(filters) == 2 {
		f := filters[0]
		if f.ID < xz.FilterX86 || f.ID > xz.FilterSPARC {
			return fmt.Errorf("xz: filter %s before LZMA2 (the kernel's are x86, powerpc, ia64, arm, armthumb and sparc)", xz.FilterName(f.ID))
		}
		if len(f.Props) != 0 {
			return fmt.Errorf("xz: %s filter with a start offset (the kernel takes none)", xz.FilterName(f.ID))
		}
	}
	dict, err := xz.DictSize(filters)
	if err != nil {
		return err
	}
	if dict > dictLimit {
		return fmt.Errorf("xz: LZMA2 dictionary of %d bytes, larger than the kernel's %d", dict, dictLimit)
	}
	return nil
}
