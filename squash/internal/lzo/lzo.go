// Package lzo decodes LZO1X streams, as liblzo's lzo1x_decompress_safe and the Linux kernel's
// lib/lzo read them (the stream, not the lzop file format): what squashfs-tools' lzo compressor
// stores in each SquashFS block. It is written from the stream's description (the kernel's
// Documentation/staging/lzo.rst); version 1 streams (lzo-rle) are refused.
//
// Decode reads untrusted bytes: it never reads past its input, writes past its output or
// copies from before the output's start, and its work is linear in the output's room.
package lzo

import (
	"encoding/binary"
	"errors"
)

// ErrTooLarge is returned when a stream decodes to more bytes than the room given for it.
var ErrTooLarge = errors.New("lzo: decodes to more bytes than the room given")

var (
	errInput    = errors.New("lzo: stream ends early")
	errDistance = errors.New("lzo: match reaches before the output's start")
	errTrailing = errors.New("lzo: bytes after the end of the stream")
	errVersion  = errors.New("lzo: bitstream version 1 (lzo-rle) is not LZO1X")
)

// Instruction classes, by their first byte's high bits (t is the byte):
//
//	1 L L D D D S S  match of 5-8 bytes, distance 1-2048: one more byte H
//	0 1 L D D D S S  match of 3-4 bytes, distance 1-2048: one more byte H
//	0 0 1 L L L L L  match of 2+ bytes, distance 1-16384: a length run, then LE16 D<<2|S
//	0 0 0 1 H L L L  match of 2+ bytes, distance 16385-49151: a length run, then LE16 D<<2|S;
//	                 a distance of 16384 ends the stream
//	0 0 0 0 X X X X  by state (the literals the last instruction copied): 0, a literal run
//	                 of 4+ bytes; 1-3, a 2-byte match within 1 KiB; 4 or more, a 3-byte match
//	                 at 2049-3072: one more byte H
//
// S is the number of literals (0-3) that follow a match, and the next state.

// Decode decodes the LZO1X stream that fills src into dst and returns the number of bytes. A
// stream that would decode to more than len(dst) bytes is an error wrapping ErrTooLarge.
func Decode(dst, src []byte) (int, error) {
	d := decoder{dst: dst, src: src}
	return d.decode()
}

type decoder struct {
	dst, src []byte
	ip, op   int
}

// byte1 reads a byte of the stream.
func (d *decoder) byte1() (int, error) {
	if d.ip >= len(d.src) {
		return 0, errInput
	}
	b := d.src[d.ip]
	d.ip++
	return int(b), nil
}

// le16 reads a little-endian 16-bit operand.
func (d *decoder) le16() (int, error) {
	if d.ip+2 > len(d.src) {
		return 0, errInput
	}
	v := binary.LittleEndian.Uint16(d.src[d.ip:])
	d.ip += 2
	return int(v), nil
}

// length reads the rest of a length whose bits in the instruction were zero: a zero byte for
// each 255, then a byte that is not zero; the length is base plus them.
func (d *decoder) length(base int) (int, error) {
	n := base
	for {
		b, err := d.byte1()
		if err != nil {
			return 0, err
		}
		if b != 0 {
			return n + b, nil
		}
		n += 255
		if n > len(d.dst) {
			return 0, ErrTooLarge
		}
	}
}

// literals copies n bytes of the stream to the output.
func (d *decoder) literals(n int) error {
	if n > len(d.src)-d.ip {
		return errInput
	}
	if n > len(d.dst)-d.op {
		return ErrTooLarge
	}
	copy(d.dst[d.op:], d.src[d.ip:d.ip+n])
	d.ip += n
	d.op += n
	return nil
}

// match copies n bytes from dist bytes back in the output, a byte at a time (they may overlap).
func (d *decoder) match(dist, n int) error {
	if dist > d.op {
		return errDistance
	}
	if n > len(d.dst)-d.op {
		return ErrTooLarge
	}
	from := d.op - dist
	for i := range n {
		d.dst[d.op+i] = d.dst[from+i]
	}
	d.op += n
	return nil
}

func (d *decoder) decode() (int, error) {
	if len(d.src) == 0 {
		return 0, errInput
	}
	state := 0
	// The first byte: past 17, a literal run of it - 17 bytes.
	switch t := int(d.src[0]); {
	case t == 17:
		return 0, errVersion
	case t > 17:
		d.ip = 1
		n := t - 17
		if err := d.literals(n); err != nil {
			return 0, err
		}
		state = min(n, 4)
	}
	for {
		t, err := d.byte1()
		if err != nil {
			return 0, err
		}
		var n, dist, s int
		switch {
		case t >= 128:
			h, err := d.byte1()
			if err != nil {
				return 0, err
			}
			n, dist, s = 5+(t>>5)&3, h<<3+(t>>2)&7+1, t&3
		case t >= 64:
			h, err := d.byte1()
			if err != nil {
				return 0, err
			}
			n, dist, s = 3+(t>>5)&1, h<<3+(t>>2)&7+1, t&3
		case t >= 32:
			if n = t & 31; n == 0 {
				if n, err = d.length(31); err != nil {
					return 0, err
				}
			}
			v, err := d.le16()
			if err != nil {
				return 0, err
			}
			n, dist, s = n+2, v>>2+1, v&3
		case t >= 16:
			if n = t & 7; n == 0 {
				if n, err = d.length(7); err != nil {
					return 0, err
				}
			}
			v, err := d.le16()
			if err != nil {
				return 0, err
			}
			n, dist, s = n+2, 16384+(t&8)<<11+v>>2, v&3
			if dist == 16384 { // the end of the stream: a "match" of 3 bytes at 16384
				if n != 3 {
					return 0, errors.New("lzo: bad end of stream")
				}
				if d.ip != len(d.src) {
					return 0, errTrailing
				}
				return d.op, nil
			}
		case state == 0: // a literal run of 4 or more bytes
			if n = t & 15; n == 0 {
				if n, err = d.length(15); err != nil {
					return 0, err
				}
			}
			if err := d.literals(n + 3); err != nil {
				return 0, err
			}
			state = 4
			continue
		default:
			h, err := d.byte1()
			if err != nil {
				return 0, err
			}
			if state == 4 {
				n, dist, s = 3, h<<2+(t>>2)&3+2049, t&3
			} else {
				n, dist, s = 2, h<<2+(t>>2)&3+1, t&3
			}
		}
		if err := d.match(dist, n); err != nil {
			return 0, err
		}
		if err := d.literals(s); err != nil {
			return 0, err
		}
		state = s
	}
}
