package squash

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// skewed returns n random bytes drawn uniformly from the first k byte values: order-0 entropy
// log2(k) bits a byte, no repeats beyond chance.
func skewed(rng *rand.Rand, n, k int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.IntN(k))
	}
	return b
}

// peaked returns n random bytes of which about pct percent are zeros.
func peaked(rng *rand.Rand, n, pct int) []byte {
	b := skewed(rng, n, 256)
	for i := range b {
		if rng.IntN(100) < pct {
			b[i] = 0
		}
	}
	return b
}

// TestFlat holds flat to its bound: random bytes are flat whatever their length, bytes whose
// distribution level 19 codes in fewer bits are not, and one skewed window among flat ones is
// enough.
func TestFlat(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{1, 100, 4096, flatWindow - 1, flatWindow, 3*flatWindow + 17, MaxBlockSize} {
		if b := skewed(rng, n, 256); !flat(b) {
			t.Errorf("%d random bytes: not flat", n)
		}
	}
	for _, n := range []int{flatWindow, MaxBlockSize} {
		if b := skewed(rng, n, 248); flat(b) { // 7.95 bits a byte
			t.Errorf("%d bytes of 248 values: flat", n)
		}
		if b := peaked(rng, n, 5); flat(b) {
			t.Errorf("%d random bytes, 5%% zeros: flat", n)
		}
	}
	b := skewed(rng, 4*flatWindow, 256)
	copy(b[2*flatWindow:], skewed(rng, flatWindow, 240))
	if flat(b) {
		t.Error("a skewed window among random ones: flat")
	}
	if !flat(nil) {
		t.Error("no bytes: not flat")
	}
}

// TestTrial writes blocks that level 1 cannot shrink at all (libzstd keeps its result only for a
// 1/64 gain): random bytes, which are stored as they are, and random bytes of which 5% are zeros,
// which level 19 shrinks by 1.4% and xz by 0.3% and must therefore be compressed (before flat,
// the trial stored such blocks raw: 0.06% of the 2 GB corpus given away).
func TestTrial(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	dir := t.TempDir()
	const bs = 1 << 20
	files := map[string][]byte{
		"random": skewed(rng, bs, 256),
		"peaked": peaked(rng, bs, 5),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cs := []Compression{{Algorithm: XZ}}
	if cgoAvailable { // without libzstd, zstd has no trial and no level 19
		cs = append(cs, Compression{Algorithm: Zstd, Level: 19})
	}
	for _, c := range cs {
		t.Run(string(c.Algorithm), func(t *testing.T) {
			r := openImage(t, writeImage(t, dir, Options{BlockSize: bs, Compression: c, NoFragments: true}), false)
			for name, want := range map[string]bool{"random": true, "peaked": false} {
				e, err := r.Lookup(name)
				if err != nil {
					t.Fatal(err)
				}
				for b, err := range r.Blocks(e) {
					if err != nil {
						t.Fatal(err)
					}
					if b.Uncompressed != want {
						t.Errorf("%s: block at %d stored uncompressed = %v, want %v (%d of %d bytes)", name, b.Offset, b.Uncompressed, want, b.StoredSize, b.Size)
					}
				}
			}
		})
	}
}
