package xz

import (
	"encoding/binary"
	"fmt"
)

// BCJ filters: each undoes what its encoder did to the branch targets of one instruction set,
// which it turned from relative into absolute addresses so that repeated calls compress better.
// pos is the stream offset of buf[0] (the filter's start offset). The last bytes that cannot
// hold a whole instruction are left as they are, as the encoder left them.

func bcjDecode(id uint64, buf []byte, pos uint32) error {
	switch id {
	case FilterX86:
		bcjX86(buf, pos)
	case FilterPowerPC:
		bcjPowerPC(buf, pos)
	case FilterIA64:
		bcjIA64(buf, pos)
	case FilterARM:
		bcjARM(buf, pos)
	case FilterARMThumb:
		bcjARMThumb(buf, pos)
	case FilterSPARC:
		bcjSPARC(buf, pos)
	default:
		return fmt.Errorf("xz: filter %#x is not supported", id)
	}
	return nil
}

// bcjX86 converts the 32-bit operands of E8 (call) and E9 (jmp) opcodes. An operand is
// converted only when its top byte is 0x00 or 0xFF (a near target); a history of recent E8/E9
// bytes among the previous three positions decides, as in the encoder, which candidates are
// opcodes rather than parts of an earlier operand.
func bcjX86(buf []byte, pos uint32) {
	near := func(b byte) bool { return b == 0x00 || b == 0xFF }
	// For the 3-bit mask of recent E8/E9 bytes: whether a candidate may be converted, and
	// which byte of the operand to test.
	allowed := [8]bool{true, true, true, false, true, false, false, false}
	bitNum := [8]uint32{0, 1, 2, 2, 3, 3, 3, 3}
	if len(buf) < 5 {
		return
	}
	limit := len(buf) - 4
	prevPos := -1 // position of the last E8/E9 byte seen
	var mask uint32
	for i := 0; i < limit; i++ {
		if buf[i]&0xFE != 0xE8 {
			continue
		}
		d := i - prevPos
		if prevPos < 0 || d > 3 {
			mask = 0
		} else {
			mask = (mask << (d - 1)) & 7
			if mask != 0 {
				b := buf[i+4-int(bitNum[mask])]
				if !allowed[mask] || near(b) {
					prevPos = i
					mask = mask<<1 | 1
					continue
				}
			}
		}
		prevPos = i
		if !near(buf[i+4]) {
			mask = mask<<1 | 1
			continue
		}
		src := binary.LittleEndian.Uint32(buf[i+1:])
		var dest uint32
		for {
			dest = src - (pos + uint32(i) + 5)
			if mask == 0 {
				break
			}
			j := bitNum[mask] * 8
			if !near(byte(dest >> (24 - j))) {
				break
			}
			src = dest ^ (1<<(32-j) - 1)
		}
		dest &= 0x01FFFFFF
		dest |= 0 - dest&0x01000000
		binary.LittleEndian.PutUint32(buf[i+1:], dest)
		i += 4
	}
}

// bcjPowerPC converts the 24-bit targets of "bl" instructions (big endian, opcode 18, AA=0,
// LK=1).
func bcjPowerPC(buf []byte, pos uint32) {
	for i := 0; i+4 <= len(buf); i += 4 {
		if buf[i]>>2 != 0x12 || buf[i+3]&3 != 1 {
			continue
		}
		src := binary.BigEndian.Uint32(buf[i:]) & 0x03FFFFFC
		dest := src - (pos + uint32(i))
		binary.BigEndian.PutUint32(buf[i:], 0x48000000|dest&0x03FFFFFF|1)
	}
}

// bcjARM converts the 24-bit word targets of "bl" instructions (little endian, condition
// "always").
func bcjARM(buf []byte, pos uint32) {
	for i := 0; i+4 <= len(buf); i += 4 {
		if buf[i+3] != 0xEB {
			continue
		}
		src := (uint32(buf[i+2])<<16 | uint32(buf[i+1])<<8 | uint32(buf[i])) << 2
		dest := (src - (pos + uint32(i) + 8)) >> 2
		buf[i], buf[i+1], buf[i+2] = byte(dest), byte(dest>>8), byte(dest>>16)
	}
}

// bcjARMThumb converts the 22-bit halfword targets of Thumb "bl" instruction pairs.
func bcjARMThumb(buf []byte, pos uint32) {
	for i := 0; i+4 <= len(buf); i += 2 {
		if buf[i+1]&0xF8 != 0xF0 || buf[i+3]&0xF8 != 0xF8 {
			continue
		}
		src := (uint32(buf[i+1])&7)<<19 | uint32(buf[i])<<11 | (uint32(buf[i+3])&7)<<8 | uint32(buf[i+2])
		src <<= 1
		dest := (src - (pos + uint32(i) + 4)) >> 1
		buf[i+1] = 0xF0 | byte(dest>>19)&7
		buf[i] = byte(dest >> 11)
		buf[i+3] = 0xF8 | byte(dest>>8)&7
		buf[i+2] = byte(dest)
		i += 2
	}
}

// bcjSPARC converts the 30-bit word targets of "call" instructions (big endian) whose target
// fits 22 bits.
func bcjSPARC(buf []byte, pos uint32) {
	for i := 0; i+4 <= len(buf); i += 4 {
		if !(buf[i] == 0x40 && buf[i+1]&0xC0 == 0x00) && !(buf[i] == 0x7F && buf[i+1]&0xC0 == 0xC0) {
			continue
		}
		src := binary.BigEndian.Uint32(buf[i:]) << 2
		dest := (src - (pos + uint32(i))) >> 2
		dest = ((0-(dest>>22)&1)<<22)&0x3FFFFFFF | dest&0x3FFFFF | 0x40000000
		binary.BigEndian.PutUint32(buf[i:], dest)
	}
}

// bcjIA64 converts the 21-bit targets of branch slots in 16-byte IA-64 bundles; the bundle's
// template says which of its three 41-bit slots may hold a branch.
func bcjIA64(buf []byte, pos uint32) {
	branchTable := [32]uint32{
		0, 0, 0, 0, 0, 0, 0, 0,
		0, 0, 0, 0, 0, 0, 0, 0,
		4, 4, 6, 6, 0, 0, 7, 7,
		4, 4, 0, 0, 4, 4, 0, 0,
	}
	for i := 0; i+16 <= len(buf); i += 16 {
		mask := branchTable[buf[i]&0x1F]
		for slot, bitPos := 0, 5; slot < 3; slot, bitPos = slot+1, bitPos+41 {
			if (mask>>slot)&1 == 0 {
				continue
			}
			bytePos, bitRes := bitPos>>3, uint(bitPos&7)
			var instr uint64
			for j := 0; j < 6; j++ {
				instr |= uint64(buf[i+j+bytePos]) << (8 * j)
			}
			norm := instr >> bitRes
			if (norm>>37)&0xF != 0x5 || (norm>>9)&0x7 != 0 {
				continue
			}
			src := uint32((norm >> 13) & 0xFFFFF)
			src |= uint32((norm>>36)&1) << 20
			src <<= 4
			dest := (src - (pos + uint32(i))) >> 4
			norm &^= uint64(0x8FFFFF) << 13
			norm |= uint64(dest&0xFFFFF) << 13
			norm |= uint64(dest&0x100000) << (36 - 20)
			instr &= 1<<bitRes - 1
			instr |= norm << bitRes
			for j := 0; j < 6; j++ {
				buf[i+j+bytePos] = byte(instr >> (8 * j))
			}
		}
	}
}
