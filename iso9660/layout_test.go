package iso9660

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
	"time"
)

// TestDotRecords checks the System Use of "." and ".." records: attributes only (no NM or SL),
// and in the root's "." the SUSP indicator first and the RRIP extension reference.
func TestDotRecords(t *testing.T) {
	var buf bytes.Buffer
	w, _ := NewWriter(&buf, Options{VolumeID: "DOTS", ModTime: time.Unix(315532800, 0)})
	w.AddFile("dir/file", Header{}, FromBytes([]byte("x")))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	img := buf.Bytes()
	im, err := Open(bytes.NewReader(img), int64(len(img)))
	if err != nil {
		t.Fatal(err)
	}
	var dirs []Extent
	im.Walk(func(e *Entry) error {
		if e.Mode.IsDir() {
			dirs = append(dirs, e.Extents[0])
		}
		return nil
	})
	if len(dirs) != 2 {
		t.Fatalf("%d directories", len(dirs))
	}
	for i, d := range dirs {
		b := img[int(d.LBA)*SectorSize:]
		dot, _ := nextRecord(b, 0)
		dotdot, _ := nextRecord(b, len(dot))
		for _, rec := range [][]byte{dot, dotdot} {
			su := systemUse(rec)
			if bytes.Contains(su, []byte("NM")) || bytes.Contains(su, []byte("SL")) {
				t.Errorf("directory %d: dot record carries %q", i, su)
			}
			if !bytes.Contains(su, []byte("PX")) || !bytes.Contains(su, []byte("TF")) {
				t.Errorf("directory %d: dot record lacks PX or TF: %q", i, su)
			}
		}
		if i == 0 {
			su := systemUse(dot)
			if !bytes.HasPrefix(su, []byte("SP\x07\x01\xbe\xef\x00")) {
				t.Errorf("root's . record does not start with SP: %q", su)
			}
			ce := bytes.Index(su, []byte("CE\x1c\x01"))
			if ce < 0 {
				t.Fatalf("root's . record has no CE for the ER entry: %q", su)
			}
			lba := binary.LittleEndian.Uint32(su[ce+4:])
			off := binary.LittleEndian.Uint32(su[ce+12:])
			if !bytes.HasPrefix(img[int(lba)*SectorSize+int(off):], []byte("ER\xed\x01\x0a\x54\x87\x01RRIP_1991A")) {
				t.Errorf("continuation area does not hold the RRIP ER entry")
			}
		}
	}
}

// TestISONames checks the primary identifiers: d-characters, 31 characters, unique keys,
// ECMA-119 9.3 order.
func TestISONames(t *testing.T) {
	used := map[string]bool{}
	var ids []string
	for _, n := range []struct {
		name string
		file bool
	}{
		{"a-b.txt", true}, {"a_b.txt", true}, {"A-B.TXT", true}, {".boot.cat", true},
		{"Makefile", true}, {"MAKEFILE", false}, {strings.Repeat("x", 40) + ".squashfs", true},
		{"dir.with.dots", false}, {"été", true},
	} {
		id := uniqueISOID(baseISOID(n.name, n.file), used)
		ids = append(ids, string(id.bytes()))
	}
	want := []string{"A_B.TXT;1", "A_B1.TXT;1", "A_B2.TXT;1", "_BOOT.CAT;1", "MAKEFILE.;1", "MAKEFILE1",
		strings.Repeat("X", 22) + ".SQUASHFS;1", "DIR_WITH_DOTS", "_T_.;1"}
	if strings.Join(ids, " ") != strings.Join(want, " ") {
		t.Errorf("identifiers\n%q\nwant\n%q", ids, want)
	}
	if compareISO(isoID{name: "A", ext: "B", file: true}, isoID{name: "A"}) <= 0 ||
		compareISO(isoID{name: "AB"}, isoID{name: "A_"}) >= 0 || compareISO(isoID{name: "A"}, isoID{name: "A"}) != 0 {
		t.Error("compareISO does not follow ECMA-119 9.3")
	}
	j := uniqueJolietID(baseJolietID(strings.Repeat("j", 70)+".img", true), true, map[string]bool{})
	if len(j) != 64 || string(utf16Decode(j[60:])) != ".img" {
		t.Errorf("Joliet name %q", string(utf16Decode(j)))
	}
}

func utf16Decode(u []uint16) []rune {
	r := make([]rune, len(u))
	for i, c := range u {
		r[i] = rune(c)
	}
	return r
}

// TestGeometry checks the isohybrid geometry and padding against values xorriso 1.5.4 chose.
func TestGeometry(t *testing.T) {
	for _, c := range []struct {
		blocks, padded int64
		heads, sectors int64
	}{
		{19297 + 16, 19456, 64, 32}, // the baseline ISO: 77824 512-byte sectors
		{2030, 2048, 64, 32},        // 4 MiB
		// 1.3 GiB: 82 heads, as xorriso chose in TestSystemAreaMatchesXorriso.
		{1300<<9 + 900, 667152, 82, 32},
		// 5 GiB: 255 heads of 32 sectors are too few; 63 sectors, heads a multiple of 4.
		{5 << 19, 2621745, 164, 63},
		// 9 GiB: too large for 1024 cylinders of any geometry: not padded.
		{9 << 19, 9 << 19, 255, 63},
	} {
		g, padded := hybridGeometry(c.blocks)
		if g.heads != c.heads || g.sectors != c.sectors || padded != c.padded {
			t.Errorf("%d blocks: geometry %d/%d, %d blocks; want %d/%d, %d", c.blocks, g.heads, g.sectors, padded,
				c.heads, c.sectors, c.padded)
		}
	}
	g := geometry{heads: 64, sectors: 32}
	if got := g.chs(77823); got != [3]byte{0x3f, 0x20, 0x25} {
		t.Errorf("CHS of 77823: % x, want 3f 20 25 (xorriso's)", got)
	}
	if got := g.chs(0); got != [3]byte{0, 1, 0} {
		t.Errorf("CHS of 0: % x", got)
	}
	if got := g.chs(1 << 30); got != [3]byte{64, 32 | 0xc0, 0xff} {
		t.Errorf("CHS beyond cylinder 1023: % x", got)
	}
}

// TestSymlinkEntries checks SL entries for long targets: split over entries and components,
// and read back whole.
func TestSymlinkEntries(t *testing.T) {
	for _, target := range []string{
		"a", "/", "/abs/path", "../up/./here", strings.Repeat("c", 600), "/x/" + strings.Repeat("d/", 300) + "e",
	} {
		var su []byte
		for _, e := range slEntries(target) {
			if len(e) > maxRecordLen {
				t.Fatalf("%.20q: SL entry of %d bytes", target, len(e))
			}
			su = append(su, e...)
		}
		w := &walker{im: &Image{}, budget: 1 << 20}
		e := &Entry{}
		if _, err := w.susp(su, e); err != nil {
			t.Fatal(err)
		}
		if e.Link != target {
			t.Errorf("target %.40q read back as %.40q", target, e.Link)
		}
	}
	name := strings.Repeat("n", 255)
	var su []byte
	for _, e := range nmEntries(name) {
		su = append(su, e...)
	}
	e := &Entry{}
	(&walker{im: &Image{}, budget: 1 << 20}).susp(su, e)
	if e.Name != name {
		t.Errorf("255-byte name read back as %d bytes", len(e.Name))
	}
}
