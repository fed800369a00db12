package squash

import "fmt"

// none: nothing compressed, as mksquashfs -no-compression writes it (nixpkgs'
// isoImage.squashfsCompression = null): every data block, fragment block and metadata block is
// stored as it is, with its uncompressed bit, and the superblock sets the flags of -noI, -noD,
// -noF and -noX (flagsNoCompression). -noId is not among them: mksquashfs writes the id table
// uncompressed with -noI but does not flag it, and neither does none.
//
// SquashFS has no compression id for "none": mksquashfs records its default compressor, gzip,
// with no compressor options, and so does none. The kernel still needs the named decompressor
// to mount the image (CONFIG_SQUASHFS_ZLIB, on by default), though it decodes nothing with it.
// So none is a way of writing, not a codec: an image reads as gzip's, and the Reader reports
// None for any image whose flags say nothing is compressed (see Superblock.Compression).

// noneCompressionID is the compression id none records: mksquashfs's default compressor's.
const noneCompressionID = compressionGzip

func init() { registerWriter(noneWriter{}) }

type noneWriter struct{}

func (noneWriter) name() Algorithm { return None }

func (noneWriter) newCompressor(c Compression, blockSize, workers int) (compressor, error) {
	if c.Level != 0 {
		return nil, fmt.Errorf("squash: none: level %d: none compresses nothing (want level 0)", c.Level)
	}
	return noneCompressor{}, nil
}

type noneCompressor struct{}

func (noneCompressor) id() uint16         { return noneCompressionID }
func (noneCompressor) options() []byte    { return nil }
func (noneCompressor) superFlags() uint16 { return flagsNoCompression }

// compress stores every block as it is.
func (noneCompressor) compress(dst, src []byte) ([]byte, bool, error) { return dst[:0], false, nil }
func (noneCompressor) slow() bool                                     { return false }
func (noneCompressor) String() string                                 { return "none" }
func (noneCompressor) close()                                         {}
