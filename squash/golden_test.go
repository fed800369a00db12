package squash_test

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/gonixiso/gonixiso/squash"
)

// The writer's bytes are a promise (LayoutVersion, the segment cache, reproducible ISOs): the
// images TestGoldenImages makes are pinned by their SHA-256 in testdata/golden-images.txt. Run
// with -update-golden to record them again, only when the writer's bytes are meant to change.
var updateGolden = flag.Bool("update-golden", false, "record the golden image hashes again")

const goldenFile = "testdata/golden-images.txt"

// goldenCase is an image to pin: a compressor, a block size and the writer's options.
type goldenCase struct {
	name string
	comp squash.Compression
	cgo  bool // needs libzstd or liblzma: skipped when the library's version differs
	opts squash.Options
}

func goldenCases() []goldenCase {
	comps := []struct {
		name string
		c    squash.Compression
		cgo  bool
	}{
		{"zstd-go-1", squash.Compression{Algorithm: squash.Zstd, Level: 1, PureGo: true}, false},
		{"zstd-go-3", squash.Compression{Algorithm: squash.Zstd, Level: 3, PureGo: true}, false},
		{"zstd-go-7", squash.Compression{Algorithm: squash.Zstd, Level: 7, PureGo: true}, false},
		{"zstd-go-11", squash.Compression{Algorithm: squash.Zstd, Level: 11, PureGo: true}, false},
		{"xz-go", squash.Compression{Algorithm: squash.XZ, PureGo: true}, false},
		{"gzip-1", squash.Compression{Algorithm: squash.Gzip, Level: 1}, false},
		{"gzip-9", squash.Compression{Algorithm: squash.Gzip}, false},
		{"lz4", squash.Compression{Algorithm: squash.LZ4}, false},
		{"lz4-hc", squash.Compression{Algorithm: squash.LZ4, Level: 1}, false},
		{"none", squash.Compression{Algorithm: squash.None}, false},
		{"zstd-1", squash.Compression{Algorithm: squash.Zstd, Level: 1}, true},
		{"zstd-15", squash.Compression{Algorithm: squash.Zstd, Level: 15}, true},
		{"zstd-19", squash.Compression{Algorithm: squash.Zstd}, true},
		{"xz-1", squash.Compression{Algorithm: squash.XZ, Level: 1}, true},
		{"xz-6-bcj-x86-arm", squash.Compression{Algorithm: squash.XZ, BCJ: []string{"x86", "arm"}}, true},
	}
	var cases []goldenCase
	for _, c := range comps {
		for _, bs := range []int{4 << 10, 128 << 10, 1 << 20} {
			cases = append(cases, goldenCase{name: fmt.Sprintf("%s/%d", c.name, bs), comp: c.c, cgo: c.cgo,
				opts: squash.Options{BlockSize: bs}})
		}
	}
	for _, o := range []struct {
		name string
		opts squash.Options
	}{
		{"nofrag", squash.Options{NoFragments: true}},
		{"nodedup", squash.Options{NoDedup: true}},
	} {
		o.opts.BlockSize = 16 << 10
		cases = append(cases, goldenCase{name: "zstd-go-3/16384/" + o.name, opts: o.opts,
			comp: squash.Compression{Algorithm: squash.Zstd, Level: 3, PureGo: true}})
	}
	return cases
}

// goldenEntry is an entry of the golden tree, with a regular file's contents.
type goldenEntry struct {
	hdr  squash.Header
	data []byte
	// flush ends a segment after the entry.
	flush bool
}

// goldenTree is a tree of every entry type and the file shapes the writer treats apart: sizes
// around the block size, tails in fragments, incompressible and sparse blocks, duplicates in a
// segment and across segments, owners, a directory large enough for a directory index, odd
// names. It depends on the block size only.
func goldenTree(bs int) []goldenEntry {
	rng := rand.New(rand.NewPCG(11, 12))
	words := strings.Fields("the store path of a system closure holds binaries libraries manual pages")
	text := func(n int) []byte {
		var b []byte
		for len(b) < n {
			b = append(b, words[rng.IntN(len(words))]...)
			b = append(b, " \n"[rng.IntN(8)/7])
		}
		return b[:n]
	}
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	var ents []goldenEntry
	mtime := int64(1)
	dir := func(name string, mode fs.FileMode) {
		mtime++
		ents = append(ents, goldenEntry{hdr: squash.Header{Name: name, Mode: fs.ModeDir | mode, ModTime: mtime}})
	}
	file := func(name string, data []byte) {
		mtime++
		ents = append(ents, goldenEntry{hdr: squash.Header{Name: name, Mode: 0o444, ModTime: mtime, Size: int64(len(data))}, data: data})
	}
	flush := func() { ents[len(ents)-1].flush = true }

	dir(".", 0o755)
	flush()
	dir("a", 0o555)
	sizes := []int{0, 1, 100, bs/2 + 3, bs - 1, bs, bs + 1, 2*bs - 7, 3*bs + 100}
	var kept [][]byte
	for _, n := range sizes {
		d := text(n)
		kept = append(kept, d)
		file(fmt.Sprintf("a/text-%07d", n), d)
	}
	file("a/random", random(2*bs+bs/2))
	zeros := make([]byte, 2*bs+10)
	file("a/zeros", zeros)
	middle := text(3 * bs)
	clear(middle[bs : 2*bs])
	file("a/zero-middle", middle)
	file("a/zero-tail", append(text(bs), make([]byte, 300)...))
	file("a/dup-of-text", kept[len(kept)-1])
	file("a/dup-small", kept[2])
	ents = append(ents, goldenEntry{hdr: squash.Header{Name: "a/link", Mode: fs.ModeSymlink | 0o777, ModTime: 5, Linkname: "text-0000100"}})
	ents = append(ents, goldenEntry{hdr: squash.Header{Name: "a/tty", Mode: fs.ModeDevice | fs.ModeCharDevice | 0o620, UID: 0, GID: 5, Devmajor: 4, Devminor: 300}})
	ents = append(ents, goldenEntry{hdr: squash.Header{Name: "a/disk", Mode: fs.ModeDevice | 0o660, GID: 6, Devmajor: 8, Devminor: 1}})
	ents = append(ents, goldenEntry{hdr: squash.Header{Name: "a/fifo", Mode: fs.ModeNamedPipe | 0o600, UID: 1000, GID: 100}})
	ents = append(ents, goldenEntry{hdr: squash.Header{Name: "a/sock", Mode: fs.ModeSocket | 0o755, UID: 1000}})
	file("a/odd name\n\xff\x01", []byte("odd\n"))
	flush()
	// A second segment: duplicates of the first's files, and a large directory.
	dir("b", 0o755)
	file("b/dup-across", kept[len(kept)-2])
	file("b/dup-small-across", kept[3])
	for i := range 600 {
		file(fmt.Sprintf("b/many/%s-%04d", strings.Repeat("long-name-", i%7), i), text(rng.IntN(300)))
	}
	ents[len(ents)-1].hdr.Mode |= fs.ModeSetuid | fs.ModeSticky
	flush()
	file("registration", text(5000))
	flush()
	return ents
}

