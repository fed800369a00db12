package squash

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"runtime"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/gonixiso/gonixiso/internal/squashcraft"
)

// readAllAsTools reads an image as inspect, diff and manifest do: every entry, the storage
// and data identity of every regular file, and the contents of each distinct one.
func readAllAsTools(r *Reader) error {
	read := map[DataID]bool{}
	return r.Walk(func(p string, e *Entry) error {
		if !e.Mode.IsRegular() {
			return nil
		}
		id, err := r.DataID(e)
		if err != nil {
			return err
		}
		if _, err := r.Storage(e); err != nil {
			return err
		}
		if read[id] {
			return nil
		}
		read[id] = true
		f, err := r.OpenEntry(e)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(sha256.New(), f)
		return err
	})
}

// TestHostileImages reads the hostile shapes to their end, every way the tools do, with the
// default limits: each is read, or refused with an error wrapping ErrLimit (or saying why), in
// bounded memory. (BenchmarkHostileImages says how long each takes.)
func TestHostileImages(t *testing.T) {
	if testing.Short() {
		t.Skip("builds images of up to 64 MiB")
	}
	for _, s := range squashcraft.Hostile() {
		t.Run(s.Name, func(t *testing.T) {
			img := s.Build(1)
			var err error
			peak := squashcraft.PeakMemory(func() {
				var r *Reader
				r, err = NewReader(bytes.NewReader(img), int64(len(img)))
				if err == nil {
					err = readAllAsTools(r)
				}
			})
			t.Logf("%s (%d bytes): %v; %d MiB of memory", s.Doc, len(img), err, peak>>20)
			if err != nil && !errors.Is(err, ErrLimit) && s.Name != "deep" {
				t.Errorf("%v: want a limit's error", err)
			}
			if peak > 128<<20 {
				t.Errorf("%d MiB of memory for an image of %d KiB", peak>>20, len(img)>>10)
			}
		})
	}
}

// TestDecoderMemory decodes blocks whose headers ask for more memory than their contents need:
// a zstd frame with an 8 MiB window, and an xz stream declaring a dictionary of 1.5 GiB (which
// liblzma would allocate whole: past xzMemLimit it is decoded in Go, whose dictionary is no
// larger than the block). Each decode allocates about the block, not what the header asks.
func TestDecoderMemory(t *testing.T) {
	plain := bytes.Repeat([]byte("a block of text that compresses\n"), 2048) // 64 KiB
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderCRC(false))
	if err != nil {
		t.Fatal(err)
	}
	// The encoder fits the window to the contents: give the frame a header of its own, with a
	// window of 8 MiB (descriptor 13<<3: 2^(10+13)) and no content size.
	single := enc.EncodeAll(plain, nil)
	fhd := single[4]
	hlen := 5 + [4]int{0, 1, 2, 4}[fhd&3] + [4]int{0, 2, 4, 8}[fhd>>6]
	if fhd&0x20 == 0 {
		hlen++
	} else if fhd>>6 == 0 {
		hlen++
	}
	frame := append(append(bytes.Clone(single[:4]), 0x00, 13<<3), single[hlen:]...)
	if f, err := parseZstdFrame(frame); err != nil || f.window != 8<<20 {
		t.Fatalf("the frame's window is %d (%v), want 8 MiB", f.window, err)
	}
	// An xz stream of the text with its LZMA2 dictionary property raised to 1.5 GiB (38).
	xzs, ok, err := newXZGo(1<<20).compress(nil, plain)
	if err != nil || !ok {
		t.Fatal(err)
	}
	// The block header follows the 12-byte stream header: size, flags, then the LZMA2 filter
	// (id 0x21, 1 byte of properties, the dictionary property), padding and its CRC32.
	h := xzs[12 : 12+(int(xzs[12])+1)*4]
	if h[2] != 0x21 || h[3] != 1 {
		t.Fatalf("unexpected block header % x", h)
	}
	h[4] = 38
	binary.LittleEndian.PutUint32(h[len(h)-4:], crc32.ChecksumIEEE(h[:len(h)-4]))
	for _, c := range []struct {
		name string
		id   uint16
		src  []byte
	}{{"zstd", compressionZstd, frame}, {"xz", compressionXZ, xzs}} {
		for _, pureGo := range []bool{false, true} {
			_, d, err := newDecoder(c.id, pureGo)
			if err != nil {
				t.Fatal(err)
			}
			out := make([]byte, len(plain))
			fallbacks := xzGoFallbacks.Load()
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			for range 8 {
				n, err := d.decode(out, c.src)
				if err != nil || !bytes.Equal(out[:n], plain) {
					t.Fatalf("%s (Go %v): %d bytes, %v", c.name, pureGo, n, err)
				}
			}
			runtime.ReadMemStats(&after)
			if per := (after.TotalAlloc - before.TotalAlloc) / 8; per > 4<<20 {
				t.Errorf("%s (Go %v): %d bytes allocated per decode of %d bytes", c.name, pureGo, per, len(plain))
			}
			// liblzma's allocations are not Go's: it must have left these blocks to Go.
			if got := xzGoFallbacks.Load() - fallbacks; c.id == compressionXZ && !pureGo && cgoAvailable && got != 8 {
				t.Errorf("xz with liblzma: %d of 8 blocks decoded in Go, past the memory limit", got)
			}
		}
	}
}
