//go:build !cgo

package squash

import "fmt"

// cgoAvailable: this build has neither libzstd nor liblzma.
const cgoAvailable = false

func newZstdC(level, workers int) (compressor, error) {
	return nil, fmt.Errorf("squash: zstd level %d needs libzstd: %w", level, errNeedCgo)
}

// incompressible has no trial without libzstd (see codec.go): every block is compressed.
func incompressible(src []byte) bool { return false }
