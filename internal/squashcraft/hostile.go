package squashcraft

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// StorePath is the top-level directory of the hostile images, named as a store path so that
// tools reading a NixOS store image see one.
const StorePath = "0123456789abcdfghijklmnpqrsvwxyz-hostile"

// A Shape is a hostile image: what it does, and how to build it.
type Shape struct {
	Name string
	Doc  string
	// Build makes the image; scale (1 for the full shape) divides its counts, for quick
	// versions (fuzz seeds).
	Build func(scale int) []byte
}

// Hostile returns the worst shapes known to cost a reader time or memory out of proportion to
// an image's size; each full shape is at most 64 MiB.
func Hostile() []Shape {
	return []Shape{
		{"sparse-1TiB-x16", "16 files of 1 TiB each, all sparse blocks of 1 MiB (4 MiB of block list each)", sparse16},
		{"sparse-1TiB-4K", "a file of 1 TiB in sparse 4 KiB blocks: a block list of 1 GiB", sparse4K},
		{"hardlinks", "a million directory entries naming one inode of 1 TiB", hardlinks(1 << 20)},
		{"hardlinks-cached-list", "a million directory entries naming one inode whose block list a reader's cache holds", hardlinks(50_000)},
		{"deep", "directories nested 2100 deep", deep(2100, 1)},
		{"deep-long-names", "directories nested 2000 deep with names of 255 bytes", deep(2000, 255)},
		{"fragments-shared", "20,000 files whose tails are in 20,000 fragment entries of one block of 1 MiB", fragmentsShared},
		{"fragments-distinct", "2,000 files whose tails are in 2,000 blocks of 30 bytes that decode to 1 MiB", fragmentsDistinct},
		{"overlapping-runs", "2,000 files of 100 MiB, each starting a block after the last, over 2,100 stored blocks", overlapping},
		{"many-files", "100,000 files of a byte each, their tails in shared fragment blocks", manyFiles},
		{"limit-edge-64M", "64 MiB: 60 MiB of random data and 1.8 GiB of compressible distinct blocks, just within the limits", limitEdge},
	}
}

// inStorePath puts entries in the store path directory, the only entry of the root.
func (im *Image) inStorePath(entries []Entry) []byte {
	sp := im.Dir(entries)
	return im.Finish(im.Dir([]Entry{{Name: StorePath, Ref: sp}}))
}

func sparse16(scale int) []byte {
	im := New(1 << 20)
	var ents []Entry
	for i := range 16 / min(scale, 16) {
		f := im.File(File{Size: 1 << 40 / int64(scale), Zeros: 1 << 20 / uint64(scale)})
		ents = append(ents, Entry{Name: fmt.Sprintf("sparse-%02d", i), Ref: f})
	}
	return im.inStorePath(ents)
}

func sparse4K(scale int) []byte {
	im := New(4096)
	f := im.File(File{Size: 1 << 40 / int64(scale), Zeros: 1 << 28 / uint64(scale)})
	return im.inStorePath([]Entry{{Name: "sparse", Ref: f}})
}

// hardlinks names a sparse file of blocks blocks of 1 MiB a million times.
func hardlinks(blocks uint64) func(int) []byte {
	return func(scale int) []byte {
		im := New(1 << 20)
		f := im.File(File{Size: int64(blocks) << 20, Zeros: blocks})
		ents := make([]Entry, 1_000_000/scale)
		for i := range ents {
			ents[i] = Entry{Name: fmt.Sprintf("link-%07d", i), Ref: f}
		}
		return im.inStorePath(ents)
	}
}

func deep(depth, nameLen int) func(int) []byte {
	return func(scale int) []byte {
		im := New(4096)
		name := strings.Repeat("d", nameLen)
		d := im.Dir(nil)
		for range depth/scale - 1 {
			d = im.Dir([]Entry{{Name: name, Ref: d}})
		}
		return im.inStorePath([]Entry{{Name: name, Ref: d}})
	}
}

// compressible is a block of size bytes that compresses to a few dozen bytes, different for
// each i.
func compressible(size, i int) []byte {
	b := []byte(strings.Repeat(string(rune('A'+i%26)), size))
	copy(b, fmt.Sprintf("block %d\n", i))
	return b
}

func fragmentsShared(scale int) []byte {
	const bs = 1 << 20
	im := New(bs)
	start, word := im.Block(compressible(bs, 0))
	n := 20000 / scale
	ents := make([]Entry, n)
	for i := range ents {
		frag := im.Fragment(start, word)
		f := im.File(File{Size: bs - 1, Tail: true, Fragment: frag})
		ents[i] = Entry{Name: fmt.Sprintf("tail-%05d", i), Ref: f}
	}
	return im.inStorePath(ents)
}

func fragmentsDistinct(scale int) []byte {
	const bs = 1 << 20
	im := New(bs)
	n := 2000 / scale
	ents := make([]Entry, n)
	for i := range ents {
		start, word := im.Block(compressible(bs, i))
		frag := im.Fragment(start, word)
		f := im.File(File{Size: bs - 1, Tail: true, Fragment: frag, Offset: 1})
		ents[i] = Entry{Name: fmt.Sprintf("tail-%05d", i), Ref: f}
	}
	return im.inStorePath(ents)
}

func overlapping(scale int) []byte {
	const bs, per = 1 << 20, 100
	im := New(bs)
	n := 2000 / scale
	starts := make([]uint64, n+per)
	words := make([]uint32, n+per)
	for i := range starts {
		starts[i], words[i] = im.Block(compressible(bs, i))
	}
	ents := make([]Entry, n)
	for i := range ents {
		f := im.File(File{Size: per * bs, Start: starts[i], Words: words[i : i+per]})
		ents[i] = Entry{Name: fmt.Sprintf("run-%04d", i), Ref: f}
	}
	return im.inStorePath(ents)
}

func manyFiles(scale int) []byte {
	const bs = 1 << 20
	im := New(bs)
	n := 100_000 / scale
	tails := make([]byte, bs)
	for i := range tails {
		tails[i] = byte(i * 7)
	}
	var frags []uint32
	for i := 0; i < n; i += bs {
		start, word := im.Block(tails)
		frags = append(frags, im.Fragment(start, word))
	}
	ents := make([]Entry, n)
	for i := range ents {
		f := im.File(File{Size: 1, Tail: true, Fragment: frags[i/bs], Offset: uint32(i % bs)})
		ents[i] = Entry{Name: fmt.Sprintf("f-%06d", i), Ref: f}
	}
	return im.inStorePath(ents)
}

func limitEdge(scale int) []byte {
	const bs = 1 << 20
	im := New(bs)
	rng := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, bs)
	var rs []uint32
	var rstart uint64
	for i := range 60 / scale {
		for j := range random {
			random[j] = byte(rng.Uint32())
		}
		s, w := im.Block(random)
		if i == 0 {
			rstart = s
		}
		rs = append(rs, w)
	}
	ents := []Entry{{Name: "random", Ref: im.File(File{Size: int64(len(rs)) * bs, Start: rstart, Words: rs})}}
	for f := range 18 / min(scale, 18) {
		var start uint64
		var ws []uint32
		for i := range 100 {
			s, w := im.Block(compressible(bs, f*100+i))
			if i == 0 {
				start = s
			}
			ws = append(ws, w)
		}
		ents = append(ents, Entry{Name: fmt.Sprintf("text-%02d", f), Ref: im.File(File{Size: 100 * bs, Start: start, Words: ws})})
	}
	return im.inStorePath(ents)
}
