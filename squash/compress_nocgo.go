//go:build !cgo

package squash

import "fmt"

const cgoAvailable = false

// incompressible has no trial without libzstd (see compress.go): every block is compressed.
func incompressible(src []byte) bool { return false }

func newZstdC(level, workers int) (compressor, error) {
	return nil, fmt.Errorf("squash: zstd level %d needs libzstd: %w", level, errNeedCgo)
}

func newXZC(preset, blockSize int, filters []uint32) (compressor, error) {
	return nil, fmt.Errorf("squash: xz with liblzma: %w", errNeedCgo)
}

func xzDecodeC(dst, src []byte) (int, error) {
	return 0, fmt.Errorf("squash: xz decoding with liblzma: %w", errNeedCgo)
}