// memFile is an in-memory io.WriteSeeker.
type memFile struct {
	b   []byte
	pos int64
}

func (m *memFile) Write(p []byte) (int, error) {
	if end := m.pos + int64(len(p)); end > int64(len(m.b)) {
		m.b = append(m.b, make([]byte, end-int64(len(m.b)))...)
	}
	copy(m.b[m.pos:], p)
	m.pos += int64(len(p))
	return len(p), nil
}

func (m *memFile) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		off += m.pos
	case io.SeekEnd:
		off += int64(len(m.b))
	}
	m.pos = off
	return off, nil
}

// goldenImage writes the golden tree and returns the SHA-256 of the image and of its segments'
// descriptions.
func goldenImage(t *testing.T, c goldenCase) string {
	t.Helper()
	var segs []byte
	opts := c.opts
	opts.Compression = c.comp
	opts.ModTime = 315532800
	opts.Workers = 2
	opts.OnSegment = func(s *squash.Segment) error {
		b, err := s.MarshalBinary()
		segs = append(segs, b...)
		return err
	}
	out := &memFile{}
	w, err := squash.NewWriter(out, opts)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range goldenTree(opts.BlockSize) {
		if err := w.WriteHeader(&e.hdr); err != nil {
			t.Fatal(err)
		}
		if e.hdr.Mode.IsRegular() {
			// Half the files by Write, half by ReadFrom.
			if i%2 == 0 {
				_, err = w.Write(e.data)
			} else {
				_, err = w.ReadFrom(strings.NewReader(string(e.data)))
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if e.flush {
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	img := sha256.Sum256(out.b)
	seg := sha256.Sum256(segs)
	return hex.EncodeToString(img[:]) + " " + hex.EncodeToString(seg[:])
}

// TestGoldenImages writes the golden tree with every compressor and a few block sizes and
// compares the images' hashes with those recorded: the writer's bytes do not change unless
// LayoutVersion does. Compressors of C libraries are compared only with the library versions
// recorded (the compressor's description names them). Builds without cgo have hashes of their
// own. With -update-golden, the hashes of the cases run replace those recorded.
func TestGoldenImages(t *testing.T) {
	want := map[string][2]string{} // name → hashes, compressor description
	if f, err := os.Open(goldenFile); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			name, rest, _ := strings.Cut(sc.Text(), "\t")
			hashes, desc, _ := strings.Cut(rest, "\t")
			want[name] = [2]string{hashes, desc}
		}
		f.Close()
	} else if !*updateGolden {
		t.Fatal(err)
	}
	for _, c := range goldenCases() {
		if c.cgo && !squash.CgoAvailable() {
			continue
		}
		if testing.Short() && !strings.Contains(c.name, "/131072") {
			continue
		}
		name := c.name
		if !squash.CgoAvailable() {
			// Without libzstd there is no trial compression (see compress.go): other bytes.
			name = "nocgo:" + name
		}
		desc := fmt.Sprintf("%s LayoutVersion %d", c.comp, squash.LayoutVersion)
		got := goldenImage(t, c)
		w, ok := want[name]
		switch {
		case *updateGolden:
			want[name] = [2]string{got, desc}
		case !ok:
			t.Errorf("%s: no recorded hash (record with -update-golden)", name)
		case w[1] != desc:
			t.Logf("%s: recorded with %q, this build has %q: not compared", name, w[1], desc)
		case w[0] != got:
			t.Errorf("%s (%s): image and segments hash to %s, recorded %s", name, desc, got, w[0])
		}
	}
	if *updateGolden {
		var lines []string
		for name, w := range want {
			lines = append(lines, name+"\t"+w[0]+"\t"+w[1])
		}
		sort.Strings(lines)
		if err := os.MkdirAll(filepath.Dir(goldenFile), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(goldenFile, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
