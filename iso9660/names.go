package iso9660

import (
	"bytes"
	"strconv"
	"strings"
	"unicode/utf16"
)

// Identifiers of the primary (ISO 9660 level 3) tree. Names are mapped as xorriso's
// -full-iso9660-filenames maps them: upper case d-characters (A-Z, 0-9, _), at most 31
// characters, files as NAME.EXT;1 and directories without a dot. Rock Ridge NM entries and the
// Joliet tree carry the full names; the primary identifiers only have to be valid and unique.
const maxISONameLen = 31

// isoID is a primary identifier split the way ECMA-119 9.3 orders them.
type isoID struct {
	name, ext string
	file      bool // files have a "." separator and ";1" version
}

func (id isoID) bytes() []byte {
	if !id.file {
		return []byte(id.name)
	}
	return []byte(id.name + "." + id.ext + ";1")
}

// key is what two identifiers must not share in one directory: readers without Rock Ridge show
// "NAME." and "NAME" alike.
func (id isoID) key() string {
	if id.ext == "" {
		return id.name
	}
	return id.name + "." + id.ext
}

// compareISO orders identifiers by ECMA-119 9.3: the name parts, then the extensions, each
// compared as if padded with spaces (the versions are all 1).
func compareISO(a, b isoID) int {
	if c := comparePadded(a.name, b.name); c != 0 {
		return c
	}
	return comparePadded(a.ext, b.ext)
}

func comparePadded(a, b string) int {
	n := max(len(a), len(b))
	for i := 0; i < n; i++ {
		ca, cb := byte(' '), byte(' ')
		if i < len(a) {
			ca = a[i]
		}
		if i < len(b) {
			cb = b[i]
		}
		if ca != cb {
			if ca < cb {
				return -1
			}
			return 1
		}
	}
	return 0
}

// dChars maps s to d-characters: upper case letters, digits and underscores.
func dChars(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z':
			b.WriteRune(r - 'a' + 'A')
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

// baseISOID is the identifier of a name before collisions are resolved.
func baseISOID(name string, file bool) isoID {
	if !file {
		return isoID{name: truncate(dChars(name), maxISONameLen)}
	}
	base, ext := name, ""
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		base, ext = name[:i], name[i+1:]
	}
	base, ext = dChars(base), dChars(ext)
	ext = truncate(ext, maxISONameLen-2)
	base = truncate(base, maxISONameLen-1-len(ext))
	if base == "" && ext == "" {
		base = "_"
	}
	return isoID{name: base, ext: ext, file: true}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// uniqueISOID returns id, or id with a number in place of the end of its name part, so that its
// key is not in used.
func uniqueISOID(id isoID, used map[string]bool) isoID {
	limit := maxISONameLen
	if id.file {
		limit = maxISONameLen - 1 - len(id.ext)
	}
	for n := 1; used[id.key()]; n++ {
		suffix := strconv.Itoa(n)
		base := id.name
		if len(base)+len(suffix) > limit {
			base = base[:max(0, limit-len(suffix))]
		}
		next := id
		next.name = base + suffix
		if !used[next.key()] {
			id = next
			break
		}
	}
	used[id.key()] = true
	return id
}

// Joliet identifiers: the full name in UCS-2 (big-endian), at most 64 characters, with the
// characters Joliet forbids (controls, * / : ; ? \) and those outside the Basic Multilingual
// Plane replaced by "_". Files get no ";1" version, as xorriso writes them.
const maxJolietNameLen = 64

func jolietUnits(name string) []uint16 {
	var u []uint16
	for _, r := range name {
		switch {
		case r < 0x20, strings.ContainsRune("*/:;?\\", r), r > 0xFFFF, utf16.IsSurrogate(r):
			r = '_'
		}
		u = append(u, uint16(r))
	}
	return u
}

// baseJolietID shortens a name to 64 characters, keeping an extension of up to 16 characters.
func baseJolietID(name string, file bool) []uint16 {
	u := jolietUnits(name)
	if len(u) <= maxJolietNameLen {
		return u
	}
	ext := []uint16(nil)
	if file {
		for i := len(u) - 1; i >= 0 && len(u)-i <= 17; i-- {
			if u[i] == '.' {
				ext = u[i:]
				break
			}
		}
	}
	return append(append([]uint16(nil), u[:maxJolietNameLen-len(ext)]...), ext...)
}

// uniqueJolietID makes u unique in used by replacing the end of its stem with a number.
func uniqueJolietID(u []uint16, file bool, used map[string]bool) []uint16 {
	key := string(utf16.Decode(u))
	if !used[key] {
		used[key] = true
		return u
	}
	stem, ext := u, []uint16(nil)
	if file {
		for i := len(u) - 1; i > 0; i-- {
			if u[i] == '.' {
				stem, ext = u[:i], u[i:]
				break
			}
		}
	}
	for n := 1; ; n++ {
		suffix := utf16.Encode([]rune(strconv.Itoa(n)))
		s := stem
		if room := maxJolietNameLen - len(ext) - len(suffix); len(s) > room {
			s = s[:max(0, room)]
		}
		cand := append(append(append([]uint16(nil), s...), suffix...), ext...)
		if k := string(utf16.Decode(cand)); !used[k] {
			used[k] = true
			return cand
		}
	}
}

func ucs2Bytes(u []uint16) []byte {
	b := make([]byte, 2*len(u))
	for i, c := range u {
		b[2*i], b[2*i+1] = byte(c>>8), byte(c)
	}
	return b
}

func compareJoliet(a, b []byte) int { return bytes.Compare(a, b) }
