package iso9660_test

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/gonixiso/gonixiso/iso9660"
)

// BenchmarkWrite writes an image holding one 256 MiB file (incompressible data) into a file, the
// way a SquashFS goes into a NixOS ISO; the copy runs in the kernel (copy_file_range).
func BenchmarkWrite(b *testing.B) {
	const size = 256 << 20
	dir := b.TempDir()
	src := filepath.Join(dir, "nix-store.squashfs")
	f, err := os.Create(src)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.CopyN(f, &noise{}, size); err != nil {
		b.Fatal(err)
	}
	f.Close()
	out := filepath.Join(dir, "out.iso")
	b.SetBytes(size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		w, err := iso9660.Create(out, nixOptions("BENCH"))
		if err != nil {
			b.Fatal(err)
		}
		s, err := iso9660.FromFile(src)
		if err != nil {
			b.Fatal(err)
		}
		w.AddFile("nix-store.squashfs", iso9660.Header{}, s)
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// noise is a fast stream of incompressible bytes (xorshift).
type noise struct{ x uint64 }

func (n *noise) Read(p []byte) (int, error) {
	if n.x == 0 {
		n.x = 0x9E3779B97F4A7C15
	}
	for i := 0; i+8 <= len(p); i += 8 {
		n.x ^= n.x << 13
		n.x ^= n.x >> 7
		n.x ^= n.x << 17
		for k := 0; k < 8; k++ {
			p[i+k] = byte(n.x >> (8 * k))
		}
	}
	return len(p) / 8 * 8, nil
}
