package fat

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf16"
)

// shortChars are the characters, besides A-Z and 0-9, that fatgen103 allows in a short name.
const shortChars = "$%'-_@~`!(){}^#&"

// longForbidden are the characters no FAT name may hold, short or long.
const longForbidden = "\"*/:<>?\\|"

func isShortChar(c byte) bool {
	return 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte(shortChars, c) >= 0
}

// checkLongName reports whether name may name a file: 1 to 255 UTF-16 units, no control or
// forbidden characters, not "." or "..", not ending in a dot or a space (Windows drops those).
func checkLongName(name string) error {
	switch {
	case name == "" || name == "." || name == "..":
		return errors.New("invalid name")
	case strings.HasSuffix(name, ".") || strings.HasSuffix(name, " "):
		return errors.New("name ends in a dot or a space")
	case len(utf16.Encode([]rune(name))) > maxLongName:
		return errors.New("name longer than 255 UTF-16 units")
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7F || strings.ContainsRune(longForbidden, r) || r == 0xFFFD {
			return fmt.Errorf("character %q not allowed in a FAT name", r)
		}
	}
	return nil
}

// shortName returns the 11-byte short name and NT case bits that store name without a long
// name entry, or ok false when name needs one: a base of 1-8 and an extension of 0-3 short-name
// characters, each part in one case (a lower-case part is stored upper case with its case bit).
func shortName(name string) (short [11]byte, ntRes byte, ok bool) {
	base, ext, _ := strings.Cut(name, ".")
	if len(base) < 1 || len(base) > 8 || len(ext) > 3 || strings.Contains(ext, ".") ||
		strings.HasSuffix(name, ".") {
		return short, 0, false
	}
	part := func(s string, lowerBit byte) ([]byte, byte, bool) {
		var lower, upper bool
		out := []byte(s)
		for i := range out {
			c := out[i]
			switch {
			case 'a' <= c && c <= 'z':
				lower = true
				out[i] = c - 'a' + 'A'
			case 'A' <= c && c <= 'Z':
				upper = true
			case !isShortChar(c):
				return nil, 0, false
			}
		}
		if lower && upper {
			return nil, 0, false
		}
		if lower {
			return out, lowerBit, true
		}
		return out, 0, true
	}
	b, bl, ok1 := part(base, ntLowerBase)
	e, el, ok2 := part(ext, ntLowerExt)
	if !ok1 || !ok2 || b[0] == dirDeleted {
		return short, 0, false
	}
	copy(short[:], "           ")
	copy(short[:8], b)
	copy(short[8:], e)
	return short, bl | el, true
}

// basisName is the first step of fatgen103's short name generation for a name that needs a long
// entry: upper case, characters that are not allowed become '_', spaces and leading dots go, the
// base keeps 8 characters and the extension (after the last dot) 3.
func basisName(name string) (base, ext string) {
	clean := func(s string) string {
		var b strings.Builder
		for _, r := range strings.ToUpper(s) {
			switch {
			case r == ' ' || r == '.':
			case r < 0x80 && isShortChar(byte(r)):
				b.WriteRune(r)
			default:
				b.WriteByte('_')
			}
		}
		return b.String()
	}
	name = strings.TrimLeft(name, ".")
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		base, ext = clean(name[:i]), clean(name[i+1:])
	} else {
		base = clean(name)
	}
	if len(base) > 8 {
		base = base[:8]
	}
	if len(ext) > 3 {
		ext = ext[:3]
	}
	return base, ext
}

// numericTail returns the short name base~n.ext for a basis name: the base keeps as many
// characters as fit before "~n" in 8.
func numericTail(base, ext string, n int) [11]byte {
	tail := fmt.Sprintf("~%d", n)
	if len(base) > 8-len(tail) {
		base = base[:8-len(tail)]
	}
	var short [11]byte
	copy(short[:], "           ")
	copy(short[:8], base+tail)
	copy(short[8:], ext)
	return short
}

// shortNameChecksum is the checksum a long entry keeps of the short entry it belongs to.
func shortNameChecksum(short []byte) byte {
	var sum byte
	for _, c := range short[:11] {
		sum = (sum&1)<<7 + sum>>1 + c
	}
	return sum
}

// longEntries returns the long name entries for name, in on-disk order (last part first).
func longEntries(name string, checksum byte) []byte {
	units := utf16.Encode([]rune(name))
	n := (len(units) + ldirChars - 1) / ldirChars
	padded := make([]uint16, n*ldirChars)
	for i := range padded {
		switch {
		case i < len(units):
			padded[i] = units[i]
		case i == len(units):
			padded[i] = 0x0000
		default:
			padded[i] = 0xFFFF
		}
	}
	out := make([]byte, n*dirEntrySize)
	for seq := 1; seq <= n; seq++ {
		e := out[(n-seq)*dirEntrySize:][:dirEntrySize]
		e[ldirOrd] = byte(seq)
		if seq == n {
			e[ldirOrd] |= ldirLast
		}
		e[ldirAttr] = attrLongName
		e[ldirChksum] = checksum
		chars := padded[(seq-1)*ldirChars:][:ldirChars]
		for _, run := range ldirRuns {
			for i := 0; i < run.n; i++ {
				le.PutUint16(e[run.off+2*i:], chars[0])
				chars = chars[1:]
			}
		}
	}
	return out
}

// packTime returns t's date, time and tenths (10 ms units of the two-second interval) fields.
func packTime(t time.Time) (date, tm uint16, tenth uint8, err error) {
	t = t.UTC()
	if t.Year() < epochYear || t.Year() > lastYear {
		return 0, 0, 0, fmt.Errorf("time %s outside FAT's range of years %d-%d", t.Format(time.RFC3339), epochYear, lastYear)
	}
	date = uint16(t.Year()-epochYear)<<9 | uint16(t.Month())<<5 | uint16(t.Day())
	tm = uint16(t.Hour())<<11 | uint16(t.Minute())<<5 | uint16(t.Second()/2)
	tenth = uint8(t.Second()%2*100 + t.Nanosecond()/10_000_000)
	return date, tm, tenth, nil
}

// unpackTime is the inverse of packTime, in UTC. Out-of-range fields are normalised as
// time.Date does, since the bytes may come from anywhere.
func unpackTime(date, tm uint16) time.Time {
	return time.Date(epochYear+int(date>>9), time.Month(date>>5&0xF), int(date&0x1F),
		int(tm>>11), int(tm>>5&0x3F), int(tm&0x1F)*2, 0, time.UTC)
}
