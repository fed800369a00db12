// Package zstdfile compresses a whole file into one zstd frame, as `zstd` does: what nixpkgs'
// isoImage.compressImage does to an ISO. It compresses on one core, with libzstd's
// single-threaded mode: its multithreaded mode gives other bytes (the same for any number of
// workers, but not the same as with none), and a static libzstd, which gonixiso's builds in Nix's
// sandbox link, may have no threads at all; one core at level 3 compresses a 2 GB ISO in seconds.
// A build without cgo compresses with klauspost/compress.
package zstdfile

import "io"

// Level is the compression level: zstd's default, 3, as `zstd` without a level gives.
const Level = 3

// Compress writes src, compressed into one zstd frame with a checksum, to dst.
func Compress(dst io.Writer, src io.Reader) error { return compress(dst, src) }
