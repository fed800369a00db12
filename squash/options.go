package squash

import (
	"fmt"
	"math"
	"runtime/debug"
	"strings"
)

// Check reports whether NewWriter would accept the options, without writing anything: the block
// size, the creation time, and the compressor with its level and filters (and whether this
// build has it). A caller checks options this way before any long work.
func (o Options) Check() error {
	bs, err := o.blockSize()
	if err != nil {
		return err
	}
	comp, err := o.Compression.resolve(bs, 1)
	if err != nil {
		return err
	}
	comp.close()
	return nil
}

// blockSize checks the block size and the creation time and returns the block size, the
// default for 0.
func (o Options) blockSize() (int, error) {
	bs := o.BlockSize
	if bs == 0 {
		bs = DefaultBlockSize
	}
	if bs < MinBlockSize || bs > MaxBlockSize || bs&(bs-1) != 0 {
		return 0, fmt.Errorf("squash: block size %d: want a power of two from %d to %d", bs, MinBlockSize, MaxBlockSize)
	}
	if o.ModTime < 0 || o.ModTime > math.MaxUint32 {
		return 0, fmt.Errorf("squash: creation time %d outside 0..2^32-1", o.ModTime)
	}
	return bs, nil
}

// SegmentKey names everything in o that changes the bytes of a segment (see Segment): the
// layout version, the block size, the compressor with its level, filters and the version of the
// library that implements it, and whether tails are packed and duplicates detected. Segments written with equal keys from equal entries are
// equal; a cache of segments keys its entries by it.
func (o Options) SegmentKey() (string, error) {
	bs, err := o.blockSize()
	if err != nil {
		return "", err
	}
	comp, err := o.Compression.resolve(bs, 1)
	if err != nil {
		return "", err
	}
	defer comp.close()
	return fmt.Sprintf("squash layout %d\x00block size %d\x00%s\x00fragments %t\x00duplicates %t\x00%s",
		LayoutVersion, bs, comp, !o.NoFragments, !o.NoDedup, goLibVersions()), nil
}

// goLibVersions names the Go compression modules this binary was built with: their encoders'
// output may change between versions. (The C libraries' versions are in the compressor's name.)
func goLibVersions() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	var v []string
	for _, d := range bi.Deps {
		switch d.Path {
		case "github.com/klauspost/compress", "github.com/ulikunitz/xz", "github.com/pierrec/lz4/v4":
			v = append(v, d.Path+"@"+d.Version)
		}
	}
	return strings.Join(v, ",")
}
