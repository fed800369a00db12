package iso9660

import (
	"strings"
	"time"
)

// SUSP and Rock Ridge entries for the System Use field of directory records, and the
// continuation areas (CE) that hold what does not fit in a record.

func suspHeader(sig string, length int) []byte {
	b := make([]byte, length)
	b[suspSignature], b[suspSignature+1] = sig[0], sig[1]
	b[suspLength] = byte(length)
	b[suspVersion] = 1
	return b
}

// spEntry is the SUSP indicator: the first entry of the root directory's "." record.
func spEntry() []byte {
	b := suspHeader("SP", suspSPLen)
	b[4], b[5], b[6] = 0xBE, 0xEF, 0 // check bytes, and no bytes skipped
	return b
}

// erEntry announces the Rock Ridge extension (RRIP 1.10).
func erEntry() []byte {
	id, des, src := rrExtensionID, rrExtensionDescriptor, rrExtensionSource
	b := suspHeader("ER", 8+len(id)+len(des)+len(src))
	b[4], b[5], b[6], b[7] = byte(len(id)), byte(len(des)), byte(len(src)), rrExtensionVersion
	copy(b[8:], id+des+src)
	return b
}

// ceEntry points at a continuation area.
func ceEntry(lba, offset, length uint32) []byte {
	b := suspHeader("CE", suspCELen)
	putBoth32(b[4:], lba)
	putBoth32(b[12:], offset)
	putBoth32(b[20:], length)
	return b
}

// pxEntry holds the POSIX mode, link count and owners (RRIP 4.1.1, 1.10 form without the
// inode number).
func pxEntry(mode, nlink uint32) []byte {
	b := suspHeader("PX", rrPXLen)
	putBoth32(b[4:], mode)
	putBoth32(b[12:], nlink)
	putBoth32(b[20:], 0) // uid
	putBoth32(b[28:], 0) // gid
	return b
}

// tfEntry records the modification, access and attribute-change times, all t (RRIP 4.1.6).
func tfEntry(t [shortDateLen]byte) []byte {
	b := suspHeader("TF", rrTFLen)
	b[4] = tfModify | tfAccess | tfAttributes
	for i := 0; i < 3; i++ {
		copy(b[5+i*shortDateLen:], t[:])
	}
	return b
}

// nmEntries holds the alternate name, in as many NM entries as it needs (RRIP 4.1.4).
func nmEntries(name string) [][]byte {
	var out [][]byte
	for {
		chunk := name
		flags := byte(0)
		if len(chunk) > maxNMPayload {
			chunk, flags = chunk[:maxNMPayload], nmContinue
		}
		b := suspHeader("NM", 5+len(chunk))
		b[4] = flags
		copy(b[5:], chunk)
		out = append(out, b)
		name = name[len(chunk):]
		if name == "" {
			return out
		}
	}
}

// slEntries holds a symbolic link's target as SL component records (RRIP 4.1.3), split over as
// many SL entries as it needs.
func slEntries(target string) [][]byte {
	const maxComponent = maxRecordLen - 5 - 2 // one component filling one SL entry
	type component struct {
		flags byte
		data  string
	}
	var comps []component
	if strings.HasPrefix(target, "/") {
		comps = append(comps, component{flags: slRoot})
	}
	for _, c := range strings.Split(target, "/") {
		switch c {
		case "":
			continue
		case ".":
			comps = append(comps, component{flags: slCurrent})
		case "..":
			comps = append(comps, component{flags: slParent})
		default:
			for len(c) > maxComponent {
				comps = append(comps, component{flags: slContinue, data: c[:maxComponent]})
				c = c[maxComponent:]
			}
			comps = append(comps, component{data: c})
		}
	}
	var out [][]byte
	var cur []byte
	flush := func(more bool) {
		b := suspHeader("SL", 5+len(cur))
		if more {
			b[4] = slContinue
		}
		copy(b[5:], cur)
		out = append(out, b)
		cur = cur[:0]
	}
	for _, c := range comps {
		if 5+len(cur)+2+len(c.data) > maxRecordLen {
			flush(true)
		}
		cur = append(cur, c.flags, byte(len(c.data)))
		cur = append(cur, c.data...)
	}
	flush(false)
	return out
}

