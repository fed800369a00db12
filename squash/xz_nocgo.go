//go:build !cgo

package squash

import "fmt"

func newXZC(preset, blockSize int, filters []uint32) (compressor, error) {
	return nil, fmt.Errorf("squash: xz with liblzma: %w", errNeedCgo)
}

func xzDecodeC(dst, src []byte) (int, error) {
	return 0, fmt.Errorf("squash: xz decoding with liblzma: %w", errNeedCgo)
}
