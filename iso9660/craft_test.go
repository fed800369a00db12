package iso9660_test

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"testing"
)

// Builders of crafted images: directory records laid by hand into a copy of a valid image, for
// the shapes no tool writes.

// record is an ECMA-119 directory record (9.1) named name (the identifier as recorded), of size
// bytes at sector lba, with file flags and a System Use field.
func record(name string, lba, size uint32, flags byte, su []byte) []byte {
	n := 33 + len(name)
	n += n % 2 // a pad byte after an identifier of even length
	n += len(su)
	r := make([]byte, n)
	r[0] = byte(n)
	binary.LittleEndian.PutUint32(r[2:], lba)
	binary.BigEndian.PutUint32(r[6:], lba)
	binary.LittleEndian.PutUint32(r[10:], size)
	binary.BigEndian.PutUint32(r[14:], size)
	r[18], r[19], r[20] = 80, 1, 1 // 1980-01-01
	r[25] = flags
	r[28], r[31] = 1, 1 // volume sequence number 1, both-endian
	r[32] = byte(len(name))
	copy(r[33:], name)
	copy(r[n-len(su):], su)
	return r
}

// susp is a SUSP entry: signature, length, version 1, body.
func susp(sig string, body []byte) []byte {
	return append([]byte{sig[0], sig[1], byte(4 + len(body)), 1}, body...)
}

// both32 is a 32-bit number in both byte orders (ECMA-119 7.3.3).
func both32(v uint32) []byte {
	b := make([]byte, 8)
	binary.LittleEndian.PutUint32(b, v)
	binary.BigEndian.PutUint32(b[4:], v)
	return b
}

// rootOf returns the sector and size of the primary volume's root directory.
func rootOf(img []byte) (lba, size uint32) {
	const root = 16*2048 + 156
	return binary.LittleEndian.Uint32(img[root+2:]), binary.LittleEndian.Uint32(img[root+10:])
}

// sectorsOf lays records into whole sectors, none crossing a sector's end.
func sectorsOf(recs [][]byte) []byte {
	var b []byte
	used := 0
	for _, r := range recs {
		if used+len(r) > 2048 {
			b = append(b, make([]byte, 2048-used)...)
			used = 0
		}
		b = append(b, r...)
		used += len(r)
	}
	return append(b, make([]byte, (2048-used)%2048)...)
}

// withDir returns a copy of img with a directory named name in the root, holding recs (after
// its "." and ".." records): the directory's sectors are appended to the image, and its record
// goes into the free end of the root directory's first sector. It returns the new image and the
// directory's sector.
func withDir(t testing.TB, img []byte, name string, recs [][]byte) ([]byte, uint32) {
	t.Helper()
	img = append([]byte(nil), img...)
	rootLBA, rootSize := rootOf(img)
	lba := uint32(len(img) / 2048)
	dir := sectorsOf(append([][]byte{record("\x00", lba, 0, 2, nil), record("\x01", rootLBA, rootSize, 2, nil)}, recs...))
	size := uint32(len(dir))
	binary.LittleEndian.PutUint32(dir[10:], size) // the "." record's size
	binary.BigEndian.PutUint32(dir[14:], size)
	img = append(img, dir...)
	rec := record(name, lba, size, 2, nil)
	root := int(rootLBA) * 2048
	end := root
	for img[end] != 0 {
		end += int(img[end])
	}
	if end+len(rec) > root+2048 {
		t.Fatal("no room in the root directory's first sector")
	}
	copy(img[end:], rec)
	return img, lba
}

// withData returns a copy of img with data appended at a sector boundary, and data's sector.
func withData(img, data []byte) ([]byte, uint32) {
	img = append([]byte(nil), img...)
	img = append(img, make([]byte, (2048-len(img)%2048)%2048)...)
	lba := uint32(len(img) / 2048)
	img = append(img, data...)
	return append(img, make([]byte, (2048-len(data)%2048)%2048)...), lba
}

// zisofsFile encodes data as xorriso does: as zisofs (version 1) or zisofs2 (version 2) with
// zlib, in blocks of 2^shift bytes, a block of zeros as no bytes.
func zisofsFile(data []byte, version byte, shift uint8) []byte {
	bs := 1 << shift
	n := (len(data) + bs - 1) / bs
	hdr, ptr := 16, 4
	if version == 2 {
		hdr, ptr = 24, 8
	}
	out := make([]byte, hdr+(n+1)*ptr)
	if version == 1 {
		copy(out, []byte{0x37, 0xE4, 0x53, 0x96, 0xC9, 0xDB, 0xD6, 0x07})
		binary.LittleEndian.PutUint32(out[8:], uint32(len(data)))
		out[12], out[13] = 4, shift
	} else {
		copy(out, []byte{0xEF, 0x22, 0x55, 0xA1, 0xBC, 0x1B, 0x95, 0xA0})
		out[9], out[10], out[11] = 6, 1, shift
		binary.LittleEndian.PutUint64(out[12:], uint64(len(data)))
	}
	pointer := func(i int) {
		if ptr == 4 {
			binary.LittleEndian.PutUint32(out[hdr+i*4:], uint32(len(out)))
		} else {
			binary.LittleEndian.PutUint64(out[hdr+i*8:], uint64(len(out)))
		}
	}
	for i := range n {
		pointer(i)
		block := data[i*bs : min((i+1)*bs, len(data))]
		if bytes.Count(block, []byte{0}) == len(block) {
			continue
		}
		var b bytes.Buffer
		zw := zlib.NewWriter(&b)
		zw.Write(block)
		zw.Close()
		out = append(out, b.Bytes()...)
	}
	pointer(n)
	return out
}

// zfEntry is the Rock Ridge ZF entry of a zisofs file of size bytes (zisofs2's sizes are 64
// bits), with algorithm alg ("pz" for version 1).
func zfEntry(version byte, alg string, shift uint8, size uint64) []byte {
	b := []byte{'Z', 'F', 16, version, alg[0], alg[1], 4, shift}
	if version == 1 {
		return append(b, both32(uint32(size))...)
	}
	b[6] = 6
	return binary.LittleEndian.AppendUint64(b, size)
}
