package squash

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"testing"

	"github.com/gonixiso/gonixiso/internal/testsystem"
)

// TestBlocks reads every regular file of images made by the Writer and by mksquashfs through
// its Blocks, and holds them to the file's contents: the blocks cover the file in order, sparse
// runs are zeros, stored bytes decode to the contents they stand for, the tail is the file's
// end. Storage adds up, DataID tells equal contents, and the tails' shares of each fragment
// block add up to the block.
func TestBlocks(t *testing.T) {
	dir := makeTree(t, false)
	imgs := map[string]string{
		"writer-zstd":   writeImage(t, dir, Options{BlockSize: testBlockSize, Compression: Compression{Algorithm: Zstd, Level: 3, PureGo: true}, ModTime: 1}),
		"writer-xz":     writeImage(t, dir, Options{BlockSize: testBlockSize, Compression: Compression{Algorithm: XZ, PureGo: true}, ModTime: 1}),
		"writer-nofrag": writeImage(t, dir, Options{BlockSize: testBlockSize, Compression: Compression{Algorithm: LZ4}, NoFragments: true}),
	}
	testsystem.Require(t, "mksquashfs")
	imgs["mksquashfs-gzip"] = mksquashfs(t, dir, "-comp", "gzip", "-b", "4K", "-all-root")
	for name, img := range imgs {
		t.Run(name, func(t *testing.T) {
			r := openImage(t, img, false)
			shares := map[uint32]int64{} // fragment block → the tails' shares of it
			stored := map[uint32]int64{} // fragment block → its stored size
			tails := map[DataID]bool{}
			sums := map[DataID][32]byte{}
			files := 0
			kinds := map[string]int{}
			err := r.Walk(func(p string, e *Entry) error {
				if !e.Mode.IsRegular() {
					if _, err := r.Storage(e); err == nil {
						t.Errorf("%s: Storage of a %v succeeded", p, e.Mode.Type())
					}
					return nil
				}
				files++
				f, err := r.OpenEntry(e)
				if err != nil {
					return err
				}
				want, err := io.ReadAll(f)
				f.Close()
				if err != nil {
					return err
				}
				var next int64
				var st Storage
				for b, err := range r.Blocks(e) {
					if err != nil {
						return err
					}
					if b.Offset != next || b.Size <= 0 || b.Offset+b.Size > e.Size {
						t.Fatalf("%s: block at %d of %d bytes, want one at %d within %d", p, b.Offset, b.Size, next, e.Size)
					}
					next = b.Offset + b.Size
					part := want[b.Offset:next]
					switch {
					case b.Sparse:
						kinds["sparse"]++
						if !isZero(part) {
							t.Errorf("%s: sparse run at %d holds data", p, b.Offset)
						}
						st.Sparse += b.Size
					case b.Tail:
						kinds["tail"]++
						frag, err := r.fragment(e.fragment)
						if err != nil {
							return err
						}
						if !bytes.Equal(frag[e.fragOff:int64(e.fragOff)+b.Size], part) {
							t.Errorf("%s: tail differs", p)
						}
						if next != e.Size {
							t.Errorf("%s: tail ends at %d, not at the file's end", p, next)
						}
						st.Tail = b.Size
						stored[e.fragment] = b.StoredSize
					default:
						raw := make([]byte, b.StoredSize)
						if _, err := r.ra.ReadAt(raw, b.ImageOffset); err != nil {
							return err
						}
						got := raw
						kinds[fmt.Sprint("uncompressed=", b.Uncompressed)]++
						if !b.Uncompressed {
							got = make([]byte, b.Size)
							n, err := r.dec.decode(got, raw)
							if err != nil {
								return err
							}
							got = got[:n]
						}
						if !bytes.Equal(got, part) {
							t.Errorf("%s: stored block at %d differs from the contents", p, b.Offset)
						}
						st.Blocks += b.Size
						st.Stored += b.StoredSize
					}
				}
				if next != e.Size {
					t.Errorf("%s: blocks end at %d, the file at %d", p, next, e.Size)
				}
				got, err := r.Storage(e)
				if err != nil {
					return err
				}
				share := got.TailStored
				got.TailStored = 0
				if got != st {
					t.Errorf("%s: Storage = %+v, the blocks say %+v", p, got, st)
				}
				id, err := r.DataID(e)
				if err != nil {
					return err
				}
				sum := sha256.Sum256(want)
				if s, ok := sums[id]; ok && s != sum {
					t.Errorf("%s: DataID of another file's, different contents", p)
				}
				sums[id] = sum
				if st.Tail > 0 && !tails[id] {
					tails[id] = true
					shares[e.fragment] += share
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if kinds["sparse"] == 0 || kinds["uncompressed=true"] == 0 || kinds["uncompressed=false"] == 0 ||
				(kinds["tail"] == 0) != (name == "writer-nofrag") {
				t.Errorf("blocks read: %v; the tree has sparse, compressed and incompressible blocks and tails", kinds)
			}
			// Identical files are stored once: one DataID.
			ids := map[string]DataID{}
			for _, n := range []string{"dups/a", "dups/b", "dups/whole-a", "dups/whole-b", "dups/small-a", "dups/small-b"} {
				e, err := r.Lookup(n)
				if err != nil {
					t.Fatal(err)
				}
				if ids[n], err = r.DataID(e); err != nil {
					t.Fatal(err)
				}
			}
			if ids["dups/a"] != ids["dups/b"] || ids["dups/whole-a"] != ids["dups/whole-b"] || ids["dups/small-a"] != ids["dups/small-b"] {
				t.Error("identical files stored once have different DataIDs")
			}
			if ids["dups/a"] == ids["dups/whole-a"] || len(sums) < files/2 {
				t.Errorf("different files share a DataID (%d DataIDs for %d files)", len(sums), files)
			}
			// Each fragment block is shared out among its tails, to rounding.
			for i, s := range stored {
				if d := shares[i] - s; d < -int64(len(tails)) || d > int64(len(tails)) {
					t.Errorf("fragment block %d of %d bytes: its tails' shares add up to %d", i, s, shares[i])
				}
			}
		})
	}
}

// TestOpenEntry opens entries whose names are not valid fs.FS paths (not UTF-8): by name they
// cannot be opened, by their Entry they read.
func TestOpenEntry(t *testing.T) {
	var img bytes.Buffer
	w, err := NewWriter(&seekBuffer{b: &img}, Options{BlockSize: testBlockSize})
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"latin1-\xe9t\xe9", "dir-\xff", "dir-\xff/file-\xfe\xfe", "ok"}
	for _, n := range names {
		hdr := &Header{Name: n, Mode: 0o644, Size: int64(len(n))}
		if n == "dir-\xff" {
			hdr = &Header{Name: n, Mode: fs.ModeDir | 0o755}
		}
		if err := w.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if hdr.Mode.IsRegular() {
			if _, err := w.Write([]byte(n)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := NewReader(bytes.NewReader(img.Bytes()), int64(img.Len()))
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	err = r.Walk(func(p string, e *Entry) error {
		seen = append(seen, p)
		if !e.Mode.IsRegular() {
			return nil
		}
		if _, err := r.Open(p); p != "ok" && !errors.Is(err, fs.ErrInvalid) {
			t.Errorf("Open(%q) = %v, want fs.ErrInvalid", p, err)
		}
		f, err := r.OpenEntry(e)
		if err != nil {
			return err
		}
		defer f.Close()
		b, err := io.ReadAll(f)
		if err != nil || string(b) != e.Name[len(e.Name)-len(b):] || int64(len(b)) != e.Size {
			t.Errorf("%q reads %q, %v", p, b, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{".", "dir-\xff", "dir-\xff/file-\xfe\xfe", "latin1-\xe9t\xe9", "ok"}; !slices.Equal(seen, want) {
		t.Errorf("Walk = %q, want %q", seen, want)
	}
}

// seekBuffer is an io.WriteSeeker over a bytes.Buffer's bytes.
type seekBuffer struct {
	b   *bytes.Buffer
	pos int64
}

func (s *seekBuffer) Write(p []byte) (int, error) {
	buf := s.b.Bytes()
	if end := s.pos + int64(len(p)); end > int64(len(buf)) {
		s.b.Write(make([]byte, end-int64(len(buf))))
		buf = s.b.Bytes()
	}
	copy(buf[s.pos:], p)
	s.pos += int64(len(p))
	return len(p), nil
}

func (s *seekBuffer) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		off += s.pos
	case io.SeekEnd:
		off += int64(s.b.Len())
	}
	s.pos = off
	return off, nil
}

// TestFlagNames names flags as mksquashfs does, and unknown bits in hex.
func TestFlagNames(t *testing.T) {
	sb := Superblock{flags: flagDuplicates | flagExportable | flagCompressorOptions | 0x8000}
	if got, want := sb.FlagNames(), []string{"duplicates", "exportable", "compressor-options", "0x8000"}; !slices.Equal(got, want) {
		t.Errorf("FlagNames = %v, want %v", got, want)
	}
}
