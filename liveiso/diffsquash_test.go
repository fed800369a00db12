package liveiso

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/gonixiso/gonixiso/squash"
)

// memImage is an in-memory io.WriteSeeker for squash.Writer.
type memImage struct {
	b   []byte
	pos int64
}

func (m *memImage) Write(p []byte) (int, error) {
	if end := m.pos + int64(len(p)); end > int64(len(m.b)) {
		m.b = append(m.b, make([]byte, end-int64(len(m.b)))...)
	}
	copy(m.b[m.pos:], p)
	m.pos += int64(len(p))
	return len(p), nil
}

func (m *memImage) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		off += m.pos
	case io.SeekEnd:
		off += int64(len(m.b))
	}
	m.pos = off
	return off, nil
}

// squashOf writes files (name → contents) into a SquashFS image and opens it.
func squashOf(t *testing.T, opts squash.Options, files map[string][]byte, names []string) *sqSide {
	t.Helper()
	img := &memImage{}
	w, err := squash.NewWriter(img, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		data := files[n]
		if err := w.WriteHeader(&squash.Header{Name: n, Mode: 0o444, Size: int64(len(data))}); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	ra := bytes.NewReader(img.b)
	r, err := squash.NewReader(ra, int64(len(img.b)))
	if err != nil {
		t.Fatal(err)
	}
	return &sqSide{name: "test", r: r, ra: ra, sb: r.Superblock()}
}

// TestSquashContents compares files of two SquashFS images by their stored blocks: the first
// differing byte, and whether equal contents were stored as different bytes, for each shape of
// block list (runs of equal blocks, one block changed, sparse runs against data, tails, files
// of different lengths), with the same compressor (raw comparison) and with different ones.
func TestSquashContents(t *testing.T) {
	const bs = 4096
	rng := rand.New(rand.NewPCG(5, 6))
	text := func(n int) []byte {
		var b bytes.Buffer
		for b.Len() < n {
			fmt.Fprintf(&b, "line %d %x\n", b.Len(), rng.Uint32()%13)
		}
		return b.Bytes()[:n]
	}
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	with := func(b []byte, at int, v byte) []byte {
		c := bytes.Clone(b)
		c[at] = v
		return c
	}
	base := append(text(20*bs), random(3*bs+100)...)
	sparse := append(append(text(2*bs), make([]byte, 5*bs)...), text(bs+7)...)
	a := map[string][]byte{
		"same":        base,
		"block-7":     base,
		"tail":        base,
		"shorter":     base,
		"sparse-data": sparse,
		"data-sparse": with(sparse, 3*bs, 'x'),
		"sparse-both": sparse,
		"small":       []byte("a small file\n"),
	}
	b := map[string][]byte{
		"same":        base,
		"block-7":     with(base, 7*bs+5, base[7*bs+5]^1),
		"tail":        with(base, len(base)-3, base[len(base)-3]^1),
		"shorter":     base[:len(base)-bs-50],
		"sparse-data": with(sparse, 3*bs, 'x'),
		"data-sparse": sparse,
		"sparse-both": sparse,
		"small":       []byte("a small fIle\n"),
	}
	want := map[string]int64{
		"same": -1, "block-7": 7*bs + 5, "tail": int64(len(base) - 3), "shorter": int64(len(base) - bs - 50),
		"sparse-data": 3 * bs, "data-sparse": 3 * bs, "sparse-both": -1, "small": 9,
	}
	var names []string
	for n := range a {
		names = append(names, n)
	}
	level3 := squash.Compression{Algorithm: squash.Zstd, Level: 3, PureGo: true}
	for _, c := range []struct {
		name      string
		a, b      squash.Compression
		raw       bool
		reencoded bool // equal contents stored as different bytes
	}{
		{"same compressor", level3, level3, true, false},
		{"other level", squash.Compression{Algorithm: squash.Zstd, Level: 1, PureGo: true}, level3, true, true},
		{"other compressor", squash.Compression{Algorithm: squash.Gzip}, level3, false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			sa := squashOf(t, squash.Options{BlockSize: bs, Compression: c.a, NoDedup: true}, a, names)
			sb := squashOf(t, squash.Options{BlockSize: bs, Compression: c.b, NoDedup: true}, b, names)
			cmp := &sqCompare{a: sa, b: sb, raw: c.raw}
			for _, n := range names {
				x, err := sa.r.Lookup(n)
				if err != nil {
					t.Fatal(err)
				}
				y, err := sb.r.Lookup(n)
				if err != nil {
					t.Fatal(err)
				}
				off, re, err := cmp.contents(x, y)
				if err != nil {
					t.Fatalf("%s: %v", n, err)
				}
				if off != want[n] {
					t.Errorf("%s: first difference at %d, want %d", n, off, want[n])
				}
				if n == "same" && re != c.reencoded {
					t.Errorf("%s: reencoded %v, want %v", n, re, c.reencoded)
				}
			}
		})
	}
}
