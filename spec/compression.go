package spec

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/gonixiso/gonixiso/squash"
)

// Compression reads isoImage.squashfsCompression, the arguments nixpkgs passes to mksquashfs
// after -comp ("zstd -Xcompression-level 19", "xz -Xdict-size 100% -Xbcj x86", "gzip", "lz4
// -Xhc"), for a SquashFS of blockSize-byte blocks. null, for which nixpkgs passes
// -no-compression instead, is squash.None: an uncompressed SquashFS. Options that would make
// other bytes than gonixiso writes (an xz dictionary smaller than a block, gzip's window and
// strategies, lzo) are errors: the configuration asks for something gonixiso cannot give, and
// saying so beats an image that differs in silence.
func (im *ISOImage) Compression(blockSize int) (squash.Compression, error) {
	if im.SquashfsCompression == nil {
		return squash.Compression{Algorithm: squash.None}, nil
	}
	c, err := ParseCompression(*im.SquashfsCompression, blockSize)
	if err != nil {
		return c, fmt.Errorf("isoImage.squashfsCompression: %w", err)
	}
	return c, nil
}

// ParseCompression reads mksquashfs's -comp arguments for a SquashFS of blockSize-byte blocks
// (see ISOImage.Compression). mksquashfs has no -comp none: an uncompressed SquashFS is null,
// not a string.
func ParseCompression(s string, blockSize int) (squash.Compression, error) {
	words := strings.Fields(s)
	if len(words) == 0 {
		return squash.Compression{}, fmt.Errorf("%q: no compressor", s)
	}
	c := squash.Compression{Algorithm: squash.Algorithm(words[0])}
	switch c.Algorithm {
	case squash.Zstd, squash.XZ, squash.Gzip, squash.LZ4:
	default:
		return c, fmt.Errorf("%q: compressor %q: gonixiso writes zstd, xz, gzip and lz4 (and null for none)", s, words[0])
	}
	arg := func(i int) (string, error) {
		if i+1 >= len(words) {
			return "", fmt.Errorf("%q: %s needs a value", s, words[i])
		}
		return words[i+1], nil
	}
	for i := 1; i < len(words); i++ {
		opt := words[i]
		switch {
		case opt == "-Xcompression-level" && (c.Algorithm == squash.Zstd || c.Algorithm == squash.Gzip):
			v, err := arg(i)
			if err != nil {
				return c, err
			}
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 {
				return c, fmt.Errorf("%q: -Xcompression-level %q: want a level", s, v)
			}
			c.Level = n
			i++
		case opt == "-Xbcj" && c.Algorithm == squash.XZ:
			v, err := arg(i)
			if err != nil {
				return c, err
			}
			c.BCJ = append(c.BCJ, strings.Split(v, ",")...)
			i++
		case opt == "-Xdict-size" && c.Algorithm == squash.XZ:
			v, err := arg(i)
			if err != nil {
				return c, err
			}
			n, err := dictSize(v, blockSize)
			if err != nil {
				return c, fmt.Errorf("%q: -Xdict-size %q: %w", s, v, err)
			}
			if n != blockSize {
				return c, fmt.Errorf("%q: -Xdict-size %q is %d bytes: gonixiso's xz uses a dictionary of the block size (%d bytes, -Xdict-size 100%%)", s, v, n, blockSize)
			}
			i++
		case opt == "-Xhc" && c.Algorithm == squash.LZ4:
			c.Level = 1
		default:
			return c, fmt.Errorf("%q: option %q of %s: not one gonixiso writes", s, opt, c.Algorithm)
		}
	}
	return c, nil
}

// dictSize reads an xz dictionary size as mksquashfs does: bytes, with K or M, or a percentage
// of the block size.
func dictSize(v string, blockSize int) (int, error) {
	if p, ok := strings.CutSuffix(v, "%"); ok {
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 || n > 100 {
			return 0, fmt.Errorf("want a percentage from 1 to 100")
		}
		return blockSize * n / 100, nil
	}
	mult := 1
	switch {
	case strings.HasSuffix(v, "K"), strings.HasSuffix(v, "k"):
		mult, v = 1<<10, v[:len(v)-1]
	case strings.HasSuffix(v, "M"), strings.HasSuffix(v, "m"):
		mult, v = 1<<20, v[:len(v)-1]
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 || n > 1<<30/mult {
		return 0, fmt.Errorf("want a size")
	}
	return n * mult, nil
}
