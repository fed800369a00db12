//go:build !cgo

package zstdfile

import (
	"io"

	"github.com/klauspost/compress/zstd"
)

// compress without libzstd: klauspost's encoder on one goroutine (its output with more may
// depend on their number), at its default level, zstd 3's peer.
func compress(dst io.Writer, src io.Reader) error {
	enc, err := zstd.NewWriter(dst, zstd.WithEncoderConcurrency(1), zstd.WithEncoderCRC(true))
	if err != nil {
		return err
	}
	if _, err := io.Copy(enc, src); err != nil {
		enc.Close()
		return err
	}
	return enc.Close()
}
