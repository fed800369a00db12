package squash

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// halfCompressor "compresses" a block to its first half, so that stored sizes differ from
// decoded ones and every offset a link receives is one only the compressed sizes give.
type halfCompressor struct{ noneCompressor }

func (halfCompressor) compress(dst, src []byte) ([]byte, bool, error) {
	return append(dst[:0], src[:len(src)/2]...), true, nil
}

// failingCompressor fails on its first block and is slow on the others.
type failingCompressor struct {
	noneCompressor
	n atomic.Int32
}

func (f *failingCompressor) compress(dst, src []byte) ([]byte, bool, error) {
	if f.n.Add(1) == 1 {
		time.Sleep(10 * time.Millisecond) // let the other blocks start waiting on this one
		return nil, false, errors.New("boom")
	}
	return append(dst[:0], src...), true, nil
}

// storedBlocks splits a table into its stored blocks' payloads.
func storedBlocks(t *testing.T, table []byte) [][]byte {
	t.Helper()
	var out [][]byte
	for len(table) > 0 {
		n := int(binary.LittleEndian.Uint16(table) &^ metadataUncompressed)
		out = append(out, table[metadataHeaderSize:metadataHeaderSize+n])
		table = table[metadataHeaderSize+n:]
	}
	return out
}

// A link's field gets the offset of the block it names, compressed sizes counted, for any
// number of workers.
func TestLinkedTables(t *testing.T) {
	var first []byte
	for _, workers := range []int{1, 2, 5} {
		out, starts, err := writeLinkedTables(context.Background(), halfCompressor{}, workers, 2, func(m []*metaWriter) error {
			// Table 0: three blocks of filler.
			if err := m[0].write(bytes.Repeat([]byte{0xaa}, 3*metadataSize)); err != nil {
				return err
			}
			// Table 1: two blocks, the second of 12 bytes with a field at its byte 2 (8194)
			// naming table 0's block 2.
			return m[1].write(make([]byte, metadataSize+12), link{at: metadataSize + 2, table: 0, block: 2})
		})
		if err != nil {
			t.Fatal(err)
		}
		const stored = metadataHeaderSize + metadataSize/2
		if want := []uint64{0, stored, 2 * stored, 3 * stored}; !equalU64(starts[0], want) {
			t.Fatalf("%d workers: table 0's block offsets %v, want %v", workers, starts[0], want)
		}
		// Block 1 of table 1 is stored as its first 6 bytes: the field is its bytes 2..5.
		blocks := storedBlocks(t, out[1])
		if len(blocks) != 2 || len(blocks[1]) != 6 {
			t.Fatalf("%d workers: table 1 stored as %d blocks", workers, len(blocks))
		}
		if v := binary.LittleEndian.Uint32(blocks[1][2:6]); v != 2*stored {
			t.Errorf("%d workers: the field holds %d, want %d", workers, v, 2*stored)
		}
		if first == nil {
			first = out[1]
		} else if !bytes.Equal(out[1], first) {
			t.Errorf("%d workers: other bytes than with 1", workers)
		}
	}
}

// The straddling field's low half is in the first block: checked with stored bytes kept whole.
func TestLinkedTablesStraddle(t *testing.T) {
	out, starts, err := writeLinkedTables(context.Background(), noneCompressor{}, 2, 2, func(m []*metaWriter) error {
		if err := m[0].write(bytes.Repeat([]byte{1}, 2*metadataSize+100)); err != nil {
			return err
		}
		return m[1].write(make([]byte, metadataSize+10), link{at: metadataSize - 1, table: 0, block: 2})
	})
	if err != nil {
		t.Fatal(err)
	}
	want := starts[0][2] // 2 × (header + 8192)
	if want != 2*(metadataHeaderSize+metadataSize) {
		t.Fatalf("table 0's block 2 at %d", want)
	}
	blocks := storedBlocks(t, out[1])
	field := append(append([]byte{}, blocks[0][metadataSize-1:]...), blocks[1][:3]...)
	if v := binary.LittleEndian.Uint32(field); uint64(v) != want {
		t.Fatalf("straddling field holds %d, want %d", v, want)
	}
}

// A compressor's error ends the tables, also while other blocks wait for the failed one.
func TestLinkedTablesError(t *testing.T) {
	done := make(chan error, 1)
	go func() {
		_, _, err := writeLinkedTables(context.Background(), &failingCompressor{}, 3, 2, func(m []*metaWriter) error {
			if err := m[0].write(make([]byte, 2*metadataSize)); err != nil {
				return err
			}
			for i := 0; i < 20; i++ {
				if err := m[1].write(make([]byte, metadataSize), link{at: 0, table: 0, block: 1}); err != nil {
					return err
				}
			}
			return nil
		})
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !bytes.Contains([]byte(err.Error()), []byte("boom")) {
			t.Fatalf("error %v, want the compressor's", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the tables hang after a compressor error")
	}
}

// In the layout, only directories' inodes and listings wait for other blocks: the blocks of the
// other inodes carry no link, so they compress in parallel.
func TestTablesLayoutLinks(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewWriter(&seekBuffer{b: &buf}, Options{Compression: Compression{Algorithm: None}, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	// Many files in a few directories: the inode table has blocks of file inodes only.
	for d := 0; d < 4; d++ {
		for f := 0; f < 600; f++ {
			name := string(rune('a'+d)) + "/sub/" + string(rune('a'+f%26)) + string(rune('a'+f/26))
			if err := w.WriteHeader(&Header{Name: name, Mode: 0o644, Size: 1}); err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write([]byte{byte(f)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Check(); err != nil {
		t.Fatal(err)
	}
	// Directories come after every other inode in the inode table, and are numbered after them.
	var lastFile, firstDir uint64 = 0, 1 << 63
	var lastFileIno, firstDirIno uint32 = 0, 1<<32 - 1
	err = r.Walk(func(name string, e *Entry) error {
		if e.Mode.IsDir() {
			firstDir, firstDirIno = min(firstDir, e.ref), min(firstDirIno, e.Inode)
		} else {
			lastFile, lastFileIno = max(lastFile, e.ref), max(lastFileIno, e.Inode)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if lastFile >= firstDir || lastFileIno >= firstDirIno {
		t.Errorf("a file's inode (ref %#x, number %d) after a directory's (%#x, %d)", lastFile, lastFileIno, firstDir, firstDirIno)
	}
	if lastFile>>16 < 2 {
		t.Errorf("the files' inodes fill only %d blocks; the test needs more", lastFile>>16)
	}
}

func equalU64(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