// shortDate is ECMA-119's 7-byte recording date (9.1.5), in UTC.
func shortDate(t time.Time) [shortDateLen]byte {
	t = t.UTC()
	return [shortDateLen]byte{byte(t.Year() - 1900), byte(t.Month()), byte(t.Day()),
		byte(t.Hour()), byte(t.Minute()), byte(t.Second()), 0}
}

// longDate is ECMA-119's 17-byte volume date (8.4.26.1), in UTC; the zero Time gives the
// "not specified" form.
func longDate(t time.Time) [longDateLen]byte {
	var b [longDateLen]byte
	if t.IsZero() {
		copy(b[:], "0000000000000000")
		return b
	}
	t = t.UTC()
	copy(b[:], t.Format("20060102150405"))
	b[14], b[15] = '0'+byte(t.Nanosecond()/1e8), '0'+byte(t.Nanosecond()/1e7%10)
	return b
}

// suspPlan is where a record's System Use entries go: inline in the record, and the rest in a
// chain of continuation pieces.
type suspPlan struct {
	inline [][]byte
	ce     *cePiece
}

// cePiece is one stretch of the continuation area: it lies within one sector, as readers such
// as Linux require, and may end with a CE entry pointing at the next piece.
type cePiece struct {
	sector  uint32 // sector index within the continuation area
	offset  uint32
	length  uint32
	entries [][]byte
	next    *cePiece
}

// ceArea allocates continuation pieces, sector by sector.
type ceArea struct {
	sectors uint32 // sectors in use, counting the one being filled
	offset  uint32 // bytes used in the last sector
	pieces  []*cePiece
}

func totalLen(entries [][]byte) int {
	n := 0
	for _, e := range entries {
		n += len(e)
	}
	return n
}

// plan places entries in a record with room bytes for its System Use field.
func (a *ceArea) plan(entries [][]byte, room int) suspPlan {
	if totalLen(entries) <= room {
		return suspPlan{inline: entries}
	}
	used, i := 0, 0
	for i < len(entries) && used+len(entries[i])+suspCELen <= room {
		used += len(entries[i])
		i++
	}
	return suspPlan{inline: entries[:i], ce: a.place(entries[i:])}
}

// place puts entries into continuation pieces.
func (a *ceArea) place(entries [][]byte) *cePiece {
	if a.sectors == 0 || a.offset >= SectorSize {
		a.sectors++
		a.offset = 0
	}
	room := SectorSize - int(a.offset)
	n, used := 0, 0
	if totalLen(entries) <= room {
		n, used = len(entries), totalLen(entries)
	} else {
		for n < len(entries) && used+len(entries[n])+suspCELen <= room {
			used += len(entries[n])
			n++
		}
		if n == 0 {
			// Not even the first entry fits beside a CE here: start a fresh sector.
			a.offset = SectorSize
			return a.place(entries)
		}
		used += suspCELen
	}
	p := &cePiece{sector: a.sectors - 1, offset: a.offset, length: uint32(used), entries: entries[:n]}
	a.pieces = append(a.pieces, p)
	a.offset += uint32(used)
	if n < len(entries) {
		p.next = a.place(entries[n:])
	}
	return p
}

// render writes the continuation area, which starts at sector lba.
func (a *ceArea) render(lba uint32) []byte {
	buf := make([]byte, int(a.sectors)*SectorSize)
	for _, p := range a.pieces {
		off := int(p.sector)*SectorSize + int(p.offset)
		for _, e := range p.entries {
			off += copy(buf[off:], e)
		}
		if p.next != nil {
			copy(buf[off:], ceEntry(lba+p.next.sector, p.next.offset, p.next.length))
		}
	}
	return buf
}

// systemUse renders a plan's inline part, with its CE entry, for a continuation area at lba.
func (p suspPlan) systemUse(lba uint32) []byte {
	var b []byte
	for _, e := range p.inline {
		b = append(b, e...)
	}
	if p.ce != nil {
		b = append(b, ceEntry(lba+p.ce.sector, p.ce.offset, p.ce.length)...)
	}
	return b
}

// length is the size of the plan's inline part.
func (p suspPlan) length() int {
	n := totalLen(p.inline)
	if p.ce != nil {
		n += suspCELen
	}
	return n
}
