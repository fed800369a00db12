package squash_test

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gonixiso/gonixiso/internal/testtree"
	"github.com/gonixiso/gonixiso/squash"
)

// stored is a segment kept aside: its encoded description and its data.
type stored struct {
	desc []byte
	data []byte
}

// writeSegmented packs each subtree of src as a segment. For the subtrees in reuse, it places
// the stored segment instead of compressing again. It returns the image and the segments it
// wrote, by their first entry's name.
func writeSegmented(t *testing.T, src string, opts squash.Options, reuse map[string]stored) ([]byte, map[string]stored) {
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
		data := make([]byte, seg.Size())
		if _, err := f.ReadAt(data, seg.Start); err != nil {
			return err
		}
		written[seg.Entries[0].Name] = stored{desc, data}
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
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if s, ok := reuse[e.Name()]; ok {
			var seg squash.Segment
			if err := seg.UnmarshalBinary(s.desc); err != nil {
				t.Fatal(err)
			}
			if err := w.AddSegment(&seg, io.NopCloser(bytes.NewReader(s.data))); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := w.AddTree(e.Name(), filepath.Join(src, e.Name()), squash.AllRoot, nil); err != nil {
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
		if err := w.AddSegment(&seg, bytes.NewReader(data)); err != nil {
			w.Close()
			return
		}
		if err := w.Close(); err != nil && !strings.Contains(fmt.Sprint(err), "squash") {
			t.Fatalf("unexpected error %v", err)
		}
	})
}

// TestSegmentsAcrossDuplicates stores segments whose files repeat files of earlier segments: such
// a file is recorded by its contents, not stored, and its segment is placed again only where the
// earlier segments hold those contents, and only if it stores nothing they hold.
func TestSegmentsAcrossDuplicates(t *testing.T) {
	src := t.TempDir()
	big := bytes.Repeat([]byte("contents found in two store paths "), 40000)
	small := []byte("a small file found in two store paths\n")
	for _, d := range []string{"a-first", "b-second"} {
		os.MkdirAll(filepath.Join(src, d), 0o755)
		os.WriteFile(filepath.Join(src, d, "big"), big, 0o644)
		os.WriteFile(filepath.Join(src, d, "small"), small, 0o644)
		os.WriteFile(filepath.Join(src, d, "own"), []byte("only in "+d), 0o644)
	}
	os.Chtimes(src, time.Unix(1, 0), time.Unix(1, 0))
	opts := squash.Options{BlockSize: 64 << 10, Compression: squash.Compression{Level: 3, PureGo: true}}
	cold, segs := writeSegmented(t, src, opts, nil)
	var second squash.Segment
	if err := second.UnmarshalBinary(segs["b-second"].desc); err != nil {
		t.Fatal(err)
	}
	external := 0
	for _, e := range second.Entries {
		if e.External {
			external++
		}
	}
	if external != 2 {
		t.Fatalf("the second segment records %d files as earlier contents, want 2 (big, small)", external)
	}
	if size := len(segs["b-second"].data); size > 200 {
		t.Errorf("the second segment stores %d bytes: its duplicates were stored again", size)
	}
	warm, _ := writeSegmented(t, src, opts, map[string]stored{"b-second": segs["b-second"]})
	if !bytes.Equal(cold, warm) {
		t.Fatal("placing a segment with duplicates of an earlier one changes the image")
	}
	img := filepath.Join(t.TempDir(), "img")
	os.WriteFile(img, cold, 0o644)
	checkImage(t, img, src, "")

	// Without the first store path, the second's stored segment lacks contents: refused. And
	// the first's stored segment, placed after the second, would store what is already there.
	alone := t.TempDir()
	os.Rename(filepath.Join(src, "b-second"), filepath.Join(alone, "b-second"))
	f, _ := os.Create(filepath.Join(t.TempDir(), "img"))
	defer f.Close()
	w, _ := squash.NewWriter(f, opts)
	if err := w.CheckSegment(&second); err == nil || !strings.Contains(err.Error(), "earlier segments do not have") {
		t.Errorf("placing the second segment alone: %v", err)
	}
	w.AddTree("b-second", filepath.Join(alone, "b-second"), nil, nil)
	var first squash.Segment
	if err := first.UnmarshalBinary(segs["a-first"].desc); err != nil {
		t.Fatal(err)
	}
	if err := w.CheckSegment(&first); err == nil || !strings.Contains(err.Error(), "earlier in this image") {
		t.Errorf("placing the first segment after the second: %v", err)
	}
	w.Close()
}
