// Package fuzzrecipe is the input format the image fuzz targets share: instead of a whole
// image, an input names a valid base image and patches it. Inputs stay a few dozen bytes, so
// Go's minimiser (quadratic in an input's length) does not stall the fuzzer on each new find,
// while every mutation still starts from an image that gets past the first checks.
package fuzzrecipe

import (
	"bytes"
	"encoding/binary"
)

// MaxLen bounds the recipes the fuzz targets read (they ignore the bytes after it).
const MaxLen = 64

// Patch returns a copy of base patched by records, each a 4-byte little-endian offset (modulo
// the image's size), a length n and n bytes to write there (fewer if the records end first); a
// record with n == 0, or without its length byte, truncates the image at its offset instead.
func Patch(base, records []byte) []byte {
	img := bytes.Clone(base)
	for p := records; len(p) >= 4 && len(img) > 0; {
		off := int(binary.LittleEndian.Uint32(p) % uint32(len(img)))
		p = p[4:]
		if len(p) == 0 || p[0] == 0 {
			img = img[:off]
			p = p[min(1, len(p)):]
			continue
		}
		n := min(int(p[0]), len(p)-1)
		copy(img[off:], p[1:1+n])
		p = p[1+n:]
	}
	return img
}

// Records encodes corrupt, a variant of base no longer than it, as the records Patch turns
// base into corrupt with.
func Records(base, corrupt []byte) []byte {
	var out []byte
	for i := 0; i < len(corrupt); {
		if corrupt[i] == base[i] {
			i++
			continue
		}
		j := i
		for j < len(corrupt) && j-i < 255 && corrupt[j] != base[j] {
			j++
		}
		out = binary.LittleEndian.AppendUint32(out, uint32(i))
		out = append(out, byte(j-i))
		out = append(out, corrupt[i:j]...)
		i = j
	}
	if len(corrupt) < len(base) {
		out = binary.LittleEndian.AppendUint32(out, uint32(len(corrupt)))
		out = append(out, 0)
	}
	return out
}
