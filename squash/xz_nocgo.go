//go:build !cgo

package squash

import (
	"fmt"
	"sync/atomic"
)

// xzGoFallbacks: every block is decoded in Go.
var xzGoFallbacks atomic.Int64

func newXZC(preset, blockSize int, filters []uint32) (compressor, error) {
	return nil, fmt.Errorf("squash: xz with liblzma: %w", errNeedCgo)
}

func xzDecodeC(dst, src []byte) (int, error) {
	return 0, fmt.Errorf("squash: xz decoding with liblzma: %w", errNeedCgo)
}
