package xz

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"hash/crc64"
	"io"

	"github.com/ulikunitz/xz/lzma"
)

// ErrTooLarge is returned when a stream decodes to more bytes than the room given for it.
var ErrTooLarge = errors.New("decodes to more bytes than the room given")

// Decode decodes the xz stream that fills src into dst and returns the number of bytes: each
// block's LZMA2 data, then its filters, then its check. A stream that would decode to more
// than len(dst) bytes is an error wrapping ErrTooLarge. The dictionary allocated is no larger
// than dst, whatever the stream declares: a dictionary larger than the output is never
// reached into.
func Decode(dst, src []byte) (int, error) {
	s, err := Parse(src)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, b := range s.Blocks {
		if b.UncompressedSize > int64(len(dst)-n) {
			return 0, fmt.Errorf("xz: %w", ErrTooLarge)
		}
		out := dst[n : n+int(b.UncompressedSize)]
		if err := decodeBlock(out, src[b.DataStart:b.DataEnd], b.Filters); err != nil {
			return 0, err
		}
		if err := verifyCheck(s.Check, out, src[b.CheckStart:b.CheckStart+checkSize(s.Check)]); err != nil {
			return 0, err
		}
		n += len(out)
	}
	return n, nil
}

// decodeBlock decodes a block's data, which must fill out exactly, through its filter chain.
func decodeBlock(out, data []byte, filters []Filter) error {
	dict, err := DictSize(filters)
	if err != nil {
		return err
	}
	dictCap := int(min(dict, uint64(max(len(out), lzma.MinDictCap))))
	dictCap = max(dictCap, lzma.MinDictCap)
	in := bytes.NewReader(data)
	zr, err := lzma.Reader2Config{DictCap: dictCap}.NewReader2(in)
	if err != nil {
		return fmt.Errorf("xz: %w", err)
	}
	if _, err := io.ReadFull(zr, out); err != nil {
		return fmt.Errorf("xz: LZMA2: %w", err)
	}
	var one [1]byte
	if k, err := zr.Read(one[:]); k != 0 || err != io.EOF {
		if err == nil || err == io.EOF {
			return fmt.Errorf("xz: %w", ErrTooLarge)
		}
		return fmt.Errorf("xz: LZMA2: %w", err)
	}
	if in.Len() != 0 {
		return errors.New("xz: LZMA2 data ends before its block")
	}
	for i := len(filters) - 2; i >= 0; i-- {
		f := filters[i]
		var start uint32
		switch len(f.Props) {
		case 0:
		case 4:
			start = binary.LittleEndian.Uint32(f.Props)
		default:
			return fmt.Errorf("xz: BCJ filter %#x: bad properties", f.ID)
		}
		if err := bcjDecode(f.ID, out, start); err != nil {
			return err
		}
	}
	return nil
}

func verifyCheck(check byte, data, sum []byte) error {
	switch check {
	case CheckNone:
		return nil
	case CheckCRC32:
		if crc32.ChecksumIEEE(data) != binary.LittleEndian.Uint32(sum) {
			return errors.New("xz: CRC32 mismatch")
		}
	case CheckCRC64:
		if crc64.Checksum(data, crc64ECMA) != binary.LittleEndian.Uint64(sum) {
			return errors.New("xz: CRC64 mismatch")
		}
	case CheckSHA256:
		h := sha256.Sum256(data)
		if !bytes.Equal(h[:], sum) {
			return errors.New("xz: SHA-256 mismatch")
		}
	default:
		return fmt.Errorf("xz: unsupported check type %#x", check)
	}
	return nil
}

var crc64ECMA = crc64.MakeTable(crc64.ECMA)
