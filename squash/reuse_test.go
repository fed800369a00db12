package squash_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gonixiso/gonixiso/squash"
)

// TestReuse writes a new version of a store path with the segment of its earlier version offered
// to Reuse: the image's bytes are those of a build without it, whatever the workers, and the
// unchanged files' blocks and the unchanged fragment block are taken as stored (Reused counts
// them), the changed file's blocks not.
func TestReuse(t *testing.T) {
	bs := 16 << 10
	text := func(seed byte, n int) []byte {
		r := rand.New(rand.NewChaCha8([32]byte{seed}))
		var b strings.Builder
		for b.Len() < n {
			fmt.Fprintf(&b, "line %d of a file that compresses: %x\n", r.IntN(1000), r.IntN(16))
		}
		return []byte(b.String()[:n])
	}
	sparse := append(make([]byte, 3*bs), text(4, bs+100)...) // a hole, then data and a tail
	src := t.TempDir()
	files := map[string]map[string][]byte{
		"v1": {"bin/tool": text(1, 10*bs+300), "lib/libx.so": text(2, 5*bs), "sparse": sparse, "changes": text(3, 4*bs), "small": []byte("small\n")},
		"v2": {"bin/tool": text(1, 10*bs+300), "lib/libx.so": text(2, 5*bs), "sparse": sparse, "changes": text(5, 4*bs), "small": []byte("small\n"), "new": text(6, 2*bs)},
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
		f, err := os.Create(filepath.Join(t.TempDir(), "img"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		w, err := squash.NewWriter(f, opts)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.WriteHeader(&squash.Header{Name: ".", Mode: os.ModeDir | 0o755, ModTime: 1}); err != nil {
			t.Fatal(err)
		}
		if reuse {
			if err := w.Reuse(&v1, bytes.NewReader(segs["v1"].data)); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.AddTree("v2", filepath.Join(src, "v2"), squash.AllRoot, nil); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(f.Name())
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
