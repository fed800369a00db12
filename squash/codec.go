package squash

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// This file is what the compressors share: how a caller names one (Algorithm, Compression),
// and the two small interfaces behind which each lives in a file of its own, with everything
// squash knows of it: zstd.go, xz.go, gzip.go, lz4.go, and lzma.go and lzo.go (read, not
// written). A codec resolves a Compression into a compressor for the Writer, reads and
// checks the compressor options an image stores, and decodes an image's blocks for the Reader,
// holding them to the kernel's rules for Check. Adding a compressor is adding a file that
// registers its codec. none.go registers a writer that is no codec: it stores every block as
// it is, and its images name another compressor's id.

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
	// None compresses nothing, as mksquashfs -no-compression (nixpkgs'
	// isoImage.squashfsCompression = null): see none.go.
	None Algorithm = "none"
)

// Compression chooses a compressor and its level.
//
// zstd levels 1 to 22 use libzstd (the C library mksquashfs uses, so sizes match it) and need a
// cgo build. With PureGo, or in a build without cgo, zstd uses klauspost/compress, which has four
// levels, named here by the zstd levels they resemble: 1 (fastest), 3 (default), 7 (better) and
// 11 (best). xz levels are liblzma presets 0-9 (default 6, as mksquashfs) and need cgo; with
// PureGo, xz uses ulikunitz/xz, whose output is larger and which has no BCJ filters. gzip levels
// are 1-9 (default 9), lz4 levels 0 (fast, default) and 1 (high compression). None has only
// level 0.
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

var errNeedCgo = errors.New("this build has no cgo")

// errTooLarge is returned when a block decodes to more bytes than it may hold.
var errTooLarge = errors.New("decodes to more bytes than a block holds")

// A codec is what squash knows of one compressor for reading: its names, its compressor
// options and its blocks.
type codec interface {
	// id is the superblock's compression id; name is mksquashfs's name for it.
	id() uint16
	name() Algorithm
	// defaults fills in the options the kernel and mksquashfs assume when an image of
	// blockSize blocks stores none; parseOptions then reads those it stores.
	defaults(o *CompressorOptions, blockSize int)
	parseOptions(o *CompressorOptions, b []byte) error
	// checkOptions says what in an image's superblock and options the kernel refuses.
	checkOptions(sb *Superblock) error
	// newDecoder returns a decoder of the compressor's blocks; pureGo asks for Go code
	// where a C library would otherwise decode.
	newDecoder(pureGo bool) (decoder, error)
}

// A writer is a way the Writer compresses: a codec's, or one that is no codec (none.go).
type writer interface {
	name() Algorithm
	// newCompressor resolves c, whose Algorithm is the writer's, for blocks of blockSize
	// bytes compressed by workers goroutines at once.
	newCompressor(c Compression, blockSize, workers int) (compressor, error)
}

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

// A flagger is a compressor whose images set superblock flags of their own: none's say that
// nothing is compressed.
type flagger interface {
	superFlags() uint16
}

// decoder decodes blocks of one compressor; it is safe for concurrent use.
type decoder interface {
	// decode decodes the block src into dst and returns the number of bytes; a block that
	// would decode to more than len(dst) bytes is an error wrapping errTooLarge.
	decode(dst, src []byte) (int, error)
	// decodeKernel decodes as decode does, after holding the block's container to what the
	// kernel's decompressor accepts for the image of sb.
	decodeKernel(dst, src []byte, sb *Superblock) (int, error)
	// contentSize returns the bytes the block src decodes to, when its container says so
	// (no decoding, and no check that it is true).
	contentSize(src []byte) (int, bool)
}

// codecs are the compressors squash knows, by compression id; each file registers its own.
// writers are the Algorithms the Writer takes: the codecs that compress, and none.
var (
	codecs  = map[uint16]codec{}
	writers = map[Algorithm]writer{}
)

func register(c codec) {
	codecs[c.id()] = c
	if w, ok := c.(writer); ok {
		writers[c.name()] = w
	}
}

// registerWriter registers a writer that is no codec of its own.
func registerWriter(w writer) { writers[w.name()] = w }

