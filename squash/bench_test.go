package squash_test

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"

	"github.com/gonixiso/gonixiso/squash"
)

// benchFiles is a store-like mix, 48 MiB in all: text-like files that compress about 3:1,
// random (incompressible) ones as compressed modules and firmware are, a sparse one, many small
// files whose tails share fragments, and duplicates.
func benchFiles() []struct {
	name string
	data []byte
} {
	rng := rand.New(rand.NewPCG(1, 2))
	words := strings.Fields("the store path of a system closure holds binaries libraries " +
		"manual pages locale data scripts configuration and firmware for the kernel to load")
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
	var files []struct {
		name string
		data []byte
	}
	add := func(name string, data []byte) {
		files = append(files, struct {
			name string
			data []byte
		}{name, data})
	}
	for i := range 8 {
		add(fmt.Sprintf("lib/text-%d", i), text(3<<20+rng.IntN(1<<20)))
		add(fmt.Sprintf("lib/modules/random-%d.ko.xz", i), random(1<<20+rng.IntN(1<<20)))
	}
	sparse := make([]byte, 4<<20)
	copy(sparse[2<<20:], text(4096))
	add("lib/sparse", sparse)
	for i := range 2000 {
		add(fmt.Sprintf("share/doc/%04d", i), text(rng.IntN(6000)))
	}
	add("lib/text-copy", files[0].data)
	return files
}

// discard is an io.WriteSeeker that keeps only the length written.
type discard struct{ pos, size int64 }

func (d *discard) Write(p []byte) (int, error) {
	d.pos += int64(len(p))
	d.size = max(d.size, d.pos)
	return len(p), nil
}

func (d *discard) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
		d.pos = off
	case io.SeekCurrent:
		d.pos += off
	case io.SeekEnd:
		d.pos = d.size + off
	}
	if d.pos < 0 {
		return 0, errors.New("negative position")
	}
	return d.pos, nil
}

// BenchmarkWriter packs benchFiles with each compressor on 1 worker and on every core, and
// reports the input rate (MB/s) and the compression ratio. Compare runs with benchstat; compare
// with mksquashfs with scripts/bench-squash.
func BenchmarkWriter(b *testing.B) {
	files := benchFiles()
	var total int64
	for _, f := range files {
		total += int64(len(f.data))
	}
	comps := []squash.Compression{
		{Algorithm: squash.Zstd, Level: 3, PureGo: true},
		{Algorithm: squash.Zstd, Level: 11, PureGo: true},
		{Algorithm: squash.XZ, PureGo: true},
		{Algorithm: squash.Gzip, Level: 9},
		{Algorithm: squash.LZ4},
	}
	if squash.CgoAvailable() {
		comps = append(comps,
			squash.Compression{Algorithm: squash.Zstd, Level: 19},
			squash.Compression{Algorithm: squash.XZ, BCJ: []string{"x86"}})
	}
	for _, c := range comps {
		for _, workers := range []int{1, runtime.NumCPU()} {
			b.Run(fmt.Sprintf("%s/workers=%d", strings.ReplaceAll(c.String(), " ", "_"), workers), func(b *testing.B) {
				b.SetBytes(total)
				b.ReportAllocs()
				var size int64
				for b.Loop() {
					out := &discard{}
					w, err := squash.NewWriter(out, squash.Options{Compression: c, Workers: workers, ModTime: 1})
					if err != nil {
						b.Fatal(err)
					}
					for _, f := range files {
						if err := w.WriteHeader(&squash.Header{Name: f.name, Mode: 0o444, Size: int64(len(f.data))}); err != nil {
							b.Fatal(err)
						}
						if _, err := w.Write(f.data); err != nil {
							b.Fatal(err)
						}
					}
					if err := w.Close(); err != nil {
						b.Fatal(err)
					}
					size = out.size
				}
				b.ReportMetric(float64(total)/float64(size), "ratio")
			})
		}
	}
}
