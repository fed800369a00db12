package squash

import (
	"fmt"
	"math"
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