// algorithmName names a compression id as mksquashfs does.
func algorithmName(id uint16) Algorithm {
	if c, ok := codecs[id]; ok {
		return c.name()
	}
	return Algorithm(fmt.Sprintf("unknown-%d", id))
}

// writerNames lists the Algorithms the Writer takes, the codecs' in id order, then the others:
// "gzip, xz, lz4, zstd or none".
func writerNames() string {
	var s []string
	for _, id := range slices.Sorted(maps.Keys(codecs)) {
		if _, ok := writers[codecs[id].name()]; ok {
			s = append(s, string(codecs[id].name()))
		}
	}
	for _, a := range slices.Sorted(maps.Keys(writers)) {
		if !slices.Contains(s, string(a)) {
			s = append(s, string(a))
		}
	}
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
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
	w, ok := writers[alg]
	if !ok {
		return nil, fmt.Errorf("squash: unknown compressor %q (want %s)", alg, writerNames())
	}
	return w.newCompressor(c, blockSize, workers)
}

// newDecoder returns the decoder of blocks compressed with compression id.
func newDecoder(id uint16, pureGo bool) (codec, decoder, error) {
	c, ok := codecs[id]
	if !ok {
		return nil, nil, fmt.Errorf("squash: unknown compressor id %d", id)
	}
	d, err := c.newDecoder(pureGo)
	if err != nil {
		return nil, nil, err
	}
	return c, d, nil
}

// optionsLen checks the length of stored compressor options.
func optionsLen(c codec, b []byte, want int) error {
	if len(b) != want {
		return fmt.Errorf("squash: %s compressor options of %d bytes, want %d", c.name(), len(b), want)
	}
	return nil
}

// A block is worth a slow compressor's time unless a fast trial and the block's byte counts
// together show that it will not shrink: compressed kernel modules, firmware, images and archives
// are a large share of a real closure, and a level-19 pass over them would only prove that they do
// not. The trial is libzstd at level 1 (see incompressible in zstd_cgo.go): a block it compresses by
// at least trialMinSaving percent is worth compressing. One it does not may still shrink by a little:
// libzstd keeps a compressed block only if it saves 1/64 of it at level 1 but 1/256 at level 19, and
// level 19 codes literals of a skewed byte distribution in fewer bits than level 1 bothers to. So a
// block the trial rejects is stored as it is only if it is also flat (see flat): measured on the
// 2 GB corpus, the trial rejects 217 MB, of which level 19 would save 422 KB; 102 MB of it is not
// flat and holds 359 KB of those savings, for 13 CPU seconds of level 19. The pure-Go encoders are no
// trial: klauspost's fastest level gives up on blocks of libxul.so and of CJK fonts that level 19
// halves, so without libzstd every block is compressed.
const trialMinSaving = 1 // percent

// flatWindow is the span whose byte counts flat tests: the most that libzstd and liblzma code with
// one table of literals (a zstd block; LZMA2 resets its state no more often).
const flatWindow = 128 << 10

// flatChi2 bounds the chi-squared statistic of a flat window's byte counts against the uniform
// distribution: 4 times its expected value (255, the degrees of freedom) for random bytes, whose
// standard deviation is 23. Compressed data measures 255 on average; a window above the bound has
// an order-0 entropy below about 7.994 bits a byte (8 − χ²/(2n·ln 2) for n = 128 KiB).
const flatChi2 = 4 * 255

// flat reports whether every flatWindow of src has byte counts so close to uniform (see flatChi2)
// that coding its literals cannot save anything worth a slow compressor's pass. It is integer
// arithmetic on the bytes alone, so the decision is the same on every machine.
func flat(src []byte) bool {
	for len(src) > 0 {
		w := src[:min(len(src), flatWindow)]
		src = src[len(w):]
		var counts [256]uint32
		for _, c := range w {
			counts[c]++
		}
		var sq uint64
		for _, k := range counts {
			sq += uint64(k) * uint64(k)
		}
		// χ² = Σ (k − n/256)² / (n/256) = 256·Σk²/n − n.
		n := uint64(len(w))
		if 256*sq > n*n+flatChi2*n {
			return false
		}
	}
	return true
}
