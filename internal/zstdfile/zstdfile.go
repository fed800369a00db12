// Package zstdfile compresses a whole file into one zstd frame, as `zstd -T<n>` does: what
// nixpkgs' isoImage.compressImage does to an ISO. The output does not depend on the number of
// workers: libzstd's multithreaded mode gives the same bytes for any number of workers, which
// its own determinism tests hold it to (tests/cli-tests/determinism), and this package's tests
// check. A build without cgo compresses on one core with klauspost/compress.
package zstdfile

import "io"

// Level is the compression level: zstd's default, 3, as `zstd` without a level gives.
const Level = 3

// Compress writes src, compressed into one zstd frame, to dst, with workers threads.
func Compress(dst io.Writer, src io.Reader, workers int) error {
	return compress(dst, src, max(workers, 1))
}
