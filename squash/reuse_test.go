package squash_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gonixiso/gonixiso/squash"
)

// compressible returns n bytes of text that compresses, different for each seed.
func compressible(seed byte, n int) []byte {
	r := rand.New(rand.NewChaCha8([32]byte{seed}))
	var b strings.Builder
	for b.Len() < n {
		fmt.Fprintf(&b, "line %d of a file that compresses: %x\n", r.IntN(1000), r.IntN(16))
	}
	return []byte(b.String()[:n])
}

// TestReuse writes a new version of a store path with the segment of its earlier version offered
// to Reuse: the image's bytes are those of a build without it, whatever the workers, and the
// unchanged files' blocks and the unchanged fragment block are taken as stored (Reused counts
// them), the changed file's blocks not.
func TestReuse(t *testing.T) {
	bs := 16 << 10
	sparse := append(make([]byte, 3*bs), compressible(4, bs+100)...) // a hole, then data and a tail
	src := t.TempDir()
	files := map[string]map[string][]byte{
		"v1": {"bin/tool": compressible(1, 10*bs+300), "lib/libx.so": compressible(2, 5*bs), "sparse": sparse, "changes": compressible(3, 4*bs), "small": []byte("small\n")},
		"v2": {"bin/tool": compressible(1, 10*bs+300), "lib/libx.so": compressible(2, 5*bs), "sparse": sparse, "changes": compressible(5, 4*bs), "small": []byte("small\n"), "new": compressible(6, 2*bs)},
	}
	writeFiles(t, src, files)
	opts := squash.Options{BlockSize: bs, Compression: squash.Compression{Level: 3, PureGo: true}}
	_, segs := writeSegmentedIn(t, src, []string{"v1"}, opts, nil)
	var v1 squash.Segment
	if err := v1.UnmarshalBinary(segs["v1"].desc); err != nil {
		t.Fatal(err)
	}
	write := func(opts squash.Options, reuse bool) ([]byte, int64) {
		t.Helper()
		offer := (*squash.Segment)(nil)
		if reuse {
			offer = &v1
		}
		b, w, err := writeReusing(t, opts, asFile, src, "v2", nil, offer, segs["v1"].data)
		if err != nil {
			t.Fatal(err)
		}
		return b, w.Reused()
	}
	cold, none := write(opts, false)
	if none != 0 {
		t.Errorf("without Reuse, Reused says %d", none)
	}
	// bin/tool's 10 blocks, libx.so's 5, sparse's one of data (its hole is stored as nothing
	// anyway); not changes', nor new's. And the fragment block, which holds the same tails as
	// v1's (bin/tool's 300 bytes, sparse's 100 and small's 6; changes and new have none).
	want := int64((10+5+1)*bs + 300 + 100 + 6)
	for _, workers := range []int{1, 4} {
		o := opts
		o.Workers = workers
		warm, reused := write(o, true)
		if !bytes.Equal(warm, cold) {
			t.Errorf("%d workers: with the earlier version's segment offered, the image differs", workers)
		}
		if reused != want {
			t.Errorf("%d workers: %d bytes reused, want %d", workers, reused, want)
		}
	}

	// A segment of another block size is refused, and the writer goes on.
	o := opts
	o.BlockSize = 2 * bs
	f, err := os.Create(filepath.Join(t.TempDir(), "img"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := squash.NewWriter(f, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Reuse(&v1, bytes.NewReader(segs["v1"].data)); err == nil {
		t.Error("Reuse took a segment of another block size")
	}
	if err := w.Close(); err != nil {
		t.Errorf("after a refused Reuse: %v", err)
	}
}

// writeReusing writes the subtree name of src, in a segment of its own after the root, with reuse
// and its data offered to Reuse if not nil, into out's file, a new one; fix, if not nil, may fail
// the walk. It returns the image, the writer and the writer's first error.
func writeReusing(t *testing.T, opts squash.Options, out func(*os.File) io.WriteSeeker, src, name string, fix func(*squash.Header) error, reuse *squash.Segment, data []byte) ([]byte, *squash.Writer, error) {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "img"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := squash.NewWriter(out(f), opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteHeader(&squash.Header{Name: ".", Mode: os.ModeDir | 0o755, ModTime: 1}); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if reuse != nil {
		if err := w.Reuse(reuse, bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
	}
	err = w.AddTree(name, filepath.Join(src, name), func(h *squash.Header) error {
		if fix != nil {
			if err := fix(h); err != nil {
				return err
			}
		}
		return squash.AllRoot(h)
	}, nil)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	b, rerr := os.ReadFile(f.Name())
	if rerr != nil {
		t.Fatal(rerr)
	}
	return b, w, err
}

// asFile writes an image to its file as it is.
func asFile(f *os.File) io.WriteSeeker { return f }

// failAfter is an image file that fails every write past its first n bytes, as a full disk does.
type failAfter struct {
	*os.File
	n int64
}

func (f *failAfter) Write(b []byte) (int, error) {
	at, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0, err
	}
	if at+int64(len(b)) > f.n {
		return 0, errors.New("no space left (test)")
	}
	return f.File.Write(b)
}

// TestUnfinished fails a writer in the middle of a segment, on the caller's side (a file that
// cannot be read, an interruption) and on the pipeline's (a full disk, before p/d and in the
// middle of p/e, a file larger than the duplicate check's lookahead): Unfinished describes the
// whole blocks written of the files that have some, the first ones of the file the writer was in,
// and the fragment blocks written (once the tails of p/m fill the segment's tail window), which a
// rerun takes as stored (Reuse), with the bytes of a writer that never failed; it cannot be
// placed, and it keeps its kind through MarshalBinary.
func TestUnfinished(t *testing.T) {
	bs := 16 << 10
	src := t.TempDir()
	p := map[string][]byte{
		"a":     compressible(1, 10*bs+300),
		"b":     compressible(2, 5*bs),
		"b2":    compressible(2, 5*bs), // b's contents: b's blocks
		"c":     append(make([]byte, 3*bs), compressible(4, bs+100)...),
		"d":     compressible(3, 4*bs+7),
		"e":     compressible(6, 20<<20), // streams: more than the 16 MiB lookahead
		"small": []byte("small\n"),
		"zz/e":  compressible(5, 3*bs),
	}
	for i := range 2100 { // 16.8 MB of tails, more than the window holds
		p[fmt.Sprintf("m/%04d", i)] = append([]byte(fmt.Sprintf("%04d ", i)), compressible(byte(10+i%7), 7995)...)
	}
	writeFiles(t, src, map[string]map[string][]byte{"p": p})
	opts := squash.Options{BlockSize: bs, Compression: squash.Compression{Level: 3, PureGo: true}}
	write := func(t *testing.T, opts squash.Options, out func(*os.File) io.WriteSeeker, fix func(*squash.Header) error, reuse *squash.Segment, data []byte) ([]byte, *squash.Writer, error) {
		t.Helper()
		return writeReusing(t, opts, out, src, "p", fix, reuse, data)
	}
	file := asFile
	cold, w, err := write(t, opts, file, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if w.Unfinished() != nil {
		t.Error("a writer that did not fail has an unfinished segment")
	}
	// Where blocks of p/d and p/e start in the cold image.
	rd, err := squash.NewReader(bytes.NewReader(cold), int64(len(cold)))
	if err != nil {
		t.Fatal(err)
	}
	blockAt := func(name string, i int) int64 {
		e, err := rd.Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		for b, err := range rd.Blocks(e) {
			if err != nil {
				t.Fatal(err)
			}
			if b.Offset == int64(i*bs) {
				return b.ImageOffset
			}
		}
		t.Fatalf("%s has no block %d", name, i)
		return 0
	}
	dStart, eMiddle := blockAt("p/d", 0), blockAt("p/e", 800)

	for _, tc := range []struct {
		name  string
		out   func(*os.File) io.WriteSeeker
		fix   func(*squash.Header) error
		want  []string // entries described, by name
		frags bool     // fragment blocks too
	}{
		// The failure comes as zz is added: d was finished when small's header came; small has
		// no whole block, and the tails wait in the segment's window.
		{"a file that cannot be read", file, func(h *squash.Header) error {
			if h.Name == "p/zz" {
				return errors.New("cannot read p/zz (test)")
			}
			return nil
		}, []string{"p", "p/a", "p/b", "p/b2", "p/c", "p/d", "p/e"}, true},
		// The disk fills up as d's first block is written: a, b and c are written whole.
		{"a full disk", func(f *os.File) io.WriteSeeker { return &failAfter{f, dStart + 1} }, nil, []string{"p", "p/a", "p/b", "p/b2", "p/c"}, false},
		// The disk fills up in the middle of e: its first 800 blocks are written.
		{"a full disk in a large file", func(f *os.File) io.WriteSeeker { return &failAfter{f, eMiddle + 1} }, nil, []string{"p", "p/a", "p/b", "p/b2", "p/c", "p/d", "p/e"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img, w, err := write(t, opts, tc.out, tc.fix, nil, nil)
			if err == nil {
				t.Fatal("the writer did not fail")
			}
			u := w.Unfinished()
			if u == nil {
				t.Fatal("no unfinished segment")
			}
			var names []string
			var want int64 // bytes of blocks that are not holes
			for _, e := range u.Entries {
				names = append(names, e.Name)
				if e.Name == "p/e" && len(e.Blocks) != 1280 && len(e.Blocks) != 800 {
					t.Errorf("p/e with %d blocks, want all 1280 or the first 800", len(e.Blocks))
				}
				if e.Name != "p/b2" { // b's contents: offered once
					for _, b := range e.Blocks {
						if b != 0 {
							want += int64(bs)
						}
					}
				}
			}
			if fmt.Sprint(names) != fmt.Sprint(tc.want) {
				t.Errorf("unfinished segment of %v, want %v", names, tc.want)
			}
			if tc.frags != (len(u.Fragments) > 0) {
				t.Errorf("%d fragment blocks described", len(u.Fragments))
			}
			var data []byte
			for _, p := range u.Pieces() {
				data = append(data, img[p.Offset:p.Offset+p.Length]...)
			}
			desc, err := u.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			var back squash.Segment
			if err := back.UnmarshalBinary(desc); err != nil || !back.Unfinished || len(back.Entries) != len(u.Entries) {
				t.Fatalf("read back: unfinished %v, %d entries, %v", back.Unfinished, len(back.Entries), err)
			}
			for _, workers := range []int{1, 4} {
				o := opts
				o.Workers = workers
				again, w, err := write(t, o, file, nil, &back, data)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(again, cold) {
					t.Errorf("%d workers: the rerun with the unfinished segment differs from a writer that did not fail", workers)
				}
				// Fragment blocks count their tails' bytes.
				if got := w.Reused(); tc.frags && got <= want || !tc.frags && got != want {
					t.Errorf("%d workers: %d bytes reused, want %d of blocks, and fragment blocks: %v", workers, got, want, tc.frags)
				}
			}
			f, err := os.Create(filepath.Join(t.TempDir(), "img"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			w2, err := squash.NewWriter(f, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer w2.Close()
			if w2.CheckSegment(&back) == nil || w2.AddSegment(&back, io.NopCloser(bytes.NewReader(data))) == nil {
				t.Error("an unfinished segment can be placed")
			}
		})
	}
}
