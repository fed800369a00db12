package closure

import (
	"crypto/sha256"
	"math/rand/v2"
	"testing"
)

// BenchmarkRefScan measures the reference scan alone beside SHA-256 alone, on one core, to see
// which of the two bounds the Hasher.
func BenchmarkRefScan(b *testing.B) {
	cands, err := ReadCandidates(Store{})
	if err != nil {
		b.Fatal(err)
	}
	rnd := rand.New(rand.NewPCG(9, 10))
	binary := make([]byte, 1<<20)
	text := make([]byte, 1<<20)
	for i := range binary {
		binary[i] = byte(rnd.Uint32())
		if rnd.IntN(8) == 0 {
			text[i] = ' '
		} else {
			text[i] = Nix32Alphabet[rnd.IntN(len(Nix32Alphabet))]
		}
	}
	for name, data := range map[string][]byte{"binary": binary, "text": text} {
		b.Run("scan/"+name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			s := refScanner{cands: cands}
			for b.Loop() {
				s.write(data)
			}
		})
	}
	b.Run("sha256", func(b *testing.B) {
		b.SetBytes(int64(len(binary)))
		h := sha256.New()
		for b.Loop() {
			h.Write(binary)
		}
	})
}
