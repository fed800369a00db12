package closure_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/gonixiso/gonixiso/closure"
	"github.com/gonixiso/gonixiso/internal/testsystem"
)

// BenchmarkScan measures the native source on the test system's closure: every path
// serialised, hashed and scanned, on every core and on one. The rate is NAR bytes per second.
func BenchmarkScan(b *testing.B) {
	top := testsystem.Toplevel(b)
	for _, jobs := range []int{0, 1} {
		name := "jobs=cores"
		if jobs > 0 {
			name = fmt.Sprintf("jobs=%d", jobs)
		}
		b.Run(name, func(b *testing.B) {
			var size uint64
			for b.Loop() {
				c, err := closure.Compute(context.Background(), []string{top}, closure.Options{Source: closure.SourceScan, Jobs: jobs})
				if err != nil {
					b.Fatal(err)
				}
				size = c.NarSize()
			}
			b.SetBytes(int64(size))
		})
	}
}

// BenchmarkHasher measures hashing and scanning alone, on one core, for binary data and for
// text made of Nix32 letters and spaces (the scan's slow case: long runs of candidate bytes).
func BenchmarkHasher(b *testing.B) {
	cands, err := closure.ReadCandidates(closure.Store{})
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
			text[i] = closure.Nix32Alphabet[rnd.IntN(len(closure.Nix32Alphabet))]
		}
	}
	for name, data := range map[string][]byte{"binary": binary, "text": text} {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			h := closure.NewHasher(cands)
			for b.Loop() {
				h.Write(data)
			}
		})
	}
}
