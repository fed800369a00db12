package squash

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/klauspost/compress/zlib"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/ulikunitz/xz"
)

// Algorithm names a compressor.
type Algorithm string

// The compressors gonixiso writes. Each stays within the Linux kernel's rules for SquashFS: one
// frame or stream per block; xz with a CRC32 check, a dictionary no larger than the block and at
// most one BCJ filter; zstd with a window no larger than the block.
const (
	Zstd Algorithm = "zstd"
	XZ   Algorithm = "xz"
	Gzip Algorithm = "gzip"
	LZ4  Algorithm = "lz4"
)

// Compression chooses a compressor and its level.
//
// zstd levels 1 to 22 use libzstd (the C library mksquashfs uses, so sizes match it) and need a
// cgo build. With PureGo, or in a build without cgo, zstd uses klauspost/compress, which has four
// levels, named here by the zstd levels they resemble: 1 (fastest), 3 (default), 7 (better) and
// 11 (best). xz levels are liblzma presets 0-9 (default 6, as mksquashfs) and need cgo; with
// PureGo, xz uses ulikunitz/xz, whose output is larger and which has no BCJ filters. gzip levels
// are 1-9 (default 9), lz4 levels 0 (fast, default) and 1 (high compression).
type Compression struct {
	Algorithm Algorithm // default zstd
	// Level 0 means the algorithm's default: zstd 19 (NixOS's) with libzstd, 11 in pure Go.
	Level int
	// BCJ lists xz branch/call/jump filters for executable code ("x86", "powerpc", "ia64",
	// "arm", "armthumb", "sparc"); each block is compressed without a filter and with each one,
	// and the smallest result is kept, as mksquashfs -Xbcj does. The kernel must have the
	// filter (CONFIG_XZ_DEC_X86 and so on).
	BCJ []string
	// PureGo selects the pure-Go implementation even in a cgo build.
	PureGo bool
}

// String describes the compression, e.g. "zstd level 19 (libzstd)".
func (c Compression) String() string {
	comp, err := c.resolve(DefaultBlockSize, 1)
	if err != nil {
		return fmt.Sprintf("%s level %d (unavailable: %v)", c.Algorithm, c.Level, err)
	}
	defer comp.close()
	return comp.String()
}

// CgoAvailable reports whether this build has the C libraries (libzstd and liblzma).
func CgoAvailable() bool { return cgoAvailable }

// compressor compresses blocks; its methods are safe for concurrent use.
type compressor interface {
	id() uint16
	// options returns the compressor options to store after the superblock, or nil for none.
	options() []byte
	// compress returns src compressed into dst's spare capacity, or ok=false when the result
	// would not be smaller than src.
	compress(dst, src []byte) (out []byte, ok bool, err error)
	// slow reports whether a block is worth a cheap trial first (see incompressible).
	slow() bool
	String() string
	close()
}

// resolve picks the implementation of c for a block size and a number of concurrent callers.
func (c Compression) resolve(blockSize, workers int) (compressor, error) {
	alg := c.Algorithm
	if alg == "" {
		alg = Zstd
	}
	if len(c.BCJ) > 0 && alg != XZ {
		return nil, fmt.Errorf("squash: BCJ filters apply to xz only, not %s", alg)
	}
	switch alg {
	case Zstd:
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
	case XZ:
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
	case Gzip:
		level := c.Level
		if level == 0 {
			level = 9
		}
		if level < 1 || level > 9 {
			return nil, fmt.Errorf("squash: gzip level %d out of range 1-9", level)
		}
		return newGzip(level), nil
	case LZ4:
		if c.Level < 0 || c.Level > 1 {
			return nil, fmt.Errorf("squash: lz4 level %d: want 0 (fast) or 1 (high compression)", c.Level)
		}
		return lz4Compressor{hc: c.Level == 1}, nil
	}
	return nil, fmt.Errorf("squash: unknown compressor %q (want zstd, xz, gzip or lz4)", alg)
}

// The BCJ filters, by the names mksquashfs -Xbcj takes, with their squashfs option bits.
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

// A block is worth a slow compressor's time only if a fast trial compresses it by at least 1%:
// compressed kernel modules, firmware, images and archives are a large share of a real closure,
// and a level-19 pass over them would only prove that they do not shrink. The trial is libzstd at
// level 1 (see incompressible in compress_cgo.go): measured on the 2 GB corpus, it leaves about
// 110 MB of blocks uncompressed at a cost of 0.2 MB against compressing them at level 19. The
// pure-Go encoders are no trial: klauspost's fastest level gives up on blocks of libxul.so and of
// CJK fonts that level 19 halves, so without libzstd every block is compressed.
const trialMinSaving = 1 // percent

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

func (z *zstdGo) id() uint16 { return CompressionZstd }
func (z *zstdGo) options() []byte {
	if z.level == 15 {
		return nil
	}
	b := make([]byte, zstdOptSize)
	binary.LittleEndian.PutUint32(b[zstdOptLevel:], uint32(z.level))
	return b
}
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

// xz in pure Go (ulikunitz/xz): CRC32 and a dictionary of the block size keep the kernel happy.

type xzGo struct{ cfg xz.WriterConfig }

func newXZGo(blockSize int) compressor {
	return xzGo{cfg: xz.WriterConfig{DictCap: blockSize, CheckSum: xz.CRC32}}
}

func (x xzGo) id() uint16      { return CompressionXZ }
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

// gzip: SquashFS's "gzip" is a zlib stream.

type gzipCompressor struct {
	level int
	pool  sync.Pool
}

func newGzip(level int) *gzipCompressor { return &gzipCompressor{level: level} }

func (g *gzipCompressor) id() uint16 { return CompressionGzip }
func (g *gzipCompressor) options() []byte {
	if g.level == 9 {
		return nil
	}
	b := make([]byte, gzipOptSize)
	binary.LittleEndian.PutUint32(b[gzipOptLevel:], uint32(g.level))
	binary.LittleEndian.PutUint16(b[gzipOptWindowSize:], 15)
	return b
}
func (g *gzipCompressor) compress(dst, src []byte) ([]byte, bool, error) {
	buf := bytes.NewBuffer(dst[:0])
	w, _ := g.pool.Get().(*zlib.Writer)
	if w == nil {
		var err error
		if w, err = zlib.NewWriterLevel(buf, g.level); err != nil {
			return nil, false, fmt.Errorf("squash: gzip: %w", err)
		}
	} else {
		w.Reset(buf)
	}
	defer g.pool.Put(w)
	if _, err := w.Write(src); err != nil {
		return nil, false, fmt.Errorf("squash: gzip: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, false, fmt.Errorf("squash: gzip: %w", err)
	}
	out := buf.Bytes()
	return out, len(out) < len(src), nil
}
func (g *gzipCompressor) slow() bool     { return false }
func (g *gzipCompressor) String() string { return fmt.Sprintf("gzip level %d", g.level) }
func (g *gzipCompressor) close()         {}

// lz4: a raw LZ4 block (the kernel calls LZ4_decompress_safe); its options are mandatory.

type lz4Compressor struct{ hc bool }

func (l lz4Compressor) id() uint16 { return CompressionLZ4 }
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

var errNeedCgo = errors.New("this build has no cgo")
