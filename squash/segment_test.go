package squash_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gonixiso/gonixiso/internal/testtree"
	"github.com/gonixiso/gonixiso/squash"
)

// stored is a segment kept aside: its encoded description and its data.
type stored struct {
	desc  []byte
	data  []byte
	image int64 // bytes of the image that wrote it (shared blocks left out)
}

// writeSegmented packs each subtree of src as a segment, in name order. For the subtrees in
// reuse, it places the stored segment instead of compressing again. It returns the image and the
// segments it wrote, by their first entry's name.
func writeSegmented(t *testing.T, src string, opts squash.Options, reuse map[string]stored) ([]byte, map[string]stored) {
	t.Helper()
	return writeSegmentedIn(t, src, nil, opts, reuse)
}

// writeSegmentedIn is writeSegmented with the subtrees in the order of names (all, in name
// order, for nil).
func writeSegmentedIn(t *testing.T, src string, names []string, opts squash.Options, reuse map[string]stored) ([]byte, map[string]stored) {
	t.Helper()
	img := filepath.Join(t.TempDir(), "img")
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	written := map[string]stored{}
	opts.OnSegment = func(seg *squash.Segment) error {
		desc, err := seg.MarshalBinary()
		if err != nil {
			return err
		}
		var data []byte
		for _, p := range seg.Pieces() {
			b := make([]byte, p.Length)
			if _, err := f.ReadAt(b, p.Offset); err != nil {
				return err
			}
			data = append(data, b...)
		}
		if int64(len(data)) != seg.Size() {
			return fmt.Errorf("the pieces hold %d bytes, the segment %d", len(data), seg.Size())
		}
		written[seg.Entries[0].Name] = stored{desc, data, seg.End - seg.Start}
		return nil
	}
	w, err := squash.NewWriter(f, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteHeader(&squash.Header{Name: ".", Mode: os.ModeDir | 0o755, ModTime: 1}); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if names == nil {
		entries, err := os.ReadDir(src)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			names = append(names, e.Name())
		}
	}
	for _, name := range names {
		if s, ok := reuse[name]; ok {
			var seg squash.Segment
			if err := seg.UnmarshalBinary(s.desc); err != nil {
				t.Fatal(err)
			}
			if err := w.AddSegment(&seg, io.NopCloser(bytes.NewReader(s.data))); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := w.AddTree(name, filepath.Join(src, name), squash.AllRoot, nil); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	return b, written
}

// TestSegmentsPlaceAgain writes an image segment by segment, then writes it again placing some
// or all of the stored segments instead of compressing them: the bytes must be the same, since
// an incremental rebuild must equal a cold one.
func TestSegmentsPlaceAgain(t *testing.T) {
	src := t.TempDir()
	testtree.Make(t, src, testtree.Options{BlockSize: 16 << 10, BigDir: 300})
	opts := squash.Options{BlockSize: 16 << 10, Compression: squash.Compression{Level: 3, PureGo: true}}
	cold, segs := writeSegmented(t, src, opts, nil)
	if len(segs) < 5 {
		t.Fatalf("only %d segments", len(segs))
	}
	names := make([]string, 0, len(segs))
	for n := range segs {
		names = append(names, n)
	}
	for _, pick := range []func(i int) bool{
		func(i int) bool { return true },
		func(i int) bool { return i%2 == 0 },
		func(i int) bool { return i == len(names)-1 },
	} {
		reuse := map[string]stored{}
		for i, n := range names {
			if pick(i) {
				reuse[n] = segs[n]
			}
		}
		warm, _ := writeSegmented(t, src, opts, reuse)
		if !bytes.Equal(cold, warm) {
			t.Fatalf("placing %d stored segments changes the image", len(reuse))
		}
	}
	// A stored segment placed under another tree: the image is the other tree's, readable.
	img := filepath.Join(t.TempDir(), "img")
	os.WriteFile(img, cold, 0o644)
	checkImage(t, img, src, "")
}

// TestSegmentDescriptionRejects checks that corrupt stored descriptions are refused by
// UnmarshalBinary or by AddSegment, never placed.
func TestSegmentDescriptionRejects(t *testing.T) {
	src := t.TempDir()
	testtree.Make(t, src, testtree.Options{BlockSize: 16 << 10})
	opts := squash.Options{BlockSize: 16 << 10, Compression: squash.Compression{Level: 1, PureGo: true}}
	_, segs := writeSegmented(t, src, opts, nil)
	s := segs["sizes"]
	var seg squash.Segment
	if err := seg.UnmarshalBinary(s.desc); err != nil {
		t.Fatal(err)
	}
	for i := range seg.Entries {
		e := &seg.Entries[i]
		if len(e.Blocks) > 0 {
			e.Blocks[0] = uint32(seg.Size() + 1) // a block past the segment's end
			break
		}
	}
	f, _ := os.Create(filepath.Join(t.TempDir(), "img"))
	defer f.Close()
	w, _ := squash.NewWriter(f, opts)
	err := w.AddSegment(&seg, bytes.NewReader(s.data))
	if err == nil || !strings.Contains(err.Error(), "stored segment") {
		t.Errorf("a segment with a block out of bounds: %v", err)
	}
	w.Close()
	for _, cut := range []int{0, 10, len(s.desc) / 2, len(s.desc) - 1} {
		if err := new(squash.Segment).UnmarshalBinary(s.desc[:cut]); err == nil {
			t.Errorf("a description cut to %d bytes was accepted", cut)
		}
	}
	if err := new(squash.Segment).UnmarshalBinary(append(append([]byte{}, s.desc...), 0)); err == nil {
		t.Errorf("a description with a trailing byte was accepted")
	}
}

func FuzzSegmentDescription(f *testing.F) {
	src := f.TempDir()
	testtree.Make(f, src, testtree.Options{BlockSize: 4096})
	dir := f.TempDir()
	img, _ := os.Create(filepath.Join(dir, "img"))
	defer img.Close()
	w, _ := squash.NewWriter(img, squash.Options{BlockSize: 4096, Compression: squash.Compression{Level: 1, PureGo: true},
		OnSegment: func(seg *squash.Segment) error {
			d, _ := seg.MarshalBinary()
			f.Add(d)
			return nil
		}})
	for _, n := range []string{"sizes", "dups", "links"} {
		w.AddTree(n, filepath.Join(src, n), nil, nil)
		w.Flush()
	}
	w.Close()
	// And an unfinished segment: what a writer that failed in the middle of sizes leaves.
	w, _ = squash.NewWriter(img, squash.Options{BlockSize: 4096, Compression: squash.Compression{Level: 1, PureGo: true}})
	added := 0
	w.AddTree("sizes", filepath.Join(src, "sizes"), func(*squash.Header) error {
		if added++; added == 10 {
			return errors.New("stop")
		}
		return nil
	}, nil)
	w.Close()
	if u := w.Unfinished(); u == nil {
		f.Fatal("no unfinished segment for a seed")
	} else {
		d, _ := u.MarshalBinary()
		f.Add(d)
	}
	f.Fuzz(func(t *testing.T, desc []byte) {
		var seg squash.Segment
		if err := seg.UnmarshalBinary(desc); err != nil {
			return
		}
		// Varints may come in longer forms than the encoder writes: decoding what it writes
		// must give the same description.
		again, err := seg.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var seg2 squash.Segment
		if err := seg2.UnmarshalBinary(again); err != nil {
			t.Fatalf("an encoded description does not decode: %v", err)
		}
		if third, _ := seg2.MarshalBinary(); !bytes.Equal(third, again) {
			t.Fatal("decoding and encoding again changes the description")
		}
		out, _ := os.Create(filepath.Join(t.TempDir(), "img"))
		defer out.Close()
		w, _ := squash.NewWriter(out, squash.Options{BlockSize: 4096, Compression: squash.Compression{Level: 1, PureGo: true}})
		data := make([]byte, max(0, min(seg.Size(), 1<<20)))
		if seg.Unfinished {
			// Its blocks are reused, whatever they hold, by a writer that adds a tree.
			if err := w.Reuse(&seg, bytes.NewReader(data)); err == nil {
				w.AddTree("sizes", filepath.Join(src, "sizes"), nil, nil)
			}
			w.Close()
			return
		}
		if err := w.AddSegment(&seg, bytes.NewReader(data)); err != nil {
			w.Close()
			return
		}
		if err := w.Close(); err != nil && !strings.Contains(fmt.Sprint(err), "squash") {
			t.Fatalf("unexpected error %v", err)
		}
	})
}

// TestSegmentsAnyOrder: a segment's own data does not depend on which segments come before it,
// so a stored segment is placed again whatever the order and whatever other subtrees the image
// holds, and gives the bytes a cold build gives; and a file whose contents an earlier segment
// has shares that segment's blocks in the image.
func TestSegmentsAnyOrder(t *testing.T) {
	src := t.TempDir()
	bs := 64 << 10
	big := make([]byte, 1300<<10) // incompressible
	rand.NewChaCha8([32]byte{1}).Read(big)
	other := bytes.Repeat([]byte("another file found in two store paths "), 3000) // 114 KB
	small := []byte("a small file found in two store paths\n")
	files := map[string]map[string][]byte{
		"a-first":  {"big": big, "small": small, "own": []byte("only in a")},
		"b-second": {"big": big, "big-again": big, "small": small, "other": other, "own.so": []byte("only in b")},
		"c-third":  {"other": other, "lib/other.so": other, "own": []byte("only in c")},
		"d-copy":   {"big": big, "small": small, "own": []byte("only in a")}, // a-first's files
	}
	writeFiles(t, src, files)
	opts := squash.Options{BlockSize: bs, Compression: squash.Compression{Level: 3, PureGo: true}}
	orders := [][]string{
		{"a-first", "b-second", "c-third"}, {"a-first", "c-third", "b-second"}, {"b-second", "a-first", "c-third"},
		{"b-second", "c-third", "a-first"}, {"c-third", "a-first", "b-second"}, {"c-third", "b-second", "a-first"},
		{"b-second"}, {"c-third", "b-second"}, {"a-first", "d-copy", "b-second"}, {"d-copy", "c-third", "a-first"},
	}
	var first map[string]stored
	colds := map[string][]byte{}
	for _, order := range orders {
		cold, segs := writeSegmentedIn(t, src, order, opts, nil)
		colds[strings.Join(order, " ")] = cold
		if first == nil {
			first = map[string]stored{}
		}
		for name, s := range segs {
			want, ok := first[name]
			if !ok {
				first[name] = s
				continue
			}
			if !bytes.Equal(s.desc, want.desc) || !bytes.Equal(s.data, want.data) {
				t.Errorf("order %v: the segment of %s differs from its segment in an earlier order", order, name)
			}
		}
		// Every segment stored by the first order's build is placed: the same bytes.
		if warm, _ := writeSegmentedIn(t, src, order, opts, first); !bytes.Equal(warm, cold) {
			t.Errorf("order %v: placing the stored segments changes the image", order)
		}
		// And so is any one of them, among compressed ones.
		for _, name := range order {
			if warm, _ := writeSegmentedIn(t, src, order, opts, map[string]stored{name: first[name]}); !bytes.Equal(warm, cold) {
				t.Errorf("order %v: placing the stored segment of %s changes the image", order, name)
			}
		}
	}
	// Shared blocks: after a-first, b-second has none of big's blocks in the image; alone, it
	// has them once (big-again is big's). big's tail, random bytes, is a block of its own where
	// the trial tells that it cannot shrink (libzstd, a cgo build), and is shared too.
	var alone, after map[string]stored
	_, alone = writeSegmentedIn(t, src, []string{"b-second"}, opts, nil)
	_, after = writeSegmentedIn(t, src, []string{"a-first", "b-second"}, opts, nil)
	full := int64(len(big) / bs * bs)
	if squash.CgoAvailable() {
		full = int64(len(big))
	}
	if s := alone["b-second"]; s.image != int64(len(s.data)) || s.image < full {
		t.Errorf("b-second alone: %d bytes in the image, %d of its own, want all and at least %d", s.image, len(s.data), full)
	}
	if s := after["b-second"]; int64(len(s.data))-s.image != full {
		t.Errorf("b-second after a-first: %d bytes in the image, %d of its own, want %d shared", s.image, len(s.data), full)
	}
	// A copy of a-first after it shares its blocks and its fragment block: nothing stored.
	if s := first["d-copy"]; s.image != 0 || len(s.data) < len(big) {
		t.Errorf("a copy of a-first after it: %d bytes in the image, %d of its own, want none and all", s.image, len(s.data))
	}
	var b squash.Segment
	if err := b.UnmarshalBinary(first["b-second"].desc); err != nil {
		t.Fatal(err)
	}
	starts := map[string]int64{}
	for _, e := range b.Entries {
		starts[e.Name] = e.Offset
	}
	if starts["b-second/big"] != starts["b-second/big-again"] {
		t.Errorf("big and big-again have their own blocks in b-second's segment")
	}
	for order, cold := range colds {
		checkSubtrees(t, cold, src, strings.Fields(order))
	}
}

// checkSubtrees checks that the image holds the given subtrees of src at its root, as they are.
func checkSubtrees(t *testing.T, image []byte, src string, dirs []string) {
	t.Helper()
	img := filepath.Join(t.TempDir(), "img")
	os.WriteFile(img, image, 0o644)
	want := t.TempDir()
	for _, d := range dirs {
		run(t, "cp", "-a", filepath.Join(src, d), filepath.Join(want, d))
	}
	os.Chmod(want, 0o755)
	os.Chtimes(want, time.Unix(1, 0), time.Unix(1, 0))
	checkImage(t, img, want, "")
}

// TestTailBlocksShared: a file shorter than a block whose bytes cannot shrink (a gzipped
// changelog found in two store paths, say) is a block of its own, not a tail in a fragment block,
// so that a later segment holding the same file shares it: the image stores it once, as
// mksquashfs does, and each segment's own data still holds it, whatever the order. A tail that
// shrinks stays in a fragment block, stored again by each segment. Without fragments, every
// file shorter than a block is shared so.
func TestTailBlocksShared(t *testing.T) {
	if !squash.CgoAvailable() {
		t.Skip("without libzstd there is no trial, and every tail goes in a fragment block")
	}
	src := t.TempDir()
	bs := 64 << 10
	gz := make([]byte, 5000) // as a gzipped file: no byte more likely than another
	rand.NewChaCha8([32]byte{2}).Read(gz)
	text := bytes.Repeat([]byte("a copyright text found in two store paths\n"), 100)
	tiny := gz[:255] // shorter than the shortest tail block
	files := map[string]map[string][]byte{
		"a": {"changelog.gz": gz, "copyright": text, "tiny.gz": tiny, "own": []byte("only in a")},
		"b": {"doc/changelog.gz": gz, "doc/copyright": text, "doc/tiny.gz": tiny, "own": []byte("only in b")},
	}
	writeFiles(t, src, files)
	for _, noFrag := range []bool{false, true} {
		opts := squash.Options{BlockSize: bs, NoFragments: noFrag, Compression: squash.Compression{Level: 3, PureGo: true}}
		cold, segs := writeSegmentedIn(t, src, []string{"a", "b"}, opts, nil)
		_, alone := writeSegmentedIn(t, src, []string{"b"}, opts, nil)
		a, b := segs["b"], alone["b"]
		if !bytes.Equal(a.desc, b.desc) || !bytes.Equal(a.data, b.data) {
			t.Fatalf("fragments %v: b's segment depends on a before it", !noFrag)
		}
		// Shared: the gzipped file; without fragments, the others too (text compressed).
		want := int64(len(gz))
		if got := int64(len(a.data)) - a.image; !noFrag && got != want || noFrag && got <= want+int64(len(tiny)) {
			t.Errorf("fragments %v: b after a shares %d bytes, want %d and, without fragments, the others", !noFrag, got, want)
		}
		var seg squash.Segment
		if err := seg.UnmarshalBinary(a.desc); err != nil {
			t.Fatal(err)
		}
		for _, e := range seg.Entries {
			isBlock := e.Mode.IsRegular() && e.Fragment == squash.NoFragment && len(e.Blocks) == 1
			if wantBlock := noFrag || e.Name == "b/doc/changelog.gz"; e.Mode.IsRegular() && isBlock != wantBlock {
				t.Errorf("fragments %v: %s is a block of its own: %v, want %v", !noFrag, e.Name, isBlock, wantBlock)
			}
		}
		// Placed after a, b's stored segment gives the cold build's bytes, and the image reads.
		if warm, _ := writeSegmentedIn(t, src, []string{"a", "b"}, opts, map[string]stored{"b": a}); !bytes.Equal(warm, cold) {
			t.Errorf("fragments %v: placing b's stored segment changes the image", !noFrag)
		}
		checkSubtrees(t, cold, src, []string{"a", "b"})
	}
}

// writeFiles makes, under src, a folder per key of files with its files (by slash-separated
// name), all with the time 1.
func writeFiles(t *testing.T, src string, files map[string]map[string][]byte) {
	t.Helper()
	for d, fs := range files {
		for name, b := range fs {
			p := filepath.Join(src, d, name)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
			os.Chtimes(p, time.Unix(1, 0), time.Unix(1, 0))
		}
	}
}

// CheckTree passes a tree as it was written and names the entry where it differs in type, mode,
// time, size, a symlink's target length, or an entry more or less; a target of the same length is
// contents, which the caller's key vouches for, as a file's bytes are.
func TestCheckTree(t *testing.T) {
	// canon gives every entry the time 1, as a store has it, so that only a spoiled time shows.
	canon := func(tree string) error {
		return filepath.WalkDir(tree, func(p string, _ fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			return unix.Lutimes(p, []unix.Timeval{{Sec: 1}, {Sec: 1}})
		})
	}
	// segmented writes a store-like tree, and returns it and its segment.
	segmented := func(t *testing.T, many bool) (string, *squash.Segment) {
		dir := t.TempDir()
		tree := filepath.Join(dir, "p")
		for name, data := range map[string]string{"bin/tool": "#!/bin/sh\n", "lib/a.so": "library", "share/doc": "text"} {
			p := filepath.Join(tree, name)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(data), 0o444); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Symlink("a.so", filepath.Join(tree, "lib/b.so")); err != nil {
			t.Fatal(err)
		}
		dirs := 0
		if many {
			dirs = 40 // 4,000 entries: more than one stretch of CheckTree
		}
		for d := range dirs {
			for f := range 100 {
				p := filepath.Join(tree, fmt.Sprintf("many/d%02d/f%02d", d, f))
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, nil, 0o444); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := canon(tree); err != nil {
			t.Fatal(err)
		}
		f, err := os.Create(filepath.Join(dir, "img"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		var seg *squash.Segment
		w, err := squash.NewWriter(f, squash.Options{ModTime: 1, OnSegment: func(s *squash.Segment) error { seg = s; return nil }})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.AddTree("p", tree, squash.AllRoot, nil); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return tree, seg
	}
	relink := func(tree, target string) error {
		link := filepath.Join(tree, "lib/b.so")
		if err := os.Remove(link); err != nil {
			return err
		}
		return os.Symlink(target, link)
	}
	for _, c := range []struct {
		name  string
		spoil func(tree string) error
		want  string // "" for none
	}{
		{"as written", func(string) error { return nil }, ""},
		{"same target length", func(tree string) error { return relink(tree, "x.so") }, ""},
		{"owner", func(tree string) error { return os.Lchown(filepath.Join(tree, "lib/b.so"), 1, 1) }, ""}, // AllRoot
		{"mode", func(tree string) error { return os.Chmod(filepath.Join(tree, "share/doc"), 0o644) }, "share/doc: mode"},
		{"time", func(tree string) error {
			return os.Chtimes(filepath.Join(tree, "bin/tool"), time.Unix(5, 0), time.Unix(5, 0))
		}, "bin/tool: modification time changed"},
		{"size", func(tree string) error { return os.WriteFile(filepath.Join(tree, "lib/a.so"), []byte("lib"), 0o444) }, "lib/a.so: size changed"},
		{"target", func(tree string) error { return relink(tree, "longer.so") }, "lib/b.so: link target changed"},
		{"type", func(tree string) error {
			if err := os.Remove(filepath.Join(tree, "share/doc")); err != nil {
				return err
			}
			return os.Mkdir(filepath.Join(tree, "share/doc"), 0o555)
		}, "share/doc: mode"},
		{"entry", func(tree string) error { return os.WriteFile(filepath.Join(tree, "lib/c.so"), nil, 0o444) }, "lib/c.so: not in the segment"},
		{"missing", func(tree string) error { return os.Remove(filepath.Join(tree, "lib/a.so")) }, "lib/a.so: not in the tree"},
		{"symlinked folder", func(tree string) error {
			// The folder's entries are looked up beneath the tree, never through the link.
			if err := os.Rename(filepath.Join(tree, "lib"), filepath.Join(tree, "../elsewhere")); err != nil {
				return err
			}
			return os.Symlink("../elsewhere", filepath.Join(tree, "lib"))
		}, "lib: mode"},
		// Many entries are checked in parallel stretches; the first that differs is named.
		{"many", func(tree string) error { return os.Chmod(filepath.Join(tree, "many/d17/f09"), 0o644) }, "many/d17/f09: mode"},
		{"many missing", func(tree string) error { return os.Remove(filepath.Join(tree, "many/d03/f00")) }, "many/d03/f00: not in the tree"},
	} {
		t.Run(c.name, func(t *testing.T) {
			tree, seg := segmented(t, strings.HasPrefix(c.name, "many"))
			if err := c.spoil(tree); err != nil {
				t.Fatal(err)
			}
			if c.name != "time" {
				if err := canon(tree); err != nil {
					t.Fatal(err)
				}
			}
			err := seg.CheckTree("p", tree, squash.AllRoot)
			if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
				t.Fatalf("CheckTree = %v, want %q", err, c.want)
			}
		})
	}
}
